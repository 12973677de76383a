//! Message segments: the lossless wire form `{type, data}` ([`Segment`]) and a
//! typed view of every known segment type ([`MessageSegment`]).
//!
//! The wire form is what the gateway stores and relays: `data` keeps every key
//! in the order and with the JSON type the sender used, so nothing an app sent
//! is lost or reordered. The typed view reads values leniently (`"qq":"123"`
//! and `"qq":123` are the same; `null` is "not given") and is what validation
//! and the sandbox use. Building a [`Segment`] from a [`MessageSegment`] writes
//! every value as a string, as the OneBot v11 array format asks.

use std::borrow::Cow;
use std::fmt;

use serde::de::Deserializer;
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::cq;
use crate::protocol::de::{as_bool, as_i64, is_blank};

/// One message segment as sent on the wire: `{"type": .., "data": {..}}`.
///
/// `data` may be absent or `null` on input; it is written as `{}` then, since
/// clients read `seg.data.x` without checking for null.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Segment {
    /// The segment type (`text`, `image`, `markdown`, ...).
    pub kind: String,
    /// The parameters, in the order they arrived.
    pub data: Map<String, Value>,
}

impl Segment {
    /// A segment of any type.
    pub fn new(kind: impl Into<String>, data: Map<String, Value>) -> Self {
        Self {
            kind: kind.into(),
            data,
        }
    }

    /// A `text` segment.
    pub fn text(text: impl Into<String>) -> Self {
        let mut data = Map::new();
        data.insert("text".into(), Value::String(text.into()));
        Self::new("text", data)
    }

    /// True for a `text` segment.
    pub fn is_text(&self) -> bool {
        self.kind == "text"
    }

    /// The text of a `text` segment (numbers rendered as text), else `None`.
    pub fn as_text(&self) -> Option<Cow<'_, str>> {
        if self.is_text() {
            self.get_str("text")
        } else {
            None
        }
    }

    /// A data value; `null` counts as absent.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.data.get(key).filter(|v| !v.is_null())
    }

    /// A data value as text: strings as they are, numbers and booleans rendered.
    pub fn get_str(&self, key: &str) -> Option<Cow<'_, str>> {
        opt_str(&self.data, key).ok().flatten()
    }

    /// A data value as an integer: a JSON integer or a numeric string.
    pub fn get_i64(&self, key: &str) -> Option<i64> {
        opt_i64(&self.data, key).ok().flatten()
    }

    /// A data value as a float: a JSON number or a numeric string.
    pub fn get_f64(&self, key: &str) -> Option<f64> {
        opt_f64(&self.data, key).ok().flatten()
    }

    /// A data value as a flag: `true`/`false`, `1`/`0`, `yes`/`no`, as JSON or text.
    pub fn get_bool(&self, key: &str) -> Option<bool> {
        opt_bool(&self.data, key).ok().flatten()
    }

    /// The typed view of this segment; unknown types give
    /// [`MessageSegment::Unknown`].
    ///
    /// # Errors
    /// A [`SegmentError`] naming the first field that is missing or has a
    /// value of the wrong type.
    pub fn typed(&self) -> Result<MessageSegment, SegmentError> {
        MessageSegment::from_segment(self)
    }

    /// The segment as a JSON value `{type, data}`.
    pub fn to_value(&self) -> Value {
        let mut obj = Map::with_capacity(2);
        obj.insert("type".into(), Value::String(self.kind.clone()));
        obj.insert("data".into(), Value::Object(self.data.clone()));
        Value::Object(obj)
    }

    /// Consumes the segment into a JSON value `{type, data}`.
    pub fn into_value(self) -> Value {
        let mut obj = Map::with_capacity(2);
        obj.insert("type".into(), Value::String(self.kind));
        obj.insert("data".into(), Value::Object(self.data));
        Value::Object(obj)
    }

    /// The segment as CQ text (a code, or escaped text for `text`).
    pub fn to_cq(&self) -> String {
        let mut out = String::new();
        cq::write_segment(&mut out, &self.kind, Some(&self.data));
        out
    }
}

impl Serialize for Segment {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("type", &self.kind)?;
        map.serialize_entry("data", &self.data)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for Segment {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(rename = "type")]
            kind: String,
            #[serde(default)]
            data: Option<Map<String, Value>>,
        }
        let raw = Raw::deserialize(d)?;
        Ok(Self {
            kind: raw.kind,
            data: raw.data.unwrap_or_default(),
        })
    }
}

impl From<MessageSegment> for Segment {
    fn from(seg: MessageSegment) -> Self {
        seg.to_segment()
    }
}

/// Written as its wire segment (values as strings).
impl Serialize for MessageSegment {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_segment().serialize(s)
    }
}

/// Read leniently from a wire segment; a bad field is a deserialization error naming it.
impl<'de> Deserialize<'de> for MessageSegment {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Segment::deserialize(d)?
            .typed()
            .map_err(serde::de::Error::custom)
    }
}

/// A segment field that is missing or has the wrong type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}`: expected {expected}")]
pub struct SegmentError {
    /// The field, relative to the segment: `type`, `data.qq`, `data.content[1].data.id`.
    pub field: String,
    /// What was expected there.
    pub expected: String,
}

impl SegmentError {
    fn data(key: &str, expected: impl Into<String>) -> Self {
        Self {
            field: format!("data.{key}"),
            expected: expected.into(),
        }
    }
}

// ---- lenient readers: absent and null are "not given" ----

