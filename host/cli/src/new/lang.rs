//! The languages `records-host new` makes a starter project in.

use clap::ValueEnum;

/// A plugin language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Lang {
    /// Cargo and wit-bindgen, target wasm32-wasip2.
    Rust,
    /// componentize-py (from PyPI).
    Python,
    /// componentize-js through jco (from npm).
    Js,
}

impl Lang {
    pub(super) fn label(self) -> &'static str {
        match self {
            Self::Rust => "Rust",
            Self::Python => "Python",
            Self::Js => "JavaScript",
        }
    }
}
