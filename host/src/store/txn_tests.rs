//! Unit tests of write transactions: commit, rollback, deadlines, the reaper.

use super::Database;
use crate::lock::LockStatus;
use crate::record_error::RecordError;
use crate::store::DatabaseOptions;
use std::time::Duration;

fn open(dir: &tempfile::TempDir, deadline_ms: u64) -> Database {
    let options = DatabaseOptions {
        txn_deadline: Duration::from_millis(deadline_ms),
        holder_label: "test:txn".into(),
        ..DatabaseOptions::default()
    };
    Database::open_with(dir.path().join("app.db"), options).unwrap()
}

#[test]
fn commit_makes_every_write_visible_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir, 10_000);
    let other = open(&dir, 10_000);
    let txn = db.begin_write().unwrap();
    let a = txn.insert("a", 1).unwrap();
    txn.insert("b", 2).unwrap();
    txn.update(a, 10).unwrap();
    assert_eq!(
        txn.get(a).unwrap().unwrap().value,
        10,
        "reads see the transaction's own writes"
    );
    assert_eq!(
        other.count().unwrap(),
        0,
        "other connections see nothing yet"
    );
    txn.commit().unwrap();
    assert_eq!(other.count().unwrap(), 2);
    assert_eq!(db.lock_status().unwrap(), LockStatus::Free);
}

#[test]
fn explicit_rollback_discards_and_releases() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir, 10_000);
    let txn = db.begin_write().unwrap();
    txn.insert("gone", 1).unwrap();
    txn.rollback().unwrap();
    assert_eq!(db.count().unwrap(), 0);
    assert_eq!(db.lock_status().unwrap(), LockStatus::Free);
}

#[test]
fn the_holder_info_says_it_is_a_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir, 10_000);
    let _txn = db.begin_write().unwrap();
    let LockStatus::Held { holder } = db.lock_status().unwrap() else {
        panic!("expected held");
    };
    assert!(holder.contains("test:txn txn:open until:"), "{holder}");
}

/// The reaper rolls back and releases the lock at the deadline even though the
/// holder never touches the transaction again; every later use then errors.
#[test]
fn the_deadline_rolls_back_and_releases_without_the_holders_help() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir, 100);
    let txn = db.begin_write().unwrap();
    txn.insert("late", 1).unwrap();

    // Another writer waits up to 10 s and gets the lock once the reaper acts.
    let waiter = DatabaseOptions {
        lock_timeout: Duration::from_secs(10),
        ..DatabaseOptions::default()
    };
    let waiter = Database::open_with(dir.path().join("app.db"), waiter).unwrap();
    waiter.write(|w| w.insert("winner", 2)).unwrap();

    let expired = txn.insert("too late", 3).unwrap_err();
    assert!(
        matches!(&expired, RecordError::Invalid(msg) if msg.contains("100 ms deadline")),
        "{expired:?}"
    );
    assert!(matches!(txn.commit(), Err(RecordError::Invalid(_))));
    let names: Vec<String> = db
        .scan(None, 10)
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["winner"]);
}

#[test]
fn unrepresentable_deadlines_and_timeouts_do_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let options = DatabaseOptions {
        txn_deadline: Duration::MAX,
        lock_timeout: Duration::MAX,
        ..DatabaseOptions::default()
    };
    let db = Database::open_with(dir.path().join("app.db"), options).unwrap();
    let txn = db.begin_write().unwrap();
    assert_eq!(txn.deadline(), None, "too far to represent: no deadline");
    let LockStatus::Held { holder } = db.lock_status().unwrap() else {
        panic!("expected held");
    };
    assert!(holder.ends_with("txn:open until:never"), "{holder}");
    txn.insert("x", 1).unwrap();
    txn.commit().unwrap();
}

#[test]
fn the_deadline_counts_from_begin_write() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir, 2_000);
    let before = std::time::Instant::now();
    let txn = db.begin_write().unwrap();
    let deadline = txn.deadline().unwrap();
    assert!(deadline >= before + Duration::from_millis(2_000));
    assert!(deadline <= std::time::Instant::now() + Duration::from_millis(2_000));
}

#[test]
fn a_new_transaction_can_begin_once_the_old_one_expired() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir, 50);
    let old = db.begin_write().unwrap();
    assert!(
        matches!(db.begin_write(), Err(RecordError::Invalid(_))),
        "one at a time"
    );
    std::thread::sleep(Duration::from_millis(300));
    let new = db.begin_write().unwrap();
    new.insert("fresh", 1).unwrap();
    new.commit().unwrap();
    drop(old);
    assert_eq!(db.count().unwrap(), 1);
}

/// The reaper forgets a transaction when it ends, not at its deadline: its
/// queue does not grow with the rate of transactions.
#[test]
fn ended_transactions_leave_nothing_for_the_reaper() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir, 3_600_000);
    let before = crate::store::reaper::watched();
    for i in 0..1000 {
        let txn = db.begin_write().unwrap();
        txn.insert("x", i).unwrap();
        if i % 2 == 0 {
            txn.commit().unwrap();
        } else {
            drop(txn);
        }
    }
    // Other tests' transactions may come and go meanwhile: a handful at most.
    assert!(
        crate::store::reaper::watched() < before + 50,
        "{} watched",
        crate::store::reaper::watched()
    );
    assert_eq!(db.count().unwrap(), 500);
}

#[test]
fn threads_sharing_nothing_but_the_file_serialize_their_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let setup = open(&dir, 10_000);
    setup.write(|w| w.insert("counter", 0).map(drop)).unwrap();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                let options = DatabaseOptions {
                    lock_timeout: Duration::from_secs(30),
                    ..DatabaseOptions::default()
                };
                let db = Database::open_with(dir.path().join("app.db"), options).unwrap();
                for _ in 0..50 {
                    let txn = db.begin_write().unwrap();
                    let value = txn.get(1).unwrap().unwrap().value;
                    std::thread::yield_now();
                    txn.update(1, value + 1).unwrap();
                    txn.commit().unwrap();
                }
            });
        }
    });
    assert_eq!(setup.get(1).unwrap().unwrap().value, 200);
}
