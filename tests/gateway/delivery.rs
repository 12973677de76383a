//! Nothing lost: replay after reconnect, slow-app isolation, the durable
//! journal across `kill -9`, and the per-app counters.

use std::time::Duration;

use onebot_gateway::testkit::{AppClient, FakeImplementation};
use onebot_gateway::upstream::EventSink;
use serde_json::{json, Value};

use crate::common::*;

fn numbered(self_id: i64, n: u64) -> Value {
    json!({"time": 1, "self_id": self_id, "post_type": "notice", "notice_type": "notify", "sub_type": "poke",
           "user_id": 20001, "target_id": self_id, "n": n, "pad": "x".repeat(400)})
}

/// Reads events (skipping meta) until `count` arrived; returns their `n`.
async fn read_numbers(app: &mut AppClient, count: usize) -> Vec<u64> {
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let e = app
            .next_non_meta()
            .await
            .unwrap_or_else(|| panic!("stream ended after {} of {count}", out.len()));
        out.push(e["n"].as_u64().expect("numbered event"));
    }
    out
}

#[tokio::test]
async fn named_app_away_during_10000_events_gets_all_exactly_once_in_order() {
    let gw = start(
        "[[listen]]\naddress = \"127.0.0.1:0\"\naccess_token = \"t\"\n[[apps]]\nname = \"bot1\"\n",
    )
    .await;
    let url = ws_url(&gw, "/?app=bot1");
    let first = app_at(&url).await;
    first.close().await;
    eventually("first session gone", || gw.hub.registry.apps.is_empty()).await;
    for n in 0..10_000 {
        gw.hub.registry.publish(10000, numbered(10000, n));
    }
    let mut back = app_at(&url).await;
    let got = read_numbers(&mut back, 10_000).await;
    assert!(
        got.iter().copied().eq(0..10_000),
        "all 10,000, in order, once"
    );
    // Then live delivery continues with no gap and no duplicate.
    gw.hub.registry.publish(10000, numbered(10000, 10_000));
    assert_eq!(read_numbers(&mut back, 1).await, vec![10_000]);
    let (status, body) = http_get(gw.listen_addrs[0], "/status", Some("t")).await;
    assert_eq!(status, 200);
    let app = &body["data"]["apps"][0];
    assert_eq!(app["identity"], "bot1");
    assert_eq!(app["replayed"], 10_000);
    assert_eq!(app["delivered"], 10_001);
    assert_eq!(app["lost"], 0);
    assert_eq!(app["lag"], 0);
    let (status, _) = http_get(gw.listen_addrs[0], "/status", None).await;
    assert_eq!(status, 401, "status is token-protected");
    gw.shutdown().await;
}

async fn app_at(url: &str) -> AppClient {
    let mut app = AppClient::connect(url, Some("t")).await.expect("connects");
    assert_eq!(
        app.next_json().await.unwrap()["meta_event_type"],
        "lifecycle"
    );
    app
}

#[tokio::test]
async fn anonymous_apps_start_live_and_overflow_is_counted_not_silent() {
    let gw = start(
        "[[listen]]\naddress = \"127.0.0.1:0\"\naccess_token = \"t\"\n[[apps]]\nname = \"late\"\napp = { notify_lost = true }\n[retention]\nmax_events = 100\n",
    )
    .await;
    let url = ws_url(&gw, "/?app=late");
    app_at(&url).await.close().await;
    eventually("session gone", || gw.hub.registry.apps.is_empty()).await;
    for n in 0..250 {
        gw.hub.registry.publish(10000, numbered(10000, n));
    }
    let mut back = app_at(&url).await;
    let notice = back.next_non_meta().await.unwrap();
    assert_eq!(notice["notice_type"], "gateway_events_lost");
    assert_eq!(notice["first_seq"], 1);
    assert_eq!(notice["last_seq"], 150);
    assert_eq!(notice["count"], 150);
    assert_eq!(
        read_numbers(&mut back, 100).await,
        (150..250).collect::<Vec<_>>()
    );
    let stats = gw.hub.registry.apps.iter().next().unwrap().stats.clone();
    assert_eq!(stats.lost.load(std::sync::atomic::Ordering::Relaxed), 150);
    // An anonymous app starts at the live edge: nothing old.
    let mut anon = app_at(&ws_url(&gw, "/")).await;
    gw.hub.registry.publish(10000, numbered(10000, 999));
    assert_eq!(read_numbers(&mut anon, 1).await, vec![999]);
    gw.shutdown().await;
}

