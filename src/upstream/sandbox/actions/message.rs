//! Messages: sending (plain, forward, poke segments), fetching, history,
//! recall, essence, emoji likes, pokes, read marks and recent contacts.

use serde_json::{json, Value};

use crate::protocol::action::{
    DeleteEssenceMsg, DeleteMsg, FetchEmojiLike, FriendPoke, GetEssenceMsgList, GetForwardMsg,
    GetFriendMsgHistory, GetGroupMsgHistory, GetMsg, GetRecentContact, GroupPoke,
    MarkGroupMsgAsRead, MarkMsgAsRead, MarkPrivateMsgAsRead, MessageType, SendForwardMsg,
    SendGroupForwardMsg, SendGroupMsg, SendMsg, SendPoke, SendPrivateForwardMsg, SendPrivateMsg,
    SetEssenceMsg, SetMsgEmojiLike,
};
use crate::protocol::de::{as_i64, as_text, is_blank};
use crate::protocol::message::{to_array, to_cq_string, Message};
use crate::upstream::sandbox::params::{Fail, Out};
use crate::upstream::sandbox::store::{media_url, seg_str, Ctx, MemberRole, MsgRow};

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chat {
    /// A group.
    Group(i64),
    /// A private chat with a user.
    Private(i64),
}

impl Chat {
    /// The group, for a group target.
    pub fn group_id(self) -> Option<i64> {
        match self {
            Self::Group(g) => Some(g),
            Self::Private(_) => None,
        }
    }

    /// The conversation's other side: the group, or the user.
    pub fn peer_id(self) -> i64 {
        match self {
            Self::Group(id) | Self::Private(id) => id,
        }
    }
}

/// Turns a message value (CQ string, segment array or one segment) into a
/// checked segment array; `null` is a missing message.
pub fn message_value(value: &Value, field: &str, auto_escape: bool) -> Out<Vec<Value>> {
    const EXPECTED: &str = "expected a CQ string or an array of segments";
    let segs = match value {
        Value::String(s) if auto_escape => vec![json!({"type": "text", "data": {"text": s}})],
        Value::String(_) | Value::Array(_) => match to_array(value) {
            Value::Array(a) => a,
            _ => Vec::new(),
        },
        Value::Object(o) if o.contains_key("type") => vec![value.clone()],
        Value::Null => return Err(Fail::bad(field, format!("missing; {EXPECTED}"))),
        _ => return Err(Fail::bad(field, EXPECTED)),
    };
    let mut out = Vec::with_capacity(segs.len());
    for (i, seg) in segs.into_iter().enumerate() {
        let Some(kind) = seg.get("type").and_then(Value::as_str) else {
            return Err(Fail::bad(
                field,
                format!("segment {i} has no string `type`"),
            ));
        };
        let data = match seg.get("data") {
            None | Some(Value::Null) => json!({}),
            Some(d @ Value::Object(_)) => d.clone(),
            Some(_) => {
                return Err(Fail::bad(
                    field,
                    format!("segment {i} (`{kind}`): `data` must be an object"),
                ))
            }
        };
        if kind == "text" && data.get("text").and_then(seg_str).is_none() {
            return Err(Fail::bad(
                field,
                format!("segment {i} (`text`) has no `text`"),
            ));
        }
        out.push(json!({"type": kind, "data": data}));
    }
    let blank = out.iter().all(|s| {
        s["type"] == "text"
            && s["data"]
                .get("text")
                .and_then(seg_str)
                .is_some_and(|t| t.is_empty())
    });
    if blank {
        return Err(Fail::bad(field, "the message is empty"));
    }
    Ok(out)
}

fn data_i64(seg: &Value, key: &str) -> Option<i64> {
    seg.get("data")
        .and_then(|d| d.get(key))
        .and_then(crate::protocol::de::as_i64)
}

fn seg_type(seg: &Value) -> &str {
    seg.get("type").and_then(Value::as_str).unwrap_or("")
}

