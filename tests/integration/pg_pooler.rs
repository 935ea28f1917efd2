//! records-host through PgBouncer, in transaction pooling mode (a server session
//! per transaction, as the pooled endpoints of managed services work) and in
//! session mode: every write's lock is transaction-scoped and everything a
//! session needs is set inside its transaction, so writes stay exact, a lock
//! timeout still names its holder, and nothing relies on a server session
//! outliving a transaction.

use crate::postgres::spawn_txn_holder;
use crate::support::postgres::PoolMode;
use crate::support::*;

/// Create, read, update, delete and list, each call its own process.
fn crud(env: &Env) {
    let output = env.call(&[r#"create-record("a", 1)"#]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "ok(1)");
    assert_exit(&env.call(&[r#"create-record("b", 2)"#]), 0);
    assert_exit(&env.call(&["update-record(1, 10)"]), 0);
    assert_exit(&env.call(&["delete-record(2)"]), 0);
    let output = env.call(&["get-record(1)"]);
    assert_eq!(
        stdout(&output),
        r#"ok(some({id: 1, name: "a", value: 10}))"#
    );
    let output = env.call(&["get-all-records()"]);
    assert_eq!(stdout(&output), r#"ok([{id: 1, name: "a", value: 10}])"#);
}

/// 8 processes × 50 `increment(1, 1)`: exactly 400, and the values returned
/// are exactly 1..=400.
fn exact_increments(env: &Env) {
    const PROCESSES: usize = 8;
    const ROUNDS: usize = 50;
    let output = env.call(&[r#"create-record("counter", 0)"#]);
    assert_exit(&output, 0);
    let id = parse_ok(&stdout(&output));
    let mut seen = fan_out(PROCESSES, ROUNDS, |_, _| {
        let output = env.call(&["--lock-timeout", "30000", &format!("increment({id}, 1)")]);
        assert_exit(&output, 0);
        parse_ok(&stdout(&output))
    });
    seen.sort_unstable();
    let total = (PROCESSES * ROUNDS) as i64;
    assert_eq!(seen, (1..=total).collect::<Vec<_>>());
    assert_eq!(env.open().get(id).unwrap().unwrap().value, total);
}

/// 8 processes transfer between 5 accounts: the sum is kept, no account goes
/// negative, and the transfers that would overdraw are refused.
fn transfers_keep_the_sum(env: &Env) {
    const ACCOUNTS: i64 = 5;
    const START: i64 = 30;
    env.open()
        .write(|w| (0..ACCOUNTS).try_for_each(|i| w.insert(&format!("acct{i}"), START).map(drop)))
        .unwrap();
    let codes = fan_out(8, 15, |p, i| {
        let source = (p as i64 + i as i64) % ACCOUNTS + 1;
        let target = (source + 1 + (i as i64 % (ACCOUNTS - 1))) % ACCOUNTS + 1;
        let amount = ((p * 7 + i * 3) % 25) as i64;
        let output = env.call(&[
            "--lock-timeout",
            "30000",
            &format!("transfer({source}, {target}, {amount})"),
        ]);
        if output.status.code() == Some(1) {
            assert!(
                stdout(&output).starts_with("err(invalid("),
                "{}",
                stdout(&output)
            );
        } else {
            assert_exit(&output, 0);
        }
        output.status.code()
    });
    assert!(codes.contains(&Some(0)), "{codes:?}");
    env.assert_accounts_kept(ACCOUNTS, START);
}

/// While another process holds the tenant's lock in a write transaction, a
/// write times out with exit 75 and names the holder's process.
fn lock_timeout_names_the_holder(env: &Env) {
    assert_exit(&env.call(&[r#"create-record("x", 1)"#]), 0);
    let mut holder = spawn_txn_holder(env);
    let output = env.call(&["--lock-timeout", "300", r#"create-record("y", 2)"#]);
    assert_exit(&output, 75);
    let err = host_stderr(&output);
    assert!(
        err.contains(&format!("records-host pid:{}", holder.id())),
        "the holder named: {err}"
    );
    let status = stdout(&run(&mut env.cli("lock-status", &[])));
    assert!(
        status.starts_with("held") && status.contains(&format!("pid:{}", holder.id())),
        "{status}"
    );
    holder.kill().unwrap();
    holder.wait().unwrap();
    // The lock goes with the holder's transaction; the next write gets it.
    let output = env.call(&["--lock-timeout", "30000", r#"create-record("z", 3)"#]);
    assert_exit(&output, 0);
}

#[test]
fn through_a_transaction_pooler_crud_works() {
    let Some(env) = Env::postgres_through(PoolMode::Transaction) else {
        return;
    };
    crud(&env);
}

#[test]
fn through_a_transaction_pooler_8_x_50_increments_make_exactly_400() {
    let Some(env) = Env::postgres_through(PoolMode::Transaction) else {
        return;
    };
    exact_increments(&env);
}

#[test]
fn through_a_transaction_pooler_transfers_keep_the_sum() {
    let Some(env) = Env::postgres_through(PoolMode::Transaction) else {
        return;
    };
    transfers_keep_the_sum(&env);
}

#[test]
fn through_a_transaction_pooler_a_held_lock_times_out_with_exit_75() {
    let Some(env) = Env::postgres_through(PoolMode::Transaction) else {
        return;
    };
    lock_timeout_names_the_holder(&env);
}

#[test]
fn through_a_session_pooler_writes_are_exact_and_locks_time_out() {
    let Some(env) = Env::postgres_through(PoolMode::Session) else {
        return;
    };
    crud(&env);
    exact_increments(&env);
    lock_timeout_names_the_holder(&env);
}

/// An engine whose advisory locks are no-ops is still refused: here the
/// database's `search_path` puts a `pg_try_advisory_xact_lock` that always
/// answers true ahead of PostgreSQL's own, as such an engine would answer.
#[test]
fn an_engine_whose_transaction_locks_do_not_exclude_is_refused() {
    let Some(env) = Env::postgres() else { return };
    let pg = env.pg().unwrap();
    let (_, database) = pg.server_and_database();
    pg.client()
        .batch_execute(&format!(
            "CREATE FUNCTION public.pg_try_advisory_xact_lock(bigint) RETURNS boolean
                 LANGUAGE sql AS 'SELECT true';
             ALTER DATABASE {database} SET search_path = public, pg_catalog"
        ))
        .unwrap();
    let output = env.call(&[r#"create-record("a", 1)"#]);
    assert_exit(&output, 1);
    let err = host_stderr(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("advisory locks do not exclude"), "{err}");
    let rows: i64 = pg
        .client()
        .query_one(
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'records_host'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(rows, 0, "nothing was created");
}

/// Write transactions of many inserts prepare their statement inside the
/// transaction and close it before the transaction ends, whether it commits
/// or the plugin traps: through the transaction pooler, 8 processes whose
/// statements get the same names (each process counts from `s0`) share its
/// server sessions, and none finds another's statement left behind.
#[test]
fn through_a_transaction_pooler_many_insert_transactions_leave_no_statement_behind() {
    let Some(env) = Env::postgres_through(PoolMode::Transaction) else {
        return;
    };
    const PROCESSES: usize = 8;
    const ROUNDS: usize = 6;
    const INSERTS: usize = 20;
    let codes = fan_out(PROCESSES, ROUNDS, |p, round| {
        let trap = round % 3 == 2;
        let output = env.call(&[
            "--plugin",
            records_test_fixtures::HOSTILE,
            "--lock-timeout",
            "30000",
            &format!("insert-many(\"p{p}-r{round}-\", {INSERTS}, {trap})"),
        ]);
        if !trap {
            assert_exit(&output, 0);
        }
        assert!(
            !stderr(&output).contains("already exists"),
            "{}",
            stderr(&output)
        );
        output.status.code()
    });
    assert!(
        codes.iter().any(|code| *code != Some(0)),
        "some traps: {codes:?}"
    );
    let committed = PROCESSES * (ROUNDS - ROUNDS / 3) * INSERTS;
    assert_eq!(env.open().count().unwrap(), committed as u64);
}
