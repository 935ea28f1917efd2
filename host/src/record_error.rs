//! The record domain's error, the Rust face of the WIT `error` variant: the
//! host's store returns it to guests, and guests return it from their exports.
//! A leaf: the store and the runtime both use it, and the crate-wide [`Error`]
//! (error.rs) wraps it and the store's own error.
//!
//! [`Error`]: crate::Error

use crate::lock::LockTimeout;
/// A record's primary key.
pub type RecordId = i64;

/// Why a record operation failed: the WIT `records:plugin/types.error` variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// Another writer held the write lock past the timeout; nothing was written.
    #[error(transparent)]
    LockTimeout(#[from] LockTimeout),
    /// No record has this id.
    #[error("no record has id {0}")]
    NotFound(RecordId),
    /// The input broke a rule; the message says which.
    #[error("invalid: {0}")]
    Invalid(String),
    /// The storage layer (SQLite, PostgreSQL, the file system) failed: what
    /// failed, and the backend's own account for the operator.
    #[error("storage: {0}")]
    Storage(StorageError),
}

impl RecordError {
    /// A storage error with `summary` only (see [`StorageError`]).
    pub fn storage(summary: impl Into<String>) -> Self {
        Self::Storage(StorageError::new(summary))
    }

    /// The error as a tenant or a plugin may be told it: a storage error without
    /// its detail, which may name paths, URLs, hosts, users or databases.
    #[must_use]
    pub fn for_tenant(&self) -> Self {
        match self {
            Self::Storage(e) => Self::Storage(StorageError::new(e.summary())),
            other => other.clone(),
        }
    }
}

/// A storage failure, in two parts, because two audiences read it.
///
/// The summary says what failed in words fit for anyone: it never holds a path,
/// a URL, a host, a port, a user or a database name, so it is what a plugin (the
/// WIT `storage` message) and a tenant of a service are told. The detail is the
/// backend's own account, with where it happened (the database's path, or its URL
/// without the password), for the operator: the CLI prints it, a service logs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageError {
    summary: String,
    detail: Option<String>,
    /// The database server could not be reached, or went away, or cannot take
    /// writes now (a failover under way): the same call may succeed later.
    unavailable: bool,
}

impl StorageError {
    /// What failed, with no detail (what a plugin returns, or a failure whose
    /// summary says everything).
    pub fn new(summary: impl Into<String>) -> Self {
        Self {
            summary: summary.into(),
            detail: None,
            unavailable: false,
        }
    }

    /// What failed, and the operator's detail of it.
    pub fn with_detail(summary: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            summary: summary.into(),
            detail: Some(detail.into()),
            unavailable: false,
        }
    }

    /// The same error, marked as the server being unavailable for now (see
    /// [`Self::is_unavailable`]).
    #[must_use]
    pub fn unavailable(mut self) -> Self {
        self.unavailable = true;
        self
    }

    /// Whether the server could not be reached, went away, or cannot take writes
    /// now (a PostgreSQL failover under way): retryable, like a lock timeout.
    pub fn is_unavailable(&self) -> bool {
        self.unavailable
    }

    /// What failed, fit for a tenant or a plugin.
    pub fn summary(&self) -> &str {
        &self.summary
    }

    /// The backend's account, for the operator only.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }
}

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.detail {
            Some(detail) => write!(f, "{} ({detail})", self.summary),
            None => f.write_str(&self.summary),
        }
    }
}
