//! Params of the OneBot v11 standard API (`api/public.md`, `api/hidden.md`).
//!
//! Defaults are the standard's. Where the standard marks a field required but
//! widely used implementations accept it absent (`get_group_honor_info.type`,
//! `set_group_add_request.sub_type`), the field is optional so that requests
//! those implementations serve are not refused by the gateway.

use serde::Serialize;
use serde_json::{Map, Value};

use super::fields::{params, FromParams, ParamError};
use super::fields::{
    GroupRequestKind, HonorType, MessageParam, MessageType, Param, Params, RecordFormat,
};

params! {
    /// `send_private_msg`: send a private message.
    SendPrivateMsg {
        /// The recipient.
        user_id: i64,
        /// What to send.
        message: MessageParam,
        /// Send a string message as plain text (no CQ codes).
        auto_escape: bool = false,
    }

    /// `send_group_msg`: send a group message.
    SendGroupMsg {
        /// The group.
        group_id: i64,
        /// What to send.
        message: MessageParam,
        /// Send a string message as plain text (no CQ codes).
        auto_escape: bool = false,
    }

    /// `delete_msg`: recall a message.
    DeleteMsg {
        /// The message.
        message_id: i64,
    }

    /// `get_msg`: fetch a message.
    GetMsg {
        /// The message.
        message_id: i64,
    }

    /// `get_forward_msg`: fetch the content of a forwarded message.
    GetForwardMsg {
        /// The forward id (`id` in the standard, `message_id` in go-cqhttp).
        id ["id", "message_id"]: String,
    }

    /// `send_like`: like a friend's profile.
    SendLike {
        /// The friend.
        user_id: i64,
        /// How many likes (at most 10 per friend and day on QQ).
        times: i64 = 1,
    } => positive_times

    /// `set_group_kick`: remove a member.
    SetGroupKick {
        /// The group.
        group_id: i64,
        /// The member.
        user_id: i64,
        /// Refuse this member's future join requests.
        reject_add_request: bool = false,
    }

    /// `set_group_ban`: mute a member (`duration` 0 lifts the mute).
    SetGroupBan {
        /// The group.
        group_id: i64,
        /// The member.
        user_id: i64,
        /// Seconds; 0 lifts the mute.
        duration: i64 = 30 * 60,
    } => non_negative_duration

    /// `set_group_whole_ban`: mute the whole group.
    SetGroupWholeBan {
        /// The group.
        group_id: i64,
        /// Mute (true) or unmute.
        enable: bool = true,
    }

    /// `set_group_admin`: grant or revoke admin.
    SetGroupAdmin {
        /// The group.
        group_id: i64,
        /// The member.
        user_id: i64,
        /// Grant (true) or revoke.
        enable: bool = true,
    }

    /// `set_group_anonymous`: allow anonymous chat.
    SetGroupAnonymous {
        /// The group.
        group_id: i64,
        /// Allow (true) or forbid.
        enable: bool = true,
    }

    /// `set_group_card`: set a member's group card (empty deletes it).
    SetGroupCard {
        /// The group.
        group_id: i64,
        /// The member.
        user_id: i64,
        /// The new card; empty removes it.
        card: String = String::new(),
    }

    /// `set_group_name`: rename a group.
    SetGroupName {
        /// The group.
        group_id: i64,
        /// The new name.
        group_name: String,
    }

    /// `set_group_leave`: leave (or, as owner, dismiss) a group.
    SetGroupLeave {
        /// The group.
        group_id: i64,
        /// Dismiss the group (owner only).
        is_dismiss: bool = false,
    }

    /// `set_group_special_title`: set a member's special title.
    SetGroupSpecialTitle {
        /// The group.
        group_id: i64,
        /// The member.
        user_id: i64,
        /// The title; empty removes it.
        special_title: String = String::new(),
        /// Seconds; -1 is forever.
        duration: i64 = -1,
    }

    /// `set_friend_add_request`: answer a friend request.
    SetFriendAddRequest {
        /// The request's flag, from the request event.
        flag: String,
        /// Accept (true) or refuse.
        approve: bool = true,
        /// Remark for the new friend (when accepting).
        remark: String = String::new(),
    }

    /// `set_group_add_request`: answer a join request or an invitation.
    SetGroupAddRequest {
        /// The request's flag, from the request event.
        flag: String,
        /// `add` or `invite` (`sub_type`, or `type`); NapCat and Lagrange do not need it.
        sub_type ["sub_type", "type"]: Option<GroupRequestKind>,
        /// Accept (true) or refuse.
        approve: bool = true,
        /// Refusal reason.
        reason: String = String::new(),
    }

    /// `get_login_info`: the bot's own id and nickname.
    GetLoginInfo {}

    /// `get_stranger_info`: a user's public profile.
    GetStrangerInfo {
        /// The user.
        user_id: i64,
        /// Bypass the implementation's cache.
        no_cache: bool = false,
    }

    /// `get_friend_list`: the friend list.
    GetFriendList {
        /// Bypass the cache (NapCat).
        no_cache: bool = false,
    }

    /// `get_group_info`: one group.
    GetGroupInfo {
        /// The group.
        group_id: i64,
        /// Bypass the cache.
        no_cache: bool = false,
    }

    /// `get_group_list`: the groups the bot is in.
    GetGroupList {
        /// Bypass the cache (go-cqhttp, NapCat).
        no_cache: bool = false,
    }

    /// `get_group_member_info`: one member.
    GetGroupMemberInfo {
        /// The group.
        group_id: i64,
        /// The member.
        user_id: i64,
        /// Bypass the cache.
        no_cache: bool = false,
    }

    /// `get_group_member_list`: all members of a group.
    GetGroupMemberList {
        /// The group.
        group_id: i64,
        /// Bypass the cache (NapCat).
        no_cache: bool = false,
    }

    /// `get_group_honor_info`: the group's honors.
    GetGroupHonorInfo {
        /// The group.
        group_id: i64,
        /// Which honor; `all` when absent (as NapCat and go-cqhttp do).
        honor_type ["type"]: HonorType = HonorType::All,
    }

    /// `get_cookies`: cookies for a QQ domain.
    GetCookies {
        /// The domain; empty for the default.
        domain: String = String::new(),
    }

    /// `get_csrf_token`: the CSRF token.
    GetCsrfToken {}

    /// `get_credentials`: cookies and CSRF token together.
    GetCredentials {
        /// The domain; empty for the default.
        domain: String = String::new(),
    }

    /// `get_record`: a received voice file, converted.
    GetRecord {
        /// The `file` of the received `record` segment.
        file: String,
        /// Target format.
        out_format: RecordFormat,
    }

    /// `get_image`: a received image file.
    GetImage {
        /// The `file` of the received `image` segment.
        file: String,
    }

    /// `can_send_image`.
    CanSendImage {}

    /// `can_send_record`.
    CanSendRecord {}

    /// `get_status`: online and health.
    GetStatus {}

    /// `get_version_info`.
    GetVersionInfo {}

    /// `set_restart`: restart the implementation.
    SetRestart {
        /// Milliseconds to wait first.
        delay: i64 = 0,
    }

    /// `clean_cache`.
    CleanCache {}

    /// `.handle_quick_operation`: the quick operation of the HTTP POST spec, over any transport.
    HandleQuickOperation {
        /// The event the operation answers (may be trimmed).
        context: Map<String, Value>,
        /// The operation, e.g. `{"reply": "hi", "at_sender": false}`.
        operation: QuickOperation,
    }
}

