//! Checks of the `records` export: every function, the error cases the contract
//! names, values across the whole s64 range, and paging past the store's cap.

use crate::record_error::{RecordError, RecordId};

use super::session::Check;
use super::session::{Session, describe};

/// The functions of `records`, and the checks that call them.
pub(super) const CHECKS: (&[&str], &[Check]) = (
    &[
        "create-record",
        "update-record",
        "get-record",
        "get-all-records",
        "delete-record",
    ],
    &[
        (
            "create-record returns an id that get-record finds",
            created_is_found,
        ),
        ("small values round-trip", |s| round_trips(s, &[0, 1, 42])),
        ("negative values round-trip", |s| round_trips(s, &[-1, -42])),
        ("s64 min and max round-trip", |s| {
            round_trips(s, &[i64::MIN, i64::MIN + 1, i64::MAX - 1, i64::MAX])
        }),
        ("values past 2^53 round-trip", |s| {
            round_trips(s, &[(1 << 53) + 1, -(1 << 53) - 1])
        }),
        ("get-record of a missing id is none", missing_is_none),
        ("update-record of a missing id is not-found", |s| {
            missing_is_not_found(s, "update-record", |i, id| i.update_record(id, 1))
        }),
        ("delete-record of a missing id is not-found", |s| {
            missing_is_not_found(s, "delete-record", |i, id| i.delete_record(id))
        }),
        ("update-record sets the value", update_sets),
        ("delete-record removes the record", delete_removes),
        (
            "get-all-records returns all, past the 1000-record page",
            all_pages,
        ),
        (
            "an empty name is invalid, not a trap",
            empty_name_is_invalid,
        ),
    ],
);

/// A record count past the host's scan cap (1000 a page), so a plugin that stops
/// after the first page misses some.
const PAST_PAGE_CAP: i64 = 1_100;

/// An id no check ever creates.
const MISSING: RecordId = 999_999;

fn created_is_found(s: &mut Session) -> Result<String, String> {
    let id = s.ok("create-record(\"a\", 7)", |i| i.create_record("a", 7))?;
    let found = s.ok("get-record", |i| i.get_record(id))?;
    match found {
        Some(record) if record.id == id && record.value == 7 => Ok(format!("id {id}")),
        Some(record) => Err(format!(
            "get-record({id}) returned id {} value {}, expected id {id} value 7",
            record.id, record.value
        )),
        None => Err(format!("get-record({id}) returned none")),
    }
}

/// Creates a record with each value and reads it back, then updates it to the
/// value and reads that back too; lists every value that did not survive.
fn round_trips(s: &mut Session, values: &[i64]) -> Result<String, String> {
    let mut failures = Vec::new();
    for &value in values {
        if let Err(why) = round_trip(s, value) {
            failures.push(why);
        }
    }
    let tried = values
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if failures.is_empty() {
        Ok(format!("{tried} (create, update, get)"))
    } else {
        Err(failures.join("; "))
    }
}

fn round_trip(s: &mut Session, value: i64) -> Result<(), String> {
    let what = format!("create-record(\"v\", {value})");
    let id = s.ok(&what, |i| i.create_record("v", value))?;
    expect_value(s, id, value, &what)?;
    let what = format!("update-record({id}, {value}) after creating it with 0");
    let id = s.ok("create-record(\"w\", 0)", |i| i.create_record("w", 0))?;
    s.ok(&what, |i| i.update_record(id, value))?;
    expect_value(s, id, value, &what)
}

fn expect_value(s: &mut Session, id: RecordId, value: i64, after: &str) -> Result<(), String> {
    match s.ok("get-record", |i| i.get_record(id))? {
        Some(record) if record.value == value => Ok(()),
        Some(record) => Err(format!(
            "{after}: get-record({id}) returned value {}{}",
            record.value,
            if record.value == as_double(value) {
                " (rounded to a double: the plugin carries s64 as a 64-bit float)"
            } else {
                ""
            }
        )),
        None => Err(format!("{after}: get-record({id}) returned none")),
    }
}

