//! The cross-process write lock: an exclusive `flock` on `db.lock` beside the database.
//!
//! A writer first queues behind the other threads of its own process, then tries the
//! flock without blocking and backs off between attempts until a deadline, then fails
//! with [`LockTimeout`], which names the holder. The holder writes who it is (`pid:`,
//! `time:`, and a caller-chosen label such as the plugin name) into the lock file so
//! that a waiter that gives up can say who it was waiting for.
//!
//! The fast path is a handful of syscalls: each process keeps one open file
//! description per lock file for its lifetime (opening and closing the file per write
//! cost more than the write itself), `flock(LOCK_EX|LOCK_NB)`, one `pwrite` of a
//! fixed-size holder record over the previous one, `flock(LOCK_UN)`; nothing else
//! (the pid is read once, the backoff's random seed only when there is a wait).
//! Because `flock` locks belong to the open file description, threads sharing it
//! would not exclude each other; they queue on a mutex and condition variable in
//! front of the flock instead, which also hands the lock from thread to thread with
//! no sleeping gap.
//!
//! Across processes, the pause between attempts is 50 us, doubling, capped at 2 ms,
//! jittered (the original 5 -> 50 ms schedule left waiters asleep through hundreds
//! of other writes and starved them), and the handoff module makes waiting fair: a
//! FIFO of waiters, woken by futex, and a lease after which a busy writer hands the
//! lock to the oldest waiter. BENCHMARKS.md has the measurements.
//!
//! When a holder dies, even by `SIGKILL`, the kernel closes its descriptors and
//! drops the lock at once; there is no stale-lock timeout as in lock-directory
//! schemes. Nothing here knows about SQLite or wasm.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt as _, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime};

use fs4::FileExt;

use crate::handoff::{Handoff, STALE, Ticket};
use crate::util::locked;

/// This process's id, read once: `std::process::id()` is a syscall every time.
fn pid() -> u32 {
    static PID: OnceLock<u32> = OnceLock::new();
    *PID.get_or_init(std::process::id)
}

/// The lock file's name, in the database's directory.
pub const LOCK_FILE_NAME: &str = "db.lock";

/// How long a writer waits for the lock unless configured otherwise.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_millis(500);

/// The first pause after a failed attempt; each further pause doubles it.
const FIRST_BACKOFF: Duration = Duration::from_micros(50);

/// The longest pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_millis(2);

/// A writer gave up waiting for the write lock.
///
/// Its `Display` is the three lines operators know from the original design:
/// ```text
/// write lock timeout after 500ms
///   holder: pid:4242 time:2026-11-26T05:00:00Z plugin:records-guest
///   try again or check if holder process is stuck
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "write lock timeout after {}ms\n  holder: {holder}\n  try again or check if holder process is stuck",
    waited.as_millis()
)]
pub struct LockTimeout {
    /// How long the writer waited before giving up.
    pub waited: Duration,
    /// The holder info read from the lock file, one line, or `unknown` when the
    /// holder had not written it yet.
    pub holder: String,
}

/// Why the write lock could not be taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Another writer held the lock until the deadline.
    #[error(transparent)]
    Timeout(#[from] LockTimeout),
    /// The lock file could not be opened, locked or written.
    #[error("lock file {}: {source}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
}

/// Whether the lock is held right now, as seen by [`WriteLock::status`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockStatus {
    /// Nobody holds the lock.
    Free,
    /// Someone holds the lock; `holder` is what it wrote into the lock file.
    Held {
        /// The holder info, one line, or `unknown`.
        holder: String,
    },
}

/// The write lock of one database: where its lock file is and how long to wait.
///
/// Cheap to clone; it holds no file descriptor until [`acquire`](Self::acquire).
#[derive(Debug, Clone)]
pub struct WriteLock {
    path: PathBuf,
    timeout: Duration,
    /// This process's handle on the lock file, shared by every `WriteLock` of the
    /// same path; opened at the first acquisition, reopened if the file is replaced.
    file: Arc<Mutex<Option<Arc<LockFile>>>>,
}

