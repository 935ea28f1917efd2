//! The starter projects, embedded in the binary: each file's path in the new
//! project and its template text. The Rust starter's rules and exports are the
//! reference plugin's own `rules.rs` and `component/exports.rs`, embedded from
//! `guest/`, so the two cannot drift.

use super::lang::Lang;

/// One file of a starter project.
pub(super) struct TemplateFile {
    /// Where it goes in the project (template files that git or Cargo would act on
    /// inside this repository, such as `.gitignore`, are stored without the dot).
    pub(super) path: &'static str,
    /// Its text, with placeholders (see `render.rs`).
    pub(super) text: &'static str,
}

macro_rules! file {
    ($lang:literal, $stored:literal => $path:literal) => {
        TemplateFile {
            path: $path,
            text: include_str!(concat!("../../templates/", $lang, "/", $stored)),
        }
    };
    ($lang:literal, $path:literal) => {
        file!($lang, $path => $path)
    };
}

const RUST: &[TemplateFile] = &[
    file!("rust", "Cargo.toml"),
    file!("rust", "README.md"),
    file!("rust", "gitignore" => ".gitignore"),
    file!("rust", "cargo/config.toml" => ".cargo/config.toml"),
    file!("rust", "src/lib.rs"),
    file!("rust", "src/component.rs"),
    TemplateFile {
        path: "src/component/exports.rs",
        text: include_str!("../../../../guest/src/component/exports.rs"),
    },
    TemplateFile {
        path: "src/rules.rs",
        text: include_str!("../../../../guest/src/rules.rs"),
    },
];

const PYTHON: &[TemplateFile] = &[
    file!("python", "app.py"),
    file!("python", "requirements.txt"),
    file!("python", "README.md"),
    file!("python", "gitignore" => ".gitignore"),
];

const JS: &[TemplateFile] = &[
    file!("js", "plugin.js"),
    file!("js", "package.json"),
    file!("js", "package-lock.json"),
    file!("js", "README.md"),
    file!("js", "gitignore" => ".gitignore"),
];

/// The wit-bindgen version the Rust starter depends on: the one the reference
/// plugin is built with (a test compares it with the workspace's).
pub(super) const WIT_BINDGEN: &str = "0.61";

/// The files of `lang`'s starter project.
pub(super) fn files(lang: Lang) -> &'static [TemplateFile] {
    match lang {
        Lang::Rust => RUST,
        Lang::Python => PYTHON,
        Lang::Js => JS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rust_starter_uses_the_workspace_wit_bindgen() {
        let workspace = include_str!("../../../../Cargo.toml");
        assert!(
            workspace.contains(&format!("wit-bindgen = \"{WIT_BINDGEN}\"")),
            "update WIT_BINDGEN to the workspace's wit-bindgen version"
        );
    }
}
