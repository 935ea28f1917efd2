//! Unit tests of the record store: pragmas, CRUD, the lock around writes, and
//! the databases it refuses to touch.

use super::schema::{APPLICATION_ID, SCHEMA_VERSION};
use super::*;
use crate::lock::LockStatus;
use crate::store::Error;
use crate::store::backend::Backend;
use crate::store::record::Record;
use crate::store::{Database, DatabaseOptions};

fn open(dir: &tempfile::TempDir) -> Database {
    Database::open(dir.path().join("app.db")).unwrap()
}

fn pragma<T: rusqlite::types::FromSql>(db: &Database, name: &str) -> T {
    let Backend::Sqlite(store) = &db.backend else {
        panic!("a SQLite database");
    };
    locked(&store.conn)
        .pragma_query_value(None, name, |row| row.get(0))
        .unwrap()
}

#[test]
fn a_new_database_is_wal_with_the_pragmas_and_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    assert_eq!(pragma::<String>(&db, "journal_mode"), "wal");
    assert_eq!(pragma::<i64>(&db, "synchronous"), 1, "NORMAL");
    assert_eq!(pragma::<i64>(&db, "busy_timeout"), 500);
    assert_eq!(pragma::<u32>(&db, "user_version"), SCHEMA_VERSION);
    assert_eq!(db.count().unwrap(), 0);
    assert_eq!(db.write_lock().unwrap().path(), dir.path().join("db.lock"));
}

#[test]
fn reopening_keeps_data_and_creates_missing_directories() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/app.db");
    let id = Database::open(&path)
        .unwrap()
        .write(|w| w.insert("kept", 1))
        .unwrap();
    let db = Database::open(&path).unwrap();
    assert_eq!(db.get(id).unwrap().unwrap().name, "kept");
}

#[test]
fn crud_and_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let a = db.write(|w| w.insert("a", 1)).unwrap();
    let b = db.write(|w| w.insert("b", 2)).unwrap();
    assert_eq!((a, b), (1, 2));
    db.write(|w| w.update(a, 10)).unwrap();
    assert_eq!(
        db.get(a).unwrap(),
        Some(Record {
            id: a,
            name: "a".into(),
            value: 10
        })
    );
    db.write(|w| w.delete(b)).unwrap();
    assert_eq!(db.get(b).unwrap(), None);
    assert_eq!(db.write(|w| w.update(b, 1)), Err(RecordError::NotFound(b)));
    assert_eq!(db.write(|w| w.delete(99)), Err(RecordError::NotFound(99)));
    assert_eq!(db.count().unwrap(), 1);
}

#[test]
fn scan_pages_in_id_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    db.write(|w| (0..10).try_for_each(|i| w.insert(&format!("r{i}"), i).map(drop)))
        .unwrap();
    let ids = |records: Vec<Record>| records.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(db.scan(None, 3).unwrap()), [1, 2, 3]);
    assert_eq!(ids(db.scan(Some(8), 5).unwrap()), [9, 10]);
    assert_eq!(ids(db.scan(Some(10), 5).unwrap()), Vec::<i64>::new());
    assert_eq!(db.scan(None, 0).unwrap(), vec![]);
}

#[test]
fn a_write_holds_the_lock_until_commit_or_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let txn = db.begin_write().unwrap();
    assert!(matches!(db.lock_status().unwrap(), LockStatus::Held { .. }));
    txn.insert("x", 1).unwrap();
    assert_eq!(
        txn.get(1).unwrap().map(|r| r.value),
        Some(1),
        "sees its own write"
    );
    drop(txn);
    assert_eq!(db.lock_status().unwrap(), LockStatus::Free);
    assert_eq!(
        db.count().unwrap(),
        0,
        "dropped without commit: rolled back"
    );

    let txn = db.begin_write().unwrap();
    txn.insert("y", 2).unwrap();
    txn.commit().unwrap();
    assert_eq!(db.lock_status().unwrap(), LockStatus::Free);
    assert_eq!(db.count().unwrap(), 1);
}

#[test]
fn a_failed_write_closure_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let result = db.write(|w| {
        w.insert("first", 1)?;
        w.update(42, 0)
    });
    assert_eq!(result, Err(RecordError::NotFound(42)));
    assert_eq!(db.count().unwrap(), 0);
}

