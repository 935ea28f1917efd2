//! `POST /v1/tenants/{tenant}/plugins` (and a script's): an upload read within
//! its bounds, compiled and checked in a compile slot, stored as a version.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use records_host::{Upload, VersionInfo};

use super::{Target, force, target};
use crate::serve::api_error::{ApiError, closing};
use crate::serve::auth::declares;
use crate::serve::body::{read_within, refuse_declared_too_large};
use crate::serve::extract::Deployer;
use crate::serve::openapi_parts::{DeployRefused, Force, TenantPath};
use crate::serve::schema::{ErrorBody, WasmBytes};
use crate::serve::state::AppState;
use crate::text::version::VersionBody;

/// `POST .../plugins` (or `.../scripts/{script}`) with the component as the
/// body (`Content-Type: application/wasm`, optional `X-Message`): 201 with the
/// version once it is checked and stored.
///
/// # Errors
/// 415 for another content type, 413 over the size limit, 422 when refused
/// (the report when checks failed), 503 when every compile slot is taken.
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant}/plugins",
    tag = "deploy",
    params(
        TenantPath,
        Force,
        ("X-Message" = Option<String>, Header, description = "A message kept with the version"),
    ),
    request_body(content = WasmBytes, content_type = "application/wasm", description = "The component"),
    responses(
        (status = 201, description = "Checked, compiled and stored", body = VersionBody),
        (status = 400, description = "A malformed tenant name or `force`", body = ErrorBody),
        DeployRefused,
        (status = 408, description = "The body did not arrive within the read timeout", body = ErrorBody),
        (status = 413, description = "Over `--max-plugin-size`", body = ErrorBody),
        (status = 415, description = "Not sent as `application/wasm`", body = ErrorBody),
        (status = 422, description = "Refused: not a component, imports what the host lacks, over a compile bound, or failed the checks (`report`)", body = ErrorBody),
        (status = 503, description = "Every compile slot is taken; retry", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn upload(
    State(state): State<Arc<AppState>>,
    deployer: Deployer,
    Path(params): Path<HashMap<String, String>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let outcome = store(&state, &deployer, &params, &query, &headers, body).await;
    let label = match &outcome {
        Ok(_) => "stored",
        Err(Refusal::BeforeBody(e) | Refusal::After(e)) => e.outcome(),
    };
    state.metrics.observe_upload(label, started.elapsed());
    match outcome {
        Ok(info) => {
            tracing::info!(
                tenant = %deployer.tenant,
                version = info.number,
                sha256 = info.sha256,
                by = deployer.who,
                "uploaded"
            );
            (StatusCode::CREATED, Json(VersionBody::from(&info))).into_response()
        }
        Err(refusal) => {
            tracing::info!(tenant = %deployer.tenant, by = deployer.who, outcome = label, "upload refused");
            match refusal {
                // Its body was not read (whole): the connection is closed.
                Refusal::BeforeBody(e) => closing(e.into_response()),
                Refusal::After(e) => e.into_response(),
            }
        }
    }
}

/// Why an upload was not stored, and whether its body had been read.
enum Refusal {
    BeforeBody(ApiError),
    After(ApiError),
}

/// Reads, checks and stores an upload.
async fn store(
    state: &AppState,
    deployer: &Deployer,
    params: &HashMap<String, String>,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Body,
) -> Result<VersionInfo, Refusal> {
    let deadline = Instant::now() + state.read_timeout;
    let before = Refusal::BeforeBody;
    let Target { slot, .. } = target(params).map_err(before)?;
    let force = force(query).map_err(before)?;
    if !declares(headers, "application/wasm") {
        return Err(before(ApiError::NotWasm));
    }
    let max = state.deploys.max_plugin_size;
    let body = refuse_declared_too_large(headers, body, max, deadline)
        .await
        .map_err(before)?;
    let compile = state
        .deploys
        .compiles
        .clone()
        .try_acquire_owned()
        .map_err(|_| before(ApiError::Busy("every compile slot is taken".into())))?;
    let wasm = read_within(body, max, deadline).await.map_err(before)?;
    let upload = Upload {
        uploaded_by: deployer.who.clone(),
        message: headers
            .get("x-message")
            .and_then(|value| value.to_str().ok())
            .map(records_host::display::escape_control),
        force,
        keep: state.deploys.keep_versions,
    };
    let host = state.host.clone();
    let tenant = deployer.tenant.clone();
    tokio::task::spawn_blocking(move || {
        let _compile = compile;
        host.deploy(&tenant, &slot, &wasm, &upload)
    })
    .await
    .map_err(|_| Refusal::After(ApiError::Internal("the upload's thread ended".into())))?
    .map_err(|e| Refusal::After(ApiError::from(e)))
}
