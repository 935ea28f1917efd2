//! CRUD and counters over HTTP, every status, stopped plugins, call slots.

use std::time::{Duration, Instant};

use serde_json::json;

use super::*;
use crate::support::*;

on_both! {
    fn crud_and_counters_over_http(env) {
        let server = Server::start(&env, &["--no-auth"]);
        let t = "acme";
        expect(&server, t, "create-record", json!(["first", 10]), json!({"ok": 1}));
        expect(&server, t, "create-record", json!(["  second  ", -5]), json!({"ok": 2}));
        expect(&server, t, "get-record", json!([1]), json!({"ok": {"id": 1, "name": "first", "value": 10}}));
        expect(&server, t, "records#get-record", json!([2]), json!({"ok": {"id": 2, "name": "second", "value": -5}}));
        expect(&server, t, "get-record", json!([99]), json!({"ok": null}));
        expect(&server, t, "update-record", json!([1, i64::MAX]), json!({"ok": null}));
        expect(&server, t, "get-record", json!([1]), json!({"ok": {"id": 1, "name": "first", "value": i64::MAX}}));
        expect(&server, t, "update-record", json!([7, 1]), json!({"err": {"not-found": 7}}));
        expect(&server, t, "increment", json!([2, 5]), json!({"ok": 0}));
        expect(&server, t, "increment", json!([2, i64::MIN]), json!({"ok": i64::MIN}));
        expect(&server, t, "increment", json!([2, -1]), json!({"err": {"invalid": "-9223372036854775808 + -1 does not fit in a 64-bit value"}}));
        expect(&server, t, "update-record", json!([2, 0]), json!({"ok": null}));
        expect(&server, t, "transfer", json!([1, 2, 7]), json!({"ok": null}));
        expect(&server, t, "transfer", json!([2, 1, 8]), json!({"err": {"invalid": "record 2 has 7, cannot move 8 out of it"}}));
        expect(&server, t, "create-record", json!(["", 1]), json!({"err": {"invalid": "name must not be empty"}}));
        expect(&server, t, "delete-record", json!([2]), json!({"ok": null}));
        expect(&server, t, "delete-record", json!([2]), json!({"err": {"not-found": 2}}));
        expect(
            &server,
            t,
            "get-all-records",
            json!([]),
            json!({"ok": [{"id": 1, "name": "first", "value": i64::MAX - 7}]}),
        );
        // Without "args": a function that takes none.
        let answer = server.call(t, None, &json!({"function": "get-all-records"}));
        assert_eq!(answer.status, 200);
        let records = all_records(&tenant_db(&env, t));
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].value, i64::MAX - 7);
        let (status, _) = server.stop();
        assert!(status.success(), "{status}");
    }
}

#[test]
fn every_error_status_is_the_documented_one() {
    let env = Env::new();
    let server = Server::start(&env, &["--no-auth", "--lock-timeout", "100"]);
    let bad = |answer: Answer, status: u16, needle: &str| {
        assert_eq!(answer.status, status, "{}", answer.text);
        let error = answer.body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{}", answer.text));
        assert!(error.contains(needle), "{error}");
        assert!(!error.contains('\n'), "one line: {error}");
    };
    bad(
        server.post("acme", None, b"{not json"),
        400,
        "the body is not JSON",
    );
    bad(
        server.call("acme", None, &json!({"args": []})),
        400,
        "\"function\"",
    );
    bad(
        server.call("acme", None, &json!({"function": "get-record", "args": 1})),
        400,
        "\"args\" must be an array",
    );
    bad(
        call(&server, "acme", "get-record", json!(["one"])),
        400,
        "argument 1 of records:plugin/records@0.1.0#get-record: expected a signed integer",
    );
    bad(
        call(&server, "acme", "get-record", json!([1, 2])),
        400,
        "takes 1 arguments, got 2",
    );
    bad(
        call(&server, "acme", "create-record", json!(["x", 1.5])),
        400,
        "argument 2",
    );
    bad(
        call(
            &server,
            "acme",
            "create-record",
            json!(["x", 9_223_372_036_854_775_808u64]),
        ),
        400,
        "argument 2",
    );
    bad(
        call(&server, "Bad..Name", "get-record", json!([1])),
        400,
        "invalid tenant name",
    );
    bad(
        call(&server, "acme", "no-such-function", json!([])),
        404,
        "exports no function `no-such-function`",
    );
    let huge = vec![b' '; (1 << 20) + 1];
    bad(server.post("acme", None, &huge), 413, "over 1 MiB");

    // A write that cannot get the tenant's lock: the plugin's answer, with 503.
    let held = env.hold_tenant_lock("acme");
    let answer = call(&server, "acme", "create-record", json!(["x", 1]));
    assert_eq!(answer.status, 503, "{}", answer.text);
    assert_eq!(answer.retry_after.as_deref(), Some("1"));
    assert!(
        answer.body["err"]["lock-timeout"]["holder"]
            .as_str()
            .unwrap()
            .contains("test:holder"),
        "{}",
        answer.text
    );
    drop(held);
    expect(
        &server,
        "acme",
        "create-record",
        json!(["x", 1]),
        json!({"ok": 1}),
    );

    assert_eq!(server.get("/healthz", None).status, 200);
    let metrics = server.get("/metrics", None).text;
    for line in [
        "records_host_calls_total{function=\"-\",outcome=\"bad_request\"} 8",
        "records_host_calls_total{function=\"-\",outcome=\"not_found\"} 1",
        "records_host_calls_total{function=\"-\",outcome=\"too_large\"} 1",
        "records_host_calls_total{function=\"create-record\",outcome=\"lock_timeout\"} 1",
        "records_host_calls_total{function=\"create-record\",outcome=\"ok\"} 1",
        "records_host_lock_timeouts_total 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no `{line}` in:\n{metrics}"
        );
    }
    assert!(
        !metrics.contains("acme") && !metrics.contains("no-such-function"),
        "{metrics}"
    );
    let lock = server.get("/v1/tenants/acme/lock", None);
    assert_eq!((lock.status, lock.body), (200, json!({"state": "free"})));
    let _held = env.hold_tenant_lock("acme");
    let lock = server.get("/v1/tenants/acme/lock", None);
    assert_eq!(lock.body["state"], "held", "{}", lock.text);
    assert!(
        lock.body["holder"]
            .as_str()
            .unwrap()
            .contains("test:holder")
    );
}

