//! Write transactions, on either backend: the write lock held for several writes
//! that commit together or not at all.
//!
//! A [`WriteTxn`] owns what it needs (the backend's open transaction, which holds
//! the lock), so it can outlive the call that opened it: a plugin holds one as a
//! `write-txn` resource across several host calls, and an embedder can keep one in
//! a struct. However it ends, what was not committed is rolled back and the lock is
//! released: [`commit`](WriteTxn::commit); [`rollback`](WriteTxn::rollback) or
//! drop (including an instance being dropped); an abort when its plugin traps or is
//! stopped (before the call returns); or its deadline passing, enforced by a
//! background reaper thread even while the holder is busy elsewhere (and, on
//! PostgreSQL, by the server too). After an abort or the deadline, every use errors.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use super::writer::Writer;
use super::{postgres, sqlite};
use crate::record_error::{RecordError, RecordId};
use crate::store::reaper::{self, Expire, Watched};
use crate::store::record::Record;
use crate::sync::locked;

/// An open write transaction, holding the write lock.
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
    state: Mutex<State>,
    /// When the transaction is rolled back if still open (and the configured
    /// limit, for messages); `None` for [`Database::write`](crate::Database::write)
    /// closures, which end when the closure returns.
    deadline: Option<(Instant, Duration)>,
    /// The reaper's entry for the deadline, dropped (forgotten) when it ends.
    watched: Mutex<Option<Watched>>,
}

/// A backend's open transaction, holding its lock.
#[derive(Debug)]
pub(crate) enum BackendTxn {
    Sqlite(sqlite::Txn),
    Postgres(postgres::Txn),
}

impl BackendTxn {
    fn with_writer<T>(
        &self,
        op: impl FnOnce(&mut Writer<'_, '_>) -> Result<T, RecordError>,
    ) -> Result<T, RecordError> {
        match self {
            Self::Sqlite(txn) => txn.with_writer(|w| op(&mut Writer::Sqlite(w))),
            Self::Postgres(txn) => txn.with_writer(|w| op(&mut Writer::Postgres(w))),
        }
    }

    fn commit(self) -> Result<(), RecordError> {
        match self {
            Self::Sqlite(txn) => txn.commit(),
            Self::Postgres(txn) => txn.commit(),
        }
    }

    fn rollback(self) {
        match self {
            Self::Sqlite(txn) => txn.rollback(),
            Self::Postgres(txn) => txn.rollback(),
        }
    }
}

#[derive(Debug)]
enum State {
    Open(BackendTxn),
    /// Rolled back by the reaper (or an abort) before its holder finished it.
    Expired(Expiry),
    /// Committed or rolled back by its holder.
    Finished,
}

/// Why the host, not the holder, rolled a transaction back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    /// It passed its deadline.
    Deadline,
    /// Its plugin trapped or was stopped.
    Abort,
}

/// How an open transaction ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Commit,
    Rollback,
    Expire(Expiry),
}

impl WriteTxn {
    /// Wraps a transaction the backend has just begun, and has the reaper watch
    /// its deadline.
    pub(crate) fn begun(open: BackendTxn, deadline: Option<(Instant, Duration)>) -> Self {
        let shared = Arc::new(TxnShared {
            state: Mutex::new(State::Open(open)),
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
    /// [`RecordError::Storage`] when the store fails; [`RecordError::Invalid`] when
    /// the transaction passed its deadline and was rolled back.
    pub fn get(&self, id: RecordId) -> Result<Option<Record>, RecordError> {
        self.with_writer(|w| w.get(id))
    }

    /// Stores a new record and returns its id.
    ///
    /// # Errors
    /// As [`get`](Self::get).
    pub fn insert(&self, name: &str, value: i64) -> Result<RecordId, RecordError> {
        self.with_writer(|w| w.insert(name, value))
    }

    /// Sets the value of record `id`.
    ///
    /// # Errors
    /// [`RecordError::NotFound`] when no record has this id; otherwise as
    /// [`get`](Self::get).
    pub fn update(&self, id: RecordId, value: i64) -> Result<(), RecordError> {
        self.with_writer(|w| w.update(id, value))
    }

    /// Removes record `id`.
    ///
    /// # Errors
    /// As [`update`](Self::update).
    pub fn delete(&self, id: RecordId) -> Result<(), RecordError> {
        self.with_writer(|w| w.delete(id))
    }

    /// Commits, then releases the lock.
    ///
    /// # Errors
    /// [`RecordError::Storage`] when the store cannot commit (the transaction is
    /// rolled back); [`RecordError::Invalid`] when it had passed its deadline and
    /// was already rolled back. The lock is released either way.
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

    pub(crate) fn with_writer<T>(
        &self,
        op: impl FnOnce(&mut Writer<'_, '_>) -> Result<T, RecordError>,
    ) -> Result<T, RecordError> {
        let state = locked(&self.shared.state);
        match &*state {
            State::Open(_) if self.shared.past_deadline() => {
                drop(state);
                self.shared.expire();
                Err(self.shared.expired_error(Expiry::Deadline))
            }
            State::Open(open) => open.with_writer(op),
            State::Expired(why) => Err(self.shared.expired_error(*why)),
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
        if self.end(End::Expire(Expiry::Deadline)).is_ok() {
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
    /// its plugin trapped or was stopped.
    pub(crate) fn abort(&self) {
        if self.end(End::Expire(Expiry::Abort)).is_ok() {
            tracing::warn!("write transaction of a failed plugin call rolled back, lock released");
        }
    }

    fn past_deadline(&self) -> bool {
        self.deadline.is_some_and(|(at, _)| Instant::now() >= at)
    }

    fn expired_error(&self, why: Expiry) -> RecordError {
        RecordError::Invalid(match (why, self.deadline) {
            (Expiry::Deadline, Some((_, limit))) => format!(
                "the write transaction passed its {} ms deadline and was rolled back",
                limit.as_millis()
            ),
            _ => "the write transaction was rolled back because its plugin call failed".into(),
        })
    }

    /// Ends an open transaction: the backend commits or rolls back, and the lock
    /// goes with it. `Err` when it was not open.
    fn end(&self, end: End) -> Result<(), RecordError> {
        let mut state = locked(&self.state);
        let next = match end {
            End::Expire(why) => State::Expired(why),
            End::Commit | End::Rollback => State::Finished,
        };
        let open = match std::mem::replace(&mut *state, next) {
            State::Open(open) => open,
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
        let result = match end {
            End::Commit if !self.past_deadline() => open.commit(),
            End::Commit => {
                open.rollback();
                *state = State::Expired(Expiry::Deadline);
                Err(self.expired_error(Expiry::Deadline))
            }
            End::Rollback | End::Expire(_) => {
                open.rollback();
                Ok(())
            }
        };
        drop(state);
        locked(&self.watched).take();
        result
    }
}
