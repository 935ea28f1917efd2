//! With the `reference-plugin` feature (on by default), builds the reference plugin
//! (`guest/`) for `wasm32-wasip2` and hands its path to the crate as
//! `REFERENCE_GUEST_WASM`, so the binary and library embed it. Without it, nothing
//! is built: an embedder needs no wasm target.

fn main() {
    #[cfg(feature = "reference-plugin")]
    {
        let built =
            records_guest_build::build("records-guest", "guest", &["records_guest.wasm"], &[]);
        println!(
            "cargo:rustc-env=REFERENCE_GUEST_WASM={}",
            built[0].display()
        );
    }
}
