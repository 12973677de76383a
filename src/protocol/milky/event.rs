//! Events between Milky and OneBot v11: a Milky implementation's events as
//! v11 events (the upstream side), and a v11 bot's events as Milky events
//! for Milky apps (the listener side).

use serde_json::{json, Map, Value};

use super::segment::{incoming_to_v11, v11_to_incoming};
use super::{MessageIds, Scene};
use crate::protocol::de::{as_i64, as_text};
use crate::protocol::message::to_cq_string;

fn int(d: &Value, key: &str) -> i64 {
    d.get(key).and_then(as_i64).unwrap_or(0)
}

fn text(d: &Value, key: &str) -> String {
    d.get(key).and_then(as_text).unwrap_or_default()
}

fn opt_int(d: &Value, key: &str) -> Option<i64> {
    d.get(key).and_then(as_i64)
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// What became of one Milky event.
#[derive(Debug, Clone, PartialEq)]
pub enum FromMilky {
    /// The v11 event to publish.
    Event(Value),
    /// An `event_type` this gateway does not know: ignored and counted.
    Unknown(String),
    /// Not a Milky event (no `event_type`, no `data` object): why.
    Malformed(String),
}

/// The v11 `sender` and message fields of a Milky incoming message.
pub fn message_to_v11(m: &Value, self_id: i64, ids: &dyn MessageIds) -> Map<String, Value> {
    let scene = Scene::parse(&text(m, "message_scene")).unwrap_or(Scene::Friend);
    let peer = int(m, "peer_id");
    let seq = int(m, "message_seq");
    let sender_id = int(m, "sender_id");
    let segments = m
        .get("segments")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let message = Value::Array(incoming_to_v11(segments, &|s| ids.id_of(scene, peer, s)));
    let mut out = Map::new();
    out.insert("time".into(), json!(int(m, "time")));
    out.insert("self_id".into(), json!(self_id));
    out.insert("message_id".into(), json!(ids.id_of(scene, peer, seq)));
    out.insert("message_seq".into(), json!(seq));
    out.insert("real_id".into(), json!(seq));
    out.insert("user_id".into(), json!(sender_id));
    out.insert("raw_message".into(), json!(to_cq_string(&message)));
    out.insert("message".into(), message);
    out.insert("font".into(), json!(0));
    match scene {
        Scene::Group => {
            let member = m.get("group_member").cloned().unwrap_or(Value::Null);
            out.insert("message_type".into(), json!("group"));
            out.insert("sub_type".into(), json!("normal"));
            out.insert("group_id".into(), json!(peer));
            out.insert(
                "sender".into(),
                json!({
                    "user_id": sender_id,
                    "nickname": text(&member, "nickname"),
                    "card": text(&member, "card"),
                    "sex": text(&member, "sex"),
                    "role": member.get("role").and_then(Value::as_str).unwrap_or("member"),
                    "title": text(&member, "title"),
                    "level": int(&member, "level").to_string(),
                }),
            );
        }
        Scene::Friend | Scene::Temp => {
            let friend = m.get("friend").cloned().unwrap_or(Value::Null);
            out.insert("message_type".into(), json!("private"));
            out.insert(
                "sub_type".into(),
                json!(if scene == Scene::Temp {
                    "group"
                } else {
                    "friend"
                }),
            );
            if scene == Scene::Temp {
                if let Some(g) = m.get("group").and_then(|g| opt_int(g, "group_id")) {
                    out.insert("temp_source".into(), json!(0));
                    out.insert("group_id".into(), json!(g));
                }
            }
            out.insert(
                "sender".into(),
                json!({"user_id": sender_id, "nickname": text(&friend, "nickname"), "sex": text(&friend, "sex")}),
            );
        }
    }
    out
}

/// One Milky event as a v11 event of bot `self_id` (the envelope's own
/// `self_id` is trusted only as far as the link's account).
pub fn event_to_v11(ev: &Value, self_id: i64, ids: &dyn MessageIds) -> FromMilky {
    let Some(kind) = ev.get("event_type").and_then(Value::as_str) else {
        return FromMilky::Malformed(String::from("no `event_type`"));
    };
    let Some(d) = ev.get("data").filter(|d| d.is_object()) else {
        return FromMilky::Malformed(format!("`{kind}` without a `data` object"));
    };
    let time = opt_int(ev, "time").unwrap_or_else(now_secs);
    // The envelope is written last: a passed-through `data` cannot replace it.
    let envelope = |fields: Value, post_type: &str, key: &str, value: &str| {
        let mut e = match fields {
            Value::Object(f) => f,
            _ => Map::new(),
        };
        e.insert("time".into(), json!(time));
        e.insert("self_id".into(), json!(self_id));
        e.insert("post_type".into(), json!(post_type));
        e.insert(key.into(), json!(value));
        Value::Object(e)
    };
    let notice =
        |notice_type: &str, fields: Value| envelope(fields, "notice", "notice_type", notice_type);
    let request = |request_type: &str, fields: Value| {
        envelope(fields, "request", "request_type", request_type)
    };
    let g = int(d, "group_id");
    let scene = d
        .get("message_scene")
        .map(|s| s.as_str().and_then(Scene::parse));
    if let Some(None) = scene {
        return FromMilky::Malformed(format!("`{kind}` with an unknown message_scene"));
    }
    let event = match kind {
        "message_receive" if scene.is_none() => {
            return FromMilky::Malformed(String::from("`message_receive` without a message_scene"))
        }
        "message_receive" => {
            let mut m = message_to_v11(d, self_id, ids);
            let own = int(d, "sender_id") == self_id;
            m.insert(
                "post_type".into(),
                json!(if own { "message_sent" } else { "message" }),
            );
            Value::Object(m)
        }
        "message_recall" => {
            let scene = scene.flatten().unwrap_or(Scene::Friend);
            let peer = int(d, "peer_id");
            let id = ids.id_of(scene, peer, int(d, "message_seq"));
            if scene == Scene::Group {
                notice(
                    "group_recall",
                    json!({"group_id": peer, "user_id": int(d, "sender_id"), "operator_id": int(d, "operator_id"), "message_id": id}),
                )
            } else {
                notice("friend_recall", json!({"user_id": peer, "message_id": id}))
            }
        }
        "bot_offline" => notice(
            "bot_offline",
            json!({"user_id": self_id, "tag": "bot_offline", "message": text(d, "reason")}),
        ),
        "friend_request" => request(
            "friend",
            json!({
                "user_id": int(d, "initiator_id"), "comment": text(d, "comment"),
                "flag": Flag::Friend { uid: text(d, "initiator_uid"), filtered: d.get("is_filtered").and_then(Value::as_bool).unwrap_or(false) }.to_string(),
            }),
        ),
        "group_join_request" => request(
            "group",
            json!({
                "sub_type": "add", "group_id": g, "user_id": int(d, "initiator_id"), "comment": text(d, "comment"),
                "flag": Flag::Join { group: g, seq: int(d, "notification_seq"), filtered: d.get("is_filtered").and_then(Value::as_bool).unwrap_or(false) }.to_string(),
            }),
        ),
        "group_invited_join_request" => request(
            "group",
            json!({
                "sub_type": "add", "group_id": g, "user_id": int(d, "target_user_id"), "invitor_id": int(d, "initiator_id"), "comment": "",
                "flag": Flag::InvitedJoin { group: g, seq: int(d, "notification_seq") }.to_string(),
            }),
        ),
        "group_invitation" => request(
            "group",
            json!({
                "sub_type": "invite", "group_id": g, "user_id": int(d, "initiator_id"), "comment": "",
                "flag": Flag::Invitation { group: g, seq: int(d, "invitation_seq") }.to_string(),
            }),
        ),
        "friend_nudge" => {
            let user = int(d, "user_id");
            let from = if d.get("is_self_send").and_then(Value::as_bool) == Some(true) {
                self_id
            } else {
                user
            };
            let to = if d.get("is_self_receive").and_then(Value::as_bool) == Some(true) {
                self_id
            } else {
                user
            };
            notice(
                "notify",
                json!({"sub_type": "poke", "sender_id": from, "user_id": from, "target_id": to}),
            )
        }
        "group_nudge" => notice(
            "notify",
            json!({"sub_type": "poke", "group_id": g, "user_id": int(d, "sender_id"), "target_id": int(d, "receiver_id")}),
        ),
        "friend_file_upload" => notice(
            "offline_file",
            json!({"user_id": int(d, "user_id"), "file": {"id": text(d, "file_id"), "name": text(d, "file_name"), "size": int(d, "file_size"), "url": ""}}),
        ),
        "group_file_upload" => notice(
            "group_upload",
            json!({"group_id": g, "user_id": int(d, "user_id"), "file": {"id": text(d, "file_id"), "name": text(d, "file_name"), "size": int(d, "file_size"), "busid": 0}}),
        ),
        "group_admin_change" => notice(
            "group_admin",
            json!({"sub_type": if d.get("is_set").and_then(Value::as_bool) == Some(true) {"set"} else {"unset"}, "group_id": g, "user_id": int(d, "user_id")}),
        ),
        "group_essence_message_change" => notice(
            "essence",
            json!({
                "sub_type": if d.get("is_set").and_then(Value::as_bool) == Some(true) {"add"} else {"delete"},
                "group_id": g, "message_id": ids.id_of(Scene::Group, g, int(d, "message_seq")),
                "operator_id": int(d, "operator_id"),
            }),
        ),
        "group_member_increase" => {
            let invitor = opt_int(d, "invitor_id");
            notice(
                "group_increase",
                json!({
                    "sub_type": if invitor.is_some() {"invite"} else {"approve"}, "group_id": g, "user_id": int(d, "user_id"),
                    "operator_id": invitor.or_else(|| opt_int(d, "operator_id")).unwrap_or(0),
                }),
            )
        }
        "group_member_decrease" => {
            let user = int(d, "user_id");
            let operator = opt_int(d, "operator_id");
            let sub_type = match operator {
                _ if user == self_id => "kick_me",
                Some(op) if op != user => "kick",
                _ => "leave",
            };
            notice(
                "group_decrease",
                json!({"sub_type": sub_type, "group_id": g, "user_id": user, "operator_id": operator.unwrap_or(user)}),
            )
        }
        "group_mute" => {
            let duration = int(d, "duration");
            notice(
                "group_ban",
                json!({"sub_type": if duration > 0 {"ban"} else {"lift_ban"}, "group_id": g, "user_id": int(d, "user_id"), "operator_id": int(d, "operator_id"), "duration": duration}),
            )
        }
        "group_whole_mute" => {
            let on = d.get("is_mute").and_then(Value::as_bool) == Some(true);
            notice(
                "group_ban",
                json!({"sub_type": if on {"ban"} else {"lift_ban"}, "group_id": g, "user_id": 0, "operator_id": int(d, "operator_id"), "duration": if on {-1} else {0}}),
            )
        }
        "group_name_change" => notice(
            "notify",
            json!({"sub_type": "group_name", "group_id": g, "user_id": int(d, "operator_id"), "name_new": text(d, "new_group_name")}),
        ),
        "group_message_reaction" => notice(
            "group_msg_emoji_like",
            json!({
                "group_id": g, "user_id": int(d, "user_id"),
                "message_id": ids.id_of(Scene::Group, g, int(d, "message_seq")),
                "likes": [{"emoji_id": text(d, "face_id"), "count": 1}],
                "is_add": d.get("is_add").and_then(Value::as_bool).unwrap_or(true),
            }),
        ),
        // Known to Milky, no v11 counterpart: a notice of the Milky type.
        "peer_pin_change" | "group_disband" => notice(kind, d.clone()),
        other => return FromMilky::Unknown(other.to_owned()),
    };
    FromMilky::Event(event)
}

/// A v11 request `flag` made from a Milky request: everything its
/// accept/reject call needs, so it survives restarts without a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flag {
    /// `friend_request` (keyed by the initiator's uid).
    Friend {
        /// `initiator_uid`.
        uid: String,
        /// `is_filtered`.
        filtered: bool,
    },
    /// `group_join_request`.
    Join {
        /// The group.
        group: i64,
        /// `notification_seq`.
        seq: i64,
        /// `is_filtered`.
        filtered: bool,
    },
    /// `group_invited_join_request`.
    InvitedJoin {
        /// The group.
        group: i64,
        /// `notification_seq`.
        seq: i64,
    },
    /// `group_invitation` (the bot is invited).
    Invitation {
        /// The group.
        group: i64,
        /// `invitation_seq`.
        seq: i64,
    },
}

