//! Connections to PostgreSQL: opening one (named after this process and its
//! plugin), checking once per server that its advisory locks really exclude, and
//! a bounded pool of them for long-lived hosts.
//!
//! The pool is r2d2's, over a manager of our own: a pooled connection carries the
//! statements prepared on it (per schema), and one the server closed is dropped
//! rather than handed out again.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use postgres::{Client, Config, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::error::{pg_error, pg_error_noted};
use super::sql::Text;
use crate::display::escape_control;
use crate::record_error::{RecordError, StorageError};
use crate::store::location::PgLocation;
use crate::store::location::pg_url;
use crate::sync::locked;

/// A connection and the statements prepared on it, by schema.
pub(crate) struct PgConn {
    pub(crate) client: Client,
    prepared: HashMap<String, Prepared>,
    /// The `application_name` the server shows for this connection.
    app_name: String,
    /// Whether a write transaction is open on this connection (a single write
    /// meanwhile would wait for the lock the transaction holds).
    pub(crate) in_txn: bool,
}

/// The statements of one schema, prepared on one connection.
#[derive(Clone)]
pub(crate) struct Prepared {
    pub(crate) get: Statement,
    pub(crate) scan: Statement,
    pub(crate) count: Statement,
    pub(crate) insert: Statement,
    pub(crate) update: Statement,
    pub(crate) delete: Statement,
}

impl PgConn {
    /// Connects to `location`'s server, as `application_name` `records-host
    /// pid:<pid>` (plus `label` when given), with transactions left idle ended by
    /// the server after `idle_txn` (a host frozen in a transaction must not keep
    /// the lock).
    pub(crate) fn connect(
        location: &PgLocation,
        label: &str,
        idle_txn: Duration,
    ) -> Result<Self, RecordError> {
        let not_valid = |why: String| {
            RecordError::Storage(StorageError::with_detail(
                "not a valid PostgreSQL URL",
                format!("{}: {}", location.redacted_url(), escape_control(&why)),
            ))
        };
        let url = pg_url::parse(location.url()).map_err(|e| not_valid(e.to_string()))?;
        let mut config = url.config;
        let tls = super::tls::connector(&mut config, &url.tls).map_err(|why| {
            RecordError::Storage(StorageError::with_detail(
                "cannot connect",
                format!("{}: {}", location.redacted_url(), escape_control(&why)),
            ))
        })?;
        let ignored = super::password::supply(&mut config);
        let app_name = app_name(label);
        config
            .application_name(&app_name)
            .connect_timeout(Duration::from_secs(10));
        let mut client = config.connect(tls.clone()).map_err(|e| match &ignored {
            Some(note) => pg_error_noted(location, &e, "cannot connect", note),
            None => pg_error(location, &e, "cannot connect"),
        })?;
        client
            .batch_execute(&format!(
                "SET idle_in_transaction_session_timeout = {}",
                idle_txn.as_millis().clamp(1, i32::MAX as u128)
            ))
            .map_err(|e| pg_error(location, &e, "cannot configure the session"))?;
        check_advisory_locks_exclude(location, &mut client, &config, tls)?;
        Ok(Self {
            client,
            prepared: HashMap::new(),
            app_name,
            in_txn: false,
        })
    }

    /// The statements of `text`'s schema, prepared on first use.
    pub(crate) fn prepared(
        &mut self,
        schema: &str,
        text: &Text,
    ) -> Result<Prepared, postgres::Error> {
        if let Some(prepared) = self.prepared.get(schema) {
            return Ok(prepared.clone());
        }
        let prepared = Prepared {
            get: self.client.prepare(&text.get)?,
            scan: self.client.prepare(&text.scan)?,
            count: self.client.prepare(&text.count)?,
            insert: self.client.prepare(&text.insert)?,
            update: self.client.prepare(&text.update)?,
            delete: self.client.prepare(&text.delete)?,
        };
        self.prepared.insert(schema.to_string(), prepared.clone());
        Ok(prepared)
    }

    /// Renames the connection after `label`, if it is not named so already.
    pub(crate) fn set_label(&mut self, label: &str) -> Result<(), postgres::Error> {
        let name = app_name(label);
        if name != self.app_name {
            self.client.batch_execute(&format!(
                "SET application_name = '{}'",
                name.replace('\'', "''")
            ))?;
            self.app_name = name;
        }
        Ok(())
    }

    /// Forgets the prepared statements of `schema` (after it was created: they
    /// were prepared against nothing).
    pub(crate) fn forget(&mut self, schema: &str) {
        self.prepared.remove(schema);
    }
}

/// `records-host pid:<pid> <label>`, cut to PostgreSQL's 63 bytes, control
/// characters replaced (the server keeps only printable ASCII anyway).
fn app_name(label: &str) -> String {
    let label = label.replace('\n', " ");
    let mut name = format!("records-host pid:{} {label}", std::process::id());
    name.retain(|c| c.is_ascii() && !c.is_ascii_control());
    name.truncate(63);
    name.trim_end().to_string()
}

