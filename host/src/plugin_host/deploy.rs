//! Tenants' own plugin and script versions through the host: deploying one
//! (size, compile, link, checks, then stored), listing, activating, removing,
//! and finding the plugin a tenant's call runs.
//!
//! Which version a call runs is read from the tenant's database when the call
//! starts (one indexed read, no lock), so an activation, by this process or
//! another sharing the database, applies to every call that starts after it
//! commits; a call already running keeps the plugin it started with.

use crate::conformance;
use crate::error::Error;
use crate::runtime::Plugin;
use crate::runtime::Runtime;
use crate::store::{Database, NewVersion, Slot, VersionInfo};
use crate::sync::locked;
use crate::tenant::TenantName;

use super::{Deployed, PluginHost};

/// Checks `wasm` with `runtime` and stores it in `db` as the next version of
/// `slot`, as [`PluginHost::deploy`] does, for programs that hold a
/// [`Database`] rather than a host (the CLI's `plugin push`).
///
/// # Errors
/// As [`PluginHost::deploy`].
pub fn deploy_version(
    runtime: &Runtime,
    db: &Database,
    slot: &Slot,
    wasm: &[u8],
    upload: &Upload,
) -> Result<VersionInfo, Error> {
    let plugin = runtime.load_checked(&short_name(&crate::plugin_file::sha256_hex(wasm)), wasm)?;
    let (passed, report) = match slot {
        Slot::Plugin => {
            let report = conformance::check(&plugin);
            if !report.passed() && !upload.force {
                return Err(Error::ChecksFailed { report });
            }
            (report.passed(), report.to_json().to_string())
        }
        // A script is a command: compiling and linking are its checks.
        Slot::Script(_) => (true, r#"{"passed":true,"checks":[]}"#.to_string()),
    };
    let keep = match upload.keep {
        0 => crate::store::DEFAULT_KEEP_VERSIONS,
        n => n,
    };
    let new = NewVersion {
        wasm,
        uploaded_by: upload.uploaded_by.clone(),
        message: upload.message.clone(),
        passed,
        report,
    };
    Ok(db.add_version(slot, &new, keep)?)
}

/// The plugin of version `number` of `slot` in `db` (the active one when
/// `None`), compiled by `runtime` (through its cache); `None` when the slot has
/// no active version.
///
/// # Errors
/// [`Error::Deploy`] for a missing or damaged version; [`Error::LoadPlugin`]
/// when it no longer loads.
pub fn load_version(
    runtime: &Runtime,
    db: &Database,
    slot: &Slot,
    number: Option<u32>,
) -> Result<Option<Plugin>, Error> {
    let Some((number, sha256)) = which_version(db, slot, number)? else {
        return Ok(None);
    };
    let wasm = db.version_wasm(slot, number)?;
    Ok(Some(runtime.load(&short_name(&sha256), &wasm)?))
}

/// Version `number` of `slot` (the active one when `None`): its number and hash.
fn which_version(
    db: &Database,
    slot: &Slot,
    number: Option<u32>,
) -> Result<Option<(u32, String)>, Error> {
    Ok(match number {
        Some(number) => Some((number, db.version(slot, number)?.sha256)),
        None => db
            .active_version(slot)?
            .map(|active| (active.number, active.sha256)),
    })
}

/// How a version is deployed.
#[derive(Debug, Clone, Default)]
pub struct Upload {
    /// Who uploads it, as [`VersionInfo::uploaded_by`] keeps it.
    pub uploaded_by: String,
    /// The uploader's message.
    pub message: Option<String>,
    /// Store it even when it fails the conformance checks (marked failed).
    pub force: bool,
    /// Keep this many newest versions of the slot (and the active one); 0:
    /// [`DEFAULT_KEEP_VERSIONS`](crate::DEFAULT_KEEP_VERSIONS).
    pub keep: u32,
}

impl PluginHost {
    /// Checks `wasm` and stores it as the next version of `tenant`'s `slot`
    /// (not active: see [`activate`](Self::activate)). The component must be
    /// within the runtime's plugin size limit, compile, and link against what the
    /// host offers; a plugin must also pass the contract's conformance checks
    /// (run in fresh instances over throwaway databases, under the runtime's
    /// limits) unless `upload.force`. Compiling goes through the runtime's
    /// compiled-plugin cache, so the first call of the new version does not
    /// compile again.
    ///
    /// # Errors
    /// [`Error::LoadPlugin`] when it is too large, not a component, or does not
    /// compile or link; [`Error::ChecksFailed`] when it fails a check and
    /// `force` is not set; [`Error::Store`] or [`Error::Deploy`] when it cannot
    /// be stored.
    pub fn deploy(
        &self,
        tenant: &TenantName,
        slot: &Slot,
        wasm: &[u8],
        upload: &Upload,
    ) -> Result<VersionInfo, Error> {
        let runtime = &self.deployed()?.runtime;
        let info =
            self.with_database(tenant, |db| deploy_version(runtime, db, slot, wasm, upload))?;
        tracing::info!(
            tenant = tenant.as_str(),
            %slot,
            version = info.number,
            sha256 = info.sha256,
            uploaded_by = info.uploaded_by,
            passed = info.passed,
            "version stored"
        );
        Ok(info)
    }

    /// Makes version `number` of `tenant`'s `slot` the active one: calls that
    /// start after this returns run it. A rollback is activating an older
    /// version; it does not roll back data.
    ///
    /// # Errors
    /// [`Error::Deploy`] for a missing version, or one that failed its checks
    /// without `force`; [`Error::Store`] when the database cannot be opened.
    pub fn activate(
        &self,
        tenant: &TenantName,
        slot: &Slot,
        number: u32,
        force: bool,
    ) -> Result<(), Error> {
        self.with_database(tenant, |db| Ok(db.activate_version(slot, number, force)?))?;
        tracing::info!(tenant = tenant.as_str(), %slot, version = number, "version activated");
        Ok(())
    }

    /// Removes version `number` of `tenant`'s `slot` (never the active one).
    ///
    /// # Errors
    /// [`Error::Deploy`] for a missing or the active version; [`Error::Store`].
    pub fn remove_version(
        &self,
        tenant: &TenantName,
        slot: &Slot,
        number: u32,
    ) -> Result<(), Error> {
        self.with_database(tenant, |db| Ok(db.remove_version(slot, number)?))?;
        tracing::info!(tenant = tenant.as_str(), %slot, version = number, "version removed");
        Ok(())
    }

    /// `tenant`'s versions of `slot`, newest first.
    ///
    /// # Errors
    /// [`Error::Store`] or [`Error::Deploy`] when they cannot be read.
    pub fn versions(&self, tenant: &TenantName, slot: &Slot) -> Result<Vec<VersionInfo>, Error> {
        self.with_database(tenant, |db| Ok(db.versions(slot)?))
    }

    /// Version `number` of `tenant`'s `slot`.
    ///
    /// # Errors
    /// [`Error::Deploy`] for a missing version; [`Error::Store`].
    pub fn version(
        &self,
        tenant: &TenantName,
        slot: &Slot,
        number: u32,
    ) -> Result<VersionInfo, Error> {
        self.with_database(tenant, |db| Ok(db.version(slot, number)?))
    }

    /// The component of version `number` of `tenant`'s `slot`, checked against
    /// its SHA-256.
    ///
    /// # Errors
    /// [`Error::Deploy`] for a missing or damaged version; [`Error::Store`].
    pub fn version_wasm(
        &self,
        tenant: &TenantName,
        slot: &Slot,
        number: u32,
    ) -> Result<Vec<u8>, Error> {
        self.with_database(tenant, |db| Ok(db.version_wasm(slot, number)?))
    }

    /// The plugin of `tenant`'s active version of `slot` (version `number` when
    /// given), loaded; `None` when the slot has no active version.
    ///
    /// # Errors
    /// [`Error::Deploy`] for a missing or damaged version; [`Error::LoadPlugin`]
    /// when it no longer loads (an engine change); [`Error::Store`].
    pub fn deployed_plugin(
        &self,
        tenant: &TenantName,
        slot: &Slot,
        number: Option<u32>,
    ) -> Result<Option<Plugin>, Error> {
        self.with_database(tenant, |db| self.version_plugin(db, slot, number))
    }

    /// Runs `tenant`'s active version of the script `slot` with `args` (its
    /// name first) and `stdin`, over the tenant's database, under the same
    /// limits as a call; its output is kept up to the output limit.
    ///
    /// # Errors
    /// [`Error::Deploy`] when no version of the script is active (or it is
    /// damaged); [`Error::BadCall`] when it is not a command; a limit error or
    /// [`Error::Trap`] when it is stopped; [`Error::Store`].
    pub fn run_script(
        &self,
        tenant: &TenantName,
        slot: &Slot,
        args: Vec<String>,
        stdin: Vec<u8>,
    ) -> Result<crate::runtime::ScriptOutput, Error> {
        let db = self.take_database(tenant)?;
        let script = match self.version_plugin(&db, slot, None) {
            Ok(Some(script)) => script,
            Ok(None) => {
                self.put_back(tenant, db);
                return Err(
                    crate::store::DeployError::NoActiveVersion { slot: slot.clone() }.into(),
                );
            }
            Err(e) => {
                self.put_back(tenant, db);
                return Err(e);
            }
        };
        // The database goes with the script's store and is closed after it.
        script.run_script(db, Some(tenant), args, stdin)
    }

    /// How many deployed plugins are loaded, and the bytes of their compiled code.
    pub fn loaded_plugins(&self) -> (usize, u64) {
        self.inner
            .deployed
            .as_ref()
            .map_or((0, 0), |d| locked(&d.loaded).usage())
    }

    /// How the deployed versions got their compiled code: from the compiled
    /// cache, or compiled; zero without deployments or a cache directory.
    pub fn compiled_cache_counts(&self) -> crate::runtime::CompiledCacheCounts {
        self.inner
            .deployed
            .as_ref()
            .and_then(|d| d.runtime.compiled_cache_counts())
            .unwrap_or_default()
    }

    /// The plugin a call of `tenant` over `db` runs: `version` when given, else
    /// its active version, else the host's plugin.
    pub(super) fn plugin_for(
        &self,
        tenant: &TenantName,
        db: &Database,
        version: Option<u32>,
    ) -> Result<Plugin, Error> {
        if (self.inner.deployed.is_some() || version.is_some())
            && let Some(plugin) = self.version_plugin(db, &Slot::Plugin, version)?
        {
            return Ok(plugin);
        }
        self.inner
            .plugin
            .clone()
            .ok_or_else(|| Error::NoPluginDeployed {
                tenant: tenant.as_str().to_string(),
            })
    }

    /// The loaded plugin of version `number` of `slot` in `db` (the active one
    /// when `None`); `None` when there is no active version.
    fn version_plugin(
        &self,
        db: &Database,
        slot: &Slot,
        number: Option<u32>,
    ) -> Result<Option<Plugin>, Error> {
        let deployed = self.deployed()?;
        let Some((number, sha256)) = which_version(db, slot, number)? else {
            return Ok(None);
        };
        if let Some(plugin) = locked(&deployed.loaded).get(&sha256) {
            return Ok(Some(plugin));
        }
        let wasm = db.version_wasm(slot, number)?;
        let plugin = deployed.runtime.load(&short_name(&sha256), &wasm)?;
        let dropped = locked(&deployed.loaded).put(&sha256, plugin.clone());
        drop(dropped);
        Ok(Some(plugin))
    }

    fn deployed(&self) -> Result<&Deployed, Error> {
        self.inner.deployed.as_deref().ok_or_else(|| {
            Error::Engine(
                "this host runs no deployed versions (see PluginHost::deployments)".into(),
            )
        })
    }

    /// Runs `op` over `tenant`'s database, kept open afterwards when databases are.
    fn with_database<T>(
        &self,
        tenant: &TenantName,
        op: impl FnOnce(&Database) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let db = self.take_database(tenant)?;
        let result = op(&db);
        self.put_back(tenant, db);
        result
    }
}

/// The name a deployed plugin goes by (in the lock's holder record, in its
/// output's prefix): its hash's first 12 hex digits, which say nothing about
/// the tenants that deployed it.
fn short_name(sha256: &str) -> String {
    format!("sha256-{}", &sha256[..12.min(sha256.len())])
}
