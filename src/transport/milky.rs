//! Milky over HTTP: the client half of a Milky upstream (its `POST /api/:api`
//! calls; the `/event` WebSocket is dialled by [`super::dial`]).

use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::core::serve::ApiCaller;
use crate::redact::{redact, Secret};

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

/// A client whose connections have TCP keepalive on: an SSE body that a
/// vanished peer left half-open fails instead of hanging forever.
fn client() -> HttpClient {
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_keepalive(Some(Duration::from_secs(15)));
    Client::builder(TokioExecutor::new()).build(connector)
}

/// A Milky implementation's HTTP API.
pub struct HttpApi {
    client: HttpClient,
    /// `http://host:port/api/` (the API name is appended).
    base: String,
    token: Secret,
    timeout: Duration,
}

impl HttpApi {
    /// The API under `url` (the implementation's HTTP server); each call
    /// gives up after `timeout`.
    pub fn new(url: &str, token: Secret, timeout: Duration) -> Self {
        Self {
            client: client(),
            base: format!("{}/api/", url.trim_end_matches('/')),
            token,
            timeout,
        }
    }
}

/// The `/event` WebSocket URL of a Milky implementation's HTTP server.
pub fn event_url(url: &str) -> String {
    let base = url.trim_end_matches('/');
    let base = base
        .strip_prefix("http://")
        .map(|rest| format!("ws://{rest}"))
        .unwrap_or_else(|| base.to_owned());
    format!("{base}/event")
}

impl ApiCaller for HttpApi {
    fn post(&self, api: &str, body: Vec<u8>) -> BoxFuture<'static, Result<(u16, Bytes), String>> {
        let mut req = http::Request::post(format!("{}{api}", self.base))
            .header(http::header::CONTENT_TYPE, "application/json");
        if !self.token.is_empty() {
            req = req.header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", self.token.expose()),
            );
        }
        let req = req.body(Full::new(Bytes::from(body)));
        let (client, timeout) = (self.client.clone(), self.timeout);
        Box::pin(async move {
            let req = req.map_err(|e| format!("cannot build the request: {e}"))?;
            let call = async {
                let resp = client.request(req).await.map_err(|e| e.to_string())?;
                let status = resp.status().as_u16();
                let body = resp
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| e.to_string())?
                    .to_bytes();
                Ok((status, body))
            };
            tokio::time::timeout(timeout, call)
                .await
                .map_err(|_| format!("no answer within {} ms", timeout.as_millis()))?
        })
    }

    fn peer(&self) -> String {
        redact(&self.base)
    }
}

/// A `[[listen]] protocol = "milky"`: one bot served to Milky apps.
pub struct MilkyListener {
    /// The hub.
    pub hub: std::sync::Arc<crate::core::Hub>,
    /// The bot served (`bot` / `default_bot`, else the only bot).
    pub bot: Option<i64>,
    /// The token apps present (Bearer or `?access_token=`).
    pub access_token: Secret,
    /// v11 group-request flags by the `notification_seq` Milky apps saw.
    flags: dashmap::DashMap<i64, String>,
    /// The seq of each flag, so a flag seen twice keeps its seq.
    seqs: dashmap::DashMap<String, i64>,
    next_seq: std::sync::atomic::AtomicI64,
}

impl MilkyListener {
    /// A listener for `bot` behind `access_token`.
    pub fn new(
        hub: std::sync::Arc<crate::core::Hub>,
        bot: Option<i64>,
        access_token: Secret,
    ) -> Self {
        Self {
            hub,
            bot,
            access_token,
            flags: dashmap::DashMap::new(),
            seqs: dashmap::DashMap::new(),
            next_seq: std::sync::atomic::AtomicI64::new(1),
        }
    }

    fn bot(&self) -> Option<std::sync::Arc<crate::core::Bot>> {
        match self.bot {
            Some(id) => self.hub.registry.bot(id),
            None => self.hub.registry.only_bot(),
        }
    }
}

/// Request seqs remembered: older requests must be answered from a newer event.
const FLAGS_KEPT: i64 = 10_000;

impl crate::protocol::milky::event::FlagSeqs for MilkyListener {
    fn seq_of(&self, flag: &str) -> i64 {
        if let Some(seq) = self.seqs.get(flag) {
            return *seq;
        }
        let seq = self
            .next_seq
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.flags.insert(seq, flag.to_owned());
        self.seqs.insert(flag.to_owned(), seq);
        if let Some((_, old)) = self.flags.remove(&(seq - FLAGS_KEPT)) {
            self.seqs.remove(&old);
        }
        seq
    }
}

