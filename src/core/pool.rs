//! Pools: several accounts that apps see as one bot (`[[pool]]`).
//!
//! The pool is a bot of its own (its `self_id`, its event log, its cursors),
//! fed by a relay from its members' logs: a group message seen by several
//! members is published once (the first one wins), every event names the
//! member that received it, and every message id apps see is the pool's own,
//! mapped to (member, real id) in a table that survives restarts. Actions are
//! routed to a member by the dispatcher (see [`Pool::route`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dashmap::DashMap;
use serde_json::{json, Value};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::bus::Subscription;
use super::ids::IdTable;
use super::registry::Bot;
use crate::protocol::de::as_i64;

/// The field every pool event carries: the member that received it.
pub const MEMBER_FIELD: &str = "member_self_id";

/// Which member sends a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyVia {
    /// The member that received the message answered (or the group's last receiver).
    Receiver,
    /// Any member in the group, in configuration order.
    Any,
}

/// A pool's settings.
#[derive(Debug, Clone)]
pub struct PoolSpec {
    /// The id apps use.
    pub self_id: i64,
    /// Its nickname (`get_login_info`).
    pub name: String,
    /// The member bots, in order of preference.
    pub members: Vec<i64>,
    /// Who replies.
    pub reply_via: ReplyVia,
    /// How long a group message counts as a duplicate of one already delivered.
    pub dedupe_window: Duration,
    /// SQLite file of the id table (`:memory:` keeps it for this run only).
    pub store: String,
    /// Ids older than this are forgotten at start-up.
    pub id_retention: Duration,
}

/// One pool: its members, the id table and what routing has learnt.
pub struct Pool {
    /// Settings.
    pub spec: PoolSpec,
    /// The pool's own bot (log, cursors).
    pub bot: Arc<Bot>,
    /// The members, in order of preference.
    pub members: Vec<Arc<Bot>>,
    ids: IdTable,
    recent: Mutex<Recent>,
    /// Per group: members that received events from it, newest receiver first.
    groups: DashMap<i64, Vec<i64>>,
    /// Per user: the member that last had a private message from them.
    talked: DashMap<i64, i64>,
    /// Per user: members known to have them as a friend (a friend's private
    /// message, a `friend_add` notice), newest first.
    friends: DashMap<i64, Vec<i64>>,
    /// Group messages dropped as duplicates.
    pub duplicates: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("self_id", &self.spec.self_id)
            .finish()
    }
}

/// The member a call goes to, with its params rewritten for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Leg {
    /// The member.
    pub member: i64,
    /// The params with pool message ids replaced by the member's real ones.
    pub params: Value,
}

/// Where a call goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// Try these members in order until one succeeds.
    Members(Vec<Leg>),
    /// The pool answers itself.
    Answer(Value),
    /// Nobody can take it: the retcode and why.
    Refused(i64, String),
}

impl Pool {
    /// Opens the id table and builds the pool.
    ///
    /// # Errors
    /// When the id store cannot be opened.
    pub fn open(
        spec: PoolSpec,
        bot: Arc<Bot>,
        members: Vec<Arc<Bot>>,
    ) -> Result<Arc<Self>, String> {
        let ids = IdTable::open(&spec.store, "pool", spec.self_id, spec.id_retention)?;
        Ok(Arc::new(Self {
            spec,
            bot,
            members,
            ids,
            recent: Mutex::new(Recent::default()),
            groups: DashMap::new(),
            talked: DashMap::new(),
            friends: DashMap::new(),
            duplicates: std::sync::atomic::AtomicU64::new(0),
        }))
    }

    /// Relays every member's events into the pool's log until `stop`.
    pub async fn relay(self: Arc<Self>, stop: CancellationToken) {
        let members = self.members.clone();
        futures::future::join_all(
            members
                .into_iter()
                .map(|m| self.clone().relay_member(m, stop.clone())),
        )
        .await;
    }

