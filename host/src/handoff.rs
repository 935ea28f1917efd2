//! Fair handoff of the write lock between processes: who waits, and a way to wake
//! them, in a small shared-memory file beside the lock (`db.lock.shm`).
//!
//! Try-and-sleep waiting alone starves waiters: the process that just released the
//! lock is running and takes it again within microseconds, while the others sleep
//! through their backoff and wake to find it taken again. A few shared words fix
//! that:
//!
//! - futexes: a waiter sleeps on the futex of its ticket's slot for at most its
//!   backoff pause, and a handoff (below) wakes the waiter whose turn it is at
//!   once, so the backoff bounds each sleep but does not delay a handoff. (`seq`,
//!   bumped on every release, serves waiters without a ticket.)
//! - tickets: a writer that has to wait takes the next ticket and sets its bit in
//!   `outstanding`; the oldest outstanding ticket (the first set bit among the last
//!   64 handed out) is the one whose turn it is. Only that waiter tries the lock;
//!   the others sleep.
//! - `handoff`: a process that has held the lock continuously for a lease (1 ms)
//!   while others wait sets it on release; while it is set, a writer arriving fresh
//!   (the process that just handed over included) does not try the lock but takes
//!   a ticket, so the oldest waiter gets it. Waiters are served in arrival order,
//!   so a waiter waits about one lease per process ahead of it.
//!
//! The flock remains the lock: these words only decide who tries when, and every
//! waiter tries regardless once it has waited [`STALE`] or reaches its deadline. So
//! a process that dies holding a ticket delays the others by at most `STALE` once
//! (the waiter that then takes the lock out of turn clears the dead ticket); it
//! never blocks them. Uncontended writes touch only the shared words, never a
//! futex syscall. At most 64 processes hold tickets at once; beyond that a waiter
//! waits without one (plain backoff).

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// The shared words, at the start of the mapped file.
#[repr(C)]
struct Words {
    seq: AtomicU32,
    handoff: AtomicU32,
    next_ticket: AtomicU32,
    /// Bit `t % 64` is set while ticket `t` waits.
    outstanding: AtomicU64,
    /// One futex per ticket slot, so a handoff wakes exactly the waiter whose
    /// turn it is (waking all of them would make it compete for a CPU with the
    /// others, which only go back to sleep).
    slots: [AtomicU32; 64],
}

/// How long a waiter respects the queue before it tries out of turn: the bound on
/// what a crashed (or stalled) ticket holder can cost the others.
pub(crate) const STALE: Duration = Duration::from_millis(25);

/// A waiter's place in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket(u32);

