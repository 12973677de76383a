//! The connection manager: every bot, its upstream link and health, and the
//! apps connected to it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::bus::{EventLog, PostFormat, Retention};
use super::journal::Journal;
pub use super::links::Role;
use super::links::{Attached, Link, LinkKind, Links};
use super::serve::{EventSink, UpstreamLink};

/// How `_async` actions are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AsyncReply {
    /// `status: async, retcode: 1`, as the OneBot v11 spec says.
    #[default]
    Spec,
    /// `status: ok, retcode: 0`: Koishi treats retcode 1 as an error.
    Ok,
}

/// Per-app delivery options.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AppOptions {
    /// `array` or `string` for the `message` field of message events.
    pub post_format: PostFormat,
    /// Whether to deliver `message_sent` events (Koishi treats them as messages
    /// and may answer itself, so the default is off).
    pub message_sent: bool,
    /// Largest frame sent to this app, in bytes; larger events are skipped and
    /// counted, larger answers are replaced by a `failed` answer. NoneBot's
    /// client refuses frames over 1 MiB.
    pub max_frame_bytes: usize,
    /// How `_async` actions are answered.
    pub async_reply: AsyncReply,
    /// Most events this app may fall behind before `on_lag` applies.
    pub max_lag: u64,
    /// What happens to an app that falls `max_lag` events behind.
    pub on_lag: LagPolicy,
    /// Whether a `gateway_events_lost` notice tells the app which events it lost.
    pub notify_lost: bool,
    /// A go-cqhttp-style event filter (a JSON file): only matching events are sent.
    pub filter: Option<FilterFile>,
    /// Whether the gateway's own `gateway_bot_offline` / `gateway_bot_online`
    /// notices are sent to this app.
    pub gateway_notices: bool,
}

/// An event filter loaded from a JSON file when the configuration is read,
/// so a bad filter stops the start with its path and the bad part.
#[derive(Debug, Clone)]
pub struct FilterFile {
    /// The file.
    pub path: std::path::PathBuf,
    /// The compiled filter.
    pub filter: Arc<crate::protocol::filter::Filter>,
    /// The file's text when loaded (a reload compares it).
    source: String,
}

impl FilterFile {
    /// Reads and compiles a filter file.
    ///
    /// # Errors
    /// A message naming the file and the problem.
    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("filter file {}: {e}", path.display()))?;
        let doc: Value = serde_json::from_str(&text)
            .map_err(|e| format!("filter file {}: invalid JSON: {e}", path.display()))?;
        let filter = crate::protocol::filter::Filter::compile(&doc)
            .map_err(|e| format!("filter file {}: {e}", path.display()))?;
        Ok(Self {
            path: path.to_owned(),
            filter: Arc::new(filter),
            source: text,
        })
    }
}

impl PartialEq for FilterFile {
    /// Same file with the same text.
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path && self.source == other.source
    }
}

impl<'de> Deserialize<'de> for FilterFile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let path = std::path::PathBuf::deserialize(d)?;
        Self::load(&path).map_err(serde::de::Error::custom)
    }
}

impl Serialize for FilterFile {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.path.serialize(s)
    }
}

impl AppOptions {
    /// Whether this app is sent `event` at all: `message_sent` only when asked
    /// for, and only what its filter lets through.
    pub fn wants(&self, event: &super::bus::BusEvent) -> bool {
        if event.header.post_type == crate::protocol::event::PostType::MessageSent
            && !self.message_sent
        {
            return false;
        }
        if !self.gateway_notices
            && event
                .header
                .detail_type
                .as_deref()
                .is_some_and(crate::protocol::event::is_gateway_bot_notice)
        {
            return false;
        }
        self.filter
            .as_ref()
            .is_none_or(|f| f.filter.matches(event.value()))
    }
}

/// What happens to an app that falls too far behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LagPolicy {
    /// Close it with a reason; it resumes from its cursor when it reconnects
    /// (named apps and reverse targets replay what they missed).
    #[default]
    Disconnect,
    /// Keep it connected, skip to the newest events and count the skipped ones as lost.
    DropOldest,
}

