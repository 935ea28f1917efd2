//! The write lock of a database seen from outside, without opening the database
//! or creating anything: its status (`lock-status`), one probe of it, and this
//! process's metrics of it.

use std::time::Duration;

use super::error::Error;
use super::{Pool, postgres, sqlite};
use crate::lock::{LockMetrics, LockStatus};
use crate::store::location::Location;

/// The status of the write lock of the database at `location`, without opening
/// the database or creating anything: `lock-status`.
///
/// For SQLite, a write transaction that holds SQLite's own write lock while the
/// lock file is missing or unlocked (deleted or replaced under it) makes the
/// status `Held`, naming its process. That is read from `/proc/locks`, so only on
/// Linux: elsewhere the status is the flock's alone.
///
/// # Errors
/// [`Error::Open`] when the lock's state cannot be read (a lock file that
/// is not a regular file, a server that cannot be reached).
pub fn lock_status_at(location: &Location) -> Result<LockStatus, Error> {
    let status = match location {
        Location::File(path) => sqlite::write_lock_of(path, Duration::ZERO)
            .status()
            .map_err(Error::from),
        Location::Postgres(pg) => postgres::lock_status_at(pg).map_err(Error::from),
    };
    status.map_err(|source| unopened(location, source))
}

/// [`lock_status_at`], on PostgreSQL over a connection of `pool` when one is
/// given (a long-running host's, so that status requests stay within it).
///
/// # Errors
/// As [`lock_status_at`].
pub(crate) fn lock_status_in(
    location: &Location,
    pool: Option<&Pool>,
) -> Result<LockStatus, Error> {
    match (location, pool) {
        (Location::Postgres(pg), Some(pool)) => {
            postgres::lock_status_pooled(pg, pool).map_err(|e| unopened(location, e.into()))
        }
        _ => lock_status_at(location),
    }
}

/// This process's metrics of the write lock of the database at `location` (all of
/// them, whichever `Database` took it), without opening anything.
pub fn lock_metrics_at(location: &Location) -> LockMetrics {
    match location {
        Location::File(path) => sqlite::write_lock_of(path, Duration::ZERO).metrics(),
        Location::Postgres(pg) => postgres::metrics(pg).snapshot(),
    }
}

/// Takes and releases the write lock of the database at `location` once, waiting
/// up to `timeout`, and returns this process's metrics of that lock: `lock-status
/// --probe`.
///
/// # Errors
/// [`Error::LockTimeout`] when it was held past `timeout`; otherwise as
/// [`lock_status_at`].
pub fn probe_lock(location: &Location, timeout: Duration) -> Result<LockMetrics, Error> {
    let probed = match location {
        Location::File(path) => {
            let lock = sqlite::write_lock_of(path, timeout);
            lock.acquire("probe:lock-status")
                .map(drop)
                .map(|()| lock.metrics())
                .map_err(Error::from)
        }
        Location::Postgres(pg) => postgres::probe_lock(pg, timeout).map_err(Error::from),
    };
    probed.map_err(|source| match source {
        timeout @ Error::LockTimeout(_) => timeout,
        source => unopened(location, source),
    })
}

/// `source`, met at `location` before any database was opened.
fn unopened(location: &Location, source: Error) -> Error {
    Error::Open {
        location: location.clone(),
        source: Box::new(source),
    }
}