impl std::fmt::Display for Flag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Friend { uid, filtered } => {
                write!(f, "milky:friend:{}:{uid}", u8::from(*filtered))
            }
            Self::Join {
                group,
                seq,
                filtered,
            } => {
                write!(f, "milky:join:{group}:{seq}:{}", u8::from(*filtered))
            }
            Self::InvitedJoin { group, seq } => write!(f, "milky:invited:{group}:{seq}"),
            Self::Invitation { group, seq } => write!(f, "milky:invitation:{group}:{seq}"),
        }
    }
}

impl std::str::FromStr for Flag {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("flag `{s}` was not made by this gateway's Milky upstream");
        let rest = s.strip_prefix("milky:").ok_or_else(bad)?;
        if let Some(rest) = rest.strip_prefix("friend:") {
            // The uid may hold colons: it is the last part, whole.
            let (filtered, uid) = rest.split_once(':').ok_or_else(bad)?;
            return Ok(Self::Friend {
                uid: uid.to_owned(),
                filtered: filtered == "1",
            });
        }
        let parts: Vec<&str> = rest.split(':').collect();
        let num = |i: usize| {
            parts
                .get(i)
                .and_then(|p| p.parse::<i64>().ok())
                .ok_or_else(bad)
        };
        Ok(match parts[0] {
            "join" => Self::Join {
                group: num(1)?,
                seq: num(2)?,
                filtered: parts.get(3) == Some(&"1"),
            },
            "invited" => Self::InvitedJoin {
                group: num(1)?,
                seq: num(2)?,
            },
            "invitation" => Self::Invitation {
                group: num(1)?,
                seq: num(2)?,
            },
            _ => return Err(bad()),
        })
    }
}

