//! Write transactions: the write lock plus an `IMMEDIATE` SQLite transaction, and the
//! only place where writes exist.
//!
//! A [`WriteTxn`] owns what it needs (a handle on the connection and the lock
//! guard), so it can outlive the call that opened it: a plugin holds one as a
//! `write-txn` resource across several host calls, and an embedder can keep one in
//! a struct. However it ends, what was not committed is rolled back and then the
//! lock is released: [`commit`](WriteTxn::commit); [`rollback`](WriteTxn::rollback)
//! or drop (including an instance being dropped); an abort when its plugin traps or
//! exits (before the call returns); or its deadline passing, enforced by a
//! background reaper thread even while the holder is busy elsewhere. After an abort
//! or the deadline, every use errors.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{RecordError, RecordId};
use crate::lock::WriteGuard;
use crate::reaper::{self, Expire, Watched};
use crate::record::{Record, record_from_row};
use crate::util::locked;

/// An open write transaction, holding the cross-process write lock.
///
/// Reads through it see its own uncommitted writes. Dropping it without
/// [`commit`](Self::commit) rolls back and releases the lock.
#[must_use = "dropping a write transaction rolls it back"]
#[derive(Debug)]
pub struct WriteTxn {
    shared: Arc<TxnShared>,
}

/// The part of a transaction the reaper can reach.
#[derive(Debug)]
pub(crate) struct TxnShared {
    conn: Arc<Mutex<Connection>>,
    state: Mutex<State>,
    /// When the transaction is rolled back if still open (and the configured
    /// limit, for messages); `None` for [`Database::write`](crate::Database::write)
    /// closures, which end when the closure returns.
    deadline: Option<(Instant, Duration)>,
    /// The reaper's entry for the deadline, dropped (forgotten) when it ends.
    watched: Mutex<Option<Watched>>,
}

#[derive(Debug)]
enum State {
    /// Open: SQLite is inside `BEGIN IMMEDIATE` and we hold the lock.
    Open(WriteGuard),
    /// Rolled back by the reaper (or an abort) before its holder finished it.
    Expired(&'static str),
    /// Committed or rolled back by its holder.
    Finished,
}

/// How an open transaction ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Commit,
    Rollback,
    Expire(&'static str),
}

impl WriteTxn {
    /// Wraps a transaction that the caller has just begun on `conn` while holding
    /// `guard`, and has the reaper watch its deadline.
    pub(crate) fn begun(
        conn: Arc<Mutex<Connection>>,
        guard: WriteGuard,
        deadline: Option<(Instant, Duration)>,
    ) -> Self {
        let shared = Arc::new(TxnShared {
            conn,
            state: Mutex::new(State::Open(guard)),
            deadline,
            watched: Mutex::new(None),
        });
        if let Some((at, _)) = deadline {
            let expire: Weak<dyn Expire> = Arc::downgrade(&shared) as Weak<dyn Expire>;
            *locked(&shared.watched) = Some(reaper::watch(at, expire));
        }
        Self { shared }
    }

    pub(crate) fn shared(&self) -> &Arc<TxnShared> {
        &self.shared
    }

    /// When the host rolls this transaction back if it is still open.
    pub fn deadline(&self) -> Option<Instant> {
        self.shared.deadline.map(|(at, _)| at)
    }

    /// The record with this id as this transaction sees it (its own writes included).
    ///
    /// # Errors
    /// [`RecordError::Storage`] when SQLite fails; [`RecordError::Invalid`] when the
    /// transaction passed its deadline and was rolled back.
    pub fn get(&self, id: RecordId) -> Result<Option<Record>, RecordError> {
        self.with_conn(|conn, _| {
            Ok(conn
                .prepare_cached("SELECT id, name, value FROM records WHERE id = ?1")?
                .query_row(params![id], record_from_row)
                .optional()?)
        })
    }

    /// Stores a new record and returns its id.
    ///
    /// # Errors
    /// As [`get`](Self::get).
    pub fn insert(&self, name: &str, value: i64) -> Result<RecordId, RecordError> {
        self.with_conn(|conn, held| insert(conn, held, name, value))
    }

    /// Sets the value of record `id`.
    ///
    /// # Errors
    /// [`RecordError::NotFound`] when no record has this id; otherwise as
    /// [`get`](Self::get).
    pub fn update(&self, id: RecordId, value: i64) -> Result<(), RecordError> {
        self.with_conn(|conn, held| update(conn, held, id, value))
    }

    /// Removes record `id`.
    ///
    /// # Errors
    /// As [`update`](Self::update).
    pub fn delete(&self, id: RecordId) -> Result<(), RecordError> {
        self.with_conn(|conn, held| delete(conn, held, id))
    }

    /// Commits, then releases the lock.
    ///
    /// # Errors
    /// [`RecordError::Storage`] when SQLite cannot commit (the transaction is rolled
    /// back); [`RecordError::Invalid`] when it had passed its deadline and was
    /// already rolled back. The lock is released either way.
    pub fn commit(self) -> Result<(), RecordError> {
        self.shared.end(End::Commit)
    }

