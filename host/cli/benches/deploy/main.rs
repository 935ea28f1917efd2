//! Tenants' own plugins under `records-host serve`, all in one run:
//!
//! 1. Upload to first answered call: `POST .../plugins` (checked, compiled in
//!    a compiler process, stored), `POST .../activate`, then the first call;
//!    for the reference plugin (three fresh uploads, medians) and the Python
//!    example when given; and the same bytes uploaded by a second tenant, a
//!    hit of the compiled-plugin cache (no compile).
//! 2. 1,000 tenants each running its own plugin (the reference plugin with a
//!    distinct custom section: distinct bytes, distinct compiled code), all
//!    loaded, `get-record` round-robin from 64 connections, against the same
//!    calls on a server where the 1,000 tenants share the default plugin;
//!    rounds alternate between the two servers. The server's peak RSS with
//!    1,000 plugins loaded.
//! 3. The same 1,000 tenants with `--max-loaded-plugins-mib` holding a tenth
//!    of them: the rate, and where the time goes (reading a version's bytes
//!    and loading its compiled code from the cache, measured in-process).
//! 4. What a switch to another plugin costs per call, in-process without
//!    HTTP, next to what plain wasmtime pays for the same switch
//!    (`switch.rs`).
//!
//! Run: `just bench-deploy` (= `cargo bench -p records-host-cli --bench deploy
//! -- --python-plugin examples/plugins/python/plugin.wasm`); `-- --quick` for
//! 2 s per load and one round; `--tenants N` for another count than 1,000;
//! `--switch-only` for part 4 alone (its plugins compiled into a fresh cache).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use records_host::{Database, REFERENCE_PLUGIN, Runtime, Slot, TenantName};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../common/binary.rs"]
mod binary;
#[path = "../serve/client.rs"]
mod client;
mod http;
#[path = "../common/placement.rs"]
mod placement;
#[path = "../serve/popularity.rs"]
mod popularity;
#[path = "../common/serve_process.rs"]
mod serve_process;
#[path = "../common/stats.rs"]
mod stats;
mod switch;

use http::Api;
use records_test_fixtures::with_nonce;
use serve_process::{Run, Server};

/// Connections of the load.
pub(crate) const CONNECTIONS: usize = 64;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--client") {
        return client::client(&args[1..]);
    }
    let flag = |name: &str| {
        args.windows(2)
            .find(|pair| pair[0] == name)
            .map(|pair| pair[1].clone())
    };
    let quick = args.iter().any(|a| a == "--quick");
    let bin = flag("--server").unwrap_or_else(binary::records_host);
    let tenants: usize = flag("--tenants").map_or(Ok(1000), |n| n.parse())?;
    let python = flag("--python-plugin");
    let (seconds, rounds) = if quick { (2, 1) } else { (5, 3) };
    let dir = tempfile::tempdir()?;
    let cache = dir.path().join("cache");
    let own_data = dir.path().join("own");
    if args.iter().any(|a| a == "--switch-only") {
        return switch_cost(&cache, dir.path(), tenants, seconds, rounds);
    }
    println!(
        "records-host deploy bench: {tenants} tenants, {CONNECTIONS} connections, {seconds} s per load, {rounds} round(s), server {bin}"
    );
    println!(
        "{}",
        placement::Placement::describe(placement::Placement::of_this_machine().as_ref())
    );

    let server = Server::start(&bin, &own_data, &cache, &[])?;
    let api = Api::new(&server.url);
    upload_to_first_call(&api, "reference", REFERENCE_PLUGIN, 3)?;
    if let Some(path) = &python {
        let wasm = std::fs::read(path).with_context(|| format!("reading {path}"))?;
        upload_to_first_call(&api, "python", &wasm, 1)?;
    } else {
        println!("(no --python-plugin: the Python example's upload is not measured)");
    }

    let names: Vec<String> = (0..tenants).map(|t| format!("t{t}")).collect();
    let start = Instant::now();
    deploy_own_plugins(&api, &names)?;
    let took = start.elapsed().as_secs_f64();
    println!(
        "{tenants} distinct plugins uploaded and activated in {took:.1} s ({:.1} uploads/s, compile slots as the server's default)",
        tenants as f64 / took
    );

    let shared = Server::start(&bin, &dir.path().join("shared"), &cache, &[])?;
    let (mut own_runs, mut shared_runs) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        shared_runs.push(shared.load("get-record", tenants, seconds)?);
        own_runs.push(server.load("get-record", tenants, seconds)?);
    }
    let loaded = api.metric("records_host_loaded_plugins")?;
    let loaded_bytes = api.metric("records_host_loaded_plugin_bytes")?;
    let own_rss = server.peak_rss_kib()?;
    let own_fds = server.descriptors()?;
    let shared_rss = shared.peak_rss_kib()?;
    drop((server, shared));
    let own = median_run(&own_runs);
    let shared = median_run(&shared_runs);
    println!("own plugins, all loaded     {own}");
    println!("one shared plugin           {shared}");
    println!(
        "own / shared: {:.3}x (target >= 0.8x); {loaded} plugins loaded, {:.1} MiB of compiled code",
        own.rate() / shared.rate(),
        loaded_bytes / f64::from(1 << 20)
    );
    println!(
        "server peak RSS: {:.1} MiB with {loaded} plugins loaded ({own_fds} descriptors open); {:.1} MiB sharing one",
        own_rss as f64 / 1024.0,
        shared_rss as f64 / 1024.0
    );

    let tenth = ((loaded_bytes / 10.0) as u64 >> 20).max(1);
    let server = Server::start(
        &bin,
        &own_data,
        &cache,
        &["--max-loaded-plugins-mib", &tenth.to_string()],
    )?;
    let api = Api::new(&server.url);
    let hits_before = api.metric("records_host_compiled_cache_hits_total")?;
    let tenth_run = server.load("get-record", tenants, seconds)?;
    let reloads = api.metric("records_host_compiled_cache_hits_total")? - hits_before;
    let now_loaded = api.metric("records_host_loaded_plugins")?;
    drop(server);
    println!("a tenth loaded ({tenth} MiB)   {tenth_run}");
    println!(
        "a tenth loaded / all loaded: {:.3}x; {reloads} loads from the compiled cache over {} calls (warm pass included), {now_loaded} loaded at the end",
        tenth_run.rate() / own.rate(),
        tenth_run.calls + tenants as u64
    );
    where_reload_time_goes(&own_data, &cache, &names[..names.len().min(100)])?;
    switch_cost(&cache, dir.path(), tenants, seconds, rounds)
}

