//! The library API as an embedder uses it: the reference plugin's typed exports,
//! typed errors (a lock timeout among them), and WAVE calls.

use records_host::{
    Error, LockStatus, Plugin, PluginInstance, RecordError, Runtime, Val, WriteLock,
};
use records_host_cli::text::wave;
use std::time::Duration;

use crate::support::*;

fn reference() -> Plugin {
    Runtime::new().unwrap().load_reference().unwrap()
}

fn instance(env: &Env) -> PluginInstance {
    reference().instantiate(env.open()).unwrap()
}

#[test]
fn every_export_of_the_reference_plugin() {
    let env = Env::new();
    let mut plugin = instance(&env);
    let a = plugin.create_record("  alpha ", 1).unwrap();
    let b = plugin.create_record("beta", 2).unwrap();
    assert_eq!((a, b), (1, 2));

    let alpha = plugin.get_record(a).unwrap().unwrap();
    assert_eq!(
        (alpha.name.as_str(), alpha.value),
        ("alpha", 1),
        "the name is stored trimmed"
    );
    assert_eq!(plugin.get_record(99).unwrap(), None);

    plugin.update_record(a, 100).unwrap();
    assert_eq!(plugin.get_record(a).unwrap().unwrap().value, 100);

    plugin.delete_record(b).unwrap();
    let all = plugin.get_all_records().unwrap();
    assert_eq!(
        all.iter().map(|r| (r.id, r.value)).collect::<Vec<_>>(),
        [(a, 100)]
    );

    // The writes went through the host into the database file.
    assert_eq!(env.open().get(a).unwrap().unwrap().value, 100);
}

#[test]
fn invalid_names_are_rejected_and_nothing_is_written() {
    let env = Env::new();
    let mut plugin = instance(&env);
    for name in [String::new(), " \t ".to_string(), "x".repeat(257)] {
        let err = plugin.create_record(&name, 1).unwrap_err();
        assert!(
            matches!(err, Error::Record(RecordError::Invalid(_))),
            "{name:?}: {err:?}"
        );
    }
    plugin.create_record(&"x".repeat(256), 1).unwrap();
    assert_eq!(plugin.database().count().unwrap(), 1);
}

#[test]
fn missing_ids_are_not_found() {
    let env = Env::new();
    let mut plugin = instance(&env);
    assert!(matches!(
        plugin.update_record(7, 1),
        Err(Error::Record(RecordError::NotFound(7)))
    ));
    assert!(matches!(
        plugin.delete_record(8),
        Err(Error::Record(RecordError::NotFound(8)))
    ));
}

#[test]
fn get_all_records_pages_through_the_whole_store() {
    let env = Env::new();
    let db = env.open();
    // 600 records span three of the plugin's 256-record scan pages.
    db.write(|w| (0..600).try_for_each(|i| w.insert(&format!("r{i}"), i).map(drop)))
        .unwrap();
    let mut plugin = reference().instantiate(db).unwrap();
    let all = plugin.get_all_records().unwrap();
    assert_eq!(all.len(), 600);
    assert!(
        all.windows(2).all(|pair| pair[0].id < pair[1].id),
        "ascending ids"
    );
    assert_eq!(all.last().map(|r| r.value), Some(599));
}

#[test]
fn a_held_lock_is_a_typed_lock_timeout_naming_the_holder() {
    let env = Env::new();
    let db = env.open_with_timeout(100);
    let lock = WriteLock::new(db.write_lock().unwrap().path(), Duration::ZERO);
    let guard = lock.acquire("test:holder").unwrap();

    let mut plugin = reference().instantiate(db).unwrap();
    let err = plugin.create_record("late", 1).unwrap_err();
    let Error::Record(RecordError::LockTimeout(timeout)) = err else {
        panic!("expected a lock timeout, got {err:?}");
    };
    assert!(timeout.waited >= Duration::from_millis(100));
    assert!(
        timeout
            .holder
            .contains(&format!("pid:{}", std::process::id())),
        "{}",
        timeout.holder
    );
    assert!(timeout.holder.contains("test:holder"), "{}", timeout.holder);

    drop(guard);
    assert_eq!(plugin.database().count().unwrap(), 0, "nothing was written");
    assert_eq!(lock.status().unwrap(), LockStatus::Free);
    plugin.create_record("now", 1).unwrap();
}

#[test]
fn wave_calls_reach_any_export() {
    let env = Env::new();
    let mut plugin = instance(&env);
    let created = wave::call(&mut plugin, r#"create-record("w", 5)"#).unwrap();
    assert_eq!(created, [Val::Result(Ok(Some(Box::new(Val::S64(1)))))]);
    let got = wave::call(&mut plugin, "records#get-record(1)").unwrap();
    assert_eq!(
        wave::to_wave(&got).unwrap(),
        r#"ok(some({id: 1, name: "w", value: 5}))"#
    );
    assert!(matches!(
        wave::call(&mut plugin, "no-such-function()"),
        Err(Error::NoSuchFunction(_))
    ));
    assert!(matches!(
        wave::call(&mut plugin, "get-record(\"one\")"),
        Err(Error::BadCall(_))
    ));
}

#[test]
fn bytes_that_are_not_a_component_fail_to_load() {
    let runtime = Runtime::new().unwrap();
    let err = runtime.load("junk", b"definitely not wasm").err().unwrap();
    assert!(
        matches!(&err, Error::LoadPlugin { plugin, .. } if plugin == "junk"),
        "{err}"
    );
}

#[test]
fn a_plugin_loaded_from_a_file_is_named_after_it() {
    let env = Env::new();
    let path = env.dir.path().join("my-plugin.wasm");
    std::fs::write(&path, records_host::REFERENCE_PLUGIN).unwrap();
    let plugin = Runtime::new().unwrap().load_file(&path).unwrap();
    assert_eq!(plugin.name(), "my-plugin");
    let mut instance = plugin.instantiate(env.open()).unwrap();
    assert_eq!(instance.create_record("from file", 1).unwrap(), 1);
}
