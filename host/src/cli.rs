//! The `records-host` command line: clap commands, each with its own `execute`.
//!
//! Errors are reported once, here at the edge, on stderr, as one line (a lock
//! timeout adds the holder lines of its message), and mapped to the exit codes below.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use records_host::lock::LockError;
use records_host::wave_call::{Outcome, to_wave};
use records_host::{
    Database, DatabaseOptions, Error, Limits, LockStatus, Plugin, PluginInstance, RecordError,
    Runtime, TenantName, WriteLock,
};

/// The exit codes, as documented in `--help` and the README.
pub mod exit {
    /// The command succeeded.
    pub const OK: u8 = 0;
    /// The call returned `err(..)` (printed on stdout), or another error occurred.
    pub const FAILURE: u8 = 1;
    /// The command line or the call expression was malformed.
    pub const USAGE: u8 = 2;
    /// A write gave up waiting for the write lock (EX_TEMPFAIL): try again.
    pub const TEMPFAIL: u8 = 75;
}

const EXIT_CODES_HELP: &str = "\
Exit codes:
  0   success
  1   the call returned err(..) (printed on stdout), or another error (one line on stderr),
      including a plugin stopped by a trap or a limit
  2   usage error (bad arguments, bad tenant name, unparsable call, unknown function)
  75  a write timed out waiting for the write lock (EX_TEMPFAIL): try again
  `run` exits with the script's own exit code when the script runs to its end

Environment:
  RUST_LOG                 log filter for diagnostics on stderr (e.g. records_host=debug)
  RECORDS_HOST_CACHE_DIR   where compiled plugins are cached
                           (default $XDG_CACHE_HOME/records-host or ~/.cache/records-host)";

/// A WebAssembly component host with a SQLite record store.
///
/// Plugins (components of the records:plugin/plugin world) do record CRUD through
/// the host; every write is serialized across processes by a flock write lock on
/// db.lock beside the database.
#[derive(Debug, Parser)]
#[command(name = "records-host", version, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create record ("test", 42) through the reference plugin and read it back.
    Demo(Demo),
    /// Call one export of a plugin, with arguments and result in WAVE.
    Call(Call),
    /// Run a command component (a script with a `fn main`) against the store.
    Run(RunScript),
    /// Say whether the write lock is free or held, and by whom.
    LockStatus(LockStatusCmd),
}

/// Which database: one file (`--db`), or a tenant's (`--tenant`).
#[derive(Debug, Args)]
struct Target {
    /// The SQLite database (created, with its directories, when missing).
    #[arg(
        long,
        value_name = "PATH",
        default_value = "data/app.db",
        conflicts_with = "tenant"
    )]
    db: PathBuf,

    /// Use this tenant's database, <DATA_DIR>/tenants/<NAME>/records.db
    /// (NAME: [a-z0-9][a-z0-9_-]{0,62}).
    #[arg(long, value_name = "NAME")]
    tenant: Option<TenantName>,

    /// Where tenant databases live.
    #[arg(long, value_name = "DIR", default_value = "data", requires = "tenant")]
    data_dir: PathBuf,
}

impl Target {
    fn path(&self) -> PathBuf {
        match &self.tenant {
            Some(tenant) => tenant.database_path(&self.data_dir),
            None => self.db.clone(),
        }
    }
}

/// What a plugin call may consume.
#[derive(Debug, Args)]
struct LimitArgs {
    /// Wall-clock limit of one plugin call, in milliseconds (at most a day).
    #[arg(long, value_name = "MS", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(1..=86_400_000))]
    timeout: u64,

    /// Largest linear memory of a plugin instance, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(1..=65536))]
    max_memory: u64,

    /// Fuel budget of one plugin call (deterministic instruction metering); none by default.
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,

    /// Largest database, in MiB; writes past it fail with a storage error.
    #[arg(long, value_name = "MIB", default_value_t = 1024,
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

/// Where the database is and how writers wait for its lock.
#[derive(Debug, Args)]
struct DbArgs {
    #[command(flatten)]
    target: Target,

