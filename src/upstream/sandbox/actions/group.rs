//! Groups: information, members, moderation (kick, ban, admin, card, title),
//! settings, leaving, honors, @all, announcements and join requests.

use serde_json::{json, Value};

use super::message::{at_all_remaining, ANONYMOUS_USER_ID};
use crate::protocol::action::{
    DelGroupNotice, GetGroupAtAllRemain, GetGroupHonorInfo, GetGroupInfo, GetGroupMemberInfo,
    GetGroupMemberList, GetGroupNotice, HonorType, SendGroupNotice, SetFriendAddRequest,
    SetGroupAddRequest, SetGroupAdmin, SetGroupAnonymous, SetGroupAnonymousBan, SetGroupBan,
    SetGroupCard, SetGroupHead, SetGroupKick, SetGroupLeave, SetGroupName, SetGroupPortrait,
    SetGroupSpecialTitle, SetGroupWholeBan,
};
use crate::upstream::sandbox::params::{Fail, Out};
use crate::upstream::sandbox::store::{Ctx, GroupRow, MemberRole, MemberRow};

fn group_json(ctx: &Ctx<'_>, g: &GroupRow) -> Out<Value> {
    let count: i64 = ctx.db.query_row(
        "SELECT COUNT(*) FROM members WHERE self_id=?1 AND group_id=?2",
        rusqlite::params![ctx.self_id, g.group_id],
        |r| r.get(0),
    )?;
    Ok(json!({
        "group_id": g.group_id,
        "group_name": g.name,
        "group_memo": "",
        "group_create_time": g.create_time,
        "group_level": 0,
        "member_count": count,
        "max_member_count": g.max_member_count,
        "group_all_shut": if g.whole_ban { -1 } else { 0 },
        "avatar": g.avatar,
    }))
}

/// Refuses a blank name, file, content, flag or id (the typed `String` accepts "").
fn nonempty(field: &str, s: &str) -> Out<()> {
    if s.trim().is_empty() {
        return Err(Fail::bad(field, "must not be empty"));
    }
    Ok(())
}

/// `get_group_info`.
pub fn info(ctx: &mut Ctx<'_>, p: &GetGroupInfo) -> Out {
    let g = ctx.group(p.group_id)?;
    group_json(ctx, &g)
}

