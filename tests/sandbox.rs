//! The sandbox account: actions per family, the notices they produce,
//! persistence across a restart, bad params and unknown ids, and the HTTP
//! injection API (on a real listener on 127.0.0.1:0) with the CLI client.

use std::sync::{Arc, Mutex};

use onebot_gateway::upstream::sandbox::{cli, Sandbox, SandboxConfig, SandboxError};
use onebot_gateway::upstream::EventSink;
use serde_json::{json, Value};

#[derive(Default)]
struct Recorder(Mutex<Vec<(i64, Value)>>);

impl EventSink for Recorder {
    fn publish(&self, self_id: i64, event: Value) {
        self.0.lock().unwrap().push((self_id, event));
    }
}

impl Recorder {
    fn take(&self) -> Vec<Value> {
        std::mem::take(&mut *self.0.lock().unwrap())
            .into_iter()
            .map(|(id, e)| {
                assert_eq!(e["self_id"], json!(id), "event self_id matches the bot");
                assert!(e["time"].as_i64().unwrap() > 1_600_000_000, "{e}");
                e
            })
            .collect()
    }
}

struct World {
    sb: Arc<Sandbox>,
    ev: Arc<Recorder>,
}

#[derive(Debug)]
struct Answer {
    status: String,
    retcode: i64,
    data: Value,
    message: String,
}

impl Answer {
    fn ok(self) -> Value {
        assert_eq!(
            (self.status.as_str(), self.retcode),
            ("ok", 0),
            "{}",
            self.message
        );
        self.data
    }
    fn failed(self, retcode: i64, needle: &str) {
        assert_eq!(self.status, "failed", "{:?}", self.data);
        assert_eq!(self.retcode, retcode, "{}", self.message);
        assert!(
            self.message.contains(needle),
            "`{}` does not mention `{needle}`",
            self.message
        );
    }
}

impl World {
    fn new() -> Self {
        Self::with(&SandboxConfig::default())
    }
    fn with(config: &SandboxConfig) -> Self {
        let ev = Arc::new(Recorder::default());
        let sb = Sandbox::open(config, ev.clone()).unwrap();
        Self { sb, ev }
    }
    fn call(&self, action: &str, params: Value) -> Answer {
        self.call_as(10000, action, params)
    }
    fn call_as(&self, bot: i64, action: &str, params: Value) -> Answer {
        let r = self.sb.call(bot, action, &params);
        let v: Value = serde_json::from_str(&r.to_json()).unwrap();
        Answer {
            status: v["status"].as_str().unwrap().to_owned(),
            retcode: v["retcode"].as_i64().unwrap(),
            data: v["data"].clone(),
            message: v["message"].as_str().unwrap_or("").to_owned(),
        }
    }
    fn ok(&self, action: &str, params: Value) -> Value {
        self.call(action, params).ok()
    }
    fn events(&self) -> Vec<Value> {
        self.ev.take()
    }
    /// Someone else says something, through the same code the HTTP API uses.
    fn say(&self, group: Option<i64>, user: i64, message: impl Into<Value>) -> i64 {
        let message: Value = message.into();
        let sb = self.sb.clone();
        let body = json!({"group_id": group, "user_id": user, "message": message});
        http_roundtrip(&sb, "say", body)["message_id"]
            .as_i64()
            .unwrap()
    }
}

fn notices<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["notice_type"] == kind || e["request_type"] == kind)
        .collect()
}

// ---- the HTTP side -------------------------------------------------------

struct Server {
    url: String,
    rt: tokio::runtime::Runtime,
}

fn serve(sb: &Arc<Sandbox>) -> Server {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    // As the gateway mounts it.
    let app = axum::Router::new().nest_service(
        "/sandbox",
        onebot_gateway::upstream::sandbox::inject::router(sb.clone()),
    );
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server { url, rt }
}

fn http_roundtrip(sb: &Arc<Sandbox>, route: &str, body: Value) -> Value {
    let server = serve(sb);
    let out = cli::call(
        &server.url,
        "POST",
        &format!("/sandbox/10000/{route}"),
        None,
        Some(&body.to_string()),
    );
    drop(server.rt);
    out.unwrap_or_else(|e| panic!("{route} {body}: {e}"))
}

// ---- world and lists ------------------------------------------------------

/// Opening a sandbox with `config` fails; the error, or a panic saying `why`.
fn refused(config: SandboxConfig, why: &str) -> SandboxError {
    Sandbox::open(&config, Arc::new(Recorder::default()))
        .err()
        .expect(why)
}

