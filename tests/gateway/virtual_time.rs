//! Timers under virtual time (`tokio::time::pause`): an app session and the
//! dispatcher run in-process over an in-memory socket, so heartbeats, ping
//! deadlines, action timeouts and rate-limit spacing are checked to the
//! millisecond, whatever the machine's load.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use onebot_gateway::core::{
    AppOptions, Dispatcher, Hub, Link, LinkKind, OnDuplicate, Registry, Role, SessionOnDuplicate,
};
use onebot_gateway::transport::session::{run_app, SessionEnd};
use onebot_gateway::upstream::{RemoteLink, UpstreamLink};
use onebot_gateway::Config;
use serde_json::{json, Value};
use tokio::io::DuplexStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::Role as WsRole;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const BOT: i64 = 42;

fn hub(gateway_toml: &str) -> Arc<Hub> {
    let config = Config::parse(&format!("[gateway]\n{gateway_toml}"), "test").unwrap();
    Arc::new(Hub {
        registry: Registry::new(config.retention.retention()),
        dispatcher: Dispatcher::new(config.gateway.dispatch()),
        settings: config.gateway.sessions(),
        draining: CancellationToken::new(),
        shutdown: CancellationToken::new(),
        tasks: TaskTracker::new(),
    })
}

/// Bot 42 on a remote link whose action frames the test reads.
fn remote_bot(hub: &Hub) -> mpsc::Receiver<Utf8Bytes> {
    let (frames, rx) = mpsc::channel(64);
    let link = Link::new(
        hub.registry.new_link_id(),
        LinkKind::WsDialled,
        Role::Universal,
        String::from("test"),
        UpstreamLink::Remote(RemoteLink { id: 1, frames }),
        OnDuplicate::Standby,
        None,
    );
    hub.registry.bot_or_insert(BOT).attach_link(link);
    rx
}

/// An app session of bot 42 on an in-memory socket; the app's end is returned.
async fn session(
    hub: &Arc<Hub>,
) -> (
    WebSocketStream<DuplexStream>,
    tokio::task::JoinHandle<SessionEnd>,
) {
    let (ours, theirs) = tokio::io::duplex(1 << 20);
    let server = WebSocketStream::from_raw_socket(theirs, WsRole::Server, None).await;
    let app = WebSocketStream::from_raw_socket(ours, WsRole::Client, None).await;
    let bot = hub.registry.bot_or_insert(BOT);
    let ctx = hub.registry.register_app(
        bot,
        Role::Universal,
        AppOptions::default(),
        None,
        String::from("memory"),
        SessionOnDuplicate::Replace,
    );
    let run = tokio::spawn(run_app(hub.clone(), server, ctx, CancellationToken::new()));
    (app, run)
}

async fn next_json(app: &mut WebSocketStream<DuplexStream>) -> Value {
    loop {
        match app.next().await.expect("open").expect("readable") {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            _ => continue,
        }
    }
}

#[tokio::test(start_paused = true)]
async fn heartbeats_keep_their_interval_and_a_silent_app_is_dropped_after_three_pings() {
    let hub =
        hub("heartbeat_interval_ms = 5000\nping_interval_ms = 7000\nclose_timeout_ms = 1000\n");
    let (mut app, run) = session(&hub).await;
    let start = Instant::now();
    assert_eq!(next_json(&mut app).await["meta_event_type"], "lifecycle");
    for n in 1..=3u64 {
        let beat = next_json(&mut app).await;
        assert_eq!(beat["meta_event_type"], "heartbeat");
        assert_eq!(beat["interval"], 5000);
        assert_eq!(start.elapsed(), Duration::from_secs(5 * n), "heartbeat {n}");
    }
    // The app stops reading, so it stops answering pings; its last Pong
    // answered the ping at 14 s. The first ping tick with more than three
    // intervals (21 s) of silence is at 42 s; the Close then waits 1 s
    // (close_timeout) for a reply that never comes.
    let end = run.await.unwrap();
    assert!(matches!(end, SessionEnd::Dead), "{end:?}");
    assert_eq!(start.elapsed(), Duration::from_secs(42 + 1));
}

#[tokio::test(start_paused = true)]
async fn an_unanswered_action_fails_at_exactly_the_action_timeout() {
    let hub = hub("action_timeout_ms = 30000\nheartbeat_interval_ms = 0\n");
    let mut frames = remote_bot(&hub);
    let (mut app, _run) = session(&hub).await;
    next_json(&mut app).await; // lifecycle
    let asked = Instant::now();
    app.send(Message::text(
        json!({"action": "get_status", "params": {}, "echo": "t"}).to_string(),
    ))
    .await
    .unwrap();
    let sent: Value = serde_json::from_str(&frames.recv().await.unwrap()).unwrap();
    assert_eq!(sent["action"], "get_status");
    let answer = next_json(&mut app).await;
    assert_eq!(asked.elapsed(), Duration::from_secs(30));
    assert_eq!(
        (answer["retcode"].as_i64(), answer["echo"].as_str()),
        (Some(1504), Some("t"))
    );
    assert_eq!(
        hub.dispatcher.pending_len(),
        0,
        "the timed-out action leaves no entry"
    );
}

#[tokio::test(start_paused = true)]
async fn rate_limited_actions_reach_the_upstream_spaced_by_the_interval() {
    let hub = hub("rate_limit_interval_ms = 500\nheartbeat_interval_ms = 0\n");
    let mut frames = remote_bot(&hub);
    let (mut app, _run) = session(&hub).await;
    next_json(&mut app).await; // lifecycle
    for i in 0..3 {
        let call = json!({"action": "send_private_msg_rate_limited", "params": {"user_id": 1, "message": format!("m{i}")}, "echo": i});
        app.send(Message::text(call.to_string())).await.unwrap();
        assert_eq!(next_json(&mut app).await["status"], "async");
    }
    let start = Instant::now();
    let mut at = Vec::new();
    for _ in 0..3 {
        let req: Value = serde_json::from_str(&frames.recv().await.unwrap()).unwrap();
        at.push((
            req["params"]["message"].as_str().unwrap().to_owned(),
            start.elapsed(),
        ));
        // The implementation answers at once.
        let answer = json!({"status": "ok", "retcode": 0, "data": null, "echo": req["echo"]});
        hub.dispatcher
            .on_answer(1, serde_json::from_value(answer).unwrap());
    }
    let ms = |n| Duration::from_millis(n);
    assert_eq!(
        at,
        [
            ("m0".to_owned(), ms(0)),
            ("m1".to_owned(), ms(500)),
            ("m2".to_owned(), ms(1000))
        ]
    );
}
