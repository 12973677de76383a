//! Every action the sandbox serves, by its typed params.

pub mod account;
pub mod file;
pub mod group;
pub mod message;
pub mod service;

use serde_json::{json, Value};

use super::params::{Fail, Out};
use super::store::Ctx;
use crate::protocol::action::Action;

/// Runs one action. The match is exhaustive: an action the protocol knows
/// and the sandbox does not serve is a compile error, not a runtime 1404.
pub fn dispatch(ctx: &mut Ctx<'_>, action: &Action) -> Out {
    use {account as a, file as f, group as g, message as m, service as s};
    match action {
        Action::SendPrivateMsg(p) => m::send_private_msg(ctx, p),
        Action::SendGroupMsg(p) => m::send_group_msg(ctx, p),
        Action::SendMsg(p) => m::send_msg(ctx, p),
        Action::SendGroupForwardMsg(p) => m::send_group_forward_msg(ctx, p),
        Action::SendPrivateForwardMsg(p) => m::send_private_forward_msg(ctx, p),
        Action::SendForwardMsg(p) => m::send_forward_msg(ctx, p),
        Action::DeleteMsg(p) => m::delete_msg(ctx, p),
        Action::GetMsg(p) => m::get_msg(ctx, p),
        Action::GetForwardMsg(p) => m::get_forward_msg(ctx, p),
        Action::GetGroupMsgHistory(p) => m::group_msg_history(ctx, p),
        Action::GetFriendMsgHistory(p) => m::friend_msg_history(ctx, p),
        Action::SetEssenceMsg(p) => m::set_essence_msg(ctx, p),
        Action::DeleteEssenceMsg(p) => m::delete_essence_msg(ctx, p),
        Action::GetEssenceMsgList(p) => m::essence_list(ctx, p),
        Action::SetMsgEmojiLike(p) => m::set_emoji_like(ctx, p),
        Action::FetchEmojiLike(p) => m::fetch_emoji_like(ctx, p),
        Action::GroupPoke(p) => m::group_poke(ctx, p),
        Action::FriendPoke(p) => m::friend_poke(ctx, p),
        Action::SendPoke(p) => m::send_poke(ctx, p),
        Action::MarkMsgAsRead(p) => m::mark_msg_as_read(ctx, p),
        Action::MarkGroupMsgAsRead(p) => m::mark_group_msg_as_read(ctx, p),
        Action::MarkPrivateMsgAsRead(p) => m::mark_private_msg_as_read(ctx, p),
        Action::MarkAllAsRead(_) => m::mark_all_as_read(ctx),
        Action::GetRecentContact(p) => m::recent_contact(ctx, p),

        Action::GetGroupInfo(p) => g::info(ctx, p),
        Action::GetGroupList(_) => g::list(ctx),
        Action::GetGroupMemberInfo(p) => g::member_info(ctx, p),
        Action::GetGroupMemberList(p) => g::member_list(ctx, p),
        Action::SetGroupKick(p) => g::kick(ctx, p),
        Action::SetGroupBan(p) => g::ban(ctx, p),
        Action::SetGroupAnonymousBan(p) => g::anonymous_ban(ctx, p),
        Action::SetGroupWholeBan(p) => g::whole_ban(ctx, p),
        Action::SetGroupAdmin(p) => g::admin(ctx, p),
        Action::SetGroupAnonymous(p) => g::anonymous(ctx, p),
        Action::SetGroupCard(p) => g::card(ctx, p),
        Action::SetGroupName(p) => g::name(ctx, p),
        Action::SetGroupPortrait(p) => g::portrait(ctx, p),
        Action::SetGroupHead(p) => g::head(ctx, p),
        Action::SetGroupLeave(p) => g::leave(ctx, p),
        Action::SetGroupSpecialTitle(p) => g::special_title(ctx, p),
        Action::GetGroupHonorInfo(p) => g::honor(ctx, p),
        Action::GetGroupAtAllRemain(p) => g::at_all_remain(ctx, p),
        Action::SendGroupNotice(p) => g::send_notice(ctx, p),
        Action::GetGroupNotice(p) => g::get_notices(ctx, p),
        Action::DelGroupNotice(p) => g::del_notice(ctx, p),
        Action::SetFriendAddRequest(p) => g::friend_request(ctx, p),
        Action::SetGroupAddRequest(p) => g::group_request(ctx, p),
        Action::GetGroupSystemMsg(_) => g::system_msg(ctx),

        Action::UploadGroupFile(p) => f::upload(ctx, p),
        Action::GetGroupRootFiles(p) => f::root_files(ctx, p),
        Action::GetGroupFilesByFolder(p) => f::files_by_folder(ctx, p),
        Action::GetGroupFileUrl(p) => f::url(ctx, p),
        Action::GetGroupFileSystemInfo(p) => f::system_info(ctx, p),
        Action::GetGroupFileCount(p) => f::count(ctx, p),
        Action::GetGroupFileList(p) => f::napcat_list(ctx, p),
        Action::CreateGroupFileFolder(p) => f::create_folder(ctx, p),
        Action::SetGroupFileFolder(p) => f::set_folder(ctx, p),
        Action::DelGroupFile(p) | Action::DeleteGroupFile(p) => f::delete_file(ctx, p),
        Action::DelGroupFileFolder(p) | Action::DeleteGroupFolder(p) => f::delete_folder(ctx, p),

        Action::GetLoginInfo(_) => a::login_info(ctx),
        Action::GetStatus(_) => a::status(ctx),
        Action::GetVersionInfo(_) => a::version(ctx),
        Action::SetSelfLongnick(p) => a::set_longnick(ctx, p),
        Action::SetSelfProfile(p) => a::set_self_profile(ctx, p),
        Action::SetQqProfile(p) => a::set_qq_profile(ctx, p),
        Action::SetOnlineStatus(p) => a::set_online_status(ctx, p),
        Action::GetFriendList(_) => a::friend_list(ctx),
        Action::GetFriendsWithCategory(_) => a::friends_with_category(ctx),
        Action::GetStrangerInfo(p) => a::stranger_info(ctx, p),
        Action::DeleteFriend(p) => a::delete_friend(ctx, p),
        Action::SendLike(p) => a::send_like(ctx, p),
        Action::GetProfileLike(_) => a::profile_like(ctx),
        Action::FetchCustomFace(p) => a::custom_face(ctx, p),
        Action::CreateCollection(p) => a::create_collection(ctx, p),
        Action::GetCollectionList(p) => a::collection_list(ctx, p),
        Action::GetCookies(p) => a::cookies(ctx, p),
        Action::GetCsrfToken(_) => a::csrf(ctx),
        Action::GetCredentials(p) => a::credentials(ctx, p),
        Action::GetOnlineClients(_) => a::online_clients(ctx),
        Action::GetVipInfo(p) => a::vip_info(ctx, p),
        Action::GetRobotUinRange(_) => a::robot_uin_range(ctx),
        Action::CanSendImage(_) | Action::CanSendRecord(_) => Ok(json!({"yes": true})),
        Action::CleanCache(_) | Action::ReloadEventFilter(_) => Ok(Value::Null),
        Action::QidianGetAccountInfo(_) => Err(Fail::forbidden(
            "qidian_get_account_info: the sandbox account is not a QiDian (企点) account",
        )),

        Action::OcrImage(p) | Action::DotOcrImage(p) => s::ocr(ctx, p),
        Action::TranslateEn2zh(p) => s::translate_action(ctx, p),
        Action::CheckUrlSafely(p) => s::check_url(ctx, p),
        Action::GetWordSlices(p) => s::slices(ctx, p),
        Action::ArkSharePeer(p) => s::ark_share_peer(ctx, p),
        Action::ArkShareGroupEx(p) => s::ark_share_group(ctx, p),
        Action::DownloadFile(p) => s::download(ctx, p),
        Action::GetImage(p) => s::get_image(ctx, p),
        Action::GetRecord(p) => s::get_record(ctx, p),

        // The dispatcher plans quick operations into the actions above, and
        // `Sandbox::serve` answers set_restart (`async`) before any transaction.
        Action::HandleQuickOperation(_) => Err(Fail::invalid(
            ".handle_quick_operation is carried out by the gateway, not by an upstream",
        )),
        Action::SetRestart(_) => Ok(Value::Null),
    }
}
