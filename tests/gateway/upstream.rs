//! Upstreams: implementations dialling the gateway (`ws-reverse`) with every
//! token spelling and role layout, and gateway-dialled (`ws`) health.

use futures::{SinkExt, StreamExt};
use onebot_gateway::testkit::AppClient;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::common::*;

async fn reverse_gateway(token: &str) -> onebot_gateway::Gateway {
    start(&format!(
        "[[listen]]\naddress = \"127.0.0.1:0\"\n[[upstream]]\ntype = \"ws-reverse\"\naddress = \"127.0.0.1:0\"\naccess_token = \"{token}\"\n"
    ))
    .await
}

async fn dial(
    gw: &onebot_gateway::Gateway,
    path: &str,
    headers: &[(&'static str, &str)],
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    tokio_tungstenite::tungstenite::Error,
> {
    let mut req = format!("ws://{}{}", gw.upstream_addrs[0], path)
        .into_client_request()
        .unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(*k, v.parse().unwrap());
    }
    tokio_tungstenite::connect_async(req)
        .await
        .map(|(ws, _)| ws)
}

#[tokio::test]
async fn implementations_authenticate_with_bearer_token_or_query() {
    let gw = reverse_gateway("up").await;
    for (path, auth) in [
        ("/", "Bearer up"),
        ("/", "Token up"),
        ("/?access_token=up", ""),
    ] {
        let mut headers = vec![("X-Self-ID", "777"), ("X-Client-Role", "Universal")];
        if !auth.is_empty() {
            headers.push(("Authorization", auth));
        }
        let ws = dial(&gw, path, &headers).await;
        assert!(ws.is_ok(), "{auth} {path}");
    }
    let refused = dial(
        &gw,
        "/",
        &[("X-Self-ID", "777"), ("Authorization", "Bearer nope")],
    )
    .await;
    assert!(refused.is_err());
    let refused = dial(
        &gw,
        "/",
        &[("X-Self-ID", "777"), ("Authorization", "Bearer ")],
    )
    .await;
    assert!(refused.is_err(), "empty bearer is no token");
    gw.shutdown().await;
}

#[tokio::test]
async fn api_and_event_pair_forms_one_upstream() {
    let gw = reverse_gateway("").await;
    let mut api = dial(
        &gw,
        "/",
        &[
            ("X-Self-ID", "555"),
            ("X-Client-Role", "Api"),
            ("Authorization", "Bearer "),
        ],
    )
    .await
    .unwrap();
    let mut event = dial(
        &gw,
        "/",
        &[("X-Self-ID", "555"), ("X-Client-Role", "Event")],
    )
    .await
    .unwrap();
    eventually("bot 555 online through its API and Event links", || {
        gw.hub.registry.bot(555).is_some_and(|b| b.health().online)
    })
    .await;
    let mut app = AppClient::connect(&format!("ws://{}/555/", gw.listen_addrs[0]), None)
        .await
        .unwrap();
    app.next_json().await.unwrap();
    // Events from the Event connection reach the app.
    event
        .send(Message::Text(json!({"time": 1, "self_id": 555, "post_type": "notice", "notice_type": "poke", "sub_type": "poke", "user_id": 1, "target_id": 555}).to_string().into()))
        .await
        .unwrap();
    let e = app.next_non_meta().await.unwrap();
    assert_eq!(e["notice_type"], "poke");
    // Actions go over the API connection.
    app.send_action("get_login_info", json!({}), Some(json!("a")))
        .await;
    let req: Value = loop {
        if let Message::Text(t) = api.next().await.unwrap().unwrap() {
            break serde_json::from_str(&t).unwrap();
        }
    };
    assert_eq!(req["action"], "get_login_info");
    api.send(Message::Text(json!({"status": "ok", "retcode": 0, "data": {"user_id": 555, "nickname": "x"}, "echo": req["echo"]}).to_string().into()))
        .await
        .unwrap();
    let r = app.next_response().await.unwrap();
    assert_eq!(r["data"]["user_id"], 555);
    assert_eq!(r["echo"], "a");
    gw.shutdown().await;
}

#[tokio::test]
async fn non_numeric_self_id_is_learnt_with_get_login_info() {
    let gw = reverse_gateway("").await;
    let mut ws = dial(
        &gw,
        "/",
        &[("X-Self-ID", "qq-bot-a"), ("X-Client-Role", "Universal")],
    )
    .await
    .unwrap();
    let req: Value = loop {
        if let Message::Text(t) = ws.next().await.unwrap().unwrap() {
            break serde_json::from_str(&t).unwrap();
        }
    };
    assert_eq!(req["action"], "get_login_info");
    ws.send(Message::Text(json!({"status": "ok", "retcode": 0, "data": {"user_id": 31337, "nickname": "x"}, "echo": req["echo"]}).to_string().into()))
        .await
        .unwrap();
    eventually("bot learnt", || {
        gw.hub
            .registry
            .bot(31337)
            .is_some_and(|b| b.health().online)
    })
    .await;
    gw.shutdown().await;
}

#[tokio::test]
async fn upstream_heartbeat_status_feeds_bot_health() {
    let up = ManualUpstream::bind().await;
    let gw = start(&format!(
        "[[listen]]\naddress = \"127.0.0.1:0\"\n[[upstream]]\ntype = \"ws\"\nurl = \"{}\"\n",
        up.url()
    ))
    .await;
    let mut ws = up.accept(88).await;
    eventually("bot appears", || {
        gw.hub.registry.bot(88).is_some_and(|b| b.health().online)
    })
    .await;
    let bot = gw.hub.registry.bot(88).unwrap();
    send_json(&mut ws, json!({"time": 1, "self_id": 88, "post_type": "meta_event", "meta_event_type": "heartbeat", "interval": 5000, "status": {"online": true, "good": false}})).await;
    eventually("health follows heartbeat", || !bot.health().good).await;
    assert!(bot.health().online);
    gw.shutdown().await;
}

#[tokio::test]
async fn upstream_silent_beyond_twice_its_heartbeat_interval_is_dropped_and_redialled() {
    let up = ManualUpstream::bind().await;
    let gw = start(&format!(
        "[[listen]]\naddress = \"127.0.0.1:0\"\n[[upstream]]\ntype = \"ws\"\nurl = \"{}\"\nself_id = 99\nreconnect_interval_ms = 50\n",
        up.url()
    ))
    .await;
    let mut ws = up.accept(99).await;
    let bot = gw.hub.registry.bot(99).unwrap();
    eventually("online", || bot.health().online).await;
    send_json(&mut ws, json!({"time": 1, "self_id": 99, "post_type": "meta_event", "meta_event_type": "heartbeat", "interval": 200, "status": {"online": true, "good": true}})).await;
    // Then nothing: the socket stays open but the implementation is a zombie.
    eventually("zombie link dropped", || !bot.health().online).await;
    let _again = up.accept(99).await;
    eventually("redialled", || bot.health().online).await;
    drop(ws);
    gw.shutdown().await;
}
