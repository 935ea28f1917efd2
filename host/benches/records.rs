//! The records-host benchmark harness: every scenario of BENCHMARKS.md, with the
//! native baselines measured in the same run, a table on stdout and JSON on disk.
//!
//! Run: `just bench` (= `cargo bench -p records-host --bench records`), or
//! `cargo bench -p records-host --bench records -- --quick` for a short run.
//! Options: `--quick`, `--json PATH` (default `target/bench/results.json`),
//! `--only a,b` (scenario names), `--python-plugin PATH` (an 18 MB componentize-py
//! component; `just bench` builds `examples/plugins/python`).
//!
//! Multi-process scenarios run this same binary as worker processes
//! (`--worker ...`), started together behind a go-file barrier. Every write
//! scenario checks afterwards that the database holds exactly the rows written.
//!
//! `--cost KIND N` runs N operations of one kind untimed (`setup`, `instantiate`,
//! `get`, `create`, `native-get`, `native-insert`), for counting instructions under
//! `valgrind --tool=callgrind`: on a shared, noisy machine wall-clock figures of
//! two builds differ by more than a few percent between runs, instruction counts
//! do not.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use fs4::FileExt;
use records_host::{Database, Error, Plugin, RecordError, Runtime};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_records-host");

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--worker") => return worker(&args[1..]),
        Some("--cost") => return cost(&args[1..]),
        _ => {}
    }
    let options = Options::parse(&args)?;
    let dir = tempfile::tempdir()?;
    let mut report = Report::default();
    let size = if options.quick {
        Size::QUICK
    } else {
        Size::FULL
    };
    println!(
        "records-host bench ({}), {} cores",
        if options.quick { "quick" } else { "full" },
        cores()
    );

    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-cache");
    // First, while this process is small: a child's ru_maxrss starts from the
    // spawning process's high-water mark (Linux carries it across exec), so
    // measured later it would report this harness's peak, not records-host's.
    let rss = if options.wants("cli") {
        Some(peak_rss(&dir.path().join("rss/app.db"), &cache)?)
    } else {
        None
    };
    let runtime = Runtime::builder().cache_dir(&cache).build()?;
    let plugin = runtime.load_reference()?;

    // The scenarios behind the ratio targets run REPEAT times, interleaved, and
    // report their median-throughput repetition: this machine's noise (about
    // +-10% between repetitions) would otherwise decide the ratios.
    let mut floor = Vec::new();
    let mut embedded = Vec::new();
    let mut contended = Vec::new();
    for round in 0..REPEAT {
        let dir = dir.path().join(format!("round{round}"));
        if options.wants("write") || options.wants("floor") {
            floor.push(sqlite_floor(&dir.join("floor/app.db"), size.single)?);
        }
        if options.wants("write") || options.wants("embedded") {
            embedded.push(embedded_create(
                &plugin,
                &dir.join("embedded/app.db"),
                size.single,
            )?);
        }
        if options.wants("contention") {
            contended.push(contention(
                "contention-8p",
                "ours",
                &dir.join("c-ours/app.db"),
                size.per_process,
                &cache,
            )?);
        }
    }
    if options.wants("write") || options.wants("native") {
        report.add(native_protocol(
            &dir.path().join("native/app.db"),
            size.single,
        )?);
    }
    if options.wants("contention") {
        report.add(contention(
            "contention-native-8p",
            "native",
            &dir.path().join("c-native/app.db"),
            size.per_process,
            &cache,
        )?);
    }
    for runs in [floor, embedded, contended] {
        if let Some(median) = median_run(runs) {
            report.add(median);
        }
    }
    if options.wants("instantiate") {
        report.add(instantiate(
            &plugin,
            &dir.path().join("inst/app.db"),
            size.instantiations,
        )?);
    }
    if options.wants("read") {
        let (mut natives, mut guests) = (Vec::new(), Vec::new());
        for round in 0..REPEAT {
            let (native, guest) = reads(
                &plugin,
                &dir.path().join(format!("reads{round}/app.db")),
                size.reads,
            )?;
            natives.push(native);
            guests.push(guest);
        }
        for runs in [natives, guests] {
            if let Some(median) = median_run(runs) {
                report.add(median);
            }
        }
    }
    if options.wants("cli") {
        report.add(cli_call(
            "cli-call",
            &dir.path().join("cli/app.db"),
            None,
            size.cli_runs,
            &cache,
        )?);
        if let Some(python) = &options.python_plugin {
            report.add(cli_call(
                "cli-call-python-18mb",
                &dir.path().join("cli-py/app.db"),
                Some(python),
                size.cli_runs,
                &cache,
            )?);
        }
        report.add(rss.context("measured first")?);
    }
    report.finish(&options.json)
}

