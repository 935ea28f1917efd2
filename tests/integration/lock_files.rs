//! The lock file and its shared-words file sit in a data directory that another
//! local user (or a careless operator) can write. Nothing planted or done there may
//! make records-host write elsewhere, hang, die, or refuse a free lock, and a
//! timeout names the process that really holds the lock.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::support::*;

const NEVER: Duration = Duration::from_secs(60);

fn lock_path(env: &Env) -> std::path::PathBuf {
    env.db().with_file_name("db.lock")
}

fn shm_path(env: &Env) -> std::path::PathBuf {
    env.db().with_file_name("db.lock.shm")
}

#[test]
fn a_planted_symlink_is_never_written_through() {
    for shm in [false, true] {
        let env = Env::new();
        drop(env.open());
        let victim = env.dir.path().join("victim.txt");
        std::fs::write(&victim, b"precious, not a lock file").unwrap();
        let planted = if shm { shm_path(&env) } else { lock_path(&env) };
        let _ = std::fs::remove_file(&planted);
        std::os::unix::fs::symlink(&victim, &planted).unwrap();

        // The plugin gets the refusal as its store error; the CLI prints that
        // value (on stdout) and exits 1.
        // (The shared-words file is used only with the fair handoff on.)
        let output = run(env
            .cli("call", &[r#"create-record("x", 1)"#])
            .env_remove("RECORDS_HOST_LOCK_HANDOFF"));
        assert_exit(&output, 1);
        let err = format!("{}{}", stdout(&output), stderr(&output));
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(&format!(
                "lock file {} is a symbolic link, not a regular file; refusing to use it",
                planted.display()
            )),
            "{err}"
        );
        assert_eq!(
            std::fs::read(&victim).unwrap(),
            b"precious, not a lock file",
            "the link's target is untouched"
        );
        assert_eq!(env.open().count().unwrap(), 0, "nothing was written");
    }
}

#[test]
fn lock_status_neither_hangs_on_a_fifo_nor_calls_a_directory_free() {
    let env = Env::new();
    drop(env.open());
    std::fs::remove_file(lock_path(&env)).unwrap();
    std::fs::create_dir(lock_path(&env)).unwrap();
    let output = run_within(&mut env.cli("lock-status", &[]), NEVER);
    assert_exit(&output, 1);
    assert!(
        stderr(&output).contains("is a directory"),
        "{}",
        stderr(&output)
    );
    assert_eq!(stdout(&output), "", "not `free`");

    std::fs::remove_dir(lock_path(&env)).unwrap();
    let status = Command::new("mkfifo")
        .arg(lock_path(&env))
        .status()
        .unwrap();
    assert!(status.success());
    let output = run_within(&mut env.cli("lock-status", &[]), NEVER);
    assert_exit(&output, 1);
    assert!(stderr(&output).contains("is a FIFO"), "{}", stderr(&output));
}

/// Truncating `db.lock.shm` under running writers, again and again, kills none of
/// them (it used to kill them with SIGBUS, often after their write committed), and
/// every acknowledged write is there exactly once.
#[test]
fn truncating_the_shared_words_kills_no_writer() {
    const WRITERS: usize = 4;
    const ROUNDS: usize = 15;
    let env = Env::new();
    drop(env.open());
    let done = AtomicBool::new(false);
    let outputs = std::thread::scope(|scope| {
        scope.spawn(|| {
            let shm = shm_path(&env);
            while !done.load(Ordering::SeqCst) {
                if let Ok(file) = std::fs::OpenOptions::new().write(true).open(&shm) {
                    let _ = file.set_len(0);
                    let _ = file.set_len(4096);
                    let _ = file.set_len(0);
                }
                std::thread::yield_now();
            }
        });
        let outputs = fan_out(WRITERS, ROUNDS, |w, i| {
            env.call(&[
                "--lock-timeout",
                "10000",
                &format!("create-record(\"w{w}-{i}\", {i})"),
            ])
        });
        done.store(true, Ordering::SeqCst);
        outputs
    });
    for output in &outputs {
        assert_exit(output, 0);
    }
    assert_eq!(env.open().count().unwrap(), (WRITERS * ROUNDS) as u64);
    assert_eq!(integrity_check(&env.db()), "ok");
}

/// A full disk when the shared-words file is created kills no process (a sparse
/// file used to fault the first write to its page with SIGBUS): on a small tmpfs,
/// in a mount namespace of its own, filled to the last block, taking the lock
/// works (with plain backoff), a write fails with one line (the store's
/// `storage` error naming the full disk: the database's `-wal` and `-shm` files
/// are kept between opens, so opening needs no new file), and the data stored
/// before is intact.
#[test]
fn a_full_disk_kills_no_process() {
    let env = Env::new();
    let mnt = env.dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let script = r#"
        set -u
        mount -t tmpfs -o size=256k tmpfs "$DIR"
        "$BIN" call --db "$DIR/app.db" 'create-record("before", 1)' >/dev/null
        rm "$DIR/db.lock.shm"
        dd if=/dev/zero of="$DIR/fill" bs=4k 2>/dev/null || true
        "$BIN" lock-status --db "$DIR/app.db" --probe 100; echo "probe exit $?"
        "$BIN" call --db "$DIR/app.db" 'create-record("after", 2)'; echo "write exit $?"
        rm "$DIR/fill"
        "$BIN" call --db "$DIR/app.db" 'get-all-records()'; echo "read exit $?"
    "#;
    let output = run(Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", script])
        .env("DIR", &mnt)
        .env("BIN", BIN)
        .env("RECORDS_HOST_CACHE_DIR", shared_cache_dir())
        .env_remove("RECORDS_HOST_LOCK_HANDOFF")
        .env_remove("RUST_LOG"));
    let (out, err) = (stdout(&output), stderr(&output));
    assert_exit(&output, 0);
    assert!(out.contains("probe: 1 acquisitions"), "{out}\n{err}");
    assert!(out.contains("probe exit 0"), "{out}\n{err}");
    assert!(out.contains("write exit 1"), "{out}\n{err}");
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with(r#"err(storage("the database is full"#))
            .count(),
        1,
        "one line for the failed write: {out} / {err}"
    );
    assert!(!err.contains("records-host: "), "{err}");
    assert!(!err.contains("Bus error"), "{err}");
    assert!(
        out.contains(r#"ok([{id: 1, name: "before", value: 1}])"#) && out.contains("read exit 0"),
        "{out}\n{err}"
    );
}

/// Stale shared words (here: every byte 0xff) never make a writer fail on a free
/// lock, even with a zero timeout.
#[test]
fn garbage_in_the_shared_words_never_fails_a_free_lock() {
    let env = Env::new();
    drop(env.open());
    std::fs::write(shm_path(&env), vec![0xff; 4096]).unwrap();
    for i in 0..5 {
        let output = env.call(&["--lock-timeout", "0", &format!("create-record(\"z\", {i})")]);
        assert_exit(&output, 0);
    }
    assert_eq!(stdout(&run(&mut env.cli("lock-status", &[]))), "free");
}

/// A waiter killed while queued leaves its ticket behind, and the holder that
/// outlived it hands the lock to it on release. A writer with a zero timeout still
/// gets the free lock, and the holder clears the dead ticket.
#[test]
fn a_dead_waiters_ticket_never_fails_a_free_lock() {
    let env = Env::new();
    drop(env.open());
    let held = env.hold_lock();
    let mut waiter = env
        .cli(
            "call",
            &["--lock-timeout", "60000", r#"create-record("dead", 1)"#],
        )
        .spawn()
        .unwrap();
    // Long enough for the waiter to start and queue (setup, not a measurement).
    std::thread::sleep(Duration::from_millis(500));
    waiter.kill().unwrap();
    waiter.wait().unwrap();
    drop(held); // held past its lease with a waiter queued: hands over to the dead
    for i in 0..3 {
        let output = env.call(&[
            "--lock-timeout",
            "0",
            &format!("create-record(\"alive\", {i})"),
        ]);
        assert_exit(&output, 0);
    }
    assert_eq!(env.names(), ["alive", "alive", "alive"]);
}

/// A timeout names the process that holds the flock now: here one that wrote no
/// holder record, while the record left in the file is a dead process's.
#[test]
fn a_timeout_names_the_current_holder_not_a_stale_record() {
    let env = Env::new();
    assert_exit(&env.call(&[r#"create-record("x", 1)"#]), 0);
    let mut holder = spawn_raw_flock_holder(&lock_path(&env));
    let output = env.call(&["--lock-timeout", "50", r#"create-record("y", 2)"#]);
    assert_exit(&output, 75);
    let err = stderr(&output);
    let holder_line = err.lines().nth(1).unwrap_or_default();
    assert!(
        holder_line.starts_with(&format!("  holder: pid:{} ", holder.id())),
        "{err}"
    );
    assert!(
        holder_line.ends_with("(it wrote no holder record)"),
        "{err}"
    );
    assert!(!holder_line.contains("plugin:reference"), "{err}");
    let status = stdout(&run(&mut env.cli("lock-status", &[])));
    assert!(
        status.contains(&format!("holder: pid:{} ", holder.id())),
        "{status}"
    );
    holder.kill().unwrap();
    holder.wait().unwrap();
}

/// `RECORDS_HOST_LOCK_HANDOFF=off` is the portable mode (plain backoff, as on
/// platforms other than Linux): no shared-words file at all.
#[test]
fn the_portable_mode_uses_no_shared_words() {
    let env = Env::new();
    let output = run(env
        .cli("call", &[r#"create-record("x", 1)"#])
        .env("RECORDS_HOST_LOCK_HANDOFF", "off"));
    assert_exit(&output, 0);
    assert!(lock_path(&env).exists());
    assert!(!shm_path(&env).exists());
}

/// A long-lived process keeps no stale lock: after an operator deleted `db.lock`
/// and another writer took the new one, this process's next write waits for that
/// writer (it used to lock the deleted file and write alongside it).
#[test]
fn a_deleted_lock_file_is_reopened_not_locked_stale() {
    use records_host::LockError;
    use records_host::WriteLock;
    let env = Env::new();
    let db = env.open_with_timeout(50);
    db.insert("before", 1).unwrap();
    std::fs::remove_file(lock_path(&env)).unwrap();
    let held = WriteLock::new(lock_path(&env), Duration::ZERO)
        .acquire("test:new-holder")
        .unwrap();
    let blocked = db.write_lock().unwrap().acquire("test:stale");
    assert!(matches!(blocked, Err(LockError::Timeout(_))), "{blocked:?}");
    assert!(matches!(
        db.insert("during", 2),
        Err(records_host::RecordError::LockTimeout(_))
    ));
    drop(held);
    db.insert("after", 3).unwrap();
    assert_eq!(env.names(), ["before", "after"]);
}

/// Another program replacing `db.lock` in a loop (a fresh file renamed over it,
/// or the file deleted and created anew) under running writers gives each write
/// success or the retryable lock timeout (exit 75), never a refusal (exit 1: "a
/// file with 0 hard links", when the file a writer had just opened was unlinked
/// before it looked at it), and every acknowledged write is stored.
#[test]
fn a_lock_file_replaced_in_a_loop_gives_writers_the_lock_or_exit_75() {
    const WRITERS: usize = 4;
    const ROUNDS: usize = 25;
    let env = Env::new();
    drop(env.open());
    let done = AtomicBool::new(false);
    let outputs = std::thread::scope(|scope| {
        scope.spawn(|| {
            let (lock, fresh) = (lock_path(&env), env.db().with_file_name("fresh.lock"));
            let mut rename = true;
            while !done.load(Ordering::SeqCst) {
                if rename {
                    std::fs::write(&fresh, b"").unwrap();
                    std::fs::rename(&fresh, &lock).unwrap();
                } else {
                    let _ = std::fs::remove_file(&lock);
                    std::fs::write(&lock, b"").unwrap();
                }
                rename = !rename;
            }
        });
        let outputs = fan_out(WRITERS, ROUNDS, |w, i| {
            let name = format!("w{w}-{i}");
            (
                name.clone(),
                env.call(&[&format!("create-record(\"{name}\", 1)")]),
            )
        });
        done.store(true, Ordering::SeqCst);
        outputs
    });
    let mut stored: Vec<String> = Vec::new();
    for (name, output) in &outputs {
        match output.status.code() {
            Some(0) => stored.push(name.clone()),
            Some(75) => assert!(stderr(output).contains("write lock timeout"), "{name}"),
            _ => assert_exit(output, 0),
        }
    }
    let mut names = env.names();
    names.sort();
    stored.sort();
    assert!(!stored.is_empty(), "no write got through");
    assert_eq!(names, stored, "exactly the acknowledged writes are stored");
    assert_eq!(integrity_check(&env.db()), "ok");
}

/// With a write transaction open and `db.lock` deleted (or a new file in its
/// place), `lock-status` still says `held`, naming the process that holds the
/// lock on the file that was there (no second writer gets in: SQLite's own lock
/// stops it), where it used to say `free`; once the transaction is committed it
/// says `free`.
#[test]
fn lock_status_says_held_while_a_transaction_outlives_its_lock_file() {
    let env = Env::new();
    let db = env.open();
    let txn = db.begin_write().unwrap();
    txn.insert("inside", 1).unwrap();
    std::fs::remove_file(lock_path(&env)).unwrap();

    let output = run(&mut env.cli("lock-status", &[]));
    assert_exit(&output, 0);
    let status = stdout(&output);
    let lines: Vec<&str> = status.lines().collect();
    assert_eq!(lines.first(), Some(&"held"), "{status}");
    let holder = lines.get(1).copied().unwrap_or_default();
    assert!(
        holder.starts_with(&format!("  holder: pid:{} ", std::process::id())),
        "{status}"
    );
    assert!(
        holder.ends_with("the lock file was deleted while it held it)"),
        "{status}"
    );
    assert!(!lock_path(&env).exists(), "lock-status created nothing");

    // A new, unlocked lock file in its place (as after a rename over it).
    std::fs::write(lock_path(&env), b"").unwrap();
    let status = stdout(&run(&mut env.cli("lock-status", &[])));
    assert!(status.starts_with("held\n"), "{status}");
    assert!(
        status.ends_with("the lock file was replaced while it held it)"),
        "{status}"
    );

    txn.commit().unwrap();
    assert_eq!(stdout(&run(&mut env.cli("lock-status", &[]))), "free");
    assert_eq!(env.names(), ["inside"]);
}
