//! Upstream links of one bot and who owns what: exactly one *active* link
//! carries the bot's actions and exactly one publishes its events (a
//! Universal link does both; an API+Event pair splits them). Every other link
//! of the bot is a *standby*: kept open and health-checked, its events
//! dropped and counted. When the active link goes away, the longest-connected
//! standby is promoted in the same step, so actions never see a gap.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::serve::UpstreamLink;

/// What happens when a second link arrives for a bot that has an active one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnDuplicate {
    /// The newcomer waits as a standby (promoted when the active link goes).
    #[default]
    Standby,
    /// The newcomer becomes active; the old active link is closed.
    Replace,
    /// The newcomer is closed with a reason naming the bot.
    Refuse,
}

/// How a link reached the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkKind {
    /// The embedded sandbox account.
    Sandbox,
    /// The gateway dialled the implementation (`type = "ws"`).
    WsDialled,
    /// The implementation dialled the gateway (`type = "ws-reverse"`).
    WsDialIn,
    /// A Milky implementation the gateway dialled (`type = "milky"`).
    Milky,
}

/// A link's state as `/status` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    /// Carries the bot's actions and/or publishes its events.
    Active,
    /// Kept open, not used; promoted when the active link goes.
    Standby,
}

/// Private close codes (4000–4999) the gateway uses; each close also carries a reason.
pub mod close_code {
    /// A newer connection of the same bot or app took this one's place.
    pub const REPLACED: u16 = 4001;
    /// A second connection for an identity that refuses duplicates.
    pub const DUPLICATE_REFUSED: u16 = 4002;
    /// The link may not claim this bot (not in `self_ids`, or a sandbox bot).
    pub const CLAIM_REFUSED: u16 = 4003;
    /// The active link did not answer a probe in time.
    pub const PROBE_FAILED: u16 = 4004;
    /// The implementation never said which account it is.
    pub const NO_SELF_ID: u16 = 4005;
}

/// One upstream link of a bot, shared by the registry and the link's task.
pub struct Link {
    /// Registry-unique link id (shown in `/status`, bound to every pending action).
    pub id: u64,
    /// How it connected.
    pub kind: LinkKind,
    /// Which halves it carries.
    pub role: Role,
    /// Remote address or URL (redacted), for logs and `/status`.
    pub peer: String,
    /// Unix ms when it connected.
    pub since_unix_ms: i64,
    connected_at: Instant,
    /// The sending half (for links that carry actions).
    pub handle: UpstreamLink,
    /// The link's policy for duplicates of its bot.
    pub on_duplicate: OnDuplicate,
    publishes: AtomicBool,
    carries_actions: AtomicBool,
    /// Unix ms of the last heartbeat the implementation sent (0: none yet).
    pub last_heartbeat_unix_ms: AtomicI64,
    /// Events received while standby, dropped.
    pub standby_events_dropped: AtomicU64,
    /// Binary frames received, dropped.
    pub binary_frames_dropped: AtomicU64,
    /// Events the gateway could not read (malformed, or of a type it does
    /// not know, as a Milky implementation may add), ignored.
    pub events_ignored: AtomicU64,
    /// Cancelled to close the link; the reason is in `close_reason`.
    pub close: CancellationToken,
    close_reason: Mutex<Option<(u16, String)>>,
    /// Asks the link's task to prove it is alive (a WS ping); the sender is
    /// answered when any frame arrives after it.
    pub probe: Option<mpsc::Sender<oneshot::Sender<()>>>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("peer", &self.peer)
            .finish()
    }
}

