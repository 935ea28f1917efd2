//! SIGKILL the server while it stores and activates versions, ten times at
//! random points after each round's first stored version: after each restart every listed version is whole (its bytes
//! match its SHA-256) and runs, and the active version is one that a client
//! asked to activate. Real server processes, both backends.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use records_test_fixtures::{VERSION_ONE, VERSION_TWO};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::*;

const KILLS: u64 = 10;

/// A small pseudo-random sequence (xorshift), seeded per run.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

on_both! {
    fn a_server_killed_while_deploying_leaves_whole_versions_and_an_activated_one(env) {
        let sources = [std::fs::read(VERSION_ONE).unwrap(), std::fs::read(VERSION_TWO).unwrap()];
        let mut seed = u64::from(std::process::id()) | 1;
        let asked = Mutex::new(Vec::<u64>::new());
        let wasm_type = [("Content-Type", "application/wasm")];
        for round in 0..KILLS {
            let server = Server::start(&env, &["--no-auth", "--keep-versions", "1000"]);
            let stop = AtomicBool::new(false);
            // Each upload compiles fresh bytes (a new nonce), which takes from
            // tens of milliseconds to seconds on a busy machine: the random
            // kill point counts from the round's first stored version, so
            // every round kills a server that has stored one and is busy
            // storing or activating the next.
            let kill_after = Duration::from_millis(next(&mut seed) % 400);
            let stored_before = asked.lock().unwrap().len();
            std::thread::scope(|scope| {
                scope.spawn(|| {
                    let mut n = round * 1000;
                    while !stop.load(Ordering::Acquire) {
                        n += 1;
                        let bytes = with_nonce(&sources[(n % 2) as usize], n);
                        let Some(up) = server.try_send("POST", "/v1/tenants/acme/plugins?force=true", None, &wasm_type, &bytes) else {
                            return;
                        };
                        let Some(version) = up.body["version"].as_u64() else { continue };
                        asked.lock().unwrap().push(version);
                        let path = format!("/v1/tenants/acme/plugins/{version}/activate?force=true");
                        if server.try_send("POST", &path, None, &[], b"").is_none() {
                            return;
                        }
                    }
                });
                let deadline = std::time::Instant::now() + Duration::from_secs(120);
                while asked.lock().unwrap().len() == stored_before && std::time::Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(5));
                }
                assert!(asked.lock().unwrap().len() > stored_before, "round {round}: no upload was stored within 120 s");
                std::thread::sleep(kill_after);
                server.signal(libc::SIGKILL);
                stop.store(true, Ordering::Release);
            });
            drop(server);

            let server = Server::start(&env, &["--no-auth"]);
            let listed = server.get("/v1/tenants/acme/plugins", None);
            assert_eq!(listed.status, 200, "{}", listed.text);
            for version in listed.body.as_array().unwrap() {
                let n = version["version"].as_u64().unwrap();
                let (status, bytes) = server.get_bytes(&format!("/v1/tenants/acme/plugins/{n}/wasm"), None);
                assert_eq!(status, 200, "round {round}: version {n} lost its bytes");
                let sha: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
                assert_eq!(json!(sha), version["sha256"], "round {round}: version {n}");
                let call = json!({"function": "get-record", "args": [0]}).to_string();
                let ran = server.send(
                    "POST",
                    "/v1/tenants/acme/call",
                    None,
                    &[("Content-Type", "application/json"), ("X-Plugin-Version", &n.to_string())],
                    call.as_bytes(),
                );
                assert_eq!(ran.status, 200, "round {round}: version {n} does not run: {}", ran.text);
            }
            let active: Vec<u64> = listed.body.as_array().unwrap().iter()
                .filter(|v| v["active"] == true)
                .map(|v| v["version"].as_u64().unwrap())
                .collect();
            assert!(active.len() <= 1);
            if let Some(n) = active.first() {
                assert!(asked.lock().unwrap().contains(n), "round {round}: version {n} active but never activated");
            }
        }
        assert!(asked.lock().unwrap().len() >= KILLS as usize, "every round stored a version");
    }
}
