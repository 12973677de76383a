//! Actions between OneBot v11 and Milky: a v11 action planned as one Milky
//! API call (the upstream side) and a Milky API call as one v11 action (the
//! listener side), each with the reading of its answer.

use serde_json::{json, Value};

use super::event::{friend_entity, group_entity, message_to_v11, Flag};
use super::segment::{nodes_to_forward, outgoing_to_v11, v11_to_incoming, v11_to_outgoing};
use super::{MessageIds, Scene};
use crate::protocol::action::{Action, MessageType};
use crate::protocol::de::{as_bool, as_i64, as_text};
use crate::protocol::retcode;

/// How a Milky answer's `data` becomes the v11 `data`.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// `null` (v11 actions that return nothing).
    Empty,
    /// A sent message: its `message_seq` gets a v11 id in this chat.
    Sent(Scene, i64),
    /// A forward sent: the message id and an empty `forward_id`.
    SentForward(Scene, i64),
    /// `get_login_info`.
    LoginInfo,
    /// `get_stranger_info` of this user.
    Stranger(i64),
    /// `get_friend_list`.
    Friends,
    /// `get_group_info`.
    Group,
    /// `get_group_list`.
    Groups,
    /// `get_group_member_info`.
    Member,
    /// `get_group_member_list`.
    Members,
    /// `get_msg`.
    Message,
    /// `get_*_msg_history`.
    History,
    /// `get_forward_msg`.
    Forward,
    /// `get_cookies`.
    Cookies,
    /// `get_csrf_token`.
    Csrf,
    /// `get_version_info` from `get_impl_info`.
    Version,
    /// A group's files and folders.
    Files,
    /// `{url}` from `download_url`.
    FileUrl,
    /// `{folder_id}` / `{file_id}` as they are.
    Same,
    /// `_get_group_notice`.
    Notices,
    /// `get_essence_msg_list` of this group.
    Essence(i64),
}

/// What to do with a v11 action for a Milky bot.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Call this API, read the answer so.
    Call {
        /// The Milky API.
        api: &'static str,
        /// Its input.
        body: Value,
        /// How its output becomes v11 data.
        answer: Answer,
    },
    /// Answered by the gateway itself.
    Answer(Value),
    /// Refused: the retcode and a message naming the problem.
    Refuse(i64, String),
}

fn call(api: &'static str, body: Value, answer: Answer) -> Plan {
    Plan::Call { api, body, answer }
}

fn unknown_message(id: i64) -> Plan {
    Plan::Refuse(
        retcode::NOT_FOUND,
        format!("message {id} is not known to this gateway (Milky messages get their ids here)"),
    )
}

