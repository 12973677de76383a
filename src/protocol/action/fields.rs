//! Field types of action params and how each is read from JSON.
//!
//! Every type implements [`Param`]: it knows what a valid value looks like
//! (for the error message) and reads one leniently. [`Params`] looks fields
//! up by their wire names, applies defaults and names the field on failure.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::protocol::de::{as_bool, as_i64, as_text, describe};

/// A parameter that failed validation: which field, and what was expected.
///
/// `Display` reads `invalid param `group_id`: expected an integer or a numeric
/// string, got a boolean true`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid param `{field}`: expected {expected}")]
pub struct ParamError {
    /// The field name, e.g. `group_id`, or a path such as `message[2].type`.
    pub field: String,
    /// What was expected, e.g. `an integer or a numeric string`, and what came instead.
    pub expected: String,
}

impl ParamError {
    /// An error with a free-form expectation.
    pub fn new(field: &str, expected: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            expected: expected.into(),
        }
    }

    /// A required field is absent (or `null`).
    pub fn missing(field: &str, expected: &str) -> Self {
        Self::new(field, format!("{expected}, but it is missing"))
    }

    /// A field holds a value of the wrong shape.
    pub fn wrong(field: &str, expected: &str, got: &Value) -> Self {
        Self::new(field, format!("{expected}, got {}", describe(got)))
    }
}

/// A params struct that can be read from a request's `params`.
pub trait FromParams: Sized {
    /// Reads and validates the params.
    ///
    /// # Errors
    /// A [`ParamError`] naming the first bad field.
    fn from_params(params: &Params<'_>) -> Result<Self, ParamError>;
}

/// Declares params structs: one field per line, `name: Type` (required unless
/// `Type` is an `Option`), `name: Type = default`, and `name ["wire", "alias"]: Type`
/// when the wire name differs or has aliases (the first is the documented
/// one, named in errors). `} => path` after a struct runs a cross-field check.
macro_rules! params {
    ($(
        $(#[$meta:meta])*
        $name:ident {
            $(
                $(#[$fmeta:meta])*
                $field:ident $([$first:literal $(, $alias:literal)*])? : $ty:ty $(= $default:expr)?
            ),* $(,)?
        } $(=> $check:path)?
    )*) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize)]
        pub struct $name {
            $(
                $(#[$fmeta])*
                $(#[serde(rename = $first)])?
                pub $field: $ty,
            )*
        }

        impl $crate::protocol::action::fields::FromParams for $name {
            #[allow(unused_variables)]
            fn from_params(
                p: &$crate::protocol::action::fields::Params<'_>,
            ) -> Result<Self, $crate::protocol::action::fields::ParamError> {
                let value = Self {
                    $($field: params!(
                        @get p,
                        params!(@names $field $([$first $(, $alias)*])?),
                        $ty $(, $default)?
                    ),)*
                };
                $($check(&value)?;)?
                Ok(value)
            }
        }
    )*};
    (@names $field:ident) => { &[stringify!($field)] };
    (@names $field:ident [$($wire:literal),+]) => { &[$($wire),+] };
    (@get $p:ident, $names:expr, $ty:ty) => { $p.get::<$ty>($names)? };
    (@get $p:ident, $names:expr, $ty:ty, $default:expr) => { $p.get_or::<$ty>($names, $default)? };
}
pub(crate) use params;

/// A value that can be read from one params field.
pub trait Param: Sized {
    /// What a valid value looks like, e.g. `an integer or a numeric string`.
    const EXPECTED: &'static str;

    /// Reads a present, non-null value. `field` is the wire name (or path) for errors.
    ///
    /// # Errors
    /// A [`ParamError`] naming `field` (or a path inside it).
    fn from_json(v: &Value, field: &str) -> Result<Self, ParamError>;

    /// The value of an absent or `null` field; `None` means the field is required.
    fn absent() -> Option<Self> {
        None
    }

