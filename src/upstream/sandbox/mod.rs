//! The sandbox: an embedded simulated account that serves every documented
//! action, persists its world in SQLite, and produces the notices.
//!
//! - [`world`]: the world description (bots, people, friends, groups), built in or from a file.
//! - [`store`]: the SQLite store and the per-operation context with shared lookups.
//! - [`actions`]: every action by name.
//! - [`inject`]: the HTTP API that plays the other people in the world.
//! - [`cli`]: the `onebot-gateway sandbox ...` commands that call that API.

pub mod actions;
pub mod cli;
pub mod inject;
pub mod params;
pub mod store;
pub mod world;

use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use serde_json::{json, Value};

use super::{EventSink, LocalUpstream};
use crate::protocol::action::Action;
use crate::protocol::{retcode, Response};
use params::{Fail, Out};
use store::Ctx;

/// Where the sandbox keeps its world.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxConfig {
    /// SQLite file path, or `:memory:`.
    pub store: String,
    /// Optional world file (TOML or JSON) describing bots, friends and groups.
    /// It seeds the bots the store does not have yet; see docs/SANDBOX.md.
    pub world: Option<std::path::PathBuf>,
    /// The built-in world's bot id (instead of 10000); only without `world`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub self_id: Option<i64>,
    /// The built-in world's bot nickname (instead of "sandbox"); only without `world`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
    /// The only folder local files (`file://`, paths) are read from; default
    /// `files/` next to the store, or a temporary folder for `:memory:`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files_dir: Option<std::path::PathBuf>,
}

impl SandboxConfig {
    /// `files_dir`, or its default.
    pub fn files_dir(&self) -> std::path::PathBuf {
        if let Some(dir) = &self.files_dir {
            return dir.clone();
        }
        if self.store == ":memory:" {
            return std::env::temp_dir().join("onebot-gateway-sandbox-files");
        }
        std::path::Path::new(&self.store)
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join("files")
    }
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            store: String::from(":memory:"),
            world: None,
            self_id: None,
            nickname: None,
            files_dir: None,
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
    /// The world file could not be read or is inconsistent.
    #[error("sandbox world file {path}: {reason}")]
    World {
        /// The configured path.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// The embedded account(s).
pub struct Sandbox {
    events: Arc<dyn EventSink>,
    db: Mutex<Connection>,
    bots: Vec<i64>,
    files: store::FilesDir,
}

impl Sandbox {
    /// Opens (or creates) the world.
    ///
    /// # Errors
    /// [`SandboxError::World`] for a bad world file, [`SandboxError::Store`]
    /// when the store cannot be opened, is not a database or is read-only.
    pub fn open(
        config: &SandboxConfig,
        events: Arc<dyn EventSink>,
    ) -> Result<Arc<Self>, SandboxError> {
        let world = match &config.world {
            Some(path) => {
                let error = |reason: String| SandboxError::World {
                    path: path.display().to_string(),
                    reason,
                };
                if config.self_id.is_some() || config.nickname.is_some() {
                    return Err(error(
                        "`self_id`/`nickname` in [sandbox] only rename the built-in world's bot; \
                         set them in the world file instead"
                            .into(),
                    ));
                }
                world::World::load(path).map_err(error)?
            }
            None => {
                let mut w = world::World::default_world();
                if let Some(id) = config.self_id {
                    w.bots[0].self_id = id;
                }
                if let Some(nick) = &config.nickname {
                    w.bots[0].nickname = nick.clone();
                }
                w.validate().map_err(|reason| SandboxError::World {
                    path: String::from("(built-in)"),
                    reason,
                })?;
                w
            }
        };
        let store_err = |reason: String| SandboxError::Store {
            path: config.store.clone(),
            reason,
        };
        let conn = store::open(&config.store, &world).map_err(store_err)?;
        let bots = store::bot_ids(&conn).map_err(|e| store_err(e.to_string()))?;
        let files = store::FilesDir::open(&config.files_dir()).map_err(store_err)?;
        Ok(Arc::new(Self {
            events,
            db: Mutex::new(conn),
            bots,
            files,
        }))
    }

    /// The ids of the bots this sandbox serves.
    pub fn self_ids(&self) -> Vec<i64> {
        self.bots.clone()
    }

    /// Serves one action given by name and JSON params, read the way the
    /// dispatcher reads them (for callers holding the sandbox itself).
    pub fn call(&self, self_id: i64, action: &str, params: &Value) -> Response {
        match crate::protocol::action::parse(action, params) {
            Ok(Some(typed)) => self.serve(self_id, &typed),
            Ok(None) => Fail {
                retcode: retcode::NOT_FOUND,
                message: format!("unsupported action `{action}`"),
            }
            .response(),
            Err(e) => Fail::from(e).response(),
        }
    }

    /// Serves one typed action of bot `self_id`.
    pub fn serve(&self, self_id: i64, action: &Action) -> Response {
        if let Action::SetRestart(_) = action {
            // The standard answers `async`: the sandbox has nothing to restart
            // (its state is all in the store), so the restart is immediate.
            return if self.bots.contains(&self_id) {
                Response::accepted_async()
            } else {
                Fail::unknown("bot", self_id).response()
            };
        }
        let result = self.run(self_id, |ctx| {
            ctx.next("packet_received")?;
            actions::dispatch(ctx, action)
        });
        match result {
            Ok(data) => Response::ok(data),
            Err(f) => f.response(),
        }
    }

    /// Runs one operation of bot `self_id` in a transaction; commits and
    /// publishes its events on success, rolls everything back on failure.
    ///
    /// # Errors
    /// The operation's [`Fail`], or `unknown bot N`.
    pub fn run<T>(&self, self_id: i64, op: impl FnOnce(&mut Ctx<'_>) -> Out<T>) -> Out<T> {
        if !self.bots.contains(&self_id) {
            return Err(Fail::unknown("bot", self_id));
        }
        let events = {
            let conn = self.db.lock().unwrap_or_else(|e| e.into_inner());
            let tx = conn.unchecked_transaction()?;
            let mut ctx = Ctx::new(&conn, self_id, &self.files);
            let out = op(&mut ctx)?;
            if !ctx.events.is_empty() {
                ctx.add("packet_sent", ctx.events.len() as i64)?;
            }
            let events = std::mem::take(&mut ctx.events);
            tx.commit()?;
            (out, events)
        };
        let (out, events) = events;
        for ev in events {
            self.events.publish(self_id, ev);
        }
        Ok(out)
    }

    /// Publishes an event of `self_id` (used by the injection API); fills
    /// `time` and `self_id` when absent.
    pub fn emit(&self, self_id: i64, mut event: Value) {
        if let Some(o) = event.as_object_mut() {
            o.entry("time").or_insert(json!(store::now()));
            o.entry("self_id").or_insert(json!(self_id));
        }
        self.events.publish(self_id, event);
    }
}

impl LocalUpstream for Sandbox {
    fn call(&self, self_id: i64, action: &Action) -> Response {
        self.serve(self_id, action)
    }
}