/// Per-app delivery counters (shown by the status endpoint and in the disconnect log line).
#[derive(Debug, Default)]
pub struct AppStats {
    /// Events written to the app.
    pub delivered: AtomicU64,
    /// Of those, events it had missed while away (replayed on reconnect).
    pub replayed: AtomicU64,
    /// Events it will never get (evicted before it read them, or skipped by `drop-oldest`).
    pub lost: AtomicU64,
    /// Events not sent because they exceed the app's `max_frame_bytes`.
    pub oversize: AtomicU64,
    /// The app's written cursor: the next sequence number it will be sent.
    pub cursor: AtomicU64,
    /// The app's confirmed cursor: events before it were provably read by the app.
    pub confirmed: AtomicU64,
    /// Events sent again because the previous session ended before confirming them.
    pub duplicates: AtomicU64,
    /// Actions received.
    pub actions: AtomicU64,
    /// WebSocket Pings the app sent (its own keepalive; answered by the socket).
    pub pings_received: AtomicU64,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            post_format: PostFormat::Array,
            message_sent: false,
            max_frame_bytes: 1024 * 1024,
            async_reply: AsyncReply::Spec,
            max_lag: 50_000,
            on_lag: LagPolicy::Disconnect,
            notify_lost: false,
            filter: None,
            gateway_notices: false,
        }
    }
}

/// A bot's upstream health, as reported to apps in heartbeats and `get_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Health {
    /// The upstream is connected.
    pub online: bool,
    /// The upstream reports itself healthy (its heartbeat `status.good`).
    pub good: bool,
}

/// One account.
pub struct Bot {
    /// The account id.
    pub self_id: i64,
    /// Its event log.
    pub log: Arc<EventLog>,
    upstream: RwLock<Option<UpstreamLink>>,
    /// Its upstream links (active and standby).
    pub links: Links,
    health: watch::Sender<Health>,
    /// Saved cursors of app identities that are away, for replay on reconnect.
    pub cursors: DashMap<String, u64>,
    /// Identities whose last session ended without confirming what it was
    /// written: the written position, to count what is sent again.
    pub unconfirmed_ends: DashMap<String, u64>,
    /// The account's offline/online transitions (newest last, at most 20),
    /// as the alert watcher decided them.
    pub transitions: std::sync::Mutex<std::collections::VecDeque<Value>>,
}

impl std::fmt::Debug for Bot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bot")
            .field("self_id", &self.self_id)
            .finish()
    }
}

impl Bot {
    fn new(self_id: i64, log: EventLog) -> Self {
        Self {
            self_id,
            log: Arc::new(log),
            upstream: RwLock::new(None),
            links: Links::default(),
            health: watch::Sender::new(Health {
                online: false,
                good: false,
            }),
            cursors: DashMap::new(),
            unconfirmed_ends: DashMap::new(),
            transitions: std::sync::Mutex::new(std::collections::VecDeque::new()),
        }
    }

    /// The current upstream link, if connected.
    pub fn upstream(&self) -> Option<UpstreamLink> {
        self.upstream.read().expect("bot lock poisoned").clone()
    }

    /// Attaches a new upstream link under its duplicate policy (see [`Links`]).
    pub fn attach_link(&self, link: Arc<Link>) -> Attached {
        let (decision, carrier) = self.links.attach(self.self_id, link);
        if let Some(carrier) = carrier {
            self.set_carrier(carrier);
        }
        decision
    }

    /// Removes a link that ended; a standby takes over what it carried.
    pub fn detach_link(&self, id: u64, why: &str) {
        if let Some(carrier) = self.links.detach(self.self_id, id, why) {
            self.set_carrier(carrier);
        }
    }

    fn set_carrier(&self, link: Option<UpstreamLink>) {
        let online = link.is_some();
        *self.upstream.write().expect("bot lock poisoned") = link;
        self.health.send_modify(|h| {
            h.online = online;
            h.good = online;
        });
    }

    /// Follows the bot's health (connected or not).
    pub fn watch_health(&self) -> watch::Receiver<Health> {
        self.health.subscribe()
    }

    /// Whether events the sandbox produces for this bot are published (no
    /// remote link claimed the bot).
    pub fn sandbox_publishes(&self) -> bool {
        self.links
            .any(|l| l.kind == LinkKind::Sandbox && l.publishes())
    }

    /// Records the upstream's own view of its health (heartbeat `status.good`).
    pub fn set_good(&self, good: bool) {
        self.health.send_if_modified(|h| {
            let changed = h.good != good;
            h.good = good;
            changed
        });
    }

    /// The current health.
    pub fn health(&self) -> Health {
        *self.health.borrow()
    }
}

