//! Every non-200 answer of the service, and its status, decided in one place.
//!
//! Every one has the body `{"error": "<one line>", "request_id": "<id>"}`
//! ([`ErrorBody`]). What a
//! tenant is told says what failed, never where: errors from the library are
//! turned into words by `Error::for_tenant`, and the server logs the full error
//! beside the request id.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use records_host::display::error_chain;
use records_host::{CompileRefused, DeployError, Error};

use super::call_note::OutcomeLabel;
use super::request_id::RequestId;
use super::schema::{CheckReportBody, ErrorBody};

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
    /// 403: a call token on a deploy route.
    NoDeployScope,
    /// 403: `--no-auth` serves only requests addressed to a loopback name.
    NotLoopbackHost,
    /// 404: the plugin exports no such function.
    NotFound(String),
    /// 404: no such route.
    NoRoute,
    /// 405: the route does not take this method.
    MethodNotAllowed,
    /// 409: the request conflicts with the tenant's versions (removing the
    /// active one, activating a failed one without `force`), or the tenant has
    /// no plugin to run.
    Conflict(String),
    /// 422: an upload was refused (not a component, does not link, exceeds a
    /// compile bound, fails the checks); the report when checks ran.
    Unprocessable(String, Option<CheckReportBody>),
    /// 408: the body did not arrive within the read timeout.
    BodyTimeout,
    /// 413: the body is over the limit (this many bytes).
    TooLarge(usize),
    /// 415: a call's body must be declared `application/json` (`--no-auth`).
    NotJson,
    /// 415: an upload must be declared `application/wasm`.
    NotWasm,
    /// 500: the plugin was stopped (trap, time, memory, fuel).
    Stopped(String),
    /// 500: the host failed (a database it could not open, ...); the text is
    /// what a tenant may be told.
    Internal(String),
    /// 503: the tenant's write lock stayed taken; retry.
    LockTimeout(String),
    /// 503: the database server is unreachable or takes no writes now (a
    /// PostgreSQL failover); retry.
    Unavailable(String),
    /// 503: every call slot is taken; retry.
    Busy(String),
    /// 503: the tenant's share of the call slots is taken; retry.
    TenantBusy(usize),
}

impl ApiError {
    /// The status this error is answered with.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::NoDeployScope | Self::NotLoopbackHost => StatusCode::FORBIDDEN,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unprocessable(..) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotFound(_) | Self::NoRoute => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotJson | Self::NotWasm => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Stopped(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::LockTimeout(_) | Self::Unavailable(_) | Self::Busy(_) | Self::TenantBusy(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// The outcome label of `/metrics`.
    pub(crate) fn outcome(&self) -> &'static str {
        match self {
            Self::BadRequest(_) | Self::NotJson | Self::NotWasm => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden | Self::NoDeployScope | Self::NotLoopbackHost => "forbidden",
            Self::Conflict(_) => "conflict",
            Self::Unprocessable(..) => "refused",
            Self::NotFound(_) | Self::NoRoute | Self::MethodNotAllowed => "not_found",
            Self::BodyTimeout => "timeout",
            Self::TooLarge(_) => "too_large",
            Self::Stopped(_) => "stopped",
            Self::Internal(_) => "failed",
            Self::LockTimeout(_) => "lock_timeout",
            Self::Unavailable(_) => "unavailable",
            Self::Busy(_) | Self::TenantBusy(_) => "busy",
        }
    }

    fn message(&self) -> String {
        match self {
            Self::Unauthorized => "a valid bearer token is required".into(),
            Self::Forbidden => "this token is not valid for this tenant".into(),
            Self::NoDeployScope => {
                "this token may call but not deploy (mint one with --scope deploy)".into()
            }
            Self::NotLoopbackHost => {
                "without credentials (--no-auth) only requests to a loopback host name are served"
                    .into()
            }
            Self::NoRoute => "no such route".into(),
            Self::MethodNotAllowed => "this route does not take this method".into(),
            Self::BodyTimeout => "the body did not arrive in time".into(),
            Self::TooLarge(max) => format!("the body is over {} MiB", max >> 20),
            Self::NotJson => "the body must be sent as Content-Type: application/json".into(),
            Self::NotWasm => "a component must be sent as Content-Type: application/wasm".into(),
            Self::TenantBusy(share) => {
                format!("this tenant already has {share} calls in flight, its share; retry")
            }
            Self::BadRequest(msg)
            | Self::NotFound(msg)
            | Self::Stopped(msg)
            | Self::Internal(msg)
            | Self::LockTimeout(msg)
            | Self::Unavailable(msg)
            | Self::Busy(msg)
            | Self::Conflict(msg)
            | Self::Unprocessable(msg, _) => msg.clone(),
        }
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        if err.stopped_the_plugin() {
            return Self::Stopped(error_chain(&err).replace('\n', " "));
        }
        let told = err.for_tenant().replace('\n', " ");
        match err {
            Error::NoSuchFunction(_) => Self::NotFound(told),
            Error::BadCall(_) | Error::InvalidTenant(_) => Self::BadRequest(told),
            Error::NoPluginDeployed { .. } => Self::Conflict(told),
            Error::Deploy(DeployError::NoSuchVersion { .. }) => Self::NotFound(told),
            Error::Deploy(
                DeployError::Active { .. }
                | DeployError::FailedChecks { .. }
                | DeployError::NoActiveVersion { .. },
            ) => Self::Conflict(told),
            Error::LoadPlugin { reason, .. } => Self::Unprocessable(
                format!("the component was refused: {}", reason.replace('\n', " ")),
                None,
            ),
            Error::CompileRefused(CompileRefused::Failed(_)) => Self::Internal(told),
            Error::CompileRefused(refused) => {
                Self::Unprocessable(format!("the component was refused: {refused}"), None)
            }
            Error::ChecksFailed { report } => {
                Self::Unprocessable(told, CheckReportBody::parse(report.to_json()))
            }
            _ if err.lock_timeout().is_some() => Self::LockTimeout(told),
            _ if err.unavailable() => Self::Unavailable(told),
            _ => Self::Internal(told),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let outcome = OutcomeLabel(self.outcome());
        let error = self.message();
        let body = ErrorBody {
            error,
            request_id: RequestId::current().map(|id| id.to_string()),
            report: match self {
                Self::Unprocessable(_, report) => report,
                _ => None,
            },
        };
        let mut response = (status, Json(body)).into_response();
        response.extensions_mut().insert(outcome);
        match status {
            StatusCode::SERVICE_UNAVAILABLE => with_retry_after(response),
            StatusCode::UNAUTHORIZED => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                response
            }
            _ => response,
        }
    }
}

/// `response`, marked so that the connection is closed once it is sent: for an
/// answer given before the request's body was read, whose unread rest must not
/// be taken for the next request.
pub(crate) fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// `response` with the `Retry-After` every 503 carries.
pub(crate) fn with_retry_after(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(RETRY_AFTER_SECS),
    );
    response
}
