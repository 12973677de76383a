//! What the gateway survives: one row per kind of hostile input, each with
//! the exact answer it gets, and after every row a healthy app on the same
//! gateway still receives an injected event and gets its action answered.
//! Keep adding rows: this file is the project's record of what it refuses.

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use onebot_gateway::testkit::AppClient;
use onebot_gateway::Gateway;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use crate::common::*;

/// A raw HTTP/1.1 exchange: status, headers (lower-case names), body.
async fn raw_http(addr: SocketAddr, request: &str) -> (u16, Vec<(String, String)>, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    // An upgrade answer (101) keeps the socket open: read the head only then.
    loop {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no answer to {request:?}; so far {:?}",
                    String::from_utf8_lossy(&buf)
                )
            })
            .unwrap();
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if n == 0 {
            break;
        }
        // A kept-alive answer ends with its body; a 101 with its head.
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_owned())
                })
                .and_then(|v| v.parse::<usize>().ok());
            if head.starts_with("HTTP/1.1 101") || length.is_some_and(|l| body.len() >= l) {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

fn get(addr: SocketAddr, path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n")
}

fn post(addr: SocketAddr, path: &str, extra: &str, ctype: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Content-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn upgrade(addr: SocketAddr, path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    )
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn message_of(body: &str) -> String {
    serde_json::from_str::<Value>(body).unwrap_or(Value::Null)["message"]
        .as_str()
        .unwrap_or(body)
        .to_owned()
}

/// A request row: name, listener, request, status, a part of the message,
/// and a header the answer must carry.
type HttpRow = (
    &'static str,
    SocketAddr,
    String,
    u16,
    &'static str,
    Option<(&'static str, &'static str)>,
);

/// The gateway every row runs against: listener 0 open (loopback, no token),
/// listener 1 with a token, listener 2 with room for three WebSockets.
async fn hostile_gateway() -> Gateway {
    start(
        "[[listen]]\naddress = \"127.0.0.1:0\"\nallowed_origins = [\"https://ok.example\"]\n\
         [[listen]]\naddress = \"127.0.0.1:0\"\naccess_token = \"s3cret\"\n\
         [[listen]]\naddress = \"127.0.0.1:0\"\nmax_connections = 3\n",
    )
    .await
}

/// The healthy app's check after every row.
async fn still_healthy(gw: &Gateway, healthy: &mut AppClient, row: &str) {
    let marker = format!("after {row}");
    gw.sandbox.as_ref().unwrap().emit(
        10000,
        json!({"post_type": "notice", "notice_type": "notify", "sub_type": "poke", "group_id": 100, "user_id": 20001, "target_id": 10000, "marker": marker}),
    );
    // Events of the row's own sends may come first.
    let event = healthy
        .next_matching(|v| v.get("marker").is_some())
        .await
        .unwrap_or_else(|| panic!("{row}: the healthy app got no event"));
    assert_eq!(
        event["marker"],
        marker.as_str(),
        "{row}: the healthy app's event"
    );
    let answer = healthy.call("get_login_info", json!({})).await;
    assert_eq!(
        answer["retcode"], 0,
        "{row}: the healthy app's action: {answer}"
    );
}

#[tokio::test]
async fn every_hostile_input_gets_its_answer_and_disturbs_nothing() {
    let gw = hostile_gateway().await;
    let open = gw.listen_addrs[0];
    let guarded = gw.listen_addrs[1];
    let capped = gw.listen_addrs[2];
    let mut healthy = app(&gw, "/", "").await;

    // --- Requests answered at the HTTP level: one row each (name, listener,
    // request, status, a part of the answer's message, a header it must carry).
    let evil = "Origin: https://evil.example\r\n";
    let own = format!("Origin: http://{open}\r\nSec-Fetch-Site: same-origin\r\n");
    let rows: Vec<HttpRow> = vec![
        (
            "cross-site GET of an action",
            open,
            get(
                open,
                "/send_group_msg?group_id=100&message=hi",
                &format!("{evil}Sec-Fetch-Site: cross-site\r\n"),
            ),
            403,
            "allowed_origins",
            None,
        ),
        (
            "foreign Origin on /status",
            open,
            get(open, "/status", evil),
            403,
            "Origin https://evil.example is not this listener's own",
            None,
        ),
        (
            "same-site page on /sandbox",
            open,
            get(open, "/sandbox/world", "Sec-Fetch-Site: same-site\r\n"),
            403,
            "Sec-Fetch-Site: same-site",
            None,
        ),
        (
            "WebSocket from a foreign page",
            open,
            upgrade(open, "/", &format!("Sec-WebSocket-Version: 13\r\n{evil}")),
            403,
            "allowed_origins",
            None,
        ),
        (
            "form POST from a page",
            open,
            post(
                open,
                "/send_group_msg",
                evil,
                "application/x-www-form-urlencoded",
                "group_id=100&message=hi",
            ),
            403,
            "allowed_origins",
            None,
        ),
        (
            "an allowed origin",
            open,
            get(
                open,
                "/get_login_info",
                "Origin: https://ok.example\r\nSec-Fetch-Site: cross-site\r\n",
            ),
            200,
            "",
            None,
        ),
        (
            "the listener's own origin (the dashboard)",
            open,
            get(open, "/status", &own),
            200,
            "",
            None,
        ),
        (
            "a text/plain body",
            open,
            post(
                open,
                "/send_group_msg",
                "",
                "text/plain",
                r#"{"group_id":100,"message":"hi"}"#,
            ),
            415,
            "unsupported Content-Type `text/plain`",
            None,
        ),
        (
            "an old WebSocket version",
            open,
            upgrade(open, "/", "Sec-WebSocket-Version: 8\r\n"),
            426,
            "Sec-WebSocket-Version must be 13",
            Some(("sec-websocket-version", "13")),
        ),
        (
            "`Bearers3cret` (no Bearer token)",
            guarded,
            get(
                guarded,
                "/get_login_info",
                "Authorization: Bearers3cret\r\n",
            ),
            403,
            "wrong access token",
            None,
        ),
        (
            "the right token",
            guarded,
            get(
                guarded,
                "/get_login_info",
                "Authorization: Bearer s3cret\r\n",
            ),
            200,
            "",
            None,
        ),
    ];
    for (row, addr, request, want, needle, must_have) in rows {
        let (status, headers, body) = raw_http(addr, &request).await;
        assert_eq!(status, want, "{row}: {body}");
        assert!(message_of(&body).contains(needle), "{row}: {body}");
        if let Some((name, value)) = must_have {
            assert_eq!(header(&headers, name), Some(value), "{row}");
        }
        still_healthy(&gw, &mut healthy, row).await;
    }

    // A form POST from a client (no Origin) is served, and its message was really sent.
    let (status, _, body) = raw_http(
        open,
        &post(
            open,
            "/send_group_msg",
            "",
            "application/x-www-form-urlencoded",
            "group_id=100&message=%E4%BD%A0%E5%A5%BD+form",
        ),
    )
    .await;
    assert_eq!(status, 200, "form POST from a client: {body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["data"]["message_id"].clone();
    let got = healthy.call("get_msg", json!({"message_id": id})).await;
    assert_eq!(
        got["data"]["raw_message"], "你好 form",
        "the form's message was sent: {got}"
    );
    still_healthy(&gw, &mut healthy, "bodies").await;

    // --- A greedy peer: 20 refused tokens in a minute block the address on that listener.
    for _ in 0..19 {
        let (status, _, _) = raw_http(
            guarded,
            &get(
                guarded,
                "/get_login_info",
                "Authorization: Bearer guess\r\n",
            ),
        )
        .await;
        assert!(matches!(status, 401 | 403), "a wrong token: {status}");
    }
    let (status, headers, body) = raw_http(
        guarded,
        &get(
            guarded,
            "/get_login_info",
            "Authorization: Bearer s3cret\r\n",
        ),
    )
    .await;
    assert_eq!(
        status, 429,
        "blocked after 20 failures, even with the right token: {body}"
    );
    let retry: u64 = header(&headers, "retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert!(
        message_of(&body).contains("too many wrong or missing access tokens"),
        "{body}"
    );
    still_healthy(
        &gw,
        &mut healthy,
        "auth throttle (other listener unaffected)",
    )
    .await;

    // --- Connection cap: the fourth WebSocket gets 503 before the upgrade.
    let url = format!("ws://{capped}/");
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(
            AppClient::connect(&url, None)
                .await
                .expect("within the cap"),
        );
    }
    let (status, _, body) = raw_http(
        capped,
        &upgrade(capped, "/", "Sec-WebSocket-Version: 13\r\n"),
    )
    .await;
    assert_eq!(status, 503, "over max_connections: {body}");
    assert!(message_of(&body).contains("max_connections (3)"), "{body}");
    held.pop().unwrap().close().await;
    let mut again = None;
    for _ in 0..100 {
        // The slot is free once the gateway saw the close; no fixed wait.
        match AppClient::connect(&url, None).await {
            Ok(c) => {
                again = Some(c);
                break;
            }
            Err(_) => tokio::task::yield_now().await,
        }
    }
    assert!(again.is_some(), "a freed place is given again");
    drop(held);
    still_healthy(&gw, &mut healthy, "connection cap").await;

    // --- Frames that are not actions.
    let mut garbage = app(&gw, "/", "").await;
    garbage.send_text("this is not json").await;
    let answer = garbage.next_response().await.unwrap();
    assert_eq!(answer["retcode"], 1400);
    assert!(
        answer.get("echo").is_some_and(Value::is_null),
        "an unreadable frame's answer has \"echo\": null: {answer}"
    );
    for (frame, echo, says) in [
        (
            r#"{"action": "", "params": {}, "echo": 1}"#,
            json!(1),
            "`action` must name an action",
        ),
        (
            r#"{"status": "ok", "retcode": 0, "data": null, "echo": 7}"#,
            json!(7),
            "is an answer, not an action",
        ),
    ] {
        garbage.send_text(frame).await;
        let answer = garbage.next_response().await.unwrap();
        assert_eq!(
            (answer["retcode"].clone(), answer["echo"].clone()),
            (json!(1400), echo)
        );
        assert!(
            answer["message"].as_str().unwrap().contains(says),
            "{answer}"
        );
    }
    still_healthy(&gw, &mut healthy, "frames that are not actions").await;

    // 100 malformed frames within 10 s: answered, then closed with 1008.
    for i in 2..100 {
        garbage.send_text(format!("garbage {i}")).await;
    }
    let (mut answers, mut closed) = (0u32, None);
    while let Some(msg) = garbage.next_message().await {
        match msg {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v.get("post_type").is_none() {
                    assert_eq!(v["retcode"], 1400, "{v}");
                    answers += 1;
                }
            }
            Message::Close(frame) => {
                closed = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                break;
            }
            _ => {}
        }
    }
    // The answers still queued when the limit is reached may go unwritten:
    // the close says why.
    assert!(answers <= 98, "{answers} answers");
    assert_eq!(
        closed,
        Some((
            1008,
            String::from("100 malformed frames within 10 s: not a OneBot app")
        ))
    );
    still_healthy(&gw, &mut healthy, "garbage frames").await;

    // --- Bounds: a message of 10^6 CQ codes is refused before it is parsed.
    let huge = "[CQ:face,id=1]".repeat(1_000_000);
    let answer = healthy
        .call("send_group_msg", json!({"group_id": 100, "message": huge}))
        .await;
    assert_eq!(answer["retcode"], 1400, "{}", answer["message"]);
    assert_eq!(
        answer["message"],
        "`message` has more than 2000 segments (gateway.max_segments); send it in several messages"
    );
    let nested = json!([{"type": "node", "data": {"name": "a", "uin": 1, "content": vec![json!({"type": "face", "data": {"id": "1"}}); 2001]}}]);
    let answer = healthy
        .call(
            "send_group_forward_msg",
            json!({"group_id": 100, "messages": nested}),
        )
        .await;
    assert_eq!(answer["retcode"], 1400, "nested content counts: {answer}");
    let many = vec![json!({"type": "face", "data": {"id": "1"}}); 200_000];
    let answer = healthy
        .call("send_group_msg", json!({"group_id": 100, "message": many}))
        .await;
    assert_eq!(answer["retcode"], 1400, "{}", answer["message"]);
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("more than 100000 JSON values"),
        "an array of 200 000 segments is refused before it is built: {}",
        answer["message"]
    );
    still_healthy(&gw, &mut healthy, "max_segments").await;

    // --- The sandbox's files: nothing of the host's.
    for file in ["file:///etc/passwd", "/etc/passwd"] {
        let answer = healthy
            .call(
                "upload_group_file",
                json!({"group_id": 100, "file": file, "name": "x"}),
            )
            .await;
        assert_eq!(answer["retcode"], 1403, "{file}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains("files_dir"),
            "{answer}"
        );
        let answer = healthy
            .call(
                "send_group_msg",
                json!({"group_id": 100, "message": [{"type": "image", "data": {"file": file}}]}),
            )
            .await;
        assert_eq!(answer["retcode"], 1403, "{file} as an image: {answer}");
    }
    let answer = healthy.call("send_group_msg", json!({"group_id": 100, "message": [{"type": "image", "data": {"file": "base64://aGk="}}]})).await;
    assert_eq!(answer["retcode"], 0, "base64 images still work: {answer}");
    still_healthy(&gw, &mut healthy, "sandbox files").await;

    // --- Ids the gateway reads must fit i64.
    for id in [
        "123456789012345678901234567890",
        "-9223372036854775809",
        "9223372036854775808",
    ] {
        healthy
            .send_text(format!(r#"{{"action": "send_group_msg", "params": {{"group_id": {id}, "message": "x"}}, "echo": "big"}}"#))
            .await;
        let answer = healthy.next_response().await.unwrap();
        assert_eq!(answer["retcode"], 1400, "group_id {id}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains("group_id"),
            "{answer}"
        );
    }
    still_healthy(&gw, &mut healthy, "ids outside i64").await;
    gw.shutdown().await;
}

#[tokio::test]
async fn params_the_gateway_does_not_read_reach_the_implementation_byte_for_byte() {
    let up = ManualUpstream::bind().await;
    let gw = start(&format!(
        "[[listen]]\naddress = \"127.0.0.1:0\"\n[[upstream]]\ntype = \"ws\"\nurl = \"{}\"\nself_id = 42\n",
        up.url()
    ))
    .await;
    let mut upstream = up.accept(42).await;
    let mut app = app(&gw, "/42/", "").await;
    app.send_text(
        r#"{"action": "some_extension", "params":{"group_id": 123456789012345678901234567890, "ratio": 1E2, "zero": -0, "small": 1.50}, "echo": 1}"#,
    )
    .await;
    let text = loop {
        match upstream.next().await.unwrap().unwrap() {
            Message::Text(t) => break t.to_string(),
            _ => continue,
        }
    };
    let kept = r#""params":{"group_id": 123456789012345678901234567890, "ratio": 1E2, "zero": -0, "small": 1.50}"#;
    assert!(
        text.contains(kept),
        "the params are not as the app wrote them: {text}"
    );
    let req: Value = serde_json::from_str(&text).unwrap();
    upstream
        .send(Message::Text(
            json!({"status": "ok", "retcode": 0, "data": null, "echo": req["echo"]})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    assert_eq!(app.next_response().await.unwrap()["echo"], 1);
    gw.shutdown().await;
}

#[tokio::test]
async fn no_secret_reaches_the_log_or_check_config() {
    // Tokens in every place a URL or header can carry one.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.toml");
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    std::fs::write(
        &config,
        format!(
            "[[listen]]\naddress = \"127.0.0.1:0\"\naccess_token = \"listen-secret-1\"\n\
             [[upstream]]\ntype = \"ws\"\nurl = \"ws://127.0.0.1:{port}/?access_token=upstream-secret-2\"\nself_id = 42\naccess_token = \"upstream-secret-3\"\n\
             [[http_post]]\nurl = \"http://127.0.0.1:{port}/post?token=post-secret-4\"\nbots = [42]\nsecret = \"post-secret-5\"\n\
             [[reverse]]\nurl = \"ws://bot:reverse-secret-6@127.0.0.1:{port}/onebot/v11/ws?access_token=reverse-secret-7\"\nbots = [42]\naccess_token = \"reverse-secret-8\"\n"
        ),
    )
    .unwrap();
    let secrets: Vec<String> = (1..=8)
        .map(|i| {
            [
                "listen", "upstream", "upstream", "post", "post", "reverse", "reverse", "reverse",
            ][i - 1]
                .to_owned()
                + &format!("-secret-{i}")
        })
        .collect();
    let checked = std::process::Command::new(env!("CARGO_BIN_EXE_onebot-gateway"))
        .args(["check-config"])
        .arg(&config)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&checked.stdout);
    assert!(checked.status.success(), "{printed}");
    for s in &secrets {
        assert!(
            !printed.contains(s.as_str()),
            "check-config printed {s}:\n{printed}"
        );
    }
    assert!(printed.contains("access_token=<redacted>"), "{printed}");

    let gateway = GatewayChild::spawn(&config).await;
    // A scripted session: a wrong token, a right one, a call, and the dial
    // failures to the dead port are logged meanwhile.
    let _ = http_get(gateway.addr, "/status", Some("wrong-token")).await;
    let (status, _) = http_get(gateway.addr, "/status", Some("listen-secret-1")).await;
    assert_eq!(status, 200);
    // The HTTP POST target registers as an app once its task runs: wait for
    // its rows, where a leaked URL would show.
    let metrics_now = || {
        http_text(
            gateway.addr,
            "GET",
            "/metrics",
            Some("listen-secret-1"),
            None,
        )
    };
    eventually_async("the HTTP POST target's rows in /metrics", || async {
        metrics_now().await.1.contains("app_events_unconfirmed")
    })
    .await;
    let (_, metrics) = metrics_now().await;
    let (_, body) = http_get(gateway.addr, "/status", Some("listen-secret-1")).await;
    let shown = body.to_string() + &metrics;
    let mut app = AppClient::connect(
        &format!("ws://{}/42/", gateway.addr),
        Some("listen-secret-1"),
    )
    .await
    .unwrap();
    let _ = app.call("get_status", json!({})).await;
    app.close().await;
    // Every dial has failed at least once (the log says so), then the log is read.
    let dials_failed = |log: &[String]| {
        [
            "cannot reach upstream",
            "reverse connection refused or failed",
        ]
        .iter()
        .all(|m| log.iter().any(|l| l.contains(m)))
    };
    eventually("both dials logged their failure", || {
        dials_failed(&gateway.log.lock().unwrap())
    })
    .await;
    gateway.terminate();
    let mut gateway = gateway;
    let _ = gateway.child.wait();
    let log = gateway.log.lock().unwrap().join("\n");
    assert!(
        dials_failed(&gateway.log.lock().unwrap()),
        "the dials were logged:\n{log}"
    );
    for s in &secrets {
        assert!(!log.contains(s.as_str()), "the log contains {s}:\n{log}");
        assert!(
            !shown.contains(s.as_str()),
            "/status or /metrics contains {s}: {shown}"
        );
    }
    assert!(log.contains("<redacted>"), "{log}");
}

#[tokio::test]
async fn a_message_of_a_million_cq_codes_costs_little_memory() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.toml");
    std::fs::write(&config, "[[listen]]\naddress = \"127.0.0.1:0\"\n").unwrap();
    let gateway = GatewayChild::spawn(&config).await;
    let mut app = AppClient::connect(&format!("ws://{}/", gateway.addr), None)
        .await
        .unwrap();
    assert_eq!(app.call("get_login_info", json!({})).await["retcode"], 0);
    let before = gateway.peak_rss();
    // 14 MB of `[CQ:face,id=1]`: within max_inbound_frame_bytes, far over max_segments.
    let huge = "[CQ:face,id=1]".repeat(1_000_000);
    for _ in 0..2 {
        let answer = app
            .call("send_group_msg", json!({"group_id": 100, "message": huge}))
            .await;
        assert_eq!(answer["retcode"], 1400, "{}", answer["message"]);
    }
    let grown = gateway.peak_rss().saturating_sub(before);
    assert!(
        grown < 64 * 1024 * 1024,
        "two such frames raised the peak RSS by {} MiB",
        grown / (1024 * 1024)
    );
    eprintln!(
        "a million CQ codes: peak RSS +{} MiB",
        grown / (1024 * 1024)
    );
    assert_eq!(app.call("get_login_info", json!({})).await["retcode"], 0);
}

#[tokio::test]
async fn frames_over_the_shared_inbound_budget_are_refused_not_buffered() {
    let gw = start(
        "[gateway]\nmax_inbound_buffer_bytes = 4194304\n[[listen]]\naddress = \"127.0.0.1:0\"\n",
    )
    .await;
    let addr = gw.listen_addrs[0];
    let mut healthy = app(&gw, "/", "").await;
    // A sends most of a 3 MiB frame and stops: the gateway holds it.
    let mut slow = crate::rawws::RawWs::connect(addr, "/", "").await;
    let payload = format!(
        r#"{{"action":"get_status","params":{{"pad":"{}"}},"echo":"slow"}}"#,
        "x".repeat(3 * 1024 * 1024)
    );
    let mut frame = vec![0x81, 0x80 | 127];
    frame.extend_from_slice(&(payload.len() as u64).to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 0]); // a zero mask: the payload goes as it is
    frame.extend_from_slice(&payload.as_bytes()[..payload.len() - 10]);
    slow.stream.write_all(&frame).await.unwrap();
    let held = || async {
        let (_, status) = http_get(addr, "/status", None).await;
        status["data"]["inbound_buffered_bytes"].as_u64().unwrap()
    };
    let mut buffered = 0;
    for _ in 0..1000 {
        buffered = held().await;
        if buffered >= 3 * 1024 * 1024 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(
        buffered >= 3 * 1024 * 1024,
        "the partial frame is held ({buffered} bytes)"
    );
    // B's 2 MiB frame would take the total over 4 MiB: refused with 1009.
    let mut greedy = app(&gw, "/", "").await;
    greedy
        .send_action(
            "get_status",
            json!({"pad": "y".repeat(2 * 1024 * 1024)}),
            Some(json!(1)),
        )
        .await;
    let closed = greedy.closed().await.expect("a close frame");
    assert_eq!(closed.0, 1009, "{closed:?}");
    assert!(
        closed.1.contains("inbound memory budget exhausted"),
        "{closed:?}"
    );
    // A finishes its frame and is answered; the budget is free again.
    slow.stream
        .write_all(&payload.as_bytes()[payload.len() - 10..])
        .await
        .unwrap();
    let answer = loop {
        let f = slow.next_frame().await.expect("an answer");
        let v: Value = serde_json::from_slice(&f.payload).unwrap_or(Value::Null);
        if v["echo"] == "slow" {
            break v;
        }
    };
    assert_eq!(answer["retcode"], 0, "{answer}");
    assert!(held().await < 64 * 1024, "released after the whole frame");
    still_healthy(&gw, &mut healthy, "inbound budget").await;
    gw.shutdown().await;
}
