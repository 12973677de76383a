//! Load generator: the gateway end to end over real sockets on 127.0.0.1,
//! against the raw WebSocket limit measured in the same run.
//!
//! ```text
//! cargo build --release --example loadgen --bin onebot-gateway
//! target/release/examples/loadgen all            # the full set (a few minutes)
//! target/release/examples/loadgen all --tiny     # a few apps, a few hundred events; no targets
//! ```
//!
//! Scenarios (`all` runs each): `fanout`, `latency`, `rtt`, `journal`,
//! `alloc`, `idle`, `startup`. A scripted upstream (examples/loadgen/upstream.rs) is dialled
//! by the gateway as `[[upstream]] type = "ws"`; apps are forward-WS clients.
//! The raw baseline is a minimal tokio-tungstenite relay of the same upstream
//! (fan-out, latency) or the client talking to the same upstream directly
//! (action round trips). Every figure is the median of `--runs` runs, with
//! min–max; gateway and raw runs alternate. See docs/PERFORMANCE.md.
//!
//! For profiling one side: `--only gateway|raw`, `--fanout-apps 100`,
//! `--rtt-window 64`, `--idle-apps N`, `--gateway-bin PATH` (e.g. a script
//! that runs the binary under valgrind). Everything listens on 127.0.0.1,
//! port 0 or a port just found free, and every load is bounded in count and
//! time.

#[path = "loadgen/alloc.rs"]
mod alloc;
#[path = "loadgen/apps.rs"]
mod apps;
#[path = "loadgen/process.rs"]
mod process;
#[path = "loadgen/servers.rs"]
mod servers;
#[path = "loadgen/upstream.rs"]
mod upstream;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;

use servers::{GatewayOptions, Kind, Server};
use upstream::{Produce, Upstream};

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// Everything below.
    All,
    /// Deliveries/s at 100 and 1000 apps (burst), gateway vs raw relay.
    Fanout,
    /// Event latency at 1000 events/s to 100 apps, gateway vs raw relay.
    Latency,
    /// Action round trip with 1 and 64 in flight, gateway vs direct.
    Rtt,
    /// Fan-out and latency again with the durable journal on (informative).
    Journal,
    /// Fan-out and latency with delivery confirmation practically off, to
    /// compare with `fanout`/`latency` (what confirmation costs).
    Confirm,
    /// Bytes and allocations per event in the gateway's threads vs number of apps.
    Alloc,
    /// RSS per idle app connection (separate gateway process).
    Idle,
    /// Process start to listening (separate gateway process).
    Startup,
}

