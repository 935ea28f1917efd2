//! The write lock on PostgreSQL: a transaction-scoped advisory lock per schema.
//!
//! Every write runs in a transaction that first takes `pg_advisory_xact_lock(key)`,
//! so the server releases the lock when the transaction ends, however it ends: a
//! commit, a rollback, the session's end (a killed host), or the server ending an
//! idle transaction at its deadline (a frozen host). A writer first tries without
//! waiting (`pg_try_advisory_xact_lock`, in the round trip that begins the
//! transaction); only when that fails does it wait, under `SET LOCAL
//! lock_timeout`, so an uncontended write costs no extra round trip and a zero
//! timeout is one attempt.
//!
//! The key of a schema is the `bigint` `(MAGIC << 32) | oid`, where `oid` is the
//! schema's `pg_namespace.oid`; `pg_locks` shows it as `classid = MAGIC`, `objid =
//! <the schema's OID>`, `objsubid = 1`. Two schemas never share a key: an OID
//! is a 32-bit value, so the key holds it whole, and `pg_namespace.oid` is the
//! primary key of a database's schemas; advisory locks belong to one database, so
//! schemas of other databases do not meet. One lock per schema, so tenants (a
//! schema each, `location::tenant_schema`) never wait for each other. `MAGIC`
//! keeps records-host's keys apart from other applications' in the same database
//! unless one of them uses the same tag.
//!
//! The OID is looked up by the statement that takes the lock, every time (not
//! once when the store opens): a schema dropped and created again under a new
//! OID is locked under that OID by every host. A schema that does not exist has
//! no key: the statement fails (`invalid_schema_name`) and no lock is taken, so a
//! writer never goes on without the lock; `schema.rs` creates the schema before
//! it takes the lock to create the tables.
//!
//! Every host that shares a database must run the same version of records-host:
//! releases before this one derived the key from a hash of the database and
//! schema names, so an older host and a newer one would not exclude each other.

use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::{Client, SimpleQueryMessage};

use super::sql;
use crate::display::escape_control;
use crate::lock::{LockStatus, LockTimeout, Metrics};

/// The high half of every records-host lock key: "RHLK".
const MAGIC: u32 = 0x5248_4C4B;

/// The lock key of `schema`, as an SQL expression that looks up the schema's OID
/// when it runs (and fails when there is no such schema).
fn key(schema: &str) -> String {
    format!(
        "(({MAGIC}::bigint << 32) | {}::regnamespace::oid::bigint)",
        sql::literal(&sql::quote(schema))
    )
}

/// What taking the lock needs to know.
pub(crate) struct Acquire<'a> {
    /// The schema whose lock to take.
    pub(crate) schema: &'a str,
    /// The lock timeout.
    pub(crate) timeout: Duration,
    /// Give up here if it comes before the timeout (the plugin call's deadline).
    pub(crate) cap: Option<Instant>,
    /// For a write transaction: the server ends the transaction if it stays idle
    /// this long (the host's deadline, kept even if the host freezes).
    pub(crate) idle_deadline: Option<Duration>,
    /// The table whose size to read once the lock is held (for the size limit),
    /// as a quoted, schema-qualified name; read in the same round trip.
    pub(crate) size_of: Option<&'a str>,
    pub(crate) metrics: &'a Metrics,
}

/// Begins a transaction on `client` and takes the lock in it; returns the size of
/// `acquire.size_of` then, when asked.
///
/// # Errors
/// [`LockFailure::TimedOut`] (the transaction rolled back) when the lock was held
/// until the deadline, naming who holds it; [`LockFailure::Statement`] otherwise
/// (the transaction rolled back).
pub(crate) fn begin_locked(
    client: &mut Client,
    acquire: &Acquire<'_>,
) -> Result<Option<u64>, LockFailure> {
    let start = Instant::now();
    let deadline = start
        .checked_add(acquire.timeout)
        .map_or(acquire.cap, |at| {
            Some(acquire.cap.map_or(at, |cap| cap.min(at)))
        });
    let idle = acquire.idle_deadline.map_or_else(String::new, |d| {
        format!(
            "SET LOCAL idle_in_transaction_session_timeout = {}; ",
            d.as_millis().clamp(1, i32::MAX as u128)
        )
    });
    let size = acquire.size_of.map_or_else(String::new, |table| {
        format!(", pg_total_relation_size('{}')", table.replace('\'', "''"))
    });
    let key = key(acquire.schema);
    let first = client.simple_query(&format!(
        "BEGIN; {idle}SELECT pg_try_advisory_xact_lock({key}){size}"
    ));
    match first.map(|messages| last_row(&messages)) {
        Ok(Some((got, size))) if got == "t" => {
            acquire.metrics.record(start.elapsed(), false);
            return Ok(size);
        }
        Ok(_) => {}
        Err(e) => return Err(rollback(client, LockFailure::Statement(e))),
    }
    let remaining = deadline.map(|at| at.saturating_duration_since(Instant::now()));
    if remaining.is_some_and(|left| left.as_millis() == 0) {
        let _ = client.batch_execute("ROLLBACK");
        return Err(timed_out(client, acquire, start));
    }
    let wait = match remaining {
        Some(left) => format!(
            "SET LOCAL lock_timeout = {}; ",
            left.as_millis().clamp(1, i32::MAX as u128)
        ),
        None => String::new(),
    };
    match client.simple_query(&format!("{wait}SELECT pg_advisory_xact_lock({key}){size}")) {
        Ok(messages) => {
            acquire.metrics.record(start.elapsed(), true);
            Ok(last_row(&messages).and_then(|(_, size)| size))
        }
        Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => {
            // The transaction is aborted; roll it back before asking who holds it.
            let _ = client.batch_execute("ROLLBACK");
            Err(timed_out(client, acquire, start))
        }
        Err(e) => Err(rollback(client, LockFailure::Statement(e))),
    }
}

