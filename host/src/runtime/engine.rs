//! How the wasm engine is configured: interruption and fuel.

use wasmtime::Config;

use crate::limits::Limits;

/// The engine configuration for `limits`.
pub(crate) fn config(limits: &Limits) -> Config {
    let mut config = Config::new();
    // Epochs stop a guest that runs past its time limit; fuel is metered only
    // when a budget is set, since metering slows every guest down.
    config.epoch_interruption(true);
    config.consume_fuel(limits.fuel.is_some());
    config
}
