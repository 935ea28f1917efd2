//! [`Database`]: an open record database on either backend, its reads, its
//! single writes and its write transactions. The deployed versions' operations
//! on it are in `deploy/`.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use super::backend::Backend;
use super::error::Error;
use super::location::{Location, PgLocation};
use super::options::DatabaseOptions;
use super::postgres::{self, PgStore, Pool};
use super::record::Record;
use super::sqlite::SqliteStore;
use super::txn::{BackendTxn, WriteTxn};
use super::writer::Writer;
use crate::lock::{LockMetrics, LockStatus};
use crate::record_error::{RecordError, RecordId};
/// RFC 3339 stops at year 9999; later deadlines are shown as `never`.
const MAX_DISPLAYABLE: Duration = Duration::from_secs(253_402_300_799);

/// An open record database, on either backend, and its write lock.
///
/// One `Database` is one connection: it is `Send` and `Sync`, and its operations
/// take turns on the connection. A transaction from
/// [`begin_write`](Self::begin_write) shares the connection, so reads through the
/// `Database` while it is open see its uncommitted writes.
#[derive(Debug)]
pub struct Database {
    pub(super) backend: Backend,
    holder_label: String,
    txn_deadline: Duration,
}

impl Database {
    /// Opens the database at `location` with default options: a SQLite file
    /// (created when missing, with its directory; the path is resolved first and
    /// the lock file is `db.lock` beside the file it resolves to), or a
    /// PostgreSQL URL (`postgres://` or `postgresql://`; the schema is created on
    /// first use).
    ///
    /// # Errors
    /// [`Error::Open`], naming the database, when it cannot be opened or reached,
    /// is another application's database ([`Error::Foreign`], left untouched), has
    /// a newer schema than this build knows ([`Error::NewerSchema`]), or the write
    /// lock needed to create the schema could not be taken ([`Error::LockTimeout`];
    /// see [`Error::lock_timeout`]).
    pub fn open(location: impl Into<Location>) -> Result<Self, Error> {
        Self::open_with(location, DatabaseOptions::default())
    }

    /// Opens the database at `location` with `options`; see [`open`](Self::open).
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_with(
        location: impl Into<Location>,
        options: DatabaseOptions,
    ) -> Result<Self, Error> {
        Self::open_from(location.into(), options, None)
    }

    /// Opens `location` with a connection from `pool` when it is on PostgreSQL.
    pub(crate) fn open_from(
        location: Location,
        options: DatabaseOptions,
        pool: Option<&Pool>,
    ) -> Result<Self, Error> {
        let backend = match &location {
            Location::File(path) => {
                SqliteStore::open(path, options.lock_timeout, &options.holder_label)
                    .map(Backend::Sqlite)
            }
            Location::Postgres(pg) => PgStore::open(
                pg,
                &options.holder_label,
                options.lock_timeout,
                options.txn_deadline,
                pool,
            )
            .map(|store| Backend::Postgres(Box::new(store)))
            .map_err(Error::from),
        };
        match backend {
            Ok(backend) => Ok(Self {
                backend,
                holder_label: options.holder_label,
                txn_deadline: options.txn_deadline,
            }),
            Err(source) => Err(Error::Open {
                location,
                source: Box::new(source),
            }),
        }
    }

    /// Where the database is: for SQLite, the file it resolved to.
    pub fn location(&self) -> Location {
        self.backend.store().location()
    }

    /// The SQLite file, resolved (canonical); `None` on PostgreSQL.
    pub fn path(&self) -> Option<&Path> {
        self.backend.store().path()
    }

    /// Whether the write lock is held now, and by whom (as
    /// [`lock_status_at`] tells it).
    ///
    /// # Errors
    /// [`RecordError::Storage`] when the lock's state cannot be read.
    pub fn lock_status(&self) -> Result<LockStatus, RecordError> {
        self.backend.store().lock_status()
    }

    /// This process's acquisitions of the write lock: how many, how many had to
    /// wait, timeouts, and the total and longest wait.
    pub fn lock_metrics(&self) -> LockMetrics {
        self.backend.store().lock_metrics()
    }

    /// The SQLite write lock, for code that holds it directly (tests, tools);
    /// `None` on PostgreSQL.
    pub fn write_lock(&self) -> Option<&crate::lock::WriteLock> {
        self.backend.store().write_lock()
    }

    /// Caps the database at about `bytes`: a write that would grow it further
    /// fails with a `storage` error saying the database is full, and what was
    /// stored stays intact. SQLite: the file (`PRAGMA max_page_count`);
    /// PostgreSQL: the `records` table of this schema, checked at each insert.
    ///
    /// # Errors
    /// [`RecordError::Storage`] when the store fails.
    pub fn set_max_size(&self, bytes: u64) -> Result<(), RecordError> {
        self.backend.store().set_max_size(bytes)
    }

    /// Sets who this database's writer is, for whoever waits for its lock (see
    /// [`DatabaseOptions::holder_label`]).
    ///
    /// # Errors
    /// [`RecordError::Storage`] when a PostgreSQL session cannot be renamed.
    pub fn set_holder_label(&mut self, label: impl Into<String>) -> Result<(), RecordError> {
        self.holder_label = label.into();
        self.backend.store().set_label(&self.holder_label)
    }

