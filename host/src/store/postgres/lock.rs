//! The write lock on PostgreSQL: a transaction-scoped advisory lock per schema.
//!
//! Every write runs in a transaction that first takes `pg_advisory_xact_lock(key)`,
//! so the server releases the lock when the transaction ends, however it ends: a
//! commit, a rollback, the session's end (a killed host), or the server ending an
//! idle transaction at its deadline (a frozen host). A writer first tries without
//! waiting (`pg_try_advisory_xact_lock`, in the round trip that begins the
//! transaction); only when that fails does it wait, under `SET LOCAL
//! lock_timeout`, so an uncontended write costs no extra round trip and a zero
//! timeout is one attempt. Taking the lock, and the token that proves it is
//! held, are in `locked.rs`; this file has the key and who holds it.
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

use postgres::Client;
use postgres::types::Type;

use super::sql;
use crate::display::escape_control;
use crate::lock::LockStatus;

/// The high half of every records-host lock key: "RHLK".
const MAGIC: u32 = 0x5248_4C4B;

/// The lock key of `schema`, as an SQL expression that looks up the schema's OID
/// when it runs (and fails when there is no such schema).
pub(super) fn key(schema: &str) -> String {
    format!(
        "(({MAGIC}::bigint << 32) | {}::regnamespace::oid::bigint)",
        sql::literal(&sql::quote(schema))
    )
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
pub(super) fn holder(client: &mut Client, schema: &str) -> Result<String, postgres::Error> {
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
        .query_typed(sql::HOLDERS, &[(&MAGIC, Type::OID), (&schema, Type::TEXT)])?
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
