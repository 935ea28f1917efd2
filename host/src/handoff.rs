//! Fair handoff of the write lock between processes: who waits, and a way to wake
//! them, in a small shared-memory file beside the lock (`db.lock.shm`).
//!
//! Try-and-sleep waiting alone starves waiters: the process that just released the
//! lock is running and takes it again within microseconds, while the others sleep
//! through their backoff and wake to find it taken again. Two shared words fix that:
//!
//! - `seq`, bumped on every release, is a futex: a waiter sleeps on it for at most
//!   its backoff pause, and a handoff (below) wakes one of them at once, so the
//!   backoff bounds each sleep but does not delay a handoff.
//! - `waiters` and `handoff`: a process that has held the lock continuously for a
//!   lease (1 ms) while others wait sets `handoff` on release; while it is set, a
//!   writer arriving fresh (the process that just handed over included) does not
//!   try the lock but joins the waiters, so one of them gets it. The first waiter
//!   to take the lock clears it.
//!
//! The flock remains the lock: these words only decide who tries when. A process
//! that dies while counted as a waiter leaves `waiters` too high, which only makes
//! releases issue an unneeded wake; a `handoff` left set is cleared by the next
//! waiter that takes the lock, and waiters always retry after their pause.
//! Uncontended writes touch only the shared words, never a futex syscall.

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The shared words, at the start of the mapped file.
#[repr(C)]
struct Words {
    seq: AtomicU32,
    waiters: AtomicU32,
    handoff: AtomicU32,
}

/// How much of the file is mapped.
const MAPPED: usize = 4096;

/// This process's mapping of a lock's shared words.
#[derive(Debug)]
pub(crate) struct Handoff {
    words: NonNull<Words>,
    _file: File,
}

// SAFETY: the mapping is shared memory accessed only through atomics; the pointer
// stays valid until Drop unmaps it, and Handoff is never cloned.
unsafe impl Send for Handoff {}
// SAFETY: as above: all access goes through `&AtomicU32`.
unsafe impl Sync for Handoff {}

impl Handoff {
    /// Maps `<lock path>.shm`, creating it. `None` when the file system cannot
    /// map it; the lock then works without handoff (plain backoff).
    pub(crate) fn open(lock_path: &Path) -> Option<Self> {
        let mut path = lock_path.as_os_str().to_owned();
        path.push(".shm");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .ok()?;
        if file.metadata().ok()?.len() < MAPPED as u64 {
            // Only ever grows: a shrinking file would fault other mappings.
            file.set_len(MAPPED as u64).ok()?;
        }
        use std::os::fd::AsRawFd;
        // SAFETY: mapping MAPPED bytes of a file at least that long, shared; the
        // result is checked before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                MAPPED,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            tracing::debug!(path = ?path, "cannot map the lock's shared words; no fair handoff");
            return None;
        }
        Some(Self {
            words: NonNull::new(ptr.cast())?,
            _file: file,
        })
    }

    fn words(&self) -> &Words {
        // SAFETY: the mapping is page-aligned, MAPPED bytes long, lives as long as
        // self, and Words is three AtomicU32 (zero is a valid value).
        unsafe { self.words.as_ref() }
    }

    /// The futex value to wait on: read it before trying the lock, so a release
    /// between the try and the wait is not missed.
    pub(crate) fn seq(&self) -> u32 {
        self.words().seq.load(Ordering::Acquire)
    }

    /// Whether a fresh writer should let the waiters go first.
    pub(crate) fn handing_off(&self) -> bool {
        self.words().handoff.load(Ordering::Acquire) != 0
    }

    pub(crate) fn start_waiting(&self) {
        self.words().waiters.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn stop_waiting(&self) {
        let _ = self
            .words()
            .waiters
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// A waiter took the lock: fresh writers may try again.
    pub(crate) fn taken_by_waiter(&self) {
        self.words().handoff.store(0, Ordering::Release);
    }

    /// Sleeps until a release changes `seq` from `seen`, or `pause` passes.
    pub(crate) fn wait(&self, seen: u32, pause: Duration) {
        let timeout = libc::timespec {
            tv_sec: pause.as_secs() as libc::time_t,
            tv_nsec: pause.subsec_nanos().into(),
        };
        // SAFETY: FUTEX_WAIT on a live, aligned u32 in shared memory (not
        // FUTEX_PRIVATE: other processes wake it), with a valid relative timeout.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                self.words().seq.as_ptr(),
                libc::FUTEX_WAIT,
                seen,
                &timeout as *const libc::timespec,
            );
        }
    }

    /// After unlocking: bumps `seq`; when the lease is over and processes wait,
    /// asks fresh writers to let the waiters go first and wakes one waiter.
    /// Returns whether it handed over. Within a lease nobody is woken: a woken
    /// waiter would only find the lock taken again, and on few cores the wake-up
    /// itself steals time from the writer.
    pub(crate) fn released(&self, lease_over: bool) -> bool {
        let words = self.words();
        words.seq.fetch_add(1, Ordering::AcqRel);
        if !lease_over || words.waiters.load(Ordering::Acquire) == 0 {
            return false;
        }
        words.handoff.store(1, Ordering::Release);
        // SAFETY: FUTEX_WAKE on a live, aligned u32 in shared memory.
        unsafe {
            libc::syscall(libc::SYS_futex, words.seq.as_ptr(), libc::FUTEX_WAKE, 1);
        }
        true
    }
}

impl Drop for Handoff {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping made in `open`, once.
        unsafe {
            libc::munmap(self.words.as_ptr().cast(), MAPPED);
        }
    }
}
