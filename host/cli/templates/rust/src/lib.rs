//! {{name}}: a records plugin of the `records:plugin/{{world}}` world.
//!
//! The business rules are plain functions in [`rules`] (the reference plugin's, to
//! start from), testable natively; `component.rs` binds them to the contract in
//! `wit/` (refresh it with `records-host wit --out wit`), compiled for wasm only.

pub mod rules;

#[cfg(target_arch = "wasm32")]
mod component;
