//! The wasm side: one engine and linker, plugins compiled once, instances per use.
//!
//! [`Runtime`] owns the wasmtime [`Engine`] and a [`Linker`] with WASI preview 2 and
//! the `store` imports. [`Runtime::load`] compiles a component (through the compiled
//! cache when one is configured) and pre-links it into a [`Plugin`]; a plugin is
//! instantiated against a [`Database`] into a [`PluginInstance`], whose methods call
//! the plugin's `records` exports with typed arguments, or any export by a WAVE
//! expression ([`PluginInstance::call`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasmtime::component::{Component, HasSelf, Instance, InstancePre, Linker, Val};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::I32Exit;
use wasmtime_wasi::p2::bindings::sync::CommandPre;

use crate::bindings;
use crate::bindings::exports::records::plugin::{counters, records};
use crate::bindings::records::plugin::types;
use crate::cache::CompiledCache;
use crate::db::{Database, Record};
use crate::error::{Error, RecordId, one_line};
use crate::host::{HostState, Stdio};
use crate::limits::{Limits, start_epoch_ticker};
use crate::tenant::TenantName;
use crate::wave_call;

/// The reference plugin, built from `guest/` by the build script and embedded.
pub const REFERENCE_PLUGIN: &[u8] = include_bytes!(env!("REFERENCE_GUEST_WASM"));

/// The name the embedded reference plugin goes by (in errors and the lock file).
pub const REFERENCE_PLUGIN_NAME: &str = "reference";

/// Builds a [`Runtime`].
#[derive(Debug, Default, Clone)]
pub struct RuntimeBuilder {
    cache_dir: Option<PathBuf>,
    limits: Limits,
}

impl RuntimeBuilder {
    /// Keeps compiled plugins in `dir` (created when needed), so a plugin is compiled
    /// once per machine rather than once per process. Off by default.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// The bounds of every plugin call made through this runtime (default:
    /// [`Limits::default`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Creates the engine and links WASI and the store imports.
    ///
    /// # Errors
    /// [`Error::Engine`] when wasmtime cannot create the engine for this host.
    pub fn build(self) -> Result<Runtime, Error> {
        let engine_error = |e: wasmtime::Error| Error::Engine(one_line(&e));
        let mut config = Config::new();
        // Epochs stop a guest that runs past its time limit; fuel is metered only
        // when a budget is set, since metering slows every guest down.
        config.epoch_interruption(true);
        config.consume_fuel(self.limits.fuel.is_some());
        let engine = Engine::new(&config).map_err(engine_error)?;
        start_epoch_ticker(&engine);
        let mut linker = Linker::new(&engine);
        // All of WASI preview 2 is linked so that components from any toolchain
        // instantiate; the per-instance WasiCtx grants none of it (see HostState).
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(engine_error)?;
        bindings::CountersPlugin::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |state| {
            state
        })
        .map_err(engine_error)?;
        Ok(Runtime {
            engine,
            linker: Arc::new(linker),
            cache: self.cache_dir.map(CompiledCache::new),
            limits: self.limits,
        })
    }
}

/// A wasm engine with the records host linked in. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    engine: Engine,
    linker: Arc<Linker<HostState>>,
    cache: Option<CompiledCache>,
    limits: Limits,
}

impl Runtime {
    /// A runtime without a compiled-code cache; see [`RuntimeBuilder`].
    ///
    /// # Errors
    /// As [`RuntimeBuilder::build`].
    pub fn new() -> Result<Self, Error> {
        Self::builder().build()
    }

    /// A builder for a configured runtime.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// Compiles and links a plugin component given as bytes; `name` labels it in
    /// errors and in the lock file's holder info.
    ///
    /// # Errors
    /// [`Error::LoadPlugin`] when the bytes are not a valid component, or it imports
    /// something the host does not provide.
    pub fn load(&self, name: &str, wasm: &[u8]) -> Result<Plugin, Error> {
        let _span = tracing::debug_span!("load", plugin = name).entered();
        let load_error = |e: wasmtime::Error| Error::LoadPlugin {
            plugin: name.to_string(),
            reason: one_line(&e),
        };
        if !wasm.starts_with(b"\0asm") {
            return Err(Error::LoadPlugin {
                plugin: name.to_string(),
                reason: "not a WebAssembly component (no \\0asm header)".to_string(),
            });
        }
        let component = match &self.cache {
            Some(cache) => cache.load_or_compile(&self.engine, wasm),
            None => Component::new(&self.engine, wasm),
        }
        .map_err(load_error)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(load_error)?;
        Ok(Plugin {
            name: name.into(),
            pre,
            limits: self.limits.clone(),
        })
    }

