//! Milky on both sides. Upstream: a scripted Milky implementation written
//! from the spec (SaltifyDev/milky: `POST /api/:api` with Bearer auth and the
//! `{status, retcode, data, message}` envelope, `GET /event` as WebSocket or
//! SSE by the `Upgrade` header) behind a `type = "milky"` upstream, read by a
//! v11 app. Listener: raw HTTP and WebSocket clients on `protocol = "milky"`
//! in front of the sandbox. Chain: sandbox → Milky listener → Milky upstream
//! of a second gateway → v11 app.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::{SinkExt, StreamExt};
use onebot_gateway::testkit::AppClient;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;

use crate::common::*;

const TOKEN: &str = "milky-secret";
const UIN: i64 = 30000;

/// What the scripted implementation answers one API with.
#[derive(Clone)]
enum Reply {
    /// `{status: ok, retcode: 0, data}`.
    Data(Value),
    /// `{status: failed, retcode, message}` (HTTP 200).
    Failed(i64, &'static str),
    /// Only an HTTP status.
    Status(u16),
}

struct ImplState {
    events: broadcast::Sender<String>,
    calls: mpsc::UnboundedSender<(String, Value)>,
    script: Mutex<HashMap<String, Reply>>,
    next_seq: Mutex<i64>,
}

/// A Milky implementation logged in as [`UIN`], driven by the test.
struct MilkyImpl {
    addr: SocketAddr,
    state: Arc<ImplState>,
    calls: mpsc::UnboundedReceiver<(String, Value)>,
}

impl MilkyImpl {
    async fn start() -> Self {
        let (events, _) = broadcast::channel(256);
        let (calls_tx, calls) = mpsc::unbounded_channel();
        let state = Arc::new(ImplState {
            events,
            calls: calls_tx,
            script: Mutex::new(HashMap::new()),
            next_seq: Mutex::new(100),
        });
        let app = axum::Router::new()
            .route("/api/{api}", post(api))
            .route("/event", get(event))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, state, calls }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn answer(&self, api: &str, reply: Reply) {
        self.state.script.lock().unwrap().insert(api.into(), reply);
    }

    /// Pushes one event frame (any text) to every event stream.
    fn push_text(&self, text: String) {
        let _ = self.state.events.send(text);
    }

    fn push(&self, event_type: &str, data: Value) {
        self.push_text(
            json!({"time": 1_700_000_000, "self_id": UIN, "event_type": event_type, "data": data})
                .to_string(),
        );
    }

    /// The next API call the gateway made, other than `get_login_info`.
    async fn next_call(&mut self) -> (String, Value) {
        loop {
            let call = tokio::time::timeout(std::time::Duration::from_secs(10), self.calls.recv())
                .await
                .expect("the gateway calls the implementation")
                .unwrap();
            if call.0 != "get_login_info" {
                return call;
            }
        }
    }
}

fn envelope(reply: Reply) -> Response {
    match reply {
        Reply::Data(data) => {
            axum::Json(json!({"status": "ok", "retcode": 0, "data": data})).into_response()
        }
        Reply::Failed(retcode, message) => {
            axum::Json(json!({"status": "failed", "retcode": retcode, "message": message}))
                .into_response()
        }
        Reply::Status(code) => StatusCode::from_u16(code).unwrap().into_response(),
    }
}

async fn api(State(s): State<Arc<ImplState>>, Path(name): Path<String>, req: Request) -> Response {
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {TOKEN}")) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if !ctype.is_some_and(|c| c.starts_with("application/json")) {
        return StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response();
    }
    let bytes = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&bytes).expect("the gateway sends JSON bodies");
    assert!(
        body.is_object(),
        "every call sends an object, `{{}}` for none: {body}"
    );
    let _ = s.calls.send((name.clone(), body));
    if let Some(reply) = s.script.lock().unwrap().get(&name).cloned() {
        return envelope(reply);
    }
    envelope(Reply::Data(match name.as_str() {
        "get_login_info" => json!({"uin": UIN, "nickname": "milky bot"}),
        "send_group_message" | "send_private_message" => {
            let mut seq = s.next_seq.lock().unwrap();
            *seq += 1;
            json!({"message_seq": *seq, "time": 1_700_000_001})
        }
        _ => json!({}),
    }))
}

