//! Params of the NapCat extension API (`shared/spec/napcat-extension-api.md`).
//!
//! NapCat's document marks almost every field required, `no_cache` flags and
//! page sizes included; those get NapCat's defaults instead, because NapCat
//! itself serves requests without them.

use serde::Serialize;

use super::fields::{params, ForwardNodes, FromParams, MessageType, ParamError, Params};

params! {
    /// `get_robot_uin_range`: the number ranges QQ reserves for bots.
    GetRobotUinRange {}

    /// `get_friends_with_category`: friends grouped by category.
    GetFriendsWithCategory {
        /// Bypass the cache.
        no_cache: bool = false,
    }

    /// `set_msg_emoji_like`: react to a message with an emoji, or take the reaction back.
    SetMsgEmojiLike {
        /// The message.
        message_id: i64,
        /// The emoji's id.
        emoji_id: String,
        /// Add (true) or remove the reaction.
        set: bool = true,
    } => emoji_given

    /// `fetch_emoji_like`: who reacted to a message with an emoji.
    FetchEmojiLike {
        /// The message.
        message_id: i64,
        /// The emoji's type (a number or a numeric string).
        emoji_type ["emojiType"]: String,
        /// The emoji's id.
        emoji_id ["emojiId"]: String,
        /// How many users.
        count: i64 = 20,
    }

    /// `get_recent_contact`: recent conversations.
    GetRecentContact {
        /// How many.
        count: i64 = 10,
    }

    /// `fetch_custom_face`: the account's saved stickers.
    FetchCustomFace {
        /// How many.
        count: i64 = 48,
    }

    /// `create_collection`: save a text to the account's collection.
    CreateCollection {
        /// The text.
        raw_data ["rawData"]: String,
        /// Its summary.
        brief: String,
    }

    /// `get_collection_list`: the account's collection.
    GetCollectionList {
        /// The category.
        category: i64 = 0,
        /// How many.
        count: i64 = 1,
    }

    /// `get_profile_like`: who liked the bot's profile.
    GetProfileLike {}

    /// `set_group_head`: set a group's avatar (`groupCode`, or `group_id`).
    SetGroupHead {
        /// The group.
        group_id ["groupCode", "group_id"]: i64,
        /// Image path or URL.
        file: String,
    }

    /// `set_self_longnick`: set the bot's signature.
    SetSelfLongnick {
        /// The signature.
        long_nick ["longNick"]: String,
    }

    /// `set_online_status`: set the bot's presence.
    SetOnlineStatus {
        /// Status code.
        status: i64,
        /// Extended status code (`ext_status` in current NapCat).
        ext_status ["extStatus", "ext_status"]: i64,
        /// Battery level shown (`battery_status` in current NapCat).
        battery_status ["batteryStatus", "battery_status"]: i64,
    }

    /// `set_self_profile`: set the bot's nickname, signature and gender.
    SetSelfProfile {
        /// Nickname.
        nick: String,
        /// Signature (NapCat keeps the current one when absent).
        long_nick ["longNick"]: Option<String>,
        /// Gender, as NapCat's number or string.
        sex: Option<String>,
    }

    /// `ArkShareGroupEx`: a share card for a group.
    ArkShareGroupEx {
        /// The group.
        group_id: i64,
    }

    /// `mark_group_msg_as_read`: mark a group chat read.
    MarkGroupMsgAsRead {
        /// The group.
        group_id: i64,
    }

    /// `_mark_all_as_read`: mark every chat read.
    MarkAllAsRead {}

    /// `translate_en2zh`: translate English words to Chinese.
    TranslateEn2zh {
        /// The words.
        words: Vec<String>,
    }

    /// `get_group_file_count`: how many files a group has.
    GetGroupFileCount {
        /// The group.
        group_id: i64,
    }

    /// `get_group_file_list`: a page of a group's files.
    GetGroupFileList {
        /// The group.
        group_id: i64,
        /// First index.
        start_index: i64,
        /// Page size.
        file_count: i64,
        /// The folder; the root when absent.
        folder_id: Option<String>,
    }

    /// `set_group_file_folder`: create a group folder.
    SetGroupFileFolder {
        /// The group.
        group_id: i64,
        /// The folder's name.
        folder_name: String,
    }

    /// `del_group_file`: delete a group file (also go-cqhttp's `delete_group_file`).
    DelGroupFile {
        /// The group.
        group_id: i64,
        /// The file.
        file_id: String,
        /// The file's bus id (go-cqhttp's `delete_group_file` takes it; NapCat ignores it).
        busid: Option<i64>,
    }

    /// `del_group_file_folder`: delete a group folder (also go-cqhttp's `delete_group_folder`).
    DelGroupFileFolder {
        /// The group.
        group_id: i64,
        /// The folder.
        folder_id: String,
    }

    /// `get_friend_msg_history`: a private chat's recent messages.
    GetFriendMsgHistory {
        /// The friend (or temporary-chat peer).
        user_id: i64,
        /// Start from this message; the latest when absent.
        message_seq: Option<i64>,
        /// How many messages.
        count: i64 = 20,
        /// Reverse the order (`reverseOrder` in older versions).
        reverse_order ["reverse_order", "reverseOrder"]: bool = false,
    }

    /// `group_poke`: poke a member (deprecated by NapCat, still served).
    GroupPoke {
        /// The group.
        group_id: i64,
        /// The member, poked unless `target_id` names someone else.
        user_id: i64,
        /// Who is poked, when not `user_id` (NapCat).
        target_id: Option<i64>,
    }

    /// `friend_poke`: poke someone in a private chat.
    FriendPoke {
        /// The chat's peer, poked unless `target_id` names someone else.
        user_id: i64,
        /// Who is poked, when not `user_id`.
        target_id: Option<i64>,
    }

    /// `send_poke`: poke someone in a group (with `group_id`) or in a private chat.
    SendPoke {
        /// The group; the private chat with `user_id` when absent.
        group_id: Option<i64>,
        /// The member or private peer, poked unless `target_id` names someone else.
        user_id: i64,
        /// Who is poked, when not `user_id`.
        target_id: Option<i64>,
    }
}

