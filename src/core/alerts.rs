//! Offline alerts: each bot's watcher decides, once per transition, that the
//! account went offline or came back, and publishes that as a notice into
//! the bot's own event log (`gateway_bot_offline` / `gateway_bot_online`).
//! The log is the queue: apps that ask for gateway notices, webhooks and
//! message alerts read it with their own cursors, so an alert is retried
//! until delivered and none is lost while a receiver is down.
//!
//! A bot is offline when for the grace period it has had no upstream link,
//! or its link's heartbeats said the account is not online (`status.online`
//! or `status.good` false); a restarted implementation that is back within
//! the grace raises nothing, so a flapping link cannot cause a storm. It is
//! offline at once when its implementation reports `bot_offline` (NapCat:
//! kicked, logged out). It is online again when a link is up with good
//! heartbeats (after a reported logout: a new link), or on `bot_online`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::bus::Subscription;
use super::registry::Bot;

pub use crate::protocol::event::{BOT_OFFLINE as OFFLINE, BOT_ONLINE as ONLINE};

/// Why a bot is offline, as far as the watcher knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    /// No link, or its heartbeats say the account is not online.
    Health,
    /// The implementation sent `bot_offline`.
    Reported,
}

/// Watches one bot until `stop`, publishing its offline/online transitions.
pub async fn watch(bot: Arc<Bot>, grace: Duration, stop: CancellationToken) {
    let mut health = bot.watch_health();
    let mut sub = Subscription::new(bot.log.clone(), bot.log.head());
    let mut batch = Vec::new();
    let mut offline: Option<Cause> = None;
    let trouble = |h: super::registry::Health| !h.online || !h.good;
    // In trouble from the start (no link yet): the grace runs from the start.
    let mut trouble_since = trouble(*health.borrow()).then(Instant::now);
    let mut was_linked = health.borrow().online;
    loop {
        let deadline = trouble_since.map(|t| t + grace);
        tokio::select! {
            _ = stop.cancelled() => return,
            changed = health.changed() => {
                if changed.is_err() {
                    return;
                }
                let h = *health.borrow_and_update();
                let relinked = h.online && !was_linked;
                was_linked = h.online;
                if !trouble(h) {
                    trouble_since = None;
                    // A reported logout ends with a new link (the implementation restarted).
                    if offline == Some(Cause::Health) || (offline == Some(Cause::Reported) && relinked) {
                        offline = None;
                        publish(&bot, ONLINE, "an upstream link is connected and reports the account online");
                    }
                } else if trouble_since.is_none() {
                    trouble_since = Some(Instant::now());
                }
            }
            _ = sleep_until(deadline) => {
                trouble_since = None;
                if offline.is_none() {
                    let reason = if bot.health().online {
                        format!("its heartbeats report the account not online for {} ms", grace.as_millis())
                    } else {
                        format!("no upstream link for {} ms", grace.as_millis())
                    };
                    publish(&bot, OFFLINE, &reason);
                    offline = Some(Cause::Health);
                }
            }
            r = sub.next_batch(64, &mut batch) => {
                let _ = r; // a gap only means older events this watcher need not see
                for event in batch.drain(..) {
                    let v = event.value();
                    match v.get("notice_type").and_then(Value::as_str) {
                        Some("bot_offline") if offline.is_none() => {
                            publish(&bot, OFFLINE, &reported_reason(v));
                            offline = Some(Cause::Reported);
                        }
                        Some("bot_online") if offline.is_some() => {
                            offline = None;
                            publish(&bot, ONLINE, "the implementation reports the account online");
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn reported_reason(v: &Value) -> String {
    let text = |k: &str| v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    match (text("tag"), text("message")) {
        (Some(t), Some(m)) => format!("the implementation reports it offline: {t}: {m}"),
        (Some(x), None) | (None, Some(x)) => format!("the implementation reports it offline: {x}"),
        (None, None) => String::from("the implementation reports it offline"),
    }
}

fn publish(bot: &Bot, notice_type: &str, reason: &str) {
    tracing::warn!(self_id = bot.self_id, state = notice_type, %reason, "bot state changed");
    let now = crate::core::links::unix_ms();
    {
        let mut history = bot.transitions.lock().expect("transitions poisoned");
        if history.len() == 20 {
            history.pop_front();
        }
        let state = if notice_type == OFFLINE {
            "offline"
        } else {
            "online"
        };
        history.push_back(json!({"state": state, "reason": reason, "at_unix_ms": now}));
    }
    bot.log.publish_value(&json!({
        "time": now / 1000, "self_id": bot.self_id, "post_type": "notice",
        "notice_type": notice_type, "reason": reason,
    }));
}
