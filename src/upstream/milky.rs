//! Milky implementations (LagrangeV2, Yogurt…) as OneBot v11 bots.
//!
//! Transport dials the implementation's `GET /event` WebSocket and hands it
//! here with the implementation's HTTP API ([`ApiCaller`]). The link learns
//! its account from `get_login_info`, attaches to the bot like any link, and
//! from then on each Milky event is one v11 event in the bot's log, and each
//! v11 action one Milky API call ([`crate::protocol::milky::api`]). Message
//! ids are minted in a persisted table ([`IdTable`]), so `get_msg`,
//! `delete_msg` and replies work across restarts of either side.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use futures::future::BoxFuture;
use futures::stream::{BoxStream, SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::UpstreamLink;
use crate::core::ids::IdTable;
use crate::core::links::{close_code, Attached, LinkSpec};
use crate::core::serve::{ApiCaller, Bridge};
use crate::core::{Hub, Link};
use crate::protocol::action::Action;
use crate::protocol::milky::api::{answer_to_v11, plan, Plan};
use crate::protocol::milky::event::{event_to_v11, FromMilky};
use crate::protocol::milky::{MessageIds, Scene};
use crate::protocol::{retcode, Response};
use crate::ws::{close_for_read_error, close_frame, close_handshake};

/// The id tables of Milky bots, one per account, in one SQLite file.
pub struct IdStore {
    path: String,
    retention: Duration,
    tables: DashMap<i64, Arc<IdTable>>,
}

impl IdStore {
    /// Tables in the file `path` (`:memory:`: this run only), forgetting ids
    /// older than `retention` when a table opens.
    pub fn new(path: String, retention: Duration) -> Arc<Self> {
        Arc::new(Self {
            path,
            retention,
            tables: DashMap::new(),
        })
    }

    fn table(&self, self_id: i64) -> Result<Arc<IdTable>, String> {
        if let Some(t) = self.tables.get(&self_id) {
            return Ok(t.clone());
        }
        let t = Arc::new(IdTable::open(&self.path, "milky", self_id, self.retention)?);
        self.tables.insert(self_id, t.clone());
        Ok(t)
    }
}

struct Ids(Arc<IdTable>);

impl MessageIds for Ids {
    fn id_of(&self, scene: Scene, peer: i64, seq: i64) -> i64 {
        i64::from(self.0.id((scene.code(), peer, seq)))
    }
    fn message(&self, id: i64) -> Option<(Scene, i64, i64)> {
        let (scene, peer, seq) = self.0.key(id)?;
        Some((Scene::from_code(scene)?, peer, seq))
    }
}

/// What a Milky implementation answered, read.
enum Answered {
    Ok(Value),
    Failed(i64, String),
}

/// Calls one Milky API and reads the envelope the spec defines.
async fn call_api(api: &dyn ApiCaller, name: &str, body: &Value) -> Answered {
    let bytes = serde_json::to_vec(body).expect("a JSON value serializes");
    let (status, body) = match api.post(name, bytes).await {
        Ok(r) => r,
        Err(e) => {
            return Answered::Failed(
                retcode::UPSTREAM_UNAVAILABLE,
                format!("the Milky implementation did not answer `{name}`: {e}"),
            )
        }
    };
    match status {
        200 => {}
        401 => {
            return Answered::Failed(
                retcode::UNAUTHORIZED,
                "the Milky implementation refused the access token (HTTP 401)".into(),
            )
        }
        404 => {
            return Answered::Failed(
                retcode::NOT_FOUND,
                format!("the Milky implementation does not serve `{name}` (HTTP 404)"),
            )
        }
        other => {
            return Answered::Failed(
                retcode::INTERNAL,
                format!("the Milky implementation answered `{name}` with HTTP {other}"),
            )
        }
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return Answered::Failed(
            retcode::INTERNAL,
            format!("the Milky implementation's answer to `{name}` is not JSON"),
        );
    };
    let code = v.get("retcode").and_then(Value::as_i64).unwrap_or(-1);
    if v.get("status").and_then(Value::as_str) == Some("ok") && code == 0 {
        return Answered::Ok(v.get("data").cloned().unwrap_or_else(|| json!({})));
    }
    let message = v
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("failed without a message");
    // Milky's retcodes are negative; the two the spec fixes have v11 twins,
    // and a failure never reaches an app as retcode 0.
    let code = match code {
        -400 => retcode::BAD_REQUEST,
        -403 => retcode::UPSTREAM_UNAVAILABLE,
        0 => retcode::INTERNAL,
        c => c,
    };
    Answered::Failed(code, format!("Milky `{name}`: {message}"))
}

/// The bridge a Milky bot's actions go through.
struct MilkyBridge {
    self_id: i64,
    api: Arc<dyn ApiCaller>,
    ids: Ids,
}

impl Bridge for MilkyBridge {
    fn call<'a>(&'a self, action: &'a Action) -> BoxFuture<'a, Response> {
        Box::pin(async move {
            if let Action::GetStatus(_) = action {
                // The link is up (its event stream is): the account is online.
                return Response::ok(json!({"online": true, "good": true}));
            }
            match plan(action, &self.ids) {
                Plan::Answer(data) => Response::ok(data),
                Plan::Refuse(code, message) => Response::failed(code, message),
                Plan::Call { api, body, answer } => match call_api(&*self.api, api, &body).await {
                    Answered::Ok(data) => {
                        Response::ok(answer_to_v11(&answer, &data, self.self_id, &self.ids))
                    }
                    Answered::Failed(code, message) => Response::failed(code, message),
                },
            }
        })
    }
}

/// A Milky implementation's event stream.
pub enum Events<S> {
    /// `GET /event` as a WebSocket.
    Ws(Box<WebSocketStream<S>>),
    /// `GET /event` as Server-Sent Events: each event's data.
    Sse(BoxStream<'static, Result<String, String>>),
}

/// What the event stream gave next.
enum Next {
    Text(String),
    /// A frame that is not an event (ping, pong): the peer is alive.
    Alive,
    /// It ended: why, and the Close frame to send when it is ours to send.
    Ended(String, Option<CloseFrame>),
}

/// The two halves of a WebSocket, or an SSE body (nothing to write).
enum Source<S> {
    Ws(
        SplitSink<WebSocketStream<S>, Message>,
        SplitStream<WebSocketStream<S>>,
    ),
    Sse(BoxStream<'static, Result<String, String>>),
}

impl<S> Source<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    async fn next(&mut self) -> Next {
        match self {
            Self::Ws(_, stream) => match stream.next().await {
                Some(Ok(Message::Text(t))) => Next::Text(t.to_string()),
                Some(Ok(Message::Close(frame))) => Next::Ended(
                    match frame {
                        Some(f) => format!(
                            "closed by the implementation ({} {})",
                            u16::from(f.code),
                            f.reason
                        ),
                        None => String::from("closed by the implementation"),
                    },
                    None,
                ),
                Some(Ok(_)) => Next::Alive,
                Some(Err(e)) => Next::Ended(format!("read failed: {e}"), close_for_read_error(&e)),
                None => Next::Ended(String::from("connection closed"), None),
            },
            Self::Sse(stream) => match stream.next().await {
                Some(Ok(data)) if data.is_empty() => Next::Alive,
                Some(Ok(data)) => Next::Text(data),
                Some(Err(e)) => Next::Ended(format!("read failed: {e}"), None),
                None => Next::Ended(String::from("event stream ended"), None),
            },
        }
    }

    /// Sends a ping (WebSocket only); false when the write failed or did
    /// not complete within `limit`.
    async fn ping(&mut self, limit: Duration) -> bool {
        match self {
            Self::Ws(sink, _) => matches!(
                tokio::time::timeout(limit, sink.send(Message::Ping(Default::default()))).await,
                Ok(Ok(()))
            ),
            Self::Sse(_) => true,
        }
    }

    /// Ends the stream: a closing handshake on a WebSocket (`ours` first,
    /// or the answer to the peer's), dropping an SSE body.
    async fn close(self, ours: Option<CloseFrame>, limit: Duration) {
        if let Self::Ws(mut sink, mut stream) = self {
            close_handshake(&mut sink, &mut stream, ours, limit, |_| {}).await;
        }
    }
}

/// Drives one Milky event stream as a link of its bot until it ends;
/// returns why it ended.
pub async fn run_link<S>(
    hub: Arc<Hub>,
    events: Events<S>,
    api: Arc<dyn ApiCaller>,
    ids: Arc<IdStore>,
    spec: LinkSpec,
) -> String
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let sse = matches!(events, Events::Sse(_));
    let mut source = match events {
        Events::Ws(ws) => {
            let (sink, stream) = (*ws).split();
            Source::Ws(sink, stream)
        }
        Events::Sse(s) => Source::Sse(s),
    };
    let close_timeout = hub.settings.close_timeout;
    let peer = spec.peer.clone();
    let refuse = |code: u16, reason: String| {
        tracing::warn!(%peer, %reason, "Milky upstream refused");
        (code, reason)
    };
    // The account: the implementation says who it is.
    let login = tokio::time::timeout(
        hub.settings.handshake_timeout,
        call_api(&*api, "get_login_info", &json!({})),
    )
    .await;
    let learnt = match login {
        Ok(Answered::Ok(data)) => data.get("uin").and_then(crate::protocol::de::as_i64),
        Ok(Answered::Failed(_, message)) => {
            let (code, reason) = refuse(
                close_code::NO_SELF_ID,
                format!("get_login_info failed: {message}"),
            );
            source
                .close(Some(close_frame(code, reason.clone())), close_timeout)
                .await;
            return reason;
        }
        Err(_) => None,
    };
    let self_id = match (learnt, spec.self_id) {
        (Some(id), Some(want)) if id != want => {
            let (code, reason) = refuse(
                close_code::CLAIM_REFUSED,
                format!(
                    "the implementation is logged in as {id}, the config says self_id = {want}"
                ),
            );
            source
                .close(Some(close_frame(code, reason.clone())), close_timeout)
                .await;
            return reason;
        }
        (Some(id), _) => id,
        (None, _) => {
            let (code, reason) = refuse(
                close_code::NO_SELF_ID,
                format!(
                    "get_login_info gave no uin within {} ms",
                    hub.settings.handshake_timeout.as_millis()
                ),
            );
            source
                .close(Some(close_frame(code, reason.clone())), close_timeout)
                .await;
            return reason;
        }
    };
    let table = match ids.table(self_id) {
        Ok(t) => t,
        Err(e) => {
            let (code, reason) = refuse(1011, e);
            source
                .close(Some(close_frame(code, reason.clone())), close_timeout)
                .await;
            return reason;
        }
    };
    let bot = hub.registry.bot_or_insert(self_id);
    let link_id = hub.registry.new_link_id();
    let link = Link::new(
        link_id,
        spec.kind,
        spec.role,
        spec.peer.clone(),
        UpstreamLink::Bridge(Arc::new(MilkyBridge {
            self_id,
            api: api.clone(),
            ids: Ids(table.clone()),
        })),
        spec.on_duplicate,
        None,
    );
    if let Attached::Refused(reason) = bot.attach_link(link.clone()) {
        source
            .close(
                Some(close_frame(close_code::DUPLICATE_REFUSED, reason.clone())),
                close_timeout,
            )
            .await;
        return reason;
    }
    bot.set_good(true);
    tracing::info!(self_id, link = link_id, peer = %spec.peer, api = %api.peer(), state = ?link.state(), "Milky upstream connected");
    let ids = Ids(table);
    let started = Instant::now();
    let publish = |text: &str| {
        let Ok(ev) = serde_json::from_str::<Value>(text) else {
            let n = link.events_ignored.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(
                self_id,
                link = link_id,
                ignored_so_far = n,
                "Milky event that is not JSON ignored"
            );
            return;
        };
        match event_to_v11(&ev, self_id, &ids) {
            FromMilky::Event(v11) if link.publishes() => {
                bot.log.publish_value(&v11);
            }
            FromMilky::Event(_) => {
                link.standby_events_dropped.fetch_add(1, Ordering::Relaxed);
            }
            FromMilky::Unknown(kind) => {
                let n = link.events_ignored.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::info!(self_id, link = link_id, event_type = %kind, ignored_so_far = n, "Milky event of a type this gateway does not know; ignored");
            }
            FromMilky::Malformed(why) => {
                let n = link.events_ignored.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::warn!(self_id, link = link_id, %why, ignored_so_far = n, "malformed Milky event ignored");
            }
        }
    };
    let ping_every = hub.settings.ping_interval;
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    let mut last_heard = Instant::now();
    let (reason, ours) = loop {
        tokio::select! {
            next = source.next() => match next {
                Next::Text(t) => {
                    last_heard = Instant::now();
                    publish(&t);
                    bot.log.journal_room().await;
                }
                Next::Alive => last_heard = Instant::now(),
                Next::Ended(reason, ours) => break (reason, ours),
            },
            // An SSE body has no pings: its liveness is the TCP connection's.
            _ = ping.tick(), if !sse => {
                let silent = last_heard.elapsed();
                if silent > 3 * ping_every {
                    break (format!("silent for {} ms: dead link", silent.as_millis()), Some(close_frame(1001, "no answer to pings: dead link")));
                }
                if !source.ping(hub.settings.write_timeout).await {
                    break (String::from("write failed"), None);
                }
            }
            _ = link.close.cancelled() => {
                let (code, reason) = link.close_reason().unwrap_or((1000, String::from("closed by the gateway")));
                break (reason.clone(), Some(close_frame(code, reason)));
            }
            _ = hub.draining.cancelled() => {
                break (String::from("gateway shutting down"), Some(close_frame(1001, "gateway shutting down")));
            }
        }
    };
    bot.detach_link(link_id, &reason);
    source.close(ours, close_timeout).await;
    tracing::info!(
        self_id,
        link = link_id,
        peer = %spec.peer,
        %reason,
        up_ms = started.elapsed().as_millis() as u64,
        events_ignored = link.events_ignored.load(Ordering::Relaxed),
        "Milky upstream disconnected"
    );
    reason
}
