//! `records-host compile-worker` (hidden): compiles the component on stdin into
//! the compiled-plugin cache, for an engine with the given limits, and exits.
//! Run by [`ProcessCompiler`](super::ProcessCompiler) under its bounds.

use std::io::Read;
use std::path::PathBuf;

use clap::Args;
use records_host::{Limits, Runtime};

use crate::exit;

/// Compile the component on stdin into the cache (run by `serve`).
#[derive(Debug, Args)]
pub(crate) struct CompileWorker {
    /// The compiled-plugin cache to write the artifact into.
    #[arg(long, value_name = "DIR")]
    cache_dir: PathBuf,
    /// Whether the engine meters fuel (the serving engine's setting).
    #[arg(long)]
    fuel: bool,
    /// The serving engine's largest linear memory, in bytes.
    #[arg(long, value_name = "BYTES")]
    max_memory: usize,
    /// The largest component read, in bytes.
    #[arg(long, value_name = "BYTES")]
    max_size: u64,
}

impl CompileWorker {
    pub(crate) fn execute(&self) -> anyhow::Result<u8> {
        let mut wasm = Vec::new();
        std::io::stdin()
            .take(self.max_size.saturating_add(1))
            .read_to_end(&mut wasm)?;
        anyhow::ensure!(
            wasm.len() as u64 <= self.max_size,
            "the component is over the size limit"
        );
        let limits = Limits {
            fuel: self.fuel.then_some(1),
            max_memory: self.max_memory,
            ..Limits::default()
        };
        Runtime::builder()
            .limits(limits)
            .max_plugin_size(self.max_size)
            .cache_dir(&self.cache_dir)
            .build()?
            .precompile(&wasm)?;
        Ok(exit::OK)
    }
}
