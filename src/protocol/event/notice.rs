//! Notice events (`post_type` `notice`): the standard ones and go-cqhttp's.
//!
//! `notice_type` (and, for `notify`, `sub_type`) select the model; where the
//! `sub_type` is data (`group_decrease` leave/kick), it is a field.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::protocol::de;

/// Declares a notice model: `time`, `self_id`, the listed fields, and `extra`.
macro_rules! notice_model {
    ($(
        $(#[$meta:meta])*
        $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)? }
    )*) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        pub struct $name {
            /// Unix seconds.
            #[serde(default, deserialize_with = "de::i64_lenient")]
            pub time: i64,
            /// The bot.
            #[serde(default, deserialize_with = "de::i64_lenient")]
            pub self_id: i64,
            $($(#[$fmeta])* pub $field: $ty,)*
            /// Every other field, preserved.
            #[serde(flatten)]
            pub extra: Map<String, Value>,
        }
    )*};
}

notice_model! {
    /// `group_recall`: a group message was recalled.
    GroupRecall {
        /// The group.
        #[serde(deserialize_with = "de::i64_lenient")]
        group_id: i64,
        /// The message's author.
        #[serde(deserialize_with = "de::i64_lenient")]
        user_id: i64,
        /// Who recalled it.
        #[serde(deserialize_with = "de::i64_lenient")]
        operator_id: i64,
        /// The recalled message.
        #[serde(deserialize_with = "de::i64_lenient")]
        message_id: i64,
    }

    /// `friend_recall`: a friend recalled a private message.
    FriendRecall {
        /// The friend.
        #[serde(deserialize_with = "de::i64_lenient")]
        user_id: i64,
        /// The recalled message.
        #[serde(deserialize_with = "de::i64_lenient")]
        message_id: i64,
    }

    /// `notify` / `poke`: a poke, in a group (`group_id`) or a private chat.
    Poke {
        /// The group; absent for a private poke.
        #[serde(default, deserialize_with = "de::opt_i64_lenient", skip_serializing_if = "Option::is_none")]
        group_id: Option<i64>,
        /// Who poked.
        #[serde(deserialize_with = "de::i64_lenient")]
        user_id: i64,
        /// Who was poked.
        #[serde(deserialize_with = "de::i64_lenient")]
        target_id: i64,
        /// Who poked (go-cqhttp's private poke repeats `user_id` here).
        #[serde(default, deserialize_with = "de::opt_i64_lenient", skip_serializing_if = "Option::is_none")]
        sender_id: Option<i64>,
    }

    /// `notify` / `lucky_king`: the luckiest taker of a red packet.
    LuckyKing {
        /// The group.
        #[serde(deserialize_with = "de::i64_lenient")]
        group_id: i64,
        /// Who sent the red packet.
        #[serde(deserialize_with = "de::i64_lenient")]
        user_id: i64,
        /// The lucky king.
        #[serde(deserialize_with = "de::i64_lenient")]
        target_id: i64,
    }

    /// `notify` / `honor`: a member's group honor changed.
    Honor {
        /// The group.
        #[serde(deserialize_with = "de::i64_lenient")]
        group_id: i64,
        /// The member.
        #[serde(deserialize_with = "de::i64_lenient")]
        user_id: i64,
        /// `talkative`, `performer` or `emotion`.
        honor_type: String,
    }

    /// `group_card`: a member's group card changed (empty = no card).
    GroupCard {
        /// The group.
        #[serde(deserialize_with = "de::i64_lenient")]
        group_id: i64,
        /// The member.
        #[serde(deserialize_with = "de::i64_lenient")]
        user_id: i64,
        /// The new card.
        #[serde(default, deserialize_with = "de::text_lenient")]
        card_new: String,
        /// The old card.
        #[serde(default, deserialize_with = "de::text_lenient")]
        card_old: String,
    }

    /// `offline_file`: a friend sent a file (go-cqhttp, Lagrange).
    OfflineFile {
        /// The sender.
        #[serde(deserialize_with = "de::i64_lenient")]
        user_id: i64,
        /// The file.
        file: OfflineFileInfo,
    }

    /// `client_status`: another client of the account went on- or offline.
    ClientStatus {
        /// The device.
        client: Device,
        /// Whether it is online now.
        #[serde(deserialize_with = "de::bool_lenient")]
        online: bool,
    }

    /// `essence`: a message was added to or removed from the essence list.
    Essence {
        /// `add` or `delete`.
        sub_type: EssenceChange,
        /// The group (sent by go-cqhttp, not in its table).
        #[serde(default, deserialize_with = "de::opt_i64_lenient", skip_serializing_if = "Option::is_none")]
        group_id: Option<i64>,
        /// The message's author.
        #[serde(deserialize_with = "de::i64_lenient")]
        sender_id: i64,
        /// Who changed the list.
        #[serde(deserialize_with = "de::i64_lenient")]
        operator_id: i64,
        /// The message.
        #[serde(deserialize_with = "de::i64_lenient")]
        message_id: i64,
    }

    /// `group_upload`: a member uploaded a group file.
    GroupUpload {
        /// The group.
        #[serde(deserialize_with = "de::i64_lenient")]
        group_id: i64,
        /// The uploader.
        #[serde(deserialize_with = "de::i64_lenient")]
        user_id: i64,
        /// The file.
        file: UploadedFile,
    }

    /// `group_admin`: a member became (`set`) or stopped being (`unset`) admin.
    GroupAdmin {
        /// `set` or `unset`.
        sub_type: String,
        /// The group.
        #[serde(deserialize_with = "de::i64_lenient")]
        group_id: i64,
        /// The member.
        #[serde(deserialize_with = "de::i64_lenient")]
        user_id: i64,
    }

    /// `group_increase`: a member joined (`approve`, `invite`).
    GroupIncrease {
        /// `approve` or `invite`.
        #[serde(default)]
        sub_type: String,
        /// The group.
        #[serde(deserialize_with = "de::i64_lenient")]
        group_id: i64,
        /// Who let them in.
        #[serde(default, deserialize_with = "de::i64_lenient")]
        operator_id: i64,
        /// The new member.
        #[serde(deserialize_with = "de::i64_lenient")]
        user_id: i64,
    }

    /// `group_decrease`: a member left (`leave`), was kicked (`kick`), or the bot was (`kick_me`).
    GroupDecrease {
        /// `leave`, `kick` or `kick_me`.
        #[serde(default)]
        sub_type: String,
        /// The group.
        #[serde(deserialize_with = "de::i64_lenient")]
        group_id: i64,
        /// Who removed them (the member itself for `leave`).
        #[serde(default, deserialize_with = "de::i64_lenient")]
        operator_id: i64,
        /// The former member.
        #[serde(deserialize_with = "de::i64_lenient")]
        user_id: i64,
    }

    /// `group_ban`: a member was muted (`ban`) or unmuted (`lift_ban`).
    GroupBan {
        /// `ban` or `lift_ban`.
        #[serde(default)]
        sub_type: String,
        /// The group.
        #[serde(deserialize_with = "de::i64_lenient")]
        group_id: i64,
        /// Who did it.
        #[serde(default, deserialize_with = "de::i64_lenient")]
        operator_id: i64,
        /// The member (0 for the whole group).
        #[serde(deserialize_with = "de::i64_lenient")]
        user_id: i64,
        /// Seconds.
        #[serde(default, deserialize_with = "de::i64_lenient")]
        duration: i64,
    }

    /// `friend_add`: a new friend.
    FriendAdd {
        /// The friend.
        #[serde(deserialize_with = "de::i64_lenient")]
        user_id: i64,
    }
}

