//! `records-host serve`: the multi-tenant sandbox as an HTTP service.
//!
//! One compiled plugin, a fresh sandboxed instance per call over the tenant's own
//! database (`PluginHost`); calls run on the threads of `call_pool.rs`, behind a
//! bound on how many run at once and on each tenant's share of those
//! (`tenant_shares.rs`); the HTTP side is axum on tokio (`app.rs` the routes,
//! `call.rs` the tenant routes). Each tenant is reachable only with its own token
//! (`tokens.rs`, `token_file.rs`), checked from the headers before any body is
//! read (`auth.rs`, `body.rs`); every non-200 status is decided in
//! `api_error.rs`, and every answer carries a request id (`request_id.rs`).
//! SIGTERM or SIGINT stops it gracefully: no new connections, in-flight calls
//! (each bounded by its time limit) finish within the grace period, then exit 0.
//! SIGHUP re-reads the tokens file.

mod api_error;
mod app;
mod auth;
mod body;
mod bound;
mod call;
mod call_log;
mod call_note;
mod call_pool;
mod call_request;
mod command;
mod extract;
mod listener;
mod metrics;
mod parse_errors;
mod reply;
mod request_id;
mod service;
mod state;
mod tenant_shares;
mod token_file;
mod tokens;

pub use self::auth::Auth;
pub use self::bound::CallBound;
pub(crate) use self::command::{Serve, Token};
pub use self::service::{Service, ServiceBuilder};
pub use self::tokens::Tokens;
