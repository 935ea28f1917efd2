//! SQLite's own locks on a database, as the kernel lists them (`/proc/locks`, on
//! Linux): who holds its write transaction, for `lock-status`, and who holds an
//! exclusive lock when the database was busy, for the timeout's holder line.
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

use crate::lock::proc_locks::{self, Holder, LockKind};
use crate::lock::{LockError, LockStatus, WriteLock, describe_process};

/// The byte of the `-shm` file that a WAL-mode write transaction holds exclusively
/// from `BEGIN IMMEDIATE` (or its first write) to its end: `WALINDEX_LOCK_OFFSET`
/// in SQLite's `wal.c`, the WAL_WRITE_LOCK. (121 is the checkpoint lock, 122
/// recovery's, 123 to 127 the readers'.)
const WAL_WRITE_LOCK: u64 = 120;

/// The status of the write lock of the database at `db` (resolved), whose lock is
/// `lock`: the flock's, except that a write transaction holding SQLite's write
/// lock makes it `Held` while the lock file is missing or unlocked (deleted or
/// replaced under the transaction: no other writer gets in, since SQLite's lock
/// stops it, and the status says so). Where the kernel does not list record locks
/// (other than Linux), it is the flock's alone.
///
/// # Errors
/// As [`WriteLock::status`].
pub(crate) fn lock_status(db: &Path, lock: &WriteLock) -> Result<LockStatus, LockError> {
    let status = lock.status()?;
    if status != LockStatus::Free {
        return Ok(status);
    }
    let Some(writer) = exclusive_holders(&shm_path(db)).find(|h| h.covers(WAL_WRITE_LOCK)) else {
        return Ok(status);
    };
    let lock_file = match std::fs::symlink_metadata(lock.path()) {
        Ok(_) => "unlocked",
        Err(_) => "missing",
    };
    let why =
        format!("it holds the database's write transaction while the lock file is {lock_file}");
    let holder = match writer.pid {
        Some(pid) => describe_process(pid, &why),
        None => format!("a process outside this pid namespace ({why})"),
    };
    Ok(LockStatus::Held { holder })
}

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
    use crate::store::Database;

    fn lock_of(db: &Path) -> WriteLock {
        WriteLock::for_database(db, std::time::Duration::ZERO)
    }

    /// `Database::lock_status` and the status by path agree: a write transaction
    /// whose lock file was deleted holds the database, and this process (which
    /// has the database open) loses none of SQLite's locks by looking.
    #[test]
    fn a_write_transaction_holds_the_database_without_its_lock_file() {
        let _quiet = crate::lock::proc_locks::quiet_listings();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        let db = Database::open(path.clone()).unwrap();
        let db_path = std::fs::canonicalize(&path).unwrap();
        let txn = db.begin_write().unwrap();
        std::fs::remove_file(dir.path().join("db.lock")).unwrap();
        for status in [
            db.lock_status().unwrap(),
            lock_status(&db_path, &lock_of(&db_path)).unwrap(),
        ] {
            let LockStatus::Held { holder } = status else {
                panic!("held, not {status:?}");
            };
            assert!(
                holder.starts_with(&format!("pid:{} ", std::process::id()))
                    && holder.ends_with("while the lock file is missing)"),
                "{holder}"
            );
        }
        let writer = exclusive_holders(&shm_path(&db_path)).find(|h| h.covers(WAL_WRITE_LOCK));
        assert!(writer.is_some(), "still held after looking twice");
        txn.commit().unwrap();
        assert_eq!(db.lock_status().unwrap(), LockStatus::Free);
        assert!(!dir.path().join("db.lock").exists(), "nothing was created");
    }

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
        assert_eq!(
            lock_status(&db_path, &lock_of(&db_path)).unwrap(),
            LockStatus::Free
        );
        assert_eq!(busy_holder(&db_path), None);
    }
}
