//! The connection manager: one owner per identity. Several links of one bot
//! (one active, the others standby, failover without 1502), who may claim a
//! bot, answers bound to their link, one live session per named app, closing
//! handshakes in every direction, binary frames.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use onebot_gateway::testkit::{group_message, AppClient};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::common::*;
use crate::rawws::RawWs;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A gateway with a `ws-reverse` upstream endpoint; `extra` goes into its
/// `[[upstream]]` table, `gateway` into `[gateway]`.
async fn dial_in_gateway(gateway: &str, extra: &str) -> onebot_gateway::Gateway {
    start(&format!(
        "[gateway]\n{gateway}\n[[listen]]\naddress = \"127.0.0.1:0\"\n[[upstream]]\ntype = \"ws-reverse\"\naddress = \"127.0.0.1:0\"\n{extra}\n"
    ))
    .await
}

/// An implementation dialling in as `self_id` (Universal).
async fn dial_in(
    gw: &onebot_gateway::Gateway,
    self_id: &str,
    token: Option<&str>,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut req = format!("ws://{}/", gw.upstream_addrs[0])
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("X-Self-ID", self_id.parse().unwrap());
    req.headers_mut()
        .insert("X-Client-Role", "Universal".parse().unwrap());
    if let Some(t) = token {
        req.headers_mut()
            .insert("Authorization", format!("Bearer {t}").parse().unwrap());
    }
    tokio_tungstenite::connect_async(req)
        .await
        .map(|(ws, _)| ws)
}

async fn status(gw: &onebot_gateway::Gateway) -> Value {
    http_get(gw.listen_addrs[0], "/status", None).await.1["data"].clone()
}

