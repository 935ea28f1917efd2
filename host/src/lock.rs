//! The cross-process write lock: an exclusive `flock` on `db.lock` beside the database.
//!
//! Writers try the lock without blocking and back off exponentially (5 ms, doubling,
//! capped at 50 ms) until a deadline, then fail with [`LockTimeout`], which names the
//! holder. The holder writes who it is (`pid:`, `time:`, and a caller-chosen label such
//! as the plugin name) into the lock file so that a waiter that gives up can say who
//! it was waiting for.
//!
//! `flock` locks belong to the open file description, so every acquisition opens the
//! file anew: two threads of one process contend exactly like two processes do. When a
//! holder dies, even by `SIGKILL`, the kernel closes its descriptors and drops the lock
//! at once; there is no stale-lock timeout as in lock-directory schemes.
//!
//! Nothing here knows about SQLite or wasm.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use fs4::FileExt;

/// The lock file's name, in the database's directory.
pub const LOCK_FILE_NAME: &str = "db.lock";

/// How long a writer waits for the lock unless configured otherwise.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_millis(500);

/// The first pause after a failed attempt; each further pause doubles it.
const FIRST_BACKOFF: Duration = Duration::from_millis(5);

/// The longest pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_millis(50);

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

    /// Takes the lock, waiting with exponential backoff until the timeout, and writes
    /// the holder info (`pid:`, `time:`, and `label` when it is not empty).
    ///
    /// # Errors
    /// [`LockError::Timeout`] when another holder kept the lock past the deadline;
    /// [`LockError::Io`] when the lock file cannot be opened, locked or written.
    pub fn acquire(&self, label: &str) -> Result<WriteGuard, LockError> {
        let start = Instant::now();
        let deadline = start + self.timeout;
        let file = self.open()?;
        let mut pauses = Backoff::new();
        let mut attempts = 1u32;
        while !self.try_lock(&file)? {
            let now = Instant::now();
            if now >= deadline {
                let timeout = LockTimeout {
                    waited: now - start,
                    holder: read_holder(&file),
                };
                tracing::warn!(lock = %self.path.display(), attempts, holder = %timeout.holder, "write lock timeout");
                return Err(timeout.into());
            }
            // The last pause is cut short so that one attempt lands on the deadline.
            std::thread::sleep(pauses.next_pause().min(deadline - now));
            attempts += 1;
        }
        tracing::debug!(lock = %self.path.display(), attempts, waited_us = start.elapsed().as_micros() as u64, "write lock acquired");
        let guard = WriteGuard { file: Some(file) };
        guard
            .write_holder(label)
            .map_err(|source| self.io_error(source))?;
        Ok(guard)
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

    fn open(&self) -> Result<File, LockError> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.path)
            .map_err(|source| self.io_error(source))
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

/// The pauses between attempts: 5 ms, doubling, capped at 50 ms.
#[derive(Debug)]
struct Backoff {
    next: Duration,
}

impl Backoff {
    fn new() -> Self {
        Self {
            next: FIRST_BACKOFF,
        }
    }

    fn next_pause(&mut self) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(MAX_BACKOFF);
        pause
    }
}

/// Proof that this process holds the write lock; dropping it releases the lock.
///
/// Release happens on every path that drops the guard: normal return, `?`, a guest
/// trap unwinding the host call, or a panic. On release the holder info is truncated
/// first, then the lock is dropped, so a reader never sees a free lock with a
/// holder's name in it unless that holder crashed.
#[must_use = "the lock is released as soon as the guard is dropped"]
#[derive(Debug)]
pub struct WriteGuard {
    file: Option<File>,
}

impl WriteGuard {
    fn write_holder(&self, label: &str) -> io::Result<()> {
        let mut info = format!(
            "pid:{}\ntime:{}\n",
            std::process::id(),
            humantime::format_rfc3339_millis(SystemTime::now())
        );
        if !label.is_empty() {
            info.push_str(label);
            info.push('\n');
        }
        let mut file = self.file.as_ref().expect("present until drop");
        file.set_len(0)?;
        file.write_all(info.as_bytes())
    }
}

impl Drop for WriteGuard {
    fn drop(&mut self) {
        let Some(file) = self.file.take() else { return };
        if let Err(e) = file.set_len(0) {
            tracing::warn!(error = %e, "could not clear the write lock's holder info");
        }
        if let Err(e) = FileExt::unlock(&file) {
            // Closing the file below releases the flock anyway.
            tracing::warn!(error = %e, "could not unlock the write lock");
        }
        tracing::debug!("write lock released");
    }
}

/// The holder info in the lock file, as one line; `unknown` when it is empty (a holder
/// that has just taken the lock and not yet written it).
fn read_holder(mut file: &File) -> String {
    let mut text = String::new();
    if file.read_to_string(&mut text).is_err() {
        return "unknown".to_string();
    }
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
    fn backoff_starts_at_5ms_doubles_and_caps_at_50ms() {
        let mut backoff = Backoff::new();
        let pauses: Vec<u64> = (0..7)
            .map(|_| backoff.next_pause().as_millis() as u64)
            .collect();
        assert_eq!(pauses, [5, 10, 20, 40, 50, 50, 50]);
    }

    #[test]
    fn holder_info_names_pid_time_and_label_and_is_cleared_on_release() {
        let dir = tempfile::tempdir().unwrap();
        let lock = lock_in(&dir, 0);
        let guard = lock.acquire("plugin:demo").unwrap();
        let text = std::fs::read_to_string(lock.path()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], format!("pid:{}", std::process::id()));
        let time = lines[1].strip_prefix("time:").unwrap();
        humantime::parse_rfc3339(time).unwrap();
        assert!(time.ends_with('Z'), "UTC: {time}");
        assert_eq!(lines[2], "plugin:demo");
        drop(guard);
        assert_eq!(std::fs::read_to_string(lock.path()).unwrap(), "");
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
        assert_eq!(std::fs::read_to_string(lock.path()).unwrap(), "");
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
