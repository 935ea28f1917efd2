//! Deadlines from timeouts, for the lock's waits, a plugin call's time limit and
//! the store imports alike.

use std::time::{Duration, Instant};

/// `now + timeout`; a timeout too long to represent waits as long as it takes.
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}
