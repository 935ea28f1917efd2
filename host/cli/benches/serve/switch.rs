//! What a tenant switch costs: `PluginHost` `get-record` round-robin over
//! 10,000 tenants (every call opens a database and closes the least recently
//! used one), against its floor, a plain rusqlite loop over the same
//! databases with the same LRU size that opens a database with the flags
//! and pragmas records-host needs, checks it is records-host's, reads
//! record 1 and closes the least recently used one. One and two threads,
//! alternating, medians of the rounds.
//!
//! Run alone: `cargo bench -p records-host-cli --bench serve -- --switch-only`
//! (`--quick` for fewer, shorter rounds); under `perf record -g` or
//! `strace -f -c` to see where a switch's time goes.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Result;
use lru::LruCache;
use records_host::{PluginHost, Runtime, TenantName};
use rusqlite::{Connection, MAIN_DB, OpenFlags, OptionalExtension};

use crate::stats;

/// The tenants called round-robin.
pub(crate) const TENANTS: usize = 10_000;

/// Calls per second of each side, one and two threads (medians).
struct Rates {
    floor: [f64; 2],
    host: [f64; 2],
}

/// Measures and prints the switch: `rounds` rounds of `seconds` per side and
/// thread count, over tenants `t0..TENANTS` of `data` (prepared, record 1 in
/// each), the plugin compiled through `cache`, `lru` databases kept open (by
/// default the host's default).
pub(crate) fn tenant_switch(
    data: &Path,
    cache: &Path,
    lru: Option<usize>,
    profile: Option<&str>,
    seconds: u64,
    rounds: usize,
) -> Result<()> {
    let plugin = Runtime::builder()
        .cache_dir(cache)
        .instance_pool(2)
        .build()?
        .load_reference()?;
    // Idle for 0 s: `close_idle` closes every idle database.
    let mut host = PluginHost::new(plugin, data).close_idle_after(Duration::ZERO);
    if let Some(lru) = lru {
        host = host.keep_open(lru);
    }
    let lru = host.max_open_databases();
    let names = (0..TENANTS)
        .map(|t| TenantName::new(&format!("t{t}")))
        .collect::<Result<Vec<_>, _>>()?;
    let paths: Vec<PathBuf> = names.iter().map(|n| n.database_path(data)).collect();
    let floor = Floor::new(lru);
    let period = Duration::from_secs(seconds);
    let host_call = |i: usize| -> Result<()> {
        host.call(&names[i % TENANTS], |p| p.get_record(1))?;
        Ok(())
    };
    let floor_call = |i: usize| floor.get(&paths[i % TENANTS]);
    // Only one side's databases are open at a time (both would not fit in
    // the descriptors); each run starts with its LRU full, as in a steady
    // state, and goes on round-robin from there.
    let measure = |threads: usize, call: &(dyn Fn(usize) -> Result<()> + Sync)| -> Result<f64> {
        floor.clear();
        host.close_idle();
        (0..lru).try_for_each(call)?;
        run(threads, period, lru, call)
    };
    if let Some(side) = profile {
        let call = if side == "host" {
            &host_call as &(dyn Fn(usize) -> Result<()> + Sync)
        } else {
            &floor_call
        };
        floor.clear();
        host.close_idle();
        (0..lru).try_for_each(call)?;
        let rate = run(1, period * rounds as u32, lru, call)?;
        println!("tenant switch, {side} alone, one thread, {lru} kept open: {rate:.0}/s");
        return Ok(());
    }
    let mut samples: [Vec<f64>; 4] = Default::default();
    for _ in 0..rounds {
        for (threads, sample) in [(1, 0), (2, 1)] {
            samples[sample].push(measure(threads, &floor_call)?);
            samples[2 + sample].push(measure(threads, &host_call)?);
        }
    }
    let median = |i: usize| *stats::median_by(&samples[i], |r| *r);
    let rates = Rates {
        floor: [median(0), median(1)],
        host: [median(2), median(3)],
    };
    report(&rates, lru, rounds, seconds);
    Ok(())
}

