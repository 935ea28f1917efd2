//! The load generator: `serve --client URL FUNCTION TENANTS SECONDS [CORES]`,
//! run as a process of its own so that the server's CPU is the server's.
//! FUNCTION `healthz` calls `GET /healthz` instead: HTTP with no plugin behind
//! it. It reports its own CPU time, so that a run can show whether the client
//! or the server was the limit.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;

use super::popularity::Popularity;
use super::{CONNECTIONS, placement};

/// `--client URL FUNCTION TENANTS SECONDS [CORES]`: the load, from its own
/// process; prints one line per call's latency in microseconds, then `done
/// CALLS ERRORS NANOS CPU_NANOS THREADS`.
///
/// Without CORES (server and client sharing a small machine), one thread
/// drives all `CONNECTIONS` keep-alive connections (tokio and hyper's HTTP/1
/// client), so the client takes as little of the machine's CPU from the
/// server as it can. With CORES (`0,1`), it runs there, one thread per core.
pub(crate) fn client(args: &[String]) -> Result<()> {
    let (url, function, tenants, seconds, cores) = match args {
        [url, function, tenants, seconds] => (url, function, tenants, seconds, None),
        [url, function, tenants, seconds, cores] if cores.is_empty() => {
            (url, function, tenants, seconds, None)
        }
        [url, function, tenants, seconds, cores] => (
            url,
            function,
            tenants,
            seconds,
            Some(placement::parse(cores)?),
        ),
        _ => bail!("--client URL FUNCTION TENANTS SECONDS [CORES]"),
    };
    let threads = match &cores {
        Some(cores) => {
            placement::pin(cores)?;
            cores.len()
        }
        None => 1,
    };
    let addr = url
        .strip_prefix("http://")
        .context("the URL must be http://HOST:PORT")?
        .to_string();
    let popularity = std::sync::Arc::new(Popularity::parse(tenants)?);
    // Zipf: a warm pass of as many calls as 200 per connection, not one per tenant.
    let warm_rounds = match *popularity {
        Popularity::RoundRobin(n) => n.div_ceil(CONNECTIONS),
        Popularity::Zipf(_) => 200,
    };
    let seconds: u64 = seconds.parse()?;
    let args = match function.as_str() {
        "create-record" => json!(["bench", 2]),
        _ => json!([1]),
    };
    let body = (function != "healthz")
        .then(|| bytes::Bytes::from(json!({ "function": function, "args": args }).to_string()));
    let runtime = match threads {
        1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build()?,
    };
    let (results, elapsed, cpu) = runtime.block_on(async {
        let mut senders = Vec::new();
        for _ in 0..CONNECTIONS {
            senders.push(connect(&addr).await?);
        }
        // One untimed pass over every tenant first, so that the timed calls
        // find the databases the cache can hold already open.
        let warm: Vec<_> = senders
            .into_iter()
            .enumerate()
            .map(|(c, sender)| {
                let call = Call::new(&addr, c, popularity.clone(), body.clone());
                tokio::spawn(call.run(sender, Until::Rounds(warm_rounds)))
            })
            .collect();
        let mut senders = Vec::new();
        for w in warm {
            senders.push(w.await??.0);
        }
        let cpu_start = cpu_time();
        let start = Instant::now();
        let deadline = Until::Deadline(start + Duration::from_secs(seconds));
        let timed: Vec<_> = senders
            .into_iter()
            .enumerate()
            .map(|(c, sender)| {
                let call = Call::new(&addr, c, popularity.clone(), body.clone());
                tokio::spawn(call.run(sender, deadline))
            })
            .collect();
        let mut results = Vec::new();
        for t in timed {
            let (_, latencies, failed) = t.await??;
            results.push((latencies, failed));
        }
        anyhow::Ok((
            results,
            start.elapsed(),
            cpu_time().saturating_sub(cpu_start),
        ))
    })?;
    let mut errors = 0;
    let mut out = String::new();
    let mut calls = 0;
    for (latencies, failed) in results {
        errors += failed;
        calls += latencies.len() as u64;
        for l in latencies {
            out.push_str(&format!("{l}\n"));
        }
    }
    out.push_str(&format!(
        "done {calls} {errors} {} {} {threads}\n",
        elapsed.as_nanos(),
        cpu.as_nanos()
    ));
    print!("{out}");
    Ok(())
}
/// The CPU time this process has used, user and system.
fn cpu_time() -> Duration {
    // SAFETY: getrusage writes into a valid, exclusively borrowed rusage.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

type Sender = hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>;

/// A keep-alive connection to `addr`.
async fn connect(addr: &str) -> Result<Sender> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

/// How long a connection keeps calling.
#[derive(Clone, Copy)]
enum Until {
    /// This many calls.
    Rounds(usize),
    /// Until then.
    Deadline(Instant),
}

/// The calls of connection `index`: round-robin, tenants `index`, `index +
/// CONNECTIONS`, ..., so the connections together call every tenant in turn;
/// or drawn by popularity.
struct Call {
    addr: String,
    index: usize,
    popularity: std::sync::Arc<Popularity>,
    /// The call's JSON body; `None` for `GET /healthz`.
    body: Option<bytes::Bytes>,
}

impl Call {
    fn new(
        addr: &str,
        index: usize,
        popularity: std::sync::Arc<Popularity>,
        body: Option<bytes::Bytes>,
    ) -> Self {
        Self {
            addr: addr.to_string(),
            index,
            popularity,
            body,
        }
    }

    /// Calls until `until`: the connection back, each call's latency in
    /// microseconds, and how many calls failed (not 200).
    async fn run(self, mut sender: Sender, until: Until) -> Result<(Sender, Vec<u64>, u64)> {
        use http_body_util::{BodyExt, Full};
        let (mut latencies, mut failed) = (Vec::new(), 0);
        let mut i = 0;
        let mut rng =
            0x9E37_79B9_7F4A_7C15_u64 ^ (self.index as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D);
        while match until {
            Until::Rounds(n) => i < n,
            Until::Deadline(deadline) => Instant::now() < deadline,
        } {
            let tenant = self.popularity.tenant(self.index, i, CONNECTIONS, &mut rng);
            let request = match &self.body {
                None => hyper::Request::get("/healthz")
                    .header(hyper::header::HOST, &self.addr)
                    .body(Full::default())?,
                Some(body) => hyper::Request::post(format!("/v1/tenants/t{tenant}/call"))
                    .header(hyper::header::HOST, &self.addr)
                    .header(hyper::header::CONTENT_TYPE, "application/json")
                    .body(Full::new(body.clone()))?,
            };
            let t0 = Instant::now();
            sender.ready().await?;
            let response = sender.send_request(request).await?;
            let ok = response.status() == 200;
            response.into_body().collect().await?;
            latencies.push(t0.elapsed().as_micros() as u64);
            if !ok {
                failed += 1;
            }
            i += 1;
        }
        Ok((sender, latencies, failed))
    }
}
