//! How the wasm engine is configured: interruption, fuel, and where instances'
//! memory comes from.

use wasmtime::{Config, Enabled, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::sandbox::limits::{Limits, MAX_INSTANCES, MAX_MEMORIES, MAX_TABLE_ELEMENTS, MAX_TABLES};

/// How much of each pooled linear memory stays mapped and resident between
/// instances: reset by rewriting the pages the last instance touched (found
/// with Linux's `PAGEMAP_SCAN`, 6.7 and later; elsewhere all of it) rather than
/// unmapped, so the next instance takes no page faults there.
const KEEP_RESIDENT: usize = 4 << 20;

/// Linear-memory slots beyond those `instances` concurrent instances can hold at
/// once, all allowed to stay warm: up to this many distinct plugins (tenants'
/// own versions) each keep a slot that still holds their memory image. An
/// instance that finds its plugin's slot maps nothing; one that takes another
/// plugin's slot maps the image again (`mmap`, a TLB shootdown on every core,
/// copy-on-write faults): with wasmtime's default of 100 warm slots, 100
/// tenants with distinct plugins ran at 0.3-0.4x the rate of tenants sharing
/// one, and at 0.8-0.9x with every slot warm (BENCHMARKS.md, tenants' own
/// plugins). A slot is address space (the memory's reservation and guard), not
/// memory; a warm slot keeps at most [`KEEP_RESIDENT`] of it resident.
const WARM_MEMORY_SLOTS: u32 = 1024;

/// The engine configuration for `limits`, with a pool of `instances` instances'
/// worth of memory when given.
pub(crate) fn config(limits: &Limits, pool: Option<u32>) -> Config {
    let mut config = Config::new();
    // Epochs stop a guest that runs past its time limit; fuel is metered only
    // when a budget is set, since metering slows every guest down.
    config.epoch_interruption(true);
    config.consume_fuel(limits.fuel.is_some());
    if let Some(instances) = pool {
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling(
            limits, instances,
        )));
    }
    config
}

/// A pool as permissive as the per-store limiter (`limits.rs`): every component
/// the limiter lets through also fits in a slot, so the pool changes where
/// memory comes from, never which plugins run. `instances` component instances
/// may be live at once; one more fails to instantiate until one ends.
fn pooling(limits: &Limits, instances: u32) -> PoolingAllocationConfig {
    let per_instance = |n: usize| instances.saturating_mul(n as u32);
    let memories = per_instance(MAX_MEMORIES).saturating_add(WARM_MEMORY_SLOTS);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(instances)
        .total_core_instances(per_instance(MAX_INSTANCES))
        .total_memories(memories)
        .total_tables(per_instance(MAX_TABLES))
        .max_core_instances_per_component(MAX_INSTANCES as u32)
        .max_memories_per_component(MAX_MEMORIES as u32)
        .max_tables_per_component(MAX_TABLES as u32)
        .max_memories_per_module(MAX_MEMORIES as u32)
        .max_tables_per_module(MAX_TABLES as u32)
        .table_elements(MAX_TABLE_ELEMENTS)
        .max_memory_size(limits.max_memory)
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(KEEP_RESIDENT)
        .max_unused_warm_slots(memories)
        .pagemap_scan(Enabled::Auto);
    pool
}
