//! App clients: many forward-WS connections that count events, record event
//! latency, or sit idle; and one action client that keeps a window of
//! actions in flight and records each round trip.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{FutureExt, SinkExt, StreamExt};
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

use crate::upstream::now_ns;

/// A client socket.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Client socket settings: small read buffers, so that 10,000 idle clients
/// stay cheap in the load generator's own process.
pub fn client_config(read_buffer: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(read_buffer)
        .write_buffer_size(0)
}

/// Connects `n` clients to `url`, at most `parallel` handshakes at a time;
/// each returns after its first frame (the gateway's `lifecycle`, the relay's
/// hello), so every returned client is subscribed.
pub async fn connect_many(
    url: &str,
    n: usize,
    parallel: usize,
    read_buffer: usize,
) -> Result<Vec<Ws>, String> {
    let gate = Arc::new(Semaphore::new(parallel));
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let (gate, url) = (gate.clone(), url.to_owned());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await.expect("open");
            let connect = async {
                let (mut ws, _) = tokio_tungstenite::connect_async_with_config(
                    url.as_str(),
                    Some(client_config(read_buffer)),
                    true,
                )
                .await
                .map_err(|e| format!("connect {url}: {e}"))?;
                match ws.next().await {
                    Some(Ok(Message::Text(_))) => Ok(ws),
                    other => Err(format!("no first frame from {url}: {other:?}")),
                }
            };
            tokio::time::timeout(Duration::from_secs(30), connect)
                .await
                .map_err(|_| format!("connect {url}: timed out"))?
        }));
    }
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.map_err(|e| e.to_string())??);
    }
    Ok(out)
}

/// What an event-receiving client does.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// Count load-generator events until `expect` arrived.
    Count { expect: u64 },
    /// Same, and record each event's latency (now − `lg_ts`).
    Latency { expect: u64 },
    /// Read and drop everything (keeps pings answered) until cancelled.
    Idle,
}

/// What one client saw.
#[derive(Default)]
pub struct Seen {
    /// The socket, for a next phase (unless it failed).
    pub ws: Option<Ws>,
    /// Load-generator events received.
    pub events: u64,
    /// When the last expected event arrived.
    pub done_at: Option<Instant>,
    /// Latencies in ns (latency mode).
    pub latency_ns: Vec<u64>,
    /// Why it stopped early.
    pub error: Option<String>,
}

/// The `lg_ts` of a load-generator event; `None` for other frames.
pub fn lg_ts(text: &str) -> Option<u64> {
    let at = text.rfind("\"lg_ts\":")? + 8;
    let digits = &text[at..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// Runs one reader task per client.
pub fn spawn_readers(
    clients: Vec<Ws>,
    mode: Mode,
    stop: &CancellationToken,
) -> Vec<JoinHandle<Seen>> {
    clients
        .into_iter()
        .map(|mut ws| {
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut seen = Seen::default();
                let expect = match mode {
                    Mode::Count { expect } | Mode::Latency { expect } => expect,
                    Mode::Idle => u64::MAX,
                };
                if let Mode::Latency { expect } = mode {
                    seen.latency_ns.reserve(expect as usize);
                }
                while seen.events < expect {
                    let msg = tokio::select! {
                        m = ws.next() => m,
                        _ = stop.cancelled() => break,
                    };
                    let text = match msg {
                        Some(Ok(Message::Text(t))) => t,
                        Some(Ok(Message::Close(f))) => {
                            seen.error = Some(format!("closed by server: {f:?}"));
                            break;
                        }
                        Some(Ok(_)) => continue,
                        Some(Err(e)) => {
                            seen.error = Some(e.to_string());
                            break;
                        }
                        None => {
                            seen.error = Some("connection ended".into());
                            break;
                        }
                    };
                    if matches!(mode, Mode::Idle) {
                        continue;
                    }
                    if let Some(ts) = lg_ts(&text) {
                        if let Mode::Latency { .. } = mode {
                            seen.latency_ns.push(now_ns().saturating_sub(ts));
                        }
                        seen.events += 1;
                    }
                }
                if seen.events >= expect {
                    seen.done_at = Some(Instant::now());
                }
                if seen.error.is_none() {
                    seen.ws = Some(ws);
                }
                seen
            })
        })
        .collect()
}

