//! Message events (`post_type` `message` and `message_sent`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::protocol::action::MessageType;
use crate::protocol::de;

/// A private or group message; the same shape serves `message_sent`.
///
/// NoneBot needs every field below (`group_id` for groups) to type the event;
/// Koishi reads the author from `sender.user_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageEvent {
    /// Unix seconds.
    #[serde(default, deserialize_with = "de::i64_lenient")]
    pub time: i64,
    /// The bot.
    #[serde(default, deserialize_with = "de::i64_lenient")]
    pub self_id: i64,
    /// `private` or `group`.
    pub message_type: MessageType,
    /// `friend`/`group`/`other` (private), `normal`/`anonymous`/`notice` (group).
    #[serde(default)]
    pub sub_type: String,
    /// The message id.
    #[serde(deserialize_with = "de::i64_lenient")]
    pub message_id: i64,
    /// The author.
    #[serde(deserialize_with = "de::i64_lenient")]
    pub user_id: i64,
    /// The group, for group messages.
    #[serde(
        default,
        deserialize_with = "de::opt_i64_lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub group_id: Option<i64>,
    /// The anonymous author of a group message; `null` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymous: Option<Anonymous>,
    /// The content: a segment array or a CQ string, as the upstream sent it.
    pub message: Value,
    /// The content as a CQ string.
    #[serde(default)]
    pub raw_message: String,
    /// Font id (always 0 on modern QQ).
    #[serde(default, deserialize_with = "de::i64_lenient")]
    pub font: i64,
    /// Who sent it (best effort).
    #[serde(default)]
    pub sender: Sender,
    /// Every other field, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl MessageEvent {
    /// True for group messages.
    pub fn is_group(&self) -> bool {
        self.message_type == MessageType::Group
    }
}

/// The `sender` of a message event; every field is best effort.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sender {
    /// The author.
    #[serde(
        default,
        deserialize_with = "de::opt_i64_lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub user_id: Option<i64>,
    /// Nickname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
    /// Group card (groups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<String>,
    /// `male`, `female` or `unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<String>,
    /// Age.
    #[serde(
        default,
        deserialize_with = "de::opt_i64_lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub age: Option<i64>,
    /// Area (groups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<String>,
    /// Member level (groups).
    #[serde(
        default,
        deserialize_with = "de::opt_text_lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub level: Option<String>,
    /// `owner`, `admin` or `member` (groups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Special title (groups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Every other field, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The anonymous author of a group message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anonymous {
    /// Anonymous user id.
    #[serde(default, deserialize_with = "de::i64_lenient")]
    pub id: i64,
    /// Anonymous name.
    #[serde(default)]
    pub name: String,
    /// The flag `set_group_anonymous_ban` needs.
    #[serde(default)]
    pub flag: String,
    /// Every other field, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
