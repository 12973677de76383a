//! The TOML configuration: every key, its default, and validation with errors
//! that name the key. Validation runs before any socket is bound.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::core::{AppOptions, DispatchSettings, OnDuplicate, Retention};
// Each section's type lives with the layer that uses it; this module
// assembles the file and validates it.
pub use crate::redact::Secret;
pub use crate::transport::config::{
    AlertConfig, AppStart, HttpPostConfig, ListenConfig, NamedAppConfig, ReverseConfig,
    UpstreamAccount, DEFAULT_LISTEN,
};
use crate::upstream::sandbox::SandboxConfig;

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Process-wide settings.
    pub gateway: GatewayConfig,
    /// Forward WS listeners for apps (also serve the sandbox API and `/status`).
    pub listen: Vec<ListenConfig>,
    /// Reverse WS targets: the gateway dials apps.
    pub reverse: Vec<ReverseConfig>,
    /// HTTP POST targets: every event is POSTed to a URL.
    pub http_post: Vec<HttpPostConfig>,
    /// Named apps: identities whose events are kept while they are away.
    pub apps: Vec<NamedAppConfig>,
    /// Upstreams (implementations). None: the sandbox serves its bots.
    pub upstream: Vec<UpstreamConfig>,
    /// The embedded sandbox account's world.
    pub sandbox: SandboxConfig,
    /// Event retention for apps that are behind or away.
    pub retention: RetentionConfig,
    /// The durable event journal (off unless `path` is set).
    pub journal: JournalConfig,
    /// Pools: several accounts that apps see as one bot.
    pub pool: Vec<PoolConfig>,
    /// Where offline/online alerts of bots go.
    pub alert: Vec<AlertConfig>,
    /// Log lines: format, level, an optional file.
    pub log: LogConfig,
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `full` (one line each), `compact`, `pretty` (several lines each) or
    /// `json`; `--log-format` wins.
    pub format: LogFormat,
    /// What is logged, as `RUST_LOG` says it (which wins), e.g.
    /// `onebot_gateway=debug`.
    pub level: String,
    /// Also write every line here (no colours), a new file each day
    /// (`<file>.YYYY-MM-DD`); a relative path is taken from the config's folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<std::path::PathBuf>,
    /// Daily files kept (older ones are deleted).
    pub keep_days: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Full,
            level: String::from("onebot_gateway=info"),
            file: None,
            keep_days: 14,
        }
    }
}

/// `[log] format` / `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One line per event, with its fields.
    Full,
    /// Shorter lines.
    Compact,
    /// Several lines per event, for reading by eye.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// `[[pool]]`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// The id apps use for the pool (not a member's).
    pub self_id: i64,
    /// Its nickname in `get_login_info`; default `pool <self_id>`.
    #[serde(default)]
    pub name: String,
    /// The member bots, in order of preference.
    pub bots: Vec<i64>,
    /// `receiver`: a reply goes through the member that received the message
    /// (or the group's last receiver); `any`: the first member in the group.
    #[serde(default = "default_reply_via")]
    pub reply_via: crate::core::pool::ReplyVia,
    /// A group message from another member within this window is a duplicate.
    #[serde(default = "default_dedupe_window_ms")]
    pub dedupe_window_ms: u64,
    /// SQLite file of the pool's message ids; default `pools.db` next to the
    /// journal or the sandbox store, or memory when neither is on disk.
    #[serde(default)]
    pub store: Option<std::path::PathBuf>,
    /// Ids older than this many days are forgotten at start-up.
    #[serde(default = "default_id_retention_days")]
    pub id_retention_days: u64,
}

fn default_reply_via() -> crate::core::pool::ReplyVia {
    crate::core::pool::ReplyVia::Receiver
}
fn default_dedupe_window_ms() -> u64 {
    10_000
}
fn default_id_retention_days() -> u64 {
    30
}

/// `[journal]`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct JournalConfig {
    /// SQLite file; absent = no journal (events live in memory only).
    pub path: Option<std::path::PathBuf>,
    /// Bots to journal; empty = every bot.
    pub bots: Vec<i64>,
    /// How often app cursors are saved, ms.
    pub flush_cursors_ms: u64,
    /// Most events waiting for their commit; when full, upstream readers wait.
    pub journal_queue: usize,
    /// Added to every commit, ms: simulates a slow disk (tests only).
    pub commit_delay_ms: u64,
}

impl Default for JournalConfig {
    fn default() -> Self {
        Self {
            path: None,
            bots: Vec::new(),
            flush_cursors_ms: 500,
            journal_queue: 4096,
            commit_delay_ms: 0,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            gateway: GatewayConfig::default(),
            listen: vec![ListenConfig::default()],
            reverse: Vec::new(),
            http_post: Vec::new(),
            apps: Vec::new(),
            upstream: Vec::new(),
            sandbox: SandboxConfig::default(),
            retention: RetentionConfig::default(),
            journal: JournalConfig::default(),
            pool: Vec::new(),
            alert: Vec::new(),
            log: LogConfig::default(),
        }
    }
}

