//! Compiling uploads in a child process under bounds: the parent's
//! [`ProcessCompiler`] (`process.rs`) and the hidden `compile-worker` command
//! it runs (`worker.rs`).
//!
//! Why a process: a crafted module can make cranelift run for minutes and
//! allocate gigabytes, and neither can be bounded for a thread. A child can:
//! its CPU time (`RLIMIT_CPU`), its address space (`RLIMIT_AS`) and its wall
//! clock (killed at the deadline). It writes the artifact into the
//! compiled-plugin cache and exits; the server loads it from there
//! (`records_host::Compiler`).

mod process;
mod worker;

pub(crate) use self::process::ProcessCompiler;
pub(crate) use self::worker::CompileWorker;