/// How many times the scenarios behind the ratio targets run.
const REPEAT: usize = 3;

/// The repetition with the median throughput, its repetitions' throughputs noted.
fn median_run(mut runs: Vec<Scenario>) -> Option<Scenario> {
    if runs.is_empty() {
        return None;
    }
    runs.sort_by(|a, b| a.throughput().total_cmp(&b.throughput()));
    let all: Vec<f64> = runs.iter().map(|r| r.throughput().round()).collect();
    let mut median = runs.swap_remove(runs.len() / 2);
    let mut extra = if median.extra.is_null() {
        json!({})
    } else {
        median.extra.clone()
    };
    extra["repetitions_ops_per_sec"] = json!(all);
    median.extra = extra;
    Some(median)
}

/// How much work each scenario does.
#[derive(Clone, Copy)]
struct Size {
    single: usize,
    per_process: usize,
    instantiations: usize,
    reads: usize,
    cli_runs: usize,
}

impl Size {
    const FULL: Self = Self {
        single: 50_000,
        per_process: 50_000,
        instantiations: 20_000,
        reads: 100_000,
        cli_runs: 40,
    };
    const QUICK: Self = Self {
        single: 5_000,
        per_process: 5_000,
        instantiations: 2_000,
        reads: 10_000,
        cli_runs: 10,
    };
}

struct Options {
    quick: bool,
    json: PathBuf,
    only: Option<Vec<String>>,
    python_plugin: Option<PathBuf>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        let mut options = Self {
            quick: false,
            json: PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../bench/results.json"),
            only: None,
            python_plugin: None,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => options.quick = true,
                "--json" => options.json = args.next().context("--json PATH")?.into(),
                "--only" => {
                    options.only = Some(
                        args.next()
                            .context("--only a,b")?
                            .split(',')
                            .map(str::to_string)
                            .collect(),
                    )
                }
                "--python-plugin" => {
                    options.python_plugin =
                        Some(args.next().context("--python-plugin PATH")?.into())
                }
                "--bench" => {}
                other => bail!("unknown option {other}"),
            }
        }
        Ok(options)
    }

    fn wants(&self, group: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|o| o == group))
    }
}

/// One measured scenario.
struct Scenario {
    name: String,
    ops: usize,
    elapsed: Duration,
    latencies: Vec<u64>,
    extra: Value,
}

