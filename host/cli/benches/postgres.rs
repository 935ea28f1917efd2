//! The PostgreSQL scenarios of BENCHMARKS.md, with the native baseline measured
//! in the same run: creates through the reference plugin against a client of the
//! `postgres` crate running the same protocol (a transaction per create that
//! takes the advisory lock and inserts; and the protocol before it was made
//! safe for transaction poolers, `postgres/native.rs`), 8 processes creating at
//! once, one transaction of 50,000 inserts, and the creates directly, over TLS
//! and through PgBouncer (`postgres/routes.rs`). `--tenants` instead measures
//! schema-per-tenant at 1, 1,000 and 10,000 tenants (`postgres/tenants.rs`).
//!
//! Run: `just bench-postgres` (which starts a throwaway cluster with TLS and a
//! PgBouncer), or `RECORDS_HOST_BENCH_POSTGRES=postgresql://...
//! [RECORDS_HOST_BENCH_PGBOUNCER=postgresql://...] cargo bench -p records-host-cli --bench postgres`
//! against a server whose user may create databases. `--quick` for a short run.
//! The multi-process scenario runs this same binary as worker processes
//! (`--worker URL N CACHE GO`, `benches/common/workers.rs`), started together
//! behind a go-file barrier; afterwards it
//! checks that the table holds exactly the rows written.

#[path = "postgres/native.rs"]
mod native;
#[path = "postgres/routes.rs"]
mod routes;
#[path = "common/stats.rs"]
mod stats;
#[path = "postgres/tenants.rs"]
mod tenants;
#[path = "common/timing.rs"]
mod timing;
#[path = "common/workers.rs"]
mod workers;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use postgres::{Client, NoTls};

use self::native::{NativeProtocol, Protocol};
use records_host::{Database, DatabaseOptions, Error, RecordError, Runtime};

/// How many times the ratio scenarios run, interleaved; the median is reported.
pub(crate) const REPEAT: usize = 3;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--worker") {
        return worker(&args[1..]);
    }
    let quick = args.iter().any(|a| a == "--quick");
    let (creates, per_process, bulk) = if quick {
        (500, 500, 5_000)
    } else {
        (5_000, 5_000, 50_000)
    };
    let server = std::env::var("RECORDS_HOST_BENCH_POSTGRES").context(
        "set RECORDS_HOST_BENCH_POSTGRES to a server URL (just bench-postgres starts one)",
    )?;
    let mut admin = Client::connect(&server, NoTls)?;
    let settings: Vec<String> = ["server_version", "synchronous_commit", "fsync"]
        .iter()
        .map(|name| {
            let value: String = admin.query_one(&format!("SHOW {name}"), &[])?.get(0);
            Ok(format!("{name}={value}"))
        })
        .collect::<Result<_>>()?;
    println!(
        "records-host PostgreSQL bench ({}), {} cores, {}",
        if quick { "quick" } else { "full" },
        std::thread::available_parallelism().map_or(1, usize::from),
        settings.join(" ")
    );
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-cache");
    let runtime = Runtime::builder().cache_dir(&cache).build()?;
    let plugin = runtime.load_reference()?;
    if args.iter().any(|a| a == "--tenants") {
        return tenants::compare(&plugin, &mut admin, &server, quick);
    }

    let mut plugin_runs = Vec::new();
    let mut native_runs = Vec::new();
    let mut prepared_runs = Vec::new();
    for round in 0..REPEAT {
        let db = fresh_database(&mut admin, &server, &format!("bench_plugin_{round}"))?;
        let mut instance = plugin.instantiate(Database::open(no_tls(&db).as_str())?)?;
        plugin_runs.push(Run::of(creates, |i| {
            instance.create_record("bench", i as i64).map(drop)?;
            Ok(())
        })?);
        drop(instance);
        check_rows(&db, "records_host", creates)?;

        for (protocol, runs) in [
            (Protocol::PoolerSafe, &mut native_runs),
            (Protocol::Prepared, &mut prepared_runs),
        ] {
            let db = fresh_database(&mut admin, &server, &format!("bench_native_{round}"))?;
            let mut native = NativeProtocol::open(&db, protocol)?;
            runs.push(Run::of(creates, |i| native.insert(i))?);
            check_rows(&db, "native", creates)?;
        }
    }
    let plugin_median = median(&plugin_runs);
    let native_median = median(&native_runs);
    let prepared_median = median(&prepared_runs);
    report("pg-plugin-create", plugin_median);
    report("pg-native-protocol", native_median);
    report("pg-native-prepared", prepared_median);
    println!(
        "ratio pg-plugin-create / pg-native-protocol: {:.3}x (target >= 0.8x)",
        plugin_median.throughput() / native_median.throughput()
    );
    println!(
        "ratio pg-native-protocol / pg-native-prepared: {:.3}x (what the pooler-safe protocol costs)",
        native_median.throughput() / prepared_median.throughput()
    );

    routes::compare(&plugin, &mut admin, &server, creates)?;

    let db = fresh_database(&mut admin, &server, "bench_contention")?;
    drop(Database::open(no_tls(&db).as_str())?);
    contention(&no_tls(&db), per_process, &cache)?;

    let db = fresh_database(&mut admin, &server, "bench_bulk")?;
    let options = DatabaseOptions {
        txn_deadline: Duration::from_secs(600),
        ..DatabaseOptions::default()
    };
    let store = Database::open_with(no_tls(&db).as_str(), options)?;
    let start = Instant::now();
    let txn = store.begin_write()?;
    for i in 0..bulk {
        txn.insert("bulk", i as i64)?;
    }
    txn.commit()?;
    let elapsed = start.elapsed();
    check_rows(&db, "records_host", bulk)?;
    println!(
        "pg-one-txn-inserts: {bulk} inserts in one write transaction, {:.0} ms, {:.0} inserts/s",
        elapsed.as_secs_f64() * 1e3,
        bulk as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}

