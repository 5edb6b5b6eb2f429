//! An object's bytes as a reader of a given kind needs them, whatever source holds them.
//!
//! The text and CloudWatch readers read a stream from the first byte ([`std::io::Read`]) or a
//! buffer that holds the whole object; the Parquet reader needs random access, because a
//! Parquet file is read from its footer and then column chunk by column chunk. [`RandomAccess`]
//! is that access: a length and positioned reads. Local files have it (`pread`), so does a
//! buffer in memory, and so does an object store that serves byte ranges: a source that can
//! read a range implements this trait and hands the object to the Parquet reader (see
//! docs/architecture.md, "adding a source").
//!
//! [`ParquetChunks`] adapts a [`RandomAccess`] to the `parquet` crate's `ChunkReader`. Its
//! readers keep their own position (positioned reads, never a shared file offset), so the row
//! groups of one object can be read by several threads at once.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read};
use std::ops::Range;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::source::s3::Object as S3Object;

/// An object that can be read at any offset.
pub trait RandomAccess: Send + Sync {
    /// The object's size in bytes.
    fn len(&self) -> u64;

    /// Whether the object is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads up to `buf.len()` bytes at `offset`; 0 only at or past the end.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;

    /// Reads exactly `len` bytes at `offset`.
    fn read_exact_at(&self, offset: u64, len: usize) -> io::Result<Bytes> {
        let mut buf = vec![0; len];
        let mut done = 0;
        while done < len {
            match self.read_at(offset + done as u64, &mut buf[done..]) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "wanted {len} bytes at offset {offset}, the object ends after {done}"
                        ),
                    ))
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Bytes::from(buf))
    }
}

/// A local file. Its length is taken once, when it is opened: a file that grows while it is
/// read is read as it was.
pub struct LocalFile {
    file: File,
    len: u64,
}

impl LocalFile {
    pub fn new(file: File) -> io::Result<LocalFile> {
        let len = file.metadata()?.len();
        Ok(LocalFile { file, len })
    }

    /// The file back, at the offset it had (positioned reads do not move it).
    pub fn into_file(self) -> File {
        self.file
    }
}

impl RandomAccess for LocalFile {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let room = self.len.saturating_sub(offset).min(buf.len() as u64) as usize;
        pread(&self.file, &mut buf[..room], offset)
    }
}

#[cfg(unix)]
fn pread(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn pread(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

/// An object held in memory (standard input read whole, an object fetched whole).
impl RandomAccess for Bytes {
    fn len(&self) -> u64 {
        Bytes::len(self) as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let start = offset.min(Bytes::len(self) as u64) as usize;
        let rest = &self[start..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    }

    fn read_exact_at(&self, offset: u64, len: usize) -> io::Result<Bytes> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        match start.checked_add(len) {
            Some(end) if end <= Bytes::len(self) => Ok(self.slice(start..end)),
            _ => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "wanted {len} bytes at offset {offset} of a {}-byte object",
                    Bytes::len(self)
                ),
            )),
        }
    }
}

/// A store that serves byte ranges of an object (S3 by ranged GETs).
pub trait Ranges: Send + Sync {
    /// The object's size.
    fn size(&self) -> u64;
    /// Bytes `range` of the object, in one request.
    fn range(&self, range: Range<u64>) -> io::Result<Bytes>;
}

impl Ranges for S3Object {
    fn size(&self) -> u64 {
        self.size
    }

    fn range(&self, range: Range<u64>) -> io::Result<Bytes> {
        self.read_range(range)
    }
}

/// An object read by ranges: blocks of [`Ranged::BLOCK`] bytes fetched one request each, the
/// last [`Ranged::KEPT`] kept, so the Parquet reader's many small reads (footer, page headers)
/// cost a few requests, and a read that does not fit in one block is one request of its own.
/// An object's memory is then at most `KEPT` blocks and the read in hand, whatever its size.
pub struct Ranged<R: Ranges = S3Object> {
    object: R,
    block: u64,
    blocks: Mutex<VecDeque<(u64, Bytes)>>,
}

impl<R: Ranges> Ranged<R> {
    pub const BLOCK: u64 = 4 << 20;
    pub const KEPT: usize = 4;

    pub fn new(object: R) -> Ranged<R> {
        Ranged::with_block(object, Self::BLOCK)
    }

    /// With blocks of `block` bytes (tests use small ones).
    pub fn with_block(object: R, block: u64) -> Ranged<R> {
        Ranged {
            object,
            block: block.max(1),
            blocks: Mutex::new(VecDeque::new()),
        }
    }

    /// Block `index`, from the kept ones or fetched.
    fn block(&self, index: u64) -> io::Result<Bytes> {
        let lock = || self.blocks.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, b)) = lock().iter().find(|(i, _)| *i == index) {
            return Ok(b.clone());
        }
        let start = index * self.block;
        let end = (start + self.block).min(self.object.size());
        let bytes = self.object.range(start..end)?;
        let mut kept = lock();
        if kept.len() == Self::KEPT {
            kept.pop_front();
        }
        kept.push_back((index, bytes.clone()));
        Ok(bytes)
    }
}

impl<R: Ranges> RandomAccess for Ranged<R> {
    fn len(&self) -> u64 {
        self.object.size()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if offset >= self.object.size() || buf.is_empty() {
            return Ok(0);
        }
        let index = offset / self.block;
        let block = self.block(index)?;
        let from = (offset - index * self.block) as usize;
        let n = buf.len().min(block.len().saturating_sub(from));
        buf[..n].copy_from_slice(&block[from..from + n]);
        Ok(n)
    }

