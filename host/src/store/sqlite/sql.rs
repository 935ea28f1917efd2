//! The SQL text of the SQLite store, once.

/// The table, as migration 1 creates it (and as `schema.rs` recognizes it).
pub(crate) const CREATE_TABLE: &str =
    "CREATE TABLE records (id INTEGER PRIMARY KEY, name TEXT NOT NULL, value INTEGER NOT NULL)";

pub(crate) const GET: &str = "SELECT id, name, value FROM records WHERE id = ?1";
pub(crate) const SCAN: &str =
    "SELECT id, name, value FROM records WHERE id > ?1 ORDER BY id LIMIT ?2";
pub(crate) const COUNT: &str = "SELECT count(*) FROM records";
pub(crate) const INSERT: &str = "INSERT INTO records (name, value) VALUES (?1, ?2)";
pub(crate) const UPDATE: &str = "UPDATE records SET value = ?2 WHERE id = ?1";
pub(crate) const DELETE: &str = "DELETE FROM records WHERE id = ?1";
pub(crate) const BEGIN: &str = "BEGIN IMMEDIATE";
pub(crate) const COMMIT: &str = "COMMIT";
pub(crate) const ROLLBACK: &str = "ROLLBACK";