    /// The record with this id, or `None`. Takes no lock.
    ///
    /// # Errors
    /// [`RecordError::Storage`] when the store fails.
    pub fn get(&self, id: RecordId) -> Result<Option<Record>, RecordError> {
        self.backend.store().get(id)
    }

    /// Records with id greater than `after` (all when `None`), ascending by id, at
    /// most `limit` of them. Takes no lock.
    ///
    /// # Errors
    /// [`RecordError::Storage`] when the store fails.
    pub fn scan(&self, after: Option<RecordId>, limit: u32) -> Result<Vec<Record>, RecordError> {
        self.backend.store().scan(after, limit)
    }

    /// How many records there are. Takes no lock.
    ///
    /// # Errors
    /// [`RecordError::Storage`] when the store fails.
    pub fn count(&self) -> Result<u64, RecordError> {
        self.backend.store().count()
    }

    /// Takes the write lock (waiting up to the lock timeout) and opens a write
    /// transaction that may stay open across calls until its deadline
    /// ([`DatabaseOptions::txn_deadline`]). Commit with [`WriteTxn::commit`];
    /// dropping it rolls back; at the deadline the host rolls it back. Each way the
    /// lock is released right after.
    ///
    /// # Errors
    /// [`RecordError::LockTimeout`] when another writer held the lock past the
    /// timeout; [`RecordError::Invalid`] when a transaction of this `Database` is
    /// already open (waiting for it would wait forever); [`RecordError::Storage`]
    /// when the store fails.
    pub fn begin_write(&self) -> Result<WriteTxn, RecordError> {
        self.begin_write_by(None)
    }

    /// Like [`begin_write`](Self::begin_write), giving up waiting for the lock at
    /// `cap` if that comes first (a plugin call's deadline).
    pub(crate) fn begin_write_by(&self, cap: Option<Instant>) -> Result<WriteTxn, RecordError> {
        // The deadline counts from here, before the lock is taken, so that the one
        // written into the holder record is the one the reaper enforces. A deadline
        // too far to represent is none.
        let deadline = Instant::now()
            .checked_add(self.txn_deadline)
            .map(|at| (at, self.txn_deadline));
        let open = self.begin(&self.txn_label(), cap, deadline.map(|(at, _)| at))?;
        Ok(WriteTxn::begun(open, deadline))
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
        let txn = WriteTxn::begun(self.begin(&self.holder_label, None, None)?, None);
        let value = write(&txn)?;
        txn.commit()?;
        Ok(value)
    }

    /// Stores a new record under the write lock, as one write (atomic by itself).
    ///
    /// # Errors
    /// As [`write`](Self::write).
    pub fn insert(&self, name: &str, value: i64) -> Result<RecordId, RecordError> {
        self.write_one(None, |w| w.insert(name, value))
    }

    /// Sets the value of record `id` under the write lock, as one write.
    ///
    /// # Errors
    /// [`RecordError::NotFound`] when no record has this id; otherwise as
    /// [`write`](Self::write).
    pub fn update(&self, id: RecordId, value: i64) -> Result<(), RecordError> {
        self.write_one(None, |w| w.update(id, value))
    }

    /// Removes record `id` under the write lock, as one write.
    ///
    /// # Errors
    /// As [`update`](Self::update).
    pub fn delete(&self, id: RecordId) -> Result<(), RecordError> {
        self.write_one(None, |w| w.delete(id))
    }

    /// Takes the write lock (giving up at the lock's timeout, or at `cap` if that
    /// comes first), runs `op` with the writer the lock hands out, as one write,
    /// and releases the lock.
    pub(crate) fn write_one<T>(
        &self,
        cap: Option<Instant>,
        op: impl FnOnce(&mut Writer<'_, '_>) -> Result<T, RecordError>,
    ) -> Result<T, RecordError> {
        match &self.backend {
            Backend::Sqlite(s) => {
                s.write_one(&self.holder_label, cap, |w| op(&mut Writer::Sqlite(w)))
            }
            Backend::Postgres(p) => p.write_one(cap, |w| op(&mut Writer::Postgres(w))),
        }
    }

    /// Takes the write lock (labelled `label` on SQLite; giving up at the lock's
    /// timeout or at `cap`) and begins the backend's transaction, which PostgreSQL
    /// ends itself at `deadline` if the host has not.
    fn begin(
        &self,
        label: &str,
        cap: Option<Instant>,
        deadline: Option<Instant>,
    ) -> Result<BackendTxn, RecordError> {
        Ok(match &self.backend {
            Backend::Sqlite(s) => BackendTxn::Sqlite(s.begin(label, cap)?),
            Backend::Postgres(p) => BackendTxn::Postgres(p.begin(cap, deadline)?),
        })
    }

    /// The holder label of a transaction: it says it is one, and until when.
    fn txn_label(&self) -> String {
        let until = SystemTime::now()
            .checked_add(self.txn_deadline)
            .filter(|until| *until < SystemTime::UNIX_EPOCH + MAX_DISPLAYABLE)
            .map_or_else(
                || "never".to_string(),
                |until| humantime::format_rfc3339_millis(until).to_string(),
            );
        format!("{}\ntxn:open until:{until}", self.holder_label)
            .trim_start()
            .to_string()
    }
}

/// A bounded pool of connections to `location`'s server, for a long-lived host.
pub(crate) fn pool(location: &PgLocation, size: u32) -> Pool {
    postgres::pool(location, size)
}

#[cfg(test)]
#[path = "txn_tests.rs"]
mod txn_tests;