/// Plans a v11 action as a Milky call.
pub fn plan(action: &Action, ids: &dyn MessageIds) -> Plan {
    use Action as A;
    // Milky's reply names a seq of the chat sent to: a quote of another
    // chat's message is refused rather than quoting the wrong one.
    let seq_in = |scene: Scene, peer: i64| {
        move |id: i64| match ids.message(id) {
            Some((s, p, seq))
                if p == peer && (s == scene || (s != Scene::Group && scene != Scene::Group)) =>
            {
                Some(seq)
            }
            _ => None,
        }
    };
    let send = |scene: Scene, peer: i64, message: &Value, auto_escape: bool| {
        let segments = if auto_escape && message.is_string() {
            Ok(vec![json!({"type": "text", "data": {"text": message}})])
        } else {
            v11_to_outgoing(message, &seq_in(scene, peer))
        };
        match segments {
            Err(e) => Plan::Refuse(retcode::BAD_REQUEST, e.0),
            Ok(segments) if scene == Scene::Group => call(
                "send_group_message",
                json!({"group_id": peer, "message": segments}),
                Answer::Sent(scene, peer),
            ),
            Ok(segments) => call(
                "send_private_message",
                json!({"user_id": peer, "message": segments}),
                Answer::Sent(scene, peer),
            ),
        }
    };
    let forward = |scene: Scene, peer: i64, nodes: &Value| match nodes_to_forward(
        nodes,
        &seq_in(scene, peer),
    ) {
        Err(e) => Plan::Refuse(retcode::BAD_REQUEST, e.0),
        Ok(seg) => {
            let (api, key) = if scene == Scene::Group {
                ("send_group_message", "group_id")
            } else {
                ("send_private_message", "user_id")
            };
            call(
                api,
                json!({key: peer, "message": [seg]}),
                Answer::SentForward(scene, peer),
            )
        }
    };
    let in_group = |id: i64| match ids.message(id) {
        Some((Scene::Group, group, seq)) => Ok((group, seq)),
        Some(_) => Err(Plan::Refuse(
            retcode::BAD_REQUEST,
            format!("message {id} is not a group message"),
        )),
        None => Err(unknown_message(id)),
    };
    let essence = |id: i64, is_set: bool| match in_group(id) {
        Ok((group, seq)) => call(
            "set_group_essence_message",
            json!({"group_id": group, "message_seq": seq, "is_set": is_set}),
            Answer::Empty,
        ),
        Err(refused) => refused,
    };
    let history = |scene: Scene, peer: i64, from: Option<i64>, count: i64| {
        let mut body =
            json!({"message_scene": scene.as_str(), "peer_id": peer, "limit": count.clamp(1, 30)});
        if let Some(id) = from {
            match ids.message(id) {
                Some((_, _, seq)) => body["start_message_seq"] = json!(seq),
                None => return unknown_message(id),
            }
        }
        call("get_history_messages", body, Answer::History)
    };
    match action {
        A::SendPrivateMsg(p) => send(Scene::Friend, p.user_id, &p.message.0, p.auto_escape),
        A::SendGroupMsg(p) => send(Scene::Group, p.group_id, &p.message.0, p.auto_escape),
        A::SendMsg(p) => match (p.message_type, p.group_id, p.user_id) {
            (MessageType::Group, Some(g), _) => send(Scene::Group, g, &p.message.0, p.auto_escape),
            (_, _, Some(u)) => send(Scene::Friend, u, &p.message.0, p.auto_escape),
            _ => Plan::Refuse(
                retcode::BAD_REQUEST,
                "send_msg needs group_id or user_id".into(),
            ),
        },
        A::DeleteMsg(p) => match ids.message(p.message_id) {
            Some((Scene::Group, g, seq)) => call(
                "recall_group_message",
                json!({"group_id": g, "message_seq": seq}),
                Answer::Empty,
            ),
            Some((Scene::Friend, u, seq)) => call(
                "recall_private_message",
                json!({"user_id": u, "message_seq": seq}),
                Answer::Empty,
            ),
            Some((_, _, _)) => Plan::Refuse(
                retcode::BAD_REQUEST,
                format!(
                    "message {} is in a temporary chat: Milky has no recall for those",
                    p.message_id
                ),
            ),
            None => unknown_message(p.message_id),
        },
        A::GetMsg(p) => match ids.message(p.message_id) {
            Some((scene, peer, seq)) => call(
                "get_message",
                json!({"message_scene": scene.as_str(), "peer_id": peer, "message_seq": seq}),
                Answer::Message,
            ),
            None => unknown_message(p.message_id),
        },
        A::GetForwardMsg(p) => call(
            "get_forwarded_messages",
            json!({"forward_id": p.id}),
            Answer::Forward,
        ),
        A::SendLike(p) => call(
            "send_profile_like",
            json!({"user_id": p.user_id, "count": p.times}),
            Answer::Empty,
        ),
        A::SetGroupKick(p) => call(
            "kick_group_member",
            json!({"group_id": p.group_id, "user_id": p.user_id, "reject_add_request": p.reject_add_request}),
            Answer::Empty,
        ),
        A::SetGroupBan(p) => call(
            "set_group_member_mute",
            json!({"group_id": p.group_id, "user_id": p.user_id, "duration": p.duration}),
            Answer::Empty,
        ),
        A::SetGroupWholeBan(p) => call(
            "set_group_whole_mute",
            json!({"group_id": p.group_id, "is_mute": p.enable}),
            Answer::Empty,
        ),
        A::SetGroupAdmin(p) => call(
            "set_group_member_admin",
            json!({"group_id": p.group_id, "user_id": p.user_id, "is_set": p.enable}),
            Answer::Empty,
        ),
        A::SetGroupCard(p) => call(
            "set_group_member_card",
            json!({"group_id": p.group_id, "user_id": p.user_id, "card": p.card}),
            Answer::Empty,
        ),
        A::SetGroupName(p) => call(
            "set_group_name",
            json!({"group_id": p.group_id, "new_group_name": p.group_name}),
            Answer::Empty,
        ),
        A::SetGroupLeave(p) => call("quit_group", json!({"group_id": p.group_id}), Answer::Empty),
        A::SetGroupSpecialTitle(p) => call(
            "set_group_member_special_title",
            json!({"group_id": p.group_id, "user_id": p.user_id, "special_title": p.special_title}),
            Answer::Empty,
        ),
        A::SetFriendAddRequest(p) => match p.flag.parse::<Flag>() {
            Ok(Flag::Friend { uid, filtered }) => call(
                if p.approve {
                    "accept_friend_request"
                } else {
                    "reject_friend_request"
                },
                json!({"initiator_uid": uid, "is_filtered": filtered}),
                Answer::Empty,
            ),
            Ok(_) => Plan::Refuse(
                retcode::BAD_REQUEST,
                format!("flag `{}` is a group request's", p.flag),
            ),
            Err(e) => Plan::Refuse(retcode::BAD_REQUEST, e),
        },
        A::SetGroupAddRequest(p) => {
            let verb = if p.approve { "accept" } else { "reject" };
            let mut plan = match p.flag.parse::<Flag>() {
                Ok(Flag::Join {
                    group,
                    seq,
                    filtered,
                }) => call(
                    if p.approve {
                        "accept_group_request"
                    } else {
                        "reject_group_request"
                    },
                    json!({"notification_seq": seq, "notification_type": "join_request", "group_id": group, "is_filtered": filtered}),
                    Answer::Empty,
                ),
                Ok(Flag::InvitedJoin { group, seq }) => call(
                    if p.approve {
                        "accept_group_request"
                    } else {
                        "reject_group_request"
                    },
                    json!({"notification_seq": seq, "notification_type": "invited_join_request", "group_id": group, "is_filtered": false}),
                    Answer::Empty,
                ),
                Ok(Flag::Invitation { group, seq }) => call(
                    if p.approve {
                        "accept_group_invitation"
                    } else {
                        "reject_group_invitation"
                    },
                    json!({"group_id": group, "invitation_seq": seq}),
                    Answer::Empty,
                ),
                Ok(Flag::Friend { .. }) => Plan::Refuse(
                    retcode::BAD_REQUEST,
                    format!(
                        "flag `{}` is a friend request's, not a group's ({verb})",
                        p.flag
                    ),
                ),
                Err(e) => Plan::Refuse(retcode::BAD_REQUEST, e),
            };
            if let Plan::Call { api, body, .. } = &mut plan {
                if !p.approve && api.ends_with("_request") && !p.reason.is_empty() {
                    body["reason"] = json!(p.reason);
                }
            }
            plan
        }
        A::GetLoginInfo(_) => call("get_login_info", json!({}), Answer::LoginInfo),
        A::GetStrangerInfo(p) => call(
            "get_user_profile",
            json!({"user_id": p.user_id}),
            Answer::Stranger(p.user_id),
        ),
        A::GetFriendList(p) => call(
            "get_friend_list",
            json!({"no_cache": p.no_cache}),
            Answer::Friends,
        ),
        A::GetGroupInfo(p) => call(
            "get_group_info",
            json!({"group_id": p.group_id, "no_cache": p.no_cache}),
            Answer::Group,
        ),
        A::GetGroupList(p) => call(
            "get_group_list",
            json!({"no_cache": p.no_cache}),
            Answer::Groups,
        ),
        A::GetGroupMemberInfo(p) => call(
            "get_group_member_info",
            json!({"group_id": p.group_id, "user_id": p.user_id, "no_cache": p.no_cache}),
            Answer::Member,
        ),
        A::GetGroupMemberList(p) => call(
            "get_group_member_list",
            json!({"group_id": p.group_id, "no_cache": p.no_cache}),
            Answer::Members,
        ),
        A::GetCookies(p) => call("get_cookies", json!({"domain": p.domain}), Answer::Cookies),
        A::GetCsrfToken(_) => call("get_csrf_token", json!({}), Answer::Csrf),
        A::GetVersionInfo(_) => call("get_impl_info", json!({}), Answer::Version),
        A::CanSendImage(_) | A::CanSendRecord(_) => Plan::Answer(json!({"yes": true})),
        A::GroupPoke(p) => call(
            "send_group_nudge",
            json!({"group_id": p.group_id, "user_id": p.target_id.unwrap_or(p.user_id)}),
            Answer::Empty,
        ),
        A::FriendPoke(p) => call(
            "send_friend_nudge",
            json!({"user_id": p.user_id}),
            Answer::Empty,
        ),
        A::SendPoke(p) => match p.group_id {
            Some(g) => call(
                "send_group_nudge",
                json!({"group_id": g, "user_id": p.target_id.unwrap_or(p.user_id)}),
                Answer::Empty,
            ),
            None => call(
                "send_friend_nudge",
                json!({"user_id": p.user_id}),
                Answer::Empty,
            ),
        },
        A::SetMsgEmojiLike(p) => match in_group(p.message_id) {
            Ok((group, seq)) => call(
                "send_group_message_reaction",
                json!({"group_id": group, "message_seq": seq, "reaction": p.emoji_id, "reaction_type": "face", "is_add": p.set}),
                Answer::Empty,
            ),
            Err(refused) => refused,
        },
        A::SetEssenceMsg(p) => essence(p.message_id, true),
        A::DeleteEssenceMsg(p) => essence(p.message_id, false),
        A::GetEssenceMsgList(p) => call(
            "get_group_essence_messages",
            json!({"group_id": p.group_id, "page_index": 0, "page_size": 50}),
            Answer::Essence(p.group_id),
        ),
        A::GetGroupMsgHistory(p) => history(Scene::Group, p.group_id, p.message_seq, p.count),
        A::GetFriendMsgHistory(p) => history(Scene::Friend, p.user_id, p.message_seq, p.count),
        A::MarkMsgAsRead(p) => match p.message_id.map(|id| (id, ids.message(id))) {
            Some((_, Some((scene, peer, seq)))) => call(
                "mark_message_as_read",
                json!({"message_scene": scene.as_str(), "peer_id": peer, "message_seq": seq}),
                Answer::Empty,
            ),
            Some((id, None)) => unknown_message(id),
            None => Plan::Refuse(
                retcode::BAD_REQUEST,
                "Milky marks a message read by its message_id".into(),
            ),
        },
        A::SendGroupForwardMsg(p) => forward(Scene::Group, p.group_id, &p.messages.0),
        A::SendPrivateForwardMsg(p) => forward(Scene::Friend, p.user_id, &p.messages.0),
        A::SendForwardMsg(p) => match (p.message_type, p.group_id, p.user_id) {
            (MessageType::Group, Some(g), _) => forward(Scene::Group, g, &p.messages.0),
            (_, _, Some(u)) => forward(Scene::Friend, u, &p.messages.0),
            _ => Plan::Refuse(
                retcode::BAD_REQUEST,
                "send_forward_msg needs group_id or user_id".into(),
            ),
        },
        A::UploadGroupFile(p) => call(
            "upload_group_file",
            json!({
                "group_id": p.group_id, "file_uri": super::segment::uri(&p.file),
                "file_name": p.name, "parent_folder_id": p.folder.clone().unwrap_or_else(|| "/".into()),
            }),
            Answer::Same,
        ),
        A::DelGroupFile(p) | A::DeleteGroupFile(p) => call(
            "delete_group_file",
            json!({"group_id": p.group_id, "file_id": p.file_id}),
            Answer::Empty,
        ),
        A::DelGroupFileFolder(p) | A::DeleteGroupFolder(p) => call(
            "delete_group_folder",
            json!({"group_id": p.group_id, "folder_id": p.folder_id}),
            Answer::Empty,
        ),
        A::GetGroupRootFiles(p) => call(
            "get_group_files",
            json!({"group_id": p.group_id, "parent_folder_id": "/"}),
            Answer::Files,
        ),
        A::GetGroupFilesByFolder(p) => call(
            "get_group_files",
            json!({"group_id": p.group_id, "parent_folder_id": p.folder_id}),
            Answer::Files,
        ),
        A::GetGroupFileUrl(p) => call(
            "get_group_file_download_url",
            json!({"group_id": p.group_id, "file_id": p.file_id}),
            Answer::FileUrl,
        ),
        A::CreateGroupFileFolder(p) if p.parent_id != "/" => Plan::Refuse(
            retcode::BAD_REQUEST,
            format!(
                "parent_id `{}`: Milky creates folders in the root only",
                p.parent_id
            ),
        ),
        A::CreateGroupFileFolder(p) => call(
            "create_group_folder",
            json!({"group_id": p.group_id, "folder_name": p.name}),
            Answer::Same,
        ),
        A::DeleteFriend(p) => call(
            "delete_friend",
            json!({"user_id": p.user_id}),
            Answer::Empty,
        ),
        A::SetGroupPortrait(p) => call(
            "set_group_avatar",
            json!({"group_id": p.group_id, "image_uri": super::segment::uri(&p.file)}),
            Answer::Empty,
        ),
        A::SendGroupNotice(p) => {
            let mut body = json!({"group_id": p.group_id, "content": p.content});
            if let Some(image) = &p.image {
                body["image_uri"] = json!(super::segment::uri(image));
            }
            call("send_group_announcement", body, Answer::Empty)
        }
        A::GetGroupNotice(p) => call(
            "get_group_announcements",
            json!({"group_id": p.group_id}),
            Answer::Notices,
        ),
        A::DelGroupNotice(p) => call(
            "delete_group_announcement",
            json!({"group_id": p.group_id, "announcement_id": p.notice_id}),
            Answer::Empty,
        ),
        other => Plan::Refuse(
            retcode::NOT_FOUND,
            format!("`{}` has no Milky counterpart", other.name()),
        ),
    }
}

