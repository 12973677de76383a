//! Every action the sandbox serves, by name, and `.handle_quick_operation`.

pub mod account;
pub mod file;
pub mod group;
pub mod message;
pub mod service;

use serde_json::{json, Value};

use super::params::{Fail, Out, P};
use super::store::Ctx;
use message::Target;

/// Every action name the sandbox answers (without `_async`/`_rate_limited`).
pub const ACTIONS: &[&str] = &[
    // OneBot v11 standard
    "send_private_msg",
    "send_group_msg",
    "send_msg",
    "delete_msg",
    "get_msg",
    "get_forward_msg",
    "send_like",
    "set_group_kick",
    "set_group_ban",
    "set_group_anonymous_ban",
    "set_group_whole_ban",
    "set_group_admin",
    "set_group_anonymous",
    "set_group_card",
    "set_group_name",
    "set_group_leave",
    "set_group_special_title",
    "set_friend_add_request",
    "set_group_add_request",
    "get_login_info",
    "get_stranger_info",
    "get_friend_list",
    "get_group_info",
    "get_group_list",
    "get_group_member_info",
    "get_group_member_list",
    "get_group_honor_info",
    "get_cookies",
    "get_csrf_token",
    "get_credentials",
    "get_record",
    "get_image",
    "can_send_image",
    "can_send_record",
    "get_status",
    "get_version_info",
    "set_restart",
    "clean_cache",
    ".handle_quick_operation",
    // go-cqhttp extensions
    "set_group_portrait",
    "send_group_forward_msg",
    "send_private_forward_msg",
    ".get_word_slices",
    "ocr_image",
    ".ocr_image",
    "get_group_system_msg",
    "get_group_file_system_info",
    "get_group_root_files",
    "get_group_files_by_folder",
    "get_group_file_url",
    "upload_group_file",
    "create_group_file_folder",
    "delete_group_folder",
    "delete_group_file",
    "get_group_at_all_remain",
    "download_file",
    "get_group_msg_history",
    "get_online_clients",
    "check_url_safely",
    "_get_vip_info",
    "_send_group_notice",
    "_get_group_notice",
    "_del_group_notice",
    "delete_friend",
    "qidian_get_account_info",
    "reload_event_filter",
    "set_essence_msg",
    "delete_essence_msg",
    "get_essence_msg_list",
    "set_qq_profile",
    "mark_msg_as_read",
    // NapCat extensions
    "get_robot_uin_range",
    "get_friends_with_category",
    "fetch_emoji_like",
    "set_msg_emoji_like",
    "get_recent_contact",
    "fetch_custom_face",
    "create_collection",
    "get_collection_list",
    "get_profile_like",
    "set_group_head",
    "set_self_longnick",
    "set_online_status",
    "set_self_profile",
    "ArkSharePeer",
    "ArkShareGroupEx",
    "mark_group_msg_as_read",
    "mark_private_msg_as_read",
    "_mark_all_as_read",
    "translate_en2zh",
    "get_group_file_count",
    "get_group_file_list",
    "set_group_file_folder",
    "del_group_file",
    "del_group_file_folder",
    "group_poke",
    "friend_poke",
    "send_poke",
    "send_forward_msg",
    "get_friend_msg_history",
];

