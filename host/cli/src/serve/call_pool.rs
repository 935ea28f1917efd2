//! The threads plugin calls run on.
//!
//! A plugin call blocks its thread (wasmtime's synchronous API, SQLite, the write
//! lock's backoff), so it cannot run on the async reactor's threads. Tokio's
//! `spawn_blocking` pool (and smol's `blocking`) wake a parked thread for every job
//! while any thread is parked; under load that is a futex wake and a context
//! switch on the way in and another on the way out of every call, about a third
//! of the server's CPU under `just bench-serve` (`perf`, BENCHMARKS.md).
//!
//! This pool keeps the calls on a few *hot* threads, one per core, which take
//! calls from one queue back to back and park only when it is empty. A watchdog
//! adds threads, up to the bound on calls at once, while calls are queued and
//! either fewer than one thread per core is free of a call older than
//! [`STUCK`] (threads held by calls that sleep, wait for a tenant's write lock
//! or run to their time limit: they use no core, or one a limit will free), or
//! no call has finished for [`STALL`]. A call of another tenant thus waits about
//! `STUCK` behind stuck calls at most, and the stuck calls are bounded by their
//! own limits; a server that is merely busy (calls short, the cores full) gets
//! no threads that would only contend for the same cores, and the memory each
//! thread keeps. Added threads are woken only by the watchdog, never per call,
//! and end after [`EXTRA_IDLE`] without work. That scheduling policy is the
//! point of the module, which is why no crate's pool is used.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// How long calls may be queued with none finishing before a thread is added.
const STALL: Duration = Duration::from_millis(2);

/// How long a call runs before its thread counts as stuck, not running.
const STUCK: Duration = Duration::from_millis(20);

/// How long an added thread waits for work before it ends.
const EXTRA_IDLE: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

/// What a call's thread hands back: the call's value, or its panic.
pub(crate) type Joined<T> = thread::Result<T>;

/// A pool of threads for blocking plugin calls; dropping it runs the calls
/// already queued, then joins its threads.
pub(crate) struct CallPool {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Hot threads park here; a queued call wakes one.
    hot: Condvar,
    /// Added threads park here; only the watchdog wakes them.
    extra: Condvar,
    /// The watchdog parks here while nothing is queued.
    watch: Condvar,
    /// Threads at most: as many as calls may run at once.
    max_threads: usize,
    /// Threads kept running calls: one per core.
    hot_threads: usize,
}

#[derive(Default)]
struct State {
    queue: VecDeque<(Instant, Job)>,
    hot_idle: usize,
    extra_idle: usize,
    /// Per thread, by the slot it was given when it started: when its current
    /// call started (`None` while it has none).
    busy_since: Vec<Option<Instant>>,
    /// Slots of `busy_since` no thread holds.
    free_slots: Vec<usize>,
    /// Calls finished so far: the watchdog's measure of progress.
    finished: u64,
    watchdog_parked: bool,
    closing: bool,
    handles: Vec<JoinHandle<()>>,
}

impl CallPool {
    /// A pool of at most `max_threads` threads (at least one), one per core
    /// started now.
    pub(crate) fn new(max_threads: usize) -> Self {
        let max_threads = max_threads.max(1);
        let hot = thread::available_parallelism()
            .map_or(1, usize::from)
            .min(max_threads);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            hot: Condvar::new(),
            extra: Condvar::new(),
            watch: Condvar::new(),
            max_threads,
            hot_threads: hot,
        });
        let mut state = shared.lock();
        for _ in 0..hot {
            shared.spawn(&mut state, Role::Hot);
        }
        let watchdog = Arc::clone(&shared);
        let handle = thread::Builder::new()
            .name("call-watchdog".into())
            .spawn(move || watchdog.watch())
            .expect("cannot start the call pool's watchdog thread");
        state.handles.push(handle);
        drop(state);
        Self { shared }
    }

    /// Runs `call` on one of the pool's threads; the receiver gets its value, or
    /// its panic.
    pub(crate) fn run<T: Send + 'static>(
        &self,
        call: impl FnOnce() -> T + Send + 'static,
    ) -> oneshot::Receiver<Joined<T>> {
        let (sender, receiver) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = sender.send(catch_unwind(AssertUnwindSafe(call)));
        });
        let mut state = self.shared.lock();
        state.queue.push_back((Instant::now(), job));
        let wake_hot = state.hot_idle > 0;
        let wake_watchdog = std::mem::take(&mut state.watchdog_parked);
        drop(state);
        if wake_hot {
            self.shared.hot.notify_one();
        }
        if wake_watchdog {
            self.shared.watch.notify_one();
        }
        receiver
    }

    /// Threads running now.
    #[cfg(test)]
    fn threads(&self) -> usize {
        self.shared.lock().threads()
    }
}

