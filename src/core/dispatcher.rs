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

use super::pool::{self, Pool, Route};
use super::registry::{AppCtx, AsyncReply, Bot};
use super::serve::UpstreamLink;
use crate::protocol::action::{self, split_suffix, Action, HandleQuickOperation, Suffix};
use crate::protocol::{retcode, ActionRequest, Response};

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
    /// Answers given to apps, by (bot, action name or `other`, retcode).
    outcomes: DashMap<(i64, &'static str, i64), u64>,
    settings: DispatchSettings,
    rate_limited: DashMap<i64, mpsc::Sender<Call>>,
    buckets: DashMap<i64, Arc<std::sync::Mutex<TokenBucket>>>,
    /// `_async` and `_rate_limited` work, finished (within limits) on shutdown.
    background: tokio_util::task::TaskTracker,
    /// Pools by their `self_id`: their calls are routed to members.
    pools: DashMap<i64, Arc<Pool>>,
    /// How long apps' actions took, by bot.
    latency: DashMap<i64, Arc<super::latency::Latency>>,
    /// Failed actions per bot since its last summary line.
    failures: DashMap<i64, FailureWindow>,
    /// The last [`RECENT_FAILURES`] failed actions, newest last.
    recent_failures: std::sync::Mutex<std::collections::VecDeque<Value>>,
}

/// Failed actions kept for `/status`.
const RECENT_FAILURES: usize = 50;

/// Failed actions of one bot, summed up in one log line a minute.
#[derive(Debug)]
struct FailureWindow {
    since: Instant,
    by_retcode: std::collections::BTreeMap<i64, u64>,
}

