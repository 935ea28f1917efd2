//! `GET /metrics`: Prometheus text (OpenMetrics) of the service, with no tenant
//! names in it: calls by function and outcome, their latency, plugins stopped by
//! cause, lock acquisitions, waits and timeouts, open databases, and the tokens
//! file (tokens loaded, malformed lines, failed reloads), and deployments
//! (uploads by outcome and how long their compile and checks took, activations,
//! deployed plugins loaded and the bytes of their compiled code, and how often
//! their compiled code came from the compiled-plugin cache or was compiled).
//!
//! Function labels are recorded only for calls that reached the plugin, so the
//! label set is bounded by what the plugin exports, not by what clients send.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use records_host::process_lock_metrics;
use records_host::{CompiledCacheCounts, Error};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    function: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UploadLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StopLabels {
    cause: String,
}

/// The service's counters, and the registry that renders them.
pub(crate) struct Metrics {
    registry: Registry,
    calls: Family<CallLabels, Counter>,
    latency: Histogram,
    stops: Family<StopLabels, Counter>,
    lock_acquisitions: Counter,
    lock_contended: Counter,
    lock_timeouts: Counter,
    lock_wait_seconds: Counter<f64>,
    open_databases: Gauge,
    max_open_databases: Gauge,
    tokens: Gauge,
    tokens_malformed_lines: Gauge,
    tokens_reload_failures: Counter,
    uploads: Family<UploadLabels, Counter>,
    upload_seconds: Histogram,
    activations: Counter,
    loaded_plugins: Gauge,
    loaded_plugin_bytes: Gauge,
    compiled_cache_hits: Counter,
    plugin_compiles: Counter,
}

