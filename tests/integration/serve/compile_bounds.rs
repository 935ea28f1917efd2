//! An upload is compiled in a child process within a time and a memory bound:
//! a generated module over either bound is refused with 422 and nothing is
//! stored, and another tenant's calls go on meanwhile. Real server, real client.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use records_host::REFERENCE_PLUGIN;
use serde_json::json;

use super::*;

/// A component around a core module of `functions` functions, each of
/// `instructions` `i32.const 1; drop` pairs: cheap to make and send, costly to
/// compile. Measured with `records-host compile-worker` (debug build) on the
/// 2-core CI machine: one function of a million pairs, 0.3 s and 150 MB; 400
/// functions of 20,000, 1.4 s and 84 MB.
fn costly_component(functions: usize, instructions: usize) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    fn section(id: u8, payload: &[u8], out: &mut Vec<u8>) {
        out.push(id);
        leb(payload.len(), out);
        out.extend_from_slice(payload);
    }
    let mut body = vec![0u8];
    for _ in 0..instructions {
        body.extend_from_slice(&[0x41, 0x01, 0x1a]);
    }
    body.push(0x0b);
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    section(1, &[1, 0x60, 0, 0], &mut module);
    let mut funcs = Vec::new();
    leb(functions, &mut funcs);
    funcs.extend(std::iter::repeat_n(0u8, functions));
    section(3, &funcs, &mut module);
    let mut code = Vec::new();
    leb(functions, &mut code);
    for _ in 0..functions {
        leb(body.len(), &mut code);
        code.extend_from_slice(&body);
    }
    section(10, &code, &mut module);
    let mut component = b"\0asm\x0d\0\x01\0".to_vec();
    section(1, &module, &mut component);
    component
}

#[test]
fn uploads_over_a_compile_bound_are_refused_while_other_tenants_call() {
    let env = Env::new();
    let server = Server::start(&env, &["--no-auth", "--max-compile-ms", "400"]);
    // The memory bound on a server of its own: under the time bound above, a
    // module could be stopped by either first.
    let tight = Server::start(&env, &["--no-auth", "--max-compile-memory", "256"]);
    let wasm = [("Content-Type", "application/wasm")];
    let stop = AtomicBool::new(false);
    let calls = AtomicUsize::new(0);
    let (slow, big) = std::thread::scope(|scope| {
        let bystander = scope.spawn(|| {
            let body = json!({"function": "create-record", "args": ["x", 1]}).to_string();
            let mut failed = Vec::new();
            while !stop.load(Ordering::Acquire) {
                let answer = server.send(
                    "POST",
                    "/v1/tenants/bystander/call",
                    None,
                    &[("Content-Type", "application/json")],
                    body.as_bytes(),
                );
                if answer.status != 200 {
                    failed.push(answer.text);
                }
                calls.fetch_add(1, Ordering::Relaxed);
            }
            failed
        });
        let slow = server.send(
            "POST",
            "/v1/tenants/acme/plugins",
            None,
            &wasm,
            &costly_component(400, 20_000),
        );
        let big = tight.send(
            "POST",
            "/v1/tenants/acme/plugins",
            None,
            &wasm,
            &costly_component(1, 1_000_000),
        );
        stop.store(true, Ordering::Release);
        assert_eq!(
            bystander.join().unwrap(),
            Vec::<String>::new(),
            "a bystander's call failed"
        );
        (slow, big)
    });
    assert_eq!(slow.status, 422, "{}", slow.text);
    assert_eq!(
        slow.body["error"],
        "the component was refused: compiling took longer than its 400 ms bound"
    );
    assert_eq!(big.status, 422, "{}", big.text);
    assert_eq!(
        big.body["error"],
        "the component was refused: compiling needed more memory than its 256 MiB bound"
    );
    assert!(
        calls.load(Ordering::Relaxed) > 0,
        "the bystander called meanwhile"
    );
    let listed = server.get("/v1/tenants/acme/plugins", None);
    assert_eq!(listed.body, json!([]), "nothing stored");
    let ok = tight.send(
        "POST",
        "/v1/tenants/acme/plugins",
        None,
        &wasm,
        REFERENCE_PLUGIN,
    );
    assert_eq!(ok.status, 201, "a plugin within the bounds: {}", ok.text);
    let metrics = server.get("/metrics", None).text;
    assert!(
        metrics.contains("records_host_plugin_uploads_total{outcome=\"refused\"} 1"),
        "{metrics}"
    );
}

#[test]
fn uploads_still_compile_after_the_servers_binary_was_replaced_on_disk() {
    let env = Env::new();
    let program = env.dir.path().join("records-host");
    std::fs::copy(BIN, &program).unwrap();
    let server = Server::start_program(&env, &program, &["--no-auth"]);
    // What a package upgrade does: another file renamed over the path.
    let replacement = env.dir.path().join("records-host.new");
    std::fs::write(&replacement, "#!/bin/sh\nexit 3\n").unwrap();
    std::fs::set_permissions(
        &replacement,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::fs::rename(&replacement, &program).unwrap();
    // Bytes no cache holds yet, so that a compiler process runs.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let wasm = with_nonce(REFERENCE_PLUGIN, u64::try_from(nanos % (1 << 63)).unwrap());
    let stored = server.send(
        "POST",
        "/v1/tenants/acme/plugins",
        None,
        &[("Content-Type", "application/wasm")],
        &wasm,
    );
    assert_eq!(stored.status, 201, "{}", stored.text);
}