#[tokio::test]
async fn stalled_app_is_dropped_with_a_reason_and_catches_up_while_the_reader_gets_all_100000() {
    let gw = start(
        "[gateway]\nwrite_timeout_ms = 500\n[[listen]]\naddress = \"127.0.0.1:0\"\naccess_token = \"t\"\n\
         [[apps]]\nname = \"fast\"\n[[apps]]\nname = \"slow\"\napp = { max_lag = 20000 }\n",
    )
    .await;
    let mut fast = app_at(&ws_url(&gw, "/?app=fast")).await;
    let mut slow = app_at(&ws_url(&gw, "/?app=slow")).await;
    const TOTAL: u64 = 100_000;
    let registry = gw.hub.registry.clone();
    let producer = tokio::spawn(async move {
        for n in 0..TOTAL {
            registry.publish(10000, numbered(10000, n));
            if n % 1000 == 0 {
                tokio::task::yield_now().await;
            }
        }
    });
    let got = read_numbers(&mut fast, TOTAL as usize).await;
    assert!(
        got.iter().copied().eq(0..TOTAL),
        "the reader gets every event in order"
    );
    producer.await.unwrap();
    // The stalled app was disconnected; what it had been sent is still in its socket.
    let mut seen = Vec::new();
    let reason = loop {
        match slow.next_text().await {
            Some(t) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if let Some(n) = v["n"].as_u64() {
                    seen.push(n);
                }
            }
            None => break slow.closed().await,
        }
    };
    if let Some((code, reason)) = reason {
        assert_eq!(code, 1008);
        assert!(reason.contains("too slow"), "{reason}");
    }
    assert!(
        (seen.len() as u64) < TOTAL,
        "the stalled app was cut off before the end"
    );
    // It reconnects and catches up from its cursor.
    let mut again = app_at(&ws_url(&gw, "/?app=slow")).await;
    let first = again.next_non_meta().await.unwrap()["n"].as_u64().unwrap();
    let rest = read_numbers(&mut again, (TOTAL - first - 1) as usize).await;
    eprintln!(
        "slow app: {} events before the cut, resumed at {first}",
        seen.len()
    );
    assert_eq!(
        seen,
        (0..seen.len() as u64).collect::<Vec<_>>(),
        "in order before the cut"
    );
    assert!(
        first <= seen.len() as u64,
        "no gap: resumed at {first} after {} events",
        seen.len()
    );
    assert_eq!(
        rest,
        (first + 1..TOTAL).collect::<Vec<_>>(),
        "in order to the end after the resume"
    );
    // It read nothing while stalled, so what sat in the socket buffers was
    // never confirmed: it all comes again, and the repeats are counted.
    let (_, body) = http_get(gw.listen_addrs[0], "/status", Some("t")).await;
    let app = body["data"]["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["identity"] == "slow")
        .unwrap()
        .clone();
    let duplicates = app["duplicates"].as_u64().unwrap();
    assert!(duplicates > 0, "{app}");
    gw.shutdown().await;
}

#[tokio::test]
async fn damaged_journal_is_a_clear_error_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    std::fs::write(
        &path,
        b"this is not an sqlite database, it is garbage. ".repeat(100),
    )
    .unwrap();
    let config = onebot_gateway::Config::parse(
        &format!(
            "[[listen]]\naddress = \"127.0.0.1:0\"\n[journal]\npath = {:?}\n",
            path.display().to_string()
        ),
        "t",
    )
    .unwrap();
    let err = onebot_gateway::Gateway::start(config)
        .await
        .err()
        .expect("refuses to start");
    let msg = err.to_string();
    assert!(
        msg.contains("journal.db") && msg.contains("move the file away"),
        "{msg}"
    );
}

async fn status_of(addr: std::net::SocketAddr) -> Option<Value> {
    let connect = tokio::net::TcpStream::connect(addr).await;
    if connect.is_err() {
        return None;
    }
    drop(connect);
    let (code, body) = http_get(addr, "/status", Some("t")).await;
    (code == 200).then_some(body)
}

