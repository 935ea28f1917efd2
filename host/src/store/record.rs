//! The record: what the store keeps and the WIT `record` carries.

use crate::error::RecordId;

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
