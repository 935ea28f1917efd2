//! The `records-host` binary: parse, run, exit. See `cli.rs`.

mod cli;

use clap::Parser;

/// mimalloc rather than glibc's malloc: under `serve`'s load, glibc's allocator
/// (its arenas' locks, `malloc_consolidate`) took 15% of the server's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    cli::init_tracing(&cli);
    cli.run()
}
