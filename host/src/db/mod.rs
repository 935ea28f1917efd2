//! The record store: SQLite in WAL mode, one table, writes only under the write lock.
//!
//! Reads run on the connection directly and take no lock: WAL readers never block
//! and are never blocked. Writes exist only where the write lock is held: the
//! statement functions in `txn.rs` take the lock's [`WriteGuard`] as an argument,
//! and their only callers are [`WriteTxn`] (which holds the guard; the only ways to
//! get one, [`Database::begin_write`] and [`Database::write`], take the lock and
//! then open an `IMMEDIATE` transaction) and [`Database::insert`], `update` and
//! `delete` (which take the lock for their one autocommit statement), or the store
//! imports, which pass a guard they took themselves and that is checked to be this
//! database's. A write without the lock does not compile.
//!
//! A database is opened at its canonical path (`path.rs`), only if it is
//! records-host's or empty (`schema.rs`); SQLite's errors become record errors in
//! one place (`sql_error.rs`).

mod path;
mod schema;
mod sql_error;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rusqlite::trace::{TraceEvent, TraceEventCodes};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

pub use self::schema::{APPLICATION_ID, SCHEMA_VERSION};

use crate::error::{Error, RecordError, RecordId};
use crate::lock::{DEFAULT_LOCK_TIMEOUT, WriteGuard, WriteLock};
use crate::record::{Record, record_from_row};
use crate::txn::{self, WriteTxn};
use crate::util::locked;

/// How long SQLite itself retries a busy database (`PRAGMA busy_timeout`). Writers
/// are already serialized by the flock; this covers WAL checkpoints and foreign
/// writers that do not use the lock.
const BUSY_TIMEOUT: Duration = Duration::from_millis(500);

/// How long a transaction from [`Database::begin_write`] may stay open unless
/// configured otherwise.
pub const DEFAULT_TXN_DEADLINE: Duration = Duration::from_secs(2);

/// RFC 3339 stops at year 9999; later deadlines are shown as `never`.
const MAX_DISPLAYABLE: Duration = Duration::from_secs(253_402_300_799);

/// How a database is opened.
#[derive(Debug, Clone)]
pub struct DatabaseOptions {
    /// How long a write waits for the write lock before [`RecordError::LockTimeout`].
    pub lock_timeout: Duration,
    /// Written into the lock file while this database holds the lock, after the
    /// `pid:` and `time:` lines, so that a waiter can tell who holds it
    /// (the runtime sets `plugin:<name>`).
    pub holder_label: String,
    /// How long a transaction from [`Database::begin_write`] may stay open before
    /// the host rolls it back and releases the lock.
    pub txn_deadline: Duration,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        Self {
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            holder_label: String::new(),
            txn_deadline: DEFAULT_TXN_DEADLINE,
        }
    }
}

/// An open record database and its write lock.
///
/// One `Database` is one SQLite connection: it is `Send` and `Sync`, and its
/// operations take turns on the connection. A transaction from
/// [`begin_write`](Self::begin_write) shares the connection, so reads through the
/// `Database` while it is open see its uncommitted writes.
#[derive(Debug)]
pub struct Database {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
    lock: WriteLock,
    holder_label: String,
    txn_deadline: Duration,
    /// The size cap last applied, so re-instantiating over the same connection
    /// does not repeat the pragmas.
    max_size: Mutex<Option<u64>>,
}

