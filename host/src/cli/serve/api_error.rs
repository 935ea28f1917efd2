//! Every non-200 answer of the service, and its status, decided in one place.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use records_host::frontend::error_chain;
use records_host::{Error, RecordError};
use serde_json::json;

/// Seconds a client is told to wait before retrying a 503.
const RETRY_AFTER_SECS: &str = "1";

/// Why a request got no 200.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// 400: the body, the arguments or the tenant name is malformed.
    BadRequest(String),
    /// 401: no token, or a token no tenant has.
    Unauthorized,
    /// 403: a valid token of another tenant.
    Forbidden,
    /// 404: the plugin exports no such function.
    NotFound(String),
    /// 413: the body is over the limit.
    TooLarge,
    /// 500: the plugin was stopped (trap, time, memory, fuel).
    Stopped(String),
    /// 500: the host failed (a database it could not open, ...).
    Internal(String),
    /// 503: the tenant's write lock stayed taken; retry.
    LockTimeout(String),
    /// 503: every call slot is taken; retry.
    Busy(String),
}

impl ApiError {
    /// The status this error is answered with.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Stopped(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::LockTimeout(_) | Self::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The outcome label of `/metrics`.
    pub(crate) fn outcome(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::TooLarge => "too_large",
            Self::Stopped(_) => "stopped",
            Self::Internal(_) => "failed",
            Self::LockTimeout(_) => "lock_timeout",
            Self::Busy(_) => "busy",
        }
    }

    fn message(&self) -> &str {
        match self {
            Self::Unauthorized => "a valid bearer token is required",
            Self::Forbidden => "this token is not valid for this tenant",
            Self::TooLarge => "the body is over 1 MiB",
            Self::BadRequest(msg)
            | Self::NotFound(msg)
            | Self::Stopped(msg)
            | Self::Internal(msg)
            | Self::LockTimeout(msg)
            | Self::Busy(msg) => msg,
        }
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        let text = error_chain(&err).replace('\n', " ");
        if err.stopped_the_plugin() {
            return Self::Stopped(text);
        }
        match err {
            Error::NoSuchFunction(_) => Self::NotFound(text),
            Error::BadCall(_) | Error::InvalidTenant(_) => Self::BadRequest(text),
            Error::Record(RecordError::LockTimeout(_))
            | Error::OpenDatabase {
                source: RecordError::LockTimeout(_),
                ..
            } => Self::LockTimeout(text),
            _ => Self::Internal(text),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, Json(json!({ "error": self.message() }))).into_response();
        let headers = response.headers_mut();
        match status {
            StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_static(RETRY_AFTER_SECS),
                );
            }
            StatusCode::UNAUTHORIZED => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

/// A 503 for an `err(lock-timeout(..))` result: the body is the result itself.
pub(crate) fn retry_later(body: serde_json::Value) -> Response {
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(RETRY_AFTER_SECS),
    );
    response
}
