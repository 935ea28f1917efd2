//! `records-host call`: call one export of a plugin, arguments and result in WAVE.

use std::path::PathBuf;

use crate::text::wave::{self, to_wave};
use crate::text::{Outcome, json};
use clap::Args;
use records_host::{Plugin, PluginInstance};

use super::args::{CompileArgs, DbArgs};
use crate::exit;

/// Call one export of a plugin, with arguments and result in WAVE.
#[derive(Debug, Args)]
pub(crate) struct Call {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    compile: CompileArgs,

    /// The plugin component (default: the embedded reference plugin).
    #[arg(long, value_name = "FILE.wasm")]
    plugin: Option<PathBuf>,

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
        let plugin = self.load_plugin()?;
        let mut instance = instantiate(&plugin, &self.db)?;
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
                if let Some(withheld) = instance.withheld_error() {
                    eprintln!("records-host: storage: {withheld}");
                }
                exit::FAILURE
            }
            Outcome::LockTimeout(timeout) => {
                // The value is on stdout; a person also sees who holds the lock.
                eprintln!("{timeout}");
                exit::TEMPFAIL
            }
        })
    }

    fn load_plugin(&self) -> anyhow::Result<Plugin> {
        let runtime = self.compile.runtime()?;
        Ok(match &self.plugin {
            Some(path) => runtime.load_file(path)?,
            None => runtime.load_reference()?,
        })
    }
}

/// Instantiates `plugin` over the database `args` names, for its tenant if any.
pub(crate) fn instantiate(plugin: &Plugin, args: &DbArgs) -> anyhow::Result<PluginInstance> {
    let db = args.open()?;
    Ok(match &args.target.tenant {
        Some(tenant) => plugin.instantiate_for(db, tenant)?,
        None => plugin.instantiate(db)?,
    })
}
