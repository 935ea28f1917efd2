//! The versions store on both backends: numbering, listing, activation (and its
//! refusals), removal, pruning, and bytes checked on the way back. PostgreSQL
//! runs against the server `RECORDS_HOST_TEST_POSTGRES` names (skipped with a
//! notice without one, unless `RECORDS_HOST_REQUIRE_POSTGRES` is set).

use super::*;
use crate::store::location::{Location, TenantHome};
use crate::tenant::TenantName;

/// A database of each backend there is: SQLite always, PostgreSQL when a test
/// server is named. The temporary directory lives as long as the databases.
fn databases(test: &str) -> (tempfile::TempDir, Vec<Database>) {
    let dir = tempfile::tempdir().unwrap();
    let tenant = TenantName::new(&format!("{test}-{}", std::process::id())).unwrap();
    let mut dbs = vec![Database::open(TenantHome::from(dir.path()).location(&tenant)).unwrap()];
    match std::env::var("RECORDS_HOST_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => {
            let Location::Postgres(base) = Location::parse(&url) else {
                panic!("RECORDS_HOST_TEST_POSTGRES is not a PostgreSQL URL");
            };
            dbs.push(Database::open(Location::Postgres(base.for_tenant(&tenant))).unwrap());
        }
        _ => {
            assert!(
                std::env::var_os("RECORDS_HOST_REQUIRE_POSTGRES").is_none(),
                "RECORDS_HOST_REQUIRE_POSTGRES is set but RECORDS_HOST_TEST_POSTGRES is not"
            );
            eprintln!("note: PostgreSQL half skipped: set RECORDS_HOST_TEST_POSTGRES");
        }
    }
    (dir, dbs)
}

fn upload<'a>(wasm: &'a [u8], passed: bool) -> NewVersion<'a> {
    NewVersion {
        wasm,
        uploaded_by: "operator:test".into(),
        message: Some(format!("{} bytes", wasm.len())),
        passed,
        report: "{}".into(),
    }
}

#[test]
fn versions_are_numbered_listed_newest_first_and_activated_one_at_a_time() {
    let (_dir, dbs) = databases("deploy-list");
    for db in &dbs {
        let slot = Slot::Plugin;
        assert_eq!(db.active_version(&slot).unwrap(), None);
        let one = db
            .add_version(&slot, &upload(b"\0asm one", true), 10)
            .unwrap();
        let two = db
            .add_version(&slot, &upload(b"\0asm two", true), 10)
            .unwrap();
        assert_eq!((one.number, two.number), (1, 2));
        assert_eq!(one.sha256, sha256_hex(b"\0asm one"));
        assert_eq!(one.size, 8);
        assert_eq!(one.message.as_deref(), Some("8 bytes"));
        assert!(!one.active && !two.active, "a new version is not active");
        let listed: Vec<u32> = db
            .versions(&slot)
            .unwrap()
            .iter()
            .map(|v| v.number)
            .collect();
        assert_eq!(listed, [2, 1]);

        db.activate_version(&slot, 2, false).unwrap();
        let active = db.active_version(&slot).unwrap().unwrap();
        assert_eq!((active.number, active.sha256), (2, two.sha256.clone()));
        db.activate_version(&slot, 1, false).unwrap();
        assert_eq!(db.active_version(&slot).unwrap().unwrap().number, 1);
        let flags: Vec<(u32, bool)> = db
            .versions(&slot)
            .unwrap()
            .iter()
            .map(|v| (v.number, v.active))
            .collect();
        assert_eq!(flags, [(2, false), (1, true)]);
        assert_eq!(db.version_wasm(&slot, 2).unwrap(), b"\0asm two");

        let script = Slot::script("import-csv").unwrap();
        assert!(db.versions(&script).unwrap().is_empty(), "slots are apart");
        assert_eq!(
            db.add_version(&script, &upload(b"\0asm one", true), 10)
                .unwrap()
                .number,
            1
        );
    }
}

#[test]
fn refusals_name_the_version_and_change_nothing() {
    let (_dir, dbs) = databases("deploy-refuse");
    for db in &dbs {
        let slot = Slot::Plugin;
        db.add_version(&slot, &upload(b"\0asm good", true), 10)
            .unwrap();
        db.add_version(&slot, &upload(b"\0asm bad", false), 10)
            .unwrap();
        assert!(matches!(
            db.activate_version(&slot, 7, false),
            Err(DeployError::NoSuchVersion { number: 7, .. })
        ));
        assert!(matches!(
            db.activate_version(&slot, 2, false),
            Err(DeployError::FailedChecks { number: 2, .. })
        ));
        assert_eq!(db.active_version(&slot).unwrap(), None);
        db.activate_version(&slot, 1, false).unwrap();
        assert!(matches!(
            db.remove_version(&slot, 1),
            Err(DeployError::Active { number: 1, .. })
        ));
        db.activate_version(&slot, 2, true).unwrap();
        assert_eq!(db.active_version(&slot).unwrap().unwrap().number, 2);
        db.remove_version(&slot, 1).unwrap();
        assert!(matches!(
            db.remove_version(&slot, 1),
            Err(DeployError::NoSuchVersion { number: 1, .. })
        ));
        assert!(matches!(
            db.version(&slot, 1),
            Err(DeployError::NoSuchVersion { .. })
        ));
        // Numbers are never reused.
        assert_eq!(
            db.add_version(&slot, &upload(b"\0asm again", true), 10)
                .unwrap()
                .number,
            3
        );
    }
}

