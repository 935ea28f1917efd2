//! Shared test helpers: temp databases, the CLI command builder, and a helper
//! process that holds the write lock until it is killed.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use records_host::{Database, DatabaseOptions, WriteGuard, WriteLock};

/// The `records-host` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_records-host");

/// A temp directory with a database path in it; removed on drop.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// `<tmp>/data/app.db`, not created yet.
    pub fn db(&self) -> PathBuf {
        self.dir.path().join("data").join("app.db")
    }

    /// `records-host <sub> --db <db> <args>`, in the temp dir, sharing the compiled
    /// plugin cache of the whole test run.
    pub fn cli(&self, sub: &str, args: &[&str]) -> Command {
        let mut cmd = command(self.dir.path());
        cmd.arg(sub).arg("--db").arg(self.db()).args(args);
        cmd
    }

    /// Runs `records-host call --db <db> <args...>`.
    pub fn call(&self, args: &[&str]) -> Output {
        run(&mut self.cli("call", args))
    }

    /// Opens the database directly through the library.
    pub fn open(&self) -> Database {
        Database::open(self.db()).expect("open db")
    }

    /// The names of all records, in id order.
    pub fn names(&self) -> Vec<String> {
        let records = self.open().scan(None, u32::MAX).expect("scan");
        records.into_iter().map(|r| r.name).collect()
    }

    /// Creates the database and takes its write lock in this process, labelled
    /// `test:holder`, until the guard is dropped.
    pub fn hold_lock(&self) -> WriteGuard {
        let db = self.open();
        WriteLock::new(db.write_lock().path(), Duration::ZERO)
            .acquire("test:holder")
            .expect("take the write lock")
    }

    /// Opens the database with a given lock timeout.
    pub fn open_with_timeout(&self, ms: u64) -> Database {
        let options = DatabaseOptions {
            lock_timeout: Duration::from_millis(ms),
            ..DatabaseOptions::default()
        };
        Database::open_with(self.db(), options).expect("open db")
    }
}

/// A `records-host` command in `cwd` with the shared plugin cache and no logging.
pub fn command(cwd: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(cwd)
        .env("RECORDS_HOST_CACHE_DIR", shared_cache_dir())
        .env_remove("RUST_LOG");
    cmd
}

/// One compiled-plugin cache for every CLI process of the test run, so the plugin
/// is compiled once, not once per spawned process.
pub fn shared_cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache")
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("spawn records-host")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout)
        .trim_end()
        .to_string()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr)
        .trim_end()
        .to_string()
}

/// The lines of stderr that records-host itself wrote, without the plugin's own
/// output (which it forwards prefixed `[<plugin>] `).
pub fn host_stderr(output: &Output) -> String {
    let text = stderr(output);
    let lines: Vec<&str> = text.lines().filter(|line| !line.starts_with('[')).collect();
    lines.join("\n")
}

/// Asserts the exit code, showing the output when it differs.
#[track_caller]
pub fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(output),
        stderr(output)
    );
}

/// Runs `workers` threads at once, each calling `round(worker, i)` for `i` in
/// `0..rounds` (typically spawning a `records-host` process), and gathers every
/// result: the fan-out of the multi-process tests.
pub fn fan_out<T: Send>(
    workers: usize,
    rounds: usize,
    round: impl Fn(usize, usize) -> T + Sync,
) -> Vec<T> {
    let round = &round;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| scope.spawn(move || (0..rounds).map(|i| round(w, i)).collect::<Vec<T>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

/// The `n` of an `ok(<n>)` output.
#[track_caller]
pub fn parse_ok(text: &str) -> i64 {
    text.strip_prefix("ok(")
        .and_then(|rest| rest.strip_suffix(')'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected output {text}"))
}

/// `PRAGMA integrity_check` of the database, through a plain connection.
pub fn integrity_check(db: &Path) -> String {
    let conn = rusqlite::Connection::open(db).expect("open");
    conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("integrity_check")
}

/// Set in the environment of the helper process: the database it writes to.
const HOLDER_DB_ENV: &str = "RECORDS_HOST_TEST_HOLDER_DB";

/// Not a test: the body of the helper process that [`spawn_lock_holder`] starts (this
/// same test binary, filtered to this one ignored test). It opens a write
/// transaction, inserts a row it never commits, says `locked`, and sleeps until
/// it is killed.
#[test]
#[ignore = "helper process for the crash tests; does nothing unless spawned by them"]
fn lock_holder_process() {
    let Some(db) = std::env::var_os(HOLDER_DB_ENV) else {
        return;
    };
    let mut db = Database::open(PathBuf::from(db)).expect("open db");
    db.set_holder_label("test:lock-holder-process");
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

/// Starts a separate process that holds the write lock of `db` inside an open
/// write transaction, and returns once it holds it.
pub fn spawn_lock_holder(db: &Path) -> Child {
    spawn_helper("support::lock_holder_process", HOLDER_DB_ENV, db)
}

/// Starts this test binary running only the ignored helper test `test`, with
/// `env` set to `path`, and returns once the helper printed `locked`.
fn spawn_helper(test: &str, env: &str, path: &Path) -> Child {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", test, "--ignored", "--nocapture"])
        .env(env, path)
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

/// Runs `cmd` and returns its output, failing the test if it has not exited
/// after `limit`: for the calls that must end on their own (a liveness check with
/// a wide margin, not a speed claim). The child is killed first.
#[track_caller]
pub fn run_within(cmd: &mut Command, limit: Duration) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_within(child, limit)
}

/// Waits for `child` as [`run_within`] does.
#[track_caller]
pub fn wait_within(mut child: Child, limit: Duration) -> Output {
    let start = std::time::Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let output = child.wait_with_output().expect("wait");
            panic!(
                "still running after {limit:?}; stderr: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("output")
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
        "support::raw_flock_holder_process",
        RAW_HOLDER_LOCK_ENV,
        lock,
    )
}
