//! The HTTP API of `records-host serve` inside an axum app of your own: the
//! reference plugin for tenants under `data/`, one token for tenant `acme`, the
//! API under `/records`, and a route of the app's own beside it.
//!
//! `cargo run -p records-host-cli --example router`, then, with the address it
//! prints:
//! `curl -H 'Authorization: Bearer rht_example' -d '{"function": "get-all-records"}'
//! http://ADDR/records/v1/tenants/acme/call`

use axum::Router;
use axum::routing::get;
use records_host::{PluginHost, Runtime, TenantName};
use records_host_cli::serve::{Auth, Service, Tokens};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let plugin = Runtime::new()?.load_reference()?;
    let host = PluginHost::new(plugin, "data");
    let mut tokens = Tokens::new();
    tokens.add(TenantName::new("acme")?, "rht_example");
    // Keep `service` until the runtime is done: its host is dropped last.
    let service = Service::builder(host, Auth::tokens(tokens)).build();
    let app = Router::new()
        .route("/", get(|| async { "my platform\n" }))
        .nest("/records", service.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
