//! Platforms other than Linux: no fair handoff (it needs futexes on shared
//! memory), so the write lock waits with plain backoff. `Handoff` has no values,
//! so every use of it compiles to nothing.

use std::path::Path;
use std::time::Duration;

use super::error::LockError;

/// How long a waiter respects the queue before it tries out of turn (unused here).
pub(crate) const STALE: Duration = Duration::from_millis(25);

/// A waiter's place in the queue: never handed out here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ticket {}

/// The shared words: never present here.
#[derive(Debug)]
pub(crate) enum Handoff {}

impl Handoff {
    /// Always `Ok(None)`: the lock works with plain backoff.
    ///
    /// # Errors
    /// Never.
    pub(crate) fn open(_lock_path: &Path) -> Result<Option<Self>, LockError> {
        Ok(None)
    }

    pub(crate) fn seq(&self, _ticket: Option<Ticket>) -> u32 {
        match *self {}
    }

    pub(crate) fn handing_off(&self) -> bool {
        match *self {}
    }

    pub(crate) fn take_ticket(&self) -> Option<Ticket> {
        match *self {}
    }

    pub(crate) fn heartbeat(&self, _ticket: Ticket) {
        match *self {}
    }

    pub(crate) fn is_turn(&self, _ticket: Ticket) -> bool {
        match *self {}
    }

    pub(crate) fn holds(&self, _ticket: Ticket) -> bool {
        match *self {}
    }

    pub(crate) fn done(&self, _ticket: Ticket, _acquired: bool, _stale: bool) {
        match *self {}
    }

    pub(crate) fn repair(&self) {
        match *self {}
    }

    pub(crate) fn wait(&self, _ticket: Option<Ticket>, _seen: u32, _pause: Duration) {
        match *self {}
    }

    pub(crate) fn count_acquisition(&self) -> Option<u64> {
        match *self {}
    }

    pub(crate) fn released(&self, _lease_over: bool) -> bool {
        match *self {}
    }
}
