//! Messages: segment arrays and CQ strings, and the conversions between them.

use serde_json::Value;

/// Converts a `message` value (CQ string or segment array) to a segment array.
///
/// Malformed CQ text stays text; this never fails.
pub fn to_array(message: &Value) -> Value {
    // Placeholder until the CQ codec lands: arrays pass, strings become one text segment.
    match message {
        Value::String(s) => serde_json::json!([{"type": "text", "data": {"text": s}}]),
        other => other.clone(),
    }
}

/// Converts a `message` value (CQ string or segment array) to a CQ string.
pub fn to_cq_string(message: &Value) -> String {
    match message {
        Value::String(s) => s.clone(),
        Value::Array(segs) => segs
            .iter()
            .filter_map(|s| s.get("data")?.get("text")?.as_str().map(str::to_owned))
            .collect(),
        _ => String::new(),
    }
}
