//! What to show of untrusted text and of errors: control characters escaped, an
//! error with its causes on one line. The library shows lock holders, plugin names
//! and paths this way; front ends (the CLI, a service) show errors the same way.

/// `text` with every control character escaped (`\u{1b}`, `\n`, ...), so that text
/// from an untrusted source (a lock file, a plugin's name, a process name) printed
/// on a terminal can neither inject escape sequences nor break a one-line message.
pub fn escape_control(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// An error and its causes on one line, `outer: cause: root cause`, each once: for
/// errors that must become a string (a WIT `storage` message) without losing why.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(next) = cause {
        let next_text = next.to_string();
        if !text.ends_with(&next_text) {
            text.push_str(": ");
            text.push_str(&next_text);
        }
        cause = next.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_other_text_kept() {
        assert_eq!(escape_control("plugin:x tenant:y"), "plugin:x tenant:y");
        assert_eq!(
            escape_control("a\u{1b}[31mred\u{7}\nb"),
            "a\\u{1b}[31mred\\u{7}\\nb"
        );
        assert_eq!(escape_control("naïve ✓"), "naïve ✓");
    }
}