impl Database {
    /// Opens (creating when missing, with its directory) the database at `path` with
    /// default options. The path is resolved first (symbolic links followed), and
    /// the lock file is `db.lock` beside the file it resolves to.
    ///
    /// # Errors
    /// [`Error::OpenDatabase`] when the file cannot be opened, is not a SQLite
    /// database, is another application's database (it is left untouched), has a
    /// newer schema than this build knows, or the write lock needed to create the
    /// schema could not be taken.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::open_with(path, DatabaseOptions::default())
    }

    /// Opens the database at `path` with `options`; see [`open`](Self::open).
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_with(path: impl AsRef<Path>, options: DatabaseOptions) -> Result<Self, Error> {
        let path = path.as_ref().to_path_buf();
        Self::try_open(&path, options).map_err(|source| Error::OpenDatabase { path, source })
    }

    fn try_open(path: &Path, options: DatabaseOptions) -> Result<Self, RecordError> {
        let path = path::resolve(path)?;
        // No URI interpretation, and no symbolic link anywhere in the (canonical)
        // path: SQLite opens exactly the file whose lock this is.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let mut conn = Connection::open_with_flags(&path, flags)?;
        trace_sql(&mut conn)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let lock = WriteLock::for_database(&path, options.lock_timeout);
        schema::prepare(&conn, &lock, &options.holder_label, &path)
            .map_err(|e| sql_error::name_busy_holder(&conn, e))?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path,
            lock,
            holder_label: options.holder_label,
            txn_deadline: options.txn_deadline,
            max_size: Mutex::new(None),
        })
    }

    /// The database file, resolved (canonical).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The database's write lock (for status queries and for tests that hold it).
    pub fn write_lock(&self) -> &WriteLock {
        &self.lock
    }

    /// Caps the database file at about `bytes` (`PRAGMA max_page_count`): a write
    /// that would grow it further fails with a `storage` error saying the database
    /// is full, and what was stored stays intact. Applies to this connection.
    ///
    /// # Errors
    /// [`RecordError::Storage`] when SQLite fails.
    pub fn set_max_size(&self, bytes: u64) -> Result<(), RecordError> {
        let mut applied = locked(&self.max_size);
        if *applied == Some(bytes) {
            return Ok(());
        }
        let conn = locked(&self.conn);
        let page_size: i64 = conn.pragma_query_value(None, "page_size", |row| row.get(0))?;
        let pages = bytes.div_ceil(page_size.unsigned_abs().max(1)).max(1);
        conn.pragma_update(
            None,
            "max_page_count",
            i64::try_from(pages).unwrap_or(i64::MAX),
        )?;
        *applied = Some(bytes);
        Ok(())
    }

    /// Sets the label written into the lock file while this database holds the lock.
    pub fn set_holder_label(&mut self, label: impl Into<String>) {
        self.holder_label = label.into();
    }

    /// The record with this id, or `None`. Takes no lock.
    ///
    /// # Errors
    /// [`RecordError::Storage`] when SQLite fails.
    pub fn get(&self, id: RecordId) -> Result<Option<Record>, RecordError> {
        self.run(|conn| {
            Ok(conn
                .prepare_cached("SELECT id, name, value FROM records WHERE id = ?1")?
                .query_row(params![id], record_from_row)
                .optional()?)
        })
    }

    /// Records with id greater than `after` (all when `None`), ascending by id, at
    /// most `limit` of them. Takes no lock.
    ///
    /// # Errors
    /// [`RecordError::Storage`] when SQLite fails.
    pub fn scan(&self, after: Option<RecordId>, limit: u32) -> Result<Vec<Record>, RecordError> {
        self.run(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, name, value FROM records WHERE id > ?1 ORDER BY id LIMIT ?2",
            )?;
            let rows = stmt.query_map(
                params![after.unwrap_or(RecordId::MIN), limit],
                record_from_row,
            )?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// How many records there are. Takes no lock.
    ///
    /// # Errors
    /// [`RecordError::Storage`] when SQLite fails.
    pub fn count(&self) -> Result<u64, RecordError> {
        let count: i64 = self.run(|conn| {
            Ok(conn.query_row("SELECT count(*) FROM records", [], |row| row.get(0))?)
        })?;
        Ok(count.unsigned_abs())
    }

    /// Takes the write lock (waiting up to the lock timeout) and opens an `IMMEDIATE`
    /// transaction that may stay open across calls until its deadline
    /// ([`DatabaseOptions::txn_deadline`]). Commit with [`WriteTxn::commit`];
    /// dropping it rolls back; at the deadline the host rolls it back. Each way the
    /// lock is released right after. The lock file names the holder's label and
    /// says it is a transaction.
    ///
    /// # Errors
    /// [`RecordError::LockTimeout`] when another writer held the lock past the
    /// timeout; [`RecordError::Invalid`] when a transaction of this `Database` is
    /// already open (waiting for it would wait forever); [`RecordError::Storage`]
    /// when the lock file or SQLite fails.
    pub fn begin_write(&self) -> Result<WriteTxn, RecordError> {
        self.check_no_open_transaction()?;
        let plan = self.plan_transaction();
        let guard = self.lock.acquire(&plan.label)?;
        self.begin_planned(plan, guard)
    }

    /// The label and deadline of a write transaction about to begin. The deadline
    /// counts from here, before the lock is taken, so that the one written into
    /// the lock file is the one the reaper enforces. A deadline too far to
    /// represent is none.
    pub(crate) fn plan_transaction(&self) -> TxnPlan {
        let deadline = Instant::now()
            .checked_add(self.txn_deadline)
            .map(|at| (at, self.txn_deadline));
        let until = SystemTime::now()
            .checked_add(self.txn_deadline)
            .filter(|until| *until < SystemTime::UNIX_EPOCH + MAX_DISPLAYABLE)
            .map_or_else(
                || "never".to_string(),
                |until| humantime::format_rfc3339_millis(until).to_string(),
            );
        let label = format!("{}\ntxn:open until:{until}", self.holder_label);
        TxnPlan {
            label: label.trim_start().to_string(),
            deadline,
        }
    }

    /// Begins the transaction `plan` describes, under `guard` (this database's
    /// lock, taken with `plan.label`).
    ///
    /// # Errors
    /// [`RecordError::Invalid`] when `guard` is another database's lock;
    /// [`RecordError::Storage`] when SQLite fails.
    pub(crate) fn begin_planned(
        &self,
        plan: TxnPlan,
        guard: WriteGuard,
    ) -> Result<WriteTxn, RecordError> {
        self.begin(guard, plan.deadline)
    }

    /// Runs `write` in a write transaction and commits it when it returns `Ok`: a
    /// multi-statement write for Rust callers that do not keep the transaction. It
    /// has no deadline, since it ends when `write` returns.
    ///
    /// # Errors
    /// As [`begin_write`](Self::begin_write), or what `write` or the commit return;
    /// on error nothing is written.
    pub fn write<T>(
        &self,
        write: impl FnOnce(&WriteTxn) -> Result<T, RecordError>,
    ) -> Result<T, RecordError> {
        self.check_no_open_transaction()?;
        let guard = self.lock.acquire(&self.holder_label)?;
        let txn = self.begin(guard, None)?;
        let value = write(&txn)?;
        txn.commit()?;
        Ok(value)
    }

    /// Stores a new record under the write lock, as one autocommit statement (a
    /// single statement is atomic by itself, so this skips `BEGIN` and `COMMIT`).
    ///
    /// # Errors
    /// As [`write`](Self::write).
    pub fn insert(&self, name: &str, value: i64) -> Result<RecordId, RecordError> {
        self.write_one(|conn, held| txn::insert(conn, held, name, value))
    }

    /// Sets the value of record `id` under the write lock, in one statement.
    ///
    /// # Errors
    /// [`RecordError::NotFound`] when no record has this id; otherwise as
    /// [`write`](Self::write).
    pub fn update(&self, id: RecordId, value: i64) -> Result<(), RecordError> {
        self.write_one(|conn, held| txn::update(conn, held, id, value))
    }

    /// Removes record `id` under the write lock, in one statement.
    ///
    /// # Errors
    /// As [`update`](Self::update).
    pub fn delete(&self, id: RecordId) -> Result<(), RecordError> {
        self.write_one(|conn, held| txn::delete(conn, held, id))
    }

    /// Stores a new record under `held`, this database's write lock, which the
    /// caller took (the store imports take it without blocking an executor).
    pub(crate) fn insert_held(
        &self,
        held: &WriteGuard,
        name: &str,
        value: i64,
    ) -> Result<RecordId, RecordError> {
        self.write_held(held, |conn| txn::insert(conn, held, name, value))
    }

    /// Sets the value of record `id` under `held`; see [`insert_held`](Self::insert_held).
    pub(crate) fn update_held(
        &self,
        held: &WriteGuard,
        id: RecordId,
        value: i64,
    ) -> Result<(), RecordError> {
        self.write_held(held, |conn| txn::update(conn, held, id, value))
    }

    /// Removes record `id` under `held`; see [`insert_held`](Self::insert_held).
    pub(crate) fn delete_held(&self, held: &WriteGuard, id: RecordId) -> Result<(), RecordError> {
        self.write_held(held, |conn| txn::delete(conn, held, id))
    }

    /// The label written into the lock file while this database holds the lock.
    pub(crate) fn holder_label(&self) -> &str {
        &self.holder_label
    }

    fn write_one<T>(
        &self,
        op: impl FnOnce(&Connection, &WriteGuard) -> Result<T, RecordError>,
    ) -> Result<T, RecordError> {
        self.check_no_open_transaction()?;
        let held = self.lock.acquire(&self.holder_label)?;
        self.write_held(&held, |conn| op(conn, &held))
    }

    fn write_held<T>(
        &self,
        held: &WriteGuard,
        op: impl FnOnce(&Connection) -> Result<T, RecordError>,
    ) -> Result<T, RecordError> {
        if !held.is_of(&self.lock) {
            return Err(RecordError::Invalid(
                "a write was attempted under another database's lock".into(),
            ));
        }
        self.run(op)
    }

    /// Runs `op` on the connection, naming who holds SQLite's own lock when the
    /// database was busy.
    fn run<T>(
        &self,
        op: impl FnOnce(&Connection) -> Result<T, RecordError>,
    ) -> Result<T, RecordError> {
        let conn = locked(&self.conn);
        op(&conn).map_err(|e| sql_error::name_busy_holder(&conn, e))
    }

    /// Waiting for the lock while this connection has a transaction open would
    /// wait for ourselves.
    pub(crate) fn check_no_open_transaction(&self) -> Result<(), RecordError> {
        if locked(&self.conn).is_autocommit() {
            return Ok(());
        }
        Err(RecordError::Invalid(
            "a write transaction is already open here: write through it, or commit or drop it first"
                .into(),
        ))
    }

    fn begin(
        &self,
        guard: WriteGuard,
        deadline: Option<(Instant, Duration)>,
    ) -> Result<WriteTxn, RecordError> {
        self.write_held(&guard, |conn| {
            conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
            Ok(())
        })?;
        Ok(WriteTxn::begun(self.conn.clone(), guard, deadline))
    }
}

/// The write lock that guards the database at `db_path`: `db.lock` beside the file
/// the path resolves to (symbolic links followed), the lock [`Database::open`]
/// uses. Creates nothing, so it serves to look at a lock (`lock-status`).
pub fn write_lock_of(db_path: &Path, timeout: Duration) -> WriteLock {
    WriteLock::for_database(&path::resolve_existing(db_path), timeout)
}

/// What a write transaction about to begin writes into the lock file, and when it
/// must end.
#[derive(Debug)]
pub(crate) struct TxnPlan {
    pub(crate) label: String,
    deadline: Option<(Instant, Duration)>,
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

#[cfg(test)]
mod tests;
