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
