//! The `onebot-gateway` command: run the gateway, check a config, or act as
//! the other people in a running gateway's sandbox.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use onebot_gateway::config::{LogConfig, LogFormat};
use onebot_gateway::upstream::sandbox::cli;
use onebot_gateway::{Config, Gateway};
use tracing_subscriber::EnvFilter;

/// A OneBot v11 gateway: many implementations to many frameworks, with a built-in sandbox account.
#[derive(Parser, Debug)]
#[command(name = "onebot-gateway", version, about)]
struct Cli {
    /// Configuration file (TOML). Without one: a sandbox bot and a forward WebSocket listener on 127.0.0.1:6700.
    #[arg(long, short, env = "ONEBOT_GATEWAY_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Log lines: `full` (one line each, the default), `compact`, `pretty` (several lines each) or `json`;
    /// over `[log] format`. Colours only on a terminal, never with NO_COLOR set.
    #[arg(long, env = "ONEBOT_GATEWAY_LOG_FORMAT", global = true)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the gateway (the default).
    Run,
    /// Write a commented configuration file (every key, its default, what it does).
    Init {
        /// Where to write it; an existing file is never overwritten.
        #[arg(default_value = "onebot-gateway.toml")]
        path: PathBuf,
    },
    /// Validate a configuration file and print it resolved, secrets masked.
    CheckConfig {
        /// The file to check.
        path: PathBuf,
    },
    /// Print an implementation's OneBot config (go-cqhttp config.yml, NapCat onebot11_<uin>.json,
    /// Lagrange.OneBot appsettings.json, LLOneBot config_<uin>.json) as this gateway's config.
    Import {
        /// Which implementation wrote the file.
        from: onebot_gateway::import::Source,
        /// The file.
        file: PathBuf,
    },
    /// Print a shell completion script (e.g. `onebot-gateway completions bash > /etc/bash_completion.d/onebot-gateway`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `onebot-gateway man > /usr/local/share/man/man1/onebot-gateway.1`.
    Man,
    /// Act as the other people in a running gateway's sandbox (say, poke, recall, ...).
    Sandbox {
        /// The gateway's HTTP address (default: the first OneBot [[listen]] of --config, else http://127.0.0.1:6700).
        #[arg(long)]
        url: Option<String>,
        /// The listener's access token.
        #[arg(long, env = "ONEBOT_GATEWAY_TOKEN")]
        token: Option<String>,
        #[command(subcommand)]
        cmd: cli::SandboxCommand,
    },
}

/// Exit code for a configuration error (EX_CONFIG from sysexits).
const EXIT_CONFIG: u8 = 78;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Run) {
        Command::Init { path } => {
            // The tested example is the template: `tests/gateway/cli.rs` checks it.
            const EXAMPLE: &str = include_str!("../config.example.toml");
            let written = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .and_then(|mut f| std::io::Write::write_all(&mut f, EXAMPLE.as_bytes()));
            match written {
                Ok(()) => {
                    println!(
                        "wrote {}: edit it, then `onebot-gateway check-config {0}` and `onebot-gateway --config {0}`",
                        path.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!(
                        "cannot write {}: {e} (an existing file is never overwritten)",
                        path.display()
                    );
                    ExitCode::from(EXIT_CONFIG)
                }
            }
        }
        Command::CheckConfig { path } => match Config::load(&path) {
            Ok(config) => {
                println!(
                    "# {} is valid; resolved configuration (secrets masked):",
                    path.display()
                );
                print!(
                    "{}",
                    onebot_gateway::redact::redact(
                        &toml::to_string_pretty(&config).unwrap_or_default()
                    )
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_CONFIG)
            }
        },
        Command::Run => run(cli.config, cli.log_format),
        Command::Import { from, file } => {
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: cannot read {}: {e}", file.display());
                    return ExitCode::from(EXIT_CONFIG);
                }
            };
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            match onebot_gateway::import::import(from, &text, &name) {
                Ok(imported) => {
                    print!("{}", imported.toml);
                    for why in &imported.skipped {
                        eprintln!("not imported: {why}");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {}: {e}", file.display());
                    ExitCode::from(EXIT_CONFIG)
                }
            }
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "onebot-gateway",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
        Command::Man => {
            use clap::CommandFactory;
            match clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Sandbox { url, token, cmd } => {
            // Where the gateway is and its token: the flags, else the config it runs with.
            let config = match cli.config.as_deref().map(Config::load).transpose() {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(EXIT_CONFIG);
                }
            };
            let listener = config.as_ref().and_then(|c| {
                c.listen.iter().find(|l| {
                    l.protocol == onebot_gateway::transport::config::ListenProtocol::Onebot
                })
            });
            let url = url
                .or_else(|| {
                    listener.map(|l| {
                        format!("http://{}", l.address.replacen("0.0.0.0", "127.0.0.1", 1))
                    })
                })
                .unwrap_or_else(|| cli::DEFAULT_URL.to_owned());
            let token = token.or_else(|| {
                listener
                    .filter(|l| !l.access_token.is_empty())
                    .map(|l| l.access_token.expose().to_owned())
            });
            sandbox_command(cmd, &url, token.as_deref())
        }
    }
}

