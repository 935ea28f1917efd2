//! A writer killed with SIGKILL while it holds the lock inside an open write
//! transaction: the kernel drops its flock at once, SQLite discards its write.

use crate::support::*;

#[test]
fn a_sigkilled_holder_releases_the_lock_at_once_and_leaves_no_partial_write() {
    let env = Env::new();
    env.open().write(|w| w.insert("before", 1)).unwrap();
    let mut holder = spawn_lock_holder(&env.db());

    let status = run(&mut env.cli("lock-status", &[]));
    assert_exit(&status, 0);
    let text = stdout(&status);
    assert!(text.starts_with("held"), "{text}");
    assert!(text.contains(&format!("pid:{}", holder.id())), "{text}");
    assert!(text.contains("test:lock-holder-process"), "{text}");

    let blocked = env.call(&["--lock-timeout", "50", r#"create-record("blocked", 2)"#]);
    assert_exit(&blocked, 75);

    holder.kill().unwrap(); // SIGKILL: no destructor, no unlock, no rollback runs
    holder.wait().unwrap();

    assert_eq!(stdout(&run(&mut env.cli("lock-status", &[]))), "free");
    // A zero timeout makes exactly one attempt: it succeeds only if the lock is
    // already free, with no stale-lock wait.
    let after = env.call(&["--lock-timeout", "0", r#"create-record("after", 3)"#]);
    assert_exit(&after, 0);

    let names = env.names();
    assert_eq!(
        names,
        ["before", "after"],
        "the killed writer's insert is not visible"
    );
    assert_eq!(integrity_check(&env.db()), "ok");
}
