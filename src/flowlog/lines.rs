//! Cutting a byte stream into lines with bounded memory.
//!
//! `BufRead::read_until` grows its buffer to the longest line, so one 1 GiB line (or a
//! decompression bomb of zeros) would take 1 GiB. [`LineReader`] keeps a fixed window: a line
//! longer than [`MAX_LINE`] is reported as too long and skipped up to its newline, and the
//! reader goes on with the next line.

use std::io::{self, Read};

/// The longest line flowgate reads. A record with all 54 VPC fields and long tag values is
/// well under 4 KiB; 64 KiB leaves room while bounding memory.
pub const MAX_LINE: usize = 64 * 1024;

const CHUNK: usize = 256 * 1024;

/// One item from the stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// A line without its `\n` or `\r\n`, numbered from 1.
    Text { number: u64, bytes: &'a [u8] },
    /// A line longer than [`MAX_LINE`] bytes, skipped.
    TooLong { number: u64, length: u64 },
}

/// Reads lines from `R` through a fixed-size window.
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    number: u64,
}

impl<R: Read> LineReader<R> {
    pub fn new(inner: R) -> Self {
        LineReader {
            inner,
            buf: vec![0; CHUNK + MAX_LINE],
            start: 0,
            end: 0,
            eof: false,
            number: 0,
        }
    }

    /// Lines read so far.
    pub fn line_number(&self) -> u64 {
        self.number
    }

    /// The next line, `Ok(None)` at the end of the stream. An I/O or decompression error is
    /// returned as is; lines before it were already handed out.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        let mut scanned = 0;
        loop {
            if let Some(pos) = memchr::memchr(b'\n', &self.buf[self.start + scanned..self.end]) {
                let line_end = self.start + scanned + pos;
                let begin = self.start;
                self.start = line_end + 1;
                self.number += 1;
                if line_end - begin > MAX_LINE {
                    return Ok(Some(Line::TooLong {
                        number: self.number,
                        length: (line_end - begin) as u64,
                    }));
                }
                return Ok(Some(Line::Text {
                    number: self.number,
                    bytes: trim_cr(&self.buf[begin..line_end]),
                }));
            }
            scanned = self.end - self.start;
            if scanned > MAX_LINE {
                return self.skip_long_line(scanned as u64).map(Some);
            }
            if self.eof {
                if self.start == self.end {
                    return Ok(None);
                }
                // Last line without a final newline.
                let begin = self.start;
                self.start = self.end;
                self.number += 1;
                return Ok(Some(Line::Text {
                    number: self.number,
                    bytes: trim_cr(&self.buf[begin..self.end]),
                }));
            }
            self.fill()?;
        }
    }

    /// Moves unread bytes to the front and reads more after them.
    fn fill(&mut self) -> io::Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let n = loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            self.eof = true;
        }
        self.end += n;
        Ok(())
    }

    /// Drops the current over-long line up to and including its newline.
    fn skip_long_line(&mut self, mut length: u64) -> io::Result<Line<'static>> {
        self.start = self.end;
        loop {
            self.fill()?;
            if let Some(pos) = memchr::memchr(b'\n', &self.buf[self.start..self.end]) {
                length += pos as u64;
                self.start += pos + 1;
                break;
            }
            length += (self.end - self.start) as u64;
            self.start = self.end;
            if self.eof {
                break;
            }
        }
        self.number += 1;
        Ok(Line::TooLong {
            number: self.number,
            length,
        })
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(data: &[u8]) -> Vec<String> {
        let mut r = LineReader::new(data);
        let mut out = Vec::new();
        while let Some(line) = r.next_line().unwrap() {
            out.push(match line {
                Line::Text { number, bytes } => {
                    format!("{number}:{}", String::from_utf8_lossy(bytes))
                }
                Line::TooLong { number, length } => format!("{number}:too long {length}"),
            });
        }
        out
    }

    #[test]
    fn splits_lf_crlf_and_last_line_without_newline() {
        assert_eq!(collect(b"a\r\nb\n\nc"), ["1:a", "2:b", "3:", "4:c"]);
        assert_eq!(collect(b""), Vec::<String>::new());
        assert_eq!(collect(b"x\n"), ["1:x"]);
    }

    #[test]
    fn long_lines_are_skipped_and_counted() {
        let mut data = b"first\n".to_vec();
        data.extend(std::iter::repeat_n(b'z', 3 * MAX_LINE));
        data.extend(b"\nlast\n");
        assert_eq!(
            collect(&data),
            [
                "1:first".to_string(),
                format!("2:too long {}", 3 * MAX_LINE),
                "3:last".into()
            ]
        );
    }

    #[test]
    fn a_long_final_line_without_newline_is_reported() {
        let data = vec![b'q'; MAX_LINE + 10];
        assert_eq!(collect(&data), [format!("1:too long {}", MAX_LINE + 10)]);
    }

    #[test]
    fn lines_spanning_reads_are_joined() {
        // A reader that returns one byte at a time exercises every refill path.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() || buf.is_empty() {
                    return Ok(0);
                }
                buf[0] = self.0[0];
                self.0 = &self.0[1..];
                Ok(1)
            }
        }
        let mut r = LineReader::new(Trickle(b"hello world\nsecond"));
        let mut got = Vec::new();
        while let Some(Line::Text { bytes, .. }) = r.next_line().unwrap() {
            got.push(bytes.to_vec());
        }
        assert_eq!(got, [b"hello world".to_vec(), b"second".to_vec()]);
    }
}
