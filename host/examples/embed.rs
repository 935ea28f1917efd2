//! Embedding records-host in a Rust program: open a database, load a plugin, call
//! its typed exports, and handle a lock timeout as a typed error.
//!
//! Run: `cargo run -p records-host --example embed -- [DB_PATH] [PLUGIN.wasm]`
//! (defaults: a database in a temp directory and the embedded reference plugin).
//! `cargo test` builds this example, so it cannot rot.

use std::path::PathBuf;
use std::time::Duration;

use records_host::{Database, DatabaseOptions, Error, RecordError, Runtime};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let scratch = tempfile::tempdir()?;
    let db_path = args
        .next()
        .map_or_else(|| scratch.path().join("app.db"), PathBuf::from);

    // One runtime per program; plugins are compiled once and can be instantiated
    // many times. A cache directory makes later processes skip compilation.
    let runtime = Runtime::builder()
        .cache_dir(scratch.path().join("cache"))
        .build()?;
    let plugin = match args.next() {
        Some(path) => runtime.load_file(&PathBuf::from(path))?,
        None => runtime.load_reference()?,
    };

    let options = DatabaseOptions {
        lock_timeout: Duration::from_millis(200),
        ..DatabaseOptions::default()
    };
    let mut instance = plugin.instantiate(Database::open_with(&db_path, options)?)?;

    let id = instance.create_record("embedded", 1)?;
    instance.update_record(id, 2)?;
    println!("record {id}: {:?}", instance.get_record(id)?);

    // Business-rule failures and lock timeouts are values to match on.
    match instance.create_record("   ", 0) {
        Err(Error::Record(RecordError::Invalid(why))) => println!("rejected: {why}"),
        other => println!("unexpected: {other:?}"),
    }
    let db = instance.into_database();
    let _held = db.write_lock().acquire("example:holder")?;
    let mut instance =
        plugin.instantiate(Database::open_with(&db_path, DatabaseOptions::default())?)?;
    match instance.create_record("while locked", 3) {
        Err(Error::Record(RecordError::LockTimeout(timeout))) => println!("{timeout}"),
        other => println!("unexpected: {other:?}"),
    }
    Ok(())
}
