//! How a database is opened: the lock timeout, the holder's label and the
//! transaction deadline, the same on both backends.

use std::time::Duration;

use crate::lock::DEFAULT_LOCK_TIMEOUT;

/// How long a transaction from `Database::begin_write`
/// may stay open unless configured otherwise.
pub const DEFAULT_TXN_DEADLINE: Duration = Duration::from_secs(2);

/// How a database is opened.
#[derive(Debug, Clone)]
pub struct DatabaseOptions {
    /// How long a write waits for the write lock before [`RecordError::LockTimeout`](crate::RecordError::LockTimeout).
    pub lock_timeout: Duration,
    /// Who this database's writer is, for whoever waits for its lock: written into
    /// the SQLite lock file's holder record, or into the PostgreSQL session's
    /// `application_name` (the runtime sets `plugin:<name>`).
    pub holder_label: String,
    /// How long a transaction from `Database::begin_write` may stay open before
    /// the host rolls it back and releases the lock.
    pub txn_deadline: Duration,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        Self {
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            holder_label: String::new(),
            txn_deadline: DEFAULT_TXN_DEADLINE,
        }
    }
}
