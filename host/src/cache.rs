//! A persistent cache of compiled plugins, so that a CLI process does not run
//! cranelift on a plugin it (or another process) has compiled before.
//!
//! An entry is named by the plugin's SHA-256 and the engine's compatibility hash
//! (which covers the wasmtime version and every setting that affects code), so a
//! changed plugin or engine never hits an old entry. An entry is written to a
//! temporary file and renamed into place, so readers see all of it or nothing.
//! Deserializing compiled code is `unsafe` (it is executed as is), so every entry
//! carries a SHA-256 of its payload that is checked before wasmtime sees it: a
//! truncated, corrupt or foreign file is recompiled and replaced, never loaded.
//! The checksum detects damage, not tampering: whoever can write the cache
//! directory can supply code that will run, so it must be writable only by the
//! user running records-host (as `~/.cache` is).

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Marks a records-host cache entry, and its format version.
const MAGIC: &[u8; 8] = b"RHCWASM1";
const DIGEST_LEN: usize = 32;

/// A directory of compiled plugins.
#[derive(Debug, Clone)]
pub(crate) struct CompiledCache {
    dir: PathBuf,
}

impl CompiledCache {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The compiled `wasm`, from the cache when a valid entry exists, else compiled
    /// now and stored. Cache failures are logged and never fail the load.
    pub(crate) fn load_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
    ) -> wasmtime::Result<Component> {
        let entry = self.entry_path(engine, wasm);
        if let Some(component) = read_entry(engine, &entry) {
            tracing::debug!(entry = %entry.display(), "compiled plugin loaded from cache");
            return Ok(component);
        }
        let component = Component::new(engine, wasm)?;
        match component.serialize() {
            Ok(payload) => {
                if let Err(e) = write_entry(&self.dir, &entry, &payload) {
                    tracing::warn!(entry = %entry.display(), error = %e, "could not write the plugin cache");
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not serialize the compiled plugin"),
        }
        Ok(component)
    }

    fn entry_path(&self, engine: &Engine, wasm: &[u8]) -> PathBuf {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let plugin = hex(&Sha256::digest(wasm));
        self.dir
            .join(format!("{plugin}-{:016x}.cwasm", hasher.finish()))
    }
}

/// The component in `entry` if it exists and its checksum matches.
fn read_entry(engine: &Engine, entry: &Path) -> Option<Component> {
    let bytes = std::fs::read(entry).ok()?;
    let payload = verified_payload(&bytes);
    if payload.is_none() {
        tracing::warn!(entry = %entry.display(), "ignoring a corrupt plugin cache entry");
    }
    // SAFETY: the payload is intact (its SHA-256 matches) output of
    // `Component::serialize` for an engine with this compatibility hash (the file
    // name says so), written by this program into a directory only its user can
    // write; wasmtime checks its own header and engine settings again.
    let loaded = unsafe { Component::deserialize(engine, payload?) };
    loaded
        .inspect_err(|e| tracing::warn!(entry = %entry.display(), error = %e, "ignoring an unloadable plugin cache entry"))
        .ok()
}

/// The payload of an entry whose magic and checksum are intact.
fn verified_payload(bytes: &[u8]) -> Option<&[u8]> {
    let rest = bytes.strip_prefix(MAGIC.as_slice())?;
    if rest.len() < DIGEST_LEN {
        return None;
    }
    let (digest, payload) = rest.split_at(DIGEST_LEN);
    (Sha256::digest(payload).as_slice() == digest).then_some(payload)
}

fn write_entry(dir: &Path, entry: &Path, payload: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(MAGIC)?;
    tmp.write_all(&Sha256::digest(payload))?;
    tmp.write_all(payload)?;
    tmp.persist(entry)?;
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(payload: &[u8]) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&Sha256::digest(payload));
        bytes.extend_from_slice(payload);
        bytes
    }

    #[test]
    fn intact_entries_verify() {
        assert_eq!(verified_payload(&entry(b"code")), Some(&b"code"[..]));
    }

    #[test]
    fn corrupt_truncated_and_foreign_entries_are_rejected() {
        let good = entry(b"compiled code");
        let mut flipped = good.clone();
        *flipped.last_mut().expect("not empty") ^= 1;
        assert_eq!(verified_payload(&flipped), None);
        assert_eq!(verified_payload(&good[..good.len() - 1]), None);
        assert_eq!(verified_payload(&good[..20]), None);
        assert_eq!(verified_payload(b"\0asm\x0d\0\x01\0"), None);
        assert_eq!(verified_payload(b""), None);
    }
}
