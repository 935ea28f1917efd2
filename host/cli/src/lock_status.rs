//! `records-host lock-status`: whether the write lock is free or held, and by whom.

use std::time::Duration;

use clap::Args;
use records_host::{LockStatus, StoreError};
use records_host::{lock_status_at, probe_lock};

use super::target::Target;
use crate::exit;

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
        let location = self.target.location()?;
        match lock_status_at(&location)? {
            LockStatus::Free => println!("free"),
            LockStatus::Held { holder } => println!("held\n  holder: {holder}"),
        }
        let Some(ms) = self.probe else {
            return Ok(exit::OK);
        };
        match probe_lock(&location, Duration::from_millis(ms)) {
            Ok(metrics) => println!("probe: {metrics}"),
            Err(StoreError::LockTimeout(timeout)) => {
                println!("probe: {timeout}");
                return Ok(exit::TEMPFAIL);
            }
            Err(other) => return Err(other.into()),
        }
        Ok(exit::OK)
    }
}
