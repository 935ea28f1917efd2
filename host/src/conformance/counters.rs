//! Checks of the `counters` export (world `counters-plugin`): atomic
//! read-modify-write that returns what it wrote and never creates or loses value.

use crate::record_error::{RecordError, RecordId};

use super::session::Check;
use super::session::{Session, describe};

/// The functions of `counters`, and the checks that call them.
pub(super) const CHECKS: (&[&str], &[Check]) = (
    &["increment", "transfer"],
    &[
        ("increment returns the new value", increment_returns_new),
        ("increment of a missing id is not-found", increment_missing),
        ("transfer conserves the sum", transfer_conserves),
        (
            "transfer refuses to make the source negative",
            transfer_refuses,
        ),
    ],
);

fn values(s: &mut Session, ids: &[RecordId]) -> Result<Vec<i64>, String> {
    ids.iter()
        .map(|&id| match s.ok("get-record", |i| i.get_record(id))? {
            Some(record) => Ok(record.value),
            None => Err(format!("get-record({id}) returned none")),
        })
        .collect()
}

fn increment_returns_new(s: &mut Session) -> Result<String, String> {
    let id = s.ok("create-record(\"c\", 10)", |i| i.create_record("c", 10))?;
    for (delta, expected) in [(5, 15), (-20, -5)] {
        let what = format!("increment({id}, {delta})");
        let got = s.ok(&what, |i| i.increment(id, delta))?;
        let stored = values(s, &[id])?[0];
        if got != expected || stored != expected {
            return Err(format!(
                "{what} returned {got} and stored {stored}, expected {expected}"
            ));
        }
    }
    Ok(format!("10 +5 = 15, 15 -20 = -5 on record {id}"))
}

fn increment_missing(s: &mut Session) -> Result<String, String> {
    let what = "increment(999999, 1)";
    match s.call(what, |i| i.increment(999_999, 1))? {
        Err(RecordError::NotFound(999_999)) => Ok(what.into()),
        Err(other) => Err(format!(
            "{what} returned err({}), expected not-found(999999)",
            describe(&other)
        )),
        Ok(value) => Err(format!("{what} returned ok({value}), expected not-found")),
    }
}

fn transfer_conserves(s: &mut Session) -> Result<String, String> {
    let a = s.ok("create-record(\"a\", 100)", |i| i.create_record("a", 100))?;
    let b = s.ok("create-record(\"b\", 50)", |i| i.create_record("b", 50))?;
    let what = format!("transfer({a}, {b}, 30)");
    s.ok(&what, |i| i.transfer(a, b, 30))?;
    match values(s, &[a, b])?.as_slice() {
        [70, 80] => Ok(format!("{what}: 100, 50 -> 70, 80")),
        other => Err(format!("{what}: 100, 50 -> {other:?}, expected [70, 80]")),
    }
}

fn transfer_refuses(s: &mut Session) -> Result<String, String> {
    let a = s.ok("create-record(\"a\", 10)", |i| i.create_record("a", 10))?;
    let b = s.ok("create-record(\"b\", 0)", |i| i.create_record("b", 0))?;
    let what = format!("transfer({a}, {b}, 11)");
    let outcome = s.call(&what, |i| i.transfer(a, b, 11))?;
    let after = values(s, &[a, b])?;
    match outcome {
        Err(RecordError::Invalid(_)) if after == [10, 0] => {
            Ok(format!("{what}: invalid, values unchanged"))
        }
        Err(RecordError::Invalid(_)) => Err(format!(
            "{what} returned invalid but changed the values to {after:?}"
        )),
        Err(other) => Err(format!(
            "{what} returned err({}), expected invalid",
            describe(&other)
        )),
        Ok(()) => Err(format!(
            "{what} returned ok (values now {after:?}), expected invalid"
        )),
    }
}
