//! The routes, the state they share, and the call slots: a call runs only with a
//! place in its tenant's share and one of the `--max-concurrent` slots.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use records_host::{PluginHost, TenantName};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::api_error::ApiError;
use super::auth::{Auth, loopback_only};
use super::call::{call, lock};
use super::call_pool::CallPool;
use super::metrics::Metrics;
use super::request_id;
use super::tenant_shares::{Share, TenantShares};

/// The largest request body accepted (413 beyond).
pub(crate) const MAX_BODY: usize = 1 << 20;

/// What every request shares.
pub(crate) struct AppState {
    pub(crate) host: PluginHost,
    pub(crate) auth: Arc<Auth>,
    /// One permit per call allowed to run at once (`--max-concurrent`).
    pub(crate) slots: Arc<Semaphore>,
    /// Each tenant's share of those (`--max-concurrent-per-tenant`).
    pub(crate) shares: Arc<TenantShares>,
    /// The threads calls run on.
    pub(crate) calls: CallPool,
    pub(crate) metrics: Arc<Metrics>,
    /// How long a request's body may take to arrive after its headers.
    pub(crate) read_timeout: Duration,
}

/// A call's place in its tenant's share and its slot, held until the call ends.
pub(crate) struct Slot {
    _share: Share,
    _permit: OwnedSemaphorePermit,
}

impl AppState {
    /// A slot for a call of `tenant`.
    ///
    /// # Errors
    /// 503 when the tenant's share or every slot is taken.
    pub(crate) fn slot(&self, tenant: &TenantName) -> Result<Slot, ApiError> {
        let share = self
            .shares
            .try_take(tenant)
            .ok_or(ApiError::TenantBusy(self.shares.per_tenant()))?;
        let permit = self
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::Busy("every call slot is taken".into()))?;
        Ok(Slot {
            _share: share,
            _permit: permit,
        })
    }

    /// Runs `work` on the call pool, holding `slot` until it ends.
    ///
    /// # Errors
    /// 500 when the call's thread panicked or ended without an answer.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        slot: Slot,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        self.calls
            .run(move || {
                let _slot = slot;
                work()
            })
            .await
            .map_err(|_| ApiError::Internal("the call's thread ended".into()))?
            .map_err(|_| ApiError::Internal("the call panicked".into()))
    }
}

/// The service's routes; every answer carries a request id, and every error a
/// JSON body.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    let auth = state.auth.clone();
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/v1/tenants/{tenant}/call", post(call))
        .route("/v1/tenants/{tenant}/lock", get(lock))
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(auth, loopback_only))
        .layer(axum::middleware::from_fn(request_id::assign))
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
