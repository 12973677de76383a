//! The per-connection driver of an app session, over any WebSocket stream
//! (accepted by a forward listener or dialled by a reverse target).
//!
//! A session sends `lifecycle/connect` first, replays what a returning named
//! app missed, then delivers live events from its own cursor, answers its
//! actions through the dispatcher, sends heartbeats and pings, and ends with a
//! close frame that says why.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use futures::{Sink, SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{close_for_read_error, close_handshake};
use crate::core::bus::{BusEvent, Gap};
use crate::core::links::close_code;
use crate::core::{AppCtx, Hub, LagPolicy, Subscription};
use crate::protocol::{classify, retcode, Frame, FrameError, Response};

/// Actions one app may have in flight before the gateway stops reading its frames.
const MAX_ACTIONS_IN_FLIGHT: usize = 256;
/// Events written per batch before a flush.
const EVENT_BATCH: usize = 64;
/// The close reason for a binary frame from an app.
const BINARY_REASON: &str = "binary frames are not OneBot frames; send text";

/// Why a session ended.
#[derive(Debug)]
pub enum SessionEnd {
    /// The app closed the connection (with its close frame, if any).
    PeerClosed(Option<CloseFrame>),
    /// The socket failed.
    Failed(String),
    /// No frame (not even a pong) from the app for three ping intervals.
    Dead,
    /// The app did not keep up; the text says how far behind it was.
    TooSlow(String),
    /// The gateway is shutting down.
    Shutdown,
    /// The app sent a frame beyond the hard size limit.
    TooBig(String),
    /// A configuration reload removed the reverse target this session belongs to.
    Removed,
    /// A newer session of the same named app took over.
    Replaced,
    /// A session of the same named app is live and the app refuses duplicates.
    Refused(String),
    /// The app sent a binary frame.
    Binary,
    /// The app broke the WebSocket protocol; the frame is the RFC close to send.
    Protocol(CloseFrame),
    /// The app sent [`GARBAGE_LIMIT`] malformed frames within [`GARBAGE_WINDOW`].
    Garbage,
}

impl SessionEnd {
    fn close_frame(&self) -> Option<CloseFrame> {
        let (code, reason) = match self {
            Self::PeerClosed(_) | Self::Failed(_) => return None,
            Self::Dead => (
                CloseCode::Away,
                String::from("no pong within three ping intervals"),
            ),
            Self::TooSlow(why) => (CloseCode::Policy, why.clone()),
            Self::Garbage => (
                CloseCode::Policy,
                format!(
                    "{GARBAGE_LIMIT} malformed frames within {} s: not a OneBot app",
                    GARBAGE_WINDOW.as_secs()
                ),
            ),
            Self::Shutdown => (CloseCode::Away, String::from("gateway shutting down")),
            Self::TooBig(why) => (CloseCode::Size, format!("frame too large: {why}")),
            Self::Removed => (
                CloseCode::Away,
                String::from("removed from the gateway's configuration"),
            ),
            Self::Replaced => (
                CloseCode::from(close_code::REPLACED),
                String::from("replaced by a newer connection"),
            ),
            Self::Refused(why) => (CloseCode::from(close_code::DUPLICATE_REFUSED), why.clone()),
            Self::Binary => (CloseCode::Unsupported, String::from(BINARY_REASON)),
            Self::Protocol(frame) => return Some(frame.clone()),
        };
        Some(CloseFrame {
            code,
            reason: Utf8Bytes::from(reason),
        })
    }
}

