//! A forward listener's callers: who a request is (its token or named app),
//! the token helpers, and the configuration its handlers share.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use subtle::ConstantTimeEq;

use super::config::{ListenConfig, NamedAppConfig};
use super::guard::ListenerGuard;
use super::reply::{auth_refused, error};
use crate::core::{AppOptions, Hub, SessionOnDuplicate};
use crate::redact::Secret;

/// The remote address of the connection a request came on.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

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
    /// Hosts already warned that they named no bot where several are served.
    pub warned_ambiguous: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl AppListener {
    pub(crate) fn token(&self) -> Secret {
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
    pub(crate) fn authenticate(
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
                    options: app.options.clone(),
                    on_duplicate: app.on_duplicate,
                });
            }
        }
        check_token(&config.access_token, presented.as_deref())?;
        match query.get("app") {
            None => Ok(Caller {
                identity: None,
                options: config.options,
                on_duplicate: SessionOnDuplicate::Replace,
            }),
            Some(name) => match apps.iter().find(|a| &a.name == name) {
                Some(app) if app.access_token.is_empty() => Ok(Caller {
                    identity: Some(app.name.clone()),
                    options: app.options.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

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
