//! A scripted fake OneBot implementation (what NapCat or go-cqhttp look like
//! from the gateway): a forward WebSocket server that says it is bot 42,
//! sends heartbeats, answers every action with an echo of it, and posts a
//! group message every few seconds.
//!
//! ```sh
//! cargo run --example fake_implementation            # listens on 127.0.0.1:3001
//! # config.toml:
//! #   [[upstream]]
//! #   type = "ws"
//! #   url = "ws://127.0.0.1:3001/"
//! cargo run -- --config config.toml
//! ```
//! Options: `fake_implementation [127.0.0.1:3001] [self_id]`.

use std::sync::Arc;
use std::time::Duration;

use onebot_gateway::testkit::{group_message, FakeImplementation};
use serde_json::json;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let address = args
        .next()
        .unwrap_or_else(|| String::from("127.0.0.1:3001"));
    let self_id: i64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(42);
    let script = Arc::new(
        move |action: &str, params: &serde_json::Value| match action {
            "get_login_info" => Some(json!({"user_id": self_id, "nickname": "fake"})),
            "send_msg" | "send_group_msg" | "send_private_msg" => Some(json!({"message_id": 1})),
            _ => Some(json!({"echoed_action": action, "params": params})),
        },
    );
    let fake = FakeImplementation::start_at(&address, self_id, script).await;
    println!("fake implementation (bot {self_id}) on ws://{}/", fake.addr);
    let mut n = 0;
    loop {
        tokio::time::sleep(Duration::from_secs(3)).await;
        n += 1;
        fake.push(&group_message(self_id, n, &format!("hello #{n}")));
    }
}
