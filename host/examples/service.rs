//! A long-running multi-tenant service embedding records-host: one `PluginHost`
//! built at start-up, shared by worker threads, each request a fresh sandboxed
//! instance over the requesting tenant's own database.
//!
//! Run: `cargo run -p records-host --example service -- [DATA_DIR|URL] [PLUGIN.wasm]`
//! (defaults: a temp directory and the embedded reference plugin; a `postgres://`
//! URL puts every tenant in a schema of that database). `cargo test`
//! builds this example, so it cannot rot.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use records_host::{Error, Limits, PluginHost, RecordError, Runtime, TenantHome, TenantName};

/// Threads serving requests, each making at most one plugin call at a time.
const WORKERS: usize = 4;

/// One unit of work, as a request router would hand it over.
struct Request {
    tenant: TenantName,
    name: String,
    value: i64,
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let scratch = tempfile::tempdir()?;
    let home = args.next().map_or_else(
        || TenantHome::from(scratch.path()),
        |arg| TenantHome::from(arg.as_str()),
    );

    // Start-up: compile the plugin once, with the limits every call gets, and
    // pool the memory of as many instances as workers run calls at once.
    let limits = Limits {
        timeout: Duration::from_millis(500),
        max_memory: 32 << 20,
        max_db_size: 64 << 20,
        ..Limits::default()
    };
    let runtime = Runtime::builder()
        .limits(limits)
        .instance_pool(WORKERS as u32)
        .build()?;
    let plugin = match args.next() {
        Some(path) => runtime.load_file(&PathBuf::from(path))?,
        None => runtime.load_reference()?,
    };
    // Idle tenant databases stay open between calls (SQLite; a bounded LRU).
    let host = PluginHost::new(plugin, home).keep_open(64);

    // Requests for three tenants, served by four workers sharing one host.
    let (send, receive) = mpsc::channel::<Request>();
    let receive = std::sync::Mutex::new(receive);
    let tenants = ["acme", "globex", "initech"].map(TenantName::new);
    for i in 0..30 {
        let tenant = tenants[i % 3].clone()?;
        send.send(Request {
            tenant,
            name: format!("order-{i}"),
            value: i as i64,
        })?;
    }
    drop(send);

    std::thread::scope(|scope| {
        for worker in 0..WORKERS {
            let (host, receive) = (host.clone(), &receive);
            scope.spawn(move || {
                while let Ok(request) = receive
                    .lock()
                    .map_err(drop)
                    .and_then(|r| r.recv().map_err(drop))
                {
                    let outcome = host.call(&request.tenant, |plugin| {
                        plugin.create_record(&request.name, request.value)
                    });
                    match outcome {
                        Ok(id) => {
                            println!("worker {worker}: {} #{id} {}", request.tenant, request.name)
                        }
                        // A busy tenant: tell the client to retry (HTTP 503, say).
                        Err(Error::Record(RecordError::LockTimeout(t))) => {
                            eprintln!("retry later: {t}")
                        }
                        // A misbehaving plugin is contained; the service keeps going.
                        Err(e) if e.stopped_the_plugin() => eprintln!("{}: {e}", request.tenant),
                        Err(e) => eprintln!("{}: {e}", request.tenant),
                    }
                }
            });
        }
    });

    for tenant in tenants {
        let tenant = tenant?;
        let count = host.call(&tenant, |plugin| plugin.get_all_records())?.len();
        println!(
            "{tenant}: {count} records in {}",
            host.home().location(&tenant)
        );
    }
    Ok(())
}