    /// Loads a plugin from a `.wasm` component file, named after the file's stem.
    ///
    /// # Errors
    /// [`Error::LoadPlugin`] when the file cannot be read or loaded.
    pub fn load_file(&self, path: &Path) -> Result<Plugin, Error> {
        let name = path.file_stem().map_or_else(
            || path.display().to_string(),
            |s| s.to_string_lossy().into_owned(),
        );
        let wasm = std::fs::read(path).map_err(|e| Error::LoadPlugin {
            plugin: name.clone(),
            reason: format!("reading {}: {e}", path.display()),
        })?;
        self.load(&name, &wasm)
    }

    /// Loads the embedded reference plugin.
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn load_reference(&self) -> Result<Plugin, Error> {
        self.load(REFERENCE_PLUGIN_NAME, REFERENCE_PLUGIN)
    }
}

/// A compiled, linked plugin, ready to instantiate. Cheap to clone, `Send` and
/// `Sync`: compile once, instantiate per call from any thread.
#[derive(Clone)]
pub struct Plugin {
    name: Arc<str>,
    pre: InstancePre<HostState>,
    limits: Limits,
}

impl Plugin {
    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bounds of each call into this plugin.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Instantiates the plugin over `db`. The instance owns the database until
    /// [`PluginInstance::into_database`]; its writes are labelled `plugin:<name>` in
    /// the lock file, and its stdout and stderr go to the host's stderr prefixed
    /// `[<name>]`.
    ///
    /// # Errors
    /// [`Error::Trap`] (or a limit error) when the plugin's start-up code fails;
    /// [`Error::Record`] when the database size limit cannot be applied.
    pub fn instantiate(&self, db: Database) -> Result<PluginInstance, Error> {
        self.instantiate_as(db, None)
    }

    /// Like [`instantiate`](Self::instantiate), for `tenant`: the lock file and the
    /// output prefix name the tenant too.
    ///
    /// # Errors
    /// As [`instantiate`](Self::instantiate).
    pub fn instantiate_for(
        &self,
        db: Database,
        tenant: &TenantName,
    ) -> Result<PluginInstance, Error> {
        self.instantiate_as(db, Some(tenant))
    }

    fn instantiate_as(
        &self,
        db: Database,
        tenant: Option<&TenantName>,
    ) -> Result<PluginInstance, Error> {
        let label = self.label(tenant);
        let db = self.prepare_db(db, tenant)?;
        let mut store = self.new_store(HostState::new(db, Stdio::Prefixed { label }, &self.limits));
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| Error::from_call(e, &self.limits))?;
        Ok(PluginInstance {
            plugin: self.clone(),
            store,
            instance,
            records: None,
            counters: None,
        })
    }

    /// Runs the plugin as a command component (one that exports `wasi:cli/run`, as
    /// `cargo build --target wasm32-wasip2` makes of a `fn main`), with the host's
    /// stdin, stdout and stderr, the arguments `args` (`args[0]` is its name), the
    /// same sandbox and limits as any plugin call, and `db` as its store. Returns
    /// its exit code. Its open transactions are rolled back and the lock released
    /// before this returns, however it ends.
    ///
    /// # Errors
    /// [`Error::BadCall`] when the component does not export `wasi:cli/run`;
    /// [`Error::Trap`] or a limit error when it is stopped.
    pub fn run_command(
        &self,
        db: Database,
        tenant: Option<&TenantName>,
        args: Vec<String>,
    ) -> Result<i32, Error> {
        let db = self.prepare_db(db, tenant)?;
        let mut store = self.new_store(HostState::new(db, Stdio::Inherit { args }, &self.limits));
        let command = CommandPre::new(self.pre.clone()).map_err(|e| {
            Error::BadCall(format!(
                "plugin {} is not a command component (no wasi:cli/run export): {}",
                self.name,
                one_line(&e)
            ))
        })?;
        let outcome = command
            .instantiate(&mut store)
            .and_then(|command| command.wasi_cli_run().call_run(&mut store));
        store.data_mut().abort_transactions();
        match outcome {
            Ok(Ok(())) => Ok(0),
            Ok(Err(())) => Ok(1),
            Err(e) => match e.downcast_ref::<I32Exit>() {
                Some(exit) => Ok(exit.0),
                None => Err(Error::from_call(e, &self.limits)),
            },
        }
    }

    fn label(&self, tenant: Option<&TenantName>) -> String {
        match tenant {
            Some(tenant) => format!("{}@{tenant}", self.name),
            None => self.name.to_string(),
        }
    }

    fn prepare_db(&self, mut db: Database, tenant: Option<&TenantName>) -> Result<Database, Error> {
        let mut holder = format!("plugin:{}", self.name);
        if let Some(tenant) = tenant {
            holder.push_str(&format!(" tenant:{tenant}"));
        }
        db.set_holder_label(holder);
        db.set_max_size(self.limits.max_db_size)?;
        Ok(db)
    }

    fn new_store(&self, state: HostState) -> Store<HostState> {
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|state| &mut state.limiter);
        store.epoch_deadline_trap();
        arm(&mut store, &self.limits);
        store
    }
}

