//! The bot's own account: login info, status, version, profile, online
//! status, friends and categories, strangers, likes, custom faces,
//! collections, credentials and housekeeping actions.

use serde_json::{json, Value};

use crate::protocol::action::{
    CreateCollection, DeleteFriend, FetchCustomFace, GetCollectionList, GetCookies, GetCredentials,
    GetStrangerInfo, GetVipInfo, SendLike, SetOnlineStatus, SetQqProfile, SetSelfLongnick,
    SetSelfProfile,
};
use crate::upstream::sandbox::params::{Fail, Out};
use crate::upstream::sandbox::store::{fnv, Ctx};

/// `app_name` of `get_version_info`.
pub const APP_NAME: &str = "onebot-gateway-sandbox";

/// `get_login_info`.
pub fn login_info(ctx: &mut Ctx<'_>) -> Out {
    Ok(json!({"user_id": ctx.self_id, "nickname": ctx.bot_nickname()?}))
}

/// `get_status`: online state and real counters.
pub fn status(ctx: &mut Ctx<'_>) -> Out {
    let (status, ext, battery): (i64, i64, i64) = ctx.db.query_row(
        "SELECT status, ext_status, battery_status FROM bots WHERE self_id=?1",
        [ctx.self_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let last: i64 = ctx.db.query_row(
        "SELECT COALESCE(MAX(time), 0) FROM messages WHERE self_id=?1",
        [ctx.self_id],
        |r| r.get(0),
    )?;
    Ok(json!({
        "app_initialized": true,
        "app_enabled": true,
        "plugins_good": true,
        "app_good": true,
        "online": true,
        "good": true,
        "online_status": {"status": status, "ext_status": ext, "battery_status": battery},
        "stat": {
            "packet_received": ctx.counter("packet_received")?,
            "packet_sent": ctx.counter("packet_sent")?,
            "packet_lost": 0,
            "message_received": ctx.counter("message_received")?,
            "message_sent": ctx.counter("message_sent")?,
            "disconnect_times": 0,
            "lost_times": 0,
            "last_message_time": last,
        },
    }))
}

/// `get_version_info`.
pub fn version(_ctx: &mut Ctx<'_>) -> Out {
    Ok(json!({
        "app_name": APP_NAME,
        "app_version": env!("CARGO_PKG_VERSION"),
        "protocol_version": "v11",
        "runtime_version": "rust",
        "runtime_os": std::env::consts::OS,
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

fn set_bot(ctx: &Ctx<'_>, column: &str, value: &dyn rusqlite::ToSql) -> Out<()> {
    ctx.db.execute(
        &format!("UPDATE bots SET {column}=?2 WHERE self_id=?1"),
        rusqlite::params![ctx.self_id, value],
    )?;
    Ok(())
}

/// `set_self_longnick`.
pub fn set_longnick(ctx: &mut Ctx<'_>, p: &SetSelfLongnick) -> Out {
    if p.long_nick.chars().count() > 255 {
        return Err(Fail::bad("longNick", "at most 255 characters"));
    }
    set_bot(ctx, "longnick", &p.long_nick)?;
    Ok(json!({"result": 0, "errMsg": ""}))
}

fn parse_sex(sex: Option<&str>) -> Out<Option<&'static str>> {
    Ok(match sex {
        None | Some("") => None,
        Some("male" | "1") => Some("male"),
        Some("female" | "2") => Some("female"),
        Some("unknown" | "0" | "255") => Some("unknown"),
        Some(other) => {
            return Err(Fail::bad(
                "sex",
                format!("`{other}` is not male/female/unknown (or 1/2/0)"),
            ))
        }
    })
}

/// Changes the given parts of the profile; `nick_field` names the nickname in errors.
fn set_profile(
    ctx: &Ctx<'_>,
    nick_field: &str,
    nick: Option<&str>,
    note: Option<&str>,
    sex: Option<&str>,
) -> Out {
    let sex = parse_sex(sex)?;
    if nick.is_none() && note.is_none() && sex.is_none() {
        return Err(Fail::bad(nick_field, "missing: nothing to change"));
    }
    if let Some(n) = nick {
        if n.trim().is_empty() || n.chars().count() > 36 {
            return Err(Fail::bad(nick_field, "1 to 36 characters"));
        }
        set_bot(ctx, "nickname", &n)?;
    }
    if let Some(n) = note {
        set_bot(ctx, "longnick", &n)?;
    }
    if let Some(s) = sex {
        set_bot(ctx, "sex", &s)?;
    }
    Ok(json!({"result": 0, "errMsg": ""}))
}

/// `set_self_profile` (NapCat).
pub fn set_self_profile(ctx: &mut Ctx<'_>, p: &SetSelfProfile) -> Out {
    let (note, sex) = (p.long_nick.as_deref(), p.sex.as_deref());
    set_profile(ctx, "nick", Some(p.nick.as_str()), note, sex)
}

/// `set_qq_profile` (go-cqhttp; `company`, `email` and `college` are not kept).
pub fn set_qq_profile(ctx: &mut Ctx<'_>, p: &SetQqProfile) -> Out {
    let (nick, note) = (p.nickname.as_deref(), p.personal_note.as_deref());
    set_profile(ctx, "nickname", nick, note, p.sex.as_deref())
}

/// `set_online_status` (NapCat codes: 10 online, 30 away, 40 invisible, 50 busy, 60 Q me, 70 DND).
pub fn set_online_status(ctx: &mut Ctx<'_>, p: &SetOnlineStatus) -> Out {
    if ![10, 30, 40, 50, 60, 70].contains(&p.status) {
        return Err(Fail::bad(
            "status",
            "expected one of 10, 30, 40, 50, 60, 70",
        ));
    }
    if !(0..=100).contains(&p.battery_status) {
        return Err(Fail::bad("batteryStatus", "expected 0 to 100"));
    }
    set_bot(ctx, "status", &p.status)?;
    set_bot(ctx, "ext_status", &p.ext_status)?;
    set_bot(ctx, "battery_status", &p.battery_status)?;
    Ok(Value::Null)
}

fn friend_rows(ctx: &Ctx<'_>) -> Out<Vec<(i64, String, i64)>> {
    let mut stmt = ctx.db.prepare(
        "SELECT user_id, remark, category_id FROM friends WHERE self_id=?1 ORDER BY user_id",
    )?;
    let rows = stmt
        .query_map([ctx.self_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

fn friend_json(ctx: &Ctx<'_>, u: i64, remark: &str, category: i64) -> Out<Value> {
    let (nickname, sex, age, _, level) = ctx.known_person(u)?;
    Ok(
        json!({"user_id": u, "nickname": nickname, "remark": remark, "sex": sex, "age": age,
              "level": level, "category_id": category}),
    )
}

/// `get_friend_list`.
pub fn friend_list(ctx: &mut Ctx<'_>) -> Out {
    let out = friend_rows(ctx)?
        .iter()
        .map(|(u, r, c)| friend_json(ctx, *u, r, *c))
        .collect::<Out<Vec<_>>>()?;
    Ok(Value::Array(out))
}

/// `get_friends_with_category`.
pub fn friends_with_category(ctx: &mut Ctx<'_>) -> Out {
    let mut stmt = ctx.db.prepare(
        "SELECT category_id, name FROM categories WHERE self_id=?1 ORDER BY category_id",
    )?;
    let cats: Vec<(i64, String)> = stmt
        .query_map([ctx.self_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    drop(stmt);
    let friends = friend_rows(ctx)?;
    let mut out = Vec::new();
    for (i, (id, name)) in cats.iter().enumerate() {
        let buddies = friends
            .iter()
            .filter(|f| f.2 == *id)
            .map(|(u, r, c)| friend_json(ctx, *u, r, *c))
            .collect::<Out<Vec<_>>>()?;
        out.push(
            json!({"categoryId": id, "categorySortId": i, "categoryName": name,
                        "categoryMbCount": buddies.len(), "onlineCount": buddies.len(),
                        "buddyList": buddies}),
        );
    }
    Ok(Value::Array(out))
}

/// `get_stranger_info`.
pub fn stranger_info(ctx: &mut Ctx<'_>, p: &GetStrangerInfo) -> Out {
    let u = p.user_id;
    let (nickname, sex, age, area, level) = ctx.known_person(u)?;
    let long_nick = if u == ctx.self_id {
        ctx.db
            .query_row("SELECT longnick FROM bots WHERE self_id=?1", [u], |r| {
                r.get(0)
            })?
    } else {
        String::new()
    };
    Ok(
        json!({"user_id": u, "nickname": nickname, "sex": sex, "age": age, "area": area,
              "level": level, "qid": "", "long_nick": long_nick, "login_days": 0,
              "is_friend": ctx.is_friend(u)?}),
    )
}

/// `delete_friend` (`id` in go-cqhttp, `user_id` in NapCat).
pub fn delete_friend(ctx: &mut Ctx<'_>, p: &DeleteFriend) -> Out {
    let u = p.user_id;
    let n = ctx.db.execute(
        "DELETE FROM friends WHERE self_id=?1 AND user_id=?2",
        rusqlite::params![ctx.self_id, u],
    )?;
    if n == 0 {
        return Err(Fail::unknown("friend", u));
    }
    Ok(Value::Null)
}

/// Likes a day someone may give another.
pub const LIKES_PER_DAY: i64 = 10;

/// Records `times` likes from `from` to `to` today (direction `given` or `received`).
pub fn record_like(ctx: &Ctx<'_>, direction: &str, user_id: i64, times: i64) -> Out<()> {
    let day = ctx.now / 86_400;
    let so_far: i64 = rusqlite::OptionalExtension::optional(ctx.db.query_row(
        "SELECT times FROM likes WHERE self_id=?1 AND direction=?2 AND user_id=?3 AND day=?4",
        rusqlite::params![ctx.self_id, direction, user_id, day],
        |r| r.get(0),
    ))?
    .unwrap_or(0);
    if so_far + times > LIKES_PER_DAY {
        return Err(Fail::forbidden(format!(
            "at most {LIKES_PER_DAY} likes a day for {user_id} ({so_far} already today)"
        )));
    }
    ctx.db.execute(
        "INSERT INTO likes(self_id, direction, user_id, day, times, last_time) VALUES(?1,?2,?3,?4,?5,?6)
         ON CONFLICT(self_id, direction, user_id, day) DO UPDATE SET times=times+?5, last_time=?6",
        rusqlite::params![ctx.self_id, direction, user_id, day, times, ctx.now],
    )?;
    Ok(())
}

/// `send_like`.
pub fn send_like(ctx: &mut Ctx<'_>, p: &SendLike) -> Out {
    let (u, times) = (p.user_id, p.times);
    // The protocol refuses times < 1; more than a day's likes in one call is a bad param.
    if times > LIKES_PER_DAY {
        return Err(Fail::bad("times", format!("expected 1 to {LIKES_PER_DAY}")));
    }
    ctx.known_person(u)?;
    if u == ctx.self_id {
        return Err(Fail::bad("user_id", "the bot cannot like itself"));
    }
    record_like(ctx, "given", u, times)?;
    Ok(Value::Null)
}

fn like_infos(ctx: &Ctx<'_>, direction: &str) -> Out<Value> {
    let mut stmt = ctx.db.prepare(
        "SELECT user_id, SUM(times), MAX(last_time), SUM(CASE WHEN day=?3 THEN times ELSE 0 END)
         FROM likes WHERE self_id=?1 AND direction=?2 GROUP BY user_id ORDER BY MAX(last_time) DESC, user_id",
    )?;
    let rows: Vec<(i64, i64, i64, i64)> = stmt
        .query_map(
            rusqlite::params![ctx.self_id, direction, ctx.now / 86_400],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?
        .collect::<Result<_, _>>()?;
    drop(stmt);
    let total: i64 = rows.iter().map(|r| r.1).sum();
    let today: i64 = rows.iter().map(|r| r.3).sum();
    let last = rows.iter().map(|r| r.2).max().unwrap_or(0);
    let users = rows
        .iter()
        .map(|(u, n, t, _)| {
            Ok(json!({"uin": u, "user_id": u, "nick": ctx.nickname(*u)?, "count": n, "latestTime": t,
                      "isFriend": ctx.is_friend(*u)?}))
        })
        .collect::<Out<Vec<_>>>()?;
    Ok(json!({"total_count": total, "today_count": today, "last_time": last, "userInfos": users}))
}

/// `get_profile_like`: likes received (`favoriteInfo`) and given (`voteInfo`).
pub fn profile_like(ctx: &mut Ctx<'_>) -> Out {
    Ok(json!({
        "uid": ctx.self_id.to_string(),
        "time": ctx.now,
        "favoriteInfo": like_infos(ctx, "received")?,
        "voteInfo": like_infos(ctx, "given")?,
    }))
}

/// `fetch_custom_face`.
pub fn custom_face(ctx: &mut Ctx<'_>, p: &FetchCustomFace) -> Out {
    let count = p.count;
    if count < 1 {
        return Err(Fail::bad("count", "expected a positive integer"));
    }
    let mut stmt = ctx
        .db
        .prepare("SELECT url FROM custom_faces WHERE self_id=?1 ORDER BY position LIMIT ?2")?;
    let urls = stmt
        .query_map(rusqlite::params![ctx.self_id, count], |r| {
            r.get::<_, String>(0)
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!(urls))
}

/// `create_collection` (a text collection, category 1).
pub fn create_collection(ctx: &mut Ctx<'_>, p: &CreateCollection) -> Out {
    if p.raw_data.trim().is_empty() {
        return Err(Fail::bad("rawData", "must not be empty"));
    }
    let n = ctx.next("collection_id")?;
    ctx.db.execute(
        "INSERT INTO collections(self_id, collection_id, raw_data, brief, category, time) VALUES(?1,?2,?3,?4,1,?5)",
        rusqlite::params![ctx.self_id, n, p.raw_data, p.brief, ctx.now],
    )?;
    Ok(json!({"result": 0, "errMsg": "", "collectionItemList": [{"cid": n.to_string()}]}))
}

/// `get_collection_list` (`category` 0 lists every category).
pub fn collection_list(ctx: &mut Ctx<'_>, p: &GetCollectionList) -> Out {
    let category = p.category;
    let count = if p.count <= 0 { 50 } else { p.count };
    let mut stmt = ctx.db.prepare(
        "SELECT collection_id, raw_data, brief, category, time FROM collections
         WHERE self_id=?1 AND (?2=0 OR category=?2) ORDER BY time DESC, collection_id DESC LIMIT ?3",
    )?;
    let nick = ctx.bot_nickname()?;
    let items = stmt
        .query_map(rusqlite::params![ctx.self_id, category, count], |r| {
            let id: i64 = r.get(0)?;
            let time: i64 = r.get(4)?;
            Ok(json!({"cid": id.to_string(), "type": 1, "status": 1, "category": r.get::<_, i64>(3)?,
                      "author": {"type": 1, "numId": ctx.self_id.to_string(), "strId": nick, "groupId": "0", "groupName": ""},
                      "bid": 1, "createTime": time.to_string(), "collectTime": time.to_string(),
                      "modifyTime": time.to_string(), "sequence": id.to_string(), "shareUrl": "",
                      "customGroupId": 0, "securityBeat": false,
                      "summary": {"textSummary": {"brief": r.get::<_, String>(2)?}},
                      "rawData": r.get::<_, String>(1)?}))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json!({"errCode": 0, "errMsg": "", "collectionSearchList": {
        "collectionItemList": items, "hasMore": false, "bottomTimeStamp": "0"}}))
}

fn skey(ctx: &Ctx<'_>) -> String {
    format!(
        "@{:09x}",
        fnv(format!("skey:{}", ctx.self_id).as_bytes()) & 0xf_ffff_ffff
    )
}

/// The `bkn` / CSRF token QQ web APIs derive from `skey`.
pub fn csrf_token(skey: &str) -> i64 {
    let mut hash: i64 = 5381;
    for c in skey.chars() {
        hash = hash.wrapping_add((hash << 5).wrapping_add(c as i64));
    }
    hash & 0x7fff_ffff
}

fn cookie_header(ctx: &Ctx<'_>, domain: &str) -> String {
    let mut c = format!("uin=o{}; skey={}", ctx.self_id, skey(ctx));
    if !domain.is_empty() {
        c.push_str(&format!(
            "; p_uin=o{}; p_skey={:016x}",
            ctx.self_id,
            fnv(format!("{}:{domain}", ctx.self_id).as_bytes())
        ));
    }
    c
}

/// `get_cookies`.
pub fn cookies(ctx: &mut Ctx<'_>, p: &GetCookies) -> Out {
    let token = csrf_token(&skey(ctx));
    Ok(json!({"cookies": cookie_header(ctx, &p.domain), "bkn": token.to_string()}))
}

/// `get_csrf_token`.
pub fn csrf(ctx: &mut Ctx<'_>) -> Out {
    Ok(json!({"token": csrf_token(&skey(ctx))}))
}

/// `get_credentials`.
pub fn credentials(ctx: &mut Ctx<'_>, p: &GetCredentials) -> Out {
    let token = csrf_token(&skey(ctx));
    Ok(json!({"cookies": cookie_header(ctx, &p.domain), "csrf_token": token}))
}

/// `get_online_clients`: the sandbox is the one client.
pub fn online_clients(_ctx: &mut Ctx<'_>) -> Out {
    Ok(
        json!({"clients": [{"app_id": 537_000_000, "device_name": "onebot-gateway sandbox", "device_kind": "sandbox"}]}),
    )
}

/// `_get_vip_info`: derived from the person's level (see docs/SANDBOX.md).
pub fn vip_info(ctx: &mut Ctx<'_>, p: &GetVipInfo) -> Out {
    let u = p.user_id;
    let (nickname, _, _, _, level) = ctx.known_person(u)?;
    let vip = match level {
        l if l >= 40 => "SVIP",
        l if l >= 16 => "VIP",
        _ => "普通用户",
    };
    Ok(
        json!({"user_id": u, "nickname": nickname, "level": level, "level_speed": 1.0,
              "vip_level": vip, "vip_growth_speed": if vip == "普通用户" { 0 } else { 10 },
              "vip_growth_total": level * 100}),
    )
}

/// `get_robot_uin_range`: the ranges NapCat documents.
pub fn robot_uin_range(_ctx: &mut Ctx<'_>) -> Out {
    Ok(json!([
        {"minUin": "3328144510", "maxUin": "3328144510"},
        {"minUin": "2854196301", "maxUin": "2854216399"},
        {"minUin": "66600000", "maxUin": "66600000"},
        {"minUin": "3889000000", "maxUin": "3889999999"},
        {"minUin": "4010000000", "maxUin": "4019999999"}
    ]))
}
