//! The record statements, each run as an unnamed statement with its parameter
//! types given (`query_typed`: Parse, Bind, Execute and Sync in one round trip).
//!
//! Named (prepared) statements live in a server session, and a connection
//! pooler in transaction mode (PgBouncer, Supavisor, the pooled endpoints of
//! managed services) hands each transaction whichever server session is free:
//! a statement prepared in one may be missing in the next, or worse, another
//! client's statement of the same name (the postgres client names them `s0`,
//! `s1`, ... on every connection) may be there, bound to another tenant's
//! table. So nothing here is kept across statements. The server plans each
//! statement anew; what that costs is in BENCHMARKS.md (PostgreSQL, poolers).

use postgres::types::Type;
use postgres::{Client, Row};

use super::sql::Text;
use crate::record_error::RecordId;

/// The record with this id.
pub(crate) fn get(
    c: &mut Client,
    text: &Text,
    id: RecordId,
) -> Result<Option<Row>, postgres::Error> {
    c.query_typed_opt(&text.get, &[(&id, Type::INT8)])
}

/// Up to `limit` records after `after`, in id order.
pub(crate) fn scan(
    c: &mut Client,
    text: &Text,
    after: RecordId,
    limit: u32,
) -> Result<Vec<Row>, postgres::Error> {
    c.query_typed(
        &text.scan,
        &[(&after, Type::INT8), (&i64::from(limit), Type::INT8)],
    )
}

/// The number of records.
pub(crate) fn count(c: &mut Client, text: &Text) -> Result<Row, postgres::Error> {
    c.query_typed_one(&text.count, &[])
}

/// Inserts a record; the row holds its id.
pub(crate) fn insert(
    c: &mut Client,
    text: &Text,
    name: &str,
    value: i64,
) -> Result<Row, postgres::Error> {
    c.query_typed_one(&text.insert, &[(&name, Type::TEXT), (&value, Type::INT8)])
}

/// Sets a record's value; how many rows changed.
pub(crate) fn update(
    c: &mut Client,
    text: &Text,
    id: RecordId,
    value: i64,
) -> Result<u64, postgres::Error> {
    c.execute_typed(&text.update, &[(&id, Type::INT8), (&value, Type::INT8)])
}

/// Removes a record; how many rows went.
pub(crate) fn delete(c: &mut Client, text: &Text, id: RecordId) -> Result<u64, postgres::Error> {
    c.execute_typed(&text.delete, &[(&id, Type::INT8)])
}
