//! The versions on PostgreSQL: rows in the tenant's schema (`plugin_versions`,
//! with the component's bytes, and `plugin_slots`; schema version 2), so that
//! every host serving the database sees the same versions and the same active
//! one. Written under the schema's lock, in the writer's transaction: a version
//! is all there after the commit or not at all.

use postgres::Client;
use postgres::types::Type;

use super::error::statement_error;
use super::row::column;
use super::sql::quote;
use crate::record_error::RecordError;
use crate::store::deploy::version::{ActiveVersion, NewVersion, VersionInfo};
use crate::store::location::PgLocation;

/// A statement of this module, with the schema filled in for `{s}`.
fn sql(location: &PgLocation, text: &str) -> String {
    text.replace("{s}", &quote(location.schema()))
}

const SELECT: &str = "SELECT v.version, v.sha256, v.size, v.created_at, v.uploaded_by,
         v.message, v.passed, v.report, coalesce(s.active = v.version, false)
     FROM {s}.plugin_versions v LEFT JOIN {s}.plugin_slots s ON s.slot = v.slot
     WHERE v.slot = $1";

fn info(row: &postgres::Row) -> Result<VersionInfo, RecordError> {
    let number: i64 = column(row, 0)?;
    let size: i64 = column(row, 2)?;
    Ok(VersionInfo {
        number: u32::try_from(number).unwrap_or(u32::MAX),
        sha256: column(row, 1)?,
        size: size.unsigned_abs(),
        created_at: column(row, 3)?,
        uploaded_by: column(row, 4)?,
        message: column(row, 5)?,
        passed: column(row, 6)?,
        report: column(row, 7)?,
        active: column(row, 8)?,
    })
}

/// The slot's versions, newest first.
pub(crate) fn versions(
    client: &mut Client,
    location: &PgLocation,
    slot: &str,
) -> Result<Vec<VersionInfo>, RecordError> {
    client
        .query_typed(
            &sql(location, &format!("{SELECT} ORDER BY v.version DESC")),
            &[(&slot, Type::TEXT)],
        )
        .map_err(|e| statement_error(location, &e))?
        .iter()
        .map(info)
        .collect()
}

/// One version of the slot.
pub(crate) fn version(
    client: &mut Client,
    location: &PgLocation,
    slot: &str,
    number: u32,
) -> Result<Option<VersionInfo>, RecordError> {
    client
        .query_typed_opt(
            &sql(location, &format!("{SELECT} AND v.version = $2")),
            &[(&slot, Type::TEXT), (&i64::from(number), Type::INT8)],
        )
        .map_err(|e| statement_error(location, &e))?
        .as_ref()
        .map(info)
        .transpose()
}

/// The slot's active version.
pub(crate) fn active(
    client: &mut Client,
    location: &PgLocation,
    slot: &str,
) -> Result<Option<ActiveVersion>, RecordError> {
    let row = client
        .query_typed_opt(
            &sql(
                location,
                "SELECT v.version, v.sha256 FROM {s}.plugin_slots s
                 JOIN {s}.plugin_versions v ON v.slot = s.slot AND v.version = s.active
                 WHERE s.slot = $1",
            ),
            &[(&slot, Type::TEXT)],
        )
        .map_err(|e| statement_error(location, &e))?;
    row.map(|row| {
        let number: i64 = column(&row, 0)?;
        Ok(ActiveVersion {
            number: u32::try_from(number).unwrap_or(u32::MAX),
            sha256: column(&row, 1)?,
        })
    })
    .transpose()
}

/// The bytes of version `number`.
pub(crate) fn wasm(
    client: &mut Client,
    location: &PgLocation,
    slot: &str,
    number: u32,
) -> Result<Option<Vec<u8>>, RecordError> {
    client
        .query_typed_opt(
            &sql(
                location,
                "SELECT wasm FROM {s}.plugin_versions WHERE slot = $1 AND version = $2",
            ),
            &[(&slot, Type::TEXT), (&i64::from(number), Type::INT8)],
        )
        .map_err(|e| statement_error(location, &e))?
        .map(|row| column(&row, 0))
        .transpose()
}