impl Ticket {
    fn bit(self) -> u64 {
        1 << (self.0 % 64)
    }
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
        // self, and Words is atomics only (all zero is a valid value).
        unsafe { self.words.as_ref() }
    }

    /// The futex a waiter with `ticket` sleeps on.
    fn futex(&self, ticket: Option<Ticket>) -> &AtomicU32 {
        let words = self.words();
        ticket.map_or(&words.seq, |t| &words.slots[(t.0 % 64) as usize])
    }

    /// The futex value to wait on: read it before trying the lock, so a wake-up
    /// between the try and the wait is not missed.
    pub(crate) fn seq(&self, ticket: Option<Ticket>) -> u32 {
        self.futex(ticket).load(Ordering::Acquire)
    }

    /// Whether a fresh writer should let the waiters go first.
    pub(crate) fn handing_off(&self) -> bool {
        self.words().handoff.load(Ordering::Acquire) != 0
    }

    /// Joins the queue; `None` when 64 tickets are out already.
    pub(crate) fn take_ticket(&self) -> Option<Ticket> {
        let words = self.words();
        let ticket = Ticket(words.next_ticket.fetch_add(1, Ordering::AcqRel));
        let before = words.outstanding.fetch_or(ticket.bit(), Ordering::AcqRel);
        if before & ticket.bit() != 0 {
            // The slot belongs to a ticket 64 places ahead (or a dead one): wait
            // without a place rather than share it.
            return None;
        }
        Some(ticket)
    }

    /// The oldest outstanding ticket: the first set bit among the last 64 tickets
    /// handed out.
    fn turn(&self) -> Option<Ticket> {
        let words = self.words();
        let bits = words.outstanding.load(Ordering::Acquire);
        let base = words.next_ticket.load(Ordering::Acquire).wrapping_sub(64);
        (0..64)
            .map(|i| Ticket(base.wrapping_add(i)))
            .find(|t| bits & t.bit() != 0)
    }

    /// Whether `ticket` is the oldest waiting one.
    pub(crate) fn is_turn(&self, ticket: Ticket) -> bool {
        self.turn() == Some(ticket)
    }

    /// Whether `ticket` is still in the queue (a waiter that went stale may have
    /// removed it, presuming its holder dead; it then takes a new one).
    pub(crate) fn holds(&self, ticket: Ticket) -> bool {
        self.words().outstanding.load(Ordering::Acquire) & ticket.bit() != 0
    }

    /// Leaves the queue: `acquired` or gave up. A waiter that took the lock out of
    /// turn because the queue was stale removes the ticket it skipped, presumed
    /// dead (if it was not, its waiter takes a new ticket).
    pub(crate) fn done(&self, ticket: Ticket, acquired: bool, stale: bool) {
        let words = self.words();
        if acquired {
            if let (true, Some(skipped)) = (stale, self.turn().filter(|t| *t != ticket)) {
                words
                    .outstanding
                    .fetch_and(!skipped.bit(), Ordering::AcqRel);
            }
            words.handoff.store(0, Ordering::Release);
        }
        words.outstanding.fetch_and(!ticket.bit(), Ordering::AcqRel);
        // The next waiter in line has been sleeping until its turn: wake it so it
        // starts trying (with backoff) while this one holds the lock.
        if let Some(next) = self.turn() {
            self.wake(next);
        }
    }

    /// Wakes the waiter holding `ticket`.
    fn wake(&self, ticket: Ticket) {
        let futex = self.futex(Some(ticket));
        futex.fetch_add(1, Ordering::AcqRel);
        // SAFETY: FUTEX_WAKE on a live, aligned u32 in shared memory.
        unsafe {
            libc::syscall(libc::SYS_futex, futex.as_ptr(), libc::FUTEX_WAKE, 1);
        }
    }

    /// Sleeps until a wake-up changes the futex of `ticket` from `seen`, or
    /// `pause` passes.
    pub(crate) fn wait(&self, ticket: Option<Ticket>, seen: u32, pause: Duration) {
        let timeout = libc::timespec {
            tv_sec: pause.as_secs() as libc::time_t,
            tv_nsec: pause.subsec_nanos().into(),
        };
        // SAFETY: FUTEX_WAIT on a live, aligned u32 in shared memory (not
        // FUTEX_PRIVATE: other processes wake it), with a valid relative timeout.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                self.futex(ticket).as_ptr(),
                libc::FUTEX_WAIT,
                seen,
                &timeout as *const libc::timespec,
            );
        }
    }

    /// After unlocking: bumps `seq`; when the lease is over and processes wait,
    /// asks fresh writers to let the waiters go first and wakes the waiter whose
    /// turn it is. Returns whether it handed over. Within a lease nobody is woken:
    /// a woken waiter would only find the lock taken again, and on few cores the
    /// wake-up itself steals time from the writer.
    pub(crate) fn released(&self, lease_over: bool) -> bool {
        let words = self.words();
        words.seq.fetch_add(1, Ordering::AcqRel);
        if !lease_over || words.outstanding.load(Ordering::Acquire) == 0 {
            return false;
        }
        words.handoff.store(1, Ordering::Release);
        if let Some(turn) = self.turn() {
            self.wake(turn);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn handoff(dir: &tempfile::TempDir) -> Handoff {
        Handoff::open(&dir.path().join("db.lock")).expect("mappable")
    }

    #[test]
    fn waiters_are_served_in_arrival_order_and_processes_share_the_words() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (handoff(&dir), handoff(&dir));
        let first = a.take_ticket().unwrap();
        let second = b.take_ticket().unwrap();
        let third = a.take_ticket().unwrap();
        assert!(a.is_turn(first) && b.is_turn(first));
        assert!(!b.is_turn(second) && !a.is_turn(third));
        b.done(first, true, false);
        assert!(a.is_turn(second), "the next in line");
        a.done(second, false, false);
        assert!(b.is_turn(third), "a waiter that gave up leaves the line");
    }

    #[test]
    fn a_stale_waiter_skips_a_dead_ticket_and_the_skipped_waiter_notices() {
        let dir = tempfile::tempdir().unwrap();
        let h = handoff(&dir);
        let dead = h.take_ticket().unwrap();
        let alive = h.take_ticket().unwrap();
        assert!(!h.is_turn(alive));
        h.done(alive, true, true);
        assert!(!h.holds(dead), "the ticket it jumped is presumed dead");
        assert_eq!(h.turn(), None);
    }

    #[test]
    fn handoff_is_requested_only_when_a_lease_is_over_and_someone_waits() {
        let dir = tempfile::tempdir().unwrap();
        let h = handoff(&dir);
        assert!(!h.released(true), "nobody waits");
        let waiter = h.take_ticket().unwrap();
        assert!(!h.released(false), "within the lease");
        assert!(!h.handing_off());
        let seen = h.seq(Some(waiter));
        assert!(h.released(true));
        assert!(h.handing_off());
        assert_ne!(h.seq(Some(waiter)), seen, "the waiter in turn was woken");
        h.done(waiter, true, false);
        assert!(!h.handing_off(), "taken by the waiter");
    }
}
