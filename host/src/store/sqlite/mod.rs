//! The SQLite backend: one file in WAL mode, writes serialized across processes
//! by the flock write lock beside it.
//!
//! Reads run on the connection directly and take no lock: WAL readers never block
//! and are never blocked. Writes exist only in `writer.rs`, and a [`Writer`] is
//! made only from a [`Locked`](locked::Locked): for one autocommit statement
//! ([`SqliteStore::write_one`]) or for a transaction ([`Txn`], which owns the guard
//! and an `IMMEDIATE` transaction). Creating and migrating the schema takes the
//! same proof. A write without a guard does not compile, and `Locked::new`, its
//! only constructor, refuses a guard of any lock but that of the connection's own
//! database (`locked.rs`).
//!
//! A database is opened at its canonical path (`path.rs`), only if it is
//! records-host's or empty (`schema.rs`); SQLite's errors become record errors in
//! one place (`sql_error.rs`); who holds SQLite's own locks is in `locks.rs`; the
//! SQL text is in `sql.rs`.

pub(crate) mod deploy;
mod locked;
mod locks;
mod path;
mod schema;
mod sql;
mod sql_error;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::trace::{TraceEvent, TraceEventCodes};
use rusqlite::{Connection, FileControl, MAIN_DB, OpenFlags, OptionalExtension, params};

pub(crate) use self::writer::Writer;

use self::locked::Locked;
use self::sql_error::BUSY_TIMEOUT;
use crate::lock::{LockMetrics, LockStatus, WriteGuard, WriteLock};
use crate::record_error::{RecordError, RecordId};
use crate::store::error::Error;
use crate::store::record::{Record, record_from_row};
use crate::sync::locked;

/// The most a WAL keeps of its size after a checkpoint while the database is
/// open: above the size at which SQLite checkpoints (1,000 pages, just over
/// 4 MiB with frame headers), so a busy database reuses its WAL instead of
/// truncating and growing it at every checkpoint. Closing truncates it to
/// nothing.
const WAL_SIZE_LIMIT: i64 = 16 << 20;

/// An open SQLite store and its write lock. One connection: its operations take
/// turns on it, and a transaction shares it (so reads through the store while a
/// transaction is open see its uncommitted writes).
#[derive(Debug)]
pub(crate) struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
    lock: WriteLock,
    /// The size cap last applied, so re-instantiating over the same connection
    /// does not repeat the pragmas.
    max_size: Mutex<Option<u64>>,
}

