//! Plugin files as the `records-host` binary meets them: loaded from files, bad
//! files refused in one line, devices and oversized files not read, and the
//! compiled-plugin cache surviving corruption and refusing entries others could
//! have written.

use crate::support::*;

#[test]
fn plugins_load_from_files_and_bad_files_fail_in_one_line() {
    let env = Env::new();
    let plugin = env.dir.path().join("copy.wasm");
    std::fs::write(&plugin, records_host::REFERENCE_PLUGIN).unwrap();
    let plugin_arg = plugin.to_str().unwrap();
    let output = env.call(&["--plugin", plugin_arg, r#"create-record("via file", 1)"#]);
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "ok(1)");

    let junk = env.dir.path().join("junk.wasm");
    std::fs::write(&junk, b"not a component").unwrap();
    for path in [junk.to_str().unwrap(), "/nonexistent/plugin.wasm"] {
        let output = env.call(&["--plugin", path, "get-record(1)"]);
        assert_exit(&output, 1);
        let err = stderr(&output);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("cannot load plugin"), "{err}");
    }
    assert_eq!(env.open().count().unwrap(), 1, "stored data is untouched");
}

on_both! {
    fn lock_status_reports_free_and_held(env) {
        assert_eq!(stdout(&run(&mut env.cli("lock-status", &[]))), "free");
        let held = env.hold_lock();
        let output = run(&mut env.cli("lock-status", &[]));
        assert_exit(&output, 0);
        assert_eq!(
            stdout(&output).lines().next(),
            Some("held"),
            "{}",
            stdout(&output)
        );
        assert!(
            stdout(&output).contains("\n  holder: pid:"),
            "{}",
            stdout(&output)
        );
        assert_names_test_holder(&stdout(&output));
        drop(held);
        assert_eq!(stdout(&run(&mut env.cli("lock-status", &[]))), "free");
    }
}

/// A corrupt or truncated cache entry is detected by its checksum, recompiled and
/// replaced; `--no-cache` writes nothing.
#[test]
fn the_compiled_plugin_cache_survives_corruption() {
    let env = Env::new();
    let cache = env.dir.path().join("cache");
    let call = |extra: &[&str]| {
        let mut cmd = env.cli("call", extra);
        cmd.arg("get-all-records()")
            .env("RECORDS_HOST_CACHE_DIR", &cache);
        run(&mut cmd)
    };
    assert_exit(&call(&["--no-cache"]), 0);
    assert!(!cache.exists(), "--no-cache writes no cache");

    assert_exit(&call(&[]), 0);
    let entries: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    let good = std::fs::read(entry).unwrap();

    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0xff;
    for corrupt in [
        flipped,
        good[..good.len() / 3].to_vec(),
        b"garbage".to_vec(),
    ] {
        std::fs::write(entry, &corrupt).unwrap();
        let output = call(&[]);
        assert_exit(&output, 0);
        assert_eq!(stdout(&output), "ok([])");
        assert_eq!(
            std::fs::read(entry).unwrap(),
            good,
            "the entry was rewritten"
        );
    }
}

/// A cache entry that someone else could have written is never run: it is
/// ignored (with a warning) and the plugin compiled in memory.
#[test]
fn cache_entries_others_could_have_written_are_not_loaded() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let cache = env.dir.path().join("cache");
    let call = |args: &[&str]| {
        let mut cmd = env.cli("call", args);
        cmd.env("RECORDS_HOST_CACHE_DIR", &cache)
            .env("RUST_LOG", "records_host=warn");
        run(&mut cmd)
    };
    let hostile = ["--plugin", records_test_fixtures::HOSTILE, "scan-count(1)"];
    assert_exit(&call(&hostile), 0);
    assert_exit(&call(&["get-all-records()"]), 0);
    let mode = std::fs::metadata(&cache).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "created private");

    // Plant the hostile plugin's compiled code under the reference plugin's name,
    // as a shared cache's other user could: a valid entry, but not this user's.
    let entries: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let reference_key = sha256_hex(records_host::REFERENCE_PLUGIN);
    let (reference, hostile_entry): (Vec<_>, Vec<_>) = entries.iter().partition(|path| {
        path.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with(&reference_key)
    });
    let (reference, hostile_entry) = (reference[0], hostile_entry[0]);
    std::fs::copy(hostile_entry, reference).unwrap();
    std::os::unix::fs::chown(reference, Some(4242), Some(4242)).unwrap();
    let output = call(&[r#"create-record("safe", 1)"#]);
    assert_exit(&output, 0);
    assert!(
        stderr(&output).contains("not loading a plugin cache entry"),
        "{}",
        stderr(&output)
    );

    // Written by this user but writable by others: not trusted either.
    std::fs::copy(hostile_entry, reference).unwrap();
    std::os::unix::fs::chown(reference, Some(0), Some(0)).unwrap();
    std::fs::set_permissions(reference, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert_exit(&call(&[r#"create-record("safe", 2)"#]), 0);

    // A cache directory others may write is not used at all.
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let output = call(&["get-all-records()"]);
    assert_exit(&output, 0);
    assert!(
        stderr(&output).contains("not using the plugin cache"),
        "{}",
        stderr(&output)
    );
    assert_eq!(env.open().count().unwrap(), 2);
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A plugin path that is not a regular file, or is too large, is one clear error.
#[test]
fn devices_and_oversized_files_are_not_read_as_plugins() {
    let env = Env::new();
    let output = run_within(
        &mut env.cli("call", &["--plugin", "/dev/zero", "get-record(1)"]),
        std::time::Duration::from_secs(60),
    );
    assert_exit(&output, 1);
    assert_eq!(
        stderr(&output),
        "records-host: cannot load plugin zero: /dev/zero is not a regular file"
    );
    let big = env.dir.path().join("big.wasm");
    std::fs::write(&big, vec![0u8; (2 << 20) + 1]).unwrap();
    let output = env.call(&[
        "--max-plugin-size",
        "2",
        "--plugin",
        big.to_str().unwrap(),
        "get-record(1)",
    ]);
    assert_exit(&output, 1);
    assert!(
        stderr(&output).ends_with("is larger than the 2 MiB plugin size limit"),
        "{}",
        stderr(&output)
    );
}
