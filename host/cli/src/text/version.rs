//! A deployed version as JSON, as the service answers it and `plugin list
//! --json` prints it.

use records_host::VersionInfo;
use serde_json::{Value, json};

/// `v` as JSON, without its check report.
pub fn version_json(v: &VersionInfo) -> Value {
    json!({
        "version": v.number,
        "active": v.active,
        "sha256": v.sha256,
        "size": v.size,
        "created_at": v.created_at,
        "uploaded_by": v.uploaded_by,
        "message": v.message,
        "passed": v.passed,
    })
}
