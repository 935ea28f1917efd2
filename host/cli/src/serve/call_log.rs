//! The layer around the call route that counts every call in `/metrics` (by
//! function and outcome, and its latency) and logs one line for it, whatever
//! answered it: the handler, an extractor's refusal or an error.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use records_host::display::escape_control;

use super::call_note::{CallNote, OutcomeLabel};
use super::request_id::RequestId;
use super::state::AppState;

/// Middleware: runs the call, then counts and logs it.
pub(crate) async fn count_and_log(
    State(state): State<Arc<AppState>>,
    tenant: Result<Path<String>, PathRejection>,
    mut request: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let tenant = tenant.map_or_else(|_| String::new(), |Path(tenant)| tenant);
    let note = CallNote::default();
    request.extensions_mut().insert(note.clone());
    let response = next.run(request).await;
    let outcome = response
        .extensions()
        .get::<OutcomeLabel>()
        .copied()
        .unwrap_or(OutcomeLabel("failed"));
    let function = note.noted();
    let label = if outcome.reached_the_plugin() && !function.is_empty() {
        function
    } else {
        "-"
    };
    state
        .metrics
        .observe(label, outcome.0, start.elapsed().as_secs_f64());
    tracing::info!(
        request_id = %RequestId::current_text(),
        tenant = %escape_control(&tenant),
        function = %escape_control(function),
        status = response.status().as_u16(),
        ms = format_args!("{:.1}", start.elapsed().as_secs_f64() * 1e3),
        "call"
    );
    response
}
