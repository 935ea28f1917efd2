//! The statements that write a SQLite store, reachable only through a [`Writer`],
//! which only a held write lock hands out.

use rusqlite::{Connection, OptionalExtension, params};

use super::sql;
use crate::error::{RecordError, RecordId};
use crate::lock::WriteGuard;
use crate::store::record::{Record, record_from_row};

/// The right to write one SQLite store: its connection, borrowed for as long as
/// the store's write lock is held. Made only by `SqliteStore` (single writes) and
/// `Txn` (write transactions), from the guard of the store's own lock.
pub(crate) struct Writer<'a> {
    conn: &'a Connection,
}

impl<'a> Writer<'a> {
    /// A writer over `conn` while `_held` is held. (The guard is the proof; it is
    /// not used otherwise.)
    pub(super) fn new(conn: &'a Connection, _held: &'a WriteGuard) -> Self {
        Self { conn }
    }

    /// The record with this id, as the writer sees it (its own writes included).
    pub(crate) fn get(&self, id: RecordId) -> Result<Option<Record>, RecordError> {
        Ok(self
            .conn
            .prepare_cached(sql::GET)?
            .query_row(params![id], record_from_row)
            .optional()?)
    }

    /// Stores a new record and returns its id.
    pub(crate) fn insert(&self, name: &str, value: i64) -> Result<RecordId, RecordError> {
        self.conn
            .prepare_cached(sql::INSERT)?
            .execute(params![name, value])?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Sets the value of record `id`; [`RecordError::NotFound`] when there is none.
    pub(crate) fn update(&self, id: RecordId, value: i64) -> Result<(), RecordError> {
        let changed = self
            .conn
            .prepare_cached(sql::UPDATE)?
            .execute(params![id, value])?;
        found(changed, id)
    }

    /// Removes record `id`; [`RecordError::NotFound`] when there is none.
    pub(crate) fn delete(&self, id: RecordId) -> Result<(), RecordError> {
        let changed = self
            .conn
            .prepare_cached(sql::DELETE)?
            .execute(params![id])?;
        found(changed, id)
    }
}

fn found(changed: usize, id: RecordId) -> Result<(), RecordError> {
    if changed == 0 {
        Err(RecordError::NotFound(id))
    } else {
        Ok(())
    }
}
