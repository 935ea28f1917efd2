//! JSON arguments to component values: the inverse of [`to_json`](super::json::to_json),
//! for callers that speak JSON (the HTTP service's `{"function", "args"}`).
//!
//! The mapping is the one `json.rs` states, read the other way: a record is an
//! object keyed by field name (every field required, no others); lists and tuples
//! are arrays; `option` is the value or `null`; `result` is `{"ok": v}` or
//! `{"err": v}`; a variant case is `{"<case>": payload}` (or the case's name alone
//! when it has no payload); an enum is its case name; flags are an array of names;
//! integers are JSON integers within the type's range; `char` is a one-character
//! string.

use serde_json::Value;
use wasmtime::component::{Type, Val};

use records_host::Error;
use records_host::PluginInstance;

/// Calls the export `function` with `args` converted to its parameter types.
///
/// # Errors
/// [`Error::NoSuchFunction`] when no export has that name; [`Error::BadCall`]
/// when several do, or the arguments do not fit (the message names which);
/// [`Error::Trap`] or a limit error when the plugin was stopped.
pub fn call(
    instance: &mut PluginInstance,
    function: &str,
    args: &[Value],
) -> Result<Vec<Val>, Error> {
    let func = instance.find_func(function)?;
    let types = func.param_types();
    if args.len() != types.len() {
        return Err(Error::BadCall(format!(
            "{} takes {} arguments, got {}",
            func.export(),
            types.len(),
            args.len()
        )));
    }
    let params = args
        .iter()
        .zip(types)
        .enumerate()
        .map(|(i, (arg, ty))| {
            from_json(arg, ty).map_err(|e| {
                Error::BadCall(format!("argument {} of {}: {e}", i + 1, func.export()))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    instance.call_func(&func, &params)
}

/// `value` as a component value of type `ty`.
///
/// # Errors
/// A one-line reason, with the path to the part that does not fit
/// (`field name: expected a string, got 7`).
pub fn from_json(value: &Value, ty: &Type) -> Result<Val, String> {
    let mismatch = || format!("expected {}, got {}", describe(ty), shorten(value));
    Ok(match ty {
        Type::Bool => Val::Bool(value.as_bool().ok_or_else(mismatch)?),
        Type::S8 => Val::S8(int(value).ok_or_else(mismatch)?),
        Type::U8 => Val::U8(int(value).ok_or_else(mismatch)?),
        Type::S16 => Val::S16(int(value).ok_or_else(mismatch)?),
        Type::U16 => Val::U16(int(value).ok_or_else(mismatch)?),
        Type::S32 => Val::S32(int(value).ok_or_else(mismatch)?),
        Type::U32 => Val::U32(int(value).ok_or_else(mismatch)?),
        Type::S64 => Val::S64(value.as_i64().ok_or_else(mismatch)?),
        Type::U64 => Val::U64(value.as_u64().ok_or_else(mismatch)?),
        #[allow(clippy::cast_possible_truncation)]
        Type::Float32 => Val::Float32(value.as_f64().ok_or_else(mismatch)? as f32),
        Type::Float64 => Val::Float64(value.as_f64().ok_or_else(mismatch)?),
        Type::Char => {
            let mut chars = value.as_str().ok_or_else(mismatch)?.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Val::Char(c),
                _ => return Err(mismatch()),
            }
        }
        Type::String => Val::String(value.as_str().ok_or_else(mismatch)?.to_string()),
        Type::List(list) => {
            let items = value.as_array().ok_or_else(mismatch)?;
            let item = list.ty();
            Val::List(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| from_json(v, &item).map_err(|e| format!("[{i}]: {e}")))
                    .collect::<Result<_, _>>()?,
            )
        }
        Type::Tuple(tuple) => {
            let items = value.as_array().ok_or_else(mismatch)?;
            if items.len() != tuple.types().len() {
                return Err(mismatch());
            }
            Val::Tuple(
                items
                    .iter()
                    .zip(tuple.types())
                    .enumerate()
                    .map(|(i, (v, t))| from_json(v, &t).map_err(|e| format!("[{i}]: {e}")))
                    .collect::<Result<_, _>>()?,
            )
        }
        Type::Record(record) => {
            let object = value.as_object().ok_or_else(mismatch)?;
            if let Some(extra) = object
                .keys()
                .find(|key| !record.fields().any(|f| f.name == key.as_str()))
            {
                return Err(format!("unknown field {extra:?}"));
            }
            Val::Record(
                record
                    .fields()
                    .map(|field| {
                        let v = object
                            .get(field.name)
                            .ok_or_else(|| format!("missing field {:?}", field.name))?;
                        let val =
                            from_json(v, &field.ty).map_err(|e| format!("{}: {e}", field.name))?;
                        Ok((field.name.to_string(), val))
                    })
                    .collect::<Result<_, String>>()?,
            )
        }
        Type::Variant(variant) => {
            let (case, payload) = one_key(value).ok_or_else(mismatch)?;
            let found = variant
                .cases()
                .find(|c| c.name == case)
                .ok_or_else(|| format!("unknown case {case:?}"))?;
            Val::Variant(
                case.to_string(),
                payload_of(found.ty.as_ref(), payload, case)?,
            )
        }
        Type::Enum(cases) => {
            let name = value.as_str().ok_or_else(mismatch)?;
            if !cases.names().any(|n| n == name) {
                return Err(format!("unknown case {name:?}"));
            }
            Val::Enum(name.to_string())
        }
        Type::Option(option) => match value {
            Value::Null => Val::Option(None),
            v => Val::Option(Some(Box::new(from_json(v, &option.ty())?))),
        },
        Type::Result(result) => {
            let (case, payload) = one_key(value).ok_or_else(mismatch)?;
            match case {
                "ok" => Val::Result(Ok(payload_of(result.ok().as_ref(), payload, case)?)),
                "err" => Val::Result(Err(payload_of(result.err().as_ref(), payload, case)?)),
                _ => return Err(mismatch()),
            }
        }
        Type::Flags(flags) => {
            let names = value.as_array().ok_or_else(mismatch)?;
            let mut set = Vec::new();
            for name in names {
                let name = name.as_str().ok_or_else(mismatch)?;
                if !flags.names().any(|n| n == name) {
                    return Err(format!("unknown flag {name:?}"));
                }
                set.push(name.to_string());
            }
            Val::Flags(set)
        }
        _ => return Err(format!("{} cannot be passed as JSON", describe(ty))),
    })
}

/// `{"case": payload}`, or a bare `"case"` (a case without a payload).
fn one_key(value: &Value) -> Option<(&str, Option<&Value>)> {
    match value {
        Value::String(case) => Some((case, None)),
        Value::Object(map) if map.len() == 1 => {
            map.iter().next().map(|(k, v)| (k.as_str(), Some(v)))
        }
        _ => None,
    }
}

fn payload_of(
    ty: Option<&Type>,
    payload: Option<&Value>,
    case: &str,
) -> Result<Option<Box<Val>>, String> {
    match (ty, payload) {
        (None, None | Some(Value::Null)) => Ok(None),
        (None, Some(_)) => Err(format!("{case} takes no payload")),
        (Some(ty), Some(v)) => Ok(Some(Box::new(
            from_json(v, ty).map_err(|e| format!("{case}: {e}"))?,
        ))),
        (Some(_), None) => Err(format!("{case} needs a payload")),
    }
}

fn int<T: TryFrom<i64>>(value: &Value) -> Option<T> {
    value.as_i64().and_then(|n| T::try_from(n).ok())
}

fn describe(ty: &Type) -> &'static str {
    match ty {
        Type::Bool => "a boolean",
        Type::S8 | Type::S16 | Type::S32 | Type::S64 => "a signed integer in range",
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => "an unsigned integer in range",
        Type::Float32 | Type::Float64 => "a number",
        Type::Char => "a one-character string",
        Type::String | Type::Enum(_) => "a string",
        Type::List(_) | Type::Tuple(_) | Type::Flags(_) => "an array",
        Type::Record(_) => "an object",
        Type::Variant(_) | Type::Result(_) => "an object with one key",
        Type::Option(_) => "a value or null",
        _ => "a value JSON cannot carry",
    }
}

/// The value as JSON, cut to a length fit for one line.
fn shorten(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn integers_are_checked_against_their_range() {
        assert_eq!(from_json(&json!(-5), &Type::S64), Ok(Val::S64(-5)));
        assert_eq!(
            from_json(&json!(i64::MIN), &Type::S64),
            Ok(Val::S64(i64::MIN))
        );
        assert_eq!(from_json(&json!(7), &Type::U32), Ok(Val::U32(7)));
        assert!(from_json(&json!(-1), &Type::U32).is_err());
        assert!(from_json(&json!(1u64 << 40), &Type::U32).is_err());
        assert!(from_json(&json!(1.5), &Type::S64).is_err());
        assert!(from_json(&json!(u64::MAX), &Type::S64).is_err());
        assert!(from_json(&json!("7"), &Type::S64).is_err());
    }

    #[test]
    fn strings_chars_and_booleans() {
        assert_eq!(
            from_json(&json!("x"), &Type::String),
            Ok(Val::String("x".into()))
        );
        assert_eq!(from_json(&json!("é"), &Type::Char), Ok(Val::Char('é')));
        assert!(from_json(&json!("ab"), &Type::Char).is_err());
        assert_eq!(from_json(&json!(true), &Type::Bool), Ok(Val::Bool(true)));
        let err = from_json(&json!(12), &Type::String).unwrap_err();
        assert_eq!(err, "expected a string, got 12");
    }
}
