//! Wiring: builds everything from a [`Config`], binds every listener (before
//! anything runs, so a bad address fails fast), runs, and shuts down.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, ListenConfig, UpstreamConfig};
use crate::core::journal::Journal;
use crate::core::{Dispatcher, Hub, Link, LinkKind, OnDuplicate, Registry, Role};
use crate::transport::budget::InboundBudget;
use crate::transport::dial::{run_upstream, DialledLinkRunner, WsUpstream};
use crate::transport::dial_in::{dial_in_router, DialInListener};
use crate::transport::guard::ListenerGuard;
use crate::transport::http::{app_router, serve, AppListener};

use crate::upstream::sandbox::{Sandbox, SandboxError};
use crate::upstream::{EventSink, UpstreamLink};

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener could not be bound.
    #[error("cannot listen on {address} ({key}): {source}")]
    Bind {
        /// The config key.
        key: String,
        /// The address.
        address: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The sandbox could not open its world.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// The event journal could not be opened.
    #[error(transparent)]
    Journal(#[from] crate::core::journal::JournalError),
    /// A pool's id store could not be opened.
    #[error("{0}")]
    Pool(String),
}

/// A running gateway.
pub struct Gateway {
    /// Shared state (registry, dispatcher, settings, shutdown).
    pub hub: Arc<Hub>,
    /// Bound addresses of the `[[listen]]` entries, in order.
    pub listen_addrs: Vec<SocketAddr>,
    /// Bound addresses of the `ws-reverse` upstream listeners, in order.
    pub upstream_addrs: Vec<SocketAddr>,
    /// The sandbox, when it serves bots.
    pub sandbox: Option<Arc<Sandbox>>,
    /// What a reload can change in place.
    live: std::sync::Mutex<Live>,
}

/// The parts of a running gateway a reload changes without a restart.
struct Live {
    config: Config,
    listeners: Vec<Arc<AppListener>>,
    reverse: Vec<(crate::config::ReverseConfig, CancellationToken)>,
    http_post: Vec<(crate::config::HttpPostConfig, CancellationToken)>,
}

impl Gateway {
    /// Builds and starts everything the config describes.
    ///
    /// # Errors
    /// [`StartError`] when a listener cannot be bound or the sandbox store cannot be opened.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        let retention = config.retention.retention();
        let journal = match &config.journal.path {
            Some(path) => {
                let options = crate::core::journal::JournalOptions {
                    queue: config.journal.journal_queue,
                    commit_delay: Duration::from_millis(config.journal.commit_delay_ms),
                };
                Some((
                    Journal::open(path, retention, options)?,
                    config.journal.bots.clone(),
                ))
            }
            None => None,
        };
        let registry = Registry::with_journal(retention, journal.clone());
        let hub = Arc::new(Hub {
            registry: registry.clone(),
            dispatcher: Dispatcher::new(config.gateway.dispatch()),
            settings: config.gateway.sessions(),
            draining: CancellationToken::new(),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
        });

        // Bind everything first: a taken port fails before any bot goes live.
        let mut listeners = Vec::new();
        for (i, l) in config.listen.iter().enumerate() {
            listeners.push(bind(&format!("listen[{i}].address"), &l.address).await?);
        }
        let mut upstream_listeners = Vec::new();
        for (i, u) in config.upstream.iter().enumerate() {
            if let UpstreamConfig::WsReverse {
                address,
                access_token,
                self_ids,
                accounts,
                on_duplicate,
            } = u
            {
                let l = bind(&format!("upstream[{i}].address"), address).await?;
                upstream_listeners.push((
                    l,
                    DialInListener {
                        hub: hub.clone(),
                        access_token: access_token.clone(),
                        self_ids: self_ids.clone(),
                        accounts: accounts.clone(),
                        on_duplicate: *on_duplicate,
                        run: {
                            let hub = hub.clone();
                            Arc::new(move |ws, spec| {
                                Box::pin(
                                    crate::upstream::remote::run_link(hub.clone(), ws, spec)
                                        .map(drop),
                                )
                            })
                        },
                    },
                ));
            }
        }

        let sandbox = if config.uses_sandbox() {
            let sink: Arc<dyn EventSink> = registry.clone();
            let sandbox = Sandbox::open(&config.sandbox, sink)?;
            for self_id in sandbox.self_ids() {
                let link = Link::new(
                    registry.new_link_id(),
                    LinkKind::Sandbox,
                    Role::Universal,
                    String::from("sandbox"),
                    UpstreamLink::Local(sandbox.clone()),
                    OnDuplicate::Standby,
                    None,
                );
                registry.bot_or_insert(self_id).attach_link(link);
                tracing::info!(self_id, "sandbox bot ready");
            }
            Some(sandbox)
        } else {
            None
        };

        for spec in config.pools() {
            let bot = registry.bot_or_insert(spec.self_id);
            let members = spec
                .members
                .iter()
                .map(|m| registry.bot_or_insert(*m))
                .collect();
            let pool =
                crate::core::pool::Pool::open(spec, bot, members).map_err(StartError::Pool)?;
            tracing::info!(pool = pool.spec.self_id, members = ?pool.spec.members, store = %pool.spec.store, "pool ready");
            hub.dispatcher.add_pool(pool.clone());
            hub.tasks.spawn(pool.relay(hub.shutdown.clone()));
        }

        // Every bot, including later ones, gets a watcher deciding when it is offline.
        {
            let hub = hub.clone();
            let grace = Duration::from_millis(config.gateway.offline_grace_ms);
            let min_interval = Duration::from_millis(config.gateway.alert_min_interval_ms);
            hub.clone().tasks.spawn(async move {
                let stop = hub.shutdown.clone();
                hub.registry
                    .each_bot(&stop, |bot| {
                        let watch =
                            crate::core::alerts::watch(bot, grace, min_interval, stop.clone());
                        hub.tasks.spawn(watch);
                    })
                    .await;
            });
        }
        for alert in &config.alert {
            hub.tasks.spawn(crate::transport::alert::run_target(
                hub.clone(),
                Arc::new(alert.clone()),
                hub.shutdown.clone(),
            ));
        }

        let mut listen_addrs = Vec::new();
        let mut app_listeners = Vec::new();
        let budget = InboundBudget::new(config.gateway.max_inbound_buffer_bytes);
        for (listener, l) in listeners.into_iter().zip(&config.listen) {
            let addr = listener
                .local_addr()
                .expect("bound listener has an address");
            listen_addrs.push(addr);
            let app_listener = Arc::new(AppListener {
                hub: hub.clone(),
                config: std::sync::RwLock::new(l.clone()),
                apps: std::sync::RwLock::new(config.apps.clone()),
                guard: Arc::new(
                    ListenerGuard::new(&l.allowed_origins, l.max_connections)
                        .with_budget(budget.clone()),
                ),
                warned_ambiguous: Default::default(),
            });
            app_listeners.push(app_listener.clone());
            let guard = app_listener.guard.clone();
            let router = if l.protocol == crate::transport::config::ListenProtocol::Milky {
                tracing::info!(%addr, bot = ?l.default_bot, "listening for Milky apps: http://{addr}/api/:api, ws://{addr}/event (or SSE)");
                crate::transport::milky::router(Arc::new(
                    crate::transport::milky::MilkyListener::new(
                        hub.clone(),
                        l.default_bot,
                        l.access_token.clone(),
                    ),
                ))
            } else {
                tracing::info!(%addr, "listening for apps (forward WebSocket: /, /api, /event)");
                app_router(
                    app_listener,
                    sandbox
                        .as_ref()
                        .map(|s| crate::upstream::sandbox::inject::router(s.clone())),
                )
            };
            hub.tasks.spawn(serve(listener, router, hub.clone(), guard));
        }
        let mut upstream_addrs = Vec::new();
        for (listener, endpoint) in upstream_listeners {
            let addr = listener
                .local_addr()
                .expect("bound listener has an address");
            upstream_addrs.push(addr);
            let router = dial_in_router(Arc::new(endpoint));
            tracing::info!(%addr, "listening for implementations (ws-reverse upstream)");
            let guard = Arc::new(ListenerGuard::new(
                &[],
                ListenConfig::default().max_connections,
            ));
            hub.tasks.spawn(serve(listener, router, hub.clone(), guard));
        }
        for u in &config.upstream {
            if let UpstreamConfig::Ws {
                url,
                access_token,
                self_id,
                reconnect_interval_ms,
                max_reconnect_interval_ms,
                on_duplicate,
            } = u
            {
                if let Some(id) = self_id {
                    // Known in advance: apps can bind to it before the link is up.
                    registry.bot_or_insert(*id);
                }
                let run: DialledLinkRunner = {
                    let hub = hub.clone();
                    Arc::new(move |ws, spec| {
                        Box::pin(crate::upstream::remote::run_link(hub.clone(), ws, spec))
                    })
                };
                hub.tasks.spawn(run_upstream(
                    hub.clone(),
                    WsUpstream {
                        url: url.clone(),
                        kind: LinkKind::WsDialled,
                        access_token: access_token.clone(),
                        self_id: *self_id,
                        reconnect: Duration::from_millis(*reconnect_interval_ms),
                        max_reconnect: Duration::from_millis(*max_reconnect_interval_ms),
                        on_duplicate: *on_duplicate,
                    },
                    run,
                ));
            }
        }
        let mut milky_stores = std::collections::HashMap::new();
        for u in &config.upstream {
            if let UpstreamConfig::Milky {
                url,
                access_token,
                self_id,
                reconnect_interval_ms,
                max_reconnect_interval_ms,
                on_duplicate,
                store,
                id_retention_days,
                events,
            } = u
            {
                if let Some(id) = self_id {
                    registry.bot_or_insert(*id);
                }
                let api: Arc<dyn crate::core::serve::ApiCaller> =
                    Arc::new(crate::transport::milky::HttpApi::new(
                        url,
                        access_token.clone(),
                        Duration::from_millis(config.gateway.action_timeout_ms),
                    ));
                // One store per file: two upstreams of one account share its ids.
                let path = config.data_file(store.as_deref(), "milky.db");
                let ids = milky_stores
                    .entry(path.clone())
                    .or_insert_with(|| {
                        crate::upstream::milky::IdStore::new(
                            path,
                            Duration::from_secs(id_retention_days * 86_400),
                        )
                    })
                    .clone();
                let run: crate::transport::dial::MilkyLinkRunner = {
                    let hub = hub.clone();
                    Arc::new(move |events, spec| {
                        use crate::transport::dial::MilkyEvents;
                        use crate::upstream::milky::{run_link, Events};
                        let (hub, api, ids) = (hub.clone(), api.clone(), ids.clone());
                        match events {
                            MilkyEvents::Ws(ws) => {
                                Box::pin(run_link(hub, Events::Ws(ws), api, ids, spec))
                            }
                            MilkyEvents::Sse(s) => Box::pin(run_link::<tokio::net::TcpStream>(
                                hub,
                                Events::Sse(s),
                                api,
                                ids,
                                spec,
                            )),
                        }
                    })
                };
                hub.tasks.spawn(crate::transport::dial::run_milky_upstream(
                    hub.clone(),
                    WsUpstream {
                        url: crate::transport::milky::event_url(url),
                        kind: LinkKind::Milky,
                        access_token: access_token.clone(),
                        self_id: *self_id,
                        reconnect: Duration::from_millis(*reconnect_interval_ms),
                        max_reconnect: Duration::from_millis(*max_reconnect_interval_ms),
                        on_duplicate: *on_duplicate,
                    },
                    *events == crate::config::MilkyEvents::Sse,
                    run,
                ));
            }
        }
        if journal.is_some() {
            let (registry, shutdown) = (registry.clone(), hub.shutdown.clone());
            let every = Duration::from_millis(config.journal.flush_cursors_ms);
            hub.tasks.spawn(async move {
                let mut tick = tokio::time::interval(every);
                loop {
                    tokio::select! {
                        _ = tick.tick() => registry.save_cursors(),
                        _ = shutdown.cancelled() => break,
                    }
                }
            });
        }
        registry.set_start_identities(start_identities(&config));
        let http_post = config
            .http_post
            .iter()
            .map(|t| (t.clone(), start_http_post(&hub, t)))
            .collect();
        let reverse = config
            .reverse
            .iter()
            .map(|t| (t.clone(), start_reverse(&hub, t)))
            .collect();
        Ok(Self {
            hub,
            listen_addrs,
            upstream_addrs,
            sandbox,
            live: std::sync::Mutex::new(Live {
                config,
                listeners: app_listeners,
                reverse,
                http_post,
            }),
        })
    }

    /// What to paste where, once everything is bound: every listener as
    /// URLs, the bots, and for a sandbox the commands to try.
    pub fn banner(&self) -> Vec<String> {
        let live = self.live.lock().expect("live config poisoned");
        let config = &live.config;
        // A wildcard address is reached through loopback from this machine.
        let host = |addr: &SocketAddr| match addr.ip() {
            ip if ip.is_unspecified() => format!("127.0.0.1:{}", addr.port()),
            _ => addr.to_string(),
        };
        let mut lines = Vec::new();
        for (addr, l) in self.listen_addrs.iter().zip(&config.listen) {
            let h = host(addr);
            let token = if l.access_token.is_empty() {
                "no token"
            } else {
                "token required"
            };
            if l.protocol == crate::transport::config::ListenProtocol::Milky {
                lines.push(format!(
                    "Milky apps: http://{h}/api/:api and ws://{h}/event ({token})"
                ));
            } else {
                lines.push(format!(
                    "apps: ws://{h}/ (forward WebSocket; /{{self_id}}/ for one of several bots), http://{h}/ (HTTP API), http://{h}/dashboard, http://{h}/status ({token})"
                ));
            }
        }
        for addr in &self.upstream_addrs {
            lines.push(format!(
                "implementations dial: ws://{}/ (their reverse WebSocket URL)",
                host(addr)
            ));
        }
        let mut bots: Vec<i64> = self.hub.registry.bots().iter().map(|b| b.self_id).collect();
        bots.sort_unstable();
        lines.push(format!("bots: {bots:?}"));
        if self.sandbox.is_some() {
            let url = self
                .listen_addrs
                .iter()
                .zip(&config.listen)
                .find(|(_, l)| l.protocol == crate::transport::config::ListenProtocol::Onebot)
                .map(|(a, l)| (host(a), !l.access_token.is_empty()));
            if let Some((h, token)) = url {
                let mut cmd = String::from("onebot-gateway sandbox");
                if h != "127.0.0.1:6700" {
                    cmd += &format!(" --url http://{h}");
                }
                if token {
                    cmd += " --token <the listener's access_token>";
                }
                let (group, user) = if config.sandbox.world.is_none() {
                    ("100", "20001")
                } else {
                    ("<group>", "<user>")
                };
                lines.push(format!("sandbox: try `{cmd} say --group {group} --user {user} ping`, `{cmd} poke --group {group} --user {user}`, `{cmd} messages --group {group}` (docs/SANDBOX.md)"));
            }
        }
        lines
    }

    /// Applies a new configuration without a restart, as far as it can:
    /// listener tokens and app options, `[[apps]]`, `[[reverse]]` and
    /// `[[http_post]]` targets (removed ones are closed with a reason, new
    /// ones start, changed ones restart). Anything else that changed is
    /// reported as needing a restart. Returns one line per change.
    pub fn reload(&self, new: Config) -> Vec<String> {
        let mut live = self.live.lock().expect("gateway lock poisoned");
        let mut report = Vec::new();
        // The same listener: the same configured text, or the address it is bound to.
        let configured: Vec<String> = live
            .config
            .listen
            .iter()
            .map(|l| l.address.clone())
            .collect();
        let same_address = |i: usize, address: &str| {
            configured.get(i).is_some_and(|old| old == address)
                || address.parse::<SocketAddr>().ok() == self.listen_addrs.get(i).copied()
        };
        for (i, l) in new.listen.iter().enumerate() {
            match live.listeners.get(i) {
                Some(listener) if same_address(i, &l.address) => {
                    if live.config.listen[i] != *l {
                        *listener.config.write().expect("listener lock poisoned") = l.clone();
                        listener.guard.update(&l.allowed_origins, l.max_connections);
                        report.push(format!(
                            "listen[{i}]: token, origins, limits and app options updated"
                        ));
                    }
                }
                _ => report.push(format!(
                    "listen[{i}]: address added or changed: needs a restart"
                )),
            }
        }
        if new.listen.len() < live.config.listen.len() {
            report.push(String::from("listen: entries removed: needs a restart"));
        }
        if new.apps != live.config.apps {
            self.hub
                .registry
                .set_start_identities(start_identities(&new));
            for listener in &live.listeners {
                *listener.apps.write().expect("listener lock poisoned") = new.apps.clone();
            }
            report.push(String::from("apps: updated"));
        }
        let hub = &self.hub;
        let reverse = std::mem::take(&mut live.reverse);
        live.reverse = reconcile(
            reverse,
            &new.reverse,
            "reverse",
            &mut report,
            |t| start_reverse(hub, t),
            |t| t.display_name(),
        );
        let http_post = std::mem::take(&mut live.http_post);
        live.http_post = reconcile(
            http_post,
            &new.http_post,
            "http_post",
            &mut report,
            |t| start_http_post(hub, t),
            |t| t.display_name(),
        );
        for (key, changed) in [
            ("gateway", new.gateway != live.config.gateway),
            ("upstream", new.upstream != live.config.upstream),
            ("sandbox", new.sandbox != live.config.sandbox),
            ("retention", new.retention != live.config.retention),
            ("journal", new.journal != live.config.journal),
        ] {
            if changed {
                report.push(format!("{key}: changed: needs a restart"));
            }
        }
        // Listeners keep their address; what they now serve is the new entry
        // where the address matched.
        let listen = live
            .config
            .listen
            .iter()
            .enumerate()
            .map(|(i, old)| match new.listen.get(i) {
                Some(l) if same_address(i, &l.address) => l.clone(),
                _ => old.clone(),
            })
            .collect();
        live.config = Config { listen, ..new };
        for line in &report {
            tracing::info!(change = %line, "configuration reloaded");
        }
        report
    }

    /// Stops accepting, closes every session with a reason, and waits for
    /// them up to the configured grace period; then saves cursors and lets
    /// the journal commit what it holds.
    pub async fn shutdown(self) {
        let hub = &self.hub;
        let grace = hub.settings.shutdown_grace;
        let deadline = tokio::time::Instant::now() + grace;
        // 0. Background actions (`_async`, queued `_rate_limited`) still
        //    reach their upstream, within half the grace period.
        hub.dispatcher.finish_background(grace / 2).await;
        // 1. Stop accepting and close every upstream link with a handshake,
        //    reading each until its Close: events already on the wire are
        //    published (and journaled) before anything else closes.
        hub.draining.cancel();
        let drain_limit = (hub.settings.close_timeout + Duration::from_millis(500)).min(grace);
        if !wait_until(drain_limit, || hub.registry.remote_links() == 0).await {
            tracing::warn!(
                left = hub.registry.remote_links(),
                "some upstream links did not finish their closing handshake in time"
            );
        }
        // 2. Let named apps take and confirm what they can, within the grace
        //    period; an app that confirms nothing for 500 ms is not waited for.
        let mut progress = (
            hub.registry.named_apps_confirmed(),
            tokio::time::Instant::now(),
        );
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        wait_until(left, || {
            if hub.registry.named_apps_caught_up() {
                return true;
            }
            let now = tokio::time::Instant::now();
            let confirmed = hub.registry.named_apps_confirmed();
            if confirmed != progress.0 {
                progress = (confirmed, now);
            }
            now - progress.1 >= Duration::from_millis(500)
        })
        .await;
        if !hub.registry.named_apps_caught_up() {
            tracing::warn!(
                "some named apps had not confirmed every event when their sessions were closed"
            );
        }
        // 3. Close the app sessions, each with a handshake.
        hub.shutdown.cancel();
        hub.tasks.close();
        let left = deadline
            .saturating_duration_since(tokio::time::Instant::now())
            .max(hub.settings.close_timeout);
        if tokio::time::timeout(left, hub.tasks.wait()).await.is_err() {
            tracing::warn!(
                grace_ms = grace.as_millis() as u64,
                "some connections did not close within the grace period"
            );
        }
        // Sessions have saved their final cursors; persist them, and wait
        // until every accepted event is committed.
        self.hub.registry.save_cursors();
        let registry = self.hub.registry.clone();
        let synced =
            tokio::task::spawn_blocking(move || registry.sync_journal(Duration::from_secs(5)))
                .await;
        if !matches!(synced, Ok(true)) {
            tracing::warn!("the event journal did not confirm its last commit before exit");
        }
    }
}

