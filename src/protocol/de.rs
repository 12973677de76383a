//! Lenient readers for the JSON that OneBot peers really send.
//!
//! Ids arrive as numbers or numeric strings (Koishi sends strings for ids
//! ≥ 2^32), booleans as `true`, `"true"`, `1` or `"1"`. These helpers accept
//! every spelling seen in the field and describe a rejected value briefly, so
//! an error message can say what was received without echoing megabytes.

use serde_json::Value;

/// Reads an integer given as a JSON number or a numeric string.
///
/// A float with no fractional part (`12.0`) is accepted: some JavaScript
/// peers produce them. Anything else, including out-of-range values, is `None`.
pub fn as_i64(v: &Value) -> Option<i64> {
    match v {
        // An integer that fits is an i64 already; anything else came as a
        // float (or a u64 over i64::MAX, which as f64 is out of range too),
        // and a float of magnitude 2^63 or more is an id out of range
        // (`-9223372036854775809` rounds to exactly -2^63): it is refused,
        // never clamped.
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && !out_of_i64(*f))
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn out_of_i64(f: f64) -> bool {
    // i64::MAX as f64 rounds up to 2^63, which itself does not fit; and a
    // float equal to -2^63 can only come from a number below i64::MIN.
    !(f > i64::MIN as f64 && f < i64::MAX as f64)
}

/// Reads a boolean given as `true`/`false`, `1`/`0`, or those (and
/// `yes`/`no`, as CQ codes write flags) in a string, any case.
pub fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// True for a string of only whitespace: how CQ codes and some clients say
/// "not given" for a number or a flag.
pub fn is_blank(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.trim().is_empty())
}

/// Reads a text value: a JSON string, or a number written in decimal
/// (clients send `"file": 123` or a numeric forward id as a number).
pub fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Describes a value for an error message: its JSON kind and a short excerpt.
pub fn describe(v: &Value) -> String {
    const MAX: usize = 40;
    let kind = match v {
        Value::Null => return String::from("null"),
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    let text = v.to_string();
    if text.len() <= MAX {
        format!("{kind} {text}")
    } else {
        let cut = (0..=MAX)
            .rev()
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        format!("{kind} {}…", &text[..cut])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_outside_i64_are_refused_never_clamped() {
        let parse = |t: &str| as_i64(&serde_json::from_str::<Value>(t).unwrap());
        assert_eq!(parse("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse("9223372036854775807"), Some(i64::MAX));
        for out in [
            "-9223372036854775809",
            "9223372036854775808",
            "123456789012345678901234567890",
            "1e19",
        ] {
            assert_eq!(parse(out), None, "{out}");
        }
        assert_eq!(parse("1E2"), Some(100));
    }

    #[test]
    fn integers_from_numbers_and_numeric_strings() {
        assert_eq!(as_i64(&json!(123)), Some(123));
        assert_eq!(as_i64(&json!("4294967296")), Some(4_294_967_296));
        assert_eq!(as_i64(&json!(" 7 ")), Some(7));
        assert_eq!(as_i64(&json!(-5)), Some(-5));
        assert_eq!(as_i64(&json!(12.0)), Some(12));
        assert_eq!(as_i64(&json!(12.5)), None);
        assert_eq!(as_i64(&json!(1e30)), None);
        assert_eq!(as_i64(&json!(18446744073709551615u64)), None);
        assert_eq!(as_i64(&json!("12a")), None);
        assert_eq!(as_i64(&json!(true)), None);
        assert_eq!(as_i64(&json!(null)), None);
    }

    #[test]
    fn booleans_in_every_spelling() {
        for (v, b) in [
            (json!(true), true),
            (json!("true"), true),
            (json!(1), true),
            (json!("1"), true),
            (json!(false), false),
            (json!("false"), false),
            (json!(0), false),
            (json!("0"), false),
            (json!("yes"), true),
            (json!(" No "), false),
            (json!("TRUE"), true),
        ] {
            assert_eq!(as_bool(&v), Some(b), "{v}");
        }
        for v in [
            json!(2),
            json!("y"),
            json!(""),
            json!(null),
            json!([]),
            json!(0.5),
        ] {
            assert_eq!(as_bool(&v), None, "{v}");
        }
    }

    #[test]
    fn describe_is_short_and_cuts_on_char_boundaries() {
        assert_eq!(describe(&json!(true)), "a boolean true");
        let long = describe(&json!("群".repeat(100)));
        assert!(long.starts_with("a string \"群"), "{long}");
        assert!(long.len() < 60, "{long}");
    }
}