mod listen {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::extract::{Path, Request, State};
    use axum::http::{header, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::routing::{get, post};
    use axum::{Json, Router};
    use bytes::Bytes;
    use futures::{SinkExt, StreamExt};
    use serde_json::{json, Value};
    use tokio_tungstenite::tungstenite::Message;

    use super::MilkyListener;
    use crate::core::Subscription;
    use crate::protocol::milky::api::{answer_to_milky, from_milky, CallError};
    use crate::protocol::milky::event::event_from_v11;
    use crate::protocol::retcode;
    use crate::transport::http::{presented_token, query_map, token_matches, upgrade, UpgradedWs};

    /// The router of a Milky listener: `POST /api/:api` and `GET /event`
    /// (WebSocket or SSE, by the `Upgrade` header).
    pub fn router(listener: Arc<MilkyListener>) -> Router {
        Router::new()
            .route("/api/{api}", post(api))
            .route("/event", get(event))
            .fallback(|| async {
                (
                    StatusCode::NOT_FOUND,
                    "a Milky listener serves POST /api/:api and GET /event",
                )
            })
            .layer(axum::middleware::from_fn_with_state(
                listener.clone(),
                require_token,
            ))
            .with_state(listener)
    }

    async fn require_token(
        State(l): State<Arc<MilkyListener>>,
        req: Request,
        next: axum::middleware::Next,
    ) -> Response {
        if !l.access_token.is_empty() {
            let presented = presented_token(req.headers(), &query_map(&req));
            if !presented.is_some_and(|t| token_matches(&l.access_token, &t)) {
                tracing::info!(path = %req.uri().path(), "Milky app refused: bad or missing access token");
                // The spec: 401 for a missing or wrong credential alike.
                return (StatusCode::UNAUTHORIZED, "missing or wrong access token").into_response();
            }
        }
        next.run(req).await
    }

    fn failed(code: i64, message: impl Into<String>) -> Response {
        Json(json!({"status": "failed", "retcode": code, "message": message.into()}))
            .into_response()
    }

    /// A v11 retcode as Milky's (negative; the spec fixes -400 and -403).
    fn milky_retcode(code: i64) -> i64 {
        match code {
            retcode::BAD_REQUEST => -400,
            retcode::UPSTREAM_UNAVAILABLE => -403,
            c if c > 1000 => -(c - 1000),
            c if c > 0 => -c,
            c => c,
        }
    }

    async fn api(
        State(l): State<Arc<MilkyListener>>,
        Path(name): Path<String>,
        req: Request,
    ) -> Response {
        let json_body = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/json")
            });
        if !json_body {
            return (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send Content-Type: application/json",
            )
                .into_response();
        }
        let limit = l.hub.settings.max_inbound_frame_bytes;
        let body: Bytes = match axum::body::to_bytes(req.into_body(), limit).await {
            Ok(b) => b,
            Err(_) => {
                return failed(
                    -400,
                    format!("the body is over {limit} bytes or unreadable"),
                )
            }
        };
        let body: Value = match serde_json::from_slice(&body) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => return failed(-400, "the body must be a JSON object (`{}` for no input)"),
            Err(e) => return failed(-400, format!("the body is not JSON: {e}")),
        };
        let call = match from_milky(&name, &body, &|seq| l.flags.get(&seq).map(|f| f.clone())) {
            Ok(c) => c,
            Err(CallError::UnknownApi) => {
                return (
                    StatusCode::NOT_FOUND,
                    format!("unknown or unsupported API `{name}`"),
                )
                    .into_response()
            }
            Err(CallError::BadParams(m)) => return failed(-400, m),
        };
        let Some(bot) = l.bot() else {
            return failed(-403, "no bot is served here right now");
        };
        let action = match crate::protocol::action::parse(call.action, &call.params) {
            Ok(Some(a)) => a,
            Ok(None) => {
                return failed(-500, format!("`{}` is not a known v11 action", call.action))
            }
            Err(e) => return failed(-400, e.to_string()),
        };
        let started = std::time::Instant::now();
        let resp = l.hub.dispatcher.run_action(&bot, action).await;
        // Counted like any app's answer (`/status` actions, `/metrics`).
        l.hub
            .dispatcher
            .note_answer(bot.self_id, None, call.action, &resp, started.elapsed());
        if resp.is_ok() {
            match answer_to_milky(&call.answer, &resp.data_value(), bot.self_id) {
                Ok(data) => {
                    Json(json!({"status": "ok", "retcode": 0, "data": data})).into_response()
                }
                Err(why) => failed(-404, why),
            }
        } else {
            let message = if resp.message.is_empty() {
                format!("`{}` failed", call.action)
            } else {
                resp.message.clone()
            };
            failed(milky_retcode(resp.retcode), message)
        }
    }

    async fn event(State(l): State<Arc<MilkyListener>>, mut req: Request) -> Response {
        let Some(bot) = l.bot() else {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "no bot is served here right now",
            )
                .into_response();
        };
        let wants_ws = req
            .headers()
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
        let sub = Subscription::new(bot.log.clone(), bot.log.head());
        if wants_ws {
            let config = crate::transport::app_ws_config(l.hub.settings.max_inbound_frame_bytes);
            let tasks = l.hub.tasks.clone();
            let l2 = l.clone();
            return upgrade(&mut req, &tasks, config, move |ws| {
                serve_ws(l2, bot, sub, ws)
            });
        }
        // SSE: one `milky_event` message per event, a comment as keep-alive.
        let stop = l.hub.draining.clone();
        let self_id = bot.self_id;
        let stream = futures::stream::unfold(
            (sub, Vec::new(), l),
            move |(mut sub, mut batch, l)| {
                let stop = stop.clone();
                async move {
                    loop {
                        if let Some(ev) = batch.pop() {
                            return Some((Ok::<_, std::convert::Infallible>(ev), (sub, batch, l)));
                        }
                        let mut got = Vec::new();
                        tokio::select! {
                            _ = stop.cancelled() => return None,
                            r = sub.next_batch(256, &mut got) => if let Err(gap) = r {
                                tracing::warn!(self_id, lost = gap.count(), "Milky SSE app fell behind; events lost");
                            },
                            _ = tokio::time::sleep(std::time::Duration::from_secs(15)) => {
                                return Some((Ok(Bytes::from_static(b": keep-alive\n\n")), (sub, batch, l)));
                            }
                        }
                        for e in got.iter().rev() {
                            if let Some(m) = event_from_v11(e.value(), self_id, &*l) {
                                batch.push(Bytes::from(format!(
                                    "event: milky_event\ndata: {m}\n\n"
                                )));
                            }
                        }
                    }
                }
            },
        );
        Response::builder()
            .header(header::CONTENT_TYPE, "text/event-stream")
            .header(header::CACHE_CONTROL, "no-cache")
            .body(Body::from_stream(stream))
            .expect("a static response builds")
    }

    async fn serve_ws(
        l: Arc<MilkyListener>,
        bot: Arc<crate::core::Bot>,
        mut sub: Subscription,
        ws: UpgradedWs,
    ) {
        let (mut sink, mut stream) = ws.split();
        let self_id = bot.self_id;
        let settings = &l.hub.settings;
        tracing::info!(self_id, "Milky app connected (event WebSocket)");
        let mut batch = Vec::new();
        let mut ping = tokio::time::interval_at(
            tokio::time::Instant::now() + settings.ping_interval,
            settings.ping_interval,
        );
        let mut last_heard = tokio::time::Instant::now();
        let (ours, why) = loop {
            tokio::select! {
                r = sub.next_batch(256, &mut batch) => {
                    if let Err(gap) = r {
                        tracing::warn!(self_id, lost = gap.count(), "Milky app fell behind; events lost");
                    }
                    let write = async {
                        for e in batch.drain(..) {
                            if let Some(m) = event_from_v11(e.value(), self_id, &*l) {
                                sink.feed(Message::Text(m.to_string().into())).await?;
                            }
                        }
                        sink.flush().await
                    };
                    // A Milky app that stops reading holds only its own task, and not for long.
                    match tokio::time::timeout(settings.write_timeout, write).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => break (None, String::from("write failed")),
                        Err(_) => break (
                            Some(crate::ws::close_frame(1008, "too slow: a write did not complete in time")),
                            format!("a write took over {} ms", settings.write_timeout.as_millis()),
                        ),
                    }
                }
                msg = stream.next() => match msg {
                    // Milky apps send nothing that means anything; a close ends it.
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break (None, String::from("closed by the app")),
                    Some(Ok(_)) => last_heard = tokio::time::Instant::now(),
                },
                _ = ping.tick() => {
                    if last_heard.elapsed() > 3 * settings.ping_interval {
                        break (Some(crate::ws::close_frame(1001, "no answer to pings")), String::from("silent: dead app"));
                    }
                    let sent = tokio::time::timeout(settings.write_timeout, sink.send(Message::Ping(Default::default()))).await;
                    if !matches!(sent, Ok(Ok(()))) {
                        break (None, String::from("ping write failed"));
                    }
                }
                _ = l.hub.draining.cancelled() => break (
                    Some(crate::ws::close_frame(1001, "gateway shutting down")),
                    String::from("gateway shutting down"),
                ),
            }
        };
        crate::ws::close_handshake(&mut sink, &mut stream, ours, settings.close_timeout, |_| {})
            .await;
        tracing::info!(self_id, reason = %why, "Milky app disconnected");
    }
}

