//! Frames: classify an inbound JSON text once, then parse the typed payload.
//!
//! `echo` is kept as the exact JSON text the peer sent ([`RawValue`]): a string,
//! a number of any size, an object, an array or `null` comes back byte for byte.
//! An absent `echo` stays absent in the answer.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::{to_raw_value, RawValue};
use serde_json::Value;

use super::event::EventHeader;
use super::retcode;

/// An action request `{action, params, echo}` from an app.
#[derive(Debug, Clone, Serialize)]
pub struct ActionRequest {
    /// The action name, e.g. `send_group_msg`, `get_status_async`, `.handle_quick_operation`.
    pub action: String,
    /// The parameters; `Null` when the frame had none.
    #[serde(skip_serializing_if = "Value::is_null")]
    pub params: Value,
    /// The params exactly as the app wrote them, so an action the gateway
    /// only relays reaches the implementation byte for byte (`1E2` stays
    /// `1E2`). `None` when the request was built, not read.
    #[serde(skip)]
    pub params_text: Option<Box<RawValue>>,
    /// The echo exactly as sent; `None` when the frame had no `echo` key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub echo: Option<Box<RawValue>>,
}

impl<'de> Deserialize<'de> for ActionRequest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            action: String,
            #[serde(default)]
            params: Option<Box<RawValue>>,
            #[serde(default, deserialize_with = "present_raw")]
            echo: Option<Box<RawValue>>,
        }
        let wire = Wire::deserialize(d)?;
        let params = match &wire.params {
            Some(text) if too_many_values(text.get(), MAX_PARAM_VALUES) => {
                return Err(serde::de::Error::custom(format!(
                    "`params` has more than {MAX_PARAM_VALUES} JSON values"
                )))
            }
            // The text was already checked as JSON: this parse cannot fail on syntax.
            Some(text) => serde_json::from_str(text.get()).map_err(serde::de::Error::custom)?,
            None => Value::Null,
        };
        Ok(Self {
            action: wire.action,
            params,
            params_text: wire.params,
            echo: wire.echo,
        })
    }
}

/// Most JSON values (objects, arrays, scalars) in one action's `params`: a
/// frame of a million tiny segments is refused before a `Value` is built for
/// each (2000 segments, the default `max_segments`, take about 10 000).
pub const MAX_PARAM_VALUES: usize = 100_000;

/// Whether `json` holds more than `max` values, by one scan that counts the
/// separators and container openings outside strings.
fn too_many_values(json: &str, max: usize) -> bool {
    let (mut count, mut in_string, mut escaped) = (0usize, false, false);
    for b in json.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b',' | b'{' | b'[' => {
                    count += 1;
                    if count > max {
                        return true;
                    }
                }
                _ => {}
            }
        }
    }
    false
}

impl ActionRequest {
    /// Builds a request with no echo.
    pub fn new(action: impl Into<String>, params: Value) -> Self {
        Self {
            action: action.into(),
            params,
            params_text: None,
            echo: None,
        }
    }
}

/// A response frame `{status, retcode, data, message, wording, echo}`.
///
/// `data` is kept as raw JSON so relaying an upstream answer never re-parses a
/// large payload. Serialization always writes both `status` and `retcode`
/// (NoneBot reads only the first, Koishi only the second) and never `post_type`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Response {
    /// `ok`, `async` or `failed`.
    pub status: String,
    /// 0 ok, 1 async, anything else failed.
    pub retcode: i64,
    /// The payload; JSON `null` when there is none.
    #[serde(default = "raw_null", deserialize_with = "present_raw_or_null")]
    pub data: Box<RawValue>,
    /// Human-readable error, empty on success.
    #[serde(default, deserialize_with = "string_or_null")]
    pub message: String,
    /// Human-readable error for end users (go-cqhttp), empty on success.
    #[serde(default, deserialize_with = "string_or_null")]
    pub wording: String,
    /// NapCat stream marker (`"stream-action"`) on the frames of a stream action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// The echo of the request this answers, restored exactly.
    #[serde(
        default,
        deserialize_with = "present_raw",
        skip_serializing_if = "Option::is_none"
    )]
    pub echo: Option<Box<RawValue>>,
}

