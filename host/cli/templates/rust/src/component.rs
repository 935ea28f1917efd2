//! The wit-bindgen glue (world `{{world}}`); the exports are in
//! `component/exports.rs`.

mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "{{world}}",
    });
}

mod exports;
