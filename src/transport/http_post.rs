//! HTTP POST delivery (go-cqhttp's `http` post): every event of a bot is
//! POSTed as JSON to a URL, in order, one at a time. A failed POST (no
//! connection, timeout, 5xx) is retried with capped backoff and the target's
//! cursor does not move, so nothing is lost while the receiver is down. A
//! 2xx answer whose body is a JSON object is a quick operation
//! (`{"reply": ...}`, `{"approve": true}`, ...) carried out for that event.
//!
//! Headers: `Content-Type: application/json`, `X-Self-ID`, `User-Agent`, and
//! with a secret `X-Signature: sha1=<hex HMAC-SHA1 of the body>`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use sha1::Sha1;

use super::config::HttpPostConfig;
use super::Backoff;
use crate::core::{AppCtx, Bot, Hub, Role, Subscription};
use crate::protocol::ActionRequest;
use tokio_util::sync::CancellationToken;

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

/// Runs one `[[http_post]]` target for every (matching) bot, including bots
/// that appear later, until shutdown.
/// `stop` ends it (the gateway's shutdown, or a reload that removed it).
pub async fn run_target(hub: Arc<Hub>, target: Arc<HttpPostConfig>, stop: CancellationToken) {
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    hub.registry
        .each_bot(&stop, |bot| {
            if target.bots.is_empty() || target.bots.contains(&bot.self_id) {
                let task = deliver(
                    hub.clone(),
                    target.clone(),
                    client.clone(),
                    bot,
                    stop.clone(),
                );
                hub.tasks.spawn(task);
            }
        })
        .await;
}

/// Signs a body the way go-cqhttp does: `sha1=` + hex HMAC-SHA1.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha1={hex}")
}

enum Outcome {
    /// Delivered; maybe with a quick operation to carry out.
    Delivered(Option<Value>),
    /// The receiver refused it for good (4xx): logged, not retried.
    Refused(String),
    /// Try again later.
    Retry(String),
}

