//! A PostgreSQL password kept out of argv: from `PGPASSWORD`, or from a
//! password file (`PGPASSFILE`) that no one else may read, as libpq takes
//! them; a password written in `--db` still works but warns, without
//! printing it. Against a role of its own that must log in with a password.

use std::os::unix::fs::PermissionsExt;

use crate::support::*;

#[test]
fn the_password_comes_from_pgpassword_or_a_private_password_file() {
    let Some(env) = Env::postgres() else { return };
    let pg = env.pg().unwrap();
    let role = format!("rh_secret_{}", std::process::id());
    let secret = "s3cret-not-in-argv";
    let (server, database) = pg.server_and_database();
    pg.create_role(&role, secret);
    pg.client()
        .batch_execute(&format!("GRANT CREATE ON DATABASE {database} TO {role}"))
        .unwrap();
    let url = format!("postgres://{role}@{server}/{database}");
    let call = |password: Option<&str>, file: Option<&std::path::Path>, what: &str| {
        let mut cmd = command(env.dir.path());
        cmd.env_remove("PGPASSWORD").env("HOME", env.dir.path());
        if let Some(password) = password {
            cmd.env("PGPASSWORD", password);
        }
        if let Some(file) = file {
            cmd.env("PGPASSFILE", file);
        }
        run(cmd.args(["call", "--db", &url, what]))
    };

    // PGPASSWORD.
    let output = call(Some(secret), None, r#"create-record("a", 1)"#);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "ok(1)");
    assert!(!stderr(&output).contains("warning"), "{}", stderr(&output));

    // No password anywhere: refused, in one line, exit 1.
    let output = call(None, None, "get-record(1)");
    assert_exit(&output, 1);
    assert_eq!(
        host_stderr(&output).lines().count(),
        1,
        "{}",
        stderr(&output)
    );

    // A password file with a wildcard line, readable by its owner only.
    let file = env.dir.path().join("pgpass");
    std::fs::write(
        &file,
        format!("# for the tests\nelsewhere:*:*:{role}:wrong\n*:*:{database}:{role}:{secret}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let output = call(None, Some(&file), r#"create-record("b", 2)"#);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "ok(2)");

    // ~/.pgpass when PGPASSFILE is not set.
    std::fs::copy(&file, env.dir.path().join(".pgpass")).unwrap();
    std::fs::set_permissions(
        env.dir.path().join(".pgpass"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let output = call(None, None, "get-record(2)");
    assert_exit(&output, 0);
    assert!(stdout(&output).contains("\"b\""), "{}", stdout(&output));
    std::fs::remove_file(env.dir.path().join(".pgpass")).unwrap();

    // A file others may read is not used, and the error says so.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let output = call(None, Some(&file), "get-record(1)");
    assert_exit(&output, 1);
    let err = host_stderr(&output);
    assert!(
        err.contains("was ignored") && err.contains("chmod 0600"),
        "{err}"
    );
    assert!(!err.contains(secret), "{err}");

    // In --db it still works, with one warning that does not show it.
    let with_password = format!("postgres://{role}:{secret}@{server}/{database}");
    let mut cmd = command(env.dir.path());
    cmd.env_remove("PGPASSWORD")
        .args(["call", "--db", &with_password, "get-record(1)"]);
    let output = run(&mut cmd);
    assert_exit(&output, 0);
    let err = stderr(&output);
    assert_eq!(err.matches("warning").count(), 1, "{err}");
    assert!(err.contains("PGPASSWORD") && !err.contains(secret), "{err}");
    // From RECORDS_HOST_DB, no warning: the environment is the user's own.
    let mut cmd = command(env.dir.path());
    cmd.env_remove("PGPASSWORD")
        .env("RECORDS_HOST_DB", &with_password)
        .args(["call", "get-record(1)"]);
    let output = run(&mut cmd);
    assert_exit(&output, 0);
    assert!(!stderr(&output).contains("warning"), "{}", stderr(&output));

    pg.client()
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS records_host CASCADE; REVOKE CREATE ON DATABASE {database} FROM {role}; DROP ROLE {role}"
        ))
        .unwrap();
}
