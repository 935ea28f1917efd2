//! `records-host plugin ...` and `script NAME ...`, and `call`/`run --tenant`
//! running the tenant's active version: real processes, both backends.

use std::io::Write;
use std::process::{Output, Stdio};

use records_host::REFERENCE_PLUGIN;
use records_test_fixtures::{FLAWED, IMPORT_CSV};

use crate::support::*;

/// `records-host <args> --tenant acme`, with `--db` on the PostgreSQL run.
fn acme(env: &Env, args: &[&str]) -> Output {
    let mut cmd = command(env.dir.path());
    cmd.args(args).args(["--tenant", "acme"]);
    if let Some(pg) = env.pg() {
        cmd.args(["--db", &pg.arg_url()]);
    }
    run(&mut cmd)
}

on_both! {
    fn plugin_versions_are_pushed_listed_activated_tried_and_removed(env) {
        let reference = env.dir.path().join("reference.wasm");
        std::fs::write(&reference, REFERENCE_PLUGIN).unwrap();
        let reference = reference.to_str().unwrap();
        const TELLING: &str = r#"create-record("t", 9007199254740993)"#;

        let pushed = acme(&env, &["plugin", "push", reference, "--message", "first"]);
        assert_exit(&pushed, 0);
        assert!(stdout(&pushed).starts_with("plugin version 1 stored (sha256 "), "{}", stdout(&pushed));

        let refused = acme(&env, &["plugin", "push", FLAWED]);
        assert_exit(&refused, 1);
        assert!(stderr(&refused).contains("the plugin failed"), "{}", stderr(&refused));
        let forced = acme(&env, &["plugin", "push", FLAWED, "--force"]);
        assert_exit(&forced, 0);
        assert!(stdout(&forced).contains("version 2 stored"), "{}", stdout(&forced));
        assert!(stdout(&forced).contains("FAILED its checks"));

        let refused = acme(&env, &["plugin", "activate", "2"]);
        assert_exit(&refused, 1);
        assert!(stderr(&refused).contains("failed its checks"), "{}", stderr(&refused));
        assert_exit(&acme(&env, &["plugin", "activate", "2", "--force"]), 0);

        // The active (flawed) version answers; version 1 on request.
        let call = acme(&env, &["call", TELLING]);
        assert_exit(&call, 0);
        let id = parse_ok(&stdout(&call));
        let got = acme(&env, &["call", &format!("get-record({id})")]);
        assert!(stdout(&got).contains("value: 9007199254740992"), "{}", stdout(&got));
        let tried = acme(&env, &["call", "--plugin-version", "1", TELLING]);
        let id = parse_ok(&stdout(&tried));
        let got = acme(&env, &["call", &format!("get-record({id})")]);
        assert!(stdout(&got).contains("value: 9007199254740993"), "{}", stdout(&got));

        let refused = acme(&env, &["plugin", "rm", "2"]);
        assert_exit(&refused, 1);
        assert!(stderr(&refused).contains("is the active plugin"), "{}", stderr(&refused));
        assert_exit(&acme(&env, &["plugin", "activate", "1"]), 0);
        assert_exit(&acme(&env, &["plugin", "rm", "2"]), 0);
        assert_exit(&acme(&env, &["plugin", "activate", "2"]), 1);

        let listed = acme(&env, &["plugin", "list", "--json"]);
        assert_exit(&listed, 0);
        let versions: serde_json::Value = serde_json::from_str(&stdout(&listed)).unwrap();
        let versions = versions.as_array().unwrap();
        assert_eq!(versions.len(), 1);
        assert_eq!(versions[0]["version"], 1);
        assert_eq!(versions[0]["active"], true);
        assert_eq!(versions[0]["message"], "first");
        assert_eq!(versions[0]["checks"]["passed"], true);
        assert_eq!(versions[0]["size"], REFERENCE_PLUGIN.len());
        let table = stdout(&acme(&env, &["plugin", "list"]));
        assert!(table.lines().nth(1).unwrap().starts_with("*       1  "), "{table}");
    }
}

on_both! {
    fn a_deployed_script_runs_by_name(env) {
        assert_exit(&acme(&env, &["script", "import-csv", "push", IMPORT_CSV, "--activate"]), 0);
        let mut cmd = command(env.dir.path());
        cmd.args(["run", "--tenant", "acme", "--script", "import-csv"]);
        if let Some(pg) = env.pg() {
            cmd.args(["--db", &pg.arg_url()]);
        }
        cmd.args(["--", "--dry-run"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        child.stdin.take().unwrap().write_all(b"a,1\nb,2\n").unwrap();
        let output = child.wait_with_output().unwrap();
        assert_exit(&output, 0);
        assert_eq!(stdout(&output), "checked 2 records; nothing imported (--dry-run)");

        let missing = acme(&env, &["run", "--script", "other"]);
        assert_exit(&missing, 1);
        assert!(stderr(&missing).contains("no version of script other is active"), "{}", stderr(&missing));
        assert_exit(&acme(&env, &["script", "Bad Name", "list"]), 2);
        assert_exit(&command(env.dir.path()).args(["plugin", "list"]).output().unwrap(), 2);
    }
}