impl std::fmt::Display for SessionEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PeerClosed(Some(frame)) => write!(
                f,
                "closed by app ({} {})",
                u16::from(frame.code),
                frame.reason
            ),
            Self::PeerClosed(None) => f.write_str("closed by app"),
            Self::Failed(e) => write!(f, "connection failed: {e}"),
            Self::Dead => f.write_str("no pong within three ping intervals"),
            Self::TooSlow(why) => f.write_str(why),
            Self::Shutdown => f.write_str("gateway shutting down"),
            Self::TooBig(why) => write!(f, "frame too large: {why}"),
            Self::Removed => f.write_str("removed from the gateway's configuration"),
            Self::Replaced => f.write_str("replaced by a newer connection"),
            Self::Refused(why) => f.write_str(why),
            Self::Binary => f.write_str(BINARY_REASON),
            Self::Protocol(frame) => write!(f, "{} {}", u16::from(frame.code), frame.reason),
            Self::Garbage => write!(
                f,
                "{GARBAGE_LIMIT} malformed frames within {} s",
                GARBAGE_WINDOW.as_secs()
            ),
        }
    }
}

/// Unix time in seconds.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Runs an app session to its end, then unregisters it.
///
/// `stop` ends the session with a close frame: the gateway's shutdown token,
/// or a reverse target's own token (cancelled when a reload removes it).
///
/// Not an `async fn`: the socket is split before the future exists, so the
/// future holds two handles instead of the whole WebSocket state (async fn
/// arguments stay in the future for its whole life; this saves some 0.4 KiB
/// per idle app).
pub fn run_app<S>(
    hub: Arc<Hub>,
    ws: WebSocketStream<S>,
    ctx: AppCtx,
    stop: CancellationToken,
) -> impl std::future::Future<Output = SessionEnd> + Send
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let span = tracing::info_span!("app", id = ctx.id, self_id = ctx.bot.self_id, role = ?ctx.role, peer = %ctx.peer, identity = ctx.identity.as_deref().unwrap_or("-"));
    let (sink, stream) = ws.split();
    async move {
        tracing::info!("app connected");
        let ctx = Arc::new(ctx);
        let end = drive(&hub, sink, stream, &ctx, &stop).await;
        hub.registry.unregister_app(ctx.id, &end.to_string());
        let s = &ctx.stats;
        tracing::info!(
            reason = %end,
            delivered = s.delivered.load(Ordering::Relaxed),
            replayed = s.replayed.load(Ordering::Relaxed),
            lost = s.lost.load(Ordering::Relaxed),
            cursor = s.cursor.load(Ordering::Relaxed),
            confirmed = s.confirmed.load(Ordering::Relaxed),
            duplicates = s.duplicates.load(Ordering::Relaxed),
            "app disconnected"
        );
        end
    }
    .instrument(span)
}

