//! The records-host benchmark harness: every scenario of BENCHMARKS.md, with the
//! native baselines measured in the same run, a table on stdout and JSON on disk.
//!
//! Run: `just bench` (= `cargo bench -p records-host-cli --bench records`), or
//! `cargo bench -p records-host-cli --bench records -- --quick` for a short run.
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

#[path = "../common/binary.rs"]
mod binary;
#[path = "../common/timing.rs"]
mod timing;
#[path = "../common/workers.rs"]
mod workers;

mod calls;
mod cost;
mod report;
mod token;
mod writes;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use records_host::Runtime;
use serde_json::json;

use crate::calls::{cli_call, instantiate, peak_rss, reads};
use crate::cost::cost;
use crate::report::{Report, Scenario, cores};
use crate::writes::{contention, embedded_create, native_protocol, sqlite_floor, worker};

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
    let mut turns = Vec::new();
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
            turns.push(contention(
                "contention-token-8p",
                "token",
                &dir.join("c-token/app.db"),
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
    for runs in [floor, embedded, contended, turns] {
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
pub(crate) const REPEAT: usize = 3;

/// The repetition with the median throughput, its repetitions' throughputs noted.
pub(crate) fn median_run(mut runs: Vec<Scenario>) -> Option<Scenario> {
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
pub(crate) struct Size {
    pub(crate) single: usize,
    pub(crate) per_process: usize,
    pub(crate) instantiations: usize,
    pub(crate) reads: usize,
    pub(crate) cli_runs: usize,
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

pub(crate) struct Options {
    pub(crate) quick: bool,
    pub(crate) json: PathBuf,
    pub(crate) only: Option<Vec<String>>,
    pub(crate) python_plugin: Option<PathBuf>,
}

impl Options {
    pub(crate) fn parse(args: &[String]) -> Result<Self> {
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

    pub(crate) fn wants(&self, group: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|o| o == group))
    }
}
