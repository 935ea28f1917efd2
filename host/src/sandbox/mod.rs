//! What confines a plugin call: its limits (memory, time, fuel, sizes) and the
//! limiter and epoch ticker that enforce them (`limits.rs`), WASI's blocking I/O
//! bounded by the call's deadline (`bounded_io.rs`), and its stdout and stderr
//! captured, prefixed and bounded (`output.rs`).

pub(crate) mod bounded_io;
pub(crate) mod limits;
pub(crate) mod output;
