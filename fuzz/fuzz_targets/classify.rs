//! Fuzzes the frame classifier: any text an app or upstream can send.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = onebot_gateway::protocol::classify(text);
    }
});