async fn drive<S>(
    hub: &Arc<Hub>,
    mut sink: futures::stream::SplitSink<WebSocketStream<S>, Message>,
    mut stream: futures::stream::SplitStream<WebSocketStream<S>>,
    ctx: &Arc<AppCtx>,
    stop: &CancellationToken,
) -> SessionEnd
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // One live session per named identity: a newer one replaces this one
    // (or is refused), and is started only after this one saved its cursor.
    let claim = match &ctx.identity {
        None => None,
        Some(identity) => {
            let wait = hub.settings.close_timeout + hub.settings.write_timeout;
            // A child of `stop`: the writer waits on one token for both.
            let replaced = stop.child_token();
            match hub
                .registry
                .claim_identity(ctx, identity, wait, replaced)
                .await
            {
                // Boxed: the session future stays small for anonymous apps.
                Ok(claim) => Some(Box::new(claim)),
                Err(reason) => {
                    let end = SessionEnd::Refused(reason);
                    finish(&mut sink, &mut stream, &end, hub.settings.close_timeout).await;
                    return end;
                }
            }
        }
    };
    // Cancelled by the stop signal, or (named apps) by a newer session.
    let stop_or_replaced = claim
        .as_ref()
        .map_or_else(|| stop.clone(), |c| c.replaced().clone());
    let (reply_tx, mut reply_rx) = mpsc::channel::<Utf8Bytes>(hub.settings.app_queue);
    let started = Instant::now();
    let last_heard = AtomicU64::new(0);
    // Two positions (0: no subscription). `written`: events before it went
    // into the socket with a successful flush. `confirmed`: events before it
    // were provably read by the app's WebSocket reader — a Ping carrying the
    // written position came back as a Pong, and frames are read in order.
    // Kernel buffers can hold megabytes the app never reads, so only the
    // confirmed position is saved for replay (unless a closing handshake
    // completes, which confirms everything written before it).
    let written = AtomicU64::new(0);
    let confirmed = AtomicU64::new(0);
    let on_confirm = |seq: u64| {
        if confirmed.fetch_max(seq, Ordering::AcqRel) < seq {
            ctx.stats.confirmed.store(seq, Ordering::Relaxed);
            if let Some(identity) = &ctx.identity {
                // Kept current while connected, so the journal's periodic
                // save survives a crash of the gateway.
                ctx.bot.cursors.insert(identity.clone(), seq);
            }
        }
    };

    // Shared with the writer: it batches answers only while other actions are in flight.
    let in_flight = Arc::new(Semaphore::new(MAX_ACTIONS_IN_FLIGHT));
    let reader = async {
        let mut actions = JoinSet::new();
        let mut garbage = Garbage::default();
        loop {
            let msg = match stream.next().await {
                Some(Ok(msg)) => msg,
                Some(Err(tokio_tungstenite::tungstenite::Error::Capacity(e))) => {
                    return SessionEnd::TooBig(e.to_string())
                }
                Some(Err(e)) if super::budget::is_refusal(&e) => {
                    tracing::warn!(error = %e, "frame refused: the inbound memory budget is exhausted");
                    return SessionEnd::TooBig(
                        e.to_string().trim_start_matches("IO error: ").to_owned(),
                    );
                }
                Some(Err(e)) => {
                    return match close_for_read_error(&e) {
                        Some(frame) => SessionEnd::Protocol(frame),
                        None => SessionEnd::Failed(e.to_string()),
                    }
                }
                None => {
                    return SessionEnd::Failed(String::from(
                        "connection ended without a closing handshake",
                    ))
                }
            };
            last_heard.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
            let text = match msg {
                Message::Text(text) => text,
                // Never executed, whatever it holds: OneBot frames are text.
                Message::Binary(_) => return SessionEnd::Binary,
                Message::Close(frame) => return SessionEnd::PeerClosed(frame),
                Message::Pong(payload) => {
                    if let Ok(seq) = <[u8; 8]>::try_from(payload.as_ref()) {
                        on_confirm(u64::from_be_bytes(seq));
                    }
                    continue;
                }
                Message::Ping(_) => {
                    ctx.stats.pings_received.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                Message::Frame(_) => continue,
            };
            let limit = hub.settings.max_inbound_frame_bytes;
            if text.len() > limit {
                let err = format!(
                    "frame of {} bytes exceeds max_inbound_frame_bytes ({limit})",
                    text.len()
                );
                let resp = malformed_answer_text(&text, err);
                let _ = reply_tx.send(Utf8Bytes::from(resp.to_json())).await;
                if let Some(end) = garbage.count() {
                    return end;
                }
                continue;
            }
            match classify(&text) {
                Ok(Frame::Action(req)) => {
                    ctx.stats.actions.fetch_add(1, Ordering::Relaxed);
                    let Ok(permit) = in_flight.clone().acquire_owned().await else {
                        continue;
                    };
                    let (hub, ctx, reply_tx) = (hub.clone(), ctx.clone(), reply_tx.clone());
                    actions.spawn(async move {
                        hub.dispatcher.handle(&ctx, req, &reply_tx).await;
                        drop(permit);
                    });
                    while actions.try_join_next().is_some() {}
                }
                Ok(frame @ (Frame::Response(_) | Frame::Event(_))) => {
                    let what = if matches!(frame, Frame::Event(_)) {
                        "an event"
                    } else {
                        "an answer"
                    };
                    let resp = malformed_answer_text(
                        &text,
                        format!("this frame is {what}, not an action: apps send {{\"action\", \"params\", \"echo\"}}"),
                    );
                    let _ = reply_tx.send(Utf8Bytes::from(resp.to_json())).await;
                    if let Some(end) = garbage.count() {
                        return end;
                    }
                }
                Err(err) => {
                    let resp = malformed_answer(&text, &err);
                    let _ = reply_tx.send(Utf8Bytes::from(resp.to_json())).await;
                    if let Some(end) = garbage.count() {
                        return end;
                    }
                }
            }
        }
        // `actions` drops here: in-flight calls are aborted and their pending entries removed.
    };

    let writer = async {
        let bot = &ctx.bot;
        let receives_events = ctx.role.receives_events();
        let now = unix_now();
        if receives_events {
            let lifecycle = json!({"time": now, "self_id": bot.self_id, "post_type": "meta_event", "meta_event_type": "lifecycle", "sub_type": "connect"});
            if let Err(end) =
                write_all(&mut sink, [text_of(&lifecycle)], hub.settings.write_timeout).await
            {
                return end;
            }
        }
        let mut sub = receives_events.then(|| {
            let head = bot.log.head();
            let start = ctx
                .identity
                .as_ref()
                .and_then(|id| bot.cursors.get(id).map(|c| *c))
                .filter(|c| *c <= head)
                .unwrap_or(head);
            if let Some(identity) = &ctx.identity {
                // Remembered from the first moment, so even a crash right
                // after connecting leaves a position to replay from.
                bot.cursors.insert(identity.clone(), start);
            }
            ctx.stats.cursor.store(start, Ordering::Relaxed);
            ctx.stats.confirmed.store(start, Ordering::Relaxed);
            Subscription::new(bot.log.clone(), start)
        });
        let replay_until = bot.log.head();
        // Events before this were written to the previous session, which
        // ended without confirming them: they come again, counted.
        let resent_until = ctx
            .identity
            .as_ref()
            .filter(|_| receives_events)
            .and_then(|id| bot.unconfirmed_ends.remove(id))
            .map_or(0, |(_, seq)| seq);
        if let Some(s) = sub.as_ref() {
            written.store(s.cursor, Ordering::Relaxed);
            confirmed.store(s.cursor, Ordering::Relaxed);
            if resent_until > s.cursor {
                tracing::info!(
                    from = s.cursor,
                    until = resent_until,
                    "resuming after an abnormal end: events written but not confirmed come again"
                );
            }
        }
        // The confirmation probe: armed after a write, fired at most every
        // `hub.settings.confirm_interval`, at most one outstanding.
        // Allocated on first use, so an idle app pays nothing for it.
        let mut probe = Probe::default();
        let mut probe_armed = false;
        let mut probed: u64 = 0;
        let mut last_probe = Instant::now() - hub.settings.confirm_interval;
        let mut replay_probed = false;
        let hb_every = hub.settings.heartbeat_interval;
        let mut heartbeat = tokio::time::interval_at(
            Instant::now() + hb_every.max(Duration::from_millis(1)),
            hb_every.max(Duration::from_millis(1)),
        );
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let ping_every = hub.settings.ping_interval;
        let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Allocated on first use: an idle app costs nothing here (2.5 KiB
        // per connection if allocated up front).
        let mut batch: Vec<Arc<BusEvent>> = Vec::new();
        let mut out: Vec<Utf8Bytes> = Vec::new();
        loop {
            let result = tokio::select! {
                biased;
                _ = stop_or_replaced.cancelled() => {
                    return if !stop.is_cancelled() {
                        SessionEnd::Replaced
                    } else if hub.shutdown.is_cancelled() {
                        SessionEnd::Shutdown
                    } else {
                        SessionEnd::Removed
                    };
                }
                Some(first) = reply_rx.recv() => {
                    out.push(first);
                    if reply_rx.is_empty() && in_flight.available_permits() < MAX_ACTIONS_IN_FLIGHT {
                        // Other actions are in flight: answers completing in
                        // the same scheduler pass would otherwise each get
                        // their own write syscall. (With none in flight, the
                        // yield would only add latency: it can wake the other
                        // worker thread.)
                        tokio::task::yield_now().await;
                    }
                    while out.len() < EVENT_BATCH {
                        match reply_rx.try_recv() {
                            Ok(text) => out.push(text),
                            Err(_) => break,
                        }
                    }
                    write_all(&mut sink, out.drain(..), hub.settings.write_timeout).await
                }
                read = next_events(&mut sub, &mut batch) => {
                    if let Err(gap) = read {
                        on_gap(ctx, gap, &mut out);
                    }
                    let sub_ref = sub.as_ref().expect("events arrive only with a subscription");
                    // A returning app's backlog is not lag: it is judged only
                    // once it has caught up with what it missed.
                    let replaying = sub_ref.cursor < replay_until;
                    if let Some(end) = check_lag(ctx, sub_ref).filter(|_| !replaying) {
                        match end {
                            Ok(skip_to) => {
                                if let Some(s) = sub.as_mut() {
                                    let skipped = skip_to.saturating_sub(s.cursor);
                                    ctx.stats.lost.fetch_add(skipped, Ordering::Relaxed);
                                    tracing::warn!(skipped, "app too slow; skipped to the newest events (on_lag = drop-oldest)");
                                    s.cursor = skip_to;
                                    written.store(skip_to, Ordering::Relaxed);
                                }
                                batch.clear();
                                continue;
                            }
                            Err(end) => {
                                return end;
                            }
                        }
                    }
                    for event in batch.drain(..) {
                        if let Some(text) = render(ctx, &event) {
                            if event.seq < replay_until {
                                ctx.stats.replayed.fetch_add(1, Ordering::Relaxed);
                            }
                            if event.seq < resent_until {
                                ctx.stats.duplicates.fetch_add(1, Ordering::Relaxed);
                            }
                            out.push(text);
                        }
                    }
                    let n = out.len() as u64;
                    let r = write_all(&mut sink, out.drain(..), hub.settings.write_timeout).await;
                    if r.is_ok() {
                        ctx.stats.delivered.fetch_add(n, Ordering::Relaxed);
                        if let Some(s) = sub.as_ref() {
                            ctx.stats.cursor.store(s.cursor, Ordering::Relaxed);
                            written.store(s.cursor, Ordering::Relaxed);
                            // No clock read while a probe is armed: this runs per batch.
                            if !replay_probed && s.cursor >= replay_until {
                                // The end of a replay is confirmed at once.
                                replay_probed = true;
                                probe.set(Instant::now());
                                probe_armed = true;
                            } else if !probe_armed {
                                let now = Instant::now();
                                probe.set((last_probe + hub.settings.confirm_interval).max(now));
                                probe_armed = true;
                            }
                        }
                    }
                    r
                }
                _ = heartbeat.tick(), if receives_events && !hb_every.is_zero() => {
                    let health = bot.health();
                    let beat = json!({
                        "time": unix_now(), "self_id": bot.self_id, "post_type": "meta_event",
                        "meta_event_type": "heartbeat", "interval": hb_every.as_millis() as u64,
                        "status": {"online": health.online, "good": health.good},
                    });
                    write_all(&mut sink, [text_of(&beat)], hub.settings.write_timeout).await
                }
                () = probe.wait(), if probe_armed => {
                    probe_armed = false;
                    let now = Instant::now();
                    let outstanding = confirmed.load(Ordering::Acquire) < probed;
                    let upto = written.load(Ordering::Relaxed);
                    if upto <= confirmed.load(Ordering::Acquire) {
                        Ok(())
                    } else if outstanding && now - last_probe < ping_every {
                        probe.set(now + hub.settings.confirm_interval);
                        probe_armed = true;
                        Ok(())
                    } else {
                        last_probe = now;
                        probed = upto;
                        let payload = upto.to_be_bytes().to_vec();
                        send_timed(&mut sink, Message::Ping(payload.into()), hub.settings.write_timeout).await
                    }
                }
                _ = ping.tick() => {
                    let silent_ms = (started.elapsed().as_millis() as u64).saturating_sub(last_heard.load(Ordering::Relaxed));
                    if silent_ms > 3 * ping_every.as_millis() as u64 {
                        return SessionEnd::Dead;
                    }
                    send_timed(&mut sink, Message::Ping(Default::default()), hub.settings.write_timeout).await
                }
            };
            if let Err(end) = result {
                return end;
            }
        }
    };

    let end = tokio::select! {
        end = reader => end,
        end = writer => end,
    };
    let completed = finish(&mut sink, &mut stream, &end, hub.settings.close_timeout).await;
    let (written, confirmed) = (written.into_inner(), confirmed.into_inner());
    // A completed closing handshake confirms everything written before it.
    let saved = if completed { written } else { confirmed };
    ctx.stats.confirmed.store(saved, Ordering::Relaxed);
    if let (Some(identity), 1..) = (&ctx.identity, saved) {
        ctx.bot.cursors.insert(identity.clone(), saved);
        if written > saved {
            tracing::info!(confirmed = saved, written, unconfirmed = written - saved, "session ended without a closing handshake: the unconfirmed events will be sent again");
            ctx.bot.unconfirmed_ends.insert(identity.clone(), written);
        }
    }
    // The cursor is saved: a newer session of this identity may start.
    drop(claim);
    end
}

/// Ends the socket for `end` with a closing handshake where the socket still
/// allows one; whether the handshake completed (it then confirms everything
/// written before it).
async fn finish<K, R>(sink: &mut K, stream: &mut R, end: &SessionEnd, limit: Duration) -> bool
where
    K: Sink<Message> + Unpin,
    R: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    if matches!(end, SessionEnd::Failed(_)) {
        return false;
    }
    let replied = close_handshake(sink, stream, end.close_frame(), limit, |_| {}).await;
    matches!(end, SessionEnd::PeerClosed(_)) || replied
}

