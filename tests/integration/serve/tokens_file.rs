//! The tokens file grants access, so the server reads it only under rules: a
//! regular file of bounded size, not a symbolic link, owned by the server's user
//! and writable by nobody else; read off the async runtime within a time bound;
//! every valid line applied on reload, every malformed one reported.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;

use super::mint;
use crate::support::*;

fn mkfifo(path: &Path) {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
}

/// `records-host serve` with `tokens` as its tokens file: it must exit (not hang)
/// within 10 s; returns its exit code and stderr.
fn refused_start(env: &Env, tokens: &str) -> (i32, String) {
    let mut child = command(env.dir.path())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            "data",
            "--tokens",
            tokens,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("serve --tokens {tokens} hung at start-up");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    (output.status.code().unwrap_or(-1), stderr(&output))
}

#[test]
fn a_tokens_file_others_could_write_or_plant_stops_the_start() {
    let env = Env::new();
    let path = env.dir.path().join("tokens");
    mint(&env, "acme");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (code, err) = refused_start(&env, "tokens");
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("group or others may write it (mode 666)"),
        "{err}"
    );

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } == 0 {
        // Only root can give a file away; as root, hand it to `nobody`.
        std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
        let (code, err) = refused_start(&env, "tokens");
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("belongs to uid 65534"), "{err}");
        std::os::unix::fs::chown(&path, Some(0), None).unwrap();
    }

    std::os::unix::fs::symlink(&path, env.dir.path().join("link")).unwrap();
    let (code, err) = refused_start(&env, "link");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("symbolic link"), "{err}");

    mkfifo(&env.dir.path().join("fifo"));
    let (code, err) = refused_start(&env, "fifo");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not a regular file"), "{err}");

    let (code, err) = refused_start(&env, "/dev/zero");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not a regular file"), "{err}");
}

/// Waits (up to 10 s) until the server's log contains `text`.
#[track_caller]
fn wait_for_log(server: &Server, text: &str) {
    let start = Instant::now();
    while !server.log().contains(text) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no {text:?} in the log: {}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A FIFO or a file others may write at the tokens path used to freeze the
/// server on SIGHUP (HTTP and SIGTERM included) or be trusted: now the reload
/// is refused, the tokens in use stay, and the server answers and stops as ever.
#[test]
fn a_reload_of_an_untrusted_or_blocking_file_keeps_the_tokens_and_the_server() {
    let env = Env::new();
    let token = mint(&env, "acme");
    let path = env.dir.path().join("tokens");
    let server = Server::start(&env, &["--tokens", "tokens"]);
    let body = json!({"function": "get-record", "args": [1]});
    assert_eq!(server.call("acme", Some(&token), &body).status, 200);

    let saved = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    mkfifo(&path);
    server.signal(libc::SIGHUP);
    wait_for_log(&server, "tokens not reloaded");
    let start = Instant::now();
    assert_eq!(server.get("/healthz", None).status, 200);
    assert_eq!(server.call("acme", Some(&token), &body).status, 200);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );

    std::fs::remove_file(&path).unwrap();
    std::fs::write(
        &path,
        format!(
            "{}globex {}\n",
            String::from_utf8_lossy(&saved),
            "0".repeat(64)
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    server.signal(libc::SIGHUP);
    wait_for_log(&server, "mode 666");
    assert_eq!(server.call("acme", Some(&token), &body).status, 200);
    let metrics = server.get("/metrics", None).text;
    assert!(
        metrics.contains("records_host_tokens_reload_failures_total 2"),
        "{metrics}"
    );

    let start = Instant::now();
    let (status, _) = server.stop();
    assert!(status.success());
    assert!(start.elapsed() < Duration::from_secs(10));
}

/// Removing a tenant's line and adding a malformed one in the same edit used to
/// keep the removed token working (the whole reload was refused): every valid
/// line applies, every malformed one is logged and counted.
#[test]
fn a_removed_token_is_revoked_even_beside_a_malformed_line() {
    let env = Env::new();
    let acme = mint(&env, "acme");
    let globex = mint(&env, "globex");
    let path = env.dir.path().join("tokens");
    let server = Server::start(&env, &["--tokens", "tokens"]);
    let body = json!({"function": "get-record", "args": [1]});
    assert_eq!(server.call("acme", Some(&acme), &body).status, 200);

    let text = std::fs::read_to_string(&path).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|line| !line.starts_with("acme "))
        .collect();
    std::fs::write(
        &path,
        format!("{}\nthis line is not a token\n", kept.join("\n")),
    )
    .unwrap();
    server.signal(libc::SIGHUP);
    wait_for_log(&server, "tokens reloaded");
    assert_eq!(server.call("acme", Some(&acme), &body).status, 401);
    assert_eq!(server.call("globex", Some(&globex), &body).status, 200);
    let log = server.log();
    assert!(
        log.contains("line=2") && log.contains("malformed line skipped"),
        "{log}"
    );
    assert!(
        !log.contains("this line is not a token"),
        "line contents are not logged"
    );
    let metrics = server.get("/metrics", None).text;
    assert!(
        metrics.contains("records_host_tokens_malformed_lines 1"),
        "{metrics}"
    );
    assert!(metrics.contains("records_host_tokens 1"), "{metrics}");
}