/// The `operation` of `.handle_quick_operation`: what to do about the event in
/// `context` (the HTTP POST spec's quick operations). Defaults are the spec's;
/// which keys apply depends on the event (reply for messages, approve for requests).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuickOperation {
    /// Reply with this message (messages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<MessageParam>,
    /// Send a string reply as plain text.
    pub auto_escape: bool,
    /// Mention the sender at the start of the reply (group messages; default true).
    pub at_sender: bool,
    /// Recall the message (group messages).
    pub delete: bool,
    /// Kick the sender (group messages).
    pub kick: bool,
    /// Mute the sender for `ban_duration` (group messages).
    pub ban: bool,
    /// Mute seconds (default 30 minutes).
    pub ban_duration: i64,
    /// Accept or refuse (requests); absent leaves the request alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approve: Option<bool>,
    /// Remark of the new friend (friend requests).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
    /// Refusal reason (group requests).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Any other key, kept for the implementation.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl QuickOperation {
    const KEYS: [&'static str; 10] = [
        "reply",
        "auto_escape",
        "at_sender",
        "delete",
        "kick",
        "ban",
        "ban_duration",
        "approve",
        "remark",
        "reason",
    ];

    fn read(p: &Params<'_>) -> Result<Self, ParamError> {
        Ok(Self {
            reply: p.get(&["reply"])?,
            auto_escape: p.get_or(&["auto_escape"], false)?,
            at_sender: p.get_or(&["at_sender"], true)?,
            delete: p.get_or(&["delete"], false)?,
            kick: p.get_or(&["kick"], false)?,
            ban: p.get_or(&["ban"], false)?,
            ban_duration: p.get_or(&["ban_duration"], 30 * 60)?,
            approve: p.get(&["approve"])?,
            remark: p.get(&["remark"])?,
            reason: p.get(&["reason"])?,
            extra: Map::new(),
        })
    }
}