impl SqliteStore {
    /// Opens (creating when missing, with its directory) the database at `path`,
    /// resolved first; its lock is `db.lock` beside the file it resolves to. The
    /// lock is taken only when the schema must be created or migrated (labelled
    /// `label`).
    ///
    /// # Errors
    /// [`Error::Unusable`] or [`Error::Sqlite`] when the file cannot be opened or
    /// is not a SQLite database; [`Error::Foreign`] for another application's
    /// database (left untouched); [`Error::NewerSchema`]; [`Error::LockTimeout`]
    /// when the lock needed to create the schema is held.
    pub(crate) fn open(path: &Path, lock_timeout: Duration, label: &str) -> Result<Self, Error> {
        let path = path::resolve(path)?;
        // No URI interpretation, and no symbolic link anywhere in the (canonical)
        // path: SQLite opens exactly the file whose lock this is.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let mut conn = Connection::open_with_flags(&path, flags)?;
        trace_sql(&mut conn)?;
        // SQLite takes the busy timeout in milliseconds as a C int (about 24 days).
        let most = Duration::from_millis(i32::MAX.unsigned_abs().into());
        conn.busy_timeout(lock_timeout.clamp(BUSY_TIMEOUT, most))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        keep_wal_files(&conn)?;
        let lock = WriteLock::for_database(&path, lock_timeout);
        schema::prepare(&conn, &lock, label, &path)
            .map_err(|e| sql_error::name_busy_holder_in(&conn, e))?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path,
            lock,
            max_size: Mutex::new(None),
        })
    }

    /// The database file, resolved (canonical).
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The store's write lock.
    pub(crate) fn lock(&self) -> &WriteLock {
        &self.lock
    }

    /// Whether the lock is held now, and by whom.
    pub(crate) fn lock_status(&self) -> Result<LockStatus, RecordError> {
        Ok(self.lock.status()?)
    }

    /// This process's acquisitions of the lock.
    pub(crate) fn lock_metrics(&self) -> LockMetrics {
        self.lock.metrics()
    }

    /// Caps the database file at about `bytes` (`PRAGMA max_page_count`).
    pub(crate) fn set_max_size(&self, bytes: u64) -> Result<(), RecordError> {
        let mut applied = locked(&self.max_size);
        if *applied == Some(bytes) {
            return Ok(());
        }
        self.run(|conn| {
            let page_size: i64 = conn.pragma_query_value(None, "page_size", |row| row.get(0))?;
            let pages = bytes.div_ceil(page_size.unsigned_abs().max(1)).max(1);
            conn.pragma_update(
                None,
                "max_page_count",
                i64::try_from(pages).unwrap_or(i64::MAX),
            )?;
            Ok(())
        })?;
        *applied = Some(bytes);
        Ok(())
    }

    pub(crate) fn get(&self, id: RecordId) -> Result<Option<Record>, RecordError> {
        self.run(|conn| {
            Ok(conn
                .prepare_cached(sql::GET)?
                .query_row(params![id], record_from_row)
                .optional()?)
        })
    }

    pub(crate) fn scan(
        &self,
        after: Option<RecordId>,
        limit: u32,
    ) -> Result<Vec<Record>, RecordError> {
        self.run(|conn| {
            let mut stmt = conn.prepare_cached(sql::SCAN)?;
            let rows = stmt.query_map(
                params![after.unwrap_or(RecordId::MIN), limit],
                record_from_row,
            )?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    pub(crate) fn count(&self) -> Result<u64, RecordError> {
        let count: i64 = self.run(|conn| Ok(conn.query_row(sql::COUNT, [], |row| row.get(0))?))?;
        Ok(count.unsigned_abs())
    }

    /// Takes the lock (labelled `label`, giving up at the lock's timeout or at
    /// `cap`), runs `op` with a writer as one autocommit statement (atomic by
    /// itself), and releases the lock.
    pub(crate) fn write_one<T>(
        &self,
        label: &str,
        cap: Option<Instant>,
        op: impl FnOnce(&Writer<'_>) -> Result<T, RecordError>,
    ) -> Result<T, RecordError> {
        self.check_no_open_transaction()?;
        let held = self.lock.acquire_by(label, cap)?;
        self.run(|conn| op(&Writer::new(Locked::new(conn, &held)?)))
    }

    /// Takes the lock (as [`write_one`](Self::write_one)) and begins an
    /// `IMMEDIATE` transaction that holds it until the [`Txn`] ends.
    pub(crate) fn begin(&self, label: &str, cap: Option<Instant>) -> Result<Txn, RecordError> {
        self.check_no_open_transaction()?;
        let guard = self.lock.acquire_by(label, cap)?;
        self.run(|conn| {
            conn.prepare_cached(sql::BEGIN)?.execute([])?;
            Ok(())
        })?;
        Ok(Txn {
            conn: self.conn.clone(),
            guard: Some(guard),
        })
    }

    /// Waiting for the lock while this connection has a transaction open would
    /// wait for ourselves.
    fn check_no_open_transaction(&self) -> Result<(), RecordError> {
        if locked(&self.conn).is_autocommit() {
            return Ok(());
        }
        Err(RecordError::Invalid(
            "a write transaction is already open here: write through it, or commit or drop it first"
                .into(),
        ))
    }

    /// Runs `op` on the connection, naming who holds SQLite's own lock when the
    /// database was busy.
    pub(in crate::store) fn run<T>(
        &self,
        op: impl FnOnce(&Connection) -> Result<T, RecordError>,
    ) -> Result<T, RecordError> {
        let conn = locked(&self.conn);
        op(&conn).map_err(|e| sql_error::name_busy_holder(&conn, e))
    }
}

/// An open `IMMEDIATE` transaction on a SQLite store, holding its write lock.
/// However it ends (commit, rollback, drop), what was not committed is rolled
/// back before the lock is released.
#[derive(Debug)]
pub(crate) struct Txn {
    conn: Arc<Mutex<Connection>>,
    /// `None` once ended.
    guard: Option<WriteGuard>,
}

impl Txn {
    /// Runs `op` with a writer inside the transaction.
    pub(crate) fn with_writer<T>(
        &self,
        op: impl FnOnce(&Writer<'_>) -> Result<T, RecordError>,
    ) -> Result<T, RecordError> {
        let Some(guard) = &self.guard else {
            return Err(RecordError::Invalid(
                "the write transaction has already ended".into(),
            ));
        };
        let conn = locked(&self.conn);
        Locked::new(&conn, guard)
            .map_err(RecordError::from)
            .and_then(|locked| op(&Writer::new(locked)))
            .map_err(|e| sql_error::name_busy_holder(&conn, e))
    }

    /// Commits, rolling back if the commit fails; then releases the lock.
    pub(crate) fn commit(mut self) -> Result<(), RecordError> {
        self.end(sql::COMMIT)
    }

    /// Rolls back, then releases the lock.
    pub(crate) fn rollback(mut self) {
        let _ = self.end(sql::ROLLBACK);
    }

    fn end(&mut self, statement: &str) -> Result<(), RecordError> {
        let Some(guard) = self.guard.take() else {
            return Ok(());
        };
        let conn = locked(&self.conn);
        let result = conn
            .prepare_cached(statement)
            .and_then(|mut end| end.execute([]))
            .map(drop)
            .map_err(|e| sql_error::name_busy_holder(&conn, e.into()));
        if !conn.is_autocommit()
            && let Err(e) = conn
                .prepare_cached(sql::ROLLBACK)
                .and_then(|mut rollback| rollback.execute([]))
        {
            tracing::error!(error = %e, "rollback failed");
        }
        drop(conn);
        drop(guard);
        result
    }
}

impl Drop for Txn {
    fn drop(&mut self) {
        let _ = self.end(sql::ROLLBACK);
    }
}

/// Keeps the `-wal` and `-shm` files when the last connection closes, instead of
/// deleting them and creating them again at the next open. The close still
/// checkpoints, so the database file alone holds every committed write, and the
/// WAL is truncated to nothing (`journal_size_limit`). A server that opens and
/// closes thousands of tenants' databases otherwise spends its time creating
/// and deleting those files (ext4 searches its inode bitmaps for every create).
fn keep_wal_files(conn: &Connection) -> rusqlite::Result<()> {
    conn.file_control(Some(MAIN_DB), FileControl::PersistWal(&mut 1))?;
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
    Ok(())
}

/// Logs every statement with its duration when `records_host::sql=trace` is on
/// (`RUST_LOG`); costs nothing otherwise, since the hook is not even installed.
fn trace_sql(conn: &mut Connection) -> rusqlite::Result<()> {
    if !tracing::enabled!(target: "records_host::sql", tracing::Level::TRACE) {
        return Ok(());
    }
    conn.trace_v2(
        TraceEventCodes::SQLITE_TRACE_PROFILE,
        Some(|event: TraceEvent<'_>| {
            if let TraceEvent::Profile(stmt, took) = event {
                tracing::trace!(target: "records_host::sql", sql = %stmt.sql(), took_us = took.as_micros() as u64);
            }
        }),
    )
}

/// The write lock that guards the database at `db_path`: `db.lock` beside the file
/// the path resolves to. Creates nothing.
pub(crate) fn write_lock_of(db_path: &Path, timeout: Duration) -> WriteLock {
    WriteLock::for_database(&path::resolve_existing(db_path), timeout)
}

#[cfg(test)]
mod tests;