/// Gateway end-to-end load generator.
#[derive(Parser, Debug)]
#[command(name = "loadgen")]
struct Cli {
    /// What to run.
    #[arg(value_enum, default_value = "all")]
    scenario: Scenario,
    /// A few apps, a few hundred events, a second or two; no targets checked.
    #[arg(long)]
    tiny: bool,
    /// Repetitions of each measurement (median, min–max reported).
    #[arg(long)]
    runs: Option<usize>,
    /// The gateway binary for `idle` and `startup` (default: next to this example).
    #[arg(long)]
    gateway_bin: Option<PathBuf>,
    /// Idle app connections for `idle`.
    #[arg(long)]
    idle_apps: Option<usize>,
    /// Fan-out: only the configuration with this many apps.
    #[arg(long)]
    fanout_apps: Option<usize>,
    /// Action round trip: only this many actions in flight.
    #[arg(long)]
    rtt_window: Option<usize>,
    /// Run only one side (for profiling one of them).
    #[arg(long, value_enum)]
    only: Option<Side>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Side {
    Gateway,
    Raw,
}

/// Read buffer of the event-receiving apps. tungstenite zero-fills the whole
/// buffer before every read, so a large one costs a large memset per read
/// (at 1000 events/s every event is its own read), which would load the
/// shared CPUs and blur the latency of both gateway and raw relay.
const APP_READ_BUFFER: usize = 16 * 1024;

/// Sizes of one configuration (full or tiny).
struct Plan {
    runs: usize,
    fanout: Vec<(usize, u64)>,
    latency_apps: usize,
    latency_events: u64,
    rtt_warmup: u64,
    rtt_time: Duration,
    alloc_apps: (usize, usize),
    alloc_events: u64,
    idle_apps: usize,
}

impl Plan {
    fn new(cli: &Cli) -> Self {
        let mut p = if cli.tiny {
            Plan {
                runs: 1,
                fanout: vec![(3, 300), (8, 200)],
                latency_apps: 3,
                latency_events: 200,
                rtt_warmup: 20,
                rtt_time: Duration::from_millis(200),
                alloc_apps: (2, 6),
                alloc_events: 200,
                idle_apps: 20,
            }
        } else {
            Plan {
                runs: 5,
                fanout: vec![(100, 20_000), (1000, 2_000)],
                latency_apps: 100,
                latency_events: 3_000,
                rtt_warmup: 500,
                rtt_time: Duration::from_millis(1500),
                alloc_apps: (10, 100),
                alloc_events: 5_000,
                idle_apps: 10_000,
            }
        };
        if let Some(r) = cli.runs {
            p.runs = r.max(1);
        }
        if let Some(n) = cli.idle_apps {
            p.idle_apps = n;
        }
        if let Some(n) = cli.fanout_apps {
            p.fanout.retain(|&(apps, _)| apps == n);
        }
        p
    }
}

/// A figure over several runs.
#[derive(Debug, Clone, Default)]
struct Sample(Vec<f64>);

impl Sample {
    fn push(&mut self, v: f64) {
        self.0.push(v);
    }
    fn sorted(&self) -> Vec<f64> {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        v
    }
    fn median(&self) -> f64 {
        let v = self.sorted();
        if v.is_empty() {
            return f64::NAN;
        }
        let m = v.len() / 2;
        if v.len() % 2 == 1 {
            v[m]
        } else {
            (v[m - 1] + v[m]) / 2.0
        }
    }
    fn min(&self) -> f64 {
        self.sorted().first().copied().unwrap_or(f64::NAN)
    }
    fn max(&self) -> f64 {
        self.sorted().last().copied().unwrap_or(f64::NAN)
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i] as f64
}

/// How a figure is shown and judged.
#[derive(Clone, Copy)]
enum Unit {
    PerSec,
    Micros,
    KiB,
    Millis,
}

fn show(v: f64, unit: Unit) -> String {
    match unit {
        Unit::PerSec => {
            if v >= 1e6 {
                format!("{:.2} M/s", v / 1e6)
            } else {
                format!("{:.1} k/s", v / 1e3)
            }
        }
        Unit::Micros => format!("{v:.0} µs"),
        Unit::KiB => format!("{v:.2} KiB"),
        Unit::Millis => format!("{v:.1} ms"),
    }
}

fn show_sample(s: &Sample, unit: Unit) -> String {
    if s.0.is_empty() {
        return "–".into();
    }
    if s.0.len() == 1 {
        return show(s.median(), unit);
    }
    format!(
        "{} ({}–{})",
        show(s.median(), unit),
        show(s.min(), unit),
        show(s.max(), unit)
    )
}

/// A target on one figure.
#[derive(Clone, Copy)]
enum Target {
    None,
    /// gateway / raw ≥ x
    RatioAtLeast(f64),
    /// gateway / raw ≤ x
    RatioAtMost(f64),
    /// gateway ≤ x (in the row's unit)
    AtMost(f64),
}

struct Row {
    name: String,
    unit: Unit,
    gateway: Sample,
    raw: Sample,
    target: Target,
}

impl Row {
    fn ratio(&self) -> Option<f64> {
        (!self.raw.0.is_empty() && !self.gateway.0.is_empty())
            .then(|| self.gateway.median() / self.raw.median())
    }
    fn met(&self) -> Option<bool> {
        match self.target {
            Target::None => None,
            Target::RatioAtLeast(x) => self.ratio().map(|r| r >= x),
            Target::RatioAtMost(x) => self.ratio().map(|r| r <= x),
            Target::AtMost(x) => (!self.gateway.0.is_empty()).then(|| self.gateway.median() <= x),
        }
    }
    fn markdown(&self, tiny: bool) -> String {
        let ratio = self.ratio().map_or("–".into(), |r| format!("{r:.2}×"));
        let target = match self.target {
            Target::None => "–".to_string(),
            Target::RatioAtLeast(x) => format!("≥ {x}×"),
            Target::RatioAtMost(x) => format!("≤ {x}×"),
            Target::AtMost(x) => format!("≤ {}", show(x, self.unit)),
        };
        let met = match (tiny, self.met()) {
            (true, Some(_)) => "(tiny: not judged)",
            (_, None) => "–",
            (false, Some(true)) => "yes",
            (false, Some(false)) => "**no**",
        };
        format!(
            "| {} | {} | {} | {ratio} | {target} | {met} |",
            self.name,
            show_sample(&self.gateway, self.unit),
            show_sample(&self.raw, self.unit),
        )
    }
}

fn client_runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("apps")
        .build()
        .expect("client runtime")
}

