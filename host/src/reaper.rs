//! Rolls back write transactions that outlive their deadline, whatever their holder
//! is doing.
//!
//! A plugin that opens a transaction and then loops, sleeps or simply never commits
//! must not hold the cross-process write lock forever. Checking the deadline when
//! the transaction is next used is not enough (a looping guest never uses it
//! again), and wasmtime's epoch and fuel interruption do not reach a guest blocked
//! in a host call. So one background thread per process keeps the deadlines of
//! open transactions and, when one passes, rolls that transaction back and releases
//! its lock from outside the guest; the transaction's next use then errors.
//!
//! The queue holds weak references: a committed or dropped transaction costs the
//! reaper nothing but one skipped entry.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::Instant;

use crate::txn::TxnShared;
use crate::util::locked;

/// Expires `txn` at `deadline` unless it has finished by then.
pub(crate) fn watch(deadline: Instant, txn: Weak<TxnShared>) {
    let queue = QUEUE.get_or_init(start);
    let mut heap = locked(&queue.heap);
    let wake = heap.peek().is_none_or(|first| deadline < first.deadline);
    heap.push(Entry { deadline, txn });
    drop(heap);
    if wake {
        queue.wake.notify_one();
    }
}

static QUEUE: OnceLock<Arc<Queue>> = OnceLock::new();

#[derive(Default)]
struct Queue {
    heap: Mutex<BinaryHeap<Entry>>,
    wake: Condvar,
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
    let mut heap = locked(&queue.heap);
    loop {
        let now = Instant::now();
        let next = heap.peek().map(|first| first.deadline);
        heap = match next {
            None => queue.wake.wait(heap).unwrap_or_else(|e| e.into_inner()),
            Some(deadline) if deadline > now => {
                queue
                    .wake
                    .wait_timeout(heap, deadline - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
            Some(_) => {
                let due = heap.pop().map(|entry| entry.txn);
                drop(heap);
                if let Some(txn) = due.and_then(|weak| weak.upgrade()) {
                    txn.expire();
                }
                locked(&queue.heap)
            }
        };
    }
}

/// A deadline in the queue; the heap's top is the earliest.
struct Entry {
    deadline: Instant,
    txn: Weak<TxnShared>,
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        other.deadline.cmp(&self.deadline)
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.deadline == other.deadline
    }
}

impl Eq for Entry {}
