//! What a deployed version is: its slot (the tenant's plugin, or one of its
//! named scripts), its number, and what the host recorded when it was uploaded.

use std::fmt;

use crate::tenant::TenantName;

/// What a tenant deploys: its plugin, or one of its scripts, by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Slot {
    /// The plugin the tenant's calls run.
    Plugin,
    /// A script (the contract's `script` world), named as a tenant is.
    Script(String),
}

impl Slot {
    /// The slot of the script `name`, which follows the rules of tenant names
    /// (`[a-z0-9][a-z0-9_-]{0,62}`).
    ///
    /// # Errors
    /// [`InvalidTenantName`](crate::InvalidTenantName) for a name breaking them.
    pub fn script(name: &str) -> Result<Self, crate::tenant::InvalidTenantName> {
        Ok(Self::Script(TenantName::new(name)?.as_str().to_string()))
    }

    /// The slot's key in the versions tables: `plugin` or `script:NAME`.
    pub(crate) fn key(&self) -> String {
        match self {
            Self::Plugin => "plugin".to_string(),
            Self::Script(name) => format!("script:{name}"),
        }
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Plugin => f.write_str("plugin"),
            Self::Script(name) => write!(f, "script {name}"),
        }
    }
}

/// One stored version, as listed: everything but the component's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    /// Numbered per slot from 1, never reused.
    pub number: u32,
    /// The SHA-256 of the component's bytes, in lowercase hex.
    pub sha256: String,
    /// The component's size in bytes.
    pub size: u64,
    /// When it was stored, RFC 3339 (UTC, milliseconds).
    pub created_at: String,
    /// Who uploaded it: `token:<tenant>:<fingerprint>` for a service token (a
    /// fingerprint, never the token), `operator:<user>` from the command line.
    pub uploaded_by: String,
    /// The uploader's message, if any.
    pub message: Option<String>,
    /// Whether every conformance check passed. A failed version was stored only
    /// on request (`force`) and is activated only on request.
    pub passed: bool,
    /// The check report, as JSON (`records-host check --json`'s shape).
    pub report: String,
    /// Whether it is the slot's active version.
    pub active: bool,
}

/// A version to store: the bytes and what the host recorded about them.
#[derive(Debug, Clone)]
pub struct NewVersion<'a> {
    /// The component.
    pub wasm: &'a [u8],
    /// See [`VersionInfo::uploaded_by`].
    pub uploaded_by: String,
    /// See [`VersionInfo::message`].
    pub message: Option<String>,
    /// See [`VersionInfo::passed`].
    pub passed: bool,
    /// See [`VersionInfo::report`].
    pub report: String,
}

/// The version a slot runs now: its number and the SHA-256 of its bytes, enough
/// to find its compiled code without reading the bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ActiveVersion {
    /// The version's number.
    pub number: u32,
    /// Its bytes' SHA-256, lowercase hex.
    pub sha256: String,
}
