//! The routes of the service, and the layers every request passes: a request id,
//! and with `--no-auth` the loopback `Host` check; calls also pass the layer
//! that counts and logs them.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::handler::Handler;
use axum::http::header;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::api_error::ApiError;
use super::auth::loopback_only;
use super::call::{call, lock};
use super::call_log::count_and_log;
use super::deploy;
use super::request_id;
use super::state::AppState;

/// The service's routes; every answer carries a request id, and every error a
/// JSON body.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    let auth = state.auth.clone();
    let counted_call = call.layer(from_fn_with_state(state.clone(), count_and_log));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/v1/tenants/{tenant}/call", post(counted_call))
        .route("/v1/tenants/{tenant}/lock", get(lock))
        .route(
            "/v1/tenants/{tenant}/plugins",
            post(deploy::upload).get(deploy::list),
        )
        .route(
            "/v1/tenants/{tenant}/plugins/{n}",
            get(deploy::show).delete(deploy::remove),
        )
        .route("/v1/tenants/{tenant}/plugins/{n}/wasm", get(deploy::wasm))
        .route(
            "/v1/tenants/{tenant}/plugins/{n}/activate",
            post(deploy::activate),
        )
        .route(
            "/v1/tenants/{tenant}/scripts/{script}",
            post(deploy::upload).get(deploy::list),
        )
        .route(
            "/v1/tenants/{tenant}/scripts/{script}/run",
            post(deploy::run_script),
        )
        .route(
            "/v1/tenants/{tenant}/scripts/{script}/{n}",
            get(deploy::show).delete(deploy::remove),
        )
        .route(
            "/v1/tenants/{tenant}/scripts/{script}/{n}/wasm",
            get(deploy::wasm),
        )
        .route(
            "/v1/tenants/{tenant}/scripts/{script}/{n}/activate",
            post(deploy::activate),
        )
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
        .layer(from_fn_with_state(auth, loopback_only))
        .layer(from_fn(request_id::assign))
}

/// `GET /metrics`: Prometheus text.
async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let text = state
        .metrics
        .render(state.host.open_databases(), state.host.loaded_plugins());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
