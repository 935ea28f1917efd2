//! `records-host serve`: the multi-tenant sandbox as an HTTP service, and the
//! same API as a library item ([`Service`]) for a platform's own axum app.
//!
//! One compiled plugin, a fresh sandboxed instance per call over the tenant's own
//! database (`PluginHost`); calls run on the threads of `call_pool.rs`, behind one
//! bound on how many run at once (`bound.rs`) and each tenant's share of those
//! (`tenant_shares.rs`). The HTTP side is axum: `service.rs` builds the state
//! (`state.rs`) and `app.rs` the routes; the tenant routes' extractors
//! (`extract.rs`) check the tenant and its token (`auth.rs`, `tokens.rs`) from
//! the headers before any body is read (`body.rs`), then parse the call
//! (`call_request.rs`) for the handlers (`call.rs`), which answer a `Reply` or
//! an `ApiError` (every non-200 status is decided in `api_error.rs`); one layer
//! counts and logs each call (`call_log.rs`), and every answer carries a request
//! id (`request_id.rs`).
//!
//! The command (`command.rs`) adds what a process needs: the tokens file
//! (`token_file.rs`, re-read on SIGHUP), the listener (`listener.rs`), and a
//! graceful stop on SIGTERM or SIGINT: no new connections, in-flight calls (each
//! bounded by its time limit) finish within the grace period, then exit 0.

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
mod deploy;
mod deploy_args;
mod descriptors;
mod extract;
mod listener;
mod metrics;
mod openapi;
mod openapi_parts;
mod parse_errors;
mod reply;
mod request_id;
mod schema;
mod service;
mod state;
mod tenant_shares;
mod token_file;
mod tokens;

pub use self::auth::Auth;
pub use self::bound::CallBound;
pub(crate) use self::command::{Serve, Token};
pub use self::service::{Service, ServiceBuilder};
pub use self::tokens::{Scope, Tokens};
