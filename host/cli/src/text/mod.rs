//! Plugins driven by text: WAVE call expressions, results in WAVE or JSON, and
//! what a call's results mean for an exit code or a status, and deployed
//! versions as JSON.
//!
//! This serves the front ends (the `records-host` CLI, and the HTTP service), not
//! the store: the library's core calls plugins with typed methods or component
//! values ([`PluginInstance::call_func`](records_host::PluginInstance::call_func)), and
//! this module is the one place text becomes those values and back.

pub mod json;
pub mod json_args;
mod outcome;
pub mod version;
pub mod wave;

pub use self::outcome::Outcome;
