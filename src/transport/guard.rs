//! What a listener refuses before any route runs: requests from web pages
//! (a page the operator visits must not drive their bot), clients that keep
//! presenting wrong tokens, and connections beyond the listener's cap.
//!
//! OneBot frameworks send no `Origin` and no `Sec-Fetch-*` headers, so none of
//! this touches them; a browser always sends at least one of the two on the
//! requests a page can make to another site.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

use super::budget::InboundBudget;
use super::reply::error;

/// Auth failures from one address that start a block, and the window they count in.
pub const AUTH_FAILURES_ALLOWED: u32 = 20;
/// The window auth failures are counted in, and how long a block lasts.
pub const AUTH_WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked at most (a flood of sources cannot grow the table without bound).
const MAX_TRACKED: usize = 4096;

/// One listener's guard: its allowed origins, its connection cap and the
/// auth failures per address.
#[derive(Debug)]
pub struct ListenerGuard {
    allowed_origins: RwLock<Vec<String>>,
    max_connections: AtomicUsize,
    live: Arc<AtomicUsize>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
    budget: Option<Arc<InboundBudget>>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    since: Instant,
    count: u32,
    blocked_until: Option<Instant>,
}

/// A live WebSocket on a listener; dropping it frees its place.
#[derive(Debug)]
pub struct ConnectionSlot(Arc<AtomicUsize>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl ListenerGuard {
    /// A guard allowing `allowed_origins` (besides the listener's own) and at
    /// most `max_connections` live WebSockets.
    pub fn new(allowed_origins: &[String], max_connections: usize) -> Self {
        Self {
            allowed_origins: RwLock::new(normalized(allowed_origins)),
            max_connections: AtomicUsize::new(max_connections),
            live: Arc::default(),
            failures: Mutex::default(),
            budget: None,
        }
    }

    /// Charges what its WebSockets read to `budget` (shared by listeners).
    pub fn with_budget(mut self, budget: Arc<InboundBudget>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The inbound budget its WebSockets are charged to, if any.
    pub fn inbound_budget(&self) -> Option<Arc<InboundBudget>> {
        self.budget.clone()
    }

    /// Applies a reloaded `[[listen]]` entry.
    pub fn update(&self, allowed_origins: &[String], max_connections: usize) {
        *self.allowed_origins.write().expect("guard lock poisoned") = normalized(allowed_origins);
        self.max_connections
            .store(max_connections, Ordering::Relaxed);
    }

    /// Live WebSockets on this listener.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// The refusal for a request, if any: a blocked address (429), or a
    /// request a web page made (403).
    #[allow(clippy::result_large_err)]
    pub fn admit(&self, headers: &HeaderMap, peer: IpAddr) -> Result<(), Response> {
        if let Some(wait) = self.blocked_for(peer) {
            let secs = wait.as_secs().max(1);
            let mut resp = error(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "too many wrong or missing access tokens from {peer} ({AUTH_FAILURES_ALLOWED} in {} s); try again in {secs} s",
                    AUTH_WINDOW.as_secs()
                ),
            );
            resp.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_str(&secs.to_string()).expect("digits are a header value"),
            );
            return Err(resp);
        }
        self.check_browser(headers)
    }

    #[allow(clippy::result_large_err)]
    fn check_browser(&self, headers: &HeaderMap) -> Result<(), Response> {
        let origin = headers.get(header::ORIGIN).map(|v| {
            v.to_str()
                .unwrap_or("(not text)")
                .trim()
                .to_ascii_lowercase()
        });
        if let Some(origin) = &origin {
            if self
                .allowed_origins
                .read()
                .expect("guard lock poisoned")
                .iter()
                .any(|o| o == origin)
            {
                return Ok(());
            }
        }
        let site = headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase);
        if let Some(site @ ("cross-site" | "same-site")) = site.as_deref() {
            return Err(error(
                StatusCode::FORBIDDEN,
                format!(
                    "refused: a web page on another site sent this request (Sec-Fetch-Site: {site}); allow its origin in [[listen]] allowed_origins"
                ),
            ));
        }
        match origin {
            Some(origin) if !is_own_origin(&origin, headers.get(header::HOST)) => {
                Err(error(
                    StatusCode::FORBIDDEN,
                    format!(
                        "refused: Origin {origin} is not this listener's own and not in [[listen]] allowed_origins"
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    /// A place for one more WebSocket, or the 503 that refuses it.
    #[allow(clippy::result_large_err)]
    pub fn connection_slot(&self) -> Result<ConnectionSlot, Response> {
        let max = self.max_connections.load(Ordering::Relaxed);
        let before = self.live.fetch_add(1, Ordering::Relaxed);
        let slot = ConnectionSlot(self.live.clone());
        if before >= max {
            drop(slot);
            tracing::warn!(
                max_connections = max,
                "connection refused: the listener is at max_connections"
            );
            return Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("this listener has reached max_connections ({max}); try again later"),
            ));
        }
        Ok(slot)
    }

    /// Counts a refused credential from `peer`; the 20th within a minute
    /// blocks the address for a minute.
    pub fn record_auth_failure(&self, peer: IpAddr) {
        let now = Instant::now();
        let mut failures = self.failures.lock().expect("guard lock poisoned");
        if failures.len() >= MAX_TRACKED && !failures.contains_key(&peer) {
            failures.retain(|_, f| {
                now.duration_since(f.since) < AUTH_WINDOW
                    || f.blocked_until.is_some_and(|t| t > now)
            });
            if failures.len() >= MAX_TRACKED {
                return;
            }
        }
        let f = failures.entry(peer).or_insert(Failures {
            since: now,
            count: 0,
            blocked_until: None,
        });
        if now.duration_since(f.since) >= AUTH_WINDOW {
            *f = Failures {
                since: now,
                count: 0,
                blocked_until: None,
            };
        }
        f.count += 1;
        if f.count == AUTH_FAILURES_ALLOWED {
            f.blocked_until = Some(now + AUTH_WINDOW);
            tracing::warn!(%peer, failures = f.count, block_secs = AUTH_WINDOW.as_secs(), "address blocked: too many wrong or missing access tokens");
        }
    }

    fn blocked_for(&self, peer: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let mut failures = self.failures.lock().expect("guard lock poisoned");
        let f = failures.get(&peer)?;
        match f.blocked_until {
            Some(until) if until > now => Some(until - now),
            Some(_) => {
                failures.remove(&peer);
                None
            }
            None => None,
        }
    }
}

fn normalized(origins: &[String]) -> Vec<String> {
    origins
        .iter()
        .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
        .collect()
}

/// The listener's own origin: the page was served by this very host:port
/// (the dashboard's own requests).
fn is_own_origin(origin: &str, host: Option<&HeaderValue>) -> bool {
    let Some(host) = host.and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let host = host.trim().to_ascii_lowercase();
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|rest| rest == host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    const PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn frameworks_pass_and_pages_do_not() {
        let g = ListenerGuard::new(&["https://ok.example/".into()], 10);
        assert!(g.admit(&req(&[("host", "127.0.0.1:6700")]), PEER).is_ok());
        let own = [
            ("host", "127.0.0.1:6700"),
            ("origin", "http://127.0.0.1:6700"),
            ("sec-fetch-site", "same-origin"),
        ];
        assert!(g.admit(&req(&own), PEER).is_ok());
        assert!(g
            .admit(&req(&[("origin", "https://OK.example")]), PEER)
            .is_ok());
        let evil = g
            .admit(
                &req(&[
                    ("host", "127.0.0.1:6700"),
                    ("origin", "https://evil.example"),
                ]),
                PEER,
            )
            .unwrap_err();
        assert_eq!(evil.status(), StatusCode::FORBIDDEN);
        let cross = g
            .admit(&req(&[("sec-fetch-site", "cross-site")]), PEER)
            .unwrap_err();
        assert_eq!(cross.status(), StatusCode::FORBIDDEN);
        assert!(g.admit(&req(&[("origin", "null")]), PEER).is_err());
    }

    #[test]
    fn the_twentieth_failure_blocks_the_address() {
        let g = ListenerGuard::new(&[], 10);
        for _ in 0..AUTH_FAILURES_ALLOWED - 1 {
            g.record_auth_failure(PEER);
        }
        assert!(g.admit(&req(&[]), PEER).is_ok());
        g.record_auth_failure(PEER);
        let resp = g.admit(&req(&[]), PEER).unwrap_err();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        let wait: u64 = resp.headers()[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&wait));
        let other = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));
        assert!(g.admit(&req(&[]), other).is_ok(), "only that address");
    }

    #[test]
    fn slots_are_capped_and_given_back() {
        let g = ListenerGuard::new(&[], 2);
        let a = g.connection_slot().unwrap();
        let _b = g.connection_slot().unwrap();
        assert_eq!(
            g.connection_slot().unwrap_err().status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        drop(a);
        assert!(g.connection_slot().is_ok());
        assert_eq!(g.live(), 1);
    }
}
