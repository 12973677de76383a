//! OneBot implementations over WebSocket: `ws` (the gateway dials their
//! forward WS server) and `ws-reverse` (they dial the gateway's upstream
//! endpoint).
//!
//! Each upstream frame is classified once: an answer goes to the dispatcher,
//! a heartbeat updates the bot's health, any other event goes to the bot's
//! event log. A link that stays silent beyond twice its advertised heartbeat
//! interval (or three ping intervals) is considered dead and dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Router;
use futures::{SinkExt, StreamExt};
use http::HeaderValue;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use super::{RemoteLink, UpstreamLink};
use crate::config::Secret;
use crate::core::{Bot, Hub, Role};
use crate::protocol::{classify, Frame};
use crate::transport::http::{check_token, error, presented_token, query_map, upgrade};
use crate::transport::{upstream_ws_config, Backoff};

/// Echo of the gateway's own `get_login_info`, sent to learn an unknown `self_id`.
const LOGIN_ECHO: &str = "\"obgw:login\"";
/// Action frames written to an upstream per flush.
const WRITE_BATCH: usize = 64;
/// A connection that stayed up this long resets the backoff.
const HEALTHY_AFTER: Duration = Duration::from_secs(30);

/// Settings of a dialled (`ws`) upstream.
#[derive(Debug, Clone)]
pub struct WsUpstream {
    /// The implementation's forward WS URL.
    pub url: String,
    /// Its token.
    pub access_token: Secret,
    /// The account, if known in advance.
    pub self_id: Option<i64>,
    /// First reconnect delay.
    pub reconnect: Duration,
    /// Reconnect delay cap.
    pub max_reconnect: Duration,
}

