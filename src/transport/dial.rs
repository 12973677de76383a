//! Every outbound WebSocket, through one dial/backoff loop: reverse targets
//! (the gateway dials apps: NoneBot's `/onebot/v11/ws`, Koishi's `/onebot`;
//! one connection per bot per target, two in the split API/Event layout) and
//! dialled links (`[[upstream]] type = "ws"`: the gateway dials an
//! implementation and hands the socket to the upstream layer's link runner).
//! Redials use capped, jittered backoff; `/status` shows each dial's state.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use http::{HeaderName, HeaderValue};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

use super::config::ReverseConfig;
use super::session::{run_app, SessionEnd};
use super::{app_ws_config, upstream_ws_config, Backoff};
use crate::core::links::{unix_ms, LinkSpec};
use crate::core::{Bot, DialStatus, Hub, LinkKind, OnDuplicate, Role};
use crate::redact::{redact, Secret};

/// A connection that stayed up this long resets the backoff.
const HEALTHY_AFTER: Duration = Duration::from_secs(30);

/// A WebSocket the gateway opened.
pub type DialledWs = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Runs a dialled implementation socket as a link of its bot; returns why it ended.
pub type DialledLinkRunner =
    Arc<dyn Fn(DialledWs, LinkSpec) -> BoxFuture<'static, String> + Send + Sync>;

/// One outbound connection to keep up.
struct Dial {
    /// `reverse` or `upstream` (as `/status` shows it).
    kind: &'static str,
    /// Its row in the registry's dials.
    key: String,
    /// The target's name (the URL for upstreams).
    name: String,
    url: String,
    self_id: Option<i64>,
    headers: Vec<(HeaderName, String)>,
    config: WebSocketConfig,
    backoff: Backoff,
}

/// What the end of one connection means for its dial.
enum Ended {
    /// Stop dialling: shutdown, or the target was removed.
    Stop,
    /// Dial again after the backoff; with why the connection ended (shown
    /// in `/status`, already logged by the caller).
    Redial(Option<String>),
    /// The peer closed it saying why (an app refusing the bot): dial again,
    /// and log the reason like a failed dial, once per distinct reason.
    Closed(String),
}

/// Opens one connection of a dial: the connection, or why not and whether
/// the peer refused it (an HTTP answer rather than a network failure).
type Connect<C> = for<'a> fn(&'a Dial) -> BoxFuture<'a, Result<C, (String, bool)>>;

/// Opens a dial's WebSocket.
fn ws_connect(dial: &Dial) -> BoxFuture<'_, Result<DialledWs, (String, bool)>> {
    Box::pin(async move {
        let attempt = async {
            let mut req = dial.url.as_str().into_client_request()?;
            for (name, value) in &dial.headers {
                let value =
                    HeaderValue::from_str(value).map_err(|e| WsError::HttpFormat(e.into()))?;
                req.headers_mut().insert(name.clone(), value);
            }
            tokio_tungstenite::connect_async_with_config(req, Some(dial.config), true).await
        };
        match attempt.await {
            Ok((ws, _)) => Ok(ws),
            Err(e) => Err((describe(&e), matches!(e, WsError::Http(_)))),
        }
    })
}

