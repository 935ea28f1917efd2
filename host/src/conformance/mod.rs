//! The contract's behaviour checks, run against a plugin on a throwaway database:
//! what `records-host check` prints.
//!
//! A plugin can link and still break the contract: lose the sign or the low bits
//! of a value, trap on input it should refuse, stop after the store's first page.
//! Each check here calls the plugin through the same typed exports the host uses,
//! each in a fresh instance over a fresh database, so one failure (even a trap)
//! does not hide the others, and the report names every defect separately.
//!
//! What may differ between plugins is what the contract leaves to their rules:
//! names may be normalized (trimmed, upper-cased); ids and values may not.

mod counters;
mod records;

mod session;

pub use crate::check_report::{CheckResult, Report, Status};
use crate::error::Error;
use crate::runtime::{Plugin, Runtime};

use self::session::{Check, Session};

/// Reads the plugin file at `path`, loads it with `runtime` (so with its limits)
/// and runs every check that applies to the world it targets. A component that
/// does not compile or link is a failed check, not an error.
///
/// # Errors
/// [`Error::LoadPlugin`] when the file cannot be read (missing, not a regular
/// file, over the size limit).
pub fn check_file(runtime: &Runtime, path: &std::path::Path) -> Result<Report, Error> {
    let (name, wasm) = runtime.read_file(path)?;
    Ok(match runtime.load(&name, &wasm) {
        Ok(plugin) => check(&plugin),
        Err(err) => Report {
            plugin: name,
            world: None,
            // The load error is escaped by the runtime already.
            checks: unloadable(&err),
        },
    })
}

/// Runs every check that applies to `plugin`'s world.
pub fn check(plugin: &Plugin) -> Report {
    let exports = plugin.exported_functions();
    let exported = |interface: &str, func: &str| {
        exports
            .iter()
            .any(|e| e.in_interface(interface) && e.func == func)
    };
    let has_counters = exports
        .iter()
        .any(|e| e.in_interface("records:plugin/counters"));
    let mut checks = vec![CheckResult {
        name: LINKS,
        status: Status::Pass,
        detail: describe_imports(&plugin.imports()),
    }];
    let mut session = Session::new(plugin);
    run_group(
        &mut checks,
        &mut session,
        "records",
        records::CHECKS,
        &exported,
    );
    if has_counters {
        run_group(
            &mut checks,
            &mut session,
            "counters",
            counters::CHECKS,
            &exported,
        );
    }
    checks.push(session.stops_check());
    // Details quote what the plugin returned: no control character reaches a terminal.
    for check in &mut checks {
        check.detail = crate::display::escape_control(&check.detail);
    }
    Report {
        plugin: plugin.name().to_string(),
        world: Some(if has_counters {
            "counters-plugin"
        } else {
            "plugin"
        }),
        checks,
    }
}

const LINKS: &str = "loads, importing only what the host provides";
const EXPORTS_RECORDS: &str = "exports records with all five functions";

/// Checks that `interface` is exported with every function its checks call, then
/// runs them (or skips them, naming what is missing).
fn run_group(
    out: &mut Vec<CheckResult>,
    session: &mut Session,
    interface: &'static str,
    (funcs, checks): (&[&str], &[Check]),
    exported: &dyn Fn(&str, &str) -> bool,
) {
    let missing: Vec<&str> = funcs
        .iter()
        .copied()
        .filter(|func| !exported(&format!("records:plugin/{interface}"), func))
        .collect();
    let name = if interface == "records" {
        EXPORTS_RECORDS
    } else {
        "exports counters with increment and transfer"
    };
    if !missing.is_empty() {
        out.push(CheckResult {
            name,
            status: Status::Fail,
            detail: format!("records:plugin/{interface} lacks {}", missing.join(", ")),
        });
        out.extend(
            checks
                .iter()
                .map(|(name, _)| skipped(name, "the export is missing")),
        );
        return;
    }
    out.push(CheckResult {
        name,
        status: Status::Pass,
        detail: funcs.join(", "),
    });
    for (name, run) in checks {
        let (status, detail) = match session.run(run) {
            Ok(detail) => (Status::Pass, detail),
            Err(detail) => (Status::Fail, detail),
        };
        out.push(CheckResult {
            name,
            status,
            detail,
        });
    }
}

/// The report of a plugin that did not load: the reason, and every check skipped.
fn unloadable(err: &Error) -> Vec<CheckResult> {
    let detail = match err {
        Error::LoadPlugin { reason, .. } => reason.clone(),
        other => other.to_string(),
    };
    let mut checks = vec![CheckResult {
        name: LINKS,
        status: Status::Fail,
        detail,
    }];
    let later =
        std::iter::once(EXPORTS_RECORDS).chain(records::CHECKS.1.iter().map(|(name, _)| *name));
    checks.extend(later.map(|name| skipped(name, "the plugin did not load")));
    checks
}

fn skipped(name: &'static str, why: &str) -> CheckResult {
    CheckResult {
        name,
        status: Status::Skip,
        detail: why.to_string(),
    }
}

/// The contract's imports by name, WASI's counted: `records:plugin/store@0.1.0 and
/// 13 wasi interfaces`.
fn describe_imports(imports: &[String]) -> String {
    let (wasi, own): (Vec<&String>, Vec<&String>) =
        imports.iter().partition(|name| name.starts_with("wasi:"));
    let mut parts: Vec<String> = own.into_iter().cloned().collect();
    if !wasi.is_empty() {
        parts.push(format!("{} wasi interfaces", wasi.len()));
    }
    match parts.as_slice() {
        [] => "nothing".to_string(),
        _ => format!("imports {}", parts.join(", ")),
    }
}