impl Scenario {
    fn throughput(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile_us(&self, p: f64) -> f64 {
        percentile(&self.latencies, p) as f64 / 1000.0
    }

    fn json(&self) -> Value {
        json!({
            "name": self.name,
            "ops": self.ops,
            "seconds": self.elapsed.as_secs_f64(),
            "ops_per_sec": self.throughput(),
            "p50_us": self.percentile_us(50.0),
            "p99_us": self.percentile_us(99.0),
            "p999_us": self.percentile_us(99.9),
            "max_us": self.percentile_us(100.0),
            "extra": self.extra,
        })
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[derive(Default)]
struct Report {
    scenarios: Vec<Scenario>,
}

impl Report {
    fn add(&mut self, mut scenario: Scenario) {
        scenario.latencies.sort_unstable();
        println!(
            "{:<24} {:>9} ops {:>11.0} ops/s  p50 {:>9.1} us  p99 {:>9.1} us  p99.9 {:>9.1} us  max {:>9.1} us  {}",
            scenario.name,
            scenario.ops,
            scenario.throughput(),
            scenario.percentile_us(50.0),
            scenario.percentile_us(99.0),
            scenario.percentile_us(99.9),
            scenario.percentile_us(100.0),
            if scenario.extra.is_null() {
                String::new()
            } else {
                scenario.extra.to_string()
            },
        );
        self.scenarios.push(scenario);
    }

    fn get(&self, name: &str) -> Option<&Scenario> {
        self.scenarios.iter().find(|s| s.name == name)
    }

    /// The targets of issue 5, each checked against figures of this run.
    fn targets(&self) -> Vec<Value> {
        let mut targets = Vec::new();
        let mut check = |name: &str, value: f64, bound: f64, at_least: bool, unit: &str| {
            let met = if at_least {
                value >= bound
            } else {
                value <= bound
            };
            println!(
                "  {} {name}: {value:.3}{unit} ({} {bound}{unit})",
                if met { "MET " } else { "MISS" },
                if at_least { ">=" } else { "<=" }
            );
            targets.push(json!({ "target": name, "value": value, "bound": bound, "at_least": at_least, "met": met }));
        };
        println!("targets:");
        if let (Some(floor), Some(ours)) = (self.get("sqlite-floor"), self.get("embedded-create")) {
            check(
                "1. embedded create / sqlite floor",
                ours.throughput() / floor.throughput(),
                0.7,
                true,
                "x",
            );
        }
        if let (Some(single), Some(c)) = (self.get("embedded-create"), self.get("contention-8p")) {
            check(
                "2. contention: lock timeouts",
                c.extra["lock_timeouts"].as_f64().unwrap_or(f64::NAN),
                0.0,
                false,
                "",
            );
            check(
                "2. contention: p99.9",
                c.percentile_us(99.9) / 1000.0,
                20.0,
                false,
                " ms",
            );
            check(
                "2. contention: max",
                c.percentile_us(100.0) / 1000.0,
                100.0,
                false,
                " ms",
            );
            check(
                "2. contention: aggregate / single",
                c.throughput() / single.throughput(),
                0.9,
                true,
                "x",
            );
        }
        if let Some(inst) = self.get("instantiate") {
            check(
                "3. instantiation median",
                inst.percentile_us(50.0),
                20.0,
                false,
                " us",
            );
        }
        if let Some(cli) = self.get("cli-call") {
            check(
                "4. cli call median",
                cli.percentile_us(50.0) / 1000.0,
                15.0,
                false,
                " ms",
            );
        }
        if let Some(cli) = self.get("cli-call-python-18mb") {
            check(
                "4. cli call median, 18 MB plugin",
                cli.percentile_us(50.0) / 1000.0,
                150.0,
                false,
                " ms",
            );
        }
        if let (Some(native), Some(guest)) = (self.get("read-native"), self.get("read-guest")) {
            check(
                "5. guest get-record / native select",
                guest.throughput() / native.throughput(),
                0.7,
                true,
                "x",
            );
        }
        if let Some(rss) = self.get("peak-rss") {
            check(
                "6. cli peak RSS",
                rss.extra["peak_rss_mib"].as_f64().unwrap_or(f64::NAN),
                30.0,
                false,
                " MiB",
            );
        }
        targets
    }

    fn finish(self, path: &Path) -> Result<()> {
        let targets = self.targets();
        let doc = json!({
            "machine": { "cores": cores(), "os": std::env::consts::OS, "arch": std::env::consts::ARCH },
            "when": humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            "scenarios": self.scenarios.iter().map(Scenario::json).collect::<Vec<_>>(),
            "targets": targets,
        });
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)?;
        println!("json: {}", path.display());
        Ok(())
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Times `n` calls of `op`, one latency per call.
fn timed(name: &str, n: usize, mut op: impl FnMut(usize) -> Result<()>) -> Result<Scenario> {
    let mut latencies = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        op(i)?;
        latencies.push(t.elapsed().as_nanos() as u64);
    }
    Ok(Scenario {
        name: name.into(),
        ops: n,
        elapsed: start.elapsed(),
        latencies,
        extra: Value::Null,
    })
}

fn native_connection(path: &Path) -> Result<rusqlite::Connection> {
    std::fs::create_dir_all(path.parent().context("parent")?)?;
    let conn = rusqlite::Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(Duration::from_millis(500))?;
    conn.execute_batch("CREATE TABLE IF NOT EXISTS records (id INTEGER PRIMARY KEY, name TEXT NOT NULL, value INTEGER NOT NULL)")?;
    Ok(conn)
}

fn check_rows(path: &Path, expected: usize) -> Result<()> {
    let conn = rusqlite::Connection::open(path)?;
    let rows: i64 = conn.query_row("SELECT count(*) FROM records", [], |r| r.get(0))?;
    if rows as usize != expected {
        bail!(
            "{}: {rows} rows, expected {expected}: writes were lost",
            path.display()
        );
    }
    Ok(())
}

/// Native rusqlite autocommit inserts, WAL, synchronous=NORMAL, no lock.
fn sqlite_floor(path: &Path, n: usize) -> Result<Scenario> {
    let conn = native_connection(path)?;
    let scenario = timed("sqlite-floor", n, |i| {
        conn.prepare_cached("INSERT INTO records (name, value) VALUES (?1, ?2)")?
            .execute(rusqlite::params!["floor", i as i64])?;
        Ok(())
    })?;
    check_rows(path, n)?;
    Ok(scenario)
}

/// The original design's per-write protocol, natively: flock try-lock with
/// 5 -> 50 ms sleeps and a 500 ms timeout, holder written and truncated on every
/// write, autocommit insert.
struct NativeProtocol {
    conn: rusqlite::Connection,
    lock: File,
}

impl NativeProtocol {
    fn open(path: &Path) -> Result<Self> {
        let conn = native_connection(path)?;
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path.with_file_name("db.lock"))?;
        Ok(Self { conn, lock })
    }

    /// `Ok(false)` on a lock timeout.
    fn insert(&mut self, i: usize) -> Result<bool> {
        let deadline = Instant::now() + Duration::from_millis(500);
        let mut backoff = Duration::from_millis(5);
        while FileExt::try_lock(&self.lock).is_err() {
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(backoff.min(deadline.saturating_duration_since(Instant::now())));
            backoff = (backoff * 2).min(Duration::from_millis(50));
        }
        self.lock.set_len(0)?;
        let holder = format!(
            "pid:{}\ntime:{}\n",
            std::process::id(),
            humantime::format_rfc3339_millis(SystemTime::now())
        );
        (&self.lock).write_all(holder.as_bytes())?;
        let result = self
            .conn
            .prepare_cached("INSERT INTO records (name, value) VALUES (?1, ?2)")?
            .execute(rusqlite::params!["native", i as i64]);
        self.lock.set_len(0)?;
        FileExt::unlock(&self.lock)?;
        result?;
        Ok(true)
    }
}

fn native_protocol(path: &Path, n: usize) -> Result<Scenario> {
    let mut native = NativeProtocol::open(path)?;
    let scenario = timed("native-lock-protocol", n, |i| {
        if !native.insert(i)? {
            bail!("lock timeout with a single writer");
        }
        Ok(())
    })?;
    check_rows(path, n)?;
    Ok(scenario)
}

/// Creates through the reference plugin, embedded: one instance, many calls.
fn embedded_create(plugin: &Plugin, path: &Path, n: usize) -> Result<Scenario> {
    let mut instance = plugin.instantiate(Database::open(path)?)?;
    let scenario = timed("embedded-create", n, |i| {
        instance.create_record("embedded", i as i64)?;
        Ok(())
    })?;
    drop(instance);
    check_rows(path, n)?;
    Ok(scenario)
}

/// 8 worker processes writing `n` records each into one database at once.
fn contention(name: &str, kind: &str, path: &Path, n: usize, cache: &Path) -> Result<Scenario> {
    const PROCESSES: usize = 8;
    let dir = path.parent().context("parent")?;
    drop(Database::open(path)?);
    let go = dir.join("go");
    let mut workers = Vec::new();
    for w in 0..PROCESSES {
        let out = dir.join(format!("worker{w}.lat"));
        let mut child = Command::new(std::env::current_exe()?)
            .args(["--worker", kind])
            .arg(path)
            .arg(n.to_string())
            .arg(&out)
            .arg(&go)
            .arg(cache)
            .stdout(Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().context("stdout")?).read_line(&mut line)?;
        if line.trim() != "ready" {
            bail!("worker {w} did not start: {line}");
        }
        workers.push((child, out));
    }
    File::create(&go)?;
    let mut latencies = Vec::with_capacity(PROCESSES * n);
    let (mut timeouts, mut written) = (0u64, 0usize);
    // The writing window: from the first worker's first write to the last worker's
    // last write (process start-up, the barrier and exit are not writing time).
    let (mut first_start, mut last_end) = (u128::MAX, 0u128);
    for (child, out) in workers {
        let output = child.wait_with_output()?;
        if !output.status.success() {
            bail!("worker failed: {}", String::from_utf8_lossy(&output.stdout));
        }
        let summary = String::from_utf8_lossy(&output.stdout).to_string();
        let mut fields = summary
            .split_whitespace()
            .skip_while(|f| *f != "done")
            .skip(1);
        written += fields.next().context("ok count")?.parse::<usize>()?;
        timeouts += fields.next().context("timeouts")?.parse::<u64>()?;
        first_start = first_start.min(fields.next().context("start")?.parse()?);
        last_end = last_end.max(fields.next().context("end")?.parse()?);
        let mut bytes = Vec::new();
        File::open(&out)?.read_to_end(&mut bytes)?;
        latencies.extend(
            bytes
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))),
        );
    }
    let elapsed = Duration::from_nanos(u64::try_from(last_end.saturating_sub(first_start))?);
    check_rows(path, written)?;
    Ok(Scenario {
        name: name.into(),
        ops: written,
        elapsed,
        latencies,
        extra: json!({ "processes": PROCESSES, "lock_timeouts": timeouts, "rows_checked": written }),
    })
}

