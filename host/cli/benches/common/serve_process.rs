//! A `records-host serve` process for the benches that load one (`serve`,
//! `deploy`), the load generator run against it (`client.rs`, the bench
//! binary again with `--client`), and what a load measured. Where the machine
//! has the cores, the two run on disjoint ones (`placement.rs`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::CONNECTIONS;
use super::placement::{self, Placement};

/// Calls made, errors, and how long they took.
pub(crate) struct Run {
    pub(crate) calls: u64,
    pub(crate) errors: u64,
    pub(crate) elapsed: Duration,
    pub(crate) latencies_us: Vec<u64>,
    /// The client's CPU time over the timed calls, and its threads; `None`
    /// for calls made in-process.
    pub(crate) client: Option<(Duration, usize)>,
}

impl Run {
    pub(crate) fn rate(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> u64 {
        super::stats::percentile(&self.latencies_us, p)
    }

    /// The share of its threads' time the client was busy: near 1, the client
    /// is what limits the rate.
    pub(crate) fn client_busy(&self) -> Option<f64> {
        let (cpu, threads) = self.client?;
        Some(cpu.as_secs_f64() / self.elapsed.as_secs_f64() / threads as f64)
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>8.0} calls/s  p50 {:>6} us  p99 {:>6} us  max {:>7} us  errors {}",
            self.rate(),
            self.percentile(50.0),
            self.percentile(99.0),
            self.percentile(100.0),
            self.errors,
        )?;
        match (self.client_busy(), self.client) {
            (Some(busy), Some((_, threads))) => {
                write!(
                    f,
                    "  client busy {:.0}% of {threads} thread(s)",
                    busy * 100.0
                )
            }
            _ => Ok(()),
        }
    }
}

/// The server process.
pub(crate) struct Server {
    child: Child,
    /// `http://HOST:PORT`.
    pub(crate) url: String,
}

impl Server {
    /// `bin serve` on any free loopback port, without auth, over `data`,
    /// with the compiled-plugin cache `cache`, `CONNECTIONS` call slots all
    /// open to one tenant, and `extra` arguments.
    pub(crate) fn start(bin: &str, data: &Path, cache: &Path, extra: &[&str]) -> Result<Self> {
        let help = Command::new(bin).args(["serve", "--help"]).output()?;
        let mut command = Command::new(bin);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--no-auth"])
            .arg("--data-dir")
            .arg(data)
            .args(["--max-concurrent", &CONNECTIONS.to_string()]);
        // The one-tenant scenarios measure a tenant the operator lets use every
        // slot; with the default share (a quarter), 48 of the 64 connections
        // would be told to retry. (Builds before the share have no such flag.)
        if String::from_utf8_lossy(&help.stdout).contains("--max-concurrent-per-tenant") {
            command.args(["--max-concurrent-per-tenant", &CONNECTIONS.to_string()]);
        }
        if let Some(placement) = Placement::of_this_machine() {
            use std::os::unix::process::CommandExt;
            let cores = placement.server;
            // SAFETY: sched_setaffinity is async-signal-safe; `cores` was
            // allocated before the fork.
            unsafe {
                command.pre_exec(move || placement::pin(&cores));
            }
        }
        let mut child = command
            .args(extra)
            .env("RECORDS_HOST_CACHE_DIR", cache)
            .env("RUST_LOG", "records_host=warn")
            .stdout(Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().context("stdout")?).read_line(&mut line)?;
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .context("serve did not start")?
            .to_string();
        Ok(Self { child, url })
    }

    /// Runs the client process against the server: `function` over `tenants`
    /// (a count, round-robin, or `zipf:N`).
    pub(crate) fn load(
        &self,
        function: &str,
        tenants: impl std::fmt::Display,
        seconds: u64,
    ) -> Result<Run> {
        let cores =
            Placement::of_this_machine().map_or_else(String::new, |p| placement::list(&p.client));
        let output = Command::new(std::env::current_exe()?)
            .args(["--client", &self.url, function])
            .arg(tenants.to_string())
            .arg(seconds.to_string())
            .arg(cores)
            .output()?;
        if !output.status.success() {
            bail!("client failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        let text = String::from_utf8(output.stdout)?;
        let mut latencies_us = Vec::new();
        let mut summary = None;
        for line in text.lines() {
            match line.strip_prefix("done ") {
                Some(done) => summary = Some(done.to_string()),
                None => latencies_us.push(line.parse()?),
            }
        }
        latencies_us.sort_unstable();
        let summary = summary.context("no summary")?;
        let mut fields = summary.split_whitespace();
        let mut next = || fields.next().context("short summary");
        let (calls, errors, nanos, cpu_nanos, threads): (u64, u64, u64, u64, usize) = (
            next()?.parse()?,
            next()?.parse()?,
            next()?.parse()?,
            next()?.parse()?,
            next()?.parse()?,
        );
        Ok(Run {
            calls,
            errors,
            elapsed: Duration::from_nanos(nanos),
            latencies_us,
            client: Some((Duration::from_nanos(cpu_nanos), threads)),
        })
    }

    /// The server's open file descriptors now.
    pub(crate) fn descriptors(&self) -> Result<usize> {
        Ok(std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))?.count())
    }

    /// The server's peak resident set (`VmHWM`), in KiB.
    pub(crate) fn peak_rss_kib(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let line = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .context("no VmHWM")?;
        Ok(line
            .split_whitespace()
            .nth(1)
            .context("VmHWM value")?
            .parse()?)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
