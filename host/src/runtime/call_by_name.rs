//! Calling any export of a plugin by name with component values, for plugins of
//! worlds the typed methods do not cover (a fixture's, a script's helpers) and for
//! the front ends that turn text (WAVE, JSON) into values.

use wasmtime::component::{Func, Type, Val};

use super::call;
use super::export_names::{self, ExportName};
use super::instance::PluginInstance;
use crate::error::Error;

/// One exported function of one instance, found by name ([`ExportName`]): what
/// to pass it, and the handle [`PluginInstance::call_func`] calls.
/// It belongs to the instance that found it; another instance refuses it.
#[derive(Debug, Clone)]
pub struct InstanceFunc {
    export: ExportName,
    func: Func,
    params: Vec<Type>,
    results: usize,
}

impl InstanceFunc {
    /// Its full name (`records:plugin/records@0.1.0#create-record`).
    pub fn export(&self) -> &ExportName {
        &self.export
    }

    /// Its parameters' types, in order.
    pub fn param_types(&self) -> &[Type] {
        &self.params
    }
}

impl PluginInstance {
    /// Finds the export `name` means: a bare function name when only one exported
    /// interface has it, else `interface#function`, the interface given in full
    /// (`records:plugin/records@0.1.0`), without its version, or by its short name
    /// (`records`).
    ///
    /// # Errors
    /// [`Error::BadCall`] when no export (or several) has that name; the message
    /// lists what the plugin exports.
    pub fn find_func(&mut self, name: &str) -> Result<InstanceFunc, Error> {
        let export = export_names::resolve(self.exports(), name)?;
        let func = self
            .lookup(&export)
            .ok_or_else(|| Error::BadCall(format!("{export} is not a function export")))?;
        let ty = func.ty(self.store());
        Ok(InstanceFunc {
            params: ty.params().map(|(_, ty)| ty).collect(),
            results: ty.results().len(),
            export,
            func,
        })
    }

    /// Calls `func` with `params`, under the plugin's limits, and returns its results.
    ///
    /// # Errors
    /// [`Error::BadCall`] when the values do not fit its parameters;
    /// [`Error::Trap`] or a limit error when the plugin was stopped.
    pub fn call_func(&mut self, func: &InstanceFunc, params: &[Val]) -> Result<Vec<Val>, Error> {
        let _span =
            tracing::info_span!("call", plugin = %self.name(), func = %func.export.func).entered();
        self.check_not_stopped()?;
        let mut results = vec![Val::Bool(false); func.results];
        let result = call::run_bounded(self.store_mut(), |store| {
            func.func.call(&mut *store, params, &mut results)
        });
        self.note_stop(result)?;
        Ok(results)
    }
}
