//! One tenant's share of the call slots: its calls beyond the share get 503 with
//! Retry-After, and the other tenants' calls go on.

use std::time::{Duration, Instant};

use serde_json::json;

use super::*;

/// Runs `count` calls of `sleep(ms)` for tenant `a` at once, while tenant `b`
/// makes quick calls that must all be answered at once; returns the statuses of
/// a's calls and the Retry-After of its 503s.
fn sleepers_beside_a_quick_tenant(
    server: &Server,
    count: usize,
    ms: u64,
) -> Vec<(u16, Option<String>)> {
    std::thread::scope(|s| {
        let sleepers: Vec<_> = (0..count)
            .map(|_| s.spawn(move || call(server, "a", "sleep", json!([ms]))))
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        for n in 0..5 {
            let start = Instant::now();
            let answer = call(server, "b", "scan-count", json!([1]));
            assert_eq!(answer.status, 200, "b's call {n}: {}", answer.text);
            assert!(
                start.elapsed() < Duration::from_secs(1),
                "b's call {n} waited {:?}",
                start.elapsed()
            );
        }
        sleepers
            .into_iter()
            .map(|sleeper| {
                let answer = sleeper.join().unwrap();
                if answer.status == 503 {
                    let error = answer.body["error"].as_str().unwrap_or_default();
                    assert!(error.contains("share"), "{}", answer.text);
                }
                (answer.status, answer.retry_after)
            })
            .collect()
    })
}

/// With `--max-concurrent 8`, eight sleeping calls of one tenant used to take
/// every slot, and every call of another tenant got 503. The default share is a
/// quarter of the slots: two of the eight run, six are told to retry.
#[test]
fn one_tenant_cannot_take_every_call_slot() {
    let env = Env::new();
    let server = hostile_server(&env, &["--max-concurrent", "8", "--timeout", "5000"]);
    let statuses = sleepers_beside_a_quick_tenant(&server, 8, 1500);
    let ran = statuses.iter().filter(|(status, _)| *status == 200).count();
    let told_to_retry: Vec<_> = statuses
        .iter()
        .filter(|(status, _)| *status == 503)
        .collect();
    assert_eq!((ran, told_to_retry.len()), (2, 6), "{statuses:?}");
    assert!(
        told_to_retry
            .iter()
            .all(|(_, retry)| retry.as_deref() == Some("1")),
        "{statuses:?}"
    );
    // The share is given back as calls end.
    assert_eq!(call(&server, "a", "scan-count", json!([1])).status, 200);
}

#[test]
fn the_share_is_set_with_max_concurrent_per_tenant() {
    let env = Env::new();
    let server = hostile_server(
        &env,
        &["--max-concurrent", "8", "--max-concurrent-per-tenant", "3"],
    );
    let statuses = sleepers_beside_a_quick_tenant(&server, 6, 1500);
    let ran = statuses.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!(ran, 3, "{statuses:?}");
}

/// `GET /lock` on PostgreSQL used to open a connection of its own per request,
/// outside the pool and the call slots: a flood from one tenant made requests
/// fail with "too many clients" and crowded out the database's other clients.
/// Now it takes a slot of the tenant's share and a connection of the pool (16).
#[test]
fn a_flood_of_lock_requests_stays_within_the_pool_and_the_slots() {
    let Some(env) = Env::postgres() else { return };
    let server = Server::start(&env, &["--no-auth", "--max-concurrent", "8"]);
    expect(
        &server,
        "a",
        "create-record",
        json!(["x", 1]),
        json!({"ok": 1}),
    );
    let pg = env.pg().unwrap();
    let sessions = || -> i64 {
        pg.client()
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name ~ $1",
                &[&format!("^records-host pid:{}( |$)", server.pid())],
            )
            .unwrap()
            .get(0)
    };
    let done = std::sync::atomic::AtomicBool::new(false);
    let (statuses, most) = std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut most = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                most = most.max(sessions());
                std::thread::sleep(Duration::from_millis(5));
            }
            most
        });
        let flood: Vec<_> = (0..40)
            .map(|_| {
                s.spawn(|| {
                    (0..10)
                        .map(|_| server.get("/v1/tenants/a/lock", None).status)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let statuses: Vec<u16> = flood.into_iter().flat_map(|t| t.join().unwrap()).collect();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        (statuses, sampler.join().unwrap())
    });
    assert!(
        statuses
            .iter()
            .all(|status| *status == 200 || *status == 503),
        "{statuses:?}"
    );
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(most <= 16, "{most} sessions of the server at once");
    expect(&server, "b", "get-record", json!([1]), json!({"ok": null}));
}
