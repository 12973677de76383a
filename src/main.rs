//! The `onebot-gateway` command: run the gateway, check a config, or act as
//! the other people in a running gateway's sandbox.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
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
    /// Act as the other people in a running gateway's sandbox (say, poke, recall, ...).
    Sandbox {
        /// The gateway's HTTP address (a [[listen]] address).
        #[arg(long, default_value = cli::DEFAULT_URL)]
        url: String,
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
        Command::Run => run(cli.config),
        Command::Sandbox { url, token, cmd } => match cli::run(cmd, &url, token.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn run(path: Option<PathBuf>) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("onebot_gateway=info")),
        )
        .init();
    let config = match &path {
        Some(path) => match Config::load(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_CONFIG);
            }
        },
        None => {
            tracing::info!("no --config given: sandbox bot on the default listener");
            Config::default()
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let gateway = match Gateway::start(config).await {
            Ok(g) => g,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        // SIGHUP reloads the configuration file; SIGINT/SIGTERM stop.
        loop {
            tokio::select! {
                _ = shutdown_signal() => break,
                _ = hangup() => match &path {
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
        tracing::info!("shutting down");
        gateway.shutdown().await;
        ExitCode::SUCCESS
    })
}

/// Resolves on SIGHUP (never on platforms without it).
async fn hangup() {
    #[cfg(unix)]
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
    #[cfg(not(unix))]
    std::future::pending::<()>().await;
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