/// Why the lock was not taken.
#[derive(Debug)]
pub(crate) enum LockFailure {
    TimedOut(LockTimeout),
    Statement(postgres::Error),
}

fn timed_out(client: &mut Client, acquire: &Acquire<'_>, start: Instant) -> LockFailure {
    acquire.metrics.record_timeout();
    LockFailure::TimedOut(LockTimeout {
        waited: start.elapsed(),
        holder: holder(client, acquire.schema).unwrap_or_else(|_| "unknown".into()),
    })
}

fn rollback(client: &mut Client, failure: LockFailure) -> LockFailure {
    let _ = client.batch_execute("ROLLBACK");
    failure
}

/// Whether the lock of `schema` is held now, and by whom (with the holder's
/// client address when `with_address`: for the operator, not for tenants). Takes
/// no lock (and a schema that does not exist has no holder).
pub(crate) fn status(
    client: &mut Client,
    schema: &str,
    with_address: bool,
) -> Result<LockStatus, postgres::Error> {
    let holders = holders(client, schema, with_address)?;
    Ok(match holders.into_iter().next() {
        Some(holder) => LockStatus::Held { holder },
        None => LockStatus::Free,
    })
}

/// Who holds the lock of `schema` now, in one line: what a lock timeout says,
/// which reaches plugins and tenants, so without the holder's client address.
fn holder(client: &mut Client, schema: &str) -> Result<String, postgres::Error> {
    Ok(holders(client, schema, false)?
        .into_iter()
        .next()
        .unwrap_or_else(|| {
            "none now (the holder released the lock while it was being looked up)".into()
        }))
}

/// The sessions holding the lock of `schema` (at most one), described as
/// `pid:<backend pid> app:<application_name> held:<seconds>s`, with `
/// client:<address>` after the application name when `with_address`; the
/// application name of a records-host session names its host's pid and plugin.
fn holders(
    client: &mut Client,
    schema: &str,
    with_address: bool,
) -> Result<Vec<String>, postgres::Error> {
    client
        .query(sql::HOLDERS, &[&MAGIC, &schema])?
        .iter()
        .map(|row| {
            let pid: i32 = row.try_get(0)?;
            let app: String = row.try_get(1)?;
            let client_addr: String = row.try_get(2)?;
            let held: f64 = row.try_get(3)?;
            let address = if with_address {
                format!(" client:{client_addr}")
            } else {
                String::new()
            };
            Ok(escape_control(&format!(
                "pid:{pid} app:\"{app}\"{address} held:{held:.3}s"
            )))
        })
        .collect()
}

/// The last row of a simple query's results: its first value, and its second as
/// a number when there is one.
fn last_row(messages: &[SimpleQueryMessage]) -> Option<(String, Option<u64>)> {
    messages.iter().rev().find_map(|message| match message {
        SimpleQueryMessage::Row(row) => Some((
            row.get(0).unwrap_or_default().to_string(),
            row.try_get(1)
                .ok()
                .flatten()
                .and_then(|size| size.parse().ok()),
        )),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_the_tag_and_the_oid_of_the_schema_named_by_a_quoted_literal() {
        assert_eq!(
            key("rh_acme"),
            "((1380469835::bigint << 32) | E'\"rh_acme\"'::regnamespace::oid::bigint)"
        );
        assert_eq!(
            key("A'b\"c\\"),
            "((1380469835::bigint << 32) | E'\"A''b\"\"c\\\\\"'::regnamespace::oid::bigint)"
        );
    }
}
