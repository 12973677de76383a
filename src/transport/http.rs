//! HTTP listeners: the accept loop (hyper, with WebSocket upgrades and a
//! handshake timeout), token checks, and the forward-WS app endpoint.
//!
//! One listener serves the app WebSocket endpoints (`/`, `/api`, `/event`,
//! `/{self_id}/...`), the sandbox injection API under `/sandbox`, and the
//! `/status` page, all behind the listener's token.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role as WsRole, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use super::budget::Metered;
use super::guard::ListenerGuard;
pub use super::listener::{
    check_token, presented_token, query_map, token_matches, AppListener, PeerAddr,
};
pub use super::reply::error;
use super::reply::AuthRefused;
use crate::core::{Hub, Role};

/// The socket type of an accepted WebSocket.
pub type UpgradedWs = WebSocketStream<Metered<TokioIo<hyper::upgrade::Upgraded>>>;

/// Serves `router` on `listener` until shutdown: HTTP/1.1 with upgrades, a
/// header-read (handshake) timeout, and one task per connection.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    hub: Arc<Hub>,
    guard: Arc<ListenerGuard>,
) {
    let handshake_timeout = hub.settings.handshake_timeout;
    loop {
        let (stream, peer) = tokio::select! {
            _ = hub.draining.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let shutdown = hub.shutdown.clone();
        let guard = guard.clone();
        // Tracked, so shutdown waits for requests in progress.
        hub.tasks.spawn(async move {
            let svc = tower::service_fn(move |mut req: Request<hyper::body::Incoming>| {
                let refused = guard.admit(req.headers(), peer.ip());
                req.extensions_mut().insert(PeerAddr(peer));
                req.extensions_mut().insert(guard.clone());
                let (router, guard) = (router.clone(), guard.clone());
                async move {
                    if let Err(resp) = refused {
                        tracing::warn!(%peer, path = req.uri().path(), status = resp.status().as_u16(), "request refused before routing");
                        return Ok(resp);
                    }
                    let resp = router.oneshot(req.map(Body::new)).await?;
                    if resp.extensions().get::<AuthRefused>().is_some() {
                        guard.record_auth_failure(peer.ip());
                    }
                    Ok::<_, std::convert::Infallible>(resp)
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(handshake_timeout)
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc))
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => if let Err(e) = r {
                    tracing::debug!(%peer, error = %e, "http connection ended with an error");
                },
                // Upgraded WebSockets live on in their own tasks; plain HTTP stops here.
                _ = shutdown.cancelled() => conn.as_mut().graceful_shutdown(),
            }
        });
    }
}

/// Answers a WebSocket upgrade request and runs `on_socket` on the socket;
/// anything that is not a valid upgrade gets a 400/426 naming the problem.
pub fn upgrade<F, Fut>(
    req: &mut Request,
    tasks: &TaskTracker,
    config: WebSocketConfig,
    on_socket: F,
) -> Response
where
    F: FnOnce(UpgradedWs) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let headers = req.headers();
    if !is_upgrade(req) {
        return error(
            StatusCode::UPGRADE_REQUIRED,
            "this endpoint speaks WebSocket: send an Upgrade: websocket request",
        );
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(|v| v.as_bytes())
        != Some(b"13")
    {
        // RFC 6455 4.4: the versions the server speaks, with 426.
        let mut resp = error(
            StatusCode::UPGRADE_REQUIRED,
            "unsupported WebSocket version: Sec-WebSocket-Version must be 13",
        );
        resp.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        return resp;
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
        return error(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key");
    };
    let accept = derive_accept_key(key.as_bytes());
    // Counted from the upgrade's answer to the socket's end.
    let guard = req.extensions().get::<Arc<ListenerGuard>>().cloned();
    let slot = match &guard {
        Some(guard) => match guard.connection_slot() {
            Ok(slot) => Some(slot),
            Err(resp) => return resp,
        },
        None => None,
    };
    let budget = guard.and_then(|g| g.inbound_budget());
    let on_upgrade = hyper::upgrade::on(req);
    tasks.spawn(async move {
        let _slot = slot;
        match on_upgrade.await {
            Ok(upgraded) => {
                let ws = WebSocketStream::from_raw_socket(
                    Metered::new(TokioIo::new(upgraded), budget),
                    WsRole::Server,
                    Some(config),
                )
                .await;
                on_socket(ws).await;
            }
            Err(e) => tracing::debug!(error = %e, "websocket upgrade failed"),
        }
    });
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(
        header::SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&accept).expect("base64 is a valid header value"),
    );
    resp
}

/// The router of a forward listener: app endpoints, `/status`, and the
/// sandbox API (when a sandbox runs).
pub fn app_router(listener: Arc<AppListener>, sandbox: Option<Router>) -> Router {
    let mut router = Router::new()
        .route("/status", get(status))
        .route("/metrics", get(super::observe::metrics))
        .route("/dashboard", get(super::observe::dashboard));
    if let Some(sandbox) = sandbox {
        router = router.nest_service("/sandbox", sandbox);
    }
    router
        .layer(axum::middleware::from_fn_with_state(
            listener.clone(),
            require_token,
        ))
        .fallback(app_endpoint)
        .with_state(listener)
}

async fn require_token(
    State(l): State<Arc<AppListener>>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    let query = query_map(&req);
    if let Err(resp) = check_token(
        &l.token(),
        presented_token(req.headers(), &query).as_deref(),
    ) {
        return resp;
    }
    next.run(req).await
}

async fn status(State(l): State<Arc<AppListener>>) -> Response {
    use std::sync::atomic::Ordering::Relaxed;
    let hub = &l.hub;
    let pending = hub.dispatcher.pending_by_bot();
    let latency: std::collections::HashMap<i64, _> =
        hub.dispatcher.latencies().into_iter().collect();
    let bots: Vec<_> = hub
        .registry
        .bots()
        .iter()
        .map(|b| {
            let h = b.health();
            let links: Vec<_> = b
                .links
                .all()
                .iter()
                .map(|k| {
                    json!({
                        "id": k.id, "kind": k.kind, "role": k.role, "peer": k.peer, "state": k.state(),
                        "carries_actions": k.carries_actions(), "publishes_events": k.publishes(),
                        "since_unix_ms": k.since_unix_ms,
                        "last_heartbeat_unix_ms": Some(k.last_heartbeat_unix_ms.load(Relaxed)).filter(|t| *t > 0),
                        "standby_events_dropped": k.standby_events_dropped.load(Relaxed),
                        "binary_frames_dropped": k.binary_frames_dropped.load(Relaxed),
                        "events_ignored": k.events_ignored.load(Relaxed),
                    })
                })
                .collect();
            json!({
                "self_id": b.self_id, "online": h.online, "good": h.good, "links": links,
                "next_seq": b.log.head(), "first_retained_seq": b.log.first_retained(),
                "saved_cursors": b.cursors.iter().map(|c| (c.key().clone(), *c.value())).collect::<HashMap<_, _>>(),
                "journaled_cursors": hub.registry.durable_cursors(b.self_id),
                "state_changes": b.transitions.lock().map(|t| t.iter().cloned().collect::<Vec<_>>()).unwrap_or_default(),
                "pending_actions": pending.get(&b.self_id).copied().unwrap_or(0),
                "action_latency_ms": latency.get(&b.self_id).map(|l| json!({
                    "p50": l.quantile(0.5).map(|s| s * 1000.0), "p99": l.quantile(0.99).map(|s| s * 1000.0),
                })),
            })
        })
        .collect();
    let mut apps: Vec<_> = hub
        .registry
        .apps
        .iter()
        .map(|a| {
            let s = &a.stats;
            let cursor = s.cursor.load(Relaxed);
            json!({
                "id": a.id, "self_id": a.bot.self_id, "role": a.role, "identity": a.identity, "peer": a.peer,
                "delivered": s.delivered.load(Relaxed), "replayed": s.replayed.load(Relaxed),
                "lost": s.lost.load(Relaxed), "oversize": s.oversize.load(Relaxed),
                "actions": s.actions.load(Relaxed), "cursor": cursor,
                "confirmed": s.confirmed.load(Relaxed),
                "unconfirmed": cursor.saturating_sub(s.confirmed.load(Relaxed)),
                "duplicates": s.duplicates.load(Relaxed),
                "pings_received": s.pings_received.load(Relaxed),
                "lag": a.role.receives_events().then(|| a.bot.log.head().saturating_sub(cursor)),
            })
        })
        .collect();
    apps.sort_by_key(|a| a["id"].as_u64());
    let mut dials: Vec<_> = hub
        .registry
        .dials
        .iter()
        .map(|d| d.value().clone())
        .collect();
    dials.sort_by(|a, b| (a.kind, &a.name, a.self_id).cmp(&(b.kind, &b.name, b.self_id)));
    let drops = &hub.dispatcher.dropped_answers;
    let dropped_answers = json!({
        "wrong_link": drops.wrong_link.load(Relaxed),
        "unknown_echo": drops.unknown_echo.load(Relaxed),
        "late": drops.late.load(Relaxed),
    });
    let pools: Vec<_> = hub
        .dispatcher
        .pools()
        .iter()
        .map(|p| {
            json!({
                "self_id": p.spec.self_id, "name": p.spec.name, "members": p.member_status(),
                "duplicates_dropped": p.duplicates.load(Relaxed),
            })
        })
        .collect();
    let actions: Vec<_> = hub
        .dispatcher
        .outcomes()
        .into_iter()
        .map(|(bot, action, retcode, count)| json!({"self_id": bot, "action": action, "retcode": retcode, "count": count}))
        .collect();
    Json(json!({"status": "ok", "data": {
        "bots": bots, "apps": apps, "disconnected_apps": hub.registry.departed(),
        "recent_failures": hub.dispatcher.recent_failures(),
        "dials": dials, "pools": pools, "actions": actions,
        "pending_actions": hub.dispatcher.pending_len(), "dropped_answers": dropped_answers,
        "journal_queued": hub.registry.journal_queued(),
        "inbound_buffered_bytes": l.guard.inbound_budget().map(|b| b.used()),
    }}))
    .into_response()
}

/// `/`, `/api`, `/event`, `/{self_id}/`, `/{self_id}/api`, `/{self_id}/event`.
fn parse_app_path(path: &str) -> Option<(Option<i64>, Role)> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let role = |p: &str| match p {
        "api" => Some(Role::Api),
        "event" => Some(Role::Event),
        _ => None,
    };
    match parts.as_slice() {
        [] => Some((None, Role::Universal)),
        [p] => match role(p) {
            Some(r) => Some((None, r)),
            None => p.parse().ok().map(|id| (Some(id), Role::Universal)),
        },
        [id, p] => Some((Some(id.parse().ok()?), role(p)?)),
        _ => None,
    }
}

