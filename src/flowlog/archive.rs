//! Opening an archive: its bytes, and its lines.
//!
//! Archives are found by [`crate::source`]; this module reads one. A file of up to
//! [`Limits::compressed`] bytes is read whole into a buffer that its worker thread keeps from
//! archive to archive; gzip in it is decoded whole (`gunzip`) into a second such buffer, of at
//! most [`Limits::text`] bytes, and lines are cut from the text in place. Standard input,
//! bigger files, and every file that does not decode whole are streamed from their first byte
//! instead. Both go through one decoder (`gunzip::GzipReader`, zlib-rs), so the same bytes
//! give the same lines, and a broken file gives the lines before its break and then the
//! error, either way.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek};
use std::ops::Deref;
use std::sync::Arc;

use super::gunzip::{ensure_room, gunzip, GzipReader, Whole};
use super::lines::{Line, LineReader, SliceLines};
use super::object::{LocalFile, RandomAccess, Ranged};
use crate::source::s3::Object as S3Object;
// Where archives come from moved to `crate::source`; these names stay reachable here.
pub use crate::source::{discover, Archive, ArchiveMeta, DiscoverError, Discovery, Source};

/// Opens an archive as a byte stream, decompressing gzip by its magic bytes (not its name: a
/// `.log` that is gzip, or a `.gz` that is not, are both read for what they are). Every gzip
/// member is read: AWS and `cat a.gz b.gz` both make multi-member files, and a single-member
/// decoder would stop at the first one and report success.
pub fn open(archive: &Archive) -> io::Result<Box<dyn Read + Send>> {
    match &archive.source {
        Source::File(p) => stream(Box::new(File::open(p)?)),
        Source::Stdin => stream(Box::new(io::stdin())),
        Source::S3(object) => stream(object.stream()?),
    }
}

fn stream(raw: Box<dyn Read + Send>) -> io::Result<Box<dyn Read + Send>> {
    Ok(stream_gzip(raw)?.0)
}

/// The first `N` bytes of a stream (fewer only where it ends) and a reader of the whole
/// stream, those bytes included. The magic bytes decide what a stream is, and a pipe may hand
/// out its first byte alone: one look at a buffer would then read gzip (or Parquet) as plain
/// text, and the same bytes would read one way as a file and another from standard input.
fn peek<const N: usize>(
    mut raw: Box<dyn Read + Send>,
) -> io::Result<(Vec<u8>, Box<dyn Read + Send>)> {
    let mut head = [0; N];
    let mut got = 0;
    while got < N {
        match raw.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let head = head[..got].to_vec();
    Ok((head.clone(), Box::new(io::Cursor::new(head).chain(raw))))
}

fn is_gzip(head: &[u8]) -> bool {
    head.starts_with(&[0x1f, 0x8b])
}

/// How big an archive is read whole; anything bigger is streamed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// File size, gzip or plain. Flow logs compress 4-6x, so a gzip file near this size is
    /// already near `text`.
    pub compressed: usize,
    /// Decoded text of a gzip file.
    pub text: usize,
}

impl Limits {
    /// 2 MiB of file, 8 MiB of text. Whole-file decoding pays on files of about 1 MB of text,
    /// the 5-minute files of a busy VPC (~156 KB gzip): the read-only pass over such a day
    /// takes 1.38x fewer instructions and ~1.2x less CPU time than streaming. Measured on files
    /// of ~5 MB of text it was level with streaming, and on ~20 MB and ~80 MB no faster even
    /// with its buffers reused (slower when they came fresh from the kernel, page by page):
    /// text that big no longer stays in cache, and streaming keeps a 320 KiB window. So a
    /// worker thread holds at most 10 MiB, and a decompression bomb costs 8 MiB before it is
    /// streamed.
    pub const DEFAULT: Limits = Limits {
        compressed: 2 << 20,
        text: 8 << 20,
    };
}

/// Buffers bigger than these are freed after their archive, not kept for the next one: a
/// thread keeps at most 5 MiB between archives.
const KEEP_COMPRESSED: usize = 1 << 20;
const KEEP_TEXT: usize = 4 << 20;

/// A worker thread's reusable buffers, so that a megabyte is not allocated, zeroed and
/// page-faulted per archive.
#[derive(Default)]
struct Buffers {
    /// The file as read; like `text`, its length is its room.
    compressed: Vec<u8>,
    /// Scratch for decoded text; its length (not capacity) is the room offered the decoder.
    text: Vec<u8>,
}