/// Makes up Milky `notification_seq`s for v11 group request flags (the
/// listener side; a flag is a string, a seq a number).
pub trait FlagSeqs {
    /// The seq standing for `flag`.
    fn seq_of(&self, flag: &str) -> i64;
}

/// A v11 event of bot `self_id` as a Milky event, or `None` when Milky has
/// no such event (meta events, the bot's own messages, unknown notices).
pub fn event_from_v11(ev: &Value, self_id: i64, flags: &dyn FlagSeqs) -> Option<Value> {
    let time = int(ev, "time");
    let out = |event_type: &str, data: Value| {
        Some(json!({"time": time, "self_id": self_id, "event_type": event_type, "data": data}))
    };
    let g = int(ev, "group_id");
    let user = int(ev, "user_id");
    match ev.get("post_type").and_then(Value::as_str)? {
        "message" => {
            let segments = v11_to_incoming(ev.get("message").unwrap_or(&Value::Null));
            let seq = int(ev, "message_id");
            let sender = ev.get("sender").cloned().unwrap_or(Value::Null);
            let nickname = text(&sender, "nickname");
            let sex = match text(&sender, "sex").as_str() {
                s @ ("male" | "female") => s.to_owned(),
                _ => String::from("unknown"),
            };
            // The bot's own private message (get_msg, history) is to its target.
            let private_peer = match opt_int(ev, "target_id") {
                Some(t) if user == self_id => t,
                _ => user,
            };
            let mut m = json!({
                "peer_id": if ev["message_type"] == "group" { g } else { private_peer },
                "message_seq": seq, "sender_id": user, "time": time, "segments": segments,
            });
            let map = m.as_object_mut()?;
            if ev.get("message_type").and_then(Value::as_str) == Some("group") {
                let role = match text(&sender, "role").as_str() {
                    r @ ("owner" | "admin") => r.to_owned(),
                    _ => String::from("member"),
                };
                map.insert("message_scene".into(), json!("group"));
                map.insert("group".into(), group_entity(g, ""));
                map.insert(
                    "group_member".into(),
                    json!({
                        "user_id": user, "nickname": nickname, "sex": sex, "group_id": g,
                        "card": text(&sender, "card"), "title": text(&sender, "title"),
                        "level": int(&sender, "level"), "role": role, "join_time": 0, "last_sent_time": time,
                    }),
                );
            } else if ev.get("sub_type").and_then(Value::as_str) == Some("group") {
                map.insert("message_scene".into(), json!("temp"));
                map.insert("group".into(), Value::Null);
            } else {
                map.insert("message_scene".into(), json!("friend"));
                map.insert("friend".into(), friend_entity(user, &nickname, &sex));
            }
            out("message_receive", m)
        }
        "notice" => match ev.get("notice_type").and_then(Value::as_str)? {
            "group_recall" => out(
                "message_recall",
                json!({"message_scene": "group", "peer_id": g, "message_seq": int(ev, "message_id"), "sender_id": user, "operator_id": opt_int(ev, "operator_id").unwrap_or(user), "display_suffix": ""}),
            ),
            "friend_recall" => out(
                "message_recall",
                json!({"message_scene": "friend", "peer_id": user, "message_seq": int(ev, "message_id"), "sender_id": user, "operator_id": user, "display_suffix": ""}),
            ),
            "notify" => match ev.get("sub_type").and_then(Value::as_str)? {
                "poke" if g != 0 => out(
                    "group_nudge",
                    json!({"group_id": g, "sender_id": user, "receiver_id": int(ev, "target_id"), "display_action": "戳了戳", "display_suffix": "", "display_action_img_url": ""}),
                ),
                "poke" => {
                    let target = int(ev, "target_id");
                    let other = if user == self_id { target } else { user };
                    out(
                        "friend_nudge",
                        json!({"user_id": other, "is_self_send": user == self_id, "is_self_receive": target == self_id, "display_action": "戳了戳", "display_suffix": "", "display_action_img_url": ""}),
                    )
                }
                "group_name" => out(
                    "group_name_change",
                    json!({"group_id": g, "new_group_name": text(ev, "name_new"), "operator_id": user}),
                ),
                _ => None,
            },
            "group_increase" => {
                let op = opt_int(ev, "operator_id").filter(|o| *o != 0);
                let invite = ev.get("sub_type").and_then(Value::as_str) == Some("invite");
                out(
                    "group_member_increase",
                    json!({"group_id": g, "user_id": user, "operator_id": if invite { None } else { op }, "invitor_id": if invite { op } else { None }}),
                )
            }
            "group_decrease" => {
                let op = opt_int(ev, "operator_id").filter(|o| *o != 0 && *o != user);
                out(
                    "group_member_decrease",
                    json!({"group_id": g, "user_id": user, "operator_id": op}),
                )
            }
            "group_admin" => out(
                "group_admin_change",
                json!({"group_id": g, "user_id": user, "operator_id": 0, "is_set": ev["sub_type"] == "set"}),
            ),
            "group_ban" if user == 0 => out(
                "group_whole_mute",
                json!({"group_id": g, "operator_id": int(ev, "operator_id"), "is_mute": ev["sub_type"] == "ban"}),
            ),
            "group_ban" => out(
                "group_mute",
                json!({"group_id": g, "user_id": user, "operator_id": int(ev, "operator_id"), "duration": if ev["sub_type"] == "ban" { int(ev, "duration") } else { 0 }}),
            ),
            "group_upload" => {
                let f = ev.get("file").cloned().unwrap_or(Value::Null);
                out(
                    "group_file_upload",
                    json!({"group_id": g, "user_id": user, "file_id": text(&f, "id"), "file_name": text(&f, "name"), "file_size": int(&f, "size")}),
                )
            }
            "offline_file" => {
                let f = ev.get("file").cloned().unwrap_or(Value::Null);
                out(
                    "friend_file_upload",
                    json!({"user_id": user, "file_id": text(&f, "id"), "file_name": text(&f, "name"), "file_size": int(&f, "size"), "file_hash": "", "is_self": false}),
                )
            }
            "essence" => out(
                "group_essence_message_change",
                json!({"group_id": g, "message_seq": int(ev, "message_id"), "operator_id": int(ev, "operator_id"), "is_set": ev["sub_type"] == "add"}),
            ),
            "group_msg_emoji_like" => {
                let face = ev
                    .pointer("/likes/0/emoji_id")
                    .and_then(as_text)
                    .unwrap_or_default();
                out(
                    "group_message_reaction",
                    json!({"group_id": g, "user_id": user, "message_seq": int(ev, "message_id"), "face_id": face, "reaction_type": "face", "is_add": ev.get("is_add").and_then(Value::as_bool).unwrap_or(true)}),
                )
            }
            "bot_offline" => out("bot_offline", json!({"reason": text(ev, "message")})),
            _ => None,
        },
        "request" => {
            let flag = text(ev, "flag");
            match (
                ev.get("request_type").and_then(Value::as_str)?,
                ev.get("sub_type").and_then(Value::as_str),
            ) {
                ("friend", _) => out(
                    "friend_request",
                    json!({"initiator_id": user, "initiator_uid": flag, "comment": text(ev, "comment"), "via": ""}),
                ),
                ("group", Some("invite")) => out(
                    "group_invitation",
                    json!({"group_id": g, "invitation_seq": flags.seq_of(&flag), "initiator_id": user}),
                ),
                ("group", _) => out(
                    "group_join_request",
                    json!({"group_id": g, "notification_seq": flags.seq_of(&flag), "is_filtered": false, "initiator_id": user, "comment": text(ev, "comment")}),
                ),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A Milky `GroupEntity` from what a v11 peer tells.
pub fn group_entity(group_id: i64, name: &str) -> Value {
    json!({"group_id": group_id, "group_name": name, "member_count": 0, "max_member_count": 0})
}

/// A Milky `FriendEntity` from what a v11 peer tells.
pub fn friend_entity(user_id: i64, nickname: &str, sex: &str) -> Value {
    json!({
        "user_id": user_id, "nickname": nickname, "sex": sex, "qid": "", "remark": "",
        "category": {"category_id": 0, "category_name": ""},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Plus1000;
    impl MessageIds for Plus1000 {
        fn id_of(&self, _: Scene, _: i64, seq: i64) -> i64 {
            seq + 1000
        }
        fn message(&self, id: i64) -> Option<(Scene, i64, i64)> {
            Some((Scene::Group, 0, id - 1000))
        }
    }
    struct Seven;
    impl FlagSeqs for Seven {
        fn seq_of(&self, _: &str) -> i64 {
            7
        }
    }

    fn v11(ev: Value) -> Value {
        match event_to_v11(&ev, 10000, &Plus1000) {
            FromMilky::Event(e) => e,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_group_message_becomes_a_v11_message_and_back() {
        let milky = json!({"time": 5, "self_id": 10000, "event_type": "message_receive", "data": {
            "message_scene": "group", "peer_id": 20000, "message_seq": 3, "sender_id": 42, "time": 5,
            "segments": [{"type": "text", "data": {"text": "ping"}}],
            "group": {"group_id": 20000, "group_name": "g", "member_count": 2, "max_member_count": 200},
            "group_member": {"user_id": 42, "nickname": "Ann", "sex": "female", "group_id": 20000, "card": "A", "title": "", "level": 3, "role": "admin", "join_time": 0, "last_sent_time": 0},
        }});
        let e = v11(milky);
        assert_eq!(e["post_type"], "message");
        assert_eq!(e["message_type"], "group");
        assert_eq!(e["message_id"], 1003);
        assert_eq!(e["group_id"], 20000);
        assert_eq!(e["raw_message"], "ping");
        assert_eq!(e["sender"]["role"], "admin");
        let back = event_from_v11(&e, 10000, &Seven).unwrap();
        assert_eq!(back["event_type"], "message_receive");
        assert_eq!(back["data"]["message_scene"], "group");
        assert_eq!(back["data"]["peer_id"], 20000);
        assert_eq!(back["data"]["message_seq"], 1003);
        assert_eq!(back["data"]["group_member"]["role"], "admin");
        assert_eq!(back["data"]["segments"][0]["data"]["text"], "ping");
    }

    #[test]
    fn notices_and_requests_map_row_by_row() {
        let ev =
            |t: &str, d: Value| json!({"time": 1, "self_id": 10000, "event_type": t, "data": d});
        let e = v11(ev(
            "message_recall",
            json!({"message_scene": "group", "peer_id": 2, "message_seq": 9, "sender_id": 3, "operator_id": 4, "display_suffix": ""}),
        ));
        assert_eq!(
            (
                e["notice_type"].as_str(),
                e["message_id"].as_i64(),
                e["operator_id"].as_i64()
            ),
            (Some("group_recall"), Some(1009), Some(4))
        );
        let e = v11(ev(
            "message_recall",
            json!({"message_scene": "friend", "peer_id": 3, "message_seq": 9, "sender_id": 3, "operator_id": 3, "display_suffix": ""}),
        ));
        assert_eq!(e["notice_type"], "friend_recall");
        let e = v11(ev(
            "group_nudge",
            json!({"group_id": 2, "sender_id": 3, "receiver_id": 10000, "display_action": "", "display_suffix": "", "display_action_img_url": ""}),
        ));
        assert_eq!(
            (e["sub_type"].as_str(), e["target_id"].as_i64()),
            (Some("poke"), Some(10000))
        );
        let e = v11(ev(
            "group_mute",
            json!({"group_id": 2, "user_id": 3, "operator_id": 4, "duration": 0}),
        ));
        assert_eq!(
            (e["notice_type"].as_str(), e["sub_type"].as_str()),
            (Some("group_ban"), Some("lift_ban"))
        );
        let e = v11(ev(
            "group_member_decrease",
            json!({"group_id": 2, "user_id": 3, "operator_id": 4}),
        ));
        assert_eq!(e["sub_type"], "kick");
        let e = v11(ev(
            "group_essence_message_change",
            json!({"group_id": 2, "message_seq": 5, "operator_id": 4, "is_set": true}),
        ));
        assert_eq!(
            (e["notice_type"].as_str(), e["message_id"].as_i64()),
            (Some("essence"), Some(1005))
        );
        let e = v11(ev(
            "group_message_reaction",
            json!({"group_id": 2, "user_id": 3, "message_seq": 5, "face_id": "76", "reaction_type": "face", "is_add": true}),
        ));
        assert_eq!(e["notice_type"], "group_msg_emoji_like");
        let e = v11(ev(
            "friend_request",
            json!({"initiator_id": 3, "initiator_uid": "u_x:y", "comment": "hi", "via": ""}),
        ));
        assert_eq!(e["flag"], "milky:friend:0:u_x:y");
        assert_eq!(
            e["flag"].as_str().unwrap().parse::<Flag>().unwrap(),
            Flag::Friend {
                uid: "u_x:y".into(),
                filtered: false
            }
        );
        let e = v11(ev(
            "group_join_request",
            json!({"group_id": 2, "notification_seq": 8, "is_filtered": true, "initiator_id": 3, "comment": ""}),
        ));
        assert_eq!(
            e["flag"].as_str().unwrap().parse::<Flag>().unwrap(),
            Flag::Join {
                group: 2,
                seq: 8,
                filtered: true
            }
        );
        let e = v11(ev(
            "group_invitation",
            json!({"group_id": 2, "invitation_seq": 8, "initiator_id": 3}),
        ));
        assert_eq!(
            (e["sub_type"].as_str(), e["flag"].as_str()),
            (Some("invite"), Some("milky:invitation:2:8"))
        );
        let e = v11(ev(
            "group_disband",
            json!({"group_id": 2, "operator_id": 3}),
        ));
        assert_eq!(e["notice_type"], "group_disband");
        assert_eq!(
            event_to_v11(&ev("nope", json!({})), 1, &Plus1000),
            FromMilky::Unknown("nope".into())
        );
        assert!(matches!(
            event_to_v11(&json!({"data": {}}), 1, &Plus1000),
            FromMilky::Malformed(_)
        ));
        assert!("friend:x".parse::<Flag>().is_err());
    }

    #[test]
    fn v11_notices_reach_milky_apps_as_their_events() {
        let n = |f: Value| {
            let mut e = json!({"time": 1, "self_id": 10000, "post_type": "notice"});
            e.as_object_mut()
                .unwrap()
                .extend(f.as_object().unwrap().clone());
            event_from_v11(&e, 10000, &Seven)
        };
        let m = n(json!({"notice_type": "group_recall", "group_id": 2, "user_id": 3, "operator_id": 3, "message_id": 9})).unwrap();
        assert_eq!(
            (m["event_type"].as_str(), m["data"]["message_seq"].as_i64()),
            (Some("message_recall"), Some(9))
        );
        let m = n(json!({"notice_type": "notify", "sub_type": "poke", "group_id": 2, "user_id": 3, "target_id": 10000})).unwrap();
        assert_eq!(m["event_type"], "group_nudge");
        let m = n(
            json!({"notice_type": "notify", "sub_type": "poke", "user_id": 3, "target_id": 10000}),
        )
        .unwrap();
        assert_eq!(
            (
                m["event_type"].as_str(),
                m["data"]["is_self_receive"].as_bool()
            ),
            (Some("friend_nudge"), Some(true))
        );
        let m = n(json!({"notice_type": "group_ban", "sub_type": "ban", "group_id": 2, "user_id": 0, "operator_id": 1, "duration": -1})).unwrap();
        assert_eq!(m["event_type"], "group_whole_mute");
        assert!(n(json!({"notice_type": "something_else"})).is_none());
        let r = event_from_v11(&json!({"time": 1, "post_type": "request", "request_type": "group", "sub_type": "add", "group_id": 2, "user_id": 3, "flag": "f1", "comment": "c"}), 10000, &Seven).unwrap();
        assert_eq!(
            (
                r["event_type"].as_str(),
                r["data"]["notification_seq"].as_i64()
            ),
            (Some("group_join_request"), Some(7))
        );
        assert!(event_from_v11(
            &json!({"post_type": "meta_event", "meta_event_type": "heartbeat"}),
            1,
            &Seven
        )
        .is_none());
    }
}
