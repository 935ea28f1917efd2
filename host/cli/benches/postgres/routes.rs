//! The same creates through the plugin over each way to reach the server, in
//! one run, interleaved: directly without TLS, directly over TLS
//! (`sslmode=require`, when the server offers TLS), and through a PgBouncer in
//! transaction mode (`RECORDS_HOST_BENCH_PGBOUNCER`, a URL to the same server;
//! `just bench-postgres` starts one).

use anyhow::Result;
use postgres::Client;
use records_host::{Database, Plugin};

use super::{REPEAT, Run, check_rows, fresh_database, median, report};

/// Runs and reports the routes; the direct route without TLS is the base of
/// the ratios.
pub(crate) fn compare(plugin: &Plugin, admin: &mut Client, server: &str, n: usize) -> Result<()> {
    let tls: bool = admin
        .query_one("SELECT current_setting('ssl') = 'on'", &[])?
        .get(0);
    let mut routes = vec![Route::Direct];
    if tls {
        routes.push(Route::DirectTls);
    } else {
        println!("pg-route-direct-tls: skipped (the server does not offer TLS)");
    }
    match std::env::var("RECORDS_HOST_BENCH_PGBOUNCER") {
        Ok(bouncer) => routes.push(Route::Bouncer(bouncer)),
        Err(_) => {
            println!("pg-route-pgbouncer-transaction: skipped (set RECORDS_HOST_BENCH_PGBOUNCER)")
        }
    }
    let mut runs: Vec<Vec<Run>> = routes.iter().map(|_| Vec::new()).collect();
    for round in 0..REPEAT {
        for (i, route) in routes.iter().enumerate() {
            let db = fresh_database(admin, server, &format!("bench_route_{i}_{round}"))?;
            let mut instance = plugin.instantiate(Database::open(route.url(&db).as_str())?)?;
            runs[i].push(Run::of(n, |k| {
                instance.create_record("bench", k as i64).map(drop)?;
                Ok(())
            })?);
            drop(instance);
            check_rows(&db, "records_host", n)?;
        }
    }
    let base = median(&runs[0]).throughput();
    for (route, runs) in routes.iter().zip(&runs) {
        let run = median(runs);
        let name = route.name();
        report(name, run);
        println!(
            "ratio {name} / pg-route-direct: {:.3}x",
            run.throughput() / base
        );
    }
    Ok(())
}

/// A way to reach the server.
enum Route {
    Direct,
    DirectTls,
    /// Through the PgBouncer at this URL.
    Bouncer(String),
}

impl Route {
    fn name(&self) -> &'static str {
        match self {
            Self::Direct => "pg-route-direct",
            Self::DirectTls => "pg-route-direct-tls",
            Self::Bouncer(_) => "pg-route-pgbouncer-transaction",
        }
    }

    /// The URL of database `url` this way.
    fn url(&self, url: &str) -> String {
        match self {
            Self::Direct => format!("{url}?sslmode=disable"),
            Self::DirectTls => format!("{url}?sslmode=require"),
            Self::Bouncer(bouncer) => through(url, bouncer),
        }
    }
}

/// `url` (user, password, database) with the host and port of `bouncer`.
fn through(url: &str, bouncer: &str) -> String {
    let authority = |u: &str| {
        let start = u
            .find('@')
            .map_or(u.find("://").map_or(0, |i| i + 3), |at| at + 1);
        let end = u[start..].find('/').map_or(u.len(), |i| start + i);
        (start, end)
    };
    let (from, to) = authority(bouncer);
    let (start, end) = authority(url);
    format!(
        "{}{}{}?sslmode=disable",
        &url[..start],
        &bouncer[from..to],
        &url[end..]
    )
}