/// `[gateway]`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Interval of the `heartbeat` meta events sent to apps, ms (0 = none).
    pub heartbeat_interval_ms: u64,
    /// A bot without an upstream link this long is offline (alerts), ms.
    pub offline_grace_ms: u64,
    /// Least time between a bot's alerts, ms: an offline transition sooner is
    /// held back (and dropped if the bot is back before it is due).
    pub alert_min_interval_ms: u64,
    /// How long an action waits for its answer, ms.
    pub action_timeout_ms: u64,
    /// Interval of WS pings to apps and upstreams; a peer silent for 3 intervals is dropped, ms.
    pub ping_interval_ms: u64,
    /// Time allowed for an HTTP/WS handshake, ms.
    pub handshake_timeout_ms: u64,
    /// Spacing of `_rate_limited` actions per bot, ms.
    pub rate_limit_interval_ms: u64,
    /// Grace period for closing connections on shutdown, ms.
    pub shutdown_grace_ms: u64,
    /// Answers an app may have queued before the gateway stops reading its actions.
    pub app_queue: usize,
    /// Largest frame accepted from an app or upstream, bytes.
    pub max_inbound_frame_bytes: usize,
    /// Longest one write to an app may take before the app is dropped as too slow, ms.
    pub write_timeout_ms: u64,
    /// go-cqhttp's rate_limit: actions per second sent to each bot's upstream (0 = off).
    pub actions_per_second: f64,
    /// Burst allowed above `actions_per_second`.
    pub action_burst: u32,
    /// How long a closing handshake may take before the TCP connection is dropped, ms.
    pub close_timeout_ms: u64,
    /// When a second link of a bot arrives, how long the active link has to answer a ping, ms.
    pub link_probe_ms: u64,
    /// Least spacing of the Pings that confirm what an app has read, ms.
    pub confirm_interval_ms: u64,
    /// Most segments in one message an app sends (nested forward nodes count too).
    pub max_segments: usize,
    /// Most bytes of not-yet-whole frames held for all app WebSockets together.
    pub max_inbound_buffer_bytes: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval_ms: 5_000,
            offline_grace_ms: 30_000,
            alert_min_interval_ms: 60_000,
            action_timeout_ms: 30_000,
            ping_interval_ms: 15_000,
            handshake_timeout_ms: 10_000,
            rate_limit_interval_ms: 500,
            shutdown_grace_ms: 5_000,
            app_queue: 1024,
            max_inbound_frame_bytes: 16 * 1024 * 1024,
            write_timeout_ms: 10_000,
            actions_per_second: 0.0,
            action_burst: 1,
            close_timeout_ms: 1_000,
            link_probe_ms: 2_000,
            confirm_interval_ms: 200,
            max_segments: 2000,
            max_inbound_buffer_bytes: 256 * 1024 * 1024,
        }
    }
}

impl GatewayConfig {
    /// Dispatcher settings derived from this section.
    pub fn dispatch(&self) -> DispatchSettings {
        DispatchSettings {
            action_timeout: Duration::from_millis(self.action_timeout_ms),
            rate_limit_interval: Duration::from_millis(self.rate_limit_interval_ms),
            actions_per_second: self.actions_per_second,
            action_burst: self.action_burst,
            max_segments: self.max_segments,
        }
    }

    /// Session settings derived from this section.
    pub fn sessions(&self) -> crate::core::SessionSettings {
        crate::core::SessionSettings {
            heartbeat_interval: Duration::from_millis(self.heartbeat_interval_ms),
            ping_interval: Duration::from_millis(self.ping_interval_ms),
            handshake_timeout: Duration::from_millis(self.handshake_timeout_ms),
            write_timeout: Duration::from_millis(self.write_timeout_ms),
            app_queue: self.app_queue,
            max_inbound_frame_bytes: self.max_inbound_frame_bytes,
            shutdown_grace: Duration::from_millis(self.shutdown_grace_ms),
            close_timeout: Duration::from_millis(self.close_timeout_ms),
            link_probe: Duration::from_millis(self.link_probe_ms),
            confirm_interval: Duration::from_millis(self.confirm_interval_ms),
        }
    }
}

/// `[[upstream]]`: what serves bots.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum UpstreamConfig {
    /// The embedded sandbox (its world is in `[sandbox]`).
    #[serde(rename = "sandbox")]
    Sandbox,
    /// The gateway dials an implementation's forward WS server.
    #[serde(rename = "ws")]
    Ws {
        /// e.g. `ws://127.0.0.1:3001`
        url: String,
        /// Sent as `Authorization: Bearer`.
        #[serde(default)]
        access_token: Secret,
        /// The account, if known in advance (else learned on connect).
        #[serde(default)]
        self_id: Option<i64>,
        /// First reconnect delay, ms.
        #[serde(default = "default_reconnect_ms")]
        reconnect_interval_ms: u64,
        /// Reconnect delay cap, ms.
        #[serde(default = "default_max_reconnect_ms")]
        max_reconnect_interval_ms: u64,
        /// When the bot already has an active link: `standby`, `replace` or `refuse`.
        #[serde(default)]
        on_duplicate: OnDuplicate,
    },
    /// Implementations dial the gateway (their "reverse WS" setting).
    #[serde(rename = "ws-reverse")]
    WsReverse {
        /// `host:port` to bind.
        address: String,
        /// Token implementations must present (Bearer, Token, or `?access_token=`).
        #[serde(default)]
        access_token: Secret,
        /// Bots allowed to dial in here (empty: any, except sandbox bots).
        /// Listing a sandbox bot lets a remote link take it over.
        #[serde(default)]
        self_ids: Vec<i64>,
        /// Bots with a token of their own (it replaces `access_token` for them).
        #[serde(default)]
        accounts: Vec<UpstreamAccount>,
        /// When the bot already has an active link: `standby`, `replace` or `refuse`.
        #[serde(default)]
        on_duplicate: OnDuplicate,
    },
    /// A Milky implementation (LagrangeV2…): its HTTP API and event stream.
    #[serde(rename = "milky")]
    Milky {
        /// Its HTTP server, e.g. `http://127.0.0.1:3000` (`/api/:api` and
        /// `/event` are under it).
        url: String,
        /// Sent as `Authorization: Bearer`.
        #[serde(default)]
        access_token: Secret,
        /// The account, if known in advance (else learned from `get_login_info`).
        #[serde(default)]
        self_id: Option<i64>,
        /// How events are read: `ws` (the default) or `sse`.
        #[serde(default)]
        events: MilkyEvents,
        /// First reconnect delay, ms.
        #[serde(default = "default_reconnect_ms")]
        reconnect_interval_ms: u64,
        /// Reconnect delay cap, ms.
        #[serde(default = "default_max_reconnect_ms")]
        max_reconnect_interval_ms: u64,
        /// When the bot already has an active link: `standby`, `replace` or `refuse`.
        #[serde(default)]
        on_duplicate: OnDuplicate,
        /// SQLite file of the message-id table; default `milky.db` beside
        /// the journal or the sandbox store, else memory (ids last one run).
        #[serde(default)]
        store: Option<std::path::PathBuf>,
        /// Ids older than this many days are forgotten.
        #[serde(default = "default_id_retention_days")]
        id_retention_days: u64,
    },
}

