//! What a compiled component imports and exports, by name: for the conformance
//! check's report and for resolving a call expression's function name.

use std::fmt;

use wasmtime::Engine;
use wasmtime::component::types::{Component, ComponentItem};

/// An exported function: its interface (`None` for a world-level function) and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedFunc {
    /// The exported interface it belongs to, in full (`records:plugin/records@0.1.0`).
    pub interface: Option<String>,
    /// The function's name (`create-record`).
    pub func: String,
}

impl fmt::Display for ExportedFunc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.interface {
            Some(interface) => write!(f, "{interface}#{}", self.func),
            None => f.write_str(&self.func),
        }
    }
}

impl ExportedFunc {
    /// Whether its interface is `wanted`, given in full
    /// (`records:plugin/records@0.1.0`), without its version, or by its short name
    /// (`records`).
    pub fn in_interface(&self, wanted: &str) -> bool {
        let Some(full) = self.interface.as_deref() else {
            return false;
        };
        let unversioned = full.split_once('@').map_or(full, |(name, _)| name);
        let short = unversioned
            .rsplit_once('/')
            .map_or(unversioned, |(_, name)| name);
        wanted == full || wanted == unversioned || wanted == short
    }
}

/// The names of everything `component` imports (interfaces such as
/// `records:plugin/store@0.1.0`), in the component's order.
pub(crate) fn imports(engine: &Engine, component: &Component) -> Vec<String> {
    component
        .imports(engine)
        .map(|(name, _)| name.to_string())
        .collect()
}

/// Every function `component` exports, at the top level or in an exported interface.
pub(crate) fn exported_functions(engine: &Engine, component: &Component) -> Vec<ExportedFunc> {
    let mut exports = Vec::new();
    for (name, item) in component.exports(engine) {
        match item.ty {
            ComponentItem::ComponentFunc(_) => exports.push(ExportedFunc {
                interface: None,
                func: name.to_string(),
            }),
            ComponentItem::ComponentInstance(interface) => {
                for (func, item) in interface.exports(engine) {
                    if matches!(item.ty, ComponentItem::ComponentFunc(_)) {
                        exports.push(ExportedFunc {
                            interface: Some(name.to_string()),
                            func: func.to_string(),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    exports
}
