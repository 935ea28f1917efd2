//! How PostgreSQL's errors become record errors, in one place: one line each,
//! what failed as the summary, and the server's words with the database's URL
//! (without the password) as the operator's detail.

use postgres::error::SqlState;

use crate::display::escape_control;
use crate::record_error::{RecordError, StorageError};
use crate::store::location::PgLocation;

/// `e`, met while doing `what` at `location`, as one line.
pub(crate) fn pg_error(location: &PgLocation, e: &postgres::Error, what: &str) -> RecordError {
    marked(
        e,
        StorageError::with_detail(
            what,
            format!("{}: {}", location.redacted_url(), describe(e)),
        ),
    )
}

/// Like [`pg_error`], with `note` added to the detail (the operator's part,
/// never told to a tenant).
pub(crate) fn pg_error_noted(
    location: &PgLocation,
    e: &postgres::Error,
    what: &str,
    note: &str,
) -> RecordError {
    marked(
        e,
        StorageError::with_detail(
            what,
            format!("{}: {}; {note}", location.redacted_url(), describe(e)),
        ),
    )
}

/// `error`, marked unavailable when `e` says the server is (see [`unavailable`]).
fn marked(e: &postgres::Error, error: StorageError) -> RecordError {
    RecordError::Storage(if unavailable(e) {
        error.unavailable()
    } else {
        error
    })
}

/// Whether `e` says the server cannot be used now but may be soon: it cannot
/// be reached or went away (a connection refused, reset or closed, an I/O
/// failure, SQLSTATE class 08), it is shutting down or starting up (57P01-03),
/// too busy (53300), or it takes no writes (25006, or a standby refused by
/// `target_session_attrs=read-write`): what a failover looks like from a
/// client. A certificate that does not verify is not: that needs a person.
pub(crate) fn unavailable(e: &postgres::Error) -> bool {
    if let Some(code) = e.code() {
        return code.code().starts_with("08")
            || [
                SqlState::ADMIN_SHUTDOWN,
                SqlState::CRASH_SHUTDOWN,
                SqlState::CANNOT_CONNECT_NOW,
                SqlState::TOO_MANY_CONNECTIONS,
                SqlState::READ_ONLY_SQL_TRANSACTION,
            ]
            .contains(code);
    }
    if e.is_closed() {
        return true;
    }
    if super::tls::tls_reason(e).is_some() {
        return false;
    }
    let io = std::error::Error::source(e).and_then(|s| s.downcast_ref::<std::io::Error>());
    io.is_some_and(|io| {
        use std::io::ErrorKind::*;
        matches!(
            io.kind(),
            ConnectionRefused
                | ConnectionReset
                | ConnectionAborted
                | NotConnected
                | BrokenPipe
                | TimedOut
                | UnexpectedEof
                | HostUnreachable
                | NetworkUnreachable
        ) || io.to_string() == "database does not allow writes"
    })
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
