//! Fair handoff of the write lock between processes (Linux): who waits, and a way
//! to wake them, in a small shared file beside the lock (`db.lock.shm`).
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
//!   a ticket, so the oldest waiter gets it.
//!
//! The flock remains the lock: these words only decide who tries when, so nothing
//! in them is trusted for exclusion, and nothing in them can make a writer fail.
//! Every waiter tries regardless once it has waited [`STALE`] and at its deadline;
//! a waiter refreshes a heartbeat in its slot, and each new holder drops the
//! tickets whose heartbeat stopped (dead waiters) and clears a handoff nobody is
//! left to take. The file starts with a header (magic and layout version): a file
//! of another layout is not used, and a holder resets one that is not
//! records-host's at all. The page itself is mapped so that truncating the file,
//! or a full disk, cannot kill the process (see `page.rs`).
//!
//! `RECORDS_HOST_LOCK_HANDOFF=off` in the environment turns it off (plain backoff,
//! as on platforms other than Linux), so that mode can be tested here.

mod page;

use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use self::page::{FILE_LEN, SharedPage};
use super::error::LockError;
use super::open::{Access, Attempt, open_checked};

/// The shared words, at the start of the mapped file.
#[repr(C)]
struct Words {
    /// [`HEADER`] when the words below are in this layout.
    header: AtomicU64,
    seq: AtomicU32,
    handoff: AtomicU32,
    next_ticket: AtomicU32,
    _reserved: AtomicU32,
    /// Bit `t % 64` is set while ticket `t` waits.
    outstanding: AtomicU64,
    /// Acquisitions so far, by every process: a holder whose previous acquisition
    /// was the last one knows that the holder record in the file is still its own.
    acquisitions: AtomicU64,
    /// One per ticket slot, so a handoff wakes exactly the waiter whose turn it is
    /// (waking all of them would make it compete for a CPU with the others, which
    /// only go back to sleep).
    slots: [Slot; 64],
}

#[repr(C)]
struct Slot {
    futex: AtomicU32,
    _reserved: AtomicU32,
    /// When the waiter of this slot was last seen alive (`CLOCK_MONOTONIC`, ms).
    heartbeat_ms: AtomicU64,
}

const _: () = assert!(std::mem::size_of::<Words>() <= FILE_LEN);

/// `RHLQ`: a records-host lock queue.
const MAGIC: u64 = u32::from_le_bytes(*b"RHLQ") as u64;
/// This layout. (Version 1 had no header.)
const LAYOUT_VERSION: u64 = 2;
const HEADER: u64 = MAGIC | (LAYOUT_VERSION << 32);

/// How long a waiter respects the queue before it tries out of turn: the bound on
/// what a crashed (or stalled) ticket holder can cost the others.
pub(crate) const STALE: Duration = Duration::from_millis(25);

/// A waiter whose heartbeat is this old is presumed dead: its ticket is dropped.
/// (A live waiter refreshes it at least every [`STALE`].)
const DEAD_AFTER_MS: u64 = 4 * STALE.as_millis() as u64;

/// A waiter's place in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket(u32);

impl Ticket {
    fn bit(self) -> u64 {
        1 << (self.0 % 64)
    }

    fn slot(self) -> usize {
        (self.0 % 64) as usize
    }
}

/// This process's mapping of a lock's shared words.
#[derive(Debug)]
pub(crate) struct Handoff {
    page: SharedPage,
}

/// Whether handoff is on in this process (`RECORDS_HOST_LOCK_HANDOFF=off` turns
/// it off).
fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| {
        std::env::var_os("RECORDS_HOST_LOCK_HANDOFF").is_none_or(|v| v != "off" && v != "0")
    })
}