/// A key that two sessions of this process take in turn to see whether the
/// server's advisory locks exclude: one no other process is likely to take at the
/// same moment (it is held for a few milliseconds).
fn probe_key() -> i64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    0x5248_5052_0000_0000_i64 ^ (i64::from(std::process::id()) << 30) ^ i64::from(nanos)
}

/// Refuses a server whose advisory locks do not exclude (some engines that speak
/// PostgreSQL's protocol implement them as no-ops, which would let two writers in
/// at once): a second session must not get a key the first holds. Checked once
/// per server and process.
fn check_advisory_locks_exclude(
    location: &PgLocation,
    first: &mut Client,
    config: &Config,
    tls: MakeRustlsConnect,
) -> Result<(), RecordError> {
    static CHECKED: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let server = location.redacted_url();
    if locked(CHECKED.get_or_init(Default::default)).contains(&server) {
        return Ok(());
    }
    let failed = |e: postgres::Error| pg_error(location, &e, "cannot check its advisory locks");
    let key = probe_key();
    let held: bool = first
        .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
        .and_then(|row| row.try_get(0))
        .map_err(failed)?;
    let mut second = config.connect(tls).map_err(failed)?;
    let also: bool = second
        .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
        .and_then(|row| row.try_get(0))
        .map_err(failed)?;
    first
        .execute("SELECT pg_advisory_unlock($1)", &[&key])
        .map_err(failed)?;
    if !held || also {
        return Err(RecordError::Storage(StorageError::with_detail(
            "the server's advisory locks do not exclude (a second session took a key the first held), so records-host cannot serialize writes there; refusing it",
            server,
        )));
    }
    locked(CHECKED.get_or_init(Default::default)).insert(server);
    Ok(())
}

/// Makes and checks the pool's connections.
pub(crate) struct Manager {
    pub(crate) location: PgLocation,
    pub(crate) idle_txn: Duration,
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgConn;
    type Error = RecordError;

    fn connect(&self) -> Result<PgConn, RecordError> {
        PgConn::connect(&self.location, "", self.idle_txn)
    }

    fn is_valid(&self, conn: &mut PgConn) -> Result<(), RecordError> {
        if conn.client.is_closed() {
            return Err(RecordError::storage("the connection is closed"));
        }
        Ok(())
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.client.is_closed()
    }
}

/// A connection from `pool` that answers, named after `label`. A pooled
/// connection that the server ended (a restart, an administrator, a network
/// drop) is only found out on its next use; it is dropped, and the next one
/// tried, up to the pool's size plus one (a fresh connection).
pub(super) fn first_live(
    pool: &Pool,
    location: &PgLocation,
    label: &str,
) -> Result<ConnHandle, RecordError> {
    let mut tries = pool.max_size() + 1;
    loop {
        let mut conn = ConnHandle::Pooled(pool.get().map_err(|e| {
            RecordError::Storage(StorageError::with_detail(
                "no connection from the pool",
                format!("{}: {e}", location.redacted_url()),
            ))
        })?);
        match first_contact(&mut conn, location, label) {
            Ok(()) => return Ok(conn),
            // Dropped here: the pool discards a closed connection (`has_broken`).
            Err(_) if conn.client.is_closed() && tries > 1 => tries -= 1,
            Err(e) => return Err(e),
        }
    }
}

/// Names the session after `label`, and makes one round trip even when it is
/// named so already: the first use of a connection, which finds out whether the
/// server still has it.
pub(super) fn first_contact(
    conn: &mut ConnHandle,
    location: &PgLocation,
    label: &str,
) -> Result<(), RecordError> {
    conn.set_label(label)
        .map_err(|e| pg_error(location, &e, "cannot name the session"))?;
    conn.client
        .batch_execute("SELECT 1")
        .map_err(|e| pg_error(location, &e, "cannot reach the server"))
}

/// A bounded pool of connections to one server.
pub(crate) type Pool = r2d2::Pool<Manager>;

/// A pool of at most `size` connections to `location`'s server.
pub(crate) fn pool(location: &PgLocation, size: u32, idle_txn: Duration) -> Pool {
    r2d2::Pool::builder()
        .max_size(size.max(1))
        .min_idle(Some(0))
        // A broken connection is dropped on return (`has_broken`); checking each
        // one out with a round trip would cost every call one.
        .test_on_check_out(false)
        .connection_timeout(Duration::from_secs(10))
        .build_unchecked(Manager {
            location: location.clone(),
            idle_txn,
        })
}

/// A connection a store owns, or one it borrows from a pool for its lifetime.
pub(crate) enum ConnHandle {
    Owned(PgConn),
    Pooled(r2d2::PooledConnection<Manager>),
}

impl std::ops::Deref for ConnHandle {
    type Target = PgConn;

    fn deref(&self) -> &PgConn {
        match self {
            Self::Owned(conn) => conn,
            Self::Pooled(conn) => conn,
        }
    }
}

impl std::ops::DerefMut for ConnHandle {
    fn deref_mut(&mut self) -> &mut PgConn {
        match self {
            Self::Owned(conn) => conn,
            Self::Pooled(conn) => conn,
        }
    }
}
