//! The service's OpenAPI 3.1 document, served at `GET /openapi.json`.
//!
//! Nothing here lists a path: `app.rs` mounts each handler with utoipa-axum's
//! `routes!`, which registers the route and its operation from the handler's
//! `#[utoipa::path]` at once, and the bodies' schemas come from the types
//! the handlers serialize (`schema.rs`). This file adds what no handler says:
//! the title, the tags, the bearer scheme, and the three service routes.

use std::sync::Arc;

use axum::Extension;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The document's frame; the paths are added as handlers are mounted.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "records-host serve",
        description = "Calls into each tenant's records plugin, and each tenant's own plugin versions. \
            Every non-2xx answer has the body `{\"error\": \"<one line>\", \"request_id\": \"<id>\"}`; \
            every 503 carries `Retry-After`. Tenant routes take `Authorization: Bearer <token>` \
            (none with `--no-auth`, which serves loopback only); the deploy routes need a token \
            with the deploy scope."
    ),
    modifiers(&BearerScheme),
    tags(
        (name = "calls", description = "Calling a tenant's plugin, and its write lock"),
        (name = "deploy", description = "A tenant's plugin versions: upload, list, read, activate, remove"),
        (name = "scripts", description = "A tenant's named scripts (`wasi:cli/command` components): versions and runs"),
        (name = "service", description = "Health, metrics and this document"),
    ),
)]
pub(crate) struct ApiDoc;

/// Declares the `bearer` scheme the operations name.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A token minted by `records-host token TENANT --tokens FILE [--scope deploy]`",
                    ))
                    .build(),
            ),
        );
    }
}

/// The finished document as JSON, rendered once at start-up.
#[derive(Clone)]
pub(crate) struct OpenApiJson(Arc<str>);

impl OpenApiJson {
    /// `api` rendered.
    ///
    /// # Panics
    /// Never: a document of strings and maps serializes.
    pub(crate) fn of(api: &utoipa::openapi::OpenApi) -> Self {
        Self(api.to_pretty_json().unwrap_or_default().into())
    }
}

/// `GET /healthz`.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "service",
    responses((status = 200, description = "The server is up: `ok`", body = String, content_type = "text/plain")),
)]
pub(crate) async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "service",
    responses((status = 200, description = "This OpenAPI 3.1 document", content_type = "application/json")),
)]
pub(crate) async fn openapi_json(Extension(doc): Extension<OpenApiJson>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        doc.0.to_string(),
    )
        .into_response()
}