/// Dials an implementation and keeps the link up until shutdown.
pub async fn run_ws(hub: Arc<Hub>, up: WsUpstream) {
    let mut backoff = Backoff::new(up.reconnect, up.max_reconnect);
    let mut last_problem: Option<String> = None;
    let url_for_logs = crate::transport::reverse::redact(&up.url);
    loop {
        let attempt = async {
            let mut req = up.url.as_str().into_client_request()?;
            if !up.access_token.is_empty() {
                let v = HeaderValue::from_str(&format!("Bearer {}", up.access_token.expose()))
                    .map_err(|e| tokio_tungstenite::tungstenite::Error::HttpFormat(e.into()))?;
                req.headers_mut().insert(http::header::AUTHORIZATION, v);
            }
            let config = upstream_ws_config(hub.settings.max_inbound_frame_bytes);
            tokio_tungstenite::connect_async_with_config(req, Some(config), true).await
        };
        let outcome = tokio::select! {
            _ = hub.shutdown.cancelled() => return,
            r = tokio::time::timeout(hub.settings.handshake_timeout, attempt) => r,
        };
        let problem = match outcome {
            Ok(Ok((ws, _))) => {
                let started = Instant::now();
                let reason = run_link(&hub, ws, up.self_id, Role::Universal, &up.url).await;
                if started.elapsed() >= HEALTHY_AFTER {
                    backoff.reset();
                }
                if hub.shutdown.is_cancelled() {
                    return;
                }
                tracing::warn!(url = %url_for_logs, %reason, "upstream link lost; reconnecting");
                None
            }
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some(String::from("handshake timed out")),
        };
        let delay = backoff.next_delay();
        if let Some(p) = problem {
            if last_problem.as_deref() != Some(p.as_str()) {
                tracing::warn!(url = %url_for_logs, reason = %p, retry_in_ms = delay.as_millis() as u64, "cannot reach upstream");
                last_problem = Some(p);
            }
        } else {
            last_problem = None;
        }
        tokio::select! {
            _ = hub.shutdown.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// Drives one upstream connection until it ends; returns why it ended.
///
/// `self_id` is the bot if known (X-Self-ID, config); otherwise it is learnt
/// from the first event or from `get_login_info`. A Universal or API role
/// link becomes the bot's upstream for actions; Event and Universal links
/// feed its event log.
async fn run_link<S>(
    hub: &Arc<Hub>,
    ws: WebSocketStream<S>,
    self_id: Option<i64>,
    role: Role,
    peer: &str,
) -> String
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut stream) = ws.split();
    let mut pending_events: Vec<(crate::protocol::event::EventHeader, Utf8Bytes)> = Vec::new();
    // Learn the account first when nobody told us.
    let self_id = match self_id {
        Some(id) => id,
        None => {
            let ask = format!(r#"{{"action":"get_login_info","params":{{}},"echo":{LOGIN_ECHO}}}"#);
            if let Err(e) = sink.send(Message::Text(ask.into())).await {
                return format!("write failed: {e}");
            }
            let learn = async {
                while let Some(msg) = stream.next().await {
                    let Ok(Message::Text(text)) = msg else {
                        continue;
                    };
                    match classify(&text) {
                        Ok(Frame::Response(r))
                            if r.echo.as_ref().map(|e| e.get()) == Some(LOGIN_ECHO) =>
                        {
                            return r
                                .data_value()
                                .get("user_id")
                                .and_then(crate::protocol::event::value_i64);
                        }
                        Ok(Frame::Event(h)) => {
                            if let Some(id) = h.self_id {
                                if !h.post_type.eq(&crate::protocol::event::PostType::MetaEvent) {
                                    pending_events.push((h, text));
                                }
                                return Some(id);
                            }
                        }
                        _ => {}
                    }
                }
                None
            };
            match tokio::time::timeout(hub.settings.handshake_timeout, learn).await {
                Ok(Some(id)) => id,
                Ok(None) => return String::from("closed before telling its self_id"),
                Err(_) => {
                    return String::from(
                        "did not tell its self_id (no event, no get_login_info answer) in time",
                    )
                }
            }
        }
    };
    let bot = hub.registry.bot_or_insert(self_id);
    let generation = hub.dispatcher.next_generation();
    let (frames_tx, mut frames_rx) = mpsc::channel::<Utf8Bytes>(1024);
    let carries_actions = role.sends_actions();
    if carries_actions {
        bot.set_upstream(Some(UpstreamLink::Remote(RemoteLink {
            generation,
            frames: frames_tx,
        })));
    }
    tracing::info!(self_id, ?role, %peer, "upstream connected");
    for (header, text) in pending_events.drain(..) {
        bot.log.publish_text(header, text);
    }
    let started = Instant::now();
    // Last frame of any kind (pongs included), and last text frame: a link
    // that answers pings but stopped posting heartbeats is a zombie.
    let last_heard = AtomicU64::new(0);
    let last_text = AtomicU64::new(0);
    // Heartbeat interval the implementation advertised (0: unknown).
    let advertised_ms = AtomicU64::new(0);
    let reader = async {
        while let Some(msg) = stream.next().await {
            let text = match msg {
                Ok(Message::Text(t)) => t,
                Ok(Message::Binary(b)) => match Utf8Bytes::try_from(b) {
                    Ok(t) => t,
                    Err(_) => continue,
                },
                Ok(Message::Close(frame)) => {
                    return match frame {
                        Some(f) => {
                            format!("closed by upstream ({} {})", u16::from(f.code), f.reason)
                        }
                        None => String::from("closed by upstream"),
                    }
                }
                Ok(_) => {
                    last_heard.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
                    continue;
                }
                Err(e) => return format!("read failed: {e}"),
            };
            let now = started.elapsed().as_millis() as u64;
            last_heard.store(now, Ordering::Relaxed);
            last_text.store(now, Ordering::Relaxed);
            on_frame(hub, &bot, text, &advertised_ms);
        }
        String::from("connection closed")
    };
    let writer = async {
        let ping_every = hub.settings.ping_interval;
        // Checked at least every second, so a short advertised heartbeat
        // interval is enforced promptly.
        let tick_every = ping_every.min(Duration::from_secs(1));
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + tick_every, tick_every);
        let mut last_ping = Instant::now();
        loop {
            tokio::select! {
                Some(frame) = frames_rx.recv(), if carries_actions => {
                    // Whatever else is queued goes in the same write: one
                    // syscall for many actions instead of one each.
                    let write = async {
                        sink.feed(Message::Text(frame)).await?;
                        if frames_rx.is_empty() && hub.dispatcher.pending_len() > 1 {
                            // Other actions are waiting: those dispatched in the
                            // same scheduler pass would otherwise each get their
                            // own write syscall. (With this one alone, the yield
                            // would only add latency.)
                            tokio::task::yield_now().await;
                        }
                        for _ in 1..WRITE_BATCH {
                            match frames_rx.try_recv() {
                                Ok(frame) => sink.feed(Message::Text(frame)).await?,
                                Err(_) => break,
                            }
                        }
                        sink.flush().await
                    };
                    // An implementation that stops reading is as dead as a
                    // silent one: its pending actions fail and it is redialled.
                    match tokio::time::timeout(hub.settings.write_timeout, write).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return format!("write failed: {e}"),
                        Err(_) => {
                            return format!(
                                "a write did not complete within {} ms: dead link",
                                hub.settings.write_timeout.as_millis()
                            )
                        }
                    }
                }
                _ = ping.tick() => {
                    let now = started.elapsed().as_millis() as u64;
                    let silent = now.saturating_sub(last_heard.load(Ordering::Relaxed));
                    let limit = 3 * ping_every.as_millis() as u64;
                    if silent > limit {
                        return format!("silent for {silent} ms (limit {limit} ms): dead link");
                    }
                    let hb = advertised_ms.load(Ordering::Relaxed);
                    let no_heartbeat = now.saturating_sub(last_text.load(Ordering::Relaxed));
                    if hb > 0 && no_heartbeat > 2 * hb {
                        return format!("no heartbeat for {no_heartbeat} ms (advertised interval {hb} ms): dead link");
                    }
                    if last_ping.elapsed() >= ping_every {
                        last_ping = Instant::now();
                        if let Err(e) = sink.send(Message::Ping(Default::default())).await {
                            return format!("write failed: {e}");
                        }
                    }
                }
                _ = hub.shutdown.cancelled() => {
                    let _ = sink.send(Message::Close(None)).await;
                    return String::from("gateway shutting down");
                }
            }
        }
    };
    let reason = tokio::select! {
        r = reader => r,
        r = writer => r,
    };
    if carries_actions {
        // Only detach if the bot still points at this connection (a newer
        // one may have replaced it already).
        if let Some(UpstreamLink::Remote(link)) = bot.upstream() {
            if link.generation == generation {
                bot.set_upstream(None);
            }
        }
        hub.dispatcher.fail_generation(self_id, generation);
    }
    tracing::info!(self_id, ?role, %peer, %reason, "upstream disconnected");
    reason
}

