//! HTTP POST delivery: events POSTed in order, signed; quick operations from
//! the answer; nothing lost while the receiver fails.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use crate::common::*;

#[derive(Default)]
struct Receiver {
    bodies: Mutex<Vec<(HeaderMap, Value)>>,
    /// Answer 500 to this many POSTs first.
    fail_first: AtomicUsize,
    /// What to answer a group message with.
    reply: Mutex<Option<Value>>,
}

async fn receiver(state: Arc<Receiver>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/onebot", listener.local_addr().unwrap());
    let app = Router::new().route(
        "/onebot",
        post(move |headers: HeaderMap, body: Bytes| {
            let state = state.clone();
            async move {
                if state.fail_first.load(Ordering::SeqCst) > 0 {
                    state.fail_first.fetch_sub(1, Ordering::SeqCst);
                    return (StatusCode::INTERNAL_SERVER_ERROR, String::new());
                }
                let v: Value = serde_json::from_slice(&body).unwrap();
                let is_group_message = v["post_type"] == "message" && v["message_type"] == "group";
                state.bodies.lock().unwrap().push((headers, v));
                let answer = match (&*state.reply.lock().unwrap(), is_group_message) {
                    (Some(op), true) => op.to_string(),
                    _ => String::new(),
                };
                (StatusCode::OK, answer)
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn poke(n: u64) -> Value {
    json!({"time": 1, "self_id": 10000, "post_type": "notice", "notice_type": "notify", "sub_type": "poke", "user_id": 20001, "target_id": 10000, "n": n})
}

#[tokio::test]
async fn events_are_posted_in_order_and_signed() {
    let state = Arc::new(Receiver::default());
    let url = receiver(state.clone()).await;
    let gw = start(&format!(
        "[[listen]]\naddress = \"127.0.0.1:0\"\n[[http_post]]\nurl = \"{url}\"\nsecret = \"s3cret\"\n"
    ))
    .await;
    eventually("target registered", || gw.hub.registry.apps.len() == 1).await;
    for n in 0..20 {
        onebot_gateway::upstream::EventSink::publish(&*gw.hub.registry, 10000, poke(n));
    }
    eventually("all posted", || state.bodies.lock().unwrap().len() == 20).await;
    let bodies = state.bodies.lock().unwrap().clone();
    let ns: Vec<u64> = bodies
        .iter()
        .map(|(_, v)| v["n"].as_u64().unwrap())
        .collect();
    assert_eq!(ns, (0..20).collect::<Vec<_>>());
    let (headers, body) = &bodies[0];
    assert_eq!(headers["x-self-id"], "10000");
    assert_eq!(headers["content-type"], "application/json");
    let expected =
        onebot_gateway::transport::http_post::signature("s3cret", body.to_string().as_bytes());
    assert_eq!(headers["x-signature"].to_str().unwrap(), expected);
    assert!(expected.starts_with("sha1=") && expected.len() == 45);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_failing_receiver_loses_nothing() {
    let state = Arc::new(Receiver::default());
    state.fail_first.store(3, Ordering::SeqCst);
    let url = receiver(state.clone()).await;
    let gw = start(&format!(
        "[[listen]]\naddress = \"127.0.0.1:0\"\n[[http_post]]\nurl = \"{url}\"\nretry_interval_ms = 20\nmax_retry_interval_ms = 50\n"
    ))
    .await;
    eventually("target registered", || gw.hub.registry.apps.len() == 1).await;
    for n in 0..5 {
        onebot_gateway::upstream::EventSink::publish(&*gw.hub.registry, 10000, poke(n));
    }
    eventually("all posted after the failures", || {
        state.bodies.lock().unwrap().len() == 5
    })
    .await;
    let ns: Vec<u64> = state
        .bodies
        .lock()
        .unwrap()
        .iter()
        .map(|(_, v)| v["n"].as_u64().unwrap())
        .collect();
    assert_eq!(ns, vec![0, 1, 2, 3, 4], "in order, none lost, none twice");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_quick_operation_answer_replies_in_the_group() {
    let state = Arc::new(Receiver::default());
    *state.reply.lock().unwrap() = Some(json!({"reply": "pong over http", "at_sender": false}));
    let url = receiver(state.clone()).await;
    let gw = start(&format!(
        "[[listen]]\naddress = \"127.0.0.1:0\"\n[[http_post]]\nurl = \"{url}\"\n"
    ))
    .await;
    eventually("target registered", || gw.hub.registry.apps.len() == 1).await;
    inject(
        &gw,
        10000,
        "say",
        json!({"group_id": 100, "user_id": 20001, "message": "ping"}),
    )
    .await;
    let mut found = false;
    for _ in 0..200 {
        let (_, history) = http_get(
            gw.listen_addrs[0],
            "/sandbox/10000/messages?group_id=100",
            None,
        )
        .await;
        found = history["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["user_id"] == 10000 && m["raw_message"] == "pong over http");
        if found {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(found, "the bot replied through the quick operation");
    gw.shutdown().await;
}