const STRING: &str = "a string";
const INTEGER: &str = "an integer or a numeric string";
const NUMBER: &str = "a number or a numeric string";
const FLAG: &str = "a flag (0/1, true/false, yes/no)";

fn given<'a>(data: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    data.get(key).filter(|v| !v.is_null())
}

fn opt_str<'a>(
    data: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<Cow<'a, str>>, SegmentError> {
    match given(data, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(Cow::Borrowed(s))),
        Some(Value::Number(n)) => Ok(Some(Cow::Owned(n.to_string()))),
        Some(Value::Bool(b)) => Ok(Some(Cow::Owned(b.to_string()))),
        Some(_) => Err(SegmentError::data(key, STRING)),
    }
}

fn opt_string(data: &Map<String, Value>, key: &str) -> Result<Option<String>, SegmentError> {
    opt_str(data, key).map(|s| s.map(Cow::into_owned))
}

fn req_string(data: &Map<String, Value>, key: &str) -> Result<String, SegmentError> {
    opt_string(data, key)?.ok_or_else(|| SegmentError::data(key, "a string (required)"))
}

fn opt_i64(data: &Map<String, Value>, key: &str) -> Result<Option<i64>, SegmentError> {
    match given(data, key) {
        None => Ok(None),
        Some(v) if is_blank(v) => Ok(None),
        Some(v) => as_i64(v)
            .map(Some)
            .ok_or_else(|| SegmentError::data(key, INTEGER)),
    }
}

fn req_i64(data: &Map<String, Value>, key: &str) -> Result<i64, SegmentError> {
    opt_i64(data, key)?.ok_or_else(|| SegmentError::data(key, format!("{INTEGER} (required)")))
}

fn opt_f64(data: &Map<String, Value>, key: &str) -> Result<Option<f64>, SegmentError> {
    match given(data, key) {
        None => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or_else(|| SegmentError::data(key, NUMBER)),
        Some(_) => Err(SegmentError::data(key, NUMBER)),
    }
}

fn req_f64(data: &Map<String, Value>, key: &str) -> Result<f64, SegmentError> {
    opt_f64(data, key)?.ok_or_else(|| SegmentError::data(key, format!("{NUMBER} (required)")))
}

fn opt_bool(data: &Map<String, Value>, key: &str) -> Result<Option<bool>, SegmentError> {
    match given(data, key) {
        None => Ok(None),
        Some(v) if is_blank(v) => Ok(None),
        Some(v) => as_bool(v)
            .map(Some)
            .ok_or_else(|| SegmentError::data(key, FLAG)),
    }
}

// ---- the typed model ----

/// Who an `at` segment mentions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtTarget {
    /// `qq=all`: everyone in the group.
    All,
    /// One member.
    User(i64),
}

impl fmt::Display for AtTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("all"),
            Self::User(id) => write!(f, "{id}"),
        }
    }
}

/// `image.type`: a flash picture, a "show" picture with an effect, or anything newer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageType {
    /// `flash` (闪照).
    Flash,
    /// `show` (秀图), with `Image::effect_id`.
    Show,
    /// Any other value, kept as sent.
    Other(String),
}

impl ImageType {
    fn parse(s: String) -> Self {
        match s.as_str() {
            "flash" => Self::Flash,
            "show" => Self::Show,
            _ => Self::Other(s),
        }
    }

    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Flash => "flash",
            Self::Show => "show",
            Self::Other(s) => s,
        }
    }
}

/// `image`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Image {
    /// File name, `file://` path, URL or `base64://` data.
    pub file: String,
    /// `flash`, `show` or absent (a normal picture).
    pub image_type: Option<ImageType>,
    /// The picture's URL (received pictures).
    pub url: Option<String>,
    /// Use a cached download (network files only).
    pub cache: Option<bool>,
    /// Download through the proxy (network files only).
    pub proxy: Option<bool>,
    /// Download timeout in seconds.
    pub timeout: Option<i64>,
    /// `id`: the effect of a `show` picture, 40000..=40005 (go-cqhttp).
    pub effect_id: Option<i64>,
    /// `c`: download threads, 2 or 3 (go-cqhttp).
    pub threads: Option<i64>,
}

/// `record` (voice).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// File name, path, URL or base64 data.
    pub file: String,
    /// Voice changer.
    pub magic: Option<bool>,
    /// The voice's URL (received).
    pub url: Option<String>,
    /// Use a cached download.
    pub cache: Option<bool>,
    /// Download through the proxy.
    pub proxy: Option<bool>,
    /// Download timeout in seconds.
    pub timeout: Option<i64>,
}

/// `video`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Video {
    /// File name, path or URL.
    pub file: String,
    /// Cover picture (go-cqhttp).
    pub cover: Option<String>,
    /// The video's URL (received).
    pub url: Option<String>,
    /// Use a cached download.
    pub cache: Option<bool>,
    /// Download through the proxy.
    pub proxy: Option<bool>,
    /// Download timeout in seconds.
    pub timeout: Option<i64>,
    /// `c`: download threads (go-cqhttp).
    pub threads: Option<i64>,
}

/// `poke`: go-cqhttp pokes a member (`qq`); the standard sends a poke kind (`type`, `id`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Poke {
    /// The member to poke (go-cqhttp, groups only).
    pub qq: Option<i64>,
    /// The poke kind (standard).
    pub poke_type: Option<String>,
    /// The poke id (standard).
    pub id: Option<String>,
    /// The poke's name (received).
    pub name: Option<String>,
}

