//! Writing plugins: the contract out of the binary (`wit`), and the conformance
//! check (`check`) against plugins that keep it and plugins that break it.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::*;

/// The workspace's `wit/` directory, the source of truth the binary embeds.
fn wit_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit")
}

#[test]
fn wit_prints_the_contract_byte_for_byte() {
    let env = Env::new();
    let output = bin(&env, &["wit"]);
    assert_exit(&output, 0);
    let on_disk = std::fs::read(wit_dir().join("records.wit")).unwrap();
    assert_eq!(output.stdout, on_disk, "stdout is wit/records.wit exactly");

    let files: BTreeSet<String> = std::fs::read_dir(wit_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let embedded: BTreeSet<String> = records_host::contract::WIT_FILES
        .iter()
        .map(|(name, _)| name.to_string())
        .collect();
    assert_eq!(
        files, embedded,
        "every file of wit/ is embedded, and only those"
    );
}

#[test]
fn wit_out_writes_the_package_into_a_directory() {
    let env = Env::new();
    let out = env.dir.path().join("nested/wit");
    let output = bin(&env, &["wit", "--out", out.to_str().unwrap()]);
    assert_exit(&output, 0);
    assert_eq!(
        std::fs::read(out.join("records.wit")).unwrap(),
        std::fs::read(wit_dir().join("records.wit")).unwrap()
    );
    // Run again over it: the contract is refreshed in place.
    assert_exit(&bin(&env, &["wit", "--out", out.to_str().unwrap()]), 0);
}

/// Runs `records-host ARGS` in the test's directory (no `--db`: these commands
/// take none).
fn bin(env: &Env, args: &[&str]) -> std::process::Output {
    run(command(env.dir.path()).args(args))
}

/// `records-host check --json PLUGIN` and its exit code.
fn check_json(env: &Env, plugin: &str) -> (Value, i32) {
    let output = bin(env, &["check", "--json", plugin]);
    let report: Value = serde_json::from_str(&stdout(&output))
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(&output)));
    (report, output.status.code().unwrap_or(-1))
}

/// The names of the checks with `status`.
fn with_status(report: &Value, status: &str) -> BTreeSet<String> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|check| check["status"] == status)
        .map(|check| check["name"].as_str().unwrap().to_string())
        .collect()
}

fn detail<'a>(report: &'a Value, name: &str) -> &'a str {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|check| check["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}"))["detail"]
        .as_str()
        .unwrap()
}

#[test]
fn check_passes_the_reference_plugin_on_every_count() {
    let env = Env::new();
    let reference = env.dir.path().join("reference.wasm");
    std::fs::write(&reference, records_host::REFERENCE_PLUGIN).unwrap();
    let (report, code) = check_json(&env, reference.to_str().unwrap());
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["passed"], true);
    assert_eq!(report["world"], "counters-plugin");
    assert_eq!(with_status(&report, "pass").len(), 20, "{report:#}");
    assert!(detail(&report, "s64 min and max round-trip").contains("-9223372036854775808"));

    // The table says the same.
    let output = bin(&env, &["check", reference.to_str().unwrap()]);
    assert_exit(&output, 0);
    assert!(
        stdout(&output).ends_with("all 20 checks passed"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn check_names_each_defect_of_a_flawed_plugin_and_passes_the_rest() {
    let env = Env::new();
    let (report, code) = check_json(&env, records_test_fixtures::FLAWED);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["passed"], false);
    let failed = with_status(&report, "fail");
    let expected: BTreeSet<String> = [
        "s64 min and max round-trip",
        "values past 2^53 round-trip",
        "get-all-records returns all, past the 1000-record page",
        "an empty name is invalid, not a trap",
        "transfer refuses to make the source negative",
        "no call trapped or hit a limit",
    ]
    .map(String::from)
    .into();
    assert_eq!(failed, expected, "{report:#}");
    assert!(with_status(&report, "skip").is_empty());

    let lossy = detail(&report, "values past 2^53 round-trip");
    assert!(
        lossy.contains("returned value 9007199254740992 (rounded to a double"),
        "{lossy}"
    );
    let ends = detail(&report, "s64 min and max round-trip");
    assert!(ends.contains("-9223372036854775807): get-record"), "{ends}");
    let paging = detail(
        &report,
        "get-all-records returns all, past the 1000-record page",
    );
    assert!(
        paging.contains("created 1100 records, get-all-records returned 1000"),
        "{paging}"
    );
    let empty = detail(&report, "an empty name is invalid, not a trap");
    assert!(empty.contains("trapped"), "{empty}");
    let transfer = detail(&report, "transfer refuses to make the source negative");
    assert!(
        transfer.contains("returned ok (values now [-1, 11])"),
        "{transfer}"
    );
}

#[test]
fn check_reports_a_plugin_without_the_records_export() {
    let env = Env::new();
    let (report, code) = check_json(&env, records_test_fixtures::HOSTILE);
    assert_eq!(code, 1);
    assert_eq!(report["world"], "plugin");
    let exports = detail(&report, "exports records with all five functions");
    assert!(
        exports.contains(
            "lacks create-record, update-record, get-record, get-all-records, delete-record"
        ),
        "{exports}"
    );
    assert_eq!(with_status(&report, "skip").len(), 12, "{report:#}");
}

#[test]
fn check_names_an_import_the_host_does_not_provide() {
    let env = Env::new();
    let component = wat::parse_str(
        r#"(component (import "wasi:http/outgoing-handler@0.2.6" (instance (export "handle" (func)))))"#,
    )
    .unwrap();
    let path = env.dir.path().join("needs-http.wasm");
    std::fs::write(&path, component).unwrap();
    let (report, code) = check_json(&env, path.to_str().unwrap());
    assert_eq!(code, 1);
    assert_eq!(report["world"], Value::Null);
    let links = detail(&report, "loads, importing only what the host provides");
    assert!(
        links.contains("wasi:http/outgoing-handler@0.2.6"),
        "{links}"
    );
    assert_eq!(with_status(&report, "fail").len(), 1);
    assert_eq!(with_status(&report, "skip").len(), 13, "{report:#}");
}

#[test]
fn check_refuses_a_file_that_is_not_a_component() {
    let env = Env::new();
    let path = env.dir.path().join("notes.wasm");
    std::fs::write(&path, "not wasm").unwrap();
    let (report, code) = check_json(&env, path.to_str().unwrap());
    assert_eq!(code, 1);
    let links = detail(&report, "loads, importing only what the host provides");
    assert!(links.contains("not a WebAssembly component"), "{links}");
}

/// Every file under `dir`, relative, sorted.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(dir).unwrap();
                found.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    found.sort();
    found
}

