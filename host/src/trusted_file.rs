//! Opening a file that grants access (a tokens file) or runs as code (a
//! compiled-plugin cache entry): only when nobody but this process's user can
//! have written it.
//!
//! Such a file may sit in a directory that other local users can write, so its
//! path is opened without following a symbolic link in its last component (a link
//! planted there must not redirect the read) and without blocking (a FIFO planted
//! there must not hang the reader); then the opened file, not the path, is
//! checked: a regular file, owned by this user, not writable by group or others,
//! and, for a read, no larger than a bound (`/dev/zero` or a growing file must not
//! exhaust memory). No crate does this check on the opened descriptor.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Why a file was not trusted or could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UntrustedFile {
    /// The path could not be opened (missing, permissions, a symbolic link).
    #[error("cannot open {}: {}", path.display(), reason(source))]
    Open {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// It is not a regular file, or someone other than this user could have
    /// written it.
    #[error("{} is not trusted: {why}", path.display())]
    NotTrusted {
        /// The file.
        path: PathBuf,
        /// Which rule it broke.
        why: String,
    },
    /// It is larger than the bound.
    #[error("{} is larger than {max} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The bound.
        max: u64,
    },
    /// Reading it failed.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
}

/// `ELOOP` from `O_NOFOLLOW` means a symbolic link: say so in words.
fn reason(source: &io::Error) -> String {
    if source.raw_os_error() == Some(libc::ELOOP) {
        "it is a symbolic link, which is not followed".into()
    } else {
        source.to_string()
    }
}

/// Opens `path` without following a symbolic link and without blocking, and
/// returns it when it is a regular file that only this user can have written.
///
/// # Errors
/// [`UntrustedFile::Open`] when it cannot be opened (a symbolic link included);
/// [`UntrustedFile::NotTrusted`] when it is not a regular file, belongs to
/// another user, or group or others may write it.
pub fn open_trusted(path: &Path) -> Result<(File, Metadata), UntrustedFile> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|source| UntrustedFile::Open {
            path: path.to_path_buf(),
            source,
        })?;
    let meta = file.metadata().map_err(|source| UntrustedFile::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let checked = if meta.is_file() {
        only_ours(&meta)
    } else {
        Err("it is not a regular file".into())
    };
    checked.map_err(|why| UntrustedFile::NotTrusted {
        path: path.to_path_buf(),
        why,
    })?;
    Ok((file, meta))
}

/// The bytes of `path`, when [`open_trusted`] trusts it and it holds at most
/// `max` bytes (checked before and while reading: the file may grow).
///
/// # Errors
/// As [`open_trusted`]; [`UntrustedFile::TooLarge`] over `max` bytes;
/// [`UntrustedFile::Read`] when reading fails.
pub fn read_trusted(path: &Path, max: u64) -> Result<Vec<u8>, UntrustedFile> {
    let (file, meta) = open_trusted(path)?;
    let too_large = || UntrustedFile::TooLarge {
        path: path.to_path_buf(),
        max,
    };
    if meta.len() > max {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| UntrustedFile::Read {
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > max {
        return Err(too_large());
    }
    Ok(bytes)
}

/// `Err` with the reason unless a file with `meta` belongs to this user and
/// nobody else may write it.
pub(crate) fn only_ours(meta: &Metadata) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(format!("it belongs to uid {}, not {me}", meta.uid()));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "group or others may write it (mode {:o})",
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn refused(path: &Path) -> String {
        match read_trusted(path, 1 << 20) {
            Ok(_) => panic!("{} was trusted", path.display()),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_private_regular_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        std::fs::write(&path, b"acme 00\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_trusted(&path, 8).unwrap(), b"acme 00\n");
        assert!(matches!(
            read_trusted(&path, 7),
            Err(UntrustedFile::TooLarge { max: 7, .. })
        ));
    }

    #[test]
    fn links_fifos_devices_and_writable_files_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, b"x").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(refused(&link).contains("symbolic link"));

        let fifo = dir.path().join("fifo");
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        assert!(refused(&fifo).contains("not a regular file"));
        assert!(refused(Path::new("/dev/zero")).contains("not a regular file"));
        assert!(refused(dir.path()).contains("not a regular file"));

        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(refused(&target).contains("group or others may write it (mode 666)"));
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o620)).unwrap();
        assert!(refused(&target).contains("mode 620"));
    }
}
