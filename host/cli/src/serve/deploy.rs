//! The deploy routes: a tenant's plugin versions (`/v1/tenants/{tenant}/plugins`)
//! and its named scripts' (`/v1/tenants/{tenant}/scripts/{script}`), uploaded,
//! listed, read, activated and removed. Every route needs a token of the
//! tenant with the deploy scope (`extract.rs`), checked before any body is read.
//!
//! An upload's body is read within the plugin size limit and the read timeout;
//! compiling and checking it then take one of the `--max-concurrent-compiles`
//! slots (503 with `Retry-After` when all are taken) on a blocking thread of its
//! own, never a call's. The other routes are short reads and writes of the
//! tenant's database, run like a call: in the tenant's share of the call slots,
//! on the call pool.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use records_host::{Slot, Upload, VersionInfo};
use serde_json::{Value, json};

use super::api_error::{ApiError, closing};
use super::auth::declares;
use super::body::{read_within, refuse_declared_too_large};
use super::extract::{Deployer, TenantJson};
use super::reply::Reply;
use super::state::AppState;
use crate::text::version::version_json;

/// `?force=true`: store a version that failed its checks, or activate one.
///
/// # Errors
/// 400 for a `force` other than `true` or `false`.
fn force(query: &HashMap<String, String>) -> Result<bool, ApiError> {
    match query.get("force").map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ApiError::BadRequest(format!(
            "force must be true or false, not {:?}",
            records_host::display::escape_control(other)
        ))),
    }
}

/// The slot and version a deploy route names.
struct Target {
    slot: Slot,
    number: Option<u32>,
}

/// The slot (`{script}` or the plugin) and version (`{n}`) of the path.
fn target(params: &HashMap<String, String>) -> Result<Target, ApiError> {
    let slot = match params.get("script") {
        Some(name) => {
            Slot::script(name).map_err(|e| ApiError::BadRequest(format!("script name: {e}")))?
        }
        None => Slot::Plugin,
    };
    let number = params
        .get("n")
        .map(|n| {
            n.parse::<u32>()
                .map_err(|_| ApiError::BadRequest(format!("{n:?} is not a version number")))
        })
        .transpose()?;
    Ok(Target { slot, number })
}

/// `POST .../plugins` (or `.../scripts/{script}`) with the component as the
/// body (`Content-Type: application/wasm`, optional `X-Message`): 201 with the
/// version once it is checked and stored.
///
/// # Errors
/// 415 for another content type, 413 over the size limit, 422 when refused
/// (the report when checks failed), 503 when every compile slot is taken.
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
            (StatusCode::CREATED, Json(version_json(&info))).into_response()
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

/// `GET .../plugins`: the versions, newest first, the active one marked.
///
/// # Errors
/// No slot; the store failed.
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
    Ok(Reply::ok(Value::Array(
        versions.iter().map(version_json).collect(),
    )))
}

/// `GET .../plugins/{n}`: the version and its check report.
///
/// # Errors
/// 404 for a missing version; no slot; the store failed.
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
    let mut body = version_json(&info);
    body["report"] = serde_json::from_str(&info.report).unwrap_or(Value::Null);
    Ok(Reply::ok(body))
}

/// `GET .../plugins/{n}/wasm`: the component's bytes.
///
/// # Errors
/// 404 for a missing version; 500 for damaged bytes; no slot.
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
    Ok(Reply::ok(json!({ "active": number })))
}

/// `DELETE .../plugins/{n}`: 204.
///
/// # Errors
/// 404 for a missing version, 409 for the active one.
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

/// `POST /v1/tenants/{tenant}/scripts/{script}/run` with `{"args": [...],
/// "stdin": "..."}` (both optional; a call token suffices): runs the active
/// version of the script like a call (a slot of the tenant's share, the call
/// pool, the call limits) and answers `{"exit": n, "stdout": "...", "stderr":
/// "...", "truncated": bool}`, the output kept up to the output limit.
///
/// # Errors
/// 409 when no version of the script is active; 500 when it was stopped; no slot.
pub(crate) async fn run_script(
    State(state): State<Arc<AppState>>,
    Path(params): Path<HashMap<String, String>>,
    TenantJson(tenant, request): TenantJson<RunRequest>,
) -> Result<Reply, ApiError> {
    let Target { slot, .. } = target(&params)?;
    let Slot::Script(name) = &slot else {
        return Err(ApiError::NoRoute);
    };
    let mut args = vec![name.clone()];
    args.extend(request.args);
    let stdin = request.stdin.into_bytes();
    let call_slot = state.slot(&tenant)?;
    let host = state.host.clone();
    let output = state
        .run(call_slot, move || {
            host.run_script(&tenant, &slot, args, stdin)
        })
        .await?
        .map_err(ApiError::from)?;
    Ok(Reply::ok(json!({
        "exit": output.exit,
        "stdout": String::from_utf8_lossy(&output.stdout),
        "stderr": String::from_utf8_lossy(&output.stderr),
        "truncated": output.truncated,
    })))
}

/// The body of a script run.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunRequest {
    /// Its arguments after its name.
    #[serde(default)]
    args: Vec<String>,
    /// Its standard input.
    #[serde(default)]
    stdin: String,
}

/// Runs `work` for the deployer's tenant in its share of the call slots, on
/// the call pool.
async fn on_pool<T: Send + 'static>(
    state: &AppState,
    deployer: &Deployer,
    work: impl FnOnce(
        &records_host::PluginHost,
        &records_host::TenantName,
    ) -> Result<T, records_host::Error>
    + Send
    + 'static,
) -> Result<T, ApiError> {
    let slot = state.slot(&deployer.tenant)?;
    let host = state.host.clone();
    let tenant = deployer.tenant.clone();
    state
        .run(slot, move || work(&host, &tenant))
        .await?
        .map_err(ApiError::from)
}
