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

/// What apps and alert targets were told, and an offline transition held
/// back because the last alert is too recent.
struct Told {
    offline: Option<Cause>,
    deferred: Option<(Cause, String, Instant)>,
    last_alert: Option<Instant>,
    min_interval: Duration,
}

impl Told {
    /// Why the bot counts as offline (told, or about to be).
    fn cause(&self) -> Option<Cause> {
        self.offline.or(self.deferred.as_ref().map(|d| d.0))
    }

    fn go_offline(&mut self, bot: &Bot, cause: Cause, reason: String) {
        if self.cause().is_some() {
            return;
        }
        let now = Instant::now();
        match self.last_alert {
            // Too soon after the last alert (a flapping account): held back,
            // and dropped if the account is back before it is due.
            Some(last) if now < last + self.min_interval => {
                self.deferred = Some((cause, reason, last + self.min_interval));
            }
            _ => self.tell_offline(bot, cause, &reason),
        }
    }

    fn tell_offline(&mut self, bot: &Bot, cause: Cause, reason: &str) {
        publish(bot, OFFLINE, reason);
        self.offline = Some(cause);
        self.last_alert = Some(Instant::now());
    }

    fn go_online(&mut self, bot: &Bot, reason: &str) {
        if self.deferred.take().is_some() {
            return;
        }
        if self.offline.take().is_some() {
            publish(bot, ONLINE, reason);
            self.last_alert = Some(Instant::now());
        }
    }
}

/// Watches one bot until `stop`, publishing its offline/online transitions,
/// at most one offline alert per `min_interval`.
pub async fn watch(
    bot: Arc<Bot>,
    grace: Duration,
    min_interval: Duration,
    stop: CancellationToken,
) {
    let mut health = bot.watch_health();
    let mut sub = Subscription::new(bot.log.clone(), bot.log.head());
    let mut batch = Vec::new();
    let mut told = Told {
        offline: None,
        deferred: None,
        last_alert: None,
        min_interval,
    };
    let trouble = |h: super::registry::Health| !h.online || !h.good;
    // In trouble from the start (no link yet): the grace runs from the start.
    let mut trouble_since = trouble(*health.borrow()).then(Instant::now);
    let mut was_linked = health.borrow().online;
    loop {
        let deadline = trouble_since.map(|t| t + grace);
        let due = told.deferred.as_ref().map(|d| d.2);
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
                    let cause = told.cause();
                    if cause == Some(Cause::Health) || (cause == Some(Cause::Reported) && relinked) {
                        told.go_online(&bot, "an upstream link is connected and reports the account online");
                    }
                } else if trouble_since.is_none() {
                    trouble_since = Some(Instant::now());
                }
            }
            _ = sleep_until(deadline) => {
                trouble_since = None;
                let reason = if bot.health().online {
                    format!("its heartbeats report the account not online for {} ms", grace.as_millis())
                } else {
                    format!("no upstream link for {} ms", grace.as_millis())
                };
                told.go_offline(&bot, Cause::Health, reason);
            }
            _ = sleep_until(due) => {
                if let Some((cause, reason, _)) = told.deferred.take() {
                    told.tell_offline(&bot, cause, &reason);
                }
            }
            r = sub.next_batch(64, &mut batch) => {
                let _ = r; // a gap only means older events this watcher need not see
                for event in batch.drain(..) {
                    // The header is parsed already: no event is parsed again
                    // here but the two this watcher acts on.
                    match event.header.detail_type.as_deref() {
                        Some("bot_offline") => told.go_offline(&bot, Cause::Reported, reported_reason(event.value())),
                        Some("bot_online") => told.go_online(&bot, "the implementation reports the account online"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::links::{Link, LinkKind, OnDuplicate};
    use crate::core::registry::{Registry, Role};
    use crate::core::serve::{RemoteLink, UpstreamLink};

    // Virtual time: the hold-back is exact, whatever the machine's load.
    #[tokio::test(start_paused = true)]
    async fn a_flapping_account_gets_one_alert_per_interval() {
        let registry = Registry::new(Default::default());
        let bot = registry.bot_or_insert(7);
        let (frames, _rx) = tokio::sync::mpsc::channel(1);
        let link = Link::new(
            1,
            LinkKind::WsDialled,
            Role::Universal,
            String::from("t"),
            UpstreamLink::Remote(RemoteLink { id: 1, frames }),
            OnDuplicate::Standby,
            None,
        );
        bot.attach_link(link);
        let stop = CancellationToken::new();
        let watcher = tokio::spawn(watch(
            bot.clone(),
            Duration::from_secs(3600),
            Duration::from_secs(60),
            stop.clone(),
        ));
        tokio::task::yield_now().await;
        let mut alerts = Subscription::new(bot.log.clone(), bot.log.head());
        let notice = |kind: &str| json!({"time": 1, "self_id": 7, "post_type": "notice", "notice_type": kind, "tag": "kicked"});
        let start = Instant::now();
        bot.log.publish_value(&notice("bot_offline"));
        bot.log.publish_value(&notice("bot_online"));
        for _ in 0..10 {
            bot.log.publish_value(&notice("bot_offline"));
            bot.log.publish_value(&notice("bot_online"));
        }
        bot.log.publish_value(&notice("bot_offline"));
        let mut seen = Vec::new();
        let mut batch = Vec::new();
        while seen.len() < 3 {
            alerts.next_batch(64, &mut batch).await.unwrap();
            for e in batch.drain(..) {
                let kind = e.value()["notice_type"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                if crate::protocol::event::is_gateway_bot_notice(&kind) {
                    seen.push((kind, start.elapsed()));
                }
            }
        }
        let at = |s| Duration::from_secs(s);
        assert_eq!(
            seen,
            [
                (OFFLINE.to_owned(), at(0)),
                (ONLINE.to_owned(), at(0)),
                (OFFLINE.to_owned(), at(60)),
            ],
            "ten flaps inside the minute are dropped; the last offline is held to the minute"
        );
        stop.cancel();
        watcher.await.unwrap();
    }
}