/// `--only`, as a filter on kinds.
static ONLY: std::sync::OnceLock<Option<Kind>> = std::sync::OnceLock::new();
/// `--rtt-window`.
static RTT_WINDOW: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();

/// Runs `kinds` in alternating order, `runs` times.
fn alternate(runs: usize, mut f: impl FnMut(Kind) -> Result<(), String>) -> Result<(), String> {
    let only = ONLY.get().copied().flatten();
    for r in 0..runs {
        let order = if r % 2 == 0 {
            [Kind::Gateway, Kind::Raw]
        } else {
            [Kind::Raw, Kind::Gateway]
        };
        for k in order {
            if only.is_some_and(|o| o != k) {
                continue;
            }
            f(k)?;
        }
    }
    Ok(())
}

/// Collects reader results, cancelling them after `limit`.
async fn collect(
    handles: Vec<tokio::task::JoinHandle<apps::Seen>>,
    stop: &CancellationToken,
    limit: Duration,
) -> Vec<apps::Seen> {
    let canceller = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(limit).await;
            stop.cancel();
        })
    };
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap_or_default());
    }
    canceller.abort();
    out
}

fn check_complete(seen: &[apps::Seen], expect: u64, what: &str) -> Result<(), String> {
    let short: Vec<&apps::Seen> = seen.iter().filter(|s| s.events < expect).collect();
    if short.is_empty() {
        return Ok(());
    }
    let min = short.iter().map(|s| s.events).min().unwrap_or(0);
    let err = short
        .iter()
        .find_map(|s| s.error.clone())
        .unwrap_or_default();
    Err(format!(
        "{what}: {} of {} apps got fewer than {expect} events (least: {min}) {err}",
        short.len(),
        seen.len()
    ))
}

/// One burst of `events` to `apps` apps; returns deliveries/s and the
/// (bytes, allocation calls) of the server threads during the burst.
fn fanout_once(
    rt: &Runtime,
    kind: Kind,
    n_apps: usize,
    events: u64,
    opts: GatewayOptions,
    count_alloc: bool,
) -> Result<(f64, (u64, u64)), String> {
    let up = Upstream::start();
    let server = Server::start(kind, &up, opts)?;
    let result = rt.block_on(async {
        let clients = apps::connect_many(&server.url, n_apps, 100, APP_READ_BUFFER).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let stop = CancellationToken::new();
        // Warm-up burst (not measured): buffers grow to their working size.
        let warm = (events / 10).max(10);
        let handles = apps::spawn_readers(clients, apps::Mode::Count { expect: warm }, &stop);
        up.produce(Produce::Burst { count: warm });
        let seen = collect(handles, &stop, Duration::from_secs(60)).await;
        check_complete(
            &seen,
            warm,
            &format!("fanout warm-up {} {n_apps} apps", kind.name()),
        )?;
        let clients: Vec<apps::Ws> = seen.into_iter().filter_map(|s| s.ws).collect();
        let handles = apps::spawn_readers(clients, apps::Mode::Count { expect: events }, &stop);
        if count_alloc {
            alloc::start();
        }
        let t0 = Instant::now();
        up.produce(Produce::Burst { count: events });
        let seen = collect(handles, &stop, Duration::from_secs(120)).await;
        let counted = if count_alloc { alloc::stop() } else { (0, 0) };
        check_complete(
            &seen,
            events,
            &format!("fanout {} {n_apps} apps", kind.name()),
        )?;
        let end = seen.iter().filter_map(|s| s.done_at).max().unwrap_or(t0);
        let secs = end.duration_since(t0).as_secs_f64();
        Ok::<_, String>(((n_apps as u64 * events) as f64 / secs, counted))
    });
    server.stop();
    drop(up);
    result
}