/// The timer of the confirmation Ping, boxed on first use.
#[derive(Default)]
struct Probe(Option<std::pin::Pin<Box<tokio::time::Sleep>>>);

impl Probe {
    fn set(&mut self, at: Instant) {
        match &mut self.0 {
            Some(sleep) => sleep.as_mut().reset(at),
            None => self.0 = Some(Box::pin(tokio::time::sleep_until(at))),
        }
    }

    async fn wait(&mut self) {
        match &mut self.0 {
            Some(sleep) => sleep.as_mut().await,
            None => std::future::pending().await,
        }
    }
}

async fn next_events(
    sub: &mut Option<Subscription>,
    batch: &mut Vec<Arc<BusEvent>>,
) -> Result<(), Gap> {
    match sub {
        Some(sub) => sub.next_batch(EVENT_BATCH, batch).await,
        None => std::future::pending().await,
    }
}

/// Lag check after a read: `None` fine, `Some(Ok(seq))` skip to `seq`, `Some(Err(end))` disconnect.
fn check_lag(ctx: &AppCtx, sub: &Subscription) -> Option<Result<u64, SessionEnd>> {
    let lag = sub.lag();
    if lag <= ctx.options.max_lag {
        return None;
    }
    Some(match ctx.options.on_lag {
        LagPolicy::Disconnect => Err(SessionEnd::TooSlow(format!(
            "app too slow: {lag} events behind (max_lag {}); reconnect to resume",
            ctx.options.max_lag
        ))),
        LagPolicy::DropOldest => Ok(ctx.bot.log.head().saturating_sub(ctx.options.max_lag / 2)),
    })
}