thread_local! {
    /// Taken while an archive is read and put back after, so a nested open (none today)
    /// would only allocate its own.
    static SPARE: Cell<Option<Buffers>> = const { Cell::new(None) };
}

impl Buffers {
    fn take() -> Buffers {
        SPARE
            .try_with(Cell::take)
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    fn give_back(mut self) {
        if self.compressed.len() > KEEP_COMPRESSED {
            self.compressed = Vec::new();
        }
        if self.text.len() > KEEP_TEXT {
            self.text = Vec::new();
        }
        // Fails only while the thread exits; the buffers are then simply freed.
        let _ = SPARE.try_with(|s| s.set(Some(self)));
    }
}

/// An archive's whole text, in its thread's reusable buffer until dropped.
pub struct WholeText {
    buffers: Buffers,
    len: usize,
}

impl Deref for WholeText {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.buffers.text[..self.len]
    }
}

impl Drop for WholeText {
    fn drop(&mut self) {
        std::mem::take(&mut self.buffers).give_back();
    }
}

/// An archive's lines, streamed through a window or cut from its whole text.
pub enum Lines {
    Stream(LineReader<Box<dyn Read + Send>>),
    Whole(SliceLines<WholeText>),
}

impl Lines {
    /// Lines read so far.
    pub fn line_number(&self) -> u64 {
        match self {
            Lines::Stream(r) => r.line_number(),
            Lines::Whole(r) => r.line_number(),
        }
    }

    /// The next line, `Ok(None)` at the end. Only a stream fails: a whole text was read and
    /// decoded in full before its first line was handed out.
    #[inline]
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        match self {
            Lines::Stream(r) => r.next_line(),
            Lines::Whole(r) => Ok(r.next_line()),
        }
    }
}

/// Opens an archive and cuts it into lines, reading a file whole when it is small enough (see
/// the module docs). The lines are exactly what streaming through [`open`] gives.
pub fn open_lines(archive: &Archive) -> io::Result<Lines> {
    open_lines_with(archive, Limits::DEFAULT)
}

/// An archive opened by what its first bytes are.
pub enum Opened {
    /// Parquet (it starts with `PAR1`), which is read from its footer: random access.
    Parquet(Arc<dyn RandomAccess>),
    /// Anything else, as text: gzip decoded (`gzip` says it was), plain as it is. Flow-log
    /// lines, CloudWatch JSON or export lines; the reader of each looks at the text's start.
    Text { text: Text, gzip: bool },
}

/// An archive's decoded text, whole or streamed, before it is cut into lines or values.
pub enum Text {
    Whole(WholeText),
    /// The window lets the start of the text be looked at before the rest is read.
    Stream(BufReader<Box<dyn Read + Send>>),
}

impl Text {
    /// The start of the text: all of a whole one, the first read of a stream (up to 64 KiB;
    /// empty at its end, or when its decoding failed at once: its reader meets the error).
    pub fn head(&mut self) -> &[u8] {
        match self {
            Text::Whole(w) => w,
            Text::Stream(r) => io::BufRead::fill_buf(r).unwrap_or_default(),
        }
    }

    /// The text's lines.
    pub fn into_lines(self) -> Lines {
        match self {
            Text::Whole(w) => Lines::Whole(SliceLines::new(w)),
            Text::Stream(r) => Lines::Stream(LineReader::new(Box::new(r))),
        }
    }
}

/// How much of a streamed text [`Text::head`] shows at least.
const HEAD: usize = 64 * 1024;

/// Opens an archive: Parquet by random access, anything else as text (see [`Opened`]).
pub fn open_object(archive: &Archive) -> io::Result<Opened> {
    open_object_with(archive, Limits::DEFAULT)
}

