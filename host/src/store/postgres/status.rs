//! The lock of a schema seen from outside a store: who holds it (`lock-status`),
//! one probe of it (`--lock-stats`), and this process's counters of it; none of
//! them creates or touches the schema.

use std::sync::Arc;
use std::time::Duration;

use postgres::error::SqlState;

use super::connection::{PgConn, Pool, first_live};
use super::error::{pg_error, statement_error};
use super::lock;
use super::locked::{Acquire, LockFailure, Locked};
use crate::lock::{LockMetrics, LockStatus, Metrics, metrics_for};
use crate::record_error::{RecordError, StorageError};
use crate::store::DEFAULT_TXN_DEADLINE;
use crate::store::location::PgLocation;

/// This process's counters of `location`'s lock.
pub(crate) fn metrics(location: &PgLocation) -> Arc<Metrics> {
    metrics_for(&format!(
        "postgres:{}#{}",
        location.redacted_url(),
        location.schema()
    ))
}

/// Whether the lock of `location`'s schema is held, and by whom; creates nothing
/// (a schema that does not exist has a free lock).
pub(crate) fn lock_status_at(location: &PgLocation) -> Result<LockStatus, RecordError> {
    let mut conn = PgConn::connect(location, "lock-status")?;
    lock::status(&mut conn.client, location.schema(), true)
        .map_err(|e| pg_error(location, &e, "cannot read the lock status"))
}

/// [`lock_status_at`] over a connection of `pool` (a server's, so that status
/// requests neither open connections of their own nor exceed the pool), for a
/// tenant: the holder without its client address.
pub(crate) fn lock_status_pooled(
    location: &PgLocation,
    pool: &Pool,
) -> Result<LockStatus, RecordError> {
    let mut conn = first_live(pool, location, "lock-status")?;
    lock::status(&mut conn.client, location.schema(), false)
        .map_err(|e| pg_error(location, &e, "cannot read the lock status"))
}

/// Takes and releases the lock of `location`'s schema once, waiting up to
/// `timeout`; returns this process's metrics of it. The schema must exist (its
/// lock is keyed by its OID): one that does not is a storage error saying so.
pub(crate) fn probe_lock(
    location: &PgLocation,
    timeout: Duration,
) -> Result<LockMetrics, RecordError> {
    let mut conn = PgConn::connect(location, "probe:lock-status")?;
    let metrics = metrics(location);
    let acquire = Acquire {
        schema: location.schema(),
        timeout,
        call_deadline: None,
        idle_timeout: Some(DEFAULT_TXN_DEADLINE),
        size_of: None,
        app_name: None,
        metrics: &metrics,
    };
    match Locked::take(&mut conn.client, &acquire) {
        Ok(lock) => {
            let _ = lock.rollback();
            Ok(metrics.snapshot())
        }
        Err(LockFailure::TimedOut(timeout)) => Err(timeout.into()),
        Err(LockFailure::Statement(e)) if e.code() == Some(&SqlState::INVALID_SCHEMA_NAME) => {
            Err(no_schema(location))
        }
        Err(LockFailure::Statement(e)) => Err(statement_error(location, &e)),
    }
}

/// The error of probing the lock of a schema that does not exist.
fn no_schema(location: &PgLocation) -> RecordError {
    RecordError::Storage(StorageError::with_detail(
        "the schema does not exist (yet), so it has no lock to probe",
        location.to_string(),
    ))
}
