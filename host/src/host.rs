//! The `store` imports: what a guest can do to the database, and nothing more.
//!
//! This is where lock-around-write is enforced at the host boundary: every write
//! import goes through [`Database::write`], which takes the cross-process write lock,
//! writes in an `IMMEDIATE` transaction, commits and releases the lock before the
//! import returns to the guest. A guest cannot reach SQLite any other way.

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::records::plugin::{store, types};
use crate::db::{Database, Record};
use crate::error::{RecordError, RecordId};

/// The per-instance state of a plugin: its database and its (empty) WASI context.
pub(crate) struct HostState {
    db: Database,
    wasi: WasiCtx,
    table: ResourceTable,
}

impl HostState {
    /// State for one plugin instance. The WASI context grants nothing: no
    /// preopened directories, no environment, no arguments, no network, a closed
    /// stdin and stdout/stderr that go nowhere (clocks and random are fine). The
    /// store imports are the plugin's only way to persist anything.
    pub(crate) fn new(db: Database) -> Self {
        let wasi = WasiCtx::builder()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self {
            db,
            wasi,
            table: ResourceTable::new(),
        }
    }

    pub(crate) fn db(&self) -> &Database {
        &self.db
    }

    pub(crate) fn into_db(self) -> Database {
        self.db
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
    fn convert_error(&mut self, err: RecordError) -> wasmtime::Result<types::Error> {
        Ok(err.into())
    }
}

impl store::Host for HostState {
    fn get(&mut self, id: RecordId) -> Result<Option<types::Record>, RecordError> {
        Ok(self.db.get(id)?.map(Into::into))
    }

    fn scan(
        &mut self,
        after: Option<RecordId>,
        limit: u32,
    ) -> Result<Vec<types::Record>, RecordError> {
        Ok(self
            .db
            .scan(after, limit)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    fn insert(&mut self, name: String, value: i64) -> Result<RecordId, RecordError> {
        self.db.write(|txn| txn.insert(&name, value))
    }

    fn update(&mut self, id: RecordId, value: i64) -> Result<(), RecordError> {
        self.db.write(|txn| txn.update(id, value))
    }

    fn delete(&mut self, id: RecordId) -> Result<(), RecordError> {
        self.db.write(|txn| txn.delete(id))
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
            RecordError::Storage(msg) => Self::Storage(msg),
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
            types::Error::Storage(msg) => Self::Storage(msg),
        }
    }
}
