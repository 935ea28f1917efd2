//! The PostgreSQL server the tests run against, and a fresh database per test.
//!
//! `RECORDS_HOST_TEST_POSTGRES` names a server (a URL whose user may create
//! databases; `.ci/run` starts one and sets it). Without it, the first test that
//! wants PostgreSQL starts a throwaway cluster with `.ci/postgres-cluster` from
//! this machine's PostgreSQL binaries, and a watchdog process stops it when the
//! test process exits. When neither works the PostgreSQL tests are skipped with a
//! notice on stderr, unless `RECORDS_HOST_REQUIRE_POSTGRES` is set (CI), which
//! makes a skip a failure.
//!
//! The server has TLS on, with a throwaway CA: its certificate is
//! `RECORDS_HOST_TEST_POSTGRES_CA` (or `ca.crt` in the cluster started here). A
//! second server without TLS is `RECORDS_HOST_TEST_POSTGRES_PLAIN` (or started
//! here the same way, with `--no-tls`). PgBouncers in front of the test server,
//! in transaction and in session pooling mode, are `RECORDS_HOST_TEST_PGBOUNCER`
//! and `RECORDS_HOST_TEST_PGBOUNCER_SESSION` (or started here likewise).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use postgres::{Client, NoTls};

/// A server for the tests: its URL, and its CA's certificate when it has TLS.
struct Server {
    url: String,
    ca: Option<PathBuf>,
}

/// The server's URL, as given or as started, once asked for.
static SERVER: OnceLock<Option<Server>> = OnceLock::new();

/// The server without TLS, once asked for.
static PLAIN: OnceLock<Option<Server>> = OnceLock::new();

/// The PgBouncers in front of the test server (transaction mode, session mode),
/// once asked for.
static BOUNCERS: [OnceLock<Option<String>>; 2] = [OnceLock::new(), OnceLock::new()];

/// A PgBouncer pool mode.
#[derive(Clone, Copy, Debug)]
pub enum PoolMode {
    /// A server session per transaction.
    Transaction,
    /// A server session per client connection.
    Session,
}

/// The URL of a PgBouncer in `mode` in front of the test server; `None` (with a
/// notice) when there is none, a failure under `RECORDS_HOST_REQUIRE_POSTGRES`.
pub fn pooler(mode: PoolMode) -> Option<&'static str> {
    let (var, name, index) = match mode {
        PoolMode::Transaction => ("RECORDS_HOST_TEST_PGBOUNCER", "transaction", 0),
        PoolMode::Session => ("RECORDS_HOST_TEST_PGBOUNCER_SESSION", "session", 1),
    };
    let found = BOUNCERS[index]
        .get_or_init(|| match std::env::var(var) {
            Ok(url) if !url.is_empty() => Some(url),
            _ if std::env::var_os("RECORDS_HOST_TEST_POSTGRES").is_some() => None,
            _ => start_pgbouncer(name, server()?),
        })
        .as_deref();
    or_skip(
        found,
        &format!("there is no PgBouncer in {name} mode ({var})"),
    )
}

/// Starts a PgBouncer in front of `server`; stopped when this process is gone.
fn start_pgbouncer(mode: &str, server: &str) -> Option<String> {
    let (script, dir) = cluster_paths(&format!("pgbouncer-{mode}"));
    let args = [
        "pgbouncer".as_ref(),
        dir.as_os_str(),
        server.as_ref(),
        mode.as_ref(),
    ];
    run_script(&script, &dir, &args, "PgBouncer")
}

/// Runs the cluster script with `args` (never installing anything); what it
/// started in `dir` is stopped once this process is gone. Its output, or
/// `None` with a notice that there is no `what` for the tests.
pub(super) fn run_script(
    script: &std::path::Path,
    dir: &std::path::Path,
    args: &[&std::ffi::OsStr],
    what: &str,
) -> Option<String> {
    let started = Command::new(script)
        .args(args)
        .env("RECORDS_HOST_PG_NO_INSTALL", "1")
        .stderr(Stdio::piped())
        .output()
        .ok()?;
    if !started.status.success() {
        eprintln!(
            "note: no {what} for the tests: {}",
            String::from_utf8_lossy(&started.stderr).trim()
        );
        return None;
    }
    stop_with_this_process(script, dir)?;
    Some(String::from_utf8_lossy(&started.stdout).trim().to_string())
}