#[test]
fn pruning_keeps_the_newest_and_the_active_version() {
    let (_dir, dbs) = databases("deploy-prune");
    for db in &dbs {
        let slot = Slot::Plugin;
        db.add_version(&slot, &upload(b"\0asm 1", true), 3).unwrap();
        db.activate_version(&slot, 1, false).unwrap();
        for n in 2..=6u8 {
            db.add_version(&slot, &upload(&[0, b'a', b's', b'm', n], true), 3)
                .unwrap();
        }
        let kept: Vec<u32> = db
            .versions(&slot)
            .unwrap()
            .iter()
            .map(|v| v.number)
            .collect();
        assert_eq!(kept, [6, 5, 4, 1]);
        assert_eq!(db.version_wasm(&slot, 1).unwrap(), b"\0asm 1");
    }
}

#[test]
fn damaged_bytes_and_stray_files_on_sqlite() {
    let (dir, dbs) = databases("deploy-damage");
    let db = &dbs[0];
    let slot = Slot::Plugin;
    let v = db
        .add_version(&slot, &upload(b"\0asm original", true), 10)
        .unwrap();
    let plugins = db.path().unwrap().parent().unwrap().join("plugins");
    let file = plugins.join(format!("{}.wasm", v.sha256));
    assert_eq!(std::fs::read(&file).unwrap(), b"\0asm original");

    // Same size, other bytes: refused, never handed out.
    std::fs::write(&file, b"\0asm ORIGINAL").unwrap();
    assert!(matches!(
        db.version_wasm(&slot, 1),
        Err(DeployError::Damaged { number: 1, .. })
    ));
    std::fs::remove_file(&file).unwrap();
    assert!(matches!(
        db.version_wasm(&slot, 1),
        Err(DeployError::Damaged { .. })
    ));

    // What a crash between the file and the row leaves: a file no row names,
    // removed by the next upload; the named ones stay.
    std::fs::write(plugins.join(format!("{}.wasm", "0".repeat(64))), b"orphan").unwrap();
    std::fs::write(plugins.join(".upload-cut-short"), b"half").unwrap();
    let w = db
        .add_version(&slot, &upload(b"\0asm next", true), 10)
        .unwrap();
    let mut left: Vec<String> = std::fs::read_dir(&plugins)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, [format!("{}.wasm", w.sha256)]);
    drop(dir);
}

#[test]
fn a_database_of_the_previous_layout_is_upgraded_on_open_and_keeps_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "CREATE TABLE records (id INTEGER PRIMARY KEY, name TEXT NOT NULL, value INTEGER NOT NULL);
             INSERT INTO records (name, value) VALUES ('kept', 7);
             PRAGMA application_id = {}; PRAGMA user_version = 1; PRAGMA journal_mode = WAL;",
            i32::from_be_bytes(*b"RHDB")
        ))
        .unwrap();
    }
    let mut dbs = vec![Database::open(Location::File(path)).unwrap()];
    if let Ok(url) = std::env::var("RECORDS_HOST_TEST_POSTGRES")
        && !url.is_empty()
    {
        let Location::Postgres(base) = Location::parse(&url) else {
            panic!("not a PostgreSQL URL");
        };
        let tenant = TenantName::new(&format!("deploy-v1-{}", std::process::id())).unwrap();
        let at = base.for_tenant(&tenant);
        let s = format!("\"{}\"", at.schema());
        let mut client = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {s} CASCADE; CREATE SCHEMA {s};
                 CREATE TABLE {s}.records (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                     name text NOT NULL, value bigint NOT NULL);
                 CREATE TABLE {s}.records_host_meta (key text PRIMARY KEY, value text NOT NULL);
                 INSERT INTO {s}.records_host_meta VALUES ('schema_version', '1');
                 INSERT INTO {s}.records (name, value) VALUES ('kept', 7);"
            ))
            .unwrap();
        dbs.push(Database::open(Location::Postgres(at)).unwrap());
        let version: String = client
            .query_one(
                &format!("SELECT value FROM {s}.records_host_meta WHERE key = 'schema_version'"),
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(version, "2");
    }
    for db in &dbs {
        let kept = db.scan(None, 10).unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!((kept[0].name.as_str(), kept[0].value), ("kept", 7));
        let v = db
            .add_version(&Slot::Plugin, &upload(b"\0asm v", true), 10)
            .unwrap();
        assert_eq!(v.number, 1);
    }
}

#[test]
fn a_planted_plugins_link_is_refused_and_what_it_points_at_left_alone() {
    let (dir, dbs) = databases("deploy-planted");
    let db = &dbs[0];
    let victim = dir.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::write(victim.join("keep.txt"), b"mine").unwrap();
    let plugins = db.path().unwrap().parent().unwrap().join("plugins");
    std::os::unix::fs::symlink(&victim, &plugins).unwrap();
    let refused = db.add_version(&Slot::Plugin, &upload(b"\0asm x", true), 10);
    assert!(
        matches!(&refused, Err(DeployError::Store(crate::record_error::RecordError::Storage(e)))
            if e.summary() == "the plugins directory is not trusted"),
        "{refused:?}"
    );
    assert_eq!(std::fs::read(victim.join("keep.txt")).unwrap(), b"mine");
    assert_eq!(std::fs::read_dir(&victim).unwrap().count(), 1);
    assert!(
        db.versions(&Slot::Plugin).unwrap().is_empty(),
        "nothing stored"
    );
}