impl Response {
    /// A success carrying `data`.
    pub fn ok(data: impl Serialize) -> Self {
        let data = to_raw_value(&data).unwrap_or_else(|_| raw_null());
        Self::with(String::from("ok"), retcode::OK, data, String::new())
    }

    /// The spec's answer to an `_async` action: accepted, running in the background.
    pub fn accepted_async() -> Self {
        Self::with(
            String::from("async"),
            retcode::ASYNC,
            raw_null(),
            String::new(),
        )
    }

    /// A failure with a retcode and a message naming the problem.
    pub fn failed(retcode: i64, message: impl Into<String>) -> Self {
        Self::with(String::from("failed"), retcode, raw_null(), message.into())
    }

    fn with(status: String, retcode: i64, data: Box<RawValue>, message: String) -> Self {
        Self {
            status,
            retcode,
            data,
            wording: message.clone(),
            message,
            stream: None,
            echo: None,
        }
    }

    /// Sets the echo (builder style).
    pub fn with_echo(mut self, echo: Option<Box<RawValue>>) -> Self {
        self.echo = echo;
        self
    }

    /// True for `status: ok`.
    pub fn is_ok(&self) -> bool {
        self.status == "ok"
    }

    /// The data parsed as a JSON value (`Null` when absent).
    pub fn data_value(&self) -> Value {
        serde_json::from_str(self.data.get()).unwrap_or(Value::Null)
    }

    /// True when more frames will follow for the same echo: a NapCat stream
    /// frame whose `data.type` is neither `response` nor `error`.
    pub fn is_partial_stream(&self) -> bool {
        if self.stream.is_none() {
            return false;
        }
        #[derive(Deserialize)]
        struct StreamData<'a> {
            #[serde(rename = "type", borrow)]
            kind: Option<std::borrow::Cow<'a, str>>,
        }
        match serde_json::from_str::<StreamData<'_>>(self.data.get()) {
            Ok(StreamData { kind: Some(kind) }) => kind != "response" && kind != "error",
            _ => false,
        }
    }

    /// Serializes to the JSON text sent on the wire.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a Response always serializes")
    }
}

/// JSON `null` as a raw value.
pub fn raw_null() -> Box<RawValue> {
    RawValue::from_string(String::from("null")).expect("null is valid JSON")
}

fn present_raw<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Box<RawValue>>, D::Error> {
    Box::<RawValue>::deserialize(d).map(Some)
}

fn present_raw_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<Box<RawValue>, D::Error> {
    Box::<RawValue>::deserialize(d)
}

fn string_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// One inbound frame, classified.
#[derive(Debug)]
pub enum Frame {
    /// `{action, params, echo}`.
    Action(ActionRequest),
    /// An answer: has no `post_type` and no `action`.
    Response(Response),
    /// Has `post_type`. The original text is kept so it can be relayed untouched.
    Event(EventHeader),
}

/// Why a frame could not be classified or parsed.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// Not JSON at all, or not an object.
    #[error("frame is not a JSON object: {0}")]
    NotJson(#[source] serde_json::Error),
    /// JSON, but with a field of the wrong type.
    #[error("malformed {kind} frame: {source}")]
    Malformed {
        /// What the frame looked like (`action`, `response`, `event`).
        kind: &'static str,
        /// The parser's complaint, naming the field.
        #[source]
        source: serde_json::Error,
    },
}

