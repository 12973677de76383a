//! Test and demo peers: a minimal app client and a scripted fake OneBot
//! implementation. Used by the integration tests, the load generator and the
//! examples; also handy for trying the gateway without a real account.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A WebSocket app connection, as a framework would hold it.
pub struct AppClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// How long [`AppClient`] waits for a frame before failing.
pub const WAIT: Duration = Duration::from_secs(10);

impl AppClient {
    /// Connects to `url` with an optional Bearer token.
    ///
    /// # Errors
    /// The handshake error (an HTTP refusal carries its status).
    pub async fn connect(
        url: &str,
        token: Option<&str>,
    ) -> Result<Self, tokio_tungstenite::tungstenite::Error> {
        let mut req = url.into_client_request()?;
        if let Some(t) = token {
            req.headers_mut().insert(
                "Authorization",
                format!("Bearer {t}").parse().expect("valid header"),
            );
        }
        let (ws, _) = tokio_tungstenite::connect_async(req).await?;
        Ok(Self { ws })
    }

    /// Wraps an already-established socket.
    pub fn from_ws(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Self {
        Self { ws }
    }

    /// Sends a raw text frame.
    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.ws
            .send(Message::Text(Utf8Bytes::from(text.into())))
            .await
            .expect("send to gateway");
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.ws
            .send(Message::Binary(bytes.into()))
            .await
            .expect("send to gateway");
    }

    /// Sends an action frame; `echo: None` leaves the key out.
    pub async fn send_action(&mut self, action: &str, params: Value, echo: Option<Value>) {
        let mut frame = json!({"action": action, "params": params});
        if let Some(e) = echo {
            frame["echo"] = e;
        }
        self.send_text(frame.to_string()).await;
    }

    /// The next JSON frame (text), or `None` on close/timeout.
    pub async fn next_json(&mut self) -> Option<Value> {
        self.next_json_within(WAIT).await
    }

