//! The routes of the service, and the layers every request passes: a request id,
//! and with `--no-auth` the loopback `Host` check; calls also pass the layer
//! that counts and logs them.
//!
//! Each route is mounted from its handler's `#[utoipa::path]` (utoipa-axum's
//! `routes!`), so the OpenAPI document (`openapi.rs`) lists exactly the routes
//! served.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use utoipa::OpenApi;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use super::api_error::ApiError;
use super::auth::loopback_only;
use super::call_log::count_and_log;
use super::metrics::HostReadings;
use super::openapi::{ApiDoc, OpenApiJson};
use super::request_id;
use super::state::AppState;

/// The service's routes and its OpenAPI document; every answer carries a
/// request id, and every error a JSON body.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    let auth = state.auth.clone();
    let counted = from_fn_with_state(state.clone(), count_and_log);
    let (routes, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(super::openapi::healthz))
        .routes(routes!(metrics))
        .routes(routes!(super::openapi::openapi_json))
        .routes(routes!(super::call::call).layer(counted))
        .routes(routes!(super::call::lock))
        .routes(routes!(super::deploy::upload, super::deploy::list))
        .routes(routes!(super::deploy::show, super::deploy::remove))
        .routes(routes!(super::deploy::wasm))
        .routes(routes!(super::deploy::activate))
        .routes(routes!(
            super::deploy::upload_script,
            super::deploy::list_script
        ))
        .routes(routes!(super::deploy::run_script))
        .routes(routes!(
            super::deploy::show_script,
            super::deploy::remove_script
        ))
        .routes(routes!(super::deploy::script_wasm))
        .routes(routes!(super::deploy::activate_script))
        .split_for_parts();
    routes
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
        .layer(Extension(OpenApiJson::of(&api)))
        .layer(from_fn_with_state(auth, loopback_only))
        .layer(from_fn(request_id::assign))
}

/// `GET /metrics`: Prometheus text.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "service",
    responses((status = 200, description = "Counters, gauges and histograms (OpenMetrics text; no tenant names)", body = String, content_type = "application/openmetrics-text")),
)]
async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let text = state.metrics.render(&HostReadings {
        open_databases: (state.host.open_databases(), state.host.max_open_databases()),
        loaded_plugins: state.host.loaded_plugins(),
        compiled: state.host.compiled_cache_counts(),
    });
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
