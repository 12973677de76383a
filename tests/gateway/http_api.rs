//! The HTTP API: one action per request, on the forward listener's port.

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn get_with_query_params_and_a_query_token() {
    let gw = sandbox("t").await;
    let (status, body) = http_get(gw.listen_addrs[0], "/get_login_info?access_token=t", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["retcode"], 0);
    assert_eq!(body["data"]["user_id"], 10000);
    let (_, body) = http_get(
        gw.listen_addrs[0],
        "/10000/get_group_info?group_id=100",
        Some("t"),
    )
    .await;
    assert_eq!(body["data"]["group_id"], 100);
    gw.shutdown().await;
}

#[tokio::test]
async fn post_json_and_form_bodies_reach_the_dispatcher() {
    let gw = sandbox("t").await;
    let addr = gw.listen_addrs[0];
    let json_body =
        json!({"group_id": 100, "message": [{"type": "text", "data": {"text": "over http"}}]})
            .to_string();
    let (status, body) = http_request(
        addr,
        "POST",
        "/send_group_msg",
        Some("t"),
        Some(("application/json", &json_body)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let id = body["data"]["message_id"].as_i64().expect("a message id");
    let (_, body) = http_request(
        addr,
        "POST",
        "/send_msg",
        Some("t"),
        Some((
            "application/x-www-form-urlencoded",
            "message_type=group&group_id=100&message=form%20text",
        )),
    )
    .await;
    assert_eq!(body["retcode"], 0, "{body}");
    let form_id = body["data"]["message_id"].as_i64().expect("a message id");
    let (_, msg) = http_get(addr, &format!("/get_msg?message_id={id}"), Some("t")).await;
    assert_eq!(msg["data"]["message"][0]["data"]["text"], "over http");
    let (_, msg) = http_get(addr, &format!("/get_msg?message_id={form_id}"), Some("t")).await;
    assert_eq!(
        msg["data"]["raw_message"], "form text",
        "the form's message was sent: {msg}"
    );
    assert_eq!(msg["data"]["group_id"], 100);
    gw.shutdown().await;
}

#[tokio::test]
async fn bad_requests_get_clear_answers() {
    let gw = sandbox("t").await;
    let addr = gw.listen_addrs[0];
    assert_eq!(http_get(addr, "/get_login_info", None).await.0, 401);
    assert_eq!(
        http_get(addr, "/get_login_info", Some("wrong")).await.0,
        403
    );
    let (status, body) = http_get(addr, "/424242/get_login_info", Some("t")).await;
    assert_eq!(status, 404);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("unknown bot 424242"));
    let (status, body) = http_request(
        addr,
        "POST",
        "/send_msg",
        Some("t"),
        Some(("application/json", "{not json")),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("invalid JSON body"),
        "{body}"
    );
    // A bad param is a OneBot failure, answered like one.
    let (status, body) = http_get(addr, "/get_group_info?group_id=abc", Some("t")).await;
    assert_eq!(status, 200);
    assert_eq!(body["retcode"], 1400);
    assert!(
        body["message"].as_str().unwrap().contains("group_id"),
        "{body}"
    );
    // A plain GET of a WebSocket path says what it wants.
    assert_eq!(http_get(addr, "/", Some("t")).await.0, 426);
    gw.shutdown().await;
}

#[tokio::test]
async fn metrics_and_dashboard_are_served_behind_the_token() {
    let gw = sandbox("t").await;
    let addr = gw.listen_addrs[0];
    let mut app = app(&gw, "/", "t").await;
    assert_eq!(app.call("get_login_info", json!({})).await["retcode"], 0);
    let (status, text) = http_text(addr, "GET", "/metrics", Some("t"), None).await;
    assert_eq!(status, 200);
    assert!(
        text.contains(r#"onebot_gateway_bot_online{self_id="10000"} 1"#),
        "{text}"
    );
    assert!(text.contains("onebot_gateway_app_actions_total{"), "{text}");
    assert!(text.contains("onebot_gateway_pending_actions 0"), "{text}");
    assert_eq!(http_text(addr, "GET", "/metrics", None, None).await.0, 401);
    let (status, page) = http_text(addr, "GET", "/dashboard?access_token=t", None, None).await;
    assert_eq!(status, 200);
    assert!(page.contains("<title>onebot-gateway</title>") && page.contains("/status"));
    gw.shutdown().await;
}

#[tokio::test]
async fn answers_are_counted_by_bot_action_and_retcode_with_unknown_names_as_other() {
    let gw = sandbox("").await;
    let mut app = app(&gw, "/", "").await;
    assert_eq!(app.call("get_status", json!({})).await["retcode"], 0);
    assert_eq!(
        app.call("get_group_info", json!({"group_id": "x"})).await["retcode"],
        1400
    );
    assert_eq!(
        app.call("my_secret_action_7f3a", json!({})).await["retcode"],
        1404
    );
    let (_, metrics) = http_text(gw.listen_addrs[0], "GET", "/metrics", None, None).await;
    for line in [
        r#"onebot_gateway_action_answers_total{self_id="10000",action="get_status",retcode="0"} 1"#,
        r#"onebot_gateway_action_answers_total{self_id="10000",action="get_group_info",retcode="1400"} 1"#,
        r#"onebot_gateway_action_answers_total{self_id="10000",action="other",retcode="1404"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} in:\n{metrics}");
    }
    assert!(
        !metrics.contains("my_secret_action"),
        "no label from an app's free text"
    );
    let (_, status) = http_get(gw.listen_addrs[0], "/status", None).await;
    assert!(status["data"]["actions"].as_array().unwrap().contains(
        &json!({"self_id": 10000, "action": "get_group_info", "retcode": 1400, "count": 1})
    ));
    gw.shutdown().await;
}

#[tokio::test]
async fn latency_and_events_by_type_are_metrics_and_the_grafana_dashboard_reads_them() {
    // A reverse target that is down: its dial is a metric too.
    let gw = start("[[listen]]\naddress = \"127.0.0.1:0\"\n[[reverse]]\nurl = \"ws://127.0.0.1:9/onebot/v11/ws\"\n").await;
    let mut app = app(&gw, "/", "").await;
    for _ in 0..3 {
        assert_eq!(app.call("get_status", json!({})).await["retcode"], 0);
    }
    inject(
        &gw,
        10000,
        "say",
        json!({"group_id": 100, "user_id": 20001, "message": "hi"}),
    )
    .await;
    app.next_non_meta().await.expect("the message event");
    eventually("the reverse target's dial", || {
        !gw.hub.registry.dials.is_empty()
    })
    .await;
    let (_, metrics) = http_text(gw.listen_addrs[0], "GET", "/metrics", None, None).await;
    for line in [
        r#"onebot_gateway_action_duration_seconds_bucket{le="+Inf",self_id="10000"} 3"#,
        r#"onebot_gateway_action_duration_seconds_count{self_id="10000"} 3"#,
        r#"onebot_gateway_bot_events_total{self_id="10000",post_type="message"} 1"#,
        r#"onebot_gateway_bot_events_total{self_id="10000",post_type="request"} 0"#,
        "# TYPE onebot_gateway_action_duration_seconds histogram",
    ] {
        assert!(metrics.contains(line), "{line} in:\n{metrics}");
    }
    // Every family has its HELP and TYPE.
    let types = metrics.lines().filter(|l| l.starts_with("# TYPE ")).count();
    let helps = metrics.lines().filter(|l| l.starts_with("# HELP ")).count();
    assert!(
        types >= 20 && types == helps,
        "{types} TYPE, {helps} HELP lines"
    );
    // Each metric the Grafana dashboard queries is one the gateway serves.
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/contrib/grafana-dashboard.json"
        ))
        .unwrap(),
    )
    .expect("the Grafana dashboard is JSON");
    let names = regex::Regex::new(r"onebot_gateway_[a-z_]+").unwrap();
    let mut checked = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            for name in names.find_iter(target["expr"].as_str().unwrap()) {
                let family = ["_bucket", "_total", "_count", "_sum"]
                    .iter()
                    .fold(name.as_str(), |n, s| n.strip_suffix(s).unwrap_or(n));
                assert!(
                    metrics.contains(&format!("# TYPE {family} ")),
                    "{} queries {family}, not served",
                    panel["title"]
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 12, "{checked}");
    gw.shutdown().await;
}