impl Link {
    /// A new link, not yet attached to its bot.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: u64,
        kind: LinkKind,
        role: Role,
        peer: String,
        handle: UpstreamLink,
        on_duplicate: OnDuplicate,
        probe: Option<mpsc::Sender<oneshot::Sender<()>>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            id,
            kind,
            role,
            peer,
            since_unix_ms: unix_ms(),
            connected_at: Instant::now(),
            handle,
            on_duplicate,
            publishes: AtomicBool::new(false),
            carries_actions: AtomicBool::new(false),
            last_heartbeat_unix_ms: AtomicI64::new(0),
            standby_events_dropped: AtomicU64::new(0),
            binary_frames_dropped: AtomicU64::new(0),
            events_ignored: AtomicU64::new(0),
            close: CancellationToken::new(),
            close_reason: Mutex::new(None),
            probe,
        })
    }

    /// Whether this link's events go to the bot's log (it is the active event carrier).
    pub fn publishes(&self) -> bool {
        self.publishes.load(Ordering::Acquire)
    }

    /// Whether this link is the active carrier of the bot's actions.
    pub fn carries_actions(&self) -> bool {
        self.carries_actions.load(Ordering::Acquire)
    }

    /// Active or standby.
    pub fn state(&self) -> LinkState {
        if self.publishes() || self.carries_actions() {
            LinkState::Active
        } else {
            LinkState::Standby
        }
    }

    /// Asks the link's task to close it with `code` and `reason`.
    pub fn close_with(&self, code: u16, reason: impl Into<String>) {
        let mut slot = self.close_reason.lock().expect("link lock poisoned");
        if slot.is_none() {
            *slot = Some((code, reason.into()));
        }
        drop(slot);
        self.close.cancel();
    }

    /// The code and reason given to [`Link::close_with`].
    pub fn close_reason(&self) -> Option<(u16, String)> {
        self.close_reason
            .lock()
            .expect("link lock poisoned")
            .clone()
    }

    /// Sends a probe and waits up to `limit` for a sign of life.
    pub async fn probe_alive(&self, limit: std::time::Duration) -> bool {
        let Some(probe) = &self.probe else {
            return true; // the sandbox is always alive
        };
        let (tx, rx) = oneshot::channel();
        let work = async { probe.send(tx).await.is_ok() && rx.await.is_ok() };
        tokio::time::timeout(limit, work).await.unwrap_or(false)
    }
}

/// Unix time in milliseconds.
pub fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// What [`Links::attach`] decided for a newcomer.
#[derive(Debug)]
pub enum Attached {
    /// It is active (the bot had no active link for what it carries, or it replaced one).
    Active,
    /// It waits as a standby; the active link should be probed.
    Standby {
        /// The active link(s) it duplicates, to probe.
        active: Vec<Arc<Link>>,
    },
    /// Refused by the policy; the text is the close reason.
    Refused(String),
}

/// The links of one bot. Changes happen under one lock, so the choice of
/// the active link is never seen half-made.
#[derive(Debug, Default)]
pub struct Links {
    inner: Mutex<Vec<Arc<Link>>>,
}

/// What changed when the link table changed: the bot's action carrier.
pub(crate) type ActionCarrier = Option<UpstreamLink>;

impl Links {
    /// Every link, oldest first.
    pub fn all(&self) -> Vec<Arc<Link>> {
        self.inner.lock().expect("links lock poisoned").clone()
    }

    /// Whether any link satisfies `f`.
    pub fn any(&self, f: impl Fn(&Link) -> bool) -> bool {
        self.inner
            .lock()
            .expect("links lock poisoned")
            .iter()
            .any(|l| f(l))
    }

    /// Attaches a newcomer under its policy. Returns the decision and the new
    /// action carrier, when that changed.
    pub(crate) fn attach(
        &self,
        self_id: i64,
        link: Arc<Link>,
    ) -> (Attached, Option<ActionCarrier>) {
        let mut links = self.inner.lock().expect("links lock poisoned");
        let wants_actions = link.role.sends_actions();
        let wants_events = link.role.receives_events();
        let holders: Vec<Arc<Link>> = links
            .iter()
            .filter(|l| (wants_actions && l.carries_actions()) || (wants_events && l.publishes()))
            .cloned()
            .collect();
        // A remote link that may claim a sandbox bot takes over from the
        // sandbox, which waits as a standby (it comes back when the remote goes).
        let over_sandbox = !holders.is_empty()
            && link.kind != LinkKind::Sandbox
            && holders.iter().all(|h| h.kind == LinkKind::Sandbox);
        let policy = if over_sandbox {
            OnDuplicate::Replace
        } else {
            link.on_duplicate
        };
        if !holders.is_empty() && policy == OnDuplicate::Refuse {
            let ids: Vec<String> = holders.iter().map(|h| h.id.to_string()).collect();
            let reason = format!(
                "bot {self_id} already has an active link ({}); this upstream entry has on_duplicate = \"refuse\"",
                ids.join(", ")
            );
            tracing::warn!(self_id, link = link.id, peer = %link.peer, %reason, "link refused");
            return (Attached::Refused(reason), None);
        }
        links.push(link.clone());
        if holders.is_empty() || policy == OnDuplicate::Replace {
            for h in &holders {
                if wants_actions {
                    h.carries_actions.store(false, Ordering::Release);
                }
                if wants_events {
                    h.publishes.store(false, Ordering::Release);
                }
                if h.kind == LinkKind::Sandbox {
                    tracing::info!(
                        self_id,
                        link = h.id,
                        by = link.id,
                        "sandbox link now standby: a remote link claimed the bot"
                    );
                } else if h.state() == LinkState::Standby {
                    tracing::info!(self_id, link = h.id, peer = %h.peer, by = link.id, "link replaced (on_duplicate = \"replace\")");
                    h.close_with(
                        close_code::REPLACED,
                        format!("replaced by a newer link of bot {self_id}"),
                    );
                }
            }
            link.carries_actions.store(wants_actions, Ordering::Release);
            link.publishes.store(wants_events, Ordering::Release);
            let why = if holders.is_empty() {
                "no other active link"
            } else if over_sandbox {
                "takes over from the sandbox"
            } else {
                "replaces the previous active link"
            };
            tracing::info!(self_id, link = link.id, kind = ?link.kind, role = ?link.role, peer = %link.peer, reason = why, "link active");
            let carrier = wants_actions.then(|| Some(link.handle.clone()));
            return (Attached::Active, carrier);
        }
        tracing::info!(self_id, link = link.id, kind = ?link.kind, role = ?link.role, peer = %link.peer, active = ?holders.iter().map(|h| h.id).collect::<Vec<_>>(), reason = "the bot has an active link (on_duplicate = \"standby\")", "link standby");
        (Attached::Standby { active: holders }, None)
    }

