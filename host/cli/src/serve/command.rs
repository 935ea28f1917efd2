//! `records-host serve` and `records-host token`: the command line around the
//! service of `service.rs`. `serve` reads the tokens file (and again on
//! SIGHUP), sizes everything from one bound on calls at once, listens, and stops
//! gracefully on SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use records_host::is_postgres_url;
use records_host::{PluginHost, TenantHome, TenantName};
use tokio::signal::unix::{SignalKind, signal};

use super::auth::Auth;
use super::bound::CallBound;
use super::deploy_args::DeployArgs;
use super::descriptors;
use super::listener::{self, ConnectionLimits};
use super::service::{Service, ServiceBuilder};
use super::tokens::Scope;
use super::{token_file, tokens};
use crate::args::{CompileArgs, WriteArgs};
use crate::exit;
use crate::usage::UsageError;

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

    /// Where tenants' SQLite databases live: DIR/tenants/NAME/records.db [default:
    /// data]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Keep tenants in this PostgreSQL database instead, a schema each (the
    /// password is better kept out of the command line: set RECORDS_HOST_DB).
    #[arg(
        long,
        value_name = "URL",
        env = "RECORDS_HOST_DB",
        hide_env_values = true
    )]
    db: Option<String>,

    /// The tokens file: lines `<tenant> <sha256 hex of the token> [call|deploy]`
    /// (see `records-host token`; no scope is call); re-read on SIGHUP.
    #[arg(long, value_name = "FILE", required_unless_present = "no_auth")]
    tokens: Option<PathBuf>,

    /// Serve without credentials: every tenant to every client. Loopback only.
    #[arg(long, conflicts_with = "tokens")]
    no_auth: bool,

    /// How many plugin calls may run at once; more get 503 with Retry-After.
    #[arg(long, value_name = "N", default_value_t = CallBound::DEFAULT.calls(),
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    max_concurrent: u32,

    /// How many of one tenant's calls may run at once; more get 503 with
    /// Retry-After while other tenants' calls go on [default: a quarter of
    /// --max-concurrent, at least 1]
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    max_concurrent_per_tenant: Option<u32>,

    /// How many client connections are served at once; more wait to be accepted.
    #[arg(long, value_name = "N", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_connections: u32,

    /// How long a request's headers may take to arrive, and then all of its body,
    /// in milliseconds; also how long a kept-alive connection may stay idle.
    #[arg(long, value_name = "MS",
          default_value_t = ServiceBuilder::DEFAULT_READ_TIMEOUT.as_secs() * 1000,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    read_timeout: u64,

    /// How many idle tenant databases are kept open between calls (least recently
    /// used closed first); 0 opens one per call [default: what the descriptor
    /// limit leaves, logged at start: (hard limit - 256 - --max-connections) / 4
    /// - --max-concurrent]
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    max_open_dbs: Option<u32>,

    /// Close a tenant database nobody called for this many seconds (the next
    /// call opens it again); 0 keeps them until the bound above closes them.
    #[arg(long, value_name = "SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(0..=604_800))]
    idle_close: u64,

    #[command(flatten)]
    deploys: DeployArgs,

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
        let home = self.home()?;
        let descriptors = descriptors::raise_descriptor_limit();
        let bound = CallBound::new(self.max_concurrent);
        let tokens = match &self.tokens {
            Some(path) => Some(token_file::load_at_start(path)?),
            None => None,
        };
        let compiler = self
            .deploys
            .compiler(self.compile.limits(), self.compile.max_plugin_size());
        let runtime = self
            .compile
            .runtime_compiling_with(bound.instances(), Arc::new(compiler))?;
        let plugin = match &self.plugin {
            Some(path) => runtime.load_file(path)?,
            None => runtime.load_reference()?,
        };
        // A call's thread is busy for at most its time limit; the grace period
        // lets every call that started finish.
        let grace = plugin.limits().timeout + Duration::from_secs(2);
        let max_open_dbs = descriptors::max_open_dbs(
            self.max_open_dbs,
            descriptors,
            self.max_connections,
            bound.calls(),
        );
        let mut host = PluginHost::with_options(plugin, home, self.writes.options())
            .keep_open(max_open_dbs)
            .deployments(runtime.clone(), self.deploys.max_loaded_plugins_mib << 20);
        if self.idle_close > 0 {
            host = host.close_idle_after(Duration::from_secs(self.idle_close));
        }
        if self.deploys.no_default_plugin {
            host = host.without_default_plugin();
        }
        let loaded = tokens
            .as_ref()
            .map(|parsed| (parsed.tokens.len(), parsed.malformed.len()));
        let auth = tokens.map_or(Auth::Open, |parsed| Auth::tokens(parsed.tokens));
        let mut builder = Service::builder(host, auth)
            .max_concurrent(bound)
            .read_timeout(Duration::from_millis(self.read_timeout))
            .max_plugin_size(runtime.max_plugin_size())
            .keep_versions(self.deploys.keep_versions);
        if let Some(compiles) = self.deploys.max_concurrent_compiles {
            builder = builder.max_concurrent_compiles(compiles as usize);
        }
        if let Some(share) = self.max_concurrent_per_tenant {
            builder = builder.max_concurrent_per_tenant(share);
        }
        tracing::info!(
            max_concurrent = bound.calls(),
            max_concurrent_per_tenant = builder.per_tenant(),
            "call slots"
        );
        let service = builder.build();
        if let Some((tokens, malformed)) = loaded {
            service.state.metrics.tokens_loaded(tokens, malformed);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .max_blocking_threads(bound.blocking_threads())
            .build()
            .context("cannot start the async runtime")?;
        let limits = ConnectionLimits {
            max_connections: self.max_connections as usize,
            header_timeout: Duration::from_millis(self.read_timeout),
            grace,
        };
        let result = runtime.block_on(self.run(&service, limits));
        runtime.shutdown_timeout(grace);
        // Last, outside the async runtime: PostgreSQL's blocking client may not be
        // dropped inside it.
        drop(service);
        result
    }

    /// Where the tenants live: `--data-dir` (default `data`), or the PostgreSQL
    /// database of `--db` or `RECORDS_HOST_DB`.
    fn home(&self) -> Result<TenantHome, UsageError> {
        match (&self.db, &self.data_dir) {
            (Some(_), Some(_)) => Err(UsageError(
                "--data-dir is for SQLite tenants; --db (or RECORDS_HOST_DB) names a PostgreSQL database: give one of them"
                    .into(),
            )),
            (Some(url), None) if is_postgres_url(url) => Ok(TenantHome::from(url.as_str())),
            // Not echoed: it may hold a password.
            (Some(_), None) => Err(UsageError(
                "serve's --db (or RECORDS_HOST_DB) must be a postgres:// or postgresql:// URL; SQLite tenants live under --data-dir"
                    .into(),
            )),
            (None, dir) => Ok(TenantHome::Directory(
                dir.clone().unwrap_or_else(|| PathBuf::from("data")),
            )),
        }
    }

    async fn run(&self, service: &Service, limits: ConnectionLimits) -> anyhow::Result<u8> {
        let listener = tokio::net::TcpListener::bind(self.listen)
            .await
            .with_context(|| format!("cannot listen on {}", self.listen))?;
        let local = listener.local_addr()?;
        println!("listening on http://{local}");
        if let Auth::Tokens(tokens) = &*service.state.auth {
            tokio::spawn(token_file::reload_on_sighup(
                self.tokens.clone().unwrap_or_default(),
                tokens.clone(),
                service.state.metrics.clone(),
            ));
        }
        if self.idle_close > 0 {
            tokio::spawn(descriptors::close_idle_databases(
                service.state.host.clone(),
                Duration::from_secs(self.idle_close),
            ));
        }
        listener::serve(listener, service.router(), limits, shutdown_signal()).await;
        tracing::info!("stopped");
        Ok(exit::OK)
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

/// `records-host token`: make a tenant's token.
#[derive(Debug, Args)]
pub(crate) struct Token {
    /// The tenant the token is for.
    #[arg(value_name = "TENANT")]
    tenant: TenantName,

    /// The tokens file to append its hash to (created with mode 0600 when missing).
    #[arg(long, value_name = "FILE")]
    tokens: PathBuf,

    /// What the token may do: call (the tenant's calls and lock status), or
    /// deploy (that, and its plugin and script versions).
    #[arg(long, value_enum, default_value_t = Scope::Call)]
    scope: Scope,
}

impl Token {
    pub(crate) fn execute(&self) -> anyhow::Result<u8> {
        let token = tokens::mint(&self.tokens, &self.tenant, self.scope)?;
        println!("{token}");
        Ok(exit::OK)
    }
}
