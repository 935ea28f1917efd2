//! Load: SIGTERM while 32 clients write, ten thousand tenants round-robin.

use std::collections::BTreeMap;

use std::time::Duration;

use serde_json::json;

use super::*;
use crate::support::*;

on_both! {
    fn sigterm_under_load_keeps_every_acknowledged_write(env) {
        let server = Server::start(&env, &["--no-auth"]);
        let acknowledged: Vec<BTreeMap<i64, String>> = std::thread::scope(|s| {
            let writers: Vec<_> = (0..32)
                .map(|w| {
                    let server = &server;
                    s.spawn(move || {
                        let mut acked = BTreeMap::new();
                        for i in 0.. {
                            let name = format!("w{w}-{i}");
                            let body = json!({"function": "create-record", "args": [name, i]});
                            let Some(answer) = server.try_call("load", &body) else {
                                break;
                            };
                            match answer.status {
                                200 => {
                                    acked.insert(answer.body["ok"].as_i64().unwrap(), name);
                                }
                                503 => {}
                                other => panic!("status {other}: {}", answer.text),
                            }
                        }
                        acked
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_millis(1500));
            server.signal(libc::SIGTERM);
            writers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        let (status, log) = server.stop();
        assert!(status.success(), "{status}: {log}");
        let stored: BTreeMap<i64, String> = all_records(&tenant_db(&env, "load"))
            .into_iter()
            .map(|r| (r.id, r.name))
            .collect();
        let total: usize = acknowledged.iter().map(BTreeMap::len).sum();
        assert!(total > 32, "the writers got going: {total}");
        for acked in &acknowledged {
            for (id, name) in acked {
                assert_eq!(stored.get(id), Some(name), "acknowledged write {id} is stored");
            }
        }
        if env.pg().is_none() {
            let path = env.tenant_home().location(&TenantName::new("load").unwrap());
            assert_eq!(integrity_check(path.path().unwrap()), "ok");
        }
    }
}

/// The server's open file descriptors now.
fn open_descriptors(server: &Server) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
        .unwrap()
        .count()
}

on_both! {
    /// 10,000 tenants called round-robin through a cache of 64 open databases:
    /// every tenant's first record is its own id 1, read back by name, and the
    /// descriptors stay within a fixed number per open database. On PostgreSQL,
    /// where a tenant is a schema and the descriptors are the pool's connections
    /// whatever the tenant count, 1,000 tenants (creating a schema takes about
    /// 37 ms on the CI machine: 10,000 would take six minutes).
    fn ten_thousand_tenants_round_robin_stay_within_their_descriptors(env) {
        let tenants: usize = if env.pg().is_some() { 1_000 } else { 10_000 };
        const CLIENTS: usize = 8;
        let server = Server::start(
            &env,
            &["--no-auth", "--max-open-dbs", "64", "--max-concurrent", "8"],
        );
        let baseline = open_descriptors(&server);
        let most = std::sync::atomic::AtomicUsize::new(0);
        for pass in ["create-record", "get-record"] {
            std::thread::scope(|s| {
                for c in 0..CLIENTS {
                    let (server, most) = (&server, &most);
                    s.spawn(move || {
                        for t in (c..tenants).step_by(CLIENTS) {
                            let tenant = format!("t{t}");
                            let answer = match pass {
                                "create-record" => call(server, &tenant, pass, json!([tenant, t])),
                                _ => call(server, &tenant, pass, json!([1])),
                            };
                            let expected = match pass {
                                "create-record" => json!({"ok": 1}),
                                _ => json!({"ok": {"id": 1, "name": tenant, "value": t}}),
                            };
                            assert_eq!(answer.body, expected, "{tenant}: {}", answer.text);
                            if t % 500 == c {
                                most.fetch_max(open_descriptors(server), std::sync::atomic::Ordering::Relaxed);
                            }
                        }
                    });
                }
            });
        }
        let most = most.into_inner();
        // Each open SQLite tenant holds a handful of descriptors (database, WAL,
        // shared memory, lock file, handoff words); 64 kept open plus 8 in flight.
        let bound = baseline + 8 * (64 + 8);
        assert!(most <= bound, "{most} descriptors open at most, bound {bound} (baseline {baseline})");
        let (status, _) = server.stop();
        assert!(status.success());
    }
}

/// The instance pool reserves terabytes of address space; under a `ulimit -v`
/// that forbids it, the server says so once and maps memory per call instead.
#[test]
fn without_address_space_for_the_instance_pool_it_serves_from_per_call_memory() {
    let env = Env::new();
    let create = json!({"function": "create-record", "args": ["x", 1]});
    let get = json!({"function": "get-record", "args": [1]});

    let pooled = Server::start(&env, &["--no-auth"]);
    assert_eq!(pooled.call("a", None, &create).status, 200);
    assert!(
        !pooled.log().contains("no instance pool"),
        "{}",
        pooled.log()
    );
    drop(pooled);

    let limited = Server::start_with_address_space(&env, &["--no-auth"], 16 << 30);
    let created = limited.call("b", None, &create);
    assert_eq!(created.status, 200, "{}", created.text);
    assert_eq!(created.body, json!({"ok": 1}));
    let got = limited.call("b", None, &get);
    assert_eq!(got.body, json!({"ok": {"id": 1, "name": "x", "value": 1}}));
    let log = limited.log();
    assert_eq!(log.matches("no instance pool").count(), 1, "{log}");
}
