//! Where each check runs: a fresh instance of the plugin over a fresh database in
//! a temporary directory, and a tally of the calls the host had to stop.

use std::path::PathBuf;

use crate::error::Error;

use crate::record_error::RecordError;
use crate::runtime::{Plugin, PluginInstance};
use crate::store::Database;

use crate::check_report::{CheckResult, Status};

/// The checks' shared state: the plugin, the scratch directory, and every call
/// that trapped or hit a limit.
pub(super) struct Session<'p> {
    plugin: &'p Plugin,
    dir: Result<tempfile::TempDir, String>,
    next_db: usize,
    instance: Option<PluginInstance>,
    stops: Vec<String>,
}

impl<'p> Session<'p> {
    pub(super) fn new(plugin: &'p Plugin) -> Self {
        Self {
            plugin,
            dir: tempfile::Builder::new()
                .prefix("records-host-check-")
                .tempdir()
                .map_err(|e| format!("cannot create a temporary directory: {e}")),
            next_db: 0,
            instance: None,
            stops: Vec::new(),
        }
    }

    /// Runs one check in a fresh instance over a fresh database.
    pub(super) fn run(
        &mut self,
        check: &fn(&mut Session) -> Result<String, String>,
    ) -> Result<String, String> {
        self.instance = Some(self.fresh_instance()?);
        let outcome = check(self);
        self.instance = None;
        outcome
    }

    fn fresh_instance(&mut self) -> Result<PluginInstance, String> {
        let dir = self.dir.as_ref().map_err(Clone::clone)?;
        self.next_db += 1;
        let path: PathBuf = dir.path().join(format!("check-{}.db", self.next_db));
        let db = Database::open(path).map_err(|e| format!("cannot open a database: {e}"))?;
        self.plugin
            .instantiate(db)
            .map_err(|e| self.note(format!("instantiating it failed: {e}"), &e))
    }

    /// Calls the plugin through the current instance; an error the host raised
    /// (a trap or a limit) is tallied and described, so the check can fail with it.
    pub(super) fn call<T>(
        &mut self,
        what: &str,
        call: impl FnOnce(&mut PluginInstance) -> Result<T, Error>,
    ) -> Result<Result<T, RecordError>, String> {
        let Some(instance) = self.instance.as_mut() else {
            return Err("no instance (an earlier call stopped it)".into());
        };
        match call(instance) {
            Ok(value) => Ok(Ok(value)),
            Err(Error::Record(err)) => Ok(Err(err)),
            Err(err) => {
                if err.stopped_the_plugin() {
                    // The instance refuses further calls; a new one continues.
                    self.instance = None;
                    let msg = self.note(format!("{what}: {err}"), &err);
                    self.instance = self.fresh_instance().ok();
                    return Err(msg);
                }
                Err(format!("{what}: {err}"))
            }
        }
    }

    /// Calls the plugin and requires `Ok`.
    pub(super) fn ok<T>(
        &mut self,
        what: &str,
        call: impl FnOnce(&mut PluginInstance) -> Result<T, Error>,
    ) -> Result<T, String> {
        self.call(what, call)?
            .map_err(|err| format!("{what} returned err({})", describe(&err)))
    }

    /// Remembers a call the host stopped, for the final check; returns `msg`.
    fn note(&mut self, msg: String, err: &Error) -> String {
        if err.stopped_the_plugin() {
            self.stops.push(msg.clone());
        }
        msg
    }

    /// The final check: no call trapped or hit a limit.
    pub(super) fn stops_check(&self) -> CheckResult {
        let name = "no call trapped or hit a limit";
        match self.stops.as_slice() {
            [] => CheckResult {
                name,
                status: Status::Pass,
                detail: String::new(),
            },
            [first, rest @ ..] => CheckResult {
                name,
                status: Status::Fail,
                detail: match rest.len() {
                    0 => first.clone(),
                    more => format!("{first} (and {more} more)"),
                },
            },
        }
    }
}

/// A record error the way WAVE shows the contract's variant: `not-found(7)`.
pub(super) fn describe(err: &RecordError) -> String {
    match err {
        RecordError::LockTimeout(timeout) => format!("lock-timeout({timeout})"),
        RecordError::NotFound(id) => format!("not-found({id})"),
        RecordError::Invalid(msg) => format!("invalid({msg:?})"),
        RecordError::Storage(e) => format!("storage({:?})", e.summary()),
    }
}

/// A named behaviour check: `Ok(detail)` when the plugin passed it.
pub(super) type Check = (&'static str, fn(&mut Session) -> Result<String, String>);
