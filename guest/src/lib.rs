//! The reference records plugin: record CRUD business rules over the host's store.
//!
//! Built for `wasm32-wasip2` into a component of the `records:plugin/plugin` world
//! (the host's build script does this and embeds the result). The rules live in
//! [`rules`] as plain functions, tested natively; the wit-bindgen glue in
//! `component.rs` is compiled for wasm only (its export symbols, named after WIT
//! interfaces, are not valid in a native shared library).

pub mod rules;

#[cfg(target_arch = "wasm32")]
mod component;
