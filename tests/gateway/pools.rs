//! Pools: three sandbox accounts that share group 100, seen by apps as bot
//! 90000 (`[[pool]]`). Real sockets, the sandbox playing QQ.

use std::path::Path;

use onebot_gateway::testkit::AppClient;
use serde_json::{json, Value};

use crate::common::*;

const POOL: i64 = 90000;
const GROUP: i64 = 100;
const OWNER: i64 = 20000;
const SPEAKER: i64 = 20001;

fn world(dir: &Path) -> std::path::PathBuf {
    let mut text = String::from(
        "[[people]]\nuser_id = 20000\nnickname = \"owner\"\n[[people]]\nuser_id = 20001\nnickname = \"speaker\"\n",
    );
    for bot in [10001, 10002, 10003] {
        text += &format!(
            "[[bots]]\nself_id = {bot}\nnickname = \"member {bot}\"\n\
             [[bots.groups]]\ngroup_id = {GROUP}\nname = \"shared\"\n\
             [[bots.groups.members]]\nuser_id = {OWNER}\nrole = \"owner\"\n\
             [[bots.groups.members]]\nuser_id = {SPEAKER}\n"
        );
        if bot == 10002 {
            text += &format!("[[bots.friends]]\nuser_id = {SPEAKER}\n");
        }
    }
    let path = dir.join("world.toml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn pool_gateway(dir: &Path) -> onebot_gateway::Gateway {
    start(&format!(
        "[sandbox]\nworld = \"{}\"\nstore = \"{}\"\n\
         [[listen]]\naddress = \"127.0.0.1:0\"\n\
         [[listen]]\naddress = \"127.0.0.1:0\"\ndefault_bot = {POOL}\n\
         [[pool]]\nself_id = {POOL}\nname = \"main\"\nbots = [10001, 10002, 10003]\n",
        world(dir).display(),
        dir.join("sandbox.db").display(),
    ))
    .await
}

/// The raw messages of one member in the shared group, oldest first.
async fn history(gw: &onebot_gateway::Gateway, bot: i64) -> Vec<Value> {
    let (_, v) = http_get(
        gw.listen_addrs[0],
        &format!("/sandbox/{bot}/messages?group_id={GROUP}"),
        None,
    )
    .await;
    v["data"].as_array().unwrap().clone()
}

fn sent_by_bot(history: &[Value], bot: i64) -> Vec<String> {
    history
        .iter()
        .filter(|m| m["user_id"] == bot)
        .map(|m| m["raw_message"].as_str().unwrap().to_owned())
        .collect()
}

/// Both members see "ping" from the speaker; the app gets one message.
async fn say_to_two(gw: &onebot_gateway::Gateway, app: &mut AppClient, text: &str) -> Value {
    for bot in [10001, 10002] {
        inject(
            gw,
            bot,
            "say",
            json!({"group_id": GROUP, "user_id": SPEAKER, "message": text}),
        )
        .await;
    }
    app.next_matching(|v| v["post_type"] == "message")
        .await
        .unwrap()
}

#[tokio::test]
async fn a_message_two_members_see_reaches_the_pool_app_once_naming_its_member() {
    let dir = tempfile::tempdir().unwrap();
    let gw = pool_gateway(dir.path()).await;
    let mut app = app(&gw, &format!("/{POOL}/"), "").await;
    let ping = say_to_two(&gw, &mut app, "ping").await;
    assert_eq!(ping["self_id"], POOL);
    assert_eq!(
        ping["member_self_id"], 10001,
        "the first member to see it delivers it"
    );
    assert_eq!(ping["raw_message"], "ping");
    // The next message the app gets is the next one said, not the duplicate.
    inject(
        &gw,
        10002,
        "say",
        json!({"group_id": GROUP, "user_id": SPEAKER, "message": "next"}),
    )
    .await;
    let next = app
        .next_matching(|v| v["post_type"] == "message")
        .await
        .unwrap();
    assert_eq!(
        (
            next["raw_message"].as_str(),
            next["member_self_id"].as_i64()
        ),
        (Some("next"), Some(10002))
    );
    assert_ne!(ping["message_id"], next["message_id"]);
    let login = app.call("get_login_info", json!({})).await;
    assert_eq!(login["data"], json!({"user_id": POOL, "nickname": "main"}));
    let pool = gw.hub.registry.bot(POOL).unwrap();
    assert_eq!(
        pool.log.head() - 1,
        2,
        "two messages in the pool's log, no duplicate"
    );
    let (_, status) = http_get(gw.listen_addrs[0], "/status", None).await;
    let pool = &status["data"]["pools"][0];
    assert_eq!(
        (
            pool["self_id"].as_i64(),
            pool["duplicates_dropped"].as_u64()
        ),
        (Some(POOL), Some(1)),
        "{pool}"
    );
    assert_eq!(
        pool["members"][0],
        json!({"self_id": 10001, "online": true})
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn replies_go_through_the_receiver_and_a_muted_member_hands_over() {
    let dir = tempfile::tempdir().unwrap();
    let gw = pool_gateway(dir.path()).await;
    let mut app = app(&gw, &format!("/{POOL}/"), "").await;
    let ping = say_to_two(&gw, &mut app, "ping").await;
    // A reply to the message goes through the member that holds it, with the
    // member's own message id in the reply segment.
    let reply = app
        .call(
            "send_group_msg",
            json!({"group_id": GROUP, "message": [
                {"type": "reply", "data": {"id": ping["message_id"].to_string()}},
                {"type": "text", "data": {"text": "pong"}}]}),
        )
        .await;
    assert_eq!(reply["retcode"], 0, "{reply}");
    let first = history(&gw, 10001).await;
    let real_ping =
        first.iter().find(|m| m["raw_message"] == "ping").unwrap()["message_id"].clone();
    let pong = first
        .iter()
        .find(|m| m["user_id"] == 10001)
        .expect("10001 sent the reply");
    assert_eq!(pong["message"][0]["data"]["id"], real_ping.to_string());
    assert!(sent_by_bot(&history(&gw, 10002).await, 10002).is_empty());
    // Without a reply, a group send goes through the group's newest receiver:
    // 10001, which delivered the last message (10002 saw only its duplicate).
    let plain = app
        .call(
            "send_group_msg",
            json!({"group_id": GROUP, "message": "plain"}),
        )
        .await;
    assert_eq!(plain["retcode"], 0, "{plain}");
    assert_eq!(
        sent_by_bot(&history(&gw, 10001).await, 10001),
        [format!("[CQ:reply,id={real_ping}]pong"), "plain".into()]
    );
    // Muted, it fails the next send, and the next member sends instead.
    inject(
        &gw,
        10001,
        "ban",
        json!({"group_id": GROUP, "user_id": 10001, "duration": 600}),
    )
    .await;
    let sent = app
        .call(
            "send_group_msg",
            json!({"group_id": GROUP, "message": "while 10001 is muted"}),
        )
        .await;
    assert_eq!(sent["retcode"], 0, "{sent}");
    assert_eq!(
        sent_by_bot(&history(&gw, 10001).await, 10001),
        [format!("[CQ:reply,id={real_ping}]pong"), "plain".into()],
        "the muted member sent nothing more"
    );
    assert_eq!(
        sent_by_bot(&history(&gw, 10002).await, 10002),
        ["while 10001 is muted"]
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn delete_msg_of_a_pool_id_recalls_the_message_on_the_member_that_has_it() {
    let dir = tempfile::tempdir().unwrap();
    let gw = pool_gateway(dir.path()).await;
    let mut app = app(&gw, &format!("/{POOL}/"), "").await;
    say_to_two(&gw, &mut app, "ping").await;
    inject(
        &gw,
        10002,
        "say",
        json!({"group_id": GROUP, "user_id": SPEAKER, "message": "only 10002"}),
    )
    .await;
    let only = app
        .next_matching(|v| v["raw_message"] == "only 10002")
        .await
        .unwrap();
    // The bots are members, not admins: they may recall only their own
    // messages, so the pool recalls one it sent.
    let sent = app
        .call(
            "send_group_msg",
            json!({"group_id": GROUP, "message": "to be recalled"}),
        )
        .await;
    let pool_id = sent["data"]["message_id"].as_i64().unwrap();
    let deleted = app.call("delete_msg", json!({"message_id": pool_id})).await;
    assert_eq!(deleted["retcode"], 0, "{deleted}");
    let recall = app
        .next_matching(|v| v["notice_type"] == "group_recall")
        .await
        .unwrap();
    assert_eq!(
        recall["message_id"], pool_id,
        "the recall names the pool's id"
    );
    let carrier = recall["member_self_id"].as_i64().unwrap();
    let recalled = history(&gw, carrier)
        .await
        .into_iter()
        .find(|m| m["raw_message"] == "to be recalled")
        .unwrap();
    assert_eq!(recalled["recalled"], true);
    // get_msg of another member's message is answered by that member.
    let got = app
        .call("get_msg", json!({"message_id": only["message_id"]}))
        .await;
    assert_eq!(
        (
            got["data"]["raw_message"].as_str(),
            got["data"]["message_id"].as_i64()
        ),
        (Some("only 10002"), only["message_id"].as_i64())
    );
    let unknown = app.call("get_msg", json!({"message_id": 999_999})).await;
    assert_eq!(unknown["retcode"], 1404);
    assert!(
        unknown["message"]
            .as_str()
            .unwrap()
            .contains("unknown message 999999"),
        "{unknown}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn pool_message_ids_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let gw = pool_gateway(dir.path()).await;
    let mut app_before = app(&gw, &format!("/{POOL}/"), "").await;
    let ping = say_to_two(&gw, &mut app_before, "ping").await;
    app_before.close().await;
    gw.shutdown().await;
    assert!(
        dir.path().join("pools.db").exists(),
        "the ids are next to the sandbox store"
    );
    let gw = pool_gateway(dir.path()).await;
    let mut app_after = app(&gw, &format!("/{POOL}/"), "").await;
    let got = app_after
        .call("get_msg", json!({"message_id": ping["message_id"]}))
        .await;
    assert_eq!(got["retcode"], 0, "{got}");
    assert_eq!(got["data"]["raw_message"], "ping");
    assert_eq!(got["data"]["message_id"], ping["message_id"]);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_private_reply_goes_through_the_member_the_user_talked_to() {
    let dir = tempfile::tempdir().unwrap();
    let gw = pool_gateway(dir.path()).await;
    let mut app = app(&gw, &format!("/{POOL}/"), "").await;
    inject(
        &gw,
        10002,
        "say",
        json!({"user_id": SPEAKER, "message": "psst"}),
    )
    .await;
    let psst = app
        .next_matching(|v| v["message_type"] == "private")
        .await
        .unwrap();
    assert_eq!(
        (psst["member_self_id"].as_i64(), psst["sub_type"].as_str()),
        (Some(10002), Some("friend"))
    );
    let sent = app
        .call(
            "send_private_msg",
            json!({"user_id": SPEAKER, "message": "hi back"}),
        )
        .await;
    assert_eq!(sent["retcode"], 0, "{sent}");
    let (_, v) = http_get(
        gw.listen_addrs[0],
        &format!("/sandbox/10002/messages?user_id={SPEAKER}"),
        None,
    )
    .await;
    let said: Vec<_> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["raw_message"].clone())
        .collect();
    assert_eq!(said, [json!("psst"), json!("hi back")]);
    gw.shutdown().await;
}

#[tokio::test]
async fn the_root_url_serves_the_default_bot_and_otherwise_names_the_per_bot_urls() {
    let dir = tempfile::tempdir().unwrap();
    let gw = pool_gateway(dir.path()).await;
    let (status, refused) = http_get(gw.listen_addrs[0], "/", None).await;
    assert_eq!(status, 400);
    let message = refused["message"].as_str().unwrap();
    for url in ["/10001/", "/10002/", "/10003/", "/90000/", "default_bot"] {
        assert!(message.contains(url), "{message}");
    }
    // The second listener has default_bot = the pool.
    let mut app = AppClient::connect(&format!("ws://{}/", gw.listen_addrs[1]), None)
        .await
        .unwrap();
    let first = app.next_json().await.unwrap();
    assert_eq!(
        (first["meta_event_type"].as_str(), first["self_id"].as_i64()),
        (Some("lifecycle"), Some(POOL))
    );
    gw.shutdown().await;
}
