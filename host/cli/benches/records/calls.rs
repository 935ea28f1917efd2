//! Instantiation, point reads, and whole `records-host call` processes.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use records_host::{Database, Plugin};
use serde_json::json;

use crate::report::{Scenario, scenario};
use crate::writes::native_connection;

/// Instantiating the pre-linked reference plugin per call, over a reused database.
pub(crate) fn instantiate(plugin: &Plugin, path: &Path, n: usize) -> Result<Scenario> {
    let mut db = Some(Database::open(path)?);
    scenario("instantiate", n, |_| {
        let instance = plugin.instantiate(db.take().context("db")?)?;
        db = Some(instance.into_database());
        Ok(())
    })
}

/// Point reads: a native prepared select, then `get-record` through the plugin.
pub(crate) fn reads(plugin: &Plugin, path: &Path, n: usize) -> Result<(Scenario, Scenario)> {
    const ROWS: usize = 10_000;
    let db = Database::open(path)?;
    db.write(|w| (0..ROWS).try_for_each(|i| w.insert("row", i as i64).map(drop)))?;
    let id = |i: usize| ((i * 7919) % ROWS + 1) as i64;
    let conn = native_connection(path)?;
    // The same work a get-record does natively: select the row, build the record.
    let native = scenario("read-native", n, |i| {
        let record = conn
            .prepare_cached("SELECT id, name, value FROM records WHERE id = ?1")?
            .query_row([id(i)], |row| {
                Ok(records_host::Record {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    value: row.get(2)?,
                })
            })?;
        std::hint::black_box(record);
        Ok(())
    })?;
    let mut instance = plugin.instantiate(db)?;
    let guest = scenario("read-guest", n, |i| {
        let record = instance.get_record(id(i))?;
        std::hint::black_box(record.context("missing row")?);
        Ok(())
    })?;
    Ok((native, guest))
}

/// Wall time of whole `records-host call` processes, after warm-up runs that fill
/// the compiled-code cache.
pub(crate) fn cli_call(
    name: &str,
    db: &Path,
    plugin: Option<&Path>,
    runs: usize,
    cache: &Path,
) -> Result<Scenario> {
    let call = |db: &Path| -> Result<()> {
        let mut cmd = Command::new(crate::binary::records_host());
        cmd.arg("call")
            .arg("--db")
            .arg(db)
            .env("RECORDS_HOST_CACHE_DIR", cache)
            .env_remove("RUST_LOG");
        if let Some(plugin) = plugin {
            cmd.arg("--plugin").arg(plugin);
        }
        let output = cmd.arg("get-record(1)").output()?;
        if !output.status.success() {
            bail!(
                "records-host call failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    };
    for _ in 0..3 {
        call(db)?;
    }
    scenario(name, runs, |_| call(db))
}

/// Peak resident memory of `records-host call` with the reference plugin: the
/// largest of 5 calls, after one unmeasured call that fills the compiled-code cache.
pub(crate) fn peak_rss(db: &Path, cache: &Path) -> Result<Scenario> {
    let call = || -> Result<i64> {
        let mut child = Command::new(crate::binary::records_host())
            .arg("call")
            .arg("--db")
            .arg(db)
            .arg(r#"create-record("rss", 1)"#)
            .env("RECORDS_HOST_CACHE_DIR", cache)
            .stdout(Stdio::null())
            .spawn()?;
        let pid = child.id() as libc::pid_t;
        let mut status = 0;
        // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our child, not yet waited for; the pointers are valid.
        let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if waited != pid {
            let _ = child.wait();
            bail!("wait4 failed");
        }
        Ok(usage.ru_maxrss)
    };
    call()?;
    let mut peak_kib = 0i64;
    let scenario = scenario("peak-rss", 5, |_| {
        peak_kib = peak_kib.max(call()?);
        Ok(())
    })?;
    Ok(Scenario {
        extra: json!({ "peak_rss_mib": peak_kib as f64 / 1024.0 }),
        ..scenario
    })
}
