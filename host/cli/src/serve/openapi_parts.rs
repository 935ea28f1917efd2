//! What several operations of the OpenAPI document share, declared once:
//! their path and query parameters, and the answers of every deploy route
//! to a caller without the right token. Documentation only: the handlers
//! parse their parameters with `deploy::target` and answer with `ApiError`.

#![expect(
    dead_code,
    reason = "described in the OpenAPI document; never built or read"
)]

use utoipa::{IntoParams, IntoResponses};

use super::schema::ErrorBody;

/// A tenant route's path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct TenantPath {
    /// The tenant (letters, digits, `-`, `_`; up to 64).
    tenant: String,
}

/// A plugin version's path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct VersionPath {
    /// The tenant.
    tenant: String,
    /// The version number.
    n: u32,
}

/// A named script's path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ScriptPath {
    /// The tenant.
    tenant: String,
    /// The script's name.
    script: String,
}

/// A script version's path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ScriptVersionPath {
    /// The tenant.
    tenant: String,
    /// The script's name.
    script: String,
    /// The version number.
    n: u32,
}

/// `?force=true`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Force {
    /// Store (on upload) or activate a version that failed its conformance
    /// checks.
    force: Option<bool>,
}

/// The answers of a deploy route to a caller without a deploy token of the
/// tenant.
#[derive(IntoResponses)]
pub(crate) enum DeployRefused {
    /// No valid token.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// Another tenant's token, or a call-only one.
    #[response(status = 403)]
    Forbidden(ErrorBody),
}

/// The answers of a call route to a caller without a token of the tenant.
#[derive(IntoResponses)]
pub(crate) enum CallRefused {
    /// No valid token.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// Another tenant's token.
    #[response(status = 403)]
    Forbidden(ErrorBody),
}