#[test]
fn writers_time_out_while_another_connection_holds_the_lock_but_readers_do_not_wait() {
    let dir = tempfile::tempdir().unwrap();
    let options = DatabaseOptions {
        lock_timeout: Duration::from_millis(50),
        holder_label: "plugin:other".into(),
        ..DatabaseOptions::default()
    };
    let holder = Database::open_with(dir.path().join("app.db"), options.clone()).unwrap();
    let waiter = Database::open_with(dir.path().join("app.db"), options).unwrap();
    holder.write(|w| w.insert("committed", 1)).unwrap();
    let txn = holder.begin_write().unwrap();
    txn.insert("pending", 2).unwrap();
    let Err(RecordError::LockTimeout(timeout)) = waiter.write(|w| w.insert("late", 3)) else {
        panic!("expected a lock timeout");
    };
    assert!(
        timeout.holder.contains("plugin:other"),
        "{}",
        timeout.holder
    );
    assert_eq!(
        waiter.count().unwrap(),
        1,
        "reads see committed data only, without waiting"
    );
    txn.commit().unwrap();
    assert_eq!(waiter.count().unwrap(), 2);
}

#[test]
fn a_newer_schema_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    drop(Database::open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(conn);
    let err = crate::display::error_chain(&Database::open(&path).unwrap_err());
    assert!(
        err.contains("newer than this records-host supports"),
        "{err}"
    );
}

#[test]
fn a_file_that_is_not_a_database_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let junk = b"this is not a sqlite database, and it must survive".repeat(100);
    std::fs::write(&path, &junk).unwrap();
    let err = Database::open(&path).unwrap_err();
    assert!(matches!(err, Error::Open { .. }), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), junk);
}

#[test]
fn a_new_database_is_marked_as_records_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    assert_eq!(pragma::<i32>(&db, "application_id"), APPLICATION_ID);
}

/// Another application's SQLite database is refused before anything is written:
/// no `records` table, no header change, no switch to WAL.
#[test]
fn another_applications_database_is_refused_and_left_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("theirs.db");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE users (name TEXT); INSERT INTO users VALUES ('alice'); PRAGMA user_version = 7;",
    )
    .unwrap();
    drop(conn);
    let before = std::fs::read(&path).unwrap();
    let err = Database::open(&path).unwrap_err();
    let text = crate::display::error_chain(&err);
    assert!(
        text.contains(
            "is not a records-host database (application_id 0x0, user_version 7, table users)"
        ),
        "{text}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before, "byte-identical");
    assert!(
        !dir.path().join("theirs.db-wal").exists(),
        "never switched to WAL"
    );

    // An empty table of the right name but another shape is not ours either.
    let path = dir.path().join("lookalike.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE records (x); PRAGMA user_version = 1;")
        .unwrap();
    let before = std::fs::read(&path).unwrap();
    assert!(Database::open(&path).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

/// Databases made by records-host before it set the application id are adopted
/// with their data.
#[test]
fn an_unmarked_records_host_database_is_adopted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE records (id INTEGER PRIMARY KEY, name TEXT NOT NULL, value INTEGER NOT NULL);
         INSERT INTO records (name, value) VALUES ('kept', 1);
         PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(conn);
    let db = Database::open(&path).unwrap();
    assert_eq!(db.get(1).unwrap().unwrap().name, "kept");
    assert_eq!(pragma::<i32>(&db, "application_id"), APPLICATION_ID);
}

/// The lock that guards a database reached through a symbolic link is the one
/// beside the file it points to.
#[test]
fn a_symlinked_database_is_written_under_its_real_lock() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real");
    let links = dir.path().join("links");
    std::fs::create_dir_all(&links).unwrap();
    let target = Database::open(real.join("app.db")).unwrap();
    std::os::unix::fs::symlink(real.join("app.db"), links.join("app.db")).unwrap();
    let options = DatabaseOptions {
        lock_timeout: Duration::from_millis(50),
        ..DatabaseOptions::default()
    };
    let linked = Database::open_with(links.join("app.db"), options).unwrap();
    assert_eq!(linked.path(), target.path());
    assert_eq!(
        linked.write_lock().unwrap().path(),
        target.write_lock().unwrap().path()
    );
    let held = target.begin_write().unwrap();
    assert!(matches!(
        linked.insert("through the link", 1),
        Err(RecordError::LockTimeout(_))
    ));
    drop(held);
    linked.insert("through the link", 1).unwrap();
    assert_eq!(target.count().unwrap(), 1);
    assert!(!links.join("db.lock").exists(), "no lock beside the link");
}

