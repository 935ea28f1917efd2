//! A PostgreSQL primary with a synchronous hot standby, made for one test by
//! `.ci/postgres-cluster` (`start`, then `standby`: `pg_basebackup -R`), and
//! failed over by it: the primary stopped with `pg_ctl -m immediate`, the
//! standby promoted.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};

use super::postgres::{cluster_paths, or_skip, run_script};

/// A primary and its synchronous standby.
pub struct PgPair {
    script: PathBuf,
    primary_dir: PathBuf,
    standby_dir: PathBuf,
    /// The primary's superuser URL.
    pub primary: String,
    /// The standby's superuser URL.
    pub standby: String,
}

impl PgPair {
    /// Starts the pair (`name` keeps two tests' directories apart) and waits
    /// until the standby is synchronous; `None` (a notice) when the machine has
    /// no PostgreSQL, a failure under `RECORDS_HOST_REQUIRE_POSTGRES`.
    pub fn start(name: &str) -> Option<Self> {
        let (script, primary_dir) = cluster_paths(&format!("{name}-primary"));
        let (_, standby_dir) = cluster_paths(&format!("{name}-standby"));
        let started = run_script(
            &script,
            &primary_dir,
            &[
                "start".as_ref(),
                primary_dir.as_os_str(),
                "--no-tls".as_ref(),
            ],
            "PostgreSQL primary",
        )
        .and_then(|primary| {
            let standby = run_script(
                &script,
                &standby_dir,
                &[
                    "standby".as_ref(),
                    standby_dir.as_os_str(),
                    primary.as_ref(),
                ],
                "PostgreSQL standby",
            )?;
            Some((primary, standby))
        });
        let (primary, standby) = or_skip(started, "no primary and standby could be started")?;
        let pair = Self {
            script,
            primary_dir,
            standby_dir,
            primary,
            standby,
        };
        let mut admin = pair.client(&pair.primary);
        for statement in [
            "ALTER SYSTEM SET synchronous_standby_names = '*'",
            "SELECT pg_reload_conf()",
        ] {
            admin
                .batch_execute(statement)
                .expect("make the standby synchronous");
        }
        let start = Instant::now();
        loop {
            let sync: i64 = admin
                .query_one(
                    "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'",
                    &[],
                )
                .unwrap()
                .get(0);
            if sync == 1 {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the standby never became synchronous"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(pair)
    }

    /// `postgresql://records@PRIMARY,STANDBY/postgres?target_session_attrs=read-write`:
    /// both hosts, the one that takes writes chosen (the password comes from
    /// `PGPASSWORD`, which the tests' commands carry).
    pub fn url(&self) -> String {
        let host = |url: &str| -> String {
            let after = url.split_once('@').map_or(url, |(_, after)| after);
            after.split('/').next().unwrap_or(after).to_string()
        };
        format!(
            "postgresql://records@{},{}/postgres?target_session_attrs=read-write",
            host(&self.primary),
            host(&self.standby)
        )
    }

    /// A client of `url`, for looking from outside.
    pub fn client(&self, url: &str) -> Client {
        Client::connect(url, NoTls).expect("connect to the pair")
    }

    /// Stops the primary at once (no shutdown checkpoint, as a crash), waits
    /// `gap`, and promotes the standby.
    pub fn fail_over(&self, gap: Duration) {
        self.script_run(&["stop".as_ref(), self.primary_dir.as_os_str()]);
        std::thread::sleep(gap);
        self.script_run(&["promote".as_ref(), self.standby_dir.as_os_str()]);
    }

    fn script_run(&self, args: &[&std::ffi::OsStr]) {
        let status = Command::new(&self.script)
            .args(args)
            .status()
            .expect("run .ci/postgres-cluster");
        assert!(status.success(), "{args:?}");
    }
}

impl Drop for PgPair {
    fn drop(&mut self) {
        for dir in [&self.primary_dir, &self.standby_dir] {
            let _ = Command::new(&self.script).arg("stop").arg(dir).status();
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