/// Everything the connection manager knows about one connected app.
#[derive(Debug, Clone)]
pub struct AppCtx {
    /// Gateway-unique id of this connection.
    pub id: u64,
    /// The bot the connection is bound to.
    pub bot: Arc<Bot>,
    /// Its role.
    pub role: Role,
    /// Its delivery options.
    pub options: AppOptions,
    /// A stable name for cursors and replay (a configured app name, or a
    /// reverse target and bot); `None` for anonymous apps, which start live.
    pub identity: Option<String>,
    /// Remote address or URL, for logs.
    pub peer: String,
    /// Delivery counters.
    pub stats: Arc<AppStats>,
    /// What a second live session of the same named identity does.
    pub on_duplicate: SessionOnDuplicate,
}

/// What happens when a named app connects while a session of it is live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionOnDuplicate {
    /// The older session is closed ("replaced by a newer connection"); the
    /// newer continues from its cursor.
    #[default]
    Replace,
    /// The newer session is closed; the older one stays.
    Refuse,
}

/// The live session that holds a named identity.
#[derive(Debug, Clone)]
struct IdentityHolder {
    app_id: u64,
    replaced: CancellationToken,
    done: CancellationToken,
}

/// One session's hold on its named identity (one live session per identity,
/// bot and event-or-not); dropping it frees the identity.
#[derive(Debug)]
pub struct IdentityClaim {
    registry: Arc<Registry>,
    key: IdentityKey,
    holder: IdentityHolder,
}

type IdentityKey = (i64, String, bool);

impl IdentityClaim {
    /// Cancelled when a newer session of the same identity replaces this one.
    pub fn replaced(&self) -> &CancellationToken {
        &self.holder.replaced
    }
}

impl Drop for IdentityClaim {
    fn drop(&mut self) {
        let id = self.holder.app_id;
        self.registry
            .identities
            .remove_if(&self.key, |_, h| h.app_id == id);
        self.holder.done.cancel();
    }
}

/// State of one outbound connection (a `[[reverse]]` target's link to one
/// bot, or a dialled `ws` upstream), for `/status`.
#[derive(Debug, Clone, Serialize)]
pub struct DialStatus {
    /// `reverse` (the gateway dials an app) or `upstream` (it dials an implementation).
    pub kind: &'static str,
    /// The target's name (or URL).
    pub name: String,
    /// The URL, secrets redacted.
    pub url: String,
    /// The bot, when known.
    pub self_id: Option<i64>,
    /// `connecting`, `connected`, `backoff` or `refused`.
    pub state: &'static str,
    /// Why the last attempt or connection ended.
    pub last_error: Option<String>,
    /// Unix ms of the next attempt, while in backoff.
    pub next_attempt_unix_ms: Option<i64>,
}

impl DialStatus {
    /// A dial not yet attempted.
    pub fn new(kind: &'static str, name: String, url: String, self_id: Option<i64>) -> Self {
        // Secrets never reach /status, whatever the caller passed.
        Self {
            kind,
            name: crate::redact::redact(&name),
            url: crate::redact::redact(&url),
            self_id,
            state: "connecting",
            last_error: None,
            next_attempt_unix_ms: None,
        }
    }

    /// This dial in another state.
    pub fn at(&self, state: &'static str, last_error: Option<String>, next: Option<i64>) -> Self {
        Self {
            state,
            last_error: last_error.map(|e| crate::redact::redact(&e)),
            next_attempt_unix_ms: next,
            ..self.clone()
        }
    }
}

/// All bots and app sessions.
pub struct Registry {
    bots: DashMap<i64, Arc<Bot>>,
    retention: Retention,
    journal: Option<(Arc<Journal>, Vec<i64>)>,
    next_app_id: AtomicU64,
    /// Connected apps, for the status endpoint.
    pub apps: DashMap<u64, AppCtx>,
    identities: DashMap<IdentityKey, IdentityHolder>,
    next_link_id: AtomicU64,
    /// Outbound connections (reverse targets, dialled upstreams) and their state.
    pub dials: DashMap<String, DialStatus>,
    /// Named apps whose cursor starts with the gateway (or with a bot's first appearance).
    start_identities: RwLock<Vec<String>>,
    bot_added: watch::Sender<u64>,
    /// The last [`DEPARTED_KEPT`] sessions that ended, newest last, with why.
    departed: std::sync::Mutex<std::collections::VecDeque<Value>>,
}