    /// True when a blank string counts as "not given" (numbers and flags:
    /// NapCat sends `"message_seq": ""`, as CQ codes write `id=`).
    const BLANK_IS_ABSENT: bool = false;
}

impl Param for i64 {
    const EXPECTED: &'static str = "an integer or a numeric string";
    const BLANK_IS_ABSENT: bool = true;
    fn from_json(v: &Value, field: &str) -> Result<Self, ParamError> {
        as_i64(v).ok_or_else(|| ParamError::wrong(field, Self::EXPECTED, v))
    }
}

impl Param for bool {
    const EXPECTED: &'static str = "a boolean (true/false, \"true\"/\"false\", 1/0)";
    const BLANK_IS_ABSENT: bool = true;
    fn from_json(v: &Value, field: &str) -> Result<Self, ParamError> {
        as_bool(v).ok_or_else(|| ParamError::wrong(field, Self::EXPECTED, v))
    }
}

impl Param for String {
    const EXPECTED: &'static str = "a string";
    fn from_json(v: &Value, field: &str) -> Result<Self, ParamError> {
        as_text(v).ok_or_else(|| ParamError::wrong(field, Self::EXPECTED, v))
    }
}

impl Param for Map<String, Value> {
    const EXPECTED: &'static str = "an object";
    fn from_json(v: &Value, field: &str) -> Result<Self, ParamError> {
        v.as_object()
            .cloned()
            .ok_or_else(|| ParamError::wrong(field, Self::EXPECTED, v))
    }
}

impl Param for Vec<String> {
    const EXPECTED: &'static str = "an array of strings";
    fn from_json(v: &Value, field: &str) -> Result<Self, ParamError> {
        let items = v
            .as_array()
            .ok_or_else(|| ParamError::wrong(field, Self::EXPECTED, v))?;
        items
            .iter()
            .enumerate()
            .map(|(i, item)| String::from_json(item, &format!("{field}[{i}]")))
            .collect()
    }
}

impl<T: Param> Param for Option<T> {
    const EXPECTED: &'static str = T::EXPECTED;
    const BLANK_IS_ABSENT: bool = T::BLANK_IS_ABSENT;
    fn from_json(v: &Value, field: &str) -> Result<Self, ParamError> {
        T::from_json(v, field).map(Some)
    }
    fn absent() -> Option<Self> {
        Some(None)
    }
}

/// The `message` of a send action: a CQ-code string, or an array of segments
/// `{type, data}`. Kept as JSON: the message codec converts it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct MessageParam(pub Value);

impl MessageParam {
    /// True when the message is a CQ-code string (rather than a segment array).
    pub fn is_string(&self) -> bool {
        self.0.is_string()
    }
}

impl Param for MessageParam {
    const EXPECTED: &'static str =
        "a non-empty CQ-code string or a non-empty array of segments {type, data}";
    fn from_json(v: &Value, field: &str) -> Result<Self, ParamError> {
        match v {
            // A string may be CQ code or, with auto_escape, plain text: the
            // codes are not judged here.
            Value::String(s) if !s.is_empty() => Ok(Self(v.clone())),
            // Every segment's shape, and the fields of the known types.
            Value::Array(_) => crate::protocol::message::validate_message(v)
                .map(|()| Self(v.clone()))
                .map_err(|e| message_error(field, e)),
            _ => Err(ParamError::wrong(field, Self::EXPECTED, v)),
        }
    }
}

/// The `messages` of a forward send: an array of `node` segments (any
/// segment is accepted here; the upstream judges what a node may hold).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct ForwardNodes(pub Value);

impl Param for ForwardNodes {
    const EXPECTED: &'static str = "a non-empty array of node segments {type, data}";
    fn from_json(v: &Value, field: &str) -> Result<Self, ParamError> {
        match v {
            Value::Array(items) if !items.is_empty() => {
                crate::protocol::message::Message::from_value(v)
                    .map(|_| Self(v.clone()))
                    .map_err(|e| message_error(field, e))
            }
            _ => Err(ParamError::wrong(field, Self::EXPECTED, v)),
        }
    }
}

/// A message error as a param error, its path under this param's name.
fn message_error(field: &str, e: crate::protocol::message::MessageError) -> ParamError {
    let path = match e.index {
        None => field.to_owned(),
        Some(i) if e.field.is_empty() => format!("{field}[{i}]"),
        Some(i) => format!("{field}[{i}].{}", e.field),
    };
    ParamError::new(&path, e.expected)
}

/// Custom request headers of `download_file`: one string (`k=v[\r\n]k=v`) or a list.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Headers {
    /// `User-Agent=...[\r\n]Referer=...`
    Text(String),
    /// `["User-Agent=...", "Referer=..."]`
    List(Vec<String>),
}