fn int(v: &Value, key: &str) -> i64 {
    v.get(key).and_then(as_i64).unwrap_or(0)
}

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(as_text).unwrap_or_default()
}

fn list<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

fn v11_member(m: &Value) -> Value {
    json!({
        "group_id": int(m, "group_id"), "user_id": int(m, "user_id"), "nickname": text(m, "nickname"),
        "card": text(m, "card"), "sex": text(m, "sex"), "age": 0, "area": "",
        "join_time": int(m, "join_time"), "last_sent_time": int(m, "last_sent_time"),
        "level": int(m, "level").to_string(), "role": text(m, "role"), "unfriendly": false,
        "title": text(m, "title"), "title_expire_time": 0, "card_changeable": true,
        "shut_up_timestamp": int(m, "shut_up_end_time"),
    })
}

fn v11_group(g: &Value) -> Value {
    json!({
        "group_id": int(g, "group_id"), "group_name": text(g, "group_name"),
        "member_count": int(g, "member_count"), "max_member_count": int(g, "max_member_count"),
        "group_memo": text(g, "description"), "group_create_time": int(g, "created_time"),
    })
}

/// A Milky answer's `data` as the v11 `data` of the planned action.
pub fn answer_to_v11(answer: &Answer, data: &Value, self_id: i64, ids: &dyn MessageIds) -> Value {
    let v11_message = |m: &Value| {
        let mut out = message_to_v11(m, self_id, ids);
        out.insert("post_type".into(), json!("message"));
        Value::Object(out)
    };
    match answer {
        Answer::Empty => Value::Null,
        Answer::Sent(scene, peer) => json!({"message_id": ids.id_of(*scene, *peer, int(data, "message_seq"))}),
        Answer::SentForward(scene, peer) => json!({
            "message_id": ids.id_of(*scene, *peer, int(data, "message_seq")), "forward_id": "",
        }),
        Answer::LoginInfo => json!({"user_id": int(data, "uin"), "nickname": text(data, "nickname")}),
        Answer::Stranger(user) => json!({
            "user_id": user, "nickname": text(data, "nickname"), "sex": text(data, "sex"),
            "age": int(data, "age"), "qid": text(data, "qid"), "level": int(data, "level"),
            "remark": text(data, "remark"), "long_nick": text(data, "bio"),
        }),
        Answer::Friends => Value::Array(
            list(data, "friends")
                .map(|f| json!({"user_id": int(f, "user_id"), "nickname": text(f, "nickname"), "remark": text(f, "remark"), "sex": text(f, "sex")}))
                .collect(),
        ),
        Answer::Group => v11_group(data.get("group").unwrap_or(&Value::Null)),
        Answer::Groups => Value::Array(list(data, "groups").map(v11_group).collect()),
        Answer::Member => v11_member(data.get("member").unwrap_or(&Value::Null)),
        Answer::Members => Value::Array(list(data, "members").map(v11_member).collect()),
        Answer::Message => v11_message(data.get("message").unwrap_or(&Value::Null)),
        Answer::History => json!({"messages": list(data, "messages").map(v11_message).collect::<Vec<_>>()}),
        Answer::Forward => json!({"messages": list(data, "messages").map(|m| {
            let segments = m.get("segments").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
            let content = super::segment::incoming_to_v11(segments, &|seq| seq);
            json!({"sender": {"nickname": text(m, "sender_name")}, "time": int(m, "time"), "content": content.clone(), "message": content})
        }).collect::<Vec<_>>()}),
        Answer::Cookies => json!({"cookies": text(data, "cookies")}),
        Answer::Csrf => json!({"token": int(data, "csrf_token")}),
        Answer::Version => json!({
            "app_name": text(data, "impl_name"), "app_version": text(data, "impl_version"),
            "protocol_version": "v11", "milky_version": text(data, "milky_version"),
            "qq_protocol_version": text(data, "qq_protocol_version"),
        }),
        Answer::Files => json!({
            "files": list(data, "files").map(|f| json!({
                "group_id": int(f, "group_id"), "file_id": text(f, "file_id"), "file_name": text(f, "file_name"),
                "busid": 0, "file_size": int(f, "file_size"), "upload_time": int(f, "uploaded_time"),
                "dead_time": int(f, "expire_time"), "modify_time": int(f, "uploaded_time"),
                "download_times": int(f, "downloaded_times"), "uploader": int(f, "uploader_id"), "uploader_name": "",
            })).collect::<Vec<_>>(),
            "folders": list(data, "folders").map(|f| json!({
                "group_id": int(f, "group_id"), "folder_id": text(f, "folder_id"), "folder_name": text(f, "folder_name"),
                "create_time": int(f, "created_time"), "creator": int(f, "creator_id"), "creator_name": "",
                "total_file_count": int(f, "file_count"),
            })).collect::<Vec<_>>(),
        }),
        Answer::FileUrl => json!({"url": text(data, "download_url")}),
        Answer::Same => data.clone(),
        Answer::Notices => Value::Array(
            list(data, "announcements")
                .map(|a| json!({
                    "notice_id": text(a, "announcement_id"), "sender_id": int(a, "user_id"), "publish_time": int(a, "time"),
                    "message": {"text": text(a, "content"), "images": []},
                }))
                .collect(),
        ),
        Answer::Essence(group) => Value::Array(
            list(data, "messages")
                .map(|m| {
                    let segments = m.get("segments").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
                    json!({
                        "sender_id": int(m, "sender_id"), "sender_nick": text(m, "sender_name"), "sender_time": int(m, "message_time"),
                        "operator_id": int(m, "operator_id"), "operator_nick": text(m, "operator_name"), "operator_time": int(m, "operation_time"),
                        "message_id": ids.id_of(Scene::Group, *group, int(m, "message_seq")),
                        "content": super::segment::incoming_to_v11(segments, &|seq| ids.id_of(Scene::Group, *group, seq)),
                    })
                })
                .collect(),
        ),
    }
}

