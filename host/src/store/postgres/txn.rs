//! A write transaction on PostgreSQL: one server transaction that holds the
//! schema's advisory lock from its first statement to its end.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Writer;
use super::connection::{ConnHandle, Prepared};
use super::error::statement_error;
use crate::error::RecordError;
use crate::store::location::PgLocation;
use crate::sync::locked;

/// How far past the host's deadline the server may end a frozen host's
/// transaction: the server's idle timeout is brought back to the time left once it
/// would overshoot by more.
const IDLE_SLACK: Duration = Duration::from_millis(50);

/// An open write transaction on a PostgreSQL store, holding the schema's lock.
/// However it ends (commit, rollback, drop), what was not committed is rolled
/// back, and the lock goes with the transaction.
pub(crate) struct Txn {
    pub(super) conn: Arc<Mutex<ConnHandle>>,
    pub(super) prepared: Prepared,
    pub(super) location: PgLocation,
    /// The size limit and the table's estimated size, which each insert grows.
    pub(super) room: Mutex<Option<(u64, u64)>>,
    /// When the host rolls it back.
    pub(super) deadline: Option<Instant>,
    /// The server's `idle_in_transaction_session_timeout` for it, as last set: the
    /// server ends the transaction (and so frees the lock) when it stays idle that
    /// long after a statement, which is what frees the lock when the host is frozen.
    pub(super) idle_timeout: Mutex<Duration>,
    pub(super) open: bool,
}

impl std::fmt::Debug for Txn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Txn({})", self.location)
    }
}

impl Txn {
    /// Runs `op` with a writer inside the transaction.
    pub(crate) fn with_writer<T>(
        &self,
        op: impl FnOnce(&mut Writer<'_>) -> Result<T, RecordError>,
    ) -> Result<T, RecordError> {
        if !self.open {
            return Err(RecordError::Invalid(
                "the write transaction has already ended".into(),
            ));
        }
        let mut conn = locked(&self.conn);
        if let Some(at) = self.deadline {
            let left = at.saturating_duration_since(Instant::now());
            let mut idle = locked(&self.idle_timeout);
            // After this statement the server would end the transaction `idle` after
            // it; tell it the time left only once that overshoots the host's deadline
            // by more than the slack, not before every statement (a round trip each).
            if *idle > left + IDLE_SLACK {
                conn.client
                    .batch_execute(&format!(
                        "SET LOCAL idle_in_transaction_session_timeout = {}",
                        left.as_millis().clamp(1, i32::MAX as u128)
                    ))
                    .map_err(|e| statement_error(&self.location, &e))?;
                *idle = left;
            }
        }
        let mut room = locked(&self.room);
        let mut writer = Writer::new(&mut conn.client, &self.prepared, &self.location, *room);
        let result = op(&mut writer);
        *room = writer.room();
        result
    }

    /// Commits (the lock goes with the transaction).
    pub(crate) fn commit(mut self) -> Result<(), RecordError> {
        self.end("COMMIT")
    }

    /// Rolls back (the lock goes with the transaction).
    pub(crate) fn rollback(mut self) {
        let _ = self.end("ROLLBACK");
    }

    fn end(&mut self, statement: &str) -> Result<(), RecordError> {
        if !std::mem::replace(&mut self.open, false) {
            return Ok(());
        }
        let mut conn = locked(&self.conn);
        conn.in_txn = false;
        let result = conn
            .client
            .batch_execute(statement)
            .map_err(|e| statement_error(&self.location, &e));
        if result.is_err() {
            let _ = conn.client.batch_execute("ROLLBACK");
        }
        result
    }
}

impl Drop for Txn {
    fn drop(&mut self) {
        let _ = self.end("ROLLBACK");
    }
}

/// Waiting for the lock while this connection has a transaction open would wait
/// for ourselves (on PostgreSQL, it would even join that transaction).
pub(super) fn check_no_open_transaction(conn: &ConnHandle) -> Result<(), RecordError> {
    if conn.in_txn {
        return Err(RecordError::Invalid(
            "a write transaction is already open here: write through it, or commit or drop it first"
                .into(),
        ));
    }
    Ok(())
}
