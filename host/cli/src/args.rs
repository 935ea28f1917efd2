//! The arguments the commands share: which database, its lock, the limits and
//! how plugins are compiled.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use records_host::DEFAULT_LOCK_TIMEOUT;
use records_host::DEFAULT_MAX_PLUGIN_SIZE;
use records_host::{DEFAULT_TXN_DEADLINE, lock_metrics_at};
use std::sync::Arc;

use records_host::{Compiler, Database, DatabaseOptions, Limits, Runtime, RuntimeBuilder};

use super::target::Target;

/// The longest time limit, lock timeout or transaction deadline taken, in
/// milliseconds: a day.
const A_DAY_MS: u64 = 86_400_000;

/// `duration` in whole milliseconds, for a default shown by `--help`.
const fn millis(duration: Duration) -> u64 {
    duration.as_millis() as u64
}

/// `bytes` in whole MiB, for a default shown by `--help`.
const fn mib(bytes: u64) -> u64 {
    bytes >> 20
}

/// What a plugin call may consume.
#[derive(Debug, Args)]
pub(crate) struct LimitArgs {
    /// Wall-clock limit of one plugin call, in milliseconds (at most a day).
    #[arg(long, value_name = "MS", default_value_t = millis(Limits::DEFAULT_TIMEOUT),
          value_parser = clap::value_parser!(u64).range(1..=A_DAY_MS))]
    timeout: u64,

    /// Largest linear memory of a plugin instance, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = mib(Limits::DEFAULT_MAX_MEMORY as u64),
          value_parser = clap::value_parser!(u64).range(1..=65536))]
    max_memory: u64,

    /// Fuel budget of one plugin call (deterministic instruction metering); none by default.
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,

    /// Largest database, in MiB; writes past it fail with a storage error.
    #[arg(long, value_name = "MIB", default_value_t = mib(Limits::DEFAULT_MAX_DB_SIZE),
          value_parser = clap::value_parser!(u64).range(1..=(1 << 40)))]
    max_db_size: u64,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        Limits {
            timeout: Duration::from_millis(self.timeout),
            max_memory: usize::try_from(self.max_memory << 20).unwrap_or(usize::MAX),
            fuel: self.fuel,
            max_db_size: self.max_db_size << 20,
            ..Limits::default()
        }
    }
}

/// How writers wait for the write lock and how long a write transaction may stay
/// open: the database options every command that writes takes.
#[derive(Debug, Args)]
pub(crate) struct WriteArgs {
    /// How long a write waits for the write lock, in milliseconds (at most a day).
    #[arg(long, value_name = "MS", default_value_t = millis(DEFAULT_LOCK_TIMEOUT),
          value_parser = clap::value_parser!(u64).range(0..=A_DAY_MS))]
    lock_timeout: u64,

    /// How long a plugin's write transaction may stay open before the host rolls it
    /// back and releases the lock, in milliseconds (at most a day).
    #[arg(long, value_name = "MS", default_value_t = millis(DEFAULT_TXN_DEADLINE),
          value_parser = clap::value_parser!(u64).range(1..=A_DAY_MS))]
    txn_deadline: u64,
}

impl WriteArgs {
    pub(crate) fn options(&self) -> DatabaseOptions {
        DatabaseOptions {
            lock_timeout: Duration::from_millis(self.lock_timeout),
            txn_deadline: Duration::from_millis(self.txn_deadline),
            ..DatabaseOptions::default()
        }
    }
}

/// Where the database is and how writers wait for its lock.
#[derive(Debug, Args)]
pub(crate) struct DbArgs {
    #[command(flatten)]
    pub(crate) target: Target,

    #[command(flatten)]
    writes: WriteArgs,

    /// When done, print this process's write-lock metrics to stderr (acquisitions,
    /// contended ones, timeouts, total and longest wait).
    #[arg(long)]
    lock_stats: bool,
}

impl DbArgs {
    pub(crate) fn open(&self) -> anyhow::Result<Database> {
        Ok(Database::open_with(
            self.target.location()?,
            self.writes.options(),
        )?)
    }

    /// Runs `command`, then prints this process's metrics of the database's lock
    /// when `--lock-stats` asks.
    pub(crate) fn with_lock_stats(
        &self,
        command: impl FnOnce() -> anyhow::Result<u8>,
    ) -> anyhow::Result<u8> {
        let result = command();
        if self.lock_stats {
            let metrics = self
                .target
                .location()
                .map(|location| lock_metrics_at(&location))
                .unwrap_or_default();
            eprintln!("lock: {metrics}");
        }
        result
    }
}

/// How plugins are compiled and bounded.
#[derive(Debug, Args)]
pub(crate) struct CompileArgs {
    /// Compile the plugin in this process instead of using the compiled-code cache.
    #[arg(long)]
    no_cache: bool,

    /// Largest plugin file read, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = mib(DEFAULT_MAX_PLUGIN_SIZE),
          value_parser = clap::value_parser!(u64).range(1..=(1 << 20)))]
    max_plugin_size: u64,

    #[command(flatten)]
    limits: LimitArgs,
}

impl CompileArgs {
    pub(crate) fn runtime(&self) -> anyhow::Result<Runtime> {
        self.runtime_with(Runtime::builder())
    }

    /// A runtime for a server running up to `instances` calls at once: their
    /// instances' memory is pooled and reused. Where the pool's address space
    /// cannot be reserved (a `ulimit -v`), it warns and maps memory per instance.
    /// Uploads are compiled by `compiler`, which needs the cache (without it,
    /// `--no-cache`, they compile in this process).
    pub(crate) fn runtime_compiling_with(
        &self,
        instances: u32,
        compiler: Arc<dyn Compiler>,
    ) -> anyhow::Result<Runtime> {
        self.runtime_pooled_with(instances, Runtime::builder().compiler(compiler))
    }

    /// The limits of every call.
    pub(crate) fn limits(&self) -> Limits {
        self.limits.limits()
    }

    /// The largest plugin read, in bytes.
    pub(crate) fn max_plugin_size(&self) -> u64 {
        self.max_plugin_size << 20
    }

    fn runtime_pooled_with(
        &self,
        instances: u32,
        builder: RuntimeBuilder,
    ) -> anyhow::Result<Runtime> {
        match self.runtime_with(builder.clone().instance_pool(instances)) {
            Err(e) if matches!(e.downcast_ref(), Some(records_host::Error::Engine(_))) => {
                tracing::warn!(error = %e, "no instance pool: each call maps its own memory");
                self.runtime_with(builder)
            }
            pooled => pooled,
        }
    }

    fn runtime_with(&self, builder: RuntimeBuilder) -> anyhow::Result<Runtime> {
        let mut builder = builder
            .limits(self.limits.limits())
            .max_plugin_size(self.max_plugin_size << 20);
        if let Some(dir) = cache_dir().filter(|_| !self.no_cache) {
            builder = builder.cache_dir(dir);
        }
        Ok(builder.build()?)
    }
}

/// `$RECORDS_HOST_CACHE_DIR`, else `$XDG_CACHE_HOME/records-host`, else
/// `~/.cache/records-host`; none when neither variable nor a home is known.
fn cache_dir() -> Option<PathBuf> {
    let from_env = |var: &str| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    from_env("RECORDS_HOST_CACHE_DIR")
        .or_else(|| from_env("XDG_CACHE_HOME").map(|dir| dir.join("records-host")))
        .or_else(|| from_env("HOME").map(|home| home.join(".cache").join("records-host")))
}