#[test]
fn new_creates_a_rust_project_with_the_contract_and_the_reference_rules() {
    let env = Env::new();
    let output = bin(&env, &["new", "my-plugin", "--world", "counters-plugin"]);
    assert_exit(&output, 0);
    let project = env.dir.path().join("my-plugin");
    assert_eq!(
        files_under(&project),
        [
            ".cargo/config.toml",
            ".gitignore",
            "Cargo.toml",
            "README.md",
            "src/component.rs",
            "src/component/exports.rs",
            "src/lib.rs",
            "src/rules.rs",
            "wit/records.wit"
        ]
    );
    let read = |path: &str| std::fs::read_to_string(project.join(path)).unwrap();
    assert_eq!(read("wit/records.wit"), read_wit());
    let guest_rules =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guest/src/rules.rs");
    assert_eq!(
        read("src/rules.rs"),
        std::fs::read_to_string(guest_rules).unwrap()
    );
    assert!(read("Cargo.toml").contains("name = \"my-plugin\""));
    let glue = read("src/component.rs");
    assert!(glue.contains("world: \"counters-plugin\""), "{glue}");
    let exports = read("src/component/exports.rs");
    assert!(exports.contains("impl Counters for Plugin"), "{exports}");
    let guest_exports = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../guest/src/component/exports.rs");
    let guest_exports = std::fs::read_to_string(guest_exports).unwrap();
    let without_markers: String = guest_exports
        .lines()
        .filter(|line| !line.contains("counters}}"))
        .map(|line| format!("{line}\n"))
        .collect();
    assert_eq!(
        exports, without_markers,
        "the reference plugin's exports, markers gone"
    );
    for text in [&glue, &exports, &read("src/lib.rs")] {
        assert!(
            !text.contains("{{"),
            "every placeholder and marker is gone: {text}"
        );
    }
    assert!(read("README.md").contains("target/wasm32-wasip2/release/my_plugin.wasm"));
}

#[test]
fn new_leaves_out_counters_for_the_plugin_world() {
    let env = Env::new();
    let output = bin(&env, &["new", "crud", "--dir", "deep/er/crud"]);
    assert_exit(&output, 0);
    let src = env.dir.path().join("deep/er/crud/src");
    let glue = std::fs::read_to_string(src.join("component.rs")).unwrap();
    assert!(glue.contains("world: \"plugin\""), "{glue}");
    let exports = std::fs::read_to_string(src.join("component/exports.rs")).unwrap();
    assert!(
        !exports.contains("Counters") && !exports.contains("WriteTxn"),
        "{exports}"
    );
    assert!(!exports.contains("{{"), "{exports}");
}

#[test]
fn new_refuses_an_existing_directory_and_overwrites_nothing() {
    let env = Env::new();
    let project = env.dir.path().join("taken");
    std::fs::create_dir(&project).unwrap();
    std::fs::write(project.join("Cargo.toml"), "mine").unwrap();
    let output = bin(&env, &["new", "taken"]);
    assert_exit(&output, 2);
    assert_eq!(
        stderr(&output),
        "records-host: taken already exists; nothing was written (choose another --dir)"
    );
    assert_eq!(
        std::fs::read_to_string(project.join("Cargo.toml")).unwrap(),
        "mine"
    );
    assert_eq!(files_under(&project), ["Cargo.toml"]);

    // A file in the way is refused the same way.
    std::fs::write(env.dir.path().join("file"), "x").unwrap();
    assert_exit(&bin(&env, &["new", "file"]), 2);
}

#[test]
fn new_validates_the_name_for_the_language() {
    let env = Env::new();
    for (name, lang) in [
        ("My-Plugin", "rust"),
        ("a_b", "python"),
        ("../escape", "js"),
        ("x-", "rust"),
        ("fn", "rust"),
        ("node-modules", "js"),
    ] {
        let output = bin(&env, &["new", name, "--lang", lang]);
        assert_exit(&output, 2);
        let err = stderr(&output);
        assert!(
            err.starts_with("records-host: invalid plugin name"),
            "{name}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{name}: one line: {err}");
    }
    assert!(
        files_under(env.dir.path()).is_empty(),
        "nothing was created"
    );
    assert_exit(&bin(&env, &["new", "x", "--lang", "cobol"]), 2);
}

fn read_wit() -> String {
    std::fs::read_to_string(wit_dir().join("records.wit")).unwrap()
}

#[test]
fn check_of_a_file_it_cannot_read_is_one_line_and_exit_1() {
    let env = Env::new();
    for path in ["/nonexistent/plugin.wasm", "/tmp"] {
        let output = bin(&env, &["check", path]);
        assert_exit(&output, 1);
        assert_eq!(stdout(&output), "", "no table for {path}");
        let err = stderr(&output);
        assert!(err.starts_with("records-host: cannot load plugin"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}
