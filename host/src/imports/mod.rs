//! The `store` interface a plugin imports: the one `bindgen!` (`bindings.rs`),
//! the per-instance state that implements its `Host` traits over a
//! [`Database`](crate::Database) (`host.rs`), and what an import fails with
//! (`error.rs`).

pub(crate) mod bindings;
mod error;
pub(crate) mod host;
