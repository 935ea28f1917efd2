//! The queue of this process's threads in front of the flock.
//!
//! `flock` locks belong to the open file description, and each process keeps one
//! per lock file, so its threads would not exclude each other through it. They
//! take turns here instead: a mutex and condition variable, which also hand the
//! lock from thread to thread with no sleeping gap.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::sync::locked;

/// How long a process may keep re-taking the lock while others wait before it
/// must let a waiter have it: long enough for ~100 writes between handoffs (each
/// costs a wake-up), short enough that 7 waiters ahead mean single-digit ms.
pub(crate) const LEASE: Duration = Duration::from_millis(1);

/// Whose turn it is among this process's threads.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    turn: Mutex<Turn>,
    freed: Condvar,
}

#[derive(Debug, Default)]
struct Turn {
    busy: bool,
    waiting: usize,
    /// Since when this process has held the flock without handing it over.
    lease_start: Option<Instant>,
}

impl Queue {
    /// Waits until no other thread of this process holds or is taking the lock,
    /// then claims that turn. `Ok(true)` when it had to wait; `Err` at the deadline.
    pub(crate) fn enter(&self, deadline: Instant) -> Result<bool, ()> {
        let mut turn = locked(&self.turn);
        let mut waited = false;
        while turn.busy {
            waited = true;
            let now = Instant::now();
            if now >= deadline {
                return Err(());
            }
            turn.waiting += 1;
            turn = self
                .freed
                .wait_timeout(turn, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            turn.waiting -= 1;
        }
        turn.busy = true;
        Ok(waited)
    }

    /// Starts this process's lease, unless one is running and it did not wait.
    pub(crate) fn start_lease(&self, waited: bool) {
        let mut turn = locked(&self.turn);
        if waited || turn.lease_start.is_none() {
            turn.lease_start = Some(Instant::now());
        }
    }

    /// Whether this process has held the lock for a whole lease.
    pub(crate) fn lease_over(&self) -> bool {
        locked(&self.turn)
            .lease_start
            .is_some_and(|start| start.elapsed() >= LEASE)
    }

    /// Ends the lease: the lock was handed over.
    pub(crate) fn end_lease(&self) {
        locked(&self.turn).lease_start = None;
    }

    /// Gives the turn to the next thread of this process (waking one costs a
    /// syscall, so only when one waits).
    pub(crate) fn leave(&self) {
        let mut turn = locked(&self.turn);
        turn.busy = false;
        let wake = turn.waiting > 0;
        drop(turn);
        if wake {
            self.freed.notify_one();
        }
    }
}
