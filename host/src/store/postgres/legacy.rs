//! Schemas that older releases made for tenants of 61 to 63 bytes, carried over
//! to the schemas this release gives them.
//!
//! Older releases gave such a tenant the schema `rh_<first 43 bytes>_<16 hex
//! digits of SHA-256(name)>`, which is also the schema `rh_<name>` of a valid
//! 60-byte tenant name: the two tenants shared one schema and one lock. This
//! release gives the long name its name in ASCII uppercase
//! (`location::tenant_schema`, which says why no two tenants share a schema now).
//! When a long name's schema does not exist but its old one does and is
//! records-host's (both tables), opening the tenant renames the old schema to the
//! new (`ALTER SCHEMA .. RENAME TO ..`), through the old schema's `Locked` token
//! (`locked.rs`), after checking again under that lock; it is logged once, at
//! info. A rename keeps the schema's OID, and so its lock key: a host writing in
//! the schema holds that lock, and the rename waits for it to finish.
//!
//! Why this is safe:
//! - afterwards, the 60-byte tenant that spells the old name can no longer reach
//!   the records: the schema has the long name's name now, and that tenant's next
//!   open creates an empty schema of its own under the old name;
//! - a tenant cannot use this to take another tenant's schema: that takes a long
//!   name whose old schema is the other tenant's, and the old schema of a long
//!   name ends in 64 bits of its SHA-256, so finding one for a given schema is a
//!   64-bit second preimage.
//!
//! Until the long name is opened once by this release, its old schema is still
//! also the schema of the 60-byte name that spells it, as it was before.

use postgres::Client;
use postgres::error::SqlState;

use super::catalog::{Kind, existing, kind};
use super::error::pg_error;
use super::locked::{Acquire, LockFailure, Locked};
use super::sql::quote;
use crate::record_error::RecordError;
use crate::store::location::{PgLocation, legacy_tenant_schema};

/// Renames the schema an older release made for `location`'s tenant to
/// `location`'s schema, when that one does not exist and the old one is
/// records-host's.
///
/// # Errors
/// [`RecordError::LockTimeout`] when the old schema's lock is held past the
/// timeout; [`RecordError::Storage`] when a statement fails.
pub(super) fn carry_over(
    client: &mut Client,
    location: &PgLocation,
    acquire: &Acquire<'_>,
) -> Result<(), RecordError> {
    let Some(old) = legacy_tenant_schema(location.schema()) else {
        return Ok(());
    };
    if !applies(client, location, &old)? {
        return Ok(());
    }
    let under_old = Acquire {
        schema: &old,
        ..*acquire
    };
    let mut lock = match Locked::take(client, &under_old) {
        Ok(lock) => lock,
        Err(LockFailure::TimedOut(timeout)) => return Err(timeout.into()),
        // Dropped since it was seen: there is nothing to carry over.
        Err(LockFailure::Statement(e)) if e.code() == Some(&SqlState::INVALID_SCHEMA_NAME) => {
            return Ok(());
        }
        Err(LockFailure::Statement(e)) => return Err(failed(location, &e)),
    };
    match rename(&mut lock, location, &old) {
        Ok(true) => {
            lock.commit().map_err(|e| failed(location, &e))?;
            tracing::info!(
                from = old,
                to = location.schema(),
                "renamed the schema an older release made for this tenant"
            );
            Ok(())
        }
        Ok(false) => {
            let _ = lock.rollback();
            Ok(())
        }
        Err(e) => {
            let _ = lock.rollback();
            Err(e)
        }
    }
}

/// Renames `old` to `location`'s schema under `old`'s `lock`, unless another
/// host renamed it while this one waited for the lock; whether it did.
fn rename(lock: &mut Locked<'_>, location: &PgLocation, old: &str) -> Result<bool, RecordError> {
    let client = lock.client_for(old)?;
    if !applies(client, location, old)? {
        return Ok(false);
    }
    client
        .batch_execute(&format!(
            "ALTER SCHEMA {} RENAME TO {}",
            quote(old),
            quote(location.schema())
        ))
        .map_err(|e| failed(location, &e))?;
    Ok(true)
}

fn failed(location: &PgLocation, e: &postgres::Error) -> RecordError {
    pg_error(location, e, "cannot carry over the old schema")
}

/// Whether `old` should become `location`'s schema: `location`'s schema does not
/// exist, and `old` exists and is records-host's.
fn applies(client: &mut Client, location: &PgLocation, old: &str) -> Result<bool, RecordError> {
    let found = existing(client, location, &[location.schema(), old])?;
    if found.iter().any(|s| s == location.schema()) || !found.iter().any(|s| s == old) {
        return Ok(false);
    }
    Ok(matches!(kind(client, location, old)?, Kind::Ours { .. }))
}
