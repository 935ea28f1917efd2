//! What a call's handler and its answer tell the layer that counts and logs the
//! call (`call_log.rs`): the function called, once known, and the outcome label
//! of `/metrics`, set where the answer's status is decided.

use std::sync::{Arc, OnceLock};

/// The outcome label of `/metrics` (`ok`, `bad_request`, `busy`, ...), carried
/// in a response's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OutcomeLabel(pub(crate) &'static str);

impl OutcomeLabel {
    /// Whether the call reached the plugin: only then is its function a label.
    pub(crate) fn reached_the_plugin(self) -> bool {
        matches!(
            self.0,
            "ok" | "err" | "err_unavailable" | "lock_timeout" | "stopped"
        )
    }
}

/// The function a call names, noted by the handler once the body is parsed;
/// a request extension the layer put there and reads after the answer.
#[derive(Debug, Clone, Default)]
pub(crate) struct CallNote(Arc<OnceLock<String>>);

impl CallNote {
    /// Notes the function called.
    pub(crate) fn function(&self, name: &str) {
        let _ = self.0.set(name.to_string());
    }

    /// The function noted, or `""` when the call was refused before.
    pub(crate) fn noted(&self) -> &str {
        self.0.get().map_or("", String::as_str)
    }
}
