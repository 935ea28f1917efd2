//! The `store` imports: what a guest can do to the database, and nothing more.
//!
//! This is where lock-around-write is enforced at the host boundary: a single-write
//! import takes the cross-process write lock, runs its one statement (atomic by
//! itself) with the guard as proof, and releases the lock before the import
//! returns; `begin-write` hands the guest a `write-txn` resource backed by a
//! [`WriteTxn`], which holds the lock until commit, drop, trap or deadline. A guest
//! cannot reach SQLite any other way. A write waits for the lock no longer than the
//! lock's timeout and never past the call's deadline: when the call's time runs
//! out first, the call is stopped at its time limit.

use std::sync::{Arc, Weak};
use std::time::Instant;

use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::imports::bindings::records::plugin::{store, types};
use crate::imports::error::ImportError;
use crate::record_error::{RecordError, RecordId, StorageError};
use crate::sandbox::bounded_io::BoundedIo;
use crate::sandbox::limits::{Limits, PluginLimiter};
use crate::sandbox::output::{CapturedOutput, PrefixedOutput};
use crate::store::Database;
use crate::store::record::Record;
use crate::store::{TxnShared, WriteTxn};

/// What a guest's stdio is connected to.
pub(crate) enum Stdio {
    /// A plugin: closed stdin; stdout and stderr to the host's stderr, each line
    /// prefixed `[label]`, at most `Limits::max_output` bytes each.
    Prefixed { label: String },
    /// A script (`records-host run`): the host's stdin, stdout and stderr, and
    /// these arguments (`args[0]` is the script's name).
    Inherit { args: Vec<String> },
    /// A script run for a client: this stdin, stdout and stderr kept in memory
    /// (each up to `Limits::max_output` bytes), and these arguments.
    Captured {
        args: Vec<String>,
        stdin: Vec<u8>,
        stdout: CapturedOutput,
        stderr: CapturedOutput,
    },
}

/// The per-instance state of a plugin: its database, its open transactions, its
/// limits and its WASI context.
pub(crate) struct HostState {
    db: Database,
    /// Transactions this instance opened, so a failed call can end them at once.
    txns: Vec<Weak<TxnShared>>,
    limits: Limits,
    pub(crate) limiter: PluginLimiter,
    /// When the call in progress must end (set as each call starts).
    call_deadline: Instant,
    /// The last storage error whose detail the plugin was not told.
    withheld: Option<StorageError>,
    wasi: WasiCtx,
    table: ResourceTable,
}

impl HostState {
    /// State for one instance. The WASI context grants nothing but stdio as
    /// `stdio` says: no preopened directories (so no files at all), no environment,
    /// no network (clocks and random are fine). The store imports are the guest's
    /// only way to persist anything.
    pub(crate) fn new(db: Database, stdio: Stdio, limits: &Limits) -> Self {
        let mut wasi = WasiCtx::builder();
        wasi.allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        match stdio {
            Stdio::Prefixed { label } => {
                wasi.stdout(PrefixedOutput::new(label.clone(), limits.max_output))
                    .stderr(PrefixedOutput::new(label, limits.max_output));
            }
            Stdio::Inherit { args } => {
                wasi.inherit_stdin()
                    .inherit_stdout()
                    .inherit_stderr()
                    .args(&args);
            }
            Stdio::Captured {
                args,
                stdin,
                stdout,
                stderr,
            } => {
                wasi.stdin(MemoryInputPipe::new(stdin))
                    .stdout(stdout)
                    .stderr(stderr)
                    .args(&args);
            }
        }
        Self {
            db,
            txns: Vec::new(),
            limits: limits.clone(),
            limiter: PluginLimiter::new(limits),
            call_deadline: crate::deadline::deadline_after(limits.timeout),
            withheld: None,
            wasi: wasi.build(),
            table: ResourceTable::new(),
        }
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    pub(crate) fn call_deadline(&self) -> Instant {
        self.call_deadline
    }

    pub(crate) fn set_call_deadline(&mut self, deadline: Instant) {
        self.call_deadline = deadline;
    }

    /// The guest's WASI I/O, bounded by the call's deadline (see `bounded_io.rs`).
    pub(crate) fn bounded_io(&mut self) -> BoundedIo<'_> {
        BoundedIo::new(&mut self.table, self.call_deadline)
    }

    /// A write of this instance stopped waiting for the lock: when the call's
    /// time has run out, the call is stopped at its time limit; otherwise the
    /// plugin gets the error.
    fn lock_wait_ended(&self, e: RecordError) -> ImportError {
        match e {
            RecordError::LockTimeout(_) if Instant::now() >= self.call_deadline => {
                ImportError::Trap(wasmtime::Trap::Interrupt.into())
            }
            e => e.into(),
        }
    }

    /// Rejects names over the host's bound, whatever the plugin's own rules are.
    fn check_name(&self, name: &str) -> Result<(), RecordError> {
        let max = self.limits.max_name_bytes;
        if name.len() > max {
            return Err(RecordError::Invalid(format!(
                "name is {} bytes; the host accepts at most {max}",
                name.len()
            )));
        }
        Ok(())
    }

    /// The last storage error whose detail the plugin was told only the summary
    /// of (see [`StorageError`]).
    pub(crate) fn withheld(&self) -> Option<&StorageError> {
        self.withheld.as_ref()
    }

    pub(crate) fn db(&self) -> &Database {
        &self.db
    }

    pub(crate) fn into_db(self) -> Database {
        self.db
    }

