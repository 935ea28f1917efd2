//! A persistent cache of compiled plugins, so that a CLI process does not run
//! cranelift on a plugin it (or another process) has compiled before.
//!
//! An entry is named by the plugin's SHA-256 and a SHA-256 of the engine's
//! compatibility hash (which covers the wasmtime version and every setting that
//! affects code), so a changed plugin or engine never hits an old entry; no part of
//! the name comes from `DefaultHasher`, whose output may change between toolchains.
//! An entry is written to a temporary file and renamed into place, so readers see
//! all of it or nothing, and carries a SHA-256 of its payload that is checked
//! before wasmtime sees it: a truncated or corrupt file is recompiled and
//! replaced, never loaded.
//!
//! Deserializing compiled code is `unsafe`: it runs as native code. The checksum
//! detects damage, not tampering, so an entry is trusted only when nobody but this
//! user could have written it: the directory is created with mode 0700, and an
//! entry is loaded only when it and its directory belong to this user and are not
//! writable by group or others (checked on the opened file, not the path). A cache
//! that fails this is not used: the plugin is compiled in memory, and one warning
//! says why.

use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once};

use sha2::{Digest, Sha256};

use crate::trusted_file::{UntrustedFile, only_ours, open_trusted};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Marks a records-host cache entry, and its format version.
const MAGIC: &[u8; 8] = b"RHCWASM1";
const DIGEST_LEN: usize = 32;

/// How the plugins a runtime loaded got their compiled code, since it was
/// built: from the compiled-plugin cache, or compiled (by this process or a
/// compiler process).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompiledCacheCounts {
    /// Loads served by an entry already in the cache: nothing was compiled.
    pub hits: u64,
    /// Loads that compiled the plugin (and stored it, where the cache is usable).
    pub compiles: u64,
}

/// A directory of compiled plugins. Clones share their counts.
#[derive(Debug, Clone)]
pub(crate) struct CompiledCache {
    dir: PathBuf,
    hits: Arc<AtomicU64>,
    compiles: Arc<AtomicU64>,
}

impl CompiledCache {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            hits: Arc::default(),
            compiles: Arc::default(),
        }
    }

    /// The counts so far.
    pub(crate) fn counts(&self) -> CompiledCacheCounts {
        CompiledCacheCounts {
            hits: self.hits.load(Ordering::Relaxed),
            compiles: self.compiles.load(Ordering::Relaxed),
        }
    }

    /// Counts a load served from the cache.
    pub(crate) fn count_hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a load that compiled.
    pub(crate) fn count_compile(&self) {
        self.compiles.fetch_add(1, Ordering::Relaxed);
    }

    /// The compiled `wasm`, from the cache when a trusted, valid entry exists, else
    /// compiled now and stored. Cache failures are logged and never fail the load.
    pub(crate) fn load_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
    ) -> wasmtime::Result<Component> {
        if let Err(why) = self.prepare_dir() {
            static WARNED: Once = Once::new();
            WARNED.call_once(|| {
                tracing::warn!(dir = %self.dir.display(), "not using the plugin cache: {why}; compiling in memory");
            });
            self.count_compile();
            return Component::new(engine, wasm);
        }
        let entry = self.entry_path(engine, wasm);
        if let Some(component) = read_entry(engine, &entry) {
            tracing::debug!(entry = %entry.display(), "compiled plugin loaded from cache");
            self.count_hit();
            return Ok(component);
        }
        self.count_compile();
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

    /// The compiled `wasm` from a trusted, valid entry; `None` when there is
    /// none (nothing is compiled, nothing counted).
    pub(crate) fn load_cached(&self, engine: &Engine, wasm: &[u8]) -> Option<Component> {
        self.prepare_dir().ok()?;
        read_entry(engine, &self.entry_path(engine, wasm))
    }

    /// The directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates the directory (mode 0700) when missing, and checks that only this
    /// user can write it.
    fn prepare_dir(&self) -> Result<(), String> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| format!("cannot create it: {e}"))?;
        let meta = std::fs::metadata(&self.dir).map_err(|e| e.to_string())?;
        if !meta.is_dir() {
            return Err("it is not a directory".into());
        }
        only_ours(&meta)
    }

    fn entry_path(&self, engine: &Engine, wasm: &[u8]) -> PathBuf {
        let mut engine_hash = Sha256Hasher::default();
        engine
            .precompile_compatibility_hash()
            .hash(&mut engine_hash);
        let plugin = hex(&Sha256::digest(wasm));
        let engine = hex(&engine_hash.0.finalize());
        self.dir.join(format!("{plugin}-{engine}.cwasm"))
    }
}

/// The component in `entry` if it is trusted and its checksum matches.
fn read_entry(engine: &Engine, entry: &Path) -> Option<Component> {
    let mut file = open_entry(entry)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).ok()?;
    let payload = verified_payload(&bytes);
    if payload.is_none() {
        tracing::warn!(entry = %entry.display(), "ignoring a corrupt plugin cache entry");
    }
    // SAFETY: the payload is intact (its SHA-256 matches) output of
    // `Component::serialize` for an engine with this compatibility hash (the file
    // name says so), in a file that only this user can have written (checked on
    // the open file, in a directory only this user can write); wasmtime checks
    // its own header and engine settings again.
    let loaded = unsafe { Component::deserialize(engine, payload?) };
    loaded
        .inspect_err(|e| tracing::warn!(entry = %entry.display(), error = %e, "ignoring an unloadable plugin cache entry"))
        .ok()
}

/// Opens `entry` without following a link, when it is a regular file that only
/// this user can have written.
fn open_entry(entry: &Path) -> Option<File> {
    match open_trusted(entry) {
        Ok((file, _)) => Some(file),
        Err(UntrustedFile::Open { .. }) => None,
        Err(why) => {
            tracing::warn!(entry = %entry.display(), "not loading a plugin cache entry: {why}; recompiling");
            None
        }
    }
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
    // A temporary file is created with mode 0600.
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

/// Feeds a `Hash` value into SHA-256: a digest that depends only on the value's
/// bytes, unlike `DefaultHasher`.
#[derive(Default)]
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes(digest[..8].try_into().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

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

    #[test]
    fn the_directory_is_created_private_and_a_shared_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CompiledCache::new(dir.path().join("a/cache"));
        cache.prepare_dir().unwrap();
        let mode = std::fs::metadata(dir.path().join("a/cache"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        std::fs::set_permissions(
            dir.path().join("a/cache"),
            std::fs::Permissions::from_mode(0o777),
        )
        .unwrap();
        let err = cache.prepare_dir().unwrap_err();
        assert!(err.contains("group or others may write it"), "{err}");
    }

    #[test]
    fn an_entry_others_may_write_or_a_link_is_not_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.cwasm");
        std::fs::write(&path, entry(b"code")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(open_entry(&path).is_some());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(open_entry(&path).is_none());
        let link = dir.path().join("link.cwasm");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(open_entry(&link).is_none());
    }

    #[test]
    fn the_engine_part_of_the_key_is_a_sha256() {
        let engine = Engine::default();
        let cache = CompiledCache::new(PathBuf::from("/cache"));
        let name = cache.entry_path(&engine, b"wasm");
        let name = name.file_stem().unwrap().to_str().unwrap();
        let (plugin, engine_key) = name.split_once('-').unwrap();
        assert_eq!(plugin, hex(&Sha256::digest(b"wasm")));
        assert_eq!(engine_key.len(), 64, "{engine_key}");
        assert_eq!(
            cache
                .entry_path(&Engine::default(), b"wasm")
                .file_stem()
                .unwrap(),
            name
        );
    }
}
