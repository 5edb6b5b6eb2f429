//! What the record targets share: how an input picks its format.

use flowgate::flowlog::Format;

/// The format the input's first line declares when it is a header, and the lines after it;
/// else AWS's default format and the whole input.
pub fn format_and_body(data: &[u8]) -> (Format, &[u8]) {
    if let Some(end) = data.iter().position(|&b| b == b'\n') {
        if let Some(Ok(format)) = Format::from_header_line(&data[..end]) {
            return (format, &data[end + 1..]);
        }
    }
    (Format::default_v2(), data)
}
