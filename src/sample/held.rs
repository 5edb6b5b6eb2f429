//! The lines the survey holds, so a sample at rate 0 is written without reading its input again.
//!
//! At rate 0 an archive's sample is its header and its pinned records: evidence, window and
//! representatives, which the survey finds, and witnesses, which it only names by line. The
//! survey keeps the bytes of every line it pins (and of each combination's best candidate
//! while the run goes on), so the write pass can write such an archive from memory. The bytes
//! are the input's, as the reader gave them; an archive is written from memory only when every
//! line it must hold is here and its text is plain (one header, before every record; no
//! problem), else it is read again as before. Either way the sample has the same bytes.

use crate::flowlog::LogStatus;

/// One held line: the input's bytes of record `line` (without its newline).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldLine {
    pub line: u64,
    pub status: LogStatus,
    pub bytes: Box<[u8]>,
}

/// What an archive's sample can be written from without reading the archive again.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Held {
    /// The archive's header line, when it has one (before every record).
    pub header: Option<Box<[u8]>>,
    /// Sorted by line, each once (after [`Held::seal`]).
    lines: Vec<HeldLine>,
}

impl Held {
    pub fn new(header: Option<Box<[u8]>>) -> Held {
        Held {
            header,
            lines: Vec::new(),
        }
    }

    pub fn push(&mut self, line: HeldLine) {
        self.lines.push(line);
    }

    /// Sorts the lines so [`Held::get`] can find them; a line pushed twice (pinned for two
    /// reasons) is the same line, kept once.
    pub fn seal(&mut self) {
        self.lines.sort_by_key(|l| l.line);
        self.lines.dedup_by_key(|l| l.line);
    }

    /// The held line `line`, if it is held.
    pub fn get(&self, line: u64) -> Option<&HeldLine> {
        self.lines
            .binary_search_by_key(&line, |l| l.line)
            .ok()
            .map(|i| &self.lines[i])
    }
}

/// A line's bytes in a worker's arena for the archive being read: `start..start + len`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub start: u32,
    pub len: u32,
}

/// The bytes of the records of the archive being read, any of which may be pinned when the
/// archive or the run ends (evidence, window, representative, witness). One copy of each line
/// into a buffer the worker keeps from archive to archive. Bounded: an archive whose lines
/// would take more than [`ARENA_LIMIT`] is not held (it is read again when written).
#[derive(Debug, Default)]
pub struct Arena {
    bytes: Vec<u8>,
    /// The records kept, in line order.
    slots: Vec<Slot>,
    /// The archive outgrew the arena: nothing of it is held.
    pub full: bool,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    line: u64,
    span: Span,
    status: LogStatus,
}

/// Bytes of one archive's lines a worker holds at most.
pub const ARENA_LIMIT: usize = 64 << 20;

impl Arena {
    /// Keeps record `line` (records come in line order); `None` once the archive has outgrown
    /// the arena.
    #[inline]
    pub fn keep(&mut self, line: u64, bytes: &[u8], status: LogStatus) -> Option<Span> {
        if self.full || self.bytes.len() + bytes.len() > ARENA_LIMIT {
            self.full = true;
            return None;
        }
        let span = Span {
            start: self.bytes.len() as u32,
            len: bytes.len() as u32,
        };
        self.bytes.extend_from_slice(bytes);
        self.slots.push(Slot { line, span, status });
        Some(span)
    }

    pub fn get(&self, span: Span) -> &[u8] {
        &self.bytes[span.start as usize..(span.start + span.len) as usize]
    }

    /// Record `line` as a held line, if it was kept.
    pub fn line(&self, line: u64) -> Option<HeldLine> {
        let i = self.slots.binary_search_by_key(&line, |s| s.line).ok()?;
        let s = self.slots[i];
        Some(HeldLine {
            line,
            status: s.status,
            bytes: self.get(s.span).into(),
        })
    }

    /// Empties the arena for the next archive, keeping its memory.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.slots.clear();
        self.full = false;
    }
}

/// Lines kept for the rest of the run, in large buffers: one allocation a line would cost
/// more than the line.
#[derive(Debug, Default)]
pub struct Store {
    chunks: Vec<Vec<u8>>,
    /// Bytes stored.
    pub bytes: usize,
}

/// Where [`Store::push`] put a line.
#[derive(Clone, Copy, Debug)]
pub struct Stored {
    chunk: u32,
    start: u32,
    len: u32,
}

const CHUNK: usize = 1 << 20;

impl Store {
    pub fn push(&mut self, line: &[u8]) -> Stored {
        let room = self
            .chunks
            .last()
            .is_some_and(|c| c.capacity() - c.len() >= line.len());
        if !room {
            self.chunks.push(Vec::with_capacity(CHUNK.max(line.len())));
        }
        let chunk = self.chunks.len() - 1;
        let c = &mut self.chunks[chunk];
        let start = c.len();
        c.extend_from_slice(line);
        self.bytes += line.len();
        Stored {
            chunk: chunk as u32,
            start: start as u32,
            len: line.len() as u32,
        }
    }

    pub fn get(&self, s: Stored) -> &[u8] {
        &self.chunks[s.chunk as usize][s.start as usize..(s.start + s.len) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_found_by_number_once_sealed() {
        let mut h = Held::new(Some(b"version".to_vec().into()));
        for (line, text) in [(9, "c"), (2, "a"), (5, "b"), (2, "a")] {
            h.push(HeldLine {
                line,
                status: LogStatus::Ok,
                bytes: text.as_bytes().into(),
            });
        }
        h.seal();
        assert_eq!(h.get(2).map(|l| &*l.bytes), Some(&b"a"[..]));
        assert_eq!(h.get(9).map(|l| &*l.bytes), Some(&b"c"[..]));
        assert!(h.get(3).is_none());
        assert_eq!(h.lines.len(), 3);
    }

    #[test]
    fn an_archive_too_large_to_hold_is_not_held() {
        let mut a = Arena::default();
        let s = a.keep(1, b"one", LogStatus::Ok).unwrap();
        assert_eq!(a.get(s), b"one");
        a.keep(3, b"three", LogStatus::NoData).unwrap();
        assert_eq!(
            a.line(3).map(|l| (l.status, l.bytes)),
            Some((LogStatus::NoData, b"three"[..].into()))
        );
        assert!(a.line(2).is_none());
        assert!(a.keep(4, &vec![b'x'; ARENA_LIMIT], LogStatus::Ok).is_none());
        assert!(a.full);
        // Once full, even a short line is not kept: the archive is read again instead.
        assert!(a.keep(5, b"five", LogStatus::Ok).is_none());
        a.clear();
        assert!(a.line(1).is_none());
        assert!(a.keep(1, b"two", LogStatus::Ok).is_some());
    }

    #[test]
    fn stored_lines_come_back_whole() {
        let mut s = Store::default();
        let long = vec![b'y'; CHUNK + 5];
        let at: Vec<Stored> = [&b"a"[..], &long, b"bc", &long[..CHUNK - 1]]
            .iter()
            .map(|l| s.push(l))
            .collect();
        assert_eq!(s.get(at[0]), b"a");
        assert_eq!(s.get(at[1]), &long[..]);
        assert_eq!(s.get(at[2]), b"bc");
        assert_eq!(s.get(at[3]), &long[..CHUNK - 1]);
        assert_eq!(s.bytes, 3 + CHUNK + 5 + CHUNK - 1);
    }
}
