//! Params of the go-cqhttp extension API (`shared/spec/go-cqhttp-extension-api.md`).

use super::fields::{ForwardNodes, Headers};
use super::params;

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
        /// The `node` segments.
        messages: ForwardNodes,
    }

    /// `send_private_forward_msg`: send forward nodes to a friend (go-cqhttp, NapCat).
    SendPrivateForwardMsg {
        /// The friend.
        user_id: i64,
        /// The `node` segments.
        messages: ForwardNodes,
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
        /// The folder, from a `Folder` object.
        folder_id: String,
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
        /// Parent folder id; the root when absent.
        folder: Option<String>,
    }

    /// `get_group_at_all_remain`: how many @all are left today.
    GetGroupAtAllRemain {
        /// The group.
        group_id: i64,
    }

    /// `download_file`: download a URL into the implementation's cache.
    DownloadFile {
        /// The link.
        url: String,
        /// Download threads.
        thread_count: Option<i64>,
        /// Custom request headers.
        headers: Option<Headers>,
    }

    /// `get_group_msg_history`: a group's recent messages.
    GetGroupMsgHistory {
        /// The group.
        group_id: i64,
        /// Start from this sequence (go-cqhttp); the latest when absent.
        message_seq: Option<i64>,
        /// How many messages (NapCat).
        count: i64 = 20,
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
}
