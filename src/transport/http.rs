//! HTTP listeners: the accept loop (hyper, with WebSocket upgrades and a
//! handshake timeout), token checks, and the forward-WS app endpoint.
//!
//! One listener serves the app WebSocket endpoints (`/`, `/api`, `/event`,
//! `/{self_id}/...`), the sandbox injection API under `/sandbox`, and the
//! `/status` page, all behind the listener's token.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role as WsRole, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use super::budget::Metered;
use super::config::{ListenConfig, NamedAppConfig};
use super::guard::{AuthRefused, ListenerGuard};
use crate::core::{AppOptions, Hub, Role, SessionOnDuplicate};
use crate::redact::Secret;

/// The socket type of an accepted WebSocket.
pub type UpgradedWs = WebSocketStream<Metered<TokioIo<hyper::upgrade::Upgraded>>>;

/// The remote address of the connection a request came on.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

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

/// A JSON error answer `{status: failed, message}` with an HTTP status.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let message = message.into();
    (
        status,
        Json(json!({"status": "failed", "retcode": status.as_u16(), "message": message})),
    )
        .into_response()
}

/// Parses a query string into a map (last value wins).
pub fn query_map(req: &Request) -> HashMap<String, String> {
    req.uri()
        .query()
        .and_then(|q| serde_urlencoded::from_str(q).ok())
        .unwrap_or_default()
}

/// The token a request presents: `Authorization: Bearer <t>` or `Token <t>`
/// (go-cqhttp), or `?access_token=`. An empty `Bearer ` counts as no token.
pub fn presented_token(headers: &HeaderMap, query: &HashMap<String, String>) -> Option<String> {
    if let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let value = value.trim();
        // A scheme is a word followed by whitespace: `Bearers3cret` is not `Bearer s3cret`.
        let (scheme, rest) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
        let token = if ["bearer", "token"]
            .iter()
            .any(|s| scheme.eq_ignore_ascii_case(s))
        {
            rest.trim()
        } else {
            value
        };
        if !token.is_empty() {
            return Some(token.to_owned());
        }
    }
    query.get("access_token").filter(|t| !t.is_empty()).cloned()
}

/// Constant-time token comparison.
pub fn token_matches(expected: &Secret, presented: &str) -> bool {
    expected
        .expose()
        .as_bytes()
        .ct_eq(presented.as_bytes())
        .into()
}

/// Checks a request against a required token: missing → 401, wrong → 403.
// The error is the HTTP answer itself, built once per refused handshake.
#[allow(clippy::result_large_err)]
pub fn check_token(expected: &Secret, presented: Option<&str>) -> Result<(), Response> {
    if expected.is_empty() {
        return Ok(());
    }
    match presented {
        None => Err(auth_refused(error(
            StatusCode::UNAUTHORIZED,
            "missing access token: send Authorization: Bearer <token> or ?access_token=",
        ))),
        Some(t) if token_matches(expected, t) => Ok(()),
        Some(_) => Err(auth_refused(error(
            StatusCode::FORBIDDEN,
            "wrong access token",
        ))),
    }
}

/// Marks `resp` as a refused credential: the listener counts it against the
/// caller's address.
pub fn auth_refused(mut resp: Response) -> Response {
    resp.extensions_mut().insert(AuthRefused);
    resp
}

/// One forward listener's configuration, shared by its handlers.
pub struct AppListener {
    /// The hub.
    pub hub: Arc<Hub>,
    /// Its `[[listen]]` entry (a reload may replace it).
    pub config: std::sync::RwLock<ListenConfig>,
    /// Named app identities (`[[apps]]`; a reload may replace them).
    pub apps: std::sync::RwLock<Vec<NamedAppConfig>>,
    /// What the listener refuses before routing (its origins and cap follow reloads).
    pub guard: Arc<ListenerGuard>,
}

impl AppListener {
    fn token(&self) -> Secret {
        self.config
            .read()
            .expect("listener lock poisoned")
            .access_token
            .clone()
    }
}

/// Who a request is, after its token and `?app=` were checked.
pub(crate) struct Caller {
    pub(crate) identity: Option<String>,
    pub(crate) options: AppOptions,
    pub(crate) on_duplicate: SessionOnDuplicate,
}

