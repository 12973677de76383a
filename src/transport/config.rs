//! The configuration sections the transport layer serves: `[[listen]]`,
//! `[[apps]]`, `[[reverse]]` and `[[http_post]]` (the config file module
//! re-exports them and validates the whole file).

use serde::{Deserialize, Serialize};

use crate::core::AppOptions;
use crate::redact::Secret;

/// The default forward WS listener when no config is given.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:6700";

/// `[[listen]]`: a forward WS listener for apps.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenConfig {
    /// `host:port` to bind.
    pub address: String,
    /// Token apps must present (`Authorization: Bearer` or `?access_token=`); empty = none.
    pub access_token: Secret,
    /// Delivery options of anonymous apps on this listener.
    #[serde(rename = "app")]
    pub options: AppOptions,
    /// Web origins (`https://host[:port]`) whose pages may call this
    /// listener; every other page is refused (its own origin always works).
    pub allowed_origins: Vec<String>,
    /// Most live WebSockets on this listener; the next upgrade gets 503.
    pub max_connections: usize,
    /// The bot `/`, `/api`, `/event` and `/{action}` serve when several are
    /// served here (a pool's id, say); without it they need `/{self_id}/`.
    /// A Milky listener serves this bot only (`bot` is its other name).
    #[serde(skip_serializing_if = "Option::is_none", alias = "bot")]
    pub default_bot: Option<i64>,
    /// What apps speak here: `onebot` (v11, the default) or `milky`.
    pub protocol: ListenProtocol,
}

/// `[[listen]] protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ListenProtocol {
    /// OneBot v11: forward WebSocket and HTTP API.
    #[default]
    Onebot,
    /// Milky: `POST /api/:api`, `GET /event` (WebSocket or SSE).
    Milky,
}

impl Default for ListenConfig {
    fn default() -> Self {
        Self {
            address: String::from(DEFAULT_LISTEN),
            access_token: Secret::default(),
            options: AppOptions::default(),
            allowed_origins: Vec::new(),
            max_connections: 10_000,
            default_bot: None,
            protocol: ListenProtocol::Onebot,
        }
    }
}

/// `[[apps]]`: a named app identity, for replay after reconnect.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NamedAppConfig {
    /// The name (`?app=NAME` on a forward connection).
    pub name: String,
    /// A token of its own: an app presenting it is this app.
    #[serde(default)]
    pub access_token: Secret,
    /// Delivery options.
    #[serde(default)]
    #[serde(rename = "app")]
    pub options: AppOptions,
    /// A second live session of this app: `replace` the older one (default) or `refuse` the newer.
    #[serde(default)]
    pub on_duplicate: crate::core::SessionOnDuplicate,
    /// Where its cursor starts: at its first connection (default), or at the
    /// gateway's start, so it gets what happened before it first connected.
    #[serde(default)]
    pub start: AppStart,
}

/// `[[apps]] start`: where a named app's cursor begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AppStart {
    /// At the app's first connection (the live edge then).
    #[default]
    FirstConnect,
    /// At the gateway's start (or a bot's first appearance).
    GatewayStart,
}

/// `[[reverse]]`: the gateway dials an app.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReverseConfig {
    /// A name for logs and for the app's identity; defaults to the URL.
    pub name: Option<String>,
    /// Universal endpoint, e.g. `ws://127.0.0.1:8080/onebot/v11/ws`.
    pub url: Option<String>,
    /// API endpoint (split layout, with `event_url`).
    pub api_url: Option<String>,
    /// Event endpoint (split layout, with `api_url`).
    pub event_url: Option<String>,
    /// Which bots to connect for; empty = every bot (one connection per bot).
    pub bots: Vec<i64>,
    /// Sent as `Authorization: Bearer`.
    pub access_token: Secret,
    /// First reconnect delay, ms (doubles up to `max_reconnect_interval_ms`, with jitter).
    pub reconnect_interval_ms: u64,
    /// Reconnect delay cap, ms.
    pub max_reconnect_interval_ms: u64,
    /// `User-Agent` header.
    pub user_agent: String,
    /// Delivery options.
    #[serde(rename = "app")]
    pub options: AppOptions,
}