/// A Milky app's API call as a v11 action (the listener side).
#[derive(Debug, Clone, PartialEq)]
pub struct V11Call {
    /// The v11 action.
    pub action: &'static str,
    /// Its params.
    pub params: Value,
    /// How the v11 answer becomes Milky data.
    pub answer: MilkyAnswer,
}

/// How a v11 answer's `data` becomes a Milky answer's `data`.
#[derive(Debug, Clone, PartialEq)]
pub enum MilkyAnswer {
    /// `{}`.
    Empty,
    /// `{message_seq, time}` from `message_id`.
    Sent,
    /// `{uin, nickname}`.
    LoginInfo,
    /// `{friends}`.
    Friends,
    /// `{friend}` of this user, out of the friend list.
    Friend(i64),
    /// `{groups}`.
    Groups,
    /// `{group}`.
    Group,
    /// `{members}`.
    Members,
    /// `{member}`.
    Member,
    /// `{message}` of this scene.
    Message(Scene),
    /// `{messages, next_message_seq}` of this scene.
    History(Scene),
    /// `{messages}` of a forward.
    Forward,
    /// `{cookies}`.
    Cookies,
    /// `{csrf_token}`.
    Csrf,
    /// The user profile of `get_stranger_info`.
    Profile,
    /// `{download_url}` from `url`.
    FileUrl,
    /// `{file_id}` / `{folder_id}` as the v11 answer has them.
    Same,
    /// `get_impl_info` from `get_version_info`.
    ImplInfo,
}

/// Why a Milky call cannot be served (HTTP 200 with a `failed` body, or 404).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The API is not one this gateway serves: HTTP 404.
    UnknownApi,
    /// Bad input: retcode -400 and the message.
    BadParams(String),
}

/// Which `message_scene` a body names.
fn scene_of(body: &Value) -> Result<Scene, CallError> {
    let s = text(body, "message_scene");
    Scene::parse(&s).ok_or_else(|| {
        CallError::BadParams(format!(
            "message_scene: expected friend, group or temp, got `{s}`"
        ))
    })
}

fn need_int(body: &Value, key: &str) -> Result<i64, CallError> {
    body.get(key)
        .and_then(as_i64)
        .ok_or_else(|| CallError::BadParams(format!("{key}: expected an integer")))
}

