//! The record parser on any line: the input's first line picks the format when it is a
//! header (else AWS's default), every other line is parsed; a record parses the same twice.
#![no_main]

use flowgate::flowlog::Flow;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (format, body) = flowgate_fuzz_common::format_and_body(data);
    for line in body.split(|&b| b == b'\n') {
        let first = Flow::parse(&format, line);
        assert_eq!(first, Flow::parse(&format, line));
        if let Ok(flow) = first {
            let _ = flow.is_traffic();
        }
    }
});

#[path = "common.rs"]
mod flowgate_fuzz_common;
