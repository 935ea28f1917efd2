//! Hostile plugins are contained: each misbehaviour ends in the right one-line
//! error (or error value), the host stays healthy, the lock is free, the database
//! is intact and every earlier record is still there.

use records_host_cli::text::wave;
use std::time::Duration;

use records_host::{Error, Limits, LockStatus, Runtime};
use records_test_fixtures::HOSTILE;

use crate::support::*;

/// An environment holding some earlier data that every misbehaviour must leave.
fn env_with_earlier_data() -> Env {
    with_earlier_data(Env::new())
}

/// `env` with the earlier data written.
fn with_earlier_data(env: Env) -> Env {
    env.open()
        .write(|w| (0..5).try_for_each(|i| w.insert(&format!("earlier{i}"), i).map(drop)))
        .unwrap();
    env
}

#[track_caller]
fn assert_contained(env: &Env) {
    assert_eq!(
        env.open().lock_status().unwrap(),
        LockStatus::Free,
        "lock free"
    );
    env.assert_intact();
    let names = env.names();
    for i in 0..5 {
        assert!(
            names.contains(&format!("earlier{i}")),
            "earlier data present: {names:?}"
        );
    }
}

/// Runs a hostile call through the CLI and checks it failed in exactly one stderr
/// line that starts with `expected`.
#[track_caller]
fn assert_stopped(env: &Env, args: &[&str], expected: &str) {
    let mut all = vec!["--plugin", HOSTILE];
    all.extend_from_slice(args);
    let output = env.call(&all);
    assert_exit(&output, 1);
    let err = host_stderr(&output);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with(&format!("records-host: {expected}")),
        "{err}"
    );
    assert_contained(env);
}

#[test]
fn an_infinite_loop_hits_the_time_limit() {
    let env = env_with_earlier_data();
    assert_stopped(
        &env,
        &["--timeout", "300", "spin()"],
        "plugin exceeded its 300 ms time limit",
    );
}

#[test]
fn a_memory_bomb_hits_the_memory_limit() {
    let env = env_with_earlier_data();
    assert_stopped(
        &env,
        &["--max-memory", "32", "grow-memory()"],
        "plugin exceeded its 32 MiB memory limit",
    );
}

#[test]
fn unbounded_recursion_traps_on_the_stack_limit() {
    let env = env_with_earlier_data();
    assert_stopped(
        &env,
        &["recurse(0)"],
        "plugin trapped: wasm trap: call stack exhausted",
    );
}

#[test]
fn a_fuel_budget_stops_a_loop_deterministically() {
    let env = env_with_earlier_data();
    assert_stopped(
        &env,
        &["--fuel", "1000000", "spin()"],
        "plugin ran out of fuel (its budget is 1000000)",
    );
}

on_both! {
    fn a_transaction_held_by_a_looping_plugin_is_rolled_back_when_the_time_limit_stops_it(env) {
        let env = with_earlier_data(env);
        // The time limit (300 ms) fires before the transaction deadline (10 s).
        assert_stopped(
            &env,
            &[
                "--timeout",
                "300",
                "--txn-deadline",
                "10000",
                r#"txn-then-loop("loop")"#,
            ],
            "plugin exceeded its 300 ms time limit",
        );
        assert!(!env.names().contains(&"loop".to_string()));
    }
}

on_both! {
    fn a_10_mb_name_is_refused_by_the_host(env) {
        let env = with_earlier_data(env);
        let output = env.call(&["--plugin", HOSTILE, "insert-huge-name(10000000)"]);
        assert_exit(&output, 1);
        assert_eq!(
            stdout(&output),
            r#"err(invalid("name is 10000000 bytes; the host accepts at most 4096"))"#
        );
        assert_contained(&env);
        assert_eq!(env.open().count().unwrap(), 5);
    }
}

