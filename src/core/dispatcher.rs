//! The dispatcher: routes each app action to its bot's upstream and each
//! answer back to the one app that asked.
//!
//! Every forwarded action gets a gateway-unique internal echo; the pending
//! table maps it to the asking call, which restores the app's own echo. Every
//! pending entry ends: by its answer, by timeout, when its upstream connection
//! is lost (all of that connection's entries fail at once), or when the asking
//! app goes away (its call future is dropped and the guard removes the entry).
//! Gateway-local actions (`_async`, `_rate_limited`, `.handle_quick_operation`)
//! are handled here, before anything reaches an upstream.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::{timeout_at, Instant};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::registry::{AppCtx, AsyncReply, Bot};
use super::serve::UpstreamLink;
use crate::protocol::action::{split_suffix, Suffix};
use crate::protocol::{action, message, retcode, ActionRequest, Response};

/// Prefix of the internal echo strings the gateway sends upstream.
const ECHO_PREFIX: &str = "obgw:";

/// Dispatcher settings.
#[derive(Debug, Clone, Copy)]
pub struct DispatchSettings {
    /// How long an action may wait for its (next) answer.
    pub action_timeout: Duration,
    /// Spacing of `_rate_limited` actions, per bot.
    pub rate_limit_interval: Duration,
    /// go-cqhttp's `rate_limit`: actions per second sent to each bot's
    /// upstream (0 = unlimited); callers over the rate wait their turn.
    pub actions_per_second: f64,
    /// The burst allowed above that rate.
    pub action_burst: u32,
    /// Most segments in one message of an action.
    pub max_segments: usize,
}

impl Default for DispatchSettings {
    fn default() -> Self {
        Self {
            action_timeout: Duration::from_secs(30),
            rate_limit_interval: Duration::from_millis(500),
            actions_per_second: 0.0,
            action_burst: 1,
            max_segments: 2000,
        }
    }
}

struct Pending {
    bot: i64,
    /// The link the action was sent on: only its answer counts.
    link: u64,
    answers: mpsc::Sender<Response>,
}

/// Answers that were dropped, by why (shown in `/status` and `/metrics`).
#[derive(Debug, Default)]
pub struct AnswerDrops {
    /// The echo belongs to an action sent on another link.
    pub wrong_link: AtomicU64,
    /// The echo is not one the gateway sent (foreign, or from an earlier start).
    pub unknown_echo: AtomicU64,
    /// The action had already ended (answered before, or timed out).
    pub late: AtomicU64,
}

/// Removes its pending entry when the waiting call ends, however it ends.
struct PendingGuard<'a> {
    table: &'a DashMap<u64, Pending>,
    id: u64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.table.remove(&self.id);
    }
}

/// The longest action name accepted (the longest real one has under 40).
const MAX_ACTION_NAME: usize = 128;

/// Routes actions and answers.
pub struct Dispatcher {
    pending: DashMap<u64, Pending>,
    next_echo: AtomicU64,
    /// This start's random part of every internal echo, so echoes cannot be guessed.
    echo_nonce: String,
    /// Answers dropped, by why.
    pub dropped_answers: AnswerDrops,
    settings: DispatchSettings,
    rate_limited: DashMap<i64, mpsc::Sender<(String, Value)>>,
    buckets: DashMap<i64, Arc<std::sync::Mutex<TokenBucket>>>,
    /// `_async` and `_rate_limited` work, finished (within limits) on shutdown.
    background: tokio_util::task::TaskTracker,
}

/// A token bucket that hands out reservations: each action takes a token
/// now, and waits until the bucket would have had it.
#[derive(Debug)]
struct TokenBucket {
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// Takes a token; returns how long to wait before using it.
    fn reserve(&mut self, rate: f64, burst: f64) -> Duration {
        let now = Instant::now();
        let refill = now.duration_since(self.updated).as_secs_f64() * rate;
        self.tokens = (self.tokens + refill).min(burst) - 1.0;
        self.updated = now;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / rate)
        }
    }
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("pending", &self.pending.len())
            .finish()
    }
}

#[derive(Serialize)]
struct UpstreamFrame<'a, P: Serialize + ?Sized> {
    action: &'a str,
    params: &'a P,
    echo: String,
}

