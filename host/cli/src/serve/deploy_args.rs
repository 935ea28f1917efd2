//! `serve`'s flags for tenants' own versions: whether tenants without one run
//! the server's plugin, how uploads are bounded, how many versions are kept, how
//! much compiled code stays loaded.

use std::time::Duration;

use clap::Args;
use records_host::{DEFAULT_KEEP_VERSIONS, Limits};

use crate::compile::ProcessCompiler;

/// How tenants' deployed versions are served.
#[derive(Debug, Args)]
pub(crate) struct DeployArgs {
    /// Tenants without an active plugin version of their own get 409 instead of
    /// the server's --plugin.
    #[arg(long)]
    pub(crate) no_default_plugin: bool,

    /// How many versions of each tenant's plugin (and of each script) are kept,
    /// besides the active one; older ones are pruned.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_KEEP_VERSIONS,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub(crate) keep_versions: u32,

    /// How many uploads may compile and run their checks at once; more get 503
    /// with Retry-After [default: half the cores, at least 1]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub(crate) max_concurrent_compiles: Option<u32>,

    /// How much compiled code of tenants' plugins stays loaded in memory, in MiB
    /// (least recently used dropped first; a dropped one is loaded again from the
    /// compiled-plugin cache, not recompiled).
    #[arg(long, value_name = "MIB", default_value_t = 1024,
          value_parser = clap::value_parser!(u64).range(1..=(1 << 20)))]
    pub(crate) max_loaded_plugins_mib: u64,

    /// How long compiling one upload may take, in milliseconds (wall clock, and
    /// CPU time rounded up to a second); over it: 422, nothing stored. The
    /// default is five times what the 17.5 MiB componentize-py example takes on
    /// a 2-core machine.
    #[arg(long, value_name = "MS", default_value_t = 30_000,
          value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub(crate) max_compile_ms: u64,

    /// How much address space compiling one upload may use, in MiB; over it: 422.
    #[arg(long, value_name = "MIB", default_value_t = 2048,
          value_parser = clap::value_parser!(u64).range(64..=(1 << 20)))]
    pub(crate) max_compile_memory: u64,
}

impl DeployArgs {
    /// The compiler of uploads: a child process within these bounds.
    pub(crate) fn compiler(&self, limits: Limits, max_size: u64) -> ProcessCompiler {
        ProcessCompiler {
            max_time: Duration::from_millis(self.max_compile_ms),
            max_memory: self.max_compile_memory << 20,
            limits,
            max_size,
        }
    }
}
