//! What a compiled component imports and exports, by name: for the conformance
//! check's report and for resolving a call expression's function name.

use std::fmt;

use wasmtime::Engine;
use wasmtime::component::types::{Component, ComponentItem};

use crate::error::Error;

/// The name of an exported function: its interface (`None` for a world-level
/// function) and its own name. [`InstanceFunc`](crate::InstanceFunc) is the
/// function itself, found in one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportName {
    /// The exported interface it belongs to, in full (`records:plugin/records@0.1.0`).
    pub interface: Option<String>,
    /// The function's name (`create-record`).
    pub func: String,
}

impl fmt::Display for ExportName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.interface {
            Some(interface) => write!(f, "{interface}#{}", self.func),
            None => f.write_str(&self.func),
        }
    }
}

impl ExportName {
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
pub(crate) fn exported_functions(engine: &Engine, component: &Component) -> Vec<ExportName> {
    let mut exports = Vec::new();
    for (name, item) in component.exports(engine) {
        match item.ty {
            ComponentItem::ComponentFunc(_) => exports.push(ExportName {
                interface: None,
                func: name.to_string(),
            }),
            ComponentItem::ComponentInstance(interface) => {
                for (func, item) in interface.exports(engine) {
                    if matches!(item.ty, ComponentItem::ComponentFunc(_)) {
                        exports.push(ExportName {
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

/// The one export `name` means: `func`, or `interface#func` where the interface may
/// be given in full (`records:plugin/records@0.1.0`), without its version, or by its
/// short name (`records`).
pub(crate) fn resolve(exports: &[ExportName], name: &str) -> Result<ExportName, Error> {
    let (interface, func) = match name.rsplit_once('#') {
        Some((interface, func)) => (Some(interface), func),
        None => (None, name),
    };
    let matching: Vec<&ExportName> = exports
        .iter()
        .filter(|e| e.func == func)
        .filter(|e| interface.is_none_or(|wanted| e.in_interface(wanted)))
        .collect();
    match matching.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(Error::NoSuchFunction(format!(
            "the plugin exports no function `{name}`; it exports: {}",
            list(exports.iter())
        ))),
        several => Err(Error::BadCall(format!(
            "`{name}` is ambiguous; qualify it as one of: {}",
            list(several.iter().copied())
        ))),
    }
}

fn list<'a>(exports: impl Iterator<Item = &'a ExportName>) -> String {
    let names: Vec<String> = exports.map(ToString::to_string).collect();
    if names.is_empty() {
        "nothing".to_string()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exports() -> Vec<ExportName> {
        let export = |interface: Option<&str>, func: &str| ExportName {
            interface: interface.map(str::to_string),
            func: func.to_string(),
        };
        vec![
            export(Some("records:plugin/records@0.1.0"), "get-record"),
            export(Some("records:plugin/records@0.1.0"), "create-record"),
            export(Some("other:pkg/records@1.0.0"), "get-record"),
            export(None, "hello"),
        ]
    }

    #[test]
    fn bare_names_resolve_when_unique() {
        let found = resolve(&exports(), "create-record").unwrap();
        assert_eq!(
            found.to_string(),
            "records:plugin/records@0.1.0#create-record"
        );
        assert_eq!(resolve(&exports(), "hello").unwrap().interface, None);
    }

    #[test]
    fn ambiguous_names_list_the_candidates() {
        let Err(Error::BadCall(msg)) = resolve(&exports(), "get-record") else {
            panic!("expected an ambiguity error");
        };
        assert!(
            msg.contains("records:plugin/records@0.1.0#get-record"),
            "{msg}"
        );
        assert!(msg.contains("other:pkg/records@1.0.0#get-record"), "{msg}");
    }

    #[test]
    fn qualified_names_accept_full_unversioned_and_short_interfaces() {
        for name in [
            "records:plugin/records@0.1.0#get-record",
            "records:plugin/records#get-record",
        ] {
            let found = resolve(&exports(), name).unwrap();
            assert_eq!(
                found.interface.as_deref(),
                Some("records:plugin/records@0.1.0"),
                "{name}"
            );
        }
        // The short name is ambiguous between the two packages.
        assert!(resolve(&exports(), "records#get-record").is_err());
        assert!(resolve(&exports(), "records#create-record").is_ok());
    }

    #[test]
    fn unknown_names_list_what_exists() {
        let Err(Error::NoSuchFunction(msg)) = resolve(&exports(), "nope") else {
            panic!("expected an error");
        };
        assert!(
            msg.contains("no function `nope`") && msg.contains("hello"),
            "{msg}"
        );
    }
}
