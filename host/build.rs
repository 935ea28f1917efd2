//! Builds the reference plugin (`guest/`) for `wasm32-wasip2` and hands its path to
//! the crate as `REFERENCE_GUEST_WASM`, so the binary and library embed it.

fn main() {
    let built = records_guest_build::build("records-guest", "guest", &["records_guest.wasm"], &[]);
    println!(
        "cargo:rustc-env=REFERENCE_GUEST_WASM={}",
        built[0].display()
    );
}
