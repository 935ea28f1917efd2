//! Builds the reference guest (`guest/`) for `wasm32-wasip2` and hands its path to
//! the crate as `REFERENCE_GUEST_WASM`, so the binary and library embed it.
//!
//! The nested `cargo build` uses its own target directory (`<target>/guests`), shared
//! by every profile of the host, so each guest change is compiled once, not once per
//! profile, and it never waits on the outer build's lock.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const GUEST_PACKAGE: &str = "records-guest";
const GUEST_ARTIFACT: &str = "records_guest.wasm";
const TARGET: &str = "wasm32-wasip2";
const PROFILE: &str = "guest";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest_dir.parent().expect("host/ sits in the workspace");
    for watched in ["guest/src", "guest/Cargo.toml", "wit", "Cargo.lock"] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    let guest_target = guests_target_dir(&out_dir);
    build_guest(workspace, &guest_target);

    let built = guest_target.join(TARGET).join(PROFILE).join(GUEST_ARTIFACT);
    // Copy into OUT_DIR so concurrent builds of other profiles never swap the file
    // under this one's include_bytes!.
    let embedded = out_dir.join(GUEST_ARTIFACT);
    std::fs::copy(&built, &embedded)
        .unwrap_or_else(|e| panic!("copying {} failed: {e}", built.display()));
    println!(
        "cargo:rustc-env=REFERENCE_GUEST_WASM={}",
        embedded.display()
    );
}

/// `<target>/guests`, found from `OUT_DIR` = `<target>/<profile>/build/<pkg>-<hash>/out`.
fn guests_target_dir(out_dir: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .nth(4)
        .map(|target| target.join("guests"))
        .unwrap_or_else(|| out_dir.join("guests"))
}

fn build_guest(workspace: &Path, target_dir: &Path) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args(["build", "--package", GUEST_PACKAGE, "--target", TARGET])
        .args(["--profile", PROFILE])
        .arg("--target-dir")
        .arg(target_dir);
    // The outer build's flags are for the host target; they must not leak into the
    // wasm build (wasmtime's test-programs do the same).
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("could not run cargo to build the guest: {e}"));
    assert!(
        status.success(),
        "building the reference guest for {TARGET} failed ({status}); \
         if the target is missing, run `rustup target add {TARGET}` \
         (or `rustup toolchain install`, which reads rust-toolchain.toml)"
    );
}
