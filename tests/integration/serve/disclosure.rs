//! Tenants and plugins are told what failed, never where: no path, URL, host,
//! port, user, database name or password in an answer or in what a plugin gets;
//! the server logs the details beside the request id. And the database's URL
//! (with its password) can come from `RECORDS_HOST_DB`, never shown by `--help`.

use serde_json::json;

use super::*;
use crate::support::*;

/// Asserts that `text` names none of `secrets`.
#[track_caller]
fn tells_none_of(text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "{secret:?} reached a tenant: {text}"
        );
    }
}

/// A tenant whose database cannot be opened (its path is a directory) gets 500
/// with what failed and a request id; the path is only in the server's log,
/// under that id.
#[test]
fn a_failed_open_tells_the_tenant_what_not_where() {
    let env = Env::new();
    let db = env.dir.path().join("data/tenants/pathy/records.db");
    std::fs::create_dir_all(&db).unwrap();
    let server = Server::start(&env, &["--no-auth"]);
    let answer = call(&server, "pathy", "get-record", json!([1]));
    assert_eq!(answer.status, 500, "{}", answer.text);
    let error = answer.body["error"].as_str().unwrap();
    assert!(error.contains("it is a directory"), "{error}");
    let dir = env.dir.path().display().to_string();
    tells_none_of(&answer.text, &[&dir, "records.db", "tenants/", "/tmp"]);
    let id = answer.request_id.unwrap();
    assert_eq!(answer.body["request_id"], json!(id));
    let (_, log) = server.stop();
    let line = log
        .lines()
        .find(|line| line.contains(&id) && line.contains("records.db"))
        .unwrap_or_else(|| panic!("no log line with {id} and the path: {log}"));
    assert!(line.contains(&dir), "{line}");
}

on_both! {
    /// Another program changes the type of a stored value: the plugin is told
    /// only what failed (its answer reaches the tenant), the CLI's operator and
    /// the server's log get where.
    fn a_storage_error_reaches_the_plugin_without_where(env) {
        env.tenant_call("acme", &[r#"create-record("x", 1)"#]);
        match env.pg() {
            Some(pg) => pg
                .client()
                .batch_execute("ALTER TABLE rh_acme.records ALTER value TYPE numeric")
                .unwrap(),
            None => {
                let conn = rusqlite::Connection::open(env.dir.path().join("data/tenants/acme/records.db")).unwrap();
                conn.execute("UPDATE records SET value = 'not a number'", []).unwrap();
            }
        }
        let server = Server::start(&env, &["--no-auth"]);
        let answer = call(&server, "acme", "get-record", json!([1]));
        assert_eq!(answer.status, 200, "{}", answer.text);
        let told = answer.body["err"]["storage"].as_str().unwrap_or_else(|| panic!("{}", answer.text));
        assert!(told.contains("type"), "{told}");
        let dir = env.dir.path().display().to_string();
        tells_none_of(&answer.text, &[&dir, "records.db", "postgres", "127.0.0.1", "rht_"]);
        let (_, log) = server.stop();
        let id = answer.request_id.unwrap();
        let line = log
            .lines()
            .find(|line| line.contains("the plugin was told only what failed"))
            .unwrap_or_else(|| panic!("no log line of the withheld detail: {log}"));
        assert!(line.contains(&id), "{line}");
    }
}

/// A password holding `/` and `?` (which the server accepts, and the client
/// parses: the user info runs to the first `@`) used to be printed in clear by a
/// redaction that ended the authority at the first `/`: in CLI errors, in 500
/// bodies and in what the plugin got. A foreign schema makes every one of them
/// speak.
#[test]
fn a_password_with_url_delimiters_is_never_shown() {
    let Some(env) = Env::postgres() else { return };
    let pg = env.pg().unwrap();
    let role = format!("rh_slash_{}", std::process::id());
    let secret = "pa/ss?wo#rd";
    pg.client()
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN SUPERUSER PASSWORD '{secret}';
             CREATE SCHEMA rh_foreign; CREATE TABLE rh_foreign.records (x int);"
        ))
        .unwrap();
    let (authority, database) = pg.server_and_database();
    let (host, port) = authority.split_once(':').unwrap();
    let url = format!("postgres://{role}:{secret}@{authority}/{database}");

    let output = run(command(env.dir.path()).args([
        "call",
        "--db",
        &url,
        "--tenant",
        "foreign",
        "get-record(1)",
    ]));
    assert_exit(&output, 1);
    let err = stderr(&output);
    assert!(err.contains("not a records-host schema"), "{err}");
    assert!(err.contains(&format!("{role}:***@")), "{err}");
    tells_none_of(&err, &[secret, "pa/ss"]);

    let server = Server::start_bare(&env, &["--no-auth", "--db", &url], &[("RUST_LOG", "trace")]);
    let answer = call(&server, "foreign", "get-record", json!([1]));
    assert_eq!(answer.status, 500, "{}", answer.text);
    assert!(
        answer.text.contains("not a records-host schema"),
        "{}",
        answer.text
    );
    tells_none_of(
        &answer.text,
        &[secret, "pa/ss", &role, host, port, database, "rh_foreign"],
    );
    let (_, log) = server.stop();
    tells_none_of(&log, &[secret, "pa/ss"]);
}

/// `serve` takes its database from `RECORDS_HOST_DB`, as the other commands do
/// (it used to serve SQLite `./data` with the variable set), and no `--help`
/// prints the variable's value.
#[test]
fn serve_takes_its_database_from_records_host_db_and_help_hides_it() {
    let Some(env) = Env::postgres() else { return };
    let url = env.pg().unwrap().url().to_string();
    let server = Server::start_bare(&env, &["--no-auth"], &[("RECORDS_HOST_DB", &url)]);
    expect(
        &server,
        "acme",
        "create-record",
        json!(["from env", 7]),
        json!({"ok": 1}),
    );
    drop(server);
    assert_eq!(
        tenant_db(&env, "acme").count().unwrap(),
        1,
        "stored in PostgreSQL"
    );
    assert!(
        !env.dir.path().join("data").exists(),
        "nothing under ./data"
    );

    let secret_url = "postgres://alice:s3cret-in-env@db.example/app";
    for sub in ["call", "serve", "demo", "lock-status", "run"] {
        let output = run(command(env.dir.path())
            .args([sub, "--help"])
            .env("RECORDS_HOST_DB", secret_url));
        assert_exit(&output, 0);
        tells_none_of(&stdout(&output), &["s3cret-in-env"]);
    }
    let output = run(command(env.dir.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--no-auth"])
        .env("RECORDS_HOST_DB", "data/app.db"));
    assert_exit(&output, 2);
    assert!(
        stderr(&output).contains("must be a postgres:// or postgresql:// URL"),
        "{}",
        stderr(&output)
    );
}
