//! The two backends behind the seam: [`Backend`], the enum a
//! `Database` holds, and [`Store`], what both answer alike.
//!
//! The operations whose shape is the same on both backends (reads, the lock's
//! status and metrics, the size cap, the holder label) are methods of [`Store`],
//! reached through [`Backend::store`]: the backend is matched there once rather
//! than once per operation. What differs in shape (opening, beginning a
//! transaction, a single write) is matched once, in the operation itself.

use std::path::Path;

use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use crate::lock::{LockMetrics, LockStatus, WriteLock};
use crate::record_error::{RecordError, RecordId};
use crate::store::location::Location;
use crate::store::record::Record;

/// An open store, on one backend or the other.
#[derive(Debug)]
pub(super) enum Backend {
    Sqlite(SqliteStore),
    Postgres(Box<PgStore>),
}

impl Backend {
    /// The store, for the operations both backends answer alike.
    pub(super) fn store(&self) -> &dyn Store {
        match self {
            Self::Sqlite(s) => s,
            Self::Postgres(p) => &**p,
        }
    }
}

/// What both backends answer alike. Reads take no lock.
pub(super) trait Store {
    /// Where the database is: for SQLite, the file it resolved to.
    fn location(&self) -> Location;
    /// The SQLite file, resolved; `None` on PostgreSQL.
    fn path(&self) -> Option<&Path>;
    /// The SQLite write lock; `None` on PostgreSQL.
    fn write_lock(&self) -> Option<&WriteLock>;
    /// Whether the write lock is held now, and by whom.
    fn lock_status(&self) -> Result<LockStatus, RecordError>;
    /// This process's acquisitions of the write lock.
    fn lock_metrics(&self) -> LockMetrics;
    /// Caps the database at about `bytes`.
    fn set_max_size(&self, bytes: u64) -> Result<(), RecordError>;
    /// Tells whoever waits for the lock that `label` is the writer.
    fn set_label(&self, label: &str) -> Result<(), RecordError>;
    /// The record with this id, or `None`.
    fn get(&self, id: RecordId) -> Result<Option<Record>, RecordError>;
    /// Records with id greater than `after`, ascending, at most `limit`.
    fn scan(&self, after: Option<RecordId>, limit: u32) -> Result<Vec<Record>, RecordError>;
    /// How many records there are.
    fn count(&self) -> Result<u64, RecordError>;
}

impl Store for SqliteStore {
    fn location(&self) -> Location {
        Location::File(SqliteStore::path(self).to_path_buf())
    }

    fn path(&self) -> Option<&Path> {
        Some(SqliteStore::path(self))
    }

    fn write_lock(&self) -> Option<&WriteLock> {
        Some(self.lock())
    }

    fn lock_status(&self) -> Result<LockStatus, RecordError> {
        SqliteStore::lock_status(self)
    }

    fn lock_metrics(&self) -> LockMetrics {
        SqliteStore::lock_metrics(self)
    }

    fn set_max_size(&self, bytes: u64) -> Result<(), RecordError> {
        SqliteStore::set_max_size(self, bytes)
    }

    /// SQLite writes the label into the holder record at each acquisition.
    fn set_label(&self, _label: &str) -> Result<(), RecordError> {
        Ok(())
    }

    fn get(&self, id: RecordId) -> Result<Option<Record>, RecordError> {
        SqliteStore::get(self, id)
    }

    fn scan(&self, after: Option<RecordId>, limit: u32) -> Result<Vec<Record>, RecordError> {
        SqliteStore::scan(self, after, limit)
    }

    fn count(&self) -> Result<u64, RecordError> {
        SqliteStore::count(self)
    }
}

impl Store for PgStore {
    fn location(&self) -> Location {
        Location::Postgres(PgStore::location(self).clone())
    }

    fn path(&self) -> Option<&Path> {
        None
    }

    fn write_lock(&self) -> Option<&WriteLock> {
        None
    }

    fn lock_status(&self) -> Result<LockStatus, RecordError> {
        PgStore::lock_status(self)
    }

    fn lock_metrics(&self) -> LockMetrics {
        PgStore::lock_metrics(self)
    }

    fn set_max_size(&self, bytes: u64) -> Result<(), RecordError> {
        PgStore::set_max_size(self, bytes);
        Ok(())
    }

    fn set_label(&self, label: &str) -> Result<(), RecordError> {
        PgStore::set_label(self, label)
    }

    fn get(&self, id: RecordId) -> Result<Option<Record>, RecordError> {
        PgStore::get(self, id)
    }

    fn scan(&self, after: Option<RecordId>, limit: u32) -> Result<Vec<Record>, RecordError> {
        PgStore::scan(self, after, limit)
    }

    fn count(&self) -> Result<u64, RecordError> {
        PgStore::count(self)
    }
}
