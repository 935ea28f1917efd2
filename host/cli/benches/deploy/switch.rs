//! What running a different plugin on every call costs, in-process and
//! without HTTP, next to what the engine alone pays for the same switch.
//!
//! Both halves call `get-record` from one thread and from two, round-robin over `n`
//! distinct compiled copies of the reference plugin ("own"), against the same
//! calls through one copy ("shared"); rounds alternate. The calls differ only
//! in which compiled component they instantiate, so the difference per call is
//! the cost of a switch:
//!
//! - records-host: `Runtime::load` of the tenants' plugins (from the compiled
//!   cache), `Plugin::instantiate` and `get_record` over one database;
//! - the engine floor: plain wasmtime with the same pool settings
//!   (`runtime/engine.rs`), the component deserialized `n` times from one
//!   compiled artifact (distinct code in memory, as `n` uploads have), WASI,
//!   and a `store.get` import that answers the same record without a database.
//!
//! Where the floor's switch costs what records-host's does, the rest of the
//! gap is the engine's and the machine's (cold code and memory images), not
//! the host's.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use records_host::{Database, Plugin, REFERENCE_PLUGIN, Runtime};
use records_test_fixtures::with_nonce;
use wasmtime::component::{
    Component, ComponentExportIndex, InstancePre, Linker, ResourceTable, Val,
};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store,
};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

const RECORDS: &str = "records:plugin/records@0.1.0";
const STORE: &str = "records:plugin/store@0.1.0";

/// Calls per second with a switch on every call, and without.
pub(crate) struct Switch {
    pub(crate) own: f64,
    pub(crate) shared: f64,
}

impl Switch {
    pub(crate) fn ratio(&self) -> f64 {
        self.own / self.shared
    }

    /// Microseconds of a thread's time one switch adds to a call.
    pub(crate) fn cost_us(&self, threads: usize) -> f64 {
        (1.0 / self.own - 1.0 / self.shared) * 1e6 * threads as f64
    }
}

impl Switch {
    /// The rates, the ratio and the switch's cost per call of `threads`.
    pub(crate) fn show(&self, threads: usize) -> String {
        format!(
            "own {:.0}/s, shared {:.0}/s: {:.3}x; a switch costs {:.1} us of a thread",
            self.own,
            self.shared,
            self.ratio(),
            self.cost_us(threads)
        )
    }
}

/// records-host in-process: the `n` tenants' plugins of the deploy run
/// (`with_nonce(REFERENCE_PLUGIN, t)`), loaded through `cache`.
pub(crate) fn records_host(cache: &Path, dir: &Path, load: Load) -> Result<Switch> {
    let n = load.plugins;
    let runtime = Runtime::builder()
        .cache_dir(cache)
        .instance_pool(64)
        .build()?;
    let own = (0..n)
        .map(|t| runtime.load(&format!("t{t}"), &with_nonce(REFERENCE_PLUGIN, t as u64)))
        .collect::<Result<Vec<Plugin>, _>>()?;
    let shared = runtime.load("shared", REFERENCE_PLUGIN)?;
    // A database per thread, each holding record 1.
    let dbs = (0..load.threads)
        .map(|t| {
            let mut first =
                shared.instantiate(Database::open(dir.join(format!("switch-{t}.db")))?)?;
            first.create_record("switch", 1)?;
            Ok(Mutex::new(Some(first.into_database())))
        })
        .collect::<Result<Vec<_>>>()?;
    let call = |thread: usize, plugin: &Plugin| -> Result<()> {
        let mut slot = dbs[thread].lock().expect("one thread per database");
        let mut instance = plugin.instantiate(slot.take().context("no database")?)?;
        let found = instance.get_record(1);
        *slot = Some(instance.into_database());
        found?.context("record 1 is missing").map(drop)
    };
    alternate(load, |t, i| call(t, &own[i % n]), |t, _| call(t, &shared))
}

/// The engine alone: plain wasmtime, `n` deserialized copies of one compiled
/// reference plugin.
pub(crate) fn engine_floor(load: Load) -> Result<Switch> {
    let n = load.plugins;
    let (engine, own, shared) = load_copies(n).map_err(one_line)?;
    alternate(
        load,
        |_, i| own[i % n].call(&engine).map_err(one_line),
        |_, _| shared.call(&engine).map_err(one_line),
    )
}

fn one_line(e: wasmtime::Error) -> anyhow::Error {
    anyhow::anyhow!("{e:#}")
}

