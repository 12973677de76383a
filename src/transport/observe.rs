//! Observability endpoints on the forward listener (behind its token):
//! `/metrics` in the Prometheus text format, and `/dashboard`, a live page
//! that polls `/status`.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry as Metrics;

use super::listener::AppListener;

type Labels = Vec<(String, String)>;

/// The dispatcher's latency buckets as a Prometheus histogram per bot.
#[derive(Debug)]
struct ActionLatency(Vec<(i64, Arc<crate::core::latency::Latency>)>);

impl prometheus_client::collector::Collector for ActionLatency {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder<'_>,
    ) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(
            // The registry adds the prefix, the unit the suffix.
            "action_duration",
            "Time from an app's action to its answer, by bot.",
            Some(&prometheus_client::registry::Unit::Seconds),
            prometheus_client::metrics::MetricType::Histogram,
        )?;
        for (bot, latency) in &self.0 {
            let (sum, count, cumulative) = latency.snapshot();
            // The encoder sums the buckets itself: it takes each bucket's own count.
            let mut below = 0;
            let buckets: Vec<(f64, u64)> = cumulative
                .into_iter()
                .map(|(bound, n)| {
                    let own = n - below;
                    below = n;
                    (bound, own)
                })
                .collect();
            let labels = [("self_id", bot.to_string())];
            family
                .encode_family(&labels)?
                .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                    sum, count, &buckets, None,
                )?;
        }
        Ok(())
    }
}

