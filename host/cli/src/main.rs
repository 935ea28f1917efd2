//! The `records-host` binary: parse, run, exit. The commands are in `lib.rs`.

use clap::Parser;
use records_host_cli::{Cli, init_tracing};

/// mimalloc rather than glibc's malloc, for Rust and (feature `override`) for
/// SQLite's C code alike: under `serve`'s load glibc's allocator took 15% of the
/// server's CPU (`malloc_consolidate`, its arenas' locks), and the arenas of the
/// few threads that run the calls kept some 110 MiB of freed SQLite memory
/// resident over 10,000 tenants, which mimalloc returns to the system.
/// `no_thp`: with transparent huge pages a CLI call's peak RSS was 22 MiB, not 16.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli);
    cli.run()
}
