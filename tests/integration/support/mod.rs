//! Shared test helpers: a database per test on either backend (`on_both!` runs a
//! test on both), the CLI command builder, helper processes (`helpers.rs`) and
//! the PostgreSQL server (`postgres.rs`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use records_host::{
    Database, DatabaseOptions, Location, TenantHome, TenantName, WriteGuard, WriteLock, WriteTxn,
};

pub mod helpers;
pub mod pg_pair;
pub mod postgres;
pub mod server;

pub use helpers::{spawn_lock_holder, spawn_raw_flock_holder};
pub use postgres::PgDatabase;
pub use server::{Answer, Server};

/// The `records-host` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_records-host");

/// A test's database, on one backend, and a temp directory (the working directory
/// of the CLI processes); removed on drop.
pub struct Env {
    pub dir: tempfile::TempDir,
    pg: Option<PgDatabase>,
}

/// Runs a test body against both backends, as `<name>::sqlite` and
/// `<name>::postgres`: one suite, not copies. The PostgreSQL run is skipped, with
/// a notice, when no server is available (see `support/postgres.rs`).
macro_rules! on_both {
    ($(#[$meta:meta])* fn $name:ident($env:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn body($env: $crate::support::Env) $body

            #[test]
            fn sqlite() {
                body($crate::support::Env::new());
            }

            #[test]
            fn postgres() {
                if let Some(env) = $crate::support::Env::postgres() {
                    body(env);
                }
            }
        }
    };
}
pub(crate) use on_both;

/// What a test holds to keep the write lock: the SQLite lock's guard, or a write
/// transaction (which holds the PostgreSQL lock).
#[allow(dead_code, reason = "held for what dropping them releases")]
pub enum Held {
    Lock(WriteGuard),
    Txn(WriteTxn),
}