/// `sub_type` of an `essence` notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EssenceChange {
    /// Added to the essence list.
    Add,
    /// Removed from it.
    Delete,
}

/// The `file` of an `offline_file` notice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfflineFileInfo {
    /// File name.
    #[serde(default)]
    pub name: String,
    /// Size in bytes.
    #[serde(default, deserialize_with = "de::i64_lenient")]
    pub size: i64,
    /// Download link.
    #[serde(default)]
    pub url: String,
    /// Every other field, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The `file` of a `group_upload` notice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadedFile {
    /// File id.
    #[serde(default)]
    pub id: String,
    /// File name.
    #[serde(default)]
    pub name: String,
    /// Size in bytes.
    #[serde(default, deserialize_with = "de::i64_lenient")]
    pub size: i64,
    /// Bus id.
    #[serde(default, deserialize_with = "de::i64_lenient")]
    pub busid: i64,
    /// Every other field, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A device of the account (`client_status`, `get_online_clients`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    /// Client id.
    #[serde(default, deserialize_with = "de::i64_lenient")]
    pub app_id: i64,
    /// Device name.
    #[serde(default)]
    pub device_name: String,
    /// Device kind.
    #[serde(default)]
    pub device_kind: String,
    /// Every other field, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A notice: typed when its type is known and well-formed, raw otherwise.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Notice {
    /// `group_recall`
    GroupRecall(GroupRecall),
    /// `friend_recall`
    FriendRecall(FriendRecall),
    /// `notify` / `poke`
    Poke(Poke),
    /// `notify` / `lucky_king`
    LuckyKing(LuckyKing),
    /// `notify` / `honor`
    Honor(Honor),
    /// `group_card`
    GroupCard(GroupCard),
    /// `offline_file`
    OfflineFile(OfflineFile),
    /// `client_status`
    ClientStatus(ClientStatus),
    /// `essence`
    Essence(Essence),
    /// `group_upload`
    GroupUpload(GroupUpload),
    /// `group_admin`
    GroupAdmin(GroupAdmin),
    /// `group_increase`
    GroupIncrease(GroupIncrease),
    /// `group_decrease`
    GroupDecrease(GroupDecrease),
    /// `group_ban`
    GroupBan(GroupBan),
    /// `friend_add`
    FriendAdd(FriendAdd),
}