impl Drop for CallPool {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.closing = true;
        let handles = std::mem::take(&mut state.handles);
        drop(state);
        self.shared.hot.notify_all();
        self.shared.extra.notify_all();
        self.shared.watch.notify_all();
        for handle in handles {
            let _ = handle.join();
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Hot,
    Extra,
}

impl State {
    /// Threads running now: one per slot held.
    fn threads(&self) -> usize {
        self.busy_since.len() - self.free_slots.len()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A job's panic is caught inside the job, so the lock is never poisoned by
        // one; recover the state rather than take the server down if it were.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn spawn(self: &Arc<Self>, state: &mut State, role: Role) {
        state.handles.retain(|handle| !handle.is_finished());
        let slot = state.free_slots.pop().unwrap_or_else(|| {
            state.busy_since.push(None);
            state.busy_since.len() - 1
        });
        let shared = Arc::clone(self);
        let spawned = thread::Builder::new()
            .name("call".into())
            .spawn(move || shared.work(role, slot));
        match spawned {
            Ok(handle) => state.handles.push(handle),
            Err(e) => {
                state.free_slots.push(slot);
                tracing::warn!("cannot start a call thread: {e}");
            }
        }
    }

    /// A call thread: runs queued calls until the pool closes and the queue is
    /// empty (an added thread also ends after `EXTRA_IDLE` without work).
    fn work(&self, role: Role, slot: usize) {
        let mut state = self.lock();
        loop {
            if let Some((_, job)) = state.queue.pop_front() {
                state.busy_since[slot] = Some(Instant::now());
                drop(state);
                job();
                state = self.lock();
                state.busy_since[slot] = None;
                state.finished += 1;
                continue;
            }
            if state.closing {
                break;
            }
            match role {
                Role::Hot => {
                    state.hot_idle += 1;
                    state = self.hot.wait(state).unwrap_or_else(|e| e.into_inner());
                    state.hot_idle -= 1;
                }
                Role::Extra => {
                    state.extra_idle += 1;
                    let (next, timeout) = self
                        .extra
                        .wait_timeout(state, EXTRA_IDLE)
                        .unwrap_or_else(|e| e.into_inner());
                    state = next;
                    state.extra_idle -= 1;
                    if timeout.timed_out() && state.queue.is_empty() {
                        break;
                    }
                }
            }
        }
        state.free_slots.push(slot);
    }

    /// Adds a thread whenever calls are queued and fewer than `hot_threads` are
    /// running calls that are not stuck, or no call has finished for `STALL`.
    fn watch(self: &Arc<Self>) {
        let mut state = self.lock();
        let mut seen = state.finished;
        loop {
            let Some(&(queued, _)) = state.queue.front() else {
                if state.closing {
                    return;
                }
                state.watchdog_parked = true;
                state = self.watch.wait(state).unwrap_or_else(|e| e.into_inner());
                continue;
            };
            let no_progress = queued.elapsed() >= STALL && state.finished == seen;
            seen = state.finished;
            let stuck = state
                .busy_since
                .iter()
                .flatten()
                .filter(|since| since.elapsed() >= STUCK)
                .count();
            let running = state.threads().saturating_sub(stuck + state.extra_idle);
            if no_progress || running < self.hot_threads {
                if state.extra_idle > 0 {
                    self.extra.notify_one();
                } else if state.threads() < self.max_threads && !state.closing {
                    self.spawn(&mut state, Role::Extra);
                }
            }
            drop(state);
            thread::sleep(STALL);
            state = self.lock();
        }
    }
}

#[cfg(test)]
mod tests;
