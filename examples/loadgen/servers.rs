//! The two things under test, each in its own multi-threaded runtime whose
//! threads are marked for allocation counting: the gateway (in-process,
//! dialling the upstream as `[[upstream]] type = "ws"`), and the raw
//! baseline, a minimal tokio-tungstenite relay that reads the same
//! upstream's frames and broadcasts each one, untouched, to N sockets with
//! batched writes (feed + flush).

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use onebot_gateway::{Config, Gateway};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_util::sync::CancellationToken;

use crate::upstream::{Upstream, SELF_ID};

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// onebot-gateway.
    Gateway,
    /// The minimal relay.
    Raw,
}

impl Kind {
    /// For reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Gateway => "gateway",
            Kind::Raw => "raw",
        }
    }
}

/// Extra options of a gateway run.
#[derive(Debug, Clone, Copy, Default)]
pub struct GatewayOptions {
    /// Apps get the `message` field as a CQ string (a conversion per event).
    pub string_format: bool,
    /// Events go through the durable journal (`[journal]`, a fresh SQLite file).
    pub journal: bool,
    /// Delivery confirmation (Ping/Pong after write batches) practically off:
    /// `confirm_interval_ms` of an hour, to measure what confirmation costs.
    pub no_confirm: bool,
}

impl GatewayOptions {
    /// How the options show in a row's name.
    pub fn label(&self) -> &'static str {
        match (self.journal, self.no_confirm) {
            (true, _) => ", journal on",
            (false, true) => ", confirmation off",
            (false, false) => "",
        }
    }
}

/// A running server.
pub struct Server {
    rt: Option<Runtime>,
    _journal_dir: Option<tempfile::TempDir>,
    /// The URL apps connect to.
    pub url: String,
    gateway: Option<Gateway>,
    stop: CancellationToken,
}

fn server_runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("server")
        .on_thread_start(crate::alloc::mark_server_thread)
        .build()
        .expect("server runtime")
}

/// The gateway's configuration for a run against `upstream`.
pub fn gateway_toml(
    listen: &str,
    upstream_url: &str,
    opts: GatewayOptions,
    journal: Option<&std::path::Path>,
) -> String {
    let format = if opts.string_format {
        "string"
    } else {
        "array"
    };
    let journal = journal.map_or(String::new(), |p| {
        format!("[journal]\npath = {:?}\n", p.display().to_string())
    });
    let confirm = if opts.no_confirm {
        "[gateway]\nconfirm_interval_ms = 3600000\n"
    } else {
        ""
    };
    format!(
        r#"{confirm}{journal}
[[listen]]
address = "{listen}"
# `idle` connects more apps than the default cap of 10 000.
max_connections = 1000000
[listen.app]
post_format = "{format}"

[[upstream]]
type = "ws"
url = "{upstream_url}"
self_id = {SELF_ID}
"#
    )
}

impl Server {
    /// Starts `kind` against `upstream` and waits until it is connected to it.
    pub fn start(kind: Kind, upstream: &Upstream, opts: GatewayOptions) -> Result<Self, String> {
        let rt = server_runtime();
        let stop = CancellationToken::new();
        let before = upstream.live();
        let journal_dir = match (kind, opts.journal) {
            (Kind::Gateway, true) => Some(tempfile::tempdir().map_err(|e| e.to_string())?),
            _ => None,
        };
        let journal = journal_dir
            .as_ref()
            .map(|d| d.path().join("journal.sqlite3"));
        let (url, gateway) = match kind {
            Kind::Gateway => {
                let toml = gateway_toml("127.0.0.1:0", &upstream.url(), opts, journal.as_deref());
                let config = Config::parse(&toml, "loadgen").map_err(|e| e.to_string())?;
                let gw = rt
                    .block_on(Gateway::start(config))
                    .map_err(|e| e.to_string())?;
                (format!("ws://{}/", gw.listen_addrs[0]), Some(gw))
            }
            Kind::Raw => {
                let addr = rt.block_on(start_raw(upstream.url(), stop.clone()))?;
                (format!("ws://{addr}/"), None)
            }
        };
        upstream.wait_live(before + 1, Duration::from_secs(10))?;
        Ok(Self {
            rt: Some(rt),
            _journal_dir: journal_dir,
            url,
            gateway,
            stop,
        })
    }

    /// Stops it and its runtime.
    pub fn stop(mut self) {
        self.stop.cancel();
        if let Some(rt) = self.rt.take() {
            if let Some(gw) = self.gateway.take() {
                rt.block_on(async {
                    let _ = tokio::time::timeout(Duration::from_secs(3), gw.shutdown()).await;
                });
            }
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

async fn start_raw(
    upstream_url: String,
    stop: CancellationToken,
) -> Result<std::net::SocketAddr, String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // Large enough that no receiver lags within one burst.
    let (tx, _) = broadcast::channel::<Utf8Bytes>(1 << 16);
    // The same socket settings as the gateway's upstream links.
    let config = onebot_gateway::transport::upstream_ws_config(16 * 1024 * 1024);
    let (ws, _) =
        tokio_tungstenite::connect_async_with_config(upstream_url.as_str(), Some(config), true)
            .await
            .map_err(|e| format!("raw relay: connect upstream: {e}"))?;
    let (_up_sink, mut up) = ws.split();
    let feed = tx.clone();
    let s = stop.clone();
    tokio::spawn(async move {
        loop {
            let msg = tokio::select! {
                m = up.next() => m,
                _ = s.cancelled() => return,
            };
            match msg {
                Some(Ok(Message::Text(t))) => {
                    let _ = feed.send(t);
                }
                Some(Ok(_)) => {}
                _ => return,
            }
        }
    });
    tokio::spawn(async move {
        loop {
            let (stream, _) = tokio::select! {
                a = listener.accept() => match a { Ok(a) => a, Err(_) => continue },
                _ = stop.cancelled() => return,
            };
            let _ = stream.set_nodelay(true);
            let mut rx = tx.subscribe();
            let stop = stop.clone();
            tokio::spawn(async move {
                let config = onebot_gateway::transport::app_ws_config(16 * 1024 * 1024);
                let Ok(ws) =
                    tokio_tungstenite::accept_async_with_config(stream, Some(config)).await
                else {
                    return;
                };
                let (mut sink, mut stream) = ws.split();
                if sink
                    .send(Message::Text("{\"hello\":1}".into()))
                    .await
                    .is_err()
                {
                    return;
                }
                let writer = async {
                    loop {
                        let first = match rx.recv().await {
                            Ok(t) => t,
                            Err(broadcast::error::RecvError::Lagged(_)) => continue,
                            Err(_) => return,
                        };
                        if sink.feed(Message::Text(first)).await.is_err() {
                            return;
                        }
                        for _ in 1..64 {
                            match rx.try_recv() {
                                Ok(t) => {
                                    if sink.feed(Message::Text(t)).await.is_err() {
                                        return;
                                    }
                                }
                                Err(_) => break,
                            }
                        }
                        if sink.flush().await.is_err() {
                            return;
                        }
                    }
                };
                // Reading keeps close frames and pings handled.
                let reader = async { while let Some(Ok(_)) = stream.next().await {} };
                tokio::select! {
                    _ = writer => {}
                    _ = reader => {}
                    _ = stop.cancelled() => {}
                }
            });
        }
    });
    Ok(addr)
}
