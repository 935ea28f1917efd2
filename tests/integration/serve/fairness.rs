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