#[test]
fn default_world_has_a_bot_friends_and_groups() {
    let w = World::new();
    assert_eq!(w.sb.self_ids(), vec![10000]);
    assert_eq!(
        w.ok("get_login_info", Value::Null),
        json!({"user_id": 10000, "nickname": "sandbox"})
    );
    let friends = w.ok("get_friend_list", json!({}));
    let ids: Vec<i64> = friends
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["user_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![20001, 20002, 20003]);
    assert_eq!(friends[0]["nickname"], "Alice");
    assert_eq!(friends[0]["remark"], "alice");
    let cats = w.ok("get_friends_with_category", json!({"no_cache": true}));
    assert_eq!(cats[0]["categoryName"], "My Friends");
    assert_eq!(cats[0]["buddyList"].as_array().unwrap().len(), 2);
    assert_eq!(cats[1]["buddyList"][0]["user_id"], 20003);

    let groups = w.ok("get_group_list", json!({}));
    assert_eq!(groups.as_array().unwrap().len(), 2);
    let g = w.ok("get_group_info", json!({"group_id": "100"}));
    assert_eq!(g["group_name"], "sandbox group");
    assert_eq!(g["member_count"], 5);
    assert_eq!(g["max_member_count"], 200);
    let members = w.ok("get_group_member_list", json!({"group_id": 100}));
    assert_eq!(members.as_array().unwrap().len(), 5);
    let me = w.ok(
        "get_group_member_info",
        json!({"group_id": 100, "user_id": 10000}),
    );
    assert_eq!(me["role"], "owner");
    let alice = w.ok(
        "get_group_member_info",
        json!({"group_id": 100, "user_id": 20001, "no_cache": "true"}),
    );
    assert_eq!(
        (alice["role"].as_str(), alice["card"].as_str()),
        (Some("admin"), Some("Alice"))
    );
    for key in [
        "nickname",
        "sex",
        "age",
        "area",
        "join_time",
        "last_sent_time",
        "level",
        "unfriendly",
        "title",
        "title_expire_time",
        "card_changeable",
    ] {
        assert!(alice.get(key).is_some(), "member info lacks {key}");
    }
    let s = w.ok("get_stranger_info", json!({"user_id": 20005}));
    assert_eq!(s["nickname"], "Eve");

    w.call("get_stranger_info", json!({"user_id": 424242}))
        .failed(1404, "unknown user 424242");
    w.call("get_group_info", json!({"group_id": 123}))
        .failed(1404, "unknown group 123");
    w.call("get_group_info", json!({"group_id": "abc"}))
        .failed(1400, "`group_id`");
    w.call("get_group_info", json!({}))
        .failed(1400, "`group_id`");
    w.call(
        "get_group_member_info",
        json!({"group_id": 100, "user_id": 20005}),
    )
    .failed(1404, "unknown member 20005");
    w.call("no_such_action", json!({}))
        .failed(1404, "unsupported action");
    w.call_as(777, "get_login_info", json!({}))
        .failed(1404, "unknown bot 777");
    assert!(w.events().is_empty(), "reads publish nothing");
}

// ---- messages -------------------------------------------------------------

#[test]
fn sending_stores_publishes_message_sent_and_get_msg_reads_back() {
    let w = World::new();
    let sent = w.ok(
        "send_group_msg",
        json!({"group_id": "100", "message": "hi [CQ:face,id=1]"}),
    );
    let id = sent["message_id"]
        .as_i64()
        .expect("message_id is an integer");
    let ev = w.events();
    assert_eq!(ev.len(), 1);
    let e = &ev[0];
    assert_eq!(e["post_type"], "message_sent");
    assert_eq!(e["message_type"], "group");
    assert_eq!(e["group_id"], 100);
    assert_eq!(e["message_id"], id);
    assert_eq!(e["user_id"], 10000);
    assert_eq!(e["sender"]["role"], "owner");
    assert!(e["message"].is_array());
    assert!(e["raw_message"].is_string());

    let m = w.ok("get_msg", json!({"message_id": id}));
    for key in [
        "time",
        "message_type",
        "message_id",
        "real_id",
        "sender",
        "message",
        "raw_message",
    ] {
        assert!(m.get(key).is_some(), "get_msg lacks {key}");
    }
    assert_eq!(m["message_id"], id);
    assert_eq!(m["sender"]["user_id"], 10000);
    assert_eq!(m["message"], e["message"]);

    // send_msg picks the target from message_type or the ids; ids as strings.
    let a = w.ok("send_msg", json!({"message_type": "private", "user_id": "20001", "message": [{"type": "text", "data": {"text": "yo"}}]}));
    let b = w.ok(
        "send_msg",
        json!({"user_id": 20002, "message": "auto", "auto_escape": 1}),
    );
    assert!(b["message_id"].as_i64().unwrap() > a["message_id"].as_i64().unwrap());
    let ev = w.events();
    assert_eq!(ev[0]["message_type"], "private");
    assert_eq!(ev[0]["target_id"], 20001);
    assert_eq!(ev[0]["sub_type"], "friend");
    // Temporary chat with a group member who is not a friend.
    w.ok(
        "send_private_msg",
        json!({"user_id": 20004, "message": "psst"}),
    );
    assert_eq!(w.events()[0]["sub_type"], "group");

    w.call(
        "send_private_msg",
        json!({"user_id": 99999, "message": "x"}),
    )
    .failed(1404, "unknown user 99999");
    w.call("send_group_msg", json!({"group_id": 555, "message": "x"}))
        .failed(1404, "unknown group 555");
    w.call("send_group_msg", json!({"group_id": 100}))
        .failed(1400, "`message`");
    w.call("send_group_msg", json!({"group_id": 100, "message": ""}))
        .failed(1400, "empty");
    w.call("send_group_msg", json!({"group_id": 100, "message": []}))
        .failed(1400, "empty");
    w.call(
        "send_group_msg",
        json!({"group_id": 100, "message": [{"data": {}}]}),
    )
    .failed(1400, "type");
    w.call("send_group_msg", json!({"group_id": 100, "message": 5}))
        .failed(1400, "`message`");
    w.call(
        "send_msg",
        json!({"message_type": "channel", "user_id": 1, "message": "x"}),
    )
    .failed(1400, "`message_type`");
    w.call("send_group_msg", json!({"group_id": 100, "message": [{"type": "reply", "data": {"id": "9999"}}, {"type": "text", "data": {"text": "x"}}]}))
        .failed(1404, "unknown message 9999");
    w.call("get_msg", json!({"message_id": 4242}))
        .failed(1404, "unknown message 4242");
    w.call("get_msg", json!({"message_id": true}))
        .failed(1400, "`message_id`");
    assert!(w.events().is_empty(), "failed sends publish nothing");
}

#[test]
fn history_pages_by_message_seq_and_count() {
    let w = World::new();
    let ids: Vec<i64> = (0..25)
        .map(|i| {
            w.ok(
                "send_group_msg",
                json!({"group_id": 100, "message": format!("m{i}")}),
            )["message_id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    w.ok(
        "send_group_msg",
        json!({"group_id": 101, "message": "elsewhere"}),
    );
    let h = w.ok(
        "get_group_msg_history",
        json!({"group_id": 100, "count": 10}),
    );
    let got: Vec<i64> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, ids[15..].to_vec(), "the newest ten, oldest first");
    let h = w.ok(
        "get_group_msg_history",
        json!({"group_id": 100, "message_seq": ids[4], "count": 3}),
    );
    let got: Vec<i64> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, ids[2..5].to_vec());
    let h = w.ok("get_group_msg_history", json!({"group_id": 100}));
    assert_eq!(h["messages"].as_array().unwrap().len(), 20, "default count");
    assert_eq!(h["messages"][0]["group_id"], 100);
    w.call(
        "get_group_msg_history",
        json!({"group_id": 100, "count": 0}),
    )
    .failed(1400, "`count`");
    w.call("get_group_msg_history", json!({"group_id": 9}))
        .failed(1404, "unknown group 9");
}

#[test]
fn forward_messages_store_nodes_and_read_back() {
    let w = World::new();
    let said = w.say(Some(100), 20002, "original words");
    let sent = w.ok(
        "send_group_forward_msg",
        json!({"group_id": 100, "messages": [
            {"type": "node", "data": {"name": "A", "uin": "20001", "content": "custom one"}},
            {"type": "node", "data": {"id": said.to_string()}},
            {"type": "node", "data": {"user_id": 20003, "content": [{"type": "text", "data": {"text": "custom two"}}]}}
        ]}),
    );
    assert!(sent["message_id"].as_i64().unwrap() > said);
    let fid = sent["forward_id"].as_str().unwrap().to_owned();
    let f = w.ok("get_forward_msg", json!({"id": fid}));
    let msgs = f["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 3);
    assert_eq!(msgs[0]["sender"]["nickname"], "A");
    assert_eq!(msgs[1]["sender"]["user_id"], 20002);
    assert_eq!(msgs[1]["content"][0]["data"]["text"], "original words");
    assert_eq!(msgs[2]["sender"]["nickname"], "Carol");
    assert_eq!(f["message"][0]["type"], "node");
    // The forward message itself points at the forward id; get_forward_msg accepts its message id too.
    let m = w.ok("get_msg", json!({"message_id": sent["message_id"]}));
    assert_eq!(m["message"][0]["type"], "forward");
    let again = w.ok("get_forward_msg", json!({"message_id": sent["message_id"]}));
    assert_eq!(again["messages"], f["messages"]);
    // Private forward.
    w.ok("send_private_forward_msg", json!({"user_id": 20001, "messages": [{"type": "node", "data": {"uin": 1, "name": "x", "content": "y"}}]}));
    w.call("get_forward_msg", json!({"id": "nope"}))
        .failed(1404, "unknown forward message nope");
    w.call(
        "send_group_forward_msg",
        json!({"group_id": 100, "messages": [{"type": "node", "data": {"name": "x"}}]}),
    )
    .failed(1400, "`messages`");
    w.call(
        "send_group_forward_msg",
        json!({"group_id": 100, "messages": [{"type": "node", "data": {"id": 777}}]}),
    )
    .failed(1404, "unknown message 777");
}

#[test]
fn recall_essence_emoji_and_pokes_produce_their_notices() {
    let w = World::new();
    let own = w.ok(
        "send_group_msg",
        json!({"group_id": 100, "message": "oops"}),
    )["message_id"]
        .clone();
    w.events();
    w.ok("delete_msg", json!({"message_id": own}));
    let ev = w.events();
    let r = notices(&ev, "group_recall");
    assert_eq!(r.len(), 1);
    assert_eq!(
        (
            r[0]["group_id"].as_i64(),
            r[0]["user_id"].as_i64(),
            r[0]["operator_id"].as_i64()
        ),
        (Some(100), Some(10000), Some(10000))
    );
    assert_eq!(r[0]["message_id"], own);
    w.call("get_msg", json!({"message_id": own}))
        .failed(1404, "recalled");
    w.call("delete_msg", json!({"message_id": own}))
        .failed(1404, "recalled");

    // The bot (owner of 100) recalls a member's message; in 101 it is a plain member.
    let theirs = w.say(Some(100), 20002, "spam");
    let in_101 = w.say(Some(101), 20005, "hello");
    w.events();
    w.ok("delete_msg", json!({"message_id": theirs}));
    assert_eq!(notices(&w.events(), "group_recall")[0]["user_id"], 20002);
    w.call("delete_msg", json!({"message_id": in_101}))
        .failed(1403, "cannot recall");

    // Private recall.
    let dm = w.ok(
        "send_private_msg",
        json!({"user_id": 20001, "message": "dm"}),
    )["message_id"]
        .clone();
    w.events();
    w.ok("delete_msg", json!({"message_id": dm}));
    let fr = w.events();
    assert_eq!(notices(&fr, "friend_recall")[0]["user_id"], 20001);

    // Essence.
    let good = w.say(Some(100), 20003, "wisdom");
    w.events();
    w.ok("set_essence_msg", json!({"message_id": good}));
    let ev = w.events();
    let e = notices(&ev, "essence");
    assert_eq!(
        (
            e[0]["sub_type"].as_str(),
            e[0]["sender_id"].as_i64(),
            e[0]["operator_id"].as_i64()
        ),
        (Some("add"), Some(20003), Some(10000))
    );
    let list = w.ok("get_essence_msg_list", json!({"group_id": 100}));
    assert_eq!(list[0]["message_id"], good);
    assert_eq!(list[0]["sender_nick"], "Carol");
    assert_eq!(list[0]["operator_id"], 10000);
    w.ok("delete_essence_msg", json!({"message_id": good}));
    assert_eq!(notices(&w.events(), "essence")[0]["sub_type"], "delete");
    assert_eq!(
        w.ok("get_essence_msg_list", json!({"group_id": 100})),
        json!([])
    );
    w.call("delete_essence_msg", json!({"message_id": good}))
        .failed(1404, "essence");
    w.call("set_essence_msg", json!({"message_id": in_101}))
        .failed(1403, "admin");

    // Emoji likes feed fetch_emoji_like.
    w.ok(
        "set_msg_emoji_like",
        json!({"message_id": good, "emoji_id": "76"}),
    );
    let likes = w.ok(
        "fetch_emoji_like",
        json!({"message_id": good, "emojiId": "76", "emojiType": "1"}),
    );
    assert_eq!(likes["emojiLikesList"][0]["tinyId"], "10000");
    let none = w.ok(
        "fetch_emoji_like",
        json!({"message_id": good, "emojiId": 77, "emojiType": 1}),
    );
    assert_eq!(none["emojiLikesList"], json!([]));
    w.call(
        "fetch_emoji_like",
        json!({"message_id": 9999, "emojiId": "76", "emojiType": "1"}),
    )
    .failed(1404, "unknown message 9999");

    // Pokes.
    w.events();
    w.ok("group_poke", json!({"group_id": 100, "user_id": 20001}));
    w.ok("friend_poke", json!({"user_id": 20002}));
    w.ok("send_poke", json!({"user_id": 20003, "group_id": 100}));
    let p = w.ok(
        "send_group_msg",
        json!({"group_id": 100, "message": [{"type": "poke", "data": {"qq": "20004"}}]}),
    );
    assert_eq!(p["message_id"], 0, "a poke-only message has id 0");
    let ev = w.events();
    let pokes = notices(&ev, "notify");
    assert_eq!(pokes.len(), 4);
    assert!(pokes
        .iter()
        .all(|p| p["sub_type"] == "poke" && p["user_id"] == 10000));
    assert_eq!(pokes[0]["target_id"], 20001);
    assert_eq!(pokes[0]["group_id"], 100);
    assert!(pokes[1].get("group_id").is_none());
    assert_eq!(pokes[3]["target_id"], 20004);
    w.call("group_poke", json!({"group_id": 100, "user_id": 20005}))
        .failed(1404, "20005");
}

#[test]
fn moderation_changes_members_and_publishes_notices() {
    let w = World::new();
    w.ok(
        "set_group_card",
        json!({"group_id": 100, "user_id": 20002, "card": "Bobby"}),
    );
    let ev = w.events();
    let c = notices(&ev, "group_card");
    assert_eq!(
        (c[0]["card_old"].as_str(), c[0]["card_new"].as_str()),
        (Some(""), Some("Bobby"))
    );
    assert_eq!(
        w.ok(
            "get_group_member_info",
            json!({"group_id": 100, "user_id": 20002})
        )["card"],
        "Bobby"
    );

    w.ok(
        "set_group_ban",
        json!({"group_id": 100, "user_id": 20002, "duration": 600}),
    );
    w.ok(
        "set_group_ban",
        json!({"group_id": 100, "user_id": 20002, "duration": 0}),
    );
    let ev = w.events();
    let b = notices(&ev, "group_ban");
    assert_eq!(
        (
            b[0]["sub_type"].as_str(),
            b[0]["duration"].as_i64(),
            b[0]["user_id"].as_i64()
        ),
        (Some("ban"), Some(600), Some(20002))
    );
    assert_eq!(b[1]["sub_type"], "lift_ban");
    w.call(
        "set_group_ban",
        json!({"group_id": 100, "user_id": 20002, "duration": -5}),
    )
    .failed(1400, "`duration`");

    w.ok(
        "set_group_admin",
        json!({"group_id": 100, "user_id": 20003}),
    );
    w.ok(
        "set_group_admin",
        json!({"group_id": 100, "user_id": 20003, "enable": false}),
    );
    let ev = w.events();
    let a = notices(&ev, "group_admin");
    assert_eq!(
        (a[0]["sub_type"].as_str(), a[1]["sub_type"].as_str()),
        (Some("set"), Some("unset"))
    );

    w.ok(
        "set_group_kick",
        json!({"group_id": 100, "user_id": 20004, "reject_add_request": true}),
    );
    let ev = w.events();
    let d = notices(&ev, "group_decrease");
    assert_eq!(
        (
            d[0]["sub_type"].as_str(),
            d[0]["user_id"].as_i64(),
            d[0]["operator_id"].as_i64()
        ),
        (Some("kick"), Some(20004), Some(10000))
    );
    assert_eq!(
        w.ok("get_group_info", json!({"group_id": 100}))["member_count"],
        4
    );
    w.call("set_group_kick", json!({"group_id": 100, "user_id": 20004}))
        .failed(1404, "unknown member 20004");

    // In group 101 the bot is a plain member.
    w.call("set_group_kick", json!({"group_id": 101, "user_id": 20005}))
        .failed(1403, "admin");
    w.call("set_group_ban", json!({"group_id": 101, "user_id": 20005}))
        .failed(1403, "admin");
    w.call(
        "set_group_card",
        json!({"group_id": 101, "user_id": 20005, "card": "x"}),
    )
    .failed(1403, "admin");
    w.call(
        "set_group_name",
        json!({"group_id": 101, "group_name": "mine"}),
    )
    .failed(1403, "admin");
    w.ok(
        "set_group_card",
        json!({"group_id": 101, "user_id": 10000, "card": "bot card"}),
    );

    w.ok("set_group_whole_ban", json!({"group_id": 100}));
    let ev = w.events();
    let wb = notices(&ev, "group_ban");
    assert_eq!(
        (
            wb.last().unwrap()["user_id"].as_i64(),
            wb.last().unwrap()["sub_type"].as_str()
        ),
        (Some(0), Some("ban"))
    );
    let said = http_roundtrip_failure(
        &w.sb,
        "say",
        json!({"group_id": 100, "user_id": 20002, "message": "hey"}),
    );
    assert!(said.contains("muted"), "{said}");
    w.ok(
        "set_group_whole_ban",
        json!({"group_id": 100, "enable": false}),
    );

    w.ok(
        "set_group_special_title",
        json!({"group_id": 100, "user_id": 20002, "special_title": "champion"}),
    );
    assert_eq!(
        w.ok(
            "get_group_member_info",
            json!({"group_id": 100, "user_id": 20002})
        )["title"],
        "champion"
    );
    w.ok(
        "set_group_name",
        json!({"group_id": 100, "group_name": "renamed"}),
    );
    assert_eq!(
        w.ok("get_group_info", json!({"group_id": 100}))["group_name"],
        "renamed"
    );
    let honor = w.ok(
        "get_group_honor_info",
        json!({"group_id": 100, "type": "all"}),
    );
    assert!(honor.get("talkative_list").is_some());
    w.call(
        "get_group_honor_info",
        json!({"group_id": 100, "type": "best"}),
    )
    .failed(1400, "`type`");
    let at = w.ok("get_group_at_all_remain", json!({"group_id": 100}));
    assert_eq!(at["can_at_all"], true);
    w.ok("send_group_msg", json!({"group_id": 100, "message": [{"type": "at", "data": {"qq": "all"}}, {"type": "text", "data": {"text": " meeting"}}]}));
    let at2 = w.ok("get_group_at_all_remain", json!({"group_id": 100}));
    assert_eq!(
        at2["remain_at_all_count_for_uin"].as_i64().unwrap(),
        at["remain_at_all_count_for_uin"].as_i64().unwrap() - 1
    );
    w.call(
        "send_group_msg",
        json!({"group_id": 101, "message": [{"type": "at", "data": {"qq": "all"}}]}),
    )
    .failed(1403, "@all");

    w.ok(
        "_send_group_notice",
        json!({"group_id": 100, "content": "rules"}),
    );
    assert_eq!(
        w.ok("_get_group_notice", json!({"group_id": 100}))[0]["message"]["text"],
        "rules"
    );

    w.call("set_group_leave", json!({"group_id": 100}))
        .failed(1403, "is_dismiss");
    w.ok("set_group_leave", json!({"group_id": 101}));
    let ev = w.events();
    assert_eq!(
        notices(&ev, "group_decrease").last().unwrap()["user_id"],
        10000
    );
    w.call("get_group_info", json!({"group_id": 101}))
        .failed(1404, "unknown group 101");
}

fn http_roundtrip_failure(sb: &Arc<Sandbox>, route: &str, body: Value) -> String {
    let server = serve(sb);
    let out = cli::call(
        &server.url,
        "POST",
        &format!("/sandbox/10000/{route}"),
        None,
        Some(&body.to_string()),
    );
    drop(server.rt);
    out.expect_err("expected a failure")
}

// ---- files ----------------------------------------------------------------

#[test]
fn group_files_and_folders_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let w = World::with(&SandboxConfig {
        files_dir: Some(dir.path().to_owned()),
        ..Default::default()
    });
    let local = dir.path().canonicalize().unwrap().join("report.txt");
    std::fs::write(&local, vec![b'x'; 1234]).unwrap();

    let folder = w.ok(
        "create_group_file_folder",
        json!({"group_id": 100, "name": "docs"}),
    );
    let folder_id = folder["folder_id"].as_str().unwrap().to_owned();
    let napcat = w.ok(
        "set_group_file_folder",
        json!({"group_id": 100, "folder_name": "pics"}),
    );
    assert_eq!(napcat["groupItem"]["folderInfo"]["folderName"], "pics");
    w.call(
        "create_group_file_folder",
        json!({"group_id": 100, "name": "docs"}),
    )
    .failed(1400, "already");

    let f1 = w.ok(
        "upload_group_file",
        json!({"group_id": 100, "file": local.display().to_string(), "name": "report.txt"}),
    );
    w.ok("upload_group_file", json!({"group_id": 100, "file": format!("file://{}", local.display()), "name": "copy.txt", "folder": folder_id}));
    w.ok("upload_group_file", json!({"group_id": 100, "file": "base64://aGVsbG8=", "name": "hello.txt", "folder_id": folder_id}));
    let ev = w.events();
    // Nothing outside files_dir: not by path, not by URI, not by `..`.
    let outside = std::env::temp_dir().join("obgw-outside.txt");
    std::fs::write(&outside, "x").unwrap();
    for file in [
        String::from("/etc/passwd"),
        String::from("file:///etc/passwd"),
        outside.display().to_string(),
        format!("{}/../obgw-outside.txt", dir.path().display()),
        String::from("../../etc/passwd"),
    ] {
        let a = w.call(
            "upload_group_file",
            json!({"group_id": 100, "file": file, "name": "x"}),
        );
        a.failed(1403, "only under");
        w.call(
            "send_group_msg",
            json!({"group_id": 100, "message": [{"type": "image", "data": {"file": file}}]}),
        )
        .failed(1403, "files_dir");
    }
    w.call(
        "upload_group_file",
        json!({"group_id": 100, "file": "nothere.txt", "name": "x"}),
    )
    .failed(1400, "no such file");
    let up = notices(&ev, "group_upload");
    assert_eq!(up.len(), 3);
    assert_eq!(up[0]["file"]["name"], "report.txt");
    assert_eq!(up[0]["file"]["size"], 1234);
    assert_eq!(up[2]["file"]["size"], 5);

    let root = w.ok("get_group_root_files", json!({"group_id": 100}));
    assert_eq!(root["files"].as_array().unwrap().len(), 1);
    assert_eq!(root["folders"].as_array().unwrap().len(), 2);
    let docs = root["folders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["folder_name"] == "docs")
        .unwrap();
    assert_eq!(docs["total_file_count"], 2);
    let inside = w.ok(
        "get_group_files_by_folder",
        json!({"group_id": 100, "folder_id": folder_id}),
    );
    assert_eq!(inside["files"].as_array().unwrap().len(), 2);
    let info = w.ok("get_group_file_system_info", json!({"group_id": 100}));
    assert_eq!(
        (info["file_count"].as_i64(), info["used_space"].as_i64()),
        (Some(3), Some(1234 + 1234 + 5))
    );
    assert_eq!(
        w.ok("get_group_file_count", json!({"group_id": "100"}))["count"],
        3
    );
    let list = w.ok(
        "get_group_file_list",
        json!({"group_id": "100", "start_index": 0, "file_count": 100}),
    );
    assert_eq!(
        list["FileList"].as_array().unwrap().len(),
        3,
        "two folders and one root file"
    );
    let paged = w.ok(
        "get_group_file_list",
        json!({"group_id": 100, "start_index": 2, "file_count": 5}),
    );
    assert_eq!(paged["FileList"][0]["type"], 1);

    let fid = f1["file_id"].as_str().unwrap();
    let url = w.ok(
        "get_group_file_url",
        json!({"group_id": 100, "file_id": fid, "busid": 102}),
    );
    assert!(url["url"].as_str().unwrap().contains("report.txt"));
    let root = w.ok("get_group_root_files", json!({"group_id": 100}));
    assert_eq!(root["files"][0]["download_times"], 1);

    w.ok("del_group_file", json!({"group_id": 100, "file_id": fid}));
    assert_eq!(
        w.ok("get_group_file_count", json!({"group_id": 100}))["count"],
        2
    );
    let del = w.ok(
        "del_group_file_folder",
        json!({"group_id": 100, "folder_id": folder_id}),
    );
    assert_eq!(del["retCode"], 0);
    let info = w.ok("get_group_file_system_info", json!({"group_id": 100}));
    assert_eq!(
        (info["file_count"].as_i64(), info["used_space"].as_i64()),
        (Some(0), Some(0))
    );

    w.call(
        "upload_group_file",
        json!({"group_id": 100, "file": "/no/such/file.bin", "name": "file.bin"}),
    )
    .failed(1403, "files_dir");
    w.call(
        "upload_group_file",
        json!({"group_id": 100, "file": "base64://eA==", "name": "x", "folder": "/nope"}),
    )
    .failed(1404, "unknown folder /nope");
    w.call(
        "get_group_file_url",
        json!({"group_id": 100, "file_id": "/x"}),
    )
    .failed(1404, "unknown file /x");
    w.call(
        "del_group_file_folder",
        json!({"group_id": 100, "folder_id": "/gone"}),
    )
    .failed(1404, "unknown folder");
    w.call("get_group_files_by_folder", json!({"group_id": 100}))
        .failed(1400, "`folder_id`");
    w.call(
        "create_group_file_folder",
        json!({"group_id": 101, "name": "x"}),
    )
    .failed(1403, "admin");
}

// ---- requests, profile, status, services ----------------------------------

#[test]
fn requests_are_answered_by_flag() {
    let w = World::new();
    let flag = http_roundtrip(
        &w.sb,
        "friend_request",
        json!({"user_id": 30000, "comment": "hi"}),
    )["flag"]
        .as_str()
        .unwrap()
        .to_owned();
    let ev = w.events();
    let req = notices(&ev, "friend");
    assert_eq!(
        (
            req[0]["post_type"].as_str(),
            req[0]["flag"].as_str(),
            req[0]["comment"].as_str()
        ),
        (Some("request"), Some(flag.as_str()), Some("hi"))
    );
    w.ok(
        "set_friend_add_request",
        json!({"flag": flag, "approve": "true", "remark": "new pal"}),
    );
    let ev = w.events();
    assert_eq!(notices(&ev, "friend_add")[0]["user_id"], 30000);
    let friends = w.ok("get_friend_list", json!({}));
    assert!(friends
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["user_id"] == 30000 && f["remark"] == "new pal"));
    w.call("set_friend_add_request", json!({"flag": flag}))
        .failed(1400, "already handled");
    w.call("set_friend_add_request", json!({"flag": "bogus"}))
        .failed(1404, "bogus");

    let gflag = http_roundtrip(
        &w.sb,
        "group_request",
        json!({"group_id": 100, "user_id": 30001, "comment": "let me in"}),
    )["flag"]
        .as_str()
        .unwrap()
        .to_owned();
    let sys = w.ok("get_group_system_msg", json!({}));
    assert_eq!(sys["join_requests"][0]["requester_uin"], 30001);
    assert_eq!(sys["join_requests"][0]["checked"], false);
    assert!(sys["invited_requests"].is_null());
    w.call(
        "set_group_add_request",
        json!({"flag": gflag, "sub_type": "invite"}),
    )
    .failed(1400, "`sub_type`");
    w.events();
    w.ok(
        "set_group_add_request",
        json!({"flag": gflag, "sub_type": "add", "approve": true}),
    );
    let ev = w.events();
    let inc = notices(&ev, "group_increase");
    assert_eq!(
        (inc[0]["user_id"].as_i64(), inc[0]["sub_type"].as_str()),
        (Some(30001), Some("approve"))
    );
    assert_eq!(
        w.ok("get_group_system_msg", json!({}))["join_requests"][0]["checked"],
        true
    );

    // An invitation: approving puts the bot in a new group.
    let iflag = http_roundtrip(
        &w.sb,
        "group_request",
        json!({"group_id": 300, "user_id": 20001, "sub_type": "invite"}),
    )["flag"]
        .as_str()
        .unwrap()
        .to_owned();
    w.ok(
        "set_group_add_request",
        json!({"flag": iflag, "type": "invite"}),
    );
    assert_eq!(
        w.ok(
            "get_group_member_info",
            json!({"group_id": 300, "user_id": 10000})
        )["role"],
        "member"
    );

    w.ok("delete_friend", json!({"user_id": 30000}));
    w.call("delete_friend", json!({"id": 30000}))
        .failed(1404, "unknown friend 30000");
}

#[test]
fn profile_status_and_counters() {
    let w = World::new();
    w.ok("set_self_longnick", json!({"longNick": "new sign"}));
    assert_eq!(
        w.ok("get_stranger_info", json!({"user_id": 10000}))["long_nick"],
        "new sign"
    );
    w.ok(
        "set_self_profile",
        json!({"nick": "renamed bot", "longNick": "x", "sex": "female"}),
    );
    assert_eq!(w.ok("get_login_info", json!({}))["nickname"], "renamed bot");
    w.call(
        "set_self_profile",
        json!({"nick": "x", "longNick": "y", "sex": "robot"}),
    )
    .failed(1400, "`sex`");
    w.ok(
        "set_online_status",
        json!({"status": 50, "extStatus": 0, "batteryStatus": 80}),
    );
    w.call(
        "set_online_status",
        json!({"status": 12, "extStatus": 0, "batteryStatus": 80}),
    )
    .failed(1400, "`status`");
    w.call(
        "set_online_status",
        json!({"status": 10, "extStatus": "busy", "batteryStatus": 80}),
    )
    .failed(1400, "`extStatus`");

    w.ok("send_group_msg", json!({"group_id": 100, "message": "a"}));
    w.ok(
        "send_private_msg",
        json!({"user_id": 20001, "message": "b"}),
    );
    w.say(Some(100), 20002, "c");
    let s = w.ok("get_status", json!({}));
    assert_eq!(
        (s["online"].as_bool(), s["good"].as_bool()),
        (Some(true), Some(true))
    );
    assert_eq!(s["stat"]["message_sent"], 2);
    assert_eq!(s["stat"]["message_received"], 1);
    assert!(s["stat"]["packet_received"].as_i64().unwrap() >= 6);
    assert_eq!(s["online_status"]["status"], 50);
    let v = w.ok("get_version_info", json!({}));
    assert_eq!(
        (v["app_name"].as_str(), v["protocol_version"].as_str()),
        (Some("onebot-gateway-sandbox"), Some("v11"))
    );

    let recent = w.ok("get_recent_contact", json!({"count": 10}));
    assert_eq!(recent[0]["peerUin"], "100", "the newest chat first");
    assert_eq!(recent[0]["unreadCount"], 1);
    w.ok("mark_group_msg_as_read", json!({"group_id": "100"}));
    assert_eq!(
        w.ok("get_recent_contact", json!({"count": 10}))[0]["unreadCount"],
        0
    );

    w.ok("send_like", json!({"user_id": 20001, "times": 10}));
    w.call("send_like", json!({"user_id": 20001}))
        .failed(1403, "a day");
    w.call("send_like", json!({"user_id": 20001, "times": 11}))
        .failed(1400, "`times`");
    http_roundtrip(&w.sb, "like", json!({"user_id": 20002, "times": 3}));
    let likes = w.ok("get_profile_like", json!({}));
    assert_eq!(likes["favoriteInfo"]["total_count"], 3);
    assert_eq!(likes["voteInfo"]["userInfos"][0]["uin"], 20001);

    w.ok(
        "create_collection",
        json!({"rawData": "remember this", "brief": "memo"}),
    );
    let c = w.ok("get_collection_list", json!({"category": 0, "count": 10}));
    assert_eq!(
        c["collectionSearchList"]["collectionItemList"][0]["summary"]["textSummary"]["brief"],
        "memo"
    );
    assert_eq!(
        w.ok("fetch_custom_face", json!({"count": 2}))
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let cred = w.ok("get_credentials", json!({"domain": "qun.qq.com"}));
    let token = w.ok("get_csrf_token", json!({}))["token"].clone();
    assert_eq!(cred["csrf_token"], token);
    assert!(cred["cookies"].as_str().unwrap().contains("uin=o10000"));
    assert_eq!(w.ok("can_send_image", json!({}))["yes"], true);
    let vip = w.ok("_get_vip_info", json!({"user_id": 20003}));
    assert_eq!(vip["vip_level"], "SVIP");
    let restart = w.call("set_restart", json!({"delay": 0}));
    assert_eq!((restart.status.as_str(), restart.retcode), ("async", 1));
}

#[test]
fn outside_services_answer_deterministically() {
    let w = World::new();
    let ocr = w.ok(
        "ocr_image",
        json!({"image": "base64://aGVsbG8gc2FuZGJveA=="}),
    );
    assert_eq!(ocr["texts"][0]["text"], "hello sandbox");
    assert_eq!(ocr["language"], "en");
    assert_eq!(
        w.ok("translate_en2zh", json!({"words": ["hello world", "cat"]})),
        json!(["你好世界", "猫"])
    );
    w.call("translate_en2zh", json!({"words": "hello"}))
        .failed(1400, "`words`");
    assert_eq!(
        w.ok("check_url_safely", json!({"url": "https://qq.com"}))["level"],
        1
    );
    assert_eq!(
        w.ok("check_url_safely", json!({"url": "http://malware.example"}))["level"],
        3
    );
    assert_eq!(
        w.ok(".get_word_slices", json!({"content": "你好世界"}))["slices"],
        json!(["你好", "世界"])
    );
    let ark = w.ok("ArkSharePeer", json!({"user_id": "20001"}));
    let ark_json: Value = serde_json::from_str(ark["arkJson"].as_str().unwrap()).unwrap();
    assert!(ark_json["prompt"].as_str().unwrap().contains("Alice"));
    w.call("ArkSharePeer", json!({})).failed(1400, "`user_id`");
    let g = w.ok("ArkShareGroupEx", json!({"group_id": "100"}));
    assert!(g.as_str().unwrap().contains("sandbox group"));
    w.call("ArkShareGroupEx", json!({"group_id": "404"}))
        .failed(1404, "unknown group 404");
    let dl = w.ok(
        "download_file",
        json!({"url": "https://example.org/a.png", "thread_count": 2, "headers": ["A=b"]}),
    );
    assert!(dl["file"]
        .as_str()
        .unwrap()
        .starts_with("/sandbox/cache/download/"));
    w.call("download_file", json!({})).failed(1400, "`url`");

    w.say(Some(100), 20001, json!([{"type": "image", "data": {"file": "cat.jpg", "url": "http://img.example/cat.jpg"}}]));
    let img = w.ok("get_image", json!({"file": "cat.jpg"}));
    assert_eq!(
        (img["filename"].as_str(), img["url"].as_str()),
        (Some("cat.jpg"), Some("http://img.example/cat.jpg"))
    );
    w.call("get_image", json!({"file": "dog.jpg"}))
        .failed(1404, "unknown image dog.jpg");
    w.call("get_record", json!({"file": "a.silk", "out_format": "xyz"}))
        .failed(1400, "`out_format`");
    w.call("get_record", json!({"file": "a.silk", "out_format": "mp3"}))
        .failed(1404, "unknown record a.silk");
    w.call("qidian_get_account_info", json!({}))
        .failed(1403, "QiDian");
}

// ---- persistence and start-up errors --------------------------------------

#[test]
fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sandbox.db");
    let config = SandboxConfig {
        store: path.display().to_string(),
        world: None,
        ..Default::default()
    };
    let (msg, said, folder) = {
        let w = World::with(&config);
        let msg = w.ok(
            "send_group_msg",
            json!({"group_id": 100, "message": "persist me"}),
        )["message_id"]
            .as_i64()
            .unwrap();
        let said = w.say(Some(100), 20003, "me too");
        w.ok("set_essence_msg", json!({"message_id": said}));
        let folder = w.ok(
            "create_group_file_folder",
            json!({"group_id": 100, "name": "kept"}),
        )["folder_id"]
            .as_str()
            .unwrap()
            .to_owned();
        w.ok(
            "upload_group_file",
            json!({"group_id": 100, "file": "base64://aGk=", "name": "hi.txt", "folder": folder}),
        );
        w.ok("set_self_profile", json!({"nick": "persistent"}));
        w.ok(
            "set_online_status",
            json!({"status": 30, "extStatus": 0, "batteryStatus": 50}),
        );
        w.ok(
            "set_group_card",
            json!({"group_id": 100, "user_id": 20002, "card": "kept card"}),
        );
        (msg, said, folder)
    };
    let w = World::with(&config);
    assert_eq!(
        w.ok("get_msg", json!({"message_id": msg}))["raw_message"],
        "persist me"
    );
    assert_eq!(
        w.ok("get_msg", json!({"message_id": said}))["sender"]["nickname"],
        "Carol"
    );
    let next = w.ok(
        "send_group_msg",
        json!({"group_id": 100, "message": "after"}),
    )["message_id"]
        .as_i64()
        .unwrap();
    assert!(next > said, "message ids continue after a restart");
    assert_eq!(
        w.ok("get_essence_msg_list", json!({"group_id": 100}))[0]["message_id"],
        said
    );
    let inside = w.ok(
        "get_group_files_by_folder",
        json!({"group_id": 100, "folder_id": folder}),
    );
    assert_eq!(inside["files"][0]["file_name"], "hi.txt");
    assert_eq!(w.ok("get_login_info", json!({}))["nickname"], "persistent");
    let s = w.ok("get_status", json!({}));
    assert_eq!(s["online_status"]["status"], 30);
    assert_eq!(s["stat"]["message_sent"], 2);
    assert_eq!(
        w.ok(
            "get_group_member_info",
            json!({"group_id": 100, "user_id": 20002})
        )["card"],
        "kept card"
    );
    // The store is WAL.
    assert!(dir.path().join("sandbox.db-wal").exists());
}

#[test]
fn broken_stores_and_worlds_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("garbage.db");
    std::fs::write(&bad, vec![0x42u8; 8192]).unwrap();
    let err = refused(
        SandboxConfig {
            store: bad.display().to_string(),
            world: None,
            ..Default::default()
        },
        "a garbage file is refused",
    );
    let text = err.to_string();
    assert!(matches!(err, SandboxError::Store { .. }));
    assert!(
        text.contains("garbage.db") && text.contains("not a database"),
        "{text}"
    );

    // A real store whose pages were overwritten after it was written.
    let damaged = dir.path().join("damaged.db");
    {
        let w = World::with(&SandboxConfig {
            store: damaged.display().to_string(),
            world: None,
            ..Default::default()
        });
        for i in 0..50 {
            w.ok(
                "send_group_msg",
                json!({"group_id": 100, "message": format!("filler {i}")}),
            );
        }
    }
    let mut bytes = std::fs::read(&damaged).unwrap();
    assert!(bytes.len() > 3 * 4096, "the store has several pages");
    for b in &mut bytes[4096..3 * 4096] {
        *b = 0xA5;
    }
    std::fs::write(&damaged, bytes).unwrap();
    let err = refused(
        SandboxConfig {
            store: damaged.display().to_string(),
            world: None,
            ..Default::default()
        },
        "a damaged store is refused",
    );
    assert!(err.to_string().contains("damaged.db"), "{err}");
    assert!(
        err.to_string().contains("malformed") || err.to_string().contains("damaged"),
        "{err}"
    );

    let missing_dir = dir.path().join("no/such/dir/s.db");
    let err = refused(
        SandboxConfig {
            store: missing_dir.display().to_string(),
            world: None,
            ..Default::default()
        },
        "an unopenable path is refused",
    );
    assert!(err.to_string().contains("no/such/dir"), "{err}");
    let err = refused(
        SandboxConfig {
            store: String::new(),
            world: None,
            ..Default::default()
        },
        "an empty path is refused",
    );
    assert!(err.to_string().contains(":memory:"), "{err}");

    let world = dir.path().join("w.toml");
    std::fs::write(&world, "[[bots]]\nself_id = 1\n").unwrap();
    let err = refused(
        SandboxConfig {
            store: ":memory:".into(),
            world: Some(world),
            ..Default::default()
        },
        "a world without nicknames is refused",
    );
    assert!(matches!(err, SandboxError::World { .. }));
    assert!(err.to_string().contains("nickname"), "{err}");
}

