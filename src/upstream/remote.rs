//! Links to OneBot implementations over WebSocket, whoever opened the socket
//! (transport dials `ws` upstreams and accepts `ws-reverse` dial-ins, then
//! hands the socket to [`run_link`]).
//!
//! Each upstream frame is classified once: an answer goes to the dispatcher,
//! a heartbeat updates the bot's health, any other event goes to the bot's
//! event log. A link that stays silent beyond twice its advertised heartbeat
//! interval (or three ping intervals) is considered dead and dropped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use super::{RemoteLink, UpstreamLink};

use crate::core::links::LinkSpec;
use crate::core::links::{close_code, unix_ms, Attached};
use crate::core::{Bot, Hub, Link};
use crate::protocol::{classify, Frame};
use crate::ws::{close_for_read_error, close_frame, close_handshake};

/// Echo of the gateway's own `get_login_info`, sent to learn an unknown `self_id`.
const LOGIN_ECHO: &str = "\"obgw:login\"";
/// Action frames written to an upstream per flush.
const WRITE_BATCH: usize = 64;

/// Why an upstream link ended, and whether the gateway sends a Close first.
struct LinkEnd {
    reason: String,
    close: Option<CloseFrame>,
    /// The socket failed: no handshake is possible.
    broken: bool,
}

impl LinkEnd {
    fn gateway(code: u16, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Self {
            close: Some(close_frame(code, reason.clone())),
            reason,
            broken: false,
        }
    }
    fn peer(reason: String) -> Self {
        Self {
            reason,
            close: None,
            broken: false,
        }
    }
    fn broken(reason: String) -> Self {
        Self {
            reason,
            close: None,
            broken: true,
        }
    }
}

