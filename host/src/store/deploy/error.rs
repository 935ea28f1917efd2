//! Why a deployment operation was refused or failed.

use super::version::Slot;
use crate::record_error::RecordError;

/// Why storing, activating, reading or removing a version failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeployError {
    /// No version of the slot has this number (never stored, or pruned).
    #[error("{slot} has no version {number}")]
    NoSuchVersion {
        /// The slot asked for.
        slot: Slot,
        /// The number asked for.
        number: u32,
    },
    /// The slot has no active version to run.
    #[error("no version of the {slot} is active")]
    NoActiveVersion {
        /// The slot.
        slot: Slot,
    },
    /// The version is the slot's active one: activate another first.
    #[error("version {number} is the active {slot}: activate another version first")]
    Active {
        /// The slot.
        slot: Slot,
        /// The active version.
        number: u32,
    },
    /// The version failed its conformance checks and `force` was not given.
    #[error(
        "version {number} of the {slot} failed its checks: activate it with force to run it anyway"
    )]
    FailedChecks {
        /// The slot.
        slot: Slot,
        /// The failed version.
        number: u32,
    },
    /// The stored bytes do not hash to the version's SHA-256: they were damaged
    /// or replaced on disk. Nothing runs them.
    #[error("the stored bytes of version {number} of the {slot} do not match their SHA-256")]
    Damaged {
        /// The slot.
        slot: Slot,
        /// The damaged version.
        number: u32,
    },
    /// The store failed (or its lock timed out).
    #[error(transparent)]
    Store(#[from] RecordError),
}

impl From<rusqlite::Error> for DeployError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Store(e.into())
    }
}
