//! The `records-host` command line and HTTP service, on the `records-host` library:
//! clap commands, each with its own `execute` in a file of its own, the arguments
//! they share in `args.rs`, the HTTP service in [`serve`] (its
//! [`Service`](serve::Service) and router are public, for platforms that nest the
//! API in their own axum app: see `examples/router.rs`), and the WAVE/JSON call
//! mapping in [`text`].
//!
//! Errors are reported once, here at the edge, on stderr, as one line (a lock
//! timeout adds the holder lines of its message), and mapped to the exit codes below.

mod args;
mod argv_password;
mod call;
mod check;
mod compile;
mod demo;
mod deploy;
pub mod exit;
mod lock_status;
mod new;
mod run_script;
pub mod serve;
mod target;
pub mod text;
mod usage;
mod wit;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use records_host::{Error, StoreError};

use self::call::Call;
use self::check::Check;
use self::demo::Demo;
use self::deploy::{PluginCmd, ScriptCmd};
use self::lock_status::LockStatusCmd;
use self::new::New;
use self::run_script::RunScript;
use self::serve::{Serve, Token};
use self::usage::UsageError;
use self::wit::Wit;

const EXIT_CODES_HELP: &str = "\
Exit codes:
  0   success
  1   the call returned err(..) (printed on stdout), or another error (one line on stderr),
      including a plugin stopped by a trap or a limit
  2   usage error (bad arguments, bad tenant name, unparsable call, unknown function,
      an invalid plugin name or an existing directory for `new`)
  75  a write timed out waiting for the write lock, held by another records-host
      writer or by a process holding the database outside it, or the PostgreSQL
      server was unreachable or took no writes (a failover) (EX_TEMPFAIL): try again
  `run` exits with the script's own exit code when the script runs to its end

Environment:
  RUST_LOG                   log filter for diagnostics on stderr (e.g. records_host=debug)
  RECORDS_HOST_DB            the default of --db, for every command that takes it (serve:
                             a PostgreSQL URL); keeps a password out of the command line
  PGPASSWORD, PGPASSFILE     a PostgreSQL password when the URL has none, or the password
                             file to read it from (libpq's format; default ~/.pgpass,
                             ignored unless only its owner may read it)
  PGSSLMODE, PGSSLROOTCERT,  PostgreSQL TLS when the URL does not say (libpq's meanings:
  PGCHANNELBINDING           sslmode disable|allow|prefer|require|verify-ca|verify-full,
                             sslrootcert a PEM bundle or `system`)
  RECORDS_HOST_CACHE_DIR     where compiled plugins are cached (created with mode 0700;
                             default $XDG_CACHE_HOME/records-host or ~/.cache/records-host)
  RECORDS_HOST_LOCK_HANDOFF  `off`: wait for the write lock with plain backoff, without
                             the fair handoff in db.lock.shm (Linux only)";

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
    /// Check that a plugin keeps the contract: run every export against a temporary
    /// database and print a table of checks.
    Check(Check),
    /// Run a command component (a script with a `fn main`) against the store.
    Run(RunScript),
    /// A tenant's plugin versions: push, list, activate, rm.
    Plugin(PluginCmd),
    /// A tenant's versions of a named script: push, list, activate, rm.
    Script(ScriptCmd),
    /// Say whether the write lock is free or held, and by whom.
    LockStatus(LockStatusCmd),
    /// Serve the plugin to many tenants over HTTP, each with its own token.
    Serve(Serve),
    /// Make a tenant's token for `serve`: print it once, append its hash to FILE.
    Token(Token),
    /// Create a starter plugin project in Rust, Python or JavaScript.
    New(New),
    /// Compile a component from stdin into the cache, for `serve` (internal).
    #[command(hide = true)]
    CompileWorker(compile::CompileWorker),
    /// Print the WIT contract this binary implements, or write it to a directory.
    Wit(Wit),
}

impl Cli {
    /// Runs the command and maps the outcome to an exit code, reporting any error
    /// once on stderr.
    pub fn run(self) -> ExitCode {
        if argv_password::password_in_argv(std::env::args_os().skip(1)) {
            eprintln!("{}", argv_password::WARNING);
        }
        let result = match &self.command {
            Command::Demo(cmd) => cmd.execute(),
            Command::Call(cmd) => cmd.execute(),
            Command::Check(cmd) => cmd.execute(),
            Command::CompileWorker(cmd) => cmd.execute(),
            Command::Run(cmd) => cmd.execute(),
            Command::LockStatus(cmd) => cmd.execute(),
            Command::Plugin(cmd) => cmd.execute(),
            Command::Script(cmd) => cmd.execute(),
            Command::New(cmd) => cmd.execute(),
            Command::Serve(cmd) => cmd.execute(),
            Command::Token(cmd) => cmd.execute(),
            Command::Wit(cmd) => cmd.execute(),
        };
        ExitCode::from(result.unwrap_or_else(|err| report(&err)))
    }
}

/// Prints `err` on stderr and picks its exit code.
fn report(err: &anyhow::Error) -> u8 {
    if err.downcast_ref::<UsageError>().is_some() {
        eprintln!("records-host: {err:#}");
        return exit::USAGE;
    }
    // Opening a database can need the lock too (to create its schema).
    let timeout = match (
        err.downcast_ref::<Error>(),
        err.downcast_ref::<StoreError>(),
    ) {
        (Some(e), _) => e.lock_timeout(),
        (None, Some(e)) => e.lock_timeout(),
        (None, None) => None,
    };
    if let Some(timeout) = timeout {
        eprintln!("records-host: {timeout}");
        return exit::TEMPFAIL;
    }
    let unavailable = match (
        err.downcast_ref::<Error>(),
        err.downcast_ref::<StoreError>(),
    ) {
        (Some(e), _) => e.unavailable(),
        (None, Some(e)) => e.unavailable(),
        (None, None) => false,
    };
    if unavailable {
        eprintln!("records-host: {err:#}");
        return exit::TEMPFAIL;
    }
    match err.downcast_ref::<Error>() {
        Some(Error::BadCall(_) | Error::NoSuchFunction(_)) => {
            eprintln!("records-host: {err:#}");
            exit::USAGE
        }
        _ => {
            eprintln!("records-host: {err:#}");
            exit::FAILURE
        }
    }
}

/// Sends `tracing` output to stderr when `RUST_LOG` is set; silent otherwise, but
/// `serve` logs its requests (`records_host=info`) unless `RUST_LOG` says otherwise.
pub fn init_tracing(cli: &Cli) {
    let filter = match (std::env::var("RUST_LOG"), &cli.command) {
        (Ok(filter), _) => filter,
        (Err(_), Command::Serve(_)) => "records_host=info".to_string(),
        (Err(_), _) => return,
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .init();
}

/// The Rust examples of `docs/library.md`, compiled and run by
/// `cargo test -p records-host-cli --doc` too: the place for examples that use
/// this crate (the HTTP API in an axum app) beside `records_host`.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/library.md")]
pub struct LibraryDocs;
