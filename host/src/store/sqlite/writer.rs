//! The statements that write a SQLite store, reachable only through a [`Writer`],
//! which is made only from a [`Locked`]: proof that the store's own write lock is
//! held (`locked.rs`).

use rusqlite::{Connection, OptionalExtension, params};

use super::locked::Locked;
use super::sql;
use crate::record_error::{RecordError, RecordId};
use crate::store::record::found;
use crate::store::record::{Record, record_from_row};

/// The right to write one SQLite store: its connection, borrowed for as long as
/// the store's own write lock is held. Made only from a [`Locked`], by
/// `SqliteStore` (single writes) and `Txn` (write transactions).
pub(crate) struct Writer<'a> {
    conn: &'a Connection,
}

impl<'a> Writer<'a> {
    /// A writer over the connection that `locked` proves is under its own lock.
    pub(super) fn new(locked: Locked<'a>) -> Self {
        Self {
            conn: locked.conn(),
        }
    }

    /// The record with this id, as the writer sees it (its own writes included).
    /// The connection, inside the transaction that holds the lock: for the
    /// deployed versions' statements (`deploy.rs`).
    pub(in crate::store) fn locked_conn(&self) -> &Connection {
        self.conn
    }

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
        found(changed as u64, id)
    }

    /// Removes record `id`; [`RecordError::NotFound`] when there is none.
    pub(crate) fn delete(&self, id: RecordId) -> Result<(), RecordError> {
        let changed = self
            .conn
            .prepare_cached(sql::DELETE)?
            .execute(params![id])?;
        found(changed as u64, id)
    }
}
