//! The HTTP API as a library item: [`Service`] holds what every request shares
//! (the plugin host, who may call, the call slots and pool, the metrics) and
//! gives the [`axum::Router`] that answers them, for `records-host serve` or for
//! a platform that nests it in an axum app of its own.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use records_host::{DEFAULT_KEEP_VERSIONS, DEFAULT_MAX_PLUGIN_SIZE, PluginHost};
use tokio::sync::Semaphore;

use super::app;
use super::auth::Auth;
use super::bound::CallBound;
use super::metrics::Metrics;
use super::state::{AppState, Deploys};
use super::tenant_shares::TenantShares;

/// The HTTP API of `records-host serve` over one [`PluginHost`]: its routes are
/// `GET /healthz`, `GET /metrics`, `POST /v1/tenants/{tenant}/call`,
/// `GET /v1/tenants/{tenant}/lock`, and the deploy routes under
/// `/v1/tenants/{tenant}/plugins` and `/v1/tenants/{tenant}/scripts/{script}`
/// (which need a host built with [`PluginHost::deployments`]).
///
/// Cloning is cheap: clones share the host, the call pool and the metrics.
/// Keep one outside the async runtime until it has shut down: on PostgreSQL the
/// host's blocking client may not be dropped inside it.
#[derive(Clone)]
pub struct Service {
    pub(crate) state: Arc<AppState>,
}

/// How a [`Service`] is set up; from [`Service::builder`].
pub struct ServiceBuilder {
    host: PluginHost,
    auth: Auth,
    bound: CallBound,
    per_tenant: Option<u32>,
    read_timeout: Duration,
    max_plugin_size: u64,
    max_concurrent_compiles: usize,
    keep_versions: u32,
}

impl Service {
    /// A service of `host`'s plugin to the callers `auth` admits, with the
    /// default bounds.
    pub fn builder(host: PluginHost, auth: Auth) -> ServiceBuilder {
        ServiceBuilder {
            host,
            auth,
            bound: CallBound::DEFAULT,
            per_tenant: None,
            read_timeout: ServiceBuilder::DEFAULT_READ_TIMEOUT,
            max_plugin_size: DEFAULT_MAX_PLUGIN_SIZE,
            max_concurrent_compiles: default_compiles(),
            keep_versions: DEFAULT_KEEP_VERSIONS,
        }
    }

    /// The routes, with their state and the layers every request passes (a
    /// request id; with [`Auth::Open`], the loopback `Host` check). Nest it
    /// under a prefix of your own app with [`Router::nest`].
    pub fn router(&self) -> Router {
        app::router(Arc::clone(&self.state))
    }
}

impl ServiceBuilder {
    /// How long a request's body may take to arrive after its headers unless
    /// configured otherwise: 10 s.
    pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);

    /// How many calls may run at once (default [`CallBound::DEFAULT`]); more
    /// are answered 503 with `Retry-After`.
    pub fn max_concurrent(mut self, bound: CallBound) -> Self {
        self.bound = bound;
        self
    }

    /// How many of one tenant's calls may run at once (default: a quarter of
    /// the bound, at least 1); more are answered 503 while other tenants' calls
    /// go on.
    pub fn max_concurrent_per_tenant(mut self, calls: u32) -> Self {
        self.per_tenant = Some(calls);
        self
    }

    /// How long a call's body may take to arrive after its headers (408 beyond).
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// The largest upload taken, in bytes (413 beyond; default
    /// [`DEFAULT_MAX_PLUGIN_SIZE`]).
    pub fn max_plugin_size(mut self, bytes: u64) -> Self {
        self.max_plugin_size = bytes;
        self
    }

    /// How many uploads may compile and run their checks at once (default:
    /// half the cores, at least 1); more are answered 503 with `Retry-After`.
    pub fn max_concurrent_compiles(mut self, uploads: usize) -> Self {
        self.max_concurrent_compiles = uploads.max(1);
        self
    }

    /// How many versions of a slot are kept (and the active one); default
    /// [`DEFAULT_KEEP_VERSIONS`].
    pub fn keep_versions(mut self, versions: u32) -> Self {
        self.keep_versions = versions.max(1);
        self
    }

    /// Each tenant's share of the calls at once, as configured or by default.
    pub(crate) fn per_tenant(&self) -> u32 {
        self.per_tenant
            .unwrap_or_else(|| self.bound.default_share())
    }

    /// The service; the call pool's threads start now.
    pub fn build(self) -> Service {
        let per_tenant = self.per_tenant();
        Service {
            state: Arc::new(AppState {
                host: self.host,
                auth: Arc::new(self.auth),
                slots: self.bound.slots(),
                shares: TenantShares::new(per_tenant as usize),
                calls: self.bound.pool(),
                metrics: Arc::new(Metrics::new()),
                read_timeout: self.read_timeout,
                deploys: Deploys {
                    max_plugin_size: usize::try_from(self.max_plugin_size).unwrap_or(usize::MAX),
                    compiles: Arc::new(Semaphore::new(self.max_concurrent_compiles)),
                    keep_versions: self.keep_versions,
                },
            }),
        }
    }
}

/// Half the cores, at least 1: compiling is the one thing an upload does that
/// takes whole seconds of a core.
fn default_compiles() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}
