//! A tenant's plugin versions: listed, read (metadata and report, or bytes),
//! activated and removed. The same handlers serve a script's versions
//! (`script_routes.rs`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{Target, force, on_pool, target};
use crate::serve::api_error::ApiError;
use crate::serve::extract::Deployer;
use crate::serve::openapi_parts::{DeployRefused, Force, TenantPath, VersionPath};
use crate::serve::reply::Reply;
use crate::serve::schema::{Activated, CheckReportBody, ErrorBody, VersionDetail, WasmBytes};
use crate::serve::state::AppState;
use crate::text::version::VersionBody;

/// `GET .../plugins`: the versions, newest first, the active one marked.
///
/// # Errors
/// No slot; the store failed.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/plugins",
    tag = "deploy",
    params(TenantPath),
    responses(
        (status = 200, description = "The versions, newest first", body = Vec<VersionBody>),
        DeployRefused,
        (status = 503, description = "The tenant's share of the call slots is taken; retry", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    deployer: Deployer,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Reply, ApiError> {
    let Target { slot, .. } = target(&params)?;
    let versions = on_pool(&state, &deployer, move |host, tenant| {
        host.versions(tenant, &slot)
    })
    .await?;
    let bodies: Vec<VersionBody> = versions.iter().map(VersionBody::from).collect();
    Ok(Reply::ok_body(&bodies))
}

/// `GET .../plugins/{n}`: the version and its check report.
///
/// # Errors
/// 404 for a missing version; no slot; the store failed.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/plugins/{n}",
    tag = "deploy",
    params(
        VersionPath,
    ),
    responses(
        (status = 200, description = "The version and its check report", body = VersionDetail),
        (status = 400, description = "`n` is not a version number", body = ErrorBody),
        DeployRefused,
        (status = 404, description = "No such version", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn show(
    State(state): State<Arc<AppState>>,
    deployer: Deployer,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Reply, ApiError> {
    let Target { slot, number } = target(&params)?;
    let number = number.unwrap_or_default();
    let info = on_pool(&state, &deployer, move |host, tenant| {
        host.version(tenant, &slot, number)
    })
    .await?;
    // The host wrote it: it parses.
    let report = serde_json::from_str::<CheckReportBody>(&info.report).ok();
    Ok(Reply::ok_body(&VersionDetail {
        version: VersionBody::from(&info),
        report,
    }))
}

/// `GET .../plugins/{n}/wasm`: the component's bytes.
///
/// # Errors
/// 404 for a missing version; 500 for damaged bytes; no slot.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/plugins/{n}/wasm",
    tag = "deploy",
    params(
        VersionPath,
    ),
    responses(
        (status = 200, description = "The component, as uploaded", body = WasmBytes, content_type = "application/wasm"),
        DeployRefused,
        (status = 404, description = "No such version", body = ErrorBody),
        (status = 500, description = "Its stored bytes no longer match their SHA-256", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn wasm(
    State(state): State<Arc<AppState>>,
    deployer: Deployer,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let Target { slot, number } = target(&params)?;
    let number = number.unwrap_or_default();
    let bytes = on_pool(&state, &deployer, move |host, tenant| {
        host.version_wasm(tenant, &slot, number)
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/wasm")], bytes).into_response())
}

/// `POST .../plugins/{n}/activate[?force=true]`: calls that start after the
/// answer run version n.
///
/// # Errors
/// 404 for a missing version, 409 for a failed one without `force`.
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant}/plugins/{n}/activate",
    tag = "deploy",
    params(
        VersionPath,
        Force,
    ),
    responses(
        (status = 200, description = "Active: every call that starts after this answer runs it", body = Activated),
        DeployRefused,
        (status = 404, description = "No such version", body = ErrorBody),
        (status = 409, description = "It failed its checks, and `force` was not given", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn activate(
    State(state): State<Arc<AppState>>,
    deployer: Deployer,
    Path(params): Path<HashMap<String, String>>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Reply, ApiError> {
    let Target { slot, number } = target(&params)?;
    let force = force(&query)?;
    let number = number.unwrap_or_default();
    let who = deployer.who.clone();
    on_pool(&state, &deployer, move |host, tenant| {
        host.activate(tenant, &slot, number, force)
    })
    .await?;
    tracing::info!(tenant = %deployer.tenant, version = number, by = who, "activated");
    state.metrics.observe_activation();
    Ok(Reply::ok_body(&Activated { active: number }))
}

/// `DELETE .../plugins/{n}`: 204.
///
/// # Errors
/// 404 for a missing version, 409 for the active one.
#[utoipa::path(
    delete,
    path = "/v1/tenants/{tenant}/plugins/{n}",
    tag = "deploy",
    params(
        VersionPath,
    ),
    responses(
        (status = 204, description = "Removed"),
        DeployRefused,
        (status = 404, description = "No such version", body = ErrorBody),
        (status = 409, description = "It is the active version", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn remove(
    State(state): State<Arc<AppState>>,
    deployer: Deployer,
    Path(params): Path<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    let Target { slot, number } = target(&params)?;
    let number = number.unwrap_or_default();
    on_pool(&state, &deployer, move |host, tenant| {
        host.remove_version(tenant, &slot, number)
    })
    .await?;
    tracing::info!(tenant = %deployer.tenant, version = number, by = deployer.who, "removed");
    Ok(StatusCode::NO_CONTENT)
}