async fn event(State(s): State<Arc<ImplState>>, mut req: Request) -> Response {
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {TOKEN}")) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let mut events = s.events.subscribe();
    let upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok());
    if upgrade.is_some_and(|u| u.eq_ignore_ascii_case("websocket")) {
        let key = req.headers()[header::SEC_WEBSOCKET_KEY].as_bytes().to_vec();
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(on_upgrade.await.unwrap());
            let mut ws =
                tokio_tungstenite::WebSocketStream::from_raw_socket(io, Role::Server, None).await;
            loop {
                tokio::select! {
                    e = events.recv() => match e {
                        Ok(text) => if ws.send(Message::Text(text.into())).await.is_err() { return },
                        Err(_) => return,
                    },
                    m = ws.next() => match m {
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                        _ => {}
                    },
                }
            }
        });
        return Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::CONNECTION, "upgrade")
            .header(header::UPGRADE, "websocket")
            .header(header::SEC_WEBSOCKET_ACCEPT, derive_accept_key(&key))
            .body(Body::empty())
            .unwrap();
    }
    let stream = async_stream(events);
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(Body::from_stream(stream))
        .unwrap()
}

/// SSE: one `milky_event` message per event, its JSON split over two
/// `data:` lines where it can be (the spec's examples are pretty-printed).
fn async_stream(
    events: broadcast::Receiver<String>,
) -> impl futures::Stream<Item = Result<String, std::convert::Infallible>> {
    futures::stream::unfold(events, |mut events| async move {
        let text = events.recv().await.ok()?;
        let body = match text.split_once(",\"data\"") {
            Some((a, b)) => format!("data: {a}\ndata: ,\"data\"{b}"),
            None => format!("data: {text}"),
        };
        Some((
            Ok(format!(": comment\nevent: milky_event\n{body}\n\n")),
            events,
        ))
    })
}

async fn milky_gateway(
    imp: &MilkyImpl,
    events: &str,
    store: &std::path::Path,
) -> onebot_gateway::Gateway {
    start(&format!(
        "[[listen]]\naddress = \"127.0.0.1:0\"\n\
         [[upstream]]\ntype = \"milky\"\nurl = \"{}\"\naccess_token = \"{TOKEN}\"\nevents = \"{events}\"\nstore = \"{}\"\n",
        imp.url(),
        store.display()
    ))
    .await
}

async fn online(gw: &onebot_gateway::Gateway, self_id: i64) {
    eventually("the Milky bot is online", || {
        gw.hub
            .registry
            .bot(self_id)
            .is_some_and(|b| b.upstream().is_some())
    })
    .await;
}

/// Approves, through its flag, the friend request that is the app's next event.
async fn approve_the_next_friend_request(app: &mut AppClient) {
    let request = next_event(app).await;
    assert_eq!(request["request_type"], "friend", "{request}");
    let answer = app
        .call(
            "set_friend_add_request",
            json!({"flag": request["flag"], "approve": true}),
        )
        .await;
    assert_eq!(answer["status"], "ok", "{answer}");
}

/// The next event the app receives that is not a meta event.
async fn next_event(app: &mut AppClient) -> Value {
    app.next_non_meta().await.expect("an event arrives")
}

fn group_message(seq: i64, text: &str) -> Value {
    json!({
        "message_scene": "group", "peer_id": 500, "message_seq": seq, "sender_id": 42, "time": 1_700_000_000,
        "segments": [{"type": "text", "data": {"text": text}}, {"type": "mention", "data": {"user_id": UIN, "name": "bot"}}],
        "group": {"group_id": 500, "group_name": "g", "member_count": 3, "max_member_count": 200},
        "group_member": {"user_id": 42, "nickname": "Ann", "sex": "female", "group_id": 500, "card": "A", "title": "", "level": 2, "role": "member", "join_time": 0, "last_sent_time": 0},
    })
}