fn bot_links(status: &Value, self_id: i64) -> Vec<Value> {
    status["bots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["self_id"] == self_id)
        .map(|b| b["links"].as_array().unwrap().clone())
        .unwrap_or_default()
}

/// Waits until the bot has `n` links.
async fn links_become(gw: &onebot_gateway::Gateway, self_id: i64, n: usize) {
    eventually(&format!("bot {self_id} has {n} links"), || {
        gw.hub
            .registry
            .bot(self_id)
            .is_some_and(|b| b.links.all().len() == n)
    })
    .await;
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

fn message_id(v: &Value) -> i64 {
    v["message_id"].as_i64().unwrap_or(-1)
}

#[tokio::test]
async fn two_links_of_one_bot_publish_once_and_the_standby_takes_over_without_1502() {
    let gw = dial_in_gateway("", "").await;
    let mut first = dial_in(&gw, "555", None).await.unwrap();
    links_become(&gw, 555, 1).await;
    let mut second = dial_in(&gw, "555", None).await.unwrap();
    links_become(&gw, 555, 2).await;
    let mut app = app(&gw, "/555/", "").await;

    // Both implementations see the same QQ message: apps get it once.
    send(&mut first, group_message(555, 1, "from the active link")).await;
    send(&mut second, group_message(555, 2, "from the standby")).await;
    send(&mut first, group_message(555, 3, "marker")).await;
    assert_eq!(message_id(&app.next_non_meta().await.unwrap()), 1);
    assert_eq!(
        message_id(&app.next_non_meta().await.unwrap()),
        3,
        "the standby's event was published"
    );
    let links = bot_links(&status(&gw).await, 555);
    let states: Vec<_> = links.iter().map(|l| l["state"].clone()).collect();
    assert_eq!(states, vec![json!("active"), json!("standby")]);
    assert_eq!(links[1]["standby_events_dropped"], 1);
    assert_eq!(links[0]["kind"], "ws-dial-in");

    // The active link leaves with a Close: the gateway answers it, and the
    // standby carries the very next action.
    first.close(None).await.unwrap();
    while let Some(Ok(_)) = first.next().await {}
    links_become(&gw, 555, 1).await;
    app.send_action("get_login_info", json!({}), Some(json!("after")))
        .await;
    let req = next_action(&mut second).await;
    assert_eq!(req["action"], "get_login_info");
    answer(&mut second, &req, json!({"user_id": 555, "nickname": "b"})).await;
    let r = app.next_response().await.unwrap();
    assert_eq!(r["retcode"], 0, "{r}");
    assert_eq!(r["data"]["nickname"], "b");
    // And its events are now the bot's events.
    send(&mut second, group_message(555, 4, "now active")).await;
    assert_eq!(message_id(&app.next_non_meta().await.unwrap()), 4);
    gw.shutdown().await;
}

async fn answer(ws: &mut Ws, req: &Value, data: Value) {
    send(
        ws,
        json!({"status": "ok", "retcode": 0, "data": data, "echo": req["echo"]}),
    )
    .await;
}

#[tokio::test]
async fn a_half_open_active_link_is_replaced_after_the_probe_not_the_ping_timeout() {
    // Pings every 60 s: without the probe, the dead link would hold the bot
    // for 3 minutes, far past `eventually`'s 10 s.
    let gw = dial_in_gateway("ping_interval_ms = 60000\nlink_probe_ms = 300", "").await;
    // A socket nobody reads: it never answers a ping, like a half-open one.
    let _half_open = dial_in(&gw, "555", None).await.unwrap();
    links_become(&gw, 555, 1).await;
    let mut fresh = dial_in(&gw, "555", None).await.unwrap();
    let bot = gw.hub.registry.bot(555).unwrap();
    eventually("the newcomer carries the bot's actions", || {
        let links = bot.links.all();
        links.len() == 1 && links[0].carries_actions()
    })
    .await;
    let mut app = app(&gw, "/555/", "").await;
    app.send_action("get_status", json!({}), Some(json!(1)))
        .await;
    let req = next_action(&mut fresh).await;
    answer(&mut fresh, &req, json!({"online": true, "good": true})).await;
    assert_eq!(app.next_response().await.unwrap()["retcode"], 0);
    gw.shutdown().await;
}

#[tokio::test]
async fn on_duplicate_refuse_closes_the_newcomer_naming_the_bot() {
    let gw = dial_in_gateway("", "on_duplicate = \"refuse\"").await;
    let _first = dial_in(&gw, "555", None).await.unwrap();
    links_become(&gw, 555, 1).await;
    let second = dial_in(&gw, "555", None).await.unwrap();
    let (code, reason) = AppClient::from_ws(second).closed().await.unwrap();
    assert_eq!(code, 4002);
    assert!(reason.contains("bot 555"), "{reason}");
    assert_eq!(bot_links(&status(&gw).await, 555).len(), 1);
    gw.shutdown().await;
}

#[tokio::test]
async fn on_duplicate_replace_closes_the_older_link() {
    let gw = dial_in_gateway("", "on_duplicate = \"replace\"").await;
    let first = dial_in(&gw, "555", None).await.unwrap();
    links_become(&gw, 555, 1).await;
    let mut second = dial_in(&gw, "555", None).await.unwrap();
    let (code, reason) = AppClient::from_ws(first).closed().await.unwrap();
    assert_eq!(code, 4001);
    assert!(reason.contains("replaced"), "{reason}");
    let mut app = app(&gw, "/555/", "").await;
    app.send_action("get_status", json!({}), Some(json!(1)))
        .await;
    let req = next_action(&mut second).await;
    answer(&mut second, &req, json!({"online": true, "good": true})).await;
    assert_eq!(app.next_response().await.unwrap()["retcode"], 0);
    gw.shutdown().await;
}

#[tokio::test]
async fn an_answer_from_another_link_is_ignored_and_the_real_one_arrives() {
    let gw = dial_in_gateway("", "").await;
    let mut bot222 = dial_in(&gw, "222", None).await.unwrap();
    let mut bot333 = dial_in(&gw, "333", None).await.unwrap();
    links_become(&gw, 222, 1).await;
    links_become(&gw, 333, 1).await;
    let mut app = app(&gw, "/333/", "").await;
    app.send_action("get_login_info", json!({}), Some(json!("mine")))
        .await;
    let req = next_action(&mut bot333).await;
    let echo = req["echo"].as_str().unwrap().to_owned();
    // The internal echo carries a per-start random part: not guessable.
    let parts: Vec<&str> = echo.split(':').collect();
    assert_eq!(parts.len(), 3, "{echo}");
    assert_eq!(parts[1].len(), 16, "{echo}");
    // Bot 222's implementation answers an action it was never sent.
    answer(
        &mut bot222,
        &req,
        json!({"user_id": 222, "nickname": "spoof"}),
    )
    .await;
    // An echo the gateway never issued, and one of a made-up start.
    send(
        &mut bot333,
        json!({"status": "ok", "retcode": 0, "data": null, "echo": "obgw:1"}),
    )
    .await;
    answer(
        &mut bot333,
        &req,
        json!({"user_id": 333, "nickname": "real"}),
    )
    .await;
    let r = app.next_response().await.unwrap();
    assert_eq!(r["data"]["nickname"], "real");
    assert_eq!(r["echo"], "mine");
    // Answered twice: the duplicate is dropped too.
    answer(
        &mut bot333,
        &req,
        json!({"user_id": 333, "nickname": "again"}),
    )
    .await;
    eventually("drops counted", || {
        let d = &gw.hub.dispatcher.dropped_answers;
        use std::sync::atomic::Ordering::Relaxed;
        d.late.load(Relaxed) == 1
    })
    .await;
    let drops = status(&gw).await["dropped_answers"].clone();
    assert_eq!(
        drops,
        json!({"wrong_link": 1, "unknown_echo": 1, "late": 1})
    );
    // Nothing more reached the app: its next answer is that of its next call.
    app.send_action("get_status", json!({}), Some(json!("next")))
        .await;
    let req = next_action(&mut bot333).await;
    answer(&mut bot333, &req, json!({"online": true, "good": true})).await;
    let r = app.next_response().await.unwrap();
    assert_eq!(
        r["echo"], "next",
        "the dropped answers never reached the app: {r}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn a_sandbox_bot_cannot_be_claimed_unless_listed() {
    let gw = start(
        "[[listen]]\naddress = \"127.0.0.1:0\"\n[[upstream]]\ntype = \"sandbox\"\n[[upstream]]\ntype = \"ws-reverse\"\naddress = \"127.0.0.1:0\"\naccess_token = \"up\"\n",
    )
    .await;
    let refused = dial_in(&gw, "10000", Some("up")).await.unwrap_err();
    let tokio_tungstenite::tungstenite::Error::Http(resp) = refused else {
        panic!("expected an HTTP refusal, got {refused}");
    };
    assert_eq!(resp.status(), 403);
    let body = String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default()).into_owned();
    assert!(body.contains("served by the sandbox"), "{body}");
    // The sandbox still serves it.
    let mut first_app = app(&gw, "/10000/", "").await;
    assert_eq!(
        first_app.call("get_login_info", json!({})).await["data"]["user_id"],
        10000
    );
    gw.shutdown().await;

    // Listed in self_ids: the implementation takes over, and the sandbox comes back when it goes.
    let gw = start(
        "[[listen]]\naddress = \"127.0.0.1:0\"\n[[upstream]]\ntype = \"sandbox\"\n[[upstream]]\ntype = \"ws-reverse\"\naddress = \"127.0.0.1:0\"\nself_ids = [10000]\n",
    )
    .await;
    let mut remote = dial_in(&gw, "10000", None).await.unwrap();
    links_become(&gw, 10000, 2).await;
    let mut app2 = app(&gw, "/10000/", "").await;
    app2.send_action("get_login_info", json!({}), Some(json!(1)))
        .await;
    let req = next_action(&mut remote).await;
    answer(
        &mut remote,
        &req,
        json!({"user_id": 10000, "nickname": "real account"}),
    )
    .await;
    assert_eq!(
        app2.next_response().await.unwrap()["data"]["nickname"],
        "real account"
    );
    remote.close(None).await.unwrap();
    links_become(&gw, 10000, 1).await;
    assert_eq!(
        app2.call("get_login_info", json!({})).await["data"]["nickname"],
        "sandbox"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn self_ids_and_per_account_tokens_decide_who_may_dial_in() {
    let gw = dial_in_gateway(
        "",
        "access_token = \"shared\"\nself_ids = [555]\n[[upstream.accounts]]\nself_id = 666\naccess_token = \"own\"",
    )
    .await;
    let status_of = |r: Result<Ws, tokio_tungstenite::tungstenite::Error>| match r {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("{e}"),
    };
    assert_eq!(
        status_of(dial_in(&gw, "777", Some("shared")).await),
        403,
        "not listed"
    );
    assert_eq!(status_of(dial_in(&gw, "555", Some("shared")).await), 101);
    assert_eq!(
        status_of(dial_in(&gw, "666", Some("shared")).await),
        403,
        "666 has its own token"
    );
    assert_eq!(status_of(dial_in(&gw, "666", Some("own")).await), 101);
    assert_eq!(
        status_of(dial_in(&gw, "555", Some("own")).await),
        403,
        "own is 666's"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn an_implementation_that_never_says_who_it_is_is_closed_with_a_reason() {
    let gw = dial_in_gateway("handshake_timeout_ms = 300", "").await;
    let mut req = format!("ws://{}/", gw.upstream_addrs[0])
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("X-Self-ID", "a-name".parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let (code, reason) = AppClient::from_ws(ws).closed().await.unwrap();
    assert_eq!(code, 4005);
    assert!(reason.contains("self_id"), "{reason}");
    gw.shutdown().await;
}

/// Publishes group messages with these ids into the sandbox bot's log.
fn publish(gw: &onebot_gateway::Gateway, ids: std::ops::RangeInclusive<i64>) {
    let bot = gw.hub.registry.bot(10000).unwrap();
    for id in ids {
        bot.log.publish_value(&group_message(10000, id, "n"));
    }
}

#[tokio::test]
async fn a_second_session_of_a_named_app_replaces_the_first_and_gets_exactly_the_rest() {
    let gw = start(
        "[gateway]\nheartbeat_interval_ms = 0\n[[listen]]\naddress = \"127.0.0.1:0\"\n[[apps]]\nname = \"bot-a\"\naccess_token = \"ta\"\n",
    )
    .await;
    let mut older = app(&gw, "/", "ta").await;
    publish(&gw, 1..=5);
    for id in 1..=5 {
        assert_eq!(message_id(&older.next_non_meta().await.unwrap()), id);
    }
    publish(&gw, 6..=200);
    let mut newer = AppClient::connect(&ws_url(&gw, "/"), Some("ta"))
        .await
        .unwrap();
    // The older session reads what was written to it, then the close.
    let mut seen_by_older = Vec::new();
    let close = loop {
        match older.next_json().await {
            Some(v) if v["post_type"] == "message" => seen_by_older.push(message_id(&v)),
            Some(_) => {}
            None => break older.closed().await,
        }
    };
    let _ = close;
    publish(&gw, 201..=210);
    let mut seen_by_newer = Vec::new();
    while seen_by_newer.last() != Some(&210) {
        let v = newer
            .next_json()
            .await
            .expect("the newer session gets the rest");
        if v["post_type"] == "message" {
            seen_by_newer.push(message_id(&v));
        }
    }
    let first_new = seen_by_newer[0];
    assert_eq!(
        seen_by_older.last().copied().unwrap_or(5) + 1,
        first_new,
        "no event to both, none skipped"
    );
    let expected: Vec<i64> = (first_new..=210).collect();
    assert_eq!(seen_by_newer, expected);
    gw.shutdown().await;
}

#[tokio::test]
async fn the_replaced_session_gets_close_4001_with_the_reason() {
    let gw = start(
        "[[listen]]\naddress = \"127.0.0.1:0\"\n[[apps]]\nname = \"bot-a\"\naccess_token = \"ta\"\n",
    )
    .await;
    let mut older = app(&gw, "/", "ta").await;
    let _newer = app(&gw, "/", "ta").await;
    assert_eq!(
        older.closed().await,
        Some((4001, String::from("replaced by a newer connection")))
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn a_named_app_that_refuses_duplicates_keeps_the_older_session() {
    let gw = start(
        "[[listen]]\naddress = \"127.0.0.1:0\"\n[[apps]]\nname = \"bot-a\"\naccess_token = \"ta\"\non_duplicate = \"refuse\"\n",
    )
    .await;
    let mut older = app(&gw, "/", "ta").await;
    let mut newer = AppClient::connect(&ws_url(&gw, "/"), Some("ta"))
        .await
        .unwrap();
    let (code, reason) = newer.closed().await.unwrap();
    assert_eq!(code, 4002);
    assert!(reason.contains("bot-a"), "{reason}");
    assert_eq!(older.call("get_login_info", json!({})).await["retcode"], 0);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_close_from_an_app_is_answered_with_the_same_code() {
    let gw = sandbox("").await;
    let mut raw = RawWs::connect(gw.listen_addrs[0], "/", "").await;
    raw.send_close(4321, "bye").await;
    let reply = raw.next_close().await.expect("a Close reply");
    assert!(!reply.masked, "a server does not mask");
    assert_eq!(reply.close().0, 4321);
    assert!(raw.at_eof().await, "then the server ends TCP");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_close_from_a_dialling_in_implementation_is_answered() {
    let gw = dial_in_gateway("", "").await;
    let mut raw = RawWs::connect(gw.upstream_addrs[0], "/", "X-Self-ID: 555\r\n").await;
    links_become(&gw, 555, 1).await;
    raw.send_close(1000, "restarting").await;
    let reply = raw.next_close().await.expect("a Close reply");
    assert_eq!(reply.close().0, 1000);
    assert!(raw.at_eof().await);
    links_become(&gw, 555, 0).await;
    gw.shutdown().await;
}

#[tokio::test]
async fn a_close_from_a_dialled_implementation_is_answered() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw = start(&format!(
        "[[listen]]\naddress = \"127.0.0.1:0\"\n[[upstream]]\ntype = \"ws\"\nurl = \"ws://{}/\"\nself_id = 88\nreconnect_interval_ms = 60000\nmax_reconnect_interval_ms = 60000\n",
        listener.local_addr().unwrap()
    ))
    .await;
    let mut raw = RawWs::accept(&listener).await;
    links_become(&gw, 88, 1).await;
    raw.send_close(1001, "implementation restarting").await;
    let reply = raw.next_close().await.expect("a Close reply");
    assert!(reply.masked, "a client masks");
    assert_eq!(reply.close().0, 1001);
    links_become(&gw, 88, 0).await;
    gw.shutdown().await;
}

#[tokio::test]
async fn a_close_from_a_reverse_target_is_answered() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw = start(&format!(
        "[[listen]]\naddress = \"127.0.0.1:0\"\n[[reverse]]\nurl = \"ws://{}/onebot/v11/ws\"\nreconnect_interval_ms = 60000\nmax_reconnect_interval_ms = 60000\n",
        listener.local_addr().unwrap()
    ))
    .await;
    let mut raw = RawWs::accept(&listener).await;
    raw.send_close(1000, "framework stopping").await;
    let reply = raw.next_close().await.expect("a Close reply");
    assert!(reply.masked);
    assert_eq!(reply.close().0, 1000);
    gw.shutdown().await;
}

#[tokio::test]
async fn shutdown_waits_for_the_apps_close_reply_and_closes_upstreams_with_a_reason() {
    let up = ManualUpstream::bind().await;
    let gw = start(&format!(
        "[gateway]\nclose_timeout_ms = 5000\n[[listen]]\naddress = \"127.0.0.1:0\"\n[[upstream]]\ntype = \"ws\"\nurl = \"{}\"\nself_id = 88\n",
        up.url()
    ))
    .await;
    let mut upstream = up.accept(88).await;
    links_become(&gw, 88, 1).await;
    let mut raw = RawWs::connect(gw.listen_addrs[0], "/88/", "").await;
    eventually("app registered", || gw.hub.registry.apps.len() == 1).await;
    let shutdown = tokio::spawn(gw.shutdown());
    let close = raw.next_close().await.expect("the gateway's Close");
    assert_eq!(close.close(), (1001, String::from("gateway shutting down")));
    // The gateway is still waiting for this app's reply (close_timeout_ms = 5000).
    assert!(!shutdown.is_finished());
    raw.send_close(1001, "").await;
    assert!(raw.at_eof().await, "TCP ends after the reply");
    // The implementation got a Close with a code and a reason too.
    let frame = loop {
        match upstream.next().await {
            Some(Ok(Message::Close(f))) => break f.expect("a code and reason"),
            Some(Ok(_)) => continue,
            other => panic!("no Close from the gateway: {other:?}"),
        }
    };
    assert_eq!(u16::from(frame.code), 1001);
    assert_eq!(frame.reason.as_str(), "gateway shutting down");
    tokio::time::timeout(Duration::from_secs(10), shutdown)
        .await
        .expect("shutdown completes")
        .unwrap();
}

#[tokio::test]
async fn binary_frames_are_refused_from_apps_and_dropped_from_upstreams() {
    let gw = dial_in_gateway("", "").await;
    let mut imp = dial_in(&gw, "555", None).await.unwrap();
    links_become(&gw, 555, 1).await;
    let mut app = app(&gw, "/555/", "").await;
    // From an upstream: never published.
    imp.send(Message::Binary(
        group_message(555, 1, "binary")
            .to_string()
            .into_bytes()
            .into(),
    ))
    .await
    .unwrap();
    send(&mut imp, group_message(555, 2, "text")).await;
    assert_eq!(message_id(&app.next_non_meta().await.unwrap()), 2);
    assert_eq!(
        bot_links(&status(&gw).await, 555)[0]["binary_frames_dropped"],
        1
    );
    // From an app: never executed; the app is told why.
    let mut binary_app = AppClient::connect(&ws_url(&gw, "/555/"), None)
        .await
        .unwrap();
    let frame = json!({"action": "send_group_msg", "params": {"group_id": 1, "message": "x"}});
    binary_app.send_binary(frame.to_string().into_bytes()).await;
    assert_eq!(
        binary_app.closed().await,
        Some((
            1003,
            String::from("binary frames are not OneBot frames; send text")
        ))
    );
    // Nothing reached the implementation: the next frame it gets is the healthy app's action.
    app.send_action("get_status", json!({}), Some(json!(1)))
        .await;
    assert_eq!(next_action(&mut imp).await["action"], "get_status");
    gw.shutdown().await;
}

#[tokio::test]
async fn status_and_metrics_list_links_and_outbound_connections_that_are_down() {
    // Ports nobody listens on: bound, then dropped.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let gw = start(&format!(
        "[[listen]]\naddress = \"127.0.0.1:0\"\n[[upstream]]\ntype = \"sandbox\"\n[[upstream]]\ntype = \"ws\"\nurl = \"ws://{dead_addr}/?access_token=s3cret\"\n[[reverse]]\nname = \"nonebot\"\nurl = \"ws://{dead_addr}/onebot/v11/ws\"\n"
    ))
    .await;
    eventually("both outbound connections failed once", || {
        let d = &gw.hub.registry.dials;
        d.len() == 2
            && d.iter()
                .all(|d| d.state == "backoff" && d.last_error.is_some())
    })
    .await;
    let dials = status(&gw).await["dials"].clone();
    let dials = dials.as_array().unwrap();
    let upstream = dials
        .iter()
        .find(|d| d["kind"] == "upstream")
        .expect("the ws upstream is listed");
    assert_eq!(upstream["state"], "backoff", "{upstream}");
    assert!(
        upstream["url"]
            .as_str()
            .unwrap()
            .contains("access_token=<redacted>"),
        "{upstream}"
    );
    assert!(upstream["next_attempt_unix_ms"].is_i64());
    let reverse = dials
        .iter()
        .find(|d| d["kind"] == "reverse")
        .expect("the reverse target is listed");
    assert_eq!(reverse["name"], "nonebot");
    assert_eq!(reverse["self_id"], 10000);
    assert_eq!(reverse["state"], "backoff", "{reverse}");
    let links = bot_links(&status(&gw).await, 10000);
    assert_eq!(links.len(), 1);
    assert_eq!(links[0]["kind"], "sandbox");
    assert_eq!(links[0]["state"], "active");
    let (code, metrics) = http_text(gw.listen_addrs[0], "GET", "/metrics", None, None).await;
    assert_eq!(code, 200);
    assert!(
        metrics.contains("onebot_gateway_upstream_links{self_id=\"10000\",state=\"active\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("onebot_gateway_dials{kind=\"reverse\",state=\"backoff\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("onebot_gateway_answers_dropped_total{reason=\"wrong_link\"} 0"),
        "{metrics}"
    );
    gw.shutdown().await;
}
