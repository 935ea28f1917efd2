//! Tenants: validated names, each mapped to a database of its own.
//!
//! A tenant's data lives in `<data-dir>/tenants/<name>/records.db`, with its own
//! `db.lock` beside it, so one tenant's writers never wait for another's. The name
//! becomes a path component, so it is validated before anything touches the file
//! system: `[a-z0-9][a-z0-9_-]{0,62}`, which rules out `..`, separators, empty
//! names, case tricks and overlong names.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The longest tenant name, in bytes.
pub const MAX_TENANT_NAME: usize = 63;

/// A tenant name that is safe to use as a directory name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantName(String);

/// A string that is not a valid tenant name; the message says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid tenant name {name:?}: {reason} (allowed: [a-z0-9][a-z0-9_-]{{0,62}})")]
pub struct InvalidTenantName {
    /// The rejected input.
    pub name: String,
    /// Which rule it broke.
    pub reason: &'static str,
}

impl TenantName {
    /// Validates `name`.
    ///
    /// # Errors
    /// [`InvalidTenantName`] when it is empty, longer than 63 bytes, starts with
    /// `_` or `-`, or holds anything but lowercase ASCII letters, digits, `_`, `-`.
    pub fn new(name: &str) -> Result<Self, InvalidTenantName> {
        let invalid = |reason| InvalidTenantName {
            name: name.to_string(),
            reason,
        };
        let first = name.bytes().next().ok_or_else(|| invalid("it is empty"))?;
        if name.len() > MAX_TENANT_NAME {
            return Err(invalid("it is longer than 63 bytes"));
        }
        if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
            return Err(invalid("it must start with a lowercase letter or a digit"));
        }
        let allowed =
            |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-';
        if !name.bytes().all(allowed) {
            return Err(invalid(
                "it may only hold lowercase letters, digits, '_' and '-'",
            ));
        }
        Ok(Self(name.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The tenant's database: `<data_dir>/tenants/<name>/records.db`.
    pub fn database_path(&self, data_dir: &Path) -> PathBuf {
        data_dir.join("tenants").join(&self.0).join("records.db")
    }
}

impl FromStr for TenantName {
    type Err = InvalidTenantName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl fmt::Display for TenantName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_names_are_accepted() {
        for name in ["a", "0", "acme", "tenant-1", "a_b", &"x".repeat(63)] {
            assert_eq!(TenantName::new(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn unsafe_or_malformed_names_are_rejected() {
        for name in [
            "",
            "../x",
            "a/b",
            "..",
            ".",
            "A",
            "Acme",
            "-a",
            "_a",
            "a b",
            "a.b",
            "a\\b",
            "é",
            "a\0",
            &"x".repeat(64),
        ] {
            assert!(TenantName::new(name).is_err(), "{name:?} must be rejected");
        }
    }

    #[test]
    fn each_tenant_has_its_own_database_directory() {
        let path = TenantName::new("acme")
            .unwrap()
            .database_path(Path::new("data"));
        assert_eq!(path, Path::new("data/tenants/acme/records.db"));
    }
}