/// `[[upstream]] events` of a Milky upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MilkyEvents {
    /// `GET /event` as a WebSocket.
    #[default]
    Ws,
    /// `GET /event` as Server-Sent Events.
    Sse,
}

fn default_reconnect_ms() -> u64 {
    1_000
}

fn default_max_reconnect_ms() -> u64 {
    30_000
}

/// `[retention]`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Most events kept per bot.
    pub max_events: usize,
    /// Most bytes kept per bot.
    pub max_bytes: usize,
    /// Oldest event kept, seconds.
    pub max_age_secs: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        let r = Retention::default();
        Self {
            max_events: r.max_events,
            max_bytes: r.max_bytes,
            max_age_secs: r.max_age.as_secs(),
        }
    }
}

impl RetentionConfig {
    /// As the bus wants it.
    pub fn retention(&self) -> Retention {
        Retention {
            max_events: self.max_events,
            max_bytes: self.max_bytes,
            max_age: Duration::from_secs(self.max_age_secs),
        }
    }
}

/// A configuration that cannot be used; the message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key or a wrong type (the message has the line).
    #[error("{path}: {message}")]
    Parse {
        /// The path.
        path: String,
        /// toml's message, with line and column.
        message: String,
    },
    /// A value that parses but cannot work.
    #[error("invalid `{key}`: {reason}")]
    Invalid {
        /// The key, e.g. `listen[0].address`.
        key: String,
        /// Why, and how to fix it.
        reason: String,
    },
}

