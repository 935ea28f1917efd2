//! `records-host call`: call one export of a plugin, arguments and result in WAVE.

use std::path::PathBuf;

use crate::text::wave::{self, to_wave};
use crate::text::{Outcome, json};
use clap::Args;
use records_host::{Database, Plugin, PluginInstance, Slot, load_version};

use super::args::{CompileArgs, DbArgs};
use crate::exit;

/// Call one export of a plugin, with arguments and result in WAVE.
#[derive(Debug, Args)]
pub(crate) struct Call {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    compile: CompileArgs,

    /// The plugin component (default: with --tenant, the tenant's active
    /// version if it has one; else the embedded reference plugin).
    #[arg(long, value_name = "FILE.wasm")]
    plugin: Option<PathBuf>,

    /// Run this version of the tenant's plugin, active or not (with --tenant).
    #[arg(long, value_name = "N", conflicts_with = "plugin", requires = "tenant")]
    plugin_version: Option<u32>,

    /// Print the result as JSON instead of WAVE.
    #[arg(long)]
    json: bool,

    /// The call, in WAVE: `create-record("test", 42)`, `get-record(1)`,
    /// `records#get-all-records()`.
    #[arg(value_name = "FUNC(ARGS)")]
    call: String,
}

impl Call {
    pub(crate) fn execute(&self) -> anyhow::Result<u8> {
        self.db.with_lock_stats(|| self.run())
    }

    fn run(&self) -> anyhow::Result<u8> {
        let db = self.db.open()?;
        let plugin = self.load_plugin(&db)?;
        let mut instance = instantiate_over(&plugin, db, &self.db)?;
        let results = wave::call(&mut instance, &self.call)?;
        if self.json {
            for result in &results {
                println!("{}", json::to_json(result));
            }
        } else if !results.is_empty() {
            println!("{}", to_wave(&results)?);
        }
        Ok(match Outcome::of(&results) {
            Outcome::Ok => exit::OK,
            Outcome::Err => {
                // The plugin was told what failed; the operator also sees where.
                match instance.withheld_error() {
                    Some(withheld) if withheld.is_unavailable() => {
                        eprintln!("records-host: storage (retry): {withheld}");
                        exit::TEMPFAIL
                    }
                    Some(withheld) => {
                        eprintln!("records-host: storage: {withheld}");
                        exit::FAILURE
                    }
                    None => exit::FAILURE,
                }
            }
            Outcome::LockTimeout(timeout) => {
                // The value is on stdout; a person also sees who holds the lock.
                eprintln!("{timeout}");
                exit::TEMPFAIL
            }
        })
    }

    /// The plugin to call: `--plugin`'s file; else the tenant's version
    /// (`--plugin-version`, or its active one); else the reference plugin.
    fn load_plugin(&self, db: &Database) -> anyhow::Result<Plugin> {
        let runtime = self.compile.runtime()?;
        if let Some(path) = &self.plugin {
            return Ok(runtime.load_file(path)?);
        }
        if self.db.target.tenant.is_some()
            && let Some(plugin) = load_version(&runtime, db, &Slot::Plugin, self.plugin_version)?
        {
            return Ok(plugin);
        }
        Ok(runtime.load_reference()?)
    }
}

/// Instantiates `plugin` over the database `args` names, for its tenant if any.
pub(crate) fn instantiate(plugin: &Plugin, args: &DbArgs) -> anyhow::Result<PluginInstance> {
    instantiate_over(plugin, args.open()?, args)
}

/// Instantiates `plugin` over `db`, opened from `args`, for its tenant if any.
fn instantiate_over(
    plugin: &Plugin,
    db: Database,
    args: &DbArgs,
) -> anyhow::Result<PluginInstance> {
    Ok(match &args.target.tenant {
        Some(tenant) => plugin.instantiate_for(db, tenant)?,
        None => plugin.instantiate(db)?,
    })
}
