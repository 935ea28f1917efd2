//! Unit tests of the shared words: queue order, handoff, repair, refusal.

use super::*;
use crate::lock::write_lock::{LOCK_FILE_NAME, WriteLock};

fn lock_in(dir: &tempfile::TempDir, timeout_ms: u64) -> WriteLock {
    WriteLock::new(
        dir.path().join(LOCK_FILE_NAME),
        Duration::from_millis(timeout_ms),
    )
}

fn handoff(dir: &tempfile::TempDir) -> Handoff {
    Handoff::open(&dir.path().join("db.lock"))
        .unwrap()
        .expect("mappable")
}

fn shm(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("db.lock.shm")
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

#[test]
fn a_holder_drops_dead_waiters_and_clears_a_handoff_nobody_takes() {
    let dir = tempfile::tempdir().unwrap();
    let h = handoff(&dir);
    let dead = h.take_ticket().unwrap();
    let alive = h.take_ticket().unwrap();
    assert!(h.released(true));
    h.words().slots[dead.slot()]
        .heartbeat_ms
        .store(now_ms() - 10 * DEAD_AFTER_MS, Ordering::Release);
    h.repair();
    assert!(!h.holds(dead) && h.holds(alive), "only the dead one goes");
    assert!(h.handing_off(), "a live waiter is still to be served");
    h.words().slots[alive.slot()]
        .heartbeat_ms
        .store(0, Ordering::Release);
    h.repair();
    assert!(!h.holds(alive));
    assert!(!h.handing_off(), "nobody is left to take it");
}

#[test]
fn a_file_of_another_layout_or_of_garbage_is_never_trusted() {
    let dir = tempfile::tempdir().unwrap();
    drop(handoff(&dir));
    std::fs::write(shm(&dir), vec![0xff; FILE_LEN]).unwrap();
    let h = handoff(&dir);
    assert!(!h.handing_off(), "0xff everywhere reads as no handoff");
    assert_eq!(h.take_ticket(), None, "and no queue");
    h.repair();
    assert!(h.usable(), "a holder resets garbage");
    assert_eq!(h.words().outstanding.load(Ordering::Acquire), 0);

    let other_version = MAGIC | (7 << 32);
    h.words().header.store(other_version, Ordering::Release);
    h.words().handoff.store(1, Ordering::Release);
    h.repair();
    assert!(
        !h.usable() && !h.handing_off(),
        "another layout is left alone"
    );
    assert_eq!(
        h.words().header.load(Ordering::Acquire),
        other_version,
        "and not rewritten"
    );
}

#[test]
fn a_planted_symlink_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"keep").unwrap();
    std::os::unix::fs::symlink(&victim, shm(&dir)).unwrap();
    let err = Handoff::open(&dir.path().join("db.lock")).unwrap_err();
    assert!(matches!(err, LockError::NotARegularFile { .. }), "{err}");
    assert_eq!(std::fs::read(victim).unwrap(), b"keep");
}

/// A free lock is taken with a zero timeout even when the shared words say that a
/// handoff is under way to a waiter: the writer's one attempt is never skipped.
#[test]
fn zero_timeout_takes_a_free_lock_despite_a_pending_handoff() {
    let dir = tempfile::tempdir().unwrap();
    let lock = lock_in(&dir, 0);
    drop(lock.acquire("").unwrap());
    let other = Handoff::open(lock.path()).unwrap().expect("mappable");
    other.take_ticket().expect("a ticket");
    assert!(other.released(true), "a handoff is now pending");
    assert!(other.handing_off());
    drop(lock_in(&dir, 0).acquire("zero").unwrap());
}

/// A process that takes the lock again right after itself, with the same label,
/// finds its own record still there and leaves it; a new label, or another
/// holder in between, makes it write its record again.
#[test]
fn a_holders_own_record_is_rewritten_only_when_it_changed_hands_or_label() {
    let dir = tempfile::tempdir().unwrap();
    let lock = lock_in(&dir, 0);
    let record = || std::fs::read(lock.path()).unwrap();
    let pause = || std::thread::sleep(Duration::from_millis(5));
    drop(lock.acquire("plugin:a").unwrap());
    let first = record();
    pause();
    drop(lock.acquire("plugin:a").unwrap());
    assert_eq!(record(), first, "still its own: left in place");
    drop(lock.acquire("plugin:b").unwrap());
    let second = record();
    assert_ne!(second, first, "a new label is written");
    // Another process takes the lock in between (it counts its acquisition in
    // the shared words, as every holder does).
    let other = Handoff::open(lock.path()).unwrap().expect("mappable");
    other.count_acquisition().unwrap();
    pause();
    drop(lock.acquire("plugin:b").unwrap());
    assert_ne!(record(), second, "after another holder it is written again");
}
