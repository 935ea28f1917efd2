//! Helper processes: this same test binary, run filtered to one ignored test that
//! takes a lock and waits to be killed, for the tests that need a second process
//! holding a lock.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use records_host::{Database, Location};

/// Set in the environment of the helper process: the database it writes to (a
/// path or a PostgreSQL URL).
const HOLDER_DB_ENV: &str = "RECORDS_HOST_TEST_HOLDER_DB";

/// Not a test: the body of the helper process that [`spawn_lock_holder`] starts (this
/// same test binary, filtered to this one ignored test). It opens a write
/// transaction, inserts a row it never commits, says `locked`, and sleeps until
/// it is killed.
#[test]
#[ignore = "helper process for the crash tests; does nothing unless spawned by them"]
fn lock_holder_process() {
    let Ok(db) = std::env::var(HOLDER_DB_ENV) else {
        return;
    };
    let options = records_host::DatabaseOptions {
        // Held until killed (or frozen and ended by the server's deadline).
        txn_deadline: Duration::from_secs(3600),
        ..records_host::DatabaseOptions::default()
    };
    let mut db = Database::open_with(Location::parse(&db), options).expect("open db");
    db.set_holder_label("test:lock-holder-process")
        .expect("label");
    let txn = db.begin_write().expect("lock");
    for i in 0..3 {
        txn.insert(&format!("never committed {i}"), i)
            .expect("insert");
    }
    println!("locked");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Starts a separate process that holds the write lock of `db` (a path or URL,
/// as `--db` takes it) inside an open write transaction, and returns once it
/// holds it.
pub fn spawn_lock_holder(db: &str) -> Child {
    spawn_helper("support::helpers::lock_holder_process", HOLDER_DB_ENV, db)
}

/// Starts this test binary running only the ignored helper test `test`, with
/// `env` set to `value`, and returns once the helper printed `locked`.
fn spawn_helper(test: &str, env: &str, value: impl AsRef<std::ffi::OsStr>) -> Child {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", test, "--ignored", "--nocapture"])
        .env(env, value)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the helper process");
    let out = child.stdout.take().expect("piped");
    let locked = BufReader::new(out)
        .lines()
        .map_while(Result::ok)
        .any(|line| line == "locked");
    assert!(locked, "the helper {test} exited before taking the lock");
    child
}

/// Set in the environment of the helper process: the lock file it holds.
const RAW_HOLDER_LOCK_ENV: &str = "RECORDS_HOST_TEST_RAW_LOCK";

/// Not a test: the body of the helper process that [`spawn_raw_flock_holder`]
/// starts. It takes the flock of a lock file the way any other program could,
/// writing no holder record, says `locked`, and sleeps until it is killed.
#[test]
#[ignore = "helper process for the lock tests; does nothing unless spawned by them"]
fn raw_flock_holder_process() {
    let Some(path) = std::env::var_os(RAW_HOLDER_LOCK_ENV) else {
        return;
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(PathBuf::from(path))
        .expect("open the lock file");
    fs4::FileExt::try_lock(&file).expect("take the flock");
    println!("locked");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Starts a separate process that holds the flock of the existing lock file at
/// `lock` without writing a holder record, and returns once it holds it.
pub fn spawn_raw_flock_holder(lock: &Path) -> Child {
    spawn_helper(
        "support::helpers::raw_flock_holder_process",
        RAW_HOLDER_LOCK_ENV,
        lock,
    )
}
