use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use onebot_gateway::testkit::AppClient;
use onebot_gateway::{Config, Gateway};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Starts a gateway from TOML; every `[[listen]]` in it should use port 0.
pub async fn start(toml: &str) -> Gateway {
    let config = Config::parse(toml, "test").expect("test config is valid");
    Gateway::start(config).await.expect("gateway starts")
}

/// The sandbox gateway with a token, on port 0.
pub async fn sandbox(token: &str) -> Gateway {
    start(&format!(
        "[[listen]]\naddress = \"127.0.0.1:0\"\naccess_token = \"{token}\"\n"
    ))
    .await
}

pub fn ws_url(gw: &Gateway, path: &str) -> String {
    format!("ws://{}{}", gw.listen_addrs[0], path)
}

pub async fn app(gw: &Gateway, path: &str, token: &str) -> AppClient {
    let mut app = AppClient::connect(&ws_url(gw, path), Some(token))
        .await
        .expect("app connects");
    let first = app.next_json().await.expect("first frame");
    assert_eq!(
        first["meta_event_type"], "lifecycle",
        "first frame is lifecycle: {first}"
    );
    app
}

/// Waits until `cond` holds, checking every 10 ms, for at most 10 s.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    eventually_async(what, || std::future::ready(cond())).await
}

/// [`eventually`] for a condition that takes a request to check.
pub async fn eventually_async<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..1000 {
        if cond().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// An upstream the test drives by hand: the gateway dials it (`type = "ws"`),
/// and each accepted connection is handed to the test.
pub struct ManualUpstream {
    pub listener: TcpListener,
}

impl ManualUpstream {
    pub async fn bind() -> Self {
        Self {
            listener: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/", self.listener.local_addr().unwrap())
    }

    /// Accepts the gateway's connection and says hello as bot `self_id`.
    pub async fn accept(&self, self_id: i64) -> WebSocketStream<TcpStream> {
        let (stream, _) = tokio::time::timeout(Duration::from_secs(10), self.listener.accept())
            .await
            .expect("gateway dials the upstream")
            .unwrap();
        let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
        let hello = json!({"time": 1, "self_id": self_id, "post_type": "meta_event", "meta_event_type": "lifecycle", "sub_type": "connect"});
        ws.send(Message::Text(hello.to_string().into()))
            .await
            .unwrap();
        ws
    }
}

/// Reads the next action frame the gateway sent to an upstream.
pub async fn next_action<S>(ws: &mut WebSocketStream<S>) -> Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("an action arrives")
            .expect("open")
            .unwrap();
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

/// Answers the action `req` with `status: ok` and `data`, as an implementation would.
pub async fn answer_ok(ws: &mut WebSocketStream<TcpStream>, req: &Value, data: Value) {
    send_json(
        ws,
        json!({"status": "ok", "retcode": 0, "data": data, "echo": req["echo"]}),
    )
    .await;
}

pub async fn send_json(ws: &mut WebSocketStream<TcpStream>, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// A plain HTTP GET (HTTP/1.1, Connection: close): status and JSON body.
pub async fn http_get(addr: std::net::SocketAddr, path: &str, token: Option<&str>) -> (u16, Value) {
    http_request(addr, "GET", path, token, None).await
}

/// Plays someone in the sandbox world: `POST /sandbox/{bot}/{route}` with a
/// JSON body, which must succeed; the answer's `data`.
pub async fn inject(gw: &Gateway, bot: i64, route: &str, body: Value) -> Value {
    let (status, answer) = http_request(
        gw.listen_addrs[0],
        "POST",
        &format!("/sandbox/{bot}/{route}"),
        None,
        Some(("application/json", &body.to_string())),
    )
    .await;
    assert_eq!(status, 200, "{route} on {bot}: {answer}");
    answer["data"].clone()
}

/// A plain HTTP request with an optional (content type, body); JSON answer.
pub async fn http_request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, &str)>,
) -> (u16, Value) {
    let (status, text) = http_text(addr, method, path, token, body).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A plain HTTP request; the answer's status and body text.
pub async fn http_text(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, &str)>,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.expect("connect for http");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let (ctype, body) = body.unwrap_or(("", ""));
    let ctype = if ctype.is_empty() {
        String::new()
    } else {
        format!("Content-Type: {ctype}\r\n")
    };
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}{ctype}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_owned())
}

/// A gateway process whose forward address is read from its log.
pub struct GatewayChild {
    pub child: Child,
    pub addr: std::net::SocketAddr,
    /// Every line it logged so far (ANSI colours stripped).
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl GatewayChild {
    pub async fn spawn(config: &std::path::Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_onebot-gateway"))
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "onebot_gateway=info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("gateway binary starts");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let lines = log.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let plain = strip_ansi(&line);
                lines.lock().unwrap().push(plain.clone());
                if plain.contains("listening for apps") {
                    let addr = plain
                        .split("addr=")
                        .nth(1)
                        .and_then(|s| s.split_whitespace().next())
                        .map(str::to_owned);
                    if let (Some(tx), Some(addr)) = (tx.take(), addr) {
                        let _ = tx.send(addr);
                    }
                }
            }
        });
        // Owned before the wait, so a failed start still kills the process.
        let mut me = Self {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
            log,
        };
        me.addr = tokio::time::timeout(Duration::from_secs(20), rx)
            .await
            .expect("the gateway logs its address")
            .unwrap()
            .parse()
            .unwrap();
        me
    }

    /// The process's peak resident memory so far (VmHWM), bytes.
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .expect("VmHWM in /proc/PID/status")
            * 1024
    }

    pub fn terminate(&self) {
        rustix::process::kill_process(
            rustix::process::Pid::from_child(&self.child),
            rustix::process::Signal::TERM,
        )
        .unwrap();
    }
}

impl Drop for GatewayChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