/// [`open_object`] with other limits for text read whole.
pub fn open_object_with(archive: &Archive, limits: Limits) -> io::Result<Opened> {
    let file = match &archive.source {
        Source::File(p) => File::open(p)?,
        Source::Stdin => return open_stream(Box::new(io::stdin())),
        Source::S3(object) => return open_s3(object, limits),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        // A named pipe: read once, from its first byte, like standard input.
        return open_stream(Box::new(file));
    }
    let object = LocalFile::new(file)?;
    let mut magic = [0u8; 4];
    let n = object.read_at(0, &mut magic)?;
    if super::kind::is_parquet(&magic[..n]) {
        return Ok(Opened::Parquet(Arc::new(object)));
    }
    let mut file = object.into_file();
    let streamed = |raw: Box<dyn Read + Send>| -> io::Result<Opened> {
        let (read, gzip) = stream_gzip(raw)?;
        Ok(Opened::Text {
            text: Text::Stream(BufReader::with_capacity(HEAD, read)),
            gzip,
        })
    };
    if meta.len() > limits.compressed as u64 {
        return streamed(Box::new(file));
    }
    let mut buffers = Buffers::take();
    match read_whole(&mut file, &mut buffers, meta.len() as usize, limits) {
        Some((len, gzip)) => Ok(Opened::Text {
            text: Text::Whole(WholeText { buffers, len }),
            gzip,
        }),
        None => {
            buffers.give_back();
            file.rewind()?;
            streamed(Box::new(file))
        }
    }
}

/// Parquet objects in S3 up to this size are fetched whole, in one GET; bigger ones are read
/// by ranges ([`Ranged`]), so an object's memory stays bounded whatever its size.
pub const S3_PARQUET_WHOLE: u64 = 16 << 20;

/// Opens an S3 object. One of up to [`Limits::compressed`] bytes is fetched whole and read
/// like a small local file (Parquet from memory, text decoded whole); a bigger one is
/// streamed from one GET, or, when it is Parquet of more than [`S3_PARQUET_WHOLE`] bytes,
/// read by ranges. A fetch that fails part way hands its reader the bytes before the failure
/// and then the error, so the records before it are read and the break is a problem, as for
/// a local archive cut short.
fn open_s3(object: &S3Object, limits: Limits) -> io::Result<Opened> {
    if object.size > limits.compressed as u64 {
        let mut reader = BufReader::with_capacity(128 * 1024, object.stream()?);
        if !super::kind::is_parquet(io::BufRead::fill_buf(&mut reader)?) {
            let (read, gzip) = stream_gzip(Box::new(reader))?;
            return Ok(Opened::Text {
                text: Text::Stream(BufReader::with_capacity(HEAD, read)),
                gzip,
            });
        }
        if object.size > S3_PARQUET_WHOLE {
            return Ok(Opened::Parquet(Arc::new(Ranged::<S3Object>::new(
                object.clone(),
            ))));
        }
        let mut all = Vec::with_capacity(object.size as usize);
        reader.read_to_end(&mut all)?;
        return Ok(Opened::Parquet(Arc::new(bytes::Bytes::from(all))));
    }
    let bytes = match object.read_whole() {
        Ok(bytes) => bytes,
        Err((partial, e)) if partial.is_empty() => return Err(e),
        Err((partial, e)) => {
            let cut = io::Cursor::new(partial).chain(Failing(Some(e)));
            return open_stream(Box::new(cut));
        }
    };
    if super::kind::is_parquet(&bytes) {
        return Ok(Opened::Parquet(Arc::new(bytes)));
    }
    let mut buffers = Buffers::take();
    match read_whole(&mut &bytes[..], &mut buffers, bytes.len(), limits) {
        Some((len, gzip)) => Ok(Opened::Text {
            text: Text::Whole(WholeText { buffers, len }),
            gzip,
        }),
        None => {
            // Broken gzip: streamed from memory, so the break is met after the lines before it.
            buffers.give_back();
            open_stream(Box::new(io::Cursor::new(bytes)))
        }
    }
}

/// A reader that fails with the error it holds: the end of an object whose fetch failed.
struct Failing(Option<io::Error>);

impl Read for Failing {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(self
            .0
            .take()
            .unwrap_or_else(|| io::Error::other("the object could not be read to its end")))
    }
}

/// Opens a stream that can be read only once (standard input, a pipe): Parquet is read into
/// memory whole, since it cannot be read from its start.
fn open_stream(raw: Box<dyn Read + Send>) -> io::Result<Opened> {
    let (head, raw) = peek::<4>(raw)?;
    let mut reader = BufReader::with_capacity(128 * 1024, raw);
    if super::kind::is_parquet(&head) {
        let mut all = Vec::new();
        reader.read_to_end(&mut all)?;
        return Ok(Opened::Parquet(Arc::new(bytes::Bytes::from(all))));
    }
    let (read, gzip) = stream_gzip(Box::new(reader))?;
    Ok(Opened::Text {
        text: Text::Stream(BufReader::with_capacity(HEAD, read)),
        gzip,
    })
}

