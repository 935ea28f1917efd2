//! [`WriteLock`], one database's write lock, and [`WriteGuard`], the proof that
//! this process holds it: acquisition (queue, then flock with backoff or handoff,
//! until a deadline), status, and release when the guard drops.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fs4::FileExt;

use super::backoff::Backoff;
use super::error::{LockError, LockTimeout};
use super::file::LockFile;
use super::handoff::{Handoff, STALE, Ticket};
use super::holder;
use super::metrics::{LockMetrics, metrics_for};
use super::open::{Attempt, io_error, open_existing};
use super::status::LockStatus;
use super::unlinked;
use crate::deadline::deadline_after;
use crate::sync::locked;

/// The lock file's name, in the database's directory.
pub const LOCK_FILE_NAME: &str = "db.lock";

/// How long a writer waits for the lock unless configured otherwise.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_millis(500);

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
        let path = path.into();
        Self {
            path: std::path::absolute(&path).unwrap_or(path),
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
    /// holder record (`pid:`, `time:`, and `label` when it is not empty).
    ///
    /// # Errors
    /// [`LockError::Timeout`] when another holder kept the lock past the deadline;
    /// [`LockError::NotARegularFile`] when something other than a lock file is at
    /// its path; [`LockError::Io`] when the lock file cannot be opened, locked or
    /// written.
    pub fn acquire(&self, label: &str) -> Result<WriteGuard, LockError> {
        self.acquire_by(label, None)
    }

    /// Like [`acquire`](Self::acquire), but gives up at `deadline` if that comes
    /// before the lock's timeout: for a caller with less time left than the timeout.
    ///
    /// # Errors
    /// As [`acquire`](Self::acquire).
    pub fn acquire_by(
        &self,
        label: &str,
        deadline: Option<Instant>,
    ) -> Result<WriteGuard, LockError> {
        let start = Instant::now();
        let timed_out_at = start
            .checked_add(self.timeout)
            .unwrap_or_else(|| deadline_after(self.timeout));
        let deadline = deadline.map_or(timed_out_at, |deadline| deadline.min(timed_out_at));
        loop {
            match self.attempt(label, start, deadline) {
                Err(Attempt::Replaced) if Instant::now() < deadline => {}
                Err(Attempt::Replaced) => {
                    metrics_for(&self.path.to_string_lossy()).record_timeout();
                    return Err(LockTimeout::replaced(start.elapsed()).into());
                }
                Err(Attempt::Failed(e)) => return Err(e),
                Ok(guard) => return Ok(guard),
            }
        }
    }

    /// One pass of [`acquire_by`](Self::acquire_by) at the lock file at the path
    /// now, which may turn out to be deleted or replaced (then forgotten).
    fn attempt(
        &self,
        label: &str,
        start: Instant,
        deadline: Instant,
    ) -> Result<WriteGuard, Attempt> {
        let file = self.lock_file()?;
        let Ok(contended) = file.queue.enter(deadline) else {
            return Err(self.timed_out(&file, start).into());
        };
        match self.flock(&file, start, deadline, contended) {
            Ok(contended) => Ok(self.held(file, label, start, contended)?),
            Err(failed) => {
                file.queue.leave();
                if matches!(failed, Attempt::Replaced) {
                    self.forget(&file);
                }
                Err(failed)
            }
        }
    }

    /// Counters of this process's acquisitions of this lock file, for every
    /// `WriteLock` of the same path in the process.
    pub fn metrics(&self) -> LockMetrics {
        metrics_for(&self.path.to_string_lossy()).snapshot()
    }

    /// Whether the lock is held right now, and by whom. A free lock is taken and
    /// released at once to find out, so this may delay a concurrent writer by one
    /// backoff step. Nothing is created or written.
    ///
    /// # Errors
    /// [`LockError::NotARegularFile`] when something other than a lock file is at
    /// its path; [`LockError::Io`] when it exists but cannot be opened or locked.
    pub fn status(&self) -> Result<LockStatus, LockError> {
        let Some(file) = open_existing(&self.path)? else {
            return Ok(unlinked::status(&self.path));
        };
        // Dropping `file` releases the lock taken to find out.
        if try_flock(&file).map_err(|source| io_error(&self.path, source))? {
            return Ok(unlinked::status(&self.path));
        }
        Ok(LockStatus::Held {
            holder: holder::describe(&file),
        })
    }

    /// The cross-process half of [`acquire`](Self::acquire), entered once this
    /// thread is first in its process's queue. Each failed attempt sleeps for the
    /// next backoff pause, or less when a release wakes it (see `handoff/`).
    /// Returns whether it had to wait.
    fn flock(
        &self,
        file: &LockFile,
        start: Instant,
        deadline: Instant,
        mut contended: bool,
    ) -> Result<bool, Attempt> {
        let handoff = file.handoff.as_ref();
        let mut pauses: Option<Backoff> = None;
        let mut waiting = false;
        let mut ticket: Option<Ticket> = None;
        let result = loop {
            let mut seen = handoff.map(|h| h.seq(ticket));
            let now = Instant::now();
            let last_chance = now >= deadline;
            let may_try = last_chance
                || match handoff {
                    None => true,
                    // A fresh writer lets the waiters go first when a lease is over.
                    Some(handoff) if !waiting => !handoff.handing_off(),
                    // A waiter tries in its turn, or regardless when the queue looks
                    // stuck.
                    Some(handoff) => {
                        if let Some(t) = ticket {
                            handoff.heartbeat(t);
                        }
                        if ticket.is_some_and(|t| !handoff.holds(t)) {
                            ticket = handoff.take_ticket();
                        }
                        ticket.is_none_or(|t| handoff.is_turn(t)) || now - start >= STALE
                    }
                };
            if may_try {
                match try_flock(&file.file) {
                    Ok(true) => break Ok(()),
                    Ok(false) => {}
                    Err(source) => break Err(Attempt::Failed(io_error(&self.path, source))),
                }
            }
            contended = true;
            if last_chance {
                break Err(Attempt::Failed(self.timed_out(file, start)));
            }
            if !waiting {
                waiting = true;
                ticket = handoff.and_then(Handoff::take_ticket);
                // From now on the wake-ups come on the ticket's own futex.
                seen = handoff.map(|h| h.seq(ticket));
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
        // A flock on a file that was deleted (or replaced, which a waiter also
        // checks by path) excludes nobody: let go, and the caller reopens.
        if !file.still_linked() || (contended && !file.is_at(&self.path)) {
            let _ = FileExt::unlock(&file.file);
            return Err(Attempt::Replaced);
        }
        Ok(contended)
    }

    /// The flock is taken: count it, start the lease, repair the shared words and
    /// write the holder record.
    fn held(
        &self,
        file: Arc<LockFile>,
        label: &str,
        start: Instant,
        contended: bool,
    ) -> Result<WriteGuard, LockError> {
        let waited = start.elapsed();
        file.metrics.record(waited, contended);
        file.queue.start_lease(contended);
        if let Some(handoff) = &file.handoff {
            handoff.repair();
        }
        if contended {
            tracing::debug!(lock = %self.path.display(), waited_us = waited.as_micros() as u64, "write lock acquired after waiting");
        } else {
            tracing::trace!(lock = %self.path.display(), "write lock acquired");
        }
        let count = file.handoff.as_ref().and_then(Handoff::count_acquisition);
        let guard = WriteGuard { file };
        guard
            .file
            .last_record
            .write(&guard.file.file, label, count)
            .map_err(|source| io_error(&self.path, source))?;
        Ok(guard)
    }

    fn timed_out(&self, file: &LockFile, start: Instant) -> LockError {
        file.metrics.record_timeout();
        let timeout = LockTimeout {
            waited: start.elapsed(),
            holder: holder::describe(&file.file),
        };
        tracing::warn!(lock = %self.path.display(), holder = %timeout.holder, "write lock timeout");
        timeout.into()
    }

    /// This process's [`LockFile`] for the path: the one already open, if any.
    fn lock_file(&self) -> Result<Arc<LockFile>, Attempt> {
        let mut cached = locked(&self.file);
        if let Some(file) = cached.as_ref() {
            return Ok(file.clone());
        }
        let file = LockFile::shared(&self.path)?;
        *cached = Some(file.clone());
        Ok(file)
    }

    /// Drops the cached handle `file` (replaced on disk), so the next attempt
    /// reopens the path.
    fn forget(&self, file: &Arc<LockFile>) {
        let mut cached = locked(&self.file);
        if cached.as_ref().is_some_and(|c| Arc::ptr_eq(c, file)) {
            *cached = None;
        }
    }
}

/// One non-blocking attempt: `Ok(false)` when someone else holds the lock.
fn try_flock(file: &File) -> io::Result<bool> {
    match FileExt::try_lock(file) {
        Ok(()) => Ok(true),
        Err(fs4::TryLockError::WouldBlock) => Ok(false),
        Err(fs4::TryLockError::Error(source)) => Err(source),
    }
}

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
    /// Whether this guard is `lock`'s: the same lock file.
    pub fn is_of(&self, lock: &WriteLock) -> bool {
        self.file.path().as_os_str() == lock.path().as_os_str()
    }
}

impl Drop for WriteGuard {
    fn drop(&mut self) {
        let file = &self.file;
        if let Err(e) = FileExt::unlock(&file.file) {
            tracing::error!(error = %e, "could not unlock the write lock");
        }
        if let Some(handoff) = &file.handoff
            && handoff.released(file.queue.lease_over())
        {
            file.queue.end_lease();
        }
        file.queue.leave();
        tracing::trace!("write lock released");
    }
}