on_both! {
    fn inserting_until_the_quota_ends_with_a_full_database_and_intact_data(env) {
        let env = with_earlier_data(env);
        let output = env.call(&[
            "--plugin",
            HOSTILE,
            "--max-db-size",
            "1",
            // Thousands of writes: room for a loaded machine (PostgreSQL compresses
            // the repetitive names, so it takes more of them to fill 1 MiB).
            "--timeout",
            "120000",
            "fill-database(3000)",
        ]);
        assert_exit(&output, 1);
        let out = stdout(&output);
        let stored: u64 = out
            .strip_prefix("err((")
            .and_then(|rest| rest.split_once(','))
            .and_then(|(n, _)| n.parse().ok())
            .unwrap_or_else(|| panic!("{out}"));
        assert!(stored > 100, "{out}");
        assert!(out.contains(r#"storage("the database is full"#), "{out}");
        assert_contained(&env);
        assert_eq!(
            env.open().count().unwrap(),
            5 + stored,
            "every acknowledged write is there"
        );
        match env.pg() {
            // The table's size is known to the page (8 KiB), as PostgreSQL allocates it.
            Some(pg) => {
                let size: i64 = pg
                    .client()
                    .query_one("SELECT pg_total_relation_size('records_host.records')", &[])
                    .unwrap()
                    .get(0);
                assert!(
                    size <= (1 << 20) + (64 << 10),
                    "the table stayed within 1 MiB: {size}"
                );
            }
            None => {
                let size = std::fs::metadata(env.db()).unwrap().len();
                assert!(size <= 1 << 20, "the database stayed within 1 MiB: {size}");
            }
        }
    }
}

#[test]
fn the_file_system_and_environment_are_out_of_reach() {
    let env = env_with_earlier_data();
    for call in [
        r#"read-file("/etc/passwd")"#,
        r#"list-dir("/")"#,
        r#"read-file("data/app.db")"#,
    ] {
        let output = env.call(&["--plugin", HOSTILE, call]);
        assert_exit(&output, 1);
        let out = stdout(&output);
        assert!(out.starts_with("err(\""), "{call}: {out}");
        assert!(!out.contains("root:"), "{call}: {out}");
    }
    let output = run(env
        .cli("call", &["--plugin", HOSTILE, "env-vars()"])
        .env("SECRET_TOKEN", "hunter2"));
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "[]");
    assert_contained(&env);
}

#[test]
fn plugin_output_goes_to_stderr_prefixed_and_bounded() {
    let env = Env::new();
    let output = env.call(&["--plugin", HOSTILE, "chatter(2)"]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "", "stdout is for the result only");
    let err = stderr(&output);
    for line in [
        "[records_fixture_hostile] out line 0",
        "[records_fixture_hostile] err line 1",
    ] {
        assert!(err.contains(line), "{err}");
    }

    // 200,000 lines take a second or so; the limit leaves room for a loaded machine.
    let flood = env.call(&["--plugin", HOSTILE, "--timeout", "60000", "chatter(100000)"]);
    assert_exit(&flood, 0);
    let err = stderr(&flood);
    assert!(err.len() < 200_000, "bounded: {} bytes", err.len());
    assert!(
        err.contains("more output dropped"),
        "says it dropped output"
    );
}

#[test]
fn scan_pages_are_capped_by_the_host() {
    let env = Env::new();
    env.open()
        .write(|w| (0..1500).try_for_each(|i| w.insert("r", i).map(drop)))
        .unwrap();
    let output = env.call(&["--plugin", HOSTILE, "scan-count(100000)"]);
    assert_eq!(stdout(&output), "ok(1000)");
}

on_both! {
    /// The same misbehaviours through one long-lived library `Runtime`: after each, the
    /// host keeps serving normal calls.
    fn one_runtime_survives_every_misbehaviour(env) {
        let env = with_earlier_data(env);
        let limits = Limits {
            timeout: Duration::from_millis(300),
            max_memory: 32 << 20,
            ..Limits::default()
        };
        let runtime = Runtime::builder().limits(limits).build().unwrap();
        let hostile = runtime.load_file(HOSTILE.as_ref()).unwrap();
        let reference = runtime.load_reference().unwrap();
        type Expect = fn(&Error) -> bool;
        let cases: [(&str, Expect); 4] = [
            ("spin()", |e| matches!(e, Error::TimeLimit { ms: 300 })),
            ("grow-memory()", |e| {
                matches!(e, Error::MemoryLimit { mib: 32 })
            }),
            (
                "recurse(0)",
                |e| matches!(e, Error::Trap(msg) if msg.contains("stack")),
            ),
            (r#"txn-then-loop("x")"#, |e| {
                matches!(e, Error::TimeLimit { .. })
            }),
        ];
        for (call, expected) in cases {
            let mut instance = hostile.instantiate(env.open()).unwrap();
            let err = wave::call(&mut instance, call).unwrap_err();
            assert!(expected(&err), "{call}: {err}");
            assert!(err.stopped_the_plugin());
            drop(instance);
            assert_contained(&env);
            let mut healthy = reference.instantiate(env.open()).unwrap();
            healthy.create_record("after", 1).unwrap();
        }
        assert_eq!(env.open().count().unwrap(), 5 + 4);
    }
}
