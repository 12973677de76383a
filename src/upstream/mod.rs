//! Upstreams: what serves a bot's actions and produces its events.
//!
//! Two kinds implement the same contract: the embedded [`sandbox`] account,
//! and [`remote`] OneBot implementations reached over WebSocket (the gateway
//! dials them, or they dial the gateway).

pub mod remote;
pub mod sandbox;

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// Where upstreams put the events they produce.
pub trait EventSink: Send + Sync {
    /// Publishes one event of bot `self_id`.
    fn publish(&self, self_id: i64, event: Value);
}

/// How the dispatcher reaches a bot's upstream.
#[derive(Clone)]
pub enum UpstreamLink {
    /// The embedded account: actions are function calls.
    Sandbox(Arc<sandbox::Sandbox>),
    /// A OneBot implementation: actions are frames written to its socket.
    Remote(RemoteLink),
}

impl std::fmt::Debug for UpstreamLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sandbox(_) => f.write_str("Sandbox"),
            Self::Remote(r) => write!(f, "Remote(link {})", r.id),
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
