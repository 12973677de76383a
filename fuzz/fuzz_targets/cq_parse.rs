//! Fuzzes the CQ parser and writer: parsing never panics, and writing what
//! was parsed then parsing again gives the same segments.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onebot_gateway::protocol::message::{parse_cq, to_array, to_cq, validate_message};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let segs = parse_cq(&text);
    let written = to_cq(&segs);
    assert_eq!(parse_cq(&written), segs, "unstable for {text:?}");
    let value = serde_json::Value::String(text.into_owned());
    let _ = to_array(&value);
    let _ = validate_message(&value);
});
