//! `POST /v1/tenants/{tenant}/scripts/{script}/run`: the active version of a
//! named script, run like a call.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use records_host::Slot;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{Target, target};
use crate::serve::api_error::ApiError;
use crate::serve::extract::TenantJson;
use crate::serve::openapi_parts::{CallRefused, ScriptPath};
use crate::serve::reply::Reply;
use crate::serve::schema::{ErrorBody, ScriptRunBody};
use crate::serve::state::AppState;

/// The body of a script run.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunRequest {
    /// Its arguments after its name.
    #[serde(default)]
    args: Vec<String>,
    /// Its standard input.
    #[serde(default)]
    stdin: String,
}

/// `POST /v1/tenants/{tenant}/scripts/{script}/run` with `{"args": [...],
/// "stdin": "..."}` (both optional; a call token suffices): runs the active
/// version of the script like a call (a slot of the tenant's share, the call
/// pool, the call limits) and answers its exit code and output, kept up to
/// the output limit.
///
/// # Errors
/// 409 when no version of the script is active; 500 when it was stopped; no slot.
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant}/scripts/{script}/run",
    tag = "scripts",
    params(
        ScriptPath,
    ),
    request_body(content = RunRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "It ran: its exit code and output", body = ScriptRunBody),
        (status = 400, description = "A malformed body, tenant or script name", body = ErrorBody),
        CallRefused,
        (status = 409, description = "No version of the script is active", body = ErrorBody),
        (status = 413, description = "The body is over the limit", body = ErrorBody),
        (status = 415, description = "Not sent as `application/json`", body = ErrorBody),
        (status = 500, description = "The script was stopped (time, memory, fuel, trap)", body = ErrorBody),
        (status = 503, description = "No call slot free; retry", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
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
    Ok(Reply::ok_body(&ScriptRunBody {
        exit: output.exit,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        truncated: output.truncated,
    }))
}