impl AppListener {
    #[allow(clippy::result_large_err)]
    fn authenticate(
        &self,
        req: &Request,
        query: &HashMap<String, String>,
    ) -> Result<Caller, Response> {
        let presented = presented_token(req.headers(), query);
        // Copies, not guards: nothing below may hold the reload lock.
        let apps = self.apps.read().expect("listener lock poisoned").clone();
        let config = self.config.read().expect("listener lock poisoned").clone();
        // A named app's own token identifies it.
        if let Some(token) = presented.as_deref() {
            if let Some(app) = apps
                .iter()
                .find(|a| !a.access_token.is_empty() && token_matches(&a.access_token, token))
            {
                return Ok(Caller {
                    identity: Some(app.name.clone()),
                    options: app.app.clone(),
                    on_duplicate: app.on_duplicate,
                });
            }
        }
        check_token(&config.access_token, presented.as_deref())?;
        match query.get("app") {
            None => Ok(Caller {
                identity: None,
                options: config.app,
                on_duplicate: SessionOnDuplicate::Replace,
            }),
            Some(name) => match apps.iter().find(|a| &a.name == name) {
                Some(app) if app.access_token.is_empty() => Ok(Caller {
                    identity: Some(app.name.clone()),
                    options: app.app.clone(),
                    on_duplicate: app.on_duplicate,
                }),
                Some(_) => Err(error(
                    StatusCode::FORBIDDEN,
                    format!("app `{name}` must present its own access token"),
                )),
                None => Err(error(
                    StatusCode::NOT_FOUND,
                    format!("no app named `{name}` is configured in [[apps]]"),
                )),
            },
        }
    }
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
                    })
                })
                .collect();
            json!({
                "self_id": b.self_id, "online": h.online, "good": h.good, "links": links,
                "next_seq": b.log.head(), "first_retained_seq": b.log.first_retained(),
                "saved_cursors": b.cursors.iter().map(|c| (c.key().clone(), *c.value())).collect::<HashMap<_, _>>(),
                "journaled_cursors": hub.registry.durable_cursors(b.self_id),
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
    Json(json!({"status": "ok", "data": {
        "bots": bots, "apps": apps, "dials": dials,
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
        (Some((bot, role)), _) => (bot, Target::Socket(role)),
        (None, Some((bot, action))) if !is_upgrade(&req) => (bot, Target::Action(action.to_owned())),
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
            tracing::warn!(%peer, %path, status = resp.status().as_u16(), "app refused: bad or missing access token");
            return resp;
        }
    };
    let bot = match resolve_bot(&l, path_bot, &query) {
        Ok(bot) => bot,
        Err(resp) => return resp,
    };
    let role = match target {
        Target::Action(action) => {
            return super::http_api::serve_action(&l, bot, caller, &action, req).await
        }
        Target::Socket(role) => role,
    };
    let hub = l.hub.clone();
    let config = super::app_ws_config(hub.settings.max_inbound_frame_bytes);
    let tasks = hub.tasks.clone();
    upgrade(&mut req, &tasks, config, move |ws| async move {
        let ctx = hub.registry.register_app(
            bot,
            role,
            caller.options,
            caller.identity,
            peer,
            caller.on_duplicate,
        );
        let stop = hub.shutdown.clone();
        super::session::run_app(hub, ws, ctx, stop).await;
    })
}

enum Target {
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
    match path_bot.or(query_bot) {
        Some(id) => registry
            .bot(id)
            .ok_or_else(|| error(StatusCode::NOT_FOUND, format!("unknown bot {id}"))),
        None => match registry.only_bot() {
            Some(bot) => Ok(bot),
            None if registry.bots().is_empty() => Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "no bot is connected to the gateway yet",
            )),
            None => Err(error(
                StatusCode::BAD_REQUEST,
                "several bots are served here: choose one with /{self_id}/ or ?self_id=",
            )),
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

    #[test]
    fn tokens_from_every_spelling() {
        let mut h = HeaderMap::new();
        let q = HashMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(presented_token(&h, &q).as_deref(), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Token abc"));
        assert_eq!(presented_token(&h, &q).as_deref(), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(presented_token(&h, &q), None);
        let q: HashMap<_, _> = [("access_token".to_string(), "qq".to_string())].into();
        assert_eq!(presented_token(&h, &q).as_deref(), Some("qq"));
    }
}
