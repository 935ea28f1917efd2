//! The holder of a lock file that was deleted or replaced while it was held.
//!
//! A writer keeps the flock of the file it opened. When another program deletes
//! that file (or renames another over it), the writer still holds the flock, and
//! the write it guards goes on, but a status read by path meets a missing file,
//! or a new one nobody has locked, and would say `free`. On Linux the holder can
//! still be found: `/proc/locks` lists its flock by the unlinked file's device
//! and inode, and among the holder's descriptors (`/proc/<pid>/fd`) one links to
//! `<the lock file's path> (deleted)` with that inode. Elsewhere nothing is known.
//!
//! Only processes holding an exclusive flock on the lock file's device are
//! looked at, and only their descriptors; reading another user's
//! `/proc/<pid>/fd` needs that user's rights, so a holder running as someone else
//! is not found (and the status is the flock's, as on other platforms).

use std::path::Path;

use super::holder::describe_process;
use super::status::LockStatus;

/// The status of the lock at `path` when the file there is missing or unlocked:
/// `Held` by a process that still holds the file that was there, else `Free`.
pub(crate) fn status(path: &Path) -> LockStatus {
    let Some(pid) = holder(path) else {
        return LockStatus::Free;
    };
    let what = if std::fs::symlink_metadata(path).is_ok() {
        "replaced"
    } else {
        "deleted"
    };
    LockStatus::Held {
        holder: describe_process(
            pid,
            &format!("it holds the lock, though the lock file was {what} while it held it"),
        ),
    }
}

/// The pid of a process holding an exclusive flock on the file that was at
/// `path` (absolute) before it was deleted or replaced; `None` when there is
/// none, or this platform does not say.
pub(crate) fn holder(path: &Path) -> Option<u32> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let dev = std::fs::metadata(path.parent()?).ok()?.dev();
        let gone = format!("{} (deleted)", path.display());
        super::proc_locks::exclusive_flocks_on(dev)?
            .into_iter()
            .find(|&(pid, ino)| has_unlinked(pid, dev, ino, &gone))
            .map(|(pid, _)| pid)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = path;
        None
    }
}

/// Whether process `pid` has a descriptor open on the file `dev`:`ino` that
/// links to `gone` (the path the file had, with ` (deleted)`).
#[cfg(target_os = "linux")]
fn has_unlinked(pid: u32, dev: u64, ino: u64, gone: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.filter_map(Result::ok).any(|fd| {
        let fd = fd.path();
        std::fs::read_link(&fd).is_ok_and(|link| link.as_os_str() == gone)
            && std::fs::metadata(&fd).is_ok_and(|meta| meta.dev() == dev && meta.ino() == ino)
    })
}
