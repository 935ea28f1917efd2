//! The PostgreSQL backend: one schema per database location (tenants have a
//! schema each), every write in a transaction that holds the schema's advisory
//! lock (`lock.rs`).
//!
//! Reads run on the connection directly and take no lock. Writes exist only in
//! `writer.rs`, and a [`Writer`] is made only from a `Locked` token, which only
//! taking the lock makes (`locked.rs`, which says how that is guaranteed): for
//! one statement ([`PgStore::write_one`]: begin and lock, the statement, commit)
//! or for a write transaction ([`Txn`]). A write without the lock does not
//! compile, and neither does DDL or a commit. Connections are named after this process and its plugin
//! (`connection.rs`), schemas are created on first use (`schema.rs`; an older
//! release's schema of a tenant is carried over, `legacy.rs`), errors name the
//! database without its password (`error.rs`), values read from rows never panic
//! (`row.rs`), and the SQL text is in `sql.rs`.

mod catalog;
mod connection;
pub(crate) mod deploy;
mod error;
mod legacy;
mod lock;
mod locked;
mod password;
mod row;
mod schema;
mod sql;
mod statements;
mod status;
#[cfg(test)]
mod test_server;
mod tls;
mod txn;
mod writer;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub(crate) use self::connection::{Pool, pool};
pub(crate) use self::status::{lock_status_at, lock_status_pooled, metrics, probe_lock};
pub(crate) use self::txn::Txn;
pub(crate) use self::writer::Writer;

use self::connection::{ConnHandle, PgConn, first_contact, first_live};
use self::error::{pg_error, statement_error};
use self::locked::{Acquire, LockFailure, Locked};
use self::row::{column, record};
use self::sql::Text;
use self::txn::check_no_open_transaction;
use self::writer::SizeLimit;
use crate::lock::{LockMetrics, LockStatus, Metrics};
use crate::record_error::{RecordError, RecordId, StorageError};
use crate::store::location::PgLocation;
use crate::store::record::Record;
use crate::sync::locked;

/// An open PostgreSQL store: a connection (its own, or one from a pool) and the
/// schema's statements.
pub(crate) struct PgStore {
    location: PgLocation,
    conn: Arc<Mutex<ConnHandle>>,
    text: Arc<Text>,
    lock_timeout: Duration,
    txn_deadline: Duration,
    metrics: Arc<Metrics>,
    /// The size limit (bytes of the `records` table), if any.
    max_size: Mutex<Option<u64>>,
    /// `"schema".records`, for the size limit.
    table: String,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PgStore({})", self.location)
    }
}

impl PgStore {
    /// Connects (or takes a connection from `pool`), checks the schema and
    /// creates it when it holds nothing yet.
    ///
    /// # Errors
    /// One line naming the URL without its password: the server cannot be
    /// reached, refuses the login, has no such database, has advisory locks that
    /// do not exclude, or the schema is another application's or newer;
    /// [`RecordError::LockTimeout`] when the lock needed to create it is held.
    pub(crate) fn open(
        location: &PgLocation,
        label: &str,
        lock_timeout: Duration,
        txn_deadline: Duration,
        pool: Option<&Pool>,
    ) -> Result<Self, RecordError> {
        let mut conn = match pool {
            Some(pool) => first_live(pool, location, label)?,
            None => {
                let mut conn = ConnHandle::Owned(PgConn::connect(location, label)?);
                first_contact(&mut conn, location, label)?;
                conn
            }
        };
        let text = Arc::new(Text::for_schema(location.schema()));
        let metrics = metrics(location);
        let acquire = Acquire {
            schema: location.schema(),
            timeout: lock_timeout,
            call_deadline: None,
            idle_timeout: Some(txn_deadline),
            size_of: None,
            app_name: None,
            metrics: &metrics,
        };
        schema::prepare(&mut conn.client, location, &text, &acquire)?;
        let table = format!("{}.records", sql::quote(location.schema()));
        Ok(Self {
            location: location.clone(),
            conn: Arc::new(Mutex::new(conn)),
            text,
            lock_timeout,
            txn_deadline,
            metrics,
            max_size: Mutex::new(None),
            table,
        })
    }

    pub(crate) fn location(&self) -> &PgLocation {
        &self.location
    }

    /// Names the connection after `label` (the plugin it serves).
    pub(crate) fn set_label(&self, label: &str) -> Result<(), RecordError> {
        self.conn()?.set_label(label);
        Ok(())
    }

    /// Caps the `records` table at `bytes`: an insert beyond it is refused with
    /// the same error as a full SQLite database.
    pub(crate) fn set_max_size(&self, bytes: u64) {
        *locked(&self.max_size) = Some(bytes);
    }

    pub(crate) fn lock_status(&self) -> Result<LockStatus, RecordError> {
        lock::status(&mut self.conn()?.client, self.location.schema(), true)
            .map_err(|e| pg_error(&self.location, &e, "cannot read the lock status"))
    }

    pub(crate) fn lock_metrics(&self) -> LockMetrics {
        self.metrics.snapshot()
    }

    pub(crate) fn get(&self, id: RecordId) -> Result<Option<Record>, RecordError> {
        let row = statements::get(&mut self.conn()?.client, &self.text, None, id)
            .map_err(|e| statement_error(&self.location, &e))?;
        row.map(|row| record(&row)).transpose()
    }

