//! The body of a call: `{"function": "...", "args": [...]}`, `args` optional.
//! Its errors are the words a client is told (400).

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use utoipa::ToSchema;

use super::api_error::ApiError;

const NEEDS_FUNCTION: &str = "the body needs \"function\": a string, such as \"create-record\"";

/// A call's body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(expecting = "an object such as {\"function\": \"get-record\", \"args\": [1]}")]
pub(crate) struct CallRequest {
    /// The export called, such as `get-record`. (`None` when the body names
    /// none: a 400 with words serde's missing-field error would not have.)
    #[serde(default, deserialize_with = "function_name")]
    #[schema(required, value_type = String, example = "get-record")]
    function: Option<String>,
    /// Its arguments in JSON; none when absent or `null`.
    #[serde(default, deserialize_with = "arguments")]
    #[schema(value_type = Option<Vec<Value>>, example = json!([1]))]
    pub(crate) args: Vec<Value>,
}

impl CallRequest {
    /// The export called.
    ///
    /// # Errors
    /// 400 when the body names none.
    pub(crate) fn function(&self) -> Result<&str, ApiError> {
        self.function
            .as_deref()
            .ok_or_else(|| ApiError::BadRequest(NEEDS_FUNCTION.into()))
    }
}

fn function_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::String(name) => Ok(Some(name)),
        _ => Err(D::Error::custom(NEEDS_FUNCTION)),
    }
}

fn arguments<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Value>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(Vec::new()),
        Value::Array(args) => Ok(args),
        _ => Err(D::Error::custom("\"args\" must be an array")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<CallRequest, serde_json::Error> {
        serde_json::from_str(text)
    }

    #[test]
    fn args_are_optional_and_must_be_an_array() {
        let request = parse(r#"{"function": "get-record"}"#).unwrap();
        assert_eq!(request.function().unwrap(), "get-record");
        assert!(request.args.is_empty());
        let request = parse(r#"{"function": "f", "args": null, "other": 1}"#).unwrap();
        assert!(request.args.is_empty());
        let error = parse(r#"{"function": "f", "args": 1}"#).unwrap_err();
        assert!(
            error.to_string().contains("\"args\" must be an array"),
            "{error}"
        );
    }

    #[test]
    fn a_missing_or_non_string_function_is_named_in_the_error() {
        assert!(parse(r#"{"args": []}"#).unwrap().function().is_err());
        let error = parse(r#"{"function": 5}"#).unwrap_err();
        assert!(error.to_string().contains("\"function\""), "{error}");
    }
}