/// `share` (a link card).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Share {
    /// The link.
    pub url: String,
    /// The title.
    pub title: String,
    /// The description.
    pub content: Option<String>,
    /// The picture URL.
    pub image: Option<String>,
}

/// `contact.type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactKind {
    /// A friend recommendation.
    Qq,
    /// A group recommendation.
    Group,
    /// Anything else, kept as sent.
    Other(String),
}

impl ContactKind {
    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Qq => "qq",
            Self::Group => "group",
            Self::Other(s) => s,
        }
    }
}

/// `contact` (recommend a friend or a group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// `qq` or `group`.
    pub kind: ContactKind,
    /// The account or group number.
    pub id: i64,
}

/// `location`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Location {
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// Title.
    pub title: Option<String>,
    /// Description.
    pub content: Option<String>,
}

/// `music`: a song of a platform, or a custom card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Music {
    /// `type` is `qq`, `163`, `xm` (or another platform), with the song `id`.
    Platform {
        /// The platform (`qq`, `163`, `xm`, ...).
        platform: String,
        /// The song id.
        id: String,
    },
    /// `type=custom`.
    Custom(CustomMusic),
}

/// `music` with `type=custom`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CustomMusic {
    /// The card style: `qq`, `163`, `migu`, `kugou`, `kuwo` (go-cqhttp).
    pub subtype: Option<String>,
    /// Where a click goes.
    pub url: String,
    /// The audio URL.
    pub audio: String,
    /// The title.
    pub title: String,
    /// The description.
    pub content: Option<String>,
    /// The picture URL.
    pub image: Option<String>,
}

/// `reply`: by message id, or (go-cqhttp) a custom quote. An `id` wins when both are given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Quote the message with this id.
    Id(i64),
    /// A custom quote.
    Custom {
        /// The quoted text.
        text: String,
        /// Who said it.
        qq: i64,
        /// When (Unix seconds).
        time: Option<i64>,
        /// The message sequence number.
        seq: Option<i64>,
    },
}

/// `node`: one node of a forward message, a reference by id or custom content.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// Forward an existing message.
    Id(i64),
    /// A message written here.
    Custom(CustomNode),
}

/// A custom `node`. The standard names the sender `user_id`/`nickname`,
/// go-cqhttp `uin`/`name`; both are read, the standard names are written.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CustomNode {
    /// The sender's display name.
    pub nickname: Option<String>,
    /// The sender's account.
    pub user_id: Option<i64>,
    /// The content (sent as a CQ string or an array; parsed here).
    pub content: Vec<Segment>,
    /// The sequence number (go-cqhttp).
    pub seq: Option<String>,
    /// The time, Unix seconds (go-cqhttp).
    pub time: Option<i64>,
}

/// `xml` or `json`: a rich card.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RichCard {
    /// The XML or JSON text.
    pub data: String,
    /// `resid` (go-cqhttp): 0 or absent uses the mini-app channel.
    pub resid: Option<i64>,
}

/// `cardimage` (go-cqhttp): a big picture sent as an XML card.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CardImage {
    /// Like `image.file`.
    pub file: String,
    /// Minimum width (default 400).
    pub minwidth: Option<i64>,
    /// Minimum height (default 400).
    pub minheight: Option<i64>,
    /// Maximum width (default 500).
    pub maxwidth: Option<i64>,
    /// Maximum height (default 1000).
    pub maxheight: Option<i64>,
    /// The source's name.
    pub source: Option<String>,
    /// The source's icon URL.
    pub icon: Option<String>,
}

/// The typed view of a segment: every type of the OneBot v11 standard and of
/// the go-cqhttp / NapCat documents; anything else is [`MessageSegment::Unknown`].
#[derive(Debug, Clone, PartialEq)]
pub enum MessageSegment {
    /// `text`.
    Text(String),
    /// `face`: a QQ emoji by id.
    Face(i64),
    /// `image`.
    Image(Image),
    /// `record`.
    Record(Record),
    /// `video`.
    Video(Video),
    /// `at`.
    At {
        /// Who.
        qq: AtTarget,
        /// Display name when the account is not in the group (go-cqhttp).
        name: Option<String>,
    },
    /// `rps`: rock-paper-scissors.
    Rps,
    /// `dice`.
    Dice,
    /// `shake`: window shake.
    Shake,
    /// `poke`.
    Poke(Poke),
    /// `anonymous`: send anonymously.
    Anonymous {
        /// Send anyway when anonymity is not possible.
        ignore: Option<bool>,
    },
    /// `share`.
    Share(Share),
    /// `contact`.
    Contact(Contact),
    /// `location`.
    Location(Location),
    /// `music`.
    Music(Music),
    /// `reply`.
    Reply(Reply),
    /// `forward`: a received forward message, fetched with `get_forward_msg`.
    Forward(String),
    /// `node`.
    Node(Node),
    /// `xml`.
    Xml(RichCard),
    /// `json`.
    Json(RichCard),
    /// `cardimage` (go-cqhttp).
    CardImage(CardImage),
    /// `tts`: text to speech (go-cqhttp).
    Tts(String),
    /// `redbag`: a received red packet (go-cqhttp).
    Redbag(String),
    /// `gift` (go-cqhttp).
    Gift {
        /// The member receiving the gift.
        qq: i64,
        /// The gift id, 0..=13.
        id: i64,
    },
    /// Any other type (`markdown`, `mface`, `file`, ...), passed through as it came.
    Unknown(Segment),
}