/// Classifies a text frame by peeking at its keys, then parses the right type.
///
/// A frame with `post_type` is an event; one with `action` is an action
/// request; anything else that is a JSON object is a response.
///
/// # Errors
/// [`FrameError::NotJson`] for non-objects, [`FrameError::Malformed`] when the
/// typed parse fails (e.g. `action` is a number).
pub fn classify(text: &str) -> Result<Frame, FrameError> {
    #[derive(Deserialize)]
    struct Peek {
        #[serde(default, deserialize_with = "present_ignored")]
        post_type: bool,
        #[serde(default, deserialize_with = "present_ignored")]
        action: bool,
    }
    fn present_ignored<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| true)
    }
    // serde would also accept a JSON array for a struct: only objects are frames.
    if !text.trim_start().starts_with('{') {
        let not_object = serde_json::from_str::<serde_json::Map<String, Value>>(text)
            .expect_err("text not starting with '{' is not an object");
        return Err(FrameError::NotJson(not_object));
    }
    let peek: Peek = serde_json::from_str(text).map_err(FrameError::NotJson)?;
    if peek.post_type {
        EventHeader::parse(text)
            .map(Frame::Event)
            .map_err(|source| FrameError::Malformed {
                kind: "event",
                source,
            })
    } else if peek.action {
        serde_json::from_str(text)
            .map(Frame::Action)
            .map_err(|source| FrameError::Malformed {
                kind: "action",
                source,
            })
    } else {
        serde_json::from_str(text)
            .map(Frame::Response)
            .map_err(|source| FrameError::Malformed {
                kind: "response",
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(text: &str) -> ActionRequest {
        match classify(text).unwrap() {
            Frame::Action(a) => a,
            other => panic!("not an action: {other:?}"),
        }
    }

    #[test]
    fn values_are_counted_outside_strings_only() {
        assert!(!too_many_values(r#"{"a":[1,2,3]}"#, 4));
        assert!(too_many_values(r#"{"a":[1,2,3],"b":{}}"#, 4));
        assert!(!too_many_values(r#"{"a":"[,,,,{{{\",,,"}"#, 1));
    }

    #[test]
    fn echo_of_every_json_type_is_kept_verbatim() {
        for echo in [
            r#""1""#,
            "2",
            "123456789012345678901234567890",
            r#"{"seq":1,"k":[1,2]}"#,
            "[1,\"a\"]",
            "null",
            "1.50",
        ] {
            let req = action(&format!(r#"{{"action":"get_status","echo":{echo}}}"#));
            let resp = Response::ok(serde_json::json!({})).with_echo(req.echo);
            let out: Value = serde_json::from_str(&resp.to_json()).unwrap();
            assert!(
                resp.to_json().contains(&format!("\"echo\":{echo}")),
                "{echo}"
            );
            assert!(out.get("echo").is_some());
        }
    }

    #[test]
    fn absent_echo_stays_absent() {
        let req = action(r#"{"action":"get_status"}"#);
        assert!(req.echo.is_none());
        let json = Response::ok(1).with_echo(req.echo).to_json();
        assert!(!json.contains("echo"), "{json}");
    }

    #[test]
    fn failed_has_status_retcode_message_and_no_post_type() {
        let v: Value =
            serde_json::from_str(&Response::failed(1400, "bad group_id").to_json()).unwrap();
        assert_eq!(v["status"], "failed");
        assert_eq!(v["retcode"], 1400);
        assert_eq!(v["message"], "bad group_id");
        assert_eq!(v["wording"], "bad group_id");
        assert!(v.get("post_type").is_none());
        assert!(v["data"].is_null());
    }

    #[test]
    fn classifies_events_actions_and_answers() {
        assert!(matches!(
            classify(r#"{"post_type":"notice","notice_type":"poke","time":1,"self_id":1}"#),
            Ok(Frame::Event(_))
        ));
        assert!(matches!(
            classify(r#"{"action":"x","params":{}}"#),
            Ok(Frame::Action(_))
        ));
        assert!(matches!(
            classify(r#"{"status":"ok","retcode":0,"data":{"a":1},"echo":"g1"}"#),
            Ok(Frame::Response(_))
        ));
        assert!(matches!(classify("[1]"), Err(FrameError::NotJson(_))));
        assert!(matches!(classify("not json"), Err(FrameError::NotJson(_))));
        assert!(matches!(
            classify(r#"{"action":5}"#),
            Err(FrameError::Malformed { .. })
        ));
    }

    #[test]
    fn stream_frames_are_partial_until_response_or_error() {
        let part: Response = serde_json::from_str(
            r#"{"status":"ok","retcode":0,"stream":"stream-action","data":{"type":"stream","data":"x"},"echo":1}"#,
        )
        .unwrap();
        assert!(part.is_partial_stream());
        let last: Response = serde_json::from_str(
            r#"{"status":"ok","retcode":0,"stream":"stream-action","data":{"type":"response"},"echo":1}"#,
        )
        .unwrap();
        assert!(!last.is_partial_stream());
        let plain: Response =
            serde_json::from_str(r#"{"status":"ok","retcode":0,"data":null}"#).unwrap();
        assert!(!plain.is_partial_stream());
    }
}