impl Dispatcher {
    /// A dispatcher with these settings.
    pub fn new(settings: DispatchSettings) -> Arc<Self> {
        Arc::new(Self {
            pending: DashMap::new(),
            next_echo: AtomicU64::new(1),
            echo_nonce: format!("{:016x}", fastrand::u64(..)),
            dropped_answers: AnswerDrops::default(),
            settings,
            rate_limited: DashMap::new(),
            buckets: DashMap::new(),
            background: tokio_util::task::TaskTracker::new(),
        })
    }

    /// Number of actions waiting for an upstream answer.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Handles one action frame of `app` to completion, passing every answer
    /// frame (with the app's echo restored) to `reply`.
    ///
    /// # Cancel safety
    /// Dropping the future (the app went away) removes its pending entry; a
    /// late answer is then discarded.
    pub async fn handle(
        self: &Arc<Self>,
        app: &AppCtx,
        req: ActionRequest,
        reply: &mpsc::Sender<Utf8Bytes>,
    ) {
        let ActionRequest {
            action,
            params,
            params_text,
            echo,
        } = req;
        let send = |resp: Response| {
            let text = fit_frame(resp.with_echo(echo.clone()), app.options.max_frame_bytes);
            async move {
                // The app may be gone; then nobody wants the answer.
                let _ = reply.send(text).await;
            }
        };
        if !app.role.sends_actions() {
            send(Response::failed(
                retcode::FORBIDDEN,
                "this connection has the Event role and cannot send actions; use the Universal (/) or API (/api) endpoint",
            ))
            .await;
            return;
        }
        let (base, suffix) = split_suffix(&action);
        if base.trim().is_empty() || base.len() > MAX_ACTION_NAME {
            send(Response::failed(
                retcode::BAD_REQUEST,
                format!(
                    "`action` must name an action (1 to {MAX_ACTION_NAME} characters, e.g. \"send_group_msg\")"
                ),
            ))
            .await;
            return;
        }
        if let Err(err) = crate::protocol::message::check_size(&params, self.settings.max_segments)
        {
            send(Response::failed(retcode::BAD_REQUEST, err.to_string())).await;
            return;
        }
        if let Err(err) = validate_params(base, &params) {
            send(Response::failed(retcode::BAD_REQUEST, err)).await;
            return;
        }
        match suffix {
            Suffix::Async | Suffix::RateLimited => {
                let bot = app.bot.clone();
                let base = base.to_owned();
                if suffix == Suffix::Async {
                    let this = self.clone();
                    self.background.spawn(async move {
                        let resp = this.call_local_or_forward(&bot, &base, params).await;
                        if !resp.is_ok() {
                            tracing::warn!(self_id = bot.self_id, action = %base, retcode = resp.retcode, message = %resp.message, "background action failed");
                        }
                    });
                } else {
                    self.enqueue_rate_limited(&bot, base, params);
                }
                let resp = match app.options.async_reply {
                    AsyncReply::Spec => Response::accepted_async(),
                    AsyncReply::Ok => Response::ok(Value::Null),
                };
                send(resp).await;
            }
            Suffix::None => match self.local(&app.bot, base, &params).await {
                Some(resp) => send(resp).await,
                None => {
                    self.forward(&app.bot, base, &params, params_text.as_deref(), send)
                        .await
                }
            },
        }
    }

    /// Calls one action on behalf of the gateway itself (quick operations,
    /// background and rate-limited actions) and returns its (final) answer.
    pub async fn call(self: &Arc<Self>, bot: &Bot, action: &str, params: Value) -> Response {
        let mut last = None;
        self.forward(bot, action, &params, None, |resp| {
            last = Some(resp);
            std::future::ready(())
        })
        .await;
        last.unwrap_or_else(|| Response::failed(retcode::INTERNAL, "no answer"))
    }

    async fn call_local_or_forward(
        self: &Arc<Self>,
        bot: &Bot,
        action: &str,
        params: Value,
    ) -> Response {
        match self.local(bot, action, &params).await {
            Some(resp) => resp,
            None => self.call(bot, action, params).await,
        }
    }