impl Config {
    /// Reads and validates a config file.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the key (and line, for syntax errors).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse_in(&text, &path.display().to_string(), path.parent())
    }

    /// Parses and validates config text; `origin` names it in errors.
    /// Relative paths in it stay relative to the working directory.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the key.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        Self::parse_in(text, origin, None)
    }

    /// [`Config::parse`] of a file in `dir`: relative paths in it (stores,
    /// the world, filters, the journal) are taken from `dir`.
    fn parse_in(text: &str, origin: &str, dir: Option<&Path>) -> Result<Self, ConfigError> {
        let syntax = |e: toml::de::Error| ConfigError::Parse {
            path: origin.to_owned(),
            message: e.to_string(),
        };
        let spans = Spans::read(text).map_err(syntax)?;
        let located = |key: String| match spans.line(&key) {
            Some(line) => format!("{key}` (line {line}) in `{origin}"),
            None => key,
        };
        // Disabled entries, `${VAR}` and relative paths are rewritten in the
        // text itself, so that the parser's own errors keep their lines.
        let text = spans
            .rewrite(text, dir)
            .map_err(|(key, reason)| ConfigError::Invalid {
                key: located(key),
                reason,
            })?;
        let config: Config = toml::from_str(&text).map_err(syntax)?;
        config.validate().map_err(|e| match e {
            ConfigError::Invalid { key, reason } => ConfigError::Invalid {
                key: located(key),
                reason,
            },
            other => other,
        })?;
        Ok(config)
    }

    /// Checks values that parse but cannot work.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the first bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: String, reason: String| Err(ConfigError::Invalid { key, reason });
        let g = &self.gateway;
        for (key, value) in [
            ("gateway.action_timeout_ms", g.action_timeout_ms),
            ("gateway.offline_grace_ms", g.offline_grace_ms),
            ("gateway.alert_min_interval_ms", g.alert_min_interval_ms),
            ("gateway.ping_interval_ms", g.ping_interval_ms),
            ("gateway.handshake_timeout_ms", g.handshake_timeout_ms),
            ("gateway.app_queue", g.app_queue as u64),
            ("gateway.write_timeout_ms", g.write_timeout_ms),
            ("gateway.close_timeout_ms", g.close_timeout_ms),
            ("gateway.link_probe_ms", g.link_probe_ms),
            ("gateway.confirm_interval_ms", g.confirm_interval_ms),
            ("gateway.max_segments", g.max_segments as u64),
            (
                "gateway.max_inbound_buffer_bytes",
                g.max_inbound_buffer_bytes as u64,
            ),
            (
                "gateway.max_inbound_frame_bytes",
                g.max_inbound_frame_bytes as u64,
            ),
            ("gateway.rate_limit_interval_ms", g.rate_limit_interval_ms),
            ("gateway.shutdown_grace_ms", g.shutdown_grace_ms),
            ("retention.max_events", self.retention.max_events as u64),
            ("retention.max_bytes", self.retention.max_bytes as u64),
            ("retention.max_age_secs", self.retention.max_age_secs),
            ("journal.flush_cursors_ms", self.journal.flush_cursors_ms),
            ("journal.journal_queue", self.journal.journal_queue as u64),
            ("log.keep_days", self.log.keep_days as u64),
        ] {
            if value == 0 {
                return invalid(key.into(), "must be greater than 0".into());
            }
        }
        if !(g.actions_per_second >= 0.0 && g.actions_per_second.is_finite()) {
            return invalid(
                "gateway.actions_per_second".into(),
                "must be 0 (off) or a positive number".into(),
            );
        }
        let check_listen = |key: String,
                            address: &str,
                            token: &Secret|
         -> Result<(), ConfigError> {
            let addr: SocketAddr = address.parse().map_err(|_| ConfigError::Invalid {
                key: key.clone(),
                reason: format!("`{address}` is not an ip:port address (e.g. \"127.0.0.1:6700\")"),
            })?;
            if !addr.ip().is_loopback() && token.is_empty() {
                return Err(ConfigError::Invalid {
                    key,
                    reason: format!(
                        "{addr} is reachable from other machines but has no access_token; set access_token (e.g. access_token = \"${{ONEBOT_TOKEN}}\") or bind 127.0.0.1"
                    ),
                });
            }
            Ok(())
        };
        for (i, l) in self.listen.iter().enumerate() {
            check_listen(format!("listen[{i}].address"), &l.address, &l.access_token)?;
            check_app(&format!("listen[{i}].app"), &l.options)?;
            if l.max_connections == 0 {
                return invalid(
                    format!("listen[{i}].max_connections"),
                    "must be greater than 0".into(),
                );
            }
            for (j, o) in l.allowed_origins.iter().enumerate() {
                let rest = o
                    .strip_prefix("http://")
                    .or_else(|| o.strip_prefix("https://"));
                if rest.is_none_or(|r| {
                    r.trim_end_matches('/').is_empty() || r.trim_end_matches('/').contains('/')
                }) {
                    return invalid(
                        format!("listen[{i}].allowed_origins[{j}]"),
                        format!("`{o}` is not an origin: write scheme://host[:port], e.g. \"https://bot.example.com\""),
                    );
                }
            }
        }
        for (i, u) in self.upstream.iter().enumerate() {
            match u {
                UpstreamConfig::WsReverse {
                    address,
                    access_token,
                    accounts,
                    ..
                } => {
                    check_listen(format!("upstream[{i}].address"), address, access_token)?;
                    for (j, a) in accounts.iter().enumerate() {
                        if a.access_token.is_empty() {
                            return invalid(
                                format!("upstream[{i}].accounts[{j}].access_token"),
                                "must not be empty (leave the account out to use the shared token)"
                                    .into(),
                            );
                        }
                    }
                }
                UpstreamConfig::Milky {
                    url,
                    reconnect_interval_ms,
                    max_reconnect_interval_ms,
                    id_retention_days,
                    ..
                } => {
                    if !url.starts_with("http://") {
                        return invalid(
                            format!("upstream[{i}].url"),
                            format!("`{url}` is not an http:// URL (a Milky implementation's HTTP server; TLS is not built in)"),
                        );
                    }
                    if *reconnect_interval_ms == 0
                        || max_reconnect_interval_ms < reconnect_interval_ms
                        || *id_retention_days == 0
                    {
                        return invalid(
                            format!("upstream[{i}].reconnect_interval_ms"),
                            "reconnect_interval_ms and id_retention_days must be > 0, max_reconnect_interval_ms ≥ reconnect_interval_ms".into(),
                        );
                    }
                }
                UpstreamConfig::Ws {
                    url,
                    reconnect_interval_ms,
                    max_reconnect_interval_ms,
                    ..
                } => {
                    check_ws_url(&format!("upstream[{i}].url"), url)?;
                    if *reconnect_interval_ms == 0
                        || max_reconnect_interval_ms < reconnect_interval_ms
                    {
                        return invalid(
                            format!("upstream[{i}].reconnect_interval_ms"),
                            "must be > 0 and not above max_reconnect_interval_ms".into(),
                        );
                    }
                }
                UpstreamConfig::Sandbox => {}
            }
        }
        for (i, r) in self.reverse.iter().enumerate() {
            let key = |k: &str| format!("reverse[{i}].{k}");
            match (&r.url, &r.api_url, &r.event_url) {
                (Some(url), None, None) => check_ws_url(&key("url"), url)?,
                (None, Some(api), Some(event)) => {
                    check_ws_url(&key("api_url"), api)?;
                    check_ws_url(&key("event_url"), event)?;
                }
                _ => {
                    return invalid(
                        key("url"),
                        "set either `url` (Universal) or both `api_url` and `event_url`".into(),
                    )
                }
            }
            if r.reconnect_interval_ms == 0 || r.max_reconnect_interval_ms < r.reconnect_interval_ms
            {
                return invalid(
                    key("reconnect_interval_ms"),
                    "must be > 0 and not above max_reconnect_interval_ms".into(),
                );
            }
            check_app(&key("app"), &r.options)?;
        }
        for (i, t) in self.http_post.iter().enumerate() {
            let key = |k: &str| format!("http_post[{i}].{k}");
            if !t.url.starts_with("http://") {
                return invalid(key("url"), format!("`{}` is not an http:// URL", t.url));
            }
            if t.timeout_ms == 0
                || t.retry_interval_ms == 0
                || t.max_retry_interval_ms < t.retry_interval_ms
            {
                return invalid(
                    key("timeout_ms"),
                    "timeout_ms and retry_interval_ms must be > 0, and retry_interval_ms not above max_retry_interval_ms".into(),
                );
            }
        }
        let mut names = std::collections::HashSet::new();
        let mut tokens: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for (i, a) in self.apps.iter().enumerate() {
            if a.name.is_empty() || !names.insert(a.name.as_str()) {
                return invalid(
                    format!("apps[{i}].name"),
                    "must be non-empty and unique".into(),
                );
            }
            if !a.access_token.is_empty() {
                if let Some(first) = tokens.insert(a.access_token.expose(), i) {
                    return invalid(
                        format!("apps[{i}].access_token"),
                        format!("the same token as apps[{first}] (`{}`): a connection presenting it would be either app; give each app its own", self.apps[first].name),
                    );
                }
            }
            check_app(&format!("apps[{i}].app"), &a.options)?;
        }
        self.check_ports()?;
        for (i, a) in self.alert.iter().enumerate() {
            match a {
                AlertConfig::Webhook {
                    url, timeout_ms, ..
                } => {
                    if !url.starts_with("http://") {
                        return invalid(
                            format!("alert[{i}].url"),
                            "must be an http:// URL (TLS is not built in yet: use a TLS-terminating proxy for https)".into(),
                        );
                    }
                    if *timeout_ms == 0 {
                        return invalid(format!("alert[{i}].timeout_ms"), "must be > 0".into());
                    }
                }
                AlertConfig::Message {
                    user_id, group_id, ..
                } => {
                    if user_id.is_some() == group_id.is_some() {
                        return invalid(
                            format!("alert[{i}].user_id"),
                            "give exactly one of user_id and group_id".into(),
                        );
                    }
                }
            }
        }
        let pool_ids: Vec<i64> = self.pool.iter().map(|p| p.self_id).collect();
        for (i, p) in self.pool.iter().enumerate() {
            let key = |k: &str| format!("pool[{i}].{k}");
            if pool_ids.iter().filter(|id| **id == p.self_id).count() > 1 {
                return invalid(
                    key("self_id"),
                    format!("{} is the id of two pools", p.self_id),
                );
            }
            let mut seen = std::collections::HashSet::new();
            if p.bots.is_empty() || !p.bots.iter().all(|b| seen.insert(*b)) {
                return invalid(key("bots"), "must list at least one bot, each once".into());
            }
            if let Some(b) = p.bots.iter().find(|b| pool_ids.contains(b)) {
                return invalid(
                    key("bots"),
                    format!("{b} is a pool; a pool's members are bots"),
                );
            }
            if p.dedupe_window_ms == 0 || p.id_retention_days == 0 {
                return invalid(
                    key("dedupe_window_ms"),
                    "dedupe_window_ms and id_retention_days must be > 0".into(),
                );
            }
        }
        Ok(())
    }

    /// A SQLite file of the gateway's own: `configured` if set, else `name`
    /// beside the journal or the sandbox store, else `:memory:` (nothing
    /// on disk is configured, so nothing is written there).
    pub fn data_file(&self, configured: Option<&Path>, name: &str) -> String {
        if let Some(p) = configured {
            return p.to_string_lossy().into_owned();
        }
        let beside = |dir: Option<&Path>| dir.map(|d| d.join(name).to_string_lossy().into_owned());
        beside(self.journal.path.as_deref().and_then(Path::parent))
            .or_else(|| {
                (self.uses_sandbox() && self.sandbox.store != ":memory:")
                    .then(|| beside(Path::new(&self.sandbox.store).parent()))
                    .flatten()
            })
            .unwrap_or_else(|| String::from(":memory:"))
    }

    /// Two listeners (app listeners, `ws-reverse` upstreams) on one port
    /// would fail at start: refused here, naming both.
    fn check_ports(&self) -> Result<(), ConfigError> {
        let mut bound: Vec<(String, SocketAddr)> = Vec::new();
        let listeners = self
            .listen
            .iter()
            .enumerate()
            .map(|(i, l)| (format!("listen[{i}].address"), l.address.as_str()))
            .chain(
                self.upstream
                    .iter()
                    .enumerate()
                    .filter_map(|(i, u)| match u {
                        UpstreamConfig::WsReverse { address, .. } => {
                            Some((format!("upstream[{i}].address"), address.as_str()))
                        }
                        _ => None,
                    }),
            );
        for (key, address) in listeners {
            let Ok(addr) = address.parse::<SocketAddr>() else {
                continue;
            };
            if addr.port() == 0 {
                continue;
            }
            let clash = bound.iter().find(|(_, other)| {
                other.port() == addr.port()
                    && (other.ip() == addr.ip()
                        || other.ip().is_unspecified()
                        || addr.ip().is_unspecified())
            });
            if let Some((other_key, other)) = clash {
                return Err(ConfigError::Invalid {
                    key,
                    reason: format!("{addr} collides with {other_key} ({other}): each listener needs a port of its own"),
                });
            }
            bound.push((key, addr));
        }
        Ok(())
    }

    /// The pools as core takes them.
    pub fn pools(&self) -> Vec<crate::core::pool::PoolSpec> {
        self.pool
            .iter()
            .map(|p| crate::core::pool::PoolSpec {
                self_id: p.self_id,
                name: if p.name.is_empty() {
                    format!("pool {}", p.self_id)
                } else {
                    p.name.clone()
                },
                members: p.bots.clone(),
                reply_via: p.reply_via,
                dedupe_window: Duration::from_millis(p.dedupe_window_ms),
                store: self.data_file(p.store.as_deref(), "pools.db"),
                id_retention: Duration::from_secs(p.id_retention_days * 86_400),
            })
            .collect()
    }

    /// Whether the embedded sandbox serves bots: when no upstream is
    /// configured, or one of type `sandbox` is.
    pub fn uses_sandbox(&self) -> bool {
        self.upstream.is_empty()
            || self
                .upstream
                .iter()
                .any(|u| matches!(u, UpstreamConfig::Sandbox))
    }
}

