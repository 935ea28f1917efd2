//! Which PostgreSQL schemas are records-host's, and creating one.
//!
//! A records-host schema holds `records` and `records_host_meta`, whose
//! `schema_version` row says which version of the layout it has. A schema that
//! holds neither is made records-host's: the schema is created on its own first
//! when it is missing (its lock is keyed by its OID, so it must exist before the
//! lock can be taken; `lock.rs`), then the tables are created through the
//! schema's `Locked` token (`locked.rs`), after checking again under it; an
//! older layout is brought up to date the same way (`sql::upgrade`). A newer version,
//! or a `records` table that is not records-host's, is refused with one line and
//! left alone. A tenant's schema that an older release named otherwise is carried
//! over first (`legacy.rs`).

use postgres::Client;
use postgres::error::SqlState;

use super::catalog::{Kind, existing, kind};
use super::error::pg_error;
use super::legacy;
use super::locked::{Acquire, LockFailure, Locked};
use super::sql::{self, SCHEMA_VERSION, Text};
use crate::record_error::{RecordError, StorageError};
use crate::store::location::PgLocation;

/// How many times to create a missing schema while concurrent creators make the
/// attempt fail and then roll back.
const CREATE_TRIES: usize = 5;

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
    match checked(client, location)? {
        Kind::Ours { version } if version >= SCHEMA_VERSION => return current(location, version),
        // An older layout: upgraded under the lock below.
        Kind::Ours { .. } => {}
        _ => {
            legacy::carry_over(client, location, acquire)?;
            create_schema(client, location)?;
        }
    }
    let mut lock = match Locked::take(client, acquire) {
        Ok(lock) => lock,
        Err(LockFailure::TimedOut(timeout)) => return Err(timeout.into()),
        Err(LockFailure::Statement(e)) => return Err(failed(location, &e)),
    };
    match create_tables(&mut lock, location, text) {
        Ok(()) => {
            lock.commit().map_err(|e| failed(location, &e))?;
            tracing::info!(schema = location.schema(), "schema ready");
            Ok(())
        }
        Err(e) => {
            let _ = lock.rollback();
            Err(e)
        }
    }
}

/// Creates the tables of `location`'s schema under the schema's `lock`, or
/// brings an older layout up to date, unless another host did it while this one
/// waited for the lock.
fn create_tables(
    lock: &mut Locked<'_>,
    location: &PgLocation,
    text: &Text,
) -> Result<(), RecordError> {
    let client = lock.client_for(location.schema())?;
    match checked(client, location)? {
        Kind::Ours { version } if version < SCHEMA_VERSION => {
            tracing::info!(
                schema = location.schema(),
                from = version,
                to = SCHEMA_VERSION,
                "schema upgraded"
            );
            client
                .batch_execute(&sql::upgrade(location.schema(), version))
                .map_err(|e| failed(location, &e))
        }
        Kind::Ours { version } => current(location, version),
        _ => client
            .batch_execute(&text.create)
            .map_err(|e| failed(location, &e)),
    }
}

fn failed(location: &PgLocation, e: &postgres::Error) -> RecordError {
    pg_error(location, e, "cannot create the schema")
}

/// Creates `location`'s schema, on its own, when it does not exist.
fn create_schema(client: &mut Client, location: &PgLocation) -> Result<(), RecordError> {
    let schema = location.schema();
    let statement = format!("CREATE SCHEMA IF NOT EXISTS {}", sql::quote(schema));
    for _ in 0..CREATE_TRIES {
        if !existing(client, location, &[schema])?.is_empty() {
            return Ok(());
        }
        match client.batch_execute(&statement) {
            Ok(()) => return Ok(()),
            // A concurrent creator inserted the same name first: `IF NOT EXISTS`
            // checks before inserting, so this one fails the unique index. Look
            // again: it exists unless that creator rolled back.
            Err(e)
                if e.code() == Some(&SqlState::UNIQUE_VIOLATION)
                    || e.code() == Some(&SqlState::DUPLICATE_SCHEMA) => {}
            Err(e) => return Err(failed(location, &e)),
        }
    }
    Err(RecordError::Storage(StorageError::with_detail(
        "cannot create the schema: other sessions kept creating it and rolling back",
        location.to_string(),
    )))
}

fn current(location: &PgLocation, version: i64) -> Result<(), RecordError> {
    if version > SCHEMA_VERSION {
        return Err(RecordError::Storage(StorageError::with_detail(
            format!(
                "schema version {version} is newer than this records-host supports ({SCHEMA_VERSION})"
            ),
            location.to_string(),
        )));
    }
    Ok(())
}

/// What the schema holds; `Err` for one records-host must not touch.
fn checked(client: &mut Client, location: &PgLocation) -> Result<Kind, RecordError> {
    match kind(client, location, location.schema())? {
        Kind::Foreign(what) => Err(RecordError::Storage(StorageError::with_detail(
            format!("{what}; it is not a records-host schema, so it was left untouched"),
            location.to_string(),
        ))),
        kind => Ok(kind),
    }
}
