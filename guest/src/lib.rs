//! The reference records plugin: record CRUD business rules over the host's store.
//!
//! Built for `wasm32-wasip2` into a component of the `records:plugin/plugin` world
//! (the host's build script does this and embeds the result). The rules live in
//! [`rules`] as plain functions; this file only adapts them to the WIT bindings.

pub mod rules;

mod bindings {
    #![allow(missing_docs)]
    wit_bindgen::generate!({
        path: "../wit",
        world: "plugin",
    });
}

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
