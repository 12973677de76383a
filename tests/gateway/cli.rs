//! The command line: `check-config` validates, masks secrets, names bad keys.

use std::process::Command;

/// Runs the binary with `args`: (exit code, stdout, stderr).
fn run_cli<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_onebot-gateway"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn check_config(text: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, text).unwrap();
    run_cli(&[std::ffi::OsStr::new("check-config"), path.as_os_str()])
}

#[test]
fn check_config_prints_the_resolved_config_with_secrets_masked() {
    let (code, out, _) =
        check_config("[[listen]]\naddress = \"127.0.0.1:7000\"\naccess_token = \"hunter2\"\n");
    assert_eq!(code, 0);
    assert!(out.contains("address = \"127.0.0.1:7000\""), "{out}");
    assert!(
        out.contains("heartbeat_interval_ms = 5000"),
        "defaults are shown: {out}"
    );
    assert!(
        !out.contains("hunter2") && out.contains("<redacted>"),
        "{out}"
    );
}

#[test]
fn check_config_names_the_bad_key_and_exits_78() {
    // Every interval and limit must be positive (0 would spin, or keep nothing).
    for key in [
        "gateway.action_timeout_ms",
        "gateway.rate_limit_interval_ms",
        "gateway.shutdown_grace_ms",
        "retention.max_age_secs",
    ] {
        let (section, name) = key.split_once('.').unwrap();
        let (code, _, err) = check_config(&format!("[{section}]\n{name} = 0\n"));
        assert_eq!(code, 78, "{key}");
        assert!(
            err.contains(key) && err.contains("greater than 0"),
            "{key}: {err}"
        );
    }
    let (code, _, err) = check_config("[[reverse]]\nurl = \"http://x\"\n");
    assert_eq!(code, 78);
    assert!(
        err.contains("reverse[0].url") && err.contains("ws://"),
        "{err}"
    );
}

#[test]
fn init_writes_a_config_that_passes_check_config_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.toml");
    let run = |args: &[&std::ffi::OsStr]| {
        Command::new(env!("CARGO_BIN_EXE_onebot-gateway"))
            .args(args)
            .output()
            .unwrap()
    };
    let init = run(&["init".as_ref(), path.as_os_str()]);
    assert!(init.status.success(), "{init:?}");
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(
        written.contains("[[listen]]") && written.contains("# "),
        "commented: {written}"
    );
    let check = run(&["check-config".as_ref(), path.as_os_str()]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    std::fs::write(&path, "# mine\n").unwrap();
    let again = run(&["init".as_ref(), path.as_os_str()]);
    assert_eq!(again.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&again.stderr).contains("never overwritten"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "# mine\n");
}

/// A gateway process whose stdout lines are collected (and awaited) by the test.
struct Child {
    pid: u32,
    /// The exit code, sent by the thread that waits for the process.
    exited: std::sync::mpsc::Receiver<Option<i32>>,
    exit: Option<Option<i32>>,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Child {
    fn spawn(config: &str, args: &[&str]) -> (Self, tempfile::TempDir) {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, config).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_onebot-gateway"))
            .arg("--config")
            .arg(&path)
            .args(args)
            .env("RUST_LOG", "onebot_gateway=info")
            .env_remove("NO_COLOR")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let pid = child.id();
        let (done, exited) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(child.wait().ok().and_then(|s| s.code()));
        });
        (
            Self {
                pid,
                exited,
                exit: None,
                lines,
                seen: Vec::new(),
            },
            dir,
        )
    }

    /// The first line (from now or already seen) containing `needle`, within 20 s.
    fn wait_line(&mut self, needle: &str) -> String {
        if let Some(l) = self.seen.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("no log line with {needle:?}; seen: {:#?}", self.seen),
            }
        }
    }

    /// The app listener's address, from its "listening for apps" line.
    fn app_addr(&mut self) -> String {
        let line = self.wait_line("listening for apps");
        let addr = line
            .split("addr=")
            .nth(1)
            .and_then(|s| s.split_whitespace().next());
        addr.unwrap_or_else(|| panic!("no addr= in {line}"))
            .to_owned()
    }

    fn signal(&self, sig: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.pid as i32).unwrap();
        rustix::process::kill_process(pid, sig).unwrap();
    }

    /// The exit code, waiting at most `secs`.
    fn exit_code_within(&mut self, secs: u64) -> Option<i32> {
        if self.exit.is_none() {
            self.exit = self
                .exited
                .recv_timeout(std::time::Duration::from_secs(secs))
                .ok();
        }
        self.exit.flatten()
    }

    /// Whether the process is still running (it has not exited yet).
    fn running(&mut self) -> bool {
        if self.exit.is_none() {
            self.exit = self.exited.try_recv().ok();
        }
        self.exit.is_none()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.running() {
            // It may exit on its own meanwhile: a failed kill is no error here.
            if let Some(pid) = rustix::process::Pid::from_raw(self.pid as i32) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
            let _ = self.exited.recv();
        }
    }
}