impl Notice {
    /// `notice_type`, and for `notify` its `sub_type` (which selects the model).
    pub fn kind(&self) -> (&'static str, Option<&'static str>) {
        match self {
            Self::GroupRecall(_) => ("group_recall", None),
            Self::FriendRecall(_) => ("friend_recall", None),
            Self::Poke(_) => ("notify", Some("poke")),
            Self::LuckyKing(_) => ("notify", Some("lucky_king")),
            Self::Honor(_) => ("notify", Some("honor")),
            Self::GroupCard(_) => ("group_card", None),
            Self::OfflineFile(_) => ("offline_file", None),
            Self::ClientStatus(_) => ("client_status", None),
            Self::Essence(_) => ("essence", None),
            Self::GroupUpload(_) => ("group_upload", None),
            Self::GroupAdmin(_) => ("group_admin", None),
            Self::GroupIncrease(_) => ("group_increase", None),
            Self::GroupDecrease(_) => ("group_decrease", None),
            Self::GroupBan(_) => ("group_ban", None),
            Self::FriendAdd(_) => ("friend_add", None),
        }
    }

    /// Reads a notice whose `post_type`, `notice_type` (and for `notify`,
    /// `sub_type`) were removed from `body`; `None` when unknown or malformed.
    pub(super) fn from_body(
        notice_type: &str,
        sub_type: Option<&str>,
        body: Value,
    ) -> Option<Self> {
        fn typed<T: serde::de::DeserializeOwned>(
            body: Value,
            f: fn(T) -> Notice,
        ) -> Option<Notice> {
            serde_json::from_value(body).ok().map(f)
        }
        match (notice_type, sub_type) {
            ("group_recall", _) => typed(body, Self::GroupRecall),
            ("friend_recall", _) => typed(body, Self::FriendRecall),
            ("notify", Some("poke")) => typed(body, Self::Poke),
            ("notify", Some("lucky_king")) => typed(body, Self::LuckyKing),
            ("notify", Some("honor")) => typed(body, Self::Honor),
            ("group_card", _) => typed(body, Self::GroupCard),
            ("offline_file", _) => typed(body, Self::OfflineFile),
            ("client_status", _) => typed(body, Self::ClientStatus),
            ("essence", _) => typed(body, Self::Essence),
            ("group_upload", _) => typed(body, Self::GroupUpload),
            ("group_admin", _) => typed(body, Self::GroupAdmin),
            ("group_increase", _) => typed(body, Self::GroupIncrease),
            ("group_decrease", _) => typed(body, Self::GroupDecrease),
            ("group_ban", _) => typed(body, Self::GroupBan),
            ("friend_add", _) => typed(body, Self::FriendAdd),
            _ => None,
        }
    }

    /// The model's own fields (without `post_type`/`notice_type`).
    pub(super) fn body(&self) -> Result<Value, serde_json::Error> {
        match self {
            Self::GroupRecall(n) => serde_json::to_value(n),
            Self::FriendRecall(n) => serde_json::to_value(n),
            Self::Poke(n) => serde_json::to_value(n),
            Self::LuckyKing(n) => serde_json::to_value(n),
            Self::Honor(n) => serde_json::to_value(n),
            Self::GroupCard(n) => serde_json::to_value(n),
            Self::OfflineFile(n) => serde_json::to_value(n),
            Self::ClientStatus(n) => serde_json::to_value(n),
            Self::Essence(n) => serde_json::to_value(n),
            Self::GroupUpload(n) => serde_json::to_value(n),
            Self::GroupAdmin(n) => serde_json::to_value(n),
            Self::GroupIncrease(n) => serde_json::to_value(n),
            Self::GroupDecrease(n) => serde_json::to_value(n),
            Self::GroupBan(n) => serde_json::to_value(n),
            Self::FriendAdd(n) => serde_json::to_value(n),
        }
    }
}
