//! What a server's open tenant databases cost in descriptors: a bound that
//! holds under many tenants at once, idle databases closed, and the default
//! bound derived from the descriptor limit (SQLite; PostgreSQL keeps none).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use super::*;

/// The server's open descriptors now.
fn descriptors(server: &Server) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
        .map(|dir| dir.count())
        .unwrap_or(0)
}

/// A gauge or counter of `/metrics`.
fn metric(server: &Server, name: &str) -> u64 {
    let text = server.get("/metrics", None).text;
    let line = text
        .lines()
        .find(|l| l.split(' ').next() == Some(name))
        .unwrap_or_else(|| panic!("no {name}: {text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn two_hundred_tenants_at_once_stay_within_the_descriptor_budget_and_lose_nothing() {
    const TENANTS: usize = 200;
    const CLIENTS: usize = 16;
    let env = Env::new();
    let server = Server::start(
        &env,
        &[
            "--no-auth",
            "--max-open-dbs",
            "8",
            "--max-concurrent",
            "8",
            "--max-concurrent-per-tenant",
            "8",
        ],
    );
    expect(
        &server,
        "warm-up",
        "get-all-records",
        json!([]),
        json!({"ok": []}),
    );
    let baseline = descriptors(&server);
    // Kept open: 8 idle databases; in use: one per running call (8); one
    // socket per client connection; a little for what the runtime opens.
    let budget = baseline + 4 * (8 + 8) + CLIENTS + 8;
    let done = AtomicBool::new(false);
    let peak = AtomicUsize::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(descriptors(&server), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let server = &server;
                s.spawn(move || {
                    for round in 0..3 {
                        for t in (c..TENANTS).step_by(CLIENTS) {
                            let args = json!([format!("r{round}"), t]);
                            loop {
                                let answer =
                                    call(server, &format!("t{t}"), "create-record", args.clone());
                                match answer.status {
                                    200 => break,
                                    503 => std::thread::sleep(Duration::from_millis(5)),
                                    other => panic!("t{t}: {other}: {}", answer.text),
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        for client in clients {
            client.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
    });
    let peak = peak.into_inner();
    eprintln!("descriptors: baseline {baseline}, peak {peak}, budget {budget}");
    assert!(
        peak <= budget,
        "peak {peak} descriptors over the budget {budget} (baseline {baseline})"
    );
    assert!(metric(&server, "records_host_open_databases") <= 8);
    for t in 0..TENANTS {
        let answer = call(&server, &format!("t{t}"), "get-all-records", json!([]));
        assert_eq!(answer.status, 200, "{}", answer.text);
        let names: BTreeSet<&str> = answer.body["ok"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, BTreeSet::from(["r0", "r1", "r2"]), "t{t}");
    }
    assert!(descriptors(&server) <= baseline + 4 * 8 + CLIENTS + 8);
}

#[test]
fn idle_databases_are_closed_and_the_next_call_opens_them_again() {
    let env = Env::new();
    let server = Server::start(&env, &["--no-auth", "--idle-close", "1"]);
    expect(
        &server,
        "warm-up",
        "get-all-records",
        json!([]),
        json!({"ok": []}),
    );
    let start = Instant::now();
    while metric(&server, "records_host_open_databases") > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "warm-up's database was not closed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let baseline = descriptors(&server);
    for t in 0..20 {
        expect(
            &server,
            &format!("t{t}"),
            "create-record",
            json!(["kept", t]),
            json!({"ok": 1}),
        );
    }
    assert_eq!(metric(&server, "records_host_open_databases"), 20);
    // 4 each: records.db, -wal, -shm and db.lock (db.lock.shm is mapped, its
    // descriptor closed); a little room for what else the server has open.
    let open = descriptors(&server);
    assert!(
        (baseline + 20 * 4..=baseline + 20 * 4 + 2).contains(&open),
        "20 open databases hold 4 descriptors each: {open} against {baseline}"
    );
    let start = Instant::now();
    while metric(&server, "records_host_open_databases") > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "idle databases were not closed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // They are closed (each checkpointed) after they leave the gauge.
    while descriptors(&server) > baseline + 2 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "closed databases give their descriptors back: {} against {baseline}",
            descriptors(&server)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for t in 0..20 {
        expect(
            &server,
            &format!("t{t}"),
            "get-record",
            json!([1]),
            json!({"ok": {"id": 1, "name": "kept", "value": t}}),
        );
    }
    assert_eq!(
        metric(&server, "records_host_open_databases"),
        20,
        "reopened"
    );
}

#[test]
fn the_default_bound_follows_from_the_descriptor_limit_and_is_logged() {
    let env = Env::new();
    let server = Server::start_with_descriptor_limit(
        &env,
        &[
            "--no-auth",
            "--max-connections",
            "100",
            "--max-concurrent",
            "16",
        ],
        3000,
    );
    // (3000 - 256 reserved - 100 connections) / 4 per database - 16 calls.
    let expected = (3000 - 256 - 100) / 4 - 16;
    assert_eq!(metric(&server, "records_host_max_open_databases"), expected);
    let log = server.log();
    assert!(
        log.contains(&format!("max_open_dbs={expected}")) && log.contains("descriptor limit 3000"),
        "{log}"
    );
    let given = Server::start(&env, &["--no-auth", "--max-open-dbs", "7"]);
    assert_eq!(metric(&given, "records_host_max_open_databases"), 7);
}