fn fanout(
    rt: &Runtime,
    runs: usize,
    sizes: &[(usize, u64)],
    opts: GatewayOptions,
    rows: &mut Vec<Row>,
) -> Result<(), String> {
    let journal = opts.label();
    for &(n, k) in sizes {
        let mut row = Row {
            name: format!("Fan-out, deliveries/s, {n} apps ({k} events burst){journal}"),
            unit: Unit::PerSec,
            gateway: Sample::default(),
            raw: Sample::default(),
            target: if opts.journal || opts.no_confirm {
                Target::None
            } else {
                Target::RatioAtLeast(0.7)
            },
        };
        alternate(runs, |kind| {
            let (rate, _) = fanout_once(rt, kind, n, k, opts, false)?;
            eprintln!(
                "  fanout {n} apps {}: {}",
                kind.name(),
                show(rate, Unit::PerSec)
            );
            match kind {
                Kind::Gateway => row.gateway.push(rate),
                Kind::Raw => row.raw.push(rate),
            }
            Ok(())
        })?;
        rows.push(row);
    }
    Ok(())
}

fn latency(
    rt: &Runtime,
    plan: &Plan,
    runs: usize,
    opts: GatewayOptions,
    rows: &mut Vec<Row>,
) -> Result<(), String> {
    let (n, k) = (plan.latency_apps, plan.latency_events);
    let warm = (k / 10) as usize;
    let journal = opts.label();
    let mut p50 = Row {
        name: format!("Event latency p50, 1000 events/s to {n} apps{journal}"),
        unit: Unit::Micros,
        gateway: Sample::default(),
        raw: Sample::default(),
        target: Target::None,
    };
    let mut p99 = Row {
        name: format!("Event latency p99, 1000 events/s to {n} apps{journal}"),
        unit: Unit::Micros,
        gateway: Sample::default(),
        raw: Sample::default(),
        target: if opts.journal || opts.no_confirm {
            Target::None
        } else {
            Target::AtMost(2000.0)
        },
    };
    alternate(runs, |kind| {
        let up = Upstream::start();
        let server = Server::start(kind, &up, opts)?;
        let result = rt.block_on(async {
            let clients = apps::connect_many(&server.url, n, 100, APP_READ_BUFFER).await?;
            tokio::time::sleep(Duration::from_millis(100)).await;
            let stop = CancellationToken::new();
            let handles = apps::spawn_readers(clients, apps::Mode::Latency { expect: k }, &stop);
            up.produce(Produce::Rate {
                count: k,
                every: Duration::from_millis(1),
            });
            let seen = collect(handles, &stop, Duration::from_secs(60)).await;
            check_complete(&seen, k, &format!("latency {}", kind.name()))?;
            let mut all: Vec<u64> = seen
                .iter()
                .flat_map(|s| s.latency_ns.iter().skip(warm).copied())
                .collect();
            all.sort_unstable();
            Ok::<_, String>((percentile(&all, 0.5) / 1e3, percentile(&all, 0.99) / 1e3))
        });
        server.stop();
        drop(up);
        let (a, b) = result?;
        eprintln!("  latency {}: p50 {a:.0} µs, p99 {b:.0} µs", kind.name());
        match kind {
            Kind::Gateway => {
                p50.gateway.push(a);
                p99.gateway.push(b);
            }
            Kind::Raw => {
                p50.raw.push(a);
                p99.raw.push(b);
            }
        }
        Ok(())
    })?;
    rows.push(p50);
    rows.push(p99);
    Ok(())
}

