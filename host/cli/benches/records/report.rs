//! A measured scenario, and the table and JSON of a run.

use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use serde_json::{Value, json};

use crate::timing;

/// One measured scenario.
pub(crate) struct Scenario {
    pub(crate) name: String,
    pub(crate) ops: usize,
    pub(crate) elapsed: Duration,
    pub(crate) latencies: Vec<u64>,
    pub(crate) extra: Value,
}

impl Scenario {
    pub(crate) fn throughput(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }

    pub(crate) fn percentile_us(&self, p: f64) -> f64 {
        percentile(&self.latencies, p) as f64 / 1000.0
    }

    pub(crate) fn json(&self) -> Value {
        json!({
            "name": self.name,
            "ops": self.ops,
            "seconds": self.elapsed.as_secs_f64(),
            "ops_per_sec": self.throughput(),
            "p50_us": self.percentile_us(50.0),
            "p99_us": self.percentile_us(99.0),
            "p999_us": self.percentile_us(99.9),
            "max_us": self.percentile_us(100.0),
            "extra": self.extra,
        })
    }
}

pub(crate) fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[derive(Default)]
pub(crate) struct Report {
    pub(crate) scenarios: Vec<Scenario>,
}

impl Report {
    pub(crate) fn add(&mut self, mut scenario: Scenario) {
        scenario.latencies.sort_unstable();
        println!(
            "{:<24} {:>9} ops {:>11.0} ops/s  p50 {:>9.1} us  p99 {:>9.1} us  p99.9 {:>9.1} us  max {:>9.1} us  {}",
            scenario.name,
            scenario.ops,
            scenario.throughput(),
            scenario.percentile_us(50.0),
            scenario.percentile_us(99.0),
            scenario.percentile_us(99.9),
            scenario.percentile_us(100.0),
            if scenario.extra.is_null() {
                String::new()
            } else {
                scenario.extra.to_string()
            },
        );
        self.scenarios.push(scenario);
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Scenario> {
        self.scenarios.iter().find(|s| s.name == name)
    }

    /// The targets of issue 5, each checked against figures of this run.
    pub(crate) fn targets(&self) -> Vec<Value> {
        let mut targets = Vec::new();
        let mut check = |name: &str, value: f64, bound: f64, at_least: bool, unit: &str| {
            let met = if at_least {
                value >= bound
            } else {
                value <= bound
            };
            println!(
                "  {} {name}: {value:.3}{unit} ({} {bound}{unit})",
                if met { "MET " } else { "MISS" },
                if at_least { ">=" } else { "<=" }
            );
            targets.push(json!({ "target": name, "value": value, "bound": bound, "at_least": at_least, "met": met }));
        };
        println!("targets:");
        if let (Some(floor), Some(ours)) = (self.get("sqlite-floor"), self.get("embedded-create")) {
            check(
                "1. embedded create / sqlite floor",
                ours.throughput() / floor.throughput(),
                0.7,
                true,
                "x",
            );
        }
        if let (Some(single), Some(c)) = (self.get("embedded-create"), self.get("contention-8p")) {
            check(
                "2. contention: lock timeouts",
                c.extra["lock_timeouts"].as_f64().unwrap_or(f64::NAN),
                0.0,
                false,
                "",
            );
            check(
                "2. contention: p99.9",
                c.percentile_us(99.9) / 1000.0,
                20.0,
                false,
                " ms",
            );
            check(
                "2. contention: max",
                c.percentile_us(100.0) / 1000.0,
                100.0,
                false,
                " ms",
            );
            check(
                "2. contention: aggregate / single",
                c.throughput() / single.throughput(),
                0.9,
                true,
                "x",
            );
        }
        if let (Some(turns), Some(c)) = (self.get("contention-token-8p"), self.get("contention-8p"))
        {
            check(
                "2. contention: aggregate / token-passing floor",
                c.throughput() / turns.throughput(),
                0.9,
                true,
                "x",
            );
            if let Some(single) = self.get("embedded-create") {
                println!(
                    "  (the token-passing floor itself: {:.3}x one process's creates)",
                    turns.throughput() / single.throughput()
                );
            }
        }
        if let Some(inst) = self.get("instantiate") {
            check(
                "3. instantiation median",
                inst.percentile_us(50.0),
                20.0,
                false,
                " us",
            );
        }
        if let Some(cli) = self.get("cli-call") {
            check(
                "4. cli call median",
                cli.percentile_us(50.0) / 1000.0,
                15.0,
                false,
                " ms",
            );
        }
        if let Some(cli) = self.get("cli-call-python-18mb") {
            check(
                "4. cli call median, 18 MB plugin",
                cli.percentile_us(50.0) / 1000.0,
                150.0,
                false,
                " ms",
            );
        }
        if let (Some(native), Some(guest)) = (self.get("read-native"), self.get("read-guest")) {
            check(
                "5. guest get-record / native select",
                guest.throughput() / native.throughput(),
                0.7,
                true,
                "x",
            );
        }
        if let Some(rss) = self.get("peak-rss") {
            check(
                "6. cli peak RSS",
                rss.extra["peak_rss_mib"].as_f64().unwrap_or(f64::NAN),
                30.0,
                false,
                " MiB",
            );
        }
        targets
    }

    pub(crate) fn finish(self, path: &Path) -> Result<()> {
        let targets = self.targets();
        let doc = json!({
            "machine": { "cores": cores(), "os": std::env::consts::OS, "arch": std::env::consts::ARCH },
            "when": humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            "scenarios": self.scenarios.iter().map(Scenario::json).collect::<Vec<_>>(),
            "targets": targets,
        });
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)?;
        println!("json: {}", path.display());
        Ok(())
    }
}

pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Times `n` calls of `op`, one latency per call, as the scenario `name`.
pub(crate) fn scenario(
    name: &str,
    n: usize,
    op: impl FnMut(usize) -> Result<()>,
) -> Result<Scenario> {
    let (elapsed, latencies) = timing::timed(n, op)?;
    Ok(Scenario {
        name: name.into(),
        ops: n,
        elapsed,
        latencies,
        extra: Value::Null,
    })
}
