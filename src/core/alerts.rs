//! Offline alerts: each bot's watcher decides, once per transition, that the
//! account went offline or came back, and publishes that as a notice into
//! the bot's own event log (`gateway_bot_offline` / `gateway_bot_online`).
//! The log is the queue: apps that ask for gateway notices, webhooks and
//! message alerts read it with their own cursors, so an alert is retried
//! until delivered and none is lost while a receiver is down.
//!
//! A bot is offline when it has had no upstream link for the grace period
//! (a restarted implementation that is back within it raises nothing, so a
//! flapping link cannot cause a storm), or at once when its implementation
//! reports `bot_offline` (NapCat: kicked, logged out). It is online again
//! when a link is back (after a link loss) or the implementation sends
//! `bot_online`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::bus::Subscription;
use super::registry::Bot;

pub use crate::protocol::event::{BOT_OFFLINE as OFFLINE, BOT_ONLINE as ONLINE};

/// Watches one bot until `stop`, publishing its offline/online transitions.
pub async fn watch(bot: Arc<Bot>, grace: Duration, stop: CancellationToken) {
    let mut health = bot.watch_health();
    let mut sub = Subscription::new(bot.log.clone(), bot.log.head());
    let mut batch = Vec::new();
    let mut offline: Option<String> = None;
    // Without a link from the start, the grace runs from the start.
    let mut lost_at = (!health.borrow().online).then(Instant::now);
    loop {
        let deadline = lost_at.map(|t| t + grace);
        tokio::select! {
            _ = stop.cancelled() => return,
            changed = health.changed() => {
                if changed.is_err() {
                    return;
                }
                let online = health.borrow_and_update().online;
                if online {
                    lost_at = None;
                    if offline.take().is_some() {
                        publish(&bot, ONLINE, "an upstream link is connected again");
                    }
                } else if lost_at.is_none() {
                    lost_at = Some(Instant::now());
                }
            }
            _ = sleep_until(deadline) => {
                lost_at = None;
                if offline.is_none() {
                    let reason = format!("no upstream link for {} ms", grace.as_millis());
                    publish(&bot, OFFLINE, &reason);
                    offline = Some(reason);
                }
            }
            r = sub.next_batch(64, &mut batch) => {
                let _ = r; // a gap only means older events this watcher need not see
                for event in batch.drain(..) {
                    let v = event.value();
                    match v.get("notice_type").and_then(Value::as_str) {
                        Some("bot_offline") if offline.is_none() => {
                            let reason = reported_reason(v);
                            publish(&bot, OFFLINE, &reason);
                            offline = Some(reason);
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
    bot.log.publish_value(&json!({
        "time": now / 1000, "self_id": bot.self_id, "post_type": "notice",
        "notice_type": notice_type, "reason": reason,
    }));
}
