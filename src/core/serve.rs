//! The contract between core and whatever serves a bot (`upstream`): core
//! sends actions and takes events through these types and never names a
//! concrete upstream, so dependencies point down.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::protocol::action::Action;
use crate::protocol::Response;

/// Where upstreams put the events they produce.
pub trait EventSink: Send + Sync {
    /// Publishes one event of bot `self_id`.
    fn publish(&self, self_id: i64, event: Value);
}

/// An upstream inside the gateway's process (the sandbox): an action is a
/// function call, answered at once.
pub trait LocalUpstream: Send + Sync {
    /// Serves one action of bot `self_id`, its params parsed already.
    fn call(&self, self_id: i64, action: &Action) -> Response;
}

/// An implementation of another protocol (Milky), reached through the
/// upstream layer's translation: each action is one request to it, answered
/// asynchronously; the dispatcher applies the action timeout.
pub trait Bridge: Send + Sync {
    /// Serves one action of the bot, its params parsed already.
    fn call<'a>(&'a self, action: &'a Action) -> BoxFuture<'a, Response>;
}

/// An implementation's request/response API over HTTP (Milky's
/// `POST /api/:api`); transport implements it, the upstream layer calls it.
pub trait ApiCaller: Send + Sync {
    /// POSTs the JSON `body` to `api`; the HTTP status and the response body,
    /// or why no response came.
    fn post(
        &self,
        api: &str,
        body: Vec<u8>,
    ) -> BoxFuture<'static, Result<(u16, bytes::Bytes), String>>;
    /// Where it goes (for logs and `/status`), secrets masked.
    fn peer(&self) -> String;
}

/// How the dispatcher reaches a bot's upstream.
#[derive(Clone)]
pub enum UpstreamLink {
    /// An upstream in this process: actions are function calls.
    Local(Arc<dyn LocalUpstream>),
    /// A OneBot implementation: actions are frames written to its socket.
    Remote(RemoteLink),
    /// An implementation of another protocol: actions are translated calls.
    Bridge(Arc<dyn Bridge>),
}

impl std::fmt::Debug for UpstreamLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Local(_) => f.write_str("Local"),
            Self::Remote(r) => write!(f, "Remote(link {})", r.id),
            Self::Bridge(_) => f.write_str("Bridge"),
        }
    }
}

/// The sending half of a connected implementation.
#[derive(Clone, Debug)]
pub struct RemoteLink {
    /// The link's id: its answers are accepted only for actions sent on it,
    /// and losing it fails exactly those actions.
    pub id: u64,
    /// Frames to write to the implementation's API (or Universal) socket.
    pub frames: mpsc::Sender<Utf8Bytes>,
}
