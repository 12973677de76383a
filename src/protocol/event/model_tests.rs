//! Tests of the typed event models, from the documents' tables.

use super::*;
use crate::protocol::action::MessageType;
use serde_json::json;

fn roundtrip(v: Value) -> Event {
    let e = Event::from_value(v.clone());
    assert_eq!(e.to_value(), v, "round trip of {v}");
    e
}

#[test]
fn group_message_with_sender_and_unknown_fields() {
    let v = json!({
        "time": 1700000000, "self_id": 10001, "post_type": "message",
        "message_type": "group", "sub_type": "normal", "message_id": 42,
        "group_id": 123456, "user_id": 20002,
        "message": [{"type": "text", "data": {"text": "hi"}}],
        "raw_message": "hi", "font": 0,
        "sender": {"user_id": 20002, "nickname": "n", "card": "c", "role": "admin", "level": "5", "x": 1},
        "message_seq": 42, "real_seq": "77"
    });
    let Event::Message(m) = roundtrip(v) else {
        panic!("not typed")
    };
    assert!(m.is_group());
    assert_eq!(m.group_id, Some(123456));
    assert_eq!(m.sender.user_id, Some(20002));
    assert_eq!(m.sender.role.as_deref(), Some("admin"));
    assert_eq!(m.sender.extra["x"], 1);
    assert_eq!(m.extra["real_seq"], "77");
}

#[test]
fn private_message_with_string_ids_and_cq_string() {
    let e = Event::from_value(json!({
        "time": "1700000000", "self_id": "4294967296", "post_type": "message",
        "message_type": "private", "sub_type": "friend", "message_id": "-5",
        "user_id": "20002", "message": "[CQ:face,id=1]hi", "raw_message": "[CQ:face,id=1]hi",
        "font": 0, "sender": {"user_id": "20002", "nickname": "n", "sex": "unknown", "age": 0}
    }));
    let Event::Message(m) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(m.message_type, MessageType::Private);
    assert_eq!(
        (m.self_id, m.user_id, m.message_id),
        (4_294_967_296, 20002, -5)
    );
    assert_eq!(e.self_id(), Some(4_294_967_296));
    assert!(m.message.is_string());
}

#[test]
fn message_sent_is_its_own_variant() {
    let e = roundtrip(json!({
        "time": 1, "self_id": 1, "post_type": "message_sent", "message_type": "group",
        "sub_type": "normal", "message_id": 1, "group_id": 2, "user_id": 1,
        "message": [], "raw_message": "", "font": 0, "sender": {"user_id": 1}
    }));
    assert!(matches!(e, Event::MessageSent(_)));
}

#[test]
fn standard_and_gocq_notices_are_typed() {
    let cases = [
        (
            json!({"time": 1, "self_id": 1, "post_type": "notice", "notice_type": "group_recall", "group_id": 2, "user_id": 3, "operator_id": 4, "message_id": 5}),
            "group_recall",
        ),
        (
            json!({"time": 1, "self_id": 1, "post_type": "notice", "notice_type": "friend_recall", "user_id": 3, "message_id": 5}),
            "friend_recall",
        ),
        (
            json!({"time": 1, "self_id": 1, "post_type": "notice", "notice_type": "notify", "sub_type": "poke", "group_id": 2, "user_id": 3, "target_id": 1}),
            "poke",
        ),
        (
            json!({"time": 1, "self_id": 1, "post_type": "notice", "notice_type": "notify", "sub_type": "poke", "sender_id": 3, "user_id": 3, "target_id": 1}),
            "poke",
        ),
        (
            json!({"time": 1, "self_id": 1, "post_type": "notice", "notice_type": "notify", "sub_type": "lucky_king", "group_id": 2, "user_id": 3, "target_id": 4}),
            "lucky_king",
        ),
        (
            json!({"time": 1, "self_id": 1, "post_type": "notice", "notice_type": "notify", "sub_type": "honor", "group_id": 2, "user_id": 3, "honor_type": "talkative"}),
            "honor",
        ),
        (
            json!({"time": 1, "self_id": 1, "post_type": "notice", "notice_type": "group_card", "group_id": 2, "user_id": 3, "card_new": "new", "card_old": ""}),
            "group_card",
        ),
        (
            json!({"time": 1, "self_id": 1, "post_type": "notice", "notice_type": "offline_file", "user_id": 3, "file": {"name": "a.txt", "size": 10, "url": "http://x"}}),
            "offline_file",
        ),
        (
            json!({"time": 1, "self_id": 1, "post_type": "notice", "notice_type": "client_status", "client": {"app_id": 1, "device_name": "pc", "device_kind": "windows"}, "online": true}),
            "client_status",
        ),
        (
            json!({"time": 1, "self_id": 1, "post_type": "notice", "notice_type": "essence", "sub_type": "add", "group_id": 2, "sender_id": 3, "operator_id": 4, "message_id": 5}),
            "essence",
        ),
        (
            json!({"time": 1, "self_id": 1, "post_type": "notice", "notice_type": "essence", "sub_type": "delete", "sender_id": 3, "operator_id": 4, "message_id": 5}),
            "essence",
        ),
        (
            json!({"time": 1, "self_id": 1, "post_type": "notice", "notice_type": "group_upload", "group_id": 2, "user_id": 3, "file": {"id": "f", "name": "n", "size": 1, "busid": 102}}),
            "group_upload",
        ),
        (
            json!({"time": 1, "self_id": 1, "post_type": "notice", "notice_type": "group_admin", "sub_type": "set", "group_id": 2, "user_id": 3}),
            "group_admin",
        ),
        (
            json!({"time": 1, "self_id": 1, "post_type": "notice", "notice_type": "group_increase", "sub_type": "approve", "group_id": 2, "operator_id": 4, "user_id": 3}),
            "group_increase",
        ),
        (
            json!({"time": 1, "self_id": 1, "post_type": "notice", "notice_type": "group_decrease", "sub_type": "kick_me", "group_id": 2, "operator_id": 4, "user_id": 1}),
            "group_decrease",
        ),
        (
            json!({"time": 1, "self_id": 1, "post_type": "notice", "notice_type": "group_ban", "sub_type": "ban", "group_id": 2, "operator_id": 4, "user_id": 3, "duration": 600}),
            "group_ban",
        ),
        (
            json!({"time": 1, "self_id": 1, "post_type": "notice", "notice_type": "friend_add", "user_id": 3}),
            "friend_add",
        ),
    ];
    for (v, want) in cases {
        let Event::Notice(n) = roundtrip(v.clone()) else {
            panic!("not typed: {v}")
        };
        let (kind, sub) = n.kind();
        assert_eq!(sub.unwrap_or(kind), want, "{v}");
    }
}

