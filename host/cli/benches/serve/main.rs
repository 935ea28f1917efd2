//! `records-host serve` under load, against the same calls made in-process in the
//! same run: 64 keep-alive connections from a separate client process on
//! loopback (this binary again, `--client`: tokio and hyper's client, on cores
//! of its own where the machine has 4 or more, `placement.rs`),
//! 1 tenant, then 1,000 and 10,000 tenants round-robin; and the server's peak
//! RSS. Each scenario starts with one untimed pass over its tenants, so 1,000
//! tenants are all held open when the clock starts; 10,000 churn through the
//! default `--max-open-dbs` (4,616 with a hard descriptor limit of 20,000)
//! whatever came before.
//!
//! First, the tenant switch in-process against its SQLite floor
//! (`switch.rs`; `-- --switch-only` runs only that, `--lru N` sets how many
//! it keeps open, `--data DIR` keeps the tenants for the next run). Last, `get-record` with a Zipf popularity (s = 1.1) over 100,000 tenants
//! (`popularity.rs`), and the server's descriptors after 10,000 tenants and
//! after Zipf.
//!
//! Run: `just bench-serve` (= `cargo bench -p records-host-cli --bench serve`);
//! `-- --quick` for 2 s per scenario instead of 5; `-- --server PATH` to serve
//! from another build of `records-host` (an older one, to compare two builds on
//! the same machine in one session: run both, alternating).
//!
//! The in-process baseline is `PluginHost::call` from as many threads as the
//! client has connections, over the same kind of tenant database (kept open, as
//! the server keeps them), on 1 tenant and round-robin over 10,000.
//!
//! Two more figures bound what the server can reach on the machine: `GET
//! /healthz` (HTTP alone, no plugin), from which the *sum-of-parts bound*
//! `1 / (1/healthz + 1/in-process)` is what HTTP `get-record` would reach if
//! the server spent nothing between the HTTP stack and the call; and the
//! in-process 10,000-tenant ratio, the cost of opening databases with no HTTP
//! at all.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use records_host::{Database, PluginHost, Runtime, TenantName};

/// The allocator of the `records-host` binary, so that the in-process baseline
/// runs the same code as the server.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../common/binary.rs"]
mod binary;
mod client;
#[path = "../common/placement.rs"]
mod placement;
mod popularity;
#[path = "../common/serve_process.rs"]
mod serve_process;
#[path = "../common/stats.rs"]
mod stats;
mod switch;

use serve_process::{Run, Server};

