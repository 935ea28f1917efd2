//! Deployed plugin and script versions, stored with the tenant's records: on
//! SQLite as rows in its database and content-addressed files beside it
//! (`sqlite/deploy.rs`), on PostgreSQL as rows in its schema
//! (`postgres/deploy.rs`), so every host serving the database sees the same
//! versions and the same active one.
//!
//! A version is immutable once stored. Storing, activating and removing one are
//! writes: each takes the tenant's write lock through the backend's `Writer`, as
//! every write does, and runs in one transaction, so a crash leaves a version
//! whole or absent and the active version one that was activated. Reading takes
//! no lock. Bytes are checked against their SHA-256 whenever they are read back.

mod error;
pub(in crate::store) mod version;

use std::time::SystemTime;

pub use self::error::DeployError;
pub use self::version::{ActiveVersion, NewVersion, Slot, VersionInfo};

use super::backend::Backend;
use super::database::Database;
use super::writer::Writer;
use super::{postgres, sqlite};
use crate::plugin_file::sha256_hex;

/// How many versions of a slot are kept by default: the newest ten, and the
/// active one whatever its age.
pub const DEFAULT_KEEP_VERSIONS: u32 = 10;

impl Database {
    /// The slot's versions, newest first. Takes no lock.
    ///
    /// # Errors
    /// [`DeployError::Store`] when the store fails.
    pub fn versions(&self, slot: &Slot) -> Result<Vec<VersionInfo>, DeployError> {
        let key = slot.key();
        Ok(match &self.backend {
            Backend::Sqlite(s) => s.run(|conn| sqlite::deploy::versions(conn, &key))?,
            Backend::Postgres(p) => p.read(|c, at| postgres::deploy::versions(c, at, &key))?,
        })
    }

    /// Version `number` of the slot. Takes no lock.
    ///
    /// # Errors
    /// [`DeployError::NoSuchVersion`]; [`DeployError::Store`].
    pub fn version(&self, slot: &Slot, number: u32) -> Result<VersionInfo, DeployError> {
        let key = slot.key();
        let found = match &self.backend {
            Backend::Sqlite(s) => s.run(|conn| sqlite::deploy::version(conn, &key, number))?,
            Backend::Postgres(p) => {
                p.read(|c, at| postgres::deploy::version(c, at, &key, number))?
            }
        };
        found.ok_or_else(|| no_such(slot, number))
    }

    /// The component of version `number`, checked against its SHA-256. Takes no
    /// lock.
    ///
    /// # Errors
    /// [`DeployError::NoSuchVersion`]; [`DeployError::Damaged`] when the stored
    /// bytes are missing or do not match; [`DeployError::Store`].
    pub fn version_wasm(&self, slot: &Slot, number: u32) -> Result<Vec<u8>, DeployError> {
        let info = self.version(slot, number)?;
        let key = slot.key();
        let bytes = match &self.backend {
            Backend::Sqlite(s) => {
                s.run(|conn| sqlite::deploy::wasm(conn, &info.sha256, info.size))?
            }
            Backend::Postgres(p) => p.read(|c, at| postgres::deploy::wasm(c, at, &key, number))?,
        };
        bytes
            .filter(|bytes| sha256_hex(bytes) == info.sha256)
            .ok_or_else(|| DeployError::Damaged {
                slot: slot.clone(),
                number,
            })
    }

    /// The slot's active version, if any. Takes no lock.
    ///
    /// # Errors
    /// [`DeployError::Store`] when the store fails.
    pub fn active_version(&self, slot: &Slot) -> Result<Option<ActiveVersion>, DeployError> {
        let key = slot.key();
        Ok(match &self.backend {
            Backend::Sqlite(s) => s.run(|conn| sqlite::deploy::active(conn, &key))?,
            Backend::Postgres(p) => p.read(|c, at| postgres::deploy::active(c, at, &key))?,
        })
    }

