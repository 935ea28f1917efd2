//! How SQLite's errors become record errors, in one place.
//!
//! Two of them are not storage failures. A full database (`SQLITE_FULL`, from the
//! size limit or the disk) says so plainly. A busy database (`SQLITE_BUSY` or
//! `SQLITE_LOCKED` after the busy timeout) means that a process outside
//! records-host's write lock holds SQLite's own lock: that is retryable, so it is a
//! [`RecordError::LockTimeout`] (exit 75), whose holder names that process when the
//! kernel says which one it is.

use std::path::Path;

use rusqlite::Connection;

use super::BUSY_TIMEOUT;
use super::locks::busy_holder;
use crate::error::RecordError;
use crate::lock::LockTimeout;

/// The holder text of a busy database before [`name_busy_holder`] looks it up.
const SQLITE_BUSY: &str = "a process outside records-host's write lock holds SQLite's own lock";

impl From<rusqlite::Error> for RecordError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => Self::Storage(
                "the database is full: it reached its size limit (or the disk is full)".into(),
            ),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                Self::LockTimeout(LockTimeout {
                    waited: BUSY_TIMEOUT,
                    holder: SQLITE_BUSY.into(),
                })
            }
            _ => Self::Storage(crate::util::escape_control(&e.to_string())),
        }
    }
}

/// `err`, with the process holding SQLite's lock on `conn`'s database named when
/// `err` is a busy database.
pub(crate) fn name_busy_holder(conn: &Connection, err: RecordError) -> RecordError {
    match err {
        RecordError::LockTimeout(timeout) if timeout.holder == SQLITE_BUSY => {
            let waited = conn
                .pragma_query_value(None, "busy_timeout", |row| row.get::<_, i64>(0))
                .map_or(timeout.waited, |ms| {
                    std::time::Duration::from_millis(ms.unsigned_abs())
                });
            let timeout = LockTimeout { waited, ..timeout };
            let holder = conn
                .path()
                .filter(|path| !path.is_empty())
                .and_then(|path| busy_holder(Path::new(path)))
                .unwrap_or(timeout.holder);
            RecordError::LockTimeout(LockTimeout { holder, ..timeout })
        }
        other => other,
    }
}
