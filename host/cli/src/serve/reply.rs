//! A call's or a lock query's answer once the host answered: 200 with the JSON
//! body, or for an `err(lock-timeout(..))` result a 503 whose body is the
//! result itself. Every other answer is an `ApiError`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::api_error::with_retry_after;
use super::call_note::OutcomeLabel;

/// An answer with a JSON body, and its outcome label for `/metrics`.
#[derive(Debug)]
pub(crate) struct Reply {
    outcome: OutcomeLabel,
    body: Value,
}

impl Reply {
    /// 200: the call returned `ok(..)` (or the query's answer).
    pub(crate) fn ok(body: Value) -> Self {
        Self::labelled("ok", body)
    }

    /// 200 with `body` (a type of `schema.rs`) as JSON.
    pub(crate) fn ok_body(body: &impl serde::Serialize) -> Self {
        // The answer types hold strings, numbers and booleans: they serialize.
        Self::ok(serde_json::to_value(body).unwrap_or(Value::Null))
    }

    /// 200: the call returned `err(..)`, other than a lock timeout.
    pub(crate) fn err(body: Value) -> Self {
        Self::labelled("err", body)
    }

    /// 503 with `Retry-After`: the call returned `err(lock-timeout(..))`.
    pub(crate) fn lock_timeout(body: Value) -> Self {
        Self::labelled("lock_timeout", body)
    }

    /// 503 with `Retry-After`: the call returned `err(..)` after the database
    /// server was found unavailable (a PostgreSQL failover under way).
    pub(crate) fn unavailable(body: Value) -> Self {
        Self::labelled("err_unavailable", body)
    }

    fn labelled(outcome: &'static str, body: Value) -> Self {
        Self {
            outcome: OutcomeLabel(outcome),
            body,
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let retry = [
            OutcomeLabel("lock_timeout"),
            OutcomeLabel("err_unavailable"),
        ];
        let mut response = if retry.contains(&self.outcome) {
            with_retry_after((StatusCode::SERVICE_UNAVAILABLE, Json(self.body)).into_response())
        } else {
            (StatusCode::OK, Json(self.body)).into_response()
        };
        response.extensions_mut().insert(self.outcome);
        response
    }
}
