//! The injection API: HTTP routes (JSON bodies) that let a tester play the
//! other people in the world — say things, poke, recall, join, ask — so the
//! bot receives the same events it would from a real account.
//!
//! Answers are `{"status":"ok","data":{...}}`, or a 4xx with
//! `{"status":"failed","message":"..."}`. Each route's body is one of the
//! structs below, read like action params.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::actions::{account, file, group, message};
use super::params::{Fail, Out};
use super::store::{Ctx, MemberRole};
use super::Sandbox;
use crate::protocol::action::{FromParams, Params};
use message::Chat;

/// The routes, relative to where the gateway mounts them (`/sandbox`).
pub fn router(sandbox: Arc<Sandbox>) -> Router {
    Router::new()
        .route("/{self_id}/say", op(say))
        .route("/{self_id}/poke", op(poke))
        .route("/{self_id}/recall", op(recall))
        .route("/{self_id}/essence", op(essence))
        .route("/{self_id}/card", op(card))
        .route("/{self_id}/offline_file", op(offline_file))
        .route("/{self_id}/group_upload", op(group_upload))
        .route("/{self_id}/join", op(join))
        .route("/{self_id}/leave", op(leave))
        .route("/{self_id}/friend_request", op(friend_request))
        .route("/{self_id}/group_request", op(group_request))
        .route("/{self_id}/ban", op(ban))
        .route("/{self_id}/admin", op(admin))
        .route("/{self_id}/like", op(like))
        .route("/{self_id}/offline", op(offline))
        .route("/{self_id}/online", op(online))
        .route("/{self_id}/emoji_like", op(emoji_like))
        .route("/{self_id}/event", post(raw_event))
        .route("/{self_id}/messages", get(messages))
        .method_not_allowed_fallback(wrong_method)
        .fallback(unknown_route)
        .with_state(sandbox)
}

async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    let mut r = answer(Err(Fail::invalid(format!(
        "{method} is not allowed on {}: the sandbox routes take POST (GET for messages)",
        uri.path()
    ))));
    *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    r
}

async fn unknown_route(uri: axum::http::Uri) -> Response {
    answer(Err(Fail::unknown("sandbox route", uri.path())))
}

/// The route bodies, read like action params (fields: docs/SANDBOX.md). Private,
/// so the macro's `pub` fields need no docs.
mod body {
    use crate::protocol::action::{params, MessageParam};

    params! {
        Say { user_id: i64, message: MessageParam, anonymous: bool = false, group_id: Option<i64> }
        Poke { user_id: i64, target_id: Option<i64>, group_id: Option<i64> }
        Recall { message_id: i64, operator_id: Option<i64> }
        Essence { message_id: i64, sub_type: String = "add".to_owned(), operator_id: Option<i64> }
        Card { group_id: i64, user_id: i64, card: String }
        OfflineFile { user_id: i64, name: String, size: i64, url: Option<String> }
        GroupUpload {
            group_id: i64, user_id: i64, name: String, size: i64,
            folder_id: String = "/".to_owned(),
        }
        Join {
            group_id: i64, user_id: i64, sub_type: String = "approve".to_owned(),
            operator_id: Option<i64>,
        }
        Leave { group_id: i64, user_id: i64, operator_id: Option<i64> }
        Ban { group_id: i64, user_id: i64, duration: i64 = 30 * 60, operator_id: Option<i64> }
        Admin { group_id: i64, user_id: i64, enable: bool = true }
        FriendRequest { user_id: i64, comment: String = String::new() }
        GroupRequest {
            group_id: i64, user_id: i64, comment: String = String::new(),
            sub_type: String = "add".to_owned(),
        }
        Like { user_id: i64, times: i64 = 1 }
        Offline { tag: String = "sandbox".to_owned(), message: String = "taken offline".to_owned() }
        Online {}
        EmojiLike { message_id: i64, user_id: i64, emoji_id: String, set: bool = true }
        /// The query of `GET messages`.
        MessagesQuery { limit: i64 = 50, group_id: Option<i64>, user_id: Option<i64> }
    }
}
use body::*;