#[tokio::test]
async fn with_the_journal_kill_9_loses_nothing() {
    // Enough bytes (~15 MB) that the socket buffers cannot hold them all:
    // the gateway dies with events the app was never sent.
    const TOTAL: u64 = 30_000;
    let fake = FakeImplementation::start(42).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.toml");
    let write_config = |addr: &str| {
        std::fs::write(
            &config,
            format!(
            "[[listen]]\naddress = \"{addr}\"\naccess_token = \"t\"\n[[apps]]\nname = \"durable\"\n\
             [[upstream]]\ntype = \"ws\"\nurl = \"{}\"\nself_id = 42\n\
             [journal]\npath = {:?}\nflush_cursors_ms = 50\n",
            fake.url(),
            dir.path().join("journal.db").display().to_string()
        ),
        )
        .unwrap();
    };
    write_config("127.0.0.1:0");
    let gateway = GatewayChild::spawn(&config).await;
    let addr = gateway.addr;
    let online = |s: &Value| s["data"]["bots"][0]["online"] == true;
    wait_status(addr, "gateway up with its upstream", online).await;
    let url = format!("ws://{addr}/?app=durable");
    let mut app = app_at(&url).await;
    for n in 0..TOTAL {
        fake.push(&numbered(42, n));
    }
    // Read part of the stream and stop reading; the gateway dies mid-stream.
    let mut seen = read_numbers(&mut app, 1000).await;
    wait_status(addr, "all events journaled", |s| {
        s["data"]["bots"][0]["next_seq"] == TOTAL + 1
    })
    .await;
    // The kill must find a saved cursor: the journal holds what the app confirmed.
    wait_status(addr, "the app's confirmed cursor journaled", |s| {
        let app = s["data"]["apps"]
            .as_array()
            .and_then(|a| a.iter().find(|a| a["identity"] == "durable"))
            .cloned()
            .unwrap_or_default();
        let journaled = &s["data"]["bots"][0]["journaled_cursors"]["durable"];
        journaled.as_u64() > Some(1) && *journaled == app["confirmed"]
    })
    .await;
    drop(gateway); // SIGKILL
                   // Whatever reached the app's socket before the kill is still readable.
    while let Some(e) = app.next_non_meta().await {
        seen.push(e["n"].as_u64().unwrap());
    }
    // Back on the same address, with the same journal.
    write_config(&addr.to_string());
    let _restarted = GatewayChild::spawn(&config).await;
    wait_status(addr, "gateway back with its journal", |s| {
        online(s) && s["data"]["bots"][0]["next_seq"] == TOTAL + 1
    })
    .await;
    let mut again = app_at(&url).await;
    // Replay starts at the saved cursor: at or before the first event not yet seen.
    let mut replayed = Vec::new();
    while replayed.last().is_none_or(|n| *n + 1 < TOTAL) {
        let e = again
            .next_non_meta()
            .await
            .expect("replay continues to the last event");
        replayed.push(e["n"].as_u64().unwrap());
    }
    let first = replayed[0];
    assert!(
        first <= seen.len() as u64,
        "replay starts at {first}, app had {} events",
        seen.len()
    );
    assert!(
        replayed.windows(2).all(|w| w[1] == w[0] + 1),
        "replay is contiguous"
    );
    let mut all = seen.clone();
    all.extend(replayed);
    all.sort();
    all.dedup();
    assert_eq!(
        all,
        (0..TOTAL).collect::<Vec<_>>(),
        "nothing missing after kill -9"
    );
    // Live events continue numbering after the journal.
    fake.push(&numbered(42, TOTAL));
    assert_eq!(read_numbers(&mut again, 1).await, vec![TOTAL]);
}

async fn wait_status(addr: std::net::SocketAddr, what: &str, cond: impl Fn(&Value) -> bool) {
    for _ in 0..600 {
        if let Some(s) = status_of(addr).await {
            if cond(&s) {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

#[tokio::test]
async fn journal_survives_a_graceful_restart_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[[listen]]\naddress = \"127.0.0.1:0\"\naccess_token = \"t\"\n[[apps]]\nname = \"keeper\"\n[journal]\npath = {:?}\n",
        dir.path().join("j.db").display().to_string()
    );
    let gw = start(&config).await;
    let mut app = app_at(&ws_url(&gw, "/?app=keeper")).await;
    for n in 0..200 {
        gw.hub.registry.publish(10000, numbered(10000, n));
    }
    assert!(read_numbers(&mut app, 200).await.into_iter().eq(0..200));
    app.close().await;
    eventually("app gone", || gw.hub.registry.apps.is_empty()).await;
    for n in 200..250 {
        gw.hub.registry.publish(10000, numbered(10000, n));
    }
    gw.shutdown().await;
    // A new process, the same journal: the 50 events it missed, no more, no fewer.
    let gw = start(&config).await;
    assert_eq!(gw.hub.registry.bot(10000).unwrap().log.head(), 251);
    let mut back = app_at(&ws_url(&gw, "/?app=keeper")).await;
    let got = read_numbers(&mut back, 50).await;
    assert!(got.iter().copied().eq(200..250), "{:?}", &got[..5]);
    gw.hub.registry.publish(10000, numbered(10000, 250));
    assert_eq!(read_numbers(&mut back, 1).await, vec![250]);
    gw.shutdown().await;
}

#[tokio::test]
async fn journal_keeps_only_the_retained_window_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let config = format!(
        "[[listen]]\naddress = \"127.0.0.1:0\"\n[retention]\nmax_events = 100\n[journal]\npath = {:?}\n",
        path.display().to_string()
    );
    let gw = start(&config).await;
    for n in 0..5000 {
        gw.hub.registry.publish(10000, numbered(10000, n));
    }
    gw.shutdown().await;
    let conn = rusqlite::Connection::open(&path).unwrap();
    let (rows, max): (i64, i64) = conn
        .query_row("SELECT COUNT(*), MAX(seq) FROM events", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(max, 5000, "every event was committed");
    assert!(
        rows <= 100 + 4096,
        "old events are trimmed: {rows} rows on disk"
    );
    drop(conn);
    let gw = start(&config).await;
    let bot = gw.hub.registry.bot(10000).unwrap();
    assert_eq!((bot.log.first_retained(), bot.log.head()), (4901, 5001));
    gw.shutdown().await;
}
