//! The library's error: [`Error`] is everything an embedder can meet when opening
//! databases, loading plugins and calling them; it wraps the record domain's
//! [`RecordError`] (record_error.rs) and the store's own error. Binaries report
//! it once, at their edge.

use crate::lock::LockTimeout;
use crate::record_error::RecordError;
use crate::sandbox::limits::{Limits, MemoryLimitExceeded};
use crate::tenant::InvalidTenantName;

/// Everything that can go wrong when an embedder opens a database, loads a plugin
/// or calls one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The plugin (or the store, for direct database use) returned a record error.
    /// A lock timeout is `Error::Record(RecordError::LockTimeout(..))`.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The store failed: a database could not be opened or prepared
    /// ([`store::Error::Open`](crate::store::Error::Open), which names it), or its
    /// lock's state could not be read.
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    /// The plugin could not be read, compiled or linked.
    #[error("cannot load plugin {plugin}: {reason}")]
    LoadPlugin {
        /// The plugin's name (its file name, or `reference` for the embedded one).
        plugin: String,
        /// Why, as wasmtime or the file system said it.
        reason: String,
    },
    /// The plugin trapped (a panic, `unreachable`, an out-of-bounds access, a stack
    /// overflow, ...). Any write it had in progress was rolled back and the lock
    /// released.
    #[error("plugin trapped: {0}")]
    Trap(String),
    /// The plugin ran past its wall-clock limit ([`Limits::timeout`]) and was
    /// stopped; its open transactions were rolled back.
    #[error("plugin exceeded its {ms} ms time limit")]
    TimeLimit {
        /// The limit, in milliseconds.
        ms: u64,
    },
    /// The plugin tried to grow a memory past [`Limits::max_memory`] and was
    /// stopped; its open transactions were rolled back.
    #[error("plugin exceeded its {mib} MiB memory limit")]
    MemoryLimit {
        /// The limit, in MiB (rounded up).
        mib: u64,
    },
    /// The plugin used up its fuel ([`Limits::fuel`]) and was stopped; its open
    /// transactions were rolled back.
    #[error("plugin ran out of fuel (its budget is {fuel})")]
    FuelExhausted {
        /// The budget.
        fuel: u64,
    },
    /// A tenant name was not valid; nothing was created.
    #[error(transparent)]
    InvalidTenant(#[from] InvalidTenantName),
    /// A call's name fits several exports (qualify it as `interface#function`),
    /// its expression does not parse, or its arguments do not fit the signature.
    #[error("bad call: {0}")]
    BadCall(String),
    /// A call named a function the plugin does not export; the message lists what
    /// it does export.
    #[error("{0}")]
    NoSuchFunction(String),
    /// A deployed version could not be stored, activated, read or removed.
    #[error(transparent)]
    Deploy(#[from] crate::store::DeployError),
    /// The tenant has no active plugin version and the host has no default
    /// plugin to run instead.
    #[error("no plugin is deployed for tenant {tenant}")]
    NoPluginDeployed {
        /// The tenant.
        tenant: String,
    },
    /// An uploaded component failed the contract's conformance checks and was
    /// not stored (store it anyway with `force`).
    #[error("the plugin failed {} of its {} checks: {}", .report.not_passed().len(), .report.checks.len(), .report.not_passed().join(", "))]
    ChecksFailed {
        /// Every check's outcome.
        report: crate::check_report::Report,
    },
    /// Compiling an upload exceeded a bound of its [`Compiler`](crate::Compiler)
    /// (time, memory), or the compiler could not run.
    #[error(transparent)]
    CompileRefused(#[from] crate::runtime::compiler::CompileRefused),
    /// The wasm engine could not be set up.
    #[error("engine: {0}")]
    Engine(String),
}

impl Error {
    /// Whether the plugin was stopped (trapped or hit a limit), as opposed to
    /// returning an error value or being called wrongly.
    pub fn stopped_the_plugin(&self) -> bool {
        matches!(
            self,
            Self::Trap(_)
                | Self::TimeLimit { .. }
                | Self::MemoryLimit { .. }
                | Self::FuelExhausted { .. }
        )
    }

    /// Whether the database server was unavailable (unreachable, gone, or not
    /// taking writes during a failover): retryable, like a lock timeout.
    pub fn unavailable(&self) -> bool {
        match self {
            Self::Record(RecordError::Storage(e))
            | Self::Deploy(crate::store::DeployError::Store(RecordError::Storage(e))) => {
                e.is_unavailable()
            }
            Self::Store(e) => e.unavailable(),
            _ => false,
        }
    }

    /// The lock timeout behind this error, if a held write lock is why it failed
    /// (while writing, or while opening a database whose schema had to be made).
    pub fn lock_timeout(&self) -> Option<&LockTimeout> {
        match self {
            Self::Record(RecordError::LockTimeout(timeout)) => Some(timeout),
            Self::Store(e) => e.lock_timeout(),
            Self::Deploy(crate::store::DeployError::Store(RecordError::LockTimeout(timeout))) => {
                Some(timeout)
            }
            _ => None,
        }
    }

    /// The error in words fit for a tenant of a service: what failed, never
    /// where. It holds no path, URL, host, port, user or database name (a storage
    /// error's detail and an unopened database's location are left out); log the
    /// error itself for the operator, beside something that ties the two together
    /// (`records-host serve` answers with a request id and logs it).
    pub fn for_tenant(&self) -> String {
        match self {
            Self::Record(e) => e.for_tenant().to_string(),
            Self::Store(e) => e.for_tenant(),
            Self::LoadPlugin { .. } => "the plugin could not be loaded".into(),
            Self::Engine(_) => "the host's wasm engine failed".into(),
            Self::Deploy(crate::store::DeployError::Store(e)) => e.for_tenant().to_string(),
            other => crate::display::error_chain(other),
        }
    }

    /// Classifies an error from a wasmtime call into the guest: a limit that
    /// stopped it, or a trap. (Record errors reach the guest as WIT values, never
    /// as wasmtime errors.)
    pub(crate) fn from_call(err: wasmtime::Error, limits: &Limits) -> Self {
        if let Some(exceeded) = err.downcast_ref::<MemoryLimitExceeded>() {
            return Self::MemoryLimit {
                mib: (exceeded.limit as u64).div_ceil(1 << 20),
            };
        }
        match err.downcast_ref::<wasmtime::Trap>() {
            Some(wasmtime::Trap::Interrupt) => return Self::time_limit(limits),
            Some(wasmtime::Trap::OutOfFuel) => {
                return Self::FuelExhausted {
                    fuel: limits.fuel.unwrap_or_default(),
                };
            }
            _ => {}
        }
        // The full error carries a wasm backtrace: useful to a developer, noise in a
        // one-line report, so it goes to the log and the root cause to the user.
        tracing::debug!(error = ?err, "plugin call failed");
        Self::Trap(
            err.root_cause()
                .to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        )
    }
}

impl Error {
    /// The call ran past `limits.timeout`.
    pub(crate) fn time_limit(limits: &Limits) -> Self {
        Self::TimeLimit {
            ms: u64::try_from(limits.timeout.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// A wasmtime error with its causes on one line (some of its messages contain
/// multi-line debug output), so the CLI can report every error as one line.
pub(crate) fn one_line(err: &wasmtime::Error) -> String {
    format!("{err:#}")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
