//! How a call's results came out, for exit codes (CLI) and statuses (server).

use std::time::Duration;

use wasmtime::component::Val;

use records_host::LockTimeout;
use records_host::display::escape_control;

/// How a call's results came out, for exit codes: `err(..)` results are failures,
/// and `err(lock-timeout(..))` is a failure worth retrying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No result is an `err`.
    Ok,
    /// A result is `err(..)`.
    Err,
    /// A result is `err(lock-timeout(..))`: retryable. The plugin's values, with
    /// control characters in the holder escaped.
    LockTimeout(LockTimeout),
}

impl Outcome {
    /// Classifies a call's results.
    pub fn of(results: &[Val]) -> Self {
        results.iter().fold(Self::Ok, |outcome, val| match val {
            Val::Result(Err(Some(error))) => match &**error {
                Val::Variant(case, payload) if case == "lock-timeout" => {
                    Self::LockTimeout(lock_timeout(payload.as_deref()))
                }
                _ if outcome == Self::Ok => Self::Err,
                _ => outcome,
            },
            Val::Result(Err(None)) if outcome == Self::Ok => Self::Err,
            _ => outcome,
        })
    }
}

/// The `lock-timeout` record's fields, as far as they have the contract's types.
fn lock_timeout(payload: Option<&Val>) -> LockTimeout {
    let mut timeout = LockTimeout {
        waited: Duration::ZERO,
        holder: "unknown".into(),
    };
    if let Some(Val::Record(fields)) = payload {
        for (name, value) in fields {
            match (name.as_str(), value) {
                ("waited-ms", Val::U32(ms)) => timeout.waited = Duration::from_millis((*ms).into()),
                ("holder", Val::String(holder)) => timeout.holder = escape_control(holder),
                _ => {}
            }
        }
    }
    timeout
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_classify_results() {
        let variant = |case: &str| Val::Variant(case.to_string(), Some(Box::new(Val::S64(1))));
        assert_eq!(
            Outcome::of(&[Val::Result(Ok(Some(Box::new(Val::S64(1)))))]),
            Outcome::Ok
        );
        assert_eq!(Outcome::of(&[]), Outcome::Ok);
        assert_eq!(
            Outcome::of(&[Val::Result(Err(Some(Box::new(variant("not-found")))))]),
            Outcome::Err
        );
        let timeout = Val::Variant(
            "lock-timeout".into(),
            Some(Box::new(Val::Record(vec![
                ("waited-ms".into(), Val::U32(500)),
                ("holder".into(), Val::String("pid:1 \u{1b}[2J".into())),
            ]))),
        );
        assert_eq!(
            Outcome::of(&[Val::Result(Err(Some(Box::new(timeout))))]),
            Outcome::LockTimeout(LockTimeout {
                waited: Duration::from_millis(500),
                holder: "pid:1 \\u{1b}[2J".into()
            }),
            "read back, the holder's control characters escaped"
        );
    }
}