/// What the TOML parser tells of a config text: the line of every key
/// (`listen[1].app.max_frame_bytes`), every string value with its byte
/// range, the table headers, and the entries switched off with `enable`.
#[derive(Default)]
struct Spans {
    lines: std::collections::HashMap<String, usize>,
    strings: Vec<(String, std::ops::Range<usize>, String)>,
    /// `[name]` / `[[name]]` headers: (start, dotted name).
    headers: Vec<(usize, String)>,
    /// `enable = …` in an entry of a top-level array of tables: (entry
    /// header's start, the entry's array name, the key-value's range, on).
    enables: Vec<(usize, String, std::ops::Range<usize>, bool)>,
}

/// Keys that hold file paths (taken from the config file's folder).
fn is_path_key(key: &str) -> bool {
    let table = key.split(['.', '[']).next().unwrap_or("");
    let last = key.rsplit('.').next().unwrap_or("");
    matches!(
        key,
        "journal.path" | "sandbox.store" | "sandbox.world" | "sandbox.files_dir" | "log.file"
    ) || (last == "store" && matches!(table, "pool" | "upstream"))
        || (last == "filter" && key.contains(".app."))
}

impl Spans {
    fn read(text: &str) -> Result<Self, toml::de::Error> {
        let table = toml::de::DeTable::parse(text)?;
        let mut spans = Self::default();
        let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        // A header is a `[` that starts its line (an inline array follows `=`).
        let is_header = |start: usize| {
            text[start..].starts_with('[')
                && text[..start]
                    .rsplit('\n')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .is_empty()
        };
        let name_of = |start: usize| {
            let line = text[start..].lines().next().unwrap_or("");
            line.trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .replace(' ', "")
        };
        struct Ctx<'a> {
            line_of: &'a dyn Fn(usize) -> usize,
            is_header: &'a dyn Fn(usize) -> bool,
            name_of: &'a dyn Fn(usize) -> String,
        }
        fn walk(
            spans: &mut Spans,
            cx: &Ctx<'_>,
            value: &toml::Spanned<toml::de::DeValue<'_>>,
            path: String,
            entry: Option<(usize, &str)>,
        ) {
            let start = value.span().start;
            match value.get_ref() {
                toml::de::DeValue::Table(t) => {
                    if !path.is_empty() && (cx.is_header)(start) {
                        spans.headers.push((start, (cx.name_of)(start)));
                    }
                    for (k, v) in t.iter() {
                        let p = if path.is_empty() {
                            k.get_ref().to_string()
                        } else {
                            format!("{path}.{}", k.get_ref())
                        };
                        spans
                            .lines
                            .entry(p.clone())
                            .or_insert((cx.line_of)(k.span().start));
                        if let (Some((header, array)), "enable") = (entry, k.get_ref().as_ref()) {
                            let on = v.get_ref().as_bool().unwrap_or(true);
                            spans.enables.push((
                                header,
                                array.to_owned(),
                                k.span().start..v.span().end,
                                on,
                            ));
                        }
                        walk(spans, cx, v, p, None);
                    }
                }
                toml::de::DeValue::Array(a) => {
                    let top = !path.contains(['.', '[']);
                    for (i, v) in a.iter().enumerate() {
                        let p = format!("{path}[{i}]");
                        spans
                            .lines
                            .entry(p.clone())
                            .or_insert((cx.line_of)(v.span().start));
                        // Entries of a top-level `[[name]]` array may be switched off.
                        let entry = (top && (cx.is_header)(v.span().start))
                            .then_some((v.span().start, path.as_str()));
                        walk(spans, cx, v, p, entry);
                    }
                }
                toml::de::DeValue::String(s) => {
                    spans.strings.push((path, value.span(), s.to_string()));
                }
                _ => {}
            }
        }
        let cx = Ctx {
            line_of: &line_of,
            is_header: &is_header,
            name_of: &name_of,
        };
        let root = toml::Spanned::new(table.span(), toml::de::DeValue::Table(table.into_inner()));
        walk(&mut spans, &cx, &root, String::new(), None);
        spans.headers.sort_unstable();
        Ok(spans)
    }

    /// The line where `key` is set, or where the nearest table holding it
    /// starts (a key left at its default).
    fn line(&self, key: &str) -> Option<usize> {
        let mut k = key;
        loop {
            if let Some(line) = self.lines.get(k) {
                return Some(*line);
            }
            k = &k[..k.rfind(['.', '['])?];
        }
    }

    /// `text` rewritten for the parser: entries with `enable = false`
    /// blanked (their header, keys and sub-tables; `enable` keys removed),
    /// `${VAR}` / `${VAR:-default}` in strings replaced (`$${` stays a
    /// literal `${`), and relative paths joined to `dir`. Blanking keeps
    /// every byte offset and line; the key and why for an unset variable.
    fn rewrite(&self, text: &str, dir: Option<&Path>) -> Result<String, (String, String)> {
        let mut blank: Vec<std::ops::Range<usize>> = Vec::new();
        for (header, array, kv, on) in &self.enables {
            if *on {
                blank.push(kv.clone());
                continue;
            }
            // The entry runs to the next header that is not inside it.
            let inside = format!("{array}.");
            let end = self
                .headers
                .iter()
                .find(|(start, name)| *start > *header && !name.starts_with(&inside))
                .map_or(text.len(), |(start, _)| *start);
            blank.push(*header..end);
        }
        let mut bytes = text.as_bytes().to_vec();
        for r in &blank {
            for b in &mut bytes[r.clone()] {
                if *b != b'\n' {
                    *b = b' ';
                }
            }
        }
        let mut out =
            String::from_utf8(bytes).expect("blanking keeps UTF-8: only ASCII spaces are written");
        let blanked =
            |r: &std::ops::Range<usize>| blank.iter().any(|b| b.start <= r.start && r.end <= b.end);
        // From the end, so earlier ranges stay valid.
        let mut strings: Vec<_> = self
            .strings
            .iter()
            .filter(|(_, r, _)| !blanked(r))
            .collect();
        strings.sort_by_key(|(_, range, _)| std::cmp::Reverse(range.start));
        for (key, range, value) in strings {
            let mut new = if value.contains('$') {
                expand_vars(value).map_err(|reason| (key.clone(), reason))?
            } else {
                value.clone()
            };
            if let Some(dir) = dir {
                if is_path_key(key)
                    && new != ":memory:"
                    && !new.is_empty()
                    && Path::new(&new).is_relative()
                {
                    new = dir.join(&new).to_string_lossy().into_owned();
                }
            }
            if new != *value {
                out.replace_range(range.clone(), &toml::Value::String(new).to_string());
            }
        }
        Ok(out)
    }
}

