//! The one bound on plugin calls at once (`--max-concurrent`), and everything
//! sized by it: the call slots a request must take (503 beyond), the threads of
//! the call pool, the instances the runtime pools, and tokio's blocking threads.

use std::sync::Arc;

use tokio::sync::Semaphore;

use super::call_pool::CallPool;

/// How many plugin calls may run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallBound(u32);

impl CallBound {
    /// The bound unless configured otherwise: 64 calls at once.
    pub const DEFAULT: Self = Self(64);

    /// At most `calls` calls at once (at least one).
    pub const fn new(calls: u32) -> Self {
        Self(if calls == 0 { 1 } else { calls })
    }

    /// How many calls may run at once.
    pub const fn calls(self) -> u32 {
        self.0
    }

    /// How many instances a pooled runtime should hold: one per call at once
    /// (for [`RuntimeBuilder::instance_pool`](records_host::RuntimeBuilder::instance_pool)).
    pub const fn instances(self) -> u32 {
        self.0
    }

    /// Each tenant's share when none is configured: a quarter of the calls, at
    /// least one.
    pub(crate) const fn default_share(self) -> u32 {
        self.0.div_ceil(4)
    }

    /// One permit per call allowed to run at once.
    pub(crate) fn slots(self) -> Arc<Semaphore> {
        Arc::new(Semaphore::new(self.0 as usize))
    }

    /// A call pool of one thread per call at most.
    pub(crate) fn pool(self) -> CallPool {
        CallPool::new(self.0 as usize)
    }

    /// tokio's blocking threads: no call runs on them (see `call_pool.rs`), but
    /// whatever does (a tokens file read) is bounded beside the calls.
    pub(crate) fn blocking_threads(self) -> usize {
        self.0 as usize + 16
    }
}

impl Default for CallBound {
    fn default() -> Self {
        Self::DEFAULT
    }
}