#[test]
fn poke_without_group_is_private() {
    let Event::Notice(Notice::Poke(p)) = Event::from_value(json!({
        "time": 1, "self_id": 1, "post_type": "notice", "notice_type": "notify",
        "sub_type": "poke", "sender_id": 3, "user_id": 3, "target_id": 1
    })) else {
        panic!()
    };
    assert_eq!((p.group_id, p.user_id, p.target_id), (None, 3, 1));
}

#[test]
fn essence_sub_type_is_typed() {
    let Event::Notice(Notice::Essence(e)) = Event::from_value(json!({
        "post_type": "notice", "notice_type": "essence", "sub_type": "delete",
        "sender_id": 3, "operator_id": 4, "message_id": 5
    })) else {
        panic!()
    };
    assert_eq!(e.sub_type, EssenceChange::Delete);
}

#[test]
fn requests_are_typed() {
    let Event::Request(Request::Friend(r)) = roundtrip(json!({
        "time": 1, "self_id": 1, "post_type": "request", "request_type": "friend",
        "user_id": 3, "comment": "hi", "flag": "f1"
    })) else {
        panic!()
    };
    assert_eq!(r.flag, "f1");
    let Event::Request(Request::Group(r)) = roundtrip(json!({
        "time": 1, "self_id": 1, "post_type": "request", "request_type": "group",
        "sub_type": "invite", "group_id": 2, "user_id": 3, "comment": "", "flag": "f2"
    })) else {
        panic!()
    };
    assert_eq!((r.sub_type.as_str(), r.group_id), ("invite", 2));
}

#[test]
fn unknown_and_malformed_events_fall_back_to_other() {
    for v in [
        json!({"post_type": "notice", "notice_type": "group_msg_emoji_like", "group_id": 1}),
        json!({"post_type": "notice", "notice_type": "notify", "sub_type": "input_status"}),
        json!({"post_type": "notice", "notice_type": "group_recall", "group_id": "abc", "user_id": 1, "operator_id": 1, "message_id": 1}),
        json!({"post_type": "notice"}),
        json!({"post_type": "message", "message_type": "guild", "message_id": 1, "user_id": 1, "message": "x"}),
        json!({"post_type": "request", "request_type": "friend", "user_id": 1}),
        json!({"post_type": "meta_event", "meta_event_type": "future"}),
        json!({"post_type": "something_new", "x": 1}),
        json!({"no_post_type": true}),
        json!([1, 2]),
        json!(null),
    ] {
        let e = Event::from_value(v.clone());
        assert_eq!(e, Event::Other(v.clone()));
        assert_eq!(e.to_value(), v, "Other keeps the value as is");
    }
    assert!(Event::parse("not json").is_err());
}

#[test]
fn lifecycle_connect_is_what_nonebot_needs() {
    let v = lifecycle_connect(10001, 1700000000);
    assert_eq!(
        v,
        json!({"post_type": "meta_event", "meta_event_type": "lifecycle", "sub_type": "connect", "self_id": 10001, "time": 1700000000})
    );
    let Event::Meta(MetaEvent::Lifecycle(l)) = Event::from_value(v) else {
        panic!()
    };
    assert_eq!((l.self_id, l.sub_type.as_str()), (10001, "connect"));
    let h = EventHeader::parse(&lifecycle_connect(1, 2).to_string()).unwrap();
    assert!(h.is_meta("lifecycle"));
}

#[test]
fn heartbeat_carries_status_and_interval() {
    let v = heartbeat(10001, 1700000000, 5000, status(true, false));
    assert_eq!(v["status"], json!({"online": true, "good": false}));
    assert_eq!(v["interval"], 5000);
    assert_eq!(v["meta_event_type"], "heartbeat");
    let Event::Meta(MetaEvent::Heartbeat(h)) = Event::from_value(v.clone()) else {
        panic!()
    };
    assert_eq!(
        (h.online(), h.good(), h.interval),
        (Some(true), Some(false), 5000)
    );
    assert_eq!(Event::Meta(MetaEvent::Heartbeat(h)).to_value(), v);
}

#[test]
fn built_events_serialize_with_their_discriminators() {
    let e = Event::Notice(Notice::Poke(Poke {
        time: 5,
        self_id: 1,
        group_id: Some(2),
        user_id: 3,
        target_id: 1,
        sender_id: None,
        extra: Map::new(),
    }));
    let text = serde_json::to_string(&e).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v,
        json!({"post_type": "notice", "notice_type": "notify", "sub_type": "poke", "time": 5, "self_id": 1, "group_id": 2, "user_id": 3, "target_id": 1})
    );
    assert!(text.starts_with(r#"{"post_type":"notice""#), "{text}");
    let back: Event = serde_json::from_str(&text).unwrap();
    assert_eq!(back, e);
}
