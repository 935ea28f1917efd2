//! A multi-tenant plugin host for long-running services.
//!
//! [`PluginHost`] is `Send + Sync` and cheap to clone (an `Arc`): build it once at
//! start-up, hand clones to every worker thread. It holds one compiled, pre-linked
//! plugin ([`Plugin`], an `InstancePre`), so no call compiles anything; each call
//! opens the tenant's database and gets a fresh `Store` and instance, so nothing a
//! plugin does in one call (globals, memory, open transactions) carries over to the
//! next call or to another tenant. Calls from many threads run at once; writes of
//! one tenant are serialized by that tenant's own write lock only.
//!
//! Tenants live in a data directory (a SQLite file each) or in a PostgreSQL
//! database (a schema each, see [`TenantHome`]). On PostgreSQL the host keeps a
//! bounded pool of connections shared by all threads and tenants; a connection the
//! server closed is replaced rather than handed out again.
//!
//! For many calls at once, build the plugin's runtime with
//! [`RuntimeBuilder::instance_pool`](crate::RuntimeBuilder::instance_pool) sized
//! to the calls that may run at once: instances then reuse pooled memory rather
//! than mapping and unmapping their own (three times the calls per second under
//! `records-host serve`'s load, BENCHMARKS.md).
//!
//! Idle SQLite tenant databases are kept open in a bounded least-recently-used
//! cache instead of being opened for every call ([`PluginHost::keep_open`]; by
//! default as many as the descriptor limit leaves room for, see
//! [`PluginHost::keep_open_within`]): ten thousand tenants then cost at most that
//! many open databases (and their file descriptors), and a busy tenant's calls
//! skip the open. With [`PluginHost::close_idle_after`], databases idle longer
//! than a period are closed by [`PluginHost::close_idle`].

mod deploy;
mod descriptors;
mod loaded_plugins;
mod open_databases;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::lock::LockStatus;
use crate::runtime::{Plugin, PluginInstance, Runtime};
use crate::store::{Database, DatabaseOptions, Pool, TenantHome};
use crate::sync::locked;
use crate::tenant::TenantName;

pub use self::deploy::{Upload, deploy_version, load_version};
use self::loaded_plugins::LoadedPlugins;
use self::open_databases::OpenDatabases;

/// How many PostgreSQL connections a host keeps at most, by default: calls beyond
/// that many at once wait for a connection (up to 10 s).
pub const DEFAULT_POOL_SIZE: u32 = 16;

/// One plugin serving many tenants, each with a database of its own.
#[derive(Clone)]
pub struct PluginHost {
    inner: Arc<Inner>,
}

struct Inner {
    /// What tenants without an active version of their own run; `None`: they
    /// get [`Error::NoPluginDeployed`].
    plugin: Option<Plugin>,
    /// Tenants' own versions, when the host runs them (`deployments`).
    deployed: Option<Arc<Deployed>>,
    home: TenantHome,
    db_options: DatabaseOptions,
    /// Connections to the PostgreSQL home, when it is one.
    pool: Option<Pool>,
    /// Idle tenant databases, one per tenant at most, when kept open.
    open: Option<Mutex<OpenDatabases>>,
    /// How long an idle database stays open, at most (`close_idle`).
    idle_close: Option<Duration>,
}

impl PluginHost {
    /// A host for `plugin` with tenants in `home` (a data directory such as
    /// `"data"`, or a `postgres://` URL) and default database options.
    pub fn new(plugin: Plugin, home: impl Into<TenantHome>) -> Self {
        Self::with_options(plugin, home, DatabaseOptions::default())
    }

    /// Like [`new`](Self::new), with `db_options` (lock timeout, transaction
    /// deadline) for every tenant's database.
    pub fn with_options(
        plugin: Plugin,
        home: impl Into<TenantHome>,
        db_options: DatabaseOptions,
    ) -> Self {
        Self::with_pool_size(plugin, home, db_options, DEFAULT_POOL_SIZE)
    }

    /// Like [`with_options`](Self::with_options), with at most `pool_size`
    /// PostgreSQL connections.
    pub fn with_pool_size(
        plugin: Plugin,
        home: impl Into<TenantHome>,
        db_options: DatabaseOptions,
        pool_size: u32,
    ) -> Self {
        let home = home.into();
        let pool = match &home {
            TenantHome::Postgres(pg) => Some(crate::store::pool(pg, pool_size)),
            TenantHome::Directory(_) => None,
        };
        let host = Self {
            inner: Arc::new(Inner {
                plugin: Some(plugin),
                deployed: None,
                home,
                db_options,
                pool,
                open: None,
                idle_close: None,
            }),
        };
        let descriptors = descriptors::descriptor_limit().unwrap_or(1024);
        host.keep_open(Self::keep_open_within(
            descriptors,
            Self::DEFAULT_RUNNING_CALLS,
        ))
    }