impl Env {
    /// A SQLite database, `<tmp>/data/app.db`, not created yet.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
            pg: None,
        }
    }

    /// A PostgreSQL database of its own; `None` when there is no server.
    pub fn postgres() -> Option<Self> {
        Some(Self {
            dir: tempfile::tempdir().expect("temp dir"),
            pg: Some(PgDatabase::create()?),
        })
    }

    /// A PostgreSQL database of its own that records-host reaches through the
    /// PgBouncer in `mode`; `None` when there is none.
    pub fn postgres_through(mode: postgres::PoolMode) -> Option<Self> {
        let pooler = postgres::pooler(mode)?;
        Some(Self {
            dir: tempfile::tempdir().expect("temp dir"),
            pg: Some(PgDatabase::create()?.through(pooler)),
        })
    }

    /// Asserts that the database holds exactly `accounts` records, none
    /// negative, whose values still sum to `accounts * start` (after transfers).
    pub fn assert_accounts_kept(&self, accounts: i64, start: i64) {
        let values: Vec<i64> = self
            .open()
            .scan(None, 100)
            .unwrap()
            .iter()
            .map(|r| r.value)
            .collect();
        assert_eq!(values.len(), accounts as usize, "{values:?}");
        assert_eq!(values.iter().sum::<i64>(), accounts * start, "{values:?}");
        assert!(values.iter().all(|v| *v >= 0), "{values:?}");
    }

    /// Whether this is the PostgreSQL run.
    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
    }

    /// The PostgreSQL database, on the PostgreSQL run.
    pub fn pg(&self) -> Option<&PgDatabase> {
        self.pg.as_ref()
    }

    /// The SQLite file, `<tmp>/data/app.db` (for SQLite-only tests).
    pub fn db(&self) -> PathBuf {
        assert!(
            self.pg.is_none(),
            "a SQLite-only helper on the PostgreSQL run"
        );
        self.dir.path().join("data").join("app.db")
    }

    /// The database as `--db` takes it: the file's path, or the URL.
    pub fn db_arg(&self) -> String {
        match &self.pg {
            Some(pg) => pg.arg_url(),
            None => self.db().display().to_string(),
        }
    }

    /// The database as this process opens it: the file's path, or the URL
    /// with its password (a helper process of the test binary opens it so).
    pub fn db_in_process(&self) -> String {
        match &self.pg {
            Some(pg) => pg.url().to_string(),
            None => self.db_arg(),
        }
    }

    /// The database's location (with the password, to open it in-process).
    pub fn location(&self) -> Location {
        match &self.pg {
            Some(_) => Location::parse(&self.db_in_process()),
            None => Location::parse(&self.db_arg()),
        }
    }

    /// `records-host <sub> --db <db> <args>`, in the temp dir, sharing the compiled
    /// plugin cache of the whole test run.
    pub fn cli(&self, sub: &str, args: &[&str]) -> Command {
        let mut cmd = command(self.dir.path());
        cmd.arg(sub).arg("--db").arg(self.db_arg()).args(args);
        cmd
    }

    /// Runs `records-host call --db <db> <args...>`.
    pub fn call(&self, args: &[&str]) -> Output {
        run(&mut self.cli("call", args))
    }

    /// Opens the database directly through the library.
    pub fn open(&self) -> Database {
        Database::open(self.location()).expect("open db")
    }

    /// The names of all records, in id order.
    pub fn names(&self) -> Vec<String> {
        let records = self.open().scan(None, u32::MAX).expect("scan");
        records.into_iter().map(|r| r.name).collect()
    }

    /// Where tenants live: `<tmp>/data` (SQLite), or schemas in the test's
    /// PostgreSQL database.
    pub fn tenant_home(&self) -> TenantHome {
        match &self.pg {
            Some(pg) => match Location::parse(pg.url()) {
                Location::Postgres(pg) => TenantHome::Postgres(pg),
                Location::File(_) => unreachable!("a PostgreSQL URL"),
            },
            None => TenantHome::Directory(self.dir.path().join("data")),
        }
    }

    /// `records-host call` for a tenant: `--tenant NAME` (under the default data
    /// directory), with `--db <URL>` on the PostgreSQL run.
    pub fn tenant_call(&self, tenant: &str, args: &[&str]) -> Output {
        let mut cmd = command(self.dir.path());
        cmd.args(["call", "--tenant", tenant]);
        if let Some(pg) = &self.pg {
            cmd.args(["--db", &pg.arg_url()]);
        }
        run(cmd.args(args))
    }

    /// Creates the database and takes its write lock in this process, labelled
    /// `test:holder`, until what it returns is dropped.
    pub fn hold_lock(&self) -> Held {
        hold_lock_at(self.location())
    }

    /// Opens a tenant's database (creating it) and holds its write lock as
    /// [`Env::hold_lock`] does.
    pub fn hold_tenant_lock(&self, tenant: &str) -> Held {
        hold_lock_at(
            self.tenant_home()
                .location(&TenantName::new(tenant).unwrap()),
        )
    }

    /// Opens the database with a given lock timeout.
    pub fn open_with_timeout(&self, ms: u64) -> Database {
        let options = DatabaseOptions {
            lock_timeout: Duration::from_millis(ms),
            ..DatabaseOptions::default()
        };
        Database::open_with(self.location(), options).expect("open db")
    }

    /// Checks that the database is intact: SQLite's `integrity_check` is `ok`
    /// (PostgreSQL keeps its own), and it can be read.
    #[track_caller]
    pub fn assert_intact(&self) {
        if self.pg.is_none() {
            assert_eq!(integrity_check(&self.db()), "ok");
        }
        self.open().count().expect("readable");
    }
}

/// Opens the database at `location` (creating it) and takes its write lock in
/// this process, labelled `test:holder`, until what it returns is dropped.
pub fn hold_lock_at(location: Location) -> Held {
    let options = DatabaseOptions {
        holder_label: "test:holder".into(),
        txn_deadline: Duration::from_secs(3600),
        ..DatabaseOptions::default()
    };
    let db = Database::open_with(location, options).expect("open db");
    match db.write_lock() {
        Some(lock) => Held::Lock(
            WriteLock::new(lock.path(), Duration::ZERO)
                .acquire("test:holder")
                .expect("take the write lock"),
        ),
        None => Held::Txn(db.begin_write().expect("take the write lock")),
    }
}

/// Asserts that `text` names this test process holding the lock as
/// `test:holder` (`Env::hold_lock`): on SQLite its holder record's `pid:` and
/// label, on PostgreSQL its session's application name, which carries both.
#[track_caller]
pub fn assert_names_test_holder(text: &str) {
    assert!(
        text.contains(&format!("pid:{} ", std::process::id())),
        "names this process: {text}"
    );
    assert!(text.contains("test:holder"), "names its label: {text}");
}

/// A `records-host` command in `cwd` with the shared plugin cache and no logging.
pub fn command(cwd: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(cwd)
        .env("RECORDS_HOST_CACHE_DIR", shared_cache_dir())
        .env_remove("RECORDS_HOST_DB")
        .env_remove("RUST_LOG")
        .env_remove("PGPASSFILE");
    // The test server's password, as an operator would give it: never in argv.
    match postgres::test_password() {
        Some(password) => cmd.env("PGPASSWORD", password),
        None => cmd.env_remove("PGPASSWORD"),
    };
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