/// Drives one upstream connection until it ends; returns why it ended.
///
/// The bot is `spec.self_id` if known; otherwise it is learnt from the first
/// event or from `get_login_info`. The link is attached to its bot under its
/// duplicate policy (active, standby or refused; see [`crate::core::links`]);
/// only an active link's events are published and only the active action
/// carrier is sent actions. Every end is a closing handshake when the socket
/// still allows one.
pub async fn run_link<S>(hub: Arc<Hub>, ws: WebSocketStream<S>, spec: LinkSpec) -> String
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let hub = &hub;
    let (mut sink, mut stream) = ws.split();
    let role = spec.role;
    let close_timeout = hub.settings.close_timeout;
    let mut pending_events: Vec<(crate::protocol::event::EventHeader, Utf8Bytes)> = Vec::new();
    let self_id = match spec.self_id {
        Some(id) => id,
        None => match learn_self_id(hub, &mut sink, &mut stream, &mut pending_events).await {
            Ok(id) => {
                if let Err(reason) = hub.registry.may_claim(id, spec.allowed.as_deref()) {
                    tracing::warn!(self_id = id, ?role, peer = %spec.peer, %reason, "upstream refused");
                    let frame = close_frame(close_code::CLAIM_REFUSED, reason.clone());
                    close_handshake(&mut sink, &mut stream, Some(frame), close_timeout, |_| {})
                        .await;
                    return reason;
                }
                id
            }
            Err(reason) => {
                tracing::warn!(?role, peer = %spec.peer, %reason, "upstream refused");
                let frame = close_frame(close_code::NO_SELF_ID, reason.clone());
                close_handshake(&mut sink, &mut stream, Some(frame), close_timeout, |_| {}).await;
                return reason;
            }
        },
    };
    let bot = hub.registry.bot_or_insert(self_id);
    let link_id = hub.registry.new_link_id();
    let (frames_tx, mut frames_rx) = mpsc::channel::<Utf8Bytes>(1024);
    let (probe_tx, mut probe_rx) = mpsc::channel::<oneshot::Sender<()>>(4);
    let link = Link::new(
        link_id,
        spec.kind,
        role,
        spec.peer.clone(),
        UpstreamLink::Remote(RemoteLink {
            id: link_id,
            frames: frames_tx,
        }),
        spec.on_duplicate,
        Some(probe_tx),
    );
    match bot.attach_link(link.clone()) {
        Attached::Active => {}
        Attached::Standby { active } => {
            // A restarted implementation often leaves a half-open socket
            // behind: probe the active link now rather than wait for pings.
            let limit = hub.settings.link_probe;
            hub.tasks.spawn(async move {
                for a in active {
                    if !a.probe_alive(limit).await {
                        tracing::warn!(self_id, link = a.id, peer = %a.peer, newcomer = link_id, probe_ms = limit.as_millis() as u64, "active link did not answer the probe; dropped as dead");
                        a.close_with(
                            close_code::PROBE_FAILED,
                            format!("no answer to a ping within {} ms: dead link", limit.as_millis()),
                        );
                    }
                }
            });
        }
        Attached::Refused(reason) => {
            close_handshake(
                &mut sink,
                &mut stream,
                Some(close_frame(close_code::DUPLICATE_REFUSED, reason.clone())),
                close_timeout,
                |_| {},
            )
            .await;
            return reason;
        }
    }
    tracing::info!(self_id, link = link_id, ?role, peer = %spec.peer, state = ?link.state(), "upstream connected");
    for (header, text) in pending_events.drain(..) {
        if link.publishes() {
            bot.log.publish_text(header, text);
        }
    }
    let started = Instant::now();
    // Last frame of any kind (pongs included), and last text frame: a link
    // that answers pings but stopped posting heartbeats is a zombie.
    let last_heard = AtomicU64::new(0);
    let last_text = AtomicU64::new(0);
    // Heartbeat interval the implementation advertised (0: unknown).
    let advertised_ms = AtomicU64::new(0);
    // Probes waiting for any frame from the implementation.
    let probes: std::sync::Mutex<Vec<oneshot::Sender<()>>> = std::sync::Mutex::default();
    let mut binary_logged: Option<Instant> = None;
    let reader = async {
        while let Some(msg) = stream.next().await {
            let now = started.elapsed().as_millis() as u64;
            last_heard.store(now, Ordering::Relaxed);
            for waiter in probes.lock().expect("probe lock poisoned").drain(..) {
                let _ = waiter.send(());
            }
            let text = match msg {
                Ok(Message::Text(t)) => t,
                Ok(Message::Binary(b)) => {
                    // OneBot frames are text; a binary one is never run or published.
                    let n = link.binary_frames_dropped.fetch_add(1, Ordering::Relaxed) + 1;
                    if binary_logged.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                        binary_logged = Some(Instant::now());
                        tracing::warn!(
                            self_id,
                            link = link_id,
                            bytes = b.len(),
                            dropped_so_far = n,
                            "binary frame from upstream dropped (OneBot frames are text)"
                        );
                    }
                    continue;
                }
                Ok(Message::Close(frame)) => {
                    return LinkEnd::peer(match frame {
                        Some(f) => {
                            format!("closed by upstream ({} {})", u16::from(f.code), f.reason)
                        }
                        None => String::from("closed by upstream"),
                    })
                }
                Ok(_) => continue,
                Err(e) => {
                    return match close_for_read_error(&e) {
                        Some(frame) => LinkEnd {
                            reason: format!("read failed: {e}"),
                            close: Some(frame),
                            broken: false,
                        },
                        None => LinkEnd::broken(format!("read failed: {e}")),
                    }
                }
            };
            last_text.store(now, Ordering::Relaxed);
            on_frame(hub, &bot, &link, text, &advertised_ms);
            // Room in the journal's queue before the next frame is read, not
            // between reading and publishing one: a frame read is never
            // dropped when this future is (the link ending).
            bot.log.journal_room().await;
        }
        LinkEnd::broken(String::from("connection closed"))
    };
    let carries_actions = role.sends_actions();
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
                        Ok(Err(e)) => return LinkEnd::broken(format!("write failed: {e}")),
                        Err(_) => {
                            return LinkEnd::gateway(1001, format!(
                                "a write did not complete within {} ms: dead link",
                                hub.settings.write_timeout.as_millis()
                            ))
                        }
                    }
                }
                Some(waiter) = probe_rx.recv() => {
                    probes.lock().expect("probe lock poisoned").push(waiter);
                    if let Err(e) = sink.send(Message::Ping(Default::default())).await {
                        return LinkEnd::broken(format!("write failed: {e}"));
                    }
                }
                _ = ping.tick() => {
                    let now = started.elapsed().as_millis() as u64;
                    let silent = now.saturating_sub(last_heard.load(Ordering::Relaxed));
                    let limit = 3 * ping_every.as_millis() as u64;
                    if silent > limit {
                        return LinkEnd::gateway(1001, format!("silent for {silent} ms (limit {limit} ms): dead link"));
                    }
                    let hb = advertised_ms.load(Ordering::Relaxed);
                    let no_heartbeat = now.saturating_sub(last_text.load(Ordering::Relaxed));
                    if hb > 0 && no_heartbeat > 2 * hb {
                        return LinkEnd::gateway(1001, format!("no heartbeat for {no_heartbeat} ms (advertised interval {hb} ms): dead link"));
                    }
                    if last_ping.elapsed() >= ping_every {
                        last_ping = Instant::now();
                        if let Err(e) = sink.send(Message::Ping(Default::default())).await {
                            return LinkEnd::broken(format!("write failed: {e}"));
                        }
                    }
                }
                _ = link.close.cancelled() => {
                    let (code, reason) = link.close_reason().unwrap_or((1000, String::from("closed by the gateway")));
                    return LinkEnd::gateway(code, reason);
                }
                _ = hub.draining.cancelled() => {
                    return LinkEnd::gateway(1001, "gateway shutting down");
                }
            }
        }
    };
    let end = tokio::select! {
        r = reader => r,
        r = writer => r,
    };
    // A standby takes over at once; only on shutdown does the link stay
    // attached through its handshake, so that events already on the wire
    // when the close began are still published.
    let draining = hub.draining.is_cancelled();
    if !draining {
        bot.detach_link(link_id, &end.reason);
        hub.dispatcher.fail_link(self_id, link_id);
    }
    if !end.broken {
        close_handshake(&mut sink, &mut stream, end.close, close_timeout, |text| {
            on_frame(hub, &bot, &link, text, &advertised_ms)
        })
        .await;
    }
    if draining {
        bot.detach_link(link_id, &end.reason);
        hub.dispatcher.fail_link(self_id, link_id);
    }
    tracing::info!(self_id, link = link_id, ?role, peer = %spec.peer, reason = %end.reason, standby_events_dropped = link.standby_events_dropped.load(Ordering::Relaxed), binary_frames_dropped = link.binary_frames_dropped.load(Ordering::Relaxed), "upstream disconnected");
    end.reason
}

