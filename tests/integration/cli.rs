//! The `records-host` binary: commands, output formats and exit codes.

use crate::support::*;

#[test]
fn demo_creates_and_reads_back_the_test_record() {
    let env = Env::new();
    let output = run(&mut env.cli("demo", &[]));
    assert_exit(&output, 0);
    let db = env.db();
    assert_eq!(
        stdout(&output),
        format!(
            "database: {}\ncreated record 1\nread back: {{id: 1, name: \"test\", value: 42}}",
            db.display()
        )
    );
    assert_eq!(stderr(&output), "", "silent unless RUST_LOG is set");
    assert_exit(&run(&mut env.cli("demo", &[])), 0);
    assert_eq!(
        env.open().count().unwrap(),
        2,
        "each run creates one record"
    );
}

#[test]
fn demo_defaults_to_data_app_db_in_the_working_directory() {
    let env = Env::new();
    let output = run(command(env.dir.path()).arg("demo"));
    assert_exit(&output, 0);
    assert!(env.dir.path().join("data/app.db").is_file());
    assert!(env.dir.path().join("data/db.lock").is_file());
}

#[test]
fn demo_reports_a_lock_timeout_and_exits_75() {
    let env = Env::new();
    let _held = env.hold_lock();
    let output = run(&mut env.cli("demo", &["--lock-timeout", "100"]));
    assert_exit(&output, 75);
    let err = stderr(&output);
    let lines: Vec<&str> = err.lines().collect();
    assert!(lines[0].starts_with("write lock timeout after "), "{err}");
    assert!(
        lines[1].contains(&format!("holder: pid:{}", std::process::id())),
        "{err}"
    );
    assert_eq!(lines[2], "  try again or check if holder process is stuck");
}

