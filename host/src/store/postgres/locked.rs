//! The proof that a schema's advisory lock is held: [`Locked`], a token that
//! borrows a client inside a transaction that took `pg_advisory_xact_lock` of
//! one schema, and that alone commits or rolls that transaction back.
//!
//! The guarantee is made by [`Locked::take`]: it is the only function that makes
//! a token from nothing, and it begins the transaction and takes the lock of the
//! schema it is given before it returns one (the only other maker,
//! [`Parked::with`], lends again a token that `take` made). The fields are
//! private to this file, so nothing else can build one. Everything that writes
//! takes a token:
//! [`Writer::new`](super::Writer) (the only way to write records), the creation
//! of a schema's tables (`schema.rs`) and the rename of an older release's
//! schema (`legacy.rs`). They reach the client only through
//! [`Locked::client_for`], naming the schema they are about to write, which
//! refuses any other schema than the one whose lock the token holds (a host
//! bug, caught at run time: the types cannot tell two schemas apart). Only
//! `CREATE SCHEMA` runs without it, since the lock is keyed by the schema's OID
//! (`schema.rs`).
//!
//! A write transaction (`txn.rs`) keeps its lock across calls, while its
//! connection serves reads in between: [`Locked::park`] turns the token into a
//! [`Parked`] one, which owns the connection's handle and lends a token again
//! for each use ([`Parked::with`]); only it commits or rolls that transaction
//! back, and dropping it rolls back.
//!
//! `BEGIN`, `COMMIT` and `ROLLBACK` are written nowhere else in the backend.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::{Client, SimpleQueryMessage};

use super::connection::ConnHandle;
use super::lock::{holder, key};
use crate::lock::{LockTimeout, Metrics};
use crate::record_error::RecordError;
use crate::sync::locked;

/// What taking the lock needs to know.
pub(crate) struct Acquire<'a> {
    /// The schema whose lock to take.
    pub(crate) schema: &'a str,
    /// The lock timeout.
    pub(crate) timeout: Duration,
    /// The plugin call's deadline: give up waiting there if it comes before the
    /// timeout.
    pub(crate) call_deadline: Option<Instant>,
    /// For a write transaction: the server ends the transaction if it stays idle
    /// this long (the host's deadline, kept even if the host freezes).
    pub(crate) idle_timeout: Option<Duration>,
    /// The table whose size to read once the lock is held (for the size limit),
    /// as a quoted, schema-qualified name; read in the same round trip.
    pub(crate) size_of: Option<&'a str>,
    /// The name the session shows while the transaction holds the lock (so
    /// that `lock-status` and a timed-out writer can name this process), set
    /// with `SET LOCAL` in the round trip that begins it.
    pub(crate) app_name: Option<&'a str>,
    pub(crate) metrics: &'a Metrics,
}

/// Why the lock was not taken.
#[derive(Debug)]
pub(crate) enum LockFailure {
    TimedOut(LockTimeout),
    Statement(postgres::Error),
}

/// A client inside a transaction that holds the advisory lock of one schema.
/// Made only by [`Locked::take`] (and lent again by [`Parked::with`]); dropping
/// it rolls the transaction back
/// (except the token a [`Parked`] lends, whose transaction the `Parked` ends).
#[must_use = "dropping the token rolls its transaction back"]
pub(crate) struct Locked<'c> {
    client: &'c mut Client,
    /// The schema whose lock the transaction holds.
    schema: &'c str,
    /// The size of `Acquire::size_of` when the lock was taken.
    table_size: Option<u64>,
    /// Whether the transaction is this token's to end (on drop, unless ended).
    ends_transaction: bool,
}

impl std::fmt::Debug for Locked<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Locked({})", self.schema)
    }
}

