//! Which SQLite databases are records-host's, and bringing one up to date.
//!
//! A records-host database says so in its header: `PRAGMA application_id` is
//! [`APPLICATION_ID`] and `PRAGMA user_version` the schema version. Opening a path
//! must never modify another application's database, so the checks only read, and
//! the schema is created only in an empty database. Databases made before the
//! application id was set (version 1, exactly the `records` table, id 0) are
//! adopted. Anything else is refused and left byte-identical: no WAL switch, no
//! table, no header change happens before the checks pass. Writing the schema, the
//! id and the WAL switch happens under the write lock, and only when needed: they
//! take the same proof of the database's own lock as every write (`locked.rs`).

use std::path::Path;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::locked::Locked;
use crate::display::escape_control;
use crate::lock::WriteLock;
use crate::store::error::Error;

/// `RHDB`: the application id of every records-host database.
pub const APPLICATION_ID: i32 = i32::from_be_bytes(*b"RHDB");

/// Schema migrations; `PRAGMA user_version` is the number applied so far.
/// 1: the records; 2: the deployed versions (`deploy.rs`).
const MIGRATIONS: &[&str] = &[super::sql::CREATE_TABLE, super::deploy::CREATE_TABLES];

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// What a database file holds, as far as records-host is concerned.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    /// Marked as records-host's, at this schema version.
    Ours { version: u32 },
    /// No schema objects and no header marks: records-host may create its own.
    Empty,
    /// Made by records-host before databases carried the application id.
    Unmarked { version: u32 },
    /// Someone else's; the text says what it holds.
    Foreign(String),
}

/// Refuses a database that is not records-host's, and, under the lock, creates or
/// migrates the schema, marks the file and switches it to WAL when needed. An
/// existing, current database is opened without taking the lock.
///
/// # Errors
/// [`Error::Foreign`] or [`Error::NewerSchema`] (nothing was written);
/// [`Error::Unusable`] when the file cannot be switched to WAL; [`Error::Sqlite`]
/// when SQLite fails; [`Error::LockTimeout`] when the lock needed to prepare the
/// file is held.
pub(crate) fn prepare(
    conn: &Connection,
    lock: &WriteLock,
    label: &str,
    path: &Path,
) -> Result<(), Error> {
    let (version, marked) = checked_version(conn, path)?;
    let mode: String = conn.pragma_query_value(None, "journal_mode", |row| row.get(0))?;
    if mode.eq_ignore_ascii_case("wal") && version == SCHEMA_VERSION && marked {
        return Ok(());
    }
    let held = lock.acquire(label)?;
    migrate(Locked::new(conn, &held)?, path)
}

/// Under the lock: creates or migrates the schema, marks the file and switches it
/// to WAL, as far as another process has not done it while this one waited.
fn migrate(locked: Locked<'_>, path: &Path) -> Result<(), Error> {
    let conn = locked.conn();
    let (version, _) = checked_version(conn, path)?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Unusable {
            why: format!("cannot switch to WAL (journal_mode is {mode})"),
            at: escape_control(&path.display().to_string()),
        });
    }
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    for (applied, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(migration)?;
        tx.pragma_update(None, "user_version", applied as i64 + 1)?;
        tracing::info!(db = %path.display(), version = applied + 1, "schema migrated");
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    tx.commit()?;
    Ok(())
}

/// The schema version of a database records-host may use, and whether it is
/// marked as records-host's.
///
/// # Errors
/// [`Error::Foreign`] or [`Error::NewerSchema`].
fn checked_version(conn: &Connection, path: &Path) -> Result<(u32, bool), Error> {
    let (version, marked) = match classify(conn)? {
        Kind::Ours { version } => (version, true),
        Kind::Unmarked { version } => (version, false),
        Kind::Empty => (0, false),
        Kind::Foreign(what) => {
            return Err(Error::Foreign {
                what,
                at: escape_control(&path.display().to_string()),
            });
        }
    };
    if version > SCHEMA_VERSION {
        return Err(Error::NewerSchema {
            found: version,
            supported: SCHEMA_VERSION,
            at: escape_control(&path.display().to_string()),
        });
    }
    Ok((version, marked))
}

/// Reads (and only reads) what kind of database `conn` has open, from one
/// snapshot: the marks and the tables are read in one read transaction, so a
/// schema another opener commits meanwhile is seen whole or not at all.
fn classify(conn: &Connection) -> Result<Kind, Error> {
    // Rolled back on drop: it only reads.
    let snapshot = Transaction::new_unchecked(conn, TransactionBehavior::Deferred)?;
    classify_in(&snapshot)
}

fn classify_in(conn: &Connection) -> Result<Kind, Error> {
    let id: i32 = conn.pragma_query_value(None, "application_id", |row| row.get(0))?;
    let version: u32 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if id == APPLICATION_ID {
        return Ok(Kind::Ours { version });
    }
    let objects: Vec<(String, String, Option<String>)> = conn
        .prepare("SELECT type, name, sql FROM sqlite_schema ORDER BY name")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
        .collect::<Result<_, _>>()?;
    if id == 0 && version == 0 && objects.is_empty() {
        return Ok(Kind::Empty);
    }
    let unmarked = id == 0
        && version == 1
        && matches!(objects.as_slice(), [(kind, name, Some(sql))]
            if kind == "table" && name == "records" && sql == MIGRATIONS[0]);
    if unmarked {
        return Ok(Kind::Unmarked { version });
    }
    let names: Vec<String> = objects
        .iter()
        .map(|(kind, name, _)| format!("{kind} {name}"))
        .collect();
    Ok(Kind::Foreign(format!(
        "application_id {id:#x}, user_version {version}, {}",
        if names.is_empty() {
            "no tables".to_string()
        } else {
            names.join(", ")
        }
    )))
}