    pub(crate) fn scan(
        &self,
        after: Option<RecordId>,
        limit: u32,
    ) -> Result<Vec<Record>, RecordError> {
        let after = after.unwrap_or(RecordId::MIN);
        let rows = statements::scan(&mut self.conn()?.client, &self.text, after, limit)
            .map_err(|e| statement_error(&self.location, &e))?;
        rows.iter().map(record).collect()
    }

    pub(crate) fn count(&self) -> Result<u64, RecordError> {
        let row = statements::count(&mut self.conn()?.client, &self.text)
            .map_err(|e| statement_error(&self.location, &e))?;
        let count: i64 = column(&row, 0)?;
        Ok(count.unsigned_abs())
    }

    /// Runs `op` with a writer in a transaction of its own that first takes the
    /// lock (giving up at the lock's timeout or at `call_deadline`), and commits
    /// it.
    pub(crate) fn write_one<T>(
        &self,
        call_deadline: Option<Instant>,
        op: impl FnOnce(&mut Writer<'_>) -> Result<T, RecordError>,
    ) -> Result<T, RecordError> {
        let mut conn = self.conn()?;
        check_no_open_transaction(&conn)?;
        // The server ends the transaction if the host freezes in it: set in the
        // transaction, never on the session, which a pooler may hand to others.
        let idle = Some(self.txn_deadline);
        let (mut lock, size_limit) = self.lock(&mut conn, call_deadline, idle)?;
        let result = Writer::new(&mut lock, &self.text, &self.location, size_limit)
            .and_then(|mut writer| op(&mut writer));
        let ended = if result.is_ok() {
            lock.commit()
        } else {
            lock.rollback()
        };
        match ended {
            Ok(()) => result,
            Err(e) => Err(statement_error(&self.location, &e)),
        }
    }

    /// Begins a write transaction that holds the lock until the [`Txn`] ends; the
    /// server ends it, releasing the lock, if it stays idle past `deadline` (the
    /// host frozen). Gives up waiting for the lock at its timeout or at
    /// `call_deadline`.
    pub(crate) fn begin(
        &self,
        call_deadline: Option<Instant>,
        deadline: Option<Instant>,
    ) -> Result<Txn, RecordError> {
        let mut conn = self.conn()?;
        check_no_open_transaction(&conn)?;
        let idle = deadline
            .map(|at| at.saturating_duration_since(Instant::now()))
            .or(Some(self.txn_deadline));
        let (lock, size_limit) = self.lock(&mut conn, call_deadline, idle)?;
        let lock = lock.park(self.conn.clone());
        conn.in_txn = true;
        drop(conn);
        Ok(Txn {
            reuse: Mutex::default(),
            lock,
            text: self.text.clone(),
            location: self.location.clone(),
            size_limit: Mutex::new(size_limit),
            deadline,
            idle_timeout: Mutex::new(idle.unwrap_or(self.txn_deadline)),
        })
    }

    /// Takes the schema's lock on `conn`, and reads the table's size with it
    /// when there is a size limit.
    fn lock<'c>(
        &'c self,
        conn: &'c mut ConnHandle,
        call_deadline: Option<Instant>,
        idle_timeout: Option<Duration>,
    ) -> Result<(Locked<'c>, Option<SizeLimit>), RecordError> {
        let limit = *locked(&self.max_size);
        let (client, app_name) = conn.client_and_name();
        let acquire = Acquire {
            schema: self.location.schema(),
            timeout: self.lock_timeout,
            call_deadline,
            idle_timeout,
            size_of: limit.map(|_| self.table.as_str()),
            app_name,
            metrics: &self.metrics,
        };
        match Locked::take(client, &acquire) {
            Ok(lock) => {
                let size_limit = limit
                    .zip(lock.table_size())
                    .map(|(limit, estimated)| SizeLimit { limit, estimated });
                Ok((lock, size_limit))
            }
            Err(LockFailure::TimedOut(timeout)) => Err(timeout.into()),
            Err(LockFailure::Statement(e)) => Err(statement_error(&self.location, &e)),
        }
    }

    /// The connection (reconnected if the server closed the one this store owns)
    /// and this schema's statements on it.
    /// Runs `op` (reads) on the connection, outside any transaction's lock.
    pub(in crate::store) fn read<T>(
        &self,
        op: impl FnOnce(&mut postgres::Client, &PgLocation) -> Result<T, RecordError>,
    ) -> Result<T, RecordError> {
        op(&mut self.conn()?.client, &self.location)
    }

    fn conn(&self) -> Result<MutexGuard<'_, ConnHandle>, RecordError> {
        let mut conn = locked(&self.conn);
        if conn.client.is_closed() {
            match &mut *conn {
                ConnHandle::Owned(owned) => {
                    *owned = PgConn::connect(&self.location, "")?;
                }
                ConnHandle::Pooled(_) => {
                    return Err(RecordError::Storage(
                        StorageError::with_detail(
                            "the connection was closed",
                            self.location.redacted_url(),
                        )
                        .unavailable(),
                    ));
                }
            }
        }
        Ok(conn)
    }
}