impl<'c> Locked<'c> {
    /// Begins a transaction on `client` and takes `acquire.schema`'s lock in it.
    ///
    /// An attempt without waiting goes in the round trip that begins the
    /// transaction; only when it fails does this wait, under `SET LOCAL
    /// lock_timeout`, until the timeout or the call's deadline, whichever comes
    /// first.
    ///
    /// # Errors
    /// [`LockFailure::TimedOut`] (the transaction rolled back) when the lock was
    /// held until the deadline, naming who holds it; [`LockFailure::Statement`]
    /// otherwise (the transaction rolled back), `invalid_schema_name` among them
    /// when the schema does not exist.
    pub(crate) fn take(client: &'c mut Client, acquire: &Acquire<'c>) -> Result<Self, LockFailure> {
        let start = Instant::now();
        let deadline = start
            .checked_add(acquire.timeout)
            .map_or(acquire.call_deadline, |at| {
                Some(acquire.call_deadline.map_or(at, |call| call.min(at)))
            });
        let idle = acquire.idle_timeout.map_or_else(String::new, |d| {
            format!(
                "SET LOCAL idle_in_transaction_session_timeout = {}; ",
                d.as_millis().clamp(1, i32::MAX as u128)
            )
        });
        let name = acquire.app_name.map_or_else(String::new, |name| {
            format!(
                "SET LOCAL application_name = {}; ",
                super::sql::literal(name)
            )
        });
        let size = acquire.size_of.map_or_else(String::new, |table| {
            format!(", pg_total_relation_size('{}')", table.replace('\'', "''"))
        });
        let key = key(acquire.schema);
        let first = client.simple_query(&format!(
            "BEGIN; {idle}{name}SELECT pg_try_advisory_xact_lock({key}){size}"
        ));
        let table_size = match first.map(|messages| last_row(&messages)) {
            Ok(Some((got, size))) if got == "t" => {
                acquire.metrics.record(start.elapsed(), false);
                size
            }
            Ok(_) => wait(client, acquire, start, deadline, &key, &size)?,
            Err(e) => return Err(rollback(client, LockFailure::Statement(e))),
        };
        Ok(Self {
            client,
            schema: acquire.schema,
            table_size,
            ends_transaction: true,
        })
    }

    /// The client, to write `schema` in this transaction.
    ///
    /// # Errors
    /// [`RecordError::Storage`] when this token holds another schema's lock: a
    /// write there would go unlocked.
    pub(crate) fn client_for(&mut self, schema: &str) -> Result<&mut Client, RecordError> {
        if schema != self.schema {
            return Err(RecordError::storage(
                "refusing to write a schema under another schema's lock",
            ));
        }
        Ok(self.client)
    }

    /// The size of `Acquire::size_of` as read when the lock was taken.
    pub(crate) fn table_size(&self) -> Option<u64> {
        self.table_size
    }

    /// Commits (the lock goes with the transaction); rolls back if that fails.
    ///
    /// # Errors
    /// The commit's error (the transaction is rolled back).
    pub(crate) fn commit(mut self) -> Result<(), postgres::Error> {
        self.ends_transaction = false;
        end(self.client, "COMMIT")
    }

    /// Rolls back (the lock goes with the transaction).
    ///
    /// # Errors
    /// The rollback's error (the session is then of no further use).
    pub(crate) fn rollback(mut self) -> Result<(), postgres::Error> {
        self.ends_transaction = false;
        self.client.batch_execute("ROLLBACK")
    }

    /// Keeps the transaction open past this borrow of its client: the
    /// [`Parked`] token owns `conn`, which must be the connection whose client
    /// this token borrows, and ends the transaction.
    pub(crate) fn park(mut self, conn: Arc<Mutex<ConnHandle>>) -> Parked {
        self.ends_transaction = false;
        Parked {
            conn: Some(conn),
            schema: self.schema.into(),
        }
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        if self.ends_transaction {
            let _ = self.client.batch_execute("ROLLBACK");
        }
    }
}

/// A transaction that holds a schema's lock while its connection is idle or
/// serves reads: made only by [`Locked::park`]. Dropping it rolls back.
#[must_use = "dropping the parked token rolls its transaction back"]
pub(crate) struct Parked {
    /// The connection, until the transaction ends.
    conn: Option<Arc<Mutex<ConnHandle>>>,
    /// The schema whose lock the transaction holds.
    schema: Box<str>,
}