on_both! {
    fn call_drives_every_export_with_wave_values(env) {
        let cases: &[(&str, &str, i32)] = &[
            (r#"create-record("test", 42)"#, "ok(1)", 0),
            (r#"create-record("second", -7)"#, "ok(2)", 0),
            (
                "get-record(1)",
                r#"ok(some({id: 1, name: "test", value: 42}))"#,
                0,
            ),
            ("update-record(1, 43)", "ok", 0),
            ("delete-record(2)", "ok", 0),
            ("get-record(2)", "ok(none)", 0),
            (
                "get-all-records()",
                r#"ok([{id: 1, name: "test", value: 43}])"#,
                0,
            ),
            (
                "records:plugin/records@0.1.0#get-record(1)",
                r#"ok(some({id: 1, name: "test", value: 43}))"#,
                0,
            ),
            ("update-record(9, 1)", "err(not-found(9))", 1),
            ("delete-record(9)", "err(not-found(9))", 1),
            (
                r#"create-record("   ", 1)"#,
                r#"err(invalid("name must not be empty"))"#,
                1,
            ),
        ];
        for (call, expected, code) in cases {
            let output = env.call(&[call]);
            assert_exit(&output, *code);
            assert_eq!(&stdout(&output), expected, "{call}");
            assert_eq!(
                stderr(&output),
                "",
                "{call}: an err(..) result is printed on stdout only"
            );
        }
    }
}

on_both! {
    fn call_prints_json_on_request(env) {
        assert_exit(&env.call(&[r#"create-record("j", 1)"#]), 0);
        let output = env.call(&["--json", "get-all-records()"]);
        assert_exit(&output, 0);
        let value: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"ok": [{"id": 1, "name": "j", "value": 1}]})
        );
        let missing = env.call(&["--json", "delete-record(5)"]);
        assert_exit(&missing, 1);
        assert_eq!(stdout(&missing), r#"{"err":{"not-found":5}}"#);
    }
}

on_both! {
    fn a_held_lock_gives_err_lock_timeout_naming_the_holder_and_exit_75(env) {
        let _held = env.hold_lock();
        let output = env.call(&["--lock-timeout", "100", r#"create-record("x", 1)"#]);
        assert_exit(&output, 75);
        let out = stdout(&output);
        assert!(out.starts_with("err(lock-timeout({waited-ms: "), "{out}");
        assert_names_test_holder(&out);
        // Reads take no lock: they succeed while the lock is held.
        assert_exit(&env.call(&["--lock-timeout", "0", "get-all-records()"]), 0);
    }
}

#[test]
fn usage_errors_exit_2() {
    let env = Env::new();
    for args in [
        vec!["call"],
        vec!["call", "--lock-timeout", "soon", "get-record(1)"],
        vec!["call", "no-such-function()"],
        vec!["call", "get-record(\"one\")"],
        vec!["call", "get-record(1"],
        vec!["call", "get-record"],
        vec!["frobnicate"],
    ] {
        let output = run(command(env.dir.path()).args(&args));
        assert_exit(&output, 2);
        assert!(!stderr(&output).is_empty(), "{args:?} explains itself");
    }
    assert!(!env.db().exists() || env.open().count().unwrap() == 0);
}

#[test]
fn help_documents_the_exit_codes() {
    let output = run(command(std::path::Path::new(".")).arg("--help"));
    assert_exit(&output, 0);
    let help = stdout(&output);
    for line in [
        "0   success",
        "1   the call returned err(..)",
        "2   usage error",
        "75  a write timed out",
    ] {
        assert!(help.contains(line), "{line:?} missing from:\n{help}");
    }
}

#[test]
fn a_file_that_is_not_a_database_fails_in_one_line_and_is_left_untouched() {
    let env = Env::new();
    std::fs::create_dir_all(env.db().parent().unwrap()).unwrap();
    std::fs::write(env.db(), b"precious bytes that are not sqlite").unwrap();
    let output = env.call(&[r#"create-record("x", 1)"#]);
    assert_exit(&output, 1);
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("cannot open database"), "{err}");
    assert_eq!(
        std::fs::read(env.db()).unwrap(),
        b"precious bytes that are not sqlite"
    );
}

#[test]
fn rust_log_turns_on_diagnostics() {
    let env = Env::new();
    let output = run(env
        .cli("call", &[r#"create-record("x", 1)"#])
        .env("RUST_LOG", "records_host=trace"));
    assert_exit(&output, 0);
    assert!(
        stderr(&output).contains("write lock acquired"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn lock_stats_and_the_lock_status_probe_report_this_processs_view() {
    let env = Env::new();
    // Created first: on a new database the schema creation is a locked write too.
    drop(env.open());
    let output = env.call(&["--lock-stats", r#"create-record("x", 1)"#]);
    assert_exit(&output, 0);
    assert_eq!(
        stderr(&output),
        "lock: 1 acquisitions, 0 contended, 0 timeouts, waited 0.000 ms in total, 0.000 ms at most"
    );

    let probe = run(&mut env.cli("lock-status", &["--probe", "100"]));
    assert_exit(&probe, 0);
    assert_eq!(stdout(&probe).lines().next(), Some("free"));
    assert!(
        stdout(&probe).contains("probe: 1 acquisitions"),
        "{}",
        stdout(&probe)
    );

    let _held = env.hold_lock();
    let blocked = run(&mut env.cli("lock-status", &["--probe", "50"]));
    assert_exit(&blocked, 75);
    assert!(
        stdout(&blocked).contains("probe: write lock timeout after"),
        "{}",
        stdout(&blocked)
    );
}

#[test]
fn a_lock_timeout_while_creating_the_schema_exits_75() {
    let env = Env::new();
    std::fs::create_dir_all(env.db().parent().unwrap()).unwrap();
    // The database does not exist yet: opening it must take the lock to create it.
    let _held = records_host::WriteLock::for_database(&env.db(), std::time::Duration::ZERO)
        .acquire("test:holder")
        .unwrap();
    let output = env.call(&["--lock-timeout", "50", "get-all-records()"]);
    assert_exit(&output, 75);
    assert!(
        stderr(&output).contains("write lock timeout after"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn out_of_range_durations_are_usage_errors() {
    let env = Env::new();
    for flag in ["--txn-deadline", "--lock-timeout", "--timeout"] {
        let output = env.call(&[flag, "999999999999999", "get-all-records()"]);
        assert_exit(&output, 2);
    }
}

on_both! {
    /// `call` that exits 75 says on stderr who holds the lock, in the three lines
    /// `demo` prints too; the value stays on stdout.
    fn a_lock_timeout_from_call_names_the_holder_on_stderr(env) {
        let _held = env.hold_lock();
        let output = env.call(&["--lock-timeout", "50", r#"create-record("x", 1)"#]);
        assert_exit(&output, 75);
        assert!(stdout(&output).starts_with("err(lock-timeout("));
        let err = stderr(&output);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 3, "{err}");
        assert!(lines[0].starts_with("write lock timeout after "), "{err}");
        assert!(lines[1].starts_with("  holder: pid:"), "{err}");
        assert_names_test_holder(lines[1]);
        assert_eq!(lines[2], "  try again or check if holder process is stuck");
    }
}

/// A holder record is untrusted text: its control characters reach no terminal.
#[test]
fn control_characters_in_the_holder_record_are_escaped_everywhere() {
    let env = Env::new();
    let db = env.open();
    let evil = "plugin:\u{1b}]0;owned\u{7}\u{1b}[2J\rfake";
    let _held =
        records_host::WriteLock::new(db.write_lock().unwrap().path(), std::time::Duration::ZERO)
            .acquire(evil)
            .unwrap();
    let status = run(&mut env.cli("lock-status", &[]));
    let demo = run(&mut env.cli("demo", &["--lock-timeout", "20"]));
    let call = env.call(&["--lock-timeout", "20", r#"create-record("x", 1)"#]);
    assert_exit(&demo, 75);
    assert_exit(&call, 75);
    for output in [&status, &demo, &call] {
        for text in [stdout(output), stderr(output)] {
            assert!(
                !text.chars().any(|c| c.is_control() && c != '\n'),
                "raw control characters: {text:?}"
            );
        }
    }
    assert!(
        stdout(&status).contains("\\u{1b}]0;owned"),
        "{}",
        stdout(&status)
    );
}
