//! Messages: segment arrays and CQ strings, and the conversions between them.
//!
//! A `message` arrives as a CQ string, an array of segments or (the standard
//! allows it) one segment object. [`Message`] reads any of the three;
//! [`to_array`] and [`to_cq_string`] convert a raw JSON `message` between the
//! two post formats for the event bus; [`validate_message`] checks an action's
//! `message` param and names the bad segment and field.

pub mod cq;
pub mod segment;

use serde_json::Value;

pub use cq::{escape_param, escape_text, parse_cq, to_cq, unescape};
pub use segment::{Segment, SegmentError};

/// Converts a `message` value (CQ string or segment array) to a segment array.
///
/// A string is parsed as CQ code (malformed codes stay text); an array is
/// returned as it is; a single segment object becomes a one-element array;
/// `null` becomes `[]`. This never fails.
pub fn to_array(message: &Value) -> Value {
    match message {
        Value::String(s) => {
            Value::Array(parse_cq(s).into_iter().map(Segment::into_value).collect())
        }
        Value::Array(_) => message.clone(),
        Value::Object(_) => Value::Array(vec![message.clone()]),
        Value::Null => Value::Array(Vec::new()),
        // A bare number or bool: the only sensible reading is its text.
        other => Value::Array(vec![Segment::text(other.to_string()).into_value()]),
    }
}

/// Converts a `message` value (CQ string or segment array) to a CQ string.
///
/// Text segments are escaped, every other segment (known or not) becomes a
/// code whose values are written as text (numbers and booleans rendered,
/// `null` omitted, a nested message as its CQ string). Elements that are not
/// segments are skipped. This never fails.
pub fn to_cq_string(message: &Value) -> String {
    match message {
        Value::String(s) => s.clone(),
        Value::Array(segs) => {
            let mut out = String::new();
            for seg in segs {
                cq::write_segment_value(&mut out, seg);
            }
            out
        }
        Value::Object(_) => {
            let mut out = String::new();
            cq::write_segment_value(&mut out, message);
            out
        }
        Value::Null => String::new(),
        other => cq::escape_text(&other.to_string()).into_owned(),
    }
}

/// A message: a list of segments, read from a CQ string, an array of segments
/// or a single segment object.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Message(pub Vec<Segment>);

impl Message {
    /// Reads a `message` value.
    ///
    /// # Errors
    /// A [`MessageError`] when the value is not a string, an array or an
    /// object, or a segment has no string `type` or a non-object `data`.
    pub fn from_value(value: &Value) -> Result<Self, MessageError> {
        match value {
            Value::String(s) => Ok(Self(parse_cq(s))),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| Segment::from_value(v).map_err(|e| MessageError::at(i, e)))
                .collect::<Result<_, _>>()
                .map(Self),
            Value::Object(_) => Segment::from_value(value)
                .map(|s| Self(vec![s]))
                .map_err(|e| MessageError::at(0, e)),
            _ => Err(MessageError::whole(EXPECTED_MESSAGE)),
        }
    }
}

const EXPECTED_MESSAGE: &str = "a CQ string, an array of segments or a segment object";

/// A `message` param that is not a valid message: which segment, which field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid `{}`: expected {expected}", self.path())]
pub struct MessageError {
    /// The param holding the message: `message`, or `messages` for forward nodes.
    pub param: &'static str,
    /// The index of the bad segment; `None` when the message as a whole is wrong.
    pub index: Option<usize>,
    /// The field inside that segment (`type`, `data.qq`,
    /// `data.content[1].data.id`); empty when the whole message is wrong.
    pub field: String,
    /// What was expected.
    pub expected: String,
}

impl MessageError {
    fn at(index: usize, e: SegmentError) -> Self {
        Self {
            param: "message",
            index: Some(index),
            field: e.field,
            expected: e.expected,
        }
    }

