//! Cutting a stream of JSON text into its top-level values, with bounded memory.
//!
//! CloudWatch Logs deliveries are sequences of JSON values: a Firehose object is gzip members
//! of one JSON object each, concatenated without a separator (`{…}{…}`); saved pages of
//! `filter-log-events` may be concatenated or one event per line; a single payload is one
//! value. [`Values`] hands out each top-level object or array as a slice, to be parsed by
//! `serde_json` with its strings borrowed from the slice (no copy of the messages). It finds
//! a value's end by tracking strings and nesting, not by parsing, so a value is scanned once
//! here and parsed once after.
//!
//! A whole text in memory is cut in place. A stream is read into a window that grows to hold
//! the value being cut, up to [`MAX_VALUE`]; a longer value is an error. Firehose values are
//! one subscription message each (CloudWatch Logs caps a batch at 1 MB), so a worker holds
//! about a megabyte however big the object.

use std::io::{self, Read};

/// The longest JSON value read: far above any subscription message, enough for a saved
/// `filter-log-events` result of about a million events; bigger ones should be saved as one
/// event per line (`jq -c '.events[]'`).
pub const MAX_VALUE: usize = 256 << 20;

const CHUNK: usize = 256 * 1024;

/// Why the values of a text could not all be cut.
#[derive(Debug, thiserror::Error)]
pub enum ValuesError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("at byte {offset}: expected a JSON object or array, found {found}")]
    NotAValue { offset: u64, found: String },
    #[error("at byte {offset}: the JSON value is longer than {} MiB", MAX_VALUE >> 20)]
    TooLong { offset: u64 },
    #[error("at byte {offset}: the text ends inside a JSON value")]
    Truncated { offset: u64 },
}

/// Where a scan is inside a value.
#[derive(Clone, Copy, Debug, Default)]
struct Scan {
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// Bytes of the value already scanned.
    done: usize,
}

impl Scan {
    /// Scans `bytes` (the value from its first byte) from `self.done`; the value's length
    /// once its last byte is found.
    fn run(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut i = self.done;
        while i < bytes.len() {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                    i += 1;
                    continue;
                }
                match memchr::memchr2(b'"', b'\\', &bytes[i..]) {
                    Some(at) => {
                        i += at;
                        if bytes[i] == b'\\' {
                            self.escaped = true;
                        } else {
                            self.in_string = false;
                        }
                        i += 1;
                    }
                    None => i = bytes.len(),
                }
                continue;
            }
            match bytes[i] {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        self.done = i + 1;
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
            i += 1;
        }
        self.done = i;
        None
    }
}

/// The top-level values of a JSON text.
pub struct Values<'t> {
    source: Backing<'t>,
    start: usize,
    end: usize,
    /// Bytes of the text before `buf[0]`, for offsets in messages.
    base: u64,
}

enum Backing<'t> {
    Whole(&'t [u8]),
    Stream {
        read: Box<dyn Read + Send + 't>,
        buf: Vec<u8>,
        eof: bool,
    },
}

