//! The [`Locked`] token against a real server: its transaction holds the
//! schema's advisory lock for as long as it lives, and it lends its client to
//! no schema but its own, so a [`Writer`] cannot be made for another schema.
//!
//! They need the server `RECORDS_HOST_TEST_POSTGRES` names (`.ci/postgres-cluster
//! start DIR` prints one); without it they are skipped with a notice, unless
//! `RECORDS_HOST_REQUIRE_POSTGRES` is set, which makes a skip a failure.

use super::super::Writer;
use super::super::connection::{ConnHandle, PgConn};
use super::super::lock::key;
use super::super::sql::{Text, quote};
use super::super::test_server::Schemas;
use super::*;

/// Taking `schema`'s lock, waiting up to ten seconds.
fn acquire<'a>(schema: &'a str, metrics: &'a Metrics) -> Acquire<'a> {
    Acquire {
        schema,
        timeout: Duration::from_secs(10),
        call_deadline: None,
        idle_timeout: None,
        size_of: None,
        app_name: None,
        metrics,
    }
}

/// Whether `other` gets `schema`'s lock now (released again at once: the
/// statement is its own transaction).
fn free(other: &mut Client, schema: &str) -> bool {
    other
        .query_one(
            &format!("SELECT pg_try_advisory_xact_lock({})", key(schema)),
            &[],
        )
        .and_then(|row| row.try_get(0))
        .expect("try the lock")
}

#[test]
fn a_token_holds_its_schemas_lock_until_it_commits_rolls_back_or_drops() {
    let Some(schemas) = Schemas::create(1) else {
        return;
    };
    let schema = schemas.locations[0].schema();
    let metrics = Metrics::default();
    let mut client = schemas.client();
    let mut other = schemas.client();
    assert!(free(&mut other, schema));

    let lock = Locked::take(&mut client, &acquire(schema, &metrics)).expect("take the lock");
    assert!(!free(&mut other, schema), "held while the token lives");
    lock.commit().expect("commit");
    assert!(free(&mut other, schema), "released by the commit");

    let lock = Locked::take(&mut client, &acquire(schema, &metrics)).expect("take the lock");
    assert!(!free(&mut other, schema));
    lock.rollback().expect("roll back");
    assert!(free(&mut other, schema), "released by the rollback");

    let lock = Locked::take(&mut client, &acquire(schema, &metrics)).expect("take the lock");
    assert!(!free(&mut other, schema));
    drop(lock);
    assert!(
        free(&mut other, schema),
        "released when the token is dropped"
    );
}

#[test]
fn a_parked_token_holds_the_lock_across_uses_until_it_ends() {
    let Some(schemas) = Schemas::create(1) else {
        return;
    };
    let location = &schemas.locations[0];
    let schema = location.schema();
    let metrics = Metrics::default();
    let conn = Arc::new(Mutex::new(ConnHandle::Owned(
        PgConn::connect(location, "test").expect("connect"),
    )));
    let mut other = schemas.client();
    let take = || {
        let mut guard = locked(&conn);
        let lock = Locked::take(&mut guard.client, &acquire(schema, &metrics)).expect("lock");
        lock.park(conn.clone())
    };

    let parked = take();
    parked
        .with(|lock| Ok(lock.client_for(schema)?.batch_execute("SELECT 1")))
        .expect("a lent token")
        .expect("a statement in the transaction");
    assert!(
        !free(&mut other, schema),
        "held after a lent token is dropped"
    );
    parked.commit().expect("commit");
    assert!(free(&mut other, schema), "released by the commit");

    let parked = take();
    assert!(!free(&mut other, schema));
    parked.rollback();
    assert!(free(&mut other, schema), "released by the rollback");

    let parked = take();
    assert!(!free(&mut other, schema));
    drop(parked);
    assert!(free(&mut other, schema), "released when dropped");
}

#[test]
fn a_token_writes_only_the_schema_it_locked() {
    let Some(schemas) = Schemas::create(2) else {
        return;
    };
    let (a, b) = (&schemas.locations[0], &schemas.locations[1]);
    let metrics = Metrics::default();
    let mut conn = PgConn::connect(a, "test").expect("connect");
    let mut setup = schemas.client();
    for location in [a, b] {
        setup
            .batch_execute(&Text::for_schema(location.schema()).create)
            .expect("create the tables");
    }
    let text_a = Text::for_schema(a.schema());
    let text_b = Text::for_schema(b.schema());
    let mut other = schemas.client();

    let mut lock = Locked::take(&mut conn.client, &acquire(a.schema(), &metrics)).expect("lock");
    assert!(!free(&mut other, a.schema()));
    assert!(free(&mut other, b.schema()), "only a's lock is held");
    let refused = Writer::new(&mut lock, &text_b, b, None).map(|_| ());
    assert!(
        matches!(&refused, Err(RecordError::Storage(_))),
        "a writer of b under a's lock: {refused:?}"
    );
    assert!(lock.client_for(b.schema()).is_err());
    let id = Writer::new(&mut lock, &text_a, a, None)
        .and_then(|mut writer| writer.insert("x", 1))
        .expect("a writer of a under a's lock");
    lock.commit().expect("commit");

    let mut count = |schema: &str| -> i64 {
        setup
            .query_one(
                &format!("SELECT count(*) FROM {}.records", quote(schema)),
                &[],
            )
            .and_then(|row| row.try_get(0))
            .expect("count")
    };
    assert_eq!(count(a.schema()), 1, "record {id} written in a");
    assert_eq!(count(b.schema()), 0, "nothing written in b");
}
