//! A compiled, linked plugin, and how it becomes an instance or runs as a command.

use std::sync::Arc;

use wasmtime::Store;
use wasmtime::component::InstancePre;
use wasmtime_wasi::I32Exit;
use wasmtime_wasi::p2::bindings::sync::CommandPre;

use super::call;
use super::export_names::{self, ExportName};
use super::instance::PluginInstance;
use crate::error::{Error, one_line};
use crate::imports::host::{HostState, Stdio};
use crate::sandbox::limits::Limits;
use crate::sandbox::output::CapturedOutput;
use crate::store::Database;
use crate::tenant::TenantName;

/// What a script run with [`Plugin::run_script`] left: its exit code and its
/// output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptOutput {
    /// Its exit code (0 when `run` returned `ok`, 1 for `err`, or the code it
    /// exited with).
    pub exit: i32,
    /// What it wrote on stdout, up to the output limit.
    pub stdout: Vec<u8>,
    /// What it wrote on stderr, up to the output limit.
    pub stderr: Vec<u8>,
    /// Whether either was cut at the limit.
    pub truncated: bool,
}

/// A compiled, linked plugin, ready to instantiate. Cheap to clone, `Send` and
/// `Sync`: compile once, instantiate per call from any thread.
#[derive(Clone)]
pub struct Plugin {
    name: Arc<str>,
    pre: InstancePre<HostState>,
    limits: Limits,
    /// Its exported functions, listed once: every call by name resolves against
    /// them.
    exports: Arc<[ExportName]>,
}

impl Plugin {
    pub(crate) fn new(name: &str, pre: InstancePre<HostState>, limits: Limits) -> Self {
        let component = pre.component();
        let exports =
            export_names::exported_functions(component.engine(), &component.component_type())
                .into();
        Self {
            name: name.into(),
            pre,
            limits,
            exports,
        }
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The names of the interfaces the plugin imports (such as
    /// `records:plugin/store@0.1.0`), all of which the host provides.
    pub fn imports(&self) -> Vec<String> {
        let component = self.pre.component();
        export_names::imports(component.engine(), &component.component_type())
    }

    /// Every function the plugin exports, at the top level or in an interface.
    pub fn exported_functions(&self) -> Vec<ExportName> {
        self.exports.to_vec()
    }

    /// The bytes of its compiled code in memory: what keeping it loaded costs.
    pub fn code_size(&self) -> u64 {
        let range = self.pre.component().image_range();
        (range.end as usize).saturating_sub(range.start as usize) as u64
    }

    /// The bounds of each call into this plugin.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Instantiates the plugin over `db`. The instance owns the database until
    /// [`PluginInstance::into_database`]; its writes are labelled `plugin:<name>` in
    /// the lock file, and its stdout and stderr go to the host's stderr prefixed
    /// `[<name>]`. Its start-up code runs under the time limit.
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
        let instance = call::run_bounded(&mut store, |store| self.pre.instantiate(store))?;
        Ok(PluginInstance::new(
            self.name.clone(),
            self.pre.clone(),
            self.exports.clone(),
            store,
            instance,
        ))
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
        self.run_with(db, tenant, Stdio::Inherit { args })
    }

    /// Runs the plugin as a command, like [`run_command`](Self::run_command),
    /// with `stdin` as its standard input and its stdout and stderr kept (each up
    /// to [`Limits::max_output`] bytes, the rest dropped), for a caller that is
    /// not a terminal (a service's client).
    ///
    /// # Errors
    /// As [`run_command`](Self::run_command).
    pub fn run_script(
        &self,
        db: Database,
        tenant: Option<&TenantName>,
        args: Vec<String>,
        stdin: Vec<u8>,
    ) -> Result<ScriptOutput, Error> {
        let stdout = CapturedOutput::new(self.limits.max_output);
        let stderr = CapturedOutput::new(self.limits.max_output);
        let stdio = Stdio::Captured {
            args,
            stdin,
            stdout: stdout.clone(),
            stderr: stderr.clone(),
        };
        let exit = self.run_with(db, tenant, stdio)?;
        let (stdout, out_cut) = stdout.take();
        let (stderr, err_cut) = stderr.take();
        Ok(ScriptOutput {
            exit,
            stdout,
            stderr,
            truncated: out_cut || err_cut,
        })
    }

    fn run_with(
        &self,
        db: Database,
        tenant: Option<&TenantName>,
        stdio: Stdio,
    ) -> Result<i32, Error> {
        let db = self.prepare_db(db, tenant)?;
        let mut store = self.new_store(HostState::new(db, stdio, &self.limits));
        let command = CommandPre::new(self.pre.clone()).map_err(|e| {
            Error::BadCall(format!(
                "plugin {} is not a command component (no wasi:cli/run export): {}",
                self.name,
                one_line(&e)
            ))
        })?;
        let outcome = call::run_bounded(&mut store, |store| {
            let command = command.instantiate(&mut *store)?;
            match command.wasi_cli_run().call_run(&mut *store) {
                Ok(Ok(())) => Ok(0),
                Ok(Err(())) => Ok(1),
                Err(e) => match e.downcast_ref::<I32Exit>() {
                    Some(exit) => Ok(exit.0),
                    None => Err(e),
                },
            }
        });
        store.data_mut().abort_transactions();
        outcome
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
        db.set_holder_label(holder)?;
        db.set_max_size(self.limits.max_db_size)?;
        Ok(db)
    }

    fn new_store(&self, state: HostState) -> Store<HostState> {
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|state| &mut state.limiter);
        store.epoch_deadline_callback(call::on_epoch_tick);
        store
    }
}
