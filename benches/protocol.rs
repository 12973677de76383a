//! Protocol-layer benchmarks: frame parsing and validation, event header
//! parsing, the CQ codec and the bus's post-format conversions.
//!
//! Run: `cargo bench --bench protocol -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use onebot_gateway::protocol::event::EventHeader;
use onebot_gateway::protocol::message::{parse_cq, to_array, to_cq_string, validate_message};
use onebot_gateway::protocol::{action, classify, Frame};
use serde_json::{json, Value};

const SEND_GROUP_MSG: &str = r#"{"action":"send_group_msg","params":{"group_id":"123456789","message":[{"type":"reply","data":{"id":"1024"}},{"type":"at","data":{"qq":10086}},{"type":"text","data":{"text":" 你好, here is the picture you asked for"}},{"type":"image","data":{"file":"https://example.com/cat.jpg","cache":"0"}}],"auto_escape":false},"echo":"1"}"#;

fn group_message_event() -> String {
    let message = mixed_message(4);
    json!({
        "time": 1_700_000_000,
        "self_id": 10001,
        "post_type": "message",
        "message_type": "group",
        "sub_type": "normal",
        "message_id": 123456,
        "group_id": 987654321,
        "user_id": 10086,
        "anonymous": null,
        "message": message,
        "raw_message": to_cq_string(&message),
        "font": 0,
        "sender": {"user_id": 10086, "nickname": "小明", "card": "", "role": "member",
                   "sex": "unknown", "age": 0, "area": "", "level": "1", "title": ""}
    })
    .to_string()
}

/// A message with text that needs escaping, CJK, emoji and several segment
/// types, repeated `n` times (n = 4 gives about 1 KiB of CQ text).
fn mixed_message(n: usize) -> Value {
    let mut segs = Vec::new();
    for i in 0..n {
        segs.extend([
            json!({"type":"reply","data":{"id": (1000 + i).to_string()}}),
            json!({"type":"at","data":{"qq":"10086"}}),
            json!({"type":"text","data":{"text":" 今天的任务 [x] done & [ ] todo, 看看 😀🎉 "}}),
            json!({"type":"face","data":{"id":"178"}}),
            json!({"type":"image","data":{"file":"https://example.com/a.jpg?x=1&y=2","type":"flash"}}),
            json!({"type":"text","data":{"text":"links: https://example.com/?a=1&b=2, ok"}}),
            json!({"type":"markdown","data":{"content":"# title, with [brackets]"}}),
        ]);
    }
    Value::Array(segs)
}

fn frames(c: &mut Criterion) {
    let mut g = c.benchmark_group("frame");
    g.throughput(Throughput::Bytes(SEND_GROUP_MSG.len() as u64));
    g.bench_function("classify+validate send_group_msg", |b| {
        b.iter(|| {
            let Ok(Frame::Action(req)) = classify(black_box(SEND_GROUP_MSG)) else {
                panic!("not an action")
            };
            action::validate(&req.action, &req.params).expect("valid");
            req
        })
    });
    let params: Value = serde_json::from_str::<Value>(SEND_GROUP_MSG).unwrap()["params"].clone();
    g.bench_function("validate_message (4 segments)", |b| {
        b.iter(|| validate_message(black_box(&params["message"])).expect("valid"))
    });
    g.finish();

    let event = group_message_event();
    let mut g = c.benchmark_group("event");
    g.throughput(Throughput::Bytes(event.len() as u64));
    g.bench_function("EventHeader::parse group message", |b| {
        b.iter(|| EventHeader::parse(black_box(&event)).expect("event"))
    });
    g.bench_function("Value round trip group message", |b| {
        b.iter(|| {
            let v: Value = serde_json::from_str(black_box(&event)).expect("json");
            serde_json::to_string(&v).expect("serialize")
        })
    });
    g.bench_function("classify group message", |b| {
        b.iter(|| classify(black_box(&event)).expect("frame"))
    });
    g.finish();
}

fn cq(c: &mut Criterion) {
    // Only what the gateway runs: encoding is `to_cq_string` below (the bus's
    // array → string conversion), decoding is `parse_cq`.
    let message = mixed_message(4);
    let text = to_cq_string(&message);
    let count = message.as_array().map_or(0, Vec::len);
    let mut g = c.benchmark_group("cq");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function(format!("decode {} B, {count} segments", text.len()), |b| {
        b.iter(|| parse_cq(black_box(&text)))
    });
    g.finish();

    // The event bus converts raw `message` values between post formats.
    let as_string = Value::String(text.clone());
    let mut g = c.benchmark_group("bus");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("to_cq_string(array)", |b| {
        b.iter(|| to_cq_string(black_box(&message)))
    });
    g.bench_function("to_array(string)", |b| {
        b.iter(|| to_array(black_box(&as_string)))
    });
    g.bench_function("to_array(array) (clone)", |b| {
        b.iter(|| to_array(black_box(&message)))
    });
    g.finish();
}

criterion_group!(benches, frames, cq);
criterion_main!(benches);