fn on_gap(ctx: &AppCtx, gap: Gap, out: &mut Vec<Utf8Bytes>) {
    ctx.stats.lost.fetch_add(gap.count(), Ordering::Relaxed);
    tracing::warn!(
        first_lost = gap.first_lost,
        last_lost = gap.last_lost,
        count = gap.count(),
        "events evicted before this app read them (retention exceeded)"
    );
    if ctx.options.notify_lost {
        out.push(text_of(&json!({
            "time": unix_now(), "self_id": ctx.bot.self_id, "post_type": "notice",
            "notice_type": "gateway_events_lost", "first_seq": gap.first_lost,
            "last_seq": gap.last_lost, "count": gap.count(),
        })));
    }
}

/// The text this app gets for an event, or `None` when it is filtered out.
fn render(ctx: &AppCtx, event: &BusEvent) -> Option<Utf8Bytes> {
    if !ctx.options.wants(event) {
        return None;
    }
    let text = event.json(ctx.options.post_format);
    if text.len() > ctx.options.max_frame_bytes {
        ctx.stats.oversize.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            seq = event.seq,
            bytes = text.len(),
            max_frame_bytes = ctx.options.max_frame_bytes,
            "event larger than this app's max_frame_bytes; not sent"
        );
        return None;
    }
    Some(text)
}

