//! Typed, validated parameters for every known action.
//!
//! Known actions are the OneBot v11 standard API (plus `.handle_quick_operation`)
//! and the go-cqhttp and NapCat extensions documented in `shared/spec/`. Each
//! has a params struct; [`parse`] reads a request's `params` into the
//! [`Action`] enum, [`validate`] only checks them. Unknown actions are not an
//! error here: they pass through untyped, the upstream decides.
//!
//! Reading is lenient where peers disagree (ids as numbers or numeric
//! strings, booleans as `true`/`"true"`/`1`, `null` = absent, unknown keys
//! ignored) and strict about shape: a wrong type is a [`ParamError`] naming
//! the field, turned into a `failed` response with retcode 1400.

use serde_json::Value;

pub(crate) mod fields;
mod gocq;
mod napcat;
pub mod quick;
mod standard;

pub(crate) use fields::params;
pub use fields::{
    ForwardNodes, FromParams, GroupRequestKind, Headers, HonorType, MessageParam, MessageType,
    Param, ParamError, Params, RecordFormat,
};
pub use gocq::*;
pub use napcat::*;
pub use standard::*;

/// A suffix that changes how an action is executed, not what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Suffix {
    /// No suffix: run and answer with the result.
    None,
    /// `_async`: accept at once (`status: async`), run in the background.
    Async,
    /// `_rate_limited`: run through the implementation's rate limiter (go-cqhttp).
    RateLimited,
}

impl Suffix {
    /// The suffix text as written after the action name (empty for none).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Async => "_async",
            Self::RateLimited => "_rate_limited",
        }
    }
}

/// Splits `send_msg_async` into `("send_msg", Suffix::Async)`.
///
/// A name that is only a suffix (`_async`) is left whole.
pub fn split_suffix(action: &str) -> (&str, Suffix) {
    for suffix in [Suffix::Async, Suffix::RateLimited] {
        if let Some(base) = action.strip_suffix(suffix.as_str()) {
            if !base.is_empty() {
                return (base, suffix);
            }
        }
    }
    (action, Suffix::None)
}