/// `GET /metrics`: every figure of `/status`, as Prometheus metrics.
pub(crate) async fn metrics(State(l): State<Arc<AppListener>>) -> Response {
    // A fresh registry per scrape, filled from the live counters: the
    // gateway keeps one set of numbers, this only renders them.
    let mut m = Metrics::with_prefix("onebot_gateway");
    let bot_online = Family::<Labels, Gauge>::default();
    let bot_offline_alerted = Family::<Labels, Gauge>::default();
    let bot_events = Family::<Labels, Counter>::default();
    let bot_retained = Family::<Labels, Gauge>::default();
    let delivered = Family::<Labels, Counter>::default();
    let replayed = Family::<Labels, Counter>::default();
    let lost = Family::<Labels, Counter>::default();
    let oversize = Family::<Labels, Counter>::default();
    let actions = Family::<Labels, Counter>::default();
    let lag = Family::<Labels, Gauge>::default();
    let unconfirmed = Family::<Labels, Gauge>::default();
    let duplicates = Family::<Labels, Counter>::default();
    let pending = Gauge::<i64>::default();
    let links = Family::<Labels, Gauge>::default();
    let standby_dropped = Family::<Labels, Counter>::default();
    let binary_dropped = Family::<Labels, Counter>::default();
    let events_ignored = Family::<Labels, Counter>::default();
    let dials = Family::<Labels, Gauge>::default();
    let answers_dropped = Family::<Labels, Counter>::default();
    let action_answers = Family::<Labels, Counter>::default();
    for bot in l.hub.registry.bots() {
        let labels = vec![(String::from("self_id"), bot.self_id.to_string())];
        for link in bot.links.all() {
            let state = match link.state() {
                crate::core::LinkState::Active => "active",
                crate::core::LinkState::Standby => "standby",
            };
            let mut by_state = labels.clone();
            by_state.push((String::from("state"), state.to_owned()));
            links.get_or_create(&by_state).inc();
            standby_dropped
                .get_or_create(&labels)
                .inc_by(link.standby_events_dropped.load(Relaxed));
            binary_dropped
                .get_or_create(&labels)
                .inc_by(link.binary_frames_dropped.load(Relaxed));
            events_ignored
                .get_or_create(&labels)
                .inc_by(link.events_ignored.load(Relaxed));
        }
        bot_online
            .get_or_create(&labels)
            .set(i64::from(bot.health().online));
        let offline = bot
            .transitions
            .lock()
            .map(|t| t.back().is_some_and(|last| last["state"] == "offline"))
            .unwrap_or(false);
        bot_offline_alerted
            .get_or_create(&labels)
            .set(i64::from(offline));
        let head = bot.log.head();
        for (post_type, n) in bot.log.published_by_type() {
            let mut by_type = labels.clone();
            by_type.push((String::from("post_type"), post_type.to_owned()));
            bot_events.get_or_create(&by_type).inc_by(n);
        }
        bot_retained
            .get_or_create(&labels)
            .set(head.saturating_sub(bot.log.first_retained()) as i64);
    }
    for app in l.hub.registry.apps.iter() {
        let labels = vec![
            (String::from("self_id"), app.bot.self_id.to_string()),
            (
                String::from("app"),
                app.identity
                    .clone()
                    .unwrap_or_else(|| format!("#{}", app.id)),
            ),
            (String::from("role"), app.role.header_value().to_owned()),
        ];
        let s = &app.stats;
        delivered
            .get_or_create(&labels)
            .inc_by(s.delivered.load(Relaxed));
        replayed
            .get_or_create(&labels)
            .inc_by(s.replayed.load(Relaxed));
        lost.get_or_create(&labels).inc_by(s.lost.load(Relaxed));
        oversize
            .get_or_create(&labels)
            .inc_by(s.oversize.load(Relaxed));
        actions
            .get_or_create(&labels)
            .inc_by(s.actions.load(Relaxed));
        duplicates
            .get_or_create(&labels)
            .inc_by(s.duplicates.load(Relaxed));
        if app.role.receives_events() {
            unconfirmed.get_or_create(&labels).set(
                s.cursor
                    .load(Relaxed)
                    .saturating_sub(s.confirmed.load(Relaxed)) as i64,
            );
            lag.get_or_create(&labels)
                .set(app.bot.log.head().saturating_sub(s.cursor.load(Relaxed)) as i64);
        }
    }
    pending.set(l.hub.dispatcher.pending_len() as i64);
    for d in l.hub.registry.dials.iter() {
        let labels = vec![
            (String::from("kind"), d.kind.to_owned()),
            (String::from("state"), d.state.to_owned()),
        ];
        dials.get_or_create(&labels).inc();
    }
    for (bot, action, retcode, n) in l.hub.dispatcher.outcomes() {
        let labels = vec![
            (String::from("self_id"), bot.to_string()),
            (String::from("action"), action.to_owned()),
            (String::from("retcode"), retcode.to_string()),
        ];
        action_answers.get_or_create(&labels).inc_by(n);
    }
    let drops = &l.hub.dispatcher.dropped_answers;
    for (why, n) in [
        ("wrong_link", &drops.wrong_link),
        ("unknown_echo", &drops.unknown_echo),
        ("late", &drops.late),
    ] {
        answers_dropped
            .get_or_create(&vec![(String::from("reason"), why.to_owned())])
            .inc_by(n.load(Relaxed));
    }
    m.register(
        "upstream_links",
        "Upstream links by bot and state (active or standby)",
        links,
    );
    m.register(
        "standby_events_dropped",
        "Events received on standby links, not published (the active link publishes them)",
        standby_dropped,
    );
    m.register(
        "upstream_binary_frames_dropped",
        "Binary frames from upstreams, dropped (OneBot frames are text)",
        binary_dropped,
    );
    m.register(
        "upstream_events_ignored",
        "Upstream events ignored: malformed, or of a type the gateway does not know",
        events_ignored,
    );
    m.register(
        "dials",
        "Outbound connections (reverse targets, dialled upstreams) by kind and state",
        dials,
    );
    m.register(
        "action_answers",
        "Answers given to apps, by bot, action (known names; others as `other`) and retcode",
        action_answers,
    );
    m.register(
        "answers_dropped",
        "Upstream answers dropped: on another link than the action, an echo the gateway did not send, or after the action ended",
        answers_dropped,
    );
    m.register(
        "bot_online",
        "1 while the bot's upstream is connected",
        bot_online,
    );
    m.register(
        "bot_offline_alerted",
        "1 while the bot is offline as alerted (gateway_bot_offline, not yet back online)",
        bot_offline_alerted,
    );
    m.register(
        "bot_events",
        "Events published by the bot in this run, by post_type (message, message_sent, notice, request, meta_event, other)",
        bot_events,
    );
    m.register_collector(Box::new(ActionLatency(l.hub.dispatcher.latencies())));
    m.register(
        "bot_retained_events",
        "Events the bot's log retains for replay",
        bot_retained,
    );
    m.register(
        "app_events_delivered",
        "Events written to the app",
        delivered,
    );
    m.register(
        "app_events_replayed",
        "Events the app had missed while away, replayed",
        replayed,
    );
    m.register(
        "app_events_lost",
        "Events the app will never get (evicted or skipped)",
        lost,
    );
    m.register(
        "app_events_oversize",
        "Events not sent: larger than the app's max_frame_bytes",
        oversize,
    );
    m.register("app_actions", "Actions received from the app", actions);
    m.register(
        "app_lag_events",
        "Events published but not yet written to the app",
        lag,
    );
    m.register(
        "app_events_unconfirmed",
        "Events written to the app that it has not yet confirmed reading (Ping/Pong)",
        unconfirmed,
    );
    m.register(
        "app_events_duplicates",
        "Events sent again because the app's previous session ended before confirming them",
        duplicates,
    );
    m.register(
        "pending_actions",
        "Actions waiting for an upstream answer",
        pending,
    );
    let mut body = String::new();
    if encode(&mut body, &m).is_err() {
        return super::reply::error(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "metrics encoding failed",
        );
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// `GET /dashboard`: a page that polls `/status` every second.
pub(crate) async fn dashboard() -> Html<&'static str> {
    Html(DASHBOARD)
}

const DASHBOARD: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>onebot-gateway</title>
<style>
 body { font: 14px system-ui, sans-serif; margin: 2em; color: #222; }
 table { border-collapse: collapse; margin-bottom: 2em; }
 th, td { padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: right; }
 th:first-child, td:first-child { text-align: left; }
 .off { color: #b00; } .on { color: #080; } #err { color: #b00; }
</style></head><body>
<h1>onebot-gateway</h1>
<p>Live from <code>/status</code>, every second. <span id="err"></span></p>
<h2>Bots</h2>
<table><thead><tr><th>self_id</th><th>upstream</th><th>account</th><th>events</th><th>retained from</th><th>pending actions</th></tr></thead><tbody id="bots"></tbody></table>
<h2>Account state changes</h2>
<table><thead><tr><th>bot</th><th>state</th><th>reason</th><th>at</th></tr></thead><tbody id="changes"></tbody></table>
<h2>Pools</h2>
<table><thead><tr><th>pool</th><th>name</th><th>members online</th><th>duplicates dropped</th></tr></thead><tbody id="pools"></tbody></table>
<h2>Upstream links</h2>
<table><thead><tr><th>bot</th><th>link</th><th>kind</th><th>role</th><th>peer</th><th>state</th><th>since</th><th>last heartbeat</th><th>standby events dropped</th></tr></thead><tbody id="links"></tbody></table>
<h2>Outbound connections</h2>
<table><thead><tr><th>name</th><th>kind</th><th>bot</th><th>url</th><th>state</th><th>last error</th><th>next attempt</th></tr></thead><tbody id="dials"></tbody></table>
<h2>Apps</h2>
<table><thead><tr><th>app</th><th>bot</th><th>role</th><th>peer</th><th>delivered</th><th>replayed</th><th>lost</th><th>lag</th><th>actions</th></tr></thead><tbody id="apps"></tbody></table>
<script>
const token = new URLSearchParams(location.search).get('access_token');
const url = '/status' + (token ? '?access_token=' + encodeURIComponent(token) : '');
const cell = (v) => { const td = document.createElement('td'); td.textContent = v ?? '-'; return td; };
function fill(id, rows) {
  const body = document.getElementById(id);
  body.replaceChildren(...rows.map((cells) => { const tr = document.createElement('tr'); tr.append(...cells); return tr; }));
}
async function tick() {
  try {
    const r = await fetch(url);
    if (!r.ok) throw new Error('HTTP ' + r.status);
    const { data } = await r.json();
    const time = (ms) => ms ? new Date(ms).toLocaleTimeString() : '-';
    fill('bots', data.bots.map((b) => {
      const state = cell(b.online ? 'online' : 'away'); state.className = b.online ? 'on' : 'off';
      const last = (b.state_changes ?? []).at(-1);
      const account = cell(last ? last.state : '-'); account.className = last && last.state === 'offline' ? 'off' : '';
      return [cell(b.self_id), state, account, cell(b.next_seq - 1), cell(b.first_retained_seq), cell(data.pending_actions)];
    }));
    fill('changes', data.bots.flatMap((b) => (b.state_changes ?? []).map((c) => {
      const state = cell(c.state); state.className = c.state === 'online' ? 'on' : 'off';
      return [cell(b.self_id), state, cell(c.reason), cell(time(c.at_unix_ms))];
    })).reverse());
    fill('pools', (data.pools ?? []).map((p) => [cell(p.self_id), cell(p.name),
      cell(p.members.filter((m) => m.online).map((m) => m.self_id).join(', ') || 'none'), cell(p.duplicates_dropped)]));
    fill('links', data.bots.flatMap((b) => b.links.map((k) => {
      const state = cell(k.state); state.className = k.state === 'active' ? 'on' : '';
      return [cell(b.self_id), cell(k.id), cell(k.kind), cell(k.role), cell(k.peer), state,
        cell(time(k.since_unix_ms)), cell(time(k.last_heartbeat_unix_ms)), cell(k.standby_events_dropped)];
    })));
    fill('dials', data.dials.map((d) => {
      const state = cell(d.state); state.className = d.state === 'connected' ? 'on' : 'off';
      return [cell(d.name), cell(d.kind), cell(d.self_id), cell(d.url), state, cell(d.last_error), cell(time(d.next_attempt_unix_ms))];
    }));
    fill('apps', data.apps.map((a) => [cell(a.identity ?? '#' + a.id), cell(a.self_id), cell(a.role), cell(a.peer),
      cell(a.delivered), cell(a.replayed), cell(a.lost), cell(a.lag), cell(a.actions)]));
    document.getElementById('err').textContent = '';
  } catch (e) { document.getElementById('err').textContent = 'status unavailable: ' + e.message; }
}
tick(); setInterval(tick, 1000);
</script></body></html>"#;
