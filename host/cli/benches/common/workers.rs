//! Multi-process scenarios, shared by the bench harnesses: worker processes (the
//! same bench binary, started with worker arguments) that each open their own
//! connection, say `ready`, wait behind a go-file barrier so they all start
//! writing together, and report what they did on stdout.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};

/// What one worker reports.
pub struct WorkerReport {
    /// Writes that succeeded.
    pub ok: usize,
    /// Writes that gave up waiting for the lock.
    pub timeouts: u64,
    /// When its first write started and its last ended, in Unix nanoseconds.
    pub start_ns: u128,
    pub end_ns: u128,
    /// Each write's latency, in nanoseconds.
    pub latencies: Vec<u64>,
}

/// Starts `count` workers (`current_exe` with `args(i)` then the go file), waits
/// until each is ready, opens the barrier and collects their reports.
pub fn run_workers(
    count: usize,
    go: &Path,
    args: impl Fn(usize) -> Vec<OsString>,
) -> Result<Vec<WorkerReport>> {
    let mut workers = Vec::new();
    for w in 0..count {
        let mut child = Command::new(std::env::current_exe()?)
            .args(args(w))
            .arg(go)
            .stdout(Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().context("stdout")?).read_line(&mut line)?;
        if line.trim() != "ready" {
            bail!("worker {w} did not start: {line}");
        }
        workers.push(child);
    }
    std::fs::File::create(go)?;
    workers
        .into_iter()
        .map(|child| {
            let output = child.wait_with_output()?;
            let stdout = String::from_utf8_lossy(&output.stdout);
            if !output.status.success() {
                bail!("a worker failed: {stdout}");
            }
            parse_report(&stdout)
        })
        .collect()
}

fn parse_report(stdout: &str) -> Result<WorkerReport> {
    let mut report = None;
    let mut latencies = Vec::new();
    for line in stdout.lines() {
        let mut fields = line.split_whitespace();
        match fields.next() {
            Some("done") => {
                let mut next = || fields.next().context("short done line");
                report = Some((
                    next()?.parse()?,
                    next()?.parse()?,
                    next()?.parse()?,
                    next()?.parse()?,
                ));
            }
            Some("lat") => {
                for field in fields {
                    latencies.push(field.parse()?);
                }
            }
            _ => {}
        }
    }
    let (ok, timeouts, start_ns, end_ns) = report.context("no done line")?;
    Ok(WorkerReport {
        ok,
        timeouts,
        start_ns,
        end_ns,
        latencies,
    })
}

/// The worker's side: says `ready`, waits for the go file, runs `op` `n` times
/// (`Ok(true)` a write, `Ok(false)` a lock timeout) and reports on stdout.
pub fn work(n: usize, go: &Path, mut op: impl FnMut(usize) -> Result<bool>) -> Result<()> {
    println!("ready");
    std::io::stdout().flush()?;
    while !go.exists() {
        std::thread::sleep(Duration::from_micros(200));
    }
    let mut latencies = Vec::with_capacity(n);
    let (mut ok, mut timeouts) = (0usize, 0u64);
    let start = unix_nanos();
    for i in 0..n {
        let t = Instant::now();
        if op(i)? {
            ok += 1;
        } else {
            timeouts += 1;
        }
        latencies.push(t.elapsed().as_nanos() as u64);
    }
    let end = unix_nanos();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    write!(out, "lat")?;
    for l in latencies {
        write!(out, " {l}")?;
    }
    writeln!(out)?;
    writeln!(out, "done {ok} {timeouts} {start} {end}")?;
    out.flush()?;
    Ok(())
}

fn unix_nanos() -> u128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}