/// Learns the account of a link that did not say who it is: from its first
/// event, or by asking `get_login_info`, within the handshake timeout.
async fn learn_self_id<K, R>(
    hub: &Hub,
    sink: &mut K,
    stream: &mut R,
    pending_events: &mut Vec<(crate::protocol::event::EventHeader, Utf8Bytes)>,
) -> Result<i64, String>
where
    K: futures::Sink<Message> + Unpin,
    R: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let ask = format!(r#"{{"action":"get_login_info","params":{{}},"echo":{LOGIN_ECHO}}}"#);
    if sink.send(Message::Text(ask.into())).await.is_err() {
        return Err(String::from("write failed while asking get_login_info"));
    }
    let learn = async {
        while let Some(Ok(msg)) = stream.next().await {
            let Message::Text(text) = msg else {
                continue;
            };
            match classify(&text) {
                Ok(Frame::Response(r)) if r.echo.as_ref().map(|e| e.get()) == Some(LOGIN_ECHO) => {
                    return r
                        .data_value()
                        .get("user_id")
                        .and_then(crate::protocol::de::as_i64);
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
        Ok(Some(id)) => Ok(id),
        Ok(None) => Err(String::from("closed before telling its self_id")),
        Err(_) => Err(format!(
            "did not tell its self_id (no event, no get_login_info answer) within {} ms",
            hub.settings.handshake_timeout.as_millis()
        )),
    }
}

fn on_frame(hub: &Hub, bot: &Bot, link: &Link, text: Utf8Bytes, advertised_ms: &AtomicU64) {
    match classify(&text) {
        Ok(Frame::Response(resp)) => hub.dispatcher.on_answer(link.id, resp),
        Ok(Frame::Event(header)) => {
            if header.is_meta("heartbeat") {
                // Heartbeats feed health; the gateway sends apps its own.
                link.last_heartbeat_unix_ms
                    .store(unix_ms(), Ordering::Relaxed);
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
                    if link.carries_actions() || link.publishes() {
                        bot.set_good(good && online);
                    }
                }
            } else if header.is_meta("lifecycle") {
                tracing::debug!(self_id = bot.self_id, link = link.id, sub_type = ?header.sub_type, "upstream lifecycle");
            } else if link.publishes() {
                bot.log.publish_text(header, text);
            } else {
                // A standby's events are the active link's events again.
                link.standby_events_dropped.fetch_add(1, Ordering::Relaxed);
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