/// A POST route whose JSON body is read as `T` (inside the run, so an
/// unknown bot is named before a bad body).
fn op<T: FromParams + 'static>(f: fn(&mut Ctx<'_>, &T) -> Out) -> MethodRouter<Arc<Sandbox>> {
    post(
        move |State(sb): State<Arc<Sandbox>>, Path(id): Path<String>, body: Bytes| async move {
            let result = parse_bot(&id).and_then(|self_id| {
                let body = parse_body(&body)?;
                sb.run(self_id, |ctx| {
                    f(ctx, &T::from_params(&Params::new(&body)?)?)
                })
            });
            answer(result)
        },
    )
}

fn answer(result: Out) -> Response {
    match result {
        Ok(data) => (StatusCode::OK, Json(json!({"status": "ok", "data": data}))).into_response(),
        Err(f) => (
            StatusCode::from_u16(f.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Json(json!({"status": "failed", "retcode": f.retcode, "message": f.message})),
        )
            .into_response(),
    }
}

fn parse_bot(id: &str) -> Out<i64> {
    id.trim()
        .parse()
        .map_err(|_| Fail::bad("self_id", format!("`{id}` is not an integer")))
}

fn parse_body(body: &[u8]) -> Out<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(Fail::invalid("the body must be a JSON object")),
        Err(e) => Err(Fail::invalid(format!("the body is not JSON: {e}"))),
    }
}

fn nonempty(field: &str, s: &str) -> Out<()> {
    if s.trim().is_empty() {
        return Err(Fail::bad(field, "must not be empty"));
    }
    Ok(())
}

fn not_bot(ctx: &Ctx<'_>, user_id: i64) -> Out<()> {
    if user_id == ctx.self_id {
        return Err(Fail::bad(
            "user_id",
            "this is the bot itself; make the bot act through its actions",
        ));
    }
    Ok(())
}

/// Makes `user_id` a member of `g` without a notice (a tester may name anyone).
fn ensure_member(ctx: &Ctx<'_>, g: i64, user_id: i64) -> Out<()> {
    ctx.group(g)?;
    ctx.ensure_person(user_id)?;
    if ctx.member(g, user_id)?.is_none() {
        if group::blocked(ctx, g, user_id)? {
            return Err(Fail::forbidden(format!(
                "{user_id} was kicked from group {g} with reject_add_request"
            )));
        }
        let level = ctx.person(user_id)?.map(|p| p.4).unwrap_or(1);
        ctx.db.execute(
            "INSERT INTO members(self_id, group_id, user_id, role, level, join_time) VALUES(?1,?2,?3,'member',?4,?5)",
            rusqlite::params![ctx.self_id, g, user_id, level, ctx.now],
        )?;
    }
    Ok(())
}

fn say(ctx: &mut Ctx<'_>, p: &Say) -> Out {
    let (user, anonymous) = (p.user_id, p.anonymous);
    not_bot(ctx, user)?;
    let segs = message::message_value(&p.message.0, "message", false)?;
    let target = match p.group_id {
        Some(g) => {
            let grp = ctx.group(g)?;
            ensure_member(ctx, g, user)?;
            let m = ctx.member_req(g, user)?;
            if m.ban_until > ctx.now {
                return Err(Fail::forbidden(format!("{user} is muted in group {g}")));
            }
            if grp.whole_ban && m.role == MemberRole::Member {
                return Err(Fail::forbidden(format!(
                    "group {g} is muted (whole-group ban)"
                )));
            }
            if anonymous && !grp.anonymous {
                return Err(Fail::forbidden(format!(
                    "anonymous chat is off in group {g}"
                )));
            }
            Chat::Group(g)
        }
        None => {
            if anonymous {
                return Err(Fail::bad(
                    "anonymous",
                    "only group messages can be anonymous",
                ));
            }
            ctx.ensure_person(user)?;
            Chat::Private(user)
        }
    };
    let anon = match (anonymous, target) {
        (true, Chat::Group(g)) => group::anonymous_of(g, user),
        _ => Value::Null,
    };
    let row = message::receive(ctx, target, user, segs, anon)?;
    Ok(json!({"message_id": row.message_id}))
}

fn poke(ctx: &mut Ctx<'_>, p: &Poke) -> Out {
    let user = p.user_id;
    not_bot(ctx, user)?;
    let target_id = p.target_id.unwrap_or(ctx.self_id);
    match p.group_id {
        Some(g) => {
            ensure_member(ctx, g, user)?;
            message::poke_notice(ctx, Chat::Group(g), user, target_id)?;
        }
        None => {
            ctx.ensure_person(user)?;
            message::poke_notice(ctx, Chat::Private(user), user, target_id)?;
        }
    }
    Ok(json!({}))
}

