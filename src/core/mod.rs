//! The core: bots, app sessions, the event bus and the action dispatcher.
//!
//! Nothing here knows about WebSocket or HTTP framing: transports turn sockets
//! into [`AppCtx`]s and upstream links, and move frames through the types here.

pub mod alerts;
pub mod bus;
pub mod dispatcher;
pub mod ids;
pub mod journal;
pub mod latency;
pub mod links;
pub mod pool;
pub mod registry;
pub mod serve;

pub use bus::{BusEvent, EventLog, PostFormat, Retention, Subscription};
pub use dispatcher::{DispatchSettings, Dispatcher};
pub use links::{Link, LinkKind, LinkState, OnDuplicate};
pub use registry::{
    AppCtx, AppOptions, AppStats, AsyncReply, Bot, DialStatus, Health, IdentityClaim, LagPolicy,
    Registry, Role, SessionOnDuplicate,
};

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Timings and limits of sessions (apps and upstreams).
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// `heartbeat` meta event interval (zero: none).
    pub heartbeat_interval: Duration,
    /// WS ping interval; a peer silent for three intervals is dropped.
    pub ping_interval: Duration,
    /// Handshake timeout.
    pub handshake_timeout: Duration,
    /// Longest a write to one app may take before it is dropped as too slow.
    pub write_timeout: Duration,
    /// Answers queued per app.
    pub app_queue: usize,
    /// Largest inbound frame.
    pub max_inbound_frame_bytes: usize,
    /// Grace period on shutdown.
    pub shutdown_grace: Duration,
    /// How long a closing handshake may take before TCP is dropped.
    pub close_timeout: Duration,
    /// How long the active link has to answer a probe when a rival arrives.
    pub link_probe: Duration,
    /// Least spacing of the Pings that confirm what an app has read.
    pub confirm_interval: Duration,
}

/// What every session and transport shares: the registry, the dispatcher,
/// the settings and the shutdown signal.
#[derive(Debug)]
pub struct Hub {
    /// Bots and apps.
    pub registry: Arc<Registry>,
    /// Action routing.
    pub dispatcher: Arc<Dispatcher>,
    /// Timings and limits.
    pub settings: SessionSettings,
    /// Cancelled first on shutdown: listeners stop accepting, dialled
    /// upstreams stop redialling, and every upstream link closes with a
    /// handshake, publishing what was still on the wire.
    pub draining: CancellationToken,
    /// Cancelled when the gateway closes its app sessions (after draining).
    pub shutdown: CancellationToken,
    /// Every session task, so shutdown can wait for their close frames.
    pub tasks: TaskTracker,
}
