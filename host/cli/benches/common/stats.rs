//! Percentiles of a run's latencies and the median of repeated runs, one
//! definition for the harnesses that report them: the nearest-rank
//! percentile, and the middle run (the upper one of an even count).

/// The `p`th percentile (0 to 100) of `sorted` by nearest rank: the smallest
/// value at least `p`% of the samples do not exceed; 0 for no samples.
pub(crate) fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The item of median `key` (the upper middle of an even count); panics on
/// no items.
#[allow(dead_code)] // Not every harness repeats its runs.
pub(crate) fn median_by<T>(items: &[T], key: impl Fn(&T) -> f64) -> &T {
    let mut sorted: Vec<&T> = items.iter().collect();
    sorted.sort_by(|a, b| key(a).total_cmp(&key(b)));
    sorted[sorted.len() / 2]
}