/// [`stream`], saying whether the stream was gzip.
fn stream_gzip(raw: Box<dyn Read + Send>) -> io::Result<(Box<dyn Read + Send>, bool)> {
    let (head, raw) = peek::<2>(raw)?;
    let reader = BufReader::with_capacity(128 * 1024, raw);
    let gzip = is_gzip(&head);
    let read: Box<dyn Read + Send> = if gzip {
        Box::new(GzipReader::new(reader))
    } else {
        Box::new(reader)
    };
    Ok((read, gzip))
}

/// [`open_lines`] with other limits (tests use tiny ones).
pub fn open_lines_with(archive: &Archive, limits: Limits) -> io::Result<Lines> {
    let streamed = |raw| Ok(Lines::Stream(LineReader::new(stream(raw)?)));
    let mut file = match &archive.source {
        Source::File(p) => File::open(p)?,
        Source::Stdin => return streamed(Box::new(io::stdin())),
        Source::S3(object) => return streamed(object.stream()?),
    };
    let meta = file.metadata()?;
    // Only regular files: a named pipe cannot be read again from its start.
    if !meta.is_file() || meta.len() > limits.compressed as u64 {
        return streamed(Box::new(file));
    }
    let size = meta.len();
    let mut buffers = Buffers::take();
    match read_whole(&mut file, &mut buffers, size as usize, limits) {
        Some((len, _)) => Ok(Lines::Whole(SliceLines::new(WholeText { buffers, len }))),
        None => {
            buffers.give_back();
            file.rewind()?;
            streamed(Box::new(file))
        }
    }
}

