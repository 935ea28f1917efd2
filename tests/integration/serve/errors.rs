//! Every non-200 answer has the JSON error body and a request id; without
//! credentials, only loopback `Host` names and JSON calls are served.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::support::*;

/// Sends `request` on a new connection and returns the whole answer.
fn raw(server: &Server, request: &str) -> String {
    let mut stream = TcpStream::connect(server.url.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// The status line and the JSON body of a raw answer.
fn status_and_body(answer: &str) -> (String, serde_json::Value) {
    let status = answer.lines().next().unwrap_or_default().to_string();
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    (
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

#[test]
fn every_non_200_answer_has_a_json_body_and_a_request_id() {
    let env = Env::new();
    let output = run(command(env.dir.path()).args(["token", "acme", "--tokens", "tokens"]));
    assert_exit(&output, 0);
    let server = Server::start(&env, &["--tokens", "tokens"]);
    let answers = [
        ("GET /nowhere", server.request("GET", "/nowhere", &[]), 404),
        (
            "GET .../call",
            server.request("GET", "/v1/tenants/acme/call", &[]),
            405,
        ),
        (
            "DELETE .../lock",
            server.request("DELETE", "/v1/tenants/acme/lock", &[]),
            405,
        ),
        (
            "no token",
            server.call("acme", None, &json!({"function": "x"})),
            401,
        ),
        (
            "bad tenant",
            server.call("A..", Some("rht_x"), &json!({"function": "x"})),
            400,
        ),
    ];
    let mut ids = std::collections::HashSet::new();
    for (what, answer, status) in answers {
        assert_eq!(answer.status, status, "{what}: {}", answer.text);
        let error = answer.body["error"].as_str().unwrap_or_default();
        assert!(!error.is_empty(), "{what}: no error in {}", answer.text);
        let id = answer
            .request_id
            .clone()
            .unwrap_or_else(|| panic!("{what}: no X-Request-Id"));
        assert_eq!(
            answer.body["request_id"],
            json!(id),
            "{what}: {}",
            answer.text
        );
        assert_eq!(id.len(), 16, "{what}: {id}");
        assert!(ids.insert(id), "{what}: a request id was used twice");
    }
    assert!(server.get("/healthz", None).request_id.is_some());

    // What the HTTP stack answers on its own, to requests it cannot parse.
    let long_uri = format!(
        "GET /{} HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "a".repeat(70_000)
    );
    for (request, status) in [
        ("GARBAGE\r\n\r\n", "400"),
        (
            "GET /healthz HTTP/1.1\r\nHost: localhost\r\nNo colon here\r\n\r\n",
            "400",
        ),
        (long_uri.as_str(), "414"),
    ] {
        let (line, body) = status_and_body(&raw(&server, request));
        assert!(line.starts_with(&format!("HTTP/1.1 {status} ")), "{line}");
        assert!(body["error"].is_string(), "{status}: {body}");
        assert!(body["request_id"].is_string(), "{status}: {body}");
    }
}

#[test]
fn without_credentials_only_loopback_json_calls_are_served() {
    let env = Env::new();
    let server = Server::start(&env, &["--no-auth"]);
    let body = r#"{"function": "create-record", "args": ["x", 1]}"#;
    let request = |host: &str, content_type: &str| {
        format!(
            "POST /v1/tenants/acme/call HTTP/1.1\r\nHost: {host}\r\nOrigin: http://attacker.example\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    // A page on another site posts a "simple" request, or a rebound name reads.
    for (host, content_type, status) in [
        ("127.0.0.1", "text/plain", "415"),
        ("attacker.example", "application/json", "403"),
        ("attacker.example:8080", "text/plain", "403"),
    ] {
        let (line, body) = status_and_body(&raw(&server, &request(host, content_type)));
        assert!(
            line.starts_with(&format!("HTTP/1.1 {status} ")),
            "{host} {content_type}: {line}"
        );
        assert!(body["error"].is_string(), "{host} {content_type}: {body}");
    }
    let (line, _) = status_and_body(&raw(
        &server,
        "GET /v1/tenants/acme/lock HTTP/1.1\r\nHost: rebound.example\r\nConnection: close\r\n\r\n",
    ));
    assert!(line.starts_with("HTTP/1.1 403 "), "{line}");
    assert_eq!(
        tenant_db(&env, "acme").count().unwrap(),
        0,
        "nothing was written"
    );
    for host in ["127.0.0.1", "localhost:1234", "[::1]"] {
        let (line, body) = status_and_body(&raw(&server, &request(host, "application/json")));
        assert!(line.starts_with("HTTP/1.1 200 "), "{host}: {line} {body}");
    }
}
