//! `records-host serve`: the multi-tenant sandbox as an HTTP service.
//!
//! One compiled plugin, a fresh sandboxed instance per call over the tenant's own
//! database (`PluginHost`); calls run on the threads of `call_pool.rs`, behind a
//! bound on how many run at once; the HTTP side is axum on tokio. Each tenant is reachable only
//! with its own token (`tokens.rs`); every non-200 status is decided in
//! `api_error.rs`. SIGTERM or SIGINT stops it gracefully: no new connections,
//! in-flight calls (each bounded by its time limit) finish within the grace
//! period, then exit 0. SIGHUP re-reads the tokens file.

mod api_error;
mod app;
mod call_pool;
mod listener;
mod metrics;
mod tokens;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use records_host::{PluginHost, TenantHome, TenantName};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Semaphore;

use self::app::{AppState, Auth};
use self::listener::ConnectionLimits;
use self::tokens::Tokens;
use super::args::{CompileArgs, WriteArgs};
use super::{UsageError, exit};

/// Serve the plugin to many tenants over HTTP.
#[derive(Debug, Args)]
pub(crate) struct Serve {
    /// Where to listen, such as 127.0.0.1:8080 (port 0: any free port; the bound
    /// address is printed as `listening on http://HOST:PORT`).
    #[arg(long, value_name = "ADDR")]
    listen: SocketAddr,

    /// The plugin component (default: the embedded reference plugin).
    #[arg(long, value_name = "FILE.wasm")]
    plugin: Option<PathBuf>,

    /// Where tenants' SQLite databases live: DIR/tenants/NAME/records.db.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "data",
        conflicts_with = "db"
    )]
    data_dir: PathBuf,

    /// Keep tenants in this PostgreSQL database instead, a schema each.
    #[arg(long, value_name = "URL")]
    db: Option<String>,

    /// The tokens file: lines `<tenant> <sha256 hex of the token>` (see `records-host
    /// token`); re-read on SIGHUP.
    #[arg(long, value_name = "FILE", required_unless_present = "no_auth")]
    tokens: Option<PathBuf>,

    /// Serve without credentials: every tenant to every client. Loopback only.
    #[arg(long, conflicts_with = "tokens")]
    no_auth: bool,

    /// How many plugin calls may run at once; more get 503 with Retry-After.
    #[arg(long, value_name = "N", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    max_concurrent: u32,

    /// How many client connections are served at once; more wait to be accepted.
    #[arg(long, value_name = "N", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_connections: u32,

    /// How long a request's headers, and then its body, may take to arrive, in
    /// milliseconds; also how long a kept-alive connection may stay idle.
    #[arg(long, value_name = "MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    read_timeout: u64,

    /// How many idle tenant databases are kept open between calls (least recently
    /// used closed first); 0 opens one per call.
    #[arg(long, value_name = "N", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    max_open_dbs: u32,

    #[command(flatten)]
    writes: WriteArgs,

    #[command(flatten)]
    compile: CompileArgs,
}

impl Serve {
    pub(crate) fn execute(&self) -> anyhow::Result<u8> {
        if self.no_auth && !self.listen.ip().is_loopback() {
            return Err(UsageError(format!(
                "--no-auth serves every tenant to every client, so it listens on loopback only, not {}",
                self.listen
            ))
            .into());
        }
        let auth = match &self.tokens {
            Some(path) => Auth::Tokens(Arc::new(RwLock::new(Tokens::load(path)?))),
            None => Auth::Open,
        };
        let runtime = self.compile.runtime_pooled(self.max_concurrent)?;
        let plugin = match &self.plugin {
            Some(path) => runtime.load_file(path)?,
            None => runtime.load_reference()?,
        };
        let home = match &self.db {
            Some(url) => TenantHome::from(url.as_str()),
            None => TenantHome::Directory(self.data_dir.clone()),
        };
        let options = self.writes.options();
        // A call's thread is busy for at most its time limit; the grace period
        // lets every call that started finish.
        let grace = plugin.limits().timeout + Duration::from_secs(2);
        let state = Arc::new(AppState {
            host: PluginHost::with_options(plugin, home.clone(), options)
                .keep_open(self.max_open_dbs as usize),
            home,
            auth,
            slots: Arc::new(Semaphore::new(self.max_concurrent as usize)),
            calls: call_pool::CallPool::new(self.max_concurrent as usize),
            metrics: metrics::Metrics::new(),
        });
        raise_descriptor_limit();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .max_blocking_threads(self.max_concurrent as usize + 16)
            .build()
            .context("cannot start the async runtime")?;
        let limits = ConnectionLimits {
            max_connections: self.max_connections as usize,
            header_timeout: Duration::from_millis(self.read_timeout),
            grace,
        };
        let result = runtime.block_on(self.run(state.clone(), limits));
        runtime.shutdown_timeout(grace);
        // Last, outside the async runtime: PostgreSQL's blocking client may not be
        // dropped inside it.
        drop(state);
        result
    }

    async fn run(&self, state: Arc<AppState>, limits: ConnectionLimits) -> anyhow::Result<u8> {
        let listener = tokio::net::TcpListener::bind(self.listen)
            .await
            .with_context(|| format!("cannot listen on {}", self.listen))?;
        let local = listener.local_addr()?;
        println!("listening on http://{local}");
        if let Auth::Tokens(tokens) = &state.auth {
            tokio::spawn(reload_on_sighup(
                self.tokens.clone().unwrap_or_default(),
                tokens.clone(),
            ));
        }
        let app = app::router(state, limits.header_timeout);
        listener::serve(listener, app, limits, shutdown_signal()).await;
        tracing::info!("stopped");
        Ok(exit::OK)
    }
}

/// Raises the soft limit on open file descriptors to the hard limit: each open
/// tenant database holds a few, and the default soft limit (often 1024) would cap
/// `--max-open-dbs` long before memory does.
fn raise_descriptor_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid, exclusively borrowed rlimit.
    let raised = unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0
        }
    };
    if raised {
        tracing::debug!(
            limit = limit.rlim_cur,
            "open file limit raised to the hard limit"
        );
    } else {
        tracing::warn!(
            "could not raise the open file limit: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the process ends the default way.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = int.recv() => tracing::info!("SIGINT: stopping"),
    }
}

/// Re-reads the tokens file on every SIGHUP; a file that does not load leaves the
/// tokens as they were.
async fn reload_on_sighup(path: PathBuf, tokens: Arc<RwLock<Tokens>>) {
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        return;
    };
    while hangups.recv().await.is_some() {
        match Tokens::load(&path) {
            Ok(fresh) => {
                let count = fresh.len();
                if let Ok(mut current) = tokens.write() {
                    *current = fresh;
                }
                // Said once it is true: the new tokens are in use.
                tracing::info!(tokens = count, "SIGHUP: tokens reloaded");
            }
            Err(e) => tracing::warn!("SIGHUP: tokens not reloaded, keeping the old ones: {e:#}"),
        }
    }
}

/// `records-host token`: make a tenant's token.
#[derive(Debug, Args)]
pub(crate) struct Token {
    /// The tenant the token is for.
    #[arg(value_name = "TENANT")]
    tenant: TenantName,

    /// The tokens file to append its hash to (created with mode 0600 when missing).
    #[arg(long, value_name = "FILE")]
    tokens: PathBuf,
}

impl Token {
    pub(crate) fn execute(&self) -> anyhow::Result<u8> {
        let token = tokens::mint(&self.tokens, &self.tenant)?;
        println!("{token}");
        Ok(exit::OK)
    }
}
