//! Which `records-host` binary a bench runs: the one named by
//! `RECORDS_HOST_BIN` when set (so the same built bench binaries, copied to
//! another machine beside a copy of the server, run there), else the one cargo
//! built with the bench.

/// The path of the `records-host` binary to run.
pub(crate) fn records_host() -> String {
    std::env::var("RECORDS_HOST_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_records-host").to_string())
}
