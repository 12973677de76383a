//! The dispatcher over a hand-driven upstream: echo routing, timeouts, lost
//! upstreams, stream actions, and the pending table draining to empty.

use std::time::Duration;

use onebot_gateway::testkit::{AppClient, FakeImplementation};
use serde_json::{json, Value};

use crate::common::*;

async fn gateway_over(url: &str, extra: &str) -> onebot_gateway::Gateway {
    start(&format!(
        "{extra}\n[[listen]]\naddress = \"127.0.0.1:0\"\n[[upstream]]\ntype = \"ws\"\nurl = \"{url}\"\nself_id = 42\nreconnect_interval_ms = 50\nmax_reconnect_interval_ms = 200\n"
    ))
    .await
}

#[tokio::test]
async fn identical_echoes_from_two_apps_each_get_only_their_own_answer() {
    let fake = FakeImplementation::start(42).await;
    let gw = gateway_over(&fake.url(), "").await;
    let bot = gw.hub.registry.bot(42).unwrap();
    eventually("upstream connected", || bot.health().online).await;
    let mut a = app(&gw, "/", "").await;
    let mut b = app(&gw, "/", "").await;
    a.send_action(
        "get_stranger_info",
        json!({"user_id": 1}),
        Some(json!("same")),
    )
    .await;
    b.send_action(
        "get_stranger_info",
        json!({"user_id": 2}),
        Some(json!("same")),
    )
    .await;
    let ra = a.next_response().await.unwrap();
    let rb = b.next_response().await.unwrap();
    assert_eq!(ra["echo"], "same");
    assert_eq!(rb["echo"], "same");
    assert_eq!(ra["data"]["params"]["user_id"], 1);
    assert_eq!(rb["data"]["params"]["user_id"], 2);
    assert!(a
        .next_json_within(Duration::from_millis(200))
        .await
        .is_none_or(|v| v.get("post_type").is_some()));
    gw.shutdown().await;
}

