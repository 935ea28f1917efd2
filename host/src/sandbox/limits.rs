//! What a plugin call may consume, and the host-side machinery that enforces it.
//!
//! A guest is untrusted, so every bound is enforced by the host: linear memory,
//! tables and instances by a [`wasmtime::ResourceLimiter`] on each store; wall-clock
//! time by epoch interruption, driven by one ticker thread per engine; fuel, when
//! configured, by wasmtime's fuel metering; input sizes and the database size by
//! the store imports and SQLite (`PRAGMA max_page_count`).

use std::time::Duration;

use wasmtime::{Engine, EngineWeak};

/// How often the ticker advances the engine's epoch: the granularity of the time
/// limit. A guest that loops is stopped at most one tick after its limit.
pub(crate) const TICK: Duration = Duration::from_millis(10);

/// The bounds of one plugin call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time per call (and per instantiation), whatever the guest does:
    /// computing, sleeping, blocking in a WASI call, or waiting for the write lock
    /// in a store import. It is stopped with
    /// [`Error::TimeLimit`](crate::Error::TimeLimit) within one epoch tick (10 ms)
    /// after it. Default 5 s.
    pub timeout: Duration,
    /// Largest size of each linear memory of an instance, in bytes; growing past it
    /// traps with [`Error::MemoryLimit`](crate::Error::MemoryLimit). Default 64 MiB.
    pub max_memory: usize,
    /// Fuel per call (wasmtime's deterministic instruction budget); `None` (the
    /// default) does not meter fuel, which keeps execution faster.
    pub fuel: Option<u64>,
    /// Largest database per tenant, in bytes; a write past it fails with a
    /// `storage` error saying the database is full. Default 1 GiB.
    pub max_db_size: u64,
    /// Longest record name the store accepts, in bytes; longer ones are `invalid`
    /// whatever the plugin's own rules say. Default 4 KiB.
    pub max_name_bytes: usize,
    /// Most records one `scan` returns, whatever limit the plugin asks for.
    pub max_scan: u32,
    /// Most bytes of stdout and of stderr a plugin instance may print (to the
    /// host's stderr, prefixed with the plugin's name), over all its calls; the rest
    /// is dropped. The CLI and `PluginHost` make one instance per call. Default
    /// 64 KiB.
    pub max_output: usize,
}

impl Limits {
    /// The default [`timeout`](Self::timeout): 5 s.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
    /// The default [`max_memory`](Self::max_memory): 64 MiB.
    pub const DEFAULT_MAX_MEMORY: usize = 64 << 20;
    /// The default [`max_db_size`](Self::max_db_size): 1 GiB.
    pub const DEFAULT_MAX_DB_SIZE: u64 = 1 << 30;
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout: Self::DEFAULT_TIMEOUT,
            max_memory: Self::DEFAULT_MAX_MEMORY,
            fuel: None,
            max_db_size: Self::DEFAULT_MAX_DB_SIZE,
            max_name_bytes: 4096,
            max_scan: 1000,
            max_output: 64 << 10,
        }
    }
}

/// A linear memory tried to grow past [`Limits::max_memory`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("memory limit of {limit} bytes exceeded (growing to {desired} bytes)")]
pub(crate) struct MemoryLimitExceeded {
    pub(crate) limit: usize,
    pub(crate) desired: usize,
}

/// The per-store [`wasmtime::ResourceLimiter`]: memory as configured; tables,
/// instances and memories bounded generously for any real component, tightly for
/// a bomb.
#[derive(Debug, Clone)]
pub(crate) struct PluginLimiter {
    max_memory: usize,
}

/// Most table elements per table: far above what compilers emit for real programs.
pub(crate) const MAX_TABLE_ELEMENTS: usize = 1 << 20;
/// Most core instances, tables and memories per component instance: components
/// from wit-bindgen, componentize-py and componentize-js use a handful of each.
pub(crate) const MAX_INSTANCES: usize = 64;
pub(crate) const MAX_TABLES: usize = 64;
pub(crate) const MAX_MEMORIES: usize = 16;

impl PluginLimiter {
    pub(crate) fn new(limits: &Limits) -> Self {
        Self {
            max_memory: limits.max_memory,
        }
    }
}

impl wasmtime::ResourceLimiter for PluginLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            // An error (not `Ok(false)`) traps the guest, so the call reports the
            // limit instead of whatever the guest's allocator does on failure.
            return Err(MemoryLimitExceeded {
                limit: self.max_memory,
                desired,
            }
            .into());
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

/// Starts the thread that advances `engine`'s epoch every [`TICK`] for as long as
/// the engine lives. It holds only a weak reference, so it ends (within a tick)
/// when the last clone of the engine is dropped.
pub(crate) fn start_epoch_ticker(engine: &Engine) {
    let weak: EngineWeak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("records-epoch-ticker".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(TICK);
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the epoch ticker: plugin time limits will not fire");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    #[test]
    fn memory_may_grow_up_to_the_limit_and_no_further() {
        let mut limiter = PluginLimiter::new(&Limits {
            max_memory: 1 << 20,
            ..Limits::default()
        });
        assert!(limiter.memory_growing(0, 1 << 20, None).unwrap());
        let err = limiter
            .memory_growing(1 << 20, (1 << 20) + 65536, None)
            .unwrap_err();
        let exceeded = err.downcast_ref::<MemoryLimitExceeded>().unwrap();
        assert_eq!(exceeded.limit, 1 << 20);
    }
}
