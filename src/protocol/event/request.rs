//! Request events (`post_type` `request`): friend requests and group join
//! requests or invitations.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::protocol::de;

/// `request_type` `friend`: someone asks to become a friend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FriendRequest {
    /// Unix seconds.
    #[serde(default, deserialize_with = "de::i64_lenient")]
    pub time: i64,
    /// The bot.
    #[serde(default, deserialize_with = "de::i64_lenient")]
    pub self_id: i64,
    /// Who asks.
    #[serde(deserialize_with = "de::i64_lenient")]
    pub user_id: i64,
    /// Their message.
    #[serde(default)]
    pub comment: String,
    /// Pass to `set_friend_add_request`.
    pub flag: String,
    /// Every other field, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `request_type` `group`: a join request (`add`) or an invitation of the bot (`invite`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupRequest {
    /// Unix seconds.
    #[serde(default, deserialize_with = "de::i64_lenient")]
    pub time: i64,
    /// The bot.
    #[serde(default, deserialize_with = "de::i64_lenient")]
    pub self_id: i64,
    /// `add` or `invite`.
    pub sub_type: String,
    /// The group.
    #[serde(deserialize_with = "de::i64_lenient")]
    pub group_id: i64,
    /// Who asks (or invites).
    #[serde(deserialize_with = "de::i64_lenient")]
    pub user_id: i64,
    /// Their message.
    #[serde(default)]
    pub comment: String,
    /// Pass to `set_group_add_request`.
    pub flag: String,
    /// Every other field, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A request event.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// `friend`
    Friend(FriendRequest),
    /// `group`
    Group(GroupRequest),
}
