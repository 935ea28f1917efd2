//! `records-host run`: run a command component (a script) against the store.

use std::path::PathBuf;

use clap::Args;

use records_host::{Slot, load_version};

use super::args::{CompileArgs, DbArgs};
use crate::exit;
use crate::usage::UsageError;

/// Run a command component (a script with a `fn main`) against the store.
#[derive(Debug, Args)]
pub(crate) struct RunScript {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    compile: CompileArgs,

    /// The command component to run (it imports records:plugin/store and exports
    /// wasi:cli/run). With --script, every positional is an argument (after `--`
    /// when the first starts with `-`).
    #[arg(value_name = "SCRIPT.wasm", required_unless_present = "script")]
    file: Option<PathBuf>,

    /// Run the tenant's active version of this deployed script (with --tenant).
    #[arg(long, value_name = "NAME", requires = "tenant")]
    script: Option<String>,

    /// Arguments for the script.
    #[arg(
        value_name = "ARGS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    args: Vec<String>,
}

impl RunScript {
    pub(crate) fn execute(&self) -> anyhow::Result<u8> {
        self.db.with_lock_stats(|| self.run())
    }

    fn run(&self) -> anyhow::Result<u8> {
        let runtime = self.compile.runtime()?;
        let db = self.db.open()?;
        let (plugin, mut args) = match &self.script {
            Some(name) => {
                let slot =
                    Slot::script(name).map_err(|e| UsageError(format!("script name: {e}")))?;
                let plugin = load_version(&runtime, &db, &slot, None)?.ok_or_else(|| {
                    anyhow::anyhow!("no version of script {name} is active for this tenant")
                })?;
                // Every positional is an argument: clap put the first in `file`.
                let first = self.file.iter().map(|f| f.display().to_string());
                (
                    plugin,
                    vec![name.clone()]
                        .into_iter()
                        .chain(first)
                        .collect::<Vec<_>>(),
                )
            }
            None => {
                let file = self
                    .file
                    .as_deref()
                    .ok_or_else(|| UsageError("give SCRIPT.wasm or --script NAME".into()))?;
                let plugin = runtime.load_file(file)?;
                let name = plugin.name().to_string();
                (plugin, vec![name])
            }
        };
        args.extend(self.args.iter().cloned());
        let code = plugin.run_command(db, self.db.target.tenant.as_ref(), args)?;
        // Exit codes are one byte on Unix; anything else is reported as failure.
        Ok(u8::try_from(code).unwrap_or(exit::FAILURE))
    }
}
