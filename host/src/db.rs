//! The record store: SQLite in WAL mode, one table, writes only under the write lock.
//!
//! Reads run on the connection directly and take no lock: WAL readers never block
//! and are never blocked. Writes exist only where the write lock is held: the
//! statement functions in `txn.rs` take the lock's [`WriteGuard`] as an argument,
//! and their only callers are [`WriteTxn`] (which holds the guard; the only ways to
//! get one, [`Database::begin_write`] and [`Database::write`], take the lock and
//! then open an `IMMEDIATE` transaction) and [`Database::insert`], `update` and
//! `delete` (which take the lock for their one autocommit statement). A write
//! without the lock does not compile.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rusqlite::trace::{TraceEvent, TraceEventCodes};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::error::{Error, RecordError, RecordId};
use crate::lock::{DEFAULT_LOCK_TIMEOUT, WriteGuard, WriteLock};
use crate::reaper;
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

/// Schema migrations; `PRAGMA user_version` is the number applied so far.
const MIGRATIONS: &[&str] =
    &["CREATE TABLE records (id INTEGER PRIMARY KEY, name TEXT NOT NULL, value INTEGER NOT NULL)"];

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// One stored record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Assigned by the store on insert.
    pub id: RecordId,
    /// The record's label.
    pub name: String,
    /// The record's payload.
    pub value: i64,
}

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
    /// default options.
    ///
    /// # Errors
    /// [`Error::OpenDatabase`] when the file cannot be opened, is not a SQLite
    /// database, has a newer schema than this build knows, or the write lock needed
    /// to create the schema could not be taken.
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
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| RecordError::Storage(format!("creating {}: {e}", dir.display())))?;
        }
        let mut conn = Connection::open(path)?;
        trace_sql(&mut conn)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let lock = WriteLock::for_database(path, options.lock_timeout);
        prepare(&conn, &lock, &options.holder_label, path)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path: path.to_path_buf(),
            lock,
            holder_label: options.holder_label,
            txn_deadline: options.txn_deadline,
            max_size: Mutex::new(None),
        })
    }

    /// The database file.
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
        Ok(locked(&self.conn)
            .prepare_cached("SELECT id, name, value FROM records WHERE id = ?1")?
            .query_row(params![id], record_from_row)
            .optional()?)
    }

    /// Records with id greater than `after` (all when `None`), ascending by id, at
    /// most `limit` of them. Takes no lock.
    ///
    /// # Errors
    /// [`RecordError::Storage`] when SQLite fails.
    pub fn scan(&self, after: Option<RecordId>, limit: u32) -> Result<Vec<Record>, RecordError> {
        let conn = locked(&self.conn);
        let mut stmt = conn.prepare_cached(
            "SELECT id, name, value FROM records WHERE id > ?1 ORDER BY id LIMIT ?2",
        )?;
        let rows = stmt.query_map(
            params![after.unwrap_or(RecordId::MIN), limit],
            record_from_row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many records there are. Takes no lock.
    ///
    /// # Errors
    /// [`RecordError::Storage`] when SQLite fails.
    pub fn count(&self) -> Result<u64, RecordError> {
        let count: i64 =
            locked(&self.conn).query_row("SELECT count(*) FROM records", [], |row| row.get(0))?;
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
        // The deadline counts from here, so the one written into the lock file
        // is the one the reaper enforces. A deadline too far to represent is none.
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
        let txn = self.begin(label.trim_start(), deadline)?;
        if let Some(deadline) = txn.deadline() {
            reaper::watch(deadline, Arc::downgrade(txn.shared()));
        }
        Ok(txn)
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
        let txn = self.begin(&self.holder_label, None)?;
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

    fn write_one<T>(
        &self,
        op: impl FnOnce(&Connection, &WriteGuard) -> Result<T, RecordError>,
    ) -> Result<T, RecordError> {
        self.check_no_open_transaction()?;
        let held = self.lock.acquire(&self.holder_label)?;
        op(&locked(&self.conn), &held)
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

    fn begin(
        &self,
        label: &str,
        deadline: Option<(Instant, Duration)>,
    ) -> Result<WriteTxn, RecordError> {
        self.check_no_open_transaction()?;
        let guard = self.lock.acquire(label)?;
        locked(&self.conn)
            .prepare_cached("BEGIN IMMEDIATE")?
            .execute([])?;
        Ok(WriteTxn::begun(self.conn.clone(), guard, deadline))
    }
}

/// Switches the file to WAL and brings the schema up to date. Both write to the
/// file, so both happen under the write lock, and only when needed: an existing,
/// current database is opened without taking the lock.
fn prepare(
    conn: &Connection,
    lock: &WriteLock,
    label: &str,
    path: &Path,
) -> Result<(), RecordError> {
    let mode: String = conn.pragma_query_value(None, "journal_mode", |row| row.get(0))?;
    let version = schema_version(conn)?;
    if version > SCHEMA_VERSION {
        return Err(RecordError::Storage(format!(
            "schema version {version} is newer than this records-host supports ({SCHEMA_VERSION})"
        )));
    }
    if mode.eq_ignore_ascii_case("wal") && version == SCHEMA_VERSION {
        return Ok(());
    }
    let _guard = lock.acquire(label)?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(RecordError::Storage(format!(
            "cannot switch to WAL (journal_mode is {mode})"
        )));
    }
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    let version = schema_version(conn)?;
    for (applied, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(migration)?;
        tx.pragma_update(None, "user_version", applied as i64 + 1)?;
        tracing::info!(db = %path.display(), version = applied + 1, "schema migrated");
    }
    tx.commit()?;
    Ok(())
}

fn schema_version(conn: &Connection) -> Result<u32, RecordError> {
    Ok(conn.pragma_query_value(None, "user_version", |row| row.get(0))?)
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

pub(crate) fn record_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Record> {
    Ok(Record {
        id: row.get(0)?,
        name: row.get(1)?,
        value: row.get(2)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::LockStatus;

    fn open(dir: &tempfile::TempDir) -> Database {
        Database::open(dir.path().join("app.db")).unwrap()
    }

    fn pragma<T: rusqlite::types::FromSql>(db: &Database, name: &str) -> T {
        locked(&db.conn)
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
        assert_eq!(db.write_lock().path(), dir.path().join("db.lock"));
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
        assert!(matches!(
            db.write_lock().status().unwrap(),
            LockStatus::Held { .. }
        ));
        txn.insert("x", 1).unwrap();
        assert_eq!(
            txn.get(1).unwrap().map(|r| r.value),
            Some(1),
            "sees its own write"
        );
        drop(txn);
        assert_eq!(db.write_lock().status().unwrap(), LockStatus::Free);
        assert_eq!(
            db.count().unwrap(),
            0,
            "dropped without commit: rolled back"
        );

        let txn = db.begin_write().unwrap();
        txn.insert("y", 2).unwrap();
        txn.commit().unwrap();
        assert_eq!(db.write_lock().status().unwrap(), LockStatus::Free);
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
        let err = Database::open(&path).unwrap_err();
        assert!(
            err.to_string()
                .contains("newer than this records-host supports"),
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
        assert!(matches!(err, Error::OpenDatabase { .. }), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), junk);
    }
}