impl Handoff {
    /// Maps `<lock path>.shm`, creating it. `Ok(None)` when it cannot be used
    /// (handoff turned off, no space, no mapping): the lock then works with plain
    /// backoff.
    ///
    /// # Errors
    /// [`LockError::NotARegularFile`] when something other than a regular file is
    /// at that path (a planted symbolic link): it is refused, not followed.
    pub(crate) fn open(lock_path: &Path) -> Result<Option<Self>, LockError> {
        if !enabled() {
            return Ok(None);
        }
        let mut path = lock_path.as_os_str().to_owned();
        path.push(".shm");
        let file = match open_checked(Path::new(&path), Access::ReadWrite) {
            Ok(file) => file,
            Err(Attempt::Failed(refused @ LockError::NotARegularFile { .. })) => {
                return Err(refused);
            }
            Err(e) => {
                tracing::debug!(error = ?e, "no shared lock words; plain backoff");
                return Ok(None);
            }
        };
        match SharedPage::map(file) {
            Ok(page) => {
                let handoff = Self { page };
                let _ = handoff.words().header.compare_exchange(
                    0,
                    HEADER,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                Ok(Some(handoff))
            }
            Err(e) => {
                tracing::debug!(path = ?path, error = %e, "cannot map the shared lock words; plain backoff");
                Ok(None)
            }
        }
    }

    fn words(&self) -> &Words {
        // SAFETY: the page is page-aligned, at least FILE_LEN bytes, lives as long
        // as self, and Words is atomics only (any bit pattern is a valid value).
        unsafe { self.page.ptr().cast::<Words>().as_ref() }
    }

    /// Whether the words can be used: in this layout, and still shared.
    fn usable(&self) -> bool {
        self.words().header.load(Ordering::Acquire) == HEADER && !self.page.detached()
    }

    /// The futex a waiter with `ticket` sleeps on.
    fn futex(&self, ticket: Option<Ticket>) -> &AtomicU32 {
        let words = self.words();
        ticket.map_or(&words.seq, |t| &words.slots[t.slot()].futex)
    }

    /// The futex value to wait on: read it before trying the lock, so a wake-up
    /// between the try and the wait is not missed.
    pub(crate) fn seq(&self, ticket: Option<Ticket>) -> u32 {
        self.futex(ticket).load(Ordering::Acquire)
    }

    /// Whether a fresh writer should let the waiters go first.
    pub(crate) fn handing_off(&self) -> bool {
        self.usable() && self.words().handoff.load(Ordering::Acquire) != 0
    }

    /// Joins the queue; `None` when 64 tickets are out already or the words are
    /// not usable.
    pub(crate) fn take_ticket(&self) -> Option<Ticket> {
        if !self.usable() {
            return None;
        }
        let words = self.words();
        let ticket = Ticket(words.next_ticket.fetch_add(1, Ordering::AcqRel));
        // Alive before queued, so a holder never drops it for an old heartbeat.
        words.slots[ticket.slot()]
            .heartbeat_ms
            .store(now_ms(), Ordering::Release);
        let before = words.outstanding.fetch_or(ticket.bit(), Ordering::AcqRel);
        if before & ticket.bit() != 0 {
            // The slot belongs to a ticket 64 places ahead (or a dead one): wait
            // without a place rather than share it.
            return None;
        }
        Some(ticket)
    }

    /// Says that the waiter of `ticket` is alive.
    pub(crate) fn heartbeat(&self, ticket: Ticket) {
        self.words().slots[ticket.slot()]
            .heartbeat_ms
            .store(now_ms(), Ordering::Release);
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

    /// Whether `ticket` is still in the queue (a holder or a stale waiter may have
    /// dropped it, presuming its waiter dead; the waiter then takes a new one).
    pub(crate) fn holds(&self, ticket: Ticket) -> bool {
        self.usable() && self.words().outstanding.load(Ordering::Acquire) & ticket.bit() != 0
    }

    /// Leaves the queue: `acquired` or gave up. A waiter that took the lock out of
    /// turn because the queue was stale removes the ticket it skipped, presumed
    /// dead (if it was not, its waiter takes a new ticket).
    pub(crate) fn done(&self, ticket: Ticket, acquired: bool, stale: bool) {
        if !self.usable() {
            return;
        }
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

    /// Run by every new holder: makes the words trustworthy again. A file that is
    /// not records-host's (no magic) is reset; the tickets of waiters whose
    /// heartbeat stopped are dropped; a handoff flag with nobody left to take it
    /// is cleared. Costs a few loads when there is nothing to repair.
    pub(crate) fn repair(&self) {
        if self.page.detached() {
            return;
        }
        let words = self.words();
        let header = words.header.load(Ordering::Acquire);
        if header != HEADER {
            if header & 0xffff_ffff == MAGIC {
                // Another layout of records-host: not ours to change.
                return;
            }
            self.reset();
            return;
        }
        let outstanding = words.outstanding.load(Ordering::Acquire);
        if outstanding != 0 {
            let now = now_ms();
            for slot in (0..64).filter(|slot| outstanding & (1 << slot) != 0) {
                let seen = words.slots[slot].heartbeat_ms.load(Ordering::Acquire);
                if now.saturating_sub(seen) > DEAD_AFTER_MS {
                    words.outstanding.fetch_and(!(1 << slot), Ordering::AcqRel);
                }
            }
        }
        if words.outstanding.load(Ordering::Acquire) == 0
            && words.handoff.load(Ordering::Acquire) != 0
        {
            words.handoff.store(0, Ordering::Release);
        }
    }

    /// Counts an acquisition (by the process that just took the lock) and returns
    /// the count, or `None` when the words are not usable.
    pub(crate) fn count_acquisition(&self) -> Option<u64> {
        self.usable()
            .then(|| self.words().acquisitions.fetch_add(1, Ordering::AcqRel) + 1)
    }

    /// Zeroes every word, then marks the file as this layout.
    fn reset(&self) {
        let words = self.words();
        words.header.store(0, Ordering::Release);
        for word in [&words.seq, &words.handoff, &words.next_ticket] {
            word.store(0, Ordering::Release);
        }
        words.outstanding.store(0, Ordering::Release);
        words.acquisitions.store(0, Ordering::Release);
        for slot in &words.slots {
            slot.futex.store(0, Ordering::Release);
            slot.heartbeat_ms.store(0, Ordering::Release);
        }
        words.header.store(HEADER, Ordering::Release);
        tracing::info!("reset shared lock words that were not records-host's");
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
        // On a page the file no longer backs it fails with EFAULT at once, and the
        // caller's loop goes on with plain backoff.
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
        if !self.usable() {
            return false;
        }
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

/// `CLOCK_MONOTONIC` in milliseconds: the same clock in every process.
fn now_ms() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid pointer; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    (now.tv_sec as u64) * 1000 + (now.tv_nsec as u64) / 1_000_000
}

#[cfg(test)]
mod tests;