/// Connections of the load (and threads of the in-process baseline).
pub(crate) const CONNECTIONS: usize = 64;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--client") {
        return client::client(&args[1..]);
    }
    let quick = args.iter().any(|a| a == "--quick");
    let bin = args
        .windows(2)
        .find(|pair| pair[0] == "--server")
        .map_or_else(binary::records_host, |pair| pair[1].clone());

    let seconds = if quick { 2 } else { 5 };
    let flag = |name: &str| {
        args.windows(2)
            .find(|pair| pair[0] == name)
            .map(|pair| pair[1].clone())
    };
    let dir = tempfile::tempdir()?;
    // `--data DIR`: tenants kept from an earlier run (those missing are made).
    let data = flag("--data").map_or_else(|| dir.path().join("data"), Into::into);
    println!(
        "records-host serve bench, {CONNECTIONS} connections, {seconds} s per scenario, server {bin}"
    );
    println!(
        "{}",
        placement::Placement::describe(placement::Placement::of_this_machine().as_ref())
    );

    // As the server does: the default open databases follow from the limit.
    records_host::PluginHost::raise_descriptor_limit()?;
    let switch_only = args
        .iter()
        .any(|a| a == "--switch-only" || a == "--switch-profile");
    let zipf = !switch_only && !args.iter().any(|a| a == "--no-zipf");
    prepare_tenants(&data, if zipf { ZIPF_TENANTS } else { 10_000 })?;
    let cache = dir.path().join("cache");
    let (switch_seconds, rounds) = if quick { (1, 3) } else { (2, 5) };
    // `--lru N`: keep N open in the switch instead of the host's default.
    let lru = flag("--lru").map(|n| n.parse()).transpose()?;
    let profile = flag("--switch-profile");
    switch::tenant_switch(
        &data,
        &cache,
        lru,
        profile.as_deref(),
        switch_seconds,
        rounds,
    )?;
    if switch_only {
        return Ok(());
    }
    let plugin = Runtime::builder()
        .cache_dir(&cache)
        .instance_pool(CONNECTIONS as u32)
        .build()?
        .load_reference()?;
    let host = PluginHost::new(plugin, data.as_path()).keep_open(1024);
    let embedded_get = in_process(&host, "get", seconds)?;
    let embedded_get_json = in_process(&host, "get-json", seconds)?;
    let embedded_create = in_process(&host, "create", seconds)?;
    let embedded_get10000 = in_process_round_robin(&host, 10_000, seconds)?;
    drop(host);

    let server = Server::start(&bin, &data, &cache, &[])?;
    let healthz = server.load("healthz", 1, seconds)?;
    let get1 = server.load("get-record", 1, seconds)?;
    let create1 = server.load("create-record", 1, seconds)?;
    let get1000 = server.load("get-record", 1_000, seconds)?;
    let get10000 = server.load("get-record", 10_000, seconds)?;
    let fds10000 = server.descriptors()?;
    let rss = server.peak_rss_kib()?;
    let zipf = if zipf {
        let run = server.load("get-record", format!("zipf:{ZIPF_TENANTS}"), seconds)?;
        Some((run, server.descriptors()?, server.peak_rss_kib()?))
    } else {
        None
    };
    drop(server);

    for (name, run) in [
        ("in-process get-record, 1 tenant", &embedded_get),
        (
            "in-process get-record from JSON, 1 tenant",
            &embedded_get_json,
        ),
        ("in-process create-record, 1 tenant", &embedded_create),
        ("in-process get-record, 10,000 tenants", &embedded_get10000),
        ("http GET /healthz (no plugin)", &healthz),
        ("http get-record, 1 tenant", &get1),
        ("http create-record, 1 tenant", &create1),
        ("http get-record, 1,000 tenants", &get1000),
        ("http get-record, 10,000 tenants", &get10000),
    ] {
        println!("{name:<38} {run}");
    }
    let ratio = |a: &Run, b: &Run| a.rate() / b.rate();
    println!(
        "get-record over HTTP / in-process: {:.3}x (target >= 0.6x)",
        ratio(&get1, &embedded_get)
    );
    println!(
        "create-record over HTTP / in-process: {:.3}x (target >= 0.6x)",
        ratio(&create1, &embedded_create)
    );
    println!(
        "1,000 tenants / 1 tenant: {:.3}x (target >= 0.8x)",
        ratio(&get1000, &get1)
    );
    println!(
        "10,000 tenants / 1 tenant: {:.3}x (target >= 0.25x)",
        ratio(&get10000, &get1)
    );
    let bound = 1.0 / (1.0 / healthz.rate() + 1.0 / embedded_get.rate());
    println!(
        "sum-of-parts bound for get-record over HTTP: {bound:.0} calls/s = {:.3}x in-process; HTTP get-record, 1 tenant, / bound: {:.3}x (target >= 0.8x)",
        bound / embedded_get.rate(),
        get1.rate() / bound
    );
    // The same bound with the call made as the server makes it (the function
    // found by name, its arguments converted from JSON): what is left of the
    // gap is the server's own (routing, layers, the call pool's hand-off).
    let json_bound = 1.0 / (1.0 / healthz.rate() + 1.0 / embedded_get_json.rate());
    println!(
        "in-process get-record from JSON / typed: {:.3}x; HTTP get-record, 1 tenant, / the bound with calls from JSON: {:.3}x",
        ratio(&embedded_get_json, &embedded_get),
        get1.rate() / json_bound
    );
    if let Some(busy) = healthz.client_busy() {
        println!(
            "GET /healthz: the client was busy {:.0}% of its threads' time ({})",
            busy * 100.0,
            if busy < 0.9 {
                "the server is the limit"
            } else {
                "the client may be the limit"
            }
        );
    }
    println!(
        "in-process 10,000 tenants / 1 tenant: {:.3}x",
        ratio(&embedded_get10000, &embedded_get)
    );
    println!(
        "server peak RSS: {:.1} MiB; {fds10000} descriptors open after 10,000 tenants",
        rss as f64 / 1024.0
    );
    if let Some((run, fds, rss)) = zipf {
        println!("http get-record, Zipf 1.1 over {ZIPF_TENANTS} tenants {run}");
        println!(
            "Zipf / 1 tenant: {:.3}x (target >= 0.5x); server peak RSS {:.1} MiB, {fds} descriptors open after it",
            ratio(&run, &get1),
            rss as f64 / 1024.0
        );
    }
    Ok(())
}

