//! A named script's versions (`/v1/tenants/{tenant}/scripts/{script}...`):
//! the plugin routes' handlers (`upload.rs`, `versions.rs`) under the paths
//! that name the script, each with its own OpenAPI operation.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{upload, versions};
use crate::serve::api_error::ApiError;
use crate::serve::extract::Deployer;
use crate::serve::openapi_parts::{DeployRefused, Force, ScriptPath, ScriptVersionPath};
use crate::serve::reply::Reply;
use crate::serve::schema::{Activated, ErrorBody, VersionDetail, WasmBytes};
use crate::serve::state::AppState;
use crate::text::version::VersionBody;

/// `POST .../scripts/{script}`: as a plugin's upload.
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant}/scripts/{script}",
    tag = "scripts",
    params(
        ScriptPath,
        ("X-Message" = Option<String>, Header, description = "A message kept with the version"),
    ),
    request_body(content = WasmBytes, content_type = "application/wasm", description = "The component (a `wasi:cli/command`)"),
    responses(
        (status = 201, description = "Compiled, linked and stored", body = VersionBody),
        (status = 400, description = "A malformed tenant or script name", body = ErrorBody),
        DeployRefused,
        (status = 408, description = "The body did not arrive within the read timeout", body = ErrorBody),
        (status = 413, description = "Over `--max-plugin-size`", body = ErrorBody),
        (status = 415, description = "Not sent as `application/wasm`", body = ErrorBody),
        (status = 422, description = "Refused: not a component, imports what the host lacks, over a compile bound", body = ErrorBody),
        (status = 503, description = "Every compile slot is taken; retry", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn upload_script(
    state: State<Arc<AppState>>,
    deployer: Deployer,
    params: Path<HashMap<String, String>>,
    query: Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    upload(state, deployer, params, query, headers, body).await
}

/// `GET .../scripts/{script}`: the script's versions, newest first.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/scripts/{script}",
    tag = "scripts",
    params(
        ScriptPath,
    ),
    responses(
        (status = 200, description = "The versions, newest first", body = Vec<VersionBody>),
        (status = 400, description = "A malformed script name", body = ErrorBody),
        DeployRefused,
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn list_script(
    state: State<Arc<AppState>>,
    deployer: Deployer,
    params: Path<HashMap<String, String>>,
) -> Result<Reply, ApiError> {
    versions::list(state, deployer, params).await
}

/// `GET .../scripts/{script}/{n}`: a version and its report.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/scripts/{script}/{n}",
    tag = "scripts",
    params(
        ScriptVersionPath,
    ),
    responses(
        (status = 200, description = "The version", body = VersionDetail),
        DeployRefused,
        (status = 404, description = "No such version", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn show_script(
    state: State<Arc<AppState>>,
    deployer: Deployer,
    params: Path<HashMap<String, String>>,
) -> Result<Reply, ApiError> {
    versions::show(state, deployer, params).await
}

/// `GET .../scripts/{script}/{n}/wasm`: its bytes.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/scripts/{script}/{n}/wasm",
    tag = "scripts",
    params(
        ScriptVersionPath,
    ),
    responses(
        (status = 200, description = "The component, as uploaded", body = WasmBytes, content_type = "application/wasm"),
        DeployRefused,
        (status = 404, description = "No such version", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn script_wasm(
    state: State<Arc<AppState>>,
    deployer: Deployer,
    params: Path<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    versions::wasm(state, deployer, params).await
}

/// `POST .../scripts/{script}/{n}/activate`: runs after the answer use it.
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant}/scripts/{script}/{n}/activate",
    tag = "scripts",
    params(
        ScriptVersionPath,
        Force,
    ),
    responses(
        (status = 200, description = "Active", body = Activated),
        DeployRefused,
        (status = 404, description = "No such version", body = ErrorBody),
        (status = 409, description = "It failed its checks, and `force` was not given", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn activate_script(
    state: State<Arc<AppState>>,
    deployer: Deployer,
    params: Path<HashMap<String, String>>,
    query: Query<HashMap<String, String>>,
) -> Result<Reply, ApiError> {
    versions::activate(state, deployer, params, query).await
}

/// `DELETE .../scripts/{script}/{n}`: 204.
#[utoipa::path(
    delete,
    path = "/v1/tenants/{tenant}/scripts/{script}/{n}",
    tag = "scripts",
    params(
        ScriptVersionPath,
    ),
    responses(
        (status = 204, description = "Removed"),
        DeployRefused,
        (status = 404, description = "No such version", body = ErrorBody),
        (status = 409, description = "It is the active version", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn remove_script(
    state: State<Arc<AppState>>,
    deployer: Deployer,
    params: Path<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    versions::remove(state, deployer, params).await
}
