//! Plugins from three toolchains side by side: the reference (Rust), the Python
//! example (componentize-py) and the JavaScript example (componentize-qjs), all
//! doing the same thing, measured in one run.
//!
//! Run: `just bench-plugins`, which builds the examples (`.ci/plugins`) and runs
//! `cargo bench -p records-host-cli --bench plugins -- --plugin NAME=PATH ...`.
//!
//! Per plugin: the component's size; compiling it (`Runtime::load_file` without a
//! cache, median of 3); instantiating it over a database (median of 200); a warm
//! `get-record` and `create-record` on one instance (medians of 2,000 and 1,000);
//! and whole `records-host call 'get-record(1)'` processes, the first with an
//! empty compiled-code cache (median of 3, each with a fresh cache) and warm ones
//! (median of 20).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use records_host::{Database, Runtime};

#[path = "common/binary.rs"]
mod binary;

fn main() -> Result<()> {
    let plugins = parse_args()?;
    let scratch = tempfile::tempdir()?;
    println!(
        "{:<10} {:>9} {:>10} {:>12} {:>10} {:>10} {:>12} {:>11}",
        "plugin", "size", "compile", "instantiate", "get", "create", "cli first", "cli warm"
    );
    for (name, path) in &plugins {
        let row = measure(name, path, &scratch.path().join(name))?;
        println!("{row}");
    }
    Ok(())
}

/// `--plugin NAME=PATH`, repeated (cargo bench's own `--bench` is ignored).
fn parse_args() -> Result<Vec<(String, PathBuf)>> {
    let mut plugins = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--plugin" => {
                let spec = args.next().context("--plugin NAME=PATH")?;
                let (name, path) = spec.split_once('=').context("--plugin NAME=PATH")?;
                plugins.push((name.to_string(), PathBuf::from(path)));
            }
            "--bench" => {}
            other => bail!("unknown argument {other}; use --plugin NAME=PATH"),
        }
    }
    if plugins.is_empty() {
        bail!("no plugin given; use --plugin NAME=PATH (just bench-plugins passes three)");
    }
    Ok(plugins)
}

/// One plugin's figures.
struct Row {
    name: String,
    bytes: u64,
    compile: Duration,
    instantiate: Duration,
    get: Duration,
    create: Duration,
    cli_first: Duration,
    cli_warm: Duration,
}

impl std::fmt::Display for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = self.bytes as f64 / f64::from(1 << 20);
        write!(
            f,
            "{:<10} {:>6.2} MiB {:>10} {:>12} {:>10} {:>10} {:>12} {:>11}",
            self.name,
            mib,
            show(self.compile),
            show(self.instantiate),
            show(self.get),
            show(self.create),
            show(self.cli_first),
            show(self.cli_warm)
        )
    }
}

fn show(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 1e6 {
        format!("{:.2} s", us / 1e6)
    } else if us >= 1e3 {
        format!("{:.1} ms", us / 1e3)
    } else {
        format!("{us:.1} us")
    }
}

fn measure(name: &str, path: &Path, dir: &Path) -> Result<Row> {
    std::fs::create_dir_all(dir)?;
    let runtime = Runtime::new()?;
    let compile = median(3, || {
        runtime.load_file(path)?;
        Ok(())
    })?;
    let plugin = runtime.load_file(path)?;
    let db_path = dir.join("bench.db");
    let instantiate = median(200, || {
        plugin.instantiate(Database::open(&db_path)?)?;
        Ok(())
    })?;
    let mut instance = plugin.instantiate(Database::open(&db_path)?)?;
    let id = instance.create_record("bench", 1)?;
    let get = median(2_000, || {
        instance.get_record(id)?;
        Ok(())
    })?;
    let create = median(1_000, || {
        instance.create_record("bench", 2)?;
        Ok(())
    })?;
    let mut fresh = 0;
    let cli_first = median(3, || {
        fresh += 1;
        cli_call(path, &db_path, &dir.join(format!("cold-cache-{fresh}")))
    })?;
    let warm_cache = dir.join("warm-cache");
    cli_call(path, &db_path, &warm_cache)?;
    let cli_warm = median(20, || cli_call(path, &db_path, &warm_cache))?;
    Ok(Row {
        name: name.to_string(),
        bytes: std::fs::metadata(path)?.len(),
        compile,
        instantiate,
        get,
        create,
        cli_first,
        cli_warm,
    })
}

/// `records-host call --plugin PATH --db DB 'get-record(1)'` with `cache`.
fn cli_call(plugin: &Path, db: &Path, cache: &Path) -> Result<()> {
    let output = Command::new(binary::records_host())
        .args(["call", "--plugin"])
        .arg(plugin)
        .arg("--db")
        .arg(db)
        .arg("get-record(1)")
        .env("RECORDS_HOST_CACHE_DIR", cache)
        .env_remove("RUST_LOG")
        .output()?;
    if !output.status.success() {
        bail!(
            "records-host call failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// The median time of `n` runs of `op`.
fn median(n: usize, mut op: impl FnMut() -> Result<()>) -> Result<Duration> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        op()?;
        times.push(start.elapsed());
    }
    times.sort();
    Ok(times[n / 2])
}