pub use listen::router;

/// Opens a Milky implementation's `/event` as Server-Sent Events: a stream
/// of each `milky_event`'s data (an empty item for bytes that completed no
/// event), or why it could not be opened (and whether the implementation
/// refused it with an HTTP status).
pub async fn sse_connect(
    url: &str,
    headers: &[(http::HeaderName, String)],
) -> Result<futures::stream::BoxStream<'static, Result<String, String>>, (String, bool)> {
    use futures::StreamExt;
    let url = url
        .strip_prefix("ws://")
        .map(|rest| format!("http://{rest}"))
        .unwrap_or_else(|| url.to_owned());
    let mut req = http::Request::get(&url).header(http::header::ACCEPT, "text/event-stream");
    for (name, value) in headers {
        req = req.header(name, value);
    }
    let req = req
        .body(Full::new(Bytes::new()))
        .map_err(|e| (format!("cannot build the request: {e}"), false))?;
    let resp = client()
        .request(req)
        .await
        .map_err(|e| (e.to_string(), false))?;
    if resp.status() != http::StatusCode::OK {
        return Err((format!("refused with HTTP {}", resp.status()), true));
    }
    let body = resp.into_body().into_data_stream();
    let mut reader = SseReader::default();
    let events = body
        .map(move |chunk| match chunk {
            Ok(bytes) => Ok(reader.feed(&bytes)),
            Err(e) => Err(e.to_string()),
        })
        .flat_map(|r| {
            futures::stream::iter(match r {
                // A chunk without a whole event (a keep-alive comment) still
                // says the peer is there: an empty item.
                Ok(events) if events.is_empty() => vec![Ok(String::new())],
                Ok(events) => events.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(e) => vec![Err(e)],
            })
        });
    Ok(events.boxed())
}

