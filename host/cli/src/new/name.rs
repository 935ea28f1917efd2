//! What a plugin may be called: one name that is valid as a Cargo package, a
//! Python project and an npm package at once, so `new` never creates a project
//! its own toolchain then refuses.

use super::lang::Lang;

/// The longest name accepted.
const MAX_LEN: usize = 64;

/// Rust keywords and the crates every Rust program links, which Cargo refuses as
/// package names.
const RUST_RESERVED: &[&str] = &[
    "as",
    "async",
    "await",
    "break",
    "const",
    "continue",
    "crate",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
    "abstract",
    "become",
    "box",
    "do",
    "final",
    "gen",
    "macro",
    "override",
    "priv",
    "try",
    "typeof",
    "unsized",
    "virtual",
    "yield",
    "alloc",
    "core",
    "proc-macro",
    "std",
    "test",
];

/// Names npm refuses for a package.
const NPM_RESERVED: &[&str] = &["node-modules", "favicon-ico"];

/// Checks `name` for `lang`.
///
/// # Errors
/// A one-line reason when the name is not `[a-z][a-z0-9-]*` (at most 64 bytes, no
/// `--`, not ending in `-`) or is reserved in the language.
pub(super) fn validate(name: &str, lang: Lang) -> Result<(), String> {
    let shape_ok = name.len() <= MAX_LEN
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--");
    if !shape_ok {
        return Err(format!(
            "invalid plugin name {name:?}: use lowercase letters, digits and single hyphens, \
             starting with a letter (at most {MAX_LEN} bytes), such as `my-plugin`"
        ));
    }
    let reserved = match lang {
        Lang::Rust => RUST_RESERVED,
        Lang::Js => NPM_RESERVED,
        Lang::Python => &[],
    };
    if reserved.contains(&name) {
        return Err(format!(
            "invalid plugin name {name:?}: it is reserved in {}",
            lang.label()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_suit_every_toolchain() {
        for good in ["a", "my-plugin", "counter2", "x-1-y"] {
            assert!(validate(good, Lang::Rust).is_ok(), "{good}");
        }
        for bad in [
            "",
            "My",
            "1st",
            "a_b",
            "a--b",
            "a-",
            "a b",
            "é",
            "../x",
            &"a".repeat(65),
        ] {
            assert!(validate(bad, Lang::Python).is_err(), "{bad}");
        }
        assert!(validate("test", Lang::Rust).is_err());
        assert!(validate("test", Lang::Python).is_ok());
        assert!(validate("node-modules", Lang::Js).is_err());
    }
}