fn text_of(v: &Value) -> Utf8Bytes {
    Utf8Bytes::from(v.to_string())
}

/// The answer to a frame that could not be parsed; keeps its echo when one can be found.
fn malformed_answer(text: &str, err: &FrameError) -> Response {
    malformed_answer_text(text, err.to_string())
}

fn malformed_answer_text(text: &str, message: String) -> Response {
    #[derive(serde::Deserialize)]
    struct EchoOnly {
        #[serde(default)]
        echo: Option<Box<serde_json::value::RawValue>>,
    }
    // `"echo": null` when the frame's own cannot be read: a client matching
    // answers by echo sees at once that this one is not for a call of its.
    let echo = serde_json::from_str::<EchoOnly>(text)
        .ok()
        .and_then(|e| e.echo)
        .or_else(|| serde_json::value::RawValue::from_string(String::from("null")).ok());
    Response::failed(retcode::BAD_REQUEST, message).with_echo(echo)
}

/// Malformed frames an app may send in [`GARBAGE_WINDOW`] before its session closes.
pub const GARBAGE_LIMIT: u32 = 100;
/// The window malformed frames are counted in.
pub const GARBAGE_WINDOW: Duration = Duration::from_secs(10);

/// Counts malformed frames: each gets its answer, but a client sending
/// nothing else is not a OneBot app and its session ends.
#[derive(Default)]
struct Garbage {
    since: Option<Instant>,
    count: u32,
}