fn missing_is_none(s: &mut Session) -> Result<String, String> {
    match s.ok("get-record", |i| i.get_record(MISSING))? {
        None => Ok(format!("get-record({MISSING})")),
        Some(record) => Err(format!("get-record({MISSING}) returned id {}", record.id)),
    }
}

fn missing_is_not_found(
    s: &mut Session,
    func: &str,
    call: fn(&mut crate::runtime::PluginInstance, RecordId) -> Result<(), crate::Error>,
) -> Result<String, String> {
    let what = format!("{func}({MISSING})");
    match s.call(&what, |i| call(i, MISSING))? {
        Err(RecordError::NotFound(id)) if id == MISSING => Ok(what),
        Err(other) => Err(format!(
            "{what} returned err({}), expected not-found({MISSING})",
            describe(&other)
        )),
        Ok(()) => Err(format!("{what} returned ok, expected not-found({MISSING})")),
    }
}

fn update_sets(s: &mut Session) -> Result<String, String> {
    let id = s.ok("create-record(\"u\", 1)", |i| i.create_record("u", 1))?;
    s.ok("update-record", |i| i.update_record(id, 2))?;
    expect_value(s, id, 2, &format!("update-record({id}, 2)"))?;
    Ok(format!("update-record({id}, 2)"))
}

fn delete_removes(s: &mut Session) -> Result<String, String> {
    let keep = s.ok("create-record(\"keep\", 1)", |i| i.create_record("keep", 1))?;
    let gone = s.ok("create-record(\"gone\", 2)", |i| i.create_record("gone", 2))?;
    s.ok("delete-record", |i| i.delete_record(gone))?;
    if let Some(record) = s.ok("get-record", |i| i.get_record(gone))? {
        return Err(format!(
            "get-record({gone}) after delete-record({gone}) returned id {}",
            record.id
        ));
    }
    let left: Vec<RecordId> = s
        .ok("get-all-records", |i| i.get_all_records())?
        .iter()
        .map(|r| r.id)
        .collect();
    if left != [keep] {
        return Err(format!(
            "after delete-record({gone}), get-all-records returned ids {left:?}, expected [{keep}]"
        ));
    }
    Ok(format!("delete-record({gone})"))
}

fn all_pages(s: &mut Session) -> Result<String, String> {
    let mut expected = Vec::new();
    for n in 0..PAST_PAGE_CAP {
        let value = n * 3 - 7;
        let id = s.ok("create-record", |i| {
            i.create_record(&format!("r{n}"), value)
        })?;
        expected.push((id, value));
    }
    let got: Vec<(RecordId, i64)> = s
        .ok("get-all-records", |i| i.get_all_records())?
        .iter()
        .map(|r| (r.id, r.value))
        .collect();
    if got == expected {
        return Ok(format!("{PAST_PAGE_CAP} records, ascending by id"));
    }
    let first_wrong = got
        .iter()
        .zip(&expected)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(expected.len()));
    Err(format!(
        "created {PAST_PAGE_CAP} records, get-all-records returned {} \
         (first difference at position {first_wrong})",
        got.len()
    ))
}

fn empty_name_is_invalid(s: &mut Session) -> Result<String, String> {
    match s.call("create-record(\"\", 1)", |i| i.create_record("", 1))? {
        Err(RecordError::Invalid(msg)) => Ok(format!("invalid({msg:?})")),
        Err(other) => Err(format!(
            "create-record(\"\", 1) returned err({}), expected invalid",
            describe(&other)
        )),
        Ok(id) => Err(format!(
            "create-record(\"\", 1) returned ok({id}), expected invalid"
        )),
    }
}

/// `value` after a trip through an `f64` (saturating at the s64 ends), the way a
/// plugin that holds s64 values as JavaScript numbers returns it.
#[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
fn as_double(value: i64) -> i64 {
    value as f64 as i64
}
