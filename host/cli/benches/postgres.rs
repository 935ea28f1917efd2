//! The PostgreSQL scenarios of BENCHMARKS.md, with the native baseline measured
//! in the same run: creates through the reference plugin against a client of the
//! `postgres` crate running the same protocol (a transaction per create that
//! takes the advisory lock and inserts), 8 processes creating at once, and one
//! transaction of 50,000 inserts.
//!
//! Run: `just bench-postgres` (which starts a throwaway cluster), or
//! `RECORDS_HOST_BENCH_POSTGRES=postgresql://... cargo bench -p records-host-cli --bench postgres`
//! against a server whose user may create databases. `--quick` for a short run.
//! The multi-process scenario runs this same binary as worker processes
//! (`--worker URL N CACHE GO`, `benches/common/workers.rs`), started together
//! behind a go-file barrier; afterwards it
//! checks that the table holds exactly the rows written.

#[path = "common/stats.rs"]
mod stats;
#[path = "common/timing.rs"]
mod timing;
#[path = "common/workers.rs"]
mod workers;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use postgres::{Client, NoTls};
use records_host::{Database, DatabaseOptions, Error, RecordError, Runtime};

/// How many times the ratio scenarios run, interleaved; the median is reported.
const REPEAT: usize = 3;

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

    let mut plugin_runs = Vec::new();
    let mut native_runs = Vec::new();
    for round in 0..REPEAT {
        let db = fresh_database(&mut admin, &server, &format!("bench_plugin_{round}"))?;
        let mut instance = plugin.instantiate(Database::open(db.as_str())?)?;
        plugin_runs.push(Run::of(creates, |i| {
            instance.create_record("bench", i as i64).map(drop)?;
            Ok(())
        })?);
        drop(instance);
        check_rows(&db, "records_host", creates)?;

        let db = fresh_database(&mut admin, &server, &format!("bench_native_{round}"))?;
        let mut native = NativeProtocol::open(&db)?;
        native_runs.push(Run::of(creates, |i| native.insert(i))?);
        check_rows(&db, "native", creates)?;
    }
    let plugin_median = median(&plugin_runs);
    let native_median = median(&native_runs);
    report("pg-plugin-create", plugin_median);
    report("pg-native-protocol", native_median);
    println!(
        "ratio pg-plugin-create / pg-native-protocol: {:.3}x (target >= 0.8x)",
        plugin_median.throughput() / native_median.throughput()
    );

    let db = fresh_database(&mut admin, &server, "bench_contention")?;
    drop(Database::open(db.as_str())?);
    contention(&db, per_process, &cache)?;

    let db = fresh_database(&mut admin, &server, "bench_bulk")?;
    let options = DatabaseOptions {
        txn_deadline: Duration::from_secs(600),
        ..DatabaseOptions::default()
    };
    let store = Database::open_with(db.as_str(), options)?;
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
struct Run {
    ops: usize,
    elapsed: Duration,
    latencies: Vec<u64>,
}

impl Run {
    fn throughput(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }

    /// Times `n` calls of `op`; the latencies sorted.
    fn of(n: usize, op: impl FnMut(usize) -> Result<()>) -> Result<Self> {
        let (elapsed, mut latencies) = timing::timed(n, op)?;
        latencies.sort_unstable();
        Ok(Self {
            ops: n,
            elapsed,
            latencies,
        })
    }
}

fn median(runs: &[Run]) -> &Run {
    let mut sorted: Vec<&Run> = runs.iter().collect();
    sorted.sort_by(|a, b| a.throughput().total_cmp(&b.throughput()));
    sorted[sorted.len() / 2]
}

fn percentile_us(sorted: &[u64], p: f64) -> f64 {
    stats::percentile(sorted, p) as f64 / 1e3
}

fn report(name: &str, run: &Run) {
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
fn fresh_database(admin: &mut Client, server: &str, name: &str) -> Result<String> {
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
    admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
    let (base, _) = server.rsplit_once('/').context("a URL with a database")?;
    Ok(format!("{base}/{name}"))
}

fn check_rows(url: &str, schema: &str, expected: usize) -> Result<()> {
    let mut client = Client::connect(url, NoTls)?;
    let rows: i64 = client
        .query_one(&format!("SELECT count(*) FROM {schema}.records"), &[])?
        .get(0);
    if rows != i64::try_from(expected)? {
        bail!("{url} {schema}: {rows} rows, expected {expected}");
    }
    Ok(())
}

/// The baseline: what records-host does for one create, written directly against
/// the `postgres` crate: `BEGIN` and a non-blocking try of the advisory lock in
/// one round trip (waiting under `lock_timeout` only when it is held), the
/// prepared insert, `COMMIT`.
struct NativeProtocol {
    client: Client,
    insert: postgres::Statement,
}

impl NativeProtocol {
    const KEY: i64 = 0x5248_4e41_5449_5645;

    fn open(url: &str) -> Result<Self> {
        let mut client = Client::connect(url, NoTls)?;
        client.batch_execute(
            "CREATE SCHEMA native;
             CREATE TABLE native.records (
                 id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                 name text NOT NULL,
                 value bigint NOT NULL)",
        )?;
        let insert = client
            .prepare("INSERT INTO native.records (name, value) VALUES ($1, $2) RETURNING id")?;
        Ok(Self { client, insert })
    }

    fn insert(&mut self, i: usize) -> Result<()> {
        let got = self.client.simple_query(&format!(
            "BEGIN; SELECT pg_try_advisory_xact_lock({})",
            Self::KEY
        ))?;
        let locked = got.iter().any(
            |m| matches!(m, postgres::SimpleQueryMessage::Row(row) if row.get(0) == Some("t")),
        );
        if !locked {
            self.client.batch_execute(&format!(
                "SET LOCAL lock_timeout = 500; SELECT pg_advisory_xact_lock({})",
                Self::KEY
            ))?;
        }
        self.client
            .query_one(&self.insert, &[&"bench", &(i as i64)])?;
        self.client.batch_execute("COMMIT")?;
        Ok(())
    }
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