    /// Rolls back, then releases the lock (what dropping the transaction does, with
    /// the outcome reported).
    ///
    /// # Errors
    /// [`RecordError::Invalid`] when the transaction had passed its deadline and was
    /// already rolled back.
    pub fn rollback(self) -> Result<(), RecordError> {
        self.shared.end(End::Rollback)
    }

    fn with_conn<T>(
        &self,
        op: impl FnOnce(&Connection, &WriteGuard) -> Result<T, RecordError>,
    ) -> Result<T, RecordError> {
        let state = locked(&self.shared.state);
        match &*state {
            State::Open(_) if self.shared.past_deadline() => {
                drop(state);
                self.shared.expire();
                Err(self.shared.expired_error("deadline"))
            }
            State::Open(guard) => op(&locked(&self.shared.conn), guard),
            State::Expired(why) => Err(self.shared.expired_error(why)),
            State::Finished => Err(RecordError::Invalid(
                "the write transaction has already ended".into(),
            )),
        }
    }
}

impl Drop for WriteTxn {
    fn drop(&mut self) {
        // Already ended by commit or rollback: nothing to do.
        let _ = self.shared.end(End::Rollback);
    }
}

impl Expire for TxnShared {
    /// Rolls the transaction back and releases the lock if it is still open, and
    /// makes every later use fail. Called by the reaper at the deadline.
    fn expire(&self) {
        if self.end(End::Expire("deadline")).is_ok() {
            tracing::warn!(
                deadline_ms = self
                    .deadline
                    .map_or(0, |(_, limit)| limit.as_millis() as u64),
                "write transaction passed its deadline: rolled back, lock released"
            );
        }
    }
}

impl TxnShared {
    /// Rolls the transaction back and releases the lock if it is still open, because
    /// its plugin trapped or exited.
    pub(crate) fn abort(&self) {
        if self.end(End::Expire("abort")).is_ok() {
            tracing::warn!("write transaction of a failed plugin call rolled back, lock released");
        }
    }

    fn past_deadline(&self) -> bool {
        self.deadline.is_some_and(|(at, _)| Instant::now() >= at)
    }

    fn expired_error(&self, why: &str) -> RecordError {
        RecordError::Invalid(match (why, self.deadline) {
            ("deadline", Some((_, limit))) => format!(
                "the write transaction passed its {} ms deadline and was rolled back",
                limit.as_millis()
            ),
            _ => "the write transaction was rolled back because its plugin call failed".into(),
        })
    }

    /// Ends an open transaction: SQL first, then the lock (the guard is dropped
    /// last). `Err` when it was not open.
    fn end(&self, end: End) -> Result<(), RecordError> {
        let mut state = locked(&self.state);
        let next = match end {
            End::Expire(why) => State::Expired(why),
            End::Commit | End::Rollback => State::Finished,
        };
        let guard = match std::mem::replace(&mut *state, next) {
            State::Open(guard) => guard,
            State::Expired(why) => {
                *state = State::Expired(why);
                return Err(self.expired_error(why));
            }
            State::Finished => {
                return Err(RecordError::Invalid(
                    "the write transaction has already ended".into(),
                ));
            }
        };
        let conn = locked(&self.conn);
        let result = if end == End::Commit && !self.past_deadline() {
            conn.prepare_cached("COMMIT")
                .and_then(|mut commit| commit.execute([]))
                .map(drop)
                .map_err(RecordError::from)
        } else if end == End::Commit {
            *state = State::Expired("deadline");
            Err(self.expired_error("deadline"))
        } else {
            Ok(())
        };
        if !conn.is_autocommit() {
            // Not committed (rollback, expiry, or a failed COMMIT): undo it all.
            if let Err(e) = conn
                .prepare_cached("ROLLBACK")
                .and_then(|mut rollback| rollback.execute([]))
            {
                tracing::error!(error = %e, "rollback failed");
            }
        }
        drop(conn);
        drop(guard);
        locked(&self.watched).take();
        result
    }
}

/// The write statements. Each takes the lock guard as proof that the caller holds
/// the write lock: there is no way to call one without it.
pub(crate) fn insert(
    conn: &Connection,
    _held: &WriteGuard,
    name: &str,
    value: i64,
) -> Result<RecordId, RecordError> {
    conn.prepare_cached("INSERT INTO records (name, value) VALUES (?1, ?2)")?
        .execute(params![name, value])?;
    Ok(conn.last_insert_rowid())
}

pub(crate) fn update(
    conn: &Connection,
    _held: &WriteGuard,
    id: RecordId,
    value: i64,
) -> Result<(), RecordError> {
    let changed = conn
        .prepare_cached("UPDATE records SET value = ?2 WHERE id = ?1")?
        .execute(params![id, value])?;
    found(changed, id)
}

pub(crate) fn delete(
    conn: &Connection,
    _held: &WriteGuard,
    id: RecordId,
) -> Result<(), RecordError> {
    let changed = conn
        .prepare_cached("DELETE FROM records WHERE id = ?1")?
        .execute(params![id])?;
    found(changed, id)
}

fn found(changed: usize, id: RecordId) -> Result<(), RecordError> {
    if changed == 0 {
        Err(RecordError::NotFound(id))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