/// Every Milky event type reaches a v11 app as its v11 counterpart, in
/// order; frames that are not Milky events are ignored and counted.
async fn events_map_row_by_row(events: &str) {
    let dir = tempfile::tempdir().unwrap();
    let imp = MilkyImpl::start().await;
    let gw = milky_gateway(&imp, events, &dir.path().join("ids.db")).await;
    online(&gw, UIN).await;
    let mut app = app(&gw, "/", "").await;
    let friend = json!({"user_id": 42, "nickname": "Ann", "sex": "female", "qid": "", "remark": "", "category": {"category_id": 0, "category_name": ""}});
    let rows: Vec<(&str, Value, Value)> = vec![
        (
            "message_receive",
            group_message(7, "hi "),
            json!({"post_type": "message", "message_type": "group", "group_id": 500, "user_id": 42, "raw_message": format!("hi [CQ:at,qq={UIN},name=bot]")}),
        ),
        (
            "message_receive",
            json!({"message_scene": "friend", "peer_id": 42, "message_seq": 3, "sender_id": 42, "time": 1, "segments": [{"type": "text", "data": {"text": "yo"}}], "friend": friend}),
            json!({"message_type": "private", "sub_type": "friend", "user_id": 42}),
        ),
        (
            "message_receive",
            json!({"message_scene": "temp", "peer_id": 43, "message_seq": 1, "sender_id": 43, "time": 1, "segments": [], "group": {"group_id": 500, "group_name": "g", "member_count": 3, "max_member_count": 200}}),
            json!({"message_type": "private", "sub_type": "group", "group_id": 500}),
        ),
        (
            "message_recall",
            json!({"message_scene": "group", "peer_id": 500, "message_seq": 7, "sender_id": 42, "operator_id": 42, "display_suffix": ""}),
            json!({"notice_type": "group_recall", "group_id": 500, "operator_id": 42}),
        ),
        (
            "message_recall",
            json!({"message_scene": "friend", "peer_id": 42, "message_seq": 3, "sender_id": 42, "operator_id": 42, "display_suffix": ""}),
            json!({"notice_type": "friend_recall", "user_id": 42}),
        ),
        (
            "friend_request",
            json!({"initiator_id": 44, "initiator_uid": "u_44", "comment": "add me", "via": "search"}),
            json!({"post_type": "request", "request_type": "friend", "user_id": 44, "comment": "add me", "flag": "milky:friend:0:u_44"}),
        ),
        (
            "group_join_request",
            json!({"group_id": 500, "notification_seq": 9, "is_filtered": false, "initiator_id": 45, "comment": "let me in"}),
            json!({"request_type": "group", "sub_type": "add", "user_id": 45, "flag": "milky:join:500:9:0"}),
        ),
        (
            "group_invited_join_request",
            json!({"group_id": 500, "notification_seq": 10, "initiator_id": 42, "target_user_id": 46}),
            json!({"request_type": "group", "sub_type": "add", "user_id": 46, "invitor_id": 42, "flag": "milky:invited:500:10"}),
        ),
        (
            "group_invitation",
            json!({"group_id": 501, "invitation_seq": 11, "initiator_id": 42}),
            json!({"request_type": "group", "sub_type": "invite", "group_id": 501, "flag": "milky:invitation:501:11"}),
        ),
        (
            "friend_nudge",
            json!({"user_id": 42, "is_self_send": false, "is_self_receive": true, "display_action": "戳了戳", "display_suffix": "", "display_action_img_url": ""}),
            json!({"notice_type": "notify", "sub_type": "poke", "user_id": 42, "target_id": UIN}),
        ),
        (
            "group_nudge",
            json!({"group_id": 500, "sender_id": 42, "receiver_id": UIN, "display_action": "戳了戳", "display_suffix": "", "display_action_img_url": ""}),
            json!({"notice_type": "notify", "sub_type": "poke", "group_id": 500, "user_id": 42, "target_id": UIN}),
        ),
        (
            "friend_file_upload",
            json!({"user_id": 42, "file_id": "f1", "file_name": "a.txt", "file_size": 3, "file_hash": "h", "is_self": false}),
            json!({"notice_type": "offline_file", "user_id": 42, "file": {"id": "f1", "name": "a.txt", "size": 3, "url": ""}}),
        ),
        (
            "group_file_upload",
            json!({"group_id": 500, "user_id": 42, "file_id": "f2", "file_name": "b.txt", "file_size": 4}),
            json!({"notice_type": "group_upload", "group_id": 500, "user_id": 42, "file": {"id": "f2", "name": "b.txt", "size": 4, "busid": 0}}),
        ),
        (
            "group_admin_change",
            json!({"group_id": 500, "user_id": 42, "operator_id": 1, "is_set": true}),
            json!({"notice_type": "group_admin", "sub_type": "set", "user_id": 42}),
        ),
        (
            "group_essence_message_change",
            json!({"group_id": 500, "message_seq": 7, "operator_id": 1, "is_set": true}),
            json!({"notice_type": "essence", "sub_type": "add", "operator_id": 1}),
        ),
        (
            "group_member_increase",
            json!({"group_id": 500, "user_id": 47, "invitor_id": 42}),
            json!({"notice_type": "group_increase", "sub_type": "invite", "user_id": 47, "operator_id": 42}),
        ),
        (
            "group_member_decrease",
            json!({"group_id": 500, "user_id": 47, "operator_id": 1}),
            json!({"notice_type": "group_decrease", "sub_type": "kick", "operator_id": 1}),
        ),
        (
            "group_mute",
            json!({"group_id": 500, "user_id": 42, "operator_id": 1, "duration": 60}),
            json!({"notice_type": "group_ban", "sub_type": "ban", "duration": 60}),
        ),
        (
            "group_whole_mute",
            json!({"group_id": 500, "operator_id": 1, "is_mute": false}),
            json!({"notice_type": "group_ban", "sub_type": "lift_ban", "user_id": 0}),
        ),
        (
            "group_name_change",
            json!({"group_id": 500, "new_group_name": "new", "operator_id": 1}),
            json!({"notice_type": "notify", "sub_type": "group_name", "name_new": "new"}),
        ),
        (
            "group_message_reaction",
            json!({"group_id": 500, "user_id": 42, "message_seq": 7, "face_id": "76", "reaction_type": "face", "is_add": true}),
            json!({"notice_type": "group_msg_emoji_like", "likes": [{"emoji_id": "76", "count": 1}]}),
        ),
        (
            "peer_pin_change",
            json!({"message_scene": "friend", "peer_id": 42, "is_pinned": true}),
            json!({"notice_type": "peer_pin_change", "is_pinned": true}),
        ),
        (
            "bot_offline",
            json!({"reason": "kicked"}),
            json!({"notice_type": "bot_offline", "message": "kicked"}),
        ),
    ];
    let mut first_id = None;
    for (i, (event_type, data, want)) in rows.iter().enumerate() {
        if i == 1 {
            // Bad input between two good events: neither stops the stream.
            imp.push_text(String::from("not json"));
            imp.push("a_type_from_the_future", json!({"x": 1}));
        }
        imp.push(event_type, data.clone());
        let got = next_event(&mut app).await;
        for (k, v) in want.as_object().unwrap() {
            assert_eq!(&got[k], v, "{event_type} → {k} in {got}");
        }
        assert_eq!(got["self_id"], UIN);
        match i {
            0 => first_id = Some(got["message_id"].as_i64().expect("a message id")),
            // The recall, the essence and the reaction name the message the app saw.
            3 | 14 | 20 => assert_eq!(got["message_id"].as_i64(), first_id, "{event_type}: {got}"),
            _ => {}
        }
    }
    let bot = gw.hub.registry.bot(UIN).unwrap();
    let ignored: u64 = bot
        .links
        .all()
        .iter()
        .map(|l| l.events_ignored.load(std::sync::atomic::Ordering::Relaxed))
        .sum();
    assert_eq!(
        ignored, 2,
        "the non-JSON frame and the unknown type are counted"
    );
    let (_, status) = http_get(gw.listen_addrs[0], "/status", None).await;
    assert!(
        status.to_string().contains("\"events_ignored\":2"),
        "{status}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn milky_events_over_websocket_map_row_by_row() {
    events_map_row_by_row("ws").await;
}

#[tokio::test]
async fn milky_events_over_sse_map_row_by_row() {
    events_map_row_by_row("sse").await;
}

#[tokio::test]
async fn v11_actions_become_milky_calls_and_answers_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut imp = MilkyImpl::start().await;
    let gw = milky_gateway(&imp, "ws", &dir.path().join("ids.db")).await;
    online(&gw, UIN).await;
    let mut app = app(&gw, "/", "").await;

    // A message in, a reply to it out: the reply quotes the Milky seq.
    imp.push("message_receive", group_message(7, "ping"));
    let ping = next_event(&mut app).await;
    let ping_id = ping["message_id"].as_i64().unwrap();
    let answer = app
        .call("send_group_msg", json!({"group_id": 500, "message": format!("[CQ:reply,id={ping_id}]pong [CQ:at,qq=42]")}))
        .await;
    assert_eq!(answer["status"], "ok", "{answer}");
    let (api, body) = imp.next_call().await;
    assert_eq!(api, "send_group_message");
    assert_eq!(
        body,
        json!({"group_id": 500, "message": [
            {"type": "reply", "data": {"message_seq": 7}},
            {"type": "text", "data": {"text": "pong "}},
            {"type": "mention", "data": {"user_id": 42}},
        ]})
    );
    let pong_id = answer["data"]["message_id"].as_i64().unwrap();
    assert!(
        pong_id > 0 && pong_id <= i64::from(i32::MAX),
        "an int32 id: {pong_id}"
    );

    // Recalling the reply recalls the seq the implementation gave it.
    let answer = app.call("delete_msg", json!({"message_id": pong_id})).await;
    assert_eq!(answer["status"], "ok", "{answer}");
    assert_eq!(
        imp.next_call().await,
        (
            "recall_group_message".into(),
            json!({"group_id": 500, "message_seq": 101})
        )
    );

    // A friend request's flag carries what accepting it needs.
    imp.push(
        "friend_request",
        json!({"initiator_id": 44, "initiator_uid": "u_44", "comment": "", "via": ""}),
    );
    approve_the_next_friend_request(&mut app).await;
    assert_eq!(
        imp.next_call().await,
        (
            "accept_friend_request".into(),
            json!({"initiator_uid": "u_44", "is_filtered": false})
        )
    );

    // Lists and infos are mapped field by field.
    imp.answer("get_group_member_info", Reply::Data(json!({"member": {
        "user_id": 42, "nickname": "Ann", "sex": "female", "group_id": 500, "card": "A", "title": "t", "level": 9,
        "role": "admin", "join_time": 5, "last_sent_time": 6, "shut_up_end_time": null,
    }})));
    let answer = app
        .call(
            "get_group_member_info",
            json!({"group_id": 500, "user_id": 42}),
        )
        .await;
    assert_eq!(imp.next_call().await.0, "get_group_member_info");
    let m = &answer["data"];
    assert_eq!(
        (m["role"].as_str(), m["card"].as_str(), m["level"].as_str()),
        (Some("admin"), Some("A"), Some("9")),
        "{answer}"
    );
    let answer = app.call("get_login_info", json!({})).await;
    assert_eq!(
        answer["data"],
        json!({"user_id": UIN, "nickname": "milky bot"})
    );

    // What Milky cannot do, and what the implementation refuses, are clear answers.
    let answer = app
        .call("get_group_honor_info", json!({"group_id": 500}))
        .await;
    assert_eq!(answer["retcode"], 1404);
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("get_group_honor_info"),
        "{answer}"
    );
    let answer = app.call("delete_msg", json!({"message_id": 999_999})).await;
    assert_eq!(answer["retcode"], 1404, "{answer}");
    imp.answer("get_group_list", Reply::Status(500));
    let answer = app.call("get_group_list", json!({})).await;
    assert_eq!(answer["retcode"], 1500, "{answer}");
    assert!(
        answer["message"].as_str().unwrap().contains("HTTP 500"),
        "{answer}"
    );
    imp.answer(
        "set_group_member_mute",
        Reply::Failed(-400, "duration out of range"),
    );
    let answer = app
        .call(
            "set_group_ban",
            json!({"group_id": 500, "user_id": 42, "duration": 60}),
        )
        .await;
    assert_eq!(answer["retcode"], 1400, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("duration out of range"),
        "{answer}"
    );
    // The bot is still served after all of that.
    let answer = app
        .call(
            "send_private_msg",
            json!({"user_id": 42, "message": "still here"}),
        )
        .await;
    assert_eq!(answer["status"], "ok", "{answer}");
    gw.shutdown().await;
}