/// Ended sessions kept for `/status`.
pub const DEPARTED_KEPT: usize = 100;

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("bots", &self.bots.len())
            .finish()
    }
}

impl Registry {
    /// An empty registry; every bot's log uses `retention`.
    pub fn new(retention: Retention) -> Arc<Self> {
        Self::with_journal(retention, None)
    }

    /// A registry whose bots (all, or those listed) keep a durable journal.
    /// Bots found in the journal are restored at once, with their saved cursors.
    pub fn with_journal(
        retention: Retention,
        journal: Option<(Arc<Journal>, Vec<i64>)>,
    ) -> Arc<Self> {
        let restored = journal
            .as_ref()
            .map(|(j, _)| j.restored_bots())
            .unwrap_or_default();
        let registry = Arc::new(Self {
            bots: DashMap::new(),
            retention,
            journal,
            next_app_id: AtomicU64::new(1),
            apps: DashMap::new(),
            departed: Default::default(),
            identities: DashMap::new(),
            next_link_id: AtomicU64::new(1),
            dials: DashMap::new(),
            start_identities: RwLock::new(Vec::new()),
            bot_added: watch::Sender::new(0),
        });
        for self_id in restored {
            registry.bot_or_insert(self_id);
        }
        registry
    }

    fn journal_for(&self, self_id: i64) -> Option<&Arc<Journal>> {
        self.journal
            .as_ref()
            .filter(|(_, bots)| bots.is_empty() || bots.contains(&self_id))
            .map(|(j, _)| j)
    }

    fn new_bot(&self, self_id: i64) -> Bot {
        let Some(journal) = self.journal_for(self_id) else {
            return Bot::new(self_id, EventLog::new(self.retention, 1));
        };
        let restored = journal.take_restored(self_id);
        if !restored.events.is_empty() {
            tracing::info!(
                self_id,
                events = restored.events.len(),
                next_seq = restored.next_seq,
                "journal restored"
            );
        }
        let log = EventLog::restored(self.retention, restored.events, restored.next_seq);
        log.attach_journal(Box::new(journal.sender(self_id)));
        let bot = Bot::new(self_id, log);
        for (identity, seq) in restored.cursors {
            bot.cursors.insert(identity, seq);
        }
        bot
    }

    /// Waits (blocking, bounded) until the journal has committed everything
    /// queued; true when there is no journal.
    pub fn sync_journal(&self, limit: std::time::Duration) -> bool {
        self.journal.as_ref().is_none_or(|(j, _)| j.sync(limit))
    }

    /// Events waiting for the journal's commit (`None`: no journal).
    pub fn journal_queued(&self) -> Option<usize> {
        self.journal.as_ref().map(|(j, _)| j.queued())
    }