fn rtt(rt: &Runtime, plan: &Plan, rows: &mut Vec<Row>) -> Result<(), String> {
    let only_window = RTT_WINDOW.get().copied().flatten();
    for window in [1usize, 64] {
        if only_window.is_some_and(|w| w != window) {
            continue;
        }
        let mk = |what: &str, unit, target| Row {
            name: format!(
                "Action round trip {what}, {window} in flight (raw: direct to the upstream)"
            ),
            unit,
            gateway: Sample::default(),
            raw: Sample::default(),
            target,
        };
        let mut p50 = mk(
            "p50",
            Unit::Micros,
            if window == 1 {
                Target::RatioAtMost(2.3)
            } else {
                Target::None
            },
        );
        let mut p99 = mk("p99", Unit::Micros, Target::None);
        let mut tput = mk(
            "throughput",
            Unit::PerSec,
            if window == 64 {
                Target::RatioAtLeast(0.5)
            } else {
                Target::None
            },
        );
        alternate(plan.runs, |kind| {
            let up = Upstream::start();
            let server = match kind {
                Kind::Gateway => Some(Server::start(kind, &up, GatewayOptions::default())?),
                Kind::Raw => None,
            };
            let url = server.as_ref().map_or_else(|| up.url(), |s| s.url.clone());
            let run = rt.block_on(apps::rtt(&url, window, plan.rtt_warmup, plan.rtt_time));
            if let Some(s) = server {
                s.stop();
            }
            drop(up);
            let mut run = run?;
            if run.failed > 0 {
                return Err(format!(
                    "rtt {}: {} answers were not ok",
                    kind.name(),
                    run.failed
                ));
            }
            run.rtt_ns.sort_unstable();
            let (a, b) = (
                percentile(&run.rtt_ns, 0.5) / 1e3,
                percentile(&run.rtt_ns, 0.99) / 1e3,
            );
            eprintln!(
                "  rtt {window} in flight {}: p50 {a:.0} µs, p99 {b:.0} µs, {}, {} actions sent",
                kind.name(),
                show(run.per_sec, Unit::PerSec),
                run.sent
            );
            let (x, y, z) = match kind {
                Kind::Gateway => (&mut p50.gateway, &mut p99.gateway, &mut tput.gateway),
                Kind::Raw => (&mut p50.raw, &mut p99.raw, &mut tput.raw),
            };
            x.push(a);
            y.push(b);
            z.push(run.per_sec);
            Ok(())
        })?;
        rows.push(p50);
        rows.push(p99);
        if window == 64 {
            rows.push(tput);
        }
    }
    Ok(())
}

