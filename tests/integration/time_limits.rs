//! The time limit holds whatever the plugin is doing: computing (see `sandbox.rs`),
//! sleeping in a blocking WASI call, blocking on a stream, or waiting in a store
//! import for the write lock. The call ends at its limit, its transactions are
//! rolled back, the lock is free when it returns, and the thread serves the next
//! call. Each call here would otherwise run for hours or forever; the generous
//! bounds of `run_within` only catch that, they measure no speed.

use records_host_cli::text::wave;
use std::io::Write;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use records_host::{Error, Limits, LockStatus, PluginHost, Runtime, TenantName};
use records_test_fixtures::{HOSTILE, IMPORT_CSV};

use crate::support::*;

/// Far longer than any limit below: a call still running then was not stopped.
const NEVER: Duration = Duration::from_secs(60);

/// The hostile call `call` through the CLI with `args`: exit 1, one line naming
/// the time limit, the lock free and nothing of the plugin's written.
#[track_caller]
fn assert_stopped_at(env: &Env, args: &[&str], ms: u64) {
    let mut all = vec!["--plugin", HOSTILE];
    all.extend_from_slice(args);
    let output = run_within(&mut env.cli("call", &all), NEVER);
    assert_exit(&output, 1);
    assert_eq!(
        host_stderr(&output),
        format!("records-host: plugin exceeded its {ms} ms time limit")
    );
    assert_eq!(env.open().lock_status().unwrap(), LockStatus::Free);
    assert_eq!(integrity_check(&env.db()), "ok");
}

#[test]
fn a_plugin_sleeping_in_a_blocking_wasi_call_is_stopped_at_its_limit() {
    let env = Env::new();
    assert_stopped_at(&env, &["--timeout", "300", "sleep(8000)"], 300);
    assert_stopped_at(
        &env,
        &["--timeout", "300", "sleep(18446744073709551615)"],
        300,
    );
}

#[test]
fn a_plugin_sleeping_inside_a_write_transaction_frees_the_lock_at_its_limit() {
    let env = Env::new();
    env.open().insert("earlier", 1).unwrap();
    // The transaction deadline (10 minutes) is far beyond the time limit.
    assert_stopped_at(
        &env,
        &[
            "--timeout",
            "300",
            "--txn-deadline",
            "600000",
            "txn-then-sleep(4294967295)",
        ],
        300,
    );
    assert_eq!(env.names(), ["earlier"], "the transaction was rolled back");
    let after = env.call(&["--lock-timeout", "0", r#"create-record("after", 2)"#]);
    assert_exit(&after, 0);
}

/// A write that waits for a held lock waits no longer than the call may run, and
/// then the error is the time limit, not a lock timeout.
#[test]
fn a_lock_wait_in_a_store_import_is_capped_by_the_calls_time() {
    let env = Env::new();
    let held = env.hold_lock();
    let output = run_within(
        &mut env.cli(
            "call",
            &[
                "--timeout",
                "300",
                "--lock-timeout",
                "600000",
                r#"create-record("late", 1)"#,
            ],
        ),
        NEVER,
    );
    assert_exit(&output, 1);
    assert_eq!(
        host_stderr(&output),
        "records-host: plugin exceeded its 300 ms time limit"
    );
    drop(held);
    assert_eq!(env.open().count().unwrap(), 0, "nothing was written");
}

/// A script blocked reading a stream (its stdin, which never ends) is stopped too.
#[test]
fn a_script_blocked_on_stdin_is_stopped_at_its_limit() {
    let env = Env::new();
    let mut child = env
        .cli("run", &["--timeout", "300", IMPORT_CSV])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"a,1\nb,2\n").unwrap();
    // stdin stays open: the script waits for more input until it is stopped.
    let output = wait_within(child, NEVER);
    drop(stdin);
    assert_exit(&output, 1);
    assert_eq!(
        host_stderr(&output),
        "records-host: plugin exceeded its 300 ms time limit"
    );
    assert_eq!(env.open().count().unwrap(), 0);
}

fn hostile_host(dir: &std::path::Path, timeout_ms: u64) -> PluginHost {
    let limits = Limits {
        timeout: Duration::from_millis(timeout_ms),
        ..Limits::default()
    };
    let runtime = Runtime::builder().limits(limits).build().unwrap();
    PluginHost::new(runtime.load_file(HOSTILE.as_ref()).unwrap(), dir)
}

/// Through `PluginHost`: a plugin sleeping forever in one thread (outside or
/// inside a transaction) is stopped at its limit, with its tenant's lock free,
/// while other threads' calls run as usual; its thread then serves the next call.
#[test]
fn a_sleeping_plugin_holds_up_neither_its_thread_nor_other_threads() {
    let env = Env::new();
    let host = hostile_host(env.dir.path(), 2_000);
    let reference = PluginHost::new(
        Runtime::new().unwrap().load_reference().unwrap(),
        env.dir.path(),
    );
    let sleeper = TenantName::new("sleeper").unwrap();
    let returned = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let sleeping = scope.spawn(|| {
            let outcomes = [
                host.call(&sleeper, |p| wave::call(p, "sleep(18446744073709551615)")),
                host.call(&sleeper, |p| wave::call(p, "txn-then-sleep(4294967295)")),
            ];
            returned.store(true, Ordering::SeqCst);
            outcomes
        });
        let workers: Vec<_> = (0..4)
            .map(|w| {
                let (reference, returned) = (&reference, &returned);
                scope.spawn(move || {
                    let tenant = TenantName::new(&format!("worker{w}")).unwrap();
                    for i in 0..20 {
                        reference
                            .call(&tenant, |p| p.create_record("busy", i))
                            .unwrap();
                    }
                    returned.load(Ordering::SeqCst)
                })
            })
            .collect();
        for worker in workers {
            assert!(
                !worker.join().unwrap(),
                "the workers finished while the plugin still slept"
            );
        }
        for outcome in sleeping.join().unwrap() {
            assert!(
                matches!(outcome, Err(Error::TimeLimit { ms: 2000 })),
                "{outcome:?}"
            );
        }
    });
    let db = records_host::Database::open(sleeper.database_path(env.dir.path())).unwrap();
    assert_eq!(db.lock_status().unwrap(), LockStatus::Free);
    assert_eq!(db.count().unwrap(), 0, "the transaction was rolled back");
    let sum = host.call(&sleeper, |p| wave::call(p, "insert-many(\"x\", 3, false)"));
    assert!(sum.is_ok(), "the thread serves the next call: {sum:?}");
    assert_eq!(db.count().unwrap(), 3);
}

/// Once a call was stopped, the instance refuses further calls instead of
/// entering a guest it may have left half updated.
#[test]
fn a_stopped_instance_refuses_further_calls() {
    let env = Env::new();
    let limits = Limits {
        timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let runtime = Runtime::builder().limits(limits).build().unwrap();
    let mut instance = runtime
        .load_file(HOSTILE.as_ref())
        .unwrap()
        .instantiate(env.open())
        .unwrap();
    assert!(matches!(
        wave::call(&mut instance, "sleep(60000)"),
        Err(Error::TimeLimit { ms: 200 })
    ));
    let again = wave::call(&mut instance, "scan-count(1)").unwrap_err();
    assert!(
        matches!(&again, Error::Trap(msg) if msg.contains("stopped by an earlier call")),
        "{again}"
    );
}