    /// Whether a link may claim bot `self_id`: `allowed` lists the bots of its
    /// endpoint (`None`: any bot the sandbox does not serve).
    ///
    /// # Errors
    /// The reason, for the refusal's log line and close frame.
    pub fn may_claim(&self, self_id: i64, allowed: Option<&[i64]>) -> Result<(), String> {
        match allowed {
            Some(list) if !list.contains(&self_id) => Err(format!(
                "bot {self_id} is not among this endpoint's self_ids / accounts"
            )),
            Some(_) => Ok(()),
            None => {
                let sandboxed = self
                    .bot(self_id)
                    .is_some_and(|b| b.links.any(|l| l.kind == LinkKind::Sandbox));
                if sandboxed {
                    Err(format!("bot {self_id} is served by the sandbox; list it in this upstream's self_ids to let an implementation take it over"))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// `bot`'s app cursors as the journal last committed them (empty: no journal).
    pub fn durable_cursors(&self, bot: i64) -> std::collections::HashMap<String, u64> {
        self.journal
            .as_ref()
            .map(|(j, _)| j.durable_cursors(bot))
            .unwrap_or_default()
    }

    /// Saves every journaled bot's app cursors (called periodically).
    pub fn save_cursors(&self) {
        let Some((journal, _)) = &self.journal else {
            return;
        };
        let mut all = Vec::new();
        for bot in self.bots.iter() {
            if self.journal_for(bot.self_id).is_some() {
                all.extend(
                    bot.cursors
                        .iter()
                        .map(|c| (bot.self_id, c.key().clone(), *c.value())),
                );
            }
        }
        journal.save_cursors(all);
    }

    /// The bot with this id, creating it (offline) on first sight.
    pub fn bot_or_insert(&self, self_id: i64) -> Arc<Bot> {
        if let Some(bot) = self.bots.get(&self_id) {
            return bot.clone();
        }
        let bot = self
            .bots
            .entry(self_id)
            .or_insert_with(|| {
                let bot = self.new_bot(self_id);
                let from = bot.log.first_retained();
                for identity in self
                    .start_identities
                    .read()
                    .expect("registry lock poisoned")
                    .iter()
                {
                    bot.cursors.entry(identity.clone()).or_insert(from);
                }
                Arc::new(bot)
            })
            .clone();
        self.bot_added.send_modify(|n| *n += 1);
        bot
    }

    /// Named apps owed every event from now on (`[[apps]] start =
    /// "gateway-start"`): each gets a cursor at every bot's head now, and at
    /// the first event of bots that appear later. Saved cursors are kept.
    pub fn set_start_identities(&self, identities: Vec<String>) {
        for bot in self.bots.iter() {
            let head = bot.log.head();
            for identity in &identities {
                bot.cursors.entry(identity.clone()).or_insert(head);
            }
        }
        *self
            .start_identities
            .write()
            .expect("registry lock poisoned") = identities;
    }

    /// The bot with this id, if known.
    pub fn bot(&self, self_id: i64) -> Option<Arc<Bot>> {
        self.bots.get(&self_id).map(|b| b.clone())
    }

    /// Every known bot, sorted by id.
    pub fn bots(&self) -> Vec<Arc<Bot>> {
        let mut bots: Vec<_> = self.bots.iter().map(|b| b.clone()).collect();
        bots.sort_by_key(|b| b.self_id);
        bots
    }

    /// The only bot, when exactly one exists.
    pub fn only_bot(&self) -> Option<Arc<Bot>> {
        if self.bots.len() == 1 {
            self.bots.iter().next().map(|b| b.clone())
        } else {
            None
        }
    }

    /// Changes whenever a bot is added (reverse targets dial new bots).
    pub fn watch_bots(&self) -> watch::Receiver<u64> {
        self.bot_added.subscribe()
    }

    /// Calls `start` once for every bot, those there now and those added
    /// later, until `stop`.
    pub async fn each_bot(&self, stop: &CancellationToken, mut start: impl FnMut(Arc<Bot>)) {
        let mut seen = std::collections::HashSet::new();
        let mut added = self.watch_bots();
        loop {
            for bot in self.bots() {
                if seen.insert(bot.self_id) {
                    start(bot);
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                changed = added.changed() => if changed.is_err() { return },
            }
        }
    }

    /// Registers a connected app and returns its context.
    pub fn register_app(
        &self,
        bot: Arc<Bot>,
        role: Role,
        options: AppOptions,
        identity: Option<String>,
        peer: String,
        on_duplicate: SessionOnDuplicate,
    ) -> AppCtx {
        let ctx = AppCtx {
            id: self.next_app_id.fetch_add(1, Ordering::Relaxed),
            bot,
            role,
            options,
            identity,
            // A URL peer (an HTTP POST or reverse target) may carry a token;
            // an address (most apps) is kept as it is, with no copy.
            peer: if peer.contains("://") {
                crate::redact::redact(&peer)
            } else {
                peer
            },
            stats: Arc::default(),
            on_duplicate,
        };
        self.apps.insert(ctx.id, ctx.clone());
        ctx
    }

    /// A context for a one-off caller (an HTTP API request): not listed
    /// among connected apps, id 0.
    pub fn ephemeral_app(
        &self,
        bot: Arc<Bot>,
        role: Role,
        options: AppOptions,
        identity: Option<String>,
    ) -> AppCtx {
        AppCtx {
            id: 0,
            bot,
            role,
            options,
            identity,
            peer: String::from("http"),
            stats: Arc::default(),
            on_duplicate: SessionOnDuplicate::Replace,
        }
    }

    /// A fresh link id.
    pub fn new_link_id(&self) -> u64 {
        self.next_link_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Makes `ctx` the one live session of its named identity. With
    /// `replace`, an older session is told to close and is waited for (up to
    /// `wait`), so its cursor is saved before this one reads it (its
    /// `replaced` token is cancelled to tell it); with
    /// `refuse`, an older live session keeps the identity and this gets `Err`
    /// with the close reason.
    pub async fn claim_identity(
        self: &Arc<Self>,
        ctx: &AppCtx,
        identity: &str,
        wait: std::time::Duration,
        replaced: CancellationToken,
    ) -> Result<IdentityClaim, String> {
        let key: IdentityKey = (
            ctx.bot.self_id,
            identity.to_owned(),
            ctx.role.receives_events(),
        );
        loop {
            let old = match self.identities.entry(key.clone()) {
                dashmap::Entry::Vacant(v) => {
                    let holder = IdentityHolder {
                        app_id: ctx.id,
                        replaced: replaced.clone(),
                        done: CancellationToken::new(),
                    };
                    v.insert(holder.clone());
                    return Ok(IdentityClaim {
                        registry: self.clone(),
                        key,
                        holder,
                    });
                }
                dashmap::Entry::Occupied(o) => o.get().clone(),
            };
            if ctx.on_duplicate == SessionOnDuplicate::Refuse {
                let reason = format!("app `{identity}` already has a live session (#{}) for bot {}; on_duplicate = \"refuse\"", old.app_id, ctx.bot.self_id);
                tracing::warn!(app = ctx.id, older = old.app_id, %reason, "app session refused");
                return Err(reason);
            }
            tracing::info!(
                app = ctx.id,
                older = old.app_id,
                identity,
                "app session replaces the older one (on_duplicate = \"replace\")"
            );
            old.replaced.cancel();
            if tokio::time::timeout(wait, old.done.cancelled())
                .await
                .is_err()
            {
                tracing::warn!(
                    older = old.app_id,
                    "older session did not end in time; its identity is taken over"
                );
                self.identities
                    .remove_if(&key, |_, h| h.app_id == old.app_id);
            }
        }
    }

    /// Upstream links that are not the sandbox, over every bot.
    pub fn remote_links(&self) -> usize {
        self.bots
            .iter()
            .map(|b| {
                b.links
                    .all()
                    .iter()
                    .filter(|l| l.kind != LinkKind::Sandbox)
                    .count()
            })
            .sum()
    }

    /// Whether every named app session that receives events has been
    /// written, and has confirmed, everything its bot published.
    pub fn named_apps_caught_up(&self) -> bool {
        self.apps.iter().all(|a| {
            if a.identity.is_none() || !a.role.receives_events() {
                return true;
            }
            let head = a.bot.log.head();
            a.stats.cursor.load(Ordering::Relaxed) >= head
                && a.stats.confirmed.load(Ordering::Relaxed) >= head
        })
    }

    /// The sum of named app sessions' confirmed positions (to see progress).
    pub fn named_apps_confirmed(&self) -> u64 {
        self.apps
            .iter()
            .filter(|a| a.identity.is_some())
            .map(|a| a.stats.confirmed.load(Ordering::Relaxed))
            .sum()
    }

    /// Forgets an app that disconnected.
    /// Forgets a session that ended, keeping its last counters and `reason`
    /// among the recently departed.
    pub fn unregister_app(&self, id: u64, reason: &str) {
        let Some((_, app)) = self.apps.remove(&id) else {
            return;
        };
        let s = &app.stats;
        let record = serde_json::json!({
            "id": app.id, "self_id": app.bot.self_id, "role": app.role, "identity": app.identity,
            "peer": app.peer, "reason": reason, "ended_unix_ms": super::links::unix_ms(),
            "delivered": s.delivered.load(Ordering::Relaxed), "replayed": s.replayed.load(Ordering::Relaxed),
            "lost": s.lost.load(Ordering::Relaxed), "actions": s.actions.load(Ordering::Relaxed),
        });
        let mut departed = self.departed.lock().expect("departed poisoned");
        if departed.len() == DEPARTED_KEPT {
            departed.pop_front();
        }
        departed.push_back(record);
    }

    /// The last sessions that ended, newest last.
    pub fn departed(&self) -> Vec<Value> {
        self.departed
            .lock()
            .expect("departed poisoned")
            .iter()
            .cloned()
            .collect()
    }
}

impl EventSink for Registry {
    fn publish(&self, self_id: i64, event: Value) {
        let bot = self.bot_or_insert(self_id);
        // A remote link that claimed a sandbox bot publishes instead.
        if bot.sandbox_publishes() {
            bot.log.publish_value(&event);
        }
    }
}
