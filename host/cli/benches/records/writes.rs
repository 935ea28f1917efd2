//! The write scenarios: SQLite's own floor, the original design's protocol
//! natively, creates through the embedded plugin, and 8 processes contending,
//! with their floor: the same 8 processes passing a token round a ring of
//! FIFOs (`token.rs`), each inserting one row per turn, so that the figure is
//! the cost of alternating writers at all.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use fs4::FileExt;
use records_host::{Database, Error, Plugin, RecordError, Runtime};
use serde_json::json;

use crate::report::{Scenario, scenario};
use crate::{token, workers};

pub(crate) fn native_connection(path: &Path) -> Result<rusqlite::Connection> {
    std::fs::create_dir_all(path.parent().context("parent")?)?;
    let conn = rusqlite::Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(Duration::from_millis(500))?;
    conn.execute_batch("CREATE TABLE IF NOT EXISTS records (id INTEGER PRIMARY KEY, name TEXT NOT NULL, value INTEGER NOT NULL)")?;
    Ok(conn)
}

pub(crate) fn check_rows(path: &Path, expected: usize) -> Result<()> {
    let conn = rusqlite::Connection::open(path)?;
    let rows: i64 = conn.query_row("SELECT count(*) FROM records", [], |r| r.get(0))?;
    if rows as usize != expected {
        bail!(
            "{}: {rows} rows, expected {expected}: writes were lost",
            path.display()
        );
    }
    Ok(())
}

/// Native rusqlite autocommit inserts, WAL, synchronous=NORMAL, no lock.
pub(crate) fn sqlite_floor(path: &Path, n: usize) -> Result<Scenario> {
    let conn = native_connection(path)?;
    let scenario = scenario("sqlite-floor", n, |i| {
        conn.prepare_cached("INSERT INTO records (name, value) VALUES (?1, ?2)")?
            .execute(rusqlite::params!["floor", i as i64])?;
        Ok(())
    })?;
    check_rows(path, n)?;
    Ok(scenario)
}

/// The original design's per-write protocol, natively: flock try-lock with
/// 5 -> 50 ms sleeps and a 500 ms timeout, holder written and truncated on every
/// write, autocommit insert.
pub(crate) struct NativeProtocol {
    pub(crate) conn: rusqlite::Connection,
    pub(crate) lock: File,
}

impl NativeProtocol {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let conn = native_connection(path)?;
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path.with_file_name("db.lock"))?;
        Ok(Self { conn, lock })
    }

    /// `Ok(false)` on a lock timeout.
    pub(crate) fn insert(&mut self, i: usize) -> Result<bool> {
        let deadline = Instant::now() + Duration::from_millis(500);
        let mut backoff = Duration::from_millis(5);
        while FileExt::try_lock(&self.lock).is_err() {
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(backoff.min(deadline.saturating_duration_since(Instant::now())));
            backoff = (backoff * 2).min(Duration::from_millis(50));
        }
        self.lock.set_len(0)?;
        let holder = format!(
            "pid:{}\ntime:{}\n",
            std::process::id(),
            humantime::format_rfc3339_millis(SystemTime::now())
        );
        (&self.lock).write_all(holder.as_bytes())?;
        let result = self
            .conn
            .prepare_cached("INSERT INTO records (name, value) VALUES (?1, ?2)")?
            .execute(rusqlite::params!["native", i as i64]);
        self.lock.set_len(0)?;
        FileExt::unlock(&self.lock)?;
        result?;
        Ok(true)
    }
}

pub(crate) fn native_protocol(path: &Path, n: usize) -> Result<Scenario> {
    let mut native = NativeProtocol::open(path)?;
    let scenario = scenario("native-lock-protocol", n, |i| {
        if !native.insert(i)? {
            bail!("lock timeout with a single writer");
        }
        Ok(())
    })?;
    check_rows(path, n)?;
    Ok(scenario)
}

/// Creates through the reference plugin, embedded: one instance, many calls.
pub(crate) fn embedded_create(plugin: &Plugin, path: &Path, n: usize) -> Result<Scenario> {
    let mut instance = plugin.instantiate(Database::open(path)?)?;
    let scenario = scenario("embedded-create", n, |i| {
        instance.create_record("embedded", i as i64)?;
        Ok(())
    })?;
    drop(instance);
    check_rows(path, n)?;
    Ok(scenario)
}

/// The processes of the contention scenarios.
const PROCESSES: usize = 8;

/// 8 worker processes × `n` writes of `kind` (`ours`: `create-record` through the
/// reference plugin; `native`: the same protocol with rusqlite; `token`: plain
/// autocommit inserts, in turns passed round a ring) on one database.
pub(crate) fn contention(
    name: &str,
    kind: &str,
    path: &Path,
    n: usize,
    cache: &Path,
) -> Result<Scenario> {
    let dir = path.parent().context("parent")?;
    drop(Database::open(path)?);
    if kind == "token" {
        token::make_ring(dir, PROCESSES)?;
    }
    let reports = workers::run_workers(PROCESSES, &dir.join("go"), |w| {
        vec![
            "--worker".into(),
            if kind == "token" {
                format!("token:{w}")
            } else {
                kind.to_string()
            }
            .into(),
            path.into(),
            n.to_string().into(),
            cache.into(),
        ]
    })?;
    // The writing window: from the first worker's first write to the last worker's
    // last write (process start-up, the barrier and exit are not writing time).
    let first_start = reports.iter().map(|r| r.start_ns).min().unwrap_or(0);
    let last_end = reports.iter().map(|r| r.end_ns).max().unwrap_or(0);
    let written: usize = reports.iter().map(|r| r.ok).sum();
    let timeouts: u64 = reports.iter().map(|r| r.timeouts).sum();
    let latencies = reports.into_iter().flat_map(|r| r.latencies).collect();
    let elapsed = Duration::from_nanos(u64::try_from(last_end.saturating_sub(first_start))?);
    check_rows(path, written)?;
    Ok(Scenario {
        name: name.into(),
        ops: written,
        elapsed,
        latencies,
        extra: json!({ "processes": PROCESSES, "lock_timeouts": timeouts, "rows_checked": written }),
    })
}

/// A worker process: `--worker KIND DB N CACHE GO`.
pub(crate) fn worker(args: &[String]) -> Result<()> {
    let [kind, db, n, cache, go] = args else {
        bail!("worker arguments")
    };
    let db = PathBuf::from(db);
    let mut op: Box<dyn FnMut(usize) -> Result<bool>> = match kind.as_str() {
        token if token.starts_with("token:") => {
            let index = token["token:".len()..].parse()?;
            let mut turn = token::Turns::join(native_connection(&db)?, &db, index, PROCESSES)?;
            Box::new(move |i| turn.take(i))
        }
        "native" => {
            let mut native = NativeProtocol::open(&db)?;
            Box::new(move |i| native.insert(i))
        }
        _ => {
            let runtime = Runtime::builder().cache_dir(cache).build()?;
            let mut instance = runtime
                .load_reference()?
                .instantiate(Database::open(&db)?)?;
            Box::new(move |i| match instance.create_record("worker", i as i64) {
                Ok(_) => Ok(true),
                Err(Error::Record(RecordError::LockTimeout(_))) => Ok(false),
                Err(e) => Err(e.into()),
            })
        }
    };
    workers::work(n.parse()?, Path::new(go), &mut op)
}