    /// How long a write waits for the write lock, in milliseconds (at most a day).
    #[arg(long, value_name = "MS", default_value_t = 500,
          value_parser = clap::value_parser!(u64).range(0..=86_400_000))]
    lock_timeout: u64,

    /// How long a plugin's write transaction may stay open before the host rolls it
    /// back and releases the lock, in milliseconds (at most a day).
    #[arg(long, value_name = "MS", default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(1..=86_400_000))]
    txn_deadline: u64,

    /// When done, print this process's write-lock metrics to stderr (acquisitions,
    /// contended ones, timeouts, total and longest wait).
    #[arg(long)]
    lock_stats: bool,
}

impl DbArgs {
    fn open(&self) -> anyhow::Result<Database> {
        let options = DatabaseOptions {
            lock_timeout: Duration::from_millis(self.lock_timeout),
            txn_deadline: Duration::from_millis(self.txn_deadline),
            ..DatabaseOptions::default()
        };
        Ok(Database::open_with(self.target.path(), options)?)
    }

    /// Runs `command`, then prints the lock metrics when `--lock-stats` asks.
    fn with_lock_stats(&self, command: impl FnOnce() -> anyhow::Result<u8>) -> anyhow::Result<u8> {
        let result = command();
        if self.lock_stats {
            let lock = WriteLock::for_database(&self.target.path(), Duration::ZERO);
            eprintln!("lock: {}", lock.metrics());
        }
        result
    }
}

/// How plugins are compiled and bounded.
#[derive(Debug, Args)]
struct CompileArgs {
    /// Compile the plugin in this process instead of using the compiled-code cache.
    #[arg(long)]
    no_cache: bool,

    #[command(flatten)]
    limits: LimitArgs,
}