async fn post(client: &HttpClient, target: &HttpPostConfig, self_id: i64, body: Bytes) -> Outcome {
    let mut req = http::Request::post(&target.url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header("X-Self-ID", self_id.to_string())
        .header(http::header::USER_AGENT, &target.user_agent);
    if !target.secret.is_empty() {
        req = req.header("X-Signature", signature(target.secret.expose(), &body));
    }
    let req = match req.body(Full::new(body)) {
        Ok(r) => r,
        Err(e) => return Outcome::Refused(format!("cannot build the request: {e}")),
    };
    let timeout = Duration::from_millis(target.timeout_ms);
    let sent = tokio::time::timeout(timeout, async {
        let resp = client.request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok::<_, String>((status, body))
    })
    .await;
    match sent {
        Err(_) => Outcome::Retry(format!("no answer within {} ms", target.timeout_ms)),
        Ok(Err(e)) => Outcome::Retry(e),
        Ok(Ok((status, body))) if status.is_success() => {
            let op = serde_json::from_slice::<Value>(&body)
                .ok()
                .filter(|v| v.as_object().is_some_and(|o| !o.is_empty()));
            Outcome::Delivered(op)
        }
        Ok(Ok((status, _))) if status.is_client_error() => {
            Outcome::Refused(format!("HTTP {status}"))
        }
        Ok(Ok((status, _))) => Outcome::Retry(format!("HTTP {status}")),
    }
}

async fn deliver(
    hub: Arc<Hub>,
    target: Arc<HttpPostConfig>,
    client: HttpClient,
    bot: Arc<Bot>,
    stop: CancellationToken,
) {
    let identity = format!("http_post:{}:{}", target.display_name(), bot.self_id);
    let start = bot
        .cursors
        .get(&identity)
        .map(|c| *c)
        .unwrap_or_else(|| bot.log.head());
    bot.cursors.insert(identity.clone(), start);
    let ctx = hub.registry.register_app(
        bot.clone(),
        Role::Event,
        target.options.clone(),
        Some(identity.clone()),
        target.url.clone(),
        crate::core::SessionOnDuplicate::Replace,
    );
    ctx.stats.cursor.store(start, Ordering::Relaxed);
    ctx.stats.confirmed.store(start, Ordering::Relaxed);
    tracing::info!(url = %crate::redact::redact(&target.url), self_id = bot.self_id, "http post target ready");
    let mut sub = Subscription::new(bot.log.clone(), start);
    let mut backoff = Backoff::new(
        Duration::from_millis(target.retry_interval_ms),
        Duration::from_millis(target.max_retry_interval_ms),
    );
    let mut batch = Vec::new();
    let mut last_problem: Option<String> = None;
    'events: loop {
        batch.clear();
        tokio::select! {
            _ = stop.cancelled() => break,
            read = sub.next_batch(64, &mut batch) => if let Err(gap) = read {
                ctx.stats.lost.fetch_add(gap.count(), Ordering::Relaxed);
                tracing::warn!(url = %crate::redact::redact(&target.url), first_lost = gap.first_lost, last_lost = gap.last_lost, "events evicted before they could be posted");
            },
        }
        for event in &batch {
            if !ctx.options.wants(event) {
                continue;
            }
            let body = event.json(ctx.options.post_format);
            loop {
                let outcome = tokio::select! {
                    _ = stop.cancelled() => break 'events,
                    o = post(&client, &target, bot.self_id, Bytes::from(body.clone())) => o,
                };
                match outcome {
                    Outcome::Delivered(op) => {
                        backoff.reset();
                        last_problem = None;
                        ctx.stats.delivered.fetch_add(1, Ordering::Relaxed);
                        if let Some(operation) = op {
                            quick_operation(&hub, &ctx, &body, operation).await;
                        }
                        break;
                    }
                    Outcome::Refused(why) => {
                        tracing::warn!(url = %crate::redact::redact(&target.url), seq = event.seq, reason = %crate::redact::redact(&why), "http post refused by the receiver; not retried");
                        break;
                    }
                    Outcome::Retry(why) => {
                        let delay = backoff.next_delay();
                        if last_problem.as_deref() != Some(why.as_str()) {
                            tracing::warn!(url = %crate::redact::redact(&target.url), seq = event.seq, reason = %crate::redact::redact(&why), retry_in_ms = delay.as_millis() as u64, "http post failed; will retry (the event is kept)");
                            last_problem = Some(why);
                        }
                        tokio::select! {
                            _ = stop.cancelled() => break 'events,
                            _ = tokio::time::sleep(delay) => {}
                        }
                    }
                }
            }
            // Only now is the event done with: a restart resumes after it.
            // A 2xx answer confirms the delivery: written and confirmed at once.
            ctx.stats.cursor.store(event.seq + 1, Ordering::Relaxed);
            ctx.stats.confirmed.store(event.seq + 1, Ordering::Relaxed);
            bot.cursors.insert(identity.clone(), event.seq + 1);
        }
    }
    hub.registry
        .unregister_app(ctx.id, "target stopped (shutdown or reload)");
}

/// Carries out the quick operation a receiver answered with.
async fn quick_operation(hub: &Arc<Hub>, ctx: &AppCtx, event: &str, operation: Value) {
    let Ok(context) = serde_json::from_str::<Value>(event) else {
        return;
    };
    let request = ActionRequest::new(
        ".handle_quick_operation",
        json!({"context": context, "operation": operation}),
    );
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let mut api_ctx = ctx.clone();
    api_ctx.role = Role::Api;
    hub.dispatcher.handle(&api_ctx, request, &tx).await;
    drop(tx);
    while let Some(answer) = rx.recv().await {
        let v: Value = serde_json::from_str(&answer).unwrap_or_default();
        if v["retcode"] != 0 {
            tracing::warn!(answer = %answer, "quick operation from the http post receiver failed");
        }
    }
}
