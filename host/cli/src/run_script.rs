//! `records-host run`: run a command component (a script) against the store.

use std::path::PathBuf;

use clap::Args;

use super::args::{CompileArgs, DbArgs};
use crate::exit;

/// Run a command component (a script with a `fn main`) against the store.
#[derive(Debug, Args)]
pub(crate) struct RunScript {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    compile: CompileArgs,

    /// The command component to run (it imports records:plugin/store and exports
    /// wasi:cli/run).
    #[arg(value_name = "SCRIPT.wasm")]
    script: PathBuf,

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
        let plugin = self.compile.runtime()?.load_file(&self.script)?;
        let mut args = vec![plugin.name().to_string()];
        args.extend(self.args.iter().cloned());
        let code = plugin.run_command(self.db.open()?, self.db.target.tenant.as_ref(), args)?;
        // Exit codes are one byte on Unix; anything else is reported as failure.
        Ok(u8::try_from(code).unwrap_or(exit::FAILURE))
    }
}
