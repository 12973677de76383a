//! Reloading the configuration without a restart.

use std::process::Command;
use std::time::Duration;

use futures::StreamExt;
use onebot_gateway::testkit::AppClient;
use onebot_gateway::Config;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

use crate::common::*;

fn config(text: &str) -> Config {
    Config::parse(text, "reload-test").unwrap()
}

#[tokio::test]
async fn reverse_targets_start_and_stop_with_the_configuration() {
    let base = "[[listen]]\naddress = \"127.0.0.1:0\"\n";
    let gw = start(base).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let with_target = format!(
        "{base}[[reverse]]\nname = \"nb\"\nurl = \"ws://{}/\"\n",
        listener.local_addr().unwrap()
    );
    let report = gw.reload(config(&with_target));
    assert_eq!(report, vec!["reverse nb: started"]);
    let (stream, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .unwrap()
        .unwrap();
    let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
    let Message::Text(first) = ws.next().await.unwrap().unwrap() else {
        panic!()
    };
    assert!(first.contains("lifecycle"));
    // Unchanged: nothing happens. Removed: closed with a reason.
    assert!(gw.reload(config(&with_target)).is_empty());
    assert_eq!(gw.reload(config(base)), vec!["reverse nb: stopped"]);
    let frame = loop {
        match ws.next().await {
            Some(Ok(Message::Close(frame))) => break frame.expect("a reason"),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(u16::from(frame.code), 1001);
    assert!(frame
        .reason
        .contains("removed from the gateway's configuration"));
    gw.shutdown().await;
}

#[tokio::test]
async fn tokens_and_named_apps_change_in_place_and_the_rest_is_reported() {
    let gw = start("[[listen]]\naddress = \"127.0.0.1:0\"\naccess_token = \"old\"\n").await;
    let addr = gw.listen_addrs[0];
    let new = format!(
        "[gateway]\naction_timeout_ms = 1000\n[[listen]]\naddress = \"{addr}\"\naccess_token = \"new\"\n[[apps]]\nname = \"bot\"\naccess_token = \"own\"\n"
    );
    let report = gw.reload(config(&new));
    assert!(
        report.contains(&String::from(
            "listen[0]: token, origins, limits and app options updated"
        )),
        "{report:?}"
    );
    assert!(
        report.contains(&String::from("apps: updated")),
        "{report:?}"
    );
    assert!(
        report.contains(&String::from("gateway: changed: needs a restart")),
        "{report:?}"
    );
    let url = format!("ws://{addr}/");
    assert!(
        AppClient::connect(&url, Some("old")).await.is_err(),
        "the old token is refused"
    );
    assert!(AppClient::connect(&url, Some("new")).await.is_ok());
    assert!(
        AppClient::connect(&url, Some("own")).await.is_ok(),
        "the named app's own token works"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn sighup_reloads_the_file_and_a_bad_file_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.toml");
    let write = |address: &str, token: &str| {
        std::fs::write(
            &path,
            format!("[[listen]]\naddress = \"{address}\"\naccess_token = \"{token}\"\n"),
        )
        .unwrap()
    };
    write("127.0.0.1:0", "a");
    let child = GatewayChild::spawn(&path).await;
    // The file names the bound address from now on: a reload keeps the listener.
    let address = child.addr.to_string();
    let url = format!("ws://{address}/");
    let accepts = |token: &'static str| {
        let url = url.clone();
        async move { AppClient::connect(&url, Some(token)).await.is_ok() }
    };
    assert!(accepts("a").await, "gateway started with token a");
    let hup = || {
        Command::new("kill")
            .arg("-HUP")
            .arg(child.child.id().to_string())
            .status()
            .unwrap()
    };
    let logged = |what: &'static str| {
        let log = child.log.clone();
        eventually(what, move || {
            log.lock().unwrap().iter().any(|l| l.contains(what))
        })
    };
    // A broken file: refused, the running configuration stays.
    std::fs::write(&path, "[[listen]]\naddress = 5\n").unwrap();
    assert!(hup().success());
    logged("reload refused; the running configuration stays").await;
    assert!(accepts("a").await, "still the old configuration");
    write(&address, "b");
    assert!(hup().success());
    logged("configuration reloaded").await;
    assert!(accepts("b").await, "SIGHUP applied the new token");
    assert!(!accepts("a").await);
}