impl Parked {
    /// Runs `op` with the transaction's token, on its connection (locked
    /// meanwhile). The token `op` gets does not end the transaction when dropped.
    ///
    /// # Errors
    /// [`RecordError::Invalid`] when the transaction has ended.
    pub(crate) fn with<T>(
        &self,
        op: impl FnOnce(&mut Locked<'_>) -> Result<T, RecordError>,
    ) -> Result<T, RecordError> {
        let Some(conn) = &self.conn else {
            return Err(RecordError::Invalid(
                "the write transaction has already ended".into(),
            ));
        };
        let mut conn = locked(conn);
        let mut token = Locked {
            client: &mut conn.client,
            schema: &self.schema,
            table_size: None,
            ends_transaction: false,
        };
        op(&mut token)
    }

    /// Commits (the lock goes with the transaction); rolls back if that fails.
    ///
    /// # Errors
    /// The commit's error (the transaction is rolled back).
    pub(crate) fn commit(mut self) -> Result<(), postgres::Error> {
        self.end("COMMIT")
    }

    /// Rolls back (the lock goes with the transaction).
    pub(crate) fn rollback(mut self) {
        let _ = self.end("ROLLBACK");
    }

    fn end(&mut self, statement: &str) -> Result<(), postgres::Error> {
        let Some(conn) = self.conn.take() else {
            return Ok(());
        };
        let mut conn = locked(&conn);
        conn.in_txn = false;
        end(&mut conn.client, statement)
    }
}

impl Drop for Parked {
    fn drop(&mut self) {
        let _ = self.end("ROLLBACK");
    }
}

/// Ends the transaction on `client` with `statement`, rolling back if that fails.
fn end(client: &mut Client, statement: &str) -> Result<(), postgres::Error> {
    let result = client.batch_execute(statement);
    if result.is_err() {
        let _ = client.batch_execute("ROLLBACK");
    }
    result
}

/// Waits for the lock the first attempt did not get, in the transaction that
/// attempt began, until `deadline`; returns the size read with it.
fn wait(
    client: &mut Client,
    acquire: &Acquire<'_>,
    start: Instant,
    deadline: Option<Instant>,
    key: &str,
    size: &str,
) -> Result<Option<u64>, LockFailure> {
    let remaining = deadline.map(|at| at.saturating_duration_since(Instant::now()));
    if remaining.is_some_and(|left| left.as_millis() == 0) {
        let _ = client.batch_execute("ROLLBACK");
        return Err(timed_out(client, acquire, start));
    }
    let wait = match remaining {
        Some(left) => format!(
            "SET LOCAL lock_timeout = {}; ",
            left.as_millis().clamp(1, i32::MAX as u128)
        ),
        None => String::new(),
    };
    match client.simple_query(&format!("{wait}SELECT pg_advisory_xact_lock({key}){size}")) {
        Ok(messages) => {
            acquire.metrics.record(start.elapsed(), true);
            Ok(last_row(&messages).and_then(|(_, size)| size))
        }
        Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => {
            // The transaction is aborted; roll it back before asking who holds it.
            let _ = client.batch_execute("ROLLBACK");
            Err(timed_out(client, acquire, start))
        }
        Err(e) => Err(rollback(client, LockFailure::Statement(e))),
    }
}

fn timed_out(client: &mut Client, acquire: &Acquire<'_>, start: Instant) -> LockFailure {
    acquire.metrics.record_timeout();
    LockFailure::TimedOut(LockTimeout {
        waited: start.elapsed(),
        holder: holder(client, acquire.schema).unwrap_or_else(|_| "unknown".into()),
    })
}

fn rollback(client: &mut Client, failure: LockFailure) -> LockFailure {
    let _ = client.batch_execute("ROLLBACK");
    failure
}

/// The last row of a simple query's results: its first value, and its second as
/// a number when there is one.
fn last_row(messages: &[SimpleQueryMessage]) -> Option<(String, Option<u64>)> {
    messages.iter().rev().find_map(|message| match message {
        SimpleQueryMessage::Row(row) => Some((
            row.get(0).unwrap_or_default().to_string(),
            row.try_get(1)
                .ok()
                .flatten()
                .and_then(|size| size.parse().ok()),
        )),
        _ => None,
    })
}

#[cfg(test)]
#[path = "locked_tests.rs"]
mod tests;
