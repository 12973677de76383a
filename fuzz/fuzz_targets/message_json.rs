//! Fuzzes the message functions on any JSON value an app can put in `message`:
//! conversions and validation never panic, and the CQ string of any value
//! parses to segments that survive another write and parse.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onebot_gateway::protocol::message::{
    parse_cq, to_array, to_cq, to_cq_string, validate_message, Message,
};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let _ = to_array(&value);
    let _ = validate_message(&value);
    if let Ok(message) = Message::from_value(&value) {
        for seg in &message.0 {
            let _ = seg.validate();
        }
    }
    let cq = to_cq_string(&value);
    let segs = parse_cq(&cq);
    assert_eq!(parse_cq(&to_cq(&segs)), segs, "unstable for {cq:?}");
});
