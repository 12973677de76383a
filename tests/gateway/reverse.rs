//! Reverse WebSocket targets: headers, refusal then acceptance, split layout,
//! redial after the app goes away.
#![allow(clippy::result_large_err)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::Message;

use crate::common::*;

type Headers = Arc<Mutex<Vec<(String, String, String, String)>>>;

/// An app server (like NoneBot's) that refuses the first `refuse` handshakes with 403.
async fn app_server(refuse: usize) -> (TcpListener, Headers, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    (listener, Arc::default(), Arc::new(AtomicUsize::new(refuse)))
}

#[tokio::test]
async fn gateway_dials_with_headers_retries_after_403_and_serves_actions() {
    let (listener, seen, refusals) = app_server(2).await;
    let addr = listener.local_addr().unwrap();
    let gw = start(&format!(
        "[[listen]]\naddress = \"127.0.0.1:0\"\n[[reverse]]\nurl = \"ws://{addr}/onebot/v11/ws\"\naccess_token = \"rt\"\nreconnect_interval_ms = 20\nmax_reconnect_interval_ms = 100\n"
    ))
    .await;
    let mut accepted = None;
    // Two refusals, then the accepted dial: three attempts are all there may be.
    for _ in 0..3 {
        let (stream, _) =
            tokio::time::timeout(std::time::Duration::from_secs(10), listener.accept())
                .await
                .expect("the gateway dials again after a refusal")
                .unwrap();
        let (seen, refusals) = (seen.clone(), refusals.clone());
        let cb = move |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
            let h = |n: &str| {
                req.headers()
                    .get(n)
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default()
            };
            seen.lock().unwrap().push((
                h("X-Self-ID"),
                h("X-Client-Role"),
                h("Authorization"),
                req.uri().path().to_owned(),
            ));
            if refusals.load(Ordering::SeqCst) > 0 {
                refusals.fetch_sub(1, Ordering::SeqCst);
                let mut refuse = ErrorResponse::new(Some("Duplicate X-Self-ID".into()));
                *refuse.status_mut() = http::StatusCode::FORBIDDEN;
                return Err(refuse);
            }
            Ok(resp)
        };
        if let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, cb).await {
            accepted = Some(ws);
            break;
        }
    }
    let mut ws = accepted.expect("the third dial is accepted");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 3, "two refusals, then accepted");
        for (self_id, role, auth, path) in seen.iter() {
            assert_eq!(self_id, "10000");
            assert_eq!(role, "Universal");
            assert_eq!(auth, "Bearer rt");
            assert_eq!(path, "/onebot/v11/ws");
        }
    }
    let first: Value = match ws.next().await.unwrap().unwrap() {
        Message::Text(t) => serde_json::from_str(&t).unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(first["meta_event_type"], "lifecycle");
    assert_eq!(first["self_id"], 10000);
    ws.send(Message::Text(
        json!({"action": "get_login_info", "echo": "r1"})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    loop {
        let Message::Text(t) = ws.next().await.unwrap().unwrap() else {
            continue;
        };
        let v: Value = serde_json::from_str(&t).unwrap();
        if v.get("post_type").is_none() {
            assert_eq!(v["echo"], "r1");
            assert_eq!(v["data"]["user_id"], 10000);
            break;
        }
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn split_layout_dials_api_and_event_with_their_roles() {
    let api = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let event = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw = start(&format!(
        "[[listen]]\naddress = \"127.0.0.1:0\"\n[[reverse]]\napi_url = \"ws://{}/api\"\nevent_url = \"ws://{}/event\"\n",
        api.local_addr().unwrap(),
        event.local_addr().unwrap()
    ))
    .await;
    for (listener, want) in [(&api, "API"), (&event, "Event")] {
        let (stream, _) = listener.accept().await.unwrap();
        let role = Arc::new(Mutex::new(String::new()));
        let r = role.clone();
        let _ws =
            tokio_tungstenite::accept_hdr_async(stream, move |req: &Request, resp: Response| {
                *r.lock().unwrap() = req.headers()["X-Client-Role"].to_str().unwrap().to_owned();
                Ok(resp)
            })
            .await
            .unwrap();
        assert_eq!(*role.lock().unwrap(), want);
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn redials_after_the_app_restarts_without_overlapping_connections() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let gw = start(&format!(
        "[[listen]]\naddress = \"127.0.0.1:0\"\n[[reverse]]\nurl = \"ws://{addr}/\"\nreconnect_interval_ms = 20\nmax_reconnect_interval_ms = 50\n"
    ))
    .await;
    let (stream, _) = listener.accept().await.unwrap();
    let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
    ws.next().await.unwrap().unwrap();
    // The app closes; the gateway's old session must be gone before the new dial.
    ws.close(None).await.unwrap();
    drop(ws);
    let (stream, _) = listener.accept().await.unwrap();
    let registry = gw.hub.registry.clone();
    assert_eq!(
        registry.apps.len(),
        0,
        "old session unregistered before redial"
    );
    let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
    let Message::Text(t) = ws.next().await.unwrap().unwrap() else {
        panic!()
    };
    assert!(t.contains("lifecycle"));
    gw.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_reverse_connections_with_a_reason() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let gw = start(&format!(
        "[[listen]]\naddress = \"127.0.0.1:0\"\n[[reverse]]\nurl = \"ws://{addr}/\"\n"
    ))
    .await;
    let (stream, _) = listener.accept().await.unwrap();
    let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
    ws.next().await.unwrap().unwrap();
    let shutdown = tokio::spawn(gw.shutdown());
    let close = loop {
        match ws.next().await {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    let frame = close.expect("a close reason");
    assert_eq!(u16::from(frame.code), 1001);
    assert!(frame.reason.contains("shutting down"));
    shutdown.await.unwrap();
}
