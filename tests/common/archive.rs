//! Flow-log archives written by a test: a header line and records, gzip as AWS delivers them.

use std::io::Write;

/// `data` as one gzip member.
pub fn gz(data: impl AsRef<[u8]>) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data.as_ref()).unwrap();
    e.finish().unwrap()
}

/// The text of an archive: `header`, then one record a line.
pub fn log_text(header: &str, records: &[&str]) -> String {
    let mut text = format!("{header}\n");
    for r in records {
        text.push_str(r);
        text.push('\n');
    }
    text
}
