//! Whether a write lock is held right now, as the lock and the backends report it.

/// Whether the lock is held right now, as seen by [`WriteLock::status`](crate::WriteLock::status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockStatus {
    /// Nobody holds the lock.
    Free,
    /// Someone holds the lock.
    Held {
        /// Who, one line: see [`LockTimeout::holder`](crate::LockTimeout::holder).
        holder: String,
    },
}
