//! Where a database really is: its path resolved once, so that the SQLite file and
//! the lock file beside it belong to the same database.
//!
//! SQLite resolves symbolic links (and, given the chance, `file:` URIs) itself, so
//! a lock derived from the path as given could sit beside a link while the data is
//! written elsewhere, under another database's lock. The path is made canonical
//! here (every symbolic link followed), SQLite is opened on exactly that path with
//! `SQLITE_OPEN_NOFOLLOW` and without URI interpretation (so a link planted later
//! is refused rather than followed), and the lock file is derived from it.

use std::path::{Path, PathBuf};

use crate::store::error::Error;

/// The canonical path of the database at `path`, creating its directory when
/// missing.
///
/// # Errors
/// [`Error::Unusable`] when the directory cannot be created or resolved, or
/// something other than a regular file (a directory, a dangling link) is there.
pub(crate) fn resolve(path: &Path) -> Result<PathBuf, Error> {
    let name = path
        .file_name()
        .ok_or_else(|| storage(path, "it names no file"))?;
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| storage(dir, &format!("cannot create the directory: {e}")))?;
    if std::fs::symlink_metadata(path).is_err() {
        let dir = std::fs::canonicalize(dir).map_err(|e| storage(dir, &e.to_string()))?;
        return Ok(dir.join(name));
    }
    let resolved = std::fs::canonicalize(path)
        .map_err(|e| storage(path, &format!("cannot resolve it: {e}")))?;
    let meta = std::fs::metadata(&resolved).map_err(|e| storage(&resolved, &e.to_string()))?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "it is a directory"
        } else {
            "it is not a regular file"
        };
        return Err(storage(&resolved, what));
    }
    Ok(resolved)
}

/// Where `path` resolves to, as far as it exists, creating nothing: the canonical
/// file, else the canonical directory joined with the name, else `path` made
/// absolute. For looking at a database's lock without opening the database.
pub(crate) fn resolve_existing(path: &Path) -> PathBuf {
    if let Ok(resolved) = std::fs::canonicalize(path) {
        return resolved;
    }
    let parent = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match (std::fs::canonicalize(parent), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
    }
}

fn storage(path: &Path, why: &str) -> Error {
    Error::Unusable {
        why: why.into(),
        at: crate::display::escape_control(&path.display().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_resolves_to_its_target_and_a_new_file_to_the_canonical_directory() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::fs::write(real.join("app.db"), b"").unwrap();
        let links = dir.path().join("links");
        std::fs::create_dir(&links).unwrap();
        std::os::unix::fs::symlink(real.join("app.db"), links.join("file.db")).unwrap();
        std::os::unix::fs::symlink(&real, links.join("dir")).unwrap();
        let canonical = std::fs::canonicalize(real.join("app.db")).unwrap();
        assert_eq!(resolve(&links.join("file.db")).unwrap(), canonical);
        assert_eq!(resolve(&links.join("dir/app.db")).unwrap(), canonical);
        assert_eq!(
            resolve(&links.join("dir/new.db")).unwrap(),
            canonical.with_file_name("new.db")
        );
    }

    #[test]
    fn directories_and_dangling_links_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = resolve(dir.path()).unwrap_err();
        assert!(err.to_string().contains("it is a directory"), "{err}");
        let dangling = dir.path().join("dangling.db");
        std::os::unix::fs::symlink(dir.path().join("nowhere/x.db"), &dangling).unwrap();
        let err = resolve(&dangling).unwrap_err();
        assert!(err.to_string().contains("cannot resolve it"), "{err}");
    }
}