/// The cluster script, and a directory for `name` in the temp dir.
pub(super) fn cluster_paths(name: &str) -> (PathBuf, PathBuf) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.ci/postgres-cluster");
    let dir = std::env::temp_dir().join(format!(
        "records-host-test-pg-{name}-{}",
        std::process::id()
    ));
    (script, dir)
}

/// A watchdog that runs the script's `stop` on `dir` once this process is gone.
fn stop_with_this_process(script: &std::path::Path, dir: &std::path::Path) -> Option<()> {
    let watchdog = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; '{script}' stop '{dir}'; rm -rf '{dir}'",
        pid = std::process::id(),
        script = script.display(),
        dir = dir.display()
    );
    Command::new("sh")
        .args(["-c", &watchdog])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
        .map(drop)
}

/// The server's URL, as given or as started; `None` when there is none.
fn server() -> Option<&'static str> {
    Some(&main_server()?.url)
}

fn main_server() -> Option<&'static Server> {
    SERVER
        .get_or_init(|| match std::env::var("RECORDS_HOST_TEST_POSTGRES") {
            Ok(url) if !url.is_empty() => Some(Server {
                url,
                ca: std::env::var_os("RECORDS_HOST_TEST_POSTGRES_CA").map(PathBuf::from),
            }),
            _ => start_cluster("tls", &[]),
        })
        .as_ref()
}

/// The CA certificate of the test server's TLS (`sslrootcert`), and its URL;
/// `None` (with a notice) when it has none, a failure under
/// `RECORDS_HOST_REQUIRE_POSTGRES`.
pub fn tls_server() -> Option<(&'static str, &'static std::path::Path)> {
    or_skip(
        main_server().and_then(|s| Some((s.url.as_str(), s.ca.as_deref()?))),
        "the test server has no TLS CA (RECORDS_HOST_TEST_POSTGRES_CA)",
    )
}

/// A server without TLS (its superuser's URL); `None` (with a notice) when there
/// is none, a failure under `RECORDS_HOST_REQUIRE_POSTGRES`.
pub fn plain_server() -> Option<&'static str> {
    let found = PLAIN
        .get_or_init(|| match std::env::var("RECORDS_HOST_TEST_POSTGRES_PLAIN") {
            Ok(url) if !url.is_empty() => Some(Server { url, ca: None }),
            _ if std::env::var_os("RECORDS_HOST_TEST_POSTGRES").is_some() => None,
            _ => start_cluster("plain", &["--no-tls"]),
        })
        .as_ref()
        .map(|s| s.url.as_str());
    or_skip(
        found,
        "there is no server without TLS (RECORDS_HOST_TEST_POSTGRES_PLAIN)",
    )
}

/// `found`, or a skipped test's notice that `missing`, which fails the test
/// under `RECORDS_HOST_REQUIRE_POSTGRES` (CI).
pub fn or_skip<T>(found: Option<T>, missing: &str) -> Option<T> {
    if found.is_none() {
        assert!(
            std::env::var_os("RECORDS_HOST_REQUIRE_POSTGRES").is_none(),
            "RECORDS_HOST_REQUIRE_POSTGRES is set but {missing}"
        );
        eprintln!("note: PostgreSQL test skipped: {missing}");
    }
    found
}

/// Starts a throwaway cluster (never installing anything) and a watchdog that
/// stops it once this process is gone.
fn start_cluster(name: &str, args: &[&str]) -> Option<Server> {
    let (script, dir) = cluster_paths(name);
    let mut all: Vec<&std::ffi::OsStr> = vec!["start".as_ref(), dir.as_os_str()];
    all.extend(args.iter().map(std::ffi::OsStr::new));
    let url = run_script(&script, &dir, &all, "PostgreSQL")?;
    let ca = dir.join("ca.crt");
    Some(Server {
        url,
        ca: ca.exists().then_some(ca),
    })
}

