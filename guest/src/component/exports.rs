//! The `records` (and `counters`) exports: the rules of `rules.rs` applied over
//! the host's `store`.
//!
//! This one file is both the reference plugin's glue and the Rust starter's:
//! `records-host new --lang rust` embeds it, keeping the blocks between the
//! `#counters` and `/counters` marker comments for the `counters-plugin` world
//! and dropping them for `plugin`, so the two cannot drift.

use super::bindings;
use crate::rules;
use bindings::exports::records::plugin::records::Guest;
// {{#counters}}
use bindings::exports::records::plugin::counters::Guest as Counters;
use bindings::records::plugin::store::WriteTxn;
// {{/counters}}
use bindings::records::plugin::store;
use bindings::records::plugin::types::{Error, Record, RecordId};

struct Plugin;

impl Guest for Plugin {
    fn create_record(name: String, value: i64) -> Result<RecordId, Error> {
        let name = rules::normalize_name(&name).map_err(Error::Invalid)?;
        store::insert(name, value)
    }

    fn update_record(id: RecordId, value: i64) -> Result<(), Error> {
        store::update(id, value)
    }

    fn get_record(id: RecordId) -> Result<Option<Record>, Error> {
        store::get(id)
    }

    fn get_all_records() -> Result<Vec<Record>, Error> {
        rules::collect_pages(store::scan, |record: &Record| record.id)
    }

    fn delete_record(id: RecordId) -> Result<(), Error> {
        store::delete(id)
    }
}

// {{#counters}}
/// Read-modify-write in one write transaction: returning early (`?`) drops the
/// transaction, which rolls it back.
impl Counters for Plugin {
    fn increment(id: RecordId, delta: i64) -> Result<i64, Error> {
        let txn = store::begin_write()?;
        let record = txn.get(id)?.ok_or(Error::NotFound(id))?;
        let value = rules::incremented(record.value, delta).map_err(Error::Invalid)?;
        txn.update(id, value)?;
        WriteTxn::commit(txn)?;
        Ok(value)
    }

    fn transfer(source: RecordId, target: RecordId, amount: i64) -> Result<(), Error> {
        let txn = store::begin_write()?;
        let from = txn.get(source)?.ok_or(Error::NotFound(source))?;
        let to = txn.get(target)?.ok_or(Error::NotFound(target))?;
        let (from_value, to_value) =
            rules::transferred((source, from.value), (target, to.value), amount)
                .map_err(Error::Invalid)?;
        txn.update(source, from_value)?;
        txn.update(target, to_value)?;
        WriteTxn::commit(txn)
    }
}
// {{/counters}}

bindings::export!(Plugin with_types_in bindings);
