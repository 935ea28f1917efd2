//! Opening a file that someone else may have put in place: without following a
//! symbolic link, without blocking on a FIFO, and only when it is a regular file
//! with a single link. Used for the lock file and its shared-words file, which sit
//! in data directories that other local users may be able to write.
//!
//! A regular file with no link left is not refused: it is the file that was at the
//! path when it was opened, deleted (or replaced by a rename) before it was looked
//! at. That is a race with whoever replaced it, not another file's hard link, and
//! the caller opens the path again.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use super::error::LockError;

/// How [`open_checked`] opens the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// For taking the lock: created when missing, written.
    ReadWrite,
    /// For reading the status: never created or written.
    ReadOnly,
}

/// How one pass at the lock file ended, short of success.
#[derive(Debug)]
pub(crate) enum Attempt {
    /// The lock file was deleted or replaced since it was opened: reopen, retry.
    Replaced,
    Failed(LockError),
}

impl From<LockError> for Attempt {
    fn from(e: LockError) -> Self {
        Self::Failed(e)
    }
}

/// Opens the lock file without following a symbolic link and without blocking on
/// a FIFO, and refuses it unless it is a regular file with a single link. Nothing
/// is written.
///
/// # Errors
/// [`Attempt::Replaced`] when the file opened was deleted or replaced before it
/// was looked at; [`LockError::NotARegularFile`] when something else is at `path`;
/// [`LockError::Io`] when it cannot be opened (for `ReadOnly`, `NotFound` when it
/// does not exist).
pub(crate) fn open_checked(path: &Path, access: Access) -> Result<File, Attempt> {
    let mut options = OpenOptions::new();
    options
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    if access == Access::ReadWrite {
        options.write(true).create(true).truncate(false);
    }
    let file = options.open(path).map_err(|source| {
        match refusal(path) {
            // The open failed because of what is there (ELOOP for a symbolic link,
            // EISDIR for a directory): say what it is.
            Some(what) => LockError::NotARegularFile {
                path: path.to_path_buf(),
                what,
            },
            None => io_error(path, source),
        }
    })?;
    let meta = file.metadata().map_err(|source| io_error(path, source))?;
    // Unlinked between the open and the fstat: see the module's doc.
    if meta.is_file() && meta.nlink() == 0 {
        return Err(Attempt::Replaced);
    }
    if let Some(what) = not_regular(&meta) {
        return Err(LockError::NotARegularFile {
            path: path.to_path_buf(),
            what,
        }
        .into());
    }
    Ok(file)
}

/// The lock file at `path`, opened `ReadOnly` to read its status; `None` when
/// there is none: missing, or deleted as it was opened.
///
/// # Errors
/// As [`open_checked`], but for a missing file.
pub(crate) fn open_existing(path: &Path) -> Result<Option<File>, LockError> {
    match open_checked(path, Access::ReadOnly) {
        Ok(file) => Ok(Some(file)),
        Err(Attempt::Failed(LockError::Io { source, .. }))
            if source.kind() == io::ErrorKind::NotFound =>
        {
            Ok(None)
        }
        Err(Attempt::Replaced) => Ok(None),
        Err(Attempt::Failed(e)) => Err(e),
    }
}

/// What is at `path` when it is not something to lock.
fn refusal(path: &Path) -> Option<String> {
    std::fs::symlink_metadata(path)
        .ok()
        .and_then(|meta| not_regular(&meta))
}

/// Why a file with this metadata is refused, or `None` for a regular file with
/// one link.
fn not_regular(meta: &std::fs::Metadata) -> Option<String> {
    let kind = meta.file_type();
    let what = if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else if meta.nlink() != 1 {
        return Some(format!(
            "a file with {} hard links (it may be another file's)",
            meta.nlink()
        ));
    } else {
        return None;
    };
    Some(what.to_string())
}

pub(crate) fn io_error(path: &Path, source: io::Error) -> LockError {
    LockError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(path: &Path, access: Access) -> String {
        match open_checked(path, access) {
            Err(Attempt::Failed(LockError::NotARegularFile { what, .. })) => what,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn symlinks_fifos_directories_and_hard_links_are_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let link = dir.path().join("link.lock");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert_eq!(refused(&link, Access::ReadWrite), "a symbolic link");
        assert_eq!(refused(&link, Access::ReadOnly), "a symbolic link");

        let dangling = dir.path().join("dangling.lock");
        std::os::unix::fs::symlink(dir.path().join("created-through-it"), &dangling).unwrap();
        assert_eq!(refused(&dangling, Access::ReadWrite), "a symbolic link");
        assert!(!dir.path().join("created-through-it").exists());

        let fifo = dir.path().join("fifo.lock");
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        assert_eq!(refused(&fifo, Access::ReadOnly), "a FIFO");
        assert_eq!(refused(&fifo, Access::ReadWrite), "a FIFO");

        let subdir = dir.path().join("dir.lock");
        std::fs::create_dir(&subdir).unwrap();
        assert_eq!(refused(&subdir, Access::ReadOnly), "a directory");
        assert_eq!(refused(&subdir, Access::ReadWrite), "a directory");

        let hard = dir.path().join("hard.lock");
        std::fs::hard_link(&victim, &hard).unwrap();
        assert!(refused(&hard, Access::ReadWrite).contains("2 hard links"));

        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    }
}