#[test]
fn the_start_up_banner_lists_urls_to_paste_and_the_sandbox_commands() {
    let (mut gw, _dir) = Child::spawn(
        "[[listen]]\naddress = \"127.0.0.1:0\"\naccess_token = \"t\"\n\
         [[listen]]\naddress = \"127.0.0.1:0\"\nprotocol = \"milky\"\n",
        &[],
    );
    let addr = gw.app_addr();
    let apps = gw.wait_line("apps: ws://");
    assert!(
        apps.contains(&format!("ws://{addr}/"))
            && apps.contains(&format!("http://{addr}/dashboard")),
        "{apps}"
    );
    assert!(apps.contains("token required"), "{apps}");
    assert!(
        !apps.contains('\u{1b}'),
        "no colour codes in a pipe: {apps}"
    );
    let milky = gw.wait_line("Milky apps:");
    assert!(
        milky.contains("/api/:api") && milky.contains("/event"),
        "{milky}"
    );
    assert!(gw.wait_line("bots:").contains("10000"));
    let try_it = gw.wait_line("sandbox: try");
    assert!(
        try_it.contains(&format!(
            "onebot-gateway sandbox --url http://{addr} --token"
        )) && try_it.contains("say --group 100 --user 20001 ping"),
        "{try_it}"
    );
}

#[test]
fn json_logs_are_one_object_per_line() {
    let (mut gw, _dir) = Child::spawn(
        "[[listen]]\naddress = \"127.0.0.1:0\"\n",
        &["--log-format", "json"],
    );
    let line = gw.wait_line("bots:");
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(v["level"], "INFO", "{v}");
    assert!(v["message"].as_str().unwrap().starts_with("bots:"), "{v}");
    let listening: serde_json::Value =
        serde_json::from_str(&gw.wait_line("listening for apps")).unwrap();
    assert!(
        listening["addr"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "fields are keys: {listening}"
    );
}

#[test]
fn a_second_signal_cuts_the_shutdown_short() {
    use std::io::{Read, Write};
    let (mut gw, _dir) = Child::spawn(
        "[gateway]\nclose_timeout_ms = 60000\nshutdown_grace_ms = 60000\n[[listen]]\naddress = \"127.0.0.1:0\"\n",
        &[],
    );
    let addr = gw.app_addr();
    // An app that completes the upgrade and then never answers the Close:
    // the first signal's shutdown waits for it.
    let mut app = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        app,
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut head = [0u8; 12];
    app.read_exact(&mut head).unwrap();
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    gw.signal(rustix::process::Signal::TERM);
    gw.wait_line("shutting down");
    assert!(gw.running(), "the first signal waits for the app's close");
    gw.signal(rustix::process::Signal::TERM);
    gw.wait_line("second signal");
    assert_eq!(gw.exit_code_within(10), Some(130));
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let Ok(version) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!(
            "systemd-analyze is not installed here: contrib/onebot-gateway.service not verified"
        );
        return;
    };
    assert!(version.status.success());
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/contrib/onebot-gateway.service"
    ))
    .unwrap();
    assert!(unit.contains(
        "ExecStart=/usr/local/bin/onebot-gateway --config /etc/onebot-gateway/config.toml"
    ));
    assert!(
        unit.contains("ExecReload=/bin/kill -HUP $MAINPID"),
        "reload is SIGHUP"
    );
    // The binary under test stands in for the installed one.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("onebot-gateway.service");
    std::fs::write(
        &path,
        unit.replace(
            "/usr/local/bin/onebot-gateway",
            env!("CARGO_BIN_EXE_onebot-gateway"),
        ),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Unknown or misspelt directives are only warnings: none is allowed.
    assert!(out.status.success() && stderr.trim().is_empty(), "{stderr}");
}