fn report(rates: &Rates, lru: usize, rounds: usize, seconds: u64) {
    println!(
        "tenant switch, get-record round-robin over {TENANTS} tenants, {lru} kept open, medians of {rounds} rounds of {seconds} s:"
    );
    for (threads, i) in [(1, 0), (2, 1)] {
        println!(
            "  {threads} thread(s): plain rusqlite floor {:>8.0}/s ({:.1} µs a call), PluginHost {:>8.0}/s ({:.1} µs): {:.3}x the floor{}",
            rates.floor[i],
            1e6 * threads as f64 / rates.floor[i],
            rates.host[i],
            1e6 * threads as f64 / rates.host[i],
            rates.host[i] / rates.floor[i],
            if i == 0 { " (target >= 0.7x)" } else { "" },
        );
    }
    println!(
        "  2 threads / 1 thread: PluginHost {:.3}x (target >= 1.7x), floor {:.3}x",
        rates.host[1] / rates.host[0],
        rates.floor[1] / rates.floor[0],
    );
}

/// Calls `call(i)` from `threads` threads for `period`, thread `t` taking
/// `i = from + t, from + t + threads, ...`; calls per second.
fn run(
    threads: usize,
    period: Duration,
    from: usize,
    call: &(dyn Fn(usize) -> Result<()> + Sync),
) -> Result<f64> {
    let start = Instant::now();
    let calls = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || -> Result<usize> {
                    let mut calls = 0;
                    while start.elapsed() < period {
                        for _ in 0..16 {
                            call(from + t + calls * threads)?;
                            calls += 1;
                        }
                    }
                    Ok(calls)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().map_err(|_| anyhow::anyhow!("a thread panicked"))?)
            .sum::<Result<usize>>()
    })?;
    Ok(calls as f64 / start.elapsed().as_secs_f64())
}

/// The floor: SQLite alone, with an LRU of open connections as the host's.
struct Floor {
    open: Mutex<LruCache<PathBuf, Connection>>,
    max: usize,
}

impl Floor {
    fn new(max: usize) -> Self {
        Self {
            open: Mutex::new(LruCache::unbounded()),
            max: max.max(1),
        }
    }

    /// Reads record 1 of the database at `path`, opening it unless open, then
    /// keeps it, closing the least recently used one over the bound.
    fn get(&self, path: &Path) -> Result<()> {
        let taken = self.lock().pop(path);
        let conn = match taken {
            Some(conn) => conn,
            None => open(path)?,
        };
        let name: Option<String> = conn
            .prepare_cached("SELECT id, name, value FROM records WHERE id = ?1")?
            .query_row([1], |row| row.get(1))
            .optional()?;
        anyhow::ensure!(name.is_some(), "record 1 of {} is missing", path.display());
        let evicted = {
            let mut open = self.lock();
            open.put(path.to_path_buf(), conn);
            if open.len() > self.max {
                open.pop_lru()
            } else {
                None
            }
        };
        drop(evicted);
        Ok(())
    }

    /// Closes every connection.
    fn clear(&self) {
        let all = std::mem::replace(&mut *self.lock(), LruCache::unbounded());
        drop(all);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<PathBuf, Connection>> {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// `RHDB`, the application id of a records-host database (its schema module's).
const APPLICATION_ID: i32 = i32::from_be_bytes(*b"RHDB");

/// Opens a tenant database as records-host does (flags, busy timeout,
/// synchronous, kept WAL files, WAL size limit), and checks what records-host
/// checks before using it: its application id, schema version and WAL mode.
fn open(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_NOFOLLOW;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.file_control(Some(MAIN_DB), rusqlite::FileControl::PersistWal(&mut 1))?;
    conn.pragma_update(None, "journal_size_limit", 16 << 20)?;
    let (id, version): (i32, u32) = conn.query_row(
        "SELECT application_id, user_version FROM pragma_application_id, pragma_user_version",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let mode: String = conn.pragma_query_value(None, "journal_mode", |row| row.get(0))?;
    anyhow::ensure!(
        id == APPLICATION_ID && version > 0 && mode == "wal",
        "{} is not a records-host database",
        path.display()
    );
    Ok(conn)
}
