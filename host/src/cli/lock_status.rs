//! `records-host lock-status`: whether the write lock is free or held, and by whom.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use records_host::LockStatus;
use records_host::db::write_lock_of;
use records_host::lock::LockError;

use super::args::Target;
use super::exit;

/// Say whether the write lock is free or held, and by whom.
#[derive(Debug, Args)]
pub(crate) struct LockStatusCmd {
    #[command(flatten)]
    target: Target,

    /// Also take and release the lock once, waiting up to MS, and report this
    /// process's view: how long it waited (exit 75 when it timed out).
    #[arg(long, value_name = "MS")]
    probe: Option<u64>,
}

impl LockStatusCmd {
    pub(crate) fn execute(&self) -> anyhow::Result<u8> {
        let db = self.target.path();
        let lock = write_lock_of(&db, Duration::ZERO);
        let status = lock
            .status()
            .with_context(|| format!("reading the lock status of {}", db.display()))?;
        match status {
            LockStatus::Free => println!("free"),
            LockStatus::Held { holder } => println!("held\n  holder: {holder}"),
        }
        let Some(ms) = self.probe else {
            return Ok(exit::OK);
        };
        let probe = write_lock_of(&db, Duration::from_millis(ms));
        match probe.acquire("probe:lock-status") {
            Ok(guard) => drop(guard),
            Err(LockError::Timeout(timeout)) => {
                println!("probe: {timeout}");
                return Ok(exit::TEMPFAIL);
            }
            Err(other) => return Err(other.into()),
        }
        println!("probe: {}", probe.metrics());
        Ok(exit::OK)
    }
}
