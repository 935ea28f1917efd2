//! What taking the write lock can fail with.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// A writer gave up waiting for the write lock.
///
/// Its `Display` is the three lines operators know from the original design:
/// ```text
/// write lock timeout after 500ms
///   holder: pid:4242 time:2026-11-26T05:00:00Z plugin:records-guest
///   try again or check if holder process is stuck
/// ```
/// It is retryable: nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "write lock timeout after {}ms\n  holder: {holder}\n  try again or check if holder process is stuck",
    waited.as_millis()
)]
pub struct LockTimeout {
    /// How long the writer waited before giving up.
    pub waited: Duration,
    /// Who holds the lock, one line with control characters escaped: the process
    /// the kernel names as holding it now, with the fields of its holder record
    /// when it wrote one, or what else is known.
    pub holder: String,
}

impl LockTimeout {
    /// The timeout of a writer that found the lock file deleted or replaced at
    /// every attempt until its deadline.
    pub(crate) fn replaced(waited: Duration) -> Self {
        Self {
            waited,
            holder: "none: the lock file was deleted or replaced while in use".into(),
        }
    }
}

/// Why the write lock could not be taken, or its status not read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Another writer held the lock until the deadline.
    #[error(transparent)]
    Timeout(#[from] LockTimeout),
    /// The path of the lock file holds something other than a regular file with a
    /// single link (a symbolic link, a directory, a FIFO, a device, a hard link).
    /// Someone other than records-host put it there; it was neither followed nor
    /// written.
    #[error("lock file {} is {what}, not a regular file; refusing to use it", path.display())]
    NotARegularFile {
        /// The lock file.
        path: PathBuf,
        /// What is there instead, such as `a symbolic link`.
        what: String,
    },
    /// The lock file could not be opened, locked or written.
    #[error("lock file {}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
}
