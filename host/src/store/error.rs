//! The store's own error, [`Error`]: why a database could not be opened or
//! prepared, or its lock not read, with the failing library's error kept as the
//! source.
//!
//! The record operations answer in the WIT domain ([`RecordError`], which a guest
//! receives), so a store error becomes one at that edge: [`From<Error>`] for
//! [`RecordError`] is where a storage failure gets its two parts (what failed, for
//! anyone; the backend's account, for the operator).

use crate::display::{error_chain, escape_control};
use crate::lock::{LockError, LockTimeout};
use crate::record_error::{RecordError, StorageError};
use crate::store::location::Location;

/// What a full database says, on either backend.
const FULL: &str = "the database is full: it reached its size limit (or the disk is full)";

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database at `location` could not be opened or prepared, or its lock's
    /// state could not be read; `source` says why.
    #[error("cannot open database {location}")]
    Open {
        /// Where the database is (a PostgreSQL URL is shown without its password).
        location: Location,
        /// Why.
        source: Box<Error>,
    },
    /// Another writer held the write lock past the timeout (or, on SQLite, a
    /// process outside the write lock held SQLite's own lock); nothing was
    /// written. It is retryable.
    #[error(transparent)]
    LockTimeout(LockTimeout),
    /// The lock file could not be used.
    #[error("storage: {summary}")]
    Lock {
        /// What failed.
        summary: String,
        /// The lock's error.
        source: LockError,
    },
    /// SQLite failed.
    #[error("storage: {summary}")]
    Sqlite {
        /// What failed, in SQLite's fixed words (never a path).
        summary: String,
        /// The operator's account of it.
        detail: String,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// PostgreSQL failed.
    #[error("storage: {summary}")]
    Postgres {
        /// What failed (never a URL, host or user).
        summary: String,
        /// The operator's account of it, with the URL without its password.
        detail: String,
        /// The client's error.
        source: postgres::Error,
    },
    /// The database is another application's; it was left untouched.
    #[error(
        "storage: it is not a records-host database ({what}); it was left untouched ({at} is not a records-host database)"
    )]
    Foreign {
        /// What it holds.
        what: String,
        /// Where it is, for the operator.
        at: String,
    },
    /// The database has a newer schema than this build knows; it was left
    /// untouched.
    #[error(
        "storage: schema version {found} is newer than this records-host supports ({supported}) ({at})"
    )]
    NewerSchema {
        /// The database's schema version.
        found: u32,
        /// The newest this build knows.
        supported: u32,
        /// Where it is, for the operator.
        at: String,
    },
    /// The database's file cannot be used: its path resolves to something other
    /// than a regular file, its directory cannot be made, or it cannot be switched
    /// to WAL.
    #[error("storage: {why} ({at})")]
    Unusable {
        /// What is wrong with it.
        why: String,
        /// Where it is, for the operator.
        at: String,
    },
    /// The database reached its size limit, or the disk is full.
    #[error("storage: {FULL}")]
    Full,
    /// The write lock held is not the lock of the database written: a bug in the
    /// host, refused before anything was written.
    #[error("storage: the write lock held is not this database's: the write was refused")]
    NotItsLock,
    /// Any other failure, as the record operations report it.
    #[error(transparent)]
    Record(RecordError),
}

impl Error {
    /// The lock timeout behind this error, if a held lock is why it failed.
    pub fn lock_timeout(&self) -> Option<&LockTimeout> {
        match self {
            Self::Open { source, .. } => source.lock_timeout(),
            Self::LockTimeout(timeout) | Self::Record(RecordError::LockTimeout(timeout)) => {
                Some(timeout)
            }
            _ => None,
        }
    }

    /// Whether the database server was unavailable (unreachable, gone, or not
    /// taking writes during a failover): retryable.
    pub fn unavailable(&self) -> bool {
        match self {
            Self::Open { source, .. } => source.unavailable(),
            Self::Record(RecordError::Storage(e)) => e.is_unavailable(),
            _ => false,
        }
    }

    /// The error in words fit for a tenant or a plugin: what failed, never where
    /// (no path, URL, host, user or database name).
    pub fn for_tenant(&self) -> String {
        match self {
            Self::Open { source, .. } => {
                format!("cannot open the database: {}", source.for_tenant())
            }
            Self::LockTimeout(timeout) => timeout.to_string(),
            Self::Record(e) => e.for_tenant().to_string(),
            other => format!("storage: {}", other.summary()),
        }
    }

    /// What failed, without the operator's detail.
    fn summary(&self) -> String {
        match self {
            Self::Lock { summary, .. }
            | Self::Sqlite { summary, .. }
            | Self::Postgres { summary, .. } => summary.clone(),
            Self::Foreign { what, .. } => {
                format!("it is not a records-host database ({what}); it was left untouched")
            }
            Self::NewerSchema {
                found, supported, ..
            } => format!(
                "schema version {found} is newer than this records-host supports ({supported})"
            ),
            Self::Unusable { why, .. } => why.clone(),
            Self::Full => FULL.into(),
            Self::NotItsLock => {
                "the write lock held is not this database's: the write was refused".into()
            }
            Self::Open { .. } | Self::LockTimeout(_) | Self::Record(_) => self.to_string(),
        }
    }

    /// The operator's detail, if any.
    fn detail(&self) -> Option<String> {
        match self {
            Self::Lock { source, .. } => Some(error_chain(source)),
            Self::Sqlite { detail, .. } | Self::Postgres { detail, .. } => Some(detail.clone()),
            Self::Foreign { at, .. } => Some(format!("{at} is not a records-host database")),
            Self::NewerSchema { at, .. } | Self::Unusable { at, .. } => Some(at.clone()),
            _ => None,
        }
    }
}

impl From<Error> for RecordError {
    /// The one place a storage failure becomes [`RecordError::Storage`] (a plugin's
    /// own storage errors aside).
    fn from(e: Error) -> Self {
        match e {
            Error::LockTimeout(timeout) => Self::LockTimeout(timeout),
            Error::Record(e) => e,
            Error::Open { source, .. } => Self::from(*source),
            other => Self::Storage(match other.detail() {
                Some(detail) => StorageError::with_detail(other.summary(), detail),
                None => StorageError::new(other.summary()),
            }),
        }
    }
}

impl From<RecordError> for Error {
    fn from(e: RecordError) -> Self {
        match e {
            RecordError::LockTimeout(timeout) => Self::LockTimeout(timeout),
            other => Self::Record(other),
        }
    }
}

impl From<LockError> for Error {
    fn from(e: LockError) -> Self {
        let summary = match &e {
            LockError::Timeout(timeout) => return Self::LockTimeout(timeout.clone()),
            LockError::NotARegularFile { what, .. } => {
                format!("the lock file is {what}, not a regular file; refusing to use it")
            }
            LockError::Io { source, .. } => format!("the lock file cannot be used: {source}"),
        };
        Self::Lock { summary, source: e }
    }
}

impl From<LockError> for RecordError {
    fn from(e: LockError) -> Self {
        Error::from(e).into()
    }
}

impl Error {
    /// A SQLite failure: `summary` says what failed, `source` is SQLite's error,
    /// whose text (escaped) is the operator's detail.
    pub(crate) fn sqlite(summary: impl Into<String>, source: rusqlite::Error) -> Self {
        let detail = escape_control(&source.to_string());
        Self::Sqlite {
            summary: summary.into(),
            detail,
            source,
        }
    }
}
