//! Compiling an untrusted component outside the process that will run it.
//!
//! Compiling is the one step of loading a plugin whose cost the plugin decides:
//! a crafted module can keep cranelift busy for minutes and make it allocate
//! gigabytes. A [`Compiler`] set on the runtime
//! ([`RuntimeBuilder::compiler`](crate::RuntimeBuilder::compiler)) takes that
//! step for uploads ([`Runtime::load_checked`](crate::Runtime::load_checked)):
//! it compiles the bytes somewhere bounded (the CLI runs a child process under
//! CPU, wall-clock and address-space limits) into the runtime's compiled-plugin
//! cache, and the runtime then loads the artifact from the cache, the same way
//! as any cached plugin (checksum, ownership, wasmtime's own engine check).
//! This process never runs the compiler on those bytes itself.

/// Why a [`Compiler`] produced no artifact.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompileRefused {
    /// Compiling took longer than its time bound; the text says which.
    #[error("compiling took longer than its {0}")]
    Time(String),
    /// Compiling needed more memory than its bound; the text says which.
    #[error("compiling needed more memory than its {0}")]
    Memory(String),
    /// The bytes are not a component this host can compile; the text says why.
    #[error("{0}")]
    Invalid(String),
    /// The compiler could not be run.
    #[error("the compiler could not be run: {0}")]
    Failed(String),
}

/// Compiles components into a compiled-plugin cache directory, for an engine
/// configured as the runtime's is (same limits, so the same code).
pub trait Compiler: Send + Sync {
    /// Compiles `wasm` and stores the artifact in `cache_dir` (as
    /// `records-host`'s cache names it).
    ///
    /// # Errors
    /// [`CompileRefused`] when it produced no artifact.
    fn compile(&self, wasm: &[u8], cache_dir: &std::path::Path) -> Result<(), CompileRefused>;
}