    fn whole(expected: &str) -> Self {
        Self {
            param: "message",
            index: None,
            field: String::new(),
            expected: expected.to_owned(),
        }
    }

    /// The full path of the bad field, e.g. `message[2].data.qq`, `message`.
    pub fn path(&self) -> String {
        let param = self.param;
        match self.index {
            None => param.to_owned(),
            Some(i) if self.field.is_empty() => format!("{param}[{i}]"),
            Some(i) => format!("{param}[{i}].{}", self.field),
        }
    }
}

/// Validates an action's `message` param: its shape, every segment's `type`
/// and `data`, and the fields of every known segment type (nested node
/// content included). Unknown segment types pass as they are.
///
/// # Errors
/// A [`MessageError`] naming the segment index and field, e.g.
/// `message[1].type` for a segment without `type`. An empty message (`""`,
/// `[]`) is an error too: no implementation can send it.
pub fn validate_message(message: &Value) -> Result<(), MessageError> {
    let msg = Message::from_value(message)?;
    if msg.0.is_empty() {
        return Err(MessageError::whole("a non-empty message"));
    }
    msg.0
        .iter()
        .enumerate()
        .try_for_each(|(i, s)| s.validate().map_err(|e| MessageError::at(i, e)))
}

/// A message over the size limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{param}` has more than {limit} segments (gateway.max_segments); send it in several messages"
)]
pub struct TooManySegments {
    /// `message` or `messages`.
    pub param: &'static str,
    /// The limit.
    pub limit: usize,
}

/// Checks the `message` and `messages` params of an action against `limit`
/// segments before anything is built from them: a CQ string is counted by
/// its `[CQ:` openings (one linear scan), an array by its items, forward
/// nodes' content included.
///
/// # Errors
/// [`TooManySegments`] naming the param and the limit.
pub fn check_size(params: &Value, limit: usize) -> Result<(), TooManySegments> {
    for param in ["message", "messages"] {
        if let Some(message) = params.get(param) {
            let mut budget = limit;
            if !fits(message, &mut budget) {
                return Err(TooManySegments { param, limit });
            }
        }
    }
    Ok(())
}

