//! The `records` export of the reference plugin: its rules applied over `store`.

mod bindings {
    #![allow(missing_docs)]
    wit_bindgen::generate!({
        path: "../wit",
        world: "plugin",
    });
}

use crate::rules;
use bindings::exports::records::plugin::records::Guest;
use bindings::records::plugin::store;
use bindings::records::plugin::types::{Error, Record, RecordId};

/// The exported `records` interface.
struct ReferencePlugin;

impl Guest for ReferencePlugin {
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

bindings::export!(ReferencePlugin with_types_in bindings);
