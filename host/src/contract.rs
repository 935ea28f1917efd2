//! The WIT contract (`records:plugin`), embedded in the library and the binary.
//!
//! Plugin authors get the exact contract their host speaks from the binary they
//! run (`records-host wit`), rather than from a copy of this repository that may
//! be older or newer than it. The files are the ones in `wit/`, byte for byte (an
//! integration test keeps the two equal); the bindings are generated from the same
//! directory, so what is embedded is what the host implements.

/// The WIT package's name and version, as plugins' toolchains see it.
pub const PACKAGE: &str = "records:plugin@0.1.0";

/// Every file of the WIT package: its name inside the `wit/` directory and its text.
/// Toolchains take the directory that holds them (`wit-bindgen`'s `path`,
/// `componentize-py -d`, `jco --wit`).
pub const WIT_FILES: &[(&str, &str)] = &[("records.wit", include_str!("../../wit/records.wit"))];