#[test]
fn completions_and_the_man_page_are_generated() {
    let run = |args: &[&str]| {
        let (code, out, err) = run_cli(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        out
    };
    let bash = run(&["completions", "bash"]);
    assert!(
        bash.contains("check-config") && bash.contains("--log-format"),
        "{bash}"
    );
    assert!(run(&["completions", "zsh"]).contains("#compdef onebot-gateway"));
    let man = run(&["man"]);
    assert!(
        man.starts_with(".ie") || man.contains(".TH onebot-gateway"),
        "{}",
        &man[..200.min(man.len())]
    );
    assert!(man.contains("check\\-config"), "the subcommands are listed");
}

/// `import FROM FILE`: (exit code, the TOML printed, what it says it left out).
fn import(from: &str, fixture: &str) -> (i32, String, String) {
    let path = format!("{}/tests/import/{fixture}", env!("CARGO_MANIFEST_DIR"));
    run_cli(&["import", from, &path])
}

#[test]
fn every_real_default_config_imports_into_one_that_passes_check_config() {
    for (from, fixture) in [
        ("go-cqhttp", "go-cqhttp-default_config.yml"),
        ("go-cqhttp", "go-cqhttp-config-with-servers.yml"),
        ("napcat", "napcat-onebot11-default.json"),
        ("napcat", "napcat-onebot11-every-entry.json"),
        ("lagrange", "lagrange-appsettings.json"),
        ("llonebot", "llonebot-default_config.json"),
        ("llonebot", "llonebot-default_config-v6.json"),
    ] {
        let (code, toml, _) = import(from, fixture);
        assert_eq!(code, 0, "{fixture}");
        let (code, _, err) = check_config(&toml);
        assert_eq!(
            code, 0,
            "{fixture} imported as:\n{toml}\ncheck-config: {err}"
        );
    }
}

#[test]
fn go_cqhttps_servers_become_upstreams_targets_and_the_listener() {
    let (_, toml, skipped) = import("go-cqhttp", "go-cqhttp-config-with-servers.yml");
    let c = onebot_gateway::Config::parse(&toml, "imported").unwrap();
    // Its forward WS server: the gateway dials it; frameworks dial the gateway.
    assert!(toml.contains("url = \"ws://127.0.0.1:8080/\""), "{toml}");
    assert_eq!(c.listen[0].address, "127.0.0.1:6700");
    // go-cqhttp posts CQ strings by default, and its heartbeat is in seconds.
    assert_eq!(
        c.listen[0].options.post_format,
        onebot_gateway::core::PostFormat::String
    );
    assert_eq!(c.gateway.heartbeat_interval_ms, 5000);
    // The template's reverse WS URLs are placeholders, its HTTP API has no counterpart: both said.
    assert!(
        skipped.contains("servers[2].ws-reverse") && skipped.contains("placeholder"),
        "{skipped}"
    );
    assert!(
        skipped.contains("servers[0].http") && skipped.contains("HTTP API"),
        "{skipped}"
    );
    assert!(
        toml.contains("#   not imported: servers[0].http"),
        "the file says it too: {toml}"
    );
}

#[test]
fn napcat_and_lagrange_entries_keep_their_direction_token_and_switch() {
    let (_, toml, _) = import("napcat", "napcat-onebot11-every-entry.json");
    let c = onebot_gateway::Config::parse(&toml, "imported").unwrap();
    // Every entry is off in the file: imported, and off.
    assert!(
        c.upstream.is_empty() && c.reverse.is_empty() && c.http_post.is_empty(),
        "{toml}"
    );
    assert!(toml.matches("enable = false").count() >= 3, "{toml}");
    let on = toml.replace("enable = false", "");
    let c = onebot_gateway::Config::parse(&on, "imported").unwrap();
    assert!(c.upstream.iter().any(|u| matches!(u, onebot_gateway::config::UpstreamConfig::Ws { url, .. } if url == "ws://127.0.0.1:3001/")), "{on}");
    assert!(
        c.upstream
            .iter()
            .any(|u| matches!(u, onebot_gateway::config::UpstreamConfig::WsReverse { .. })),
        "the client now dials the gateway"
    );
    assert_eq!(
        c.reverse[0].url.as_deref(),
        Some("ws://localhost:8082"),
        "and the gateway dials what it dialled"
    );
    assert_eq!(c.http_post[0].url, "http://localhost:8080");

    let (_, toml, _) = import("lagrange", "lagrange-appsettings.json");
    let c = onebot_gateway::Config::parse(&toml, "imported").unwrap();
    assert_eq!(
        c.reverse[0].url.as_deref(),
        Some("ws://127.0.0.1:8080/onebot/v11/ws"),
        "{toml}"
    );
    assert_eq!(c.reverse[0].reconnect_interval_ms, 5000);
    assert!(
        toml.contains("set the implementation's reverse WebSocket URL to ws://127.0.0.1:6701/"),
        "{toml}"
    );
}

#[test]
fn the_sandbox_command_takes_the_gateways_address_and_token_from_its_config() {
    let (mut gw, dir) = Child::spawn(
        "[[listen]]\naddress = \"127.0.0.1:0\"\naccess_token = \"cfg-token\"\n",
        &[],
    );
    let addr = gw.app_addr();
    let config = dir.path().join("c.toml");
    let sandbox = |args: &[&str]| {
        let (code, out, err) = run_cli(args);
        (code == 0, out, err)
    };
    let url = format!("http://{addr}");
    // Without the token: the 401 says how to pass it.
    let (ok, _, err) = sandbox(&[
        "sandbox", "--url", &url, "say", "--group", "100", "--user", "20001", "hi",
    ]);
    assert!(
        !ok && err.contains("401") && err.contains("--token") && err.contains("--config"),
        "{err}"
    );
    // The token from --config.
    let (ok, out, err) = sandbox(&[
        "--config",
        config.to_str().unwrap(),
        "sandbox",
        "--url",
        &url,
        "say",
        "--group",
        "100",
        "--user",
        "20001",
        "hi",
    ]);
    assert!(ok, "{out}{err}");
    // The address from --config, when --url is not given.
    let other = dir.path().join("other.toml");
    std::fs::write(&other, "[[listen]]\naddress = \"127.0.0.1:9\"\n").unwrap();
    let (ok, _, err) = sandbox(&[
        "--config",
        other.to_str().unwrap(),
        "sandbox",
        "poke",
        "--group",
        "100",
        "--user",
        "20001",
    ]);
    assert!(!ok && err.contains("127.0.0.1:9"), "{err}");
}

#[test]
fn log_lines_also_go_to_a_daily_file_from_the_config() {
    let (mut gw, dir) = Child::spawn(
        "[log]\nformat = \"json\"\nfile = \"logs/gateway.log\"\nkeep_days = 3\n[[listen]]\naddress = \"127.0.0.1:0\"\n",
        &[],
    );
    let banner = gw.wait_line("bots:");
    assert!(
        serde_json::from_str::<serde_json::Value>(&banner).is_ok(),
        "[log] format applies to stdout: {banner}"
    );
    gw.signal(rustix::process::Signal::TERM);
    assert_eq!(gw.exit_code_within(20), Some(0));
    // Relative to the config's folder; today's file is <name>.<date>.
    let logs: Vec<_> = std::fs::read_dir(dir.path().join("logs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(
        logs[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("gateway.log."),
        "{logs:?}"
    );
    let text = std::fs::read_to_string(&logs[0]).unwrap();
    assert!(!text.contains('\u{1b}'), "no colour codes in the file");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines.iter().any(|l| l["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("bots:"))),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "shutting down (a second Ctrl-C or SIGTERM exits at once)"),
        "flushed at exit: {text}"
    );
    let (code, _, err) = check_config("[log]\nkeep_days = 0\n");
    assert!(code == 78 && err.contains("log.keep_days"), "{err}");
}
