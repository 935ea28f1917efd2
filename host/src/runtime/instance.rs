//! A live plugin instance and the calls into it.
//!
//! Each typed method calls one export of the contract; `call_by_name.rs` adds calls of
//! any export by name with component values. Every call is bounded by the plugin's
//! limits (see `call.rs`); once a call was stopped, the instance refuses further
//! calls, since the guest's state may be half updated.

use std::sync::Arc;

use wasmtime::Store;
use wasmtime::component::{Func, Instance, InstancePre};

use super::call;
use super::export_names::ExportName;
use crate::error::{Error, one_line};
use crate::imports::bindings::exports::records::plugin::{counters, records};
use crate::imports::bindings::records::plugin::types;
use crate::imports::host::HostState;
use crate::record_error::{RecordId, StorageError};
use crate::store::Database;
use crate::store::record::Record;

/// A live plugin instance: its own wasm state and its database.
///
/// When a call is stopped (a trap or a limit), every write transaction the
/// instance had open is rolled back and the lock released before the call
/// returns.
pub struct PluginInstance {
    /// The plugin's name, for spans and errors.
    name: Arc<str>,
    /// The pre-linked component, to find its typed exports.
    pre: InstancePre<HostState>,
    /// The plugin's exported functions.
    exports: Arc<[ExportName]>,
    store: Store<HostState>,
    instance: Instance,
    records: Option<records::Guest>,
    counters: Option<counters::Guest>,
    /// Why an earlier call was stopped, after which no call may enter.
    stopped: Option<String>,
}

impl PluginInstance {
    pub(crate) fn new(
        name: Arc<str>,
        pre: InstancePre<HostState>,
        exports: Arc<[ExportName]>,
        store: Store<HostState>,
        instance: Instance,
    ) -> Self {
        Self {
            name,
            pre,
            exports,
            store,
            instance,
            records: None,
            counters: None,
            stopped: None,
        }
    }

    /// The plugin's name.
    pub(super) fn name(&self) -> &str {
        &self.name
    }

    /// The plugin's exported functions.
    pub(super) fn exports(&self) -> &[ExportName] {
        &self.exports
    }

    pub(super) fn store(&self) -> &Store<HostState> {
        &self.store
    }

    pub(super) fn store_mut(&mut self) -> &mut Store<HostState> {
        &mut self.store
    }

    /// The function `export` names in this instance, if it is one.
    pub(super) fn lookup(&mut self, export: &ExportName) -> Option<Func> {
        let parent = match &export.interface {
            Some(interface) => Some(self.instance.get_export_index(
                &mut self.store,
                None,
                interface,
            )?),
            None => None,
        };
        let index =
            self.instance
                .get_export_index(&mut self.store, parent.as_ref(), &export.func)?;
        self.instance.get_func(&mut self.store, index)
    }

    /// The database this instance works on.
    pub fn database(&self) -> &Database {
        self.store.data().db()
    }

    /// The last storage error a store import met whose detail the plugin was not
    /// told: a plugin gets only what failed ([`StorageError::summary`]), never
    /// where, since it may pass it on to a tenant. For the operator: print or log it.
    pub fn withheld_error(&self) -> Option<&StorageError> {
        self.store.data().withheld()
    }

    /// Ends the instance and hands its database back.
    pub fn into_database(self) -> Database {
        self.store.into_data().into_db()
    }

    /// Calls `create-record`: validates and stores a new record, returns its id.
    ///
    /// # Errors
    /// [`Error::Record`] with what the plugin returned (for example
    /// [`RecordError::LockTimeout`](crate::RecordError::LockTimeout) or
    /// [`RecordError::Invalid`](crate::RecordError::Invalid)); [`Error::Trap`] or a
    /// limit error when it was stopped; [`Error::BadCall`] when it does not export
    /// `records`.
    pub fn create_record(&mut self, name: &str, value: i64) -> Result<RecordId, Error> {
        let guest = self.records()?;
        self.typed("create-record", |store| {
            guest.call_create_record(store, name, value)
        })
    }

    /// Calls `update-record`: sets the value of an existing record.
    ///
    /// # Errors
    /// As [`create_record`](Self::create_record); a missing id is
    /// [`RecordError::NotFound`](crate::RecordError::NotFound).
    pub fn update_record(&mut self, id: RecordId, value: i64) -> Result<(), Error> {
        let guest = self.records()?;
        self.typed("update-record", |store| {
            guest.call_update_record(store, id, value)
        })
    }