#[test]
fn the_example_world_file_is_served() {
    let config = SandboxConfig {
        store: ":memory:".into(),
        world: Some(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/world.toml").into()),
        ..Default::default()
    };
    let w = World::with(&config);
    assert_eq!(w.sb.self_ids(), vec![12345, 12346]);
    let a = w
        .call_as(
            12345,
            "get_group_member_info",
            json!({"group_id": 700, "user_id": 30001}),
        )
        .ok();
    assert_eq!(
        (a["role"].as_str(), a["title"].as_str()),
        (Some("owner"), Some("lead"))
    );
    w.call_as(12346, "get_group_info", json!({"group_id": 700}))
        .failed(1404, "unknown group 700");
    assert_eq!(
        w.call_as(12346, "get_login_info", json!({})).ok()["nickname"],
        "second bot"
    );
}

// ---- the injection API ----------------------------------------------------

#[test]
fn injection_routes_produce_complete_events() {
    let w = World::new();
    let server = serve(&w.sb);
    let post = |route: &str, body: Value| {
        cli::call(
            &server.url,
            "POST",
            &format!("/sandbox/10000/{route}"),
            None,
            Some(&body.to_string()),
        )
    };

    let id = post(
        "say",
        json!({"group_id": 100, "user_id": 20001, "message": "hello [CQ:at,qq=10000]"}),
    )
    .unwrap()["message_id"]
        .as_i64()
        .unwrap();
    let ev = w.events();
    let m = &ev[0];
    for key in [
        "time",
        "self_id",
        "post_type",
        "message_type",
        "sub_type",
        "message_id",
        "user_id",
        "message",
        "raw_message",
        "font",
        "sender",
        "group_id",
    ] {
        assert!(m.get(key).is_some(), "group message event lacks {key}: {m}");
    }
    assert_eq!(
        (
            m["post_type"].as_str(),
            m["sub_type"].as_str(),
            m["message_id"].as_i64()
        ),
        (Some("message"), Some("normal"), Some(id))
    );
    assert_eq!(m["sender"]["user_id"], 20001);
    assert_eq!(m["sender"]["role"], "admin");
    assert_eq!(m["sender"]["card"], "Alice");
    assert!(m["anonymous"].is_null());
    // Replies work: the bot can quote what was said.
    w.ok("send_group_msg", json!({"group_id": 100, "message": [{"type": "reply", "data": {"id": id}}, {"type": "text", "data": {"text": "got it"}}]}));

    post(
        "say",
        json!({"user_id": 20002, "message": [{"type": "text", "data": {"text": "dm"}}]}),
    )
    .unwrap();
    post("say", json!({"user_id": 20004, "message": "temp"})).unwrap();
    post(
        "say",
        json!({"user_id": 88888, "group_id": 100, "message": "newcomer"}),
    )
    .unwrap();
    let anon = post(
        "say",
        json!({"user_id": 20003, "group_id": 100, "message": "guess who", "anonymous": true}),
    )
    .unwrap();
    let ev = w.events();
    let msgs: Vec<&Value> = ev.iter().filter(|e| e["post_type"] == "message").collect();
    assert_eq!(
        (
            msgs[0]["message_type"].as_str(),
            msgs[0]["sub_type"].as_str()
        ),
        (Some("private"), Some("friend"))
    );
    assert_eq!(msgs[1]["sub_type"], "group");
    assert_eq!(msgs[2]["sender"]["nickname"], "user88888");
    assert_eq!(msgs[3]["sub_type"], "anonymous");
    let flag = msgs[3]["anonymous"]["flag"].as_str().unwrap().to_owned();
    w.ok(
        "set_group_anonymous_ban",
        json!({"group_id": 100, "anonymous_flag": flag, "duration": 60}),
    );
    assert!(anon["message_id"].as_i64().unwrap() > id);

    post("poke", json!({"group_id": 100, "user_id": 20002})).unwrap();
    post("poke", json!({"user_id": 20002})).unwrap();
    post("recall", json!({"message_id": id})).unwrap();
    post("essence", json!({"message_id": anon["message_id"]})).unwrap();
    post(
        "card",
        json!({"group_id": 100, "user_id": 20003, "card": "C"}),
    )
    .unwrap();
    post(
        "offline_file",
        json!({"user_id": 20001, "name": "a.zip", "size": 10}),
    )
    .unwrap();
    let up = post(
        "group_upload",
        json!({"group_id": 100, "user_id": 20002, "name": "b.pdf", "size": 99}),
    )
    .unwrap();
    post("join", json!({"group_id": 100, "user_id": 40000})).unwrap();
    post("leave", json!({"group_id": 100, "user_id": 40000})).unwrap();
    post(
        "leave",
        json!({"group_id": 100, "user_id": 20004, "operator_id": 20001}),
    )
    .unwrap();
    post(
        "emoji_like",
        json!({"message_id": anon["message_id"], "user_id": 20002, "emoji_id": "66"}),
    )
    .unwrap();
    post(
        "event",
        json!({"post_type": "notice", "notice_type": "custom_thing", "x": 1}),
    )
    .unwrap();
    let ev = w.events();
    let kinds: Vec<String> = ev
        .iter()
        .map(|e| {
            format!(
                "{}/{}",
                e["notice_type"].as_str().unwrap_or(""),
                e["sub_type"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "group_ban/ban",
            "notify/poke",
            "notify/poke",
            "group_recall/",
            "essence/add",
            "group_card/",
            "offline_file/",
            "group_upload/",
            "group_increase/approve",
            "group_decrease/leave",
            "group_decrease/kick",
            "group_msg_emoji_like/",
            "custom_thing/",
        ]
    );
    assert_eq!(ev[1]["target_id"], 10000);
    assert_eq!(ev[3]["operator_id"], 20001);
    assert_eq!(ev[6]["file"]["name"], "a.zip");
    assert_eq!(ev[7]["file"]["id"], up["file_id"]);
    assert_eq!(ev[12]["self_id"], 10000);

    // Failures: JSON with status failed and a 4xx.
    let e = post("say", json!({"group_id": 9, "user_id": 1, "message": "x"})).unwrap_err();
    assert!(
        e.starts_with("HTTP 404") && e.contains("unknown group 9"),
        "{e}"
    );
    let e = post("say", json!({"user_id": "x", "message": "x"})).unwrap_err();
    assert!(e.starts_with("HTTP 400") && e.contains("`user_id`"), "{e}");
    let e = post("recall", json!({"message_id": 123456})).unwrap_err();
    assert!(e.starts_with("HTTP 404"), "{e}");
    let e = post(
        "recall",
        json!({"message_id": anon["message_id"], "operator_id": 20002}),
    )
    .unwrap_err();
    assert!(e.starts_with("HTTP 403"), "{e}");
    let (status, text) = cli::http(
        &server.url,
        "POST",
        "/sandbox/10000/say",
        None,
        Some("{not json"),
    )
    .unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((status, v["status"].as_str()), (400, Some("failed")));
    let e = cli::call(&server.url, "POST", "/sandbox/55/say", None, Some("{}")).unwrap_err();
    assert!(e.contains("unknown bot 55"), "{e}");
    let (status, text) = cli::http(
        &server.url,
        "POST",
        "/sandbox/10000/dance",
        None,
        Some("{}"),
    )
    .unwrap();
    assert_eq!(status, 404);
    assert!(text.contains("unknown sandbox route"), "{text}");
    let (status, text) = cli::http(&server.url, "GET", "/sandbox/10000/say", None, None).unwrap();
    assert_eq!(status, 405);
    assert!(text.contains("\"status\":\"failed\""), "{text}");
    let e = post("event", json!({"notice_type": "x"})).unwrap_err();
    assert!(e.contains("post_type"), "{e}");

    // History, newest last, including the bot's own messages.
    let h = cli::call(
        &server.url,
        "GET",
        "/sandbox/10000/messages?group_id=100&limit=3",
        None,
        None,
    )
    .unwrap();
    let list = h.as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list[2]["message_id"], anon["message_id"]);
    assert!(list[0]["message_id"].as_i64() < list[1]["message_id"].as_i64());
    let first = cli::call(
        &server.url,
        "GET",
        "/sandbox/10000/messages?group_id=100",
        None,
        None,
    )
    .unwrap();
    assert_eq!(first[0]["recalled"], true);
    assert_eq!(
        first[1]["user_id"], 10000,
        "the bot's reply is in the history"
    );
    let dm = cli::call(
        &server.url,
        "GET",
        "/sandbox/10000/messages?user_id=20002",
        None,
        None,
    )
    .unwrap();
    assert_eq!(dm[0]["raw_message"], "dm");
    let e = cli::call(
        &server.url,
        "GET",
        "/sandbox/10000/messages?limit=zero",
        None,
        None,
    )
    .unwrap_err();
    assert!(e.contains("`limit`"), "{e}");

    // The CLI commands go through the same routes.
    use clap::Parser;
    #[derive(clap::Parser)]
    struct TestCli {
        #[command(subcommand)]
        cmd: cli::SandboxCommand,
    }
    let parsed = TestCli::try_parse_from([
        "x",
        "say",
        "--bot",
        "10000",
        "--group",
        "100",
        "--user",
        "200",
        "hello [CQ:at,qq=10000]",
    ])
    .unwrap();
    cli::run(parsed.cmd, &server.url, None).unwrap();
    let ev = w.events();
    assert_eq!(ev[0]["user_id"], 200);
    assert_eq!(ev[0]["group_id"], 100);
    let parsed = TestCli::try_parse_from(["x", "recall", "999999"]).unwrap();
    assert!(cli::run(parsed.cmd, &server.url, None)
        .unwrap_err()
        .contains("unknown message 999999"));
}

#[test]
fn every_listed_action_is_served_and_bad_params_never_panic() {
    // Every action the protocol layer knows (OneBot v11, go-cqhttp, NapCat) is served.
    use onebot_gateway::protocol::action::KNOWN_ACTIONS;
    let w = World::new();
    let junk = [
        Value::Null,
        json!({}),
        json!([1, 2]),
        json!({"group_id": "x", "user_id": [], "message_id": {}, "message": 3, "flag": 5, "file": null}),
        json!({"group_id": -1, "user_id": i64::MAX, "message_id": i64::MIN, "count": -3, "times": 0}),
    ];
    for name in KNOWN_ACTIONS {
        for params in &junk {
            let a = w.call(name, params.clone());
            assert!(
                !a.message.contains("unsupported"),
                "{name} is listed but not served"
            );
            if a.status == "failed" {
                assert!(
                    [1400, 1403, 1404].contains(&a.retcode),
                    "{name} {params}: {a:?}"
                );
                assert!(!a.message.is_empty(), "{name} {params}: a failure says why");
            }
        }
    }
}

#[test]
fn cq_strings_work_like_segment_arrays() {
    let w = World::new();
    let said = w.say(Some(100), 20002, "[CQ:at,qq=10000] question");
    let m = w.ok("get_msg", json!({"message_id": said}));
    assert_eq!(
        m["message"][0],
        json!({"type": "at", "data": {"qq": "10000"}})
    );
    assert_eq!(m["raw_message"], "[CQ:at,qq=10000] question");
    let reply = w.ok(
        "send_group_msg",
        json!({"group_id": 100, "message": format!("[CQ:reply,id={said}]answer")}),
    );
    let r = w.ok("get_msg", json!({"message_id": reply["message_id"]}));
    assert_eq!(r["message"][0]["type"], "reply");
    w.call(
        "send_group_msg",
        json!({"group_id": 100, "message": "[CQ:reply,id=9999]x"}),
    )
    .failed(1404, "unknown message 9999");
    w.events();
    let poke = w.ok(
        "send_group_msg",
        json!({"group_id": 100, "message": "[CQ:poke,qq=20001]"}),
    );
    assert_eq!(poke["message_id"], 0);
    assert_eq!(notices(&w.events(), "notify")[0]["target_id"], 20001);
    let plain = w.ok(
        "send_group_msg",
        json!({"group_id": 100, "message": "a&b [CQ:x]", "auto_escape": true}),
    );
    let p = w.ok("get_msg", json!({"message_id": plain["message_id"]}));
    assert_eq!(
        p["message"],
        json!([{"type": "text", "data": {"text": "a&b [CQ:x]"}}])
    );
    assert_eq!(p["raw_message"], "a&amp;b &#91;CQ:x&#93;");
}

#[test]
fn the_other_side_can_promote_mute_and_block() {
    let w = World::new();
    // Group 101 is owned by 20002; the bot is a plain member.
    w.call("set_group_ban", json!({"group_id": 101, "user_id": 20005}))
        .failed(1403, "admin");
    http_roundtrip(&w.sb, "admin", json!({"group_id": 101, "user_id": 10000}));
    let ev = w.events();
    assert_eq!(notices(&ev, "group_admin")[0]["user_id"], 10000);
    w.ok(
        "set_group_ban",
        json!({"group_id": 101, "user_id": 20005, "duration": 60}),
    );
    assert_eq!(notices(&w.events(), "group_ban")[0]["operator_id"], 10000);

    http_roundtrip(
        &w.sb,
        "ban",
        json!({"group_id": 101, "user_id": 10000, "duration": 120}),
    );
    let ev = w.events();
    let b = notices(&ev, "group_ban");
    assert_eq!(
        (
            b[0]["user_id"].as_i64(),
            b[0]["operator_id"].as_i64(),
            b[0]["duration"].as_i64()
        ),
        (Some(10000), Some(20002), Some(120))
    );
    w.call(
        "send_group_msg",
        json!({"group_id": 101, "message": "let me talk"}),
    )
    .failed(1403, "muted");
    http_roundtrip(
        &w.sb,
        "ban",
        json!({"group_id": 101, "user_id": 10000, "duration": 0}),
    );
    w.ok(
        "send_group_msg",
        json!({"group_id": 101, "message": "free again"}),
    );
    // An admin cannot mute the owner; the bot's own group has no one above it.
    let e = http_roundtrip_failure(
        &w.sb,
        "ban",
        json!({"group_id": 101, "user_id": 20002, "operator_id": 20001}),
    );
    assert!(e.starts_with("HTTP 403"), "{e}");
    let e = http_roundtrip_failure(&w.sb, "admin", json!({"group_id": 100, "user_id": 20002}));
    assert!(e.contains("the bot owns group 100"), "{e}");

    // Anonymous chat switched off; a kicked-and-blocked user cannot come back.
    w.ok(
        "set_group_anonymous",
        json!({"group_id": 100, "enable": false}),
    );
    let e = http_roundtrip_failure(
        &w.sb,
        "say",
        json!({"group_id": 100, "user_id": 20003, "message": "boo", "anonymous": true}),
    );
    assert!(e.contains("anonymous chat is off"), "{e}");
    w.ok(
        "set_group_kick",
        json!({"group_id": 100, "user_id": 20004, "reject_add_request": true}),
    );
    let e = http_roundtrip_failure(&w.sb, "join", json!({"group_id": 100, "user_id": 20004}));
    assert!(
        e.starts_with("HTTP 403") && e.contains("reject_add_request"),
        "{e}"
    );
    let e = http_roundtrip_failure(
        &w.sb,
        "group_request",
        json!({"group_id": 100, "user_id": 20004}),
    );
    assert!(e.contains("reject_add_request"), "{e}");
}

#[test]
fn the_built_in_bot_can_be_renamed_from_the_config() {
    let w = World::with(&SandboxConfig {
        self_id: Some(424242),
        nickname: Some("mybot".into()),
        ..Default::default()
    });
    assert_eq!(w.sb.self_ids(), vec![424242]);
    let me = w.call_as(424242, "get_login_info", json!({})).ok();
    assert_eq!(me, json!({"user_id": 424242, "nickname": "mybot"}));
    let role = w
        .call_as(
            424242,
            "get_group_member_info",
            json!({"group_id": 100, "user_id": 424242}),
        )
        .ok();
    assert_eq!(role["role"], "owner");
    // A world file names its own bots; an id that is already a person is refused.
    let err = refused(
        SandboxConfig {
            world: Some(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/world.toml").into()),
            self_id: Some(1),
            ..Default::default()
        },
        "self_id with a world file is refused",
    );
    assert!(err.to_string().contains("world file"), "{err}");
    let err = refused(
        SandboxConfig {
            self_id: Some(20001),
            ..Default::default()
        },
        "a bot id that is a person is refused",
    );
    assert!(err.to_string().contains("20001"), "{err}");
}