impl MessageSegment {
    /// A `text` segment.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(text.into())
    }

    /// An `at` segment mentioning one member.
    pub fn at(qq: i64) -> Self {
        Self::At {
            qq: AtTarget::User(qq),
            name: None,
        }
    }

    /// A `reply` segment quoting a message by id.
    pub fn reply(message_id: i64) -> Self {
        Self::Reply(Reply::Id(message_id))
    }

    /// An `image` segment with only a `file`.
    pub fn image(file: impl Into<String>) -> Self {
        Self::Image(Image {
            file: file.into(),
            ..Image::default()
        })
    }

    /// The segment type's wire name (`text`, `at`, ... or the unknown type).
    pub fn kind(&self) -> &str {
        match self {
            Self::Text(_) => "text",
            Self::Face(_) => "face",
            Self::Image(_) => "image",
            Self::Record(_) => "record",
            Self::Video(_) => "video",
            Self::At { .. } => "at",
            Self::Rps => "rps",
            Self::Dice => "dice",
            Self::Shake => "shake",
            Self::Poke(_) => "poke",
            Self::Anonymous { .. } => "anonymous",
            Self::Share(_) => "share",
            Self::Contact(_) => "contact",
            Self::Location(_) => "location",
            Self::Music(_) => "music",
            Self::Reply(_) => "reply",
            Self::Forward(_) => "forward",
            Self::Node(_) => "node",
            Self::Xml(_) => "xml",
            Self::Json(_) => "json",
            Self::CardImage(_) => "cardimage",
            Self::Tts(_) => "tts",
            Self::Redbag(_) => "redbag",
            Self::Gift { .. } => "gift",
            Self::Unknown(seg) => &seg.kind,
        }
    }

    /// Reads the typed view of a wire segment.
    ///
    /// # Errors
    /// A [`SegmentError`] naming the first missing or mistyped field.
    pub fn from_segment(seg: &Segment) -> Result<Self, SegmentError> {
        let d = &seg.data;
        Ok(match seg.kind.as_str() {
            "text" => Self::Text(req_string(d, "text")?),
            "face" => Self::Face(req_i64(d, "id")?),
            "image" => Self::Image(Image {
                file: req_string(d, "file")?,
                image_type: opt_string(d, "type")?.map(ImageType::parse),
                url: opt_string(d, "url")?,
                cache: opt_bool(d, "cache")?,
                proxy: opt_bool(d, "proxy")?,
                timeout: opt_i64(d, "timeout")?,
                effect_id: opt_i64(d, "id")?,
                threads: opt_i64(d, "c")?,
            }),
            "record" => Self::Record(Record {
                file: req_string(d, "file")?,
                magic: opt_bool(d, "magic")?,
                url: opt_string(d, "url")?,
                cache: opt_bool(d, "cache")?,
                proxy: opt_bool(d, "proxy")?,
                timeout: opt_i64(d, "timeout")?,
            }),
            "video" => Self::Video(Video {
                file: req_string(d, "file")?,
                cover: opt_string(d, "cover")?,
                url: opt_string(d, "url")?,
                cache: opt_bool(d, "cache")?,
                proxy: opt_bool(d, "proxy")?,
                timeout: opt_i64(d, "timeout")?,
                threads: opt_i64(d, "c")?,
            }),
            "at" => {
                let qq =
                    match opt_str(d, "qq")? {
                        Some(s) if s.trim() == "all" => AtTarget::All,
                        Some(_) => AtTarget::User(req_i64(d, "qq").map_err(|_| {
                            SegmentError::data("qq", "an account number or \"all\"")
                        })?),
                        None => {
                            return Err(SegmentError::data(
                                "qq",
                                "an account number or \"all\" (required)",
                            ))
                        }
                    };
                Self::At {
                    qq,
                    name: opt_string(d, "name")?,
                }
            }
            "rps" => Self::Rps,
            "dice" => Self::Dice,
            "shake" => Self::Shake,
            "poke" => {
                let poke = Poke {
                    qq: opt_i64(d, "qq")?,
                    poke_type: opt_string(d, "type")?,
                    id: opt_string(d, "id")?,
                    name: opt_string(d, "name")?,
                };
                if poke.qq.is_none() && poke.poke_type.is_none() {
                    return Err(SegmentError::data(
                        "qq",
                        "a member to poke (`qq`) or a poke kind (`type` and `id`)",
                    ));
                }
                Self::Poke(poke)
            }
            "anonymous" => Self::Anonymous {
                ignore: opt_bool(d, "ignore")?,
            },
            "share" => Self::Share(Share {
                url: req_string(d, "url")?,
                title: req_string(d, "title")?,
                content: opt_string(d, "content")?,
                image: opt_string(d, "image")?,
            }),
            "contact" => Self::Contact(Contact {
                kind: match req_string(d, "type")?.as_str() {
                    "qq" => ContactKind::Qq,
                    "group" => ContactKind::Group,
                    other => ContactKind::Other(other.to_owned()),
                },
                id: req_i64(d, "id")?,
            }),
            "location" => Self::Location(Location {
                lat: req_f64(d, "lat")?,
                lon: req_f64(d, "lon")?,
                title: opt_string(d, "title")?,
                content: opt_string(d, "content")?,
            }),
            "music" => {
                let platform = req_string(d, "type")?;
                if platform == "custom" {
                    Self::Music(Music::Custom(CustomMusic {
                        subtype: opt_string(d, "subtype")?,
                        url: req_string(d, "url")?,
                        audio: req_string(d, "audio")?,
                        title: req_string(d, "title")?,
                        content: opt_string(d, "content")?,
                        image: opt_string(d, "image")?,
                    }))
                } else {
                    Self::Music(Music::Platform {
                        platform,
                        id: req_string(d, "id")?,
                    })
                }
            }
            "reply" => match opt_i64(d, "id")? {
                Some(id) => Self::Reply(Reply::Id(id)),
                None => {
                    if given(d, "text").is_none() {
                        return Err(SegmentError::data(
                            "id",
                            "a message id, or a custom quote (`text` and `qq`)",
                        ));
                    }
                    Self::Reply(Reply::Custom {
                        text: req_string(d, "text")?,
                        qq: req_i64(d, "qq")?,
                        time: opt_i64(d, "time")?,
                        seq: opt_i64(d, "seq")?,
                    })
                }
            },
            "forward" => Self::Forward(req_string(d, "id")?),
            "node" => Self::Node(parse_node(d)?),
            "xml" => Self::Xml(RichCard {
                data: req_string(d, "data")?,
                resid: opt_i64(d, "resid")?,
            }),
            "json" => Self::Json(RichCard {
                // Some clients send the card as a JSON object rather than text.
                data: match given(d, "data") {
                    Some(v @ (Value::Object(_) | Value::Array(_))) => v.to_string(),
                    _ => req_string(d, "data")?,
                },
                resid: opt_i64(d, "resid")?,
            }),
            "cardimage" => Self::CardImage(CardImage {
                file: req_string(d, "file")?,
                minwidth: opt_i64(d, "minwidth")?,
                minheight: opt_i64(d, "minheight")?,
                maxwidth: opt_i64(d, "maxwidth")?,
                maxheight: opt_i64(d, "maxheight")?,
                source: opt_string(d, "source")?,
                icon: opt_string(d, "icon")?,
            }),
            "tts" => Self::Tts(req_string(d, "text")?),
            "redbag" => Self::Redbag(req_string(d, "title")?),
            "gift" => Self::Gift {
                qq: req_i64(d, "qq")?,
                id: req_i64(d, "id")?,
            },
            _ => Self::Unknown(seg.clone()),
        })
    }

    /// The segment as CQ text (a code, or escaped text for `text`).
    pub fn to_cq(&self) -> String {
        self.to_segment().to_cq()
    }

    /// The wire segment: `data` values written as strings (node `content` as an array).
    pub fn to_segment(&self) -> Segment {
        let mut b = Builder::default();
        let kind = match self {
            Self::Text(t) => {
                b.put("text", Some(t));
                "text"
            }
            Self::Face(id) => {
                b.put("id", Some(id));
                "face"
            }
            Self::Image(i) => {
                b.put("file", Some(&i.file));
                b.put("type", i.image_type.as_ref().map(ImageType::as_str));
                b.put("url", i.url.as_ref());
                b.flag("cache", i.cache);
                b.flag("proxy", i.proxy);
                b.put("timeout", i.timeout);
                b.put("id", i.effect_id);
                b.put("c", i.threads);
                "image"
            }
            Self::Record(r) => {
                b.put("file", Some(&r.file));
                b.flag("magic", r.magic);
                b.put("url", r.url.as_ref());
                b.flag("cache", r.cache);
                b.flag("proxy", r.proxy);
                b.put("timeout", r.timeout);
                "record"
            }
            Self::Video(v) => {
                b.put("file", Some(&v.file));
                b.put("cover", v.cover.as_ref());
                b.put("url", v.url.as_ref());
                b.flag("cache", v.cache);
                b.flag("proxy", v.proxy);
                b.put("timeout", v.timeout);
                b.put("c", v.threads);
                "video"
            }
            Self::At { qq, name } => {
                b.put("qq", Some(qq));
                b.put("name", name.as_ref());
                "at"
            }
            Self::Rps => "rps",
            Self::Dice => "dice",
            Self::Shake => "shake",
            Self::Poke(p) => {
                b.put("qq", p.qq);
                b.put("type", p.poke_type.as_ref());
                b.put("id", p.id.as_ref());
                b.put("name", p.name.as_ref());
                "poke"
            }
            Self::Anonymous { ignore } => {
                b.flag("ignore", *ignore);
                "anonymous"
            }
            Self::Share(s) => {
                b.put("url", Some(&s.url));
                b.put("title", Some(&s.title));
                b.put("content", s.content.as_ref());
                b.put("image", s.image.as_ref());
                "share"
            }
            Self::Contact(c) => {
                b.put("type", Some(c.kind.as_str()));
                b.put("id", Some(c.id));
                "contact"
            }
            Self::Location(l) => {
                b.put("lat", Some(l.lat));
                b.put("lon", Some(l.lon));
                b.put("title", l.title.as_ref());
                b.put("content", l.content.as_ref());
                "location"
            }
            Self::Music(Music::Platform { platform, id }) => {
                b.put("type", Some(platform));
                b.put("id", Some(id));
                "music"
            }
            Self::Music(Music::Custom(m)) => {
                b.put("type", Some("custom"));
                b.put("subtype", m.subtype.as_ref());
                b.put("url", Some(&m.url));
                b.put("audio", Some(&m.audio));
                b.put("title", Some(&m.title));
                b.put("content", m.content.as_ref());
                b.put("image", m.image.as_ref());
                "music"
            }
            Self::Reply(Reply::Id(id)) => {
                b.put("id", Some(id));
                "reply"
            }
            Self::Reply(Reply::Custom {
                text,
                qq,
                time,
                seq,
            }) => {
                b.put("text", Some(text));
                b.put("qq", Some(qq));
                b.put("time", *time);
                b.put("seq", *seq);
                "reply"
            }
            Self::Forward(id) => {
                b.put("id", Some(id));
                "forward"
            }
            Self::Node(Node::Id(id)) => {
                b.put("id", Some(id));
                "node"
            }
            Self::Node(Node::Custom(n)) => {
                b.put("user_id", n.user_id);
                b.put("nickname", n.nickname.as_ref());
                b.0.insert(
                    "content".into(),
                    Value::Array(n.content.iter().map(Segment::to_value).collect()),
                );
                b.put("seq", n.seq.as_ref());
                b.put("time", n.time);
                "node"
            }
            Self::Xml(c) | Self::Json(c) => {
                b.put("data", Some(&c.data));
                b.put("resid", c.resid);
                if matches!(self, Self::Xml(_)) {
                    "xml"
                } else {
                    "json"
                }
            }
            Self::CardImage(c) => {
                b.put("file", Some(&c.file));
                b.put("minwidth", c.minwidth);
                b.put("minheight", c.minheight);
                b.put("maxwidth", c.maxwidth);
                b.put("maxheight", c.maxheight);
                b.put("source", c.source.as_ref());
                b.put("icon", c.icon.as_ref());
                "cardimage"
            }
            Self::Tts(t) => {
                b.put("text", Some(t));
                "tts"
            }
            Self::Redbag(t) => {
                b.put("title", Some(t));
                "redbag"
            }
            Self::Gift { qq, id } => {
                b.put("qq", Some(qq));
                b.put("id", Some(id));
                "gift"
            }
            Self::Unknown(seg) => return seg.clone(),
        };
        Segment::new(kind, b.0)
    }
}

