//! The tenant routes' handlers: `POST /v1/tenants/{tenant}/call` and `GET
//! /v1/tenants/{tenant}/lock`. Their extractors have checked the tenant, its
//! credentials and the body (`extract.rs`); a call then takes its tenant's
//! share of the call slots and a slot, and only then a thread of the call pool.
//! The layer around the call route counts and logs it (`call_log.rs`).

use std::sync::Arc;

use crate::text::{Outcome, json::to_json, json_args};
use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use records_host::display::error_chain;
use records_host::{Error, LockStatus, StorageError};
use serde_json::Value;

use super::api_error::ApiError;
use super::call_note::CallNote;
use super::call_request::CallRequest;
use super::extract::{Tenant, TenantJson};
use super::reply::Reply;
use super::request_id::RequestId;
use super::schema::{CallResult, ErrorBody, LockState};
use super::state::AppState;
use crate::serve::openapi_parts::{CallRefused, TenantPath};

/// `POST /v1/tenants/{tenant}/call` with `{"function": "...", "args": [...]}`.
///
/// # Errors
/// The call's [`ApiError`]: a bad request, no such function, no slot, a
/// plugin stopped or a host failure.
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant}/call",
    tag = "calls",
    params(
        TenantPath,
        ("X-Plugin-Version" = Option<u32>, Header, description = "Run this version of the tenant's plugin instead of the active one (to try it before activating it)"),
    ),
    request_body(content = CallRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The function's result in JSON: `{\"ok\": ...}` or `{\"err\": ...}` for a `result`, else the value", body = CallResult),
        (status = 400, description = "A malformed body, arguments, tenant name or `X-Plugin-Version`", body = ErrorBody),
        CallRefused,
        (status = 404, description = "The plugin exports no such function, or no such version", body = ErrorBody),
        (status = 408, description = "The body did not arrive within the read timeout", body = ErrorBody),
        (status = 409, description = "No plugin is deployed for this tenant (`--no-default-plugin`)", body = ErrorBody),
        (status = 413, description = "The body is over the limit", body = ErrorBody),
        (status = 415, description = "Not sent as `application/json`", body = ErrorBody),
        (status = 500, description = "The plugin was stopped (time, memory, fuel, trap) or the host failed", body = ErrorBody),
        (status = 503, description = "Retry after `Retry-After`: no call slot, the tenant's share taken, or the database server unavailable before the call (an error body); the write lock stayed taken (the call's `{\"err\": {\"lock-timeout\": ...}}` result), or the database server went away during the call (its `err` result)", body = CallResult),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn call(
    State(state): State<Arc<AppState>>,
    Extension(note): Extension<CallNote>,
    headers: HeaderMap,
    TenantJson(tenant, request): TenantJson<CallRequest>,
) -> Result<Reply, ApiError> {
    let version = plugin_version(&headers)?;
    let function = request.function()?.to_string();
    note.function(&function);
    let slot = state.slot(&tenant)?;
    let host = state.host.clone();
    let args = request.args;
    let (outcome, withheld) = state
        .run(slot, move || {
            let mut withheld = None;
            let outcome = host.call_version(&tenant, version, |instance| {
                let results = json_args::call(instance, &function, &args);
                withheld = instance.withheld_error().cloned();
                results
            });
            (outcome, withheld)
        })
        .await?;
    let unavailable = withheld.as_ref().is_some_and(StorageError::is_unavailable);
    if let Some(withheld) = withheld {
        // The plugin was told only what failed; the operator gets where.
        tracing::warn!(
            request_id = %RequestId::current_text(),
            error = %withheld,
            "storage error; the plugin was told only what failed"
        );
    }
    let results = outcome.map_err(|e| {
        state.metrics.observe_stop(&e);
        told(e)
    })?;
    let body = match results.as_slice() {
        [] => Value::Null,
        [one] => to_json(one),
        many => Value::Array(many.iter().map(to_json).collect()),
    };
    Ok(match Outcome::of(&results) {
        Outcome::LockTimeout(_) => Reply::lock_timeout(body),
        Outcome::Ok => Reply::ok(body),
        Outcome::Err if unavailable => Reply::unavailable(body),
        Outcome::Err => Reply::err(body),
    })
}

/// The version an `X-Plugin-Version: N` header asks for (to try a version
/// before activating it); `None` without the header.
///
/// # Errors
/// 400 when it is not a version number.
fn plugin_version(headers: &HeaderMap) -> Result<Option<u32>, ApiError> {
    headers
        .get("x-plugin-version")
        .map(|value| {
            value
                .to_str()
                .ok()
                .and_then(|text| text.trim().parse::<u32>().ok())
                .ok_or_else(|| {
                    ApiError::BadRequest("X-Plugin-Version must be a version number".into())
                })
        })
        .transpose()
}

/// `GET /v1/tenants/{tenant}/lock`: `{"state": "free"}` or `{"state": "held",
/// "holder": "..."}`, read in a call slot of the tenant's share, on the call
/// pool (on PostgreSQL over the server's pool of connections).
///
/// # Errors
/// No slot, or the host could not read the lock.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/lock",
    tag = "calls",
    params(TenantPath),
    responses(
        (status = 200, description = "Who holds the tenant's write lock", body = LockState),
        (status = 400, description = "A malformed tenant name", body = ErrorBody),
        CallRefused,
        (status = 500, description = "The lock could not be read", body = ErrorBody),
        (status = 503, description = "No call slot free; retry", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn lock(
    State(state): State<Arc<AppState>>,
    Tenant(tenant): Tenant,
) -> Result<Reply, ApiError> {
    let slot = state.slot(&tenant)?;
    let host = state.host.clone();
    let status = state
        .run(slot, move || host.lock_status(&tenant))
        .await?
        .map_err(told)?;
    Ok(Reply::ok_body(&match status {
        LockStatus::Free => LockState::Free,
        LockStatus::Held { holder } => LockState::Held { holder },
    }))
}

/// What the tenant is told of `err`. When that leaves something out (where a
/// storage error happened, say), the server logs all of it beside the request id.
fn told(err: Error) -> ApiError {
    let all = error_chain(&err).replace('\n', " ");
    if all != err.for_tenant().replace('\n', " ") {
        let id = RequestId::current_text();
        tracing::warn!(request_id = %id, error = %all, "call failed; the tenant was told less");
    }
    err.into()
}