/// Part 4: the switch's cost in records-host in-process and in the engine
/// alone, from one thread and from two.
fn switch_cost(
    cache: &Path,
    dir: &Path,
    tenants: usize,
    seconds: u64,
    rounds: usize,
) -> Result<()> {
    for threads in [1, 2] {
        let load = switch::Load {
            plugins: tenants,
            threads,
            seconds,
            rounds,
        };
        let host = switch::records_host(cache, dir, load)?;
        let floor = switch::engine_floor(load)?;
        println!(
            "in-process get-record, {threads} thread(s), {tenants} plugins round-robin vs one:"
        );
        println!("  records-host   {}", host.show(threads));
        println!(
            "  plain wasmtime {} (store.get answers the same record)",
            floor.show(threads)
        );
    }
    Ok(())
}

/// Uploads `wasm` as `rounds` fresh tenants' plugin (each round's bytes
/// distinct: a compile) and as a second tenant's (the same bytes: a cache
/// hit), activates it and calls it; prints the medians.
fn upload_to_first_call(api: &Api, label: &str, wasm: &[u8], rounds: u64) -> Result<()> {
    let (mut fresh, mut hit) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let bytes = with_nonce(wasm, 1 << 40 | round);
        fresh.push(first_call(api, &format!("fresh-{label}-{round}"), &bytes)?);
        hit.push(first_call(api, &format!("hit-{label}-{round}"), &bytes)?);
    }
    for (kind, steps) in [("compiled", &fresh), ("cache hit", &hit)] {
        let ms = |i: usize| {
            let mut all: Vec<u64> = steps
                .iter()
                .map(|s: &[Duration; 4]| s[i].as_micros() as u64)
                .collect();
            all.sort_unstable();
            stats::percentile(&all, 50.0) as f64 / 1000.0
        };
        println!(
            "upload to first call, {label} ({:.1} MiB), {kind}: {:.0} ms (upload {:.0}, activate {:.1}, first call {:.1}; median of {rounds})",
            wasm.len() as f64 / f64::from(1 << 20),
            ms(3),
            ms(0),
            ms(1),
            ms(2)
        );
    }
    Ok(())
}

/// Upload, activate, first call and their total, for `tenant`.
fn first_call(api: &Api, tenant: &str, wasm: &[u8]) -> Result<[Duration; 4]> {
    let start = Instant::now();
    let (n, upload) = api.upload(tenant, wasm)?;
    let activate = api.activate(tenant, n)?;
    let call = api.get_record(tenant)?;
    Ok([upload, activate, call, start.elapsed()])
}

/// Each of `names` uploads and activates its own plugin (distinct bytes),
/// from two uploading threads.
fn deploy_own_plugins(api: &Api, names: &[String]) -> Result<()> {
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|w| {
                s.spawn(move || -> Result<()> {
                    for (t, name) in names.iter().enumerate().skip(w).step_by(2) {
                        let (n, _) = api.upload(name, &with_nonce(REFERENCE_PLUGIN, t as u64))?;
                        api.activate(name, n)?;
                    }
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().map_err(|_| anyhow::anyhow!("panicked"))?)
    })
}

/// The run of median rate.
fn median_run(runs: &[Run]) -> &Run {
    stats::median_by(runs, Run::rate)
}

/// What loading an evicted tenant's plugin costs, in-process over the same
/// databases and cache: reading its active version's bytes, then loading
/// its compiled code from the cache (read, checksum, deserialize, link).
fn where_reload_time_goes(data: &Path, cache: &Path, names: &[String]) -> Result<()> {
    let runtime = Runtime::builder()
        .cache_dir(cache)
        .instance_pool(CONNECTIONS as u32)
        .build()?;
    let (mut read, mut load) = (Vec::new(), Vec::new());
    for name in names {
        let db = Database::open(TenantName::new(name)?.database_path(data))?;
        let start = Instant::now();
        let active = db
            .active_version(&Slot::Plugin)?
            .context("no active version")?;
        let wasm = db.version_wasm(&Slot::Plugin, active.number)?;
        read.push(start.elapsed().as_micros() as u64);
        let start = Instant::now();
        let plugin = runtime.load(name, &wasm)?;
        load.push(start.elapsed().as_micros() as u64);
        drop(plugin);
    }
    read.sort_unstable();
    load.sort_unstable();
    let counts = runtime.compiled_cache_counts().unwrap_or_default();
    println!(
        "reloading an evicted plugin, in-process over {} tenants: read its bytes p50 {} us, load its compiled code p50 {} us (p99 {} us); {} from the cache, {} compiled",
        names.len(),
        stats::percentile(&read, 50.0),
        stats::percentile(&load, 50.0),
        stats::percentile(&load, 99.0),
        counts.hits,
        counts.compiles
    );
    Ok(())
}