    /// Gateway-local actions; `None` means forward to the upstream.
    async fn local(self: &Arc<Self>, bot: &Bot, action: &str, params: &Value) -> Option<Response> {
        match action {
            ".handle_quick_operation" => Some(self.quick_operation(bot, params).await),
            "get_status" if bot.upstream().is_none() => {
                Some(Response::ok(json!({"online": false, "good": false})))
            }
            _ => None,
        }
    }

    /// Sends `action` to the bot's upstream and passes each answer frame to
    /// `on_answer` (several for NapCat stream actions). `params_text`, when
    /// given, is what the app wrote for `params`: relayed as it is.
    async fn forward<F, Fut>(
        &self,
        bot: &Bot,
        action: &str,
        params: &Value,
        params_text: Option<&RawValue>,
        mut on_answer: F,
    ) where
        F: FnMut(Response) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let Some(link) = bot.upstream() else {
            on_answer(Response::failed(
                retcode::UPSTREAM_UNAVAILABLE,
                format!("bot {} has no upstream connected right now", bot.self_id),
            ))
            .await;
            return;
        };
        let timeout = self.settings.action_timeout;
        if let Some(wait) = self.rate_wait(bot.self_id) {
            if wait > timeout {
                // The refused action gives its reservation back.
                if let Some(bucket) = self.buckets.get(&bot.self_id) {
                    bucket.lock().expect("bucket poisoned").tokens += 1.0;
                }
                on_answer(Response::failed(
                    retcode::TIMEOUT,
                    format!("rate limit: `{action}` would wait {} ms for its turn, over the action timeout", wait.as_millis()),
                ))
                .await;
                return;
            }
            tokio::time::sleep(wait).await;
        }
        let link = match link {
            UpstreamLink::Local(local) => {
                // A function call: it answers at once, no timeout to apply.
                on_answer(local.call(bot.self_id, action, params)).await;
                return;
            }
            UpstreamLink::Remote(link) => link,
        };
        let link_id = link.id;
        let id = self.next_echo.fetch_add(1, Ordering::Relaxed);
        let (tx, mut rx) = mpsc::channel(8);
        self.pending.insert(
            id,
            Pending {
                bot: bot.self_id,
                link: link_id,
                answers: tx,
            },
        );
        let _guard = PendingGuard {
            table: &self.pending,
            id,
        };
        let echo = format!("{ECHO_PREFIX}{}:{id}", self.echo_nonce);
        let text = match params_text {
            Some(raw) => serde_json::to_string(&UpstreamFrame {
                action,
                params: raw,
                echo,
            }),
            None => serde_json::to_string(&UpstreamFrame {
                action,
                params,
                echo,
            }),
        }
        .expect("an action frame always serializes");
        // The timeout covers the wait for room in the upstream's queue too:
        // an upstream that stopped reading must not hold an action forever.
        let mut deadline = Instant::now() + timeout;
        match timeout_at(deadline, link.frames.send(Utf8Bytes::from(text))).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {
                on_answer(upstream_lost(bot.self_id)).await;
                return;
            }
            Err(_) => {
                on_answer(timeout_response(action, timeout)).await;
                return;
            }
        }
        loop {
            match timeout_at(deadline, rx.recv()).await {
                Ok(Some(resp)) => {
                    let partial = resp.is_partial_stream();
                    on_answer(resp).await;
                    if !partial {
                        return;
                    }
                    deadline = Instant::now() + timeout;
                }
                Ok(None) => {
                    on_answer(upstream_lost(bot.self_id)).await;
                    return;
                }
                Err(_) => {
                    on_answer(timeout_response(action, timeout)).await;
                    return;
                }
            }
        }
    }

    /// With `actions_per_second` set: how long this bot's next action waits.
    fn rate_wait(&self, self_id: i64) -> Option<Duration> {
        let rate = self.settings.actions_per_second;
        if rate <= 0.0 {
            return None;
        }
        let burst = f64::from(self.settings.action_burst.max(1));
        let bucket = self
            .buckets
            .entry(self_id)
            .or_insert_with(|| {
                Arc::new(std::sync::Mutex::new(TokenBucket {
                    tokens: burst,
                    updated: Instant::now(),
                }))
            })
            .clone();
        let wait = bucket.lock().expect("bucket poisoned").reserve(rate, burst);
        Some(wait)
    }

    /// Routes an answer frame that arrived on upstream link `link` to the
    /// call waiting for it. An answer counts only on the link its action was
    /// sent on; others (wrong link, unknown echo, late or duplicate) are
    /// dropped, logged at debug and counted.
    pub fn on_answer(&self, link: u64, mut resp: Response) {
        let id = resp
            .echo
            .as_ref()
            .and_then(|raw| serde_json::from_str::<&str>(raw.get()).ok())
            .and_then(|s| s.strip_prefix(ECHO_PREFIX))
            .and_then(|rest| rest.split_once(':'))
            .filter(|(nonce, _)| *nonce == self.echo_nonce)
            .and_then(|(_, n)| n.parse::<u64>().ok());
        let drops = &self.dropped_answers;
        let Some(id) = id else {
            drops.unknown_echo.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(link, echo = ?resp.echo, "answer with an echo the gateway did not send; dropped");
            return;
        };
        resp.echo = None;
        let sender = match self.pending.get(&id) {
            Some(p) if p.link == link => p.answers.clone(),
            Some(p) => {
                drops.wrong_link.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(
                    id,
                    link,
                    asked_on = p.link,
                    bot = p.bot,
                    "answer arrived on another link than its action; dropped"
                );
                return;
            }
            None => {
                drops.late.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(
                    id,
                    link,
                    "answer for an action that already ended (late or duplicate); dropped"
                );
                return;
            }
        };
        // Full only if the waiting call stopped reading; it is then ending anyway.
        let _ = sender.try_send(resp);
    }

    /// Fails every action pending on upstream link `link` of `bot` (the
    /// link was lost).
    pub fn fail_link(&self, bot: i64, link: u64) {
        let lost: Vec<u64> = self
            .pending
            .iter()
            .filter(|p| p.bot == bot && p.link == link)
            .map(|p| *p.key())
            .collect();
        for id in lost {
            if let Some((_, pending)) = self.pending.remove(&id) {
                let _ = pending.answers.try_send(upstream_lost(bot));
            }
        }
    }

    /// On shutdown: lets queued `_rate_limited` and running `_async` actions
    /// finish, at most `limit`; false (and a warning) when some did not.
    pub async fn finish_background(&self, limit: Duration) -> bool {
        let queued: usize = self
            .rate_limited
            .iter()
            .map(|q| q.max_capacity() - q.capacity())
            .sum();
        // Without their senders the queues end once drained.
        self.rate_limited.clear();
        self.background.close();
        let done = tokio::time::timeout(limit, self.background.wait())
            .await
            .is_ok();
        if !done {
            tracing::warn!(
                queued_at_start = queued,
                limit_ms = limit.as_millis() as u64,
                "background actions (_async, _rate_limited) still running at shutdown; the rest is dropped"
            );
        }
        done
    }

    fn enqueue_rate_limited(self: &Arc<Self>, bot: &Arc<Bot>, action: String, params: Value) {
        let queue = self
            .rate_limited
            .entry(bot.self_id)
            .or_insert_with(|| {
                let (tx, mut rx) = mpsc::channel::<(String, Value)>(4096);
                let this = self.clone();
                let bot = bot.clone();
                self.background.spawn(async move {
                    while let Some((action, params)) = rx.recv().await {
                        let resp = this.call_local_or_forward(&bot, &action, params).await;
                        if !resp.is_ok() {
                            tracing::warn!(self_id = bot.self_id, %action, retcode = resp.retcode, message = %resp.message, "rate-limited action failed");
                        }
                        tokio::time::sleep(this.settings.rate_limit_interval).await;
                    }
                });
                tx
            })
            .clone();
        if queue.try_send((action, params)).is_err() {
            tracing::warn!(
                self_id = bot.self_id,
                "rate-limited queue full; action dropped"
            );
        }
    }

    /// `.handle_quick_operation`: turns `{context, operation}` into real actions.
    async fn quick_operation(self: &Arc<Self>, bot: &Bot, params: &Value) -> Response {
        let Some(context) = params.get("context").filter(|c| c.is_object()) else {
            return Response::failed(
                retcode::BAD_REQUEST,
                "invalid param `context`: expected the event object",
            );
        };
        let Some(operation) = params.get("operation").filter(|o| o.is_object()) else {
            return Response::failed(
                retcode::BAD_REQUEST,
                "invalid param `operation`: expected an object",
            );
        };
        let calls = match quick_operation_actions(context, operation) {
            Ok(calls) => calls,
            Err(err) => return Response::failed(retcode::BAD_REQUEST, err),
        };
        for (action, params) in calls {
            let resp = self.call(bot, action, params).await;
            if !resp.is_ok() {
                return resp;
            }
        }
        Response::ok(Value::Null)
    }
}