/// A database of its own on the test server, dropped with it.
pub struct PgDatabase {
    name: String,
    /// The URL records-host is given (through a pooler, after [`Self::through`]).
    url: String,
    /// The server's own URL, for looking at the database from outside.
    direct: String,
}

impl PgDatabase {
    /// A new, empty database; `None` (with a notice) when there is no server,
    /// which fails the test under `RECORDS_HOST_REQUIRE_POSTGRES`.
    pub fn create() -> Option<Self> {
        let Some(server) = server() else {
            assert!(
                std::env::var_os("RECORDS_HOST_REQUIRE_POSTGRES").is_none(),
                "RECORDS_HOST_REQUIRE_POSTGRES is set but no PostgreSQL server is available"
            );
            eprintln!("note: PostgreSQL test skipped: no server (set RECORDS_HOST_TEST_POSTGRES)");
            return None;
        };
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "rht_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        admin(server)
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create the test database");
        Some(Self {
            url: with_database(server, &name),
            direct: with_database(server, &name),
            name,
        })
    }

    /// The same database, given to records-host through the pooler at
    /// `pooler` (a URL whose host and port are used; same user and password).
    pub fn through(mut self, pooler: &str) -> Self {
        let authority = |url: &str| -> (usize, usize) {
            let start = url.find('@').map_or(0, |at| at + 1);
            let end = url[start..].find('/').map_or(url.len(), |i| start + i);
            (start, end)
        };
        let (from, to) = authority(pooler);
        let (start, end) = authority(&self.url);
        self.url.replace_range(start..end, &pooler[from..to]);
        self
    }

    /// The database's URL (with the test server's credentials).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's URL without the password, for command lines: the
    /// commands the tests run get the password in `PGPASSWORD`
    /// ([`test_password`], set by `command()`), as an operator's would, so
    /// that it is not in their argv.
    pub fn arg_url(&self) -> String {
        without_password(&self.url)
    }

    /// The server's `host:port` and the database's name, from its URL.
    pub fn server_and_database(&self) -> (&str, &str) {
        let (authority, rest) = self
            .url
            .split_once('@')
            .and_then(|(_, after)| after.split_once('/'))
            .expect("a URL with user info and a database");
        (authority, rest.split('?').next().unwrap_or(rest))
    }

    /// Creates a login role with `password` (dropped by the test).
    pub fn create_role(&self, role: &str, password: &str) {
        self.client()
            .batch_execute(&format!("CREATE ROLE {role} LOGIN PASSWORD '{password}'"))
            .expect("create the role");
    }

    /// A plain client of the database, for looking at it from outside.
    pub fn client(&self) -> Client {
        Client::connect(&self.direct, NoTls).expect("connect to the test database")
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Some(server) = server() {
            let _ = admin(server).batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

fn admin(server: &str) -> Client {
    Client::connect(server, NoTls).expect("connect to the test server")
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (before, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = before.find("://").map_or(0, |i| i + 3);
    let base = match before[scheme_end..].find('/') {
        Some(slash) => &before[..scheme_end + slash],
        None => before,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

/// The test server's password, once a test has asked for the server; `None`
/// before, or when its URL carries none.
pub fn test_password() -> Option<String> {
    let url = &SERVER.get()?.as_ref()?.url;
    let config = <postgres::Config as std::str::FromStr>::from_str(url).ok()?;
    Some(String::from_utf8_lossy(config.get_password()?).into_owned())
}

/// `url` without the password of its user info (`user:password@`).
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some((userinfo, hosts)) = authority.rsplit_once('@') else {
        return url.to_string();
    };
    let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
    format!("{scheme}://{user}@{hosts}{path}")
}