fn parse_node(d: &Map<String, Value>) -> Result<Node, SegmentError> {
    // An `id` references an existing message; it wins over custom content.
    if let Some(id) = opt_i64(d, "id")? {
        return Ok(Node::Id(id));
    }
    let content = match given(d, "content") {
        Some(Value::String(s)) => cq::parse_cq(s),
        Some(Value::Array(items)) => {
            let mut segs = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let seg = super::segment_from_value(item).map_err(|e| SegmentError {
                    field: format!("data.content[{i}].{}", e.field),
                    expected: e.expected,
                })?;
                // Nested segments are validated too, naming the full path.
                seg.typed().map_err(|e| SegmentError {
                    field: format!("data.content[{i}].{}", e.field),
                    expected: e.expected,
                })?;
                segs.push(seg);
            }
            segs
        }
        Some(Value::Object(_)) => {
            let seg = super::segment_from_value(&d["content"]).map_err(|e| SegmentError {
                field: format!("data.content.{}", e.field),
                expected: e.expected,
            })?;
            vec![seg]
        }
        Some(_) => {
            return Err(SegmentError::data(
                "content",
                "a message (a CQ string or an array of segments)",
            ))
        }
        None => {
            return Err(SegmentError::data(
                "id",
                "a message id, or custom content (`content`)",
            ))
        }
    };
    Ok(Node::Custom(CustomNode {
        nickname: match opt_string(d, "nickname")? {
            Some(n) => Some(n),
            None => opt_string(d, "name")?,
        },
        user_id: match opt_i64(d, "user_id")? {
            Some(u) => Some(u),
            None => opt_i64(d, "uin")?,
        },
        content,
        seq: opt_string(d, "seq")?,
        time: opt_i64(d, "time")?,
    }))
}