/// What a scrape reads from the host.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HostReadings {
    /// Idle tenant databases kept open, and the most that are.
    pub(crate) open_databases: (usize, usize),
    /// Deployed plugins loaded, and the bytes of their compiled code.
    pub(crate) loaded_plugins: (usize, u64),
    /// Where deployed versions' compiled code came from.
    pub(crate) compiled: CompiledCacheCounts,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("records_host");
        let calls = Family::<CallLabels, Counter>::default();
        registry.register("calls", "Calls by function and outcome", calls.clone());
        let latency = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        registry.register(
            "call_duration_seconds",
            "Time from request to response of a call",
            latency.clone(),
        );
        let stops = Family::<StopLabels, Counter>::default();
        registry.register(
            "plugin_stops",
            "Plugin calls stopped, by cause (time, memory, fuel, trap)",
            stops.clone(),
        );
        let lock_acquisitions = Counter::default();
        registry.register(
            "lock_acquisitions",
            "Write lock acquisitions",
            lock_acquisitions.clone(),
        );
        let lock_contended = Counter::default();
        registry.register(
            "lock_contended",
            "Write lock acquisitions that had to wait",
            lock_contended.clone(),
        );
        let lock_timeouts = Counter::default();
        registry.register(
            "lock_timeouts",
            "Writes that gave up waiting for the lock",
            lock_timeouts.clone(),
        );
        let lock_wait_seconds = Counter::<f64>::default();
        registry.register(
            "lock_wait_seconds",
            "Time spent waiting for write locks",
            lock_wait_seconds.clone(),
        );
        let open_databases = Gauge::default();
        registry.register(
            "open_databases",
            "Idle tenant databases kept open",
            open_databases.clone(),
        );
        let max_open_databases = Gauge::default();
        registry.register(
            "max_open_databases",
            "The most idle tenant databases kept open (--max-open-dbs, or what the descriptor limit leaves)",
            max_open_databases.clone(),
        );
        let tokens = Gauge::default();
        registry.register(
            "tokens",
            "Tokens loaded from the tokens file",
            tokens.clone(),
        );
        let tokens_malformed_lines = Gauge::default();
        registry.register(
            "tokens_malformed_lines",
            "Malformed lines skipped in the tokens file as last loaded",
            tokens_malformed_lines.clone(),
        );
        let tokens_reload_failures = Counter::default();
        registry.register(
            "tokens_reload_failures",
            "SIGHUP reloads that kept the old tokens (file untrusted, unreadable or too slow)",
            tokens_reload_failures.clone(),
        );
        let uploads = Family::<UploadLabels, Counter>::default();
        registry.register(
            "plugin_uploads",
            "Plugin and script uploads, by outcome (stored, refused, too_large, busy, ...)",
            uploads.clone(),
        );
        let upload_seconds = Histogram::new(exponential_buckets(0.01, 2.0, 14));
        registry.register(
            "plugin_upload_seconds",
            "Time to compile, check and store an upload",
            upload_seconds.clone(),
        );
        let activations = Counter::default();
        registry.register(
            "plugin_activations",
            "Versions activated",
            activations.clone(),
        );
        let loaded_plugins = Gauge::default();
        registry.register(
            "loaded_plugins",
            "Deployed plugins kept loaded in memory",
            loaded_plugins.clone(),
        );
        let loaded_plugin_bytes = Gauge::default();
        registry.register(
            "loaded_plugin_bytes",
            "Bytes of compiled code of the deployed plugins kept loaded",
            loaded_plugin_bytes.clone(),
        );
        let compiled_cache_hits = Counter::default();
        registry.register(
            "compiled_cache_hits",
            "Deployed versions loaded from the compiled-plugin cache, with no compile (an identical upload, a reload)",
            compiled_cache_hits.clone(),
        );
        let plugin_compiles = Counter::default();
        registry.register(
            "plugin_compiles",
            "Deployed versions compiled (a miss of the compiled-plugin cache)",
            plugin_compiles.clone(),
        );
        Self {
            registry,
            calls,
            latency,
            stops,
            lock_acquisitions,
            lock_contended,
            lock_timeouts,
            lock_wait_seconds,
            open_databases,
            max_open_databases,
            tokens,
            tokens_malformed_lines,
            tokens_reload_failures,
            uploads,
            upload_seconds,
            activations,
            loaded_plugins,
            loaded_plugin_bytes,
            compiled_cache_hits,
            plugin_compiles,
        }
    }

    /// Counts one upload by its outcome, and how long it took.
    pub(crate) fn observe_upload(&self, outcome: &str, took: std::time::Duration) {
        let labels = UploadLabels {
            outcome: outcome.to_string(),
        };
        self.uploads.get_or_create(&labels).inc();
        self.upload_seconds.observe(took.as_secs_f64());
    }

    /// Counts one activation.
    pub(crate) fn observe_activation(&self) {
        self.activations.inc();
    }

    /// Records a tokens file just loaded: its tokens and its malformed lines.
    pub(crate) fn tokens_loaded(&self, tokens: usize, malformed: usize) {
        self.tokens.set(i64::try_from(tokens).unwrap_or(i64::MAX));
        self.tokens_malformed_lines
            .set(i64::try_from(malformed).unwrap_or(i64::MAX));
    }

    /// Counts a reload that kept the old tokens.
    pub(crate) fn tokens_reload_failed(&self) {
        self.tokens_reload_failures.inc();
    }

    /// Counts one call: its function (`-` when it did not reach the plugin), its
    /// outcome and how long it took.
    pub(crate) fn observe(&self, function: &str, outcome: &str, seconds: f64) {
        let labels = CallLabels {
            function: function.to_string(),
            outcome: outcome.to_string(),
        };
        self.calls.get_or_create(&labels).inc();
        self.latency.observe(seconds);
    }

    /// Counts a plugin the host stopped, when `err` is one.
    pub(crate) fn observe_stop(&self, err: &Error) {
        let cause = match err {
            Error::TimeLimit { .. } => "time",
            Error::MemoryLimit { .. } => "memory",
            Error::FuelExhausted { .. } => "fuel",
            Error::Trap(_) => "trap",
            _ => return,
        };
        let labels = StopLabels {
            cause: cause.to_string(),
        };
        self.stops.get_or_create(&labels).inc();
    }

    /// The text a scrape gets, with the lock counters and the host's readings
    /// taken now.
    pub(crate) fn render(&self, host: &HostReadings) -> String {
        let HostReadings {
            open_databases,
            loaded_plugins: loaded,
            compiled,
        } = *host;
        catch_up(&self.compiled_cache_hits, compiled.hits);
        catch_up(&self.plugin_compiles, compiled.compiles);
        self.loaded_plugins
            .set(i64::try_from(loaded.0).unwrap_or(i64::MAX));
        self.loaded_plugin_bytes
            .set(i64::try_from(loaded.1).unwrap_or(i64::MAX));
        let lock = process_lock_metrics();
        catch_up(&self.lock_acquisitions, lock.acquisitions);
        catch_up(&self.lock_contended, lock.contended);
        catch_up(&self.lock_timeouts, lock.timeouts);
        let waited = lock.total_wait.as_secs_f64() - self.lock_wait_seconds.get();
        if waited > 0.0 {
            self.lock_wait_seconds.inc_by(waited);
        }
        self.open_databases
            .set(i64::try_from(open_databases.0).unwrap_or(i64::MAX));
        self.max_open_databases
            .set(i64::try_from(open_databases.1).unwrap_or(i64::MAX));
        let mut text = String::new();
        // Writing to a String does not fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

/// Advances `counter` to the process-wide `total` (which only grows).
fn catch_up(counter: &Counter, total: u64) {
    let seen = counter.get();
    if total > seen {
        counter.inc_by(total - seen);
    }
}