fn sandbox_command(cmd: cli::SandboxCommand, url: &str, token: Option<&str>) -> ExitCode {
    match cli::run(cmd, url, token) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Starts logging to stdout (and to `[log] file`, rotated daily); the
/// guard flushes the file's writer when dropped at exit.
fn init_logs(
    config: &LogConfig,
    format: Option<LogFormat>,
) -> Result<Option<tracing_appender::non_blocking::WorkerGuard>, String> {
    use std::io::IsTerminal;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    type Boxed = Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync>;
    let format = format.unwrap_or(config.format);
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .map_err(|e| format!("[log] level `{}`: {e}", config.level))?;
    fn layer<W>(format: LogFormat, ansi: bool, writer: W) -> Boxed
    where
        W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
    {
        let fmt = tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_writer(writer);
        match format {
            LogFormat::Full => fmt.boxed(),
            LogFormat::Compact => fmt.compact().boxed(),
            LogFormat::Pretty => fmt.pretty().boxed(),
            LogFormat::Json => fmt
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .boxed(),
        }
    }
    // Escape codes only where a person reads them: not in files or pipes.
    let ansi = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut layers: Vec<Boxed> = vec![layer(format, ansi, std::io::stdout)];
    let mut guard = None;
    if let Some(file) = &config.file {
        let dir = file
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| String::from("onebot-gateway.log"));
        std::fs::create_dir_all(dir).map_err(|e| format!("[log] file {}: {e}", file.display()))?;
        let appender = tracing_appender::rolling::RollingFileAppender::builder()
            .rotation(tracing_appender::rolling::Rotation::DAILY)
            .filename_prefix(name)
            .max_log_files(config.keep_days)
            .build(dir)
            .map_err(|e| format!("[log] file {}: {e}", file.display()))?;
        let (writer, g) = tracing_appender::non_blocking(appender);
        guard = Some(g);
        layers.push(layer(format, false, writer));
    }
    tracing_subscriber::registry()
        .with(layers)
        .with(filter)
        .init();
    Ok(guard)
}

fn run(path: Option<PathBuf>, log_format: Option<LogFormat>) -> ExitCode {
    let config = match &path {
        Some(path) => match Config::load(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_CONFIG);
            }
        },
        None => Config::default(),
    };
    let _log_file = match init_logs(&config.log, log_format) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if path.is_none() {
        tracing::info!("no --config given: sandbox bot on the default listener");
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let signals = StopSignals::new().and_then(|s| Ok((s, Hangup::new()?)));
        let (mut stop, mut hup) = match signals {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: cannot listen for signals: {e}");
                return ExitCode::FAILURE;
            }
        };
        let gateway = match Gateway::start(config).await {
            Ok(g) => g,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        for line in gateway.banner() {
            tracing::info!("{line}");
        }
        // SIGHUP reloads the configuration file; SIGINT/SIGTERM stop.
        loop {
            tokio::select! {
                _ = stop.next() => break,
                _ = hup.next() => match &path {
                    Some(path) => match Config::load(path) {
                        Ok(new) => {
                            gateway.reload(new);
                        }
                        Err(e) => tracing::error!(error = %e, "reload refused; the running configuration stays"),
                    },
                    None => tracing::warn!("SIGHUP: no --config file to reload"),
                },
            }
        }
        tracing::info!("shutting down (a second Ctrl-C or SIGTERM exits at once)");
        tokio::select! {
            _ = gateway.shutdown() => ExitCode::SUCCESS,
            _ = stop.next() => {
                tracing::warn!("second signal: exiting without waiting for connections to close");
                ExitCode::from(130)
            }
        }
    })
}

/// SIGINT, SIGTERM and SIGHUP, listened to from the start: a second stop
/// signal during the first one's shutdown is never missed, and a SIGHUP
/// sent as soon as the listeners are up reloads instead of killing.
struct StopSignals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

/// SIGHUP, listened to from the start (see [`StopSignals`]).
struct Hangup(#[cfg(unix)] tokio::signal::unix::Signal);

impl Hangup {
    fn new() -> std::io::Result<Self> {
        #[cfg(unix)]
        return Ok(Self(tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::hangup(),
        )?));
        #[cfg(not(unix))]
        Ok(Self())
    }

    /// The next SIGHUP (never on platforms without it).
    async fn next(&mut self) {
        #[cfg(unix)]
        self.0.recv().await;
        #[cfg(not(unix))]
        std::future::pending::<()>().await;
    }
}

impl StopSignals {
    fn new() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Self {
                int: signal(SignalKind::interrupt())?,
                term: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// The next SIGINT or SIGTERM (Ctrl-C elsewhere).
    async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.int.recv() => {},
            _ = self.term.recv() => {},
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
