//! Component values as JSON, for `records-host call --json` and for embedders that
//! hand plugin results to JSON-speaking tools.
//!
//! The mapping is the obvious one, stated so scripts can rely on it: records are
//! objects keyed by field name; lists and tuples are arrays; `option` is the value
//! or `null`; `result` is `{"ok": v}` or `{"err": v}`; a variant case is
//! `{"<case>": payload}` (payload `null` when none); enums are their case name;
//! flags are an array of the set names; 64-bit integers are JSON numbers.

use serde_json::{Map, Value, json};
use wasmtime::component::Val;

/// `val` as JSON. Resources and futures, which have no value to show, become a
/// string naming their kind.
pub fn to_json(val: &Val) -> Value {
    match val {
        Val::Bool(b) => json!(b),
        Val::S8(n) => json!(n),
        Val::U8(n) => json!(n),
        Val::S16(n) => json!(n),
        Val::U16(n) => json!(n),
        Val::S32(n) => json!(n),
        Val::U32(n) => json!(n),
        Val::S64(n) => json!(n),
        Val::U64(n) => json!(n),
        Val::Float32(n) => json!(n),
        Val::Float64(n) => json!(n),
        Val::Char(c) => json!(c.to_string()),
        Val::String(s) => json!(s),
        Val::List(items) | Val::Tuple(items) => Value::Array(items.iter().map(to_json).collect()),
        Val::Record(fields) => Value::Object(
            fields
                .iter()
                .map(|(name, val)| (name.clone(), to_json(val)))
                .collect::<Map<_, _>>(),
        ),
        Val::Variant(case, payload) => json!({ case.clone(): payload_json(payload.as_deref()) }),
        Val::Enum(case) => json!(case),
        Val::Option(inner) => payload_json(inner.as_deref()),
        Val::Result(Ok(inner)) => json!({ "ok": payload_json(inner.as_deref()) }),
        Val::Result(Err(inner)) => json!({ "err": payload_json(inner.as_deref()) }),
        Val::Flags(names) => json!(names),
        other => json!(format!("<{}>", kind(other))),
    }
}

fn payload_json(payload: Option<&Val>) -> Value {
    payload.map_or(Value::Null, to_json)
}

fn kind(val: &Val) -> &'static str {
    match val {
        Val::Resource(_) => "resource",
        _ => "handle",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: i64) -> Val {
        Val::Record(vec![
            ("id".into(), Val::S64(id)),
            ("name".into(), Val::String("test".into())),
            ("value".into(), Val::S64(42)),
        ])
    }

    #[test]
    fn results_records_and_options() {
        let ok = Val::Result(Ok(Some(Box::new(Val::Option(Some(Box::new(record(1))))))));
        assert_eq!(
            to_json(&ok),
            json!({"ok": {"id": 1, "name": "test", "value": 42}})
        );
        let none = Val::Result(Ok(Some(Box::new(Val::Option(None)))));
        assert_eq!(to_json(&none), json!({"ok": null}));
        let unit = Val::Result(Ok(None));
        assert_eq!(to_json(&unit), json!({"ok": null}));
    }

    #[test]
    fn variants_lists_enums_and_flags() {
        let err = Val::Result(Err(Some(Box::new(Val::Variant(
            "not-found".into(),
            Some(Box::new(Val::S64(7))),
        )))));
        assert_eq!(to_json(&err), json!({"err": {"not-found": 7}}));
        assert_eq!(
            to_json(&Val::List(vec![record(1), record(2)]))[1]["id"],
            json!(2)
        );
        assert_eq!(to_json(&Val::Enum("red".into())), json!("red"));
        assert_eq!(
            to_json(&Val::Flags(vec!["a".into(), "b".into()])),
            json!(["a", "b"])
        );
        assert_eq!(to_json(&Val::Char('é')), json!("é"));
    }
}