impl Default for ReverseConfig {
    fn default() -> Self {
        Self {
            name: None,
            url: None,
            api_url: None,
            event_url: None,
            bots: Vec::new(),
            access_token: Secret::default(),
            reconnect_interval_ms: 1_000,
            max_reconnect_interval_ms: 30_000,
            user_agent: format!("onebot-gateway/{}", env!("CARGO_PKG_VERSION")),
            options: AppOptions::default(),
        }
    }
}

impl ReverseConfig {
    /// The target's name: `name`, or the first URL.
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .or_else(|| self.url.clone())
            .or_else(|| self.api_url.clone())
            .map(|n| crate::redact::redact(&n))
            .unwrap_or_default()
    }
}

/// `[[http_post]]`: events are POSTed to a URL (go-cqhttp's HTTP post).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpPostConfig {
    /// A name for logs and the delivery identity; defaults to the URL.
    pub name: Option<String>,
    /// Where to POST, e.g. `http://127.0.0.1:8080/onebot`.
    pub url: String,
    /// Which bots; empty = every bot.
    pub bots: Vec<i64>,
    /// HMAC-SHA1 key for `X-Signature: sha1=...`; empty = unsigned.
    pub secret: Secret,
    /// Time allowed for one POST, ms.
    pub timeout_ms: u64,
    /// First retry delay after a failed POST, ms (doubles with jitter up to the cap).
    pub retry_interval_ms: u64,
    /// Retry delay cap, ms.
    pub max_retry_interval_ms: u64,
    /// `User-Agent` header.
    pub user_agent: String,
    /// Delivery options (post format, message_sent).
    #[serde(rename = "app")]
    pub options: AppOptions,
}

impl Default for HttpPostConfig {
    fn default() -> Self {
        Self {
            name: None,
            url: String::new(),
            bots: Vec::new(),
            secret: Secret::default(),
            timeout_ms: 5_000,
            retry_interval_ms: 1_000,
            max_retry_interval_ms: 30_000,
            user_agent: format!("onebot-gateway/{}", env!("CARGO_PKG_VERSION")),
            options: AppOptions::default(),
        }
    }
}

impl HttpPostConfig {
    /// The target's name: `name`, or the URL.
    pub fn display_name(&self) -> String {
        crate::redact::redact(self.name.as_ref().unwrap_or(&self.url))
    }
}

/// `[[upstream.accounts]]`: a bot with its own dial-in token.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamAccount {
    /// The bot.
    pub self_id: i64,
    /// The token it must present.
    pub access_token: Secret,
}

/// `[[alert]]`: where a bot's offline/online transitions are sent.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AlertConfig {
    /// POST the notice as JSON (signed like HTTP POST when `secret` is set).
    Webhook {
        /// The receiver.
        url: String,
        /// HMAC-SHA1 key for `X-Signature`; empty = unsigned.
        #[serde(default)]
        secret: Secret,
        /// Bots whose alerts go here; empty = every bot.
        #[serde(default)]
        bots: Vec<i64>,
        /// Per attempt, ms.
        #[serde(default = "default_alert_timeout_ms")]
        timeout_ms: u64,
    },
    /// A QQ message through another bot that is online.
    Message {
        /// The bot that sends it.
        via: i64,
        /// To this user (or give `group_id`).
        #[serde(default)]
        user_id: Option<i64>,
        /// To this group (or give `user_id`).
        #[serde(default)]
        group_id: Option<i64>,
        /// Plain text; `{self_id}`, `{state}` (offline/online) and `{reason}` are filled in.
        #[serde(default = "default_alert_template")]
        template: String,
        /// Bots whose alerts go here; empty = every bot but `via`.
        #[serde(default)]
        bots: Vec<i64>,
    },
}

impl AlertConfig {
    /// The bots it covers (empty = all).
    pub fn bots(&self) -> &[i64] {
        match self {
            Self::Webhook { bots, .. } | Self::Message { bots, .. } => bots,
        }
    }
}

fn default_alert_timeout_ms() -> u64 {
    10_000
}

fn default_alert_template() -> String {
    String::from("onebot-gateway: bot {self_id} is {state} ({reason})")
}
