//! Reading action params leniently (numbers or numeric strings, booleans or
//! `"true"`/`1`), and the one failure type every sandbox operation returns.

use serde_json::Value;

use crate::protocol::event::value_i64;
use crate::protocol::{retcode, Response};

/// Why a sandbox operation failed: a retcode and a message naming the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fail {
    /// 1400 bad params, 1403 not allowed, 1404 unknown id or action, 1500 store.
    pub retcode: i64,
    /// What went wrong, naming the field or id.
    pub message: String,
}

impl Fail {
    /// A bad param (1400) naming the field.
    pub fn bad(field: &str, expected: impl std::fmt::Display) -> Self {
        Self {
            retcode: retcode::BAD_REQUEST,
            message: format!("invalid param `{field}`: {expected}"),
        }
    }

    /// A request that makes no sense in the current state (1400).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            retcode: retcode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// An unknown id (1404): `unknown group 123`.
    pub fn unknown(kind: &str, id: impl std::fmt::Display) -> Self {
        Self {
            retcode: retcode::NOT_FOUND,
            message: format!("unknown {kind} {id}"),
        }
    }

    /// Not allowed (1403), e.g. the bot is not an admin.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self {
            retcode: retcode::FORBIDDEN,
            message: message.into(),
        }
    }

    /// The failed response frame for this failure.
    pub fn response(&self) -> Response {
        Response::failed(self.retcode, self.message.clone())
    }

    /// The HTTP status the injection API answers with.
    pub fn http_status(&self) -> u16 {
        match self.retcode {
            retcode::BAD_REQUEST => 400,
            retcode::FORBIDDEN => 403,
            retcode::NOT_FOUND => 404,
            _ => 500,
        }
    }
}

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Self {
        Self {
            retcode: retcode::INTERNAL,
            message: format!("sandbox store: {e}"),
        }
    }
}

impl From<crate::protocol::action::ParamError> for Fail {
    fn from(e: crate::protocol::action::ParamError) -> Self {
        Self::invalid(e.to_string())
    }
}

/// The result of every sandbox operation.
pub type Out<T = Value> = Result<T, Fail>;

const INT: &str = "expected an integer or a numeric string";
const BOOL: &str = "expected a boolean (true/false, \"true\"/\"false\", 1/0)";
const STR: &str = "expected a string";

/// Lenient accessors over an action's params (`null` or a non-object means
/// every field is absent).
#[derive(Clone, Copy)]
pub struct P<'a>(pub &'a Value);

impl<'a> P<'a> {
    /// The raw field, `None` when absent or `null`.
    pub fn get(&self, field: &str) -> Option<&'a Value> {
        self.0.get(field).filter(|v| !v.is_null())
    }

    /// True when the field is present and not `null`.
    pub fn has(&self, field: &str) -> bool {
        self.get(field).is_some()
    }

    /// An optional integer (numbers or numeric strings).
    pub fn opt_i64(&self, field: &str) -> Out<Option<i64>> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(v) => value_i64(v).map(Some).ok_or_else(|| Fail::bad(field, INT)),
        }
    }

    /// A required integer.
    pub fn i64(&self, field: &str) -> Out<i64> {
        self.opt_i64(field)?
            .ok_or_else(|| Fail::bad(field, format!("missing; {INT}")))
    }

    /// The first of several alternative integer fields (e.g. `id` or `user_id`).
    pub fn i64_any(&self, fields: &[&str]) -> Out<i64> {
        for f in fields {
            if let Some(v) = self.opt_i64(f)? {
                return Ok(v);
            }
        }
        Err(Fail::bad(fields[0], format!("missing; {INT}")))
    }

    /// The first present of several alternative integer fields.
    pub fn opt_i64_any(&self, fields: &[&str]) -> Out<Option<i64>> {
        for f in fields {
            if let Some(v) = self.opt_i64(f)? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// An integer with a default.
    pub fn i64_or(&self, field: &str, default: i64) -> Out<i64> {
        Ok(self.opt_i64(field)?.unwrap_or(default))
    }

    /// A boolean with a default (true/false, "true"/"false", 1/0).
    pub fn bool_or(&self, field: &str, default: bool) -> Out<bool> {
        match self.get(field) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(0) => Ok(false),
                Some(1) => Ok(true),
                _ => Err(Fail::bad(field, BOOL)),
            },
            Some(Value::String(s)) => match s.trim() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(Fail::bad(field, BOOL)),
            },
            Some(_) => Err(Fail::bad(field, BOOL)),
        }
    }

    /// An optional string; numbers are accepted and written in decimal.
    pub fn opt_str(&self, field: &str) -> Out<Option<String>> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(Fail::bad(field, STR)),
        }
    }

    /// A required string (may be empty).
    pub fn str(&self, field: &str) -> Out<String> {
        self.opt_str(field)?
            .ok_or_else(|| Fail::bad(field, format!("missing; {STR}")))
    }

    /// A required non-empty string.
    pub fn nonempty(&self, field: &str) -> Out<String> {
        let s = self.str(field)?;
        if s.trim().is_empty() {
            return Err(Fail::bad(field, "must not be empty"));
        }
        Ok(s)
    }

    /// The first present of several alternative string fields.
    pub fn str_any(&self, fields: &[&str]) -> Out<Option<String>> {
        for f in fields {
            if let Some(v) = self.opt_str(f)? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// A string with a default.
    pub fn str_or(&self, field: &str, default: &str) -> Out<String> {
        Ok(self.opt_str(field)?.unwrap_or_else(|| default.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ints_bools_and_strings_are_read_leniently() {
        let v = json!({"a": "123", "b": 5, "c": "x", "t": "true", "f": 0, "n": null, "s": 7});
        let p = P(&v);
        assert_eq!(p.i64("a"), Ok(123));
        assert_eq!(p.i64("b"), Ok(5));
        assert_eq!(p.i64("c").unwrap_err().retcode, 1400);
        assert!(p.i64("c").unwrap_err().message.contains("`c`"));
        assert!(p.i64("n").unwrap_err().message.contains("missing"));
        assert_eq!(p.bool_or("t", false), Ok(true));
        assert_eq!(p.bool_or("f", true), Ok(false));
        assert_eq!(p.bool_or("zz", true), Ok(true));
        assert!(p.bool_or("c", true).is_err());
        assert_eq!(p.str("s"), Ok("7".into()));
        assert_eq!(P(&Value::Null).opt_i64("a"), Ok(None));
    }
}
