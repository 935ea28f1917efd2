//! The storage seam: a record database on SQLite (one file, a `flock` beside it)
//! or on PostgreSQL (a schema, an advisory lock), behind one type, [`Database`].
//!
//! Everything above this module (the store imports, the runtime, the CLI) talks
//! to [`Database`] and [`WriteTxn`] and never learns which backend it has: reads,
//! single writes, write transactions, the lock's status and metrics, the same
//! errors. The seam is an enum of the two backends rather than a trait: the set is
//! closed and owned here, each operation must exist on both (the compiler checks
//! every `match`), and the writer types, which only a held lock hands out, stay
//! concrete per backend instead of being hidden behind trait objects.
//!
//! Lock-around-write holds by construction on both: the statements that write are
//! methods of a backend's `Writer`, and a `Writer` exists only while that
//! backend's lock for this database is held (`sqlite/writer.rs`,
//! `postgres/writer.rs`). On SQLite the writer and the schema's DDL take a
//! `Locked`, whose only constructor refuses the guard of any other database's
//! lock (`sqlite/locked.rs`).
//!
//! Opening fails with the store's own [`Error`] (`error.rs`), which keeps the
//! failing library's error as its source; the record operations answer with
//! [`RecordError`], which a guest receives. The backend is matched once per
//! operation: the operations alike on both go through `backend.rs`.

mod backend;
mod database;
mod deploy;
mod error;
pub mod location;
mod options;
mod postgres;
mod reaper;
pub(crate) mod record;
mod sqlite;
mod status;
mod txn;
mod writer;

pub use self::database::Database;
pub(crate) use self::database::pool;
pub use self::deploy::{
    ActiveVersion, DEFAULT_KEEP_VERSIONS, DeployError, NewVersion, Slot, VersionInfo,
};
pub use self::error::Error;
pub use self::location::{Location, TenantHome};
pub use self::options::{DEFAULT_TXN_DEADLINE, DatabaseOptions};
pub(crate) use self::status::lock_status_in;
pub use self::status::{lock_metrics_at, lock_status_at, probe_lock};
pub use self::txn::WriteTxn;

pub(crate) use self::postgres::Pool;
pub(crate) use self::txn::TxnShared;
