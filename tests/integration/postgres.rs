//! What only the PostgreSQL backend has: a server that keeps a transaction's
//! deadline when the host cannot, hosts that share nothing but the database,
//! connection failures that never show a password, session names, schemas that
//! are not records-host's, and a pool that replaces dead connections.
//!
//! Each test skips with a notice when there is no server (a failure under
//! `RECORDS_HOST_REQUIRE_POSTGRES`, as in CI); see `support/postgres.rs`.

use std::collections::HashSet;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use records_host::{DatabaseOptions, LockStatus, PluginHost, Runtime, TenantName};
use records_test_fixtures::HOSTILE;

use crate::support::*;

/// A records-host process's sessions as `pg_stat_activity` shows them: their
/// application names.
fn sessions_of(pg: &PgDatabase, pid: u32) -> Vec<String> {
    pg.client()
        .query(
            "SELECT application_name FROM pg_stat_activity WHERE application_name ~ $1",
            &[&format!("^records-host pid:{pid}( |$)")],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// Waits (up to 30 s) until someone holds the write lock of `env`.
#[track_caller]
pub(crate) fn wait_until_held(env: &Env, child: &mut Child) {
    let start = Instant::now();
    while env.open().lock_status().unwrap() == LockStatus::Free {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the holder exited before taking the lock"
        );
        assert!(start.elapsed() < Duration::from_secs(30), "never held");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `signal` to `child`.
fn signal(child: &Child, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) with a pid this test spawned and has not reaped yet.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
}

/// A plugin call holding a write transaction is frozen with SIGSTOP: the host
/// cannot roll anything back, but the server ends the idle transaction at its
/// deadline (1 s), so another writer gets the lock, and the frozen call's insert
/// is gone. Resumed, the frozen call fails instead of committing.
#[test]
fn a_holder_frozen_with_sigstop_loses_the_lock_at_its_deadline() {
    let Some(env) = Env::postgres() else { return };
    env.open().write(|w| w.insert("before", 1)).unwrap();
    let mut frozen = env
        .cli(
            "call",
            &[
                "--plugin",
                HOSTILE,
                "--timeout",
                "120000",
                "--txn-deadline",
                "1000",
                r#"txn-then-sleep(3000)"#,
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until_held(&env, &mut frozen);
    signal(&frozen, libc::SIGSTOP);

    // Far longer than the deadline: the write must wait for the server, not fail.
    let other = env.call(&["--lock-timeout", "30000", r#"create-record("other", 2)"#]);
    signal(&frozen, libc::SIGCONT);
    assert_exit(&other, 0);

    let frozen = wait_within(frozen, Duration::from_secs(60));
    assert_exit(&frozen, 1);
    assert_eq!(
        env.names(),
        ["before", "other"],
        "the frozen insert is gone"
    );
    assert_eq!(env.open().lock_status().unwrap(), LockStatus::Free);
}

/// Two hosts that share nothing but the database (their own working directory,
/// plugin cache and home) increment one counter of one tenant, 4 processes each:
/// every increment lands exactly once.
#[test]
fn two_hosts_sharing_only_the_database_increment_one_tenant_exactly() {
    const PER_HOST: usize = 4;
    const ROUNDS: usize = 50;
    let Some(env) = Env::postgres() else { return };
    let url = env.pg().unwrap().url().to_string();
    let hosts: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let call = |host: &tempfile::TempDir, call: &str| {
        let mut cmd = command(host.path());
        cmd.env("RECORDS_HOST_CACHE_DIR", host.path().join("cache"))
            .env("HOME", host.path())
            .env("RECORDS_HOST_DB", &url)
            .args([
                "call",
                "--tenant",
                "shared",
                "--lock-timeout",
                "30000",
                call,
            ]);
        run(&mut cmd)
    };
    // One call per host first, so each compiles the plugin into its cache once.
    assert_eq!(
        stdout(&call(&hosts[0], r#"create-record("counter", 0)"#)),
        "ok(1)"
    );
    assert_eq!(
        stdout(&call(&hosts[1], "get-record(1)")),
        r#"ok(some({id: 1, name: "counter", value: 0}))"#
    );

    let values = fan_out(2 * PER_HOST, ROUNDS, |worker, _| {
        let output = call(&hosts[worker % 2], "increment(1, 1)");
        assert_exit(&output, 0);
        parse_ok(&stdout(&output))
    });
    let total = (2 * PER_HOST * ROUNDS) as i64;
    assert_eq!(
        values.iter().copied().collect::<HashSet<_>>(),
        (1..=total).collect::<HashSet<_>>(),
        "each increment saw a distinct value"
    );
    let last = call(&hosts[1], "get-record(1)");
    assert_eq!(
        stdout(&last),
        format!(r#"ok(some({{id: 1, name: "counter", value: {total}}}))"#)
    );
    for host in &hosts {
        assert!(!host.path().join("data").exists(), "no local data");
    }
}

/// Refused connections, failed authentication and unknown databases end in one
/// line naming the URL without its password, even with full logging: exit 1,
/// but 75 (retry) for a server that cannot be reached, as in a failover.
#[test]
fn connection_failures_are_one_line_without_the_password() {
    let Some(env) = Env::postgres() else { return };
    let pg = env.pg().unwrap();
    let role = format!("rh_pw_{}", std::process::id());
    let secret = "hunter2-do-not-print";
    pg.create_role(&role, secret);
    let server = pg.server_and_database().0;
    let cases = [
        (
            format!("postgres://{role}:{secret}@127.0.0.1:1/x"),
            "cannot connect",
            75,
        ),
        (
            format!("postgres://{role}:wrong-{secret}@{server}/postgres"),
            "password authentication failed",
            1,
        ),
        (
            format!("postgresql://{role}:{secret}@{server}/no_such_database_here"),
            "does not exist",
            1,
        ),
    ];
    for (url, expected, code) in &cases {
        for log in [None, Some("trace")] {
            let mut cmd = command(env.dir.path());
            cmd.args(["call", "--db", url, "get-record(1)"]);
            if let Some(level) = log {
                cmd.env("RUST_LOG", level);
            }
            let output = run(&mut cmd);
            assert_exit(&output, *code);
            let all = format!("{}{}", stdout(&output), stderr(&output));
            assert!(!all.contains(secret), "{log:?}: the password leaked: {all}");
            // The password in --db: one warning (without it), then the error.
            let warned = stderr(&output);
            assert!(warned.contains("warning: the password in --db"), "{warned}");
            let err = host_stderr(&output)
                .lines()
                .filter(|line| !line.contains("warning: the password in --db"))
                .collect::<Vec<_>>()
                .join("\n");
            let last = err.lines().last().unwrap_or_default();
            assert!(last.contains(expected), "{url}: {err}");
            assert!(
                last.contains(&format!("{role}:***@")),
                "names the URL: {last}"
            );
            if log.is_none() {
                assert_eq!(err.lines().count(), 1, "one line: {err}");
            }
        }
    }
    pg.client()
        .batch_execute(&format!("DROP ROLE {role}"))
        .unwrap();
}

/// A `records-host call` that holds `env`'s write lock in a transaction for a
/// minute (the hostile fixture's `txn-then-sleep`), once it holds it.
pub(crate) fn spawn_txn_holder(env: &Env) -> Child {
    let mut holder = env
        .cli(
            "call",
            &[
                "--plugin",
                HOSTILE,
                "--txn-deadline",
                "60000",
                "--timeout",
                "60000",
                r#"txn-then-sleep(60000)"#,
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until_held(env, &mut holder);
    holder
}

/// Each session names its process and plugin in `application_name`, which is
/// what a lock timeout and `lock-status` report about the holder.
#[test]
fn sessions_carry_the_process_and_plugin_in_their_application_name() {
    let Some(env) = Env::postgres() else { return };
    let mut holder = spawn_txn_holder(&env);
    let names = sessions_of(env.pg().unwrap(), holder.id());
    assert_eq!(
        names,
        [format!(
            "records-host pid:{} plugin:records_fixture_hostile",
            holder.id()
        )]
    );
    let status = stdout(&run(&mut env.cli("lock-status", &[])));
    assert!(status.starts_with("held"), "{status}");
    assert!(status.contains(&names[0]), "{status}");
    holder.kill().unwrap();
    holder.wait().unwrap();
}

/// A `records` table that records-host did not create, or a schema of a newer
/// version, is refused with one line and left as it was.
#[test]
fn foreign_and_newer_schemas_are_refused_and_left_alone() {
    let Some(env) = Env::postgres() else { return };
    let pg = env.pg().unwrap();
    pg.client()
        .batch_execute(
            "CREATE SCHEMA records_host;
             CREATE TABLE records_host.records (payload text);
             INSERT INTO records_host.records VALUES ('theirs');",
        )
        .unwrap();
    let output = env.call(&[r#"create-record("x", 1)"#]);
    assert_exit(&output, 1);
    let err = host_stderr(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("not a records-host"), "{err}");
    let rows: i64 = pg
        .client()
        .query_one("SELECT count(*) FROM records_host.records", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 1, "left alone");

    assert_exit(&env.tenant_call("newer", &[r#"create-record("x", 1)"#]), 0);
    pg.client()
        .batch_execute("UPDATE rh_newer.records_host_meta SET value = '99'")
        .unwrap();
    let output = env.tenant_call("newer", &["get-record(1)"]);
    assert_exit(&output, 1);
    let err = host_stderr(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("version 99"), "{err}");
}

/// A pooled connection that the server ended is replaced, not reused: the next
/// call through the same `PluginHost` succeeds.
#[test]
fn the_pool_replaces_a_connection_the_server_ended() {
    let Some(env) = Env::postgres() else { return };
    let host = PluginHost::with_pool_size(
        Runtime::new().unwrap().load_reference().unwrap(),
        env.tenant_home(),
        DatabaseOptions::default(),
        1,
    );
    let tenant = TenantName::new("t").unwrap();
    host.call(&tenant, |p| p.create_record("first", 1)).unwrap();
    let pg = env.pg().unwrap();
    let ended: i64 = pg
        .client()
        .query_one(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name ~ $1) AS t",
            &[&format!("^records-host pid:{}( |$)", std::process::id())],
        )
        .unwrap()
        .get(0);
    assert!(ended >= 1, "the pooled session was ended");
    let start = Instant::now();
    while !sessions_of(pg, std::process::id()).is_empty() {
        assert!(start.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        host.call(&tenant, |p| p.create_record("second", 2))
            .unwrap(),
        2
    );
    assert_eq!(
        host.call(&tenant, |p| p.get_all_records()).unwrap().len(),
        2
    );
}
