//! Which file a `--db` path writes, under which lock, and which files it refuses.

use std::time::Duration;

use records_host::{Database, DatabaseOptions, WriteLock};

use crate::support::*;

/// A database reached through a symbolic link is written under the lock beside
/// the file it points to: with that lock held, a write through the link waits
/// for it (and times out), and no lock appears beside the link.
#[test]
fn a_symlinked_database_is_guarded_by_its_real_lock() {
    let env = Env::new();
    let real = env.dir.path().join("real");
    let link_dir = env.dir.path().join("link");
    std::fs::create_dir_all(&link_dir).unwrap();
    let target = Database::open(real.join("app.db")).unwrap();
    std::os::unix::fs::symlink(real.join("app.db"), link_dir.join("app.db")).unwrap();
    let held = WriteLock::new(target.write_lock().unwrap().path(), Duration::ZERO)
        .acquire("test:real-holder")
        .unwrap();
    let link = link_dir.join("app.db");
    let output = run(command(env.dir.path()).args([
        "call",
        "--db",
        link.to_str().unwrap(),
        "--lock-timeout",
        "100",
        r#"create-record("through the link", 1)"#,
    ]));
    assert_exit(&output, 75);
    assert!(
        stderr(&output).contains("test:real-holder"),
        "{}",
        stderr(&output)
    );
    drop(held);
    assert_eq!(target.count().unwrap(), 0);
    assert!(!link_dir.join("db.lock").exists());
}

/// `file:` is not a URI scheme to records-host: `--db file:/x/app.db` is the
/// relative path it looks like, never the database at /x/app.db under the wrong
/// lock.
#[test]
fn a_file_uri_is_a_plain_path() {
    let env = Env::new();
    let real = env.dir.path().join("real/app.db");
    let target = Database::open(&real).unwrap();
    let _held = WriteLock::new(target.write_lock().unwrap().path(), Duration::ZERO)
        .acquire("test:real-holder")
        .unwrap();
    let uri = format!("file:{}", real.display());
    let output =
        run(command(env.dir.path()).args(["call", "--db", &uri, r#"create-record("via uri", 1)"#]));
    assert_exit(&output, 0);
    assert_eq!(
        target.count().unwrap(),
        0,
        "the real database was not written"
    );
    assert!(
        env.dir.path().join(&uri).is_file(),
        "a file of that literal name"
    );
}

/// Another application's database is refused in one line and left byte-identical.
#[test]
fn another_applications_database_is_refused_untouched() {
    let env = Env::new();
    std::fs::create_dir_all(env.db().parent().unwrap()).unwrap();
    let conn = rusqlite::Connection::open(env.db()).unwrap();
    conn.execute_batch("CREATE TABLE invoices (total INTEGER); INSERT INTO invoices VALUES (42);")
        .unwrap();
    drop(conn);
    let before = std::fs::read(env.db()).unwrap();
    for call in [r#"create-record("x", 1)"#, "get-all-records()"] {
        let output = env.call(&[call]);
        assert_exit(&output, 1);
        let err = stderr(&output);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("is not a records-host database"), "{err}");
        assert!(err.contains("table invoices"), "{err}");
    }
    assert_eq!(std::fs::read(env.db()).unwrap(), before);
}

/// Each cause of an error is printed once.
#[test]
fn a_directory_as_database_is_reported_once() {
    let env = Env::new();
    let dir_db = env.dir.path().join("p/dir.db");
    std::fs::create_dir_all(&dir_db).unwrap();
    let output = run(command(env.dir.path()).args([
        "call",
        "--db",
        dir_db.to_str().unwrap(),
        "get-all-records()",
    ]));
    assert_exit(&output, 1);
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(err.matches("it is a directory").count(), 1, "{err}");
    assert_eq!(err.matches("cannot open database").count(), 1, "{err}");
}

/// A process outside records-host that holds the database itself (SQLite's own
/// write lock) makes a write fail as a lock timeout, exit 75, naming that process:
/// the condition is retryable.
#[test]
fn a_database_held_outside_the_lock_is_a_retryable_lock_timeout() {
    let env = Env::new();
    drop(env.open());
    let foreign = rusqlite::Connection::open(env.db()).unwrap();
    foreign
        .execute_batch("BEGIN IMMEDIATE; INSERT INTO records (name, value) VALUES ('theirs', 1);")
        .unwrap();
    let output = env.call(&[r#"create-record("mine", 2)"#]);
    assert_exit(&output, 75);
    let out = stdout(&output);
    assert!(out.starts_with("err(lock-timeout("), "{out}");
    let err = stderr(&output);
    assert!(err.starts_with("write lock timeout after 500ms"), "{err}");
    assert!(
        err.contains(&format!("holder: pid:{} ", std::process::id())),
        "names this test process, which holds SQLite's lock: {err}"
    );
    foreign.execute_batch("ROLLBACK").unwrap();
    let options = DatabaseOptions::default();
    assert_eq!(
        Database::open_with(env.db(), options)
            .unwrap()
            .count()
            .unwrap(),
        0
    );
}
