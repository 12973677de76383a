//! A framework that crashes: a real child process (this test binary, run as
//! an app) killed with SIGKILL mid-stream. Delivery is confirmed by what the
//! app's WebSocket reader has read (Ping/Pong), not by what was written, so
//! a returning named app gets every event at least once.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use futures::StreamExt;
use onebot_gateway::testkit::AppClient;
use onebot_gateway::upstream::EventSink;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::common::*;

fn numbered(n: u64) -> Value {
    json!({"time": 1, "self_id": 10000, "post_type": "notice", "notice_type": "notify", "sub_type": "poke",
           "user_id": 20001, "target_id": 10000, "n": n, "pad": "x".repeat(200)})
}

/// The child side: an app that prints the `n` of every event it processed,
/// one line each, flushed (what a framework's handler has done). With
/// `OBGW_CHILD_STALL_AFTER`, it stops reading after that many events.
/// Run only as a child of the tests below.
#[tokio::test]
#[ignore = "the child process of the crash tests; not a test on its own"]
async fn child_app() {
    let url =
        std::env::var("OBGW_CHILD_URL").expect("run by the crash tests, which set OBGW_CHILD_URL");
    let stall_after: Option<usize> = std::env::var("OBGW_CHILD_STALL_AFTER")
        .ok()
        .map(|s| s.parse().unwrap());
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("Authorization", "Bearer ta".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let mut out = std::io::stdout().lock();
    let mut processed = 0;
    while let Some(Ok(msg)) = ws.next().await {
        let Message::Text(text) = msg else { continue };
        let v: Value = serde_json::from_str(&text).unwrap();
        if v["meta_event_type"] == "lifecycle" {
            // On a line of its own: libtest's "test … " has no newline yet.
            writeln!(out, "\nready").unwrap();
        } else if let Some(n) = v["n"].as_u64() {
            writeln!(out, "n={n}").unwrap();
            processed += 1;
        }
        out.flush().unwrap();
        if stall_after == Some(processed) {
            // Stops reading: the gateway's writes pile up in socket buffers.
            std::future::pending::<()>().await;
        }
    }
}

struct ChildApp {
    child: Child,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl ChildApp {
    fn spawn(url: &str, stall_after: Option<usize>) -> Self {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "crash::child_app",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("OBGW_CHILD_URL", url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
        if let Some(k) = stall_after {
            cmd.env("OBGW_CHILD_STALL_AFTER", k.to_string());
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// Waits for the child's next line that is one of its own.
    async fn next_line(&mut self) -> String {
        loop {
            let line = tokio::time::timeout(Duration::from_secs(20), self.lines.recv())
                .await
                .expect("the child app keeps printing")
                .expect("the child app is running");
            if line == "ready" || line.starts_with("n=") {
                return line;
            }
        }
    }

    /// SIGKILL, then every `n` it had printed after `seen`.
    async fn kill(mut self, mut seen: Vec<u64>) -> Vec<u64> {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        // Everything it printed before dying; the pipe ends with it.
        while let Ok(Some(line)) =
            tokio::time::timeout(Duration::from_secs(10), self.lines.recv()).await
        {
            if let Some(n) = line.strip_prefix("n=") {
                seen.push(n.parse().unwrap());
            }
        }
        seen
    }
}

async fn named_gateway() -> onebot_gateway::Gateway {
    start("[gateway]\nheartbeat_interval_ms = 0\n[[listen]]\naddress = \"127.0.0.1:0\"\n[[apps]]\nname = \"a\"\naccess_token = \"ta\"\n").await
}

/// Reads a named app's events until `last` arrived.
async fn read_until(app: &mut AppClient, last: u64) -> Vec<u64> {
    let mut got = Vec::new();
    while got.last() != Some(&last) {
        let v = app.next_non_meta().await.expect("the rest arrives");
        got.push(v["n"].as_u64().expect("numbered"));
    }
    got
}

fn unconfirmed_at_end(gw: &onebot_gateway::Gateway) -> u64 {
    let bot = gw.hub.registry.bot(10000).unwrap();
    let written = bot.unconfirmed_ends.get("a").map_or(0, |w| *w);
    let confirmed = bot.cursors.get("a").map_or(0, |c| *c);
    written.saturating_sub(confirmed)
}

fn status_app(body: &Value, identity: &str) -> Value {
    body["data"]["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["identity"] == identity)
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn a_named_app_killed_mid_stream_gets_every_event_at_least_once_in_order() {
    const TOTAL: u64 = 20_000;
    let gw = named_gateway().await;
    let url = ws_url(&gw, "/");
    let mut child = ChildApp::spawn(&url, None);
    assert_eq!(child.next_line().await, "ready");
    let registry = gw.hub.registry.clone();
    let producer = tokio::spawn(async move {
        for n in 0..TOTAL {
            registry.publish(10000, numbered(n));
            if n % 500 == 0 {
                tokio::task::yield_now().await;
            }
        }
    });
    // Kill it while events are streaming at full speed.
    let mut seen = Vec::new();
    while seen.len() < 3_000 {
        if let Some(n) = child.next_line().await.strip_prefix("n=") {
            seen.push(n.parse::<u64>().unwrap());
        }
    }
    let processed = child.kill(seen).await;
    producer.await.unwrap();
    eventually("the gateway saw the session end", || {
        gw.hub.registry.apps.is_empty()
    })
    .await;
    let unconfirmed = unconfirmed_at_end(&gw);
    // Back: every event at least once, in order of first occurrence.
    let mut back = AppClient::connect(&url, Some("ta")).await.unwrap();
    let again = read_until(&mut back, TOTAL - 1).await;
    assert!(
        processed.iter().copied().eq(0..processed.len() as u64),
        "in order before the crash"
    );
    let resumed_at = again[0];
    assert!(
        resumed_at <= processed.len() as u64,
        "no gap: processed 0..{}, resumed at {resumed_at}",
        processed.len()
    );
    assert!(
        again.iter().copied().eq(resumed_at..TOTAL),
        "in order after"
    );
    let repeated = processed.len() as u64 - resumed_at;
    assert!(
        repeated <= unconfirmed,
        "repeats ({repeated}) are bounded by what was unconfirmed at the crash ({unconfirmed})"
    );
    let (_, body) = http_get(gw.listen_addrs[0], "/status", None).await;
    let app = status_app(&body, "a");
    assert!(app["duplicates"].as_u64().unwrap() <= unconfirmed, "{app}");
    assert_eq!(app["lost"], 0);
    eprintln!(
        "crash: processed {}, resumed at {resumed_at}, unconfirmed {unconfirmed}",
        processed.len()
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn an_app_that_stalls_then_crashes_gets_every_stalled_event_again() {
    let gw = named_gateway().await;
    let url = ws_url(&gw, "/");
    let mut child = ChildApp::spawn(&url, Some(1_000));
    assert_eq!(child.next_line().await, "ready");
    for n in 0..3_000 {
        gw.hub.registry.publish(10000, numbered(n));
    }
    let mut seen = Vec::new();
    while seen.len() < 1_000 {
        if let Some(n) = child.next_line().await.strip_prefix("n=") {
            seen.push(n.parse::<u64>().unwrap());
        }
    }
    // The gateway wrote (nearly) everything into the socket buffers.
    let stats = gw.hub.registry.apps.iter().next().unwrap().stats.clone();
    eventually("the stalled app was written past what it read", || {
        stats.cursor.load(Relaxed) > 2_000
    })
    .await;
    assert!(
        stats.confirmed.load(Relaxed) <= 1_001 + 1,
        "confirmed only what the app read: {}",
        stats.confirmed.load(Relaxed)
    );
    let processed = child.kill(seen).await;
    assert_eq!(processed, (0..1_000).collect::<Vec<_>>());
    eventually("the gateway saw the session end", || {
        gw.hub.registry.apps.is_empty()
    })
    .await;
    let mut back = AppClient::connect(&url, Some("ta")).await.unwrap();
    let again = read_until(&mut back, 2_999).await;
    assert!(
        again[0] <= 1_000,
        "resumed at {} after 1000 processed",
        again[0]
    );
    assert!(
        again.iter().copied().eq(again[0]..3_000),
        "all 2,000 stalled events again, in order"
    );
    gw.shutdown().await;
}