/// Dials until `stop`, opening each connection with `connect` and running
/// it with `connected`.
async fn keep_dialling<C, F, Fut>(
    hub: &Hub,
    mut dial: Dial,
    stop: &CancellationToken,
    connect: Connect<C>,
    mut connected: F,
) where
    F: FnMut(C) -> Fut,
    Fut: Future<Output = Ended>,
{
    let url_for_logs = redact(&dial.url);
    let key = dial.key.clone();
    let status = DialStatus::new(dial.kind, dial.name.clone(), dial.url.clone(), dial.self_id);
    let set = |state, last_error: &Option<String>, next| {
        hub.registry
            .dials
            .insert(key.clone(), status.at(state, last_error.clone(), next));
    };
    let _forget = DialGuard {
        hub,
        key: key.clone(),
    };
    let failed = if dial.kind == "upstream" {
        "cannot reach upstream"
    } else {
        "reverse connection refused or failed"
    };
    let mut last_problem: Option<String> = None;
    loop {
        set("connecting", &last_problem, None);
        let outcome = tokio::select! {
            _ = stop.cancelled() => return,
            r = tokio::time::timeout(hub.settings.handshake_timeout, connect(&dial)) => r,
        };
        let (problem, refused) = match outcome {
            Ok(Ok(ws)) => {
                set("connected", &None, None);
                let started = Instant::now();
                let end = connected(ws).await;
                if started.elapsed() >= HEALTHY_AFTER {
                    dial.backoff.reset();
                }
                match end {
                    Ended::Stop => return,
                    // A connection that was up is not a failure to reach the peer.
                    Ended::Redial(why) => {
                        last_problem = why;
                        (None, false)
                    }
                    Ended::Closed(why) => (Some(why), false),
                }
            }
            Ok(Err((problem, refused))) => (Some(problem), refused),
            Err(_) => (
                Some(format!(
                    "no handshake within {} ms",
                    hub.settings.handshake_timeout.as_millis()
                )),
                false,
            ),
        };
        let delay = dial.backoff.next_delay();
        if let Some(problem) = problem {
            // Once per distinct reason: a peer that keeps refusing does not flood the log.
            if last_problem.as_deref() != Some(problem.as_str()) {
                tracing::warn!(kind = dial.kind, name = %redact(&dial.name), self_id = ?dial.self_id, url = %url_for_logs, reason = %redact(&problem), retry_in_ms = delay.as_millis() as u64, "{failed}");
            } else {
                tracing::debug!(kind = dial.kind, name = %redact(&dial.name), reason = %redact(&problem), "still failing");
            }
            last_problem = Some(problem);
        }
        set(
            if refused { "refused" } else { "backoff" },
            &last_problem,
            Some(unix_ms() + delay.as_millis() as i64),
        );
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// Describes a failed dial the way a user needs to read it.
fn describe(err: &WsError) -> String {
    match err {
        WsError::Http(resp) => {
            let body = resp
                .body()
                .as_ref()
                .map(|b| {
                    String::from_utf8_lossy(b)
                        .chars()
                        .take(200)
                        .collect::<String>()
                })
                .unwrap_or_default();
            format!("refused with HTTP {} {}", resp.status(), body.trim())
        }
        other => other.to_string(),
    }
}

/// Removes a dial's status row when its loop ends (target removed, shutdown).
struct DialGuard<'a> {
    hub: &'a Hub,
    key: String,
}

impl Drop for DialGuard<'_> {
    fn drop(&mut self) {
        self.hub.registry.dials.remove(&self.key);
    }
}

/// Runs one `[[reverse]]` target: dials every (matching) bot, including bots
/// that appear later, until `stop` (the gateway's shutdown, or a reload that
/// removed it).
pub async fn run_target(hub: Arc<Hub>, target: Arc<ReverseConfig>, stop: CancellationToken) {
    let at_start: std::collections::HashSet<i64> =
        hub.registry.bots().iter().map(|b| b.self_id).collect();
    hub.registry
        .each_bot(&stop, |bot| {
            if !target.bots.is_empty() && !target.bots.contains(&bot.self_id) {
                return;
            }
            // A configured target is owed every event from the moment it
            // exists (the gateway's start, or the bot's first appearance),
            // even while it is down; a saved cursor (journal) wins.
            let from = if at_start.contains(&bot.self_id) {
                bot.log.head()
            } else {
                bot.log.first_retained()
            };
            bot.cursors
                .entry(identity_of(&target, bot.self_id))
                .or_insert(from);
            let links: Vec<(String, Role)> = match (&target.url, &target.api_url, &target.event_url)
            {
                (Some(url), _, _) => vec![(url.clone(), Role::Universal)],
                (None, Some(api), Some(event)) => {
                    vec![(api.clone(), Role::Api), (event.clone(), Role::Event)]
                }
                _ => Vec::new(),
            };
            for (url, role) in links {
                let task = {
                    let (hub, target, bot, stop) =
                        (hub.clone(), target.clone(), bot.clone(), stop.clone());
                    async move { dial_app(&hub, &target, bot, url, role, &stop).await }
                };
                hub.tasks.spawn(task);
            }
        })
        .await;
}

/// The replay identity of a target's event connection to one bot.
fn identity_of(target: &ReverseConfig, self_id: i64) -> String {
    format!("reverse:{}:{self_id}", target.display_name())
}

async fn dial_app(
    hub: &Arc<Hub>,
    target: &ReverseConfig,
    bot: Arc<Bot>,
    url: String,
    role: Role,
    stop: &CancellationToken,
) {
    let mut headers = vec![
        (
            HeaderName::from_static("x-self-id"),
            bot.self_id.to_string(),
        ),
        (
            HeaderName::from_static("x-client-role"),
            role.header_value().to_owned(),
        ),
        (http::header::USER_AGENT, target.user_agent.clone()),
    ];
    headers.extend(bearer(&target.access_token));
    let name = target.display_name();
    let dial = Dial {
        kind: "reverse",
        key: format!("reverse:{name}:{}:{}", bot.self_id, role.header_value()),
        name,
        url: url.clone(),
        self_id: Some(bot.self_id),
        headers,
        config: app_ws_config(hub.settings.max_inbound_frame_bytes),
        backoff: Backoff::new(
            Duration::from_millis(target.reconnect_interval_ms),
            Duration::from_millis(target.max_reconnect_interval_ms),
        ),
    };
    let identity = identity_of(target, bot.self_id);
    keep_dialling(hub, dial, stop, ws_connect, |ws| {
        let ctx = hub.registry.register_app(
            bot.clone(),
            role,
            target.options.clone(),
            role.receives_events().then(|| identity.clone()),
            url.clone(),
            crate::core::SessionOnDuplicate::Replace,
        );
        // run_app returns only after its close handshake is done or timed
        // out, so the next dial never overlaps the old connection (NoneBot
        // refuses a duplicate X-Self-ID).
        let session = run_app(hub.clone(), ws, ctx, stop.clone());
        async move {
            match session.await {
                SessionEnd::Shutdown | SessionEnd::Removed => Ended::Stop,
                SessionEnd::PeerClosed(Some(frame)) => Ended::Closed(format!(
                    "closed by app with {} {}",
                    u16::from(frame.code),
                    frame.reason
                )),
                _ => Ended::Redial(None),
            }
        }
    })
    .await;
}