    fn read_exact_at(&self, offset: u64, len: usize) -> io::Result<Bytes> {
        let size = self.object.size();
        let Some(end) = offset.checked_add(len as u64).filter(|&e| e <= size) else {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("wanted {len} bytes at offset {offset} of a {size}-byte object"),
            ));
        };
        if len == 0 {
            return Ok(Bytes::new());
        }
        let index = offset / self.block;
        if (end - 1) / self.block == index {
            let from = (offset - index * self.block) as usize;
            return Ok(self.block(index)?.slice(from..from + len));
        }
        self.object.range(offset..end)
    }
}

/// A [`RandomAccess`] as the `parquet` crate reads it.
#[derive(Clone)]
pub struct ParquetChunks(pub Arc<dyn RandomAccess>);

impl parquet::file::reader::Length for ParquetChunks {
    fn len(&self) -> u64 {
        self.0.len()
    }
}

impl parquet::file::reader::ChunkReader for ParquetChunks {
    type T = io::BufReader<Positioned>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        // Page headers are read through this, a few hundred bytes at a time.
        Ok(io::BufReader::with_capacity(
            16 * 1024,
            Positioned {
                object: Arc::clone(&self.0),
                at: start,
            },
        ))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        Ok(self.0.read_exact_at(start, length)?)
    }
}

/// A stream over a [`RandomAccess`] from an offset, with a position of its own.
pub struct Positioned {
    object: Arc<dyn RandomAccess>,
    at: u64,
}

impl Read for Positioned {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.object.read_at(self.at, buf)?;
        self.at += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::file::reader::ChunkReader;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// An object in memory served by ranges, counting the requests.
    struct Served {
        data: Bytes,
        requests: AtomicUsize,
    }

    impl Ranges for Served {
        fn size(&self) -> u64 {
            self.data.len() as u64
        }

        fn range(&self, range: Range<u64>) -> io::Result<Bytes> {
            self.requests.fetch_add(1, Ordering::Relaxed);
            Ok(self.data.slice(range.start as usize..range.end as usize))
        }
    }

    #[test]
    fn parquet_read_by_ranges_reads_as_from_memory_in_few_requests() {
        use crate::flowlog::scan::{scan_prepared, Prepared, ScanOptions};
        use crate::flowlog::{Archive, Flow, Format, Problem, Sink};
        #[derive(Default)]
        struct Rows(Vec<String>);
        impl Sink for Rows {
            fn format(&mut self, _: &Archive, _: &Format) {}
            fn record(&mut self, _: &Archive, line: u64, f: &Flow<'_>) {
                self.0
                    .push(format!("{line} {:?} {:?} {:?}", f.src, f.dst_port, f.bytes));
            }
            fn problem(&mut self, p: Problem) {
                self.0.push(p.to_string());
            }
        }
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/parquet/custom-uncompressed.parquet"
        );
        let data = Bytes::from(std::fs::read(path).unwrap());
        let archive = crate::source::archive_for(std::path::Path::new("x.parquet"));
        let rows = |object: Arc<dyn RandomAccess>| {
            let log = crate::flowlog::parquet::open(object).unwrap();
            let mut sink = Rows::default();
            scan_prepared(
                Prepared::Parquet(log),
                &archive,
                &ScanOptions::default(),
                &mut sink,
            );
            sink.0
        };
        let whole = rows(Arc::new(data.clone()));
        assert!(whole.len() >= 5, "{whole:?}");
        for block in [64, 1000, 4096, 1 << 20] {
            let served = Arc::new(Ranged::with_block(
                Served {
                    data: data.clone(),
                    requests: AtomicUsize::new(0),
                },
                block,
            ));
            assert_eq!(
                rows(Arc::clone(&served) as Arc<dyn RandomAccess>),
                whole,
                "blocks of {block}"
            );
            let requests = served.object.requests.load(Ordering::Relaxed);
            let blocks = (data.len() as u64).div_ceil(block) as usize;
            // Kept blocks spare most requests: with big blocks, one request reads it all.
            if block >= data.len() as u64 {
                assert_eq!(requests, 1);
            } else {
                assert!(
                    requests <= 8 * blocks,
                    "{requests} requests for {blocks} blocks"
                );
            }
        }
    }

    #[test]
    fn files_and_buffers_read_the_same_ranges() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        std::fs::write(&path, &data).unwrap();
        let file: Arc<dyn RandomAccess> =
            Arc::new(LocalFile::new(File::open(&path).unwrap()).unwrap());
        let mem: Arc<dyn RandomAccess> = Arc::new(Bytes::from(data.clone()));
        for object in [file, mem] {
            assert_eq!(object.len(), 10_000);
            assert_eq!(
                &object.read_exact_at(9_990, 10).unwrap()[..],
                &data[9_990..]
            );
            assert!(object.read_exact_at(9_995, 10).is_err());
            let mut buf = [0u8; 64];
            assert_eq!(object.read_at(10_000, &mut buf).unwrap(), 0);
            let chunks = ParquetChunks(object);
            // Two readers at once keep their own positions.
            let (mut a, mut b) = (chunks.get_read(0).unwrap(), chunks.get_read(5_000).unwrap());
            let (mut x, mut y) = ([0u8; 100], [0u8; 100]);
            a.read_exact(&mut x).unwrap();
            b.read_exact(&mut y).unwrap();
            a.read_exact(&mut x).unwrap();
            assert_eq!(&x[..], &data[100..200]);
            assert_eq!(&y[..], &data[5_000..5_100]);
            assert_eq!(&chunks.get_bytes(3, 4).unwrap()[..], &data[3..7]);
        }
    }
}