impl Param for Headers {
    const EXPECTED: &'static str = "a string or an array of strings";
    fn from_json(v: &Value, field: &str) -> Result<Self, ParamError> {
        match v {
            Value::String(s) => Ok(Self::Text(s.clone())),
            Value::Array(_) => Vec::<String>::from_json(v, field).map(Self::List),
            _ => Err(ParamError::wrong(field, Self::EXPECTED, v)),
        }
    }
}

/// Declares a string-valued enum param: variants, wire spellings, `Param` impl.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $wire)] $variant,)+
        }

        impl $name {
            /// The wire spelling.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $wire,)+ }
            }
        }

        impl Param for $name {
            const EXPECTED: &'static str = concat!("one of" $(, " `", $wire, "`")+);
            fn from_json(v: &Value, field: &str) -> Result<Self, ParamError> {
                match v.as_str().map(str::trim) {
                    $(Some($wire) => Ok(Self::$variant),)+
                    _ => Err(ParamError::wrong(field, Self::EXPECTED, v)),
                }
            }
        }
    };
}

string_enum! {
    /// `message_type` of `send_msg`.
    MessageType {
        /// A private (friend or temporary) chat.
        Private = "private",
        /// A group chat.
        Group = "group",
    }
}

string_enum! {
    /// `out_format` of `get_record`: the formats the standard lists.
    RecordFormat {
        /// MP3.
        Mp3 = "mp3",
        /// AMR.
        Amr = "amr",
        /// WMA.
        Wma = "wma",
        /// M4A (AAC).
        M4a = "m4a",
        /// Speex.
        Spx = "spx",
        /// Ogg.
        Ogg = "ogg",
        /// WAV.
        Wav = "wav",
        /// FLAC.
        Flac = "flac",
    }
}

string_enum! {
    /// `sub_type` of `set_group_add_request`.
    GroupRequestKind {
        /// Someone asks to join the group.
        Add = "add",
        /// The bot was invited into a group.
        Invite = "invite",
    }
}

string_enum! {
    /// `type` of `get_group_honor_info`.
    HonorType {
        /// 龙王
        Talkative = "talkative",
        /// 群聊之火
        Performer = "performer",
        /// 群聊炽焰
        Legend = "legend",
        /// 冒尖小春笋
        StrongNewbie = "strong_newbie",
        /// 快乐之源
        Emotion = "emotion",
        /// Every type at once.
        All = "all",
    }
}

/// The params object of one request, read field by field.
#[derive(Debug, Clone, Copy)]
pub struct Params<'a> {
    map: Option<&'a Map<String, Value>>,
}

impl<'a> Params<'a> {
    /// Wraps a request's `params`: an object, or `null` (= no params).
    ///
    /// # Errors
    /// A [`ParamError`] naming `params` when it is neither.
    pub fn new(params: &'a Value) -> Result<Self, ParamError> {
        match params {
            Value::Null => Ok(Self { map: None }),
            Value::Object(map) => Ok(Self { map: Some(map) }),
            other => Err(ParamError::wrong("params", "an object (or null)", other)),
        }
    }

    /// Reads the fields of an object already in hand (e.g. a quick operation's `context`).
    pub fn of(map: &'a Map<String, Value>) -> Self {
        Self { map: Some(map) }
    }

