//! `records-host demo`: create a record through the reference plugin, read it back.

use clap::Args;
use records_host::{Error, RecordError};

use super::args::{CompileArgs, DbArgs};
use super::call::instantiate;
use crate::exit;

/// Create record ("test", 42) through the reference plugin and read it back.
#[derive(Debug, Args)]
pub(crate) struct Demo {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    compile: CompileArgs,
}

impl Demo {
    pub(crate) fn execute(&self) -> anyhow::Result<u8> {
        self.db.with_lock_stats(|| self.run())
    }

    fn run(&self) -> anyhow::Result<u8> {
        let plugin = self.compile.runtime()?.load_reference()?;
        let mut instance = instantiate(&plugin, &self.db)?;
        println!("database: {}", instance.database().location());
        match instance.create_record("test", 42) {
            Ok(id) => {
                println!("created record {id}");
                let record = instance.get_record(id)?;
                match record {
                    Some(r) => println!(
                        "read back: {{id: {}, name: {:?}, value: {}}}",
                        r.id, r.name, r.value
                    ),
                    None => println!("read back: nothing (deleted by another writer already)"),
                }
                Ok(exit::OK)
            }
            Err(Error::Record(RecordError::LockTimeout(timeout))) => {
                eprintln!("{timeout}");
                Ok(exit::TEMPFAIL)
            }
            Err(other) => Err(other.into()),
        }
    }
}