    /// Raises the process's soft limit on open descriptors to its hard limit
    /// (the usual soft limit of 1024 leaves room for about 190 open tenant
    /// databases); the soft limit after, `None` when unlimited. A host made
    /// after this keeps as many idle databases open as the new limit allows.
    ///
    /// # Errors
    /// The system's, when the limit cannot be read or set.
    pub fn raise_descriptor_limit() -> std::io::Result<Option<u64>> {
        descriptors::raise_descriptor_limit()
    }

    /// The process's soft limit on open descriptors; `None` when unlimited or
    /// unreadable.
    pub fn descriptor_limit() -> Option<u64> {
        descriptors::descriptor_limit()
    }

    /// Descriptors one open SQLite tenant database holds: `records.db`, its
    /// `-wal` and `-shm`, and `db.lock`.
    pub const DESCRIPTORS_PER_DATABASE: u64 = descriptors::DESCRIPTORS_PER_DATABASE;

    /// Descriptors [`keep_open_within`](Self::keep_open_within) sets aside for
    /// everything but tenant databases.
    pub const RESERVED_DESCRIPTORS: u64 = descriptors::RESERVED_DESCRIPTORS;

    /// The calls at once the default [`keep_open`](Self::keep_open) leaves
    /// room for.
    pub const DEFAULT_RUNNING_CALLS: u64 = 64;

    /// How many idle databases `descriptors` file descriptors leave room for
    /// while `calls` calls run (each holds a database):
    /// `(descriptors - RESERVED_DESCRIPTORS) / DESCRIPTORS_PER_DATABASE - calls`.
    /// A new host keeps this many for the process's soft descriptor limit and
    /// [`DEFAULT_RUNNING_CALLS`](Self::DEFAULT_RUNNING_CALLS); raise the soft
    /// limit first (`setrlimit`) for more.
    pub fn keep_open_within(descriptors: u64, calls: u64) -> usize {
        descriptors::keep_open_within(descriptors, calls)
    }

    /// Keeps up to `max` idle SQLite tenant databases open between calls (several
    /// for a tenant with calls at once), the least recently used tenant's closed
    /// first (0: open one per call; the default follows from the descriptor
    /// limit, see [`keep_open_within`](Self::keep_open_within)). A
    /// database is put back only after a call that ended normally; one whose plugin
    /// was stopped is closed. At most `max` plus the calls running at once are open.
    ///
    /// On PostgreSQL nothing is kept: an open tenant database holds one of the
    /// pool's connections, so the pool is what stays open, and `max` idle
    /// databases would starve the calls of connections.
    #[must_use]
    pub fn keep_open(self, max: usize) -> Self {
        let max = match self.inner.home {
            TenantHome::Directory(_) => max,
            TenantHome::Postgres(_) => 0,
        };
        self.rebuilt(|inner| inner.open = (max > 0).then(|| Mutex::new(OpenDatabases::new(max))))
    }

    /// Runs each tenant's active plugin version (see [`deploy`](Self::deploy))
    /// instead of the host's plugin, which then serves only the tenants without
    /// one. Versions are compiled by `runtime` (through its cache, keyed by the
    /// bytes' SHA-256 and the engine, so identical uploads compile once) and kept
    /// loaded in memory up to `max_loaded_bytes` of compiled code, least
    /// recently used dropped first.
    #[must_use]
    pub fn deployments(self, runtime: Runtime, max_loaded_bytes: u64) -> Self {
        let deployed = Arc::new(Deployed {
            runtime,
            loaded: Mutex::new(LoadedPlugins::new(max_loaded_bytes)),
        });
        self.rebuilt(|inner| inner.deployed = Some(deployed))
    }

    /// Serves no tenant without an active version of its own: their calls fail
    /// with [`Error::NoPluginDeployed`].
    #[must_use]
    pub fn without_default_plugin(self) -> Self {
        self.rebuilt(|inner| inner.plugin = None)
    }

    /// Closes idle databases that nobody used for `period` when
    /// [`close_idle`](Self::close_idle) runs (`records-host serve` runs it
    /// every second or so): the calls that follow open them again.
    #[must_use]
    pub fn close_idle_after(self, period: Duration) -> Self {
        self.rebuilt(|inner| inner.idle_close = Some(period))
    }

    /// Closes the idle databases put back longer than the
    /// [`close_idle_after`](Self::close_idle_after) period ago; how many. Call
    /// it from a thread that may block: closing a database checkpoints its WAL.
    pub fn close_idle(&self) -> usize {
        let (Some(open), Some(period)) = (&self.inner.open, self.inner.idle_close) else {
            return 0;
        };
        let Some(cutoff) = Instant::now().checked_sub(period) else {
            return 0;
        };
        let closed = locked(open).close_idle_since(cutoff);
        closed.len()
    }