/// How often a bot's failed actions are summed up in the log.
const FAILURE_SUMMARY_EVERY: Duration = Duration::from_secs(60);

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
            pools: DashMap::new(),
            outcomes: DashMap::new(),
            latency: DashMap::new(),
            failures: DashMap::new(),
            recent_failures: Default::default(),
        })
    }

    /// The last failed actions (newest last): bot, app, action, retcode, message.
    pub fn recent_failures(&self) -> Vec<Value> {
        self.recent_failures
            .lock()
            .expect("failures poisoned")
            .iter()
            .cloned()
            .collect()
    }

    /// Actions waiting for an upstream answer, by bot.
    pub fn pending_by_bot(&self) -> std::collections::HashMap<i64, usize> {
        let mut by_bot = std::collections::HashMap::new();
        for p in self.pending.iter() {
            *by_bot.entry(p.bot).or_insert(0) += 1;
        }
        by_bot
    }

    /// How long apps' actions took, by bot.
    pub fn latencies(&self) -> Vec<(i64, Arc<super::latency::Latency>)> {
        let mut all: Vec<_> = self
            .latency
            .iter()
            .map(|e| (*e.key(), e.value().clone()))
            .collect();
        all.sort_unstable_by_key(|(bot, _)| *bot);
        all
    }

    /// Counts an answer given to an app (by bot, action and retcode), its
    /// latency, and a failure in the log and among the recent failures.
    /// The Milky listener reports its calls here too.
    pub fn note_answer(
        &self,
        bot: i64,
        app: Option<u64>,
        action: &str,
        resp: &Response,
        took: Duration,
    ) {
        let counted = counted_name(action);
        self.count(bot, counted, resp.retcode);
        if !resp.is_partial_stream() {
            self.latency.entry(bot).or_default().observe(took);
        }
        if !resp.is_ok() && resp.status != "async" {
            tracing::debug!(app = ?app, self_id = bot, action = %action, retcode = resp.retcode, message = %resp.message, "action failed");
            self.note_failure(bot, resp.retcode);
            let mut recent = self.recent_failures.lock().expect("failures poisoned");
            if recent.len() == RECENT_FAILURES {
                recent.pop_front();
            }
            let message: String = resp.message.chars().take(200).collect();
            recent.push_back(serde_json::json!({
                "self_id": bot, "app": app, "action": counted, "retcode": resp.retcode,
                "message": message, "at_unix_ms": super::links::unix_ms(),
            }));
        }
    }

    /// Counts a failed action; once a minute per bot, one info line sums
    /// up the failures (each one is logged at debug).
    fn note_failure(&self, bot: i64, retcode: i64) {
        let now = Instant::now();
        let mut w = self.failures.entry(bot).or_insert_with(|| FailureWindow {
            since: now,
            by_retcode: Default::default(),
        });
        *w.by_retcode.entry(retcode).or_insert(0) += 1;
        if now.duration_since(w.since) >= FAILURE_SUMMARY_EVERY {
            let total: u64 = w.by_retcode.values().sum();
            let detail = w
                .by_retcode
                .iter()
                .map(|(code, n)| format!("{code} ×{n}"))
                .collect::<Vec<_>>()
                .join(", ");
            tracing::info!(
                self_id = bot,
                failed = total,
                "{total} actions failed in the last {} s: {detail}",
                now.duration_since(w.since).as_secs()
            );
            w.since = now;
            w.by_retcode.clear();
        }
    }

    /// Routes the calls of `pool.bot` to its members from now on.
    pub fn add_pool(&self, pool: Arc<Pool>) {
        self.pools.insert(pool.spec.self_id, pool);
    }

    /// Runs one action the gateway makes up itself (an alert message) to completion.
    pub async fn run_action(self: &Arc<Self>, bot: &Bot, action: Action) -> Response {
        self.call(bot, Call::planned(action)).await
    }

    fn count(&self, bot: i64, action: &'static str, retcode: i64) {
        *self.outcomes.entry((bot, action, retcode)).or_insert(0) += 1;
    }

    /// Answers given to apps so far: (bot, action name or `other`, retcode, count).
    pub fn outcomes(&self) -> Vec<(i64, &'static str, i64, u64)> {
        let mut all: Vec<_> = self
            .outcomes
            .iter()
            .map(|e| (e.key().0, e.key().1, e.key().2, *e.value()))
            .collect();
        all.sort_unstable();
        all
    }

    /// The pools, for `/status`.
    pub fn pools(&self) -> Vec<Arc<Pool>> {
        self.pools.iter().map(|p| p.clone()).collect()
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
        let started = Instant::now();
        let send = |resp: Response| {
            self.note_answer(
                app.bot.self_id,
                Some(app.id),
                &action,
                &resp,
                started.elapsed(),
            );
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
        // The one parse of the params: every layer below takes this value.
        let typed = match action::parse(base, &params) {
            Ok(typed) => typed,
            Err(err) => {
                send(Response::failed(retcode::BAD_REQUEST, err.to_string())).await;
                return;
            }
        };
        let call = Call {
            name: base.to_owned(),
            typed,
            params,
            params_text,
        };
        match suffix {
            Suffix::Async | Suffix::RateLimited => {
                let bot = app.bot.clone();
                if suffix == Suffix::Async {
                    let this = self.clone();
                    self.background.spawn(async move {
                        let action = call.name.clone();
                        let resp = this.call(&bot, call).await;
                        if !resp.is_ok() {
                            tracing::warn!(self_id = bot.self_id, %action, retcode = resp.retcode, message = %resp.message, "background action failed");
                        }
                    });
                } else {
                    self.enqueue_rate_limited(&bot, call);
                }
                let resp = match app.options.async_reply {
                    AsyncReply::Spec => Response::accepted_async(),
                    AsyncReply::Ok => Response::ok(Value::Null),
                };
                send(resp).await;
            }
            Suffix::None => self.run(&app.bot, call, send).await,
        }
    }

    /// Runs one call to completion and returns its (final) answer (for the
    /// gateway's own calls: quick operations, background and rate-limited actions).
    async fn call(self: &Arc<Self>, bot: &Bot, call: Call) -> Response {
        let mut last = None;
        self.run(bot, call, |resp| {
            last = Some(resp);
            std::future::ready(())
        })
        .await;
        last.unwrap_or_else(|| Response::failed(retcode::INTERNAL, "no answer"))
    }

    /// Answers gateway-local actions here and sends the rest to the upstream.
    async fn run<F, Fut>(self: &Arc<Self>, bot: &Bot, call: Call, mut on_answer: F)
    where
        F: FnMut(Response) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let pool = self.pools.get(&bot.self_id).map(|p| p.clone());
        match &call.typed {
            Some(Action::HandleQuickOperation(q)) => {
                on_answer(Box::pin(self.quick_operation(bot, q)).await).await
            }
            _ if pool.is_some() => {
                let pool = pool.expect("checked");
                on_answer(self.run_pool(&pool, call).await).await
            }
            Some(Action::GetStatus(_)) if bot.upstream().is_none() => {
                on_answer(Response::ok(json!({"online": false, "good": false}))).await
            }
            _ => self.forward(bot, &call, on_answer).await,
        }
    }

    /// Routes a pool's call to its members: the first that can take it, the
    /// next when it fails in a way another member may not (muted, offline,
    /// not in the group); the answer's message ids become pool ids.
    async fn run_pool(self: &Arc<Self>, pool: &Arc<Pool>, call: Call) -> Response {
        let legs = match pool.route(&call.name, &call.params) {
            Route::Answer(data) => return Response::ok(data),
            Route::Refused(code, why) => {
                tracing::debug!(pool = pool.spec.self_id, action = %call.name, %why, "pool call refused");
                return Response::failed(code, why);
            }
            Route::Members(legs) => legs,
        };
        let tries = legs.len();
        let mut last = None;
        for (n, leg) in legs.into_iter().enumerate() {
            let Some(member) = pool.members.iter().find(|m| m.self_id == leg.member) else {
                continue;
            };
            let typed = match action::parse(&call.name, &leg.params) {
                Ok(typed) => typed,
                Err(err) => return Response::failed(retcode::BAD_REQUEST, err.to_string()),
            };
            let sub = Call {
                name: call.name.clone(),
                typed,
                params: leg.params,
                params_text: None,
            };
            let mut resp = Box::pin(self.call(member, sub)).await;
            if n + 1 < tries && pool::worth_another_member(resp.retcode) {
                tracing::info!(pool = pool.spec.self_id, member = member.self_id, action = %call.name, retcode = resp.retcode, message = %resp.message, "pool member failed; the next member tries");
                last = Some(resp);
                continue;
            }
            if resp.retcode == retcode::OK {
                let data = pool.answer_data(member.self_id, resp.data_value());
                resp.data = serde_json::value::to_raw_value(&data).unwrap_or(resp.data);
            }
            return resp;
        }
        last.unwrap_or_else(|| {
            Response::failed(
                retcode::UPSTREAM_UNAVAILABLE,
                "no pool member took the call",
            )
        })
    }

    /// Sends the call to the bot's upstream and passes each answer frame to
    /// `on_answer` (several for NapCat stream actions). The params the app
    /// wrote are relayed as they are.
    async fn forward<F, Fut>(&self, bot: &Bot, call: &Call, mut on_answer: F)
    where
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
        let action = call.name.as_str();
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
                on_answer(match &call.typed {
                    Some(typed) => local.call(bot.self_id, typed),
                    None => Response::failed(
                        retcode::NOT_FOUND,
                        format!("unsupported action `{action}`"),
                    ),
                })
                .await;
                return;
            }
            UpstreamLink::Bridge(bridge) => {
                let Some(typed) = &call.typed else {
                    on_answer(Response::failed(
                        retcode::NOT_FOUND,
                        format!("`{action}` has no counterpart in the bridged protocol"),
                    ))
                    .await;
                    return;
                };
                on_answer(
                    match tokio::time::timeout(timeout, bridge.call(typed)).await {
                        Ok(resp) => resp,
                        Err(_) => timeout_response(action, timeout),
                    },
                )
                .await;
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
        let text = match &call.params_text {
            Some(raw) => serde_json::to_string(&UpstreamFrame {
                action,
                params: &**raw,
                echo,
            }),
            None => serde_json::to_string(&UpstreamFrame {
                action,
                params: &call.params,
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

    fn enqueue_rate_limited(self: &Arc<Self>, bot: &Arc<Bot>, call: Call) {
        let queue = self
            .rate_limited
            .entry(bot.self_id)
            .or_insert_with(|| {
                let (tx, mut rx) = mpsc::channel::<Call>(4096);
                let this = self.clone();
                let bot = bot.clone();
                self.background.spawn(async move {
                    while let Some(call) = rx.recv().await {
                        let action = call.name.clone();
                        let resp = this.call(&bot, call).await;
                        if !resp.is_ok() {
                            tracing::warn!(self_id = bot.self_id, %action, retcode = resp.retcode, message = %resp.message, "rate-limited action failed");
                        }
                        tokio::time::sleep(this.settings.rate_limit_interval).await;
                    }
                });
                tx
            })
            .clone();
        if queue.try_send(call).is_err() {
            tracing::warn!(
                self_id = bot.self_id,
                "rate-limited queue full; action dropped"
            );
        }
    }

    /// `.handle_quick_operation`: runs the planned actions in order; the
    /// first failure is the answer.
    async fn quick_operation(self: &Arc<Self>, bot: &Bot, q: &HandleQuickOperation) -> Response {
        let plan = match action::quick::plan(q) {
            Ok(plan) => plan,
            Err(err) => return Response::failed(retcode::BAD_REQUEST, err.to_string()),
        };
        for typed in plan {
            let resp = self.call(bot, Call::planned(typed)).await;
            if !resp.is_ok() {
                return resp;
            }
        }
        Response::ok(Value::Null)
    }
}

/// One action on its way to an upstream, parsed once.
struct Call {
    /// The wire name, suffix removed.
    name: String,
    /// The typed params of a known action; `None` for one the gateway does
    /// not know (relayed untouched to remote upstreams).
    typed: Option<Action>,
    /// The params as received.
    params: Value,
    /// The params exactly as the app wrote them, relayed byte for byte.
    params_text: Option<Box<RawValue>>,
}

impl Call {
    /// A call the gateway made up itself (a quick operation's step).
    fn planned(typed: Action) -> Self {
        Self {
            name: typed.name().to_owned(),
            params: typed.params_json(),
            typed: Some(typed),
            params_text: None,
        }
    }
}

/// An action's name as a metric label: a known name (suffix stripped), or
/// `other`, so apps cannot grow the label set.
fn counted_name(action: &str) -> &'static str {
    let (base, _) = split_suffix(action);
    action::KNOWN_ACTIONS
        .iter()
        .find(|n| **n == base)
        .copied()
        .unwrap_or("other")
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
    fn oversize_answer_becomes_a_failure_with_the_same_echo() {
        let echo = Some(serde_json::value::RawValue::from_string("\"e1\"".into()).unwrap());
        let big = Response::ok("x".repeat(2000)).with_echo(echo);
        let text = fit_frame(big, 1000);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["status"], "failed");
        assert_eq!(v["echo"], "e1");
    }
}
