//! Gzip decoding: one decoder, zlib-rs, for archives read whole and for archives streamed.
//!
//! The same bytes must get the same verdict however they reach flowgate (a small file is
//! decoded whole into a buffer, a big file or standard input is streamed), so both ways go
//! through [`GzipReader`], every member of the stream in turn, through zlib-rs's gzip wrapper
//! (header, deflate data, CRC-32 and length checked per member). Until issue 27 small files
//! went through libdeflate, 1.25x faster at inflating, which takes some streams RFC 1951
//! forbids and zlib refuses: the reserved length symbols 286 and 287 (read as 258), the
//! reserved distance symbols 30 and 31, dynamic blocks declaring more than 286 length or 30
//! distance codes, and some incomplete codes. A file holding one passed (exit 0) and the same
//! bytes from standard input failed (exit 2). Telling such streams apart beforehand means
//! finding every block header, and only a full Huffman decode finds the next one; docs/
//! performance.md has the options and what this choice costs.
//!
//! [`gunzip`] never reports an error. Whatever it cannot decode whole (bad data, a truncated
//! file, trailing garbage, output past the cap) it hands back as [`Whole::Stream`], and the
//! caller reads the file again as a stream, which is what decides what users see about a
//! broken file: the records before the break, and the message. Same decoder, same text.

use std::io::{self, BufRead, Read};

use flate2::{Decompress, FlushDecompress, Status};

/// The first output buffer is at least this big, so tiny files do not grow it byte by byte.
const MIN_OUTPUT: usize = 64 * 1024;

/// What [`gunzip`] made of a file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Whole {
    /// Every member decoded; the text is `out[..len]`.
    Text(usize),
    /// Read the file with the streaming decoder instead, from its first byte.
    Stream,
}

/// Makes `buf` (scratch, whose length is its room) at least `room` long. A fresh buffer comes
/// from calloc, whose pages the kernel zeroes lazily, so only growth is zeroed here.
pub(crate) fn ensure_room(buf: &mut Vec<u8>, room: usize) {
    if buf.is_empty() {
        *buf = vec![0; room];
    } else if buf.len() < room {
        buf.resize(room, 0);
    }
}

/// Decodes all gzip members of `input` into `out`, growing `out` (never past `cap` bytes) as
/// needed. `out` is scratch: its length is the room it offers, kept between calls so a
/// thread's buffer is allocated and zeroed once, not per file.
///
/// The first size comes from the trailer's ISIZE, the size of the last member modulo 4 GiB:
/// exact for the usual one-member file, a low guess for several members, which then double
/// the buffer as it fills. ISIZE is a lower bound of the output, so a file whose ISIZE is
/// over `cap` is not tried.
pub(crate) fn gunzip(input: &[u8], out: &mut Vec<u8>, cap: usize) -> Whole {
    let trailer_size = match input.len().checked_sub(4) {
        Some(at) => u32::from_le_bytes(input[at..].try_into().expect("4 bytes")) as usize,
        None => 0,
    };
    if trailer_size > cap {
        return Whole::Stream;
    }
    // Several members compress about 4-6x in flow logs; one member's ISIZE is exact.
    let want = trailer_size
        .max(input.len().saturating_mul(4))
        .max(MIN_OUTPUT)
        .next_power_of_two()
        .min(cap);
    ensure_room(out, want);
    let mut room = out.len().min(cap);
    let mut reader = GzipReader::new(input);
    let mut len = 0;
    loop {
        if len == room {
            if room == cap {
                // Full at the cap: the text is whole only if nothing more comes.
                return match reader.read(&mut [0; 1]) {
                    Ok(0) => Whole::Text(len),
                    _ => Whole::Stream,
                };
            }
            room = room.saturating_mul(2).min(cap);
            ensure_room(out, room);
        }
        match reader.read(&mut out[len..room]) {
            Ok(0) => return Whole::Text(len),
            Ok(n) => len += n,
            Err(_) => return Whole::Stream,
        }
    }
}

/// The gzip decoder every archive is read through, whole or streamed: every member of the stream, in
/// turn, through zlib-rs's gzip wrapper (header, CRC-32 and length checked per member).
///
/// It differs from flate2's `MultiGzDecoder` in one way that matters to a user: a read that
/// decodes text and then meets corrupt data hands out that text first and reports the error
/// on the next read. flate2 returns the error alone, and the text decoded in the same call
/// (up to a whole read buffer, thousands of lines) was lost, so a file damaged near its end
/// was reported as broken "after line 0" with its good records uncounted.
pub struct GzipReader<R> {
    inner: R,
    inflate: Decompress,
    /// Between members: the next input byte starts a new member, or the stream ends there.
    between: bool,
    /// Input taken by the members before the current one, so offsets count from the start.
    done_before: u64,
    /// The error met after text that was handed out first; every later read returns it.
    failed: Option<(io::ErrorKind, String)>,
}