/// True when the request asks for a WebSocket (`Upgrade: websocket`, in any
/// case, possibly among other tokens).
fn is_upgrade(req: &Request) -> bool {
    req.headers()
        .get_all(header::UPGRADE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim().eq_ignore_ascii_case("websocket"))
}

/// Everything that is not `/status` or `/sandbox`: WebSocket apps at the role
/// paths, and HTTP API calls at `/{action}`.
async fn app_endpoint(State(l): State<Arc<AppListener>>, mut req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let (path_bot, target) = match (parse_app_path(&path), super::http_api::parse_action_path(&path)) {
        (Some((bot, role)), _) => (bot, Endpoint::Socket(role)),
        (None, Some((bot, action))) if !is_upgrade(&req) => (bot, Endpoint::Action(action.to_owned())),
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                format!("no endpoint at {path}: WebSocket apps use /, /api, /event or /{{self_id}}/, /{{self_id}}/api, /{{self_id}}/event; HTTP API calls use /{{action}} or /{{self_id}}/{{action}}"),
            )
        }
    };
    let query = query_map(&req);
    let peer = req
        .extensions()
        .get::<PeerAddr>()
        .map(|p| p.0.to_string())
        .unwrap_or_default();
    let caller = match l.authenticate(&req, &query) {
        Ok(c) => c,
        Err(resp) => {
            let why = match resp.status() {
                StatusCode::UNAUTHORIZED => "missing access token",
                StatusCode::FORBIDDEN => "wrong access token (or a named app without its own)",
                StatusCode::NOT_FOUND => "unknown app name (?app=)",
                _ => "refused",
            };
            tracing::warn!(%peer, %path, status = resp.status().as_u16(), "app refused: {why}");
            return resp;
        }
    };
    let bot = match resolve_bot(&l, path_bot, &query) {
        Ok(bot) => bot,
        Err(resp) => {
            if resp.status() == StatusCode::BAD_REQUEST
                && l.warned_ambiguous
                    .lock()
                    .map(|mut w| w.insert(peer_ip(&peer)))
                    .unwrap_or(false)
            {
                tracing::warn!(%peer, %path, "app refused: several bots are served here and it named none (connect to /{{self_id}}/, or set [[listen]] default_bot)");
            }
            return resp;
        }
    };
    let role = match target {
        Endpoint::Action(action) => {
            return super::http_api::serve_action(&l, bot, caller, &action, req).await
        }
        Endpoint::Socket(role) => role,
    };
    let hub = l.hub.clone();
    let config = super::app_ws_config(hub.settings.max_inbound_frame_bytes);
    let tasks = hub.tasks.clone();
    upgrade(&mut req, &tasks, config, move |ws| {
        // Not an async block around `ws`: the session future must not hold
        // the whole socket (see `run_app`).
        let ctx = hub.registry.register_app(
            bot,
            role,
            caller.options,
            caller.identity,
            peer,
            caller.on_duplicate,
        );
        let stop = hub.shutdown.clone();
        // `map`, not `async move { session.await }`: a block would keep the
        // future twice (its capture and its await).
        futures::FutureExt::map(super::session::run_app(hub, ws, ctx, stop), drop)
    })
}

