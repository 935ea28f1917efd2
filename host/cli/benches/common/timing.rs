//! Timing `n` calls of an operation, one latency each: the loop the harnesses
//! that measure calls one by one share (`records`, `postgres`).

use std::time::{Duration, Instant};

/// Calls `op(0)` to `op(n - 1)` in turn: how long they took in all, and each
/// one's latency in nanoseconds, in call order.
///
/// # Errors
/// The first error of `op`; the calls after it are not made.
pub(crate) fn timed<E>(
    n: usize,
    mut op: impl FnMut(usize) -> Result<(), E>,
) -> Result<(Duration, Vec<u64>), E> {
    let mut latencies = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        op(i)?;
        latencies.push(t.elapsed().as_nanos() as u64);
    }
    Ok((start.elapsed(), latencies))
}
