//! The four actions on a slot's versions: push, list, activate, rm.

use std::path::PathBuf;

use clap::Subcommand;
use records_host::{Slot, Upload, deploy_version};

use super::listing;
use crate::args::{CompileArgs, DbArgs};
use crate::exit;
use crate::usage::UsageError;

#[derive(Debug, Subcommand)]
pub(crate) enum Actions {
    /// Check a component and store it as the next version (not active unless
    /// --activate). A plugin must pass `records-host check` unless --force.
    Push {
        /// The component.
        #[arg(value_name = "FILE.wasm")]
        file: PathBuf,
        /// Kept with the version.
        #[arg(long, value_name = "TEXT")]
        message: Option<String>,
        /// Store it even if it fails the checks (marked failed).
        #[arg(long)]
        force: bool,
        /// Activate it once stored.
        #[arg(long)]
        activate: bool,
        /// Keep this many newest versions (and the active one); older ones are pruned.
        #[arg(long, value_name = "N", default_value_t = records_host::DEFAULT_KEEP_VERSIONS,
              value_parser = clap::value_parser!(u32).range(1..))]
        keep_versions: u32,
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        compile: CompileArgs,
    },
    /// List the versions, newest first; the active one is marked `*`.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Make version N the active one (a rollback is activating an older one;
    /// data is not rolled back).
    Activate {
        /// The version.
        #[arg(value_name = "N")]
        number: u32,
        /// Activate a version that failed its checks.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Remove version N (never the active one).
    Rm {
        /// The version.
        #[arg(value_name = "N")]
        number: u32,
        #[command(flatten)]
        db: DbArgs,
    },
}

impl Actions {
    pub(crate) fn run(&self, slot: &Slot) -> anyhow::Result<u8> {
        match self {
            Self::Push {
                file,
                message,
                force,
                activate,
                keep_versions,
                db,
                compile,
            } => {
                needs_tenant(db)?;
                let runtime = compile.runtime()?;
                let (_, wasm) = runtime.read_file(file)?;
                let database = db.open()?;
                let upload = Upload {
                    uploaded_by: format!("operator:{}", operator()),
                    message: message.clone(),
                    force: *force,
                    keep: *keep_versions,
                };
                let info = deploy_version(&runtime, &database, slot, &wasm, &upload)?;
                if *activate {
                    database.activate_version(slot, info.number, *force)?;
                }
                println!(
                    "{slot} version {} stored{} (sha256 {}, {} bytes{})",
                    info.number,
                    if *activate { " and activated" } else { "" },
                    info.sha256,
                    info.size,
                    if info.passed {
                        ""
                    } else {
                        ", FAILED its checks"
                    }
                );
                Ok(exit::OK)
            }
            Self::List { json, db } => {
                needs_tenant(db)?;
                let versions = db.open()?.versions(slot)?;
                if *json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&listing::json(&versions))?
                    );
                } else {
                    print!("{}", listing::table(slot, &versions));
                }
                Ok(exit::OK)
            }
            Self::Activate { number, force, db } => {
                needs_tenant(db)?;
                db.open()?.activate_version(slot, *number, *force)?;
                println!("{slot} version {number} is active");
                Ok(exit::OK)
            }
            Self::Rm { number, db } => {
                needs_tenant(db)?;
                db.open()?.remove_version(slot, *number)?;
                println!("{slot} version {number} removed");
                Ok(exit::OK)
            }
        }
    }
}

/// Versions belong to tenants: `--tenant` is required.
fn needs_tenant(db: &DbArgs) -> Result<(), UsageError> {
    if db.target.tenant.is_none() {
        return Err(UsageError(
            "versions belong to a tenant: give --tenant NAME".into(),
        ));
    }
    Ok(())
}

/// Who runs this command, for the version's record: `$USER`, else the uid.
fn operator() -> String {
    std::env::var("USER")
        .ok()
        .filter(|user| !user.is_empty())
        // SAFETY: getuid has no preconditions and cannot fail.
        .unwrap_or_else(|| unsafe { libc::getuid() }.to_string())
}
