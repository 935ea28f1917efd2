//! The lock of a schema seen from outside a store: who holds it (`lock-status`),
//! one probe of it (`--lock-stats`), and this process's counters of it; none of
//! them creates or touches the schema.

use std::sync::Arc;
use std::time::Duration;

use super::connection::PgConn;
use super::error::{pg_error, statement_error};
use super::lock::{self, Acquire, LockFailure, begin_locked};
use crate::error::RecordError;
use crate::location::PgLocation;
use crate::lock::{LockMetrics, LockStatus, Metrics, metrics_for};

/// This process's counters of `location`'s lock.
pub(crate) fn metrics(location: &PgLocation) -> Arc<Metrics> {
    metrics_for(&format!(
        "postgres:{}#{}",
        location.redacted_url(),
        location.schema()
    ))
}

/// Connects to `location` without touching its schema, and returns the
/// connection and the schema's lock key and metrics.
fn connect_for_lock(
    location: &PgLocation,
    label: &str,
) -> Result<(PgConn, i64, Arc<Metrics>), RecordError> {
    let mut conn = PgConn::connect(location, label, crate::store::DEFAULT_TXN_DEADLINE)?;
    let database: String = conn
        .client
        .query_one("SELECT current_database()", &[])
        .and_then(|row| row.try_get(0))
        .map_err(|e| pg_error(location, &e, "cannot read the database name"))?;
    let key = lock::key(&database, location.schema());
    Ok((conn, key, metrics(location)))
}

/// Whether the lock of `location`'s schema is held, and by whom; creates nothing.
pub(crate) fn lock_status_at(location: &PgLocation) -> Result<LockStatus, RecordError> {
    let (mut conn, key, _) = connect_for_lock(location, "lock-status")?;
    lock::status(&mut conn.client, key)
        .map_err(|e| pg_error(location, &e, "cannot read the lock status"))
}

/// Takes and releases the lock of `location`'s schema once, waiting up to
/// `timeout`; returns this process's metrics of it.
pub(crate) fn probe_lock(
    location: &PgLocation,
    timeout: Duration,
) -> Result<LockMetrics, RecordError> {
    let (mut conn, key, metrics) = connect_for_lock(location, "probe:lock-status")?;
    let acquire = Acquire {
        key,
        timeout,
        cap: None,
        idle_deadline: None,
        size_of: None,
        metrics: &metrics,
    };
    match begin_locked(&mut conn.client, &acquire) {
        Ok(_) => {
            let _ = conn.client.batch_execute("ROLLBACK");
            Ok(metrics.snapshot())
        }
        Err(LockFailure::TimedOut(timeout)) => Err(timeout.into()),
        Err(LockFailure::Statement(e)) => Err(statement_error(location, &e)),
    }
}