    /// Rolls back every transaction of this instance that is still open and
    /// releases the lock: the plugin trapped or exited, so nobody will finish them.
    pub(crate) fn abort_transactions(&mut self) {
        for txn in self.txns.drain(..).filter_map(|weak| weak.upgrade()) {
            txn.abort();
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for HostState {
    fn convert_error(&mut self, err: ImportError) -> wasmtime::Result<types::Error> {
        match err {
            ImportError::Record(RecordError::Storage(e)) if e.detail().is_some() => {
                // The plugin is untrusted and may hand what it gets to a tenant: it
                // gets what failed; where and why is the operator's, kept for the
                // embedder to report (`PluginInstance::withheld_error`).
                tracing::debug!(error = %e, "storage error; the plugin is told only what failed");
                let told = types::Error::Storage(e.summary().to_string());
                self.withheld = Some(e);
                Ok(told)
            }
            ImportError::Record(e) => Ok(e.into()),
            ImportError::Trap(e) => Err(e),
        }
    }
}

impl store::Host for HostState {
    fn get(&mut self, id: RecordId) -> Result<Option<types::Record>, ImportError> {
        Ok(self.db.get(id)?.map(Into::into))
    }

    fn scan(
        &mut self,
        after: Option<RecordId>,
        limit: u32,
    ) -> Result<Vec<types::Record>, ImportError> {
        let records = self.db.scan(after, limit.min(self.limits.max_scan))?;
        Ok(records.into_iter().map(Into::into).collect())
    }

    fn insert(&mut self, name: String, value: i64) -> Result<RecordId, ImportError> {
        self.check_name(&name)?;
        self.db
            .write_one(Some(self.call_deadline), |w| w.insert(&name, value))
            .map_err(|e| self.lock_wait_ended(e))
    }

    fn update(&mut self, id: RecordId, value: i64) -> Result<(), ImportError> {
        self.db
            .write_one(Some(self.call_deadline), |w| w.update(id, value))
            .map_err(|e| self.lock_wait_ended(e))
    }

    fn delete(&mut self, id: RecordId) -> Result<(), ImportError> {
        self.db
            .write_one(Some(self.call_deadline), |w| w.delete(id))
            .map_err(|e| self.lock_wait_ended(e))
    }

    fn begin_write(&mut self) -> Result<Resource<WriteTxn>, ImportError> {
        let txn = self
            .db
            .begin_write_by(Some(self.call_deadline))
            .map_err(|e| self.lock_wait_ended(e))?;
        self.txns.retain(|weak| weak.strong_count() > 0);
        self.txns.push(Arc::downgrade(txn.shared()));
        Ok(self.table.push(txn)?)
    }
}

impl store::HostWriteTxn for HostState {
    fn get(
        &mut self,
        txn: Resource<WriteTxn>,
        id: RecordId,
    ) -> Result<Option<types::Record>, ImportError> {
        Ok(self.table.get(&txn)?.get(id)?.map(Into::into))
    }

    fn insert(
        &mut self,
        txn: Resource<WriteTxn>,
        name: String,
        value: i64,
    ) -> Result<RecordId, ImportError> {
        self.check_name(&name)?;
        Ok(self.table.get(&txn)?.insert(&name, value)?)
    }

    fn update(
        &mut self,
        txn: Resource<WriteTxn>,
        id: RecordId,
        value: i64,
    ) -> Result<(), ImportError> {
        Ok(self.table.get(&txn)?.update(id, value)?)
    }

    fn delete(&mut self, txn: Resource<WriteTxn>, id: RecordId) -> Result<(), ImportError> {
        Ok(self.table.get(&txn)?.delete(id)?)
    }

    fn commit(&mut self, txn: Resource<WriteTxn>) -> Result<(), ImportError> {
        Ok(self.table.delete(txn)?.commit()?)
    }

    fn drop(&mut self, txn: Resource<WriteTxn>) -> wasmtime::Result<()> {
        // Dropping the WriteTxn rolls back whatever was not committed and releases
        // the lock.
        drop(self.table.delete(txn)?);
        Ok(())
    }
}

impl From<Record> for types::Record {
    fn from(r: Record) -> Self {
        Self {
            id: r.id,
            name: r.name,
            value: r.value,
        }
    }
}

impl From<types::Record> for Record {
    fn from(r: types::Record) -> Self {
        Self {
            id: r.id,
            name: r.name,
            value: r.value,
        }
    }
}

impl From<RecordError> for types::Error {
    fn from(err: RecordError) -> Self {
        match err {
            RecordError::LockTimeout(t) => Self::LockTimeout(types::LockTimeout {
                waited_ms: u32::try_from(t.waited.as_millis()).unwrap_or(u32::MAX),
                holder: t.holder,
            }),
            RecordError::NotFound(id) => Self::NotFound(id),
            RecordError::Invalid(msg) => Self::Invalid(msg),
            RecordError::Storage(e) => Self::Storage(e.summary().to_string()),
        }
    }
}

impl From<types::Error> for RecordError {
    fn from(err: types::Error) -> Self {
        match err {
            types::Error::LockTimeout(t) => Self::LockTimeout(crate::lock::LockTimeout {
                waited: std::time::Duration::from_millis(t.waited_ms.into()),
                holder: t.holder,
            }),
            types::Error::NotFound(id) => Self::NotFound(id),
            types::Error::Invalid(msg) => Self::Invalid(msg),
            types::Error::Storage(msg) => Self::storage(msg),
        }
    }
}