fn recall(ctx: &mut Ctx<'_>, p: &Recall) -> Out {
    let m = ctx.live_message(p.message_id)?;
    let operator = p.operator_id.unwrap_or(m.user_id);
    message::recall(ctx, &m, operator)?;
    Ok(json!({"message_id": m.message_id}))
}

fn owner_or_bot(ctx: &Ctx<'_>, g: i64) -> Out<i64> {
    Ok(ctx
        .members(g)?
        .into_iter()
        .find(|m| m.role == MemberRole::Owner)
        .map_or(ctx.self_id, |m| m.user_id))
}

fn essence(ctx: &mut Ctx<'_>, p: &Essence) -> Out {
    let m = ctx.live_message(p.message_id)?;
    let add = match p.sub_type.as_str() {
        "add" => true,
        "delete" => false,
        other => {
            return Err(Fail::bad(
                "sub_type",
                format!("`{other}` is neither add nor delete"),
            ))
        }
    };
    let g = m
        .group_id
        .ok_or_else(|| Fail::invalid(format!("message {} is not a group message", m.message_id)))?;
    let operator = match p.operator_id {
        Some(o) => o,
        None => owner_or_bot(ctx, g)?,
    };
    message::set_essence(ctx, &m, operator, add)?;
    Ok(json!({"message_id": m.message_id}))
}

fn card(ctx: &mut Ctx<'_>, p: &Card) -> Out {
    ctx.group(p.group_id)?;
    group::change_card(ctx, p.group_id, p.user_id, &p.card)?;
    Ok(json!({}))
}

fn offline_file(ctx: &mut Ctx<'_>, p: &OfflineFile) -> Out {
    let (u, name, size) = (p.user_id, &p.name, p.size);
    not_bot(ctx, u)?;
    nonempty("name", name)?;
    if size < 0 {
        return Err(Fail::bad("size", "expected 0 or more bytes"));
    }
    let url = p.url.clone().unwrap_or_else(|| {
        format!(
            "http://sandbox.invalid/offline/{u}/{}",
            name.replace(['/', ' '], "_")
        )
    });
    ctx.ensure_person(u)?;
    ctx.notice(
        "offline_file",
        json!({"user_id": u, "file": {"name": name, "size": size, "url": url}}),
    );
    Ok(json!({}))
}

fn group_upload(ctx: &mut Ctx<'_>, p: &GroupUpload) -> Out {
    let (g, u, size) = (p.group_id, p.user_id, p.size);
    not_bot(ctx, u)?;
    nonempty("name", &p.name)?;
    if size < 0 {
        return Err(Fail::bad("size", "expected 0 or more bytes"));
    }
    ensure_member(ctx, g, u)?;
    let id = file::store_file(ctx, g, u, &p.name, size, &p.folder_id)?;
    Ok(json!({"file_id": id}))
}

fn join(ctx: &mut Ctx<'_>, p: &Join) -> Out {
    let (g, u, sub_type) = (p.group_id, p.user_id, p.sub_type.as_str());
    not_bot(ctx, u)?;
    if sub_type != "approve" && sub_type != "invite" {
        return Err(Fail::bad("sub_type", "expected approve or invite"));
    }
    ctx.group(g)?;
    if ctx.member(g, u)?.is_some() {
        return Err(Fail::invalid(format!(
            "{u} is already a member of group {g}"
        )));
    }
    if group::blocked(ctx, g, u)? {
        return Err(Fail::forbidden(format!(
            "{u} was kicked from group {g} with reject_add_request"
        )));
    }
    let operator = match p.operator_id {
        Some(o) => o,
        None => owner_or_bot(ctx, g)?,
    };
    group::add_member(ctx, g, u, operator, sub_type)?;
    Ok(json!({}))
}

