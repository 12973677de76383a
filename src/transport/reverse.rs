//! Reverse WebSocket targets: the gateway dials apps (NoneBot's
//! `/onebot/v11/ws`, Koishi's `/onebot`), one connection per bot per target
//! (two in the split API/Event layout), and redials with capped, jittered
//! backoff.

use crate::redact::redact;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{HeaderValue, Request};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Error as WsError;

use super::config::ReverseConfig;
use super::session::{run_app, SessionEnd};
use super::Backoff;
use crate::core::{Bot, DialStatus, Hub, Role};
use tokio_util::sync::CancellationToken;

/// A connection that stayed up this long resets the backoff.
const HEALTHY_AFTER: Duration = Duration::from_secs(30);

/// Runs one `[[reverse]]` target: dials every (matching) bot, including bots
/// that appear later, until shutdown.
/// `stop` ends it (the gateway's shutdown, or a reload that removed it).
pub async fn run_target(hub: Arc<Hub>, target: Arc<ReverseConfig>, stop: CancellationToken) {
    let mut dialled = std::collections::HashSet::new();
    let mut bots_changed = hub.registry.watch_bots();
    let mut first_pass = true;
    loop {
        for bot in hub.registry.bots() {
            if !target.bots.is_empty() && !target.bots.contains(&bot.self_id) {
                continue;
            }
            if !dialled.insert(bot.self_id) {
                continue;
            }
            // A configured target is owed every event from the moment it
            // exists (the gateway's start, or the bot's first appearance),
            // even while it is down; a saved cursor (journal) wins.
            let from = if first_pass {
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
                hub.tasks.spawn(dial_loop(
                    hub.clone(),
                    target.clone(),
                    bot.clone(),
                    url,
                    role,
                    stop.clone(),
                ));
            }
        }
        first_pass = false;
        tokio::select! {
            _ = stop.cancelled() => return,
            changed = bots_changed.changed() => if changed.is_err() { return },
        }
    }
}

/// The replay identity of a target's event connection to one bot.
fn identity_of(target: &ReverseConfig, self_id: i64) -> String {
    format!("reverse:{}:{self_id}", target.display_name())
}

fn build_request(
    target: &ReverseConfig,
    url: &str,
    bot: &Bot,
    role: Role,
) -> Result<Request<()>, WsError> {
    let mut req = url.into_client_request()?;
    let h = req.headers_mut();
    let value = |s: &str| HeaderValue::from_str(s).map_err(|e| WsError::HttpFormat(e.into()));
    h.insert("X-Self-ID", value(&bot.self_id.to_string())?);
    h.insert(
        "X-Client-Role",
        HeaderValue::from_static(role.header_value()),
    );
    h.insert(http::header::USER_AGENT, value(&target.user_agent)?);
    if !target.access_token.is_empty() {
        h.insert(
            http::header::AUTHORIZATION,
            value(&format!("Bearer {}", target.access_token.expose()))?,
        );
    }
    Ok(req)
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

async fn dial_loop(
    hub: Arc<Hub>,
    target: Arc<ReverseConfig>,
    bot: Arc<Bot>,
    url: String,
    role: Role,
    stop: CancellationToken,
) {
    let name = target.display_name();
    let mut backoff = Backoff::new(
        Duration::from_millis(target.reconnect_interval_ms),
        Duration::from_millis(target.max_reconnect_interval_ms),
    );
    let identity = identity_of(&target, bot.self_id);
    let mut last_problem: Option<String> = None;
    let config = super::app_ws_config(hub.settings.max_inbound_frame_bytes);
    let url_for_logs = redact(&url);
    let dial_key = format!("reverse:{name}:{}:{}", bot.self_id, role.header_value());
    let dial = DialStatus::new(
        "reverse",
        name.clone(),
        url_for_logs.clone(),
        Some(bot.self_id),
    );
    let set_dial = |state, last_error, next| {
        hub.registry
            .dials
            .insert(dial_key.clone(), dial.at(state, last_error, next));
    };
    let _forget = DialGuard {
        hub: &hub,
        key: dial_key.clone(),
    };
    let mut refused = false;
    loop {
        set_dial("connecting", last_problem.clone(), None);
        let attempt = async {
            let req = build_request(&target, &url, &bot, role)?;
            tokio_tungstenite::connect_async_with_config(req, Some(config), true).await
        };
        let outcome = tokio::select! {
            _ = stop.cancelled() => return,
            r = tokio::time::timeout(hub.settings.handshake_timeout, attempt) => r,
        };
        let problem = match outcome {
            Ok(Ok((ws, _resp))) => {
                set_dial("connected", None, None);
                refused = false;
                let started = Instant::now();
                let ctx = hub.registry.register_app(
                    bot.clone(),
                    role,
                    target.app.clone(),
                    role.receives_events().then(|| identity.clone()),
                    url.clone(),
                    crate::core::SessionOnDuplicate::Replace,
                );
                // run_app returns only after its close handshake is done or
                // timed out, so the next dial never overlaps the old
                // connection (NoneBot refuses a duplicate X-Self-ID).
                let end = run_app(hub.clone(), ws, ctx, stop.clone()).await;
                if matches!(end, SessionEnd::Shutdown | SessionEnd::Removed) {
                    return;
                }
                if started.elapsed() >= HEALTHY_AFTER {
                    backoff.reset();
                }
                match end {
                    SessionEnd::PeerClosed(Some(frame)) => Some(format!(
                        "closed by app with {} {}",
                        u16::from(frame.code),
                        frame.reason
                    )),
                    _ => None,
                }
            }
            Ok(Err(e)) => {
                refused = matches!(e, WsError::Http(_));
                Some(describe(&e))
            }
            Err(_) => Some(format!(
                "no handshake within {} ms",
                hub.settings.handshake_timeout.as_millis()
            )),
        };
        let delay = backoff.next_delay();
        if let Some(problem) = problem {
            // Logged once per distinct reason, so a target that keeps refusing
            // does not flood the log.
            if last_problem.as_deref() != Some(problem.as_str()) {
                tracing::warn!(target = %name, self_id = bot.self_id, url = %redact(&url), reason = %redact(&problem), retry_in_ms = delay.as_millis() as u64, "reverse connection refused or failed");
                last_problem = Some(problem);
            } else {
                tracing::debug!(target = %name, reason = %redact(&problem), "reverse connection still failing");
            }
        } else {
            last_problem = None;
        }
        set_dial(
            if refused { "refused" } else { "backoff" },
            last_problem.clone(),
            Some(crate::core::links::unix_ms() + delay.as_millis() as i64),
        );
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
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
