//! A WebAssembly component host with a record store, on SQLite or PostgreSQL.
//!
//! Plugins are components of the `records:plugin/plugin` world (see `wit/`): they
//! import the host's `store` interface and export their business logic. The host
//! keeps the data in SQLite (WAL mode) and serializes every write across processes
//! with an exclusive `flock` on `db.lock` beside the database, taken with exponential
//! backoff and a timeout that names the holder; or, for several machines, in a
//! PostgreSQL schema, every write in a transaction that first takes the schema's
//! advisory lock. A plugin has no way to write except through the host, and the
//! host never writes without the lock; reads take no lock.
//!
//! ```no_run
//! use records_host::{Database, Error, RecordError, Runtime};
//!
//! # fn main() -> Result<(), Error> {
//! let runtime = Runtime::new()?;
//! let plugin = runtime.load_reference()?; // or runtime.load_file(path)
//! let mut instance = plugin.instantiate(Database::open("data/app.db")?)?;
//! match instance.create_record("test", 42) {
//!     Ok(id) => println!("created {id}: {:?}", instance.get_record(id)?),
//!     Err(Error::Record(RecordError::LockTimeout(timeout))) => eprintln!("{timeout}"),
//!     Err(other) => return Err(other),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Rust code can write atomically too, under the same lock and with the same
//! guarantees a plugin gets (rollback on drop, a deadline after which the host rolls
//! back and releases the lock):
//!
//! ```no_run
//! use records_host::{Database, RecordError};
//!
//! # fn main() -> Result<(), records_host::Error> {
//! // The same code runs on PostgreSQL: Database::open("postgres://user:pw@host/db")
//! let db = Database::open("data/app.db")?;
//! let txn = db.begin_write()?; // waits for the lock, like a plugin's begin-write
//! let from = txn.get(1)?.ok_or(RecordError::NotFound(1))?;
//! txn.update(1, from.value - 10)?;
//! txn.update(2, 10)?;
//! txn.commit()?; // or drop `txn` to roll back
//! # Ok(())
//! # }
//! ```
//!
//! For a long-running multi-tenant service, [`PluginHost`] (`Send + Sync + Clone`)
//! compiles a plugin once and runs each call in a fresh, limited instance over the
//! tenant's own database; see `examples/service.rs`.
//!
//! The pieces, in the direction data flows: `runtime` ([`Runtime`], engine, plugins,
//! instances, every call bounded by its limits) calls into the store imports,
//! which use `store` (the storage seam: a [`Database`] on SQLite or PostgreSQL,
//! reads, single writes under the lock, and write transactions: a [`WriteTxn`]
//! holds the lock and has a deadline), which uses `lock` ([`WriteLock`], the flock write lock,
//! which knows nothing about wasm or SQL). The statements that write are methods
//! of a backend's writer, which only that backend's held lock hands out, so none
//! runs without the lock.
//!
//! Around that core: [`conformance`] checks that a plugin keeps the contract
//! (`records-host check`), and [`contract`] is the WIT package itself
//! (`records-host wit`). The command line and the HTTP service are another crate,
//! `records-host-cli`, built on this one.
//!
//! Features: `reference-plugin` (default) builds `guest/` for `wasm32-wasip2` and
//! embeds it (`REFERENCE_PLUGIN`, `Runtime::load_reference`); without it the
//! library needs no wasm target.
//!
//! Who is untrusted, and what holds against them: a plugin cannot outrun its time
//! limit (computing, sleeping, blocking in WASI or waiting for the lock), its
//! memory or fuel, or reach anything but the store; a file that another local
//! user planted beside a database (a symbolic link, a FIFO, a truncated shared
//! file, another application's database) is refused or survived, never followed
//! or trusted; a compiled-plugin cache entry is loaded only when nobody else could
//! have written it.
//!
//! Platforms: Linux, fully. Other Unix systems build with the write lock waiting
//! by plain backoff (no fair handoff, which needs futexes) and lock timeouts
//! naming the holder from its record alone (no `/proc/locks`). Not Windows.

#[cfg(not(unix))]
compile_error!(
    "records-host supports Linux (and, with plain-backoff locking, other Unix systems) only: \
     its write lock is an flock and its files are opened with Unix flags"
);

mod check_report;
pub mod conformance;
pub mod contract;
mod deadline;
pub mod display;
mod error;
mod imports;
mod lock;
mod plugin_file;
mod plugin_host;
mod record_error;
mod runtime;
mod sandbox;
mod store;
mod sync;
mod tenant;
pub mod trusted_file;

pub use error::Error;
pub use lock::{
    DEFAULT_LOCK_TIMEOUT, LockError, LockMetrics, LockStatus, LockTimeout, WriteGuard, WriteLock,
    process_lock_metrics,
};
pub use plugin_host::{PluginHost, Upload, deploy_version, load_version};
pub use record_error::{RecordError, RecordId, StorageError};
#[cfg(feature = "reference-plugin")]
pub use runtime::REFERENCE_PLUGIN;
pub use runtime::{
    CompileRefused, CompiledCacheCounts, Compiler, DEFAULT_MAX_PLUGIN_SIZE, ExportName,
    InstanceFunc, Plugin, PluginInstance, Runtime, RuntimeBuilder, ScriptOutput,
};
pub use sandbox::limits::Limits;
pub use store::Error as StoreError;
pub use store::location::is_postgres_url;
pub use store::record::Record;
pub use store::{
    ActiveVersion, DEFAULT_KEEP_VERSIONS, DEFAULT_TXN_DEADLINE, Database, DatabaseOptions,
    DeployError, Location, NewVersion, Slot, TenantHome, VersionInfo, WriteTxn, lock_metrics_at,
    lock_status_at, probe_lock,
};
pub use tenant::{InvalidTenantName, TenantName};
pub use wasmtime::component::Val;

/// The README's Rust examples, compiled and run by `cargo test -p records-host --doc`.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDocs;