fn on_frame(hub: &Hub, bot: &Bot, text: Utf8Bytes, advertised_ms: &AtomicU64) {
    match classify(&text) {
        Ok(Frame::Response(resp)) => hub.dispatcher.on_answer(resp),
        Ok(Frame::Event(header)) => {
            if header.is_meta("heartbeat") {
                // Heartbeats feed health; the gateway sends apps its own.
                if let Ok(v) = serde_json::from_str::<Value>(&text) {
                    if let Some(ms) = v.get("interval").and_then(Value::as_u64) {
                        advertised_ms.store(ms, Ordering::Relaxed);
                    }
                    let good = v
                        .pointer("/status/good")
                        .and_then(Value::as_bool)
                        .unwrap_or(true);
                    let online = v
                        .pointer("/status/online")
                        .and_then(Value::as_bool)
                        .unwrap_or(true);
                    bot.set_good(good && online);
                }
            } else if header.is_meta("lifecycle") {
                tracing::debug!(self_id = bot.self_id, sub_type = ?header.sub_type, "upstream lifecycle");
            } else {
                bot.log.publish_text(header, text);
            }
        }
        Ok(Frame::Action(req)) => {
            tracing::debug!(action = %req.action, "upstream sent an action frame; ignored");
        }
        Err(e) => {
            tracing::warn!(self_id = bot.self_id, error = %e, "malformed frame from upstream; ignored")
        }
    }
}

/// The `ws-reverse` upstream endpoint: implementations dial in.
pub struct ReverseUpstreamListener {
    /// The hub.
    pub hub: Arc<Hub>,
    /// Token implementations must present.
    pub access_token: Secret,
}

/// Router of a `ws-reverse` upstream listener: any path accepts an implementation.
pub fn reverse_upstream_router(listener: Arc<ReverseUpstreamListener>) -> Router {
    Router::new().fallback(accept_upstream).with_state(listener)
}

async fn accept_upstream(
    State(l): State<Arc<ReverseUpstreamListener>>,
    mut req: Request,
) -> Response {
    let query: HashMap<String, String> = query_map(&req);
    let peer = req
        .extensions()
        .get::<crate::transport::http::PeerAddr>()
        .map(|p| p.0.to_string())
        .unwrap_or_default();
    if let Err(resp) = check_token(
        &l.access_token,
        presented_token(req.headers(), &query).as_deref(),
    ) {
        tracing::warn!(%peer, status = resp.status().as_u16(), "upstream refused: bad or missing access token");
        return resp;
    }
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let role = match header("X-Client-Role") {
        None => Role::Universal,
        Some(r) => match Role::parse(r) {
            Some(role) => role,
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("unknown X-Client-Role `{r}`: use Universal, API or Event"),
                )
            }
        },
    };
    // Non-numeric X-Self-ID (onebots) is accepted: the account is then learnt from the link.
    let self_id = header("X-Self-ID").and_then(|s| s.parse::<i64>().ok());
    let hub = l.hub.clone();
    let config = upstream_ws_config(hub.settings.max_inbound_frame_bytes);
    let tasks = hub.tasks.clone();
    upgrade(&mut req, &tasks, config, move |ws| async move {
        run_link(&hub, ws, self_id, role, &peer).await;
    })
}
