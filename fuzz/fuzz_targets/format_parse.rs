//! Header lines and `--log-format` specs: any bytes either parse or are refused, and a format
//! that parses writes a header that reads back as the same format (a header line as a header
//! line, a spec as a spec).
#![no_main]

use flowgate::flowlog::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(Ok(format)) = Format::from_header_line(data) {
        let again = Format::from_header_line(format.header().as_bytes());
        assert_eq!(
            again,
            Some(Ok(format)),
            "{:?}",
            String::from_utf8_lossy(data)
        );
    }
    if let Ok(spec) = std::str::from_utf8(data) {
        // A spec may name fields no header heuristic would take for a header line (unknown
        // names first), so it is read back as a spec.
        if let Ok(format) = Format::parse_spec(spec) {
            assert_eq!(Format::parse_spec(&format.header()), Ok(format), "{spec:?}");
        }
    }
});