/// `get_group_list`.
pub fn list(ctx: &mut Ctx<'_>) -> Out {
    let mut stmt = ctx
        .db
        .prepare("SELECT group_id FROM groups WHERE self_id=?1 ORDER BY group_id")?;
    let ids: Vec<i64> = stmt
        .query_map([ctx.self_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    drop(stmt);
    let mut out = Vec::new();
    for id in ids {
        let g = ctx.group(id)?;
        out.push(group_json(ctx, &g)?);
    }
    Ok(Value::Array(out))
}

fn member_json(ctx: &Ctx<'_>, group_id: i64, m: &MemberRow) -> Out<Value> {
    let (nickname, sex, age, area, _) = ctx.person(m.user_id)?.unwrap_or_else(|| {
        (
            format!("user{}", m.user_id),
            "unknown".into(),
            0,
            String::new(),
            1,
        )
    });
    Ok(json!({
        "group_id": group_id,
        "user_id": m.user_id,
        "nickname": nickname,
        "card": m.card,
        "sex": sex,
        "age": age,
        "area": area,
        "join_time": m.join_time,
        "last_sent_time": m.last_sent_time,
        "level": m.level.to_string(),
        "qq_level": m.level,
        "role": m.role.as_str(),
        "unfriendly": false,
        "title": m.title,
        "title_expire_time": 0,
        "card_changeable": true,
        "shut_up_timestamp": if m.ban_until > ctx.now { m.ban_until } else { 0 },
    }))
}

/// `get_group_member_info`.
pub fn member_info(ctx: &mut Ctx<'_>, p: &GetGroupMemberInfo) -> Out {
    let (g, u) = (p.group_id, p.user_id);
    ctx.group(g)?;
    let m = ctx.member_req(g, u)?;
    member_json(ctx, g, &m)
}

/// `get_group_member_list`.
pub fn member_list(ctx: &mut Ctx<'_>, p: &GetGroupMemberList) -> Out {
    let g = p.group_id;
    ctx.group(g)?;
    let members = ctx.members(g)?;
    let out = members
        .iter()
        .map(|m| member_json(ctx, g, m))
        .collect::<Out<Vec<_>>>()?;
    Ok(Value::Array(out))
}

/// Removes a member and publishes `group_decrease`.
pub fn remove_member(ctx: &mut Ctx<'_>, g: i64, user_id: i64, operator: i64) -> Out<()> {
    ctx.db.execute(
        "DELETE FROM members WHERE self_id=?1 AND group_id=?2 AND user_id=?3",
        rusqlite::params![ctx.self_id, g, user_id],
    )?;
    let sub_type = if user_id == ctx.self_id && operator != user_id {
        "kick_me"
    } else if operator == user_id {
        "leave"
    } else {
        "kick"
    };
    ctx.notice(
        "group_decrease",
        json!({"sub_type": sub_type, "group_id": g, "operator_id": operator, "user_id": user_id}),
    );
    if user_id == ctx.self_id {
        drop_group(ctx, g)?;
    }
    Ok(())
}

/// Forgets a group the bot is no longer in (its messages and files stay in history).
fn drop_group(ctx: &Ctx<'_>, g: i64) -> Out<()> {
    for table in ["members", "groups"] {
        ctx.db.execute(
            &format!("DELETE FROM {table} WHERE self_id=?1 AND group_id=?2"),
            rusqlite::params![ctx.self_id, g],
        )?;
    }
    Ok(())
}

/// Adds a member and publishes `group_increase`.
pub fn add_member(
    ctx: &mut Ctx<'_>,
    g: i64,
    user_id: i64,
    operator: i64,
    sub_type: &str,
) -> Out<()> {
    ctx.ensure_person(user_id)?;
    let level = ctx.person(user_id)?.map(|p| p.4).unwrap_or(1);
    ctx.db.execute(
        "INSERT INTO members(self_id, group_id, user_id, role, level, join_time) VALUES(?1,?2,?3,'member',?4,?5)",
        rusqlite::params![ctx.self_id, g, user_id, level, ctx.now],
    )?;
    ctx.notice(
        "group_increase",
        json!({"sub_type": sub_type, "group_id": g, "operator_id": operator, "user_id": user_id}),
    );
    Ok(())
}

/// True when the user was kicked with `reject_add_request`.
pub fn blocked(ctx: &Ctx<'_>, g: i64, user_id: i64) -> Out<bool> {
    Ok(rusqlite::OptionalExtension::optional(ctx.db.query_row(
        "SELECT 1 FROM group_blocklist WHERE self_id=?1 AND group_id=?2 AND user_id=?3",
        rusqlite::params![ctx.self_id, g, user_id],
        |_| Ok(()),
    ))?
    .is_some())
}

/// `set_group_kick`.
pub fn kick(ctx: &mut Ctx<'_>, p: &SetGroupKick) -> Out {
    let (g, u) = (p.group_id, p.user_id);
    ctx.require_outrank(g, u, "set_group_kick")?;
    remove_member(ctx, g, u, ctx.self_id)?;
    if p.reject_add_request {
        ctx.db.execute(
            "INSERT OR IGNORE INTO group_blocklist(self_id, group_id, user_id) VALUES(?1,?2,?3)",
            rusqlite::params![ctx.self_id, g, u],
        )?;
    }
    Ok(Value::Null)
}

const MAX_BAN: i64 = 30 * 24 * 3600;

/// Mutes (or unmutes, duration 0) a member and publishes `group_ban`.
pub fn ban_member(
    ctx: &mut Ctx<'_>,
    g: i64,
    u: i64,
    notice_user: i64,
    duration: i64,
    operator: i64,
) -> Out<()> {
    let until = if duration == 0 { 0 } else { ctx.now + duration };
    ctx.db.execute(
        "UPDATE members SET ban_until=?4 WHERE self_id=?1 AND group_id=?2 AND user_id=?3",
        rusqlite::params![ctx.self_id, g, u, until],
    )?;
    ctx.notice(
        "group_ban",
        json!({"sub_type": if duration == 0 {"lift_ban"} else {"ban"}, "group_id": g,
               "operator_id": operator, "user_id": notice_user, "duration": duration}),
    );
    Ok(())
}

/// QQ mutes for at most 30 days (the struct only rules out negatives).
fn duration(d: i64) -> Out<i64> {
    if !(0..=MAX_BAN).contains(&d) {
        return Err(Fail::bad(
            "duration",
            format!("expected 0 to {MAX_BAN} seconds"),
        ));
    }
    Ok(d)
}

/// `set_group_ban`.
pub fn ban(ctx: &mut Ctx<'_>, p: &SetGroupBan) -> Out {
    let (g, u) = (p.group_id, p.user_id);
    let d = duration(p.duration)?;
    ctx.require_outrank(g, u, "set_group_ban")?;
    ban_member(ctx, g, u, u, d, ctx.self_id)?;
    Ok(Value::Null)
}

/// `set_group_anonymous_ban`: mutes the person behind an anonymous flag.
pub fn anonymous_ban(ctx: &mut Ctx<'_>, p: &SetGroupAnonymousBan) -> Out {
    let g = p.group_id;
    let d = duration(p.duration)?;
    if d == 0 {
        return Err(Fail::bad(
            "duration",
            "an anonymous ban cannot be lifted (0)",
        ));
    }
    // The struct guarantees `anonymous` or the flag; the object wins.
    let flag = match &p.anonymous {
        Some(o) => o
            .get("flag")
            .and_then(Value::as_str)
            .ok_or_else(|| Fail::bad("anonymous", "expected an object with a string `flag`"))?,
        None => p.flag.as_deref().unwrap_or_default(),
    };
    ctx.require_role(g, MemberRole::Admin, "set_group_anonymous_ban")?;
    let real = anonymous_owner(ctx, g, flag)?;
    ban_member(ctx, g, real, ANONYMOUS_USER_ID, d, ctx.self_id)?;
    Ok(Value::Null)
}

/// Who sent anonymously under `flag` in group `g` (flags are `anon-<group>-<user>`).
fn anonymous_owner(ctx: &Ctx<'_>, g: i64, flag: &str) -> Out<i64> {
    let user = flag
        .strip_prefix(&format!("anon-{g}-"))
        .and_then(|u| u.parse::<i64>().ok())
        .ok_or_else(|| Fail::unknown("anonymous flag", flag))?;
    ctx.member_req(g, user)?;
    Ok(user)
}

/// The anonymous object for `user_id` in group `g`.
pub fn anonymous_of(g: i64, user_id: i64) -> Value {
    const NAMES: [&str; 6] = [
        "Anonymous Cat",
        "Anonymous Fox",
        "Anonymous Owl",
        "Anonymous Bear",
        "Anonymous Whale",
        "Anonymous Crane",
    ];
    let name = NAMES[(user_id.unsigned_abs() % NAMES.len() as u64) as usize];
    json!({"id": ANONYMOUS_USER_ID + user_id.rem_euclid(1_000_000), "name": name, "flag": format!("anon-{g}-{user_id}")})
}

/// `set_group_whole_ban`.
pub fn whole_ban(ctx: &mut Ctx<'_>, p: &SetGroupWholeBan) -> Out {
    let (g, enable) = (p.group_id, p.enable);
    ctx.require_role(g, MemberRole::Admin, "set_group_whole_ban")?;
    ctx.db.execute(
        "UPDATE groups SET whole_ban=?3 WHERE self_id=?1 AND group_id=?2",
        rusqlite::params![ctx.self_id, g, enable],
    )?;
    ctx.notice(
        "group_ban",
        json!({"sub_type": if enable {"ban"} else {"lift_ban"}, "group_id": g,
               "operator_id": ctx.self_id, "user_id": 0, "duration": if enable { -1 } else { 0 }}),
    );
    Ok(Value::Null)
}

/// `set_group_admin`.
pub fn admin(ctx: &mut Ctx<'_>, p: &SetGroupAdmin) -> Out {
    let (g, u, enable) = (p.group_id, p.user_id, p.enable);
    ctx.require_role(g, MemberRole::Owner, "set_group_admin")?;
    let m = ctx.member_req(g, u)?;
    if m.role == MemberRole::Owner {
        return Err(Fail::forbidden(format!("{u} is the owner of group {g}")));
    }
    let new = if enable {
        MemberRole::Admin
    } else {
        MemberRole::Member
    };
    if m.role != new {
        ctx.db.execute(
            "UPDATE members SET role=?4 WHERE self_id=?1 AND group_id=?2 AND user_id=?3",
            rusqlite::params![ctx.self_id, g, u, new.as_str()],
        )?;
        ctx.notice(
            "group_admin",
            json!({"sub_type": if enable {"set"} else {"unset"}, "group_id": g, "user_id": u}),
        );
    }
    Ok(Value::Null)
}

/// `set_group_anonymous`.
pub fn anonymous(ctx: &mut Ctx<'_>, p: &SetGroupAnonymous) -> Out {
    let g = p.group_id;
    ctx.require_role(g, MemberRole::Admin, "set_group_anonymous")?;
    ctx.db.execute(
        "UPDATE groups SET anonymous=?3 WHERE self_id=?1 AND group_id=?2",
        rusqlite::params![ctx.self_id, g, p.enable],
    )?;
    Ok(Value::Null)
}

/// Changes a card and publishes `group_card` when it changed.
pub fn change_card(ctx: &mut Ctx<'_>, g: i64, u: i64, card: &str) -> Out<()> {
    let m = ctx.member_req(g, u)?;
    if m.card != card {
        ctx.db.execute(
            "UPDATE members SET card=?4 WHERE self_id=?1 AND group_id=?2 AND user_id=?3",
            rusqlite::params![ctx.self_id, g, u, card],
        )?;
        ctx.notice(
            "group_card",
            json!({"group_id": g, "user_id": u, "card_new": card, "card_old": m.card}),
        );
    }
    Ok(())
}

/// `set_group_card`.
pub fn card(ctx: &mut Ctx<'_>, p: &SetGroupCard) -> Out {
    let (g, u) = (p.group_id, p.user_id);
    if p.card.chars().count() > 60 {
        return Err(Fail::bad("card", "at most 60 characters"));
    }
    if u != ctx.self_id {
        ctx.require_outrank(g, u, "set_group_card")?;
    }
    change_card(ctx, g, u, &p.card)?;
    Ok(Value::Null)
}

/// `set_group_name`.
pub fn name(ctx: &mut Ctx<'_>, p: &SetGroupName) -> Out {
    let g = p.group_id;
    nonempty("group_name", &p.group_name)?;
    ctx.require_role(g, MemberRole::Admin, "set_group_name")?;
    ctx.db.execute(
        "UPDATE groups SET name=?3 WHERE self_id=?1 AND group_id=?2",
        rusqlite::params![ctx.self_id, g, p.group_name],
    )?;
    Ok(Value::Null)
}

/// `set_group_portrait` (go-cqhttp).
pub fn portrait(ctx: &mut Ctx<'_>, p: &SetGroupPortrait) -> Out {
    set_avatar(ctx, p.group_id, &p.file, "set_group_portrait")
}

/// `set_group_head` (NapCat).
pub fn head(ctx: &mut Ctx<'_>, p: &SetGroupHead) -> Out {
    set_avatar(ctx, p.group_id, &p.file, "set_group_head")
}

fn set_avatar(ctx: &mut Ctx<'_>, g: i64, file: &str, what: &str) -> Out {
    nonempty("file", file)?;
    ctx.require_role(g, MemberRole::Admin, what)?;
    ctx.db.execute(
        "UPDATE groups SET avatar=?3 WHERE self_id=?1 AND group_id=?2",
        rusqlite::params![ctx.self_id, g, file],
    )?;
    Ok(Value::Null)
}

/// `set_group_leave`.
pub fn leave(ctx: &mut Ctx<'_>, p: &SetGroupLeave) -> Out {
    let g = p.group_id;
    if ctx.bot_role(g)? == MemberRole::Owner && !p.is_dismiss {
        return Err(Fail::forbidden(format!(
            "the bot owns group {g}: pass `is_dismiss: true` to dismiss it"
        )));
    }
    remove_member(ctx, g, ctx.self_id, ctx.self_id)?;
    Ok(Value::Null)
}

/// `set_group_special_title`.
pub fn special_title(ctx: &mut Ctx<'_>, p: &SetGroupSpecialTitle) -> Out {
    let (g, u, title) = (p.group_id, p.user_id, &p.special_title);
    if title.chars().count() > 18 {
        return Err(Fail::bad("special_title", "at most 18 characters"));
    }
    ctx.require_role(g, MemberRole::Owner, "set_group_special_title")?;
    ctx.member_req(g, u)?;
    ctx.db.execute(
        "UPDATE members SET title=?4 WHERE self_id=?1 AND group_id=?2 AND user_id=?3",
        rusqlite::params![ctx.self_id, g, u, title],
    )?;
    ctx.notice(
        "notify",
        json!({"sub_type": "title", "group_id": g, "user_id": u, "title": title}),
    );
    Ok(Value::Null)
}

/// `get_group_honor_info`: computed from who talks (see docs/SANDBOX.md).
pub fn honor(ctx: &mut Ctx<'_>, p: &GetGroupHonorInfo) -> Out {
    let (g, kind) = (p.group_id, p.honor_type);
    ctx.group(g)?;
    let mut stmt = ctx.db.prepare(
        "SELECT user_id, COUNT(*) AS n, SUM(raw_message LIKE '%[CQ:face%' OR raw_message LIKE '%[CQ:image%')
         FROM messages WHERE self_id=?1 AND group_id=?2 AND recalled=0 AND user_id<>?3
         GROUP BY user_id ORDER BY n DESC, user_id",
    )?;
    let talkers: Vec<(i64, i64, i64)> = stmt
        .query_map(rusqlite::params![ctx.self_id, g, ANONYMOUS_USER_ID], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    drop(stmt);
    let entry = |ctx: &Ctx<'_>, u: i64, desc: String| -> Out<Value> {
        Ok(json!({"user_id": u, "nickname": ctx.nickname(u)?,
                  "avatar": format!("http://sandbox.invalid/avatar/{u}"), "description": desc}))
    };
    let want = |k: HonorType| kind == HonorType::All || kind == k;
    let mut v = json!({"group_id": g});
    if want(HonorType::Talkative) {
        v["current_talkative"] = match talkers.first() {
            Some((u, _, _)) => json!({"user_id": u, "nickname": ctx.nickname(*u)?,
                "avatar": format!("http://sandbox.invalid/avatar/{u}"), "day_count": 1}),
            None => Value::Null,
        };
        v["talkative_list"] = Value::Array(
            talkers
                .iter()
                .take(3)
                .map(|(u, n, _)| entry(ctx, *u, format!("{n} messages")))
                .collect::<Out<_>>()?,
        );
    }
    if want(HonorType::Performer) {
        v["performer_list"] = Value::Array(
            talkers
                .iter()
                .skip(3)
                .take(3)
                .map(|(u, n, _)| entry(ctx, *u, format!("{n} messages")))
                .collect::<Out<_>>()?,
        );
    }
    if want(HonorType::Legend) {
        v["legend_list"] = Value::Array(
            talkers
                .iter()
                .filter(|(_, n, _)| *n >= 100)
                .map(|(u, n, _)| entry(ctx, *u, format!("{n} messages")))
                .collect::<Out<_>>()?,
        );
    }
    if want(HonorType::StrongNewbie) {
        let recent: Vec<i64> = ctx
            .members(g)?
            .into_iter()
            .filter(|m| {
                m.user_id != ctx.self_id
                    && ctx.now - m.join_time < 7 * 86_400
                    && m.role == MemberRole::Member
            })
            .map(|m| m.user_id)
            .collect();
        v["strong_newbie_list"] = Value::Array(
            recent
                .into_iter()
                .filter(|u| talkers.iter().any(|t| t.0 == *u))
                .map(|u| entry(ctx, u, "joined this week and talks".into()))
                .collect::<Out<_>>()?,
        );
    }
    if want(HonorType::Emotion) {
        v["emotion_list"] = Value::Array(
            talkers
                .iter()
                .filter(|(_, _, e)| *e > 0)
                .map(|(u, _, e)| entry(ctx, *u, format!("{e} messages with faces or images")))
                .collect::<Out<_>>()?,
        );
    }
    Ok(v)
}

/// `get_group_at_all_remain`.
pub fn at_all_remain(ctx: &mut Ctx<'_>, p: &GetGroupAtAllRemain) -> Out {
    let g = p.group_id;
    let role = ctx.bot_role(g)?;
    let left = at_all_remaining(ctx, g)?;
    Ok(json!({
        "can_at_all": role >= MemberRole::Admin && left > 0,
        "remain_at_all_count_for_group": left,
        "remain_at_all_count_for_uin": if role >= MemberRole::Admin { left } else { 0 },
    }))
}

/// `_send_group_notice`.
pub fn send_notice(ctx: &mut Ctx<'_>, p: &SendGroupNotice) -> Out {
    let (g, content) = (p.group_id, &p.content);
    let image = p.image.as_deref().unwrap_or_default();
    nonempty("content", content)?;
    ctx.require_role(g, MemberRole::Admin, "_send_group_notice")?;
    let n = ctx.next("notice_id")?;
    let id = format!("sandbox-notice-{g}-{n}");
    ctx.db.execute(
        "INSERT INTO group_notices(self_id, group_id, notice_id, sender_id, publish_time, content, image) VALUES(?1,?2,?3,?4,?5,?6,?7)",
        rusqlite::params![ctx.self_id, g, id, ctx.self_id, ctx.now, content, image],
    )?;
    Ok(json!({"notice_id": id}))
}

/// `_get_group_notice`.
pub fn get_notices(ctx: &mut Ctx<'_>, p: &GetGroupNotice) -> Out {
    let g = p.group_id;
    ctx.group(g)?;
    let mut stmt = ctx.db.prepare(
        "SELECT notice_id, sender_id, publish_time, content, image FROM group_notices
         WHERE self_id=?1 AND group_id=?2 ORDER BY publish_time DESC, notice_id DESC",
    )?;
    let rows = stmt
        .query_map(rusqlite::params![ctx.self_id, g], |r| {
            let image: String = r.get(4)?;
            Ok(json!({
                "notice_id": r.get::<_, String>(0)?,
                "sender_id": r.get::<_, i64>(1)?,
                "publish_time": r.get::<_, i64>(2)?,
                "message": {"text": r.get::<_, String>(3)?,
                            "images": if image.is_empty() { json!([]) } else { json!([{"id": image, "height": "0", "width": "0"}]) }},
            }))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Value::Array(rows))
}

/// `_del_group_notice`.
pub fn del_notice(ctx: &mut Ctx<'_>, p: &DelGroupNotice) -> Out {
    let (g, id) = (p.group_id, &p.notice_id);
    nonempty("notice_id", id)?;
    ctx.require_role(g, MemberRole::Admin, "_del_group_notice")?;
    let n = ctx.db.execute(
        "DELETE FROM group_notices WHERE self_id=?1 AND group_id=?2 AND notice_id=?3",
        rusqlite::params![ctx.self_id, g, id],
    )?;
    if n == 0 {
        return Err(Fail::unknown("group notice", id));
    }
    Ok(Value::Null)
}

/// Records a pending request and publishes the request event; returns the flag.
pub fn new_request(
    ctx: &mut Ctx<'_>,
    kind: &str,
    sub_type: &str,
    group_id: i64,
    user_id: i64,
    comment: &str,
) -> Out<String> {
    let n = ctx.next("request_id")?;
    let flag = format!("sandbox-{kind}-{n}");
    ctx.db.execute(
        "INSERT INTO requests(self_id, request_id, flag, request_type, sub_type, group_id, user_id, comment, time)
         VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)",
        rusqlite::params![ctx.self_id, n, flag, kind, sub_type, group_id, user_id, comment, ctx.now],
    )?;
    let mut ev = json!({"post_type": "request", "request_type": kind, "user_id": user_id,
                        "comment": comment, "flag": flag});
    if kind == "group" {
        ev["sub_type"] = json!(sub_type);
        ev["group_id"] = json!(group_id);
        if sub_type == "invite" {
            ev["invitor_id"] = json!(user_id);
        }
    }
    ctx.push(ev);
    Ok(flag)
}

struct Request {
    request_type: String,
    sub_type: String,
    group_id: i64,
    user_id: i64,
    state: String,
}

fn pending(ctx: &Ctx<'_>, flag: &str, kind: &str) -> Out<Request> {
    let r = rusqlite::OptionalExtension::optional(ctx.db.query_row(
        "SELECT request_type, sub_type, group_id, user_id, state FROM requests WHERE self_id=?1 AND flag=?2",
        rusqlite::params![ctx.self_id, flag],
        |r| Ok(Request { request_type: r.get(0)?, sub_type: r.get(1)?, group_id: r.get(2)?, user_id: r.get(3)?, state: r.get(4)? }),
    ))?
    .filter(|r| r.request_type == kind)
    .ok_or_else(|| Fail::unknown(&format!("{kind} request flag"), flag))?;
    if r.state != "pending" {
        return Err(Fail::invalid(format!(
            "request {flag} was already handled ({})",
            r.state
        )));
    }
    Ok(r)
}

fn settle(ctx: &Ctx<'_>, flag: &str, approve: bool) -> Out<()> {
    ctx.db.execute(
        "UPDATE requests SET state=?3, actor=?1 WHERE self_id=?1 AND flag=?2",
        rusqlite::params![
            ctx.self_id,
            flag,
            if approve { "approved" } else { "rejected" }
        ],
    )?;
    Ok(())
}

/// `set_friend_add_request`.
pub fn friend_request(ctx: &mut Ctx<'_>, p: &SetFriendAddRequest) -> Out {
    let flag = &p.flag;
    nonempty("flag", flag)?;
    let r = pending(ctx, flag, "friend")?;
    settle(ctx, flag, p.approve)?;
    if p.approve {
        ctx.ensure_person(r.user_id)?;
        ctx.db.execute(
            "INSERT OR REPLACE INTO friends(self_id, user_id, remark, category_id) VALUES(?1,?2,?3,0)",
            rusqlite::params![ctx.self_id, r.user_id, p.remark],
        )?;
        ctx.notice("friend_add", json!({"user_id": r.user_id}));
    }
    Ok(Value::Null)
}

/// `set_group_add_request`.
pub fn group_request(ctx: &mut Ctx<'_>, p: &SetGroupAddRequest) -> Out {
    let flag = &p.flag;
    nonempty("flag", flag)?;
    let r = pending(ctx, flag, "group")?;
    if let Some(st) = p.sub_type.map(|k| k.as_str()) {
        if st != r.sub_type {
            return Err(Fail::bad(
                "sub_type",
                format!("request {flag} is `{}`, not `{st}`", r.sub_type),
            ));
        }
    }
    if r.sub_type == "add" {
        ctx.require_role(r.group_id, MemberRole::Admin, "set_group_add_request")?;
    }
    settle(ctx, flag, p.approve)?;
    if p.approve {
        if r.sub_type == "add" {
            if ctx.member(r.group_id, r.user_id)?.is_none() {
                add_member(ctx, r.group_id, r.user_id, ctx.self_id, "approve")?;
            }
        } else if ctx.group(r.group_id).is_err() {
            // The bot joins the group it was invited to; the inviter is its owner.
            ctx.ensure_person(r.user_id)?;
            ctx.db.execute(
                "INSERT INTO groups(self_id, group_id, name, create_time) VALUES(?1,?2,?3,?4)",
                rusqlite::params![
                    ctx.self_id,
                    r.group_id,
                    format!("group {}", r.group_id),
                    ctx.now
                ],
            )?;
            ctx.db.execute(
                "INSERT INTO members(self_id, group_id, user_id, role, join_time) VALUES(?1,?2,?3,'owner',?4)",
                rusqlite::params![ctx.self_id, r.group_id, r.user_id, ctx.now],
            )?;
            ctx.db.execute(
                "INSERT INTO members(self_id, group_id, user_id, role, join_time) VALUES(?1,?2,?1,'member',?3)",
                rusqlite::params![ctx.self_id, r.group_id, ctx.now],
            )?;
            ctx.notice(
                "group_increase",
                json!({"sub_type": "invite", "group_id": r.group_id, "operator_id": r.user_id, "user_id": ctx.self_id}),
            );
        }
    }
    Ok(Value::Null)
}

/// `get_group_system_msg`: the bot's group requests (lists are `null` when empty).
pub fn system_msg(ctx: &mut Ctx<'_>) -> Out {
    let mut stmt = ctx.db.prepare(
        "SELECT request_id, sub_type, group_id, user_id, comment, state, actor FROM requests
         WHERE self_id=?1 AND request_type='group' ORDER BY request_id",
    )?;
    let rows: Vec<(i64, String, i64, i64, String, String, i64)> = stmt
        .query_map([ctx.self_id], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    drop(stmt);
    let mut invited = Vec::new();
    let mut join = Vec::new();
    for (id, st, g, u, comment, state, actor) in rows {
        let group_name = ctx
            .group(g)
            .map(|g| g.name)
            .unwrap_or_else(|_| format!("group {g}"));
        let nick = ctx.nickname(u)?;
        let checked = state != "pending";
        if st == "invite" {
            invited.push(
                json!({"request_id": id, "invitor_uin": u, "invitor_nick": nick, "group_id": g,
                                "group_name": group_name, "checked": checked, "actor": actor}),
            );
        } else {
            join.push(json!({"request_id": id, "requester_uin": u, "requester_nick": nick, "message": comment,
                             "group_id": g, "group_name": group_name, "checked": checked, "actor": actor}));
        }
    }
    let or_null = |v: Vec<Value>| {
        if v.is_empty() {
            Value::Null
        } else {
            Value::Array(v)
        }
    };
    Ok(json!({"invited_requests": or_null(invited), "join_requests": or_null(join)}))
}
