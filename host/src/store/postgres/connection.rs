//! Connections to PostgreSQL: opening one (named after this process and its
//! plugin), checking once per server that its advisory locks really exclude, and
//! a bounded pool of them for long-lived hosts.
//!
//! The pool is r2d2's, over a manager of our own: a connection the server closed
//! is dropped rather than handed out again. A connection keeps no session state
//! the server holds (no prepared statement, no `SET`), so it may go through a
//! pooler in transaction mode (`statements.rs`).

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use postgres::{Client, Config};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::error::{pg_error, pg_error_noted};
use crate::display::escape_control;
use crate::record_error::{RecordError, StorageError};
use crate::store::location::PgLocation;
use crate::store::location::pg_url;
use crate::sync::locked;

/// A connection, and the name it shows while it holds a schema's lock.
pub(crate) struct PgConn {
    pub(crate) client: Client,
    /// The `application_name` the connection logged in with (a pooler passes
    /// it on to each server session it lends the connection: PgBouncer does).
    startup_name: String,
    /// The name the server shows for this connection in a write transaction:
    /// when it is not the startup name, set there with `SET LOCAL` (a pooler in
    /// transaction mode may hand the session to others between transactions).
    app_name: String,
    /// Whether a write transaction is open on this connection (a single write
    /// meanwhile would wait for the lock the transaction holds).
    pub(crate) in_txn: bool,
}

impl PgConn {
    /// Connects to `location`'s server, as `application_name` `records-host
    /// pid:<pid>` (plus `label` when given). Nothing is set on the session: what a
    /// write needs (its idle timeout, its name) is set in its transaction.
    pub(crate) fn connect(location: &PgLocation, label: &str) -> Result<Self, RecordError> {
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
        check_advisory_locks_exclude(location, &mut client, &config, tls)?;
        Ok(Self {
            client,
            startup_name: app_name.clone(),
            app_name,
            in_txn: false,
        })
    }

    /// Names the connection after `label` from its next write transaction on.
    pub(crate) fn set_label(&mut self, label: &str) {
        self.app_name = app_name(label);
    }

    /// The client, and the name to set in a write transaction when it is not
    /// the one the connection logged in with.
    pub(crate) fn client_and_name(&mut self) -> (&mut Client, Option<&str>) {
        let rename = (self.app_name != self.startup_name).then_some(self.app_name.as_str());
        (&mut self.client, rename)
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
/// at once), tested the way writes use the lock: a transaction on a second
/// connection must not get a transaction-scoped key that a transaction open on
/// the first holds. A pooler in transaction mode passes (each open transaction
/// has a server session of its own); session-scoped locks would not, and no
/// write uses them. Checked once per server and process.
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
    let try_lock = format!("BEGIN; SELECT pg_try_advisory_xact_lock({})", probe_key());
    let got = |client: &mut Client| -> Result<bool, postgres::Error> {
        let messages = client.simple_query(&try_lock)?;
        Ok(messages.iter().any(
            |m| matches!(m, postgres::SimpleQueryMessage::Row(row) if row.get(0) == Some("t")),
        ))
    };
    let mut second = config.connect(tls).map_err(failed)?;
    let held = got(first);
    let also = held.as_ref().map_or(Ok(false), |_| got(&mut second));
    let _ = first.batch_execute("ROLLBACK");
    let _ = second.batch_execute("ROLLBACK");
    let (held, also) = (held.map_err(failed)?, also.map_err(failed)?);
    if !held || also {
        return Err(RecordError::Storage(StorageError::with_detail(
            "the server's advisory locks do not exclude (a second transaction took a key one open on another connection held), so records-host cannot serialize writes there; refusing it",
            server,
        )));
    }
    locked(CHECKED.get_or_init(Default::default)).insert(server);
    Ok(())
}

/// Makes and checks the pool's connections.
pub(crate) struct Manager {
    pub(crate) location: PgLocation,
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgConn;
    type Error = RecordError;

    fn connect(&self) -> Result<PgConn, RecordError> {
        PgConn::connect(&self.location, "")
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
        // The pool tried to connect until its timeout: the server is not
        // reachable now (r2d2 keeps only the last error's text).
        let mut conn = ConnHandle::Pooled(pool.get().map_err(|e| {
            RecordError::Storage(
                StorageError::with_detail(
                    "no connection from the pool",
                    format!("{}: {e}", location.redacted_url()),
                )
                .unavailable(),
            )
        })?);
        match first_contact(&mut conn, location, label) {
            Ok(()) => return Ok(conn),
            // Dropped here: the pool discards a closed connection (`has_broken`).
            Err(_) if conn.client.is_closed() && tries > 1 => tries -= 1,
            Err(e) => return Err(e),
        }
    }
}

/// Names the connection after `label` for its next write transactions, and
/// makes one round trip: the first use of a connection, which finds out whether
/// the server still has it.
pub(super) fn first_contact(
    conn: &mut ConnHandle,
    location: &PgLocation,
    label: &str,
) -> Result<(), RecordError> {
    conn.set_label(label);
    conn.client
        .batch_execute("SELECT 1")
        .map_err(|e| pg_error(location, &e, "cannot reach the server"))
}

/// A bounded pool of connections to one server.
pub(crate) type Pool = r2d2::Pool<Manager>;

/// A pool of at most `size` connections to `location`'s server.
pub(crate) fn pool(location: &PgLocation, size: u32) -> Pool {
    r2d2::Pool::builder()
        .max_size(size.max(1))
        .min_idle(Some(0))
        // A broken connection is dropped on return (`has_broken`); checking each
        // one out with a round trip would cost every call one.
        .test_on_check_out(false)
        .connection_timeout(Duration::from_secs(10))
        .build_unchecked(Manager {
            location: location.clone(),
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
