//! The `records-host` binary: parse, run, exit. See `cli.rs`.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    cli::init_tracing(&cli);
    cli.run()
}
