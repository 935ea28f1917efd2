//! Values that another program stored with another type: reads end in a
//! storage error, never a panic, on both backends.

use crate::support::*;

on_both! {
    /// Another program changes the type of the stored values: reads end in a
    /// storage error (exit 1, the plugin's `err(storage(..))` value, which says
    /// what failed, as the one line of output, as every `err` result is, and the
    /// operator's detail as one line on stderr; no panic), and once the column is
    /// changed back the record is as it was.
    fn a_stored_value_of_an_unexpected_type_is_a_storage_error(env) {
        assert_exit(&env.call(&[r#"create-record("kept", 7)"#]), 0);
        let changes: &[(&str, &str)] = match env.pg() {
            Some(_) => &[(
                "ALTER TABLE records_host.records ALTER value TYPE numeric",
                "ALTER TABLE records_host.records ALTER value TYPE bigint",
            )],
            None => &[
                ("UPDATE records SET value = 'x'", "UPDATE records SET value = 7"),
                ("UPDATE records SET value = 1.5", "UPDATE records SET value = 7"),
            ],
        };
        let alter = |sql: &str| match env.pg() {
            Some(pg) => pg.client().batch_execute(sql).unwrap(),
            None => rusqlite::Connection::open(env.db())
                .unwrap()
                .execute_batch(sql)
                .unwrap(),
        };
        for (change, back) in changes {
            alter(change);
            for call in ["get-record(1)", "get-all-records()"] {
                let output = env.call(&[call]);
                let all = format!("{}\n{}", stdout(&output), stderr(&output));
                assert!(!all.contains("panicked"), "{change}: {call}: {all}");
                assert_exit(&output, 1);
                let out = stdout(&output);
                assert_eq!(out.lines().count(), 1, "{change}: {call}: one line: {all}");
                assert_eq!(
                    out,
                    r#"err(storage("a stored value has an unexpected type (column value)"))"#,
                    "{change}: {call}"
                );
                // The plugin is told what failed; the operator also sees why.
                let err = stderr(&output);
                assert_eq!(err.lines().count(), 1, "{change}: {call}: {err}");
                assert!(
                    err.starts_with("records-host: storage: a stored value has an unexpected type (column value) ("),
                    "{change}: {call}: {err}"
                );
            }
            alter(back);
            assert_eq!(
                stdout(&env.call(&["get-record(1)"])),
                r#"ok(some({id: 1, name: "kept", value: 7}))"#,
                "{change}: intact"
            );
        }
    }
}
