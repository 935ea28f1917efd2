//! The cross-process write lock: an exclusive `flock` on `db.lock` beside the database.
//!
//! A writer first queues behind the other threads of its own process (`queue.rs`),
//! then tries the flock without blocking and backs off between attempts
//! (`backoff.rs`) until a deadline, then fails with [`LockTimeout`], which names
//! the process holding the lock (`holder.rs`). It always makes at least one attempt,
//! and one at its deadline, so a free lock is taken even with a zero timeout. On
//! Linux a few shared words beside the lock make waiting fair between processes
//! (`handoff/`); elsewhere, or with `RECORDS_HOST_LOCK_HANDOFF=off`, waiting is
//! plain backoff.
//!
//! The lock file and its shared-words file sit in data directories that other
//! local users may be able to write, so both are opened without following symbolic
//! links and used only when they are regular files with one link (`open.rs`), and
//! each acquisition checks that the file was not deleted or replaced since it was
//! opened (`file.rs`): a flock on a deleted file excludes nobody, so the writer
//! reopens and tries again.
//!
//! The fast path is a handful of syscalls: each process keeps one open file
//! description per lock file for its lifetime, `flock(LOCK_EX|LOCK_NB)`, one
//! `fstat`, one `pwrite` of a fixed-size holder record, `flock(LOCK_UN)`. When a
//! holder dies, even by `SIGKILL`, the kernel closes its descriptors and drops the
//! lock at once; there is no stale-lock timeout as in lock-directory schemes.
//! Nothing here knows about SQLite or wasm.
mod backoff;
mod error;
mod file;
#[cfg(target_os = "linux")]
mod handoff;
#[cfg(not(target_os = "linux"))]
#[path = "handoff_portable.rs"]
mod handoff;
mod holder;
mod metrics;
mod open;
pub(crate) mod proc_locks;
mod queue;
mod status;
mod unlinked;
mod write_lock;

pub use self::error::{LockError, LockTimeout};
pub(crate) use self::holder::describe_process;
pub use self::metrics::{LockMetrics, process_lock_metrics};
pub(crate) use self::metrics::{Metrics, metrics_for};
pub use self::status::LockStatus;
pub use self::write_lock::{DEFAULT_LOCK_TIMEOUT, WriteGuard, WriteLock};

#[cfg(test)]
mod tests;