impl<'t> Values<'t> {
    /// The values of a text held whole.
    pub fn whole(text: &'t [u8]) -> Values<'t> {
        Values {
            source: Backing::Whole(text),
            start: 0,
            end: text.len(),
            base: 0,
        }
    }

    /// The values of a stream.
    pub fn stream(read: Box<dyn Read + Send + 't>) -> Values<'t> {
        Values {
            source: Backing::Stream {
                read,
                buf: Vec::new(),
                eof: false,
            },
            start: 0,
            end: 0,
            base: 0,
        }
    }

    fn bytes(&self) -> &[u8] {
        match &self.source {
            Backing::Whole(t) => t,
            Backing::Stream { buf, .. } => buf,
        }
    }

    /// Reads more of a stream after the unread bytes; false at its end (and always for a
    /// whole text).
    fn fill(&mut self) -> Result<bool, ValuesError> {
        let Backing::Stream { read, buf, eof } = &mut self.source else {
            return Ok(false);
        };
        if *eof {
            return Ok(false);
        }
        if self.start > 0 {
            buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.base += self.start as u64;
            self.start = 0;
        }
        let pending = self.end;
        if pending >= MAX_VALUE {
            return Err(ValuesError::TooLong { offset: self.base });
        }
        if buf.len() < pending + CHUNK {
            buf.resize(
                (pending + CHUNK).max(buf.len() * 2).min(MAX_VALUE + CHUNK),
                0,
            );
        }
        loop {
            match read.read(&mut buf[self.end..]) {
                Ok(0) => {
                    *eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The next top-level value and its offset in the text, `None` after the last.
    pub fn next_value(&mut self) -> Result<Option<(u64, &[u8])>, ValuesError> {
        // Whitespace between values (NDJSON newlines, pretty-printing).
        loop {
            let rest = &self.bytes()[self.start..self.end];
            match rest.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(at) => {
                    self.start += at;
                    break;
                }
                None => {
                    self.start = self.end;
                    if !self.fill()? {
                        return Ok(None);
                    }
                }
            }
        }
        let offset = self.base + self.start as u64;
        let first = self.bytes()[self.start];
        if first != b'{' && first != b'[' {
            let found = match first {
                b'"' => "a string".to_string(),
                b'0'..=b'9' | b'-' => "a number".to_string(),
                b if b.is_ascii_graphic() => format!("`{}`", b as char),
                b => format!("byte 0x{b:02x}"),
            };
            return Err(ValuesError::NotAValue { offset, found });
        }
        let mut scan = Scan::default();
        let length = loop {
            if let Some(n) = scan.run(&self.bytes()[self.start..self.end]) {
                break n;
            }
            if self.end - self.start > MAX_VALUE {
                return Err(ValuesError::TooLong { offset });
            }
            if !self.fill()? {
                return Err(ValuesError::Truncated { offset });
            }
        };
        let value = self.start..self.start + length;
        self.start += length;
        Ok(Some((offset, &self.bytes()[value])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(mut values: Values<'_>) -> Result<Vec<(u64, String)>, String> {
        let mut out = Vec::new();
        loop {
            match values.next_value() {
                Ok(Some((at, v))) => out.push((at, String::from_utf8_lossy(v).into_owned())),
                Ok(None) => return Ok(out),
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    /// Hands out a text a few bytes at a time.
    struct Trickle(Vec<u8>, usize);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0.drain(..n);
            Ok(n)
        }
    }

    fn both(text: &str) -> Result<Vec<(u64, String)>, String> {
        let whole = cut(Values::whole(text.as_bytes()));
        for step in [1, 3, 1 << 20] {
            let streamed = cut(Values::stream(Box::new(Trickle(
                text.as_bytes().to_vec(),
                step,
            ))));
            assert_eq!(streamed, whole, "read {step} bytes at a time: {text}");
        }
        whole
    }

    #[test]
    fn concatenated_and_separated_values_are_cut() {
        let text = r#"{"a":"}{\"x"}{"b":[1,{"c":"]"}]}
 [ {"m":"\\"} ]
{}"#;
        assert_eq!(
            both(text).unwrap(),
            [
                (0, r#"{"a":"}{\"x"}"#.to_string()),
                (13, r#"{"b":[1,{"c":"]"}]}"#.into()),
                (34, r#"[ {"m":"\\"} ]"#.into()),
                (49, "{}".into()),
            ]
        );
        assert_eq!(both("  \n").unwrap(), []);
    }

    #[test]
    fn what_is_not_a_value_is_an_error() {
        assert_eq!(
            both(r#"{"a":1} 12"#),
            Err("at byte 8: expected a JSON object or array, found a number".into())
        );
        assert_eq!(
            both("version srcaddr"),
            Err("at byte 0: expected a JSON object or array, found `v`".into())
        );
        assert_eq!(
            both(r#"{"a":1}{"b":"#),
            Err("at byte 7: the text ends inside a JSON value".into())
        );
    }
}