/// The address part of a peer (`127.0.0.1:5000` → `127.0.0.1`): warnings go once per host.
fn peer_ip(peer: &str) -> String {
    peer.rsplit_once(':').map_or(peer, |(ip, _)| ip).to_owned()
}

/// What a request path names: a WebSocket endpoint (by role) or one HTTP API action.
enum Endpoint {
    Socket(Role),
    Action(String),
}

/// The bot a request addresses: by path, by `?self_id=`, or the only one.
#[allow(clippy::result_large_err)]
fn resolve_bot(
    l: &AppListener,
    path_bot: Option<i64>,
    query: &HashMap<String, String>,
) -> Result<Arc<crate::core::Bot>, Response> {
    let query_bot = match query.get("self_id").map(|s| s.parse::<i64>()) {
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => return Err(error(StatusCode::BAD_REQUEST, "self_id must be an integer")),
        None => None,
    };
    let registry = &l.hub.registry;
    let default_bot = l.config.read().expect("listener lock poisoned").default_bot;
    match path_bot.or(query_bot).or(default_bot) {
        Some(id) => registry
            .bot(id)
            .ok_or_else(|| error(StatusCode::NOT_FOUND, format!("unknown bot {id}"))),
        None => match registry.only_bot() {
            Some(bot) => Ok(bot),
            None if registry.bots().is_empty() => Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "no bot is connected to the gateway yet",
            )),
            None => {
                let mut ids: Vec<i64> = registry.bots().iter().map(|b| b.self_id).collect();
                ids.sort_unstable();
                let urls: Vec<String> = ids.iter().map(|id| format!("/{id}/")).collect();
                Err(error(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "several bots are served here ({}): connect to {} (or ?self_id=), or set [[listen]] default_bot",
                        ids.iter().map(i64::to_string).collect::<Vec<_>>().join(", "),
                        urls.join(" or ")
                    ),
                ))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_paths() {
        assert_eq!(parse_app_path("/"), Some((None, Role::Universal)));
        assert_eq!(parse_app_path("/api"), Some((None, Role::Api)));
        assert_eq!(parse_app_path("/event/"), Some((None, Role::Event)));
        assert_eq!(parse_app_path("/123/"), Some((Some(123), Role::Universal)));
        assert_eq!(parse_app_path("/123/api"), Some((Some(123), Role::Api)));
        assert_eq!(parse_app_path("/x/api"), None);
        assert_eq!(parse_app_path("/a/b/c"), None);
    }
}
