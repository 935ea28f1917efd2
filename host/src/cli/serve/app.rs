//! The routes, the state they share, and the per-request checks (tenant name,
//! credentials, call slots) that run before a plugin is entered.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use records_host::frontend::{Outcome, escape_control, json::to_json, json_args};
use records_host::store::lock_status_at;
use records_host::{LockStatus, PluginHost, TenantHome, TenantName};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tower_http::timeout::RequestBodyTimeoutLayer;

use super::api_error::{ApiError, retry_later};
use super::call_pool::CallPool;
use super::metrics::Metrics;
use super::tokens::{Access, Tokens};

/// The largest request body accepted (413 beyond).
pub(crate) const MAX_BODY: usize = 1 << 20;

/// Who may call: everyone (loopback only), or the holders of tokens.
pub(crate) enum Auth {
    /// `--no-auth`.
    Open,
    /// `--tokens FILE`, re-read on SIGHUP.
    Tokens(Arc<RwLock<Tokens>>),
}

/// What every request shares.
pub(crate) struct AppState {
    pub(crate) host: PluginHost,
    pub(crate) home: TenantHome,
    pub(crate) auth: Auth,
    /// One permit per call allowed to run at once (`--max-concurrent`).
    pub(crate) slots: Arc<Semaphore>,
    /// The threads calls run on.
    pub(crate) calls: CallPool,
    pub(crate) metrics: Metrics,
}

/// The service's routes.
pub(crate) fn router(state: Arc<AppState>, body_timeout: Duration) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/v1/tenants/{tenant}/call", post(call))
        .route("/v1/tenants/{tenant}/lock", get(lock))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(RequestBodyTimeoutLayer::new(body_timeout))
        .with_state(state)
}

/// `POST /v1/tenants/{tenant}/call` with `{"function": "...", "args": [...]}`.
async fn call(
    State(state): State<Arc<AppState>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let start = Instant::now();
    let outcome = match body {
        Ok(body) => call_inner(&state, &tenant, &headers, &body).await,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Err((String::new(), ApiError::TooLarge))
        }
        Err(rejection) => Err((String::new(), ApiError::BadRequest(rejection.body_text()))),
    };
    let (function, outcome, response) = match outcome {
        Ok((function, outcome, response)) => (function, outcome, response),
        Err((function, err)) => (function, err.outcome(), err.into_response()),
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
        tenant = %escape_control(&tenant),
        function = %escape_control(&function),
        status = response.status().as_u16(),
        ms = format_args!("{:.1}", start.elapsed().as_secs_f64() * 1e3),
        "call"
    );
    response
}

type Failed = (String, ApiError);

/// The function called, the outcome label of `/metrics`, and the response.
type Answered = (String, &'static str, Response);

async fn call_inner(
    state: &Arc<AppState>,
    tenant: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Answered, Failed> {
    let no_function = |err| (String::new(), err);
    let tenant = authorize(state, tenant, headers).map_err(no_function)?;
    let request: Value = serde_json::from_slice(body)
        .map_err(|e| no_function(ApiError::BadRequest(format!("the body is not JSON: {e}"))))?;
    let function = request["function"]
        .as_str()
        .ok_or_else(|| {
            no_function(ApiError::BadRequest(
                "the body needs \"function\": a string, such as \"create-record\"".into(),
            ))
        })?
        .to_string();
    let fail = |err| (function.clone(), err);
    let args = match &request["args"] {
        Value::Null => Vec::new(),
        Value::Array(args) => args.clone(),
        _ => {
            return Err(fail(ApiError::BadRequest(
                "\"args\" must be an array".into(),
            )));
        }
    };
    let permit = state
        .slots
        .clone()
        .try_acquire_owned()
        .map_err(|_| fail(ApiError::Busy("every call slot is taken".into())))?;
    let host = state.host.clone();
    let name = function.clone();
    let outcome = state
        .calls
        .run(move || {
            let _permit = permit;
            host.call(&tenant, |instance| json_args::call(instance, &name, &args))
        })
        .await
        .map_err(|_| fail(ApiError::Internal("the call's thread ended".into())))?
        .map_err(|_| fail(ApiError::Internal("the call panicked".into())))?;
    let results = outcome.map_err(|e| {
        state.metrics.observe_stop(&e);
        fail(e.into())
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

/// `GET /v1/tenants/{tenant}/lock`: `{"state": "free"}` or `{"state": "held",
/// "holder": "..."}`.
async fn lock(
    State(state): State<Arc<AppState>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = authorize(&state, &tenant, &headers)?;
    let location = state.home.location(&tenant);
    let status = tokio::task::spawn_blocking(move || lock_status_at(&location))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    let body = match status {
        LockStatus::Free => json!({ "state": "free" }),
        LockStatus::Held { holder } => json!({ "state": "held", "holder": holder }),
    };
    Ok(axum::Json(body).into_response())
}

/// The tenant, once its name is valid and the request's credentials are its own.
fn authorize(state: &AppState, tenant: &str, headers: &HeaderMap) -> Result<TenantName, ApiError> {
    let tenant = TenantName::new(tenant).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let Auth::Tokens(tokens) = &state.auth else {
        return Ok(tenant);
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or(ApiError::Unauthorized)?;
    let access = tokens.read().map_or(Access::Unknown, |tokens| {
        tokens.access(token.trim(), &tenant)
    });
    match access {
        Access::Granted => Ok(tenant),
        Access::OtherTenant => Err(ApiError::Forbidden),
        Access::Unknown => Err(ApiError::Unauthorized),
    }
}