impl Param for QuickOperation {
    const EXPECTED: &'static str = "an object of quick operations";
    fn from_json(v: &Value, field: &str) -> Result<Self, ParamError> {
        let Some(map) = v.as_object() else {
            return Err(ParamError::wrong(field, Self::EXPECTED, v));
        };
        let mut op = Self::read(&Params::new(v)?).map_err(|e| ParamError {
            field: format!("{field}.{}", e.field),
            expected: e.expected,
        })?;
        op.extra = map
            .iter()
            .filter(|(k, _)| !Self::KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(op)
    }
}

fn positive_times(p: &SendLike) -> Result<(), ParamError> {
    if p.times < 1 {
        return Err(ParamError::new(
            "times",
            format!("a positive integer, got {}", p.times),
        ));
    }
    Ok(())
}

fn non_negative_duration(p: &SetGroupBan) -> Result<(), ParamError> {
    if p.duration < 0 {
        return Err(ParamError::new(
            "duration",
            format!("seconds ≥ 0 (0 lifts the mute), got {}", p.duration),
        ));
    }
    Ok(())
}

/// `send_msg`: send to a private chat or a group.
///
/// `message_type` may be absent: it is inferred as `group` when `group_id` is
/// present, else `private` when `user_id` is; the resolved type is stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SendMsg {
    /// `private` or `group`, explicit or inferred.
    pub message_type: MessageType,
    /// The recipient (required for `private`; a temporary chat's group may be added).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    /// The group (required for `group`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<i64>,
    /// What to send.
    pub message: MessageParam,
    /// Send a string message as plain text (no CQ codes).
    pub auto_escape: bool,
}

/// The target of `send_msg` and `send_forward_msg`: `message_type` as given,
/// or inferred (`group` when `group_id` is present, else `private` when
/// `user_id` is), and both ids as given. The id the type needs must be present.
pub(super) fn message_target(
    p: &Params<'_>,
) -> Result<(MessageType, Option<i64>, Option<i64>), ParamError> {
    let explicit: Option<MessageType> = p.get(&["message_type"])?;
    let user_id: Option<i64> = p.get(&["user_id"])?;
    let group_id: Option<i64> = p.get(&["group_id"])?;
    let message_type = match (explicit, group_id, user_id) {
        (Some(MessageType::Group), None, _) => {
            return Err(ParamError::missing(
                "group_id",
                "an integer or a numeric string (message_type is `group`)",
            ))
        }
        (Some(MessageType::Private), _, None) => {
            return Err(ParamError::missing(
                "user_id",
                "an integer or a numeric string (message_type is `private`)",
            ))
        }
        (Some(t), _, _) => t,
        (None, Some(_), _) => MessageType::Group,
        (None, None, Some(_)) => MessageType::Private,
        (None, None, None) => {
            return Err(ParamError::missing(
                "message_type",
                "`private` or `group`, or a `user_id` / `group_id` to infer it from",
            ))
        }
    };
    Ok((message_type, user_id, group_id))
}

impl FromParams for SendMsg {
    fn from_params(p: &Params<'_>) -> Result<Self, ParamError> {
        let (message_type, user_id, group_id) = message_target(p)?;
        Ok(Self {
            message_type,
            user_id,
            group_id,
            message: p.get(&["message"])?,
            auto_escape: p.get_or(&["auto_escape"], false)?,
        })
    }
}

/// `set_group_anonymous_ban`: mute an anonymous member.
///
/// Either `anonymous` (the object from the message event) or its flag
/// (`anonymous_flag`, or `flag`) is required; `anonymous` wins when both are given.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetGroupAnonymousBan {
    /// The group.
    pub group_id: i64,
    /// The anonymous sender object `{id, name, flag}` from the message event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anonymous: Option<Map<String, Value>>,
    /// The anonymous sender's flag.
    #[serde(rename = "anonymous_flag", skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
    /// Seconds (an anonymous mute cannot be lifted).
    pub duration: i64,
}

impl FromParams for SetGroupAnonymousBan {
    fn from_params(p: &Params<'_>) -> Result<Self, ParamError> {
        let value = Self {
            group_id: p.get(&["group_id"])?,
            anonymous: p.get(&["anonymous"])?,
            flag: p.get(&["anonymous_flag", "flag"])?,
            duration: p.get_or(&["duration"], 30 * 60)?,
        };
        if value.anonymous.is_none() && value.flag.is_none() {
            return Err(ParamError::missing(
                "anonymous",
                "an anonymous sender object, or its `anonymous_flag` / `flag`",
            ));
        }
        if value.duration < 0 {
            return Err(ParamError::new(
                "duration",
                format!("seconds ≥ 0, got {}", value.duration),
            ));
        }
        Ok(value)
    }
}
