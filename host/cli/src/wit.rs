//! `records-host wit`: the WIT contract embedded in this binary, on stdout or as
//! a `wit/` directory that plugin toolchains read.

use std::fs;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use records_host::contract::WIT_FILES;

use crate::exit;

/// Print the WIT contract this binary implements, or write it to a directory.
#[derive(Debug, Args)]
pub(crate) struct Wit {
    /// Write the package's files into DIR (created when missing; its .wit files are
    /// replaced, nothing else is touched), the layout wit-bindgen, componentize-py
    /// and jco read (`path: "wit"`, `-d wit`, `--wit wit`).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

impl Wit {
    pub(crate) fn execute(&self) -> anyhow::Result<u8> {
        match &self.out {
            None => {
                for (_, text) in WIT_FILES {
                    print!("{text}");
                }
            }
            Some(dir) => write_wit(dir)?,
        }
        Ok(exit::OK)
    }
}

/// Writes the package's files into `dir`, creating it when missing.
pub(crate) fn write_wit(dir: &std::path::Path) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, text) in WIT_FILES {
        let path = dir.join(name);
        fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
