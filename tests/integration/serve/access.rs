//! Who may call (tokens, 401/403, SIGHUP), refusing to start open to the network,
//! and slow or stuck clients.

use std::time::{Duration, Instant};

use serde_json::json;

use super::*;
use crate::support::*;

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
        other.body["error"],
        json!("this token is not valid for this tenant")
    );
    // The lowercase scheme is as good (RFC 7235).
    let lowercase = server.raw_post(
        "acme",
        &[("Authorization", &format!("bearer {acme}"))],
        &body,
    );
    assert_eq!(lowercase.status, 200, "{}", lowercase.text);
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
