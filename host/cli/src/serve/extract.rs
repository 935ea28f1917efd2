//! The extractors of the tenant routes, in the order that costs a client the
//! least to fail: [`Tenant`] checks the tenant name and credentials from the
//! headers alone; [`TenantJson`] then checks the declared content type and
//! length, reads the body (bounded in size and time, `body.rs`) and parses it.
//!
//! axum's `Json` is not used for the body: it reads the body unbounded in time,
//! before any check of who sends it, and wants `application/json` from every
//! client, where only `--no-auth` does. Every refusal before the body was read
//! closes the connection, so its unread rest is not taken for a request.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use records_host::TenantName;
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use super::api_error::{ApiError, closing};
use super::body::{MAX_BODY, read_within, refuse_declared_too_large};
use super::state::AppState;
use super::tokens::Scope;

/// The tenant of a `/v1/tenants/{tenant}/...` route, once its name is valid
/// and the request's credentials are its own.
pub(crate) struct Tenant(pub(crate) TenantName);

impl FromRequestParts<Arc<AppState>> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let name = tenant_of(parts, state).await;
        let (tenant, _) = state.auth.authorize(&name, &parts.headers, Scope::Call)?;
        Ok(Self(tenant))
    }
}

/// The tenant of a deploy route (`/v1/tenants/{tenant}/plugins...`), once its
/// credentials are its own with the deploy scope, and who deploys
/// (`token:<tenant>:<fingerprint>`, never the token).
pub(crate) struct Deployer {
    pub(crate) tenant: TenantName,
    pub(crate) who: String,
}

impl FromRequestParts<Arc<AppState>> for Deployer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Response> {
        let name = tenant_of(parts, state).await;
        state
            .auth
            .authorize(&name, &parts.headers, Scope::Deploy)
            .map(|(tenant, who)| Self { tenant, who })
            // Refused before any body is read: the connection is closed.
            .map_err(|e| closing(e.into_response()))
    }
}

/// The `{tenant}` of the route's path; empty (an invalid name) when it is not
/// even UTF-8.
async fn tenant_of(parts: &mut Parts, state: &Arc<AppState>) -> String {
    Path::<HashMap<String, String>>::from_request_parts(parts, state)
        .await
        .ok()
        .and_then(|Path(mut params)| params.remove("tenant"))
        .unwrap_or_default()
}

/// The authorized tenant and the request's JSON body as a `T`.
pub(crate) struct TenantJson<T>(pub(crate) TenantName, pub(crate) T);

impl<T: DeserializeOwned> FromRequest<Arc<AppState>> for TenantJson<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &Arc<AppState>) -> Result<Self, Response> {
        let deadline = Instant::now() + state.read_timeout;
        let (mut parts, body) = request.into_parts();
        let refused = |error: ApiError| closing(error.into_response());
        let Tenant(tenant) = Tenant::from_request_parts(&mut parts, state)
            .await
            .map_err(refused)?;
        if !state.auth.accepts_content_type(&parts.headers) {
            return Err(refused(ApiError::NotJson));
        }
        let body = refuse_declared_too_large(&parts.headers, body, MAX_BODY, deadline)
            .await
            .map_err(refused)?;
        let bytes = read_within(body, MAX_BODY, deadline)
            .await
            .map_err(refused)?;
        let value = parse(&bytes).map_err(IntoResponse::into_response)?;
        Ok(Self(tenant, value))
    }
}

/// `bytes` as a `T`: 400 saying the body is not JSON, or what it lacks.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        Category::Data => ApiError::BadRequest(without_position(&e)),
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::BadRequest(format!("the body is not JSON: {e}"))
        }
    })
}

/// The message of a data error, without serde_json's ` at line L column C`.
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&position).unwrap_or(&text).to_string()
}