fn leave(ctx: &mut Ctx<'_>, p: &Leave) -> Out {
    let (g, u) = (p.group_id, p.user_id);
    ctx.group(g)?;
    let m = ctx.member_req(g, u)?;
    let operator = match p.operator_id {
        Some(o) => o,
        None if u == ctx.self_id => owner_or_bot(ctx, g)?,
        None => u,
    };
    if operator != u {
        let op = ctx.member_req(g, operator)?;
        if op.role < MemberRole::Admin || op.role <= m.role {
            return Err(Fail::forbidden(format!(
                "{operator} ({}) cannot kick {u} ({}) from group {g}",
                op.role.as_str(),
                m.role.as_str()
            )));
        }
    } else if m.role == MemberRole::Owner {
        return Err(Fail::forbidden(format!(
            "{u} owns group {g} and cannot just leave it"
        )));
    }
    group::remove_member(ctx, g, u, operator)?;
    Ok(json!({}))
}

/// The owner of a group (someone with every right), when it is not the bot.
fn human_owner(ctx: &Ctx<'_>, g: i64) -> Out<i64> {
    match owner_or_bot(ctx, g)? {
        o if o == ctx.self_id => Err(Fail::forbidden(format!(
            "the bot owns group {g}: make it act through its actions"
        ))),
        o => Ok(o),
    }
}

fn ban(ctx: &mut Ctx<'_>, p: &Ban) -> Out {
    let (g, u, duration) = (p.group_id, p.user_id, p.duration);
    if !(0..=30 * 24 * 3600).contains(&duration) {
        return Err(Fail::bad("duration", "expected 0 to 2592000 seconds"));
    }
    ctx.group(g)?;
    let operator = match p.operator_id {
        Some(o) => o,
        None => human_owner(ctx, g)?,
    };
    not_bot(ctx, operator)
        .map_err(|_| Fail::bad("operator_id", "this is the bot itself; use set_group_ban"))?;
    let target = ctx.member_req(g, u)?;
    let op = ctx.member_req(g, operator)?;
    if op.role < MemberRole::Admin || op.role <= target.role {
        return Err(Fail::forbidden(format!(
            "{operator} ({}) cannot mute {u} ({}) in group {g}",
            op.role.as_str(),
            target.role.as_str()
        )));
    }
    group::ban_member(ctx, g, u, u, duration, operator)?;
    Ok(json!({}))
}

fn admin(ctx: &mut Ctx<'_>, p: &Admin) -> Out {
    let (g, u, enable) = (p.group_id, p.user_id, p.enable);
    ctx.group(g)?;
    let owner = human_owner(ctx, g)?;
    let target = ctx.member_req(g, u)?;
    if u == owner {
        return Err(Fail::forbidden(format!("{u} is the owner of group {g}")));
    }
    let new = if enable {
        MemberRole::Admin
    } else {
        MemberRole::Member
    };
    if target.role != new {
        ctx.db.execute(
            "UPDATE members SET role=?4 WHERE self_id=?1 AND group_id=?2 AND user_id=?3",
            rusqlite::params![ctx.self_id, g, u, new.as_str()],
        )?;
        ctx.notice(
            "group_admin",
            json!({"sub_type": if enable {"set"} else {"unset"}, "group_id": g, "user_id": u}),
        );
    }
    Ok(json!({}))
}

fn friend_request(ctx: &mut Ctx<'_>, p: &FriendRequest) -> Out {
    let u = p.user_id;
    not_bot(ctx, u)?;
    if ctx.is_friend(u)? {
        return Err(Fail::invalid(format!("{u} is already a friend")));
    }
    ctx.ensure_person(u)?;
    let flag = group::new_request(ctx, "friend", "", 0, u, &p.comment)?;
    Ok(json!({"flag": flag}))
}

fn group_request(ctx: &mut Ctx<'_>, p: &GroupRequest) -> Out {
    let (g, u, sub_type) = (p.group_id, p.user_id, p.sub_type.as_str());
    not_bot(ctx, u)?;
    match sub_type {
        "add" => {
            ctx.group(g)?;
            if ctx.member(g, u)?.is_some() {
                return Err(Fail::invalid(format!(
                    "{u} is already a member of group {g}"
                )));
            }
            if group::blocked(ctx, g, u)? {
                return Err(Fail::forbidden(format!(
                    "{u} was kicked from group {g} with reject_add_request"
                )));
            }
        }
        "invite" => {
            if ctx.group(g).is_ok() {
                return Err(Fail::invalid(format!("the bot is already in group {g}")));
            }
        }
        other => {
            return Err(Fail::bad(
                "sub_type",
                format!("`{other}` is neither add nor invite"),
            ))
        }
    }
    ctx.ensure_person(u)?;
    let flag = group::new_request(ctx, "group", sub_type, g, u, &p.comment)?;
    Ok(json!({"flag": flag}))
}

