//! Rolls back write transactions that outlive their deadline, whatever their holder
//! is doing.
//!
//! A plugin that opens a transaction and then loops, sleeps or simply never commits
//! must not hold the cross-process write lock forever, and neither may an embedder
//! that forgets a transaction. Checking the deadline when the transaction is next
//! used is not enough (a looping guest never uses it again), so one background
//! thread per process keeps the deadlines of open transactions and, when one
//! passes, expires that transaction from outside (rolls it back and releases its
//! lock); its next use then errors.
//!
//! The queue holds only open transactions: [`watch`] returns a [`Watched`] that
//! the transaction keeps and drops when it ends, which removes its entry, so the
//! queue's size is the number of open transactions, not the rate of transactions
//! times the deadline. It knows nothing of SQL: anything that can [`Expire`] can be
//! watched.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::Instant;

use crate::sync::locked;

/// Something with a deadline that the reaper ends from outside.
pub(crate) trait Expire: Send + Sync {
    /// Ends it, because its deadline has passed.
    fn expire(&self);
}

/// The entry of one watched deadline; dropping it stops the watch.
#[derive(Debug)]
#[must_use = "the deadline is watched only while this is kept"]
pub(crate) struct Watched {
    key: (Instant, u64),
}

impl Drop for Watched {
    fn drop(&mut self) {
        if let Some(queue) = QUEUE.get() {
            locked(&queue.state).deadlines.remove(&self.key);
        }
    }
}

/// Expires `what` at `deadline` unless the returned [`Watched`] is dropped first.
pub(crate) fn watch(deadline: Instant, what: Weak<dyn Expire>) -> Watched {
    let queue = QUEUE.get_or_init(start);
    let mut state = locked(&queue.state);
    let key = (deadline, state.next_id);
    state.next_id += 1;
    let earliest = state
        .deadlines
        .first_key_value()
        .is_none_or(|(first, _)| key < *first);
    state.deadlines.insert(key, what);
    drop(state);
    if earliest {
        queue.wake.notify_one();
    }
    Watched { key }
}

/// How many deadlines are watched now.
#[cfg(test)]
pub(crate) fn watched() -> usize {
    QUEUE
        .get()
        .map_or(0, |queue| locked(&queue.state).deadlines.len())
}

static QUEUE: OnceLock<Arc<Queue>> = OnceLock::new();

#[derive(Default)]
struct Queue {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    deadlines: BTreeMap<(Instant, u64), Weak<dyn Expire>>,
    next_id: u64,
}

fn start() -> Arc<Queue> {
    let queue = Arc::new(Queue::default());
    let worker = queue.clone();
    let spawned = std::thread::Builder::new()
        .name("records-txn-reaper".into())
        .spawn(move || run(&worker));
    if let Err(e) = spawned {
        // Deadlines are still enforced when a transaction is next used.
        tracing::error!(error = %e, "cannot start the transaction reaper thread");
    }
    queue
}

fn run(queue: &Queue) {
    let mut state = locked(&queue.state);
    loop {
        let now = Instant::now();
        let next = state.deadlines.first_key_value().map(|(key, _)| key.0);
        state = match next {
            None => queue.wake.wait(state).unwrap_or_else(|e| e.into_inner()),
            Some(deadline) if deadline > now => {
                queue
                    .wake
                    .wait_timeout(state, deadline - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
            Some(_) => {
                let due = state.deadlines.pop_first().map(|(_, what)| what);
                drop(state);
                if let Some(what) = due.and_then(|weak| weak.upgrade()) {
                    what.expire();
                }
                locked(&queue.state)
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    #[derive(Default)]
    struct Flag(AtomicBool);

    impl Expire for Flag {
        fn expire(&self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_due_deadline_expires_and_a_dropped_watch_is_forgotten_at_once() {
        let due = Arc::new(Flag::default());
        let weak: Weak<dyn Expire> = Arc::downgrade(&due) as Weak<dyn Expire>;
        let _watched = watch(Instant::now() + Duration::from_millis(20), weak);
        let far = Arc::new(Flag::default());
        let before = watched();
        let far_weak: Weak<dyn Expire> = Arc::downgrade(&far) as Weak<dyn Expire>;
        let far_watch = watch(Instant::now() + Duration::from_secs(3600), far_weak);
        assert!(watched() > before);
        drop(far_watch);
        let start = Instant::now();
        while !due.0.load(Ordering::SeqCst) {
            assert!(start.elapsed() < Duration::from_secs(10), "never expired");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(!far.0.load(Ordering::SeqCst));
    }
}
