//! A write transaction on PostgreSQL: one server transaction that holds the
//! schema's advisory lock from its first statement to its end.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::connection::ConnHandle;
use super::error::statement_error;
use super::locked::{Locked, Parked};
use super::sql::Text;
use super::statements::Reuse;
use super::writer::{SizeLimit, Writer};
use crate::record_error::RecordError;
use crate::store::location::PgLocation;
use crate::sync::locked;

/// How far past the host's deadline the server may end a frozen host's
/// transaction: the server's idle timeout is brought back to the time left once it
/// would overshoot by more.
const IDLE_SLACK: Duration = Duration::from_millis(50);

/// An open write transaction on a PostgreSQL store, holding the schema's lock
/// through its [`Parked`] token. However it ends (commit, rollback, drop), what
/// was not committed is rolled back, and the lock goes with the transaction.
pub(crate) struct Txn {
    /// The statements prepared in the transaction: declared before `lock`, so
    /// that they are closed (dropped) before the lock's transaction ends even
    /// when the `Txn` is dropped without a commit or rollback.
    pub(super) reuse: Mutex<Box<Reuse>>,
    pub(super) lock: Parked,
    pub(super) text: Arc<Text>,
    pub(super) location: PgLocation,
    /// The size limit and the table's estimated size, which each insert grows.
    pub(super) size_limit: Mutex<Option<SizeLimit>>,
    /// When the host rolls it back.
    pub(super) deadline: Option<Instant>,
    /// The server's `idle_in_transaction_session_timeout` for it, as last set: the
    /// server ends the transaction (and so frees the lock) when it stays idle that
    /// long after a statement, which is what frees the lock when the host is frozen.
    pub(super) idle_timeout: Mutex<Duration>,
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
        self.lock.with(|lock| {
            if let Some(at) = self.deadline {
                self.bring_idle_timeout_to(lock, at)?;
            }
            let mut size_limit = locked(&self.size_limit);
            let mut reuse = locked(&self.reuse);
            let mut writer =
                Writer::new(lock, &self.text, &self.location, *size_limit)?.reusing(&mut reuse);
            let result = op(&mut writer);
            *size_limit = writer.size_limit();
            result
        })
    }

    /// After the next statement the server would end the transaction when it has
    /// been idle for the timeout last set; tells it the time left until `at` only
    /// once that overshoots by more than the slack, not before every statement
    /// (a round trip each).
    fn bring_idle_timeout_to(&self, lock: &mut Locked<'_>, at: Instant) -> Result<(), RecordError> {
        let left = at.saturating_duration_since(Instant::now());
        let mut idle = locked(&self.idle_timeout);
        if *idle > left + IDLE_SLACK {
            lock.client_for(self.location.schema())?
                .batch_execute(&format!(
                    "SET LOCAL idle_in_transaction_session_timeout = {}",
                    left.as_millis().clamp(1, i32::MAX as u128)
                ))
                .map_err(|e| statement_error(&self.location, &e))?;
            *idle = left;
        }
        Ok(())
    }

    /// Commits (the lock goes with the transaction).
    pub(crate) fn commit(self) -> Result<(), RecordError> {
        locked(&self.reuse).clear();
        self.lock
            .commit()
            .map_err(|e| statement_error(&self.location, &e))
    }

    /// Rolls back (the lock goes with the transaction).
    pub(crate) fn rollback(self) {
        locked(&self.reuse).clear();
        self.lock.rollback();
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
