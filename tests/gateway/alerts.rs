//! Offline alerts: a scripted implementation killed and restarted, webhook
//! and QQ-message alert targets, and apps that ask for gateway notices.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use onebot_gateway::testkit::{AppClient, FakeImplementation, Script};
use serde_json::{json, Value};

use crate::common::*;

#[derive(Default)]
struct Webhook {
    posts: Mutex<Vec<(HeaderMap, Value)>>,
}

impl Webhook {
    fn notices(&self) -> Vec<(String, i64)> {
        self.posts
            .lock()
            .unwrap()
            .iter()
            .map(|(_, v)| {
                (
                    v["notice_type"].as_str().unwrap().to_owned(),
                    v["self_id"].as_i64().unwrap(),
                )
            })
            .collect()
    }
}

async fn webhook(state: Arc<Webhook>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/alert", listener.local_addr().unwrap());
    let app = Router::new().route(
        "/alert",
        post(move |headers: HeaderMap, body: Bytes| {
            let state = state.clone();
            async move {
                let v: Value = serde_json::from_slice(&body).unwrap();
                state.posts.lock().unwrap().push((headers, v));
                ""
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn script() -> Script {
    Arc::new(|_, _| Some(json!({})))
}

fn config(fake: &FakeImplementation, hook: &str, grace_ms: u64) -> String {
    format!(
        "[gateway]\noffline_grace_ms = {grace_ms}\n\
         [[listen]]\naddress = \"127.0.0.1:0\"\napp = {{ gateway_notices = true }}\n\
         [[listen]]\naddress = \"127.0.0.1:0\"\n\
         [[upstream]]\ntype = \"ws\"\nurl = \"{}\"\nself_id = 42\nreconnect_interval_ms = 20\nmax_reconnect_interval_ms = 40\n\
         [[upstream]]\ntype = \"sandbox\"\n\
         [[alert]]\ntype = \"webhook\"\nurl = \"{hook}\"\nsecret = \"alert-secret\"\n\
         [[alert]]\ntype = \"message\"\nvia = 10000\ngroup_id = 100\nbots = [42]\n",
        fake.url()
    )
}

/// What the sandbox bot said in group 100 (plain text).
fn said_in_group(gw: &onebot_gateway::Gateway) -> Vec<String> {
    let sandbox = gw.sandbox.clone().unwrap();
    let history = sandbox.call(
        10000,
        "get_group_msg_history",
        &json!({"group_id": 100, "count": 50}),
    );
    history.data_value()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["user_id"] == 10000)
        .map(|m| {
            m["message"][0]["data"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_killed_implementation_is_reported_once_after_the_grace_and_once_when_back() {
    let fake = FakeImplementation::start_with(42, script()).await;
    let address = fake.addr.to_string();
    let hook = Arc::new(Webhook::default());
    let gw = start(&config(&fake, &webhook(hook.clone()).await, 300)).await;
    let bot = gw.hub.registry.bot(42).unwrap();
    eventually("bot 42 online", || bot.health().online).await;
    let mut asks = app(&gw, "/42/", "").await;
    let mut plain = AppClient::connect(&format!("ws://{}/42/", gw.listen_addrs[1]), None)
        .await
        .unwrap();
    fake.kill();
    eventually("the offline webhook", || !hook.notices().is_empty()).await;
    assert_eq!(hook.notices(), [("gateway_bot_offline".to_owned(), 42)]);
    let (headers, body) = hook.posts.lock().unwrap()[0].clone();
    assert_eq!(body["reason"], "no upstream link for 300 ms");
    let signed = onebot_gateway::transport::http_post::signature(
        "alert-secret",
        body.to_string().as_bytes(),
    );
    assert_eq!(headers["x-signature"], signed.as_str());
    let (_, metrics) = http_text(gw.listen_addrs[0], "GET", "/metrics", None, None).await;
    assert!(
        metrics.contains("onebot_gateway_bot_offline_alerted{self_id=\"42\"} 1"),
        "{metrics}"
    );
    let notice = asks
        .next_matching(|v| v["notice_type"] == "gateway_bot_offline")
        .await
        .unwrap();
    assert_eq!(notice["self_id"], 42);
    // The QQ message goes through the sandbox bot into group 100.
    eventually("the alert message", || !said_in_group(&gw).is_empty()).await;
    assert_eq!(
        said_in_group(&gw),
        ["onebot-gateway: bot 42 is offline (no upstream link for 300 ms)"]
    );
    // Back at the same address: one online notice.
    let fake = FakeImplementation::start_at(&address, 42, script()).await;
    eventually("the online webhook", || hook.notices().len() == 2).await;
    assert_eq!(hook.notices()[1], ("gateway_bot_online".to_owned(), 42));
    asks.next_matching(|v| v["notice_type"] == "gateway_bot_online")
        .await
        .unwrap();
    let (_, status) = http_get(gw.listen_addrs[0], "/status", None).await;
    let bot42 = status["data"]["bots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["self_id"] == 42)
        .unwrap()
        .clone();
    let states: Vec<_> = bot42["state_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["state"].clone())
        .collect();
    assert_eq!(states, [json!("offline"), json!("online")], "{bot42}");
    // An app that did not ask for gateway notices gets the next event, not them.
    fake.push(&onebot_gateway::testkit::group_message(42, 7, "after"));
    let next = plain.next_non_meta().await.unwrap();
    assert_eq!(next["raw_message"], "after", "{next}");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_flapping_link_raises_no_storm() {
    let fake = FakeImplementation::start_with(42, script()).await;
    let address = fake.addr.to_string();
    let hook = Arc::new(Webhook::default());
    let gw = start(&config(&fake, &webhook(hook.clone()).await, 2000)).await;
    let bot = gw.hub.registry.bot(42).unwrap();
    eventually("bot 42 online", || bot.health().online).await;
    let mut fake = fake;
    for _ in 0..20 {
        fake.kill();
        eventually("bot 42 offline", || !bot.health().online).await;
        fake = FakeImplementation::start_at(&address, 42, script()).await;
        eventually("bot 42 back", || bot.health().online).await;
    }
    // Twenty outages, each shorter than the grace: no alert. One that lasts: one.
    fake.kill();
    eventually("the offline webhook", || !hook.notices().is_empty()).await;
    assert_eq!(hook.notices(), [("gateway_bot_offline".to_owned(), 42)]);
    gw.shutdown().await;
}

#[tokio::test]
async fn an_implementation_reporting_the_account_offline_is_alerted_at_once() {
    let hook = Arc::new(Webhook::default());
    let url = webhook(hook.clone()).await;
    let gw = start(&format!(
        "[[listen]]\naddress = \"127.0.0.1:0\"\n[[alert]]\ntype = \"webhook\"\nurl = \"{url}\"\n"
    ))
    .await;
    let kicked = json!({"tag": "kicked", "message": "logged in elsewhere"});
    inject(&gw, 10000, "offline", kicked).await;
    eventually("the offline webhook", || !hook.notices().is_empty()).await;
    let reason = hook.posts.lock().unwrap()[0].1["reason"].clone();
    assert_eq!(
        reason,
        "the implementation reports it offline: kicked: logged in elsewhere"
    );
    inject(&gw, 10000, "online", json!({})).await;
    eventually("the online webhook", || hook.notices().len() == 2).await;
    assert_eq!(
        hook.notices(),
        [
            ("gateway_bot_offline".to_owned(), 10000),
            ("gateway_bot_online".to_owned(), 10000)
        ]
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn heartbeats_saying_the_account_is_not_online_raise_the_alert_after_the_grace() {
    let hook = Arc::new(Webhook::default());
    let url = webhook(hook.clone()).await;
    let up = ManualUpstream::bind().await;
    let gw = start(&format!(
        "[gateway]\noffline_grace_ms = 200\n[[listen]]\naddress = \"127.0.0.1:0\"\n\
         [[upstream]]\ntype = \"ws\"\nurl = \"{}\"\nself_id = 88\n\
         [[alert]]\ntype = \"webhook\"\nurl = \"{url}\"\n",
        up.url()
    ))
    .await;
    let mut upstream = up.accept(88).await;
    let bot = gw.hub.registry.bot(88).unwrap();
    eventually("bot 88 online", || bot.health().online).await;
    let beat = |online: bool| {
        json!({"time": 1, "self_id": 88, "post_type": "meta_event", "meta_event_type": "heartbeat",
               "interval": 5000, "status": {"online": online, "good": true}})
    };
    send_json(&mut upstream, beat(false)).await;
    eventually("the offline webhook", || !hook.notices().is_empty()).await;
    let reason = hook.posts.lock().unwrap()[0].1["reason"].clone();
    assert_eq!(
        reason,
        "its heartbeats report the account not online for 200 ms"
    );
    send_json(&mut upstream, beat(true)).await;
    eventually("the online webhook", || hook.notices().len() == 2).await;
    assert_eq!(hook.notices()[1], ("gateway_bot_online".to_owned(), 88));
    gw.shutdown().await;
}