#[test]
fn a_directory_as_database_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = Database::open(dir.path()).unwrap_err();
    let text = crate::display::error_chain(&err);
    assert!(text.contains("it is a directory"), "{text}");
    assert_eq!(
        text.matches("it is a directory").count(),
        1,
        "each cause once: {text}"
    );
}

/// SQLite's own busy wait lasts as long as the write lock's timeout: a database
/// busy outside the lock for 1 s (under load, the last connection's checkpoint
/// while others open it) does not fail a writer that may wait 3 s. With a fixed
/// 500 ms busy timeout this failed, as `eight_processes_incrementing...` did in CI.
#[test]
fn a_busy_database_is_waited_for_as_long_as_the_lock_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let options = DatabaseOptions {
        lock_timeout: Duration::from_secs(3),
        ..DatabaseOptions::default()
    };
    let db = Database::open_with(dir.path().join("app.db"), options).unwrap();
    assert_eq!(pragma::<i64>(&db, "busy_timeout"), 3000);
    let foreign = Connection::open(dir.path().join("app.db")).unwrap();
    foreign.execute_batch("BEGIN IMMEDIATE").unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1000));
        foreign.execute_batch("COMMIT").unwrap();
    });
    assert_eq!(db.insert("after a busy second", 1).unwrap(), 1);
    release.join().unwrap();
}

/// A database held by a process outside records-host's lock (here, a plain
/// connection with an open write transaction) is a lock timeout, not a storage
/// failure: the caller may retry.
#[test]
fn a_database_busy_outside_the_lock_is_a_lock_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let foreign = Connection::open(dir.path().join("app.db")).unwrap();
    foreign
        .execute_batch("BEGIN IMMEDIATE; INSERT INTO records (name, value) VALUES ('x', 1);")
        .unwrap();
    let Err(RecordError::LockTimeout(timeout)) = db.insert("blocked", 1) else {
        panic!("expected a lock timeout");
    };
    assert_eq!(timeout.waited, BUSY_TIMEOUT);
    assert!(timeout.holder.contains("SQLite"), "{}", timeout.holder);
    foreign.execute_batch("ROLLBACK").unwrap();
    db.insert("after", 1).unwrap();
}

/// Closing the last connection checkpoints but keeps the `-wal` (emptied) and
/// `-shm` files, so the next open creates no file; the database file alone
/// holds every committed write.
#[test]
fn closing_keeps_the_wal_files_and_leaves_every_write_in_the_database_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    for i in 0..3 {
        db.insert(&format!("r{i}"), i).unwrap();
    }
    drop(db);
    let wal = dir.path().join("app.db-wal");
    assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0, "kept, emptied");
    assert!(dir.path().join("app.db-shm").exists());

    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(dir.path().join("app.db"), copy.path().join("app.db")).unwrap();
    let alone = Connection::open(copy.path().join("app.db")).unwrap();
    let count: i64 = alone
        .query_row("SELECT count(*) FROM records", [], |row| row.get(0))
        .unwrap();
    assert_eq!(count, 3);

    let reopened = open(&dir);
    assert_eq!(reopened.count().unwrap(), 3);
    assert_eq!(
        pragma::<i64>(&reopened, "journal_size_limit"),
        WAL_SIZE_LIMIT
    );
}

/// Many openers of one new database at once: one creates the schema, every
/// other sees an empty file or a finished one, never a half (each classifies
/// the file from one snapshot; three separate reads once saw the table without
/// the marks and refused the database as foreign).
#[test]
fn concurrent_first_opens_all_succeed() {
    const OPENERS: usize = 16;
    let dir = tempfile::tempdir().unwrap();
    for round in 0..40 {
        let path = dir.path().join(format!("new{round}.db"));
        let start = std::sync::Barrier::new(OPENERS);
        let failures: Vec<String> = std::thread::scope(|s| {
            let openers: Vec<_> = (0..OPENERS)
                .map(|_| {
                    s.spawn(|| {
                        start.wait();
                        Database::open(&path)
                            .err()
                            .map(|e| crate::display::error_chain(&e))
                    })
                })
                .collect();
            openers
                .into_iter()
                .filter_map(|o| o.join().unwrap())
                .collect()
        });
        assert!(failures.is_empty(), "round {round}: {failures:?}");
    }
}