/// Declares the [`Action`] enum: one variant per known action, named like its
/// params struct, with its wire name.
macro_rules! actions {
    ($($(#[$meta:meta])* $variant:ident = $wire:literal),+ $(,)?) => {
        /// A known action with its typed params.
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum Action {
            $($(#[$meta])* #[doc = concat!("`", $wire, "`")] $variant($variant),)+
        }

        /// The wire names of every known action (without suffixes).
        pub const KNOWN_ACTIONS: &[&str] = &[$($wire),+];

        impl Action {
            /// The wire name (without suffix).
            pub fn name(&self) -> &'static str {
                match self { $(Self::$variant(_) => $wire,)+ }
            }

            /// The params as JSON, with documented wire names and defaults
            /// filled in, absent optional fields left out.
            pub fn params_json(&self) -> Value {
                let out = match self { $(Self::$variant(p) => serde_json::to_value(p),)+ };
                // Plain structs of strings, numbers and JSON values always serialize.
                let mut out = out.unwrap_or(Value::Null);
                if let Value::Object(map) = &mut out {
                    map.retain(|_, v| !v.is_null());
                }
                out
            }

            fn read(name: &str, params: &Params<'_>) -> Option<Result<Self, ParamError>> {
                Some(match name {
                    $($wire => $variant::from_params(params).map(Self::$variant),)+
                    _ => return None,
                })
            }
        }
    };
}

actions! {
    // OneBot v11 standard.
    SendPrivateMsg = "send_private_msg",
    SendGroupMsg = "send_group_msg",
    SendMsg = "send_msg",
    DeleteMsg = "delete_msg",
    GetMsg = "get_msg",
    GetForwardMsg = "get_forward_msg",
    SendLike = "send_like",
    SetGroupKick = "set_group_kick",
    SetGroupBan = "set_group_ban",
    SetGroupAnonymousBan = "set_group_anonymous_ban",
    SetGroupWholeBan = "set_group_whole_ban",
    SetGroupAdmin = "set_group_admin",
    SetGroupAnonymous = "set_group_anonymous",
    SetGroupCard = "set_group_card",
    SetGroupName = "set_group_name",
    SetGroupLeave = "set_group_leave",
    SetGroupSpecialTitle = "set_group_special_title",
    SetFriendAddRequest = "set_friend_add_request",
    SetGroupAddRequest = "set_group_add_request",
    GetLoginInfo = "get_login_info",
    GetStrangerInfo = "get_stranger_info",
    GetFriendList = "get_friend_list",
    GetGroupInfo = "get_group_info",
    GetGroupList = "get_group_list",
    GetGroupMemberInfo = "get_group_member_info",
    GetGroupMemberList = "get_group_member_list",
    GetGroupHonorInfo = "get_group_honor_info",
    GetCookies = "get_cookies",
    GetCsrfToken = "get_csrf_token",
    GetCredentials = "get_credentials",
    GetRecord = "get_record",
    GetImage = "get_image",
    CanSendImage = "can_send_image",
    CanSendRecord = "can_send_record",
    GetStatus = "get_status",
    GetVersionInfo = "get_version_info",
    SetRestart = "set_restart",
    CleanCache = "clean_cache",
    HandleQuickOperation = ".handle_quick_operation",
    // go-cqhttp extensions.
    SetGroupPortrait = "set_group_portrait",
    SendGroupForwardMsg = "send_group_forward_msg",
    SendPrivateForwardMsg = "send_private_forward_msg",
    GetWordSlices = ".get_word_slices",
    OcrImage = "ocr_image",
    DotOcrImage = ".ocr_image",
    GetGroupSystemMsg = "get_group_system_msg",
    GetGroupFileSystemInfo = "get_group_file_system_info",
    GetGroupRootFiles = "get_group_root_files",
    GetGroupFilesByFolder = "get_group_files_by_folder",
    GetGroupFileUrl = "get_group_file_url",
    UploadGroupFile = "upload_group_file",
    CreateGroupFileFolder = "create_group_file_folder",
    DeleteGroupFolder = "delete_group_folder",
    DeleteGroupFile = "delete_group_file",
    GetGroupAtAllRemain = "get_group_at_all_remain",
    DownloadFile = "download_file",
    GetGroupMsgHistory = "get_group_msg_history",
    GetOnlineClients = "get_online_clients",
    CheckUrlSafely = "check_url_safely",
    GetVipInfo = "_get_vip_info",
    SendGroupNotice = "_send_group_notice",
    GetGroupNotice = "_get_group_notice",
    DelGroupNotice = "_del_group_notice",
    DeleteFriend = "delete_friend",
    QidianGetAccountInfo = "qidian_get_account_info",
    ReloadEventFilter = "reload_event_filter",
    SetEssenceMsg = "set_essence_msg",
    DeleteEssenceMsg = "delete_essence_msg",
    GetEssenceMsgList = "get_essence_msg_list",
    SetQqProfile = "set_qq_profile",
    MarkMsgAsRead = "mark_msg_as_read",
    // NapCat extensions.
    GetRobotUinRange = "get_robot_uin_range",
    GetFriendsWithCategory = "get_friends_with_category",
    FetchEmojiLike = "fetch_emoji_like",
    SetMsgEmojiLike = "set_msg_emoji_like",
    GetRecentContact = "get_recent_contact",
    FetchCustomFace = "fetch_custom_face",
    CreateCollection = "create_collection",
    GetCollectionList = "get_collection_list",
    GetProfileLike = "get_profile_like",
    SetGroupHead = "set_group_head",
    SetSelfLongnick = "set_self_longnick",
    SetOnlineStatus = "set_online_status",
    SetSelfProfile = "set_self_profile",
    ArkSharePeer = "ArkSharePeer",
    ArkShareGroupEx = "ArkShareGroupEx",
    MarkGroupMsgAsRead = "mark_group_msg_as_read",
    MarkPrivateMsgAsRead = "mark_private_msg_as_read",
    MarkAllAsRead = "_mark_all_as_read",
    TranslateEn2zh = "translate_en2zh",
    GetGroupFileCount = "get_group_file_count",
    GetGroupFileList = "get_group_file_list",
    SetGroupFileFolder = "set_group_file_folder",
    DelGroupFile = "del_group_file",
    DelGroupFileFolder = "del_group_file_folder",
    GroupPoke = "group_poke",
    FriendPoke = "friend_poke",
    SendPoke = "send_poke",
    SendForwardMsg = "send_forward_msg",
    GetFriendMsgHistory = "get_friend_msg_history",
}

/// True when `action` (suffix stripped) is one of [`KNOWN_ACTIONS`].
pub fn is_known(action: &str) -> bool {
    KNOWN_ACTIONS.contains(&split_suffix(action).0)
}

/// Reads the params of a known action into a typed [`Action`].
///
/// A trailing `_async` / `_rate_limited` is stripped before the lookup.
/// `params` may be `null` (= no params). Unknown actions give `Ok(None)`
/// whatever their params: they are relayed untyped.
///
/// # Errors
/// A [`ParamError`] naming `params` when it is not an object or null, or the
/// first bad field.
pub fn parse(action: &str, params: &Value) -> Result<Option<Action>, ParamError> {
    let (name, _) = split_suffix(action);
    if !is_known(name) {
        return Ok(None);
    }
    let params = Params::new(params)?;
    Action::read(name, &params).transpose()
}

/// Validates the params of a known action. Unknown actions pass (`Ok`).
///
/// # Errors
/// A [`ParamError`] naming the first bad field.
pub fn validate(action: &str, params: &Value) -> Result<(), ParamError> {
    parse(action, params).map(|_| ())
}

#[cfg(test)]
mod tests;