/// A worker process: `--worker KIND DB N OUT GO CACHE`.
fn worker(args: &[String]) -> Result<()> {
    let [kind, db, n, out, go, cache] = args else {
        bail!("worker arguments")
    };
    let (db, n, go) = (PathBuf::from(db), n.parse::<usize>()?, PathBuf::from(go));
    let mut op: Box<dyn FnMut(usize) -> Result<bool>> = match kind.as_str() {
        "native" => {
            let mut native = NativeProtocol::open(&db)?;
            Box::new(move |i| native.insert(i))
        }
        _ => {
            let runtime = Runtime::builder().cache_dir(cache).build()?;
            let mut instance = runtime
                .load_reference()?
                .instantiate(Database::open(&db)?)?;
            Box::new(move |i| match instance.create_record("worker", i as i64) {
                Ok(_) => Ok(true),
                Err(Error::Record(RecordError::LockTimeout(_))) => Ok(false),
                Err(e) => Err(e.into()),
            })
        }
    };
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
    let mut file = std::io::BufWriter::new(File::create(out)?);
    for l in latencies {
        file.write_all(&l.to_le_bytes())?;
    }
    file.flush()?;
    println!("done {ok} {timeouts} {start} {end}");
    Ok(())
}

/// `--cost KIND N`: N untimed operations of one kind over a database of 1,000
/// records (see the crate doc). Instructions per operation are
/// `(Ir(KIND, N) - Ir(setup, 0)) / N`.
fn cost(args: &[String]) -> Result<()> {
    let [kind, n] = args else {
        bail!("--cost KIND N")
    };
    let n: i64 = n.parse()?;
    let dir = tempfile::tempdir()?;
    let db = Database::open(dir.path().join("app.db"))?;
    db.write(|w| (0..1000).try_for_each(|i| w.insert("row", i).map(drop)))?;
    let plugin = Runtime::new()?.load_reference()?;
    let mut instance = plugin.instantiate(db)?;
    let id = |i: i64| i % 1000 + 1;
    match kind.as_str() {
        "setup" => {}
        "instantiate" => {
            let mut db = instance.into_database();
            for _ in 0..n {
                db = plugin.instantiate(db)?.into_database();
            }
        }
        "get" => {
            for i in 0..n {
                instance.get_record(id(i))?;
            }
        }
        "create" => {
            for i in 0..n {
                instance.create_record("cost", i)?;
            }
        }
        "native-get" => {
            for i in 0..n {
                instance.database().get(id(i))?;
            }
        }
        "native-insert" => {
            for i in 0..n {
                instance.database().insert("cost", i)?;
            }
        }
        other => bail!("unknown --cost kind {other}"),
    }
    Ok(())
}

