//! `records-host run`: command components (scripts) with stdin, arguments and
//! exit codes, under the same sandbox.

use std::io::Write;
use std::process::{Output, Stdio};

use records_test_fixtures::{HOSTILE, IMPORT_CSV};

use crate::support::*;

fn run_script(env: &Env, args: &[&str], stdin: &str) -> Output {
    let mut cmd = env.cli("run", &[]);
    cmd.arg(IMPORT_CSV)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn the_importer_creates_every_record_in_one_transaction() {
    let env = Env::new();
    let output = run_script(&env, &[], "apples,3\n# a comment\n\npears, 5\nplums,-1\n");
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "imported 3 records (ids 1..=3)");
    assert_eq!(env.names(), ["apples", "pears", "plums"]);
}

#[test]
fn a_bad_line_imports_nothing_and_fails() {
    let env = Env::new();
    env.open().write(|w| w.insert("earlier", 1)).unwrap();
    let output = run_script(&env, &[], "apples,3\nnot a record\n");
    assert_exit(&output, 1);
    assert!(stderr(&output).contains("line 2"), "{}", stderr(&output));
    assert_eq!(env.names(), ["earlier"]);
}

#[test]
fn arguments_reach_the_script() {
    let env = Env::new();
    let output = run_script(&env, &["--dry-run"], "a,1\nb,2\n");
    assert_exit(&output, 0);
    assert_eq!(
        stdout(&output),
        "checked 2 records; nothing imported (--dry-run)"
    );
    assert_eq!(env.open().count().unwrap(), 0);
}

#[test]
fn scripts_run_for_tenants() {
    let env = Env::new();
    let mut cmd = command(env.dir.path());
    cmd.args(["run", "--tenant", "acme", IMPORT_CSV])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"x,1\n").unwrap();
    assert_exit(&child.wait_with_output().unwrap(), 0);
    assert!(
        env.dir
            .path()
            .join("data/tenants/acme/records.db")
            .is_file()
    );
}

#[test]
fn a_component_without_a_main_is_refused() {
    let env = Env::new();
    let output = run(&mut env.cli("run", &[HOSTILE]));
    assert_exit(&output, 2);
    assert!(
        stderr(&output).contains("not a command component"),
        "{}",
        stderr(&output)
    );
}
