//! What every request shares, and the call slots: a call runs only with a place
//! in its tenant's share and one of the `--max-concurrent` slots, both held
//! until it ends on the call pool.

use std::sync::Arc;
use std::time::Duration;

use records_host::{PluginHost, TenantName};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::api_error::ApiError;
use super::auth::Auth;
use super::call_pool::CallPool;
use super::metrics::Metrics;
use super::tenant_shares::{Share, TenantShares};

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
    /// How uploads are bounded.
    pub(crate) deploys: Deploys,
}

/// How uploads are bounded: their size, how many compile at once, how many
/// versions a slot keeps.
pub(crate) struct Deploys {
    pub(crate) max_plugin_size: usize,
    /// One permit per upload compiling at once (`--max-concurrent-compiles`).
    pub(crate) compiles: Arc<Semaphore>,
    pub(crate) keep_versions: u32,
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
