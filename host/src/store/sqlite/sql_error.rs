//! How SQLite's errors become store errors (and so record errors), in one place.
//!
//! A value read that is not of the type records-host reads (SQLite keeps any
//! type in any column, so another program can store text or a real in `value`)
//! is a storage error that says so, in one line. Two errors are not storage
//! failures. A full database (`SQLITE_FULL`, from the
//! size limit or the disk) says so plainly. A busy database (`SQLITE_BUSY` or
//! `SQLITE_LOCKED` after the busy timeout) means that a process outside
//! records-host's write lock holds SQLite's own lock: that is retryable, so it is a
//! [`RecordError::LockTimeout`] (exit 75), whose holder names that process when the
//! kernel says which one it is.

use std::time::Duration;

use std::path::Path;

use rusqlite::Connection;

use super::locks::busy_holder;
use crate::display::escape_control;
use crate::lock::LockTimeout;
use crate::record_error::RecordError;
use crate::store::error::Error;

/// The least time SQLite itself retries a busy database (`PRAGMA busy_timeout`);
/// it retries as long as a writer waits for the write lock when that is longer.
/// Writers are already serialized by the flock; this covers what happens outside
/// it: a connection's last close checkpointing the WAL while others open the
/// database, and foreign writers that do not use the lock.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_millis(500);

/// The holder text of a busy database before [`name_busy_holder`] looks it up.
const SQLITE_BUSY: &str = "a process outside records-host's write lock holds SQLite's own lock";

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => Self::Full,
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                Self::LockTimeout(LockTimeout {
                    waited: BUSY_TIMEOUT,
                    holder: SQLITE_BUSY.into(),
                })
            }
            _ => match unexpected_type(&e) {
                Some((summary, detail)) => Self::Sqlite {
                    summary,
                    detail,
                    source: e,
                },
                None => Self::sqlite(summary(&e), e),
            },
        }
    }
}

impl From<rusqlite::Error> for RecordError {
    fn from(e: rusqlite::Error) -> Self {
        Error::from(e).into()
    }
}

/// What failed, in SQLite's fixed words for its result code (never the message,
/// which can name files).
fn summary(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqliteFailure(failure, _) => format!(
            "SQLite: {}",
            rusqlite::ffi::code_to_str(failure.extended_code)
        ),
        _ => "a statement failed".into(),
    }
}

/// The summary and detail of a value read from the database that is not of the
/// type records-host reads; `None` for any other error.
fn unexpected_type(e: &rusqlite::Error) -> Option<(String, String)> {
    let (column, why) = match e {
        rusqlite::Error::InvalidColumnType(_, name, found) => {
            (name.clone(), format!("it holds {found}"))
        }
        rusqlite::Error::FromSqlConversionFailure(index, found, cause) => {
            (index.to_string(), format!("{found}: {cause}"))
        }
        rusqlite::Error::IntegralValueOutOfRange(index, value) => {
            (index.to_string(), format!("{value} is out of range"))
        }
        _ => return None,
    };
    Some((
        format!(
            "a stored value has an unexpected type (column {})",
            escape_control(&column)
        ),
        escape_control(&why),
    ))
}

/// `err`, with the process holding SQLite's lock on `conn`'s database named when
/// `err` is a busy database.
pub(crate) fn name_busy_holder(conn: &Connection, err: RecordError) -> RecordError {
    match err {
        RecordError::LockTimeout(timeout) => RecordError::LockTimeout(named(conn, timeout)),
        other => other,
    }
}

/// [`name_busy_holder`] for the store's own error.
pub(crate) fn name_busy_holder_in(conn: &Connection, err: Error) -> Error {
    match err {
        Error::LockTimeout(timeout) => Error::LockTimeout(named(conn, timeout)),
        other => other,
    }
}

/// `timeout`, with how long SQLite waited and the process holding its lock when
/// it is a busy database's.
fn named(conn: &Connection, timeout: LockTimeout) -> LockTimeout {
    if timeout.holder != SQLITE_BUSY {
        return timeout;
    }
    let waited = conn
        .pragma_query_value(None, "busy_timeout", |row| row.get::<_, i64>(0))
        .map_or(timeout.waited, |ms| {
            std::time::Duration::from_millis(ms.unsigned_abs())
        });
    let holder = conn
        .path()
        .filter(|path| !path.is_empty())
        .and_then(|path| busy_holder(Path::new(path)))
        .unwrap_or(timeout.holder);
    LockTimeout { waited, holder }
}