#[tokio::test]
async fn status_keeps_departed_apps_recent_failures_and_per_bot_latency() {
    let gw = sandbox("").await;
    let mut a = app(&gw, "/", "").await;
    let failed = a
        .call("get_group_info", json!({"group_id": "not a number"}))
        .await;
    assert_eq!(failed["retcode"], 1400);
    assert_eq!(a.call("get_status", json!({})).await["retcode"], 0);
    a.close().await;
    eventually("the session is gone", || gw.hub.registry.apps.is_empty()).await;
    let (_, status) = http_get(gw.listen_addrs[0], "/status", None).await;
    let d = &status["data"];
    let gone = &d["disconnected_apps"][0];
    assert_eq!(
        (gone["self_id"].as_i64(), gone["actions"].as_u64()),
        (Some(10000), Some(2)),
        "{d}"
    );
    assert!(
        gone["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{gone}"
    );
    let failure = &d["recent_failures"][0];
    assert_eq!(
        (failure["action"].as_str(), failure["retcode"].as_i64()),
        (Some("get_group_info"), Some(1400)),
        "{d}"
    );
    assert!(
        failure["message"].as_str().unwrap().contains("group_id"),
        "{failure}"
    );
    let bot = &d["bots"][0];
    assert_eq!(bot["pending_actions"], 0);
    assert!(
        bot["action_latency_ms"]["p99"]
            .as_f64()
            .is_some_and(|ms| ms > 0.0),
        "{bot}"
    );
    gw.shutdown().await;
}