/// Reads `file` into `buffers.compressed` and decodes it into `buffers.text`; the length of
/// the text and whether the file was gzip, or `None` when the file is to be streamed: it grew
/// past the limit, a read failed (the stream meets the same failure after the lines before
/// it), or it did not decode whole (broken: the stream then reports the break after the lines
/// before it).
fn read_whole(
    file: &mut dyn Read,
    buffers: &mut Buffers,
    size: usize,
    limits: Limits,
) -> Option<(usize, bool)> {
    let compressed = &mut buffers.compressed;
    // One byte more than the file, so that a file that grew since `metadata` shows it.
    ensure_room(compressed, size.min(limits.compressed) + 1);
    let mut len = 0;
    loop {
        if len == compressed.len() {
            if len > limits.compressed {
                return None;
            }
            ensure_room(compressed, (len * 2).min(limits.compressed + 1));
        }
        // Straight into the buffer, in one read for most files (read_to_end would start
        // small and double).
        match file.read(&mut compressed[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    if !is_gzip(&compressed[..len]) {
        // Plain text: the file is the text. The buffers swap roles, keeping their room.
        std::mem::swap(compressed, &mut buffers.text);
        return Some((len, false));
    }
    match gunzip(&compressed[..len], &mut buffers.text, limits.text) {
        Whole::Text(len) => Some((len, true)),
        Whole::Stream => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // -----------------------------------------------------------------------------------
    // Reading whole or streaming: always the same lines, and the same error at the same line.

    use super::super::test_gz as gz;
    use crate::source::archive_for;

    type Item = (u64, Result<Vec<u8>, u64>);

    /// Every line, then the error that ended the lines (with the line count at it), if any.
    fn drain(lines: &mut Lines) -> (Vec<Item>, Option<(u64, String)>) {
        let mut items = Vec::new();
        loop {
            match lines.next_line() {
                Ok(Some(Line::Text { number, bytes })) => items.push((number, Ok(bytes.to_vec()))),
                Ok(Some(Line::TooLong { number, length })) => items.push((number, Err(length))),
                Ok(None) => return (items, None),
                Err(e) => return (items, Some((lines.line_number(), e.to_string()))),
            }
        }
    }

    struct TempArchive {
        _dir: tempfile::TempDir,
        archive: Archive,
    }

    fn temp(bytes: &[u8]) -> TempArchive {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log.gz");
        std::fs::write(&path, bytes).unwrap();
        let archive = archive_for(&path);
        TempArchive { _dir: dir, archive }
    }

    const TINY: Limits = Limits {
        compressed: 1 << 20,
        text: 1 << 20,
    };

    /// Opens `bytes` with `limits`, checks that the lines (and any error) are exactly what
    /// streaming gives, and says whether the file was read whole.
    fn read_like_a_stream(
        bytes: &[u8],
        limits: Limits,
    ) -> (bool, Vec<Item>, Option<(u64, String)>) {
        let t = temp(bytes);
        let mut lines = open_lines_with(&t.archive, limits).unwrap();
        let whole = matches!(lines, Lines::Whole(_));
        let got = drain(&mut lines);
        let mut reference = Lines::Stream(LineReader::new(open(&t.archive).unwrap()));
        assert_eq!(got, drain(&mut reference));
        (whole, got.0, got.1)
    }

    fn text_lines(n: usize, tag: &str) -> String {
        (0..n)
            .map(|i| format!("{tag} line {i} 10.0.0.{} 443\n", i % 250))
            .collect()
    }

    #[test]
    fn small_gzip_and_plain_files_are_read_whole() {
        let text = text_lines(1000, "a");
        let (whole, items, err) = read_like_a_stream(&gz(text.as_bytes()), Limits::DEFAULT);
        assert!(whole && err.is_none());
        assert_eq!(items.len(), 1000);
        let (whole, items, _) = read_like_a_stream(text.as_bytes(), Limits::DEFAULT);
        assert!(whole);
        assert_eq!(items.len(), 1000);
        assert_eq!(
            read_like_a_stream(b"", Limits::DEFAULT),
            (true, vec![], None)
        );
        assert_eq!(
            read_like_a_stream(&gz(b""), Limits::DEFAULT),
            (true, vec![], None)
        );
    }

    #[test]
    fn members_whose_last_is_small_are_all_read() {
        let mut data = gz(text_lines(20_000, "first").as_bytes());
        data.extend(gz(text_lines(3, "second").as_bytes()));
        data.extend(gz(b"last without newline"));
        let (whole, items, err) = read_like_a_stream(&data, Limits::DEFAULT);
        assert!(whole && err.is_none());
        assert_eq!(items.len(), 20_004);
        assert_eq!(
            items[20_003],
            (20_004, Ok(b"last without newline".to_vec()))
        );
    }

    #[test]
    fn files_past_a_limit_are_streamed_with_the_same_lines() {
        let text = text_lines(20_000, "big");
        let data = gz(text.as_bytes());
        assert!(text.len() > 400_000 && data.len() < 200_000);
        // One member: its ISIZE is over the text limit, so it is not even tried.
        let text_limit = Limits {
            compressed: 1 << 20,
            text: 400_000,
        };
        let (whole, items, err) = read_like_a_stream(&data, text_limit);
        assert!(!whole && err.is_none());
        assert_eq!(items.len(), 20_000);
        // Many members: the limit is met while growing.
        let mut members = Vec::new();
        for chunk in text.as_bytes().chunks(50_000) {
            members.extend(gz(chunk));
        }
        let (whole, split, err) = read_like_a_stream(&members, text_limit);
        assert!(!whole && err.is_none());
        assert_eq!(split, items);
        // The file itself over the size limit, gzip or plain.
        let size_limit = Limits {
            compressed: data.len() - 1,
            text: 64 << 20,
        };
        assert_eq!(
            read_like_a_stream(&data, size_limit),
            (false, items.clone(), None)
        );
        assert_eq!(
            read_like_a_stream(text.as_bytes(), size_limit),
            (false, items, None)
        );
    }

    #[test]
    fn broken_gzip_reads_as_it_streams() {
        let text = text_lines(30_000, "rec");
        let data = gz(text.as_bytes());
        let mut cases = vec![
            data[..data.len() / 2].to_vec(),
            data[..data.len() - 1].to_vec(),
            data[..3].to_vec(),
        ];
        let mut corrupt = data.clone();
        corrupt[data.len() * 3 / 4] ^= 0xff;
        cases.push(corrupt);
        for tail in [&b"this is not gzip\n"[..], &[0; 512]] {
            let mut t = gz(text_lines(10, "member").as_bytes());
            t.extend_from_slice(tail);
            cases.push(t);
        }
        for case in cases {
            let (whole, items, err) = read_like_a_stream(&case, TINY);
            assert!(!whole, "broken gzip must be streamed");
            assert!(err.is_some(), "{} lines, no error", items.len());
        }
        // The trailing garbage case keeps the member's lines before its error.
        let mut t = gz(text_lines(10, "member").as_bytes());
        t.extend_from_slice(b"garbage");
        let (_, items, err) = read_like_a_stream(&t, TINY);
        assert_eq!((items.len(), err.map(|e| e.0)), (10, Some(10)));
    }

    #[test]
    fn a_stream_that_comes_a_byte_at_a_time_is_still_gzip() {
        // A pipe may hand out the first byte alone: the magic must still be seen.
        struct Trickle(Vec<u8>, usize);
        impl Read for Trickle {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                match (self.0.get(self.1), buf.first_mut()) {
                    (Some(&b), Some(slot)) => {
                        *slot = b;
                        self.1 += 1;
                        Ok(1)
                    }
                    _ => Ok(0),
                }
            }
        }
        let data = gz(b"line one\nline two\n");
        let mut text = String::new();
        stream(Box::new(Trickle(data, 0)))
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "line one\nline two\n");
        for plain in [&b""[..], b"x", b"\x1f", b"plain\n"] {
            let mut got = Vec::new();
            stream(Box::new(Trickle(plain.to_vec(), 0)))
                .unwrap()
                .read_to_end(&mut got)
                .unwrap();
            assert_eq!(got, plain);
        }
    }

    #[test]
    fn buffers_are_kept_for_the_next_archive_and_big_ones_freed() {
        let small = gz(text_lines(1000, "s").as_bytes());
        drop(open_lines(&temp(&small).archive).unwrap());
        let kept = SPARE.with(Cell::take).expect("buffers are given back");
        assert!(kept.text.len() >= 1000 * 20);
        let room = kept.text.as_ptr();
        SPARE.with(|s| s.set(Some(kept)));
        {
            let t = temp(&small);
            let mut lines = open_lines(&t.archive).unwrap();
            let Lines::Whole(_) = &lines else {
                panic!("not whole")
            };
            assert!(matches!(lines.next_line(), Ok(Some(Line::Text { .. }))));
            assert!(
                SPARE.with(Cell::take).is_none(),
                "in use while the lines are"
            );
        }
        let again = SPARE.with(Cell::take).unwrap();
        assert_eq!(again.text.as_ptr(), room, "the same buffer, not a new one");
        SPARE.with(|s| s.set(Some(again)));
        // A text bigger than KEEP_TEXT is freed after its archive.
        let big = gz(&vec![b'\n'; KEEP_TEXT + 1]);
        let (whole, _, _) = read_like_a_stream(&big, Limits::DEFAULT);
        assert!(whole);
        let after = SPARE.with(Cell::take).unwrap();
        assert_eq!(after.text.capacity(), 0);
    }

    mod props {
        //! Whole-file reading agrees with streaming on any text cut into any gzip members,
        //! whatever the limits, and on the same files cut short.
        use super::*;
        use proptest::prelude::*;

        /// `len` bytes, a newline about every `line` bytes (so some lines pass MAX_LINE) and
        /// CRs here and there. A seeded generator: a 200 KB vector strategy is slow in debug.
        fn noise(mut seed: u64, len: usize, line: u64) -> Vec<u8> {
            (0..len)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let r = seed >> 16;
                    match r % line {
                        0 => b'\n',
                        _ if r.is_multiple_of(97) => b'\r',
                        _ => (r >> 24) as u8,
                    }
                })
                .collect()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            #[test]
            fn whole_and_streamed_agree(
                (seed, len, line) in (any::<u64>(), 0usize..200_000, prop_oneof![1u64..200, 200u64..150_000]),
                cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..5),
                text_limit in prop_oneof![Just(1usize << 20), 0usize..250_000],
                truncate in proptest::option::of(any::<prop::sample::Index>()),
            ) {
                let text = noise(seed, len, line);
                let mut at: Vec<usize> = cuts.iter().map(|i| i.index(text.len() + 1)).collect();
                at.push(0);
                at.push(text.len());
                at.sort_unstable();
                let mut data = Vec::new();
                for w in at.windows(2) {
                    data.extend(gz(&text[w[0]..w[1]]));
                }
                if let Some(t) = truncate {
                    data.truncate(t.index(data.len() + 1));
                }
                let limits = Limits { compressed: 1 << 20, text: text_limit };
                let (_, _, err) = read_like_a_stream(&data, limits);
                prop_assert!(truncate.is_some() || err.is_none());
            }
        }
    }
}
