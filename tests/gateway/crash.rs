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

#[tokio::test]
async fn a_reverse_target_down_at_start_gets_everything_since_start() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw = start(&format!(
        "[gateway]\nheartbeat_interval_ms = 0\n[[listen]]\naddress = \"127.0.0.1:0\"\n[[reverse]]\nname = \"late\"\nurl = \"ws://{}/onebot/v11/ws\"\nreconnect_interval_ms = 50\nmax_reconnect_interval_ms = 100\n",
        listener.local_addr().unwrap()
    ))
    .await;
    // The framework is still starting: its server refuses the first dial.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 2048];
        let _ = sock.read(&mut buf).await.unwrap();
        sock.write_all(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    }
    for n in 0..3_000 {
        gw.hub.registry.publish(10000, numbered(n));
    }
    // Up now.
    let (sock, _) = listener.accept().await.unwrap();
    let ws = tokio_tungstenite::accept_async(tokio_tungstenite::MaybeTlsStream::Plain(sock))
        .await
        .unwrap();
    let mut app = AppClient::from_ws(ws);
    let got = read_until(&mut app, 2_999).await;
    assert_eq!(
        got,
        (0..3_000).collect::<Vec<_>>(),
        "every event since the gateway started, once, in order"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn a_named_app_with_gateway_start_gets_what_happened_before_its_first_connection() {
    let gw = start("[gateway]\nheartbeat_interval_ms = 0\n[[listen]]\naddress = \"127.0.0.1:0\"\n[[apps]]\nname = \"a\"\naccess_token = \"ta\"\nstart = \"gateway-start\"\n[[apps]]\nname = \"b\"\naccess_token = \"tb\"\n").await;
    for n in 0..100 {
        gw.hub.registry.publish(10000, numbered(n));
    }
    let mut a = AppClient::connect(&ws_url(&gw, "/"), Some("ta"))
        .await
        .unwrap();
    assert_eq!(read_until(&mut a, 99).await, (0..100).collect::<Vec<_>>());
    // The default, first-connect, starts at the live edge.
    let mut b = AppClient::connect(&ws_url(&gw, "/"), Some("tb"))
        .await
        .unwrap();
    assert_eq!(b.next_json().await.unwrap()["meta_event_type"], "lifecycle");
    gw.hub.registry.publish(10000, numbered(100));
    assert_eq!(read_until(&mut b, 100).await, vec![100]);
    gw.shutdown().await;
}

#[tokio::test]
async fn sigterm_with_the_journal_delivers_exactly_once_everything_sent_before_the_close() {
    use futures::SinkExt;
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.toml");
    let write_config = |listen: &str| {
        let text = journal_config(
            listen,
            upstream.local_addr().unwrap(),
            42,
            "",
            &dir.path().join("journal.db"),
            "",
        );
        std::fs::write(&config, text).unwrap();
    };
    write_config("127.0.0.1:0");
    let gateway = GatewayChild::spawn(&config).await;
    let (sock, _) = upstream.accept().await.unwrap();
    let ws = tokio_tungstenite::accept_async(sock).await.unwrap();
    let (mut sink, mut stream) = ws.split();
    let url = format!("ws://{}/42/", gateway.addr);
    let mut app = AppClient::connect(&url, Some("ta")).await.unwrap();
    // The implementation sends numbered events until it receives the gateway's Close.
    let close_seen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen_flag = close_seen.clone();
    let watcher = tokio::spawn(async move {
        while let Some(Ok(msg)) = stream.next().await {
            if let Message::Close(frame) = msg {
                seen_flag.store(true, Relaxed);
                return frame.map(|f| u16::from(f.code));
            }
        }
        None
    });
    let implementation = tokio::spawn(async move {
        let mut sent = 0u64;
        while !close_seen.load(Relaxed) {
            let ev = json!({"time": 1, "self_id": 42, "post_type": "notice", "notice_type": "notify", "sub_type": "poke", "user_id": 1, "target_id": 42, "n": sent});
            if sink
                .send(Message::Text(ev.to_string().into()))
                .await
                .is_err()
            {
                break;
            }
            sent += 1;
            if sent % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        sent
    });
    // Mid-stream, the operator restarts the gateway.
    let mut seen = Vec::new();
    while seen.len() < 2_000 {
        let v = app.next_non_meta().await.expect("events flow");
        seen.push(v["n"].as_u64().unwrap());
    }
    gateway.terminate();
    let sent = implementation.await.unwrap();
    assert_eq!(
        watcher.await.unwrap(),
        Some(1001),
        "the implementation got a Close with a code"
    );
    let address = drain_then_stop(&mut app, &mut seen, gateway).await;
    // Back on the same address with the same journal.
    write_config(&address);
    let gateway = GatewayChild::spawn(&config).await;
    let mut again = AppClient::connect(&format!("ws://{}/42/", gateway.addr), Some("ta"))
        .await
        .unwrap();
    if seen.last() != Some(&(sent - 1)) {
        let rest = read_until(&mut again, sent - 1).await;
        seen.extend(rest);
    }
    let missing: Vec<u64> = (0..sent).filter(|n| !seen.contains(n)).collect();
    assert!(
        missing.is_empty(),
        "lost {} of {sent}: {:?}…",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert!(
        seen.iter().copied().eq(0..sent),
        "exactly once, in order ({} received for {sent} sent)",
        seen.len()
    );
    eprintln!("sigterm: {sent} events sent before the Close");
}

#[tokio::test]
async fn a_slow_journal_slows_the_upstream_link_instead_of_queueing_without_bound() {
    use futures::SinkExt;
    let up = ManualUpstream::bind().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&format!(
        "[gateway]\nheartbeat_interval_ms = 0\n[[listen]]\naddress = \"127.0.0.1:0\"\n[[upstream]]\ntype = \"ws\"\nurl = \"{}\"\nself_id = 42\n[journal]\npath = {:?}\njournal_queue = 64\ncommit_delay_ms = 5\n",
        up.url(),
        dir.path().join("journal.db").display().to_string()
    ))
    .await;
    let mut upstream = up.accept(42).await;
    let mut app = app(&gw, "/42/", "").await;
    const TOTAL: u64 = 3_000;
    let sender = tokio::spawn(async move {
        for n in 0..TOTAL {
            let ev = json!({"time": 1, "self_id": 42, "post_type": "notice", "notice_type": "notify", "sub_type": "poke", "user_id": 1, "target_id": 42, "n": n});
            upstream
                .feed(Message::Text(ev.to_string().into()))
                .await
                .unwrap();
        }
        upstream.flush().await.unwrap();
        upstream
    });
    let registry = gw.hub.registry.clone();
    let sampler = tokio::spawn(async move {
        let mut most = 0;
        loop {
            most = most.max(registry.journal_queued().unwrap());
            if registry.bot(42).is_some_and(|b| b.log.head() > TOTAL) {
                return most;
            }
            tokio::task::yield_now().await;
        }
    });
    let got = read_until(&mut app, TOTAL - 1).await;
    assert_eq!(
        got,
        (0..TOTAL).collect::<Vec<_>>(),
        "nothing lost while the link waited"
    );
    let most = sampler.await.unwrap();
    assert!(
        most <= 64,
        "the journal queue stayed within journal_queue: at most {most}"
    );
    assert!(most > 0, "the journal was the bottleneck");
    let _upstream = sender.await.unwrap();
    gw.shutdown().await;
}

#[tokio::test]
async fn events_evicted_while_a_crashed_app_is_away_are_counted_and_announced() {
    let gw = start("[gateway]\nheartbeat_interval_ms = 0\n[[listen]]\naddress = \"127.0.0.1:0\"\n[[apps]]\nname = \"a\"\naccess_token = \"ta\"\napp = { notify_lost = true }\n[retention]\nmax_events = 100\n").await;
    let url = ws_url(&gw, "/");
    let mut child = ChildApp::spawn(&url, None);
    assert_eq!(child.next_line().await, "ready");
    for n in 0..10 {
        gw.hub.registry.publish(10000, numbered(n));
    }
    let mut seen = Vec::new();
    while seen.len() < 10 {
        if let Some(n) = child.next_line().await.strip_prefix("n=") {
            seen.push(n.parse::<u64>().unwrap());
        }
    }
    // The confirmation of what it read arrives before the crash.
    let stats = gw.hub.registry.apps.iter().next().unwrap().stats.clone();
    eventually("the app confirmed what it read", || {
        stats.confirmed.load(Relaxed) >= 11
    })
    .await;
    child.kill(seen).await;
    eventually("the gateway saw the session end", || {
        gw.hub.registry.apps.is_empty()
    })
    .await;
    // While it is away, 500 more events: retention keeps the newest 100.
    for n in 10..510 {
        gw.hub.registry.publish(10000, numbered(n));
    }
    let mut back = AppClient::connect(&url, Some("ta")).await.unwrap();
    let notice = back
        .next_matching(|v| v["notice_type"] == "gateway_events_lost")
        .await
        .expect("the loss is announced");
    assert_eq!(notice["count"], 400, "{notice}");
    assert_eq!(notice["first_seq"], 11, "{notice}");
    assert_eq!(notice["last_seq"], 410, "{notice}");
    assert_eq!(
        read_until(&mut back, 509).await,
        (410..510).collect::<Vec<_>>()
    );
    let (_, body) = http_get(gw.listen_addrs[0], "/status", None).await;
    assert_eq!(status_app(&body, "a")["lost"], 400);
    gw.shutdown().await;
}

/// A gateway with named app `a` (token `ta`, owed everything since the
/// gateway started, so events sent while its session is still subscribing
/// count), a dialled implementation for bot `self_id` at `upstream`, and a
/// journal at `journal`.
fn journal_config(
    listen: &str,
    upstream: std::net::SocketAddr,
    self_id: i64,
    gateway_extra: &str,
    journal: &std::path::Path,
    journal_extra: &str,
) -> String {
    format!(
        "[gateway]\nheartbeat_interval_ms = 0\n{gateway_extra}[[listen]]\naddress = \"{listen}\"\n[[apps]]\nname = \"a\"\naccess_token = \"ta\"\nstart = \"gateway-start\"\n\
         [[upstream]]\ntype = \"ws\"\nurl = \"ws://{upstream}/\"\nself_id = {self_id}\nreconnect_interval_ms = 50\nmax_reconnect_interval_ms = 100\n\
         [journal]\npath = {:?}\n{journal_extra}",
        journal.display().to_string()
    )
}

/// Reads what the app still gets from `gateway` (numbered events into
/// `seen`) until the socket ends, then stops the process; its address.
async fn drain_then_stop(
    app: &mut AppClient,
    seen: &mut Vec<u64>,
    gateway: GatewayChild,
) -> String {
    while let Some(v) = app.next_json().await {
        if let Some(n) = v["n"].as_u64() {
            seen.push(n);
        }
    }
    let address = gateway.addr.to_string();
    drop(gateway);
    address
}

/// Bytes the kernel holds for one TCP connection on 127.0.0.1: the sender's
/// unacknowledged send queue plus the receiver's unread receive queue, from
/// `/proc/net/tcp` (`local` sends to `remote`).
fn kernel_queued_bytes(local: std::net::SocketAddr, remote: std::net::SocketAddr) -> u64 {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let hex = |a: std::net::SocketAddr| {
        let std::net::IpAddr::V4(ip) = a.ip() else {
            panic!("IPv4 only")
        };
        format!("{:08X}:{:04X}", u32::from_le_bytes(ip.octets()), a.port())
    };
    let queue = |from: &str, to: &str, field: usize| -> u64 {
        table
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|f| f[1] == from && f[2] == to)
            .map(|f| {
                let (tx, rx) = f[4].split_once(':').unwrap();
                u64::from_str_radix([tx, rx][field], 16).unwrap()
            })
            .unwrap_or_else(|| panic!("no socket {from} -> {to} in /proc/net/tcp"))
    };
    let (l, r) = (hex(local), hex(remote));
    queue(&l, &r, 0) + queue(&r, &l, 1)
}

#[tokio::test]
async fn kill_9_with_a_slow_journal_loses_at_most_the_bounded_window() {
    use futures::SinkExt;
    const QUEUE: u64 = 64;
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.toml");
    // A disk ten times slower than the implementation: every commit takes 20 ms.
    let write_config = |listen: &str| {
        let text = journal_config(
            listen,
            upstream.local_addr().unwrap(),
            10000,
            "confirm_interval_ms = 20\n",
            &dir.path().join("journal.db"),
            &format!("journal_queue = {QUEUE}\ncommit_delay_ms = 20\nflush_cursors_ms = 50\n"),
        );
        std::fs::write(&config, text).unwrap();
    };
    write_config("127.0.0.1:0");
    let gateway = GatewayChild::spawn(&config).await;
    let (sock, gateway_side) = upstream.accept().await.unwrap();
    let upstream_side = sock.local_addr().unwrap();
    let mut ws = tokio_tungstenite::accept_async(sock).await.unwrap();
    let (_, status) = http_get(gateway.addr, "/status", None).await;
    let base = status["data"]["bots"][0]["next_seq"].as_u64().unwrap();
    let mut app = AppClient::connect(&format!("ws://{}/10000/", gateway.addr), Some("ta"))
        .await
        .unwrap();
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = sent.clone();
    let mut frame_len = usize::MAX;
    for n in 0..3 {
        frame_len = frame_len.min(numbered(n).to_string().len());
    }
    let implementation = tokio::spawn(async move {
        for n in 0u64.. {
            if ws
                .send(Message::Text(numbered(n).to_string().into()))
                .await
                .is_err()
            {
                break;
            }
            counter.store(n + 1, Relaxed);
        }
    });
    let mut before = Vec::new();
    while before.len() < 1_000 {
        before.push(
            app.next_non_meta().await.expect("events flow")["n"]
                .as_u64()
                .unwrap(),
        );
    }
    // What the app has confirmed, then the wait until the journal holds it.
    let (_, status) = http_get(gateway.addr, "/status", None).await;
    let confirmed = status_app(&status, "a")["confirmed"].as_u64().unwrap();
    loop {
        let (_, status) = http_get(gateway.addr, "/status", None).await;
        let durable = status["data"]["bots"][0]["journaled_cursors"]["a"]
            .as_u64()
            .unwrap_or(0);
        if durable >= confirmed {
            break;
        }
        before.push(
            app.next_non_meta().await.expect("events flow")["n"]
                .as_u64()
                .unwrap(),
        );
    }
    // Frozen first, so what it read, queued and left in the kernel can be counted.
    let pid = rustix::process::Pid::from_child(&gateway.child);
    rustix::process::kill_process(pid, rustix::process::Signal::STOP).unwrap();
    implementation.abort();
    let _ = implementation.await;
    let sent = sent.load(Relaxed);
    let in_kernel = kernel_queued_bytes(upstream_side, gateway_side);
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
    let address = drain_then_stop(&mut app, &mut before, gateway).await;

    // Restarted on the same journal; the implementation is back with a marker.
    write_config(&address);
    let gateway = GatewayChild::spawn(&config).await;
    let (sock, _) = upstream.accept().await.unwrap();
    let mut ws = tokio_tungstenite::accept_async(sock).await.unwrap();
    let mut again = AppClient::connect(&format!("ws://{}/10000/", gateway.addr), Some("ta"))
        .await
        .unwrap();
    const MARKER: u64 = u64::MAX / 2;
    ws.send(Message::Text(numbered(MARKER).to_string().into()))
        .await
        .unwrap();
    let mut after = Vec::new();
    loop {
        let n = again
            .next_non_meta()
            .await
            .expect("replay, then the marker")["n"]
            .as_u64()
            .unwrap();
        if n == MARKER {
            break;
        }
        after.push(n);
    }
    let seen: std::collections::BTreeSet<u64> = before.iter().chain(&after).copied().collect();
    let lost: Vec<u64> = (0..sent).filter(|n| !seen.contains(n)).collect();
    // The window: the journal queue (plus the one event a reader holds while
    // it waits for room), the reader's 16 KiB buffer and the kernel's queues.
    let window = QUEUE + 1 + (16 * 1024 + in_kernel).div_ceil(frame_len as u64) + 1;
    assert!(
        lost.len() as u64 <= window,
        "lost {} of {sent} events, more than the window of {window} ({in_kernel} bytes were in the kernel)",
        lost.len()
    );
    assert!(
        lost.iter().copied().eq(sent - lost.len() as u64..sent),
        "only the newest events may be lost, never one in the middle: {:?}…",
        &lost[..lost.len().min(10)]
    );
    let max_before = before.iter().copied().max().unwrap();
    let first_after = *after.first().expect("the replay is not empty");
    assert!(
        first_after + base >= confirmed,
        "the replay starts at {first_after} (seq {}), before the cursor the journal had committed ({confirmed})",
        first_after + base
    );
    assert!(
        after.windows(2).all(|w| w[0] + 1 == w[1]),
        "the replay is in order without gaps"
    );
    eprintln!(
        "kill -9: {sent} sent, {} lost (window {window}, {in_kernel} bytes in the kernel), {} again",
        lost.len(),
        (max_before + 1).saturating_sub(first_after)
    );
}