/// The private-chat sub type for a peer, or `unknown user` when the bot has
/// no way to reach them (not a friend, no shared group).
pub fn private_sub_type(ctx: &Ctx<'_>, user_id: i64) -> Out<&'static str> {
    if ctx.is_friend(user_id)? {
        return Ok("friend");
    }
    let shared: Option<i64> = rusqlite::OptionalExtension::optional(ctx.db.query_row(
        "SELECT group_id FROM members WHERE self_id=?1 AND user_id=?2 LIMIT 1",
        rusqlite::params![ctx.self_id, user_id],
        |r| r.get(0),
    ))?;
    if shared.is_some() {
        Ok("group")
    } else {
        Err(Fail::unknown("user", user_id))
    }
}

/// Sends a message from the bot: checks the target, turns `poke` segments
/// into poke notices, stores the rest and publishes `message_sent`.
pub fn send(ctx: &mut Ctx<'_>, target: Chat, segs: Vec<Value>) -> Out<Value> {
    if !segs.is_empty() && segs.iter().all(|s| seg_type(s) == "node") {
        return send_forward(ctx, target, &Value::Array(segs), "message");
    }
    let sub_type = match target {
        Chat::Group(g) => {
            let group = ctx.group(g)?;
            let me = ctx.member_req(g, ctx.self_id)?;
            if me.ban_until > ctx.now {
                return Err(Fail::forbidden(format!(
                    "the bot is muted in group {g} until {}",
                    me.ban_until
                )));
            }
            if group.whole_ban && me.role == MemberRole::Member {
                return Err(Fail::forbidden(format!(
                    "group {g} is muted (whole-group ban)"
                )));
            }
            "normal"
        }
        Chat::Private(u) => private_sub_type(ctx, u)?,
    };
    let mut kept = Vec::with_capacity(segs.len());
    let mut pokes = Vec::new();
    for seg in segs {
        match seg_type(&seg) {
            "poke" => {
                let target_id = match (data_i64(&seg, "qq"), target) {
                    (Some(q), _) => q,
                    (None, Chat::Private(u)) => u,
                    (None, Chat::Group(_)) => {
                        return Err(Fail::bad(
                            "message",
                            "a `poke` segment in a group needs `qq`",
                        ))
                    }
                };
                pokes.push(target_id);
            }
            "reply" => {
                let id = data_i64(&seg, "id").ok_or_else(|| {
                    Fail::bad("message", "a `reply` segment needs an integer `id`")
                })?;
                ctx.message(id)?;
                kept.push(seg);
            }
            "at" => {
                let qq = seg
                    .get("data")
                    .and_then(|d| d.get("qq"))
                    .and_then(seg_str)
                    .unwrap_or_default();
                if qq == "all" {
                    if let Chat::Group(g) = target {
                        use_at_all(ctx, g)?;
                    }
                }
                kept.push(seg);
            }
            "image" | "record" | "video" => {
                let mut seg = seg;
                let file = seg["data"]
                    .get("file")
                    .and_then(seg_str)
                    .unwrap_or_default();
                if file.is_empty() {
                    return Err(Fail::bad(
                        "message",
                        format!("an `{}` segment needs `file`", seg_type(&seg)),
                    ));
                }
                if seg["data"].get("url").is_none() {
                    let kind = seg_type(&seg).to_owned();
                    seg["data"]["url"] = json!(media_url(&kind, &file));
                }
                kept.push(seg);
            }
            _ => kept.push(seg),
        }
    }
    for target_id in pokes {
        poke_notice(ctx, target, ctx.self_id, target_id)?;
    }
    if kept.is_empty() {
        // go-cqhttp: a message that is only a poke cannot be recalled; its id is 0.
        return Ok(json!({"message_id": 0}));
    }
    let stored = store_from_bot(ctx, target, sub_type, kept)?;
    Ok(json!({"message_id": stored.message_id}))
}

fn use_at_all(ctx: &Ctx<'_>, group_id: i64) -> Out<()> {
    ctx.require_role(group_id, MemberRole::Admin, "@all")?;
    let day = ctx.now / 86_400;
    let (d, used): (i64, i64) = ctx.db.query_row(
        "SELECT at_all_day, at_all_used FROM groups WHERE self_id=?1 AND group_id=?2",
        rusqlite::params![ctx.self_id, group_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let used = if d == day { used } else { 0 };
    if used >= AT_ALL_PER_DAY {
        return Err(Fail::forbidden(format!(
            "no @all left today in group {group_id}"
        )));
    }
    ctx.db.execute(
        "UPDATE groups SET at_all_day=?3, at_all_used=?4 WHERE self_id=?1 AND group_id=?2",
        rusqlite::params![ctx.self_id, group_id, day, used + 1],
    )?;
    Ok(())
}

/// How many times a day the bot may @all in a group.
pub const AT_ALL_PER_DAY: i64 = 10;

/// @all uses left today in a group.
pub fn at_all_remaining(ctx: &Ctx<'_>, group_id: i64) -> Out<i64> {
    let (d, used): (i64, i64) = ctx.db.query_row(
        "SELECT at_all_day, at_all_used FROM groups WHERE self_id=?1 AND group_id=?2",
        rusqlite::params![ctx.self_id, group_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(AT_ALL_PER_DAY - if d == ctx.now / 86_400 { used } else { 0 })
}

fn store_from_bot(
    ctx: &mut Ctx<'_>,
    target: Chat,
    sub_type: &str,
    segs: Vec<Value>,
) -> Out<MsgRow> {
    let sender = ctx.sender(target.group_id(), ctx.self_id)?;
    let row = new_row(
        ctx,
        target,
        sub_type,
        ctx.self_id,
        segs,
        sender,
        Value::Null,
    );
    let row = ctx.insert_message(row)?;
    ctx.next("message_sent")?;
    let mut ev = row.to_json(ctx.self_id);
    ev["post_type"] = json!("message_sent");
    ctx.push(ev);
    Ok(row)
}

/// A message row before it is stored (its id is allocated by the store):
/// type, peer and CQ form all follow from the target and the segments.
fn new_row(
    ctx: &Ctx<'_>,
    target: Chat,
    sub_type: &str,
    user_id: i64,
    segs: Vec<Value>,
    sender: Value,
    anonymous: Value,
) -> MsgRow {
    let message = Value::Array(segs);
    MsgRow {
        message_id: 0,
        message_type: match target {
            Chat::Group(_) => "group",
            Chat::Private(_) => "private",
        }
        .into(),
        sub_type: sub_type.into(),
        group_id: target.group_id(),
        peer_id: target.peer_id(),
        user_id,
        time: ctx.now,
        raw_message: to_cq_string(&message),
        message,
        sender,
        anonymous,
        font: 0,
        recalled: false,
    }
}

/// Stores a message someone else sent to the bot and publishes the event.
pub fn receive(
    ctx: &mut Ctx<'_>,
    target: Chat,
    user_id: i64,
    segs: Vec<Value>,
    anonymous: Value,
) -> Out<MsgRow> {
    let (group_id, peer_id) = (target.group_id(), target.peer_id());
    let sub_type = match target {
        Chat::Group(_) if anonymous.is_null() => "normal",
        Chat::Group(_) => "anonymous",
        Chat::Private(u) => {
            if ctx.is_friend(u)? {
                "friend"
            } else {
                "group"
            }
        }
    };
    let (author, sender) = if anonymous.is_null() {
        (user_id, ctx.sender(group_id, user_id)?)
    } else {
        (
            ANONYMOUS_USER_ID,
            json!({"user_id": ANONYMOUS_USER_ID, "nickname": anonymous["name"], "card": "", "role": "member", "sex": "unknown", "age": 0, "level": "", "area": "", "title": ""}),
        )
    };
    let row = new_row(ctx, target, sub_type, author, segs, sender, anonymous);
    let row = ctx.insert_message(row)?;
    if group_id.is_some() && !row.anonymous.is_null() {
        // The real sender still spoke: keep their last_sent_time right.
        ctx.db.execute(
            "UPDATE members SET last_sent_time=?4 WHERE self_id=?1 AND group_id=?2 AND user_id=?3",
            rusqlite::params![ctx.self_id, peer_id, user_id, ctx.now],
        )?;
    }
    ctx.next("message_received")?;
    let mut ev = row.to_json(ctx.self_id);
    ev["post_type"] = json!("message");
    ctx.push(ev);
    Ok(row)
}

/// The user id anonymous group messages carry (as go-cqhttp reports them).
pub const ANONYMOUS_USER_ID: i64 = 80_000_000;

/// Publishes a `notify/poke` notice.
pub fn poke_notice(ctx: &mut Ctx<'_>, target: Chat, from: i64, to: i64) -> Out<()> {
    match target {
        Chat::Group(g) => {
            ctx.member_req(g, to)?;
            ctx.notice(
                "notify",
                json!({"sub_type": "poke", "group_id": g, "user_id": from, "sender_id": from, "target_id": to}),
            );
        }
        Chat::Private(_) => {
            ctx.notice(
                "notify",
                json!({"sub_type": "poke", "user_id": from, "sender_id": from, "target_id": to}),
            );
        }
    }
    Ok(())
}

/// `send_private_msg`.
pub fn send_private_msg(ctx: &mut Ctx<'_>, p: &SendPrivateMsg) -> Out {
    let segs = message_value(&p.message.0, "message", p.auto_escape)?;
    send(ctx, Chat::Private(p.user_id), segs)
}

/// `send_group_msg`.
pub fn send_group_msg(ctx: &mut Ctx<'_>, p: &SendGroupMsg) -> Out {
    let segs = message_value(&p.message.0, "message", p.auto_escape)?;
    send(ctx, Chat::Group(p.group_id), segs)
}

/// `send_msg`.
pub fn send_msg(ctx: &mut Ctx<'_>, p: &SendMsg) -> Out {
    let segs = message_value(&p.message.0, "message", p.auto_escape)?;
    send(ctx, target_of(p.message_type, p.group_id, p.user_id), segs)
}

/// The target of `send_msg`-like actions (their params guarantee the id the type needs).
fn target_of(kind: MessageType, group_id: Option<i64>, user_id: Option<i64>) -> Chat {
    match kind {
        MessageType::Group => Chat::Group(group_id.unwrap_or_default()),
        MessageType::Private => Chat::Private(user_id.unwrap_or_default()),
    }
}

/// Resolves forward nodes (references by `id`, or custom nodes) into stored
/// node objects `{user_id, nickname, time, content}`.
fn resolve_nodes(ctx: &mut Ctx<'_>, nodes: &Value, field: &str) -> Out<Vec<Value>> {
    let list = Message::from_value(nodes)
        .map_err(|e| Fail::bad(field, format!("expected {}", e.expected)))?
        .0;
    if list.is_empty() {
        return Err(Fail::bad(field, "no `node` segments"));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, seg) in list.iter().enumerate() {
        if seg.kind != "node" {
            return Err(Fail::bad(
                field,
                format!("element {i} is not a `node` segment"),
            ));
        }
        seg.validate()
            .map_err(|e| Fail::bad(field, format!("node {i}: {e}")))?;
        let d = &seg.data;
        let int = |k: &str| d.get(k).filter(|v| !is_blank(v)).and_then(as_i64);
        // An `id` references a stored message; it wins over custom content.
        if let Some(id) = int("id") {
            let m = ctx.live_message(id)?;
            out.push(json!({
                "user_id": m.user_id,
                "nickname": m.sender.get("nickname").cloned().unwrap_or(json!("")),
                "time": m.time,
                "message_id": m.message_id,
                "content": m.message,
            }));
            continue;
        }
        let user_id = int("user_id").or_else(|| int("uin")).ok_or_else(|| {
            Fail::bad(
                field,
                format!("node {i} needs an integer `uin` or `user_id`"),
            )
        })?;
        let nickname = match ["nickname", "name"]
            .iter()
            .find_map(|k| d.get(*k).and_then(as_text))
        {
            Some(n) => n,
            None => ctx.nickname(user_id)?,
        };
        let content = match d.get("content") {
            Some(one @ Value::Object(_)) => Value::Array(vec![one.clone()]),
            Some(v) => v.clone(),
            None => Value::Null,
        };
        let mut segs = message_value(&content, field, false)?;
        if segs.iter().all(|s| seg_type(s) == "node") {
            // A forward inside a forward.
            let inner = resolve_nodes(ctx, &Value::Array(segs), field)?;
            let fid = store_forward(ctx, &inner)?;
            segs = vec![json!({"type": "forward", "data": {"id": fid}})];
        }
        out.push(json!({
            "user_id": user_id,
            "nickname": nickname,
            "time": int("time").unwrap_or(ctx.now),
            "content": segs,
        }));
    }
    Ok(out)
}

fn store_forward(ctx: &Ctx<'_>, nodes: &[Value]) -> Out<String> {
    let n = ctx.next("forward_id")?;
    let fid = format!("sandbox-forward-{}-{n}", ctx.self_id);
    ctx.db.execute(
        "INSERT INTO forwards(self_id, forward_id, nodes, time) VALUES(?1,?2,?3,?4)",
        rusqlite::params![
            ctx.self_id,
            fid,
            Value::Array(nodes.to_vec()).to_string(),
            ctx.now
        ],
    )?;
    Ok(fid)
}

/// Sends a forward message built from nodes.
pub fn send_forward(ctx: &mut Ctx<'_>, target: Chat, nodes: &Value, field: &str) -> Out {
    match target {
        Chat::Group(g) => {
            ctx.group(g)?;
        }
        Chat::Private(u) => {
            private_sub_type(ctx, u)?;
        }
    }
    let resolved = resolve_nodes(ctx, nodes, field)?;
    let fid = store_forward(ctx, &resolved)?;
    let seg = json!({"type": "forward", "data": {"id": fid}});
    let sent = send(ctx, target, vec![seg])?;
    Ok(json!({"message_id": sent["message_id"], "forward_id": fid, "res_id": fid}))
}

/// `send_group_forward_msg`.
pub fn send_group_forward_msg(ctx: &mut Ctx<'_>, p: &SendGroupForwardMsg) -> Out {
    send_forward(ctx, Chat::Group(p.group_id), &p.messages.0, "messages")
}

/// `send_private_forward_msg`.
pub fn send_private_forward_msg(ctx: &mut Ctx<'_>, p: &SendPrivateForwardMsg) -> Out {
    send_forward(ctx, Chat::Private(p.user_id), &p.messages.0, "messages")
}

/// `send_forward_msg`.
pub fn send_forward_msg(ctx: &mut Ctx<'_>, p: &SendForwardMsg) -> Out {
    let target = target_of(p.message_type, p.group_id, p.user_id);
    send_forward(ctx, target, &p.messages.0, "messages")
}

/// `get_msg`.
pub fn get_msg(ctx: &mut Ctx<'_>, p: &GetMsg) -> Out {
    let m = ctx.live_message(p.message_id)?;
    Ok(m.to_json(ctx.self_id))
}

/// `get_forward_msg`: by forward id, or by the id of a message holding one.
pub fn get_forward_msg(ctx: &mut Ctx<'_>, p: &GetForwardMsg) -> Out {
    let id = &p.id;
    let mut nodes: Option<String> = rusqlite::OptionalExtension::optional(ctx.db.query_row(
        "SELECT nodes FROM forwards WHERE self_id=?1 AND forward_id=?2",
        rusqlite::params![ctx.self_id, id],
        |r| r.get(0),
    ))?;
    if nodes.is_none() {
        // A message id whose message is a forward.
        if let Ok(mid) = id.trim().parse::<i64>() {
            if let Ok(m) = ctx.live_message(mid) {
                let fid = m.message.as_array().and_then(|segs| {
                    segs.iter()
                        .find(|s| seg_type(s) == "forward")
                        .and_then(|s| s["data"].get("id").and_then(seg_str))
                });
                if let Some(fid) = fid {
                    nodes = rusqlite::OptionalExtension::optional(ctx.db.query_row(
                        "SELECT nodes FROM forwards WHERE self_id=?1 AND forward_id=?2",
                        rusqlite::params![ctx.self_id, fid],
                        |r| r.get(0),
                    ))?;
                }
            }
        }
    }
    let nodes: Vec<Value> = nodes
        .and_then(|n| serde_json::from_str(&n).ok())
        .ok_or_else(|| Fail::unknown("forward message", id))?;
    let messages: Vec<Value> = nodes
        .iter()
        .map(|n| {
            json!({
                "time": n["time"],
                "message_type": "private",
                "user_id": n["user_id"],
                "sender": {"user_id": n["user_id"], "nickname": n["nickname"]},
                "content": n["content"],
                "message": n["content"],
                "raw_message": to_cq_string(&n["content"]),
            })
        })
        .collect();
    let standard: Vec<Value> = nodes
        .iter()
        .map(|n| {
            json!({"type": "node", "data": {
                "user_id": n["user_id"], "nickname": n["nickname"], "content": n["content"]}})
        })
        .collect();
    Ok(json!({"messages": messages, "message": standard}))
}

/// `get_group_msg_history`.
pub fn group_msg_history(ctx: &mut Ctx<'_>, p: &GetGroupMsgHistory) -> Out {
    ctx.group(p.group_id)?;
    history(
        ctx,
        "group",
        p.group_id,
        p.count,
        p.message_seq,
        p.reverse_order,
    )
}

/// `get_friend_msg_history`.
pub fn friend_msg_history(ctx: &mut Ctx<'_>, p: &GetFriendMsgHistory) -> Out {
    ctx.known_person(p.user_id)?;
    history(
        ctx,
        "private",
        p.user_id,
        p.count,
        p.message_seq,
        p.reverse_order,
    )
}

/// Up to `count` messages of a chat up to `seq` (the latest when absent or 0), oldest first.
fn history(
    ctx: &Ctx<'_>,
    kind: &str,
    peer: i64,
    count: i64,
    seq: Option<i64>,
    reverse: bool,
) -> Out {
    if !(1..=1000).contains(&count) {
        return Err(Fail::bad("count", "expected 1 to 1000"));
    }
    let before = seq.filter(|s| *s > 0).unwrap_or(i64::MAX);
    let mut page: Vec<Value> = ctx
        .messages_page(
            "message_type=? AND peer_id=? AND recalled=0 AND message_id<=?",
            &[&kind, &peer, &before],
            count,
        )?
        .into_iter()
        .map(|m| m.to_json(ctx.self_id))
        .collect();
    if reverse {
        page.reverse();
    }
    Ok(json!({"messages": page}))
}

/// `delete_msg`: the bot recalls a message (its own, or as an admin).
pub fn delete_msg(ctx: &mut Ctx<'_>, p: &DeleteMsg) -> Out {
    let m = ctx.live_message(p.message_id)?;
    recall(ctx, &m, ctx.self_id)?;
    Ok(Value::Null)
}

/// Recalls `m` on behalf of `operator` after checking they may.
pub fn recall(ctx: &mut Ctx<'_>, m: &MsgRow, operator: i64) -> Out<()> {
    if let Some(g) = m.group_id {
        if operator != m.user_id {
            let op = ctx.member_req(g, operator)?;
            let author_role = ctx
                .member(g, m.user_id)?
                .map(|a| a.role)
                .unwrap_or(MemberRole::Member);
            if op.role < MemberRole::Admin
                || (op.role <= author_role && m.user_id != ANONYMOUS_USER_ID)
            {
                return Err(Fail::forbidden(format!(
                    "{operator} cannot recall message {} of {} in group {g} (needs a higher role)",
                    m.message_id, m.user_id
                )));
            }
        }
        ctx.notice(
            "group_recall",
            json!({"group_id": g, "user_id": m.user_id, "operator_id": operator, "message_id": m.message_id}),
        );
    } else {
        if operator != m.user_id {
            return Err(Fail::forbidden(format!(
                "{operator} cannot recall private message {} sent by {}",
                m.message_id, m.user_id
            )));
        }
        ctx.notice(
            "friend_recall",
            json!({"user_id": m.peer_id, "operator_id": operator, "message_id": m.message_id}),
        );
    }
    ctx.db.execute(
        "UPDATE messages SET recalled=1 WHERE self_id=?1 AND message_id=?2",
        rusqlite::params![ctx.self_id, m.message_id],
    )?;
    ctx.db.execute(
        "DELETE FROM essence WHERE self_id=?1 AND message_id=?2",
        rusqlite::params![ctx.self_id, m.message_id],
    )?;
    Ok(())
}

/// Adds or removes an essence message for `operator`, publishing the notice.
pub fn set_essence(ctx: &mut Ctx<'_>, m: &MsgRow, operator: i64, add: bool) -> Out<()> {
    let Some(g) = m.group_id else {
        return Err(Fail::invalid(format!(
            "message {} is not a group message",
            m.message_id
        )));
    };
    let exists = rusqlite::OptionalExtension::optional(ctx.db.query_row(
        "SELECT 1 FROM essence WHERE self_id=?1 AND message_id=?2",
        rusqlite::params![ctx.self_id, m.message_id],
        |_| Ok(()),
    ))?
    .is_some();
    if add {
        if exists {
            return Ok(());
        }
        ctx.db.execute(
            "INSERT INTO essence(self_id, message_id, group_id, operator_id, operator_time) VALUES(?1,?2,?3,?4,?5)",
            rusqlite::params![ctx.self_id, m.message_id, g, operator, ctx.now],
        )?;
    } else {
        if !exists {
            return Err(Fail::unknown("essence message", m.message_id));
        }
        ctx.db.execute(
            "DELETE FROM essence WHERE self_id=?1 AND message_id=?2",
            rusqlite::params![ctx.self_id, m.message_id],
        )?;
    }
    ctx.notice(
        "essence",
        json!({"sub_type": if add {"add"} else {"delete"}, "group_id": g, "sender_id": m.user_id,
               "operator_id": operator, "message_id": m.message_id}),
    );
    Ok(())
}

/// `set_essence_msg`.
pub fn set_essence_msg(ctx: &mut Ctx<'_>, p: &SetEssenceMsg) -> Out {
    essence_action(ctx, p.message_id, true)
}

/// `delete_essence_msg`.
pub fn delete_essence_msg(ctx: &mut Ctx<'_>, p: &DeleteEssenceMsg) -> Out {
    essence_action(ctx, p.message_id, false)
}

/// The bot (an admin) adds or removes an essence message.
fn essence_action(ctx: &mut Ctx<'_>, message_id: i64, add: bool) -> Out {
    let m = ctx.live_message(message_id)?;
    if let Some(g) = m.group_id {
        ctx.require_role(
            g,
            MemberRole::Admin,
            if add {
                "set_essence_msg"
            } else {
                "delete_essence_msg"
            },
        )?;
    }
    set_essence(ctx, &m, ctx.self_id, add)?;
    Ok(Value::Null)
}

/// `get_essence_msg_list`.
pub fn essence_list(ctx: &mut Ctx<'_>, p: &GetEssenceMsgList) -> Out {
    let g = p.group_id;
    ctx.group(g)?;
    let mut stmt = ctx.db.prepare(
        "SELECT message_id, operator_id, operator_time FROM essence WHERE self_id=?1 AND group_id=?2 ORDER BY operator_time, message_id",
    )?;
    let rows: Vec<(i64, i64, i64)> = stmt
        .query_map(rusqlite::params![ctx.self_id, g], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    drop(stmt);
    let mut out = Vec::new();
    for (mid, op, op_time) in rows {
        let m = ctx.message(mid)?;
        out.push(json!({
            "sender_id": m.user_id,
            "sender_nick": m.sender.get("nickname").cloned().unwrap_or(json!("")),
            "sender_time": m.time,
            "operator_id": op,
            "operator_nick": ctx.nickname(op)?,
            "operator_time": op_time,
            "message_id": mid,
            "content": m.message,
        }));
    }
    Ok(Value::Array(out))
}

/// `set_msg_emoji_like`.
pub fn set_emoji_like(ctx: &mut Ctx<'_>, p: &SetMsgEmojiLike) -> Out {
    let m = ctx.live_message(p.message_id)?;
    emoji_like(ctx, &m, ctx.self_id, &p.emoji_id, p.set)?;
    Ok(Value::Null)
}

/// Records (or removes) `user_id`'s emoji reaction on a message.
pub fn emoji_like(ctx: &mut Ctx<'_>, m: &MsgRow, user_id: i64, emoji: &str, set: bool) -> Out<()> {
    if set {
        ctx.db.execute(
            "INSERT OR IGNORE INTO emoji_likes(self_id, message_id, emoji_id, user_id, time) VALUES(?1,?2,?3,?4,?5)",
            rusqlite::params![ctx.self_id, m.message_id, emoji, user_id, ctx.now],
        )?;
    } else {
        ctx.db.execute(
            "DELETE FROM emoji_likes WHERE self_id=?1 AND message_id=?2 AND emoji_id=?3 AND user_id=?4",
            rusqlite::params![ctx.self_id, m.message_id, emoji, user_id],
        )?;
    }
    if user_id != ctx.self_id {
        if let Some(g) = m.group_id {
            let count: i64 = ctx.db.query_row(
                "SELECT COUNT(*) FROM emoji_likes WHERE self_id=?1 AND message_id=?2 AND emoji_id=?3",
                rusqlite::params![ctx.self_id, m.message_id, emoji],
                |r| r.get(0),
            )?;
            ctx.notice(
                "group_msg_emoji_like",
                json!({"group_id": g, "user_id": user_id, "message_id": m.message_id, "is_add": set,
                       "likes": [{"emoji_id": emoji, "count": count}]}),
            );
        }
    }
    Ok(())
}

/// `fetch_emoji_like`.
pub fn fetch_emoji_like(ctx: &mut Ctx<'_>, p: &FetchEmojiLike) -> Out {
    let m = ctx.live_message(p.message_id)?;
    let (emoji, count) = (&p.emoji_id, p.count.clamp(1, 1000));
    let mut stmt = ctx.db.prepare(
        "SELECT user_id FROM emoji_likes WHERE self_id=?1 AND message_id=?2 AND emoji_id=?3 ORDER BY time, user_id LIMIT ?4",
    )?;
    let users: Vec<i64> = stmt
        .query_map(
            rusqlite::params![ctx.self_id, m.message_id, emoji, count],
            |r| r.get(0),
        )?
        .collect::<Result<_, _>>()?;
    drop(stmt);
    let mut list = Vec::new();
    for u in users {
        list.push(
            json!({"tinyId": u.to_string(), "nickName": ctx.nickname(u)?,
                         "headUrl": format!("http://sandbox.invalid/avatar/{u}")}),
        );
    }
    Ok(
        json!({"result": 0, "errMsg": "", "emojiLikesList": list, "cookie": "",
              "isLastPage": true, "isFirstPage": true}),
    )
}

/// `group_poke`.
pub fn group_poke(ctx: &mut Ctx<'_>, p: &GroupPoke) -> Out {
    poke(ctx, Some(p.group_id), p.user_id, p.target_id)
}

/// `friend_poke`.
pub fn friend_poke(ctx: &mut Ctx<'_>, p: &FriendPoke) -> Out {
    poke(ctx, None, p.user_id, p.target_id)
}

/// `send_poke`: in the group when one is given, else in the private chat.
pub fn send_poke(ctx: &mut Ctx<'_>, p: &SendPoke) -> Out {
    poke(ctx, p.group_id, p.user_id, p.target_id)
}

/// The bot pokes `target` (as NapCat: `user_id` when absent) in a group or
/// in the private chat with `user_id`.
fn poke(ctx: &mut Ctx<'_>, group: Option<i64>, user_id: i64, target: Option<i64>) -> Out {
    let target_id = target.unwrap_or(user_id);
    match group {
        Some(g) => {
            ctx.group(g)?;
            poke_notice(ctx, Chat::Group(g), ctx.self_id, target_id)?;
        }
        None => {
            private_sub_type(ctx, user_id)?;
            poke_notice(ctx, Chat::Private(user_id), ctx.self_id, target_id)?;
        }
    }
    Ok(Value::Null)
}

/// `mark_group_msg_as_read`.
pub fn mark_group_msg_as_read(ctx: &mut Ctx<'_>, p: &MarkGroupMsgAsRead) -> Out {
    read_group(ctx, p.group_id)
}

/// `mark_private_msg_as_read`.
pub fn mark_private_msg_as_read(ctx: &mut Ctx<'_>, p: &MarkPrivateMsgAsRead) -> Out {
    read_private(ctx, p.user_id)
}

/// `mark_msg_as_read`: the chat of `message_id`, else (NapCat) `user_id` or `group_id`.
pub fn mark_msg_as_read(ctx: &mut Ctx<'_>, p: &MarkMsgAsRead) -> Out {
    match (p.message_id, p.user_id, p.group_id) {
        (Some(id), _, _) => {
            let m = ctx.message(id)?;
            mark_read(ctx, &m.message_type, m.peer_id)
        }
        (None, Some(u), _) => read_private(ctx, u),
        (None, None, Some(g)) => read_group(ctx, g),
        // The params struct refuses this.
        (None, None, None) => Err(Fail::bad("message_id", "missing")),
    }
}

/// `_mark_all_as_read`: every chat.
pub fn mark_all_as_read(ctx: &mut Ctx<'_>) -> Out {
    let mut stmt = ctx
        .db
        .prepare("SELECT DISTINCT message_type, peer_id FROM messages WHERE self_id=?1")?;
    let chats: Vec<(String, i64)> = stmt
        .query_map([ctx.self_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    drop(stmt);
    for (kind, peer) in chats {
        mark_read(ctx, &kind, peer)?;
    }
    Ok(Value::Null)
}

fn read_group(ctx: &Ctx<'_>, group_id: i64) -> Out {
    ctx.group(group_id)?;
    mark_read(ctx, "group", group_id)
}

fn read_private(ctx: &Ctx<'_>, user_id: i64) -> Out {
    ctx.known_person(user_id)?;
    mark_read(ctx, "private", user_id)
}

/// Marks a chat read up to its latest message.
fn mark_read(ctx: &Ctx<'_>, kind: &str, peer: i64) -> Out {
    ctx.db.execute(
        "INSERT OR REPLACE INTO reads(self_id, chat_type, peer_id, message_id)
         VALUES(?1, ?2, ?3, (SELECT COALESCE(MAX(message_id), 0) FROM messages WHERE self_id=?1 AND message_type=?2 AND peer_id=?3))",
        rusqlite::params![ctx.self_id, kind, peer],
    )?;
    Ok(Value::Null)
}

/// `get_recent_contact`: the latest message of each chat, newest first.
pub fn recent_contact(ctx: &mut Ctx<'_>, p: &GetRecentContact) -> Out {
    let count = p.count;
    if count < 1 {
        return Err(Fail::bad("count", "expected a positive integer"));
    }
    let mut stmt = ctx.db.prepare(
        "SELECT message_type, peer_id, MAX(message_id) FROM messages WHERE self_id=?1 AND recalled=0
         GROUP BY message_type, peer_id ORDER BY MAX(message_id) DESC LIMIT ?2",
    )?;
    let chats: Vec<(String, i64, i64)> = stmt
        .query_map(rusqlite::params![ctx.self_id, count], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    drop(stmt);
    let mut out = Vec::new();
    for (kind, peer, last) in chats {
        let m = ctx.message(last)?;
        let read: i64 = rusqlite::OptionalExtension::optional(ctx.db.query_row(
            "SELECT message_id FROM reads WHERE self_id=?1 AND chat_type=?2 AND peer_id=?3",
            rusqlite::params![ctx.self_id, kind, peer],
            |r| r.get(0),
        ))?
        .unwrap_or(0);
        let unread: i64 = ctx.db.query_row(
            "SELECT COUNT(*) FROM messages WHERE self_id=?1 AND message_type=?2 AND peer_id=?3
             AND message_id>?4 AND user_id<>?1 AND recalled=0",
            rusqlite::params![ctx.self_id, kind, peer, read],
            |r| r.get(0),
        )?;
        let (peer_name, remark) = if kind == "group" {
            (
                ctx.group(peer).map(|g| g.name).unwrap_or_default(),
                String::new(),
            )
        } else {
            let remark: Option<String> = rusqlite::OptionalExtension::optional(ctx.db.query_row(
                "SELECT remark FROM friends WHERE self_id=?1 AND user_id=?2",
                rusqlite::params![ctx.self_id, peer],
                |r| r.get(0),
            ))?;
            (ctx.nickname(peer)?, remark.unwrap_or_default())
        };
        out.push(json!({
            "lastestMsg": m.to_json(ctx.self_id),
            "peerUin": peer.to_string(),
            "peerName": peer_name,
            "remark": remark,
            "msgTime": m.time.to_string(),
            "chatType": if kind == "group" { 2 } else { 1 },
            "msgId": m.message_id.to_string(),
            "sendNickName": m.sender.get("nickname").cloned().unwrap_or(json!("")),
            "sendMemberName": m.sender.get("card").cloned().unwrap_or(json!("")),
            "unreadCount": unread,
        }));
    }
    Ok(Value::Array(out))
}
