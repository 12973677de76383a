//! Event filters in go-cqhttp's `filter.json` language: an app can receive
//! only the events that match.
//!
//! A filter is a JSON object; all its keys must match (an implicit `.and`).
//! A key is a field name (its value: a plain JSON value to compare, or an
//! object of operators and nested fields) or an operator applied to the
//! current value: `.eq`, `.neq`, `.in` (an array of values, or a string the
//! value must be a substring of), `.contains` (the value contains a string),
//! `.regex`, `.and` (object), `.or` (array of objects), `.not` (object).
//! Numbers and numeric strings compare equal (`123` matches `"123"`).
//!
//! ```json
//! {".or": [{"message_type": "private"}, {"group_id": {".in": [100, 101]}, "raw_message": {".regex": "^/"}}]}
//! ```

use regex::Regex;
use serde_json::Value;

/// A compiled filter.
#[derive(Debug, Clone)]
pub enum Filter {
    /// Every part matches.
    And(Vec<Filter>),
    /// At least one part matches.
    Or(Vec<Filter>),
    /// The part does not match.
    Not(Box<Filter>),
    /// The named field (absent: `null`) matches the part.
    Field(String, Box<Filter>),
    /// Equal to the value.
    Eq(Value),
    /// Not equal to the value.
    Neq(Value),
    /// One of these values.
    In(Vec<Value>),
    /// A substring of this string.
    InText(String),
    /// A string containing this.
    Contains(String),
    /// A string matching this regex.
    Regex(Regex),
}

/// Why a filter does not compile: the path of the bad part and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("filter {path}: {problem}")]
pub struct FilterError {
    /// Where, e.g. `.or[1].raw_message.regex`.
    pub path: String,
    /// What is wrong.
    pub problem: String,
}

impl Filter {
    /// Compiles a filter document.
    ///
    /// # Errors
    /// A [`FilterError`] naming the bad part.
    pub fn compile(doc: &Value) -> Result<Self, FilterError> {
        compile_object(doc, "")
    }

    /// True when the event matches.
    pub fn matches(&self, v: &Value) -> bool {
        match self {
            Self::And(parts) => parts.iter().all(|p| p.matches(v)),
            Self::Or(parts) => parts.iter().any(|p| p.matches(v)),
            Self::Not(part) => !part.matches(v),
            Self::Field(name, part) => part.matches(v.get(name).unwrap_or(&Value::Null)),
            Self::Eq(want) => loose_eq(v, want),
            Self::Neq(want) => !loose_eq(v, want),
            Self::In(set) => set.iter().any(|w| loose_eq(v, w)),
            Self::InText(text) => as_text(v).is_some_and(|s| text.contains(s.as_str())),
            Self::Contains(needle) => as_text(v).is_some_and(|s| s.contains(needle.as_str())),
            Self::Regex(re) => as_text(v).is_some_and(|s| re.is_match(&s)),
        }
    }
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), Value::String(_)) | (Value::String(_), Value::Number(_)) => {
            as_text(a) == as_text(b)
        }
        _ => a == b,
    }
}

fn err(path: &str, problem: impl Into<String>) -> FilterError {
    FilterError {
        path: if path.is_empty() {
            String::from("(top)")
        } else {
            path.to_owned()
        },
        problem: problem.into(),
    }
}

fn compile_object(doc: &Value, path: &str) -> Result<Filter, FilterError> {
    let Value::Object(map) = doc else {
        return Err(err(path, "expected an object"));
    };
    let mut parts = Vec::with_capacity(map.len());
    for (key, value) in map {
        let here = format!(
            "{path}{}{key}",
            if path.is_empty() || key.starts_with('.') {
                ""
            } else {
                "."
            }
        );
        let part = match key.as_str() {
            ".and" => compile_object(value, &here)?,
            ".or" => {
                let Value::Array(items) = value else {
                    return Err(err(&here, "expected an array of objects"));
                };
                let alternatives = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| compile_object(item, &format!("{here}[{i}]")))
                    .collect::<Result<_, _>>()?;
                Filter::Or(alternatives)
            }
            ".not" => Filter::Not(Box::new(compile_object(value, &here)?)),
            ".eq" => Filter::Eq(value.clone()),
            ".neq" => Filter::Neq(value.clone()),
            ".in" => match value {
                Value::Array(items) => Filter::In(items.clone()),
                Value::String(s) => Filter::InText(s.clone()),
                _ => return Err(err(&here, "expected an array or a string")),
            },
            ".contains" => match value {
                Value::String(s) => Filter::Contains(s.clone()),
                _ => return Err(err(&here, "expected a string")),
            },
            ".regex" => match value {
                Value::String(s) => Filter::Regex(
                    Regex::new(s).map_err(|e| err(&here, format!("invalid regex: {e}")))?,
                ),
                _ => return Err(err(&here, "expected a string")),
            },
            op if op.starts_with('.') => {
                return Err(err(
                    &here,
                    "unknown operator (use .eq .neq .in .contains .regex .and .or .not)",
                ))
            }
            field => {
                let inner = match value {
                    Value::Object(_) => compile_object(value, &here)?,
                    plain => Filter::Eq(plain.clone()),
                };
                Filter::Field(field.to_owned(), Box::new(inner))
            }
        };
        parts.push(part);
    }
    Ok(if parts.len() == 1 {
        parts.pop().expect("one part")
    } else {
        Filter::And(parts)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn group(group_id: i64, user_id: i64, text: &str) -> Value {
        json!({"post_type": "message", "message_type": "group", "group_id": group_id, "user_id": user_id,
               "raw_message": text, "sender": {"role": "admin", "user_id": user_id}})
    }

    #[test]
    fn fields_and_implicit_and() {
        let f = Filter::compile(&json!({"message_type": "group", "group_id": 100})).unwrap();
        assert!(f.matches(&group(100, 1, "x")));
        assert!(!f.matches(&group(101, 1, "x")));
        assert!(!f.matches(&json!({"message_type": "private", "group_id": 100})));
    }

    #[test]
    fn operators() {
        let f = Filter::compile(&json!({
            ".or": [
                {"message_type": "private"},
                {"group_id": {".in": [100, "101"]}, "raw_message": {".regex": "^/"}, "sender": {"role": {".neq": "member"}}},
            ]
        }))
        .unwrap();
        assert!(f.matches(&json!({"message_type": "private"})));
        assert!(f.matches(&group(101, 1, "/help")));
        assert!(!f.matches(&group(101, 1, "help")));
        assert!(!f.matches(&group(102, 1, "/help")));
        let not = Filter::compile(&json!({".not": {"user_id": {".in": [7, 8]}}})).unwrap();
        assert!(not.matches(&group(1, 9, "")));
        assert!(!not.matches(&group(1, 8, "")));
        let text = Filter::compile(
            &json!({"raw_message": {".contains": "bot"}, "notice_type": {".eq": null}}),
        )
        .unwrap();
        assert!(text.matches(&group(1, 1, "hi bot")));
        let within = Filter::compile(&json!({"message_type": {".in": "private,group"}})).unwrap();
        assert!(within.matches(&group(1, 1, "")));
        assert!(!within.matches(&json!({"message_type": "guild"})));
    }

    #[test]
    fn bad_filters_name_the_part() {
        let e = Filter::compile(&json!({".or": [{"raw_message": {".regex": "("}}]})).unwrap_err();
        assert_eq!(e.path, ".or[0].raw_message.regex");
        let e = Filter::compile(&json!({"user_id": {".gt": 1}})).unwrap_err();
        assert_eq!(e.path, "user_id.gt");
        assert!(Filter::compile(&json!([1])).is_err());
    }
}
