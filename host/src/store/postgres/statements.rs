//! The record statements, each run as an unnamed statement with its parameter
//! types given (`query_typed`: Parse, Bind, Execute and Sync in one round trip).
//!
//! Named (prepared) statements live in a server session, and a connection
//! pooler in transaction mode (PgBouncer, Supavisor, the pooled endpoints of
//! managed services) hands each transaction whichever server session is free:
//! a statement prepared in one may be missing in the next, or worse, another
//! client's statement of the same name (the postgres client names them `s0`,
//! `s1`, ... on every connection) may be there, bound to another tenant's
//! table. So nothing here is kept across transactions: the server plans each
//! statement anew (what that costs is in BENCHMARKS.md, PostgreSQL, poolers).
//! Inside one write transaction, which keeps its server session even behind a
//! pooler, a statement run often is prepared once and closed before the
//! transaction ends ([`Reuse`]).

use postgres::types::{ToSql, Type};
use postgres::{Client, Row, Statement};

use super::sql::Text;
use crate::record_error::RecordId;

/// A record statement that a write transaction may run often.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Get,
    Insert,
    Update,
    Delete,
}

impl Kind {
    fn text(self, text: &Text) -> &str {
        match self {
            Self::Get => &text.get,
            Self::Insert => &text.insert,
            Self::Update => &text.update,
            Self::Delete => &text.delete,
        }
    }

    fn types(self) -> &'static [Type] {
        match self {
            Self::Get | Self::Delete => &[Type::INT8],
            Self::Insert => &[Type::TEXT, Type::INT8],
            Self::Update => &[Type::INT8, Type::INT8],
        }
    }
}

/// The statements one write transaction prepared, by [`Kind`]: a statement is
/// sent unnamed for its first runs in the transaction, then prepared for the
/// rest of it (preparing costs a round trip, and saves the planning of every
/// later run). [`Reuse::clear`] closes them; it must run before the transaction
/// ends, so that the `Close` reaches the server session that prepared them (the
/// client sends it when the statement is dropped, ahead of anything sent
/// later), never a session a pooler lends to another client next.
#[derive(Default)]
pub(crate) struct Reuse {
    uses: [u32; 4],
    prepared: [Option<Statement>; 4],
}

impl Reuse {
    /// The run of a statement in a transaction at which it is prepared.
    const PREPARE_AT: u32 = 3;

    /// The prepared statement of `kind`, once it has been run often enough in
    /// this transaction; `None` before (run it unnamed).
    fn statement(
        &mut self,
        c: &mut Client,
        kind: Kind,
        text: &Text,
    ) -> Result<Option<Statement>, postgres::Error> {
        let i = kind as usize;
        if let Some(statement) = &self.prepared[i] {
            return Ok(Some(statement.clone()));
        }
        self.uses[i] += 1;
        if self.uses[i] < Self::PREPARE_AT {
            return Ok(None);
        }
        let statement = c.prepare_typed(kind.text(text), kind.types())?;
        self.prepared[i] = Some(statement.clone());
        Ok(Some(statement))
    }

    /// Closes the prepared statements (before the transaction ends).
    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }
}

/// The parameters of a statement.
type Params<'p> = [&'p (dyn ToSql + Sync)];

/// The parameters of an unnamed statement, each with its type.
type Typed<'p> = [(&'p (dyn ToSql + Sync), Type)];

