//! Calling any plugin export from a WAVE expression, such as `create-record("a", 1)`.
//!
//! WAVE is the value syntax of `wasmtime run --invoke`; the wasm-wave crate parses
//! it against the export's parameter types and prints results back in it. This is
//! what lets the CLI drive plugins from other toolchains and worlds without
//! generated bindings.

use std::time::Duration;

use wasm_wave::untyped::UntypedFuncCall;
use wasmtime::Store;
use wasmtime::component::{Func, Instance, Type, Val};

use crate::error::Error;
use crate::host::HostState;
use crate::lock::LockTimeout;
use crate::runtime::ExportedFunc as Export;
use crate::runtime::surface;
use crate::util::escape_control;

/// A call of one export, parsed and type-checked, ready to run.
pub(crate) struct PreparedCall {
    func: Func,
    params: Vec<Val>,
    results: usize,
}

/// Parses `expr`, finds the export it names and converts its arguments.
///
/// # Errors
/// [`Error::BadCall`] when the expression does not parse, names no export (or
/// several), or its arguments do not fit.
pub(crate) fn prepare(
    store: &mut Store<HostState>,
    instance: &Instance,
    expr: &str,
) -> Result<PreparedCall, Error> {
    let (name, args) = split_call(expr)?;
    // WAVE's call syntax takes plain names only, so the arguments are parsed behind
    // a stand-in name and error positions are mapped back to `expr`.
    let source = format!("f{}", args.text);
    let parsed = UntypedFuncCall::parse(&source)
        .map_err(|e| Error::BadCall(format!("cannot parse `{expr}`: {}", args.describe(&e))))?;
    let exports = exported_functions(store, instance);
    let export = resolve(&exports, name)?;

    let func = lookup(store, instance, &export)
        .ok_or_else(|| Error::BadCall(format!("{export} is not a function export")))?;
    let ty = func.ty(&*store);
    let param_types: Vec<Type> = ty.params().map(|(_, ty)| ty).collect();
    let params = parsed
        .to_wasm_params::<Val>(param_types.iter())
        .map_err(|e| Error::BadCall(format!("arguments of {export}: {}", args.describe(&e))))?;
    Ok(PreparedCall {
        func,
        params,
        results: ty.results().len(),
    })
}

impl PreparedCall {
    /// Calls the export; the caller bounds it (see `runtime/call.rs`).
    pub(crate) fn run(&self, store: &mut Store<HostState>) -> wasmtime::Result<Vec<Val>> {
        let mut results = vec![Val::Bool(false); self.results];
        self.func.call(&mut *store, &self.params, &mut results)?;
        Ok(results)
    }
}

/// The `(...)` part of a call expression and where it starts in the expression.
struct Args<'a> {
    text: &'a str,
    offset: usize,
}

impl Args<'_> {
    /// A parser error with its position given in the original expression.
    fn describe(&self, err: &wasm_wave::parser::ParserError) -> String {
        let span = err.span();
        // The parsed source is `f` + text: shift by the stand-in's length.
        let start = (span.start + self.offset).saturating_sub(1);
        let snippet = self
            .text
            .get(span.start.saturating_sub(1)..span.end.saturating_sub(1))
            .unwrap_or("");
        let detail = err.detail().map(|d| format!(" ({d})")).unwrap_or_default();
        format!("{}{detail} at byte {start}: `{snippet}`", err.kind())
    }
}

/// Splits `name(args)` into the function name and the arguments.
fn split_call(expr: &str) -> Result<(&str, Args<'_>), Error> {
    let usage = || {
        Error::BadCall(format!(
            "expected FUNC(ARGS), such as `get-record(1)`, got `{expr}`"
        ))
    };
    let open = expr.find('(').ok_or_else(usage)?;
    let name = expr[..open].trim();
    if name.is_empty() {
        return Err(usage());
    }
    let text = expr[open..].trim_end();
    Ok((name, Args { text, offset: open }))
}

/// Every function the instance exports, at the top level or in an exported interface.
fn exported_functions(store: &Store<HostState>, instance: &Instance) -> Vec<Export> {
    let component = instance.instance_pre(store).component().component_type();
    surface::exported_functions(store.engine(), &component)
}

/// The one export `name` means: `func`, or `interface#func` where the interface may
/// be given in full (`records:plugin/records@0.1.0`), without its version, or by its
/// short name (`records`).
fn resolve(exports: &[Export], name: &str) -> Result<Export, Error> {
    let (interface, func) = match name.rsplit_once('#') {
        Some((interface, func)) => (Some(interface), func),
        None => (None, name),
    };
    let matching: Vec<&Export> = exports
        .iter()
        .filter(|e| e.func == func)
        .filter(|e| interface.is_none_or(|wanted| e.in_interface(wanted)))
        .collect();
    match matching.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(Error::BadCall(format!(
            "the plugin exports no function `{name}`; it exports: {}",
            list(exports.iter())
        ))),
        several => Err(Error::BadCall(format!(
            "`{name}` is ambiguous; qualify it as one of: {}",
            list(several.iter().copied())
        ))),
    }
}

