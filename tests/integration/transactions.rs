//! Write transactions: atomic read-modify-write across real processes, and every
//! way a plugin can misuse a transaction (trap, drop, loop, outstay, nest) ending
//! with nothing half-written and the lock free.

use records_host_cli::text::wave;
use std::io::Read;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use records_host::{Error, LockStatus, Plugin, RecordError, Runtime};
use records_test_fixtures::HOSTILE;

use crate::support::*;

fn hostile() -> Plugin {
    Runtime::new().unwrap().load_file(HOSTILE.as_ref()).unwrap()
}

fn lock_is_free(env: &Env) -> bool {
    env.open().lock_status().unwrap() == LockStatus::Free
}

on_both! {
    /// 8 processes run `increment(1, 1)` 100 times each through `records-host call`:
    /// the value ends at exactly 800, and the 800 values the calls returned are exactly
    /// 1..=800, so no increment was lost or applied twice.
    fn eight_processes_incrementing_100_times_each_reach_exactly_800(env) {
        const PROCESSES: usize = 8;
        const ROUNDS: usize = 100;
        assert_exit(&env.call(&[r#"create-record("counter", 0)"#]), 0);

        let mut seen = fan_out(PROCESSES, ROUNDS, |_, _| {
            // A wide lock timeout: the claim is exactness, and a loaded machine can
            // deschedule a holder for longer than the default 500 ms.
            let output = env.call(&["--lock-timeout", "30000", "increment(1, 1)"]);
            assert_exit(&output, 0);
            parse_ok(&stdout(&output))
        });

        seen.sort_unstable();
        let total = (PROCESSES * ROUNDS) as i64;
        assert_eq!(seen, (1..=total).collect::<Vec<_>>());
        assert_eq!(env.open().get(1).unwrap().unwrap().value, total);
        env.assert_intact();
    }
}

on_both! {
    /// 8 processes make random transfers between 10 records: the sum never changes
    /// and no value goes negative; transfers that would overdraw are refused.
    fn eight_processes_transferring_at_random_keep_the_sum_and_no_value_negative(env) {
        const PROCESSES: usize = 8;
        const TRANSFERS: usize = 40;
        const RECORDS: i64 = 10;
        const START: i64 = 50;
        env.open()
            .write(|w| (0..RECORDS).try_for_each(|i| w.insert(&format!("account{i}"), START).map(drop)))
            .unwrap();
        assert_exit(&env.call(&["get-all-records()"]), 0); // warm the plugin cache

        let outcomes = fan_out(PROCESSES, TRANSFERS, |p, i| {
            let mut rng = Lcg((p * 7919 + i) as u64 + 1);
            let source = rng.below(RECORDS as u64) as i64 + 1;
            let target = (source + rng.below(RECORDS as u64 - 1) as i64) % RECORDS + 1;
            let amount = rng.below(40) as i64;
            let output = env.call(&[
                "--lock-timeout",
                "30000",
                &format!("transfer({source}, {target}, {amount})"),
            ]);
            if output.status.code() == Some(1) {
                let out = stdout(&output);
                assert!(
                    out.starts_with("err(invalid("),
                    "only overdrafts fail: {out}"
                );
            } else {
                assert_exit(&output, 0);
            }
            output.status.code()
        });

        assert!(
            outcomes.iter().filter(|c| **c == Some(0)).count() > outcomes.len() / 4,
            "most transfers went through"
        );
        env.assert_accounts_kept(RECORDS, START);
        env.assert_intact();
    }
}

on_both! {
    fn a_trap_inside_a_transaction_rolls_back_and_frees_the_lock_before_the_call_returns(env) {
        env.open().write(|w| w.insert("earlier", 1)).unwrap();
        let mut instance = hostile().instantiate(env.open()).unwrap();
        let err = wave::call(&mut instance, r#"txn-then-trap("doomed")"#).unwrap_err();
        assert!(
            matches!(&err, Error::Trap(msg) if msg.contains("unreachable")),
            "{err}"
        );
        assert_eq!(instance.database().lock_status().unwrap(), LockStatus::Free);
        assert_eq!(
            instance.database().count().unwrap(),
            1,
            "the doomed insert is gone"
        );
        let err = wave::call(&mut instance, r#"insert-many("t", 50, true)"#).unwrap_err();
        assert!(matches!(err, Error::Trap(_)), "{err}");
        drop(instance);

        // The same through the CLI: one line, exit 1, lock free, nothing written.
        let output = env.call(&["--plugin", HOSTILE, r#"insert-many("t", 50, true)"#]);
        assert_exit(&output, 1);
        let report = host_stderr(&output);
        assert!(
            report.starts_with("records-host: plugin trapped: "),
            "{report}"
        );
        assert_eq!(report.lines().count(), 1, "{report}");
        assert!(
            stderr(&output).contains("[records_fixture_hostile] "),
            "the plugin's panic message is forwarded, prefixed"
        );
        assert!(lock_is_free(&env));
        let names = env.names();
        assert_eq!(names, ["earlier"]);
    }
}

on_both! {
    fn a_committed_multi_insert_is_all_there(env) {
        assert_exit(
            &env.call(&["--plugin", HOSTILE, r#"insert-many("m", 50, false)"#]),
            0,
        );
        assert_eq!(env.open().count().unwrap(), 50);
    }
}

on_both! {
    fn a_dropped_transaction_rolls_back_and_frees_the_lock(env) {
        let mut instance = hostile().instantiate(env.open()).unwrap();
        let results = wave::call(&mut instance, r#"txn-then-drop("dropped")"#).unwrap();
        assert_eq!(wave::to_wave(&results).unwrap(), "ok");
        assert_eq!(instance.database().lock_status().unwrap(), LockStatus::Free);
        assert_eq!(instance.database().count().unwrap(), 0);
    }
}

on_both! {
    /// A plugin that opens a transaction and loops forever keeps the lock only until
    /// the deadline: another process's writer then succeeds while the plugin is still
    /// looping, and the plugin's uncommitted insert is gone. The holder info names the
    /// plugin and says it is a transaction.
    ///
    /// The deadline is 3 s, so that `lock-status` polls, each a process of its own,
    /// see the lock held even on a machine loaded by the rest of the suite (with
    /// 500 ms a CI run under full load missed it); the time limit of 60 s keeps
    /// the plugin looping well past it.
    fn a_looping_transaction_loses_the_lock_at_its_deadline(env) {
        drop(env.open());
        let mut looper = KillOnDrop(
            env.cli(
                "call",
                &[
                    "--plugin",
                    HOSTILE,
                    "--txn-deadline",
                    "3000",
                    "--timeout",
                    "60000",
                    r#"txn-then-loop("never")"#,
                ],
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
        );

        let holder = wait_for_holder(&env, &mut looper.0, Duration::from_secs(30));
        assert!(
            holder.contains(&format!("pid:{}", looper.0.id())),
            "{holder}"
        );
        assert!(
            holder.contains("plugin:records_fixture_hostile"),
            "{holder}"
        );
        if !env.is_postgres() {
            // The SQLite holder record says until when (PostgreSQL shows the time held).
            assert!(holder.contains("txn:open until:"), "{holder}");
        }

        let output = env.call(&["--lock-timeout", "10000", r#"create-record("after", 1)"#]);
        assert_exit(&output, 0);
        assert!(
            looper.0.try_wait().unwrap().is_none(),
            "the plugin is still looping"
        );
        let names = env.names();
        assert_eq!(names, ["after"]);
    }
}

on_both! {
    fn a_transaction_used_after_its_deadline_errors_and_writes_nothing(env) {
        let output = env.call(&[
            "--plugin",
            HOSTILE,
            "--txn-deadline",
            "100",
            "txn-then-sleep(400)",
        ]);
        assert_exit(&output, 1);
        assert_eq!(
            stdout(&output),
            r#"err(invalid("the write transaction passed its 100 ms deadline and was rolled back"))"#
        );
        assert!(lock_is_free(&env));
        assert_eq!(env.open().count().unwrap(), 0);
    }
}

on_both! {
    fn nested_begin_and_single_writes_in_a_transaction_error_instead_of_deadlocking(env) {
        for call in ["nested-begin()", "insert-during-txn()"] {
            // A generous lock timeout: if the host waited for its own lock, this
            // would take 60 s and then fail with lock-timeout, not invalid.
            let output = env.call(&["--plugin", HOSTILE, "--lock-timeout", "60000", call]);
            assert_exit(&output, 1);
            assert!(
                stdout(&output).starts_with("err(invalid(\"a write transaction is already open"),
                "{call}: {}",
                stdout(&output)
            );
        }
        assert!(lock_is_free(&env));
        assert_eq!(env.open().count().unwrap(), 0);
    }
}

#[test]
fn counters_through_the_typed_library_api() {
    let env = Env::new();
    let mut plugin = Runtime::new()
        .unwrap()
        .load_reference()
        .unwrap()
        .instantiate(env.open())
        .unwrap();
    let a = plugin.create_record("a", 10).unwrap();
    let b = plugin.create_record("b", 0).unwrap();
    assert_eq!(plugin.increment(a, 5).unwrap(), 15);
    assert_eq!(plugin.increment(a, -20).unwrap(), -5);
    assert_eq!(plugin.increment(a, 25).unwrap(), 20);
    plugin.transfer(a, b, 20).unwrap();
    assert!(matches!(
        plugin.transfer(a, b, 1),
        Err(Error::Record(RecordError::Invalid(_)))
    ));
    assert!(matches!(
        plugin.transfer(a, a, 0),
        Err(Error::Record(RecordError::Invalid(_)))
    ));
    assert!(matches!(
        plugin.increment(99, 1),
        Err(Error::Record(RecordError::NotFound(99)))
    ));
    assert!(matches!(
        plugin.transfer(b, 99, 1),
        Err(Error::Record(RecordError::NotFound(99)))
    ));
    let values: Vec<i64> = plugin
        .get_all_records()
        .unwrap()
        .iter()
        .map(|r| r.value)
        .collect();
    assert_eq!(values, [0, 20]);

    // A plugin without the counters export says so instead of trapping.
    let mut hostile = hostile().instantiate(env.open()).unwrap();
    assert!(matches!(hostile.increment(a, 1), Err(Error::BadCall(_))));
}

/// Polls `lock-status` until the lock is held, returning the holder line; fails at
/// once, with what `taker` printed, if the process that should take it ends first.
fn wait_for_holder(env: &Env, taker: &mut Child, limit: Duration) -> String {
    let start = Instant::now();
    loop {
        let text = stdout(&run(&mut env.cli("lock-status", &[])));
        if let Some(holder) = text.strip_prefix("held\n  holder: ") {
            return holder.to_string();
        }
        if let Some(status) = taker.try_wait().unwrap() {
            let mut stderr = String::new();
            if let Some(mut pipe) = taker.stderr.take() {
                let _ = pipe.read_to_string(&mut stderr);
            }
            panic!("the process that should take the lock ended first ({status}): {stderr}");
        }
        assert!(start.elapsed() < limit, "the lock was never taken");
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A tiny deterministic generator, so a failing run can be replayed.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}
