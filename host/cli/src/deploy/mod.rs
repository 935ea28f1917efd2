//! `records-host plugin ...` and `records-host script NAME ...`: a tenant's
//! deployed versions, over the same storage `serve` uses (`--data-dir`, or a
//! PostgreSQL `--db`), without a server.

mod actions;
mod listing;

use clap::Args;
use records_host::Slot;

use self::actions::Actions;
use crate::usage::UsageError;

/// Deploy, list, activate and remove a tenant's plugin versions.
#[derive(Debug, Args)]
pub(crate) struct PluginCmd {
    #[command(subcommand)]
    action: Actions,
}

impl PluginCmd {
    pub(crate) fn execute(&self) -> anyhow::Result<u8> {
        self.action.run(&Slot::Plugin)
    }
}

/// Deploy, list, activate and remove a tenant's versions of a named script.
#[derive(Debug, Args)]
pub(crate) struct ScriptCmd {
    /// The script's name ([a-z0-9][a-z0-9_-]{0,62}).
    #[arg(value_name = "NAME")]
    name: String,
    #[command(subcommand)]
    action: Actions,
}

impl ScriptCmd {
    pub(crate) fn execute(&self) -> anyhow::Result<u8> {
        let slot = Slot::script(&self.name).map_err(|e| UsageError(format!("script name: {e}")))?;
        self.action.run(&slot)
    }
}