    /// Removes a link; promotes the longest-connected standby for whatever
    /// it carried. Returns the new action carrier when that changed.
    pub(crate) fn detach(&self, self_id: i64, id: u64, why: &str) -> Option<ActionCarrier> {
        let mut links = self.inner.lock().expect("links lock poisoned");
        let pos = links.iter().position(|l| l.id == id)?;
        let gone = links.remove(pos);
        let (had_actions, had_events) = (gone.carries_actions(), gone.publishes());
        gone.carries_actions.store(false, Ordering::Release);
        gone.publishes.store(false, Ordering::Release);
        let mut carrier = None;
        if had_actions {
            let next = successor(&links, Role::sends_actions);
            carrier = Some(next.as_ref().map(|l| l.handle.clone()));
            if let Some(next) = &next {
                next.carries_actions.store(true, Ordering::Release);
                tracing::info!(self_id, link = next.id, peer = %next.peer, lost = id, reason = %why, "link promoted: carries the bot's actions");
            }
        }
        if had_events {
            if let Some(next) = successor(&links, Role::receives_events) {
                next.publishes.store(true, Ordering::Release);
                tracing::info!(self_id, link = next.id, peer = %next.peer, lost = id, reason = %why, "link promoted: publishes the bot's events");
            }
        }
        carrier
    }
}

/// The link that takes over a half (`carries` says which roles can): the
/// longest-connected one not closing, remote links before the sandbox.
fn successor(links: &[Arc<Link>], carries: fn(Role) -> bool) -> Option<Arc<Link>> {
    links
        .iter()
        .filter(|l| carries(l.role) && !l.close.is_cancelled())
        .min_by_key(|l| (l.kind == LinkKind::Sandbox, l.connected_at))
        .cloned()
}

/// Who an upstream connection claims to be and under which rules.
#[derive(Debug, Clone)]
pub struct LinkSpec {
    /// How it connected.
    pub kind: LinkKind,
    /// Its role (Universal, API or Event).
    pub role: Role,
    /// Remote address or URL (redacted), for logs.
    pub peer: String,
    /// The bot, if known before the link speaks (X-Self-ID, config).
    pub self_id: Option<i64>,
    /// Its entry's duplicate policy.
    pub on_duplicate: OnDuplicate,
    /// Bots this link may claim once its self_id is learnt (`None`: any
    /// bot not served by the sandbox).
    pub allowed: Option<Vec<i64>>,
}

/// A connection's role, as in `X-Client-Role`: an app's or an implementation link's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Role {
    /// Actions and events on one connection.
    Universal,
    /// Actions only.
    Api,
    /// Events only; actions are refused.
    Event,
}

impl Role {
    /// Parses a role header value, liberally (`API`, `Api`, `api`).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "universal" => Some(Self::Universal),
            "api" => Some(Self::Api),
            "event" => Some(Self::Event),
            _ => None,
        }
    }

    /// The exact header spelling apps expect (`Universal`, `API`, `Event`).
    pub fn header_value(self) -> &'static str {
        match self {
            Self::Universal => "Universal",
            Self::Api => "API",
            Self::Event => "Event",
        }
    }

    /// True when this role receives events.
    pub fn receives_events(self) -> bool {
        matches!(self, Self::Universal | Self::Event)
    }

    /// True when this role may send actions.
    pub fn sends_actions(self) -> bool {
        matches!(self, Self::Universal | Self::Api)
    }
}
