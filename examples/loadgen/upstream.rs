//! A fast scripted OneBot implementation (forward WS server), run on its own
//! thread and single-threaded runtime. The gateway dials it (`[[upstream]]
//! type = "ws"`); the raw relay and the direct-RTT client dial it too, so
//! every comparison uses the same producer and the same answerer.
//!
//! It answers every action with a fixed `ok` answer carrying the action's
//! echo, and on command produces ~330-byte group message events, either as a
//! burst (as fast as the socket takes them) or at a fixed rate. Each event
//! carries `"lg_ts"`: nanoseconds since [`epoch`] when it was written.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures::{FutureExt, SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// The bot the upstream serves.
pub const SELF_ID: i64 = 10001;

const TEXT: &str = "hello, loadgen";

/// The shared time origin of `lg_ts` (everything runs in one process).
pub fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds since [`epoch`].
pub fn now_ns() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

/// One group message event, about 330 bytes, `lg_ts` last.
pub fn event_text(seq: u64, ts_ns: u64) -> String {
    format!(
        r#"{{"time":1700000000,"self_id":{SELF_ID},"post_type":"message","message_type":"group","sub_type":"normal","message_id":{seq},"group_id":100200300,"user_id":20001,"message":[{{"type":"text","data":{{"text":"{TEXT}"}}}}],"raw_message":"{TEXT}","sender":{{"user_id":20001,"nickname":"alice","role":"member"}},"lg_ts":{ts_ns}}}"#
    )
}

/// What to produce.
#[derive(Debug, Clone, Copy)]
pub enum Produce {
    /// `count` events, written in batches as fast as the socket takes them.
    Burst { count: u64 },
    /// `count` events, one every `every`.
    Rate { count: u64, every: Duration },
}

/// A running upstream.
pub struct Upstream {
    /// Where it listens.
    pub addr: SocketAddr,
    conns: Arc<Mutex<Vec<mpsc::UnboundedSender<Produce>>>>,
    live: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Upstream {
    /// Starts one on 127.0.0.1, port 0.
    pub fn start() -> Self {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind upstream");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let addr = std_listener.local_addr().expect("addr");
        let conns: Arc<Mutex<Vec<mpsc::UnboundedSender<Produce>>>> = Arc::default();
        let live = Arc::new(AtomicUsize::new(0));
        let (stop, stop_rx) = oneshot::channel::<()>();
        let (c, l) = (conns.clone(), live.clone());
        let thread = std::thread::Builder::new()
            .name("upstream".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("upstream runtime");
                rt.block_on(async move {
                    let listener = TcpListener::from_std(std_listener).expect("listener");
                    let accept = async {
                        loop {
                            let Ok((stream, _)) = listener.accept().await else {
                                continue;
                            };
                            let _ = stream.set_nodelay(true);
                            let (tx, rx) = mpsc::unbounded_channel();
                            c.lock().unwrap().push(tx);
                            let l = l.clone();
                            tokio::spawn(async move {
                                // A small read buffer: tungstenite zeroes the whole spare
                                // buffer before each read, so the 128 KiB default would
                                // add a 128 KiB memset to every round trip.
                                let config = WebSocketConfig::default().read_buffer_size(8 * 1024);
                                if let Ok(ws) = tokio_tungstenite::accept_async_with_config(
                                    stream,
                                    Some(config),
                                )
                                .await
                                {
                                    l.fetch_add(1, Ordering::SeqCst);
                                    serve(ws, rx).await;
                                    l.fetch_sub(1, Ordering::SeqCst);
                                }
                            });
                        }
                    };
                    tokio::select! {
                        _ = accept => {}
                        _ = stop_rx => {}
                    }
                });
                // Dropping the runtime closes every connection.
            })
            .expect("upstream thread");
        Self {
            addr,
            conns,
            live,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Its forward WS URL.
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// Connections with a completed WebSocket handshake.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` connections are up.
    pub fn wait_live(&self, n: usize, limit: Duration) -> Result<(), String> {
        let until = Instant::now() + limit;
        while self.live() < n {
            if Instant::now() > until {
                return Err(format!(
                    "upstream: {} of {n} connections after {limit:?}",
                    self.live()
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    }

    /// Tells every live connection to produce events.
    pub fn produce(&self, what: Produce) {
        self.conns.lock().unwrap().retain(|c| c.send(what).is_ok());
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(borrow)]
    echo: Option<&'a RawValue>,
}

async fn serve(
    ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    mut jobs: mpsc::UnboundedReceiver<Produce>,
) {
    let (mut sink, mut stream) = ws.split();
    let hello = format!(
        r#"{{"time":1700000000,"self_id":{SELF_ID},"post_type":"meta_event","meta_event_type":"lifecycle","sub_type":"connect"}}"#
    );
    if sink.send(Message::Text(hello.into())).await.is_err() {
        return;
    }
    let (answers_tx, mut answers) = mpsc::unbounded_channel::<Utf8Bytes>();
    let reader = async {
        while let Some(Ok(msg)) = stream.next().await {
            let Message::Text(text) = msg else { continue };
            let echo = serde_json::from_str::<Request<'_>>(&text)
                .ok()
                .and_then(|r| r.echo.map(|e| e.get().to_owned()))
                .unwrap_or_else(|| "null".to_owned());
            let answer = format!(
                r#"{{"status":"ok","retcode":0,"data":{{"message_id":123456}},"message":"","wording":"","echo":{echo}}}"#
            );
            if answers_tx.send(answer.into()).is_err() {
                return;
            }
        }
    };
    let writer = async {
        // (what, events sent so far, start time)
        let mut job: Option<(Produce, u64, tokio::time::Instant)> = None;
        let mut seq = 0u64;
        let mut dirty = false;
        loop {
            // Answers first (drained and batched), then a slice of a burst.
            while let Some(Some(a)) = answers.recv().now_or_never() {
                if sink.feed(Message::Text(a)).await.is_err() {
                    return;
                }
                dirty = true;
            }
            if let Some((Produce::Burst { count }, sent, _)) = job.as_mut() {
                let end = (*sent + 64).min(*count);
                while *sent < end {
                    seq += 1;
                    let text = event_text(seq, now_ns());
                    if sink.feed(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                    *sent += 1;
                }
                dirty = true;
                if *sent >= *count {
                    job = None;
                }
            }
            if dirty {
                if sink.flush().await.is_err() {
                    return;
                }
                dirty = false;
            }
            if matches!(job, Some((Produce::Burst { .. }, _, _))) {
                continue;
            }
            let due = match job {
                Some((Produce::Rate { every, .. }, sent, start)) => {
                    Some(start + every * sent as u32)
                }
                _ => None,
            };
            tokio::select! {
                Some(a) = answers.recv() => {
                    if sink.feed(Message::Text(a)).await.is_err() {
                        return;
                    }
                    dirty = true;
                }
                Some(what) = jobs.recv(), if job.is_none() => {
                    job = Some((what, 0, tokio::time::Instant::now()));
                }
                _ = tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)), if due.is_some() => {
                    seq += 1;
                    let text = event_text(seq, now_ns());
                    if sink.feed(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                    dirty = true;
                    if let Some((Produce::Rate { count, .. }, sent, _)) = job.as_mut() {
                        *sent += 1;
                        if *sent >= *count {
                            job = None;
                        }
                    }
                }
                else => return,
            }
        }
    };
    tokio::select! {
        _ = reader => {}
        _ = writer => {}
    }
}
