//! Which PostgreSQL schemas are records-host's, and creating one.
//!
//! A records-host schema holds `records` and `records_host_meta`, whose
//! `schema_version` row says which version of the layout it has. A schema is
//! created (with both tables) under the schema's advisory lock when it holds
//! neither; a newer version, or a `records` table that is not records-host's, is
//! refused with one line and left alone.

use postgres::Client;

use super::error::pg_error;
use super::lock::{Acquire, LockFailure, begin_locked};
use super::row::column;
use super::sql::{self, SCHEMA_VERSION, Text};
use crate::error::RecordError;
use crate::location::PgLocation;

/// What a schema holds, as far as records-host is concerned.
enum Kind {
    Empty,
    Ours { version: i64 },
    Foreign(&'static str),
}

/// Makes sure `location`'s schema is records-host's and current, creating it
/// when it holds nothing yet (under the lock `acquire` describes).
///
/// # Errors
/// [`RecordError::Storage`] for a foreign or newer schema, or a failed statement;
/// [`RecordError::LockTimeout`] when the lock needed to create it is held.
pub(crate) fn prepare(
    client: &mut Client,
    location: &PgLocation,
    text: &Text,
    acquire: &Acquire<'_>,
) -> Result<(), RecordError> {
    if let Kind::Ours { version } = checked(client, location, text)? {
        return current(location, version);
    }
    match begin_locked(client, acquire) {
        Ok(_) => {}
        Err(LockFailure::TimedOut(timeout)) => return Err(timeout.into()),
        Err(LockFailure::Statement(e)) => {
            return Err(pg_error(location, &e, "cannot create the schema"));
        }
    }
    // Another host may have created it while this one waited for the lock.
    let created = match checked(client, location, text) {
        Ok(Kind::Ours { version }) => current(location, version),
        Ok(_) => client
            .batch_execute(&text.create)
            .map_err(|e| pg_error(location, &e, "cannot create the schema")),
        Err(e) => Err(e),
    };
    match created {
        Ok(()) => {
            client
                .batch_execute("COMMIT")
                .map_err(|e| pg_error(location, &e, "cannot create the schema"))?;
            tracing::info!(schema = location.schema(), "schema ready");
            Ok(())
        }
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK");
            Err(e)
        }
    }
}

fn current(location: &PgLocation, version: i64) -> Result<(), RecordError> {
    if version > SCHEMA_VERSION {
        return Err(RecordError::Storage(format!(
            "{location}: schema version {version} is newer than this records-host supports ({SCHEMA_VERSION})"
        )));
    }
    Ok(())
}

/// What the schema holds; `Err` for one records-host must not touch.
fn checked(client: &mut Client, location: &PgLocation, text: &Text) -> Result<Kind, RecordError> {
    match kind(client, location, text)? {
        Kind::Foreign(what) => Err(RecordError::Storage(format!(
            "{location}: {what}; it is not a records-host schema, so it was left untouched"
        ))),
        kind => Ok(kind),
    }
}

fn kind(client: &mut Client, location: &PgLocation, text: &Text) -> Result<Kind, RecordError> {
    let failed = |e: postgres::Error| pg_error(location, &e, "cannot read the schema");
    let tables: Vec<String> = client
        .query(sql::TABLES, &[&location.schema()])
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
            let row = client.query_opt(&text.version, &[]).map_err(failed)?;
            let text: Option<String> = row.map(|row| column(&row, 0)).transpose()?;
            let version = text
                .and_then(|text| text.parse::<i64>().ok())
                .ok_or_else(|| {
                    RecordError::Storage(format!("{location}: the schema has no valid version"))
                })?;
            Ok(Kind::Ours { version })
        }
    }
}