impl WriteLock {
    /// The lock for the database at `db_path`: `db.lock` in the same directory.
    pub fn for_database(db_path: &Path, timeout: Duration) -> Self {
        let dir = db_path.parent().unwrap_or(Path::new("."));
        Self::new(dir.join(LOCK_FILE_NAME), timeout)
    }

    /// A lock on the file at `path` that waits at most `timeout` (zero: one attempt).
    pub fn new(path: impl Into<PathBuf>, timeout: Duration) -> Self {
        Self {
            path: path.into(),
            timeout,
            file: Arc::default(),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How long [`acquire`](Self::acquire) waits before giving up.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Takes the lock, waiting until the timeout (behind this process's other
    /// threads first, then with backoff against other processes), and writes the
    /// holder info (`pid:`, `time:`, and `label` when it is not empty).
    ///
    /// # Errors
    /// [`LockError::Timeout`] when another holder kept the lock past the deadline;
    /// [`LockError::Io`] when the lock file cannot be opened, locked or written.
    pub fn acquire(&self, label: &str) -> Result<WriteGuard, LockError> {
        let start = Instant::now();
        // A timeout too long to represent waits as long as it takes.
        let deadline = start
            .checked_add(self.timeout)
            .unwrap_or_else(|| start + Duration::from_secs(100 * 365 * 24 * 3600));
        let file = self.lock_file()?;
        let queued = file.enter(deadline);
        let result = match queued {
            Ok(contended) => self.flock(&file, start, deadline, contended),
            Err(()) => Err(self.timed_out(&file, start)),
        };
        match result {
            Ok(()) => {}
            Err(e) => {
                if queued.is_ok() {
                    file.leave();
                }
                if matches!(e, LockError::Timeout(_)) {
                    file.metrics.timeouts.fetch_add(1, Ordering::Relaxed);
                }
                return Err(e);
            }
        }
        let guard = WriteGuard { file };
        guard
            .write_holder(label)
            .map_err(|source| self.io_error(source))?;
        Ok(guard)
    }

    /// Counters of this process's acquisitions of this lock file, for every
    /// `WriteLock` of the same path in the process.
    pub fn metrics(&self) -> LockMetrics {
        std::path::absolute(&self.path)
            .map(|key| metrics_for(&key).snapshot())
            .unwrap_or_default()
    }

    /// The cross-process half of [`acquire`](Self::acquire), entered once this
    /// thread is first in its process's queue. Each failed attempt sleeps for the
    /// next backoff pause, or less when a release wakes it (see `handoff.rs`).
    fn flock(
        &self,
        file: &LockFile,
        start: Instant,
        deadline: Instant,
        mut contended: bool,
    ) -> Result<(), LockError> {
        let handoff = file.handoff.as_ref();
        let mut pauses: Option<Backoff> = None;
        let mut waiting = false;
        let mut ticket: Option<Ticket> = None;
        let result = loop {
            let mut seen = handoff.map(|h| h.seq(ticket));
            let now = Instant::now();
            let may_try = match handoff {
                None => true,
                // A fresh writer lets the waiters go first when a lease is over.
                Some(handoff) if !waiting => !handoff.handing_off(),
                // A waiter tries in its turn, or regardless when the queue looks
                // stuck or its deadline has come.
                Some(handoff) => {
                    if ticket.is_some_and(|t| !handoff.holds(t)) {
                        ticket = handoff.take_ticket();
                    }
                    ticket.is_none_or(|t| handoff.is_turn(t))
                        || now - start >= STALE
                        || now >= deadline
                }
            };
            if may_try {
                match self.try_lock(&file.file) {
                    Ok(true) => break Ok(()),
                    Ok(false) => {}
                    Err(e) => break Err(e),
                }
            }
            contended = true;
            if !waiting {
                waiting = true;
                ticket = handoff.and_then(Handoff::take_ticket);
                // From now on the wake-ups come on the ticket's own futex.
                seen = handoff.map(|h| h.seq(ticket));
            }
            if now >= deadline {
                break Err(self.timed_out(file, start));
            }
            // The last pause is cut short so that one attempt lands on the deadline.
            // A waiter that is not next in line does not try at all: it sleeps
            // until the waiter before it takes the lock and wakes it (or until the
            // queue looks stale), so only one process per lock polls.
            let until_stale = STALE.saturating_sub(now - start);
            let pause = match (handoff, ticket) {
                (Some(handoff), Some(t)) if !until_stale.is_zero() && !handoff.is_turn(t) => {
                    until_stale
                }
                _ => pauses.get_or_insert_with(Backoff::new).next_pause(),
            }
            .min(deadline - now);
            match (handoff, seen) {
                (Some(handoff), Some(seen)) => handoff.wait(ticket, seen, pause),
                _ => std::thread::sleep(pause),
            }
        };
        if let (Some(handoff), Some(ticket)) = (handoff, ticket) {
            handoff.done(ticket, result.is_ok(), start.elapsed() >= STALE);
        }
        result?;
        // A waiter checks that the lock file was not replaced under it (an operator
        // deleting a "stale" lock file); an uncontended writer skips the stat, since
        // it saw nobody else using the file.
        if contended && !file.still_at(&self.path) {
            // A flock on the old inode excludes nobody. Forget this handle so the
            // next attempt reopens.
            let _ = FileExt::unlock(&file.file);
            locked(&self.file).take();
            return Err(self.io_error(io::Error::other(
                "the lock file was replaced while in use; try again",
            )));
        }
        let waited = start.elapsed();
        file.metrics.record(waited, contended);
        file.start_lease(contended);
        if contended {
            tracing::debug!(lock = %self.path.display(), waited_us = waited.as_micros() as u64, "write lock acquired after waiting");
        } else {
            tracing::trace!(lock = %self.path.display(), "write lock acquired");
        }
        Ok(())
    }

    fn timed_out(&self, file: &LockFile, start: Instant) -> LockError {
        let timeout = LockTimeout {
            waited: start.elapsed(),
            holder: read_holder(&file.file),
        };
        tracing::warn!(lock = %self.path.display(), holder = %timeout.holder, "write lock timeout");
        timeout.into()
    }

    /// This process's [`LockFile`] for the path: the one already open, if any.
    fn lock_file(&self) -> Result<Arc<LockFile>, LockError> {
        let mut cached = locked(&self.file);
        if let Some(file) = cached.as_ref() {
            return Ok(file.clone());
        }
        let file = LockFile::shared(&self.path).map_err(|source| self.io_error(source))?;
        *cached = Some(file.clone());
        Ok(file)
    }

    /// Whether the lock is held right now. A free lock is taken and released at once
    /// to find out, so this may delay a concurrent writer by one backoff step.
    ///
    /// # Errors
    /// [`LockError::Io`] when the lock file exists but cannot be opened or locked.
    pub fn status(&self) -> Result<LockStatus, LockError> {
        let file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(LockStatus::Free),
            Err(source) => return Err(self.io_error(source)),
        };
        if self.try_lock(&file)? {
            return Ok(LockStatus::Free);
        }
        Ok(LockStatus::Held {
            holder: read_holder(&file),
        })
    }

    /// One non-blocking attempt: `Ok(false)` when someone else holds the lock.
    fn try_lock(&self, file: &File) -> Result<bool, LockError> {
        match FileExt::try_lock(file) {
            Ok(()) => Ok(true),
            Err(fs4::TryLockError::WouldBlock) => Ok(false),
            Err(fs4::TryLockError::Error(source)) => Err(self.io_error(source)),
        }
    }

    fn io_error(&self, source: io::Error) -> LockError {
        LockError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

/// The pauses between attempts: 50 us, doubling, capped at 2 ms, each shortened by
/// up to a quarter at random so that waiters of different processes do not retry
/// in lockstep.
#[derive(Debug)]
struct Backoff {
    next: Duration,
    seed: u64,
}

impl Backoff {
    fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Self {
            next: FIRST_BACKOFF,
            seed: u64::from(nanos) ^ (u64::from(pid()) << 32) | 1,
        }
    }

    fn next_pause(&mut self) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(MAX_BACKOFF);
        // xorshift64: jitter needs no statistical quality, only variety.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        pause - pause / 4 * (self.seed % 1024) as u32 / 1024
    }
}

/// This process's handle on one lock file: the open file description that holds
/// the flock, the queue of this process's threads in front of it, and counters.
#[derive(Debug)]
struct LockFile {
    file: File,
    /// Device and inode of the file opened, to notice a replaced lock file.
    identity: (u64, u64),
    /// Whether a thread of this process holds (or is taking) the flock, and how
    /// many threads wait for their turn.
    turn: Mutex<Turn>,
    /// The shared words for fair handoff between processes, when mappable.
    handoff: Option<Handoff>,
    freed: Condvar,
    metrics: Arc<Metrics>,
}

/// Whose turn it is among this process's threads.
#[derive(Debug, Default)]
struct Turn {
    busy: bool,
    waiting: usize,
    /// Since when this process has held the flock without handing it over.
    lease_start: Option<Instant>,
}

/// How long a process may keep re-taking the lock while others wait before it
/// must let a waiter have it: long enough for ~100 writes between handoffs (each
/// costs a wake-up), short enough that 7 waiters ahead mean single-digit ms.
const LEASE: Duration = Duration::from_millis(1);

/// The counters of every lock file this process has used, by path. They outlive
/// the open files (a CLI reports them after its database is closed) and cost a
/// few dozen bytes per path, unlike keeping descriptors open.
fn metrics_for(path: &Path) -> Arc<Metrics> {
    static METRICS: OnceLock<Mutex<HashMap<PathBuf, Arc<Metrics>>>> = OnceLock::new();
    locked(METRICS.get_or_init(Default::default))
        .entry(path.to_path_buf())
        .or_default()
        .clone()
}

/// Every lock file this process has open, by path, so all handles share one.
static OPEN_LOCK_FILES: OnceLock<Mutex<HashMap<PathBuf, Weak<LockFile>>>> = OnceLock::new();

impl LockFile {
    fn shared(path: &Path) -> io::Result<Arc<Self>> {
        let key = std::path::absolute(path)?;
        let mut open = locked(OPEN_LOCK_FILES.get_or_init(Default::default));
        if let Some(file) = open.get(&key).and_then(Weak::upgrade)
            && file.still_at(&key)
        {
            return Ok(file);
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&key)?;
        let meta = file.metadata()?;
        let shared = Arc::new(Self {
            file,
            identity: (meta.dev(), meta.ino()),
            turn: Mutex::new(Turn::default()),
            handoff: Handoff::open(&key),
            freed: Condvar::new(),
            metrics: metrics_for(&key),
        });
        open.retain(|_, weak| weak.strong_count() > 0);
        open.insert(key, Arc::downgrade(&shared));
        Ok(shared)
    }

    /// Whether `path` still names the file this handle has open.
    fn still_at(&self, path: &Path) -> bool {
        std::fs::metadata(path).is_ok_and(|meta| (meta.dev(), meta.ino()) == self.identity)
    }

    /// Waits until no other thread of this process holds or is taking the lock,
    /// then claims that turn. `Ok(true)` when it had to wait; `Err` at the deadline.
    fn enter(&self, deadline: Instant) -> Result<bool, ()> {
        let mut turn = locked(&self.turn);
        let mut waited = false;
        while turn.busy {
            waited = true;
            let now = Instant::now();
            if now >= deadline {
                return Err(());
            }
            turn.waiting += 1;
            turn = self
                .freed
                .wait_timeout(turn, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            turn.waiting -= 1;
        }
        turn.busy = true;
        Ok(waited)
    }

    /// Starts this process's lease, unless one is running and it did not wait.
    fn start_lease(&self, waited: bool) {
        let mut turn = locked(&self.turn);
        if waited || turn.lease_start.is_none() {
            turn.lease_start = Some(Instant::now());
        }
    }

    /// After unlocking: lets other processes know, handing the lock over when
    /// this process's lease is over and someone waits.
    fn released(&self) {
        let Some(handoff) = &self.handoff else { return };
        let mut turn = locked(&self.turn);
        let lease_over = turn
            .lease_start
            .is_some_and(|start| start.elapsed() >= LEASE);
        if handoff.released(lease_over) {
            turn.lease_start = None;
        }
    }

    /// Gives the turn to the next thread of this process (waking one costs a
    /// syscall, so only when one waits).
    fn leave(&self) {
        let mut turn = locked(&self.turn);
        turn.busy = false;
        let wake = turn.waiting > 0;
        drop(turn);
        if wake {
            self.freed.notify_one();
        }
    }
}

/// What [`WriteLock::metrics`] reports: this process's acquisitions of one lock
/// file, over all its `WriteLock`s. Its `Display` is one line for logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LockMetrics {
    /// Successful acquisitions.
    pub acquisitions: u64,
    /// Acquisitions that had to wait (for another thread or another process).
    pub contended: u64,
    /// Attempts that gave up at the deadline.
    pub timeouts: u64,
    /// Time spent waiting, over all acquisitions.
    pub total_wait: Duration,
    /// The longest wait of one acquisition.
    pub max_wait: Duration,
}

impl std::fmt::Display for LockMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} acquisitions, {} contended, {} timeouts, waited {:.3} ms in total, {:.3} ms at most",
            self.acquisitions,
            self.contended,
            self.timeouts,
            self.total_wait.as_secs_f64() * 1000.0,
            self.max_wait.as_secs_f64() * 1000.0
        )
    }
}

