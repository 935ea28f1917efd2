//! What the database's catalog says about schemas, read only: which exist, and
//! whether one is records-host's (`records` and `records_host_meta`, with the
//! version of the layout), empty, or another application's. `schema.rs` creates
//! schemas from this, and `legacy.rs` carries old ones over.

use postgres::Client;
use postgres::error::SqlState;
use postgres::types::Type;

use super::error::pg_error;
use super::row::column;
use super::sql;
use crate::record_error::{RecordError, StorageError};
use crate::store::location::PgLocation;

/// What a schema holds, as far as records-host is concerned.
pub(super) enum Kind {
    Empty,
    Ours {
        version: i64,
    },
    Foreign(&'static str),
    /// Renamed or dropped between the catalog read and the version read:
    /// another host carried it over (`legacy.rs`) while this one looked. Read
    /// it again under its lock before acting on it.
    Gone,
}

/// Which of `names` are schemas of the database.
pub(super) fn existing(
    client: &mut Client,
    location: &PgLocation,
    names: &[&str],
) -> Result<Vec<String>, RecordError> {
    client
        .query_typed(sql::SCHEMAS, &[(&names, Type::TEXT_ARRAY)])
        .map_err(|e| pg_error(location, &e, "cannot read the schemas"))?
        .iter()
        .map(|row| column(row, 0))
        .collect()
}

/// What `schema` (of `location`'s database) holds.
pub(super) fn kind(
    client: &mut Client,
    location: &PgLocation,
    schema: &str,
) -> Result<Kind, RecordError> {
    let failed = |e: postgres::Error| pg_error(location, &e, "cannot read the schema");
    let tables: Vec<String> = client
        .query_typed(sql::TABLES, &[(&schema, Type::TEXT)])
        .map_err(failed)?
        .iter()
        .map(|row| column(row, 0))
        .collect::<Result<_, _>>()?;
    let has = |name: &str| tables.iter().any(|t| t == name);
    match (has("records"), has(sql::META_TABLE)) {
        (false, false) => Ok(Kind::Empty),
        (true, false) => Ok(Kind::Foreign(
            "a table `records` exists without records-host's marks",
        )),
        (false, true) => Ok(Kind::Foreign(
            "records-host's meta table exists without `records`",
        )),
        (true, true) => {
            let row = match client.query_typed_opt(&sql::version(schema), &[]) {
                Ok(row) => row,
                Err(e) if vanished(&e) => return Ok(Kind::Gone),
                Err(e) => return Err(failed(e)),
            };
            let text: Option<String> = row.map(|row| column(&row, 0)).transpose()?;
            let version = text
                .and_then(|text| text.parse::<i64>().ok())
                .ok_or_else(|| {
                    RecordError::Storage(StorageError::with_detail(
                        "the schema has no valid version",
                        location.to_string(),
                    ))
                })?;
            Ok(Kind::Ours { version })
        }
    }
}

/// Whether `e` says the table or its schema no longer exists: the schema was
/// renamed or dropped since the catalog listed its tables.
fn vanished(e: &postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNDEFINED_TABLE) || e.code() == Some(&SqlState::INVALID_SCHEMA_NAME)
}

#[cfg(test)]
#[path = "catalog_tests.rs"]
mod tests;
