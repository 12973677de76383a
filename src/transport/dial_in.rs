//! The `ws-reverse` upstream endpoint: implementations (NapCat, go-cqhttp,
//! Lagrange in reverse mode) dial in here. Transport checks the handshake
//! (token, X-Self-ID, X-Client-Role) and hands the socket to the link runner
//! the gateway wired in from the upstream layer.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Router;
use futures::future::BoxFuture;

use super::config::UpstreamAccount;
use super::http::{upgrade, UpgradedWs};
use super::listener::{check_token, presented_token, query_map, PeerAddr};
use super::reply::error;
use super::upstream_ws_config;
use crate::core::links::LinkSpec;
use crate::core::{Hub, LinkKind, OnDuplicate, Role};
use crate::redact::Secret;

/// Runs an accepted implementation socket as a link of its bot.
pub type LinkRunner = Arc<dyn Fn(UpgradedWs, LinkSpec) -> BoxFuture<'static, ()> + Send + Sync>;

/// The `ws-reverse` upstream endpoint: implementations dial in.
pub struct DialInListener {
    /// The hub.
    pub hub: Arc<Hub>,
    /// Token implementations must present.
    pub access_token: Secret,
    /// Bots allowed to dial in (empty: any bot the sandbox does not serve).
    pub self_ids: Vec<i64>,
    /// Bots with their own token.
    pub accounts: Vec<UpstreamAccount>,
    /// When the bot already has an active link.
    pub on_duplicate: OnDuplicate,
    /// Runs an accepted socket as a link (the upstream layer's, wired by the gateway).
    pub run: LinkRunner,
}

impl DialInListener {
    /// The bots this endpoint admits, when it restricts them.
    fn allowed(&self) -> Option<Vec<i64>> {
        let mut list = self.self_ids.clone();
        list.extend(self.accounts.iter().map(|a| a.self_id));
        (!list.is_empty()).then_some(list)
    }
}

/// Router of a `ws-reverse` upstream listener: any path accepts an implementation.
pub fn dial_in_router(listener: Arc<DialInListener>) -> Router {
    Router::new().fallback(accept_upstream).with_state(listener)
}

async fn accept_upstream(State(l): State<Arc<DialInListener>>, mut req: Request) -> Response {
    let query: HashMap<String, String> = query_map(&req);
    let peer = req
        .extensions()
        .get::<PeerAddr>()
        .map(|p| p.0.to_string())
        .unwrap_or_default();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    // Non-numeric X-Self-ID (onebots) is accepted: the account is then learnt from the link.
    let self_id = header("X-Self-ID").and_then(|s| s.parse::<i64>().ok());
    // A bot with its own token must present that one, not the shared one.
    let token = self_id
        .and_then(|id| l.accounts.iter().find(|a| a.self_id == id))
        .map_or(&l.access_token, |a| &a.access_token);
    if let Err(resp) = check_token(token, presented_token(req.headers(), &query).as_deref()) {
        tracing::warn!(%peer, ?self_id, status = resp.status().as_u16(), "upstream refused: bad or missing access token");
        return resp;
    }
    let allowed = l.allowed();
    if let Some(id) = self_id {
        if let Err(reason) = l.hub.registry.may_claim(id, allowed.as_deref()) {
            tracing::warn!(%peer, self_id = id, %reason, "upstream refused");
            return error(StatusCode::FORBIDDEN, reason);
        }
    }
    let role = match header("X-Client-Role") {
        None => Role::Universal,
        Some(r) => match Role::parse(r) {
            Some(role) => role,
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("unknown X-Client-Role `{r}`: use Universal, API or Event"),
                )
            }
        },
    };
    let config = upstream_ws_config(l.hub.settings.max_inbound_frame_bytes);
    let tasks = l.hub.tasks.clone();
    let run = l.run.clone();
    let spec = LinkSpec {
        kind: LinkKind::WsDialIn,
        role,
        peer,
        self_id,
        on_duplicate: l.on_duplicate,
        allowed,
    };
    upgrade(&mut req, &tasks, config, move |ws| run(ws, spec))
}