#[tokio::test]
async fn milky_message_ids_survive_a_gateway_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("ids.db");
    let mut imp = MilkyImpl::start().await;
    let gw = milky_gateway(&imp, "ws", &store).await;
    online(&gw, UIN).await;
    let mut a = app(&gw, "/", "").await;
    imp.push("message_receive", group_message(7, "keep me"));
    let id = next_event(&mut a).await["message_id"].as_i64().unwrap();
    drop(a);
    gw.shutdown().await;

    let gw = milky_gateway(&imp, "ws", &store).await;
    online(&gw, UIN).await;
    let mut a = app(&gw, "/", "").await;
    imp.answer(
        "get_message",
        Reply::Data(json!({"message": group_message(7, "keep me")})),
    );
    let answer = a.call("get_msg", json!({"message_id": id})).await;
    assert_eq!(
        imp.next_call().await,
        (
            "get_message".into(),
            json!({"message_scene": "group", "peer_id": 500, "message_seq": 7})
        )
    );
    assert_eq!(answer["data"]["message_id"], id, "{answer}");
    assert_eq!(answer["data"]["message"][0]["data"]["text"], "keep me");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_wrong_token_or_account_keeps_the_bot_offline_and_says_why() {
    let imp = MilkyImpl::start().await;
    // A dial with this token and self_id ends with an error saying all of `says`.
    let refused = |token: &'static str, self_id: i64, says: &'static [&'static str]| {
        let url = imp.url();
        async move {
            let gw = start(&format!(
                "[[listen]]\naddress = \"127.0.0.1:0\"\n\
                 [[upstream]]\ntype = \"milky\"\nurl = \"{url}\"\naccess_token = \"{token}\"\nself_id = {self_id}\n"
            ))
            .await;
            eventually(&format!("the dial says {says:?}"), || {
                gw.hub.registry.dials.iter().any(|d| {
                    d.last_error
                        .as_deref()
                        .is_some_and(|e| says.iter().all(|s| e.contains(s)))
                })
            })
            .await;
            assert!(gw.hub.registry.bot(self_id).unwrap().upstream().is_none());
            gw.shutdown().await;
        }
    };
    refused("wrong", UIN, &["401"]).await;
    refused(TOKEN, 1234, &["logged in as 30000", "1234"]).await;
}