/// Writes `data` with every value as a string, skipping the absent ones.
#[derive(Default)]
struct Builder(Map<String, Value>);

impl Builder {
    fn put<T: ToString>(&mut self, key: &str, value: Option<T>) {
        if let Some(v) = value {
            self.0.insert(key.to_owned(), Value::String(v.to_string()));
        }
    }

    fn flag(&mut self, key: &str, value: Option<bool>) {
        self.put(key, value.map(|b| if b { "1" } else { "0" }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seg(v: Value) -> Segment {
        serde_json::from_value(v).unwrap()
    }

    fn typed(v: Value) -> Result<MessageSegment, SegmentError> {
        seg(v).typed()
    }

    #[test]
    fn data_null_or_missing_is_empty_and_written_as_object() {
        let a = seg(json!({"type":"shake","data":null}));
        let b = seg(json!({"type":"shake"}));
        assert_eq!(a, b);
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"type":"shake","data":{}}"#
        );
    }

    #[test]
    fn unknown_types_pass_through_unchanged() {
        let v = json!({"type":"markdown","data":{"content":"hi there","z":1,"a":[1,{"b":null}]}});
        let s = seg(v.clone());
        assert_eq!(s.typed().unwrap(), MessageSegment::Unknown(s.clone()));
        assert_eq!(serde_json::to_value(&s).unwrap(), v);
        // Key order is the order the app sent.
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"type":"markdown","data":{"content":"hi there","z":1,"a":[1,{"b":null}]}}"#
        );
        assert_eq!(s.typed().unwrap().to_segment(), s);
    }

    #[test]
    fn accessors_accept_strings_and_numbers() {
        let s = seg(json!({"type":"at","data":{"qq":"123","n":456,"f":"1.5","b":"yes","z":null}}));
        assert_eq!(s.get_i64("qq"), Some(123));
        assert_eq!(s.get_i64("n"), Some(456));
        assert_eq!(s.get_str("n").as_deref(), Some("456"));
        assert_eq!(s.get_f64("f"), Some(1.5));
        assert_eq!(s.get_bool("b"), Some(true));
        assert_eq!(s.get("z"), None);
        assert_eq!(s.get_i64("missing"), None);
        assert_eq!(
            typed(json!({"type":"at","data":{"qq":123}})).unwrap(),
            typed(json!({"type":"at","data":{"qq":"123"}})).unwrap()
        );
    }

    #[test]
    fn standard_examples_read_as_typed() {
        assert_eq!(
            typed(json!({"type":"face","data":{"id":"123"}})).unwrap(),
            MessageSegment::Face(123)
        );
        assert_eq!(
            typed(json!({"type":"at","data":{"qq":"all"}})).unwrap(),
            MessageSegment::At {
                qq: AtTarget::All,
                name: None
            }
        );
        assert_eq!(
            typed(json!({"type":"contact","data":{"type":"group","id":"100100"}})).unwrap(),
            MessageSegment::Contact(Contact {
                kind: ContactKind::Group,
                id: 100100
            })
        );
        let MessageSegment::Location(l) =
            typed(json!({"type":"location","data":{"lat":"39.8969426","lon":"116.3109099"}}))
                .unwrap()
        else {
            panic!("not a location")
        };
        assert!((l.lat - 39.8969426).abs() < 1e-9 && (l.lon - 116.3109099).abs() < 1e-9);
        assert_eq!(
            typed(json!({"type":"poke","data":{"type":"126","id":"2003"}})).unwrap(),
            MessageSegment::Poke(Poke {
                poke_type: Some("126".into()),
                id: Some("2003".into()),
                ..Poke::default()
            })
        );
        assert_eq!(
            typed(json!({"type":"music","data":{"type":"163","id":"28949129"}})).unwrap(),
            MessageSegment::Music(Music::Platform {
                platform: "163".into(),
                id: "28949129".into()
            })
        );
        assert!(matches!(
            typed(json!({"type":"music","data":{"type":"custom","url":"http://baidu.com",
                "audio":"http://baidu.com/1.mp3","title":"音乐标题"}})),
            Ok(MessageSegment::Music(Music::Custom(CustomMusic { ref title, .. }))) if title == "音乐标题"
        ));
        assert_eq!(
            typed(json!({"type":"anonymous","data":{"ignore":"1"}})).unwrap(),
            MessageSegment::Anonymous { ignore: Some(true) }
        );
        for (kind, want) in [
            ("rps", MessageSegment::Rps),
            ("dice", MessageSegment::Dice),
            ("shake", MessageSegment::Shake),
        ] {
            assert_eq!(typed(json!({"type":kind,"data":{}})).unwrap(), want);
        }
    }

    #[test]
    fn go_cqhttp_examples_read_as_typed() {
        let MessageSegment::Image(img) = typed(json!({"type":"image","data":{
            "file":"http://baidu.com/1.jpg","type":"show","id":"40004"}}))
        .unwrap() else {
            panic!("not an image")
        };
        assert_eq!(img.image_type, Some(ImageType::Show));
        assert_eq!(img.effect_id, Some(40004));
        let MessageSegment::Image(img) =
            typed(json!({"type":"image","data":{"file":"a.jpg","type":"flash","cache":0}}))
                .unwrap()
        else {
            panic!("not an image")
        };
        assert_eq!(img.image_type, Some(ImageType::Flash));
        assert_eq!(img.cache, Some(false));

        assert_eq!(
            typed(json!({"type":"reply","data":{"text":"Hello World","qq":"10086","time":"3376656000","seq":5123}})).unwrap(),
            MessageSegment::Reply(Reply::Custom {
                text: "Hello World".into(),
                qq: 10086,
                time: Some(3376656000),
                seq: Some(5123)
            })
        );
        // An id wins over custom text.
        assert_eq!(
            typed(json!({"type":"reply","data":{"id":"123456","text":"x"}})).unwrap(),
            MessageSegment::Reply(Reply::Id(123456))
        );
        assert_eq!(
            typed(json!({"type":"redbag","data":{"title":"恭喜发财"}})).unwrap(),
            MessageSegment::Redbag("恭喜发财".into())
        );
        assert_eq!(
            typed(json!({"type":"poke","data":{"qq":"123456"}})).unwrap(),
            MessageSegment::Poke(Poke {
                qq: Some(123456),
                ..Poke::default()
            })
        );
        assert_eq!(
            typed(json!({"type":"gift","data":{"qq":123456,"id":"8"}})).unwrap(),
            MessageSegment::Gift { qq: 123456, id: 8 }
        );
        assert_eq!(
            typed(json!({"type":"forward","data":{"id":"xxxx"}})).unwrap(),
            MessageSegment::Forward("xxxx".into())
        );
        assert_eq!(
            typed(json!({"type":"tts","data":{"text":"这是一条测试消息"}})).unwrap(),
            MessageSegment::Tts("这是一条测试消息".into())
        );
        assert!(matches!(
            typed(
                json!({"type":"cardimage","data":{"file":"https://i.pixiv.cat/x.jpg","maxheight":"1000"}})
            ),
            Ok(MessageSegment::CardImage(CardImage {
                maxheight: Some(1000),
                ..
            }))
        ));
        assert!(matches!(
            typed(json!({"type":"xml","data":{"data":"<?xml ...","resid":"1"}})),
            Ok(MessageSegment::Xml(RichCard { resid: Some(1), .. }))
        ));
        assert!(matches!(
            typed(json!({"type":"json","data":{"data":{"app":"x"}}})),
            Ok(MessageSegment::Json(RichCard { ref data, .. })) if data == r#"{"app":"x"}"#
        ));
        assert!(matches!(
            typed(
                json!({"type":"video","data":{"file":"file:///C:\\1.mp4","cover":"c.jpg","c":"2"}})
            ),
            Ok(MessageSegment::Video(Video {
                threads: Some(2),
                ..
            }))
        ));
    }

    #[test]
    fn go_cqhttp_forward_nodes() {
        assert_eq!(
            typed(json!({"type":"node","data":{"id":"123"}})).unwrap(),
            MessageSegment::Node(Node::Id(123))
        );
        let MessageSegment::Node(Node::Custom(n)) = typed(json!({"type":"node","data":{
            "name":"消息发送者A","uin":"10086",
            "content":[{"type":"text","data":{"text":"测试消息1"}}]}}))
        .unwrap() else {
            panic!("not a custom node")
        };
        assert_eq!(n.nickname.as_deref(), Some("消息发送者A"));
        assert_eq!(n.user_id, Some(10086));
        assert_eq!(n.content, vec![Segment::text("测试消息1")]);

        let MessageSegment::Node(Node::Custom(n)) = typed(json!({"type":"node","data":{
            "name":"消息发送者B","uin":"10087","content":"[CQ:image,file=xxxxx]测试消息2",
            "seq":"5123","time":"3376656000"}}))
        .unwrap() else {
            panic!("not a custom node")
        };
        assert_eq!(n.content.len(), 2);
        assert_eq!(n.content[0].kind, "image");
        assert_eq!(n.seq.as_deref(), Some("5123"));
        assert_eq!(n.time, Some(3376656000));

        // The standard's names.
        let MessageSegment::Node(Node::Custom(n)) = typed(json!({"type":"node","data":{
            "user_id":"10001000","nickname":"某人","content":"[CQ:face,id=123]哈喽～"}}))
        .unwrap() else {
            panic!("not a custom node")
        };
        assert_eq!(n.user_id, Some(10001000));
        assert_eq!(n.content[1], Segment::text("哈喽～"));
    }

    #[test]
    fn bad_fields_are_named() {
        let cases = [
            (json!({"type":"at","data":{"qq":"abc"}}), "data.qq"),
            (json!({"type":"at","data":{}}), "data.qq"),
            (json!({"type":"face","data":{"id":[1]}}), "data.id"),
            (json!({"type":"text","data":{"text":{"a":1}}}), "data.text"),
            (json!({"type":"text","data":null}), "data.text"),
            (json!({"type":"image","data":{"url":"x"}}), "data.file"),
            (
                json!({"type":"image","data":{"file":"x","cache":"maybe"}}),
                "data.cache",
            ),
            (json!({"type":"reply","data":{}}), "data.id"),
            (json!({"type":"reply","data":{"text":"t"}}), "data.qq"),
            (
                json!({"type":"location","data":{"lat":"north","lon":"1"}}),
                "data.lat",
            ),
            (
                json!({"type":"node","data":{"content":[{"type":"at","data":{"qq":"x"}}]}}),
                "data.content[0].data.qq",
            ),
            (
                json!({"type":"node","data":{"content":[{"data":{}}]}}),
                "data.content[0].type",
            ),
            (json!({"type":"node","data":{}}), "data.id"),
            (json!({"type":"poke","data":{}}), "data.qq"),
            (json!({"type":"gift","data":{"qq":"1"}}), "data.id"),
        ];
        for (v, field) in cases {
            let err = typed(v.clone()).unwrap_err();
            assert_eq!(err.field, field, "{v}");
        }
    }

    #[test]
    fn deserializing_a_bad_typed_segment_names_the_field() {
        let err = serde_json::from_value::<MessageSegment>(json!({"type":"at","data":{"qq":[]}}))
            .unwrap_err();
        assert!(err.to_string().contains("data.qq"), "{err}");
    }

    #[test]
    fn typed_to_wire_writes_strings_and_reads_back_equal() {
        let segs = [
            MessageSegment::text("hi"),
            MessageSegment::Face(14),
            MessageSegment::At {
                qq: AtTarget::User(10086),
                name: None,
            },
            MessageSegment::Image(Image {
                file: "a.jpg".into(),
                image_type: Some(ImageType::Show),
                effect_id: Some(40001),
                cache: Some(false),
                ..Image::default()
            }),
            MessageSegment::Reply(Reply::Custom {
                text: "q".into(),
                qq: 1,
                time: None,
                seq: Some(2),
            }),
            MessageSegment::Node(Node::Custom(CustomNode {
                nickname: Some("n".into()),
                user_id: Some(5),
                content: vec![Segment::text("x")],
                ..CustomNode::default()
            })),
            MessageSegment::Gift { qq: 3, id: 8 },
            MessageSegment::Shake,
            MessageSegment::at(7),
            MessageSegment::reply(9),
            MessageSegment::image("b.png"),
        ];
        for s in segs {
            let wire = s.to_segment();
            for (k, v) in &wire.data {
                assert!(v.is_string() || k == "content", "{k}: {v}");
            }
            assert_eq!(wire.typed().unwrap(), s);
            assert_eq!(wire.kind, s.kind());
            let via_serde: MessageSegment =
                serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
            assert_eq!(via_serde, s);
            assert_eq!(cq::parse_cq(&s.to_cq()).len(), 1, "{s:?}");
        }
        assert_eq!(
            serde_json::to_value(Segment::from(MessageSegment::At {
                qq: AtTarget::All,
                name: None
            }))
            .unwrap(),
            json!({"type":"at","data":{"qq":"all"}})
        );
    }
}