/// Serializations per event, measured through allocations: bytes requested
/// by the gateway's threads per event, with few and with many apps, for
/// pass-through (array) and converted (string) apps.
fn alloc_scenario(rt: &Runtime, plan: &Plan, notes: &mut Vec<String>) -> Result<(), String> {
    let (n1, n2) = plan.alloc_apps;
    let k = plan.alloc_events;
    notes.push(format!(
        "Allocations in the gateway's threads during a burst of {k} events (counting allocator; median of {} runs):",
        plan.runs
    ));
    notes.push(String::new());
    notes.push("| apps' post_format | apps | bytes / event | allocations / event |".into());
    notes.push("|---|---|---|---|".into());
    for string_format in [false, true] {
        let opts = GatewayOptions {
            string_format,
            ..GatewayOptions::default()
        };
        let mut per_event = Vec::new();
        for n in [n1, n2] {
            let mut bytes = Sample::default();
            let mut calls = Sample::default();
            for _ in 0..plan.runs {
                let (_, (b, c)) = fanout_once(rt, Kind::Gateway, n, k, opts, true)?;
                bytes.push(b as f64 / k as f64);
                calls.push(c as f64 / k as f64);
            }
            let fmt = if string_format {
                "string (converted)"
            } else {
                "array (as received)"
            };
            eprintln!(
                "  alloc {fmt} {n} apps: {:.0} B/event, {:.1} allocations/event",
                bytes.median(),
                calls.median()
            );
            notes.push(format!(
                "| {fmt} | {n} | {:.0} | {:.1} |",
                bytes.median(),
                calls.median(),
            ));
            per_event.push((n, bytes.median(), calls.median()));
        }
        let (a, b) = (per_event[0], per_event[1]);
        let slope = (b.1 - a.1) / (b.0 - a.0) as f64;
        let slope_calls = (b.2 - a.2) / (b.0 - a.0) as f64;
        notes.push(format!(
            "| {} | each extra app adds | {slope:.1} B | {slope_calls:.3} |",
            if string_format { "string" } else { "array" }
        ));
    }
    notes.push(String::new());
    Ok(())
}

fn idle(
    rt: &Runtime,
    plan: &Plan,
    bin: &std::path::Path,
    rows: &mut Vec<Row>,
    tiny: bool,
) -> Result<(), String> {
    let n = plan.idle_apps;
    // Each side holds one socket per app: the load generator and the
    // gateway process each need n + some open files (2n across both).
    let need = n as u64 + 256;
    let limit = process::raise_open_files(need);
    if limit < need {
        return Err(format!(
            "idle: {n} connections need about {need} open files in each process, the hard limit is {limit}: raise it (`ulimit -Hn {need}` as root, or a smaller --idle-apps)"
        ));
    }
    let mut row = Row {
        name: format!("RSS per idle app connection, {n} connections (separate process)"),
        unit: Unit::KiB,
        gateway: Sample::default(),
        raw: Sample::default(),
        target: Target::AtMost(10.0),
    };
    let runs = if tiny { 1 } else { plan.runs.min(3) };
    for _ in 0..runs {
        let up = Upstream::start();
        let gw = process::GatewayProcess::spawn(bin, &up.url())?;
        up.wait_live(1, Duration::from_secs(10))?;
        std::thread::sleep(Duration::from_millis(300));
        let before = gw.rss_kib()?;
        let url = format!("ws://{}/", gw.addr);
        let res = rt.block_on(async {
            let clients = apps::connect_many(&url, n, 200, 4 * 1024).await?;
            let stop = CancellationToken::new();
            let handles = apps::spawn_readers(clients, apps::Mode::Idle, &stop);
            tokio::time::sleep(Duration::from_secs(2)).await;
            let after = gw.rss_kib()?;
            stop.cancel();
            for h in handles {
                let _ = h.await;
            }
            Ok::<_, String>(after)
        });
        gw.stop(Duration::from_secs(60));
        drop(up);
        let after = res?;
        let per = after.saturating_sub(before) as f64 / n as f64;
        eprintln!("  idle {n} apps: RSS {before} KiB → {after} KiB, {per:.2} KiB per connection");
        row.gateway.push(per);
    }
    rows.push(row);
    Ok(())
}