fn emoji_given(p: &SetMsgEmojiLike) -> Result<(), ParamError> {
    if p.emoji_id.trim().is_empty() {
        return Err(ParamError::new(
            "emoji_id",
            "an emoji id, got an empty string",
        ));
    }
    Ok(())
}

/// `send_forward_msg`: send forward nodes to a private chat or a group.
///
/// The target is read as `send_msg` reads it. The nodes are `messages`, or
/// `message`, which NapCat also reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SendForwardMsg {
    /// `private` or `group`, explicit or inferred.
    pub message_type: MessageType,
    /// The recipient (required for `private`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    /// The group (required for `group`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<i64>,
    /// The `node` segments.
    pub messages: ForwardNodes,
}

impl FromParams for SendForwardMsg {
    fn from_params(p: &Params<'_>) -> Result<Self, ParamError> {
        let (message_type, user_id, group_id) = super::standard::message_target(p)?;
        Ok(Self {
            message_type,
            user_id,
            group_id,
            messages: p.get(&["messages", "message"])?,
        })
    }
}

/// `ArkSharePeer`: a share card for a user or a group; one of the two ids is needed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArkSharePeer {
    /// The user to share.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    /// The group to share.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<i64>,
    /// A phone number shown on the card.
    #[serde(rename = "phoneNumber", skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
}

impl FromParams for ArkSharePeer {
    fn from_params(p: &Params<'_>) -> Result<Self, ParamError> {
        let value = Self {
            user_id: p.get(&["user_id"])?,
            group_id: p.get(&["group_id"])?,
            phone_number: p.get(&["phoneNumber"])?,
        };
        if value.user_id.is_none() && value.group_id.is_none() {
            return Err(ParamError::missing(
                "user_id",
                "a `user_id` or a `group_id` to share",
            ));
        }
        Ok(value)
    }
}

/// `mark_private_msg_as_read`: mark a private chat read.
///
/// The chat is `user_id`; NapCat's document shows `group_id` in its example,
/// so that is read when `user_id` is absent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MarkPrivateMsgAsRead {
    /// The chat's peer.
    pub user_id: i64,
}

impl FromParams for MarkPrivateMsgAsRead {
    fn from_params(p: &Params<'_>) -> Result<Self, ParamError> {
        Ok(Self {
            user_id: p.get(&["user_id", "group_id"])?,
        })
    }
}
