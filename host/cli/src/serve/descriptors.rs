//! What `serve` does with the process's file descriptors: raises the soft
//! limit to the hard one, and sizes the idle tenant databases it keeps open
//! from what that leaves.

use records_host::PluginHost;

/// Raises the soft limit on open file descriptors to the hard limit (each open
/// tenant database holds a few, and the usual soft limit of 1024 would cap the
/// databases kept open long before memory does); the soft limit after, `None`
/// when unlimited or unknown.
pub(crate) fn raise_descriptor_limit() -> Option<u64> {
    match PluginHost::raise_descriptor_limit() {
        Ok(limit) => limit,
        Err(e) => {
            let soft = PluginHost::descriptor_limit();
            tracing::warn!("could not raise the open file limit (now {soft:?}): {e}");
            soft
        }
    }
}

/// How many idle tenant databases to keep open: `given` (`--max-open-dbs`),
/// or what the descriptor `limit` leaves room for once `connections` client
/// connections and `calls` running calls have theirs; logged.
pub(crate) fn max_open_dbs(
    given: Option<u32>,
    limit: Option<u64>,
    connections: u32,
    calls: u32,
) -> usize {
    if let Some(given) = given {
        tracing::info!(
            max_open_dbs = given,
            "idle tenant databases kept open, as given"
        );
        return given as usize;
    }
    // Unlimited or unreadable: as if the limit were this, which is plenty.
    let limit = limit.unwrap_or(1 << 20);
    let max = PluginHost::keep_open_within(
        limit.saturating_sub(u64::from(connections)),
        u64::from(calls),
    );
    tracing::info!(
        max_open_dbs = max,
        "idle tenant databases kept open: (descriptor limit {limit} - {} reserved - {connections} connections) / {} per database - {calls} running calls",
        PluginHost::RESERVED_DESCRIPTORS,
        PluginHost::DESCRIPTORS_PER_DATABASE,
    );
    max
}

/// Closes `host`'s databases idle longer than its `--idle-close` period, a
/// quarter of that period apart (between 0.1 and 5 s), on a blocking thread
/// (closing checkpoints the WAL); runs until the runtime stops.
pub(crate) async fn close_idle_databases(host: PluginHost, period: std::time::Duration) {
    let every = (period / 4).clamp(
        std::time::Duration::from_millis(100),
        std::time::Duration::from_secs(5),
    );
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let host = host.clone();
        match tokio::task::spawn_blocking(move || host.close_idle()).await {
            Ok(0) => {}
            Ok(closed) => tracing::debug!(closed, "idle tenant databases closed"),
            Err(e) => tracing::error!("closing idle tenant databases failed: {e}"),
        }
    }
}