// --- The Milky listener, in front of the sandbox. ---

async fn milky_listener() -> onebot_gateway::Gateway {
    start(&format!(
        "[[listen]]\naddress = \"127.0.0.1:0\"\n\
         [[listen]]\naddress = \"127.0.0.1:0\"\nprotocol = \"milky\"\naccess_token = \"{TOKEN}\"\n"
    ))
    .await
}

async fn milky_call(gw: &onebot_gateway::Gateway, api: &str, body: Value) -> (u16, Value) {
    http_request(
        gw.listen_addrs[1],
        "POST",
        &format!("/api/{api}"),
        Some(TOKEN),
        Some(("application/json", &body.to_string())),
    )
    .await
}

#[tokio::test]
async fn the_milky_listener_answers_as_the_spec_says() {
    let gw = milky_listener().await;
    let addr = gw.listen_addrs[1];
    let login = |token: Option<&'static str>, ctype: &'static str, body: &'static str| {
        http_request(
            addr,
            "POST",
            "/api/get_login_info",
            token,
            Some((ctype, body)),
        )
    };
    assert_eq!(
        login(None, "application/json", "{}").await.0,
        401,
        "no token"
    );
    assert_eq!(
        login(Some("nope"), "application/json", "{}").await.0,
        401,
        "wrong token"
    );
    assert_eq!(login(Some(TOKEN), "text/plain", "{}").await.0, 415);
    let (status, _) = milky_call(&gw, "no_such_api", json!({})).await;
    assert_eq!(status, 404);
    let (status, body) = milky_call(&gw, "get_login_info", json!({})).await;
    assert_eq!(
        (status, &body),
        (
            200,
            &json!({"status": "ok", "retcode": 0, "data": {"uin": 10000, "nickname": "sandbox"}})
        )
    );
    let (status, body) = milky_call(
        &gw,
        "get_message",
        json!({"message_scene": "nowhere", "peer_id": 1, "message_seq": 1}),
    )
    .await;
    assert_eq!(
        (status, body["status"].as_str(), body["retcode"].as_i64()),
        (200, Some("failed"), Some(-400)),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("message_scene"),
        "{body}"
    );
    let (_, body) = login(Some(TOKEN), "application/json", "[1]").await;
    assert_eq!(body["retcode"], -400, "{body}");
    let (_, body) = milky_call(&gw, "get_group_info", json!({"group_id": 100})).await;
    assert_eq!(body["data"]["group"]["group_id"], 100, "{body}");
    assert!(body["data"]["group"]["group_name"].is_string(), "{body}");
    let (_, body) = milky_call(&gw, "get_group_member_list", json!({"group_id": 100})).await;
    let members = body["data"]["members"].as_array().unwrap();
    assert!(
        members
            .iter()
            .all(|m| ["owner", "admin", "member"].contains(&m["role"].as_str().unwrap())),
        "{body}"
    );
    // Milky apps' calls are counted like any app's.
    let (_, status) = http_get(gw.listen_addrs[0], "/status", None).await;
    let counted = status["data"]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| {
            a["self_id"] == 10000 && a["action"] == "get_group_member_list" && a["retcode"] == 0
        });
    assert!(counted, "{}", status["data"]["actions"]);
    gw.shutdown().await;
}