impl Garbage {
    fn count(&mut self) -> Option<SessionEnd> {
        let now = Instant::now();
        match self.since {
            Some(since) if now.duration_since(since) < GARBAGE_WINDOW => self.count += 1,
            _ => {
                self.since = Some(now);
                self.count = 1;
            }
        }
        (self.count >= GARBAGE_LIMIT).then(|| {
            tracing::warn!(
                frames = self.count,
                "app session closed: it sends only malformed frames"
            );
            SessionEnd::Garbage
        })
    }
}

async fn send_timed<K>(sink: &mut K, msg: Message, limit: Duration) -> Result<(), SessionEnd>
where
    K: Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
{
    match tokio::time::timeout(limit, sink.send(msg)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(SessionEnd::Failed(e.to_string())),
        Err(_) => Err(SessionEnd::TooSlow(format!(
            "app too slow: a write did not complete within {} ms",
            limit.as_millis()
        ))),
    }
}

/// Writes a batch of text frames with one flush, bounded in time.
async fn write_all<K, I>(sink: &mut K, texts: I, limit: Duration) -> Result<(), SessionEnd>
where
    K: Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
    I: IntoIterator<Item = Utf8Bytes>,
{
    let work = async {
        for text in texts {
            sink.feed(Message::Text(text)).await?;
        }
        sink.flush().await
    };
    match tokio::time::timeout(limit, work).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(SessionEnd::Failed(e.to_string())),
        Err(_) => Err(SessionEnd::TooSlow(format!(
            "app too slow: a write did not complete within {} ms",
            limit.as_millis()
        ))),
    }
}