    /// The first of `names` that is present and not `null`, with its value.
    pub fn lookup(&self, names: &[&'static str]) -> Option<(&'static str, &'a Value)> {
        let map = self.map?;
        names
            .iter()
            .find_map(|n| map.get(*n).filter(|v| !v.is_null()).map(|v| (*n, v)))
    }

    /// Reads a field known by `names` (the first is its documented name).
    ///
    /// # Errors
    /// When the value is malformed, or absent and `T` has no absent value.
    pub fn get<T: Param>(&self, names: &[&'static str]) -> Result<T, ParamError> {
        match self.given::<T>(names) {
            Some((name, v)) => T::from_json(v, name),
            None => T::absent().ok_or_else(|| ParamError::missing(names[0], T::EXPECTED)),
        }
    }

    fn given<T: Param>(&self, names: &[&'static str]) -> Option<(&'static str, &'a Value)> {
        self.lookup(names)
            .filter(|(_, v)| !(T::BLANK_IS_ABSENT && crate::protocol::de::is_blank(v)))
    }

    /// Reads a field, using `default` when it is absent or `null`.
    ///
    /// # Errors
    /// When the value is present and malformed.
    pub fn get_or<T: Param>(&self, names: &[&'static str], default: T) -> Result<T, ParamError> {
        match self.given::<T>(names) {
            Some((name, v)) => T::from_json(v, name),
            None => Ok(default),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn message_accepts_strings_and_segment_arrays() {
        for ok in [
            json!("hello [CQ:face,id=1]"),
            json!([{"type": "text", "data": {"text": "hi"}}]),
            json!([{"type": "at", "data": {"qq": 123}}, {"type": "shake", "data": null}]),
            json!([{"type": "shake"}]),
        ] {
            assert!(MessageParam::from_json(&ok, "message").is_ok(), "{ok}");
        }
    }

    #[test]
    fn known_segment_types_have_their_fields_checked() {
        let err = MessageParam::from_json(
            &json!([{"type": "text", "data": {"text": "hi"}}, {"type": "at", "data": {}}]),
            "message",
        )
        .unwrap_err();
        assert_eq!(err.field, "message[1].data.qq", "{err:?}");
        // Unknown types pass as they are: the implementation judges them.
        assert!(
            MessageParam::from_json(&json!([{"type": "mface", "data": {"x": 1}}]), "message")
                .is_ok()
        );
    }

    #[test]
    fn message_errors_name_the_segment_index() {
        let err = MessageParam::from_json(
            &json!([{"type": "text", "data": {}}, {"type": 5, "data": {}}]),
            "message",
        )
        .unwrap_err();
        assert_eq!(err.field, "message[1].type");
        let err = MessageParam::from_json(
            &json!([{"type": "text", "data": {}}, {"type": "image", "data": "x"}]),
            "message",
        )
        .unwrap_err();
        assert_eq!(err.field, "message[1].data");
        let err = MessageParam::from_json(&json!([{"data": {}}]), "message").unwrap_err();
        assert_eq!(err.field, "message[0].type");
        let err = MessageParam::from_json(&json!(["text"]), "message").unwrap_err();
        assert_eq!(err.field, "message[0]");
        for bad in [json!(5), json!({}), json!(""), json!([]), json!(true)] {
            let err = MessageParam::from_json(&bad, "message").unwrap_err();
            assert_eq!(err.field, "message", "{bad}");
        }
    }

    #[test]
    fn enum_params_list_their_spellings() {
        assert_eq!(
            MessageType::from_json(&json!("group"), "m"),
            Ok(MessageType::Group)
        );
        let err = MessageType::from_json(&json!("guild"), "message_type").unwrap_err();
        assert!(err.to_string().contains("`private`"), "{err}");
        assert!(err.to_string().contains("\"guild\""), "{err}");
    }

    #[test]
    fn params_lookup_skips_null_and_uses_aliases() {
        let v = json!({"flag": null, "anonymous_flag": "f1"});
        let p = Params::new(&v).unwrap();
        assert_eq!(
            p.get::<String>(&["anonymous_flag", "flag"]).unwrap(),
            "f1".to_owned()
        );
        assert_eq!(p.get_or::<i64>(&["duration"], 1800).unwrap(), 1800);
        let err = p.get::<i64>(&["group_id"]).unwrap_err();
        assert_eq!(err.field, "group_id");
        assert!(err.to_string().contains("missing"), "{err}");
        assert_eq!(p.get::<Option<i64>>(&["user_id"]).unwrap(), None);
    }

    #[test]
    fn non_object_params_are_named() {
        assert!(Params::new(&Value::Null).is_ok());
        for bad in [json!([]), json!("x"), json!(1)] {
            assert_eq!(Params::new(&bad).unwrap_err().field, "params");
        }
    }
}
