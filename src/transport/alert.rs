//! `[[alert]]` targets: the gateway's `gateway_bot_offline` /
//! `gateway_bot_online` notices (see `core::alerts`) sent to a webhook or as
//! a QQ message through another bot. Each (target, bot) reads the bot's log
//! with its own cursor and retries a notice with capped backoff until it is
//! delivered, so none is lost while a receiver or the `via` bot is down.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::config::AlertConfig;
use super::http_post::signature;
use super::Backoff;
use crate::core::pool::MEMBER_FIELD;
use crate::core::{Bot, Hub, Subscription};
use crate::protocol::action::{Action, MessageParam, SendGroupMsg, SendPrivateMsg};
use crate::protocol::event::is_gateway_bot_notice;

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

/// Runs one `[[alert]]` target for every (matching) bot, including later ones, until `stop`.
pub async fn run_target(hub: Arc<Hub>, alert: Arc<AlertConfig>, stop: CancellationToken) {
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let via = match *alert {
        AlertConfig::Message { via, .. } => Some(via),
        AlertConfig::Webhook { .. } => None,
    };
    hub.registry
        .each_bot(&stop, |bot| {
            let wanted = if alert.bots().is_empty() {
                // A message cannot tell that its own sender is offline.
                via != Some(bot.self_id)
            } else {
                alert.bots().contains(&bot.self_id)
            };
            if wanted {
                let task = deliver(
                    hub.clone(),
                    alert.clone(),
                    client.clone(),
                    bot,
                    stop.clone(),
                );
                hub.tasks.spawn(task);
            }
        })
        .await;
}

async fn deliver(
    hub: Arc<Hub>,
    alert: Arc<AlertConfig>,
    client: HttpClient,
    bot: Arc<Bot>,
    stop: CancellationToken,
) {
    let mut sub = Subscription::new(bot.log.clone(), bot.log.head());
    let mut batch = Vec::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            r = sub.next_batch(64, &mut batch) => if let Err(gap) = r {
                tracing::warn!(self_id = bot.self_id, lost = gap.count(), "alert target fell behind the bot's log");
            },
        }
        for event in batch.drain(..) {
            // The header is parsed already: only gateway notices are read further.
            let notice = event.header.detail_type.as_deref().unwrap_or_default();
            if !is_gateway_bot_notice(notice) {
                continue;
            }
            let v = event.value();
            // A pool relays its members' notices; the member's own alert is the one.
            if v.get(MEMBER_FIELD).is_some() {
                continue;
            }
            let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
            loop {
                let sent = match &*alert {
                    AlertConfig::Webhook {
                        url,
                        secret,
                        timeout_ms,
                        ..
                    } => {
                        let limit = Duration::from_millis(*timeout_ms);
                        webhook(&client, url, secret, limit, bot.self_id, v).await
                    }
                    AlertConfig::Message {
                        via,
                        user_id,
                        group_id,
                        template,
                        ..
                    } => message(&hub, *via, (*user_id, *group_id), template, v).await,
                };
                match sent {
                    Ok(()) => {
                        tracing::info!(self_id = bot.self_id, notice, "alert sent");
                        break;
                    }
                    Err(why) => {
                        let delay = backoff.next_delay();
                        tracing::warn!(self_id = bot.self_id, notice, %why, retry_in_ms = delay.as_millis() as u64, "alert not delivered; retrying");
                        tokio::select! {
                            _ = stop.cancelled() => return,
                            _ = tokio::time::sleep(delay) => {}
                        }
                    }
                }
            }
        }
    }
}

async fn webhook(
    client: &HttpClient,
    url: &str,
    secret: &crate::redact::Secret,
    limit: Duration,
    self_id: i64,
    notice: &Value,
) -> Result<(), String> {
    let body = Bytes::from(notice.to_string());
    let mut req = http::Request::post(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header("X-Self-ID", self_id.to_string());
    if !secret.is_empty() {
        req = req.header("X-Signature", signature(secret.expose(), &body));
    }
    let req = req
        .body(Full::new(body))
        .map_err(|e| format!("cannot build the request: {e}"))?;
    match tokio::time::timeout(limit, client.request(req)).await {
        Ok(Ok(resp)) if resp.status().is_success() => Ok(()),
        Ok(Ok(resp)) => Err(format!("HTTP {}", resp.status())),
        Ok(Err(e)) => Err(crate::redact::redact(&e.to_string())),
        Err(_) => Err(format!("no answer within {} ms", limit.as_millis())),
    }
}

/// Sends the alert text through bot `via` to `(user_id, group_id)` (the group when given).
async fn message(
    hub: &Arc<Hub>,
    via: i64,
    (user_id, group_id): (Option<i64>, Option<i64>),
    template: &str,
    notice: &Value,
) -> Result<(), String> {
    let state = match notice["notice_type"].as_str() {
        Some(crate::protocol::event::BOT_OFFLINE) => "offline",
        _ => "online",
    };
    let text = template
        .replace("{self_id}", &notice["self_id"].to_string())
        .replace("{state}", state)
        .replace("{reason}", notice["reason"].as_str().unwrap_or_default());
    let message = MessageParam(Value::String(text));
    let action = match (user_id, group_id) {
        (_, Some(g)) => Action::SendGroupMsg(SendGroupMsg {
            group_id: g,
            message,
            auto_escape: true,
        }),
        (Some(u), None) => Action::SendPrivateMsg(SendPrivateMsg {
            user_id: u,
            message,
            auto_escape: true,
        }),
        (None, None) => return Err(String::from("no user_id or group_id")),
    };
    let bot = hub
        .registry
        .bot(via)
        .ok_or_else(|| format!("bot {via} is unknown"))?;
    let answer = hub.dispatcher.run_action(&bot, action).await;
    if answer.is_ok() {
        Ok(())
    } else {
        Err(format!(
            "bot {via} answered {} {}",
            answer.retcode, answer.message
        ))
    }
}