    /// The next JSON frame within `limit`.
    pub async fn next_json_within(&mut self, limit: Duration) -> Option<Value> {
        loop {
            let msg = tokio::time::timeout(limit, self.ws.next())
                .await
                .ok()??
                .ok()?;
            match msg {
                Message::Text(t) => return serde_json::from_str(&t).ok(),
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// The next text frame as it was sent, or `None` on close/timeout.
    pub async fn next_text(&mut self) -> Option<String> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .ok()??
                .ok()?;
            match msg {
                Message::Text(t) => return Some(t.to_string()),
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// The next frame that is not a heartbeat/lifecycle meta event, within [`WAIT`] in all.
    pub async fn next_non_meta(&mut self) -> Option<Value> {
        self.next_matching(|v| v.get("post_type").and_then(Value::as_str) != Some("meta_event"))
            .await
    }

    /// The next answer frame (no `post_type`), within [`WAIT`] in all.
    pub async fn next_response(&mut self) -> Option<Value> {
        self.next_matching(|v| v.get("post_type").is_none()).await
    }

    /// The next JSON frame for which `pred` holds; frames before it are
    /// skipped. Heartbeats do not extend the wait: the deadline is overall.
    pub async fn next_matching(&mut self, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let v = self.next_json_within(left).await?;
            if pred(&v) {
                return Some(v);
            }
        }
    }

    /// Sends an action and waits for its answer.
    pub async fn call(&mut self, action: &str, params: Value) -> Value {
        self.send_action(action, params, Some(json!("call"))).await;
        self.next_response().await.expect("an answer")
    }

    /// The next WebSocket message of any kind within [`WAIT`] (`None`: the
    /// socket ended or nothing came).
    pub async fn next_message(&mut self) -> Option<Message> {
        tokio::time::timeout(WAIT, self.ws.next()).await.ok()??.ok()
    }

    /// Waits for the close frame; returns its code and reason.
    pub async fn closed(&mut self) -> Option<(u16, String)> {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next()).await.ok()? {
                Some(Ok(Message::Close(frame))) => {
                    return frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                }
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    }

    /// Closes the connection.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// How the fake implementation answers an action: `Some(data)` for an ok
/// answer, `None` to stay silent (to test timeouts).
pub type Script = Arc<dyn Fn(&str, &Value) -> Option<Value> + Send + Sync>;

/// A scripted OneBot implementation serving a forward WS endpoint, like
/// NapCat or go-cqhttp would: it sends `lifecycle/connect` and heartbeats,
/// answers actions by its script, and pushes events on demand.
pub struct FakeImplementation {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its account.
    pub self_id: i64,
    events: broadcast::Sender<Utf8Bytes>,
    kill: broadcast::Sender<()>,
    /// Actions received so far.
    pub actions_seen: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl FakeImplementation {
    /// Starts one on 127.0.0.1 (port 0), answering every action with
    /// `{"echoed_action": name, "params": params}` data.
    pub async fn start(self_id: i64) -> Self {
        Self::start_with(
            self_id,
            Arc::new(|action, params| Some(json!({"echoed_action": action, "params": params}))),
        )
        .await
    }

    /// Starts one with a custom script.
    pub async fn start_with(self_id: i64, script: Script) -> Self {
        Self::start_at("127.0.0.1:0", self_id, script).await
    }

    /// Starts one on a given address (to restart at the same port).
    pub async fn start_at(address: &str, self_id: i64, script: Script) -> Self {
        let listener = TcpListener::bind(address)
            .await
            .expect("bind fake implementation");
        let addr = listener.local_addr().expect("addr");
        let (events, _) = broadcast::channel(65_536);
        let (kill, _) = broadcast::channel(1);
        let actions_seen = Arc::new(AtomicU64::new(0));
        let (ev, kl, seen) = (events.clone(), kill.clone(), actions_seen.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (ev, mut kill_rx, seen, script) =
                    (ev.subscribe(), kl.subscribe(), seen.clone(), script.clone());
                tokio::spawn(async move {
                    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = serve_fake(ws, self_id, ev, seen, script) => {}
                        _ = kill_rx.recv() => {}
                    }
                });
            }
        });
        Self {
            addr,
            self_id,
            events,
            kill,
            actions_seen,
            task,
        }
    }

    /// Its forward WS URL.
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// Pushes an event (JSON) to every connected gateway.
    pub fn push(&self, event: &Value) {
        let _ = self.events.send(Utf8Bytes::from(event.to_string()));
    }

    /// Drops every connection at once (as a crash would) and stops listening.
    pub fn kill(self) {
        let _ = self.kill.send(());
        self.task.abort();
    }
}

async fn serve_fake(
    ws: WebSocketStream<TcpStream>,
    self_id: i64,
    mut events: broadcast::Receiver<Utf8Bytes>,
    seen: Arc<AtomicU64>,
    script: Script,
) {
    let (mut sink, mut stream) = ws.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Utf8Bytes>(4096);
    let hello = json!({"time": 0, "self_id": self_id, "post_type": "meta_event", "meta_event_type": "lifecycle", "sub_type": "connect"});
    if sink
        .send(Message::Text(hello.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    let reader = async {
        while let Some(Ok(msg)) = stream.next().await {
            let Message::Text(text) = msg else { continue };
            let Ok(req) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            seen.fetch_add(1, Ordering::Relaxed);
            let action = req
                .get("action")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let params = req.get("params").cloned().unwrap_or(Value::Null);
            if let Some(data) = script(&action, &params) {
                let mut resp = json!({"status": "ok", "retcode": 0, "data": data, "message": "", "wording": ""});
                if let Some(echo) = req.get("echo") {
                    resp["echo"] = echo.clone();
                }
                if out_tx
                    .send(Utf8Bytes::from(resp.to_string()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    };
    let writer = async {
        let mut heartbeat = tokio::time::interval(Duration::from_secs(5));
        loop {
            let msg = tokio::select! {
                Some(t) = out_rx.recv() => t,
                Ok(t) = events.recv() => t,
                _ = heartbeat.tick() => Utf8Bytes::from(json!({"time": 0, "self_id": self_id, "post_type": "meta_event", "meta_event_type": "heartbeat", "interval": 5000, "status": {"online": true, "good": true}}).to_string()),
            };
            if sink.send(Message::Text(msg)).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = reader => {}
        _ = writer => {}
    }
}

/// A group message event as an implementation would post it.
pub fn group_message(self_id: i64, message_id: i64, text: &str) -> Value {
    json!({
        "time": 1_700_000_000, "self_id": self_id, "post_type": "message", "message_type": "group",
        "sub_type": "normal", "message_id": message_id, "group_id": 100, "user_id": 20001,
        "message": [{"type": "text", "data": {"text": text}}], "raw_message": text, "font": 0,
        "sender": {"user_id": 20001, "nickname": "alice", "card": "", "role": "member"},
    })
}