/// How a statement's rows come back: through a prepared statement, or unnamed.
struct Way<T> {
    prepared: fn(&mut Client, &Statement, &Params<'_>) -> Result<T, postgres::Error>,
    unnamed: fn(&mut Client, &str, &Typed<'_>) -> Result<T, postgres::Error>,
}

/// Runs `kind` with `params`: prepared when `reuse` says so, else unnamed.
fn run<T>(
    c: &mut Client,
    text: &Text,
    reuse: Option<&mut Reuse>,
    kind: Kind,
    params: &Params<'_>,
    way: &Way<T>,
) -> Result<T, postgres::Error> {
    let statement = match reuse {
        Some(reuse) => reuse.statement(c, kind, text)?,
        None => None,
    };
    match statement {
        Some(statement) => (way.prepared)(c, &statement, params),
        None => {
            let typed: Vec<(&(dyn ToSql + Sync), Type)> = params
                .iter()
                .zip(kind.types())
                .map(|(param, ty)| (*param, ty.clone()))
                .collect();
            (way.unnamed)(c, kind.text(text), &typed)
        }
    }
}

/// A statement that returns at most one row.
const OPTIONAL_ROW: Way<Option<Row>> = Way {
    prepared: |c, s, p| c.query_opt(s, p),
    unnamed: |c, q, p| c.query_typed_opt(q, p),
};

/// A statement that returns one row.
const ONE_ROW: Way<Row> = Way {
    prepared: |c, s, p| c.query_one(s, p),
    unnamed: |c, q, p| c.query_typed_one(q, p),
};

/// A statement that returns how many rows it changed.
const CHANGES: Way<u64> = Way {
    prepared: |c, s, p| c.execute(s, p),
    unnamed: |c, q, p| c.execute_typed(q, p),
};

/// The record with this id.
pub(crate) fn get(
    c: &mut Client,
    text: &Text,
    reuse: Option<&mut Reuse>,
    id: RecordId,
) -> Result<Option<Row>, postgres::Error> {
    run(c, text, reuse, Kind::Get, &[&id], &OPTIONAL_ROW)
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
    reuse: Option<&mut Reuse>,
    name: &str,
    value: i64,
) -> Result<Row, postgres::Error> {
    run(c, text, reuse, Kind::Insert, &[&name, &value], &ONE_ROW)
}

/// Sets a record's value; how many rows changed.
pub(crate) fn update(
    c: &mut Client,
    text: &Text,
    reuse: Option<&mut Reuse>,
    id: RecordId,
    value: i64,
) -> Result<u64, postgres::Error> {
    run(c, text, reuse, Kind::Update, &[&id, &value], &CHANGES)
}

/// Removes a record; how many rows went.
pub(crate) fn delete(
    c: &mut Client,
    text: &Text,
    reuse: Option<&mut Reuse>,
    id: RecordId,
) -> Result<u64, postgres::Error> {
    run(c, text, reuse, Kind::Delete, &[&id], &CHANGES)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::PgStore;
    use super::super::test_server::Schemas;

    /// How many statements the session of `client` has prepared.
    fn prepared_in(client: &mut postgres::Client) -> String {
        client
            .simple_query("SELECT count(*) FROM pg_prepared_statements")
            .unwrap()
            .iter()
            .find_map(|m| match m {
                postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn a_write_transaction_prepares_what_it_runs_often_and_closes_it_before_it_ends() {
        let Some(schemas) = Schemas::create(1) else {
            return;
        };
        let location = &schemas.locations[0];
        let timeout = Duration::from_secs(10);
        let store =
            PgStore::open(location, "test", timeout, Duration::from_secs(60), None).unwrap();
        assert_eq!(store.read(|c, _| Ok(prepared_in(c))).unwrap(), "0");
        let txn = store.begin(None, None).unwrap();
        for i in 0..10 {
            txn.with_writer(|w| w.insert("x", i)).unwrap();
        }
        let during = txn
            .with_writer(|w| Ok(prepared_in(w.locked_client().0)))
            .unwrap();
        assert_eq!(during, "1", "the insert, prepared once in the transaction");
        txn.commit().unwrap();
        assert_eq!(
            store.read(|c, _| Ok(prepared_in(c))).unwrap(),
            "0",
            "closed before the commit: nothing left for a pooler's next client"
        );
        assert_eq!(store.count().unwrap(), 10);
        // A single write prepares nothing.
        store.write_one(None, |w| w.insert("y", 1)).unwrap();
        assert_eq!(store.read(|c, _| Ok(prepared_in(c))).unwrap(), "0");
    }
}
