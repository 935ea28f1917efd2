//! A slot's versions as a table or as JSON.

use records_host::{Slot, VersionInfo};
use serde_json::Value;

use crate::text::version::version_json;

/// The versions as JSON: one object per version, its check report parsed.
pub(crate) fn json(versions: &[VersionInfo]) -> Value {
    Value::Array(
        versions
            .iter()
            .map(|v| {
                let mut one = version_json(v);
                one["checks"] = serde_json::from_str::<Value>(&v.report).unwrap_or(Value::Null);
                one
            })
            .collect(),
    )
}

/// The versions as an aligned table, newest first, the active one marked `*`.
pub(crate) fn table(slot: &Slot, versions: &[VersionInfo]) -> String {
    if versions.is_empty() {
        return format!("no {slot} versions\n");
    }
    let mut out = String::from(
        "  VERSION  CREATED                   SIZE      SHA256        CHECKS  BY / MESSAGE\n",
    );
    for v in versions {
        let line = format!(
            "{} {:>7}  {:<24}  {:>8}  {:<12}  {:<6}  {}{}",
            if v.active { '*' } else { ' ' },
            v.number,
            v.created_at,
            v.size,
            &v.sha256[..12.min(v.sha256.len())],
            if v.passed { "pass" } else { "FAIL" },
            records_host::display::escape_control(&v.uploaded_by),
            v.message
                .as_deref()
                .map(|m| format!(": {}", records_host::display::escape_control(m)))
                .unwrap_or_default(),
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
