//! The deploy routes: a tenant's plugin versions (`/v1/tenants/{tenant}/plugins`,
//! `upload.rs` and `versions.rs`) and its named scripts'
//! (`/v1/tenants/{tenant}/scripts/{script}`, `script_routes.rs`; run with
//! `script_run.rs`), uploaded, listed, read, activated and removed. Every route
//! but a script's run needs a token of the tenant with the deploy scope
//! (`extract.rs`), checked before any body is read.
//!
//! An upload's body is read within the plugin size limit and the read timeout;
//! compiling and checking it then take one of the `--max-concurrent-compiles`
//! slots (503 with `Retry-After` when all are taken) on a blocking thread of its
//! own, never a call's. The other routes are short reads and writes of the
//! tenant's database, run like a call: in the tenant's share of the call slots,
//! on the call pool.
//!
//! Each handler carries its `#[utoipa::path]`: the route it is mounted on
//! (`app.rs`) and what `GET /openapi.json` says of it come from the same place.

mod script_routes;
mod script_run;
mod upload;
mod versions;

use std::collections::HashMap;

use records_host::Slot;

use super::api_error::ApiError;
use super::extract::Deployer;
use super::state::AppState;

pub(crate) use script_routes::*;
pub(crate) use script_run::*;
pub(crate) use upload::*;
pub(crate) use versions::*;

/// `?force=true`: store a version that failed its checks, or activate one.
///
/// # Errors
/// 400 for a `force` other than `true` or `false`.
fn force(query: &HashMap<String, String>) -> Result<bool, ApiError> {
    match query.get("force").map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ApiError::BadRequest(format!(
            "force must be true or false, not {:?}",
            records_host::display::escape_control(other)
        ))),
    }
}

/// The slot and version a deploy route names.
struct Target {
    slot: Slot,
    number: Option<u32>,
}

/// The slot (`{script}` or the plugin) and version (`{n}`) of the path.
fn target(params: &HashMap<String, String>) -> Result<Target, ApiError> {
    let slot = match params.get("script") {
        Some(name) => {
            Slot::script(name).map_err(|e| ApiError::BadRequest(format!("script name: {e}")))?
        }
        None => Slot::Plugin,
    };
    let number = params
        .get("n")
        .map(|n| {
            n.parse::<u32>()
                .map_err(|_| ApiError::BadRequest(format!("{n:?} is not a version number")))
        })
        .transpose()?;
    Ok(Target { slot, number })
}

/// Runs `work` for the deployer's tenant in its share of the call slots, on
/// the call pool.
async fn on_pool<T: Send + 'static>(
    state: &AppState,
    deployer: &Deployer,
    work: impl FnOnce(
        &records_host::PluginHost,
        &records_host::TenantName,
    ) -> Result<T, records_host::Error>
    + Send
    + 'static,
) -> Result<T, ApiError> {
    let slot = state.slot(&deployer.tenant)?;
    let host = state.host.clone();
    let tenant = deployer.tenant.clone();
    state
        .run(slot, move || work(&host, &tenant))
        .await?
        .map_err(ApiError::from)
}
