//! A writer killed with SIGKILL while it holds the lock inside an open write
//! transaction: the lock goes at once (the kernel drops a flock with the process;
//! PostgreSQL ends the session, and its transaction, when the connection closes),
//! and the dead writer's transaction leaves nothing behind.

use std::time::{Duration, Instant};

use records_host::LockStatus;

use crate::support::*;

/// Waits until the lock is free: at once on SQLite, within the moment the server
/// takes to notice a closed connection on PostgreSQL (bounded here by 10 s).
#[track_caller]
pub fn wait_until_free(env: &Env) {
    let start = Instant::now();
    while env.open().lock_status().unwrap() != LockStatus::Free {
        assert!(
            env.is_postgres() && start.elapsed() < Duration::from_secs(10),
            "the lock is still held"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

on_both! {
    fn a_sigkilled_holder_releases_the_lock_and_leaves_no_partial_write(env) {
        env.open().write(|w| w.insert("before", 1)).unwrap();
        let mut holder = spawn_lock_holder(&env.db_in_process());

        let status = run(&mut env.cli("lock-status", &[]));
        assert_exit(&status, 0);
        let text = stdout(&status);
        assert!(text.starts_with("held"), "{text}");
        assert!(text.contains(&format!("pid:{} ", holder.id())), "{text}");
        assert!(text.contains("test:lock-holder-process"), "{text}");

        let blocked = env.call(&["--lock-timeout", "50", r#"create-record("blocked", 2)"#]);
        assert_exit(&blocked, 75);

        holder.kill().unwrap(); // SIGKILL: no destructor, no unlock, no rollback runs
        holder.wait().unwrap();

        wait_until_free(&env);
        assert_eq!(stdout(&run(&mut env.cli("lock-status", &[]))), "free");
        // A zero timeout makes exactly one attempt: it succeeds only if the lock is
        // already free, with no stale-lock wait.
        let after = env.call(&["--lock-timeout", "0", r#"create-record("after", 3)"#]);
        assert_exit(&after, 0);

        assert_eq!(
            env.names(),
            ["before", "after"],
            "the killed writer's inserts are not visible"
        );
        env.assert_intact();
    }
}
