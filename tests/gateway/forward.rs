//! Forward WebSocket apps: handshake, auth, first frame, echo, roles, bad frames.

use onebot_gateway::testkit::AppClient;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Error as WsError;

use crate::common::*;

fn http_status(err: WsError) -> u16 {
    match err {
        WsError::Http(resp) => resp.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other}"),
    }
}

#[tokio::test]
async fn first_frame_is_lifecycle_connect_with_the_bots_self_id() {
    let gw = sandbox("t").await;
    let mut app = AppClient::connect(&ws_url(&gw, "/"), Some("t"))
        .await
        .unwrap();
    let first = app.next_json().await.unwrap();
    assert_eq!(first["post_type"], "meta_event");
    assert_eq!(first["meta_event_type"], "lifecycle");
    assert_eq!(first["sub_type"], "connect");
    assert_eq!(first["self_id"], 10000);
    assert!(first["time"].as_i64().unwrap() > 1_600_000_000);
    gw.shutdown().await;
}

#[tokio::test]
async fn missing_token_is_401_wrong_token_is_403_query_token_works() {
    let gw = sandbox("secret").await;
    let err = AppClient::connect(&ws_url(&gw, "/"), None)
        .await
        .err()
        .unwrap();
    assert_eq!(http_status(err), 401);
    let err = AppClient::connect(&ws_url(&gw, "/"), Some("nope"))
        .await
        .err()
        .unwrap();
    assert_eq!(http_status(err), 403);
    let mut app = AppClient::connect(&ws_url(&gw, "/?access_token=secret"), None)
        .await
        .unwrap();
    assert_eq!(
        app.next_json().await.unwrap()["meta_event_type"],
        "lifecycle"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn unknown_path_and_unknown_bot_are_404() {
    let gw = sandbox("t").await;
    let err = AppClient::connect(&ws_url(&gw, "/a/b/c"), Some("t"))
        .await
        .err()
        .unwrap();
    assert_eq!(http_status(err), 404);
    let err = AppClient::connect(&ws_url(&gw, "/424242/"), Some("t"))
        .await
        .err()
        .unwrap();
    assert_eq!(http_status(err), 404);
    let mut ok = AppClient::connect(&ws_url(&gw, "/10000/api"), Some("t"))
        .await
        .unwrap();
    let answer = ok.call("get_login_info", json!({})).await;
    assert_eq!(answer["data"]["user_id"], 10000);
    gw.shutdown().await;
}

#[tokio::test]
async fn echo_of_every_type_comes_back_identical_and_absent_stays_absent() {
    let gw = sandbox("t").await;
    let mut app = app(&gw, "/", "t").await;
    for echo in [
        json!("1"),
        json!(2),
        json!(18446744073709551615u64),
        json!({"seq": 1, "nested": [1, "x"]}),
        json!([1, 2]),
        Value::Null,
    ] {
        app.send_action("get_login_info", json!({}), Some(echo.clone()))
            .await;
        let resp = app.next_response().await.unwrap();
        assert_eq!(resp["status"], "ok");
        assert_eq!(resp["retcode"], 0);
        assert_eq!(resp.get("echo"), Some(&echo), "echo {echo}");
        assert!(resp.get("post_type").is_none());
    }
    // A very large integer beyond u64 keeps its exact digits.
    app.send_text(r#"{"action":"get_login_info","echo":123456789012345678901234567890}"#)
        .await;
    let text = loop {
        let t = app.next_text().await.unwrap();
        if !t.contains("post_type") {
            break t;
        }
    };
    assert!(
        text.contains(r#""echo":123456789012345678901234567890"#),
        "{text}"
    );
    app.send_action("get_login_info", json!({}), None).await;
    let resp = app.next_response().await.unwrap();
    assert!(resp.get("echo").is_none(), "{resp}");
    gw.shutdown().await;
}

#[tokio::test]
async fn event_role_actions_are_refused_and_the_connection_stays_up() {
    let gw = sandbox("t").await;
    let mut ev = app(&gw, "/event", "t").await;
    ev.send_action("get_login_info", json!({}), Some(json!("e")))
        .await;
    let resp = ev.next_response().await.unwrap();
    assert_eq!(resp["status"], "failed");
    assert_eq!(resp["retcode"], 1403);
    assert!(resp["message"].as_str().unwrap().contains("Event role"));
    assert_eq!(resp["echo"], "e");
    gw.shutdown().await;
}

#[tokio::test]
async fn malformed_frames_get_1400_naming_the_problem_and_the_session_survives() {
    let gw = sandbox("t").await;
    let mut app = app(&gw, "/", "t").await;
    app.send_text("this is not json").await;
    let resp = app.next_response().await.unwrap();
    assert_eq!(resp["retcode"], 1400);
    assert_eq!(resp["status"], "failed");
    assert!(
        resp["message"]
            .as_str()
            .unwrap()
            .contains("not a JSON object"),
        "{resp}"
    );
    app.send_text(r#"{"action": 5, "echo": "bad"}"#).await;
    let resp = app.next_response().await.unwrap();
    assert_eq!(resp["retcode"], 1400);
    assert_eq!(resp["echo"], "bad");
    assert!(
        resp["message"].as_str().unwrap().contains("action"),
        "{resp}"
    );
    // Still serving.
    assert_eq!(app.call("get_login_info", json!({})).await["retcode"], 0);
    gw.shutdown().await;
}

#[tokio::test]
async fn heartbeats_carry_the_bots_real_status() {
    let gw =
        start("[gateway]\nheartbeat_interval_ms = 100\n[[listen]]\naddress = \"127.0.0.1:0\"\n")
            .await;
    let mut app = AppClient::connect(&ws_url(&gw, "/"), None).await.unwrap();
    app.next_json().await.unwrap();
    let beat = app.next_json().await.unwrap();
    assert_eq!(beat["meta_event_type"], "heartbeat");
    assert_eq!(beat["interval"], 100);
    assert_eq!(beat["status"]["online"], true);
    // The upstream goes away: the next heartbeat says so.
    let bot = gw.hub.registry.bot(10000).unwrap();
    bot.detach_link(bot.links.all()[0].id, "test: the upstream goes away");
    let beat = loop {
        let b = app.next_json().await.unwrap();
        if b["status"]["online"] == false {
            break b;
        }
    };
    assert_eq!(beat["status"]["good"], false);
    let status = app.call("get_status", json!({})).await;
    assert_eq!(status["data"]["online"], false);
    gw.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_apps_with_a_reason() {
    let gw = sandbox("t").await;
    let mut app = app(&gw, "/", "t").await;
    let shutdown = tokio::spawn(gw.shutdown());
    let (code, reason) = app.closed().await.expect("a close frame");
    assert_eq!(code, 1001);
    assert!(reason.contains("shutting down"), "{reason}");
    shutdown.await.unwrap();
}

#[tokio::test]
async fn string_post_format_apps_get_cq_strings_array_apps_get_arrays() {
    let gw = start(
        "[[listen]]\naddress = \"127.0.0.1:0\"\n[[listen]]\naddress = \"127.0.0.1:0\"\napp = { post_format = \"string\" }\n",
    )
    .await;
    let mut arr = AppClient::connect(&format!("ws://{}/", gw.listen_addrs[0]), None)
        .await
        .unwrap();
    let mut s = AppClient::connect(&format!("ws://{}/", gw.listen_addrs[1]), None)
        .await
        .unwrap();
    arr.next_json().await.unwrap();
    s.next_json().await.unwrap();
    let bot = gw.hub.registry.bot(10000).unwrap();
    bot.log.publish_value(&json!({
        "time": 1, "self_id": 10000, "post_type": "message", "message_type": "private", "sub_type": "friend",
        "message_id": 1, "user_id": 2, "font": 0, "sender": {"user_id": 2, "nickname": "n"},
        "message": [{"type": "text", "data": {"text": "a[b]"}}, {"type": "face", "data": {"id": "1"}}],
        "raw_message": "a&#91;b&#93;[CQ:face,id=1]",
    }));
    let a = arr.next_non_meta().await.unwrap();
    assert!(a["message"].is_array());
    let b = s.next_non_meta().await.unwrap();
    assert_eq!(b["message"], "a&#91;b&#93;[CQ:face,id=1]");
    assert_eq!(b["raw_message"], "a&#91;b&#93;[CQ:face,id=1]");
    gw.shutdown().await;
}

#[tokio::test]
async fn async_suffix_answers_per_config() {
    let gw = start(
        "[[listen]]\naddress = \"127.0.0.1:0\"\n[[listen]]\naddress = \"127.0.0.1:0\"\napp = { async_reply = \"ok\" }\n",
    )
    .await;
    let mut spec = AppClient::connect(&format!("ws://{}/", gw.listen_addrs[0]), None)
        .await
        .unwrap();
    let mut koishi = AppClient::connect(&format!("ws://{}/", gw.listen_addrs[1]), None)
        .await
        .unwrap();
    let r = spec.call("get_login_info_async", json!({})).await;
    assert_eq!(
        (r["status"].as_str(), r["retcode"].as_i64()),
        (Some("async"), Some(1))
    );
    let r = koishi.call("get_login_info_async", json!({})).await;
    assert_eq!(
        (r["status"].as_str(), r["retcode"].as_i64()),
        (Some("ok"), Some(0))
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn queued_rate_limited_actions_still_run_when_the_gateway_stops() {
    let gw =
        start("[gateway]\nrate_limit_interval_ms = 100\n[[listen]]\naddress = \"127.0.0.1:0\"\n")
            .await;
    let sandbox = gw.sandbox.clone().unwrap();
    let mut app = AppClient::connect(&ws_url(&gw, "/"), None).await.unwrap();
    for i in 0..4 {
        let r = app
            .call(
                "send_group_msg_rate_limited",
                json!({"group_id": 100, "message": format!("before stop {i}")}),
            )
            .await;
        assert_eq!(r["retcode"], 1, "accepted: {r}");
    }
    // Stopped at once: three of them are still waiting their turn.
    gw.shutdown().await;
    let history = sandbox.call(
        10000,
        "get_group_msg_history",
        &json!({"group_id": 100, "count": 20}),
    );
    let sent: Vec<String> = history.data_value()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["raw_message"].as_str().map(str::to_owned))
        .filter(|t| t.starts_with("before stop"))
        .collect();
    assert_eq!(
        sent,
        [
            "before stop 0",
            "before stop 1",
            "before stop 2",
            "before stop 3"
        ]
    );
}

#[tokio::test]
async fn rate_limited_actions_are_accepted_at_once_and_run_in_order() {
    let gw =
        start("[gateway]\nrate_limit_interval_ms = 20\n[[listen]]\naddress = \"127.0.0.1:0\"\n")
            .await;
    let mut app = AppClient::connect(&ws_url(&gw, "/"), None).await.unwrap();
    for i in 0..3 {
        let r = app
            .call(
                "send_group_msg_rate_limited",
                json!({"group_id": 100, "message": format!("queued {i}")}),
            )
            .await;
        assert_eq!(
            (r["status"].as_str(), r["retcode"].as_i64()),
            (Some("async"), Some(1))
        );
    }
    let mut texts = Vec::new();
    for _ in 0..100 {
        let history = app
            .call(
                "get_group_msg_history",
                json!({"group_id": 100, "count": 20}),
            )
            .await;
        texts = history["data"]["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["raw_message"].as_str().map(str::to_owned))
            .filter(|t| t.starts_with("queued"))
            .collect();
        if texts.len() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(texts, vec!["queued 0", "queued 1", "queued 2"]);
    gw.shutdown().await;
}

#[tokio::test]
async fn oversize_frames_get_1400_and_far_oversize_frames_close_with_1009() {
    let gw =
        start("[gateway]\nmax_inbound_frame_bytes = 1024\n[[listen]]\naddress = \"127.0.0.1:0\"\n")
            .await;
    let mut app = AppClient::connect(&ws_url(&gw, "/"), None).await.unwrap();
    app.next_json().await.unwrap();
    let big = "x".repeat(2000);
    app.send_action(
        "send_group_msg",
        json!({"group_id": 100, "message": big}),
        Some(json!("big")),
    )
    .await;
    let r = app.next_response().await.unwrap();
    assert_eq!(r["retcode"], 1400);
    assert_eq!(r["echo"], "big");
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("exceeds max_inbound_frame_bytes (1024)"),
        "{r}"
    );
    // The connection is still up.
    assert_eq!(app.call("get_login_info", json!({})).await["retcode"], 0);
    // Far beyond the limit the frame is not even read: close 1009 with a reason.
    app.send_text("y".repeat(10_000)).await;
    let (code, reason) = app.closed().await.expect("a close frame");
    assert_eq!(code, 1009);
    assert!(reason.contains("too large"), "{reason}");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_peer_that_never_finishes_its_handshake_is_cut_off() {
    use tokio::io::AsyncReadExt;
    let gw =
        start("[gateway]\nhandshake_timeout_ms = 200\n[[listen]]\naddress = \"127.0.0.1:0\"\n")
            .await;
    let mut stream = tokio::net::TcpStream::connect(gw.listen_addrs[0])
        .await
        .unwrap();
    // Half a request line, then silence.
    tokio::io::AsyncWriteExt::write_all(&mut stream, b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_end(&mut buf),
    )
    .await;
    assert!(
        read.is_ok(),
        "the gateway closed the connection instead of waiting forever"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn an_app_with_a_filter_gets_only_matching_events() {
    let dir = tempfile::tempdir().unwrap();
    let filter = dir.path().join("filter.json");
    std::fs::write(
        &filter,
        r#"{".or": [{"notice_type": "group_recall"}, {"n": {".in": [2, 3]}}]}"#,
    )
    .unwrap();
    let gw = start(&format!(
        "[[listen]]\naddress = \"127.0.0.1:0\"\n[[listen]]\naddress = \"127.0.0.1:0\"\napp = {{ filter = {:?} }}\n",
        filter.display().to_string()
    ))
    .await;
    let mut all = AppClient::connect(&format!("ws://{}/", gw.listen_addrs[0]), None)
        .await
        .unwrap();
    let mut some = AppClient::connect(&format!("ws://{}/", gw.listen_addrs[1]), None)
        .await
        .unwrap();
    all.next_json().await.unwrap();
    some.next_json().await.unwrap();
    let bot = gw.hub.registry.bot(10000).unwrap();
    for n in 0..5 {
        bot.log.publish_value(&json!({"time": 1, "self_id": 10000, "post_type": "notice", "notice_type": "notify", "n": n}));
    }
    bot.log.publish_value(
        &json!({"time": 1, "self_id": 10000, "post_type": "notice", "notice_type": "group_recall"}),
    );
    for n in 0..5 {
        assert_eq!(all.next_non_meta().await.unwrap()["n"], n);
    }
    assert_eq!(some.next_non_meta().await.unwrap()["n"], 2);
    assert_eq!(some.next_non_meta().await.unwrap()["n"], 3);
    assert_eq!(
        some.next_non_meta().await.unwrap()["notice_type"],
        "group_recall"
    );
    gw.shutdown().await;
}

#[test]
fn a_bad_filter_file_is_a_config_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let filter = dir.path().join("bad.json");
    std::fs::write(&filter, r#"{"raw_message": {".regex": "(unclosed"}}"#).unwrap();
    let err = onebot_gateway::Config::parse(
        &format!(
            "[[listen]]\napp = {{ filter = {:?} }}\n",
            filter.display().to_string()
        ),
        "c.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("bad.json") && err.contains("raw_message.regex"),
        "{err}"
    );
}

#[tokio::test]
async fn actions_over_the_rate_limit_wait_and_say_so_when_they_cannot() {
    let gw = start(
        "[gateway]\nactions_per_second = 1.0\naction_burst = 1\naction_timeout_ms = 300\n[[listen]]\naddress = \"127.0.0.1:0\"\n",
    )
    .await;
    let mut app = AppClient::connect(&ws_url(&gw, "/"), None).await.unwrap();
    assert_eq!(app.call("get_login_info", json!({})).await["retcode"], 0);
    // The next token is ~1 s away, beyond the 300 ms action timeout.
    let r = app.call("get_login_info", json!({})).await;
    assert_eq!(r["retcode"], 1504);
    assert!(r["message"].as_str().unwrap().contains("rate limit"), "{r}");
    gw.shutdown().await;
}
