//! How PostgreSQL's errors become record errors, in one place: one line each,
//! what failed as the summary, and the server's words with the database's URL
//! (without the password) as the operator's detail.

use postgres::error::SqlState;

use crate::display::escape_control;
use crate::record_error::{RecordError, StorageError};
use crate::store::location::PgLocation;

/// `e`, met while doing `what` at `location`, as one line.
pub(crate) fn pg_error(location: &PgLocation, e: &postgres::Error, what: &str) -> RecordError {
    RecordError::Storage(StorageError::with_detail(
        what,
        format!("{}: {}", location.redacted_url(), describe(e)),
    ))
}

/// Like [`pg_error`], with `note` added to the detail (the operator's part,
/// never told to a tenant).
pub(crate) fn pg_error_noted(
    location: &PgLocation,
    e: &postgres::Error,
    what: &str,
    note: &str,
) -> RecordError {
    RecordError::Storage(StorageError::with_detail(
        what,
        format!("{}: {}; {note}", location.redacted_url(), describe(e)),
    ))
}

/// `e`, met by a statement: the size limit and a server-ended session get their
/// own words; anything else is a storage error.
pub(crate) fn statement_error(location: &PgLocation, e: &postgres::Error) -> RecordError {
    match e.code() {
        Some(code) if *code == SqlState::DISK_FULL => RecordError::storage(
            "the database is full: it reached its size limit (or the disk is full)",
        ),
        Some(code) if *code == SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT => {
            RecordError::Invalid(
                "the write transaction passed its deadline: the server rolled it back and ended the session"
                    .into(),
            )
        }
        _ if e.is_closed() => pg_error(location, e, "the connection was closed"),
        _ => pg_error(location, e, "a statement failed"),
    }
}

/// The server's message (and detail) when there is one, else the client's.
fn describe(e: &postgres::Error) -> String {
    if let Some(reason) = super::tls::tls_reason(e) {
        return reason;
    }
    let text = match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_string(),
        },
        None => {
            let mut text = e.to_string();
            let mut cause = std::error::Error::source(e);
            while let Some(next) = cause {
                text.push_str(": ");
                text.push_str(&next.to_string());
                cause = next.source();
            }
            text
        }
    };
    escape_control(&text.split_whitespace().collect::<Vec<_>>().join(" "))
}
