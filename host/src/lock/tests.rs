//! Unit tests of the write lock: timeouts, zero timeouts, release on every path,
//! threads, replaced files and what is refused.

use super::write_lock::LOCK_FILE_NAME;
use super::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

fn lock_in(dir: &tempfile::TempDir, timeout_ms: u64) -> WriteLock {
    WriteLock::new(
        dir.path().join(LOCK_FILE_NAME),
        Duration::from_millis(timeout_ms),
    )
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
fn timeout_names_the_holder_after_waiting_the_timeout() {
    let _quiet = super::proc_locks::quiet_listings();
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
    let _quiet = super::proc_locks::quiet_listings();
    let dir = tempfile::tempdir().unwrap();
    let lock = lock_in(&dir, 0);
    assert_eq!(lock.status().unwrap(), LockStatus::Free, "no lock file yet");
    let guard = lock.acquire("plugin:x").unwrap();
    let LockStatus::Held { holder } = lock.status().unwrap() else {
        panic!("expected held");
    };
    assert!(holder.contains(&format!("pid:{}", std::process::id())) && holder.contains("plugin:x"));
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
            let (lock, inside, counter) = (lock_in(&dir, 10_000), inside.clone(), counter.clone());
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

#[test]
fn status_refuses_a_fifo_or_directory_instead_of_hanging_or_saying_free() {
    let dir = tempfile::tempdir().unwrap();
    let lock = lock_in(&dir, 0);
    std::fs::create_dir(lock.path()).unwrap();
    assert!(matches!(
        lock.status(),
        Err(LockError::NotARegularFile { .. })
    ));
    std::fs::remove_dir(lock.path()).unwrap();
    let c_path = std::ffi::CString::new(lock.path().as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let err = lock.status().unwrap_err();
    assert!(err.to_string().contains("is a FIFO"), "{err}");
    assert!(matches!(
        lock.acquire(""),
        Err(LockError::NotARegularFile { .. })
    ));
}

#[test]
fn a_symlinked_lock_file_is_refused_and_its_target_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, b"do not overwrite").unwrap();
    let lock = lock_in(&dir, 0);
    std::os::unix::fs::symlink(&victim, lock.path()).unwrap();
    let err = lock.acquire("attacker-wants-this-written").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "lock file {} is a symbolic link, not a regular file; refusing to use it",
            lock.path().display()
        )
    );
    assert!(matches!(
        lock.status(),
        Err(LockError::NotARegularFile { .. })
    ));
    assert_eq!(std::fs::read(&victim).unwrap(), b"do not overwrite");
}

/// Another program replacing `db.lock` again and again (a fresh file renamed over
/// it, or the file deleted and created anew) makes a writer retry, or time out
/// with the retryable timeout; it never makes it refuse the lock file, which it
/// used to do when the file it had just opened was unlinked before its `fstat`
/// ("a file with 0 hard links").
#[test]
fn a_lock_file_replaced_in_a_loop_gives_the_lock_or_a_timeout() {
    const REPLACEMENTS: u32 = 20_000;
    let _churning = super::proc_locks::heavy_churn();
    let dir = tempfile::tempdir().unwrap();
    let lock = lock_in(&dir, 20);
    let replaced = AtomicU32::new(0);
    let stop = AtomicBool::new(false);
    let (ok, timeouts) = std::thread::scope(|scope| {
        scope.spawn(|| {
            let fresh = dir.path().join("fresh.lock");
            // No unwrap here: the main thread waits for this one's progress.
            while !stop.load(Ordering::Relaxed) {
                if replaced.load(Ordering::Relaxed).is_multiple_of(2) {
                    let _ = std::fs::write(&fresh, b"");
                    let _ = std::fs::rename(&fresh, lock.path());
                } else {
                    let _ = std::fs::remove_file(lock.path());
                    let _ = std::fs::write(lock.path(), b"");
                }
                replaced.fetch_add(1, Ordering::Relaxed);
            }
        });
        let (mut ok, mut timeouts) = (0, 0);
        while replaced.load(Ordering::Relaxed) < REPLACEMENTS {
            // About one acquisition per replacement: the race is in the reopen
            // after one, and more would only churn `/proc/locks` under the tests
            // that read it.
            while ok + timeouts > replaced.load(Ordering::Relaxed) {
                std::thread::yield_now();
            }
            match lock.acquire("replaced") {
                Ok(guard) => {
                    ok += 1;
                    drop(guard);
                }
                Err(LockError::Timeout(_)) => timeouts += 1,
                Err(other) => {
                    stop.store(true, Ordering::Relaxed);
                    panic!("after {ok} acquisitions and {timeouts} timeouts: {other}");
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        (ok, timeouts)
    });
    assert!(ok > 0, "never acquired in {timeouts} attempts");
}

#[cfg(target_os = "linux")]
#[test]
fn a_lock_held_on_a_deleted_or_replaced_file_is_found_by_its_old_path() {
    let _quiet = super::proc_locks::quiet_listings();
    let dir = tempfile::tempdir().unwrap();
    let path = std::fs::canonicalize(dir.path()).unwrap().join("db.lock");
    let lock = WriteLock::new(&path, Duration::ZERO);
    assert_eq!(unlinked::holder(&path), None, "nobody holds it");
    let guard = lock.acquire("test:unlinked").unwrap();
    assert_eq!(unlinked::holder(&path), None, "held, but not unlinked");

    std::fs::remove_file(&path).unwrap();
    assert_eq!(unlinked::holder(&path), Some(std::process::id()));
    let LockStatus::Held { holder: named } = lock.status().unwrap() else {
        panic!("a lock held on the deleted file is not free");
    };
    assert!(
        named.starts_with(&format!("pid:{} ", std::process::id())),
        "{named}"
    );
    assert!(
        named.ends_with("the lock file was deleted while it held it)"),
        "{named}"
    );
    assert!(!path.exists(), "status created nothing");

    std::fs::write(&path, b"").unwrap();
    let LockStatus::Held { holder: named } = lock.status().unwrap() else {
        panic!("a new file in its place is not the lock");
    };
    assert!(
        named.ends_with("the lock file was replaced while it held it)"),
        "{named}"
    );

    drop(guard);
    assert_eq!(unlinked::holder(&path), None);
    assert_eq!(lock.status().unwrap(), LockStatus::Free);
    let other = dir.path().join("other.lock");
    assert_eq!(
        unlinked::holder(&other),
        None,
        "another path's lock is not this one"
    );
}