fn start_identities(config: &Config) -> Vec<String> {
    config
        .apps
        .iter()
        .filter(|a| a.start == crate::config::AppStart::GatewayStart)
        .map(|a| a.name.clone())
        .collect()
}

/// Checks `cond` every 10 ms for at most `limit`; whether it came true.
async fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn start_reverse(hub: &Arc<Hub>, target: &crate::config::ReverseConfig) -> CancellationToken {
    let stop = hub.shutdown.child_token();
    hub.tasks.spawn(crate::transport::dial::run_target(
        hub.clone(),
        Arc::new(target.clone()),
        stop.clone(),
    ));
    stop
}

fn start_http_post(hub: &Arc<Hub>, target: &crate::config::HttpPostConfig) -> CancellationToken {
    let stop = hub.shutdown.child_token();
    hub.tasks.spawn(crate::transport::http_post::run_target(
        hub.clone(),
        Arc::new(target.clone()),
        stop.clone(),
    ));
    stop
}

/// Keeps running targets that are unchanged, stops the ones no longer
/// configured, starts the new ones.
fn reconcile<T: PartialEq + Clone>(
    running: Vec<(T, CancellationToken)>,
    wanted: &[T],
    key: &str,
    report: &mut Vec<String>,
    start: impl Fn(&T) -> CancellationToken,
    name: impl Fn(&T) -> String,
) -> Vec<(T, CancellationToken)> {
    let mut kept = Vec::new();
    for (target, stop) in running {
        if wanted.contains(&target) {
            kept.push((target, stop));
        } else {
            stop.cancel();
            report.push(format!("{key} {}: stopped", name(&target)));
        }
    }
    for target in wanted {
        if !kept.iter().any(|(t, _)| t == target) {
            let stop = start(target);
            report.push(format!("{key} {}: started", name(target)));
            kept.push((target.clone(), stop));
        }
    }
    kept
}

async fn bind(key: &str, address: &str) -> Result<TcpListener, StartError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| StartError::Bind {
            key: key.to_owned(),
            address: address.to_owned(),
            source,
        })
}
