//! The tenant routes: `POST /v1/tenants/{tenant}/call` and `GET
//! /v1/tenants/{tenant}/lock`.
//!
//! A call is checked in the order that costs a client the least to fail: the
//! tenant name and credentials from the headers, the declared content type and
//! length, then the body (bounded in size and time), then the tenant's share of
//! the call slots and a slot; only then is a thread of the call pool taken. Every
//! answer given before the body was read closes the connection.

use std::sync::Arc;
use std::time::Instant;

use crate::text::{Outcome, json::to_json, json_args};
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use records_host::display::{error_chain, escape_control};
use records_host::{Error, LockStatus, TenantName};
use serde_json::{Value, json};

use super::api_error::{ApiError, closing, retry_later};
use super::body::{MAX_BODY, read_within, refuse_declared_too_large};
use super::request_id::RequestId;
use super::state::AppState;

/// `POST /v1/tenants/{tenant}/call` with `{"function": "...", "args": [...]}`.
pub(crate) async fn call(
    State(state): State<Arc<AppState>>,
    tenant: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let start = Instant::now();
    let deadline = start + state.read_timeout;
    let tenant = tenant.map_or_else(|_| String::new(), |Path(tenant)| tenant);
    let (function, outcome, response) =
        match answer(&state, &tenant, &headers, body, deadline).await {
            Ok(answered) => answered,
            Err(Failed {
                function,
                error,
                before_body,
            }) => {
                let outcome = error.outcome();
                let response = error.into_response();
                let response = if before_body {
                    closing(response)
                } else {
                    response
                };
                (function, outcome, response)
            }
        };
    let reached = matches!(outcome, "ok" | "err" | "lock_timeout" | "stopped");
    let label = if reached && !function.is_empty() {
        function.as_str()
    } else {
        "-"
    };
    state
        .metrics
        .observe(label, outcome, start.elapsed().as_secs_f64());
    tracing::info!(
        request_id = %RequestId::current_text(),
        tenant = %escape_control(&tenant),
        function = %escape_control(&function),
        status = response.status().as_u16(),
        ms = format_args!("{:.1}", start.elapsed().as_secs_f64() * 1e3),
        "call"
    );
    response
}

/// Why a call got no 200: the function (when known), the error, and whether it
/// was answered before the body was read.
struct Failed {
    function: String,
    error: ApiError,
    before_body: bool,
}

impl Failed {
    fn before_body(error: ApiError) -> Self {
        Self {
            function: String::new(),
            error,
            before_body: true,
        }
    }
}

/// The function called, the outcome label of `/metrics`, and the response.
type Answered = (String, &'static str, Response);

async fn answer(
    state: &Arc<AppState>,
    tenant: &str,
    headers: &HeaderMap,
    body: Body,
    deadline: Instant,
) -> Result<Answered, Failed> {
    let tenant = state
        .auth
        .authorize(tenant, headers)
        .map_err(Failed::before_body)?;
    if !state.auth.accepts_content_type(headers) {
        return Err(Failed::before_body(ApiError::NotJson));
    }
    let body = refuse_declared_too_large(headers, body, MAX_BODY, deadline)
        .await
        .map_err(Failed::before_body)?;
    let body = read_within(body, MAX_BODY, deadline)
        .await
        .map_err(Failed::before_body)?;
    let no_function = |error| Failed {
        function: String::new(),
        error,
        before_body: false,
    };
    let request: Value = serde_json::from_slice(&body)
        .map_err(|e| no_function(ApiError::BadRequest(format!("the body is not JSON: {e}"))))?;
    let function = request["function"]
        .as_str()
        .ok_or_else(|| {
            no_function(ApiError::BadRequest(
                "the body needs \"function\": a string, such as \"create-record\"".into(),
            ))
        })?
        .to_string();
    let fail = |error| Failed {
        function: function.clone(),
        error,
        before_body: false,
    };
    let args = match &request["args"] {
        Value::Null => Vec::new(),
        Value::Array(args) => args.clone(),
        _ => {
            return Err(fail(ApiError::BadRequest(
                "\"args\" must be an array".into(),
            )));
        }
    };
    let slot = state.slot(&tenant).map_err(&fail)?;
    let host = state.host.clone();
    let name = function.clone();
    let (outcome, withheld) = state
        .run(slot, move || {
            let mut withheld = None;
            let outcome = host.call(&tenant, |instance| {
                let results = json_args::call(instance, &name, &args);
                withheld = instance.withheld_error().cloned();
                results
            });
            (outcome, withheld)
        })
        .await
        .map_err(&fail)?;
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
        fail(told(e))
    })?;
    let body = match results.as_slice() {
        [] => Value::Null,
        [one] => to_json(one),
        many => Value::Array(many.iter().map(to_json).collect()),
    };
    let (outcome, response) = match Outcome::of(&results) {
        Outcome::LockTimeout(_) => ("lock_timeout", retry_later(body)),
        Outcome::Ok => ("ok", (StatusCode::OK, axum::Json(body)).into_response()),
        Outcome::Err => ("err", (StatusCode::OK, axum::Json(body)).into_response()),
    };
    Ok((function, outcome, response))
}

/// `GET /v1/tenants/{tenant}/lock`: `{"state": "free"}` or `{"state": "held",
/// "holder": "..."}`, read in a call slot of the tenant's share (on PostgreSQL
/// over the server's pool).
pub(crate) async fn lock(
    State(state): State<Arc<AppState>>,
    tenant: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let tenant = tenant.map_or_else(|_| String::new(), |Path(tenant)| tenant);
    match lock_status(&state, &tenant, &headers).await {
        Ok(status) => {
            let body = match status {
                LockStatus::Free => json!({ "state": "free" }),
                LockStatus::Held { holder } => json!({ "state": "held", "holder": holder }),
            };
            axum::Json(body).into_response()
        }
        Err(error) => error.into_response(),
    }
}

async fn lock_status(
    state: &Arc<AppState>,
    tenant: &str,
    headers: &HeaderMap,
) -> Result<LockStatus, ApiError> {
    let tenant: TenantName = state.auth.authorize(tenant, headers)?;
    let slot = state.slot(&tenant)?;
    let host = state.host.clone();
    state
        .run(slot, move || host.lock_status(&tenant))
        .await?
        .map_err(told)
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