fn bearer(token: &Secret) -> Option<(HeaderName, String)> {
    (!token.is_empty()).then(|| {
        (
            http::header::AUTHORIZATION,
            format!("Bearer {}", token.expose()),
        )
    })
}

/// A dialled (`ws`) upstream.
#[derive(Debug, Clone)]
pub struct WsUpstream {
    /// The implementation's forward WS URL (a Milky one's `/event`).
    pub url: String,
    /// `WsDialled` (OneBot) or `Milky`.
    pub kind: LinkKind,
    /// Its token.
    pub access_token: Secret,
    /// The account, if known in advance.
    pub self_id: Option<i64>,
    /// First reconnect delay.
    pub reconnect: Duration,
    /// Reconnect delay cap.
    pub max_reconnect: Duration,
    /// When the bot already has an active link.
    pub on_duplicate: OnDuplicate,
}

/// Dials an implementation and keeps its link up until the gateway drains.
pub async fn run_upstream(hub: Arc<Hub>, up: WsUpstream, run: DialledLinkRunner) {
    dial_upstream(hub, up, ws_connect, run).await;
}

/// The event stream of a Milky implementation, as dialled.
pub enum MilkyEvents {
    /// `GET /event` upgraded to a WebSocket.
    Ws(Box<DialledWs>),
    /// `GET /event` as Server-Sent Events: each event's data.
    Sse(futures::stream::BoxStream<'static, Result<String, String>>),
}

/// Runs a dialled Milky event stream as a link of its bot; returns why it ended.
pub type MilkyLinkRunner =
    Arc<dyn Fn(MilkyEvents, LinkSpec) -> BoxFuture<'static, String> + Send + Sync>;

/// Dials a Milky implementation's event stream (`up.url` is its `/event`)
/// over WebSocket or, with `sse`, Server-Sent Events, until the gateway drains.
pub async fn run_milky_upstream(hub: Arc<Hub>, up: WsUpstream, sse: bool, run: MilkyLinkRunner) {
    if sse {
        let connect: Connect<MilkyEvents> = |dial| {
            Box::pin(async move {
                super::milky::sse_connect(dial.url.as_str(), &dial.headers)
                    .await
                    .map(MilkyEvents::Sse)
            })
        };
        dial_upstream(hub, up, connect, run).await;
    } else {
        let connect: Connect<MilkyEvents> = |dial| {
            Box::pin(async move {
                ws_connect(dial)
                    .await
                    .map(|ws| MilkyEvents::Ws(Box::new(ws)))
            })
        };
        dial_upstream(hub, up, connect, run).await;
    }
}

async fn dial_upstream<C>(
    hub: Arc<Hub>,
    up: WsUpstream,
    connect: Connect<C>,
    run: Arc<dyn Fn(C, LinkSpec) -> BoxFuture<'static, String> + Send + Sync>,
) {
    let peer = redact(&up.url);
    let dial = Dial {
        kind: "upstream",
        key: format!("upstream:{peer}"),
        name: peer.clone(),
        url: up.url.clone(),
        self_id: up.self_id,
        headers: bearer(&up.access_token).into_iter().collect(),
        config: upstream_ws_config(hub.settings.max_inbound_frame_bytes),
        backoff: Backoff::new(up.reconnect, up.max_reconnect),
    };
    let draining = hub.draining.clone();
    keep_dialling(&hub, dial, &draining, connect, |conn| {
        let spec = LinkSpec {
            kind: up.kind,
            role: Role::Universal,
            peer: peer.clone(),
            self_id: up.self_id,
            on_duplicate: up.on_duplicate,
            allowed: None,
        };
        let link = run(conn, spec);
        let (draining, peer) = (draining.clone(), peer.clone());
        async move {
            let reason = link.await;
            if draining.is_cancelled() {
                return Ended::Stop;
            }
            tracing::warn!(url = %peer, %reason, "upstream link lost; reconnecting");
            Ended::Redial(Some(reason))
        }
    })
    .await;
}