/// Runs one action; `None` when the sandbox does not know it.
pub fn dispatch(ctx: &mut Ctx<'_>, action: &str, p: &P<'_>) -> Option<Out> {
    use {account as a, file as f, group as g, message as m, service as s};
    Some(match action {
        "send_private_msg" | "send_group_msg" | "send_msg" => m::send_action(ctx, action, p),
        "send_group_forward_msg" | "send_private_forward_msg" | "send_forward_msg" => {
            m::send_forward_action(ctx, action, p)
        }
        "delete_msg" => m::delete_msg(ctx, p),
        "get_msg" => m::get_msg(ctx, p),
        "get_forward_msg" => m::get_forward_msg(ctx, p),
        "get_group_msg_history" | "get_friend_msg_history" => m::history(ctx, action, p),
        "set_essence_msg" => m::essence_action(ctx, true, p),
        "delete_essence_msg" => m::essence_action(ctx, false, p),
        "get_essence_msg_list" => m::essence_list(ctx, p),
        "set_msg_emoji_like" => m::set_emoji_like(ctx, p),
        "fetch_emoji_like" => m::fetch_emoji_like(ctx, p),
        "group_poke" | "friend_poke" | "send_poke" => m::poke_action(ctx, action, p),
        "mark_msg_as_read"
        | "mark_group_msg_as_read"
        | "mark_private_msg_as_read"
        | "_mark_all_as_read" => m::mark_read(ctx, action, p),
        "get_recent_contact" => m::recent_contact(ctx, p),

        "get_group_info" => g::info(ctx, p),
        "get_group_list" => g::list(ctx, p),
        "get_group_member_info" => g::member_info(ctx, p),
        "get_group_member_list" => g::member_list(ctx, p),
        "set_group_kick" => g::kick(ctx, p),
        "set_group_ban" => g::ban(ctx, p),
        "set_group_anonymous_ban" => g::anonymous_ban(ctx, p),
        "set_group_whole_ban" => g::whole_ban(ctx, p),
        "set_group_admin" => g::admin(ctx, p),
        "set_group_anonymous" => g::anonymous(ctx, p),
        "set_group_card" => g::card(ctx, p),
        "set_group_name" => g::name(ctx, p),
        "set_group_portrait" | "set_group_head" => g::portrait(ctx, p),
        "set_group_leave" => g::leave(ctx, p),
        "set_group_special_title" => g::special_title(ctx, p),
        "get_group_honor_info" => g::honor(ctx, p),
        "get_group_at_all_remain" => g::at_all_remain(ctx, p),
        "_send_group_notice" => g::send_notice(ctx, p),
        "_get_group_notice" => g::get_notices(ctx, p),
        "_del_group_notice" => g::del_notice(ctx, p),
        "set_friend_add_request" => g::friend_request(ctx, p),
        "set_group_add_request" => g::group_request(ctx, p),
        "get_group_system_msg" => g::system_msg(ctx, p),

        "upload_group_file" => f::upload(ctx, p),
        "get_group_root_files" | "get_group_files_by_folder" => f::list(ctx, action, p),
        "get_group_file_url" => f::url(ctx, p),
        "get_group_file_system_info" => f::system_info(ctx, p),
        "get_group_file_count" => f::count(ctx, p),
        "get_group_file_list" => f::napcat_list(ctx, p),
        "create_group_file_folder" | "set_group_file_folder" => f::create_folder(ctx, p),
        "del_group_file" | "delete_group_file" => f::delete_file(ctx, p),
        "del_group_file_folder" | "delete_group_folder" => f::delete_folder(ctx, p),

        "get_login_info" => a::login_info(ctx, p),
        "get_status" => a::status(ctx, p),
        "get_version_info" => a::version(ctx, p),
        "set_self_longnick" => a::set_longnick(ctx, p),
        "set_self_profile" | "set_qq_profile" => a::set_profile(ctx, action, p),
        "set_online_status" => a::set_online_status(ctx, p),
        "get_friend_list" => a::friend_list(ctx, p),
        "get_friends_with_category" => a::friends_with_category(ctx, p),
        "get_stranger_info" => a::stranger_info(ctx, p),
        "delete_friend" => a::delete_friend(ctx, p),
        "send_like" => a::send_like(ctx, p),
        "get_profile_like" => a::profile_like(ctx, p),
        "fetch_custom_face" => a::custom_face(ctx, p),
        "create_collection" => a::create_collection(ctx, p),
        "get_collection_list" => a::collection_list(ctx, p),
        "get_cookies" | "get_csrf_token" | "get_credentials" => a::credentials(ctx, action, p),
        "get_online_clients" => a::online_clients(ctx, p),
        "_get_vip_info" => a::vip_info(ctx, p),
        "get_robot_uin_range" => a::robot_uin_range(ctx, p),
        "can_send_image" | "can_send_record" => Ok(json!({"yes": true})),
        "clean_cache" | "reload_event_filter" => Ok(Value::Null),
        "qidian_get_account_info" => Err(Fail::forbidden(
            "qidian_get_account_info: the sandbox account is not a QiDian (企点) account",
        )),

        "ocr_image" | ".ocr_image" => s::ocr(ctx, p),
        "translate_en2zh" => s::translate_action(ctx, p),
        "check_url_safely" => s::check_url(ctx, p),
        ".get_word_slices" => s::slices(ctx, p),
        "ArkSharePeer" => s::ark_share_peer(ctx, p),
        "ArkShareGroupEx" => s::ark_share_group(ctx, p),
        "download_file" => s::download(ctx, p),
        "get_image" => s::get_image(ctx, p),
        "get_record" => s::get_record(ctx, p),

        ".handle_quick_operation" => quick_operation(ctx, p),
        _ => return None,
    })
}