/// Expands `${NAME}` and `${NAME:-default}` from the environment; `$${`
/// is a literal `${`.
fn expand_vars(value: &str) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
            continue;
        }
        let Some(body) = rest.strip_prefix("${") else {
            out.push('$');
            rest = &rest[1..];
            continue;
        };
        let Some(end) = body.find('}') else {
            return Err(format!(
                "`{value}`: `${{` without its closing `}}` (write `$${{` for a literal `${{`)"
            ));
        };
        let (name, default) = match body[..end].split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (&body[..end], None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "`${{{}}}` is not a variable name (letters, digits, _)",
                &body[..end]
            ));
        }
        // As the shell's `:-`: the default also stands for an empty value.
        match (std::env::var(name), default) {
            (Ok(v), None) => out.push_str(&v),
            (Ok(v), Some(_)) if !v.is_empty() => out.push_str(&v),
            (_, Some(d)) => out.push_str(d),
            (Err(_), None) => {
                return Err(format!(
                    "environment variable `{name}` is not set (write `${{{name}:-default}}` to give a default)"
                ))
            }
        }
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn check_app(key: &str, app: &AppOptions) -> Result<(), ConfigError> {
    if app.max_frame_bytes < 1024 {
        return Err(ConfigError::Invalid {
            key: format!("{key}.max_frame_bytes"),
            reason: "must be at least 1024".into(),
        });
    }
    Ok(())
}

