//! `records-host check`: runs the contract's behaviour checks against a plugin on
//! a throwaway database and prints what passed and what did not.

use std::path::PathBuf;

use clap::Args;
use records_host::conformance::{self, Report};

use super::args::CompileArgs;
use crate::exit;

/// Check that a plugin keeps the contract: run every export against a temporary
/// database and print a table (exit 0 when every check passes, 1 otherwise).
#[derive(Debug, Args)]
pub(crate) struct Check {
    #[command(flatten)]
    compile: CompileArgs,

    /// Print the report as JSON: {"plugin", "world", "passed", "checks": [{"name",
    /// "status" ("pass", "fail" or "skip"), "detail"}]}.
    #[arg(long)]
    json: bool,

    /// The plugin component to check.
    #[arg(value_name = "PLUGIN.wasm")]
    plugin: PathBuf,
}

impl Check {
    pub(crate) fn execute(&self) -> anyhow::Result<u8> {
        let runtime = self.compile.runtime()?;
        let report = conformance::check_file(&runtime, &self.plugin)?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&report.to_json())?);
        } else {
            print!("{}", table(&self.plugin.display().to_string(), &report));
        }
        Ok(if report.passed() {
            exit::OK
        } else {
            exit::FAILURE
        })
    }
}

/// The report as an aligned table, with a summary line.
fn table(path: &str, report: &Report) -> String {
    let width = report
        .checks
        .iter()
        .map(|check| check.name.len())
        .max()
        .unwrap_or(0);
    let world = report.world.unwrap_or("unknown");
    let mut out = format!("{path} (world {world})\n");
    for check in &report.checks {
        let line = format!(
            "  {:<width$}  {:<4}  {}",
            check.name, check.status, check.detail
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let failed = report
        .checks
        .iter()
        .filter(|c| c.status != conformance::Status::Pass)
        .count();
    out.push_str(&match failed {
        0 => format!("all {} checks passed\n", report.checks.len()),
        n => format!("{n} of {} checks did not pass\n", report.checks.len()),
    });
    out
}
