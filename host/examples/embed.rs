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

    // The counters export does read-modify-write atomically across processes.
    let other = instance.create_record("other", 0)?;
    instance.increment(id, 8)?; // 2 + 8 = 10
    instance.transfer(id, other, 4)?;
    println!("after transfer: {:?}", instance.get_all_records()?);

    // Business-rule failures and lock timeouts are values to match on.
    match instance.create_record("   ", 0) {
        Err(Error::Record(RecordError::Invalid(why))) => println!("rejected: {why}"),
        other => println!("unexpected: {other:?}"),
    }
    // Rust code can hold a write transaction itself; while it is open, writers in
    // this and every other process wait for it.
    let db = instance.into_database();
    let txn = db.begin_write()?;
    txn.insert("written by the embedder", 99)?;
    let mut instance =
        plugin.instantiate(Database::open_with(&db_path, DatabaseOptions::default())?)?;
    match instance.create_record("while locked", 3) {
        Err(Error::Record(RecordError::LockTimeout(timeout))) => println!("{timeout}"),
        other => println!("unexpected: {other:?}"),
    }
    txn.commit()?;
    println!("records now: {}", db.count()?);
    Ok(())
}