#[derive(Debug, Default)]
struct Metrics {
    acquisitions: AtomicU64,
    contended: AtomicU64,
    timeouts: AtomicU64,
    total_wait_ns: AtomicU64,
    max_wait_ns: AtomicU64,
}

impl Metrics {
    fn record(&self, waited: Duration, contended: bool) {
        let ns = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
        self.acquisitions.fetch_add(1, Ordering::Relaxed);
        if contended {
            self.contended.fetch_add(1, Ordering::Relaxed);
            self.total_wait_ns.fetch_add(ns, Ordering::Relaxed);
            self.max_wait_ns.fetch_max(ns, Ordering::Relaxed);
        }
    }

    fn snapshot(&self) -> LockMetrics {
        LockMetrics {
            acquisitions: self.acquisitions.load(Ordering::Relaxed),
            contended: self.contended.load(Ordering::Relaxed),
            timeouts: self.timeouts.load(Ordering::Relaxed),
            total_wait: Duration::from_nanos(self.total_wait_ns.load(Ordering::Relaxed)),
            max_wait: Duration::from_nanos(self.max_wait_ns.load(Ordering::Relaxed)),
        }
    }
}

/// The size of the holder record at the start of the lock file.
const HOLDER_RECORD: usize = 256;

/// Proof that this process holds the write lock; dropping it releases the lock.
///
/// Release happens on every path that drops the guard: normal return, `?`, a guest
/// trap unwinding the host call, or a panic: the flock is dropped, then the next
/// thread of this process gets its turn. The holder record stays in the file (it
/// names the last holder); whether the lock is held is the flock's to say, which
/// is how [`WriteLock::status`] reads it.
#[must_use = "the lock is released as soon as the guard is dropped"]
#[derive(Debug)]
pub struct WriteGuard {
    file: Arc<LockFile>,
}

