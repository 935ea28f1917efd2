//! Values read from rows, without panicking: a column whose type another
//! program changed (`ALTER TABLE .. ALTER value TYPE numeric`) is a storage
//! error of one line, naming the column and nothing of the database's address.

use postgres::Row;
use postgres::types::FromSql;

use crate::display::{error_chain, escape_control};
use crate::record_error::{RecordError, StorageError};
use crate::store::record::Record;

/// The value of column `idx` of `row`, as a `T`.
///
/// # Errors
/// [`RecordError::Storage`] when the column holds another type (or is missing).
pub(super) fn column<'a, T: FromSql<'a>>(row: &'a Row, idx: usize) -> Result<T, RecordError> {
    row.try_get(idx).map_err(|e| unexpected_type(row, idx, &e))
}

/// The record a row of `get` or `scan` (`id, name, value`) holds.
pub(super) fn record(row: &Row) -> Result<Record, RecordError> {
    Ok(Record {
        id: column(row, 0)?,
        name: column(row, 1)?,
        value: column(row, 2)?,
    })
}

/// The storage error of a value that is not of the type records-host reads.
fn unexpected_type(row: &Row, idx: usize, e: &postgres::Error) -> RecordError {
    let name = row.columns().get(idx).map_or("?", |c| c.name());
    // The client's own text says "error deserializing column <n>"; its cause says why.
    let why = std::error::Error::source(e).map_or_else(|| e.to_string(), error_chain);
    RecordError::Storage(StorageError::with_detail(
        format!(
            "a stored value has an unexpected type (column {})",
            escape_control(name)
        ),
        escape_control(&why),
    ))
}