/// Gives the next call its full time (and fuel) budget.
fn arm(store: &mut Store<HostState>, limits: &Limits) {
    store.set_epoch_deadline(limits.deadline_ticks());
    if let Some(fuel) = limits.fuel {
        // Fails only when fuel metering is off, which `Runtime` turns on with a budget.
        let _ = store.set_fuel(fuel);
    }
}

/// A live plugin instance: its own wasm state and its database.
///
/// When a call traps, every write transaction the instance had open is rolled back
/// and the lock released before the call returns.
pub struct PluginInstance {
    plugin: Plugin,
    store: Store<HostState>,
    instance: Instance,
    records: Option<records::Guest>,
    counters: Option<counters::Guest>,
}

impl PluginInstance {
    /// The database this instance works on.
    pub fn database(&self) -> &Database {
        self.store.data().db()
    }

    /// Ends the instance and hands its database back.
    pub fn into_database(self) -> Database {
        self.store.into_data().into_db()
    }

    /// Calls `create-record`: validates and stores a new record, returns its id.
    ///
    /// # Errors
    /// [`Error::Record`] with what the plugin returned (for example
    /// [`RecordError::LockTimeout`](crate::RecordError::LockTimeout) or [`RecordError::Invalid`](crate::RecordError::Invalid)); [`Error::Trap`]
    /// when it trapped; [`Error::BadCall`] when it does not export `records`.
    pub fn create_record(&mut self, name: &str, value: i64) -> Result<RecordId, Error> {
        let _span = self.span("create-record");
        let result = self
            .records()?
            .call_create_record(&mut self.store, name, value);
        self.finish(result)
    }

    /// Calls `update-record`: sets the value of an existing record.
    ///
    /// # Errors
    /// As [`create_record`](Self::create_record); a missing id is
    /// [`RecordError::NotFound`](crate::RecordError::NotFound).
    pub fn update_record(&mut self, id: RecordId, value: i64) -> Result<(), Error> {
        let _span = self.span("update-record");
        let result = self
            .records()?
            .call_update_record(&mut self.store, id, value);
        self.finish(result)
    }

    /// Calls `get-record`: the record with this id, or `None`.
    ///
    /// # Errors
    /// As [`create_record`](Self::create_record).
    pub fn get_record(&mut self, id: RecordId) -> Result<Option<Record>, Error> {
        let _span = self.span("get-record");
        let result = self.records()?.call_get_record(&mut self.store, id);
        Ok(self.finish(result)?.map(Into::into))
    }

    /// Calls `get-all-records`: every record, ascending by id.
    ///
    /// # Errors
    /// As [`create_record`](Self::create_record).
    pub fn get_all_records(&mut self) -> Result<Vec<Record>, Error> {
        let _span = self.span("get-all-records");
        let result = self.records()?.call_get_all_records(&mut self.store);
        Ok(self.finish(result)?.into_iter().map(Into::into).collect())
    }