fn startup(plan: &Plan, bin: &std::path::Path, rows: &mut Vec<Row>) -> Result<(), String> {
    let mut row = Row {
        name: "Start-up, process start to listening (separate process)".into(),
        unit: Unit::Millis,
        gateway: Sample::default(),
        raw: Sample::default(),
        target: Target::None,
    };
    let up = Upstream::start();
    for _ in 0..plan.runs {
        let gw = process::GatewayProcess::spawn(bin, &up.url())?;
        let ms = gw.startup.as_secs_f64() * 1e3;
        gw.stop(Duration::from_secs(5));
        eprintln!("  startup: {ms:.1} ms");
        row.gateway.push(ms);
    }
    rows.push(row);
    Ok(())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!(
        "{cores} cores, {cpu}; load average at start {}",
        load.join(" ")
    )
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let plan = Plan::new(&cli);
    let _ = RTT_WINDOW.set(cli.rtt_window);
    let _ = ONLY.set(cli.only.map(|s| match s {
        Side::Gateway => Kind::Gateway,
        Side::Raw => Kind::Raw,
    }));
    let bin = cli
        .gateway_bin
        .clone()
        .unwrap_or_else(process::default_binary);
    let _ = upstream::epoch();
    let rt = client_runtime();
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    let want = |s: Scenario| cli.scenario == Scenario::All || cli.scenario == s;
    eprintln!(
        "loadgen: {}; {} run(s) each{}",
        machine(),
        plan.runs,
        if cli.tiny { ", tiny" } else { "" }
    );
    let started = Instant::now();
    let mut failed = Vec::new();
    let mut step = |name: &str, r: Result<(), String>| {
        if let Err(e) = r {
            eprintln!("loadgen: {name} failed: {e}");
            failed.push(format!("{name}: {e}"));
        }
    };
    let plain = GatewayOptions::default();
    if want(Scenario::Fanout) {
        eprintln!("fanout");
        step(
            "fanout",
            fanout(&rt, plan.runs, &plan.fanout, plain, &mut rows),
        );
    }
    if want(Scenario::Latency) {
        eprintln!("latency");
        step("latency", latency(&rt, &plan, plan.runs, plain, &mut rows));
    }
    if want(Scenario::Rtt) {
        eprintln!("rtt");
        step("rtt", rtt(&rt, &plan, &mut rows));
    }
    if want(Scenario::Journal) {
        eprintln!("journal");
        let journal = GatewayOptions {
            journal: true,
            ..GatewayOptions::default()
        };
        let runs = plan.runs.min(3);
        let sizes = &plan.fanout[..1];
        step("journal", fanout(&rt, runs, sizes, journal, &mut rows));
        step("journal", latency(&rt, &plan, runs, journal, &mut rows));
    }
    if want(Scenario::Confirm) {
        eprintln!("confirm");
        let off = GatewayOptions {
            no_confirm: true,
            ..GatewayOptions::default()
        };
        step(
            "confirm",
            fanout(&rt, plan.runs, &plan.fanout, off, &mut rows),
        );
        step("confirm", latency(&rt, &plan, plan.runs, off, &mut rows));
    }
    if want(Scenario::Alloc) {
        eprintln!("alloc");
        step("alloc", alloc_scenario(&rt, &plan, &mut notes));
    }
    let binary_missing = !bin.exists();
    if want(Scenario::Idle) {
        eprintln!("idle");
        if binary_missing && cli.tiny {
            eprintln!("  skipped: {} not built", bin.display());
        } else {
            step("idle", idle(&rt, &plan, &bin, &mut rows, cli.tiny));
        }
    }
    if want(Scenario::Startup) {
        eprintln!("startup");
        if binary_missing && cli.tiny {
            eprintln!("  skipped: {} not built", bin.display());
        } else {
            step("startup", startup(&plan, &bin, &mut rows));
        }
    }
    println!("Machine: {}", machine());
    println!(
        "Runs: {} per figure; median (min–max). Event size: {} bytes",
        plan.runs,
        upstream::event_text(12345, upstream::now_ns()).len()
    );
    println!();
    println!("| Figure | Gateway | Raw | Ratio | Target | Met? |");
    println!("|---|---|---|---|---|---|");
    for row in &rows {
        println!("{}", row.markdown(cli.tiny));
    }
    println!();
    for n in &notes {
        println!("{n}");
    }
    eprintln!("loadgen: done in {:.1} s", started.elapsed().as_secs_f64());
    if !failed.is_empty() {
        for f in &failed {
            eprintln!("FAILED {f}");
        }
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