impl<R: BufRead> GzipReader<R> {
    /// A reader of the gzip stream in `inner`, which starts with a member's header.
    pub fn new(inner: R) -> GzipReader<R> {
        GzipReader {
            inner,
            inflate: Decompress::new_gzip(15),
            between: false,
            done_before: 0,
            failed: None,
        }
    }

    /// How much of the gzip input was taken, for error messages.
    fn offset(&self) -> u64 {
        self.inflate.total_in()
    }

    fn fail(&mut self, kind: io::ErrorKind, message: String) -> io::Error {
        self.failed = Some((kind, message.clone()));
        io::Error::new(kind, message)
    }
}

impl<R: BufRead> Read for GzipReader<R> {
    fn read(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        if let Some((kind, message)) = &self.failed {
            return Err(io::Error::new(*kind, message.clone()));
        }
        if dst.is_empty() {
            return Ok(0);
        }
        loop {
            let input = self.inner.fill_buf()?;
            let eof = input.is_empty();
            if self.between {
                if eof {
                    return Ok(0);
                }
                // Another member (or bytes that are not one, which its header check rejects).
                self.done_before += self.inflate.total_in();
                self.inflate.reset(true);
                self.between = false;
            }
            let (in_before, out_before) = (self.inflate.total_in(), self.inflate.total_out());
            let flush = if eof {
                FlushDecompress::Finish
            } else {
                FlushDecompress::None
            };
            let result = self.inflate.decompress(input, dst, flush);
            let consumed = (self.inflate.total_in() - in_before) as usize;
            let written = (self.inflate.total_out() - out_before) as usize;
            self.inner.consume(consumed);
            let error = match result {
                Ok(Status::StreamEnd) => {
                    self.between = true;
                    if written > 0 {
                        return Ok(written);
                    }
                    continue;
                }
                Ok(_) if written > 0 => return Ok(written),
                Ok(_) if eof => self.fail(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "the file ends inside a gzip member (truncated?) at byte {}",
                        self.done_before + self.offset()
                    ),
                ),
                Ok(_) if consumed > 0 => continue,
                // With input and room to write, zlib always moves; guard against a loop.
                Ok(_) => self.fail(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the gzip decoder stopped at byte {}",
                        self.done_before + self.offset()
                    ),
                ),
                Err(e) => {
                    let at = self.done_before + self.offset();
                    let what = e.message().unwrap_or("corrupt deflate data").to_string();
                    self.fail(io::ErrorKind::InvalidData, format!("{what} near byte {at}"))
                }
            };
            // Text decoded before the error goes out first; the error comes with the next read.
            return if written > 0 { Ok(written) } else { Err(error) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_gz as gz;
    use super::*;
    use std::io::{Read, Write};

    fn decode(input: &[u8], cap: usize) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        match gunzip(input, &mut out, cap) {
            Whole::Text(n) => Some(out[..n].to_vec()),
            Whole::Stream => None,
        }
    }

    /// Streamed as standard input is: through a small buffer, so reads come in pieces.
    fn streamed(input: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        GzipReader::new(io::BufReader::with_capacity(1000, input)).read_to_end(&mut out)?;
        Ok(out)
    }

    /// Everything `GzipReader` hands out through reads of `chunk` bytes, then its error.
    fn read_all(input: &[u8], chunk: usize) -> (Vec<u8>, Option<io::Error>) {
        let mut r = GzipReader::new(input);
        let mut out = Vec::new();
        let mut buf = vec![0; chunk];
        loop {
            match r.read(&mut buf) {
                Ok(0) => return (out, None),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => {
                    // The error stays: a second read gives it again, not an end of file.
                    let again = r.read(&mut buf).unwrap_err();
                    assert_eq!((again.kind(), again.to_string()), (e.kind(), e.to_string()));
                    return (out, Some(e));
                }
            }
        }
    }