#[tokio::test]
async fn thousand_concurrent_actions_from_ten_apps_are_all_routed_right() {
    let fake = FakeImplementation::start(42).await;
    let gw = gateway_over(&fake.url(), "").await;
    let bot = gw.hub.registry.bot(42).unwrap();
    eventually("upstream connected", || bot.health().online).await;
    let mut tasks = Vec::new();
    for app_no in 0..10u64 {
        let url = ws_url(&gw, "/");
        tasks.push(tokio::spawn(async move {
            let mut app = AppClient::connect(&url, None).await.unwrap();
            for i in 0..100u64 {
                app.send_action(
                    "get_stranger_info",
                    json!({"user_id": app_no * 1000 + i}),
                    Some(json!({"app": app_no, "i": i})),
                )
                .await;
            }
            let mut seen = std::collections::HashSet::new();
            while seen.len() < 100 {
                let r = app.next_response().await.expect("every answer arrives");
                assert_eq!(
                    r["echo"]["app"], app_no,
                    "answer routed to the wrong app: {r}"
                );
                let i = r["echo"]["i"].as_u64().unwrap();
                assert_eq!(r["data"]["params"]["user_id"], app_no * 1000 + i);
                assert!(seen.insert(i), "duplicate answer {i}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(gw.hub.dispatcher.pending_len(), 0, "pending table drains");
    gw.shutdown().await;
}

#[tokio::test]
async fn unanswered_action_times_out_with_a_clear_failure_and_leaves_no_entry() {
    let fake = FakeImplementation::start_with(42, std::sync::Arc::new(|_, _| None)).await;
    let gw = gateway_over(&fake.url(), "[gateway]\naction_timeout_ms = 300").await;
    let bot = gw.hub.registry.bot(42).unwrap();
    eventually("upstream connected", || bot.health().online).await;
    let mut app = app(&gw, "/", "").await;
    let r = app.call("get_friend_list", json!({})).await;
    assert_eq!(r["status"], "failed");
    assert_eq!(r["retcode"], 1504);
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("did not answer `get_friend_list` within 300 ms"),
        "{r}"
    );
    assert_eq!(r["echo"], "call");
    assert_eq!(gw.hub.dispatcher.pending_len(), 0);
    gw.shutdown().await;
}

#[tokio::test]
async fn upstream_killed_with_actions_in_flight_fails_them_all_at_once() {
    let up = ManualUpstream::bind().await;
    let gw = gateway_over(&up.url(), "[gateway]\naction_timeout_ms = 30000").await;
    let mut upstream = up.accept(42).await;
    let bot = gw.hub.registry.bot(42).unwrap();
    eventually("upstream connected", || bot.health().online).await;
    let mut app = app(&gw, "/", "").await;
    for i in 0..5 {
        app.send_action("get_friend_list", json!({}), Some(json!(i)))
            .await;
    }
    for _ in 0..5 {
        next_action(&mut upstream).await;
    }
    assert_eq!(gw.hub.dispatcher.pending_len(), 5);
    drop(upstream);
    let mut echoes = Vec::new();
    for _ in 0..5 {
        let r = app.next_response().await.unwrap();
        assert_eq!(r["retcode"], 1502, "{r}");
        assert!(r["message"].as_str().unwrap().contains("disconnected"));
        echoes.push(r["echo"].as_i64().unwrap());
    }
    echoes.sort();
    assert_eq!(echoes, vec![0, 1, 2, 3, 4]);
    assert_eq!(gw.hub.dispatcher.pending_len(), 0);
    // While it is away, actions fail at once.
    eventually("upstream marked away", || !bot.health().online).await;
    let r = app.call("get_friend_list", json!({})).await;
    assert_eq!(r["retcode"], 1502);
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("no upstream connected"),
        "{r}"
    );
    // It comes back: the gateway redials and actions work again.
    let mut upstream = up.accept(42).await;
    eventually("upstream back", || bot.health().online).await;
    app.send_action("get_friend_list", json!({}), Some(json!("back")))
        .await;
    let req = next_action(&mut upstream).await;
    answer_ok(&mut upstream, &req, json!([])).await;
    let r = app.next_response().await.unwrap();
    assert_eq!(
        (r["retcode"].as_i64(), r["echo"].as_str()),
        (Some(0), Some("back"))
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn app_gone_drops_its_entries_and_late_answers_are_discarded() {
    let (gw, mut upstream, mut app) = hand_driven().await;
    app.send_action("get_friend_list", json!({}), Some(json!(1)))
        .await;
    let req = next_action(&mut upstream).await;
    assert_eq!(gw.hub.dispatcher.pending_len(), 1);
    app.close().await;
    eventually("entry dropped with its app", || {
        gw.hub.dispatcher.pending_len() == 0
    })
    .await;
    // The late answer goes nowhere and breaks nothing.
    answer_ok(&mut upstream, &req, json!([])).await;
    let mut other = app_for(&gw).await;
    other
        .send_action("get_friend_list", json!({}), Some(json!(2)))
        .await;
    let req = next_action(&mut upstream).await;
    answer_ok(&mut upstream, &req, json!([1])).await;
    let r = other.next_response().await.unwrap();
    assert_eq!(r["echo"], 2);
    assert_eq!(r["data"], json!([1]));
    gw.shutdown().await;
}

/// A gateway over a hand-driven upstream (bot 42, connected) and one app.
async fn hand_driven() -> (
    onebot_gateway::Gateway,
    tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    AppClient,
) {
    let up = ManualUpstream::bind().await;
    let gw = gateway_over(&up.url(), "").await;
    let upstream = up.accept(42).await;
    let bot = gw.hub.registry.bot(42).unwrap();
    eventually("upstream connected", || bot.health().online).await;
    let app = app(&gw, "/", "").await;
    (gw, upstream, app)
}

async fn app_for(gw: &onebot_gateway::Gateway) -> AppClient {
    app(gw, "/", "").await
}

#[tokio::test]
async fn stream_action_relays_every_frame_until_the_final_one() {
    let (gw, mut upstream, mut app) = hand_driven().await;
    app.send_action(
        "download_file_stream",
        json!({"file": "a"}),
        Some(json!("s")),
    )
    .await;
    let req = next_action(&mut upstream).await;
    for (i, kind) in ["stream", "stream", "response"].iter().enumerate() {
        send_json(
            &mut upstream,
            json!({"status": "ok", "retcode": 0, "stream": "stream-action", "data": {"type": kind, "index": i}, "echo": req["echo"]}),
        )
        .await;
    }
    for i in 0..3 {
        let r = app.next_response().await.unwrap();
        assert_eq!(r["echo"], "s");
        assert_eq!(r["data"]["index"], i);
    }
    assert_eq!(gw.hub.dispatcher.pending_len(), 0);
    gw.shutdown().await;
}

#[tokio::test]
async fn upstream_failures_pass_through_unchanged() {
    let (gw, mut upstream, mut app) = hand_driven().await;
    app.send_action("get_msg", json!({"message_id": 1}), Some(json!("f")))
        .await;
    let req = next_action(&mut upstream).await;
    send_json(&mut upstream, json!({"status": "failed", "retcode": 100, "data": null, "msg": "x", "wording": "消息不存在", "echo": req["echo"]})).await;
    let r = app.next_response().await.unwrap();
    assert_eq!(
        (r["status"].as_str(), r["retcode"].as_i64()),
        (Some("failed"), Some(100))
    );
    assert_eq!(r["wording"], "消息不存在");
    gw.shutdown().await;
}

#[tokio::test]
async fn quick_operation_turns_into_real_actions() {
    let (gw, mut upstream, mut app) = hand_driven().await;
    let context = json!({"post_type": "message", "message_type": "group", "group_id": 100, "user_id": 7, "message_id": 9});
    app.send_action(
        ".handle_quick_operation",
        json!({"context": context, "operation": {"reply": "hi", "delete": true}}),
        Some(json!("q")),
    )
    .await;
    let mut actions = Vec::new();
    for _ in 0..2 {
        let req = next_action(&mut upstream).await;
        actions.push(req["action"].as_str().unwrap().to_owned());
        if req["action"] == "send_msg" {
            assert_eq!(req["params"]["group_id"], 100);
            assert_eq!(req["params"]["message"][0]["type"], "at");
        }
        answer_ok(&mut upstream, &req, json!({"message_id": 1})).await;
    }
    assert_eq!(actions, vec!["send_msg", "delete_msg"]);
    let r = app.next_response().await.unwrap();
    assert_eq!(
        (r["retcode"].as_i64(), r["echo"].as_str()),
        (Some(0), Some("q"))
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn quick_operation_on_a_sandbox_event_replies_recalls_and_bans() {
    let gw = start("[[listen]]\naddress = \"127.0.0.1:0\"\napp = { message_sent = true }\n").await;
    // Events on one connection, answers on another: waiting for an answer skips frames.
    let mut app = app(&gw, "/event", "").await;
    let mut api = AppClient::connect(&ws_url(&gw, "/api"), None)
        .await
        .unwrap();
    inject(
        &gw,
        10000,
        "say",
        json!({"group_id": 100, "user_id": 20002, "message": "bad word"}),
    )
    .await;
    let said = app
        .next_matching(|v| v["post_type"] == "message")
        .await
        .unwrap();
    let answer = api
        .call(
            ".handle_quick_operation",
            json!({"context": said, "operation": {"reply": "no", "ban": true, "ban_duration": 60, "delete": true}}),
        )
        .await;
    assert_eq!(answer["retcode"], 0, "{answer}");
    let sent = app
        .next_matching(|v| v["post_type"] == "message_sent")
        .await
        .unwrap();
    assert_eq!(
        sent["message"][0],
        json!({"type": "at", "data": {"qq": "20002"}})
    );
    assert_eq!(sent["raw_message"], "[CQ:at,qq=20002] no");
    let recall = app
        .next_matching(|v| v["notice_type"] == "group_recall")
        .await
        .unwrap();
    assert_eq!(recall["message_id"], said["message_id"]);
    let ban = app
        .next_matching(|v| v["notice_type"] == "group_ban")
        .await
        .unwrap();
    assert_eq!(
        (ban["user_id"].as_i64(), ban["duration"].as_i64()),
        (Some(20002), Some(60))
    );
    let refused = api
        .call(".handle_quick_operation", json!({"operation": {}}))
        .await;
    assert_eq!(refused["retcode"], 1400, "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("`context`"),
        "{refused}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn upstream_events_fan_out_to_every_app_and_heartbeats_are_not_forwarded() {
    let fake = FakeImplementation::start(42).await;
    let gw = gateway_over(&fake.url(), "").await;
    let bot = gw.hub.registry.bot(42).unwrap();
    eventually("upstream connected", || bot.health().online).await;
    let mut a = app(&gw, "/", "").await;
    let mut b = app(&gw, "/event", "").await;
    let mut api = AppClient::connect(&ws_url(&gw, "/api"), None)
        .await
        .unwrap();
    for notice in [
        "group_recall",
        "friend_recall",
        "essence",
        "offline_file",
        "brand_new_notice",
    ] {
        fake.push(&json!({"time": 1, "self_id": 42, "post_type": "notice", "notice_type": notice, "extra": {"k": [1, 2]}}));
    }
    for app in [&mut a, &mut b] {
        for notice in [
            "group_recall",
            "friend_recall",
            "essence",
            "offline_file",
            "brand_new_notice",
        ] {
            let e: Value = app.next_non_meta().await.unwrap();
            assert_eq!(e["notice_type"], notice);
            assert_eq!(
                e["extra"],
                json!({"k": [1, 2]}),
                "unknown fields pass through"
            );
        }
    }
    // API-role apps get no events.
    assert!(api
        .next_json_within(Duration::from_millis(300))
        .await
        .is_none());
    gw.shutdown().await;
}

#[tokio::test]
async fn an_upstream_that_stops_reading_is_dropped_and_its_actions_fail() {
    let up = ManualUpstream::bind().await;
    let gw = gateway_over(
        &up.url(),
        "[gateway]\nwrite_timeout_ms = 300\naction_timeout_ms = 30000",
    )
    .await;
    let _upstream = up.accept(42).await; // accepted, never read
    let bot = gw.hub.registry.bot(42).unwrap();
    eventually("upstream connected", || bot.health().online).await;
    let mut app = app(&gw, "/", "").await;
    let big = "x".repeat(1024 * 1024);
    for i in 0..24 {
        app.send_action(
            "send_private_msg",
            json!({"user_id": 1, "message": big}),
            Some(json!(i)),
        )
        .await;
    }
    // The socket fills up, the write times out, the link is declared dead
    // and every action pending on it fails at once.
    let r = app.next_response().await.expect("an answer, not a hang");
    assert_eq!(r["retcode"], 1502, "{}", r["message"]);
    eventually("link dropped", || {
        !bot.health().online || gw.hub.dispatcher.pending_len() == 0
    })
    .await;
    gw.shutdown().await;
}
