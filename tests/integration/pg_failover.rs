//! Failover without losing an acknowledged write: a primary with a synchronous
//! standby, records-host given both hosts with `target_session_attrs=read-write`,
//! four clients writing in a loop while the primary is stopped at once
//! (`pg_ctl -m immediate`) and the standby promoted. Calls caught by the
//! failover fail with a retryable answer (exit 75, or 503 with `Retry-After`),
//! later ones succeed on the new primary without a restart, and every write
//! that was acknowledged is on the new primary.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::pg_pair::PgPair;
use crate::support::*;

/// What the writers saw: the names acknowledged, how many after the
/// promotion, and how many retryable refusals.
#[derive(Default)]
struct Tally {
    acked: Mutex<Vec<String>>,
    acked_after: AtomicUsize,
    retryable: AtomicUsize,
    promoted: AtomicBool,
    stop: AtomicBool,
}

impl Tally {
    fn acked(&self, name: String) {
        if self.promoted.load(Ordering::SeqCst) {
            self.acked_after.fetch_add(1, Ordering::SeqCst);
        }
        self.acked.lock().unwrap().push(name);
    }

    fn count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }
}

/// Runs `write(writer, round, tally)` on 4 threads in a loop; fails over once
/// 40 writes were acknowledged, and stops once 40 more were after the
/// promotion. Returns the tally.
fn write_through_a_failover(pair: &PgPair, write: impl Fn(usize, usize, &Tally) + Sync) -> Tally {
    let tally = Tally::default();
    std::thread::scope(|s| {
        for writer in 0..4 {
            let (tally, write) = (&tally, &write);
            s.spawn(move || {
                let mut round = 0;
                while !tally.stop.load(Ordering::SeqCst) {
                    write(writer, round, tally);
                    round += 1;
                }
            });
        }
        let wait_for = |what: &str, done: &dyn Fn() -> bool| {
            let start = Instant::now();
            while !done() {
                if start.elapsed() > Duration::from_secs(120) {
                    tally.stop.store(true, Ordering::SeqCst);
                    panic!("{what} did not happen in 120 s");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        };
        wait_for("40 acknowledged writes", &|| tally.count() >= 40);
        // A gap between the primary's end and the promotion, so that calls
        // are caught in it: no server takes writes then.
        pair.fail_over(Duration::from_millis(700));
        tally.promoted.store(true, Ordering::SeqCst);
        wait_for("40 writes after the promotion", &|| {
            tally.acked_after.load(Ordering::SeqCst) >= 40
        });
        tally.stop.store(true, Ordering::SeqCst);
    });
    tally
}

/// Asserts that the new primary holds every acknowledged name in `table`.
fn assert_all_stored(pair: &PgPair, tally: &Tally, table: &str) {
    let stored: HashSet<String> = pair
        .client(&pair.standby)
        .query(&format!("SELECT name FROM {table}"), &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let acked = tally.acked.lock().unwrap();
    let lost: Vec<&String> = acked
        .iter()
        .filter(|name| !stored.contains(*name))
        .collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    assert!(
        tally.retryable.load(Ordering::SeqCst) >= 1,
        "no call was caught by the failover"
    );
}

#[test]
fn the_cli_keeps_every_acknowledged_write_across_a_failover() {
    let Some(pair) = PgPair::start("failover-cli") else {
        return;
    };
    let url = pair.url();
    let dir = tempfile::tempdir().unwrap();
    assert_exit(
        &run(command(dir.path()).env("PGPASSWORD", "records").args([
            "call",
            "--db",
            &url,
            "get-record(0)",
        ])),
        0,
    );
    let tally = write_through_a_failover(&pair, |writer, round, tally| {
        let name = format!("cli-{writer}-{round}");
        let output = run(command(dir.path()).env("PGPASSWORD", "records").args([
            "call",
            "--db",
            &url,
            &format!("create-record(\"{name}\", {round})"),
        ]));
        match output.status.code() {
            Some(0) => tally.acked(name),
            Some(75) => {
                tally.retryable.fetch_add(1, Ordering::SeqCst);
            }
            other => {
                tally.stop.store(true, Ordering::SeqCst);
                panic!("exit {other:?}: {}", stderr(&output));
            }
        }
    });
    assert_all_stored(&pair, &tally, "records_host.records");
}

#[test]
fn serve_answers_503_in_a_failover_and_then_serves_the_new_primary() {
    let Some(pair) = PgPair::start("failover-serve") else {
        return;
    };
    let env = Env::new();
    let server = Server::start_bare(
        &env,
        &["--db", &pair.url(), "--no-auth"],
        &[("PGPASSWORD", "records")],
    );
    let tally = write_through_a_failover(&pair, |writer, round, tally| {
        let name = format!("serve-{writer}-{round}");
        let answer = server.call(
            "t",
            None,
            &json!({"function": "create-record", "args": [name, round]}),
        );
        match answer.status {
            200 if answer.body.get("ok").is_some() => tally.acked(name),
            503 if answer.retry_after.is_some() => {
                tally.retryable.fetch_add(1, Ordering::SeqCst);
            }
            _ => {
                tally.stop.store(true, Ordering::SeqCst);
                panic!("{}: {}", answer.status, answer.text);
            }
        }
    });
    assert_all_stored(&pair, &tally, "\"rh_t\".records");
    // The same server, never restarted, still answers.
    let answer = server.call("t", None, &json!({"function": "get-record", "args": [1]}));
    assert_eq!(answer.status, 200, "{}", answer.text);
}