    /// Stores `new` as the slot's next version (not active), under the write
    /// lock, then prunes the slot to its newest `keep` versions and its active
    /// one. The caller has checked the component; this stores what it is given.
    ///
    /// # Errors
    /// [`DeployError::Store`] when the lock times out or the store fails; then
    /// nothing was stored.
    pub fn add_version(
        &self,
        slot: &Slot,
        new: &NewVersion<'_>,
        keep: u32,
    ) -> Result<VersionInfo, DeployError> {
        let key = slot.key();
        let sha256 = sha256_hex(new.wasm);
        let created_at = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        Ok(self.write(|txn| {
            txn.with_writer(|writer| match writer {
                Writer::Sqlite(w) => {
                    sqlite::deploy::add(w.locked_conn(), &key, new, &sha256, &created_at, keep)
                }
                Writer::Postgres(w) => {
                    let (client, at) = w.locked_client();
                    postgres::deploy::add(client, at, &key, new, &sha256, &created_at, keep)
                }
            })
        })?)
    }

    /// Makes version `number` the slot's active one, under the write lock: every
    /// call that starts after this returns runs it. A version that failed its
    /// checks is activated only with `force`.
    ///
    /// # Errors
    /// [`DeployError::NoSuchVersion`]; [`DeployError::FailedChecks`];
    /// [`DeployError::Store`].
    pub fn activate_version(
        &self,
        slot: &Slot,
        number: u32,
        force: bool,
    ) -> Result<(), DeployError> {
        let key = slot.key();
        let passed = self.write(|txn| {
            txn.with_writer(|writer| {
                let passed = match writer {
                    Writer::Sqlite(w) => sqlite::deploy::passed(w.locked_conn(), &key, number)?,
                    Writer::Postgres(w) => {
                        let (client, at) = w.locked_client();
                        postgres::deploy::passed(client, at, &key, number)?
                    }
                };
                if passed == Some(true) || (passed.is_some() && force) {
                    match writer {
                        Writer::Sqlite(w) => {
                            sqlite::deploy::set_active(w.locked_conn(), &key, number)?;
                        }
                        Writer::Postgres(w) => {
                            let (client, at) = w.locked_client();
                            postgres::deploy::set_active(client, at, &key, number)?;
                        }
                    }
                }
                Ok(passed)
            })
        })?;
        match passed {
            None => Err(no_such(slot, number)),
            Some(false) if !force => Err(DeployError::FailedChecks {
                slot: slot.clone(),
                number,
            }),
            Some(_) => Ok(()),
        }
    }

    /// Removes version `number` of the slot, under the write lock.
    ///
    /// # Errors
    /// [`DeployError::Active`] for the active version; [`DeployError::NoSuchVersion`];
    /// [`DeployError::Store`].
    pub fn remove_version(&self, slot: &Slot, number: u32) -> Result<(), DeployError> {
        let key = slot.key();
        let outcome = self.write(|txn| {
            txn.with_writer(|writer| {
                let active = match writer {
                    Writer::Sqlite(w) => sqlite::deploy::active_number(w.locked_conn(), &key)?,
                    Writer::Postgres(w) => {
                        let (client, at) = w.locked_client();
                        postgres::deploy::active_number(client, at, &key)?
                    }
                };
                if active == Some(number) {
                    return Ok(Removal::Active);
                }
                let deleted = match writer {
                    Writer::Sqlite(w) => sqlite::deploy::delete(w.locked_conn(), &key, number)?,
                    Writer::Postgres(w) => {
                        let (client, at) = w.locked_client();
                        postgres::deploy::delete(client, at, &key, number)?
                    }
                };
                Ok(if deleted {
                    Removal::Removed
                } else {
                    Removal::Missing
                })
            })
        })?;
        match outcome {
            Removal::Removed => Ok(()),
            Removal::Missing => Err(no_such(slot, number)),
            Removal::Active => Err(DeployError::Active {
                slot: slot.clone(),
                number,
            }),
        }
    }
}

enum Removal {
    Removed,
    Missing,
    Active,
}

fn no_such(slot: &Slot, number: u32) -> DeployError {
    DeployError::NoSuchVersion {
        slot: slot.clone(),
        number,
    }
}

#[cfg(test)]
mod tests;