    async fn relay_member(self: Arc<Self>, member: Arc<Bot>, stop: CancellationToken) {
        let mut sub = Subscription::new(member.log.clone(), member.log.head());
        let mut batch = Vec::new();
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                r = sub.next_batch(256, &mut batch) => if let Err(gap) = r {
                    tracing::warn!(pool = self.spec.self_id, member = member.self_id, lost = gap.count(), "pool relay fell behind the member's log; events lost");
                },
            }
            for event in batch.drain(..) {
                if let Some(out) = self.admit(member.self_id, event.value()) {
                    self.bot.log.publish_value(&out);
                }
            }
        }
    }

    /// The pool's form of a member's event, or `None` when it is not
    /// delivered (a duplicate group message, a meta event).
    pub fn admit(&self, member: i64, event: &Value) -> Option<Value> {
        let post_type = event.get("post_type").and_then(Value::as_str)?;
        if post_type == "meta_event" {
            return None;
        }
        let group = event.get("group_id").and_then(as_i64);
        let user = event.get("user_id").and_then(as_i64);
        if let (Some(g), "message") = (group, post_type) {
            let key = DedupeKey {
                group: g,
                sender: user.unwrap_or_default(),
                content: content_of(event),
            };
            let time = event.get("time").and_then(as_i64).unwrap_or_default();
            let first = self.recent.lock().expect("dedupe poisoned").first(
                key,
                time,
                self.spec.dedupe_window,
            );
            // The member that delivers a group message becomes the group's
            // newest receiver (replies go through it); one that saw only a
            // duplicate is known to be in the group, behind the others.
            let mut seen = self.groups.entry(g).or_default();
            if first {
                seen.retain(|m| *m != member);
                seen.insert(0, member);
            } else {
                if !seen.contains(&member) {
                    seen.push(member);
                }
                self.duplicates
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return None;
            }
        } else if let (Some(u), "message") = (user, post_type) {
            self.talked.insert(u, member);
        }
        let friendly = match post_type {
            "message" => event.get("sub_type").and_then(Value::as_str) == Some("friend"),
            "notice" => event.get("notice_type").and_then(Value::as_str) == Some("friend_add"),
            _ => false,
        };
        if let (true, None, Some(u)) = (friendly, group, user) {
            let mut of = self.friends.entry(u).or_default();
            of.retain(|m| *m != member);
            of.insert(0, member);
        }
        let mut out = event.clone();
        out["self_id"] = json!(self.spec.self_id);
        out[MEMBER_FIELD] = json!(member);
        self.map_out(member, &mut out);
        Some(out)
    }

    /// Replaces a member's message ids in `v` (an event or answer data) by pool ids.
    fn map_out(&self, member: i64, v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (k, x) in map.iter_mut() {
                    match (k.as_str(), as_i64(x)) {
                        ("message_id" | "real_id", Some(real)) if real != 0 => {
                            *x = json!(self.ids.id((member, real, 0)));
                        }
                        _ => self.map_out(member, x),
                    }
                }
                if map.get("type").and_then(Value::as_str) == Some("reply") {
                    if let Some(id) = map.get_mut("data").and_then(|d| d.get_mut("id")) {
                        if let Some(real) = as_i64(id) {
                            *id = json!(self.ids.id((member, real, 0)).to_string());
                        }
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|x| self.map_out(member, x)),
            _ => {}
        }
    }

    /// An answer of `member` as the pool's: its message ids mapped.
    pub fn answer_data(&self, member: i64, mut data: Value) -> Value {
        self.map_out(member, &mut data);
        data
    }

    /// Where `action` (suffix stripped) with `params` goes.
    pub fn route(&self, action: &str, params: &Value) -> Route {
        match action {
            "get_login_info" => {
                return Route::Answer(
                    json!({"user_id": self.spec.self_id, "nickname": self.spec.name}),
                )
            }
            "get_status" => {
                let online = self.members.iter().any(|m| m.upstream().is_some());
                return Route::Answer(
                    json!({"online": online, "good": online, "members": self.member_status()}),
                );
            }
            _ => {}
        }
        // A pool message id pins the call to the member that holds it.
        let mut params = params.clone();
        let mut pinned = None;
        if let Err(why) = self.map_in(&mut params, &mut pinned) {
            return Route::Refused(crate::protocol::retcode::NOT_FOUND, why);
        }
        let online: Vec<i64> = self
            .members
            .iter()
            .filter(|m| m.upstream().is_some())
            .map(|m| m.self_id)
            .collect();
        let order: Vec<i64> = match pinned {
            Some(m) => vec![m],
            None => self.preference(&params, &online),
        };
        let legs: Vec<Leg> = order
            .into_iter()
            .filter(|m| online.contains(m))
            .map(|member| Leg {
                member,
                params: params.clone(),
            })
            .collect();
        if legs.is_empty() {
            return Route::Refused(
                crate::protocol::retcode::UPSTREAM_UNAVAILABLE,
                match pinned {
                    Some(m) => format!(
                        "the message belongs to member {m} of pool {}, which is offline",
                        self.spec.self_id
                    ),
                    None => format!("no member of pool {} is online", self.spec.self_id),
                },
            );
        }
        Route::Members(legs)
    }

    /// Members in the order a call should try them.
    fn preference(&self, params: &Value, online: &[i64]) -> Vec<i64> {
        let group = params.get("group_id").and_then(as_i64);
        let user = params.get("user_id").and_then(as_i64);
        let mut order = Vec::new();
        match (group, user) {
            (Some(g), _) => {
                if let Some(seen) = self.groups.get(&g) {
                    if self.spec.reply_via == ReplyVia::Receiver {
                        order.extend(seen.iter().copied());
                    } else {
                        order.extend(self.spec.members.iter().filter(|m| seen.contains(m)));
                    }
                }
            }
            (None, Some(u)) => {
                order.extend(self.talked.get(&u).map(|m| *m));
                if let Some(friends) = self.friends.get(&u) {
                    order.extend(
                        friends
                            .iter()
                            .filter(|m| !order.contains(m))
                            .copied()
                            .collect::<Vec<_>>(),
                    );
                }
            }
            _ => {}
        }
        for m in online {
            if !order.contains(m) {
                order.push(*m);
            }
        }
        order
    }

    /// Replaces pool message ids in params (top-level `message_id`, reply
    /// segments) by real ones; `pinned` becomes the member holding them.
    fn map_in(&self, params: &mut Value, pinned: &mut Option<i64>) -> Result<(), String> {
        let mut pin = |id: i64| -> Result<i64, String> {
            let (member, real, _) = self
                .ids
                .key(id)
                .ok_or_else(|| format!("unknown message {id} of pool {}", self.spec.self_id))?;
            match *pinned {
                Some(m) if m != member => Err(format!(
                    "messages {id} and others belong to different members of pool {}",
                    self.spec.self_id
                )),
                _ => {
                    *pinned = Some(member);
                    Ok(real)
                }
            }
        };
        if let Some(id) = params.get("message_id").and_then(as_i64) {
            params["message_id"] = json!(pin(id)?);
        }
        if let Some(message) = params.get_mut("message") {
            if message.is_string() {
                *message = crate::protocol::message::to_array(message);
            }
            if let Value::Array(segs) = message {
                for seg in segs {
                    if seg.get("type").and_then(Value::as_str) != Some("reply") {
                        continue;
                    }
                    if let Some(id) = seg.get("data").and_then(|d| d.get("id")).and_then(as_i64) {
                        seg["data"]["id"] = json!(pin(id)?.to_string());
                    }
                }
            }
        }
        Ok(())
    }

    /// Each member and whether it is online (for `get_status` and `/status`).
    pub fn member_status(&self) -> Value {
        Value::Array(
            self.members
                .iter()
                .map(|m| json!({"self_id": m.self_id, "online": m.upstream().is_some()}))
                .collect(),
        )
    }
}

