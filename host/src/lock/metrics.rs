//! Counters of one process's acquisitions of one lock file.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::sync::locked;

/// What [`WriteLock::metrics`](crate::WriteLock::metrics) reports: this process's
/// acquisitions of one lock file, over all its `WriteLock`s. Its `Display` is one
/// line for logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LockMetrics {
    /// Successful acquisitions.
    pub acquisitions: u64,
    /// Acquisitions that had to wait (for another thread or another process).
    pub contended: u64,
    /// Attempts that gave up at the deadline.
    pub timeouts: u64,
    /// Time spent waiting, over all acquisitions.
    pub total_wait: Duration,
    /// The longest wait of one acquisition.
    pub max_wait: Duration,
}

impl std::fmt::Display for LockMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} acquisitions, {} contended, {} timeouts, waited {:.3} ms in total, {:.3} ms at most",
            self.acquisitions,
            self.contended,
            self.timeouts,
            self.total_wait.as_secs_f64() * 1000.0,
            self.max_wait.as_secs_f64() * 1000.0
        )
    }
}

/// The live counters behind a [`LockMetrics`].
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    acquisitions: AtomicU64,
    contended: AtomicU64,
    timeouts: AtomicU64,
    total_wait_ns: AtomicU64,
    max_wait_ns: AtomicU64,
}

/// Every lock of this process together.
static PROCESS_TOTAL: Metrics = Metrics {
    acquisitions: AtomicU64::new(0),
    contended: AtomicU64::new(0),
    timeouts: AtomicU64::new(0),
    total_wait_ns: AtomicU64::new(0),
    max_wait_ns: AtomicU64::new(0),
};

/// This process's acquisitions of every lock it has used, together: what a
/// service exports as its lock metrics, without naming any tenant.
pub fn process_lock_metrics() -> LockMetrics {
    PROCESS_TOTAL.snapshot()
}

impl Metrics {
    pub(crate) fn record(&self, waited: Duration, contended: bool) {
        self.add(waited, contended);
        PROCESS_TOTAL.add(waited, contended);
    }

    fn add(&self, waited: Duration, contended: bool) {
        let ns = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
        self.acquisitions.fetch_add(1, Ordering::Relaxed);
        if contended {
            self.contended.fetch_add(1, Ordering::Relaxed);
            self.total_wait_ns.fetch_add(ns, Ordering::Relaxed);
            self.max_wait_ns.fetch_max(ns, Ordering::Relaxed);
        }
    }

    pub(crate) fn record_timeout(&self) {
        self.timeouts.fetch_add(1, Ordering::Relaxed);
        PROCESS_TOTAL.timeouts.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> LockMetrics {
        LockMetrics {
            acquisitions: self.acquisitions.load(Ordering::Relaxed),
            contended: self.contended.load(Ordering::Relaxed),
            timeouts: self.timeouts.load(Ordering::Relaxed),
            total_wait: Duration::from_nanos(self.total_wait_ns.load(Ordering::Relaxed)),
            max_wait: Duration::from_nanos(self.max_wait_ns.load(Ordering::Relaxed)),
        }
    }
}

/// The counters of every lock this process has used, by a key naming it (a lock
/// file's path, or a PostgreSQL lock's database and key). They outlive the open
/// files and connections (a CLI reports them after its database is closed) and
/// cost a few dozen bytes per lock.
pub(crate) fn metrics_for(key: &str) -> Arc<Metrics> {
    static METRICS: OnceLock<Mutex<HashMap<String, Arc<Metrics>>>> = OnceLock::new();
    locked(METRICS.get_or_init(Default::default))
        .entry(key.to_string())
        .or_default()
        .clone()
}
