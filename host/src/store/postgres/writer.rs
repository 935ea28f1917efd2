//! The statements that write a PostgreSQL store, reachable only through a
//! [`Writer`], which is made only from the [`Locked`] token of the schema it
//! writes (`locked.rs`), so only inside a transaction that holds its lock.

use postgres::Client;

use super::error::statement_error;
use super::locked::Locked;
use super::row::{column, record};
use super::sql::Text;
use super::statements::{self, Reuse};
use crate::record_error::{RecordError, RecordId};
use crate::store::location::PgLocation;
use crate::store::record::Record;
use crate::store::record::found;

/// What a row costs beyond its name, in the table and its primary-key index
/// (tuple header, line pointer, id, value, index entry), for the size estimate.
const ROW_OVERHEAD: u64 = 64;

/// The size limit of a schema's `records` table, and the table's size: as read
/// when the lock was taken, plus an estimate of each row inserted since (so one
/// transaction cannot insert past the limit either).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SizeLimit {
    /// The limit, in bytes.
    pub(crate) limit: u64,
    /// The table's estimated size, in bytes.
    pub(crate) estimated: u64,
}

impl SizeLimit {
    /// Counts a row named `name` in, unless the table has reached the limit.
    fn admit(&mut self, name: &str) -> Result<(), RecordError> {
        if self.estimated >= self.limit {
            return Err(RecordError::storage(
                "the database is full: it reached its size limit (or the disk is full)",
            ));
        }
        self.estimated = self
            .estimated
            .saturating_add(ROW_OVERHEAD + name.len() as u64);
        Ok(())
    }
}

/// The right to write one schema: a connection inside a transaction that holds
/// the schema's advisory lock, borrowed from the [`Locked`] token that proves it.
pub(crate) struct Writer<'a> {
    client: &'a mut Client,
    text: &'a Text,
    location: &'a PgLocation,
    size_limit: Option<SizeLimit>,
    /// The transaction's prepared statements, for a write transaction.
    reuse: Option<&'a mut Reuse>,
}

impl<'a> Writer<'a> {
    /// A writer of `location`'s schema, through `lock`.
    ///
    /// # Errors
    /// [`RecordError::Storage`] when `lock` holds another schema's lock.
    pub(super) fn new(
        lock: &'a mut Locked<'_>,
        text: &'a Text,
        location: &'a PgLocation,
        size_limit: Option<SizeLimit>,
    ) -> Result<Self, RecordError> {
        Ok(Self {
            client: lock.client_for(location.schema())?,
            text,
            location,
            size_limit,
            reuse: None,
        })
    }

    /// The same writer, preparing the statements it runs often in `reuse`
    /// (which the transaction clears before it ends).
    pub(super) fn reusing(mut self, reuse: &'a mut Reuse) -> Self {
        self.reuse = Some(reuse);
        self
    }

    /// The size limit and the table's estimated size after this writer's inserts
    /// (a transaction carries it to its next writer).
    /// The client, inside the transaction that holds the schema's lock, and the
    /// schema's location: for the deployed versions' statements (`deploy.rs`).
    pub(in crate::store) fn locked_client(&mut self) -> (&mut Client, &PgLocation) {
        (self.client, self.location)
    }

    pub(super) fn size_limit(&self) -> Option<SizeLimit> {
        self.size_limit
    }

    /// The record with this id, as the transaction sees it.
    pub(crate) fn get(&mut self, id: RecordId) -> Result<Option<Record>, RecordError> {
        let row = statements::get(self.client, self.text, self.reuse.as_deref_mut(), id)
            .map_err(|e| statement_error(self.location, &e))?;
        row.map(|row| record(&row)).transpose()
    }

    /// Stores a new record and returns its id; refused when the schema's table has
    /// reached the size limit.
    pub(crate) fn insert(&mut self, name: &str, value: i64) -> Result<RecordId, RecordError> {
        if let Some(size_limit) = &mut self.size_limit {
            size_limit.admit(name)?;
        }
        let row = statements::insert(
            self.client,
            self.text,
            self.reuse.as_deref_mut(),
            name,
            value,
        )
        .map_err(|e| statement_error(self.location, &e))?;
        column(&row, 0)
    }

    /// Sets the value of record `id`; [`RecordError::NotFound`] when there is none.
    pub(crate) fn update(&mut self, id: RecordId, value: i64) -> Result<(), RecordError> {
        let changed =
            statements::update(self.client, self.text, self.reuse.as_deref_mut(), id, value)
                .map_err(|e| statement_error(self.location, &e))?;
        found(changed, id)
    }

    /// Removes record `id`; [`RecordError::NotFound`] when there is none.
    pub(crate) fn delete(&mut self, id: RecordId) -> Result<(), RecordError> {
        let changed = statements::delete(self.client, self.text, self.reuse.as_deref_mut(), id)
            .map_err(|e| statement_error(self.location, &e))?;
        found(changed, id)
    }
}