    /// Text that compresses about as flow logs do, `n` lines.
    fn lines(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| {
                format!(
                    "2 1234 eni-{:08x} 10.0.{}.{} 443 {}\n",
                    i * 7919,
                    i % 256,
                    i % 199,
                    i * 31
                )
            })
            .collect::<String>()
            .into_bytes()
    }

    /// The text zlib decodes from a member's deflate data (after flate2's 10-byte header)
    /// before it fails, by a raw inflate: independent of `GzipReader`'s loop. `None` when it
    /// does not fail there (the damage is left to the CRC).
    fn decodable_prefix(member: &[u8]) -> Option<Vec<u8>> {
        let mut raw = Decompress::new(false);
        let mut out = Vec::with_capacity(1 << 24);
        match raw.decompress_vec(&member[10..], &mut out, FlushDecompress::Finish) {
            Err(_) => Some(out),
            Ok(_) => None,
        }
    }

    #[test]
    fn text_before_corrupt_data_is_handed_out_first() {
        let text = lines(20_000);
        let data = gz(&text);
        // A byte flipped near the end: the first position (counting back) at which zlib
        // meets a bad code, rather than text that is only caught by the CRC.
        let (bad, prefix) = (100..data.len() - 20)
            .find_map(|back| {
                let mut bad = data.clone();
                bad[data.len() - 8 - back] ^= 0x5a;
                decodable_prefix(&bad).map(|p| (bad, p))
            })
            .expect("some flip breaks the deflate data");
        assert!(
            prefix.len() > text.len() / 2,
            "damage near the end: {} of {}",
            prefix.len(),
            text.len()
        );
        // However the reads are cut, the text before the break comes out, then the error.
        for chunk in [1 << 20, 256 * 1024, 4096, 7] {
            let (out, err) = read_all(&bad, chunk);
            assert_eq!(out.len(), prefix.len(), "chunk {chunk}");
            assert!(out == prefix, "chunk {chunk}");
            let err = err.expect("an error");
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
            assert!(err.to_string().contains(" near byte "), "{err}");
        }
    }

    #[test]
    fn a_wrong_crc_comes_after_all_the_text() {
        let text = lines(5000);
        let mut data = gz(&text);
        let at = data.len() - 8;
        data[at] ^= 1;
        let (out, err) = read_all(&data, 256 * 1024);
        assert!(out == text);
        let err = err.unwrap();
        assert!(err.to_string().contains("incorrect data check"), "{err}");
        // The length check too.
        let mut data = gz(&text);
        let at = data.len() - 1;
        data[at] ^= 1;
        let (out, err) = read_all(&data, 256 * 1024);
        assert!(out == text);
        assert!(err.unwrap().to_string().contains("length check"));
    }

    #[test]
    fn members_in_turn_then_the_end() {
        let mut data = gz(b"one\n");
        data.extend(gz(b""));
        data.extend(gz(&lines(3000)));
        data.extend(gz(b"last"));
        let mut want = b"one\n".to_vec();
        want.extend(lines(3000));
        want.extend_from_slice(b"last");
        for chunk in [1, 100, 1 << 20] {
            let (out, err) = read_all(&data, chunk);
            assert!(err.is_none(), "{err:?}");
            assert!(out == want, "chunk {chunk}");
        }
    }

    #[test]
    fn a_cut_file_keeps_its_text_and_says_truncated() {
        let text = lines(3000);
        let data = gz(&text);
        for cut in [11, 100, data.len() / 2, data.len() - 1] {
            let (out, err) = read_all(&data[..cut], 64 * 1024);
            let err = err.unwrap();
            assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "cut {cut}");
            assert!(err.to_string().contains("truncated"), "{err}");
            assert!(text.starts_with(&out), "cut {cut}");
        }
        // Cut inside the trailer: every byte of text is there, the check is not.
        let (out, err) = read_all(&data[..data.len() - 3], 64 * 1024);
        assert!(out == text && err.is_some());
    }

    #[test]
    fn bytes_after_a_member_that_are_not_one_are_an_error_after_its_text() {
        for tail in [
            &b"this is not gzip\n"[..],
            &[0; 512],
            &[0x1f],
            &[0x1f, 0x8b],
        ] {
            let mut data = gz(b"a line\n");
            data.extend_from_slice(tail);
            let (out, err) = read_all(&data, 4096);
            assert_eq!(out, b"a line\n", "{tail:?}");
            assert!(err.is_some(), "{tail:?}");
        }
    }

    #[test]
    fn members_of_different_sizes_grow_the_buffer() {
        // The last member is tiny, so ISIZE (and 4x the input) says far less than the total.
        let big: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let mut data = gz(&big);
        data.extend(gz(b"middle\n"));
        data.extend(gz(&big[..1000]));
        data.extend(gz(b"x"));
        let mut expected = big.clone();
        expected.extend_from_slice(b"middle\n");
        expected.extend_from_slice(&big[..1000]);
        expected.push(b'x');
        assert_eq!(decode(&data, 64 << 20).unwrap(), expected);
        assert_eq!(streamed(&data).unwrap(), expected);
    }

    #[test]
    fn a_reused_buffer_keeps_its_room() {
        let mut out = Vec::new();
        let one = gz(&vec![b'a'; 200_000]);
        assert_eq!(gunzip(&one, &mut out, 1 << 20), Whole::Text(200_000));
        let room = out.len();
        assert_eq!(gunzip(&gz(b"ab\n"), &mut out, 1 << 20), Whole::Text(3));
        assert_eq!(&out[..3], b"ab\n");
        assert_eq!(out.len(), room, "shrinking per file would re-zero it");
    }

    #[test]
    fn output_past_the_cap_is_streamed() {
        let data = gz(&vec![b'z'; 100_000]);
        assert_eq!(decode(&data, 99_999), None);
        assert_eq!(decode(&data, 100_000).unwrap().len(), 100_000);
        // Several members: ISIZE is small, so the cap is met while growing.
        let mut many = Vec::new();
        for _ in 0..10 {
            many.extend(gz(&vec![b'y'; 30_000]));
        }
        assert_eq!(decode(&many, 200_000), None);
        assert_eq!(decode(&many, 300_000).unwrap().len(), 300_000);
    }

    #[test]
    fn broken_input_is_streamed() {
        let data = gz(&(0..50_000u32)
            .flat_map(|i| i.to_be_bytes())
            .collect::<Vec<_>>());
        // (No input at all is no member and no text; callers only pass input with the magic.)
        for cut in [1, 2, 10, 20, data.len() / 2, data.len() - 1] {
            assert_eq!(decode(&data[..cut], 1 << 20), None, "cut at {cut}");
        }
        let mut flipped = data.clone();
        flipped[data.len() / 2] ^= 0x55;
        assert_eq!(decode(&flipped, 1 << 20), None);
        let mut bad_crc = data.clone();
        let at = data.len() - 8;
        bad_crc[at] ^= 1;
        assert_eq!(decode(&bad_crc, 1 << 20), None);
    }

    #[test]
    fn trailing_bytes_are_streamed_and_refused() {
        for tail in [
            &b"this is not gzip\n"[..],
            &[0; 512],
            &[0x1f],
            &[0x1f, 0x8b],
        ] {
            let mut data = gz(b"a line\n");
            data.extend_from_slice(tail);
            assert_eq!(decode(&data, 1 << 20), None, "{tail:?}");
            assert!(streamed(&data).is_err(), "{tail:?}");
        }
    }

    #[test]
    fn a_header_crc_is_checked_whole_and_streamed() {
        let mut data = flate2::GzBuilder::new()
            .filename("a.log")
            .comment("c")
            .write(Vec::new(), flate2::Compression::fast());
        data.write_all(b"text\n").unwrap();
        let plain = data.finish().unwrap();
        assert_eq!(decode(&plain, 1 << 20).unwrap(), b"text\n");
        // FHCRC, and the header's CRC-16 after the file name and comment ("a.log\0c\0").
        const FHCRC: u8 = 0x02;
        let end = 10 + "a.log\0c\0".len();
        let mut header = plain[..end].to_vec();
        header[3] |= FHCRC;
        let mut crc = flate2::Crc::new();
        crc.update(&header);
        let good = [
            &header[..],
            &(crc.sum() as u16).to_le_bytes(),
            &plain[end..],
        ]
        .concat();
        assert_eq!(decode(&good, 1 << 20).unwrap(), b"text\n");
        assert_eq!(streamed(&good).unwrap(), b"text\n");
        let bad = [&header[..], &[0, 0], &plain[end..]].concat();
        assert_eq!(decode(&bad, 1 << 20), None);
        assert!(streamed(&bad).is_err(), "the CRC 0 is wrong");
    }

    #[test]
    fn reserved_deflate_symbols_are_refused_whole_and_streamed() {
        // "a", then a match of 258 coded with the reserved length symbol 286 in a fixed
        // Huffman block, and the CRC and size of the 259 bytes it would stand for (the
        // smallest such member, from issue 27). libdeflate read it; zlib does not.
        let hex = "1f8b08000000000000ff4b1c030056fac23403010000";
        let member: Vec<u8> = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        assert_eq!(decode(&member, 1 << 20), None);
        let err = streamed(&member).unwrap_err();
        assert!(
            err.to_string().contains("invalid literal/length code"),
            "{err}"
        );
        // Its neighbour with the real symbol for 258, 285, decodes (the CRC is the same).
        let mut real = member.clone();
        real[12] ^= 0x06;
        assert_eq!(decode(&real, 1 << 20).unwrap(), vec![b'a'; 259]);
    }

    #[test]
    fn an_empty_member_is_empty_text() {
        assert_eq!(decode(&gz(b""), 1 << 20).unwrap(), b"");
        let mut two = gz(b"");
        two.extend(gz(b"after\n"));
        assert_eq!(decode(&two, 1 << 20).unwrap(), b"after\n");
    }
}