/// Wall-clock nanoseconds, comparable between the worker processes.
fn unix_nanos() -> u128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Instantiating the pre-linked reference plugin per call, over a reused database.
fn instantiate(plugin: &Plugin, path: &Path, n: usize) -> Result<Scenario> {
    let mut db = Some(Database::open(path)?);
    timed("instantiate", n, |_| {
        let instance = plugin.instantiate(db.take().context("db")?)?;
        db = Some(instance.into_database());
        Ok(())
    })
}

/// Point reads: a native prepared select, then `get-record` through the plugin.
fn reads(plugin: &Plugin, path: &Path, n: usize) -> Result<(Scenario, Scenario)> {
    const ROWS: usize = 10_000;
    let db = Database::open(path)?;
    db.write(|w| (0..ROWS).try_for_each(|i| w.insert("row", i as i64).map(drop)))?;
    let id = |i: usize| ((i * 7919) % ROWS + 1) as i64;
    let conn = native_connection(path)?;
    // The same work a get-record does natively: select the row, build the record.
    let native = timed("read-native", n, |i| {
        let record = conn
            .prepare_cached("SELECT id, name, value FROM records WHERE id = ?1")?
            .query_row([id(i)], |row| {
                Ok(records_host::Record {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    value: row.get(2)?,
                })
            })?;
        std::hint::black_box(record);
        Ok(())
    })?;
    let mut instance = plugin.instantiate(db)?;
    let guest = timed("read-guest", n, |i| {
        let record = instance.get_record(id(i))?;
        std::hint::black_box(record.context("missing row")?);
        Ok(())
    })?;
    Ok((native, guest))
}