/// Reads a Milky call into a v11 action. `flag_of` finds the v11 flag a
/// notification or invitation seq stands for.
///
/// # Errors
/// [`CallError::UnknownApi`] for an API not served, [`CallError::BadParams`]
/// naming a missing or wrong field.
pub fn from_milky(
    api: &str,
    body: &Value,
    flag_of: &dyn Fn(i64) -> Option<String>,
) -> Result<V11Call, CallError> {
    let v = |action: &'static str, params: Value, answer: MilkyAnswer| {
        Ok(V11Call {
            action,
            params,
            answer,
        })
    };
    let flag = |seq: i64| {
        flag_of(seq).ok_or_else(|| {
            CallError::BadParams(format!("no request with seq {seq} is pending here"))
        })
    };
    let on = |key: &str| body.get(key).and_then(as_bool).unwrap_or(true);
    match api {
        "get_login_info" => v("get_login_info", json!({}), MilkyAnswer::LoginInfo),
        "get_impl_info" => v("get_version_info", json!({}), MilkyAnswer::ImplInfo),
        "get_friend_list" => v("get_friend_list", json!({}), MilkyAnswer::Friends),
        "get_friend_info" => v(
            "get_friend_list",
            json!({}),
            MilkyAnswer::Friend(need_int(body, "user_id")?),
        ),
        "get_user_profile" => v(
            "get_stranger_info",
            json!({"user_id": need_int(body, "user_id")?}),
            MilkyAnswer::Profile,
        ),
        "get_group_list" => v("get_group_list", json!({}), MilkyAnswer::Groups),
        "get_group_info" => v(
            "get_group_info",
            json!({"group_id": need_int(body, "group_id")?}),
            MilkyAnswer::Group,
        ),
        "get_group_member_list" => v(
            "get_group_member_list",
            json!({"group_id": need_int(body, "group_id")?}),
            MilkyAnswer::Members,
        ),
        "get_group_member_info" => v(
            "get_group_member_info",
            json!({"group_id": need_int(body, "group_id")?, "user_id": need_int(body, "user_id")?}),
            MilkyAnswer::Member,
        ),
        "get_cookies" => v(
            "get_cookies",
            json!({"domain": text(body, "domain")}),
            MilkyAnswer::Cookies,
        ),
        "get_csrf_token" => v("get_csrf_token", json!({}), MilkyAnswer::Csrf),
        "send_private_message" | "send_group_message" => {
            let group = api == "send_group_message";
            let segments = body.get("message").cloned().unwrap_or(Value::Null);
            // A forward is v11's forward send, whole.
            if let Some(fwd) = segments
                .as_array()
                .and_then(|s| s.iter().find(|s| s["type"] == "forward"))
            {
                let nodes: Vec<Value> = list(&fwd["data"], "messages")
                    .map(|m| Ok(json!({"type": "node", "data": {
                        "user_id": int(m, "user_id"), "nickname": text(m, "sender_name"),
                        "content": outgoing_to_v11(m.get("segments").unwrap_or(&Value::Null)).map_err(CallError::BadParams)?,
                    }})))
                    .collect::<Result<_, CallError>>()?;
                return if group {
                    v(
                        "send_group_forward_msg",
                        json!({"group_id": need_int(body, "group_id")?, "messages": nodes}),
                        MilkyAnswer::Sent,
                    )
                } else {
                    v(
                        "send_private_forward_msg",
                        json!({"user_id": need_int(body, "user_id")?, "messages": nodes}),
                        MilkyAnswer::Sent,
                    )
                };
            }
            let message = outgoing_to_v11(&segments).map_err(CallError::BadParams)?;
            if group {
                v(
                    "send_group_msg",
                    json!({"group_id": need_int(body, "group_id")?, "message": message}),
                    MilkyAnswer::Sent,
                )
            } else {
                v(
                    "send_private_msg",
                    json!({"user_id": need_int(body, "user_id")?, "message": message}),
                    MilkyAnswer::Sent,
                )
            }
        }
        "recall_private_message" | "recall_group_message" => v(
            "delete_msg",
            json!({"message_id": need_int(body, "message_seq")?}),
            MilkyAnswer::Empty,
        ),
        "get_message" => {
            let scene = scene_of(body)?;
            need_int(body, "peer_id")?;
            v(
                "get_msg",
                json!({"message_id": need_int(body, "message_seq")?}),
                MilkyAnswer::Message(scene),
            )
        }
        "get_history_messages" => {
            let scene = scene_of(body)?;
            let peer = need_int(body, "peer_id")?;
            let count = body.get("limit").and_then(as_i64).unwrap_or(20);
            let mut params = if scene == Scene::Group {
                json!({"group_id": peer, "count": count})
            } else {
                json!({"user_id": peer, "count": count})
            };
            if let Some(seq) = body.get("start_message_seq").and_then(as_i64) {
                params["message_seq"] = json!(seq);
            }
            let action = if scene == Scene::Group {
                "get_group_msg_history"
            } else {
                "get_friend_msg_history"
            };
            v(action, params, MilkyAnswer::History(scene))
        }
        "get_forwarded_messages" => v(
            "get_forward_msg",
            json!({"id": text(body, "forward_id")}),
            MilkyAnswer::Forward,
        ),
        "mark_message_as_read" => v(
            "mark_msg_as_read",
            json!({"message_id": need_int(body, "message_seq")?}),
            MilkyAnswer::Empty,
        ),
        "send_friend_nudge" => v(
            "friend_poke",
            json!({"user_id": need_int(body, "user_id")?}),
            MilkyAnswer::Empty,
        ),
        "send_group_nudge" => v(
            "group_poke",
            json!({"group_id": need_int(body, "group_id")?, "user_id": need_int(body, "user_id")?}),
            MilkyAnswer::Empty,
        ),
        "send_profile_like" => v(
            "send_like",
            json!({"user_id": need_int(body, "user_id")?, "times": body.get("count").and_then(as_i64).unwrap_or(1)}),
            MilkyAnswer::Empty,
        ),
        "delete_friend" => v(
            "delete_friend",
            json!({"user_id": need_int(body, "user_id")?}),
            MilkyAnswer::Empty,
        ),
        "accept_friend_request" | "reject_friend_request" => v(
            "set_friend_add_request",
            json!({"flag": text(body, "initiator_uid"), "approve": api == "accept_friend_request"}),
            MilkyAnswer::Empty,
        ),
        "accept_group_request" | "reject_group_request" => v(
            "set_group_add_request",
            json!({"flag": flag(need_int(body, "notification_seq")?)?, "sub_type": "add", "approve": api == "accept_group_request", "reason": text(body, "reason")}),
            MilkyAnswer::Empty,
        ),
        "accept_group_invitation" | "reject_group_invitation" => v(
            "set_group_add_request",
            json!({"flag": flag(need_int(body, "invitation_seq")?)?, "sub_type": "invite", "approve": api == "accept_group_invitation"}),
            MilkyAnswer::Empty,
        ),
        "set_group_name" => v(
            "set_group_name",
            json!({"group_id": need_int(body, "group_id")?, "group_name": text(body, "new_group_name")}),
            MilkyAnswer::Empty,
        ),
        "set_group_member_card" => v(
            "set_group_card",
            json!({"group_id": need_int(body, "group_id")?, "user_id": need_int(body, "user_id")?, "card": text(body, "card")}),
            MilkyAnswer::Empty,
        ),
        "set_group_member_special_title" => v(
            "set_group_special_title",
            json!({"group_id": need_int(body, "group_id")?, "user_id": need_int(body, "user_id")?, "special_title": text(body, "special_title")}),
            MilkyAnswer::Empty,
        ),
        "set_group_member_admin" => v(
            "set_group_admin",
            json!({"group_id": need_int(body, "group_id")?, "user_id": need_int(body, "user_id")?, "enable": on("is_set")}),
            MilkyAnswer::Empty,
        ),
        "set_group_member_mute" => v(
            "set_group_ban",
            json!({"group_id": need_int(body, "group_id")?, "user_id": need_int(body, "user_id")?, "duration": body.get("duration").and_then(as_i64).unwrap_or(0)}),
            MilkyAnswer::Empty,
        ),
        "set_group_whole_mute" => v(
            "set_group_whole_ban",
            json!({"group_id": need_int(body, "group_id")?, "enable": on("is_mute")}),
            MilkyAnswer::Empty,
        ),
        "kick_group_member" => v(
            "set_group_kick",
            json!({"group_id": need_int(body, "group_id")?, "user_id": need_int(body, "user_id")?, "reject_add_request": body.get("reject_add_request").and_then(as_bool).unwrap_or(false)}),
            MilkyAnswer::Empty,
        ),
        "quit_group" => v(
            "set_group_leave",
            json!({"group_id": need_int(body, "group_id")?}),
            MilkyAnswer::Empty,
        ),
        "send_group_message_reaction" => v(
            "set_msg_emoji_like",
            json!({"message_id": need_int(body, "message_seq")?, "emoji_id": text(body, "reaction"), "set": on("is_add")}),
            MilkyAnswer::Empty,
        ),
        "set_group_essence_message" => {
            let action = if on("is_set") {
                "set_essence_msg"
            } else {
                "delete_essence_msg"
            };
            v(
                action,
                json!({"message_id": need_int(body, "message_seq")?}),
                MilkyAnswer::Empty,
            )
        }
        "upload_group_file" => v(
            "upload_group_file",
            json!({"group_id": need_int(body, "group_id")?, "file": text(body, "file_uri"), "name": text(body, "file_name"), "folder": body.get("parent_folder_id").and_then(as_text).unwrap_or_else(|| "/".into())}),
            MilkyAnswer::Same,
        ),
        "get_group_file_download_url" => v(
            "get_group_file_url",
            json!({"group_id": need_int(body, "group_id")?, "file_id": text(body, "file_id")}),
            MilkyAnswer::FileUrl,
        ),
        "delete_group_file" => v(
            "delete_group_file",
            json!({"group_id": need_int(body, "group_id")?, "file_id": text(body, "file_id")}),
            MilkyAnswer::Empty,
        ),
        _ => Err(CallError::UnknownApi),
    }
}