/// The account is kicked or logged out: the implementation's `bot_offline`
/// notice (NapCat's shape), which the gateway turns into an offline alert.
fn offline(ctx: &mut Ctx<'_>, p: &Offline) -> Out {
    let user_id = ctx.self_id;
    ctx.notice(
        "bot_offline",
        json!({"user_id": user_id, "tag": p.tag, "message": p.message}),
    );
    Ok(json!({}))
}

/// The account is back: a `bot_online` notice.
fn online(ctx: &mut Ctx<'_>, _: &Online) -> Out {
    let user_id = ctx.self_id;
    ctx.notice("bot_online", json!({"user_id": user_id}));
    Ok(json!({}))
}

fn like(ctx: &mut Ctx<'_>, p: &Like) -> Out {
    let (u, times) = (p.user_id, p.times);
    not_bot(ctx, u)?;
    if !(1..=account::LIKES_PER_DAY).contains(&times) {
        return Err(Fail::bad(
            "times",
            format!("expected 1 to {}", account::LIKES_PER_DAY),
        ));
    }
    ctx.ensure_person(u)?;
    account::record_like(ctx, "received", u, times)?;
    let nick = ctx.nickname(u)?;
    ctx.notice(
        "notify",
        json!({"sub_type": "profile_like", "operator_id": u, "operator_nick": nick, "times": times}),
    );
    Ok(json!({}))
}

fn emoji_like(ctx: &mut Ctx<'_>, p: &EmojiLike) -> Out {
    let m = ctx.live_message(p.message_id)?;
    let u = p.user_id;
    not_bot(ctx, u)?;
    nonempty("emoji_id", &p.emoji_id)?;
    ctx.ensure_person(u)?;
    message::emoji_like(ctx, &m, u, &p.emoji_id, p.set)?;
    Ok(json!({}))
}

async fn raw_event(
    State(sb): State<Arc<Sandbox>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let result = parse_bot(&id).and_then(|self_id| {
        if !sb.self_ids().contains(&self_id) {
            return Err(Fail::unknown("bot", self_id));
        }
        let event = parse_body(&body)?;
        if !event.get("post_type").is_some_and(Value::is_string) {
            return Err(Fail::bad(
                "post_type",
                "an event needs a string `post_type`",
            ));
        }
        sb.emit(self_id, event);
        Ok(json!({}))
    });
    answer(result)
}

async fn messages(
    State(sb): State<Arc<Sandbox>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    // `?group_id=` means no group, as in a form left blank.
    let query = q.into_iter().filter(|(_, v)| !v.is_empty());
    let query = Value::Object(query.map(|(k, v)| (k, Value::String(v))).collect());
    let result = parse_bot(&id).and_then(|self_id| {
        sb.run(self_id, |ctx| {
            let q = MessagesQuery::from_params(&Params::new(&query)?)?;
            let limit = q.limit;
            if !(1..=10_000).contains(&limit) {
                return Err(Fail::bad("limit", "expected 1 to 10000"));
            }
            let rows = match (q.group_id, q.user_id) {
                (Some(g), Some(u)) => ctx.messages_page(
                    "message_type='group' AND peer_id=? AND user_id=?",
                    &[&g, &u],
                    limit,
                )?,
                (Some(g), None) => {
                    ctx.messages_page("message_type='group' AND peer_id=?", &[&g], limit)?
                }
                (None, Some(u)) => {
                    ctx.messages_page("message_type='private' AND peer_id=?", &[&u], limit)?
                }
                (None, None) => ctx.messages_page("1=1", &[], limit)?,
            };
            let list: Vec<Value> = rows
                .into_iter()
                .map(|m| {
                    let mut v = json!({
                        "message_id": m.message_id, "time": m.time, "message_type": m.message_type,
                        "sub_type": m.sub_type, "user_id": m.user_id, "sender": m.sender,
                        "message": m.message, "raw_message": m.raw_message, "recalled": m.recalled,
                    });
                    if let Some(g) = m.group_id {
                        v["group_id"] = json!(g);
                    } else {
                        v["peer_id"] = json!(m.peer_id);
                    }
                    v
                })
                .collect();
            Ok(Value::Array(list))
        })
    });
    answer(result)
}
