//! Schema-per-tenant at 1, 1,000 and 10,000 tenants (`--tenants`; `--quick`:
//! 1, 100, 1,000): creating them (each tenant's first call makes its schema),
//! `get-record` round-robin over all of them through a `PluginHost` and its
//! pool of 16 connections, the catalog's size, and the memory of the server
//! sessions that served them (their proportional set size, read from /proc
//! when the server runs on this machine).

use std::time::Instant;

use anyhow::Result;
use postgres::Client;
use records_host::{DatabaseOptions, Location, Plugin, PluginHost, TenantHome, TenantName};

use super::fresh_database;

/// The pool's size, `PluginHost`'s default.
const POOL: u32 = 16;

pub(crate) fn compare(
    plugin: &Plugin,
    admin: &mut Client,
    server: &str,
    quick: bool,
) -> Result<()> {
    let counts: &[usize] = if quick {
        &[1, 100, 1_000]
    } else {
        &[1, 1_000, 10_000]
    };
    let mut base = None;
    for &n in counts {
        let db = fresh_database(admin, server, &format!("bench_tenants_{n}"))?;
        let url = format!("{db}?sslmode=disable");
        let Location::Postgres(location) = Location::parse(&url) else {
            anyhow::bail!("not a PostgreSQL URL");
        };
        let host = PluginHost::with_pool_size(
            plugin.clone(),
            TenantHome::Postgres(location),
            DatabaseOptions::default(),
            POOL,
        );
        let tenants: Vec<TenantName> = (0..n)
            .map(|i| TenantName::new(&format!("t{i}")))
            .collect::<Result<_, _>>()?;
        let start = Instant::now();
        for tenant in &tenants {
            host.call(tenant, |p| p.create_record("x", 1))?;
        }
        let created = start.elapsed();
        let calls = n.max(5_000);
        let start = Instant::now();
        for i in 0..calls {
            let found = host.call(&tenants[i % n], |p| p.get_record(1))?;
            anyhow::ensure!(found.is_some(), "tenant {} lost its record", i % n);
        }
        let rate = calls as f64 / start.elapsed().as_secs_f64();
        let base = *base.get_or_insert(rate);
        let mut client = Client::connect(&db, postgres::NoTls)?;
        let catalog: i64 = client
            .query_one(
                "SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c
                 JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = 'pg_catalog'",
                &[],
            )?
            .get(0);
        let pids: Vec<i32> = client
            .query(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()
                   AND application_name LIKE $1",
                &[&format!("records-host pid:{}%", std::process::id())],
            )?
            .iter()
            .map(|row| row.get(0))
            .collect();
        let pss: Option<u64> = pids.iter().map(|pid| pss_kib(*pid)).sum();
        println!(
            "pg-tenants-{n}: created {n} in {:.1} s ({:.0} tenants/s); get-record round-robin {calls} calls, {rate:.0} calls/s, {:.3}x one tenant; catalog {:.1} MiB; {} sessions, {}",
            created.as_secs_f64(),
            n as f64 / created.as_secs_f64(),
            rate / base,
            catalog as f64 / 1048576.0,
            pids.len(),
            pss.map_or_else(
                || "their memory not readable here".to_string(),
                |kib| format!(
                    "PSS {:.1} MiB in all, {:.1} MiB each",
                    kib as f64 / 1024.0,
                    kib as f64 / 1024.0 / pids.len().max(1) as f64
                )
            )
        );
        drop(host);
    }
    Ok(())
}

/// The proportional set size of process `pid`, in KiB.
fn pss_kib(pid: i32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("Pss:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}
