//! Who may call, decided from a request's headers alone, before any of its body
//! is read: a client without a valid token cannot make the server hold a
//! connection (or answer `100 Continue`) for a body.
//!
//! With tokens, the `Authorization: Bearer <token>` header (the scheme in any
//! case, RFC 7235) must carry the tenant's own token. Without (`--no-auth`, on
//! loopback only), a web page the operator opens could still reach the server
//! through the browser, so requests must name a loopback host in `Host` (a
//! DNS-rebound name is refused) and calls must be declared
//! `Content-Type: application/json` (which a cross-site form or `text/plain`
//! request cannot send without the browser asking first).

use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use records_host::TenantName;

use super::api_error::{ApiError, closing};
use super::tokens::{Access, Scope, Tokens};

/// Who may call: everyone (requests to a loopback host name only), or the
/// holders of tokens.
pub enum Auth {
    /// No credentials (`--no-auth`): every tenant to every client whose request
    /// names a loopback host; calls must be declared `application/json`.
    Open,
    /// Each tenant to the holders of its tokens (`--tokens FILE`); replace what
    /// the lock holds to change them while serving (`serve` does on SIGHUP).
    Tokens(Arc<RwLock<Tokens>>),
}

impl Auth {
    /// Each tenant to the holders of its tokens in `tokens`.
    pub fn tokens(tokens: Tokens) -> Self {
        Self::Tokens(Arc::new(RwLock::new(tokens)))
    }

    /// The tenant, once its name is valid and the request's credentials are its
    /// own and reach `needed`; and who the caller is, for what it deploys:
    /// `token:<tenant>:<fingerprint>`, or `loopback` without tokens.
    ///
    /// # Errors
    /// 400 for an invalid tenant name, 401 without a token or with one nobody
    /// has, 403 with another tenant's, or with a call token where `needed` is
    /// deploy.
    pub(crate) fn authorize(
        &self,
        tenant: &str,
        headers: &HeaderMap,
        needed: Scope,
    ) -> Result<(TenantName, String), ApiError> {
        let tenant = TenantName::new(tenant).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let Self::Tokens(tokens) = self else {
            return Ok((tenant, "loopback".to_string()));
        };
        let token = bearer(headers).ok_or(ApiError::Unauthorized)?;
        let access = tokens
            .read()
            .map_or(Access::Unknown, |tokens| tokens.access(token, &tenant));
        match access {
            Access::Granted(scope, fingerprint) if scope >= needed => {
                let who = format!("token:{tenant}:{fingerprint}");
                Ok((tenant, who))
            }
            Access::Granted(..) => Err(ApiError::NoDeployScope),
            Access::OtherTenant => Err(ApiError::Forbidden),
            Access::Unknown => Err(ApiError::Unauthorized),
        }
    }

    /// Whether a call's body may be taken as declared: always with tokens;
    /// without, only as `application/json`.
    pub(crate) fn accepts_content_type(&self, headers: &HeaderMap) -> bool {
        matches!(self, Self::Tokens(_)) || is_json(headers)
    }
}

/// The token of an `Authorization: Bearer <token>` header; the scheme's case
/// does not matter.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Whether the request declares a JSON body (parameters such as `charset` allowed).
fn is_json(headers: &HeaderMap) -> bool {
    declares(headers, "application/json")
}

/// Whether the request declares its body as `mime` (parameters allowed).
pub(crate) fn declares(headers: &HeaderMap, mime: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|declared| declared.trim().eq_ignore_ascii_case(mime))
}

/// Whether `Host` names this machine by a loopback name or address (with any
/// port): `localhost`, `127.0.0.0/8`, `[::1]`.
fn is_loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _port)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

/// Middleware: with `--no-auth`, answers 403 to a request whose `Host` is not a
/// loopback name, before it reaches a route.
pub(crate) async fn loopback_only(
    State(auth): State<Arc<Auth>>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(*auth, Auth::Open) && !is_loopback_host(request.headers()) {
        return closing(ApiError::NotLoopbackHost.into_response());
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for value in ["Bearer t0k", "bearer t0k", "BEARER  t0k ", " Bearer t0k"] {
            assert_eq!(
                bearer(&headers(header::AUTHORIZATION, value)),
                Some("t0k"),
                "{value}"
            );
        }
        for value in ["Basic t0k", "Bearer", "Bearer ", "Bearert0k"] {
            assert_eq!(
                bearer(&headers(header::AUTHORIZATION, value)),
                None,
                "{value}"
            );
        }
    }

    #[test]
    fn only_loopback_host_names_pass() {
        for host in [
            "localhost",
            "LOCALHOST:8080",
            "127.0.0.1",
            "127.1.2.3:80",
            "[::1]:8080",
            "[::1]",
        ] {
            assert!(is_loopback_host(&headers(header::HOST, host)), "{host}");
        }
        for host in [
            "attacker.example",
            "attacker.example:8080",
            "10.0.0.1",
            "[::2]:80",
            "localhost.attacker.example",
            "",
        ] {
            assert!(!is_loopback_host(&headers(header::HOST, host)), "{host}");
        }
        assert!(!is_loopback_host(&HeaderMap::new()));
    }

    #[test]
    fn json_is_recognized_with_parameters() {
        assert!(is_json(&headers(header::CONTENT_TYPE, "application/json")));
        assert!(is_json(&headers(
            header::CONTENT_TYPE,
            "Application/JSON; charset=utf-8"
        )));
        assert!(!is_json(&headers(header::CONTENT_TYPE, "text/plain")));
        assert!(!is_json(&HeaderMap::new()));
    }
}