fn check_ws_url(key: &str, url: &str) -> Result<(), ConfigError> {
    if url.starts_with("wss://") {
        Err(ConfigError::Invalid {
            key: key.to_owned(),
            reason: format!("`{url}`: TLS is not built in yet; dial ws:// (on a private network, or through a TLS-terminating proxy such as nginx or stunnel)"),
        })
    } else if url.starts_with("ws://") {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            key: key.to_owned(),
            reason: format!("`{url}` is not a ws:// or wss:// URL"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_never_printed() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "<redacted>");
        let c = Config::parse(
            "[[listen]]\naddress = \"127.0.0.1:1\"\naccess_token = \"hunter2\"\n",
            "t",
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!toml::to_string(&c).unwrap().contains("hunter2"));
    }

    #[test]
    fn pools_are_checked_and_their_ids_stored_beside_the_data() {
        let refused = |text: &str, key: &str| {
            let msg = Config::parse(text, "t").unwrap_err().to_string();
            assert!(msg.contains(key), "{text}: {msg}");
        };
        refused("[[pool]]\nself_id = 9\nbots = []\n", "pool[0].bots");
        refused("[[pool]]\nself_id = 9\nbots = [1, 1]\n", "pool[0].bots");
        refused(
            "[[pool]]\nself_id = 9\nbots = [1]\n[[pool]]\nself_id = 8\nbots = [9]\n",
            "pool[1].bots",
        );
        refused(
            "[[pool]]\nself_id = 9\nbots = [1]\ndedupe_window_ms = 0\n",
            "pool[0].dedupe_window_ms",
        );
        let c = Config::parse(
            "[sandbox]\nstore = \"/data/sandbox.db\"\n[[pool]]\nself_id = 9\nbots = [1, 2]\n",
            "t",
        )
        .unwrap();
        let spec = &c.pools()[0];
        assert_eq!(
            (spec.store.as_str(), spec.name.as_str()),
            ("/data/pools.db", "pool 9")
        );
        assert_eq!(spec.dedupe_window, Duration::from_secs(10));
        let memory = Config::parse("[[pool]]\nself_id = 9\nbots = [1]\n", "t").unwrap();
        assert_eq!(memory.pools()[0].store, ":memory:");
    }

    #[test]
    fn unknown_keys_are_errors_with_a_line() {
        let err =
            Config::parse("[gateway]\nheartbeat_interval_ms = 1\nbogus = 2\n", "t").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("bogus") && msg.contains("line 3"), "{msg}");
    }

    #[test]
    fn semantic_errors_name_the_line() {
        let text = "[gateway]\nheartbeat_interval_ms = 1\n\n[[listen]]\naddress = \"127.0.0.1:1\"\n[[listen]]\naddress = \"0.0.0.0:2\"\n";
        let msg = Config::parse(text, "c.toml").unwrap_err().to_string();
        assert!(
            msg.contains("listen[1].address") && msg.contains("line 7"),
            "{msg}"
        );
        let msg = Config::parse("[gateway]\naction_timeout_ms = 0\n", "c.toml")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("line 2"), "{msg}");
    }

    #[test]
    fn public_listener_without_token_is_refused() {
        let err = Config::parse("[[listen]]\naddress = \"0.0.0.0:6700\"\n", "t").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("listen[0].address") && msg.contains("access_token"),
            "{msg}"
        );
    }

    #[test]
    fn env_secrets_are_resolved() {
        std::env::set_var("OBGW_TEST_TOKEN", "t0k");
        let c = Config::parse(
            "[[listen]]\naddress = \"0.0.0.0:1\"\naccess_token = \"${OBGW_TEST_TOKEN}\"\n",
            "t",
        )
        .unwrap();
        assert_eq!(c.listen[0].access_token.expose(), "t0k");
        let err =
            Config::parse("[[listen]]\naccess_token = \"${OBGW_UNSET_VAR_X}\"\n", "t").unwrap_err();
        assert!(err.to_string().contains("OBGW_UNSET_VAR_X"));
    }

    #[test]
    fn environment_variables_expand_in_every_string_with_defaults() {
        std::env::set_var("OBGW_TEST_HOST", "10.0.0.7");
        std::env::remove_var("OBGW_TEST_PORT_UNSET");
        let c = Config::parse(
            "[[upstream]]\ntype = \"ws\"\nurl = \"ws://${OBGW_TEST_HOST}:${OBGW_TEST_PORT_UNSET:-3001}/\"\n\
             [[listen]]\naddress = '127.0.0.1:${OBGW_TEST_PORT_UNSET:-6700}'\napp = { post_format = \"${OBGW_TEST_PORT_UNSET:-string}\" }\n\
             [[apps]]\nname = \"literal $${NOT_A_VAR} \\\"quoted\\\"\"\n",
            "t",
        )
        .unwrap();
        let UpstreamConfig::Ws { url, .. } = &c.upstream[0] else {
            panic!()
        };
        assert_eq!(url, "ws://10.0.0.7:3001/");
        assert_eq!(c.listen[0].address, "127.0.0.1:6700");
        assert_eq!(
            c.listen[0].options.post_format,
            crate::core::PostFormat::String
        );
        assert_eq!(c.apps[0].name, "literal ${NOT_A_VAR} \"quoted\"");
        let err = Config::parse(
            "\n[[reverse]]\nurl = \"ws://${OBGW_TEST_PORT_UNSET}/\"\n",
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("reverse[0].url")
                && err.contains("line 3")
                && err.contains("OBGW_TEST_PORT_UNSET"),
            "{err}"
        );
        // Lines stay exact after an expansion: the next error is on line 4.
        let err = Config::parse(
            "[[listen]]\naddress = \"${OBGW_TEST_HOST}:1\"\n\nbogus = 1\n",
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("line 4") && err.contains("bogus"), "{err}");
    }

    #[test]
    fn entries_with_enable_false_are_left_out_and_lines_stay_exact() {
        let c = Config::parse(
            "[[listen]]\naddress = \"127.0.0.1:1\"\nenable = true\n\
             [[upstream]]\ntype = \"ws-reverse\"\naddress = \"0.0.0.0:2\"\nenable = false\n\
             [[upstream.accounts]]\nself_id = 5\naccess_token = \"${OBGW_UNSET_IN_DISABLED}\"\n\
             [[upstream]]\ntype = \"ws\"\nurl = \"ws://127.0.0.1:3/\"\n\
             [[reverse]]\nurl = \"ws://a/\"\nenable = false\napp = { post_format = \"string\" }\n",
            "t",
        )
        .unwrap();
        assert_eq!(c.listen.len(), 1);
        assert_eq!(
            c.upstream.len(),
            1,
            "the disabled one (and its accounts) are gone: {:?}",
            c.upstream
        );
        assert!(
            matches!(&c.upstream[0], UpstreamConfig::Ws { url, .. } if url == "ws://127.0.0.1:3/")
        );
        assert!(c.reverse.is_empty());
        let err = Config::parse(
            "[[apps]]\nname = \"a\"\nenable = false\n[[apps]]\nname = \"b\"\nbogus = 1\n",
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("line 6") && err.contains("bogus"), "{err}");
    }

    #[test]
    fn relative_paths_are_taken_from_the_config_files_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f.json"), "{}").unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[sandbox]\nstore = \"data/s.db\"\n[journal]\npath = \"/abs/j.db\"\n\
             [[listen]]\naddress = \"127.0.0.1:1\"\napp = { filter = \"f.json\" }\n\
             [[pool]]\nself_id = 9\nbots = [10000]\nstore = \"p.db\"\n",
        )
        .unwrap();
        let c = Config::load(&path).unwrap();
        assert_eq!(
            c.sandbox.store,
            dir.path().join("data/s.db").to_string_lossy()
        );
        assert_eq!(c.journal.path.as_deref(), Some(Path::new("/abs/j.db")));
        assert_eq!(
            c.listen[0].options.filter.as_ref().unwrap().path,
            dir.path().join("f.json")
        );
        assert_eq!(
            c.pool[0].store.as_deref(),
            Some(dir.path().join("p.db").as_path())
        );
    }

    #[test]
    fn reverse_needs_url_or_split_pair() {
        let err = Config::parse("[[reverse]]\napi_url = \"ws://a\"\n", "t").unwrap_err();
        assert!(err.to_string().contains("reverse[0].url"), "{err}");
    }

    #[test]
    fn milky_upstreams_and_listeners_are_checked() {
        let c = Config::parse(
            "[[listen]]\naddress = \"127.0.0.1:1\"\nprotocol = \"milky\"\nbot = 7\n\
             [[upstream]]\ntype = \"milky\"\nurl = \"http://127.0.0.1:3000\"\nevents = \"sse\"\n",
            "t",
        )
        .unwrap();
        assert_eq!(c.listen[0].default_bot, Some(7));
        assert!(!c.uses_sandbox(), "a Milky upstream serves the bots");
        for (bad, key) in [
            ("url = \"https://x\"", "upstream[0].url"),
            ("url = \"ws://x\"", "upstream[0].url"),
            (
                "url = \"http://x\"\nreconnect_interval_ms = 0",
                "upstream[0].reconnect_interval_ms",
            ),
            ("url = \"http://x\"\nevents = \"poll\"", "poll"),
        ] {
            let err = Config::parse(&format!("[[upstream]]\ntype = \"milky\"\n{bad}\n"), "t")
                .unwrap_err();
            assert!(err.to_string().contains(key), "{bad}: {err}");
        }
    }

    #[test]
    fn collisions_and_unservable_urls_are_caught_before_start() {
        for (text, key, why) in [
            (
                "[[listen]]\naddress = \"127.0.0.1:6700\"\n[[upstream]]\ntype = \"ws-reverse\"\naddress = \"127.0.0.1:6700\"\n",
                "upstream[0].address",
                "listen[0].address",
            ),
            (
                "[[listen]]\naddress = \"0.0.0.0:6700\"\naccess_token = \"t\"\n[[listen]]\naddress = \"127.0.0.1:6700\"\n",
                "listen[1].address",
                "collides",
            ),
            (
                "[[apps]]\nname = \"a\"\naccess_token = \"same\"\n[[apps]]\nname = \"b\"\naccess_token = \"same\"\n",
                "apps[1].access_token",
                "apps[0]",
            ),
            ("[[upstream]]\ntype = \"ws\"\nurl = \"wss://impl:3001\"\n", "upstream[0].url", "TLS"),
            ("[[reverse]]\nurl = \"wss://app/onebot\"\n", "reverse[0].url", "TLS"),
            ("[[alert]]\ntype = \"webhook\"\nurl = \"https://hook\"\n", "alert[0].url", "TLS"),
        ] {
            let err = Config::parse(text, "t").unwrap_err().to_string();
            assert!(err.contains(key) && err.contains(why), "{text}: {err}");
        }
        // Port 0 (any free port) and different ports never collide.
        Config::parse(
            "[[listen]]\naddress = \"127.0.0.1:0\"\n[[listen]]\naddress = \"127.0.0.1:0\"\n[[listen]]\naddress = \"127.0.0.1:6701\"\n",
            "t",
        )
        .unwrap();
    }

    #[test]
    fn example_config_parses() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml"))
                .unwrap();
        Config::parse(&text, "config.example.toml").unwrap();
    }
}