    /// A host like this one, with `change` made.
    fn rebuilt(self, change: impl FnOnce(&mut Inner)) -> Self {
        let inner = &self.inner;
        let mut new = Inner {
            plugin: inner.plugin.clone(),
            deployed: inner.deployed.clone(),
            home: inner.home.clone(),
            db_options: inner.db_options.clone(),
            pool: inner.pool.clone(),
            open: None,
            idle_close: inner.idle_close,
        };
        if let Some(open) = &inner.open {
            new.open = Some(Mutex::new(OpenDatabases::new(locked(open).max())));
        }
        change(&mut new);
        Self {
            inner: Arc::new(new),
        }
    }

    /// How many idle tenant databases are open now.
    pub fn open_databases(&self) -> usize {
        self.inner
            .open
            .as_ref()
            .map_or(0, |open| locked(open).len())
    }

    /// The most idle tenant databases kept open (0: none are).
    pub fn max_open_databases(&self) -> usize {
        self.inner
            .open
            .as_ref()
            .map_or(0, |open| locked(open).max())
    }

    /// The plugin of the tenants without an active version of their own (every
    /// tenant's, without [`deployments`](Self::deployments)); `None` after
    /// [`without_default_plugin`](Self::without_default_plugin).
    pub fn plugin(&self) -> Option<&Plugin> {
        self.inner.plugin.as_ref()
    }

    /// Where the tenants' databases are.
    pub fn home(&self) -> &TenantHome {
        &self.inner.home
    }

    /// Runs `call` against a fresh instance of the plugin over `tenant`'s database
    /// (created on first use), then discards the instance. Any transaction the
    /// plugin left open is rolled back and the lock released before this returns.
    ///
    /// It blocks the calling thread, each plugin call for at most the plugin's
    /// time limit (plus one 10 ms tick) whatever the plugin does; threads do not
    /// wait for each other except on one tenant's write lock (and, on PostgreSQL,
    /// for a connection when all of the pool's are in use). From async code, call
    /// it inside `tokio::task::spawn_blocking`.
    ///
    /// ```no_run
    /// # use records_host::{PluginHost, Runtime, TenantName};
    /// # fn main() -> Result<(), records_host::Error> {
    /// let host = PluginHost::new(Runtime::new()?.load_reference()?, "data");
    /// let acme = TenantName::new("acme")?;
    /// let id = host.call(&acme, |plugin| plugin.create_record("order", 3))?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::Store`] when the tenant's database cannot be opened; what
    /// `call` returns otherwise.
    pub fn call<T>(
        &self,
        tenant: &TenantName,
        call: impl FnOnce(&mut PluginInstance) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.call_version(tenant, None, call)
    }

    /// Like [`call`](Self::call), running the tenant's version `version` when
    /// given (active or not: to try one before activating it), else what `call`
    /// runs: the tenant's active version, or the host's plugin.
    ///
    /// # Errors
    /// As [`call`](Self::call); [`Error::Deploy`] when the version does not
    /// exist or its bytes are damaged; [`Error::NoPluginDeployed`] when there is
    /// nothing to run.
    pub fn call_version<T>(
        &self,
        tenant: &TenantName,
        version: Option<u32>,
        call: impl FnOnce(&mut PluginInstance) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let db = self.take_database(tenant)?;
        let plugin = match self.plugin_for(tenant, &db, version) {
            Ok(plugin) => plugin,
            Err(e) => {
                self.put_back(tenant, db);
                return Err(e);
            }
        };
        let mut instance = plugin.instantiate_for(db, tenant)?;
        let result = call(&mut instance);
        if !result.as_ref().is_err_and(Error::stopped_the_plugin) {
            self.put_back(tenant, instance.into_database());
        }
        result
    }

    /// Whether `tenant`'s write lock is held now, and by whom, without opening
    /// its database or creating anything; on PostgreSQL over this host's pool.
    ///
    /// # Errors
    /// [`Error::Store`] when the lock's state cannot be read.
    pub fn lock_status(&self, tenant: &TenantName) -> Result<LockStatus, Error> {
        Ok(crate::store::lock_status_in(
            &self.inner.home.location(tenant),
            self.inner.pool.as_ref(),
        )?)
    }

    /// The tenant's idle database, or a newly opened one.
    fn take_database(&self, tenant: &TenantName) -> Result<Database, Error> {
        if let Some(db) = self
            .inner
            .open
            .as_ref()
            .and_then(|open| locked(open).take(tenant))
        {
            return Ok(db);
        }
        Ok(Database::open_from(
            self.inner.home.location(tenant),
            self.inner.db_options.clone(),
            self.inner.pool.as_ref(),
        )?)
    }

    /// Keeps `db` for the tenant's next call, when databases are kept open.
    fn put_back(&self, tenant: &TenantName, db: Database) {
        let Some(open) = &self.inner.open else {
            return;
        };
        // Closed outside the lock: the evicted (or surplus) database, if any.
        let closed = locked(open).put(tenant, db);
        drop(closed);
    }
}

/// Tenants' own versions: the runtime that compiles them, the loaded ones.
struct Deployed {
    runtime: Runtime,
    loaded: Mutex<LoadedPlugins>,
}

/// The type system holds the promise made above.
const _: () = {
    const fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<PluginHost>();
};