/// Under the lock, in the writer's transaction: stores `new` as the slot's next
/// version, then keeps the newest `keep` versions and the active one.
pub(crate) fn add(
    client: &mut Client,
    location: &PgLocation,
    slot: &str,
    new: &NewVersion<'_>,
    sha256: &str,
    created_at: &str,
    keep: u32,
) -> Result<VersionInfo, RecordError> {
    let failed = |e: postgres::Error| statement_error(location, &e);
    client
        .execute_typed(
            &sql(
                location,
                "INSERT INTO {s}.plugin_slots (slot, active, next_version) VALUES ($1, NULL, 1)
                 ON CONFLICT (slot) DO NOTHING",
            ),
            &[(&slot, Type::TEXT)],
        )
        .map_err(failed)?;
    let row = client
        .query_typed_one(
            &sql(
                location,
                "UPDATE {s}.plugin_slots SET next_version = next_version + 1
                 WHERE slot = $1 RETURNING next_version - 1",
            ),
            &[(&slot, Type::TEXT)],
        )
        .map_err(failed)?;
    let number: i64 = column(&row, 0)?;
    let size = i64::try_from(new.wasm.len()).unwrap_or(i64::MAX);
    client
        .execute_typed(
            &sql(
                location,
                "INSERT INTO {s}.plugin_versions (slot, version, sha256, size, created_at,
                     uploaded_by, message, passed, report, wasm)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            ),
            &[
                (&slot, Type::TEXT),
                (&number, Type::INT8),
                (&sha256, Type::TEXT),
                (&size, Type::INT8),
                (&created_at, Type::TEXT),
                (&new.uploaded_by, Type::TEXT),
                (&new.message, Type::TEXT),
                (&new.passed, Type::BOOL),
                (&new.report, Type::TEXT),
                (&new.wasm, Type::BYTEA),
            ],
        )
        .map_err(failed)?;
    client
        .execute_typed(
            &sql(
                location,
                "DELETE FROM {s}.plugin_versions WHERE slot = $1
                   AND version NOT IN (SELECT version FROM {s}.plugin_versions WHERE slot = $1
                                       ORDER BY version DESC LIMIT $2)
                   AND version <> coalesce(
                       (SELECT active FROM {s}.plugin_slots WHERE slot = $1), 0)",
            ),
            &[(&slot, Type::TEXT), (&i64::from(keep.max(1)), Type::INT8)],
        )
        .map_err(failed)?;
    let number = u32::try_from(number).unwrap_or(u32::MAX);
    version(client, location, slot, number)?
        .ok_or_else(|| RecordError::storage("the stored version could not be read back"))
}

/// Under the lock: whether version `number` passed its checks; `None` when
/// there is no such version.
pub(crate) fn passed(
    client: &mut Client,
    location: &PgLocation,
    slot: &str,
    number: u32,
) -> Result<Option<bool>, RecordError> {
    client
        .query_typed_opt(
            &sql(
                location,
                "SELECT passed FROM {s}.plugin_versions WHERE slot = $1 AND version = $2",
            ),
            &[(&slot, Type::TEXT), (&i64::from(number), Type::INT8)],
        )
        .map_err(|e| statement_error(location, &e))?
        .map(|row| column(&row, 0))
        .transpose()
}

/// Under the lock: the slot's active version number.
pub(crate) fn active_number(
    client: &mut Client,
    location: &PgLocation,
    slot: &str,
) -> Result<Option<u32>, RecordError> {
    let row = client
        .query_typed_opt(
            &sql(
                location,
                "SELECT active FROM {s}.plugin_slots WHERE slot = $1",
            ),
            &[(&slot, Type::TEXT)],
        )
        .map_err(|e| statement_error(location, &e))?;
    let active: Option<i64> = match row {
        Some(row) => column(&row, 0)?,
        None => None,
    };
    Ok(active.and_then(|n| u32::try_from(n).ok()))
}

/// Under the lock: makes `number` the slot's active version.
pub(crate) fn set_active(
    client: &mut Client,
    location: &PgLocation,
    slot: &str,
    number: u32,
) -> Result<(), RecordError> {
    client
        .execute_typed(
            &sql(
                location,
                "UPDATE {s}.plugin_slots SET active = $2 WHERE slot = $1",
            ),
            &[(&slot, Type::TEXT), (&i64::from(number), Type::INT8)],
        )
        .map_err(|e| statement_error(location, &e))?;
    Ok(())
}

/// Under the lock: removes version `number`; whether there was one.
pub(crate) fn delete(
    client: &mut Client,
    location: &PgLocation,
    slot: &str,
    number: u32,
) -> Result<bool, RecordError> {
    let deleted = client
        .execute_typed(
            &sql(
                location,
                "DELETE FROM {s}.plugin_versions WHERE slot = $1 AND version = $2",
            ),
            &[(&slot, Type::TEXT), (&i64::from(number), Type::INT8)],
        )
        .map_err(|e| statement_error(location, &e))?;
    Ok(deleted > 0)
}