/// A v11 message (a `get_msg` answer, a history item) as a Milky
/// `IncomingMessage`; `None` for what is not a message object. The bot's
/// own messages (NapCat's `message_sent`) are messages here.
fn milky_message(m: &Value, scene: Scene, self_id: i64) -> Option<Value> {
    let mut ev = m.as_object()?.clone();
    ev.insert("post_type".into(), json!("message"));
    ev.entry("message_type").or_insert_with(|| {
        json!(if scene == Scene::Group {
            "group"
        } else {
            "private"
        })
    });
    struct NoFlags;
    impl super::event::FlagSeqs for NoFlags {
        fn seq_of(&self, _: &str) -> i64 {
            0
        }
    }
    super::event::event_from_v11(&Value::Object(ev), self_id, &NoFlags).map(|e| e["data"].clone())
}

/// A v11 answer's `data` as the Milky `data` of the call.
///
/// # Errors
/// The answer does not hold what Milky needs (no such friend, no message):
/// why, for a `failed` answer with retcode -404.
pub fn answer_to_milky(answer: &MilkyAnswer, data: &Value, self_id: i64) -> Result<Value, String> {
    let sex = |v: &Value| match text(v, "sex").as_str() {
        s @ ("male" | "female") => s.to_owned(),
        _ => String::from("unknown"),
    };
    let friend = |f: &Value| {
        let mut e = friend_entity(int(f, "user_id"), &text(f, "nickname"), &sex(f));
        e["remark"] = json!(text(f, "remark"));
        e
    };
    let group = |g: &Value| {
        let mut e = group_entity(int(g, "group_id"), &text(g, "group_name"));
        e["member_count"] = json!(int(g, "member_count"));
        e["max_member_count"] = json!(int(g, "max_member_count"));
        e
    };
    let member = |m: &Value| {
        let role = match text(m, "role").as_str() {
            r @ ("owner" | "admin") => r.to_owned(),
            _ => String::from("member"),
        };
        json!({
            "user_id": int(m, "user_id"), "nickname": text(m, "nickname"), "sex": sex(m), "group_id": int(m, "group_id"),
            "card": text(m, "card"), "title": text(m, "title"), "level": int(m, "level"), "role": role,
            "join_time": int(m, "join_time"), "last_sent_time": int(m, "last_sent_time"),
            "shut_up_end_time": m.get("shut_up_timestamp").and_then(as_i64).filter(|t| *t > 0),
        })
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let items = |v: &Value| v.as_array().cloned().unwrap_or_default();
    Ok(match answer {
        MilkyAnswer::Empty => json!({}),
        MilkyAnswer::Sent => json!({"message_seq": int(data, "message_id"), "time": now}),
        MilkyAnswer::LoginInfo => {
            json!({"uin": int(data, "user_id"), "nickname": text(data, "nickname")})
        }
        MilkyAnswer::Friends => {
            json!({"friends": items(data).iter().map(friend).collect::<Vec<_>>()})
        }
        MilkyAnswer::Friend(user) => {
            match items(data).iter().find(|f| int(f, "user_id") == *user) {
                Some(f) => json!({"friend": friend(f)}),
                None => return Err(format!("{user} is not a friend of this bot")),
            }
        }
        MilkyAnswer::Groups => json!({"groups": items(data).iter().map(group).collect::<Vec<_>>()}),
        MilkyAnswer::Group => json!({"group": group(data)}),
        MilkyAnswer::Members => {
            json!({"members": items(data).iter().map(member).collect::<Vec<_>>()})
        }
        MilkyAnswer::Member => json!({"member": member(data)}),
        MilkyAnswer::Message(scene) => match milky_message(data, *scene, self_id) {
            Some(m) => json!({"message": m}),
            None => return Err(String::from("the upstream's answer holds no message")),
        },
        MilkyAnswer::History(scene) => {
            let messages: Vec<Value> = list(data, "messages")
                .filter_map(|m| milky_message(m, *scene, self_id))
                .collect();
            json!({"messages": messages, "next_message_seq": null})
        }
        MilkyAnswer::Forward => json!({"messages": list(data, "messages").map(|m| {
            let content = m.get("content").or_else(|| m.get("message")).unwrap_or(&Value::Null);
            json!({
                "sender_name": m.pointer("/sender/nickname").and_then(as_text).unwrap_or_default(),
                "avatar_url": "", "time": int(m, "time"), "segments": v11_to_incoming(content),
            })
        }).collect::<Vec<_>>()}),
        MilkyAnswer::Cookies => json!({"cookies": text(data, "cookies")}),
        MilkyAnswer::Csrf => json!({"csrf_token": text(data, "token")}),
        MilkyAnswer::Profile => json!({
            "nickname": text(data, "nickname"), "qid": text(data, "qid"), "age": int(data, "age"), "sex": sex(data),
            "remark": text(data, "remark"), "bio": text(data, "long_nick"), "level": int(data, "level"),
            "country": "", "city": "", "school": "",
        }),
        MilkyAnswer::FileUrl => json!({"download_url": text(data, "url")}),
        MilkyAnswer::Same => match data {
            Value::Object(_) => data.clone(),
            _ => json!({}),
        },
        MilkyAnswer::ImplInfo => json!({
            "impl_name": format!("onebot-gateway ({})", text(data, "app_name")),
            "impl_version": text(data, "app_version"),
            "qq_protocol_version": text(data, "protocol_version"),
            // The spec's enum has no "unknown": what the gateway itself runs on.
            "qq_protocol_type": "linux",
            "milky_version": super::VERSION,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::action::parse;
    use std::collections::HashMap;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Table(Mutex<HashMap<i64, (Scene, i64, i64)>>);
    impl MessageIds for Table {
        fn id_of(&self, scene: Scene, peer: i64, seq: i64) -> i64 {
            let mut t = self.0.lock().unwrap();
            if let Some((id, _)) = t.iter().find(|(_, v)| **v == (scene, peer, seq)) {
                return *id;
            }
            let id = t.len() as i64 + 1;
            t.insert(id, (scene, peer, seq));
            id
        }
        fn message(&self, id: i64) -> Option<(Scene, i64, i64)> {
            self.0.lock().unwrap().get(&id).copied()
        }
    }

    fn planned(action: &str, params: Value, ids: &Table) -> Plan {
        plan(&parse(action, &params).unwrap().unwrap(), ids)
    }

    #[test]
    fn a_send_then_its_recall_reach_the_same_milky_message() {
        let ids = Table::default();
        let Plan::Call { api, body, answer } = planned(
            "send_group_msg",
            json!({"group_id": 5, "message": "hi"}),
            &ids,
        ) else {
            panic!()
        };
        assert_eq!(api, "send_group_message");
        assert_eq!(
            body["message"],
            json!([{"type": "text", "data": {"text": "hi"}}])
        );
        let data = answer_to_v11(&answer, &json!({"message_seq": 77, "time": 1}), 1, &ids);
        let id = data["message_id"].as_i64().unwrap();
        assert_eq!(
            planned("delete_msg", json!({"message_id": id}), &ids),
            Plan::Call {
                api: "recall_group_message",
                body: json!({"group_id": 5, "message_seq": 77}),
                answer: Answer::Empty
            }
        );
        let Plan::Call { body, .. } = planned(
            "send_group_msg",
            json!({"group_id": 5, "message": [{"type": "reply", "data": {"id": id.to_string()}}]}),
            &ids,
        ) else {
            panic!()
        };
        assert_eq!(
            body["message"][0],
            json!({"type": "reply", "data": {"message_seq": 77}})
        );
        assert!(matches!(
            planned("delete_msg", json!({"message_id": 999}), &ids),
            Plan::Refuse(1404, _)
        ));
        assert!(
            matches!(planned("get_group_honor_info", json!({"group_id": 1}), &ids), Plan::Refuse(1404, m) if m.contains("get_group_honor_info"))
        );
    }

    #[test]
    fn replies_quote_only_the_chat_sent_to_and_temp_chats_are_not_recalled() {
        let ids = Table::default();
        let in_five = ids.id_of(Scene::Group, 5, 7);
        let refused = planned(
            "send_group_msg",
            json!({"group_id": 6, "message": format!("[CQ:reply,id={in_five}]x")}),
            &ids,
        );
        assert!(matches!(refused, Plan::Refuse(1400, m) if m.contains(&in_five.to_string())));
        let temp = ids.id_of(Scene::Temp, 42, 1);
        assert!(
            matches!(planned("delete_msg", json!({"message_id": temp}), &ids), Plan::Refuse(1400, m) if m.contains("temporary"))
        );
        let Plan::Call { body, .. } = planned(
            "send_private_msg",
            json!({"user_id": 42, "message": format!("[CQ:reply,id={temp}]ok")}),
            &ids,
        ) else {
            panic!()
        };
        assert_eq!(
            body["message"][0]["data"]["message_seq"], 1,
            "a temp chat's message is of the private chat"
        );
    }

    #[test]
    fn listener_answers_read_what_v11_peers_send() {
        // NapCat posts the bot's own messages as message_sent, to target_id.
        let own = json!({"post_type": "message_sent", "message_type": "private", "message_id": 5, "user_id": 1,
                         "target_id": 42, "time": 3, "message": "hi", "sender": {"nickname": "me"}});
        let m = answer_to_milky(&MilkyAnswer::Message(Scene::Friend), &own, 1).unwrap();
        assert_eq!(
            (
                m["message"]["peer_id"].as_i64(),
                m["message"]["message_seq"].as_i64()
            ),
            (Some(42), Some(5)),
            "{m}"
        );
        let h = answer_to_milky(
            &MilkyAnswer::History(Scene::Friend),
            &json!({"messages": [own, 5, null]}),
            1,
        )
        .unwrap();
        assert_eq!(
            h["messages"].as_array().unwrap().len(),
            1,
            "what is not a message is skipped: {h}"
        );
        assert!(
            h.as_object().unwrap().contains_key("next_message_seq"),
            "the key is always there"
        );
        assert!(answer_to_milky(&MilkyAnswer::Message(Scene::Group), &json!(null), 1).is_err());
        assert!(answer_to_milky(&MilkyAnswer::Friend(9), &json!([{"user_id": 8}]), 1).is_err());
        let info =
            answer_to_milky(&MilkyAnswer::ImplInfo, &json!({"app_name": "NapCat"}), 1).unwrap();
        assert_eq!(
            (info["milky_version"].as_str(), info["impl_name"].as_str()),
            (Some(super::super::VERSION), Some("onebot-gateway (NapCat)"))
        );
    }

    #[test]
    fn milky_calls_map_their_fields() {
        let none = |_| None;
        let call = from_milky(
            "get_history_messages",
            &json!({"message_scene": "group", "peer_id": 5, "start_message_seq": 9, "limit": 3}),
            &none,
        )
        .unwrap();
        assert_eq!(
            (call.action, call.params),
            (
                "get_group_msg_history",
                json!({"group_id": 5, "count": 3, "message_seq": 9})
            )
        );
        let call = from_milky(
            "set_group_member_mute",
            &json!({"group_id": 5, "user_id": 6, "duration": 60}),
            &none,
        )
        .unwrap();
        assert_eq!(
            call.params,
            json!({"group_id": 5, "user_id": 6, "duration": 60})
        );
        let call = from_milky(
            "accept_group_request",
            &json!({"notification_seq": 4, "notification_type": "join_request", "group_id": 5}),
            &|s| (s == 4).then(|| "f4".to_owned()),
        )
        .unwrap();
        assert_eq!(
            (
                call.action,
                call.params["flag"].as_str(),
                call.params["approve"].as_bool()
            ),
            ("set_group_add_request", Some("f4"), Some(true))
        );
        let call = from_milky(
            "send_group_message_reaction",
            &json!({"group_id": 5, "message_seq": 3, "reaction": "76", "is_add": false}),
            &none,
        )
        .unwrap();
        assert_eq!(
            call.params,
            json!({"message_id": 3, "emoji_id": "76", "set": false})
        );
    }

    #[test]
    fn every_mapped_action_reaches_its_milky_api() {
        let ids = Table::default();
        let g = ids.id_of(Scene::Group, 5, 7);
        let f = ids.id_of(Scene::Friend, 6, 8);
        let node =
            json!([{"type": "node", "data": {"user_id": 1, "nickname": "a", "content": "hi"}}]);
        for (action, params, api) in [
            (
                "send_private_msg",
                json!({"user_id": 6, "message": "x"}),
                "send_private_message",
            ),
            (
                "send_msg",
                json!({"group_id": 5, "message": "x"}),
                "send_group_message",
            ),
            (
                "delete_msg",
                json!({"message_id": f}),
                "recall_private_message",
            ),
            ("get_msg", json!({"message_id": g}), "get_message"),
            (
                "get_forward_msg",
                json!({"id": "fw"}),
                "get_forwarded_messages",
            ),
            (
                "send_group_forward_msg",
                json!({"group_id": 5, "messages": node}),
                "send_group_message",
            ),
            (
                "send_private_forward_msg",
                json!({"user_id": 6, "messages": node}),
                "send_private_message",
            ),
            (
                "get_group_msg_history",
                json!({"group_id": 5, "message_seq": g}),
                "get_history_messages",
            ),
            (
                "get_friend_msg_history",
                json!({"user_id": 6}),
                "get_history_messages",
            ),
            (
                "mark_msg_as_read",
                json!({"message_id": g}),
                "mark_message_as_read",
            ),
            (
                "send_like",
                json!({"user_id": 6, "times": 3}),
                "send_profile_like",
            ),
            (
                "set_group_kick",
                json!({"group_id": 5, "user_id": 6}),
                "kick_group_member",
            ),
            (
                "set_group_ban",
                json!({"group_id": 5, "user_id": 6}),
                "set_group_member_mute",
            ),
            (
                "set_group_whole_ban",
                json!({"group_id": 5}),
                "set_group_whole_mute",
            ),
            (
                "set_group_admin",
                json!({"group_id": 5, "user_id": 6}),
                "set_group_member_admin",
            ),
            (
                "set_group_card",
                json!({"group_id": 5, "user_id": 6, "card": "c"}),
                "set_group_member_card",
            ),
            (
                "set_group_name",
                json!({"group_id": 5, "group_name": "n"}),
                "set_group_name",
            ),
            (
                "set_group_special_title",
                json!({"group_id": 5, "user_id": 6, "special_title": "t"}),
                "set_group_member_special_title",
            ),
            ("set_group_leave", json!({"group_id": 5}), "quit_group"),
            (
                "set_group_add_request",
                json!({"flag": "milky:invitation:5:2", "approve": false}),
                "reject_group_invitation",
            ),
            ("get_login_info", json!({}), "get_login_info"),
            (
                "get_stranger_info",
                json!({"user_id": 6}),
                "get_user_profile",
            ),
            ("get_friend_list", json!({}), "get_friend_list"),
            ("get_group_info", json!({"group_id": 5}), "get_group_info"),
            ("get_group_list", json!({}), "get_group_list"),
            (
                "get_group_member_info",
                json!({"group_id": 5, "user_id": 6}),
                "get_group_member_info",
            ),
            (
                "get_group_member_list",
                json!({"group_id": 5}),
                "get_group_member_list",
            ),
            (
                "get_cookies",
                json!({"domain": "qun.qq.com"}),
                "get_cookies",
            ),
            ("get_csrf_token", json!({}), "get_csrf_token"),
            ("get_version_info", json!({}), "get_impl_info"),
            (
                "group_poke",
                json!({"group_id": 5, "user_id": 6}),
                "send_group_nudge",
            ),
            ("friend_poke", json!({"user_id": 6}), "send_friend_nudge"),
            ("send_poke", json!({"user_id": 6}), "send_friend_nudge"),
            (
                "set_msg_emoji_like",
                json!({"message_id": g, "emoji_id": "76"}),
                "send_group_message_reaction",
            ),
            (
                "set_essence_msg",
                json!({"message_id": g}),
                "set_group_essence_message",
            ),
            (
                "delete_essence_msg",
                json!({"message_id": g}),
                "set_group_essence_message",
            ),
            (
                "get_essence_msg_list",
                json!({"group_id": 5}),
                "get_group_essence_messages",
            ),
            (
                "upload_group_file",
                json!({"group_id": 5, "file": "/tmp/a", "name": "a"}),
                "upload_group_file",
            ),
            (
                "delete_group_file",
                json!({"group_id": 5, "file_id": "f"}),
                "delete_group_file",
            ),
            (
                "delete_group_folder",
                json!({"group_id": 5, "folder_id": "d"}),
                "delete_group_folder",
            ),
            (
                "get_group_root_files",
                json!({"group_id": 5}),
                "get_group_files",
            ),
            (
                "get_group_files_by_folder",
                json!({"group_id": 5, "folder_id": "d"}),
                "get_group_files",
            ),
            (
                "get_group_file_url",
                json!({"group_id": 5, "file_id": "f"}),
                "get_group_file_download_url",
            ),
            (
                "create_group_file_folder",
                json!({"group_id": 5, "name": "d"}),
                "create_group_folder",
            ),
            ("delete_friend", json!({"user_id": 6}), "delete_friend"),
            (
                "set_group_portrait",
                json!({"group_id": 5, "file": "/tmp/a.png"}),
                "set_group_avatar",
            ),
            (
                "_send_group_notice",
                json!({"group_id": 5, "content": "c"}),
                "send_group_announcement",
            ),
            (
                "_get_group_notice",
                json!({"group_id": 5}),
                "get_group_announcements",
            ),
            (
                "_del_group_notice",
                json!({"group_id": 5, "notice_id": "n"}),
                "delete_group_announcement",
            ),
        ] {
            match planned(action, params, &ids) {
                Plan::Call { api: got, .. } => assert_eq!(got, api, "{action}"),
                other => panic!("{action}: {other:?}"),
            }
        }
        for synthesised in ["can_send_image", "can_send_record"] {
            assert!(
                matches!(planned(synthesised, json!({}), &ids), Plan::Answer(_)),
                "{synthesised}"
            );
        }
        let Plan::Call { body, .. } = planned(
            "set_group_portrait",
            json!({"group_id": 5, "file": "/tmp/a.png"}),
            &ids,
        ) else {
            panic!()
        };
        assert_eq!(body["image_uri"], "file:///tmp/a.png");
    }

    #[test]
    fn request_flags_choose_the_milky_call() {
        let ids = Table::default();
        let Plan::Call { api, body, .. } = planned(
            "set_group_add_request",
            json!({"flag": "milky:join:5:8:0", "approve": false, "reason": "no"}),
            &ids,
        ) else {
            panic!()
        };
        assert_eq!(api, "reject_group_request");
        assert_eq!(
            body,
            json!({"notification_seq": 8, "notification_type": "join_request", "group_id": 5, "is_filtered": false, "reason": "no"})
        );
        let Plan::Call { api, body, .. } = planned(
            "set_friend_add_request",
            json!({"flag": "milky:friend:1:u_abc"}),
            &ids,
        ) else {
            panic!()
        };
        assert_eq!(
            (api, body),
            (
                "accept_friend_request",
                json!({"initiator_uid": "u_abc", "is_filtered": true})
            )
        );
        assert!(matches!(
            planned("set_friend_add_request", json!({"flag": "12345"}), &ids),
            Plan::Refuse(1400, _)
        ));
    }

    #[test]
    fn milky_calls_become_v11_actions_the_gateway_parses() {
        let none = |_| None;
        for (api, body) in [
            (
                "send_group_message",
                json!({"group_id": 5, "message": [{"type": "text", "data": {"text": "pong"}}, {"type": "reply", "data": {"message_seq": 3}}]}),
            ),
            (
                "recall_group_message",
                json!({"group_id": 5, "message_seq": 3}),
            ),
            (
                "get_message",
                json!({"message_scene": "group", "peer_id": 5, "message_seq": 3}),
            ),
            ("send_group_nudge", json!({"group_id": 5, "user_id": 6})),
            (
                "get_history_messages",
                json!({"message_scene": "friend", "peer_id": 6, "limit": 5}),
            ),
            ("accept_friend_request", json!({"initiator_uid": "f1"})),
            (
                "set_group_member_mute",
                json!({"group_id": 5, "user_id": 6, "duration": 60}),
            ),
        ] {
            let call = from_milky(api, &body, &none).unwrap();
            assert!(
                parse(call.action, &call.params).is_ok_and(|a| a.is_some()),
                "{api}: {call:?}"
            );
        }
        assert_eq!(
            from_milky("no_such_api", &json!({}), &none),
            Err(CallError::UnknownApi)
        );
        assert!(
            matches!(from_milky("get_message", &json!({"message_scene": "x"}), &none), Err(CallError::BadParams(m)) if m.contains("message_scene"))
        );
        assert!(
            matches!(from_milky("accept_group_request", &json!({"notification_seq": 4}), &none), Err(CallError::BadParams(m)) if m.contains("seq 4"))
        );
        let sent = answer_to_milky(&MilkyAnswer::Sent, &json!({"message_id": 12}), 1).unwrap();
        assert_eq!(sent["message_seq"], 12);
        assert!(sent["time"].as_i64().unwrap() > 0);
        let login = answer_to_milky(
            &MilkyAnswer::LoginInfo,
            &json!({"user_id": 10000, "nickname": "bot"}),
            1,
        )
        .unwrap();
        assert_eq!(login, json!({"uin": 10000, "nickname": "bot"}));
    }
}
