//! The command line: `check-config` validates, masks secrets, names bad keys.

use std::process::Command;

fn check_config(text: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_onebot-gateway"))
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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
