//! A minimal OneBot v11 app (what a framework does, in 60 lines): connects to
//! the gateway's forward WebSocket, prints events, and answers "ping" in any
//! group with "pong" through `send_msg`.
//!
//! ```sh
//! cargo run                                   # the gateway, sandbox bot 10000
//! cargo run --example minimal_app             # this app
//! cargo run -- sandbox say --group 100 --user 20001 ping   # someone says ping
//! ```
//! Options: `minimal_app [ws://127.0.0.1:6700/] [token]`.

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| String::from("ws://127.0.0.1:6700/"));
    let mut request = url.as_str().into_client_request()?;
    if let Some(token) = args.next() {
        request
            .headers_mut()
            .insert("Authorization", format!("Bearer {token}").parse()?);
    }
    let (ws, _) = tokio_tungstenite::connect_async(request).await?;
    let (mut sink, mut stream) = ws.split();
    let mut echo = 0u64;
    while let Some(frame) = stream.next().await {
        let Message::Text(text) = frame? else {
            continue;
        };
        let frame: Value = serde_json::from_str(&text)?;
        if frame.get("post_type").is_none() {
            println!("answer: {frame}");
            continue;
        }
        match frame["post_type"].as_str() {
            Some("meta_event") if frame["meta_event_type"] == "lifecycle" => {
                println!("connected as bot {}", frame["self_id"]);
            }
            Some("meta_event") => {}
            Some("message") => {
                println!(
                    "message from {}: {}",
                    frame["user_id"], frame["raw_message"]
                );
                if frame["raw_message"]
                    .as_str()
                    .is_some_and(|m| m.trim() == "ping")
                {
                    echo += 1;
                    let mut params =
                        json!({"message_type": frame["message_type"], "message": "pong"});
                    match frame["message_type"].as_str() {
                        Some("group") => params["group_id"] = frame["group_id"].clone(),
                        _ => params["user_id"] = frame["user_id"].clone(),
                    }
                    let action = json!({"action": "send_msg", "params": params, "echo": echo});
                    sink.send(Message::Text(action.to_string().into())).await?;
                }
            }
            _ => println!("event: {frame}"),
        }
    }
    Ok(())
}
