//! The lock file: opened without following symbolic links, used only when it is a
//! regular file with a single link, and reopened when it is deleted or replaced.
//!
//! The lock file sits in a data directory that other local users may be able to
//! write. A symbolic link planted there must not make records-host write a holder
//! record into the file it points to, a FIFO must not hang it, and a directory must
//! not pass for a free lock. Each process keeps one open file description per lock
//! file for its lifetime (opening and closing it per write cost more than the write
//! itself) and checks on every acquisition, with one `fstat`, that the file still
//! has its one link: a flock on a deleted file excludes nobody.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use super::handoff::Handoff;
use super::holder::LastRecord;
use super::metrics::{Metrics, metrics_for};
use super::open::{Access, Attempt, io_error, open_checked};
use super::queue::Queue;
use crate::sync::locked;

/// This process's handle on one lock file: the open file description that holds
/// the flock, the queue of this process's threads in front of it, the shared words
/// for fair handoff between processes (when usable), and counters.
#[derive(Debug)]
pub(crate) struct LockFile {
    path: PathBuf,
    pub(crate) file: File,
    /// Device and inode of the file opened, to notice a replaced lock file.
    identity: (u64, u64),
    pub(crate) queue: Queue,
    pub(crate) handoff: Option<Handoff>,
    pub(crate) metrics: Arc<Metrics>,
    /// The holder record this process wrote last.
    pub(crate) last_record: LastRecord,
}

/// Every lock file this process has open, by path, so all handles share one.
static OPEN_LOCK_FILES: OnceLock<Mutex<HashMap<PathBuf, Weak<LockFile>>>> = OnceLock::new();

impl LockFile {
    /// This process's handle on the lock file at `path` (absolute), opening or
    /// creating it when no live handle names the file there now.
    ///
    /// # Errors
    /// [`Attempt::Replaced`] when the file opened was deleted or replaced at once;
    /// otherwise as [`open_checked`].
    pub(crate) fn shared(path: &Path) -> Result<Arc<Self>, Attempt> {
        let mut open = locked(OPEN_LOCK_FILES.get_or_init(Default::default));
        if let Some(file) = open.get(path).and_then(Weak::upgrade)
            && file.is_at(path)
        {
            return Ok(file);
        }
        let file = open_checked(path, Access::ReadWrite)?;
        let meta = file.metadata().map_err(|source| io_error(path, source))?;
        let shared = Arc::new(Self {
            path: path.to_path_buf(),
            file,
            identity: (meta.dev(), meta.ino()),
            queue: Queue::default(),
            handoff: Handoff::open(path)?,
            metrics: metrics_for(&path.to_string_lossy()),
            last_record: LastRecord::default(),
        });
        open.retain(|_, weak| weak.strong_count() > 0);
        open.insert(path.to_path_buf(), Arc::downgrade(&shared));
        Ok(shared)
    }

    /// The lock file's (absolute) path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the open file still has its one link: `false` once it was deleted
    /// (or linked elsewhere), when a flock on it would exclude nobody. One `fstat`.
    pub(crate) fn still_linked(&self) -> bool {
        link_count(&self.file) == Some(1)
    }

    /// Whether `path` names the file this handle has open.
    pub(crate) fn is_at(&self, path: &Path) -> bool {
        std::fs::symlink_metadata(path)
            .is_ok_and(|meta| (meta.dev(), meta.ino()) == self.identity && meta.nlink() == 1)
    }
}

/// The number of links of the open `file`. On Linux this asks `statx` for the
/// link count only: a full `fstat` also reads the timestamps, and since Linux 6.13
/// a timestamp that was read makes the next write to the file update it at fine
/// granularity, which made every holder-record write that followed an `fstat` dirty
/// the inode (measured: `fstat` + `pwrite` 2.1 us, `statx(STATX_NLINK)` + `pwrite`
/// 1.2 us, `pwrite` alone 0.7 us).
fn link_count(file: &File) -> Option<u64> {
    use std::os::fd::AsRawFd;
    #[cfg(target_os = "linux")]
    {
        // SAFETY: an all-zero statx is a valid value for the kernel to fill.
        let mut stx: libc::statx = unsafe { std::mem::zeroed() };
        // SAFETY: statx of an open descriptor (empty path) into a valid buffer.
        let done = unsafe {
            libc::statx(
                file.as_raw_fd(),
                c"".as_ptr(),
                libc::AT_EMPTY_PATH,
                libc::STATX_NLINK,
                &mut stx,
            )
        };
        (done == 0 && stx.stx_mask & libc::STATX_NLINK != 0).then_some(u64::from(stx.stx_nlink))
    }
    #[cfg(not(target_os = "linux"))]
    {
        // SAFETY: an all-zero stat is a valid value for fstat to fill.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fstat of an open descriptor into a valid buffer.
        let done = unsafe { libc::fstat(file.as_raw_fd(), &mut stat) };
        (done == 0).then_some(stat.st_nlink as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deleted_lock_file_is_noticed_by_its_link_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.lock");
        let file = LockFile::shared(&path).unwrap();
        assert!(file.still_linked() && file.is_at(&path));
        std::fs::remove_file(&path).unwrap();
        assert!(!file.still_linked());
        std::fs::write(&path, b"").unwrap();
        assert!(!file.is_at(&path));
        let reopened = LockFile::shared(&path).unwrap();
        assert!(reopened.still_linked() && reopened.is_at(&path));
    }
}
