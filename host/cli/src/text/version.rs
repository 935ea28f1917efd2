//! A deployed version as JSON, as the service answers it and `plugin list
//! --json` prints it; its type is also what the OpenAPI document describes.

use records_host::VersionInfo;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// One immutable version of a tenant's plugin (or named script).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VersionBody {
    /// Its number: 1, 2, ... per tenant and slot.
    pub version: u32,
    /// Whether it is the one calls run.
    pub active: bool,
    /// SHA-256 of the component's bytes, in hex.
    pub sha256: String,
    /// The component's size in bytes.
    pub size: u64,
    /// When it was stored (UTC, RFC 3339).
    pub created_at: String,
    /// Who uploaded it: the token's tenant and a fingerprint of the token, or
    /// the operator's user name; never a token.
    pub uploaded_by: String,
    /// The upload's message (`X-Message`), if any.
    pub message: Option<String>,
    /// Whether it passed the conformance checks (a failed one is stored only
    /// with `force`).
    pub passed: bool,
}

impl From<&VersionInfo> for VersionBody {
    fn from(v: &VersionInfo) -> Self {
        Self {
            version: v.number,
            active: v.active,
            sha256: v.sha256.clone(),
            size: v.size,
            created_at: v.created_at.clone(),
            uploaded_by: v.uploaded_by.clone(),
            message: v.message.clone(),
            passed: v.passed,
        }
    }
}

/// `v` as JSON, without its check report.
pub fn version_json(v: &VersionInfo) -> Value {
    // A struct of strings, numbers and booleans always serializes.
    serde_json::to_value(VersionBody::from(v)).unwrap_or(Value::Null)
}
