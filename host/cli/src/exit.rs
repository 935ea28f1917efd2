//! The exit codes, as documented in `--help` and docs/cli.md.

/// The command succeeded.
pub const OK: u8 = 0;
/// The call returned `err(..)` (printed on stdout), or another error occurred.
pub const FAILURE: u8 = 1;
/// The command line or the call expression was malformed.
pub const USAGE: u8 = 2;
/// A write gave up waiting for the write lock, or the PostgreSQL server was
/// unavailable (EX_TEMPFAIL): try again.
pub const TEMPFAIL: u8 = 75;
