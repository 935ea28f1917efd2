//! The proof that a SQLite database's own write lock is held: [`Locked`], the one
//! way to a [`Writer`](super::Writer) and to the schema's DDL (`schema.rs`).
//!
//! A [`WriteGuard`] alone proves only that *some* write lock is held. The
//! guarantee that a write happens under *this* database's lock is made by
//! [`Locked::new`], the only constructor: it pairs a connection with a guard only
//! when the guard is of the lock of the database that connection has open (the
//! lock file beside the connection's own file, checked with
//! [`WriteGuard::is_of`]), and refuses any other guard with an error. A writer
//! borrows its `Locked`, which borrows the guard, so the lock stays held for as
//! long as any statement can be run through it.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use crate::lock::{WriteGuard, WriteLock};
use crate::store::error::Error;

/// A connection to one SQLite database while that database's own write lock is
/// held.
#[derive(Clone, Copy)]
pub(crate) struct Locked<'a> {
    conn: &'a Connection,
    _held: &'a WriteGuard,
}

impl<'a> Locked<'a> {
    /// `conn` while `held` is held, when `held` is the guard of the lock of the
    /// database `conn` has open.
    ///
    /// # Errors
    /// [`Error::NotItsLock`] when `held` is another lock's guard, or `conn` has
    /// no file (and so no lock): a bug in the host, refused before any write.
    pub(crate) fn new(conn: &'a Connection, held: &'a WriteGuard) -> Result<Self, Error> {
        let own = conn
            .path()
            .filter(|path| !path.is_empty())
            .map(|path| WriteLock::for_database(Path::new(path), Duration::ZERO));
        if !own.is_some_and(|own| held.is_of(&own)) {
            return Err(Error::NotItsLock);
        }
        Ok(Self { conn, _held: held })
    }

    /// The connection, for the statements that write.
    pub(super) fn conn(&self) -> &'a Connection {
        self.conn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection to `app.db` in `dir`, and the (canonical) write lock of it.
    fn open(dir: &Path) -> (Connection, WriteLock) {
        let path = std::fs::canonicalize(dir).unwrap().join("app.db");
        let lock = WriteLock::for_database(&path, Duration::ZERO);
        (Connection::open(path).unwrap(), lock)
    }

    #[test]
    fn a_writer_cannot_be_made_with_another_databases_guard() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let ((conn_a, lock_a), (conn_b, _)) = (open(a.path()), open(b.path()));
        let held_a = lock_a.acquire("test").unwrap();
        let refused = Locked::new(&conn_b, &held_a).err();
        assert!(matches!(refused, Some(Error::NotItsLock)), "{refused:?}");
        assert!(Locked::new(&conn_a, &held_a).is_ok());
    }

    #[test]
    fn a_connection_without_a_file_has_no_lock_to_prove() {
        let dir = tempfile::tempdir().unwrap();
        let (_, lock) = open(dir.path());
        let held = lock.acquire("test").unwrap();
        let memory = Connection::open_in_memory().unwrap();
        let refused = Locked::new(&memory, &held).err();
        assert!(matches!(refused, Some(Error::NotItsLock)), "{refused:?}");
    }
}
