//! Meta events (`post_type` `meta_event`): lifecycle and heartbeat, and the
//! builders the gateway uses to speak for itself to apps.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::protocol::de;

/// `meta_event_type` `lifecycle`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lifecycle {
    /// Unix seconds.
    #[serde(default, deserialize_with = "de::i64_lenient")]
    pub time: i64,
    /// The bot.
    #[serde(default, deserialize_with = "de::i64_lenient")]
    pub self_id: i64,
    /// `enable`, `disable` (HTTP POST) or `connect` (WebSocket).
    pub sub_type: String,
    /// Every other field, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `meta_event_type` `heartbeat`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Unix seconds.
    #[serde(default, deserialize_with = "de::i64_lenient")]
    pub time: i64,
    /// The bot.
    #[serde(default, deserialize_with = "de::i64_lenient")]
    pub self_id: i64,
    /// The `get_status` object: `online`, `good`, and whatever the implementation adds.
    #[serde(default)]
    pub status: Value,
    /// Milliseconds until the next heartbeat.
    #[serde(default, deserialize_with = "de::i64_lenient")]
    pub interval: i64,
    /// Every other field, preserved.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Heartbeat {
    /// `status.online`, when the upstream reported it as a boolean.
    pub fn online(&self) -> Option<bool> {
        self.status.get("online").and_then(de::as_bool)
    }

    /// `status.good`, when the upstream reported it as a boolean.
    pub fn good(&self) -> Option<bool> {
        self.status.get("good").and_then(de::as_bool)
    }
}

/// A meta event.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaEvent {
    /// `lifecycle`
    Lifecycle(Lifecycle),
    /// `heartbeat`
    Heartbeat(Heartbeat),
}

/// The `lifecycle`/`connect` event an app must get first on every WebSocket
/// connection: NoneBot ignores everything until it has bound the socket to
/// this `self_id`.
pub fn lifecycle_connect(self_id: i64, time: i64) -> Value {
    json!({
        "time": time,
        "self_id": self_id,
        "post_type": "meta_event",
        "meta_event_type": "lifecycle",
        "sub_type": "connect",
    })
}

/// A `heartbeat` event; `status` is a `get_status` object (see [`status`]).
pub fn heartbeat(self_id: i64, time: i64, interval_ms: u64, status: Value) -> Value {
    json!({
        "time": time,
        "self_id": self_id,
        "post_type": "meta_event",
        "meta_event_type": "heartbeat",
        "status": status,
        "interval": interval_ms,
    })
}

/// A minimal `get_status` object: `{"online": online, "good": good}`.
pub fn status(online: bool, good: bool) -> Value {
    json!({ "online": online, "good": good })
}