/// Reads Milky events from the listener's `/event` WebSocket (the token in
/// the query, as nonebot-adapter-milky sends it).
async fn milky_events(gw: &onebot_gateway::Gateway) -> AppClient {
    AppClient::connect(
        &format!("ws://{}/event?access_token={TOKEN}", gw.listen_addrs[1]),
        None,
    )
    .await
    .expect("the event WebSocket opens")
}

#[tokio::test]
async fn milky_apps_get_events_and_send_replies_and_recalls() {
    let gw = milky_listener().await;
    let mut events = milky_events(&gw).await;
    let said = inject(
        &gw,
        10000,
        "say",
        json!({"group_id": 100, "user_id": 20001, "message": "ping"}),
    )
    .await;
    let ev = events.next_json().await.unwrap();
    assert_eq!(ev["event_type"], "message_receive", "{ev}");
    let d = &ev["data"];
    assert_eq!(
        (
            d["message_scene"].as_str(),
            d["peer_id"].as_i64(),
            d["sender_id"].as_i64()
        ),
        (Some("group"), Some(100), Some(20001))
    );
    assert_eq!(d["message_seq"], said["message_id"]);
    assert_eq!(
        d["segments"],
        json!([{"type": "text", "data": {"text": "ping"}}])
    );
    assert!(
        d["group_member"]["nickname"].is_string() && d["group"]["group_name"].is_string(),
        "{ev}"
    );

    let (_, sent) = milky_call(&gw, "send_group_message", json!({"group_id": 100, "message": [
        {"type": "reply", "data": {"message_seq": d["message_seq"]}}, {"type": "text", "data": {"text": "pong"}},
    ]})).await;
    assert_eq!(sent["status"], "ok", "{sent}");
    let seq = sent["data"]["message_seq"].as_i64().unwrap();
    assert!(sent["data"]["time"].as_i64().unwrap() > 0);
    let (_, got) = milky_call(
        &gw,
        "get_message",
        json!({"message_scene": "group", "peer_id": 100, "message_seq": seq}),
    )
    .await;
    let m = &got["data"]["message"];
    assert_eq!(
        m["segments"][0],
        json!({"type": "reply", "data": {"message_seq": said["message_id"]}}),
        "{got}"
    );
    assert_eq!(m["sender_id"], 10000);

    let (_, recalled) = milky_call(
        &gw,
        "recall_group_message",
        json!({"group_id": 100, "message_seq": seq}),
    )
    .await;
    assert_eq!(recalled, json!({"status": "ok", "retcode": 0, "data": {}}));
    let recall = events
        .next_matching(|e| e["event_type"] == "message_recall")
        .await
        .unwrap();
    assert_eq!(recall["data"]["message_seq"], seq);

    inject(
        &gw,
        10000,
        "poke",
        json!({"group_id": 100, "user_id": 20001, "target_id": 10000}),
    )
    .await;
    let nudge = events
        .next_matching(|e| e["event_type"] == "group_nudge")
        .await
        .unwrap();
    assert_eq!(
        (
            nudge["data"]["sender_id"].as_i64(),
            nudge["data"]["receiver_id"].as_i64()
        ),
        (Some(20001), Some(10000))
    );
    let (_, poked) = milky_call(
        &gw,
        "send_group_nudge",
        json!({"group_id": 100, "user_id": 20001}),
    )
    .await;
    assert_eq!(poked["status"], "ok", "{poked}");
    gw.shutdown().await;
}

