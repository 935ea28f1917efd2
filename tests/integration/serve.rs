//! `records-host serve`: a real server process on loopback and a real HTTP client.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use records_host::{Database, TenantName};
use serde_json::{Value, json};

use crate::support::*;

fn call(server: &Server, tenant: &str, function: &str, args: Value) -> Answer {
    server.call(tenant, None, &json!({ "function": function, "args": args }))
}

/// Calls and expects 200 with exactly `expected` as the body.
#[track_caller]
fn expect(server: &Server, tenant: &str, function: &str, args: Value, expected: Value) {
    let answer = call(server, tenant, function, args.clone());
    assert_eq!(
        (answer.status, &answer.body),
        (200, &expected),
        "{function}({args}): {}",
        answer.text
    );
}

/// Every record of `db`, page by page.
fn all_records(db: &Database) -> Vec<records_host::Record> {
    let mut all: Vec<records_host::Record> = Vec::new();
    loop {
        let page = db.scan(all.last().map(|r| r.id), 1000).unwrap();
        if page.is_empty() {
            return all;
        }
        all.extend(page);
    }
}

fn tenant_db(env: &Env, tenant: &str) -> Database {
    Database::open(
        env.tenant_home()
            .location(&TenantName::new(tenant).unwrap()),
    )
    .unwrap()
}

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
    let server = Server::start(
        &env,
        &[
            "--no-auth",
            "--plugin",
            records_test_fixtures::HOSTILE,
            "--timeout",
            "1500",
        ],
    );
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
    let server = Server::start(
        &env,
        &[
            "--no-auth",
            "--plugin",
            records_test_fixtures::HOSTILE,
            "--max-concurrent",
            "1",
        ],
    );
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
fn each_tenant_is_reachable_only_with_its_own_token() {
    let env = Env::new();
    let mint = |tenant: &str| {
        let output = run(command(env.dir.path()).args(["token", tenant, "--tokens", "tokens"]));
        assert_exit(&output, 0);
        stdout(&output)
    };
    let acme = mint("acme");
    let globex = mint("globex");
    assert_ne!(acme, globex);
    let file = std::fs::read_to_string(env.dir.path().join("tokens")).unwrap();
    assert!(
        !file.contains(&acme) && !file.contains(&globex),
        "only hashes are stored"
    );

    let server = Server::start_with(&env, &["--tokens", "tokens"], &[("RUST_LOG", "trace")]);
    let body = json!({"function": "create-record", "args": ["x", 1]});
    assert_eq!(server.call("acme", None, &body).status, 401);
    assert_eq!(
        server.call("acme", Some("rht_not-a-token"), &body).status,
        401
    );
    let other = server.call("acme", Some(&globex), &body);
    assert_eq!(other.status, 403);
    assert_eq!(
        other.body,
        json!({"error": "this token is not valid for this tenant"})
    );
    assert_eq!(server.call("acme", Some(&acme), &body).status, 200);
    assert_eq!(server.call("globex", Some(&globex), &body).status, 200);
    assert_eq!(server.get("/v1/tenants/acme/lock", None).status, 401);
    assert_eq!(
        server.get("/v1/tenants/acme/lock", Some(&globex)).status,
        403
    );
    assert_eq!(server.get("/v1/tenants/acme/lock", Some(&acme)).status, 200);

    // A token made while it runs works after SIGHUP.
    let initech = mint("initech");
    assert_eq!(server.call("initech", Some(&initech), &body).status, 401);
    server.signal(libc::SIGHUP);
    let start = Instant::now();
    while !server.log().contains("tokens reloaded") {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no reload: {}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(server.call("initech", Some(&initech), &body).status, 200);

    let (status, log) = server.stop();
    assert!(status.success());
    assert!(log.contains("status=403"), "{log}");
    for token in [&acme, &globex, &initech] {
        assert!(!log.contains(token.as_str()), "a token reached the log");
        assert!(
            !log.contains(&token[4..20]),
            "part of a token reached the log"
        );
    }
}

#[test]
fn serve_refuses_to_start_open_to_the_network() {
    let env = Env::new();
    let output = run(command(env.dir.path()).args(["serve", "--listen", "127.0.0.1:0"]));
    assert_exit(&output, 2);
    let output = run(command(env.dir.path()).args(["serve", "--listen", "0.0.0.0:0", "--no-auth"]));
    assert_exit(&output, 2);
    assert_eq!(
        stderr(&output),
        "records-host: --no-auth serves every tenant to every client, so it listens on loopback only, not 0.0.0.0:0"
    );
    std::fs::write(env.dir.path().join("tokens"), "acme 1234\n").unwrap();
    let output = run(command(env.dir.path()).args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--tokens",
        "tokens",
    ]));
    assert_exit(&output, 1);
    assert!(
        stderr(&output).ends_with("tokens line 1: expected `<tenant> <sha256 hex of the token>`"),
        "{}",
        stderr(&output)
    );
}

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

/// Reads from `stream` until the server closes it; how long that took.
fn until_closed(mut stream: std::net::TcpStream) -> Duration {
    use std::io::Read;
    let start = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut buf = [0u8; 4096];
    while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
    start.elapsed()
}

#[test]
fn slow_and_stuck_clients_cannot_hold_the_server() {
    use std::io::Write;
    let env = Env::new();
    let server = Server::start(
        &env,
        &[
            "--no-auth",
            "--read-timeout",
            "500",
            "--max-connections",
            "4",
        ],
    );
    let addr = server.url.trim_start_matches("http://").to_string();
    let connect = || std::net::TcpStream::connect(&addr).unwrap();

    // Headers that never end, a body that never comes, a connection that never
    // sends anything: each is closed at the read timeout.
    let mut headers = connect();
    headers
        .write_all(b"POST /v1/tenants/a/call HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut body = connect();
    body.write_all(
        b"POST /v1/tenants/a/call HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"fun",
    )
    .unwrap();
    let idle = connect();
    for (what, stream) in [("headers", headers), ("body", body), ("idle", idle)] {
        let took = until_closed(stream);
        assert!(
            took < Duration::from_secs(5),
            "{what}: closed after {took:?}"
        );
    }

    // More stuck connections than the server serves at once: a real client still
    // gets its answer once the timeout frees their slots.
    let stuck: Vec<_> = (0..8).map(|_| connect()).collect();
    let start = Instant::now();
    expect(
        &server,
        "a",
        "create-record",
        json!(["after the stall", 1]),
        json!({"ok": 1}),
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "answered after {:?}",
        start.elapsed()
    );
    drop(stuck);
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
