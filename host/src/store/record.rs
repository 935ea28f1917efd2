//! The record: what the store keeps and the WIT `record` carries, and what a
//! statement aimed at one record means when it changed no row.

use crate::record_error::{RecordError, RecordId};

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

pub(crate) fn record_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Record> {
    Ok(Record {
        id: row.get(0)?,
        name: row.get(1)?,
        value: row.get(2)?,
    })
}

/// `Ok` when a statement that targets record `id` changed a row;
/// [`RecordError::NotFound`] when it changed none. For both backends' writers.
pub(crate) fn found(changed: u64, id: RecordId) -> Result<(), RecordError> {
    if changed == 0 {
        Err(RecordError::NotFound(id))
    } else {
        Ok(())
    }
}