fn list<'a>(exports: impl Iterator<Item = &'a Export>) -> String {
    let names: Vec<String> = exports.map(ToString::to_string).collect();
    if names.is_empty() {
        "nothing".to_string()
    } else {
        names.join(", ")
    }
}

fn lookup(
    store: &mut Store<HostState>,
    instance: &Instance,
    export: &Export,
) -> Option<wasmtime::component::Func> {
    let parent = match &export.interface {
        Some(interface) => Some(instance.get_export_index(&mut *store, None, interface)?),
        None => None,
    };
    let index = instance.get_export_index(&mut *store, parent.as_ref(), &export.func)?;
    instance.get_func(&mut *store, index)
}

/// The results in WAVE, one value per line (plugins' functions have one result).
///
/// # Errors
/// [`Error::BadCall`] when a value cannot be written as WAVE (it holds a resource).
pub fn to_wave(results: &[Val]) -> Result<String, Error> {
    let values = results
        .iter()
        .map(|val| {
            wasm_wave::to_string(val)
                .map_err(|e| Error::BadCall(format!("cannot print result: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(values.join("\n"))
}

/// How a call's results came out, for exit codes: `err(..)` results are failures,
/// and `err(lock-timeout(..))` is a failure worth retrying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No result is an `err`.
    Ok,
    /// A result is `err(..)`.
    Err,
    /// A result is `err(lock-timeout(..))`: retryable. The plugin's values, with
    /// control characters in the holder escaped.
    LockTimeout(LockTimeout),
}

impl Outcome {
    /// Classifies a call's results.
    pub fn of(results: &[Val]) -> Self {
        results.iter().fold(Self::Ok, |outcome, val| match val {
            Val::Result(Err(Some(error))) => match &**error {
                Val::Variant(case, payload) if case == "lock-timeout" => {
                    Self::LockTimeout(lock_timeout(payload.as_deref()))
                }
                _ if outcome == Self::Ok => Self::Err,
                _ => outcome,
            },
            Val::Result(Err(None)) if outcome == Self::Ok => Self::Err,
            _ => outcome,
        })
    }
}

/// The `lock-timeout` record's fields, as far as they have the contract's types.
fn lock_timeout(payload: Option<&Val>) -> LockTimeout {
    let mut timeout = LockTimeout {
        waited: Duration::ZERO,
        holder: "unknown".into(),
    };
    if let Some(Val::Record(fields)) = payload {
        for (name, value) in fields {
            match (name.as_str(), value) {
                ("waited-ms", Val::U32(ms)) => timeout.waited = Duration::from_millis((*ms).into()),
                ("holder", Val::String(holder)) => timeout.holder = escape_control(holder),
                _ => {}
            }
        }
    }
    timeout
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exports() -> Vec<Export> {
        let export = |interface: Option<&str>, func: &str| Export {
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
        let Err(Error::BadCall(msg)) = resolve(&exports(), "nope") else {
            panic!("expected an error");
        };
        assert!(
            msg.contains("no function `nope`") && msg.contains("hello"),
            "{msg}"
        );
    }

    #[test]
    fn outcomes_classify_results() {
        let variant = |case: &str| Val::Variant(case.to_string(), Some(Box::new(Val::S64(1))));
        assert_eq!(
            Outcome::of(&[Val::Result(Ok(Some(Box::new(Val::S64(1)))))]),
            Outcome::Ok
        );
        assert_eq!(Outcome::of(&[]), Outcome::Ok);
        assert_eq!(
            Outcome::of(&[Val::Result(Err(Some(Box::new(variant("not-found")))))]),
            Outcome::Err
        );
        let timeout = Val::Variant(
            "lock-timeout".into(),
            Some(Box::new(Val::Record(vec![
                ("waited-ms".into(), Val::U32(500)),
                ("holder".into(), Val::String("pid:1 \u{1b}[2J".into())),
            ]))),
        );
        assert_eq!(
            Outcome::of(&[Val::Result(Err(Some(Box::new(timeout))))]),
            Outcome::LockTimeout(LockTimeout {
                waited: Duration::from_millis(500),
                holder: "pid:1 \\u{1b}[2J".into()
            }),
            "read back, the holder's control characters escaped"
        );
    }
}
