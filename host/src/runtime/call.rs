//! One bounded entry into a plugin: the time limit that holds whatever the guest
//! does, and what happens when it does not return normally.
//!
//! Every call into the guest (an export, a command's `run`, instantiation) gets a
//! deadline when it starts. While the guest computes, the epoch callback checks the
//! deadline every tick and traps once it has passed; while it waits in the host (a
//! WASI poll, sleep or stream, see `bounded_io.rs`, or the write lock, see
//! `host.rs`), the wait itself ends at the deadline with the same trap. Either way
//! the call ends within its time limit plus one epoch tick, and every write
//! transaction the instance opened is rolled back before it returns.

use std::time::Instant;

use wasmtime::{Store, UpdateDeadline};

use crate::error::Error;
use crate::imports::host::HostState;

/// Runs `call` on `store` with a fresh time (and fuel) budget. On a trap or a
/// limit, rolls back the instance's open transactions before returning.
///
/// # Errors
/// [`Error::TimeLimit`], [`Error::MemoryLimit`], [`Error::FuelExhausted`] or
/// [`Error::Trap`] when the guest was stopped.
pub(crate) fn run_bounded<T>(
    store: &mut Store<HostState>,
    call: impl FnOnce(&mut Store<HostState>) -> wasmtime::Result<T>,
) -> Result<T, Error> {
    arm(store);
    match call(store) {
        Ok(value) => Ok(value),
        Err(e) => {
            store.data_mut().abort_transactions();
            Err(Error::from_call(e, store.data().limits()))
        }
    }
}

/// Gives the next call its full time and fuel budget.
fn arm(store: &mut Store<HostState>) {
    let limits = store.data().limits();
    let deadline = crate::deadline::deadline_after(limits.timeout);
    let fuel = limits.fuel;
    store.data_mut().set_call_deadline(deadline);
    if let Some(fuel) = fuel {
        // Fails only when fuel metering is off, which `Runtime` turns on with a budget.
        let _ = store.set_fuel(fuel);
    }
    store.set_epoch_deadline(1);
}

/// What the engine does at each epoch tick while the guest runs: carry on for
/// another tick, or trap once the call's deadline has passed.
pub(crate) fn on_epoch_tick(
    store: wasmtime::StoreContextMut<'_, HostState>,
) -> wasmtime::Result<UpdateDeadline> {
    if Instant::now() >= store.data().call_deadline() {
        return Err(wasmtime::Trap::Interrupt.into());
    }
    Ok(UpdateDeadline::Continue(1))
}
