//! Activating versions back and forth while 32 clients call the tenant: no
//! call fails, every answer comes from version 1 or 2, and a call that started
//! after an activation's response answers from the version it activated (or
//! from a later activation already under way). Real server, real clients, both
//! backends.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use records_test_fixtures::{VERSION_ONE, VERSION_TWO};
use serde_json::json;

use super::*;

const CLIENTS: usize = 32;
const ACTIVATIONS: usize = 20;

/// The version activation `i` makes active (0: the one active at the start).
fn version_of(i: usize) -> u32 {
    if i % 2 == 1 { 2 } else { 1 }
}

on_both! {
    fn activations_under_load_fail_no_call_and_take_effect_at_their_response(env) {
        let server = Server::start(&env, &[
            "--no-auth", "--max-concurrent", "64", "--max-concurrent-per-tenant", "64",
        ]);
        let wasm = [("Content-Type", "application/wasm")];
        for (file, n) in [(VERSION_ONE, 1), (VERSION_TWO, 2)] {
            let bytes = std::fs::read(file).unwrap();
            let up = server.send("POST", "/v1/tenants/acme/plugins?force=true", None, &wasm, &bytes);
            assert_eq!((up.status, up.body["version"].clone()), (201, json!(n)), "{}", up.text);
        }
        let activate = |n: u32| {
            let path = format!("/v1/tenants/acme/plugins/{n}/activate?force=true");
            let answer = server.send("POST", &path, None, &[], b"");
            assert_eq!(answer.status, 200, "{}", answer.text);
        };
        activate(1);

        let sent = AtomicUsize::new(0);
        let done = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let calls = AtomicUsize::new(0);
        let body = json!({"function": "get-record", "args": [0]}).to_string();
        let json_type = [("Content-Type", "application/json")];
        std::thread::scope(|scope| {
            for _ in 0..CLIENTS {
                scope.spawn(|| {
                    while !stop.load(Ordering::Acquire) {
                        let before = done.load(Ordering::Acquire);
                        let answer = server.send("POST", "/v1/tenants/acme/call", None, &json_type, body.as_bytes());
                        let after = sent.load(Ordering::Acquire);
                        assert_eq!(answer.status, 200, "{}", answer.text);
                        let name = answer.body["ok"]["name"].as_str().unwrap().to_string();
                        let version = match name.as_str() {
                            "records-fixture-version-one" => 1,
                            "records-fixture-version-two" => 2,
                            other => panic!("an answer from neither version: {other}"),
                        };
                        let allowed: Vec<u32> = (before..=after).map(version_of).collect();
                        assert!(
                            allowed.contains(&version),
                            "a call started after activation {before} answered from version {version} (allowed {allowed:?})"
                        );
                        calls.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
            for i in 1..=ACTIVATIONS {
                std::thread::sleep(Duration::from_millis(40));
                sent.store(i, Ordering::Release);
                activate(version_of(i));
                done.store(i, Ordering::Release);
            }
            std::thread::sleep(Duration::from_millis(40));
            stop.store(true, Ordering::Release);
        });
        assert!(calls.load(Ordering::Relaxed) >= CLIENTS, "the clients called");
        let listed = server.get("/v1/tenants/acme/plugins", None);
        let active: Vec<i64> = listed.body.as_array().unwrap().iter()
            .filter(|v| v["active"] == true)
            .map(|v| v["version"].as_i64().unwrap())
            .collect();
        assert_eq!(active, [i64::from(version_of(ACTIVATIONS))]);
    }
}
