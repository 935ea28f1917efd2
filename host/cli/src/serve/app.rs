//! The routes of the service, and the layers every request passes: a request id,
//! and with `--no-auth` the loopback `Host` check.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::api_error::ApiError;
use super::auth::loopback_only;
use super::call::{call, lock};
use super::request_id;
use super::state::AppState;

/// The service's routes; every answer carries a request id, and every error a
/// JSON body.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    let auth = state.auth.clone();
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/v1/tenants/{tenant}/call", post(call))
        .route("/v1/tenants/{tenant}/lock", get(lock))
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(auth, loopback_only))
        .layer(axum::middleware::from_fn(request_id::assign))
}

/// `GET /metrics`: Prometheus text.
async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let text = state.metrics.render(state.host.open_databases());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
