//! Compiles guest crates of this workspace for `wasm32-wasip2` from a build script.
//!
//! The host's build script uses it for the reference plugin it embeds, and the test
//! fixtures' build script for the plugins the tests load. The nested `cargo build`
//! uses its own target directory (`<target>/guests`), shared by every profile and
//! every build script, so each guest is compiled once per change rather than once
//! per profile, and the nested build never waits on the outer build's lock.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The target every guest is built for.
pub const TARGET: &str = "wasm32-wasip2";

/// The cargo profile guests are built with (size-optimized release; see the
/// workspace `Cargo.toml`).
pub const PROFILE: &str = "guest";

/// Builds the workspace package `package` for [`TARGET`], copies its components
/// `artifacts` (such as `records_guest.wasm`) into `OUT_DIR`, tells cargo to rerun
/// when the guest's sources or `watch` paths change, and returns the copies' paths.
///
/// The copy in `OUT_DIR` keeps concurrent builds of other profiles from swapping
/// the file under this one's `include_bytes!` or tests.
///
/// # Panics
/// When called outside a build script, or when the nested build fails (with a hint
/// to install the target when it is missing): a build script has no better way to
/// report it.
pub fn build(package: &str, package_dir: &str, artifacts: &[&str], watch: &[&str]) -> Vec<PathBuf> {
    let workspace = workspace_root();
    for path in [package_dir, "wit", "Cargo.lock"].iter().chain(watch) {
        println!("cargo:rerun-if-changed={}", workspace.join(path).display());
    }
    let out_dir =
        PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR: run me from a build script"));
    let target_dir = guests_target_dir(&out_dir);
    run_cargo(&workspace, package, &target_dir);

    let built = target_dir.join(TARGET).join(PROFILE);
    artifacts
        .iter()
        .map(|artifact| {
            let copy = out_dir.join(artifact);
            std::fs::copy(built.join(artifact), &copy)
                .unwrap_or_else(|e| panic!("copying {artifact} failed: {e}"));
            copy
        })
        .collect()
}

/// The workspace root: the directory of `Cargo.lock` above the calling package.
fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    manifest_dir
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .unwrap_or(&manifest_dir)
        .to_path_buf()
}

/// `<target>/guests`, found from `OUT_DIR` = `<target>/<profile>/build/<pkg>-<hash>/out`.
fn guests_target_dir(out_dir: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .nth(4)
        .map_or_else(|| out_dir.join("guests"), |target| target.join("guests"))
}

fn run_cargo(workspace: &Path, package: &str, target_dir: &Path) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args(["build", "--package", package, "--target", TARGET])
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
        .unwrap_or_else(|e| panic!("could not run cargo to build {package}: {e}"));
    assert!(
        status.success(),
        "building {package} for {TARGET} failed ({status}); if the target is missing, \
         run `rustup toolchain install` (it reads rust-toolchain.toml) or \
         `rustup target add {TARGET}`"
    );
}