/// `.handle_quick_operation`: the quick operations of the HTTP POST spec.
fn quick_operation(ctx: &mut Ctx<'_>, p: &P<'_>) -> Out {
    let context = match p.get("context") {
        Some(c @ Value::Object(_)) => c,
        _ => return Err(Fail::bad("context", "missing; expected the event object")),
    };
    let operation = match p.get("operation") {
        Some(o @ Value::Object(_)) => o,
        None => return Ok(Value::Null),
        Some(_) => return Err(Fail::bad("operation", "expected an object")),
    };
    let c = P(context);
    let o = P(operation);
    match c.str("post_type")?.as_str() {
        "message" | "message_sent" => {
            let group = match c.opt_str("message_type")?.as_deref() {
                Some("group") => Some(c.i64("group_id")?),
                _ => None,
            };
            let user = c.i64("user_id")?;
            if o.has("reply") {
                let mut segs =
                    message::parse_message(&o, "reply", o.bool_or("auto_escape", false)?)?;
                let target = match group {
                    Some(g) => {
                        if o.bool_or("at_sender", true)? {
                            segs.insert(0, json!({"type": "text", "data": {"text": " "}}));
                            segs.insert(0, json!({"type": "at", "data": {"qq": user.to_string()}}));
                        }
                        Target::Group(g)
                    }
                    None => Target::Private(user),
                };
                message::send(ctx, target, segs)?;
            }
            if let Some(g) = group {
                if o.bool_or("delete", false)? {
                    let m = ctx.live_message(c.i64("message_id")?)?;
                    message::recall(ctx, &m, ctx.self_id)?;
                }
                if o.bool_or("kick", false)? {
                    ctx.require_outrank(g, user, "kick")?;
                    group::remove_member(ctx, g, user, ctx.self_id)?;
                } else if o.bool_or("ban", false)? {
                    let d = o.i64_or("ban_duration", 30 * 60)?;
                    ctx.require_outrank(g, user, "ban")?;
                    group::ban_member(ctx, g, user, user, d, ctx.self_id)?;
                }
            }
            Ok(Value::Null)
        }
        "request" => {
            if !o.has("approve") {
                return Ok(Value::Null);
            }
            let mut params =
                json!({"flag": c.str("flag")?, "approve": o.bool_or("approve", true)?});
            match c.str("request_type")?.as_str() {
                "friend" => {
                    params["remark"] = json!(o.str_or("remark", "")?);
                    group::friend_request(ctx, &P(&params))
                }
                _ => {
                    params["sub_type"] = json!(c.str_or("sub_type", "add")?);
                    params["reason"] = json!(o.str_or("reason", "")?);
                    group::group_request(ctx, &P(&params))
                }
            }
        }
        _ => Ok(Value::Null),
    }
}
