//! A write transaction on PostgreSQL: one server transaction that holds the
//! schema's advisory lock from its first statement to its end.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::Writer;
use super::connection::{ConnHandle, Prepared};
use super::error::statement_error;
use crate::error::RecordError;
use crate::location::PgLocation;
use crate::util::locked;

/// An open write transaction on a PostgreSQL store, holding the schema's lock.
/// However it ends (commit, rollback, drop), what was not committed is rolled
/// back, and the lock goes with the transaction.
pub(crate) struct Txn {
    pub(super) conn: Arc<Mutex<ConnHandle>>,
    pub(super) prepared: Prepared,
    pub(super) location: PgLocation,
    /// The size limit and the table's estimated size, which each insert grows.
    pub(super) room: Mutex<Option<(u64, u64)>>,
    /// When the host rolls it back; each statement tells the server the time left.
    pub(super) deadline: Option<Instant>,
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
            conn.client
                .batch_execute(&format!(
                    "SET LOCAL idle_in_transaction_session_timeout = {}",
                    left.as_millis().clamp(1, i32::MAX as u128)
                ))
                .map_err(|e| statement_error(&self.location, &e))?;
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
