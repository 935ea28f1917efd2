//! The call pool's scheduling: values and panics come back, stuck calls get
//! threads added up to the bound, and dropping the pool runs what is queued.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use super::*;

/// Waits for a call's result, failing the test after `within` rather than
/// hanging it.
fn wait<T>(mut receiver: oneshot::Receiver<Joined<T>>, within: Duration) -> Joined<T> {
    let deadline = Instant::now() + within;
    loop {
        match receiver.try_recv() {
            Ok(joined) => return joined,
            Err(oneshot::error::TryRecvError::Empty) if Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("no result within {within:?}: {e}"),
        }
    }
}

#[test]
fn a_call_returns_its_value_and_a_panic_is_caught() {
    let pool = CallPool::new(4);
    let value = wait(pool.run(|| 6 * 7), Duration::from_secs(10));
    assert_eq!(value.unwrap(), 42);
    let panicked = wait(pool.run(|| panic!("boom")), Duration::from_secs(10));
    assert!(panicked.is_err());
    // The thread that caught the panic still serves calls.
    let counter = Arc::new(AtomicUsize::new(0));
    let receivers: Vec<_> = (0..100)
        .map(|_| {
            let counter = Arc::clone(&counter);
            pool.run(move || counter.fetch_add(1, Ordering::SeqCst))
        })
        .collect();
    for receiver in receivers {
        wait(receiver, Duration::from_secs(10)).unwrap();
    }
    assert_eq!(counter.load(Ordering::SeqCst), 100);
}

#[test]
fn calls_stuck_on_every_thread_do_not_hold_up_the_next() {
    let cores = thread::available_parallelism().map_or(1, usize::from);
    let max = cores * 3 + 1;
    let pool = CallPool::new(max);
    let hot = pool.threads();
    assert_eq!(hot, cores);
    // Twice as many stuck calls as hot threads: each waits for a release.
    let (release, stuck) = mpsc::channel::<()>();
    let stuck = Arc::new(Mutex::new(stuck));
    let stuck_calls: Vec<_> = (0..hot * 2)
        .map(|_| {
            let stuck = Arc::clone(&stuck);
            pool.run(move || stuck.lock().unwrap().recv().unwrap())
        })
        .collect();
    // A call queued behind them runs on a thread the pool adds.
    let quick = wait(pool.run(|| "done"), Duration::from_secs(10));
    assert_eq!(quick.unwrap(), "done");
    assert!(
        pool.threads() > hot,
        "{} threads, {hot} hot",
        pool.threads()
    );
    assert!(pool.threads() <= max);
    for _ in 0..hot * 2 {
        release.send(()).unwrap();
    }
    for call in stuck_calls {
        wait(call, Duration::from_secs(10)).unwrap();
    }
}

#[test]
fn a_stuck_thread_is_replaced_while_the_others_make_progress() {
    let pool = CallPool::new(16);
    let hot = pool.threads();
    let (release, stuck) = mpsc::channel::<()>();
    let stuck_call = pool.run(move || stuck.recv().unwrap());
    // Short calls keep finishing all along, so only the stuck one can make
    // the pool add a thread.
    let deadline = Instant::now() + STUCK * 10;
    while Instant::now() < deadline {
        let batch: Vec<_> = (0..4)
            .map(|_| pool.run(|| thread::sleep(Duration::from_millis(1))))
            .collect();
        for quick in batch {
            wait(quick, Duration::from_secs(10)).unwrap();
        }
    }
    assert!(
        pool.threads() > hot,
        "{} threads, {hot} hot",
        pool.threads()
    );
    release.send(()).unwrap();
    wait(stuck_call, Duration::from_secs(10)).unwrap();
}

#[test]
fn threads_never_exceed_the_bound() {
    let pool = CallPool::new(2);
    let (release, stuck) = mpsc::channel::<()>();
    let stuck = Arc::new(Mutex::new(stuck));
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let stuck = Arc::clone(&stuck);
            pool.run(move || stuck.lock().unwrap().recv().unwrap())
        })
        .collect();
    // Long enough for the watchdog to try adding threads many times.
    thread::sleep(STALL * 20);
    assert_eq!(pool.threads(), 2);
    for _ in 0..3 {
        release.send(()).unwrap();
    }
    for call in calls {
        wait(call, Duration::from_secs(10)).unwrap();
    }
}

#[test]
fn dropping_the_pool_runs_the_queued_calls_first() {
    let counter = Arc::new(AtomicUsize::new(0));
    let pool = CallPool::new(1);
    for _ in 0..50 {
        let counter = Arc::clone(&counter);
        drop(pool.run(move || {
            thread::sleep(Duration::from_micros(200));
            counter.fetch_add(1, Ordering::SeqCst);
        }));
    }
    drop(pool);
    assert_eq!(counter.load(Ordering::SeqCst), 50);
}
