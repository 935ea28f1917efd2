//! Tenants' PostgreSQL schemas and locks are their own, whatever their names:
//! a 62-byte name and the 60-byte name that spells the schema older releases
//! gave it reach different schemas and take different locks; a schema made by
//! that older mapping is carried over to its tenant; schemas created by several
//! sessions at once are created once.
//!
//! Each test skips with a notice when there is no server (a failure
//! under `RECORDS_HOST_REQUIRE_POSTGRES`); see `support/postgres.rs`.

use ::postgres::Client;

use crate::support::*;

/// A 62-byte tenant name: its schema was once `rh_<SPELLER>`.
const LONG: &str = "victim-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

/// The 60-byte tenant name whose schema `rh_<name>` is what older releases made
/// `LONG`'s: `LONG`'s first 43 bytes, `_`, and 16 hex digits of SHA-256(`LONG`).
const SPELLER: &str = "victim-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx_a86d4803208a7865";

/// The tag in the high half of every records-host lock key ("RHLK").
const LOCK_TAG: u32 = 0x5248_4C4B;

/// The schemas of `client`'s database whose names are given, in order.
fn schemas(client: &mut Client, names: &[&str]) -> Vec<String> {
    let names: Vec<String> = names.iter().map(|n| (*n).to_string()).collect();
    client
        .query(
            "SELECT nspname::text FROM pg_namespace WHERE nspname = ANY($1) ORDER BY 1",
            &[&names],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// The speller can neither read nor change the long name's record, and each has
/// a schema of its own: the long name's is its name in uppercase.
#[test]
fn a_long_name_and_the_name_spelling_its_old_schema_do_not_share_records() {
    assert_eq!((LONG.len(), SPELLER.len()), (62, 60));
    let Some(env) = Env::postgres() else { return };
    let created = env.tenant_call(LONG, &[r#"create-record("secret-of-victim", 7)"#]);
    assert_exit(&created, 0);
    assert_eq!(stdout(&created), "ok(1)");

    let seen = env.tenant_call(SPELLER, &["get-all-records()"]);
    assert_exit(&seen, 0);
    assert_eq!(stdout(&seen), "ok([])", "the speller sees nothing");
    let update = env.tenant_call(SPELLER, &["update-record(1, 0)"]);
    assert_exit(&update, 1);
    assert_eq!(stdout(&update), "err(not-found(1))");

    assert_eq!(
        stdout(&env.tenant_call(LONG, &["get-record(1)"])),
        r#"ok(some({id: 1, name: "secret-of-victim", value: 7}))"#,
        "the long name's record is as it wrote it"
    );
    let upper = LONG.to_ascii_uppercase();
    let speller = format!("rh_{SPELLER}");
    let mut expected = vec![upper.clone(), speller.clone()];
    expected.sort();
    assert_eq!(
        schemas(&mut env.pg().unwrap().client(), &[&upper, &speller]),
        expected
    );
}

/// While the long name's transaction holds its lock, the speller writes at once
/// (exit 0, not the lock timeout's 75), and `lock-status` calls the speller's
/// lock free; the held key is the tag and the long name's schema OID.
#[test]
fn a_long_name_and_the_name_spelling_its_old_schema_do_not_share_a_lock() {
    let Some(env) = Env::postgres() else { return };
    let held = env.hold_tenant_lock(LONG);

    let mut write = command(env.dir.path());
    write.args([
        "call",
        "--tenant",
        SPELLER,
        "--db",
        &env.pg().unwrap().arg_url(),
    ]);
    write.args(["--lock-timeout", "2000", r#"create-record("mine", 1)"#]);
    let write = run(&mut write);
    assert_exit(&write, 0);
    assert_eq!(stdout(&write), "ok(1)");

    let mut status = command(env.dir.path());
    status.args([
        "lock-status",
        "--tenant",
        SPELLER,
        "--db",
        &env.pg().unwrap().arg_url(),
    ]);
    let status = run(&mut status);
    assert_exit(&status, 0);
    assert!(stdout(&status).starts_with("free"), "{}", stdout(&status));

    let mut client = env.pg().unwrap().client();
    let keys: Vec<(u32, u32, i16)> = client
        .query(
            "SELECT classid, objid, objsubid FROM pg_locks
             WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    let oid: u32 = client
        .query_one(
            "SELECT oid FROM pg_namespace WHERE nspname = $1",
            &[&LONG.to_ascii_uppercase()],
        )
        .unwrap()
        .get(0);
    assert_eq!(keys, [(LOCK_TAG, oid, 1)], "one lock, the long name's");
    drop(held);
}

/// A schema that an older release made for the long name (here made by the
/// speller, whose schema has that name) is renamed to the long name's on its
/// first open, once: the long name sees the record, and the speller then gets an
/// empty schema of its own.
#[test]
fn a_schema_of_the_old_mapping_is_carried_over_to_its_tenant() {
    let Some(env) = Env::postgres() else { return };
    assert_exit(
        &env.tenant_call(SPELLER, &[r#"create-record("written-before", 3)"#]),
        0,
    );

    let mut first = command(env.dir.path());
    first
        .args([
            "call",
            "--tenant",
            LONG,
            "--db",
            &env.pg().unwrap().arg_url(),
        ])
        .arg("get-all-records()")
        .env("RUST_LOG", "records_host=info");
    let first = run(&mut first);
    assert_exit(&first, 0);
    assert_eq!(
        stdout(&first),
        r#"ok([{id: 1, name: "written-before", value: 3}])"#
    );
    let renamed = stderr(&first);
    assert_eq!(
        renamed.matches("renamed").count(),
        1,
        "logged once: {renamed}"
    );

    let speller = env.tenant_call(SPELLER, &["get-all-records()"]);
    assert_exit(&speller, 0);
    assert_eq!(stdout(&speller), "ok([])", "the speller starts afresh");
    assert_exit(&env.tenant_call(LONG, &[r#"create-record("after", 4)"#]), 0);
    assert_eq!(
        stdout(&env.tenant_call(LONG, &["get-all-records()"])),
        r#"ok([{id: 1, name: "written-before", value: 3}, {id: 2, name: "after", value: 4}])"#
    );
}

/// Processes that open a tenant for the first time all at once, a new short
/// name and a long name whose old schema exists, all succeed: the schema is
/// created once (concurrent `CREATE SCHEMA`s tolerated) and the old one renamed
/// once, and every write lands in the tenant's own schema.
#[test]
fn processes_opening_new_schemas_at_once_all_succeed() {
    const PROCESSES: usize = 6;
    let Some(env) = Env::postgres() else { return };
    assert_exit(
        &env.tenant_call(SPELLER, &[r#"create-record("written-before", 3)"#]),
        0,
    );
    let ids = fan_out(2 * PROCESSES, 1, |p, _| {
        let tenant = if p % 2 == 0 { "fresh" } else { LONG };
        let mut cmd = command(env.dir.path());
        cmd.args([
            "call",
            "--tenant",
            tenant,
            "--db",
            &env.pg().unwrap().arg_url(),
        ]);
        cmd.args([
            "--lock-timeout",
            "30000",
            &format!(r#"create-record("p{p}", 1)"#),
        ]);
        let output = run(&mut cmd);
        assert_exit(&output, 0);
        (tenant, parse_ok(&stdout(&output)))
    });
    let of = |tenant: &str| {
        let mut mine: Vec<i64> = ids
            .iter()
            .filter(|(t, _)| *t == tenant)
            .map(|(_, id)| *id)
            .collect();
        mine.sort_unstable();
        mine
    };
    assert_eq!(of("fresh"), (1..=PROCESSES as i64).collect::<Vec<_>>());
    assert_eq!(of(LONG), (2..=PROCESSES as i64 + 1).collect::<Vec<_>>());
    let records = stdout(&env.tenant_call(LONG, &["get-all-records()"]));
    assert!(records.contains("written-before"), "{records}");
    assert_eq!(
        stdout(&env.tenant_call(SPELLER, &["get-all-records()"])),
        "ok([])"
    );
}

/// A schema that another session creates while records-host creates it too (its
/// `CREATE SCHEMA IF NOT EXISTS` waits for that session, then fails the unique
/// index) is used: the call succeeds.
#[test]
fn a_schema_created_at_the_same_time_by_another_session_is_used() {
    let Some(env) = Env::postgres() else { return };
    let pg = env.pg().unwrap();
    let mut other = pg.client();
    other
        .batch_execute(r#"BEGIN; CREATE SCHEMA "rh_racer""#)
        .unwrap();
    let mut cmd = command(env.dir.path());
    cmd.args(["call", "--tenant", "racer", "--db", &pg.arg_url()]);
    let child = cmd
        .arg(r#"create-record("x", 1)"#)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let waiting = format!("records-host pid:{}%", child.id());
    while pg
        .client()
        .query(
            "SELECT 1 FROM pg_stat_activity WHERE application_name LIKE $1 AND wait_event_type = 'Lock'",
            &[&waiting],
        )
        .unwrap()
        .is_empty()
    {
        assert!(start.elapsed() < std::time::Duration::from_secs(30), "never waited");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    other.batch_execute("COMMIT").unwrap();
    let output = wait_within(child, std::time::Duration::from_secs(60));
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "ok(1)");
}
