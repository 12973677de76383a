//! The gateway as a separate process (`onebot-gateway --config FILE`), for the
//! figures where the load generator's own memory or start-up must not count:
//! start-up time and RSS per idle app connection.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::servers::{gateway_toml, GatewayOptions};

/// The release binary next to this example (`target/<profile>/onebot-gateway`).
pub fn default_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/examples/loadgen → target/<profile>/onebot-gateway
    exe.parent()
        .and_then(Path::parent)
        .map(|d| d.join("onebot-gateway"))
        .unwrap_or_else(|| PathBuf::from("target/release/onebot-gateway"))
}

/// A port that was free a moment ago.
fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// A running gateway process.
pub struct GatewayProcess {
    child: Child,
    /// Its app listener.
    pub addr: SocketAddr,
    /// Time from spawn to its listener accepting a TCP connection.
    pub startup: Duration,
    _config: tempfile::NamedTempFile,
}

impl GatewayProcess {
    /// Spawns `bin` with a config pointing at `upstream_url`; returns once it
    /// accepts connections.
    pub fn spawn(bin: &Path, upstream_url: &str) -> Result<Self, String> {
        if !bin.exists() {
            return Err(format!(
                "{} not found: build it with `cargo build --release --bin onebot-gateway` or pass --gateway-bin",
                bin.display()
            ));
        }
        let port = free_port()?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut file = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
        file.write_all(
            gateway_toml(
                &addr.to_string(),
                upstream_url,
                GatewayOptions::default(),
                None,
            )
            .as_bytes(),
        )
        .map_err(|e| e.to_string())?;
        let t0 = Instant::now();
        let mut child = Command::new(bin)
            .arg("--config")
            .arg(file.path())
            .env("RUST_LOG", "onebot_gateway=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", bin.display()))?;
        loop {
            if TcpStream::connect(addr).is_ok() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("gateway exited during start-up: {status}"));
            }
            if t0.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                let _ = child.wait();
                return Err("gateway did not listen within 30 s".into());
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        Ok(Self {
            startup: t0.elapsed(),
            child,
            addr,
            _config: file,
        })
    }

    /// Its resident set size (VmRSS), KiB.
    pub fn rss_kib(&self) -> Result<u64, String> {
        vm_rss_kib(self.child.id())
    }

    /// Stops it: SIGTERM (a graceful shutdown), SIGKILL after `grace`.
    pub fn stop(mut self, grace: Duration) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let until = Instant::now() + grace;
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// VmRSS of process `pid` in KiB, from /proc/PID/status.
pub fn vm_rss_kib(pid: u32) -> Result<u64, String> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmRSS in /proc status".to_string())
}

/// Raises this process's soft open-files limit to at least `need` (up to
/// the hard limit); the gateway process started afterwards inherits it.
/// Returns the soft limit now in force.
pub fn raise_open_files(need: u64) -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let current = limit.current.unwrap_or(u64::MAX);
    if current >= need {
        return current;
    }
    let wanted = need.min(limit.maximum.unwrap_or(u64::MAX));
    match setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(wanted),
            maximum: limit.maximum,
        },
    ) {
        Ok(()) => wanted,
        Err(_) => current,
    }
}