impl WriteGuard {
    fn write_holder(&self, label: &str) -> io::Result<()> {
        let mut info = format!(
            "pid:{}\ntime:{}\n",
            pid(),
            humantime::format_rfc3339_millis(SystemTime::now())
        );
        if !label.is_empty() {
            info.push_str(label);
            info.push('\n');
        }
        // One pwrite of a fixed-size record replaces the previous holder's (no
        // truncation, which would be a second syscall); a NUL ends the text.
        let mut record = [0u8; HOLDER_RECORD];
        let len = info.len().min(HOLDER_RECORD - 1);
        record[..len].copy_from_slice(&info.as_bytes()[..len]);
        self.file.file.write_all_at(&record, 0)
    }
}

impl Drop for WriteGuard {
    fn drop(&mut self) {
        if let Err(e) = FileExt::unlock(&self.file.file) {
            tracing::error!(error = %e, "could not unlock the write lock");
        }
        self.file.released();
        self.file.leave();
        tracing::trace!("write lock released");
    }
}

/// The holder info in the lock file, as one line; `unknown` when it is empty (a holder
/// that has just taken the lock and not yet written it).
fn read_holder(file: &File) -> String {
    let mut bytes = vec![0; 4096];
    let Ok(len) = file.read_at(&mut bytes, 0) else {
        return "unknown".to_string();
    };
    let info = bytes[..len].split(|b| *b == 0).next().unwrap_or_default();
    let text = String::from_utf8_lossy(info);
    let holder = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if holder.is_empty() {
        "unknown".to_string()
    } else {
        holder
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

    fn lock_in(dir: &tempfile::TempDir, timeout_ms: u64) -> WriteLock {
        WriteLock::new(
            dir.path().join(LOCK_FILE_NAME),
            Duration::from_millis(timeout_ms),
        )
    }

    #[test]
    fn backoff_starts_at_50us_doubles_and_caps_at_2ms_with_bounded_jitter() {
        let nominal_us = [50, 100, 200, 400, 800, 1600, 2000, 2000, 2000];
        let mut distinct = std::collections::HashSet::new();
        for _ in 0..20 {
            let mut backoff = Backoff::new();
            for nominal in nominal_us {
                let pause = backoff.next_pause().as_micros() as u64;
                assert!(
                    pause <= nominal && pause >= nominal * 3 / 4,
                    "{pause} vs {nominal}"
                );
                distinct.insert(pause);
            }
        }
        assert!(
            distinct.len() > nominal_us.len(),
            "jittered, not a fixed schedule"
        );
    }

    #[test]
    fn metrics_count_acquisitions_contention_and_timeouts() {
        let dir = tempfile::tempdir().unwrap();
        let lock = lock_in(&dir, 0);
        drop(lock.acquire("").unwrap());
        let other = WriteLock::new(dir.path().join(LOCK_FILE_NAME), Duration::from_millis(20));
        let held = std::thread::scope(|scope| {
            let held = lock.acquire("").unwrap();
            scope.spawn(|| assert!(matches!(other.acquire(""), Err(LockError::Timeout(_)))));
            held
        });
        drop(held);
        let metrics = lock.metrics();
        assert_eq!(
            metrics,
            other.metrics(),
            "one set of counters per lock file and process"
        );
        assert_eq!((metrics.acquisitions, metrics.timeouts), (2, 1));
        assert_eq!(metrics.contended, 0);
    }

    #[test]
    fn holder_info_names_pid_time_and_label() {
        let dir = tempfile::tempdir().unwrap();
        let lock = lock_in(&dir, 0);
        let _guard = lock.acquire("plugin:demo").unwrap();
        let bytes = std::fs::read(lock.path()).unwrap();
        assert_eq!(bytes.len(), HOLDER_RECORD, "one fixed-size record");
        let text = String::from_utf8(bytes.split(|b| *b == 0).next().unwrap().to_vec()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], format!("pid:{}", std::process::id()));
        let time = lines[1].strip_prefix("time:").unwrap();
        humantime::parse_rfc3339(time).unwrap();
        assert!(time.ends_with('Z'), "UTC: {time}");
        assert_eq!(lines[2], "plugin:demo");
    }

    #[test]
    fn a_new_holder_record_replaces_all_of_the_previous_one() {
        let dir = tempfile::tempdir().unwrap();
        let lock = lock_in(&dir, 0);
        drop(
            lock.acquire("plugin:a-rather-long-label-from-the-previous-holder")
                .unwrap(),
        );
        let _guard = lock.acquire("x").unwrap();
        let holder = read_holder(&File::open(lock.path()).unwrap());
        assert!(holder.ends_with(" x"), "{holder}");
        assert!(!holder.contains("previous"), "{holder}");
    }

    #[test]
    fn timeout_names_the_holder_after_waiting_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let _held = lock_in(&dir, 0).acquire("plugin:holder").unwrap();
        let start = Instant::now();
        let err = lock_in(&dir, 100).acquire("plugin:waiter").unwrap_err();
        let elapsed = start.elapsed();
        let LockError::Timeout(timeout) = err else {
            panic!("expected a timeout, got {err:?}");
        };
        assert!(timeout.waited >= Duration::from_millis(100), "{timeout:?}");
        assert!(elapsed >= Duration::from_millis(100));
        let pid = format!("pid:{}", std::process::id());
        assert!(timeout.holder.starts_with(&pid), "{}", timeout.holder);
        assert!(
            timeout.holder.ends_with("plugin:holder"),
            "{}",
            timeout.holder
        );
        let text = timeout.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(
            lines[0],
            format!("write lock timeout after {}ms", timeout.waited.as_millis())
        );
        assert_eq!(lines[1], format!("  holder: {}", timeout.holder));
        assert_eq!(lines[2], "  try again or check if holder process is stuck");
    }

    #[test]
    fn zero_timeout_fails_at_once_when_held_and_succeeds_when_free() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock_in(&dir, 0).acquire("").unwrap();
        assert!(matches!(
            lock_in(&dir, 0).acquire(""),
            Err(LockError::Timeout(_))
        ));
        drop(held);
        drop(lock_in(&dir, 0).acquire("").unwrap());
    }

    #[test]
    fn a_waiter_gets_the_lock_when_the_holder_releases_before_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock_in(&dir, 0).acquire("").unwrap();
        let waiter = {
            let lock = lock_in(&dir, 2_000);
            std::thread::spawn(move || lock.acquire("waiter").map(drop))
        };
        std::thread::sleep(Duration::from_millis(30));
        drop(held);
        waiter.join().unwrap().unwrap();
    }

    #[test]
    fn released_on_drop_error_and_panic() {
        let dir = tempfile::tempdir().unwrap();
        let lock = lock_in(&dir, 0);
        let is_free = || lock.status().unwrap() == LockStatus::Free;

        drop(lock.acquire("").unwrap());
        assert!(is_free());

        let failing = || -> Result<(), String> {
            let _guard = lock.acquire("").map_err(|e| e.to_string())?;
            Err("the write failed".to_string())
        };
        assert!(failing().is_err());
        assert!(is_free());

        let panicked = std::panic::catch_unwind(|| {
            let _guard = lock.acquire("").unwrap();
            panic!("the writer panicked");
        });
        assert!(panicked.is_err());
        assert!(is_free());
        drop(lock.acquire("").unwrap());
    }

    #[test]
    fn status_reports_free_and_held_with_holder() {
        let dir = tempfile::tempdir().unwrap();
        let lock = lock_in(&dir, 0);
        assert_eq!(lock.status().unwrap(), LockStatus::Free, "no lock file yet");
        let guard = lock.acquire("plugin:x").unwrap();
        let LockStatus::Held { holder } = lock.status().unwrap() else {
            panic!("expected held");
        };
        assert!(
            holder.contains(&format!("pid:{}", std::process::id())) && holder.contains("plugin:x")
        );
        drop(guard);
        assert_eq!(lock.status().unwrap(), LockStatus::Free);
    }

    /// Threads of one process contend like processes do: each acquisition opens its
    /// own file description. A non-atomic read-modify-write under the lock must
    /// never interleave, and nobody may time out with a generous deadline.
    #[test]
    fn threads_are_serialized() {
        const THREADS: u32 = 8;
        const ROUNDS: u32 = 50;
        let dir = tempfile::tempdir().unwrap();
        let inside = Arc::new(AtomicBool::new(false));
        let counter = Arc::new(AtomicU32::new(0));
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let (lock, inside, counter) =
                    (lock_in(&dir, 10_000), inside.clone(), counter.clone());
                std::thread::spawn(move || {
                    for _ in 0..ROUNDS {
                        let _guard = lock.acquire("thread").unwrap();
                        assert!(!inside.swap(true, Ordering::SeqCst), "two holders at once");
                        let seen = counter.load(Ordering::SeqCst);
                        std::thread::yield_now();
                        counter.store(seen + 1, Ordering::SeqCst);
                        inside.store(false, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(counter.load(Ordering::SeqCst), THREADS * ROUNDS);
    }
}
