//! Cutting a byte stream into lines with bounded memory.
//!
//! `BufRead::read_until` grows its buffer to the longest line, so one 1 GiB line (or a
//! decompression bomb of zeros) would take 1 GiB. [`LineReader`] keeps a fixed window: a line
//! longer than [`MAX_LINE`] is reported as too long and skipped up to its newline, and the
//! reader goes on with the next line.
//!
//! An archive read whole (a gzip file decoded by libdeflate, a small plain file; see
//! `archive::open_lines`) is cut in place by [`SliceLines`], which hands out slices of the
//! buffer with the same numbering and the same limit. `archive::Lines` is either, behind one
//! `next_line`, and is what scans read. This module knows nothing of archives: it cuts any
//! reader or buffer.

use std::io::{self, Read};
use std::ops::Deref;

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

/// Lines of a buffer that holds an archive's whole text, cut in place: the same items as
/// [`LineReader`] gives for the same bytes, without copying them into a window.
pub struct SliceLines<B> {
    buf: B,
    at: usize,
    number: u64,
}

impl<B: Deref<Target = [u8]>> SliceLines<B> {
    pub fn new(buf: B) -> Self {
        SliceLines {
            buf,
            at: 0,
            number: 0,
        }
    }

    /// Lines read so far.
    pub fn line_number(&self) -> u64 {
        self.number
    }

    /// A reader of the lines that follow that finds each line's end itself, for the scan
    /// loop's shortcut: its slices borrow the buffer, not the cursor, so a record read from
    /// one line may be kept while the cursor moves on.
    pub fn cursor(&mut self) -> Cursor<'_> {
        Cursor {
            buf: &self.buf,
            at: &mut self.at,
            number: &mut self.number,
        }
    }

    /// The next line, `None` at the end of the buffer.
    pub fn next_line(&mut self) -> Option<Line<'_>> {
        let buf: &[u8] = &self.buf;
        let rest = buf.get(self.at..).filter(|r| !r.is_empty())?;
        let begin = self.at;
        // The length counts a `\r` before the newline, as the window's does.
        let length = match memchr::memchr(b'\n', rest) {
            Some(pos) => {
                self.at += pos + 1;
                pos
            }
            None => {
                self.at = buf.len();
                rest.len()
            }
        };
        self.number += 1;
        if length > MAX_LINE {
            return Some(Line::TooLong {
                number: self.number,
                length: length as u64,
            });
        }
        Some(Line::Text {
            number: self.number,
            bytes: trim_cr(&buf[begin..begin + length]),
        })
    }
}

/// See [`SliceLines::cursor`].
pub struct Cursor<'b> {
    buf: &'b [u8],
    at: &'b mut usize,
    number: &'b mut u64,
}

impl<'b> Cursor<'b> {
    /// The text from the next line to the end of the buffer.
    pub fn rest(&self) -> &'b [u8] {
        self.buf.get(*self.at..).unwrap_or_default()
    }

    /// Moves past the next line, of `length` bytes and a `\n`, which the caller found in
    /// [`Cursor::rest`]; returns its number.
    pub fn consume(&mut self, length: usize) -> u64 {
        debug_assert_eq!(self.rest().get(length), Some(&b'\n'));
        *self.at += length + 1;
        *self.number += 1;
        *self.number
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

    fn collect_slice(data: &[u8]) -> Vec<String> {
        let mut r = SliceLines::new(data);
        let mut out = Vec::new();
        while let Some(line) = r.next_line() {
            out.push(match line {
                Line::Text { number, bytes } => {
                    format!("{number}:{}", String::from_utf8_lossy(bytes))
                }
                Line::TooLong { number, length } => format!("{number}:too long {length}"),
            });
        }
        assert_eq!(r.line_number(), out.len() as u64);
        out
    }

    #[test]
    fn a_whole_buffer_is_cut_like_a_stream() {
        let max = "m".repeat(MAX_LINE);
        let cases: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"\n".to_vec(),
            b"\r\n\r\n".to_vec(),
            b"a\r\nb\n\nc".to_vec(),
            b"x\n".to_vec(),
            b"no newline\r".to_vec(),
            b"bare\rcr\n".to_vec(),
            // Exactly MAX_LINE is a line; one more byte, or a CR before the newline, is not.
            format!("{max}\n{max}").into_bytes(),
            format!("{max}x\nnext\n{max}x").into_bytes(),
            format!("{max}\r\nnext\r\n").into_bytes(),
            format!("a\n{max}{max}{max}\nb").into_bytes(),
        ];
        for data in cases {
            let slice = collect_slice(&data);
            assert_eq!(
                slice,
                collect(&data),
                "{:?}",
                String::from_utf8_lossy(&data[..data.len().min(40)])
            );
        }
        assert_eq!(
            collect_slice(format!("{max}x\n").as_bytes()),
            [format!("1:too long {}", MAX_LINE + 1)]
        );
        assert_eq!(
            collect_slice(format!("{max}\r\n").as_bytes()),
            [format!("1:too long {}", MAX_LINE + 1)]
        );
        assert_eq!(
            collect_slice(format!("{max}\n").as_bytes()),
            [format!("1:{max}")]
        );
        assert_eq!(collect_slice(b"a\r\nb"), ["1:a", "2:b"]);
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

    mod props {
        //! The window and the whole buffer cut any bytes into the same lines, whatever sizes
        //! the stream's reads come in.
        use super::*;
        use proptest::prelude::*;

        /// Hands out `data` in reads of the given sizes, cycling.
        struct Chunks<'a> {
            data: &'a [u8],
            sizes: Vec<usize>,
            i: usize,
        }
        impl Read for Chunks<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.sizes[self.i % self.sizes.len()]
                    .min(buf.len())
                    .min(self.data.len());
                self.i += 1;
                buf[..n].copy_from_slice(&self.data[..n]);
                self.data = &self.data[n..];
                Ok(n)
            }
        }

        /// Pieces that meet MAX_LINE from both sides, with CR and LF around them.
        fn piece() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                proptest::collection::vec(
                    prop_oneof![Just(b'\n'), Just(b'\r'), any::<u8>()],
                    0..40
                ),
                (MAX_LINE - 2..MAX_LINE + 3).prop_map(|n| vec![b'l'; n]),
                (0..3 * MAX_LINE).prop_map(|n| vec![b'k'; n]),
                Just(b"\r\n".to_vec()),
                Just(b"\n".to_vec()),
            ]
        }

        type Item = (u64, Result<Vec<u8>, u64>);

        fn items(next: impl FnMut() -> Option<Item>) -> Vec<Item> {
            std::iter::from_fn(next).collect()
        }

        fn own(line: Line<'_>) -> Item {
            match line {
                Line::Text { number, bytes } => (number, Ok(bytes.to_vec())),
                Line::TooLong { number, length } => (number, Err(length)),
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            #[test]
            fn slice_and_window_agree(
                pieces in proptest::collection::vec(piece(), 0..12),
                sizes in proptest::collection::vec(1usize..400_000, 1..4),
            ) {
                let data = pieces.concat();
                let mut window = LineReader::new(Chunks { data: &data, sizes, i: 0 });
                let streamed = items(|| window.next_line().unwrap().map(own));
                let mut slice = SliceLines::new(&data[..]);
                let whole = items(|| slice.next_line().map(own));
                prop_assert_eq!(streamed, whole);
            }
        }
    }
}