fn validate_params(action: &str, params: &Value) -> Result<(), String> {
    action::validate(action, params).map_err(|e| e.to_string())
}

fn upstream_lost(self_id: i64) -> Response {
    Response::failed(
        retcode::UPSTREAM_UNAVAILABLE,
        format!("the upstream of bot {self_id} disconnected before answering"),
    )
}

fn timeout_response(action: &str, timeout: Duration) -> Response {
    Response::failed(
        retcode::TIMEOUT,
        format!(
            "the upstream did not answer `{action}` within {} ms",
            timeout.as_millis()
        ),
    )
}

/// Serializes an answer, replacing it by a `failed` one if it is larger than
/// the app accepts (a frame the app refuses would wedge its connection).
fn fit_frame(resp: Response, max_bytes: usize) -> Utf8Bytes {
    let text = resp.to_json();
    if text.len() <= max_bytes {
        return Utf8Bytes::from(text);
    }
    let echo = resp.echo;
    let small = Response::failed(
        retcode::INTERNAL,
        format!(
            "the answer is {} bytes, over this app's max_frame_bytes of {max_bytes}",
            text.len()
        ),
    )
    .with_echo(echo);
    Utf8Bytes::from(small.to_json())
}

/// Translates a quick operation into the actions that carry it out.
fn quick_operation_actions(
    context: &Value,
    op: &Value,
) -> Result<Vec<(&'static str, Value)>, String> {
    let get_i64 = |v: &Value, k: &str| v.get(k).and_then(crate::protocol::event::value_i64);
    let truthy = |k: &str| match op.get(k) {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        Some(Value::String(s)) => s == "true" || s == "1",
        _ => false,
    };
    let post_type = context
        .get("post_type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut calls = Vec::new();
    match post_type {
        "message" | "message_sent" => {
            let message_type = context.get("message_type").and_then(Value::as_str).unwrap_or("private");
            let group_id = get_i64(context, "group_id");
            let user_id = get_i64(context, "user_id");
            if let Some(reply) = op.get("reply").filter(|r| !r.is_null()) {
                let mut segments = match reply {
                    Value::String(s) if truthy("auto_escape") => json!([{"type": "text", "data": {"text": s}}]),
                    other => message::to_array(other),
                };
                let at_sender = op.get("at_sender").map_or(message_type == "group", |_| truthy("at_sender"));
                if message_type == "group" && at_sender {
                    if let (Some(user), Value::Array(list)) = (user_id, &mut segments) {
                        list.insert(0, json!({"type": "at", "data": {"qq": user.to_string()}}));
                        list.insert(1, json!({"type": "text", "data": {"text": " "}}));
                    }
                }
                let mut params = json!({"message_type": message_type, "message": segments});
                match (message_type, group_id, user_id) {
                    ("group", Some(g), _) => params["group_id"] = json!(g),
                    (_, _, Some(u)) => params["user_id"] = json!(u),
                    _ => return Err(String::from("invalid param `context`: a message event needs group_id or user_id")),
                }
                calls.push(("send_msg", params));
            }
            if message_type == "group" {
                let group_id = group_id.ok_or("invalid param `context.group_id`: required for group operations")?;
                if truthy("delete") {
                    let id = get_i64(context, "message_id").ok_or("invalid param `context.message_id`: required for delete")?;
                    calls.push(("delete_msg", json!({"message_id": id})));
                }
                let user_id = user_id.ok_or("invalid param `context.user_id`: required for group operations");
                if truthy("kick") {
                    calls.push(("set_group_kick", json!({"group_id": group_id, "user_id": user_id?})));
                } else if truthy("ban") {
                    let duration = get_i64(op, "ban_duration").unwrap_or(30 * 60);
                    calls.push(("set_group_ban", json!({"group_id": group_id, "user_id": user_id?, "duration": duration})));
                }
            }
        }
        "request" => {
            let flag = context.get("flag").cloned().ok_or("invalid param `context.flag`: required for requests")?;
            if op.get("approve").is_some() {
                let approve = truthy("approve");
                match context.get("request_type").and_then(Value::as_str) {
                    Some("friend") => calls.push((
                        "set_friend_add_request",
                        json!({"flag": flag, "approve": approve, "remark": op.get("remark").cloned().unwrap_or(json!(""))}),
                    )),
                    Some("group") => calls.push((
                        "set_group_add_request",
                        json!({
                            "flag": flag,
                            "sub_type": context.get("sub_type").cloned().unwrap_or(json!("add")),
                            "type": context.get("sub_type").cloned().unwrap_or(json!("add")),
                            "approve": approve,
                            "reason": op.get("reason").cloned().unwrap_or(json!("")),
                        }),
                    )),
                    _ => return Err(String::from("invalid param `context.request_type`: expected friend or group")),
                }
            }
        }
        other => {
            return Err(format!(
                "invalid param `context.post_type`: quick operations apply to message and request events, not `{other}`"
            ))
        }
    }
    Ok(calls)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Virtual time: the waits are exact, whatever the machine's load.
    #[tokio::test(start_paused = true)]
    async fn token_bucket_allows_the_burst_then_spaces_callers() {
        let mut b = TokenBucket {
            tokens: 2.0,
            updated: Instant::now(),
        };
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        assert_eq!(b.reserve(10.0, 2.0), Duration::ZERO);
        assert_eq!(b.reserve(10.0, 2.0), Duration::ZERO);
        assert!((ms(b.reserve(10.0, 2.0)) - 100.0).abs() < 1e-6);
        assert!((ms(b.reserve(10.0, 2.0)) - 200.0).abs() < 1e-6);
        // 300 ms later three tokens came back: the two owed, and one to use now.
        tokio::time::advance(Duration::from_millis(300)).await;
        assert_eq!(b.reserve(10.0, 2.0), Duration::ZERO);
        assert!((ms(b.reserve(10.0, 2.0)) - 100.0).abs() < 1e-6);
        // Idle for long: never more than the burst.
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(b.reserve(10.0, 2.0), Duration::ZERO);
        assert_eq!(b.reserve(10.0, 2.0), Duration::ZERO);
        assert!((ms(b.reserve(10.0, 2.0)) - 100.0).abs() < 1e-6);
    }

    #[test]
    fn quick_reply_in_group_ats_the_sender_and_bans() {
        let ctx = json!({"post_type": "message", "message_type": "group", "group_id": 100, "user_id": 200, "message_id": 7});
        let calls = quick_operation_actions(
            &ctx,
            &json!({"reply": "hi", "ban": true, "ban_duration": 60}),
        )
        .unwrap();
        assert_eq!(calls[0].0, "send_msg");
        assert_eq!(calls[0].1["group_id"], 100);
        assert_eq!(
            calls[0].1["message"][0],
            json!({"type": "at", "data": {"qq": "200"}})
        );
        assert_eq!(
            calls[1],
            (
                "set_group_ban",
                json!({"group_id": 100, "user_id": 200, "duration": 60})
            )
        );
    }

    #[test]
    fn quick_approve_friend_request() {
        let ctx = json!({"post_type": "request", "request_type": "friend", "flag": "f1"});
        let calls =
            quick_operation_actions(&ctx, &json!({"approve": true, "remark": "pal"})).unwrap();
        assert_eq!(
            calls,
            vec![(
                "set_friend_add_request",
                json!({"flag": "f1", "approve": true, "remark": "pal"})
            )]
        );
    }

    #[test]
    fn oversize_answer_becomes_a_failure_with_the_same_echo() {
        let echo = Some(serde_json::value::RawValue::from_string("\"e1\"".into()).unwrap());
        let big = Response::ok("x".repeat(2000)).with_echo(echo);
        let text = fit_frame(big, 1000);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["status"], "failed");
        assert_eq!(v["echo"], "e1");
    }
}
