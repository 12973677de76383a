//! Messages: sending (plain, forward, poke segments), fetching, history,
//! recall, essence, emoji likes, pokes, read marks and recent contacts.

use serde_json::{json, Value};

use crate::protocol::message::{to_array, to_cq_string};
use crate::upstream::sandbox::params::{Fail, Out, P};
use crate::upstream::sandbox::store::{media_url, seg_str, Ctx, MsgRow, Role};

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A group.
    Group(i64),
    /// A private chat with a user.
    Private(i64),
}

impl Target {
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

/// Reads a `message` param (CQ string or segment array) as a segment array.
pub fn parse_message(p: &P<'_>, field: &str, auto_escape: bool) -> Out<Vec<Value>> {
    let value = p.get(field).ok_or_else(|| {
        Fail::bad(
            field,
            "missing; expected a CQ string or an array of segments",
        )
    })?;
    message_value(value, field, auto_escape)
}

/// Turns a message value into a checked segment array.
pub fn message_value(value: &Value, field: &str, auto_escape: bool) -> Out<Vec<Value>> {
    let array = match value {
        Value::String(s) if auto_escape => json!([{"type": "text", "data": {"text": s}}]),
        Value::String(_) => to_array(value),
        Value::Array(_) => value.clone(),
        Value::Object(o) if o.contains_key("type") => json!([value]),
        _ => {
            return Err(Fail::bad(
                field,
                "expected a CQ string or an array of segments",
            ))
        }
    };
    let Value::Array(segs) = array else {
        return Err(Fail::bad(
            field,
            "expected a CQ string or an array of segments",
        ));
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
        .and_then(crate::protocol::event::value_i64)
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
pub fn send(ctx: &mut Ctx<'_>, target: Target, segs: Vec<Value>) -> Out<Value> {
    if !segs.is_empty() && segs.iter().all(|s| seg_type(s) == "node") {
        return send_forward(ctx, target, &Value::Array(segs), "message");
    }
    let sub_type = match target {
        Target::Group(g) => {
            let group = ctx.group(g)?;
            let me = ctx.member_req(g, ctx.self_id)?;
            if me.ban_until > ctx.now {
                return Err(Fail::forbidden(format!(
                    "the bot is muted in group {g} until {}",
                    me.ban_until
                )));
            }
            if group.whole_ban && me.role == Role::Member {
                return Err(Fail::forbidden(format!(
                    "group {g} is muted (whole-group ban)"
                )));
            }
            "normal"
        }
        Target::Private(u) => private_sub_type(ctx, u)?,
    };
    let mut kept = Vec::with_capacity(segs.len());
    let mut pokes = Vec::new();
    for seg in segs {
        match seg_type(&seg) {
            "poke" => {
                let target_id = match (data_i64(&seg, "qq"), target) {
                    (Some(q), _) => q,
                    (None, Target::Private(u)) => u,
                    (None, Target::Group(_)) => {
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
                    if let Target::Group(g) = target {
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
    ctx.require_role(group_id, Role::Admin, "@all")?;
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
    target: Target,
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
    target: Target,
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
            Target::Group(_) => "group",
            Target::Private(_) => "private",
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
    target: Target,
    user_id: i64,
    segs: Vec<Value>,
    anonymous: Value,
) -> Out<MsgRow> {
    let (group_id, peer_id) = (target.group_id(), target.peer_id());
    let sub_type = match target {
        Target::Group(_) if anonymous.is_null() => "normal",
        Target::Group(_) => "anonymous",
        Target::Private(u) => {
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
pub fn poke_notice(ctx: &mut Ctx<'_>, target: Target, from: i64, to: i64) -> Out<()> {
    match target {
        Target::Group(g) => {
            ctx.member_req(g, to)?;
            ctx.notice(
                "notify",
                json!({"sub_type": "poke", "group_id": g, "user_id": from, "sender_id": from, "target_id": to}),
            );
        }
        Target::Private(_) => {
            ctx.notice(
                "notify",
                json!({"sub_type": "poke", "user_id": from, "sender_id": from, "target_id": to}),
            );
        }
    }
    Ok(())
}

/// `send_msg`, `send_private_msg`, `send_group_msg`.
pub fn send_action(ctx: &mut Ctx<'_>, action: &str, p: &P<'_>) -> Out {
    let target = match action {
        "send_private_msg" => Target::Private(p.i64("user_id")?),
        "send_group_msg" => Target::Group(p.i64("group_id")?),
        _ => target_of(p)?,
    };
    let auto_escape = p.bool_or("auto_escape", false)?;
    let segs = parse_message(p, "message", auto_escape)?;
    send(ctx, target, segs)
}

/// The target of `send_msg`-like actions: `message_type` or the ids given.
pub fn target_of(p: &P<'_>) -> Out<Target> {
    match p.opt_str("message_type")?.as_deref() {
        Some("group") => Ok(Target::Group(p.i64("group_id")?)),
        Some("private") => Ok(Target::Private(p.i64("user_id")?)),
        Some(other) => Err(Fail::bad(
            "message_type",
            format!("`{other}` is neither `private` nor `group`"),
        )),
        None => {
            if let Some(g) = p.opt_i64("group_id")? {
                Ok(Target::Group(g))
            } else if let Some(u) = p.opt_i64("user_id")? {
                Ok(Target::Private(u))
            } else {
                Err(Fail::bad(
                    "user_id",
                    "missing: send_msg needs `message_type`, `group_id` or `user_id`",
                ))
            }
        }
    }
}

/// Resolves forward nodes (references by `id`, or custom nodes) into stored
/// node objects `{user_id, nickname, time, content}`.
fn resolve_nodes(ctx: &mut Ctx<'_>, nodes: &Value, field: &str) -> Out<Vec<Value>> {
    let list = match nodes {
        Value::Array(a) => a.clone(),
        Value::String(_) => match to_array(nodes) {
            Value::Array(a) => a,
            _ => Vec::new(),
        },
        _ => return Err(Fail::bad(field, "expected an array of `node` segments")),
    };
    if list.is_empty() {
        return Err(Fail::bad(field, "no `node` segments"));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, node) in list.iter().enumerate() {
        if seg_type(node) != "node" {
            return Err(Fail::bad(
                field,
                format!("element {i} is not a `node` segment"),
            ));
        }
        let data = node.get("data").cloned().unwrap_or(json!({}));
        let dp = P(&data);
        if let Some(id) = dp.opt_i64("id")? {
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
        let Some(content) = dp.get("content") else {
            return Err(Fail::bad(
                field,
                format!("node {i} has neither `id` nor `content`"),
            ));
        };
        let user_id = dp
            .opt_i64("uin")
            .ok()
            .flatten()
            .or(dp.opt_i64("user_id").ok().flatten())
            .ok_or_else(|| {
                Fail::bad(
                    field,
                    format!("node {i} needs an integer `uin` or `user_id`"),
                )
            })?;
        let nickname = match dp.str_any(&["name", "nickname"]).ok().flatten() {
            Some(n) => n,
            None => ctx.nickname(user_id)?,
        };
        let mut segs = message_value(content, field, false)?;
        if segs.iter().all(|s| seg_type(s) == "node") {
            // A forward inside a forward.
            let inner = resolve_nodes(ctx, &Value::Array(segs), field)?;
            let fid = store_forward(ctx, &inner)?;
            segs = vec![json!({"type": "forward", "data": {"id": fid}})];
        }
        out.push(json!({
            "user_id": user_id,
            "nickname": nickname,
            "time": dp.opt_i64("time").ok().flatten().unwrap_or(ctx.now),
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
pub fn send_forward(ctx: &mut Ctx<'_>, target: Target, nodes: &Value, field: &str) -> Out {
    match target {
        Target::Group(g) => {
            ctx.group(g)?;
        }
        Target::Private(u) => {
            private_sub_type(ctx, u)?;
        }
    }
    let resolved = resolve_nodes(ctx, nodes, field)?;
    let fid = store_forward(ctx, &resolved)?;
    let seg = json!({"type": "forward", "data": {"id": fid}});
    let sent = send(ctx, target, vec![seg])?;
    Ok(json!({"message_id": sent["message_id"], "forward_id": fid, "res_id": fid}))
}

/// `send_group_forward_msg`, `send_private_forward_msg`, `send_forward_msg`.
pub fn send_forward_action(ctx: &mut Ctx<'_>, action: &str, p: &P<'_>) -> Out {
    let target = match action {
        "send_group_forward_msg" => Target::Group(p.i64("group_id")?),
        "send_private_forward_msg" => Target::Private(p.i64("user_id")?),
        _ => target_of(p)?,
    };
    let field = if p.has("messages") {
        "messages"
    } else {
        "message"
    };
    let nodes = p
        .get(field)
        .ok_or_else(|| Fail::bad("messages", "missing; expected an array of `node` segments"))?;
    send_forward(ctx, target, nodes, field)
}

/// `get_msg`.
pub fn get_msg(ctx: &mut Ctx<'_>, p: &P<'_>) -> Out {
    let m = ctx.live_message(p.i64("message_id")?)?;
    Ok(m.to_json(ctx.self_id))
}

/// `get_forward_msg` (by `id`, `message_id` or `res_id`).
pub fn get_forward_msg(ctx: &mut Ctx<'_>, p: &P<'_>) -> Out {
    let id = p
        .str_any(&["id", "message_id", "res_id"])?
        .ok_or_else(|| Fail::bad("id", "missing; expected the forward id"))?;
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
        .ok_or_else(|| Fail::unknown("forward message", &id))?;
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

/// `get_group_msg_history` / `get_friend_msg_history`.
pub fn history(ctx: &mut Ctx<'_>, action: &str, p: &P<'_>) -> Out {
    let (kind, peer) = if action == "get_group_msg_history" {
        let g = p.i64("group_id")?;
        ctx.group(g)?;
        ("group", g)
    } else {
        let u = p.i64("user_id")?;
        ctx.known_person(u)?;
        ("private", u)
    };
    let count = p.i64_or("count", 20)?;
    if !(1..=1000).contains(&count) {
        return Err(Fail::bad("count", "expected 1 to 1000"));
    }
    let seq = p.opt_i64("message_seq")?.filter(|s| *s > 0);
    let reverse = p.bool_or("reverseOrder", false)? || p.bool_or("reverse_order", false)?;
    let before = seq.unwrap_or(i64::MAX);
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
pub fn delete_msg(ctx: &mut Ctx<'_>, p: &P<'_>) -> Out {
    let m = ctx.live_message(p.i64("message_id")?)?;
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
                .unwrap_or(Role::Member);
            if op.role < Role::Admin || (op.role <= author_role && m.user_id != ANONYMOUS_USER_ID) {
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

/// `set_essence_msg` / `delete_essence_msg`.
pub fn essence_action(ctx: &mut Ctx<'_>, add: bool, p: &P<'_>) -> Out {
    let m = ctx.live_message(p.i64("message_id")?)?;
    if let Some(g) = m.group_id {
        ctx.require_role(
            g,
            Role::Admin,
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
pub fn essence_list(ctx: &mut Ctx<'_>, p: &P<'_>) -> Out {
    let g = p.i64("group_id")?;
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
pub fn set_emoji_like(ctx: &mut Ctx<'_>, p: &P<'_>) -> Out {
    let m = ctx.live_message(p.i64("message_id")?)?;
    let emoji = p
        .str_any(&["emoji_id", "emojiId"])?
        .filter(|e| !e.trim().is_empty())
        .ok_or_else(|| Fail::bad("emoji_id", "missing; expected an emoji id"))?;
    let set = p.bool_or("set", true)?;
    emoji_like(ctx, &m, ctx.self_id, &emoji, set)?;
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
pub fn fetch_emoji_like(ctx: &mut Ctx<'_>, p: &P<'_>) -> Out {
    let m = ctx.live_message(p.i64("message_id")?)?;
    let emoji = p
        .str_any(&["emojiId", "emoji_id"])?
        .ok_or_else(|| Fail::bad("emojiId", "missing; expected an emoji id"))?;
    let count = p.i64_or("count", 20)?.clamp(1, 1000);
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

/// `group_poke`, `friend_poke`, `send_poke`: the bot pokes someone.
pub fn poke_action(ctx: &mut Ctx<'_>, action: &str, p: &P<'_>) -> Out {
    let user_id = p.i64_any(&["user_id", "target_id"])?;
    let group = match action {
        "group_poke" => Some(p.i64("group_id")?),
        "friend_poke" => None,
        _ => p.opt_i64("group_id")?,
    };
    match group {
        Some(g) => {
            ctx.group(g)?;
            poke_notice(ctx, Target::Group(g), ctx.self_id, user_id)?;
        }
        None => {
            private_sub_type(ctx, user_id)?;
            poke_notice(ctx, Target::Private(user_id), ctx.self_id, user_id)?;
        }
    }
    Ok(Value::Null)
}

/// `mark_msg_as_read`, `mark_group_msg_as_read`, `mark_private_msg_as_read`, `_mark_all_as_read`.
pub fn mark_read(ctx: &mut Ctx<'_>, action: &str, p: &P<'_>) -> Out {
    let chats: Vec<(String, i64)> = match action {
        "mark_group_msg_as_read" => {
            let g = p.i64("group_id")?;
            ctx.group(g)?;
            vec![("group".into(), g)]
        }
        // NapCat's document shows `group_id` here; the real field is `user_id`.
        "mark_private_msg_as_read" => {
            let u = p.i64_any(&["user_id", "group_id"])?;
            ctx.known_person(u)?;
            vec![("private".into(), u)]
        }
        "mark_msg_as_read" => {
            let m = ctx.message(p.i64("message_id")?)?;
            vec![(m.message_type, m.peer_id)]
        }
        _ => {
            let mut stmt = ctx
                .db
                .prepare("SELECT DISTINCT message_type, peer_id FROM messages WHERE self_id=?1")?;
            let rows = stmt
                .query_map([ctx.self_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            rows
        }
    };
    for (kind, peer) in chats {
        ctx.db.execute(
            "INSERT OR REPLACE INTO reads(self_id, chat_type, peer_id, message_id)
             VALUES(?1, ?2, ?3, (SELECT COALESCE(MAX(message_id), 0) FROM messages WHERE self_id=?1 AND message_type=?2 AND peer_id=?3))",
            rusqlite::params![ctx.self_id, kind, peer],
        )?;
    }
    Ok(Value::Null)
}

/// `get_recent_contact`: the latest message of each chat, newest first.
pub fn recent_contact(ctx: &mut Ctx<'_>, p: &P<'_>) -> Out {
    let count = p.i64_or("count", 10)?;
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