impl CompileArgs {
    fn runtime(&self) -> anyhow::Result<Runtime> {
        let mut builder = Runtime::builder().limits(self.limits.limits());
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

#[derive(Debug, Args)]
struct Demo {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    compile: CompileArgs,
}

impl Demo {
    fn execute(&self) -> anyhow::Result<u8> {
        self.db.with_lock_stats(|| self.run())
    }

    fn run(&self) -> anyhow::Result<u8> {
        let plugin = self.compile.runtime()?.load_reference()?;
        let mut instance = instantiate(&plugin, &self.db)?;
        println!("database: {}", self.db.target.path().display());
        match instance.create_record("test", 42) {
            Ok(id) => {
                println!("created record {id}");
                let record = instance.get_record(id)?;
                match record {
                    Some(r) => println!(
                        "read back: {{id: {}, name: {:?}, value: {}}}",
                        r.id, r.name, r.value
                    ),
                    None => println!("read back: nothing (deleted by another writer already)"),
                }
                Ok(exit::OK)
            }
            Err(Error::Record(RecordError::LockTimeout(timeout))) => {
                eprintln!("{timeout}");
                Ok(exit::TEMPFAIL)
            }
            Err(other) => Err(other.into()),
        }
    }
}

#[derive(Debug, Args)]
struct Call {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    compile: CompileArgs,

    /// The plugin component (default: the embedded reference plugin).
    #[arg(long, value_name = "FILE.wasm")]
    plugin: Option<PathBuf>,

    /// Print the result as JSON instead of WAVE.
    #[arg(long)]
    json: bool,

    /// The call, in WAVE: `create-record("test", 42)`, `get-record(1)`,
    /// `records#get-all-records()`.
    #[arg(value_name = "FUNC(ARGS)")]
    call: String,
}

impl Call {
    fn execute(&self) -> anyhow::Result<u8> {
        self.db.with_lock_stats(|| self.run())
    }

    fn run(&self) -> anyhow::Result<u8> {
        let plugin = self.load_plugin()?;
        let mut instance = instantiate(&plugin, &self.db)?;
        let results = instance.call(&self.call)?;
        if self.json {
            for result in &results {
                println!("{}", records_host::json::to_json(result));
            }
        } else if !results.is_empty() {
            println!("{}", to_wave(&results)?);
        }
        Ok(match Outcome::of(&results) {
            Outcome::Ok => exit::OK,
            Outcome::Err => exit::FAILURE,
            Outcome::LockTimeout => exit::TEMPFAIL,
        })
    }

    fn load_plugin(&self) -> anyhow::Result<Plugin> {
        let runtime = self.compile.runtime()?;
        Ok(match &self.plugin {
            Some(path) => runtime.load_file(path)?,
            None => runtime.load_reference()?,
        })
    }
}

/// Instantiates `plugin` over the database `args` names, for its tenant if any.
fn instantiate(plugin: &Plugin, args: &DbArgs) -> anyhow::Result<PluginInstance> {
    let db = args.open()?;
    Ok(match &args.target.tenant {
        Some(tenant) => plugin.instantiate_for(db, tenant)?,
        None => plugin.instantiate(db)?,
    })
}

#[derive(Debug, Args)]
struct RunScript {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    compile: CompileArgs,

    /// The command component to run (it imports records:plugin/store and exports
    /// wasi:cli/run).
    #[arg(value_name = "SCRIPT.wasm")]
    script: PathBuf,

    /// Arguments for the script.
    #[arg(
        value_name = "ARGS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    args: Vec<String>,
}

impl RunScript {
    fn execute(&self) -> anyhow::Result<u8> {
        self.db.with_lock_stats(|| self.run())
    }

    fn run(&self) -> anyhow::Result<u8> {
        let plugin = self.compile.runtime()?.load_file(&self.script)?;
        let mut args = vec![plugin.name().to_string()];
        args.extend(self.args.iter().cloned());
        let code = plugin.run_command(self.db.open()?, self.db.target.tenant.as_ref(), args)?;
        // Exit codes are one byte on Unix; anything else is reported as failure.
        Ok(u8::try_from(code).unwrap_or(exit::FAILURE))
    }
}

#[derive(Debug, Args)]
struct LockStatusCmd {
    #[command(flatten)]
    target: Target,

    /// Also take and release the lock once, waiting up to MS, and report this
    /// process's view: how long it waited (exit 75 when it timed out).
    #[arg(long, value_name = "MS")]
    probe: Option<u64>,
}

impl LockStatusCmd {
    fn execute(&self) -> anyhow::Result<u8> {
        let db = self.target.path();
        let lock = WriteLock::for_database(&db, Duration::ZERO);
        let status = lock
            .status()
            .with_context(|| format!("reading lock status of {}", display(&db)))?;
        match status {
            LockStatus::Free => println!("free"),
            LockStatus::Held { holder } => println!("held\n  holder: {holder}"),
        }
        let Some(ms) = self.probe else {
            return Ok(exit::OK);
        };
        let probe = WriteLock::for_database(&db, Duration::from_millis(ms));
        match probe.acquire("probe:lock-status") {
            Ok(guard) => drop(guard),
            Err(LockError::Timeout(timeout)) => {
                println!("probe: {timeout}");
                return Ok(exit::TEMPFAIL);
            }
            Err(other) => return Err(other.into()),
        }
        println!("probe: {}", probe.metrics());
        Ok(exit::OK)
    }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

impl Cli {
    /// Runs the command and maps the outcome to an exit code, reporting any error
    /// once on stderr.
    pub fn run(self) -> ExitCode {
        let result = match &self.command {
            Command::Demo(cmd) => cmd.execute(),
            Command::Call(cmd) => cmd.execute(),
            Command::Run(cmd) => cmd.execute(),
            Command::LockStatus(cmd) => cmd.execute(),
        };
        ExitCode::from(result.unwrap_or_else(|err| report(&err)))
    }
}

/// Prints `err` on stderr and picks its exit code.
fn report(err: &anyhow::Error) -> u8 {
    match err.downcast_ref::<Error>() {
        // Opening a database can need the lock too (to create its schema).
        Some(
            Error::Record(RecordError::LockTimeout(timeout))
            | Error::OpenDatabase {
                source: RecordError::LockTimeout(timeout),
                ..
            },
        ) => {
            eprintln!("records-host: {timeout}");
            exit::TEMPFAIL
        }
        Some(Error::BadCall(_)) => {
            eprintln!("records-host: {err:#}");
            exit::USAGE
        }
        _ => {
            eprintln!("records-host: {err:#}");
            exit::FAILURE
        }
    }
}

/// Sends `tracing` output to stderr when `RUST_LOG` is set; silent otherwise.
pub fn init_tracing() {
    if std::env::var_os("RUST_LOG").is_none() {
        return;
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
}