    /// Calls `get-record`: the record with this id, or `None`.
    ///
    /// # Errors
    /// As [`create_record`](Self::create_record).
    pub fn get_record(&mut self, id: RecordId) -> Result<Option<Record>, Error> {
        let guest = self.records()?;
        let record = self.typed("get-record", |store| guest.call_get_record(store, id))?;
        Ok(record.map(Into::into))
    }

    /// Calls `get-all-records`: every record, ascending by id.
    ///
    /// # Errors
    /// As [`create_record`](Self::create_record).
    pub fn get_all_records(&mut self) -> Result<Vec<Record>, Error> {
        let guest = self.records()?;
        let records = self.typed("get-all-records", |store| guest.call_get_all_records(store))?;
        Ok(records.into_iter().map(Into::into).collect())
    }

    /// Calls `delete-record`: removes an existing record.
    ///
    /// # Errors
    /// As [`update_record`](Self::update_record).
    pub fn delete_record(&mut self, id: RecordId) -> Result<(), Error> {
        let guest = self.records()?;
        self.typed("delete-record", |store| guest.call_delete_record(store, id))
    }

    /// Calls `increment` of the `counters` export: adds `delta` to the record's value
    /// atomically and returns the new value.
    ///
    /// # Errors
    /// As [`create_record`](Self::create_record); [`Error::BadCall`] when the plugin
    /// does not export `counters`.
    pub fn increment(&mut self, id: RecordId, delta: i64) -> Result<i64, Error> {
        let guest = self.counters()?;
        self.typed("increment", |store| guest.call_increment(store, id, delta))
    }

    /// Calls `transfer` of the `counters` export: moves `amount` from one record's
    /// value to another's atomically.
    ///
    /// # Errors
    /// As [`increment`](Self::increment);
    /// [`RecordError::Invalid`](crate::RecordError::Invalid) when the source would go
    /// negative.
    pub fn transfer(
        &mut self,
        source: RecordId,
        target: RecordId,
        amount: i64,
    ) -> Result<(), Error> {
        let guest = self.counters()?;
        self.typed("transfer", |store| {
            guest.call_transfer(store, source, target, amount)
        })
    }

    /// Runs one typed export call under the limits; the plugin's own error value
    /// becomes [`Error::Record`].
    fn typed<T>(
        &mut self,
        func: &'static str,
        call: impl FnOnce(&mut Store<HostState>) -> wasmtime::Result<Result<T, types::Error>>,
    ) -> Result<T, Error> {
        let _span = tracing::info_span!("call", plugin = %self.name, func).entered();
        self.check_not_stopped()?;
        let result = call::run_bounded(&mut self.store, call);
        self.note_stop(result)?.map_err(|e| Error::Record(e.into()))
    }

    pub(super) fn check_not_stopped(&self) -> Result<(), Error> {
        match &self.stopped {
            Some(why) => Err(Error::Trap(format!(
                "the instance was stopped by an earlier call ({why}); make a new one"
            ))),
            None => Ok(()),
        }
    }

    /// Remembers that a call was stopped, so no later call enters a guest whose
    /// state it may have left half updated.
    pub(super) fn note_stop<T>(&mut self, result: Result<T, Error>) -> Result<T, Error> {
        if let Err(e) = &result
            && e.stopped_the_plugin()
        {
            self.stopped = Some(e.to_string());
        }
        result
    }

    fn records(&mut self) -> Result<records::Guest, Error> {
        self.guest_export(
            "records",
            |i| &mut i.records,
            |pre, store, instance| records::GuestIndices::new(pre)?.load(store, instance),
        )
    }

    fn counters(&mut self) -> Result<counters::Guest, Error> {
        self.guest_export(
            "counters",
            |i| &mut i.counters,
            |pre, store, instance| counters::GuestIndices::new(pre)?.load(store, instance),
        )
    }

    /// The typed handle of the exported `interface`, kept in `slot`: loaded (and
    /// type-checked) on first use, then kept, since a plugin need not export every
    /// interface of the world.
    fn guest_export<G: Clone>(
        &mut self,
        interface: &str,
        slot: fn(&mut Self) -> &mut Option<G>,
        load: impl FnOnce(
            &InstancePre<HostState>,
            &mut Store<HostState>,
            &Instance,
        ) -> wasmtime::Result<G>,
    ) -> Result<G, Error> {
        if let Some(loaded) = slot(self) {
            return Ok(loaded.clone());
        }
        let loaded = load(&self.pre, &mut self.store, &self.instance).map_err(|e| {
            Error::BadCall(format!(
                "plugin {} does not export records:plugin/{interface}: {}",
                self.name,
                one_line(&e)
            ))
        })?;
        *slot(self) = Some(loaded.clone());
        Ok(loaded)
    }
}