/// Wall time of whole `records-host call` processes, after warm-up runs that fill
/// the compiled-code cache.
fn cli_call(
    name: &str,
    db: &Path,
    plugin: Option<&Path>,
    runs: usize,
    cache: &Path,
) -> Result<Scenario> {
    let call = |db: &Path| -> Result<()> {
        let mut cmd = Command::new(BIN);
        cmd.arg("call")
            .arg("--db")
            .arg(db)
            .env("RECORDS_HOST_CACHE_DIR", cache)
            .env_remove("RUST_LOG");
        if let Some(plugin) = plugin {
            cmd.arg("--plugin").arg(plugin);
        }
        let output = cmd.arg("get-record(1)").output()?;
        if !output.status.success() {
            bail!(
                "records-host call failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    };
    for _ in 0..3 {
        call(db)?;
    }
    timed(name, runs, |_| call(db))
}

/// Peak resident memory of `records-host call` with the reference plugin: the
/// largest of 5 calls, after one unmeasured call that fills the compiled-code cache.
fn peak_rss(db: &Path, cache: &Path) -> Result<Scenario> {
    let call = || -> Result<i64> {
        let mut child = Command::new(BIN)
            .arg("call")
            .arg("--db")
            .arg(db)
            .arg(r#"create-record("rss", 1)"#)
            .env("RECORDS_HOST_CACHE_DIR", cache)
            .stdout(Stdio::null())
            .spawn()?;
        let pid = child.id() as libc::pid_t;
        let mut status = 0;
        // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our child, not yet waited for; the pointers are valid.
        let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if waited != pid {
            let _ = child.wait();
            bail!("wait4 failed");
        }
        Ok(usage.ru_maxrss)
    };
    call()?;
    let mut peak_kib = 0i64;
    let scenario = timed("peak-rss", 5, |_| {
        peak_kib = peak_kib.max(call()?);
        Ok(())
    })?;
    Ok(Scenario {
        extra: json!({ "peak_rss_mib": peak_kib as f64 / 1024.0 }),
        ..scenario
    })
}
