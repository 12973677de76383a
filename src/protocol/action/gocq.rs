//! Params of the go-cqhttp extension API (`shared/spec/go-cqhttp-extension-api.md`).

use super::fields::{params, ForwardNodes, Headers, ParamError};

params! {
    /// `set_group_portrait`: set a group's avatar.
    SetGroupPortrait {
        /// The group.
        group_id: i64,
        /// `file://` path, `http(s)://` URL or `base64://` data.
        file: String,
        /// Use a cached download of a URL (1) or not (0).
        cache: i64 = 1,
    }

    /// `send_group_forward_msg`: send forward nodes to a group.
    SendGroupForwardMsg {
        /// The group.
        group_id: i64,
        /// The `node` segments (`message` accepted too, as NapCat does).
        messages ["messages", "message"]: ForwardNodes,
    }

    /// `send_private_forward_msg`: send forward nodes to a friend (go-cqhttp, NapCat).
    SendPrivateForwardMsg {
        /// The friend.
        user_id: i64,
        /// The `node` segments (`message` accepted too, as NapCat does).
        messages ["messages", "message"]: ForwardNodes,
    }

    /// `.get_word_slices`: Chinese word segmentation.
    GetWordSlices {
        /// The text.
        content: String,
    }

    /// `ocr_image`: text recognition on an image (go-cqhttp: a received image id; NapCat: a path or URL).
    OcrImage {
        /// The image.
        image: String,
    }

    /// `get_group_system_msg`: pending invitations and join requests.
    GetGroupSystemMsg {}

    /// `get_group_file_system_info`: file counts and space of a group.
    GetGroupFileSystemInfo {
        /// The group.
        group_id: i64,
    }

    /// `get_group_root_files`: the root folder of a group's files.
    GetGroupRootFiles {
        /// The group.
        group_id: i64,
    }

    /// `get_group_files_by_folder`: one folder of a group's files.
    GetGroupFilesByFolder {
        /// The group.
        group_id: i64,
        /// The folder, from a `Folder` object (NapCat also reads `folder`).
        folder_id ["folder_id", "folder"]: String,
    }

    /// `get_group_file_url`: a download link for a group file.
    GetGroupFileUrl {
        /// The group.
        group_id: i64,
        /// The file, from a `File` object.
        file_id: String,
        /// The file's bus id (go-cqhttp needs it; NapCat ignores it).
        busid: Option<i64>,
    }

    /// `upload_group_file`: upload a local file to a group.
    UploadGroupFile {
        /// The group.
        group_id: i64,
        /// A local path.
        file: String,
        /// The name to store it under.
        name: String,
        /// Parent folder id; the root when absent (NapCat also reads `folder_id`).
        folder ["folder", "folder_id"]: Option<String>,
    }

    /// `create_group_file_folder`: create a folder in a group's root (NapCat also reads `folder_name`).
    CreateGroupFileFolder {
        /// The group.
        group_id: i64,
        /// The folder's name.
        name ["name", "folder_name"]: String,
        /// The parent folder; go-cqhttp allows only the root `/`.
        parent_id: String = "/".to_owned(),
    }

    /// `get_group_at_all_remain`: how many @all are left today.
    GetGroupAtAllRemain {
        /// The group.
        group_id: i64,
    }

    /// `download_file`: download a URL (or, for NapCat, base64 data) into the implementation's cache.
    DownloadFile {
        /// The link (go-cqhttp needs it).
        url: Option<String>,
        /// The file's data instead of a link (NapCat).
        base64: Option<String>,
        /// The cached file's name (NapCat); a hash of the source when absent.
        name: Option<String>,
        /// Download threads (go-cqhttp).
        thread_count: Option<i64>,
        /// Custom request headers.
        headers: Option<Headers>,
    } => url_or_base64

    /// `get_group_msg_history`: a group's recent messages.
    GetGroupMsgHistory {
        /// The group.
        group_id: i64,
        /// Start from this sequence (go-cqhttp); the latest when absent.
        message_seq: Option<i64>,
        /// How many messages (NapCat).
        count: i64 = 20,
        /// Reverse the order (NapCat; `reverseOrder` in older versions).
        reverse_order ["reverse_order", "reverseOrder"]: bool = false,
    }

    /// `get_online_clients`: the account's other online devices.
    GetOnlineClients {
        /// Bypass the cache.
        no_cache: bool = false,
    }

    /// `check_url_safely`: QQ's safety rating of a link.
    CheckUrlSafely {
        /// The link.
        url: String,
    }

    /// `_get_vip_info`: a user's VIP levels.
    GetVipInfo {
        /// The user.
        user_id: i64,
    }

    /// `_send_group_notice`: post a group announcement.
    SendGroupNotice {
        /// The group.
        group_id: i64,
        /// The announcement text.
        content: String,
        /// An image to attach (later go-cqhttp, NapCat).
        image: Option<String>,
    }

    /// `_get_group_notice`: a group's announcements (later go-cqhttp, NapCat).
    GetGroupNotice {
        /// The group.
        group_id: i64,
    }

    /// `_del_group_notice`: delete a group announcement (later go-cqhttp, NapCat).
    DelGroupNotice {
        /// The group.
        group_id: i64,
        /// The announcement, from `_get_group_notice` (`notice_id`).
        notice_id: String,
    }

    /// `delete_friend`: remove a friend (`id` in go-cqhttp, `user_id` in NapCat).
    DeleteFriend {
        /// The friend.
        user_id ["id", "user_id", "friend_id"]: i64,
    }

    /// `qidian_get_account_info`: QiDian (enterprise) account info.
    QidianGetAccountInfo {}

    /// `reload_event_filter`: reload go-cqhttp's event filter.
    ReloadEventFilter {
        /// The filter file (accepted by go-cqhttp, not documented).
        file: Option<String>,
    }

    /// `set_essence_msg`: mark a message as essence.
    SetEssenceMsg {
        /// The message.
        message_id: i64,
    }

    /// `delete_essence_msg`: unmark an essence message.
    DeleteEssenceMsg {
        /// The message.
        message_id: i64,
    }

    /// `get_essence_msg_list`: a group's essence messages.
    GetEssenceMsgList {
        /// The group.
        group_id: i64,
    }

    /// `mark_msg_as_read`: mark a chat read (go-cqhttp: by `message_id`;
    /// NapCat also takes the chat as `user_id` or `group_id`).
    MarkMsgAsRead {
        /// A message of the chat.
        message_id: Option<i64>,
        /// A private chat (NapCat).
        user_id: Option<i64>,
        /// A group chat (NapCat).
        group_id: Option<i64>,
    } => some_chat

    /// `set_qq_profile`: set the bot's profile (go-cqhttp; NapCat also reads `sex`).
    SetQqProfile {
        /// Nickname (NapCat requires it).
        nickname: Option<String>,
        /// Company.
        company: Option<String>,
        /// Email.
        email: Option<String>,
        /// College.
        college: Option<String>,
        /// Signature.
        personal_note: Option<String>,
        /// Gender, as NapCat's number or string.
        sex: Option<String>,
    }
}

/// `delete_group_file`: go-cqhttp's name for NapCat's `del_group_file`.
pub type DeleteGroupFile = super::napcat::DelGroupFile;

/// `delete_group_folder`: go-cqhttp's name for NapCat's `del_group_file_folder`.
pub type DeleteGroupFolder = super::napcat::DelGroupFileFolder;

/// `.ocr_image`: the older spelling of `ocr_image` (go-cqhttp and NapCat serve both).
pub type DotOcrImage = OcrImage;

fn some_chat(p: &MarkMsgAsRead) -> Result<(), ParamError> {
    if p.message_id.is_none() && p.user_id.is_none() && p.group_id.is_none() {
        return Err(ParamError::missing(
            "message_id",
            "an integer or a numeric string (or NapCat's `user_id` / `group_id`)",
        ));
    }
    Ok(())
}

fn url_or_base64(p: &DownloadFile) -> Result<(), ParamError> {
    if p.url.is_none() && p.base64.is_none() {
        return Err(ParamError::missing(
            "url",
            "a string (or NapCat's `base64`)",
        ));
    }
    Ok(())
}
