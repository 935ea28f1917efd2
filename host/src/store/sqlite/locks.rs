//! SQLite's own locks on a database, as the kernel lists them (`/proc/locks`, on
//! Linux): who holds an exclusive lock when the database was busy, for the
//! timeout's holder line.
//!
//! The files are looked up by path (`lstat`) and never opened. Closing any
//! descriptor of a file drops every POSIX lock that the closing process holds on
//! it, so opening and closing the database's files in a process that has the
//! database open would release SQLite's own locks under its connections
//! (<https://www.sqlite.org/howtocorrupt.html>, 2.2). `lstat` also neither
//! follows a symbolic link nor blocks on a FIFO planted there, and creates nothing.
//! Elsewhere than on Linux nothing is known, and the answers are `None`.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::lock::describe_process;
use crate::lock::proc_locks::{self, Holder, LockKind};

/// Another process holding an exclusive SQLite lock on the database at `db` (in
/// WAL mode, on its `-shm` file), described, if the kernel says.
pub(crate) fn busy_holder(db: &Path) -> Option<String> {
    let me = std::process::id();
    [shm_path(db), db.to_path_buf()]
        .iter()
        .flat_map(|file| exclusive_holders(file))
        .find_map(|holder| holder.pid.filter(|pid| *pid != me))
        .map(|pid| {
            describe_process(
                pid,
                "it holds SQLite's own lock on the database, outside records-host's write lock",
            )
        })
}

/// The `-shm` file of the database at `db`: its name with `-shm` appended.
fn shm_path(db: &Path) -> PathBuf {
    let mut shm = db.as_os_str().to_owned();
    shm.push("-shm");
    PathBuf::from(shm)
}

/// The exclusive record locks on the regular file at `path`, by its device and
/// inode; none when something else is there, or the platform does not say.
fn exclusive_holders(path: &Path) -> impl Iterator<Item = Holder> {
    std::fs::symlink_metadata(path)
        .ok()
        .filter(std::fs::Metadata::is_file)
        .and_then(|meta| proc_locks::holders_of(meta.dev(), meta.ino(), LockKind::Record))
        .into_iter()
        .flatten()
        .filter(|holder| holder.exclusive)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// A FIFO where the `-shm` file should be is neither opened (which would
    /// hang) nor taken for a lock holder.
    #[test]
    fn a_fifo_as_shm_file_is_not_opened() {
        let dir = tempfile::tempdir().unwrap();
        let db_path = dir.path().join("app.db");
        let shm = shm_path(&db_path);
        let c_path = std::ffi::CString::new(shm.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        assert_eq!(busy_holder(&db_path), None);
    }
}
