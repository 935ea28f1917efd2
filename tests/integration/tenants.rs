//! Tenants: separate databases and locks, validated names, and one shared
//! `PluginHost` serving many tenants from many threads.

use std::collections::HashSet;

use records_host::{Error, PluginHost, Runtime, TenantName};

use crate::support::*;

on_both! {
    fn tenants_see_only_their_own_records_through_the_cli(env) {
        assert_exit(
            &env.tenant_call("a", &[r#"create-record("a-secret", 1)"#]),
            0,
        );
        assert_exit(
            &env.tenant_call("a", &[r#"create-record("a-other", 2)"#]),
            0,
        );
        let b = env.tenant_call("b", &["get-all-records()"]);
        assert_exit(&b, 0);
        assert_eq!(stdout(&b), "ok([])");
        assert_eq!(
            stdout(&env.tenant_call("b", &["get-record(1)"])),
            "ok(none)"
        );
        let a = env.tenant_call("a", &["get-all-records()"]);
        assert!(stdout(&a).contains("a-secret") && stdout(&a).contains("a-other"));
        match env.pg() {
            Some(pg) => {
                let schemas: Vec<String> = pg
                    .client()
                    .query(
                        "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'rh\\_%' ORDER BY 1",
                        &[],
                    )
                    .unwrap()
                    .iter()
                    .map(|row| row.get(0))
                    .collect();
                assert_eq!(schemas, ["rh_a", "rh_b"], "a schema per tenant");
            }
            None => {
                assert!(env.dir.path().join("data/tenants/a/records.db").is_file());
                assert!(env.dir.path().join("data/tenants/a/db.lock").is_file());
            }
        }
    }
}

#[test]
fn the_data_dir_flag_moves_tenant_data() {
    let env = Env::new();
    let output = run(command(env.dir.path()).args([
        "call",
        "--tenant",
        "t1",
        "--data-dir",
        "elsewhere",
        r#"create-record("x", 1)"#,
    ]));
    assert_exit(&output, 0);
    assert!(
        env.dir
            .path()
            .join("elsewhere/tenants/t1/records.db")
            .is_file()
    );
}

#[test]
fn bad_tenant_names_are_usage_errors_and_create_nothing() {
    let env = Env::new();
    let long = "a".repeat(64);
    for name in [
        "../x",
        "a/b",
        "",
        "Upper",
        long.as_str(),
        "-dash",
        "..",
        "a b",
    ] {
        let tenant = format!("--tenant={name}");
        let output =
            run(command(env.dir.path()).args(["call", &tenant, r#"create-record("x", 1)"#]));
        assert_exit(&output, 2);
        assert!(
            stderr(&output).contains("tenant"),
            "{name:?}: {}",
            stderr(&output)
        );
    }
    let created: Vec<_> = std::fs::read_dir(env.dir.path()).unwrap().collect();
    assert!(created.is_empty(), "nothing created: {created:?}");
    assert!(matches!(TenantName::new("../x"), Err(e) if e.name == "../x"));
}

#[test]
fn a_tenant_with_a_database_file_or_data_dir_with_a_url_is_a_usage_error() {
    let env = Env::new();
    let file = run(command(env.dir.path()).args([
        "call",
        "--db",
        "x.db",
        "--tenant",
        "a",
        "get-record(1)",
    ]));
    assert_exit(&file, 2);
    assert!(stderr(&file).contains("--tenant"), "{}", stderr(&file));
    let url = run(command(env.dir.path()).args([
        "call",
        "--db",
        "postgres://u@127.0.0.1:1/x",
        "--tenant",
        "a",
        "--data-dir",
        "d",
        "get-record(1)",
    ]));
    assert_exit(&url, 2);
    assert!(stderr(&url).contains("--data-dir"), "{}", stderr(&url));
    let created: Vec<_> = std::fs::read_dir(env.dir.path()).unwrap().collect();
    assert!(created.is_empty(), "nothing created: {created:?}");
}

on_both! {
    fn one_tenants_lock_never_blocks_another(env) {
        let _held = env.hold_tenant_lock("a");
        let blocked = env.tenant_call("a", &["--lock-timeout", "50", r#"create-record("x", 1)"#]);
        assert_exit(&blocked, 75);
        assert_names_test_holder(&stderr(&blocked));
        let free = env.tenant_call("b", &["--lock-timeout", "0", r#"create-record("x", 1)"#]);
        assert_exit(&free, 0);
    }
}

on_both! {
    fn tenants_are_isolated_through_the_library(env) {
        let host = PluginHost::new(
            Runtime::new().unwrap().load_reference().unwrap(),
            env.tenant_home(),
        );
        let (a, b) = (TenantName::new("a").unwrap(), TenantName::new("b").unwrap());
        host.call(&a, |p| p.create_record("only-a", 1)).unwrap();
        assert_eq!(host.call(&b, |p| p.get_all_records()).unwrap(), vec![]);
        assert_eq!(host.call(&b, |p| p.get_record(1)).unwrap(), None);
        assert_eq!(host.call(&a, |p| p.get_all_records()).unwrap().len(), 1);
    }
}

on_both! {
    /// 16 threads make calls for 4 tenants through one shared `PluginHost`: every
    /// write lands exactly once, and each tenant's database holds only its own rows.
    fn sixteen_threads_four_tenants_one_shared_host(env) {
        const THREADS: usize = 16;
        const TENANTS: usize = 4;
        const CREATES: usize = 25;
        let host = PluginHost::new(
            Runtime::new().unwrap().load_reference().unwrap(),
            env.tenant_home(),
        );
        let tenants: Vec<TenantName> = (0..TENANTS)
            .map(|t| TenantName::new(&format!("tenant{t}")).unwrap())
            .collect();

        let ids = fan_out(THREADS, CREATES, |thread, i| {
            let tenant = &tenants[thread % TENANTS];
            let name = format!("{tenant}/thread{thread}/{i}");
            let id = host
                .call(tenant, |p| p.create_record(&name, i as i64))
                .unwrap();
            (tenant.clone(), id)
        });
        assert_eq!(
            ids.iter().collect::<HashSet<_>>().len(),
            THREADS * CREATES,
            "ids unique per tenant"
        );

        for tenant in &tenants {
            let records = host.call(tenant, |p| p.get_all_records()).unwrap();
            assert_eq!(records.len(), THREADS / TENANTS * CREATES, "{tenant}");
            assert!(
                records
                    .iter()
                    .all(|r| r.name.starts_with(&format!("{tenant}/"))),
                "{tenant} holds only its rows"
            );
            let names: HashSet<&str> = records.iter().map(|r| r.name.as_str()).collect();
            assert_eq!(
                names.len(),
                records.len(),
                "{tenant}: no write landed twice"
            );
        }
    }
}

#[test]
fn a_failing_call_does_not_poison_the_shared_host() {
    let env = Env::new();
    let host = PluginHost::new(
        Runtime::new().unwrap().load_reference().unwrap(),
        env.dir.path(),
    );
    let t = TenantName::new("t").unwrap();
    let err = host.call(&t, |p| p.create_record("", 1)).unwrap_err();
    assert!(matches!(err, Error::Record(_)));
    assert_eq!(host.call(&t, |p| p.create_record("fine", 1)).unwrap(), 1);
}