#[test]
fn a_stopped_plugin_is_500_and_other_tenants_go_on() {
    let env = Env::new();
    let server = hostile_server(&env, &["--timeout", "1500"]);
    std::thread::scope(|s| {
        let server = &server;
        let hostile: Vec<_> = [
            ("spin", json!([])),
            ("sleep", json!([60_000])),
            ("grow-memory", json!([])),
            ("txn-then-loop", json!(["held"])),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, (function, args))| {
            s.spawn(move || {
                let start = Instant::now();
                let answer = call(server, &format!("bad{i}"), function, args);
                (function, answer, start.elapsed())
            })
        })
        .collect();
        // Meanwhile another tenant's calls are answered at once.
        std::thread::sleep(Duration::from_millis(200));
        for n in 0..20 {
            let start = Instant::now();
            let answer = call(server, "good", "scan-count", json!([10]));
            assert_eq!(answer.status, 200, "{}", answer.text);
            assert!(
                start.elapsed() < Duration::from_secs(1),
                "call {n} waited {:?}",
                start.elapsed()
            );
        }
        for handle in hostile {
            let (function, answer, took) = handle.join().unwrap();
            assert_eq!(answer.status, 500, "{function}: {}", answer.text);
            let error = answer.body["error"].as_str().unwrap();
            assert!(error.starts_with("plugin "), "{function}: {error}");
            // The instance pool's memory slots are as large as the limit, so
            // the limiter, not the slot, stops a memory bomb.
            if function == "grow-memory" {
                assert!(error.contains("64 MiB memory limit"), "{error}");
            }
            assert!(took < Duration::from_secs(5), "{function} took {took:?}");
        }
    });
    let lock = server.get("/v1/tenants/bad3/lock", None);
    assert_eq!(
        lock.body["state"], "free",
        "the looping transaction's lock is free: {}",
        lock.text
    );
    assert_eq!(
        tenant_db(&env, "bad3").count().unwrap(),
        0,
        "its insert was rolled back"
    );
}

#[test]
fn calls_past_max_concurrent_get_503_with_retry_after() {
    let env = Env::new();
    let server = hostile_server(&env, &["--max-concurrent", "1"]);
    std::thread::scope(|s| {
        let slow = s.spawn(|| call(&server, "a", "sleep", json!([1500])));
        std::thread::sleep(Duration::from_millis(500));
        let busy = call(&server, "b", "scan-count", json!([1]));
        assert_eq!(busy.status, 503, "{}", busy.text);
        assert_eq!(busy.retry_after.as_deref(), Some("1"));
        assert_eq!(slow.join().unwrap().status, 200);
    });
    assert_eq!(call(&server, "b", "scan-count", json!([1])).status, 200);
}

#[test]
fn the_openapi_document_describes_every_route_and_its_auth() {
    let env = Env::new();
    let server = Server::start(&env, &["--no-auth"]);
    let doc = server.get("/openapi.json", None);
    assert_eq!(doc.status, 200, "{}", doc.text);
    assert_eq!(doc.body["openapi"], "3.1.0");
    let paths = doc.body["paths"].as_object().unwrap();
    let mut operations: Vec<String> = paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| format!("{} {path}", m.to_uppercase()))
        })
        .collect();
    operations.sort();
    let t = "/v1/tenants/{tenant}";
    let mut expected = vec![
        "GET /healthz".to_string(),
        "GET /metrics".into(),
        "GET /openapi.json".into(),
        format!("POST {t}/call"),
        format!("GET {t}/lock"),
    ];
    for slot in ["plugins", "scripts/{script}"] {
        expected.extend([
            format!("POST {t}/{slot}"),
            format!("GET {t}/{slot}"),
            format!("GET {t}/{slot}/{{n}}"),
            format!("DELETE {t}/{slot}/{{n}}"),
            format!("GET {t}/{slot}/{{n}}/wasm"),
            format!("POST {t}/{slot}/{{n}}/activate"),
        ]);
    }
    expected.push(format!("POST {t}/scripts/{{script}}/run"));
    expected.sort();
    assert_eq!(operations, expected);
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let secured = op["security"][0].get("bearer").is_some();
            assert_eq!(
                secured,
                path.starts_with("/v1/"),
                "{method} {path}: bearer only on tenant routes"
            );
            if path.starts_with("/v1/") {
                let documented = op["responses"].as_object().unwrap();
                assert!(
                    documented.contains_key("401"),
                    "{method} {path} documents 401"
                );
            }
        }
    }
    assert!(doc.body["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer");
}
