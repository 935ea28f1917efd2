//! Calling any plugin export from a WAVE expression, such as `create-record("a", 1)`,
//! and printing results back in WAVE.
//!
//! WAVE is the value syntax of `wasmtime run --invoke`; the wasm-wave crate parses
//! it against the export's parameter types and prints results back in it. This is
//! what lets the CLI drive plugins from other toolchains and worlds without
//! generated bindings.

use wasm_wave::untyped::UntypedFuncCall;
use wasmtime::component::Val;

use records_host::Error;
use records_host::PluginInstance;

/// Parses `expr`, finds the export it names, converts its arguments and calls it
/// under the plugin's limits. The bare function name works when only one exported
/// interface has it; otherwise qualify it as `interface#function` (for example
/// `records#get-record`).
///
/// # Errors
/// [`Error::BadCall`] when the expression does not parse, names no export (or
/// several), or its arguments do not fit; [`Error::Trap`] or a limit error when
/// the plugin was stopped.
pub fn call(instance: &mut PluginInstance, expr: &str) -> Result<Vec<Val>, Error> {
    let (name, args) = split_call(expr)?;
    // WAVE's call syntax takes plain names only, so the arguments are parsed behind
    // a stand-in name and error positions are mapped back to `expr`.
    let source = format!("f{}", args.text);
    let parsed = UntypedFuncCall::parse(&source)
        .map_err(|e| Error::BadCall(format!("cannot parse `{expr}`: {}", args.describe(&e))))?;
    let func = instance.find_func(name)?;
    let params = parsed
        .to_wasm_params::<Val>(func.param_types().iter())
        .map_err(|e| {
            let export = func.export();
            Error::BadCall(format!("arguments of {export}: {}", args.describe(&e)))
        })?;
    instance.call_func(&func, &params)
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