/// The tenants of the Zipf scenario (`--no-zipf` skips it, and prepares
/// 10,000).
const ZIPF_TENANTS: usize = 100_000;

/// Tenants `t0..count`, each with record 1 (`get-record(1)` finds it).
fn prepare_tenants(data: &Path, count: usize) -> Result<()> {
    let start = Instant::now();
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|w| {
                s.spawn(move || -> Result<()> {
                    for t in (w..count).step_by(2) {
                        let tenant = TenantName::new(&format!("t{t}"))?;
                        let path = tenant.database_path(data);
                        if path.exists() {
                            continue; // Kept from an earlier run (`--data`).
                        }
                        let db = Database::open(path)?;
                        if db.count()? == 0 {
                            db.insert("bench", 1)?;
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().map_err(|_| anyhow::anyhow!("panicked"))?)
    })?;
    println!(
        "{count} tenants prepared in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `PluginHost::call` from `CONNECTIONS` threads on tenant `t0` for `seconds`:
/// `get` and `create` typed, `get-json` as the server calls (`json_args`).
fn in_process(host: &PluginHost, kind: &str, seconds: u64) -> Result<Run> {
    let tenant = TenantName::new("t0")?;
    let args = [serde_json::json!(1)];
    run_threads(seconds, |_, _| {
        let outcome = match kind {
            "get" => host.call(&tenant, |p| p.get_record(1).map(drop)),
            "get-json" => host.call(&tenant, |p| {
                records_host_cli::text::json_args::call(p, "get-record", &args).map(drop)
            }),
            _ => host.call(&tenant, |p| p.create_record("bench", 2).map(drop)),
        };
        outcome.is_ok()
    })
}

/// `PluginHost::call` of `get-record` from `CONNECTIONS` threads, round-robin
/// over tenants `t0..tenants` as the HTTP client calls them.
fn in_process_round_robin(host: &PluginHost, tenants: usize, seconds: u64) -> Result<Run> {
    let names = (0..tenants)
        .map(|t| TenantName::new(&format!("t{t}")))
        .collect::<Result<Vec<_>, _>>()?;
    run_threads(seconds, |t, i| {
        let tenant = &names[(t + i as usize * CONNECTIONS) % tenants];
        host.call(tenant, |p| p.get_record(1).map(drop)).is_ok()
    })
}

/// Runs `op(thread, i)` on `CONNECTIONS` threads until `seconds` pass.
fn run_threads(seconds: u64, op: impl Fn(usize, u64) -> bool + Sync) -> Result<Run> {
    let stop = AtomicBool::new(false);
    let errors = AtomicU64::new(0);
    let start = Instant::now();
    let mut latencies_us: Vec<u64> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..CONNECTIONS)
            .map(|t| {
                let (stop, errors, op) = (&stop, &errors, &op);
                s.spawn(move || {
                    let mut latencies = Vec::new();
                    let mut i = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let t0 = Instant::now();
                        if !op(t, i) {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                        latencies.push(t0.elapsed().as_micros() as u64);
                        i += 1;
                    }
                    latencies
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs(seconds));
        stop.store(true, Ordering::Relaxed);
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    let elapsed = start.elapsed();
    latencies_us.sort_unstable();
    Ok(Run {
        calls: latencies_us.len() as u64,
        errors: errors.into_inner(),
        elapsed,
        latencies_us,
        client: None,
    })
}