/// Splits a Server-Sent Events byte stream into the data of its messages
/// (the `data:` lines of each, joined by newlines; comments and other
/// fields skipped). Bounded: a message over 16 MiB is dropped whole.
#[derive(Default)]
pub struct SseReader {
    line: Vec<u8>,
    data: String,
    has_data: bool,
    /// The current message outgrew the bound: skipped to its end.
    overflow: bool,
}

impl SseReader {
    const MAX: usize = 16 << 20;

    /// Reads `bytes`; the data of every message they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        for &b in bytes {
            if b != b'\n' {
                if self.line.len() < Self::MAX {
                    self.line.push(b);
                } else {
                    self.overflow = true;
                }
                continue;
            }
            let mut line = std::mem::take(&mut self.line);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.is_empty() {
                if self.has_data && !self.overflow {
                    out.push(std::mem::take(&mut self.data));
                } else if self.overflow {
                    tracing::warn!(max_bytes = Self::MAX, "SSE message over the bound dropped");
                }
                self.data.clear();
                self.has_data = false;
                self.overflow = false;
                continue;
            }
            let line = String::from_utf8_lossy(&line);
            if let Some(value) = line.strip_prefix("data:") {
                let value = value.strip_prefix(' ').unwrap_or(value);
                if self.data.len() + value.len() + 1 > Self::MAX {
                    self.overflow = true;
                    self.data.clear();
                }
                if !self.overflow {
                    if self.has_data {
                        self.data.push('\n');
                    }
                    self.data.push_str(value);
                }
                self.has_data = true;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_messages_are_split_at_blank_lines_across_chunks() {
        let mut r = SseReader::default();
        assert!(r
            .feed(b": keep-alive\n\nevent: milky_event\ndata: {\"a\":")
            .is_empty());
        assert_eq!(
            r.feed(b"1}\r\n\r\ndata: x\ndata: y\n\n"),
            vec!["{\"a\":1}", "x\ny"]
        );
        assert_eq!(event_url("http://h:1/"), "ws://h:1/event");
        // Over the bound: that message is dropped whole, the next one is read.
        let big = format!("data: {}\n", "x".repeat(1 << 20));
        for _ in 0..17 {
            assert!(r.feed(big.as_bytes()).is_empty());
        }
        assert!(r.feed(b"\n").is_empty(), "the outgrown message is dropped");
        assert_eq!(r.feed(b"data: next\n\n"), vec!["next"]);
    }
}
