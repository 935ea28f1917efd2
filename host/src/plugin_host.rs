//! A multi-tenant plugin host for long-running services.
//!
//! [`PluginHost`] is `Send + Sync` and cheap to clone (an `Arc`): build it once at
//! start-up, hand clones to every worker thread. It holds one compiled, pre-linked
//! plugin ([`Plugin`], an `InstancePre`), so no call compiles anything; each call
//! opens the tenant's database and gets a fresh `Store` and instance, so nothing a
//! plugin does in one call (globals, memory, open transactions) carries over to the
//! next call or to another tenant. Calls from many threads run at once; writes of
//! one tenant are serialized by that tenant's own write lock only.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::db::{Database, DatabaseOptions};
use crate::error::Error;
use crate::runtime::{Plugin, PluginInstance};
use crate::tenant::TenantName;

/// One plugin serving many tenants, each with a database of its own under
/// `<data-dir>/tenants/<name>/records.db`.
#[derive(Clone)]
pub struct PluginHost {
    inner: Arc<Inner>,
}

struct Inner {
    plugin: Plugin,
    data_dir: PathBuf,
    db_options: DatabaseOptions,
}

impl PluginHost {
    /// A host for `plugin` with tenant data under `data_dir` and default database
    /// options.
    pub fn new(plugin: Plugin, data_dir: impl Into<PathBuf>) -> Self {
        Self::with_options(plugin, data_dir, DatabaseOptions::default())
    }

    /// Like [`new`](Self::new), with `db_options` (lock timeout, transaction
    /// deadline) for every tenant's database.
    pub fn with_options(
        plugin: Plugin,
        data_dir: impl Into<PathBuf>,
        db_options: DatabaseOptions,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                plugin,
                data_dir: data_dir.into(),
                db_options,
            }),
        }
    }

    /// The plugin every call runs.
    pub fn plugin(&self) -> &Plugin {
        &self.inner.plugin
    }

    /// The directory holding `tenants/<name>/records.db`.
    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// Runs `call` against a fresh instance of the plugin over `tenant`'s database
    /// (created on first use), then discards the instance. Any transaction the
    /// plugin left open is rolled back and the lock released before this returns.
    ///
    /// It blocks the calling thread, each plugin call for at most the plugin's
    /// time limit (plus one 10 ms tick) whatever the plugin does; threads do not
    /// wait for each other except on one tenant's write lock. From async code,
    /// call it inside `tokio::task::spawn_blocking`.
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
    /// [`Error::OpenDatabase`] when the tenant's database cannot be opened; what
    /// `call` returns otherwise.
    pub fn call<T>(
        &self,
        tenant: &TenantName,
        call: impl FnOnce(&mut PluginInstance) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let path = tenant.database_path(&self.inner.data_dir);
        let db = Database::open_with(path, self.inner.db_options.clone())?;
        let mut instance = self.inner.plugin.instantiate_for(db, tenant)?;
        call(&mut instance)
    }
}

/// The type system holds the promise made above.
const _: () = {
    const fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<PluginHost>();
};