/// True when a failed answer may succeed through another member (the
/// account is muted, offline, not in the group...): not a bad request.
pub fn worth_another_member(retcode: i64) -> bool {
    !matches!(retcode, 0 | 1 | crate::protocol::retcode::BAD_REQUEST)
}

fn content_of(event: &Value) -> String {
    match event.get("raw_message").and_then(Value::as_str) {
        Some(raw) => raw.to_owned(),
        None => event
            .get("message")
            .map(Value::to_string)
            .unwrap_or_default(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct DedupeKey {
    group: i64,
    sender: i64,
    content: String,
}

/// Group messages delivered lately, to recognise the same one from another member.
#[derive(Default)]
struct Recent {
    seen: HashMap<DedupeKey, Vec<(i64, Instant)>>,
    inserts: usize,
}

impl Recent {
    /// True when no member delivered this message within `window` (its
    /// `time` may differ by a second between members).
    fn first(&mut self, key: DedupeKey, time: i64, window: Duration) -> bool {
        let now = Instant::now();
        self.inserts += 1;
        if self.inserts % 1024 == 0 {
            self.seen.retain(|_, v| {
                v.retain(|(_, at)| now.duration_since(*at) <= window);
                !v.is_empty()
            });
        }
        let entry = self.seen.entry(key).or_default();
        entry.retain(|(_, at)| now.duration_since(*at) <= window);
        if entry.iter().any(|(t, _)| (t - time).abs() <= 1) {
            return false;
        }
        entry.push((time, now));
        true
    }
}
