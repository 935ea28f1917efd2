//! The wit-bindgen glue of the reference plugin (world `counters-plugin`); the
//! exports themselves are in `component/exports.rs`, shared with the Rust starter.

mod bindings {
    #![allow(missing_docs)]
    wit_bindgen::generate!({
        path: "../wit",
        world: "counters-plugin",
    });
}

mod exports;
