//! The error of a command line that clap accepted but that does not make sense:
//! reported with exit code 2 ([`exit::USAGE`](crate::exit::USAGE)).

/// A command line that clap accepted but that does not make sense (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UsageError(pub(crate) String);
