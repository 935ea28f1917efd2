//! What `check` found: each check's status and detail, and the report of one
//! plugin. A leaf: the checks (`conformance/`) fill it in, and the crate's error
//! carries it when an upload fails them.

use std::fmt;

/// Whether one check passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The plugin did what the contract says.
    Pass,
    /// It did not; the detail says what it did instead.
    Fail,
    /// Not run, because what it needs (loading, an export) failed.
    Skip,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pass => "pass",
            Self::Fail => "FAIL",
            Self::Skip => "skip",
        })
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// What is checked, such as `negative values round-trip`.
    pub name: &'static str,
    /// Passed, failed or skipped.
    pub status: Status,
    /// What was seen: the values tried, or what went wrong.
    pub detail: String,
}

/// Every check's outcome for one plugin.
#[derive(Debug, Clone)]
pub struct Report {
    /// The plugin's name.
    pub plugin: String,
    /// `counters-plugin` when it exports `counters`, else `plugin`; `None` when it
    /// could not be loaded.
    pub world: Option<&'static str>,
    /// The checks, in the order they ran.
    pub checks: Vec<CheckResult>,
}

impl Report {
    /// The report as JSON: `plugin`, `world`, `passed`, and `checks`, each with
    /// its `name`, `status` (`pass`, `fail`, `skip`) and `detail`; what
    /// `records-host check --json` prints and a deployed version keeps.
    pub fn to_json(&self) -> serde_json::Value {
        let checks: Vec<_> = self
            .checks
            .iter()
            .map(|check| {
                serde_json::json!({
                    "name": check.name,
                    "status": check.status.to_string().to_lowercase(),
                    "detail": check.detail,
                })
            })
            .collect();
        serde_json::json!({
            "plugin": self.plugin,
            "world": self.world,
            "passed": self.passed(),
            "checks": checks,
        })
    }

    /// The names of the checks that did not pass.
    pub fn not_passed(&self) -> Vec<&'static str> {
        self.checks
            .iter()
            .filter(|check| check.status != Status::Pass)
            .map(|check| check.name)
            .collect()
    }

    /// Whether every check passed (a skipped check counts as not passed).
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|check| check.status == Status::Pass)
    }
}
