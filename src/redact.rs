//! One place that decides what a secret looks like in text: every URL,
//! header or error message that reaches a log line, `check-config`,
//! `/status` or a metric label goes through [`redact`].

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What replaces a secret.
pub const MASK: &str = "<redacted>";

static QUERY_TOKEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)([?&](?:access_token|token)=)[^&#\s"'<>]+"#).expect("valid regex")
});
static USERINFO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@"'<>]*:)[^@/\s"'<>]+@"#).expect("valid regex")
});
static AUTHORIZATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)(authorization["']?\s*[:=]\s*["']?(?:bearer\s+|token\s+|basic\s+)?)[^\s"',}]+"#,
    )
    .expect("valid regex")
});

/// `text` with `access_token`/`token` query values, URL passwords
/// (`ws://user:secret@host`) and `Authorization` header values masked.
pub fn redact(text: &str) -> String {
    let text = QUERY_TOKEN.replace_all(text, format!("${{1}}{MASK}"));
    let text = USERINFO.replace_all(&text, format!("${{1}}{MASK}@"));
    AUTHORIZATION
        .replace_all(&text, format!("${{1}}{MASK}"))
        .into_owned()
}

/// A secret (access token). Its `Debug`/`Display` never show the value.
/// (`${NAME}` in the config is expanded before any value is read, for
/// secrets and every other string.)
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value itself (for comparisons and outgoing headers only).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when no secret is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "<redacted>"
        })
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.0.is_empty() { "" } else { "<redacted>" })
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn every_kind_of_secret_is_masked_and_nothing_else() {
        assert_eq!(
            redact("http://h:1/post?access_token=s3cret&x=1"),
            "http://h:1/post?access_token=<redacted>&x=1"
        );
        assert_eq!(redact("ws://h/?TOKEN=abc#f"), "ws://h/?TOKEN=<redacted>#f");
        assert_eq!(
            redact("dial ws://bot:pa55@h:8080/ws failed"),
            "dial ws://bot:<redacted>@h:8080/ws failed"
        );
        assert_eq!(
            redact("Authorization: Bearer abc.def"),
            "Authorization: <redacted>".replace(": ", ": Bearer ")
        );
        assert_eq!(
            redact(r#"{"authorization":"Token xyz"}"#),
            r#"{"authorization":"Token <redacted>"}"#
        );
        for plain in [
            "ws://127.0.0.1:6700/",
            "http://h/?tokens=1&mytoken=2",
            "user@example.com",
        ] {
            assert_eq!(redact(plain), plain);
        }
    }
}
