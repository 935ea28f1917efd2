//! Percentiles of a run's latencies, one definition for the harnesses that
//! report them (`postgres`, `serve`): the nearest-rank percentile.

/// The `p`th percentile (0 to 100) of `sorted` by nearest rank: the smallest
/// value at least `p`% of the samples do not exceed; 0 for no samples.
pub(crate) fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