/// A run: how many operations, how long, and each one's latency.
pub(crate) struct Run {
    ops: usize,
    elapsed: Duration,
    latencies: Vec<u64>,
}

impl Run {
    pub(crate) fn throughput(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }

    /// Times `n` calls of `op`; the latencies sorted.
    pub(crate) fn of(n: usize, op: impl FnMut(usize) -> Result<()>) -> Result<Self> {
        let (elapsed, mut latencies) = timing::timed(n, op)?;
        latencies.sort_unstable();
        Ok(Self {
            ops: n,
            elapsed,
            latencies,
        })
    }
}

pub(crate) fn median(runs: &[Run]) -> &Run {
    let mut sorted: Vec<&Run> = runs.iter().collect();
    sorted.sort_by(|a, b| a.throughput().total_cmp(&b.throughput()));
    sorted[sorted.len() / 2]
}

fn percentile_us(sorted: &[u64], p: f64) -> f64 {
    stats::percentile(sorted, p) as f64 / 1e3
}

pub(crate) fn report(name: &str, run: &Run) {
    println!(
        "{name}: {} ops, {:.0} ops/s, p50 {:.0} us, p99 {:.0} us, max {:.0} us",
        run.ops,
        run.throughput(),
        percentile_us(&run.latencies, 50.0),
        percentile_us(&run.latencies, 99.0),
        percentile_us(&run.latencies, 100.0)
    );
}

/// Creates (again) the database `name` on the server and returns its URL.
pub(crate) fn fresh_database(admin: &mut Client, server: &str, name: &str) -> Result<String> {
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
    admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
    let (base, _) = server.rsplit_once('/').context("a URL with a database")?;
    Ok(format!("{base}/{name}"))
}

/// `url` without TLS, as the native baseline connects (TLS is measured apart,
/// `routes.rs`).
fn no_tls(url: &str) -> String {
    format!("{url}?sslmode=disable")
}

pub(crate) fn check_rows(url: &str, schema: &str, expected: usize) -> Result<()> {
    let mut client = Client::connect(url, NoTls)?;
    let rows: i64 = client
        .query_one(&format!("SELECT count(*) FROM {schema}.records"), &[])?
        .get(0);
    if rows != i64::try_from(expected)? {
        bail!("{url} {schema}: {rows} rows, expected {expected}");
    }
    Ok(())
}

/// 8 processes × `n` creates through the plugin, each its own process and
/// connection, against one schema: lock timeouts, p99 and max.
fn contention(url: &str, n: usize, cache: &Path) -> Result<()> {
    const PROCESSES: usize = 8;
    let dir = tempfile::tempdir()?;
    let reports = workers::run_workers(PROCESSES, &dir.path().join("go"), |_| {
        vec![
            "--worker".into(),
            url.into(),
            n.to_string().into(),
            cache.into(),
        ]
    })?;
    // The writing window: from the first worker's first write to the last worker's
    // last write (process start-up, the barrier and exit are not writing time).
    let first_start = reports.iter().map(|r| r.start_ns).min().unwrap_or(0);
    let last_end = reports.iter().map(|r| r.end_ns).max().unwrap_or(0);
    let elapsed = Duration::from_nanos(u64::try_from(last_end.saturating_sub(first_start))?);
    let written: usize = reports.iter().map(|r| r.ok).sum();
    let timeouts: u64 = reports.iter().map(|r| r.timeouts).sum();
    let mut latencies: Vec<u64> = reports.into_iter().flat_map(|r| r.latencies).collect();
    check_rows(url, "records_host", written)?;
    latencies.sort_unstable();
    report(
        "pg-contention-8-processes",
        &Run {
            ops: written,
            elapsed,
            latencies,
        },
    );
    println!("pg-contention-8-processes: lock timeouts {timeouts}, rows checked {written}");
    Ok(())
}

/// A worker process: `--worker URL N CACHE GO`.
fn worker(args: &[String]) -> Result<()> {
    let [url, n, cache, go] = args else {
        bail!("worker arguments")
    };
    let runtime = Runtime::builder().cache_dir(cache).build()?;
    let mut instance = runtime
        .load_reference()?
        .instantiate(Database::open(url.as_str())?)?;
    workers::work(n.parse()?, Path::new(go), |i| {
        match instance.create_record("worker", i as i64) {
            Ok(_) => Ok(true),
            Err(Error::Record(RecordError::LockTimeout(_))) => Ok(false),
            Err(e) => Err(e.into()),
        }
    })
}
