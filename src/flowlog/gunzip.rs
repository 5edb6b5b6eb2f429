//! Whole-buffer gzip decoding with libdeflate, every member of a file.
//!
//! libdeflate inflates a gzip member from one buffer into another about 1.3-1.4x faster than
//! flate2 + zlib-rs streaming (docs/performance.md), but it cannot stream: it needs all of the
//! input and an output buffer big enough for all of the output, and it reports a short buffer
//! only after trying. Its safe wrapper (`libdeflater`) also stops after the first member, so
//! this module calls `libdeflate_gzip_decompress_ex`, which says how much input a member took,
//! and loops. Its `unsafe` is the three calls into the C library (the only other `unsafe` in
//! flowgate is in the record parser's fast path, `flowlog/record/fast.rs`: SSE2 byte
//! classification and the unchecked text view of bytes it classified as ASCII).
//!
//! [`gunzip`] never reports an error. Whatever it cannot decode whole (bad data, a truncated
//! file, trailing garbage, output past the cap) it hands back as [`Whole::Stream`], and the
//! caller reads the file again through flate2's streaming decoder, which is what decides what
//! users see about a broken file: the records before the break and the same message as ever.
#![allow(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]

use std::ptr::NonNull;

use libdeflate_sys::{
    libdeflate_alloc_decompressor, libdeflate_decompressor, libdeflate_free_decompressor,
    libdeflate_gzip_decompress_ex, libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE,
    libdeflate_result_LIBDEFLATE_SUCCESS,
};

/// The gzip header flag that announces a CRC-16 of the header. flate2 checks it; libdeflate
/// skips it unchecked. No flow-log writer sets it, so such members are left to flate2.
const FHCRC: u8 = 0x02;

/// The first output buffer is at least this big, so tiny files do not grow it byte by byte.
const MIN_OUTPUT: usize = 64 * 1024;

/// A libdeflate decompressor: ~10 KiB of tables, reused for every member a thread reads.
pub(crate) struct Decompressor(NonNull<libdeflate_decompressor>);

/// How one member went.
enum Member {
    Done {
        read: usize,
        written: usize,
    },
    /// The output buffer is too small; nothing useful was written.
    Short,
    /// Not a valid gzip member (bad header, bad data, truncated, wrong CRC or size).
    Bad,
}

impl Decompressor {
    /// `None` only when the C allocator fails; the caller then streams.
    pub(crate) fn new() -> Option<Decompressor> {
        // SAFETY: no arguments; returns an owned heap object or null, checked by NonNull.
        NonNull::new(unsafe { libdeflate_alloc_decompressor() }).map(Decompressor)
    }

    /// Decodes the gzip member at the start of `input` into `out`.
    fn member(&mut self, input: &[u8], out: &mut [u8]) -> Member {
        let (mut read, mut written) = (0usize, 0usize);
        // SAFETY: `self.0` is a live decompressor owned by `self`, used by one thread at a
        // time (`&mut self`). The input and output pointers and lengths come from live
        // slices that the call cannot outlive; libdeflate reads at most `input.len()` bytes
        // and writes at most `out.len()` bytes. The two out-parameters point to locals.
        let result = unsafe {
            libdeflate_gzip_decompress_ex(
                self.0.as_ptr(),
                input.as_ptr().cast(),
                input.len(),
                out.as_mut_ptr().cast(),
                out.len(),
                &mut read,
                &mut written,
            )
        };
        match result {
            r if r == libdeflate_result_LIBDEFLATE_SUCCESS => Member::Done { read, written },
            r if r == libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE => Member::Short,
            _ => Member::Bad,
        }
    }
}

impl Drop for Decompressor {
    fn drop(&mut self) {
        // SAFETY: the pointer came from libdeflate_alloc_decompressor, is owned by `self`
        // alone and is freed exactly once, here.
        unsafe { libdeflate_free_decompressor(self.0.as_ptr()) }
    }
}

// SAFETY: a libdeflate decompressor is a plain heap block with no thread affinity; libdeflate
// only requires that one thread use it at a time, which `&mut self` in `member` ensures.
unsafe impl Send for Decompressor {}

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
/// the buffer as libdeflate reports it short (the member that did not fit is decoded again).
/// ISIZE is a lower bound of the output, so a file whose ISIZE is over `cap` is not tried.
pub(crate) fn gunzip(d: &mut Decompressor, input: &[u8], out: &mut Vec<u8>, cap: usize) -> Whole {
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
    let (mut at, mut len) = (0, 0);
    while at < input.len() {
        let rest = &input[at..];
        // Anything after a member that is not another member (zero padding, garbage) fails
        // the header check below, as it fails flate2's.
        if rest.get(3).is_some_and(|flags| flags & FHCRC != 0) {
            return Whole::Stream;
        }
        match d.member(rest, &mut out[len..]) {
            Member::Done { read, written } => {
                at += read;
                len += written;
            }
            Member::Short if out.len() < cap => {
                let grown = out.len().saturating_mul(2).min(cap);
                out.resize(grown, 0);
            }
            Member::Short | Member::Bad => return Whole::Stream,
        }
    }
    Whole::Text(len)
}

#[cfg(test)]
mod tests {
    use super::super::test_gz as gz;
    use super::*;
    use std::io::{Read, Write};

    fn decode(input: &[u8], cap: usize) -> Option<Vec<u8>> {
        let mut d = Decompressor::new().unwrap();
        let mut out = Vec::new();
        match gunzip(&mut d, input, &mut out, cap) {
            Whole::Text(n) => Some(out[..n].to_vec()),
            Whole::Stream => None,
        }
    }

    fn streamed(input: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(input).read_to_end(&mut out)?;
        Ok(out)
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
        let mut d = Decompressor::new().unwrap();
        let mut out = Vec::new();
        let one = gz(&vec![b'a'; 200_000]);
        assert_eq!(
            gunzip(&mut d, &one, &mut out, 1 << 20),
            Whole::Text(200_000)
        );
        let room = out.len();
        assert_eq!(
            gunzip(&mut d, &gz(b"ab\n"), &mut out, 1 << 20),
            Whole::Text(3)
        );
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
    fn trailing_bytes_are_streamed_as_flate2_rejects_them() {
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
    fn a_header_crc_is_left_to_flate2() {
        // flate2 checks FHCRC, libdeflate skips it: a member with one is streamed.
        let mut data = flate2::GzBuilder::new()
            .filename("a.log")
            .comment("c")
            .write(Vec::new(), flate2::Compression::fast());
        data.write_all(b"text\n").unwrap();
        let plain = data.finish().unwrap();
        assert_eq!(decode(&plain, 1 << 20).unwrap(), b"text\n");
        let mut with_crc = plain.clone();
        with_crc[3] |= FHCRC;
        // Insert a header CRC after the file name and comment ("a.log\0c\0").
        let end = 10 + "a.log\0c\0".len();
        with_crc.splice(end..end, [0, 0]);
        assert_eq!(decode(&with_crc, 1 << 20), None);
        assert!(streamed(&with_crc).is_err(), "the CRC 0 is wrong");
    }

    #[test]
    fn an_empty_member_is_empty_text() {
        assert_eq!(decode(&gz(b""), 1 << 20).unwrap(), b"");
        let mut two = gz(b"");
        two.extend(gz(b"after\n"));
        assert_eq!(decode(&two, 1 << 20).unwrap(), b"after\n");
    }
}