/// An engine, `n` copies and one more.
fn load_copies(n: usize) -> wasmtime::Result<(Engine, Vec<Loaded>, Loaded)> {
    let engine = Engine::new(&config(n as u32))?;
    let compiled = Component::new(&engine, REFERENCE_PLUGIN)?.serialize()?;
    let mut linker = Linker::<Floor>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    linker
        .instance(STORE)?
        .func_new("get", |_, _, _, results| {
            results[0] = Val::Result(Ok(Some(Box::new(Val::Option(Some(Box::new(record())))))));
            Ok(())
        })?;
    // SAFETY: the bytes were serialized just above by this engine.
    let deserialize = || unsafe { Component::deserialize(&engine, &compiled) };
    linker.define_unknown_imports_as_traps(&deserialize()?)?;
    let load = || -> wasmtime::Result<Loaded> {
        let component = deserialize()?;
        let missing = || wasmtime::format_err!("no {RECORDS}#get-record export");
        let records = component
            .get_export_index(None, RECORDS)
            .ok_or_else(missing)?;
        let get = component
            .get_export_index(Some(&records), "get-record")
            .ok_or_else(missing)?;
        Ok(Loaded {
            pre: linker.instantiate_pre(&component)?,
            get,
        })
    };
    let own = (0..n)
        .map(|_| load())
        .collect::<wasmtime::Result<Vec<_>>>()?;
    let shared = load()?;
    Ok((engine, own, shared))
}

/// The record the floor's `store.get` answers, as records-host's database
/// holds it in the other half.
fn record() -> Val {
    Val::Record(vec![
        ("id".into(), Val::S64(1)),
        ("name".into(), Val::String("switch".into())),
        ("value".into(), Val::S64(1)),
    ])
}

/// One compiled copy, ready to instantiate.
struct Loaded {
    pre: InstancePre<Floor>,
    get: ComponentExportIndex,
}

impl Loaded {
    fn call(&self, engine: &Engine) -> wasmtime::Result<()> {
        let mut store = Store::new(
            engine,
            Floor {
                wasi: WasiCtx::builder().build(),
                table: ResourceTable::new(),
            },
        );
        store.set_epoch_deadline(1);
        let instance = self.pre.instantiate(&mut store)?;
        let func = instance
            .get_func(&mut store, self.get)
            .ok_or_else(|| wasmtime::format_err!("no get-record"))?;
        let mut results = [Val::Bool(false)];
        func.call(&mut store, &[Val::S64(1)], &mut results)?;
        match &results[0] {
            Val::Result(Ok(Some(found))) if **found == Val::Option(Some(Box::new(record()))) => {
                Ok(())
            }
            other => wasmtime::bail!("get-record answered {other:?}"),
        }
    }
}

/// The floor's per-store state: WASI only.
struct Floor {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Floor {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// records-host's engine settings (`runtime/engine.rs`): epochs, a pool of 64
/// instances with every memory slot allowed to stay warm, `n` of them for the
/// copies.
fn config(n: u32) -> Config {
    let mut pool = PoolingAllocationConfig::new();
    let memories = 64 * 16 + n.max(1024);
    pool.total_component_instances(64)
        .total_core_instances(64 * 64)
        .total_memories(memories)
        .total_tables(64 * 64)
        .max_core_instances_per_component(64)
        .max_memories_per_component(16)
        .max_tables_per_component(64)
        .max_memories_per_module(16)
        .max_tables_per_module(64)
        .table_elements(1 << 20)
        .max_memory_size(64 << 20)
        .linear_memory_keep_resident(4 << 20)
        .table_keep_resident(4 << 20)
        .max_unused_warm_slots(memories)
        .pagemap_scan(Enabled::Auto);
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}

/// How the calls are made.
#[derive(Clone, Copy)]
pub(crate) struct Load {
    /// Distinct plugins the own half switches between.
    pub(crate) plugins: usize,
    /// Calling threads; thread `t` of `T` calls plugins `t`, `t + T`, ...
    pub(crate) threads: usize,
    pub(crate) seconds: u64,
    pub(crate) rounds: usize,
}

/// Alternates `rounds` rounds of `seconds` of `own` then `shared` calls from
/// `threads` threads (the arguments: the thread, and which call of the round
/// it is over all threads' calls); the median rates.
fn alternate(
    load: Load,
    own: impl Fn(usize, usize) -> Result<()> + Sync,
    shared: impl Fn(usize, usize) -> Result<()> + Sync,
) -> Result<Switch> {
    let run = |call: &(dyn Fn(usize, usize) -> Result<()> + Sync)| -> Result<f64> {
        let period = Duration::from_secs(load.seconds);
        let start = Instant::now();
        let calls = std::thread::scope(|s| {
            let threads: Vec<_> = (0..load.threads)
                .map(|t| {
                    s.spawn(move || -> Result<usize> {
                        let mut calls = 0;
                        while start.elapsed() < period {
                            for _ in 0..64 {
                                call(t, t + calls * load.threads)?;
                                calls += 1;
                            }
                        }
                        Ok(calls)
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|t| {
                    t.join()
                        .map_err(|_| anyhow::anyhow!("a calling thread panicked"))?
                })
                .sum::<Result<usize>>()
        })?;
        Ok(calls as f64 / start.elapsed().as_secs_f64())
    };
    // One pass over every copy first: nothing is measured cold the first time.
    run(&own)?;
    let (mut owns, mut shareds) = (Vec::new(), Vec::new());
    for _ in 0..load.rounds {
        shareds.push(run(&shared)?);
        owns.push(run(&own)?);
    }
    Ok(Switch {
        own: *crate::stats::median_by(&owns, |r| *r),
        shared: *crate::stats::median_by(&shareds, |r| *r),
    })
}