    /// Calls `delete-record`: removes an existing record.
    ///
    /// # Errors
    /// As [`update_record`](Self::update_record).
    pub fn delete_record(&mut self, id: RecordId) -> Result<(), Error> {
        let _span = self.span("delete-record");
        let result = self.records()?.call_delete_record(&mut self.store, id);
        self.finish(result)
    }

    /// Calls `increment` of the `counters` export: adds `delta` to the record's value
    /// atomically and returns the new value.
    ///
    /// # Errors
    /// As [`create_record`](Self::create_record); [`Error::BadCall`] when the plugin
    /// does not export `counters`.
    pub fn increment(&mut self, id: RecordId, delta: i64) -> Result<i64, Error> {
        let _span = self.span("increment");
        let result = self.counters()?.call_increment(&mut self.store, id, delta);
        self.finish(result)
    }

    /// Calls `transfer` of the `counters` export: moves `amount` from one record's
    /// value to another's atomically.
    ///
    /// # Errors
    /// As [`increment`](Self::increment); [`RecordError::Invalid`](crate::RecordError::Invalid) when the source
    /// would go negative.
    pub fn transfer(
        &mut self,
        source: RecordId,
        target: RecordId,
        amount: i64,
    ) -> Result<(), Error> {
        let _span = self.span("transfer");
        let result = self
            .counters()?
            .call_transfer(&mut self.store, source, target, amount);
        self.finish(result)
    }

    /// Calls any export of the plugin given as a WAVE call expression, such as
    /// `create-record("test", 42)`, and returns its results. The bare function name
    /// works when only one exported interface has it; otherwise qualify it as
    /// `interface#function` (for example `records#get-record`).
    ///
    /// # Errors
    /// [`Error::BadCall`] when the expression does not parse, names no export (or
    /// several), or its arguments do not fit; [`Error::Trap`] when the plugin traps.
    pub fn call(&mut self, expr: &str) -> Result<Vec<Val>, Error> {
        let _span = self.span(expr);
        let result = wave_call::call(&mut self.store, &self.instance, expr);
        if result.as_ref().is_err_and(Error::stopped_the_plugin) {
            self.store.data_mut().abort_transactions();
        }
        result
    }

    /// Enters the call's span and gives it a fresh time and fuel budget.
    fn span(&mut self, func: &str) -> tracing::span::EnteredSpan {
        arm(&mut self.store, &self.plugin.limits);
        tracing::info_span!("call", plugin = %self.plugin.name, func).entered()
    }

    /// Flattens a typed export call: trap (ending the instance's open transactions),
    /// or the plugin's own result.
    fn finish<T>(&mut self, result: wasmtime::Result<Result<T, types::Error>>) -> Result<T, Error> {
        match result {
            Ok(result) => result.map_err(|e| Error::Record(e.into())),
            Err(trap) => {
                self.store.data_mut().abort_transactions();
                Err(Error::from_call(trap, &self.plugin.limits))
            }
        }
    }

    fn records(&mut self) -> Result<records::Guest, Error> {
        let Self {
            plugin,
            store,
            instance,
            records: slot,
            ..
        } = self;
        cached_export(slot, plugin, "records", || {
            records::GuestIndices::new(&plugin.pre)?.load(store, instance)
        })
    }

    fn counters(&mut self) -> Result<counters::Guest, Error> {
        let Self {
            plugin,
            store,
            instance,
            counters: slot,
            ..
        } = self;
        cached_export(slot, plugin, "counters", || {
            counters::GuestIndices::new(&plugin.pre)?.load(store, instance)
        })
    }
}

/// The typed handle of an exported interface: loaded (and type-checked) on first
/// use, then kept, since a plugin need not export every interface of the world.
fn cached_export<G: Clone>(
    slot: &mut Option<G>,
    plugin: &Plugin,
    interface: &str,
    load: impl FnOnce() -> wasmtime::Result<G>,
) -> Result<G, Error> {
    if let Some(loaded) = slot {
        return Ok(loaded.clone());
    }
    let loaded = load().map_err(|e| {
        Error::BadCall(format!(
            "plugin {} does not export records:plugin/{interface}: {}",
            plugin.name,
            one_line(&e)
        ))
    })?;
    *slot = Some(loaded.clone());
    Ok(loaded)
}