/// Result of an action-client run.
#[derive(Debug, Default)]
pub struct RttRun {
    /// Round trips measured (after warm-up), ns.
    pub rtt_ns: Vec<u64>,
    /// Measured answers per second.
    pub per_sec: f64,
    /// Answers that were not `ok`.
    pub failed: u64,
    /// Actions sent, warm-up included.
    pub sent: u64,
}

#[derive(Deserialize)]
struct Answer {
    echo: Option<u64>,
    retcode: Option<i64>,
}

fn action(n: u64) -> Message {
    Message::Text(
        format!(r#"{{"action":"send_group_msg","params":{{"group_id":100200300,"message":"ping"}},"echo":{n}}}"#)
            .into(),
    )
}

/// Keeps `window` actions in flight on one connection: `warmup` answers are
/// not measured, then actions are sent for `duration`, then the rest drains.
pub async fn rtt(
    url: &str,
    window: usize,
    warmup: u64,
    duration: Duration,
) -> Result<RttRun, String> {
    let (mut ws, _) =
        tokio_tungstenite::connect_async_with_config(url, Some(client_config(8 * 1024)), true)
            .await
            .map_err(|e| format!("connect {url}: {e}"))?;
    let mut sent_at: Vec<u64> = Vec::with_capacity(1 << 20);
    let mut run = RttRun::default();
    let mut in_flight = 0usize;
    let mut measure_from: Option<Instant> = None;
    let mut stop_at: Option<Instant> = None;
    let mut measured = 0u64;
    let mut last = Instant::now();
    let guard = Instant::now() + duration + Duration::from_secs(30);
    for _ in 0..window {
        sent_at.push(now_ns());
        ws.feed(action(sent_at.len() as u64 - 1))
            .await
            .map_err(|e| e.to_string())?;
        in_flight += 1;
    }
    ws.flush().await.map_err(|e| e.to_string())?;
    loop {
        let first = tokio::time::timeout_at(guard.into(), ws.next())
            .await
            .map_err(|_| format!("rtt: no answer from {url} within the time limit"))?;
        let mut msgs = vec![first];
        while let Some(m) = ws.next().now_or_never() {
            msgs.push(m);
        }
        let mut to_send = 0usize;
        for msg in msgs {
            let text = match msg {
                Some(Ok(Message::Text(t))) => t,
                Some(Ok(Message::Close(f))) => return Err(format!("rtt: closed: {f:?}")),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(format!("rtt: {e}")),
                None => return Err("rtt: connection ended".into()),
            };
            if text.contains("\"post_type\"") {
                continue;
            }
            let Ok(answer) = serde_json::from_str::<Answer>(&text) else {
                continue;
            };
            let Some(echo) = answer.echo else { continue };
            let now = now_ns();
            in_flight -= 1;
            if answer.retcode != Some(0) {
                run.failed += 1;
            }
            if echo == warmup {
                measure_from = Some(Instant::now());
                stop_at = Some(Instant::now() + duration);
            }
            if echo >= warmup && stop_at.is_some() {
                run.rtt_ns.push(now.saturating_sub(sent_at[echo as usize]));
                measured += 1;
                last = Instant::now();
            }
            if stop_at.is_none_or(|s| Instant::now() < s) {
                to_send += 1;
            }
        }
        for _ in 0..to_send {
            sent_at.push(now_ns());
            ws.feed(action(sent_at.len() as u64 - 1))
                .await
                .map_err(|e| e.to_string())?;
            in_flight += 1;
        }
        if to_send > 0 {
            ws.flush().await.map_err(|e| e.to_string())?;
        }
        if in_flight == 0 {
            break;
        }
    }
    let _ = ws.close(None).await;
    run.sent = sent_at.len() as u64;
    if let Some(from) = measure_from {
        run.per_sec = measured as f64 / last.duration_since(from).as_secs_f64().max(1e-9);
    }
    Ok(run)
}
