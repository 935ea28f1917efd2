//! Locking a mutex that a panicking holder cannot leave unusable.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, recovering from poisoning: the data behind our mutexes (a SQLite
/// connection, a transaction's state) stays consistent when a holder panics, since
/// SQLite itself rolls back what the panicking code left half done.
pub(crate) fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