/// Takes this message's segments from `budget`; false when it runs out.
fn fits(message: &Value, budget: &mut usize) -> bool {
    let (own, nested): (usize, Vec<&Value>) = match message {
        // A CQ string: its codes (text between them is not counted).
        Value::String(s) => (s.matches("[CQ:").count().max(1), Vec::new()),
        Value::Array(items) => (
            items.len(),
            items
                .iter()
                .filter_map(|seg| seg.pointer("/data/content"))
                .collect(),
        ),
        Value::Object(_) => (1, message.pointer("/data/content").into_iter().collect()),
        _ => return true,
    };
    match budget.checked_sub(own) {
        Some(rest) => *budget = rest,
        None => return false,
    }
    nested.into_iter().all(|content| fits(content, budget))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn to_array_parses_cq_strings_and_keeps_arrays() {
        assert_eq!(
            to_array(&json!("[CQ:at,qq=1] hi &#91;x&#93;")),
            json!([{"type":"at","data":{"qq":"1"}},{"type":"text","data":{"text":" hi [x]"}}])
        );
        let arr = json!([{"type":"markdown","data":{"content":"x","n":1}}]);
        assert_eq!(to_array(&arr), arr);
        assert_eq!(
            to_array(&json!({"type":"face","data":{"id":"1"}})),
            json!([{"type":"face","data":{"id":"1"}}])
        );
        assert_eq!(to_array(&Value::Null), json!([]));
    }

    #[test]
    fn to_cq_string_writes_every_segment() {
        let arr = json!([
            {"type":"text","data":{"text":"a&b[c],d"}},
            {"type":"at","data":{"qq":10086}},
            {"type":"markdown","data":{"content":"x,y","n":null}},
            {"type":"image","data":{"file":"a.jpg","url":"http://x/?a=1&b=2"}},
            "not a segment",
        ]);
        assert_eq!(
            to_cq_string(&arr),
            "a&amp;b&#91;c&#93;,d[CQ:at,qq=10086][CQ:markdown,content=x&#44;y][CQ:image,file=a.jpg,url=http://x/?a=1&amp;b=2]"
        );
        assert_eq!(to_cq_string(&json!("[CQ:face,id=1]")), "[CQ:face,id=1]");
    }

    #[test]
    fn bus_round_trip_array_to_string_to_array() {
        let arr = json!([
            {"type":"reply","data":{"id":"5"}},
            {"type":"text","data":{"text":"[CQ:face,id=1] is how you write a face, & more"}},
            {"type":"face","data":{"id":"1"}},
        ]);
        assert_eq!(to_array(&json!(to_cq_string(&arr))), arr);
    }

    #[test]
    fn message_reads_string_array_and_object() {
        let a = Message::from_value(&json!("hi[CQ:face,id=1]")).unwrap();
        let b = Message::from_value(&json!([
            {"type":"text","data":{"text":"hi"}},{"type":"face","data":{"id":1}}
        ]))
        .unwrap();
        assert_eq!(to_cq(&a.0), to_cq(&b.0));
        let c = Message::from_value(&json!({"type":"face","data":{"id":"1"}})).unwrap();
        assert_eq!(c.0.len(), 1);
        let err = Message::from_value(&json!(5)).unwrap_err();
        assert!(err.to_string().contains("CQ string"), "{err}");
    }

    #[test]
    fn validate_names_the_segment_and_field() {
        let cases = [
            (
                json!([{"type":"text","data":{"text":"a"}},{"data":{"text":"b"}}]),
                "message[1].type",
            ),
            (
                json!([{"type":"at","data":{"qq":"everyone"}}]),
                "message[0].data.qq",
            ),
            (json!([{"type":"text","data":"x"}]), "message[0].data"),
            // Every segment's shape is checked before any segment's fields.
            (
                json!([{"type":"at","data":{}},{"data":{}}]),
                "message[1].type",
            ),
            (json!(["text"]), "message[0]"),
            (json!("[CQ:at,qq=abc]"), "message[0].data.qq"),
            (
                json!([{"type":"node","data":{"content":[{"type":"face","data":{}}]}}]),
                "message[0].data.content[0].data.id",
            ),
            (json!(42), "message"),
            (json!(null), "message"),
            (json!([]), "message"),
            (json!(""), "message"),
        ];
        for (v, path) in cases {
            let err = validate_message(&v).unwrap_err();
            assert_eq!(err.path(), path, "{v}");
            assert!(err.to_string().contains(path), "{err}");
        }
    }

    #[test]
    fn validate_accepts_documented_messages() {
        for v in [
            json!("[CQ:face,id=178]看看我刚拍的照片[CQ:image,file=123.jpg]"),
            json!([{"data":{"text":"occaecat sunt nisi aute"},"type":"text"}]),
            // NapCat's send_private_msg example: unknown types pass as they are.
            json!([{"data":{"text":"occaecat cupidatat"},"type":"cupidatat ipsum"},
                   {"data":{"text":"sint in"},"type":"quis ullamco ex consectetur"}]),
            json!([{"type":"at","data":{"qq":10086,"name":null}},{"type":"markdown","data":{"content":"#"}}]),
            json!({"type":"reply","data":{"id":123}}),
            json!([
                {"type":"node","data":{"name":"消息发送者A","uin":"10086","content":[{"type":"text","data":{"text":"测试消息1"}}]}},
                {"type":"node","data":{"name":"消息发送者B","uin":"10087","content":"[CQ:image,file=xxxxx]测试消息2"}},
                {"type":"node","data":{"id":"123"}}
            ]),
        ] {
            assert_eq!(validate_message(&v), Ok(()), "{v}");
        }
    }
}