#[tokio::test]
async fn the_milky_listener_streams_events_over_sse() {
    let gw = milky_listener().await;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(gw.listen_addrs[1])
        .await
        .unwrap();
    s.write_all(
        format!("GET /event HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    // The stream is open (headers read) before the event happens.
    while !seen.contains("\r\n\r\n") {
        let n = s.read(&mut buf).await.unwrap();
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(
        seen.starts_with("HTTP/1.1 200") && seen.contains("text/event-stream"),
        "{seen}"
    );
    inject(
        &gw,
        10000,
        "say",
        json!({"group_id": 100, "user_id": 20001, "message": "over sse"}),
    )
    .await;
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while !seen.contains("over sse") {
            let n = s.read(&mut buf).await.unwrap();
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    })
    .await
    .expect("the event arrives over SSE");
    assert!(seen.contains("event: milky_event\ndata: {"), "{seen}");
    gw.shutdown().await;
}

// --- The chain: sandbox → Milky listener → Milky upstream → v11 app. ---

#[tokio::test]
async fn a_v11_app_works_through_a_milky_hop() {
    let dir = tempfile::tempdir().unwrap();
    let front = milky_listener().await;
    let chain = |store: std::path::PathBuf| {
        format!(
            "[[listen]]\naddress = \"127.0.0.1:0\"\n\
             [[upstream]]\ntype = \"milky\"\nurl = \"http://{}\"\naccess_token = \"{TOKEN}\"\nstore = \"{}\"\n",
            front.listen_addrs[1],
            store.display()
        )
    };
    let store = dir.path().join("ids.db");
    let back = start(&chain(store.clone())).await;
    online(&back, 10000).await;
    let mut v11 = app(&back, "/", "").await;

    inject(
        &front,
        10000,
        "say",
        json!({"group_id": 100, "user_id": 20001, "message": "ping"}),
    )
    .await;
    let ping = next_event(&mut v11).await;
    assert_eq!(
        (ping["message_type"].as_str(), ping["raw_message"].as_str()),
        (Some("group"), Some("ping")),
        "{ping}"
    );
    let answer = v11
        .call("send_group_msg", json!({"group_id": 100, "message": [{"type": "reply", "data": {"id": ping["message_id"].to_string()}}, {"type": "text", "data": {"text": "pong"}}]}))
        .await;
    assert_eq!(answer["status"], "ok", "{answer}");
    let pong = answer["data"]["message_id"].as_i64().unwrap();
    let (_, history) = http_get(
        front.listen_addrs[0],
        "/sandbox/10000/messages?group_id=100",
        None,
    )
    .await;
    let last = history["data"].as_array().unwrap().last().unwrap().clone();
    assert!(
        last.to_string().contains("pong") && last.to_string().contains("reply"),
        "the sandbox got the reply: {last}"
    );

    let answer = v11.call("delete_msg", json!({"message_id": pong})).await;
    assert_eq!(answer["status"], "ok", "{answer}");
    let recall = next_event(&mut v11).await;
    assert_eq!(
        (
            recall["notice_type"].as_str(),
            recall["message_id"].as_i64()
        ),
        (Some("group_recall"), Some(pong)),
        "{recall}"
    );

    inject(
        &front,
        10000,
        "friend_request",
        json!({"user_id": 20005, "comment": "hello"}),
    )
    .await;
    approve_the_next_friend_request(&mut v11).await;
    let friends = v11.call("get_friend_list", json!({})).await;
    assert!(
        friends["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["user_id"] == 20005),
        "{friends}"
    );

    // The back gateway restarts: the ids apps hold still name the same messages.
    drop(v11);
    back.shutdown().await;
    let back = start(&chain(store)).await;
    online(&back, 10000).await;
    let mut v11 = app(&back, "/", "").await;
    let got = v11
        .call("get_msg", json!({"message_id": ping["message_id"]}))
        .await;
    assert_eq!(got["data"]["raw_message"], "ping", "{got}");
    back.shutdown().await;
    front.shutdown().await;
}
