//! The statements that write a PostgreSQL store, reachable only through a
//! [`Writer`], which exists only inside a transaction that holds the schema's
//! advisory lock.

use postgres::Client;

use super::connection::Prepared;
use super::error::statement_error;
use super::row::{column, record};
use crate::error::{RecordError, RecordId};
use crate::store::location::PgLocation;
use crate::store::record::Record;

/// What a row costs beyond its name, in the table and its primary-key index
/// (tuple header, line pointer, id, value, index entry), for the size estimate.
const ROW_OVERHEAD: u64 = 64;

/// The right to write one schema: a connection inside a transaction that holds
/// the schema's advisory lock. Made only by `PgStore` after `begin_locked`.
pub(crate) struct Writer<'a> {
    client: &'a mut Client,
    prepared: &'a Prepared,
    location: &'a PgLocation,
    /// The size limit, and the table's size: as read when the lock was taken,
    /// plus an estimate of each row inserted since (so one transaction cannot
    /// insert past the limit either).
    room: Option<(u64, u64)>,
}

impl<'a> Writer<'a> {
    pub(super) fn new(
        client: &'a mut Client,
        prepared: &'a Prepared,
        location: &'a PgLocation,
        room: Option<(u64, u64)>,
    ) -> Self {
        Self {
            client,
            prepared,
            location,
            room,
        }
    }

    /// The size limit and the table's estimated size after this writer's inserts
    /// (a transaction carries it to its next writer).
    pub(super) fn room(&self) -> Option<(u64, u64)> {
        self.room
    }

    /// The record with this id, as the transaction sees it.
    pub(crate) fn get(&mut self, id: RecordId) -> Result<Option<Record>, RecordError> {
        let row = self
            .client
            .query_opt(&self.prepared.get, &[&id])
            .map_err(|e| statement_error(self.location, &e))?;
        row.map(|row| record(&row)).transpose()
    }

    /// Stores a new record and returns its id; refused when the schema's table has
    /// reached the size limit.
    pub(crate) fn insert(&mut self, name: &str, value: i64) -> Result<RecordId, RecordError> {
        if let Some((limit, size)) = &mut self.room {
            if *size >= *limit {
                return Err(RecordError::storage(
                    "the database is full: it reached its size limit (or the disk is full)",
                ));
            }
            *size = size.saturating_add(ROW_OVERHEAD + name.len() as u64);
        }
        let row = self
            .client
            .query_one(&self.prepared.insert, &[&name, &value])
            .map_err(|e| statement_error(self.location, &e))?;
        column(&row, 0)
    }

    /// Sets the value of record `id`; [`RecordError::NotFound`] when there is none.
    pub(crate) fn update(&mut self, id: RecordId, value: i64) -> Result<(), RecordError> {
        let changed = self
            .client
            .execute(&self.prepared.update, &[&id, &value])
            .map_err(|e| statement_error(self.location, &e))?;
        found(changed, id)
    }

    /// Removes record `id`; [`RecordError::NotFound`] when there is none.
    pub(crate) fn delete(&mut self, id: RecordId) -> Result<(), RecordError> {
        let changed = self
            .client
            .execute(&self.prepared.delete, &[&id])
            .map_err(|e| statement_error(self.location, &e))?;
        found(changed, id)
    }
}

fn found(changed: u64, id: RecordId) -> Result<(), RecordError> {
    if changed == 0 {
        Err(RecordError::NotFound(id))
    } else {
        Ok(())
    }
}
