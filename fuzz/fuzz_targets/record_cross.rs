//! The record parser's two readers held to each other: whatever the fast path reads, the
//! careful parser reads as the same record; whatever the in-buffer reader (`parse_line`, the
//! scan loop's shortcut over a whole archive's text) reads, it reads with the right length
//! and as `Flow::parse` reads the line cut out.
#![no_main]

use flowgate::flowlog::{Flow, Format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (format, body) = flowgate_fuzz_common::format_and_body(data);
    for line in body.split(|&b| b == b'\n') {
        if let Some(fast) = Flow::parse_fast_only(&format, line) {
            assert_eq!(
                Ok(fast),
                Flow::parse_careful_only(&format, line),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }
    in_buffer(&format, body);
});

/// Every line start of `body`, read as the scan loop reads a whole text: the record kept from
/// the last line the reader took, a fresh one after it declines.
fn in_buffer(format: &Format, body: &[u8]) {
    let mut flow = Flow::EMPTY;
    let mut at = 0;
    while at < body.len() {
        let rest = &body[at..];
        let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        match flow.parse_line(format, rest) {
            Some(length) => {
                assert_eq!(length, end, "{:?}", String::from_utf8_lossy(rest));
                assert_eq!(Ok(flow.clone()), Flow::parse(format, &rest[..length]));
            }
            None => flow = Flow::EMPTY,
        }
        at += end + 1;
    }
}

#[path = "common.rs"]
mod flowgate_fuzz_common;
