//! The second pass: copy the kept lines of each archive into its sample archive.
//!
//! An archive's sample holds its header lines and the records that are pinned (evidence,
//! window, representatives) or whose coin is below the threshold, byte for byte as they were
//! (or with ids pseudonymised), gzip when the input was gzip. The gzip header carries no time
//! or name, so the same input and seed give the same bytes.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;

use super::key::{kept_by_rate, record_hash};
use super::pseudonym::{ColumnRule, Pseudonymiser};
use super::survey::{Pinned, Why};
use crate::flowlog::{
    scan_archive, Archive, Flow, Format, Kind, LogStatus, Problem, ScanOptions, Sink,
};
use crate::source::Source;

/// What one archive's sample holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// Bytes of the sample archive on disk (0 when nothing was kept and no file written).
    pub bytes: u64,
    pub records: u64,
    pub evidence: u64,
    pub window: u64,
    pub combinations: u64,
    pub rate: u64,
    pub nodata: u64,
    pub skipdata: u64,
}

impl std::ops::AddAssign for Written {
    fn add_assign(&mut self, o: Written) {
        self.bytes += o.bytes;
        self.records += o.records;
        self.evidence += o.evidence;
        self.window += o.window;
        self.combinations += o.combinations;
        self.rate += o.rate;
        self.nodata += o.nodata;
        self.skipdata += o.skipdata;
    }
}

/// How to write one archive's sample.
pub struct ArchiveJob<'a> {
    pub archive: &'a Archive,
    pub salt: u64,
    pub pinned: &'a [Pinned],
    pub threshold: Option<u64>,
    pub destination: PathBuf,
    pub pseudonymiser: Option<Pseudonymiser>,
    /// What the archive is, as the first pass found it: text is copied line by line here,
    /// other kinds in their own shape (`copy`).
    pub kind: Option<Kind>,
}

/// Which records of an archive a sample keeps: the pinned ones and those whose coin falls
/// below the threshold. Records are offered in order (line, row or event).
pub struct Keeper<'j, 'a> {
    job: &'j ArchiveJob<'a>,
    /// Index of the next pinned record not yet passed.
    next_pin: usize,
    pub written: Written,
}

impl<'j, 'a> Keeper<'j, 'a> {
    pub fn new(job: &'j ArchiveJob<'a>) -> Self {
        Keeper {
            job,
            next_pin: 0,
            written: Written::default(),
        }
    }

    /// Whether the record at `line` is kept; counts it if so.
    pub fn keep(&mut self, line: u64, flow: &Flow<'_>) -> bool {
        let why = self.pinned(line);
        let by_rate = kept_by_rate(record_hash(self.job.salt, line), self.job.threshold);
        if why.is_none() && !by_rate {
            return false;
        }
        let w = &mut self.written;
        w.records += 1;
        match why {
            Some(Why::Evidence) => w.evidence += 1,
            Some(Why::Window) => w.window += 1,
            Some(Why::Combination) => w.combinations += 1,
            None => w.rate += 1,
        }
        match flow.status {
            LogStatus::NoData => w.nodata += 1,
            LogStatus::SkipData => w.skipdata += 1,
            LogStatus::Ok => {}
        }
        true
    }

    /// Why the record on `line` is pinned, if it is. Records arrive in line order.
    fn pinned(&mut self, line: u64) -> Option<Why> {
        let pins = self.job.pinned;
        while self.next_pin < pins.len() && pins[self.next_pin].line < line {
            self.next_pin += 1;
        }
        pins.get(self.next_pin)
            .filter(|p| p.line == line)
            .map(|p| p.why)
    }
}

/// Whether the file starts with the gzip magic bytes (the input's compression is kept).
pub fn is_gzip(archive: &Archive) -> io::Result<bool> {
    let Source::File(path) = &archive.source else {
        return Ok(false);
    };
    let mut magic = [0u8; 2];
    let mut f = File::open(path)?;
    let mut read = 0;
    while read < 2 {
        match f.read(&mut magic[read..])? {
            0 => break,
            n => read += n,
        }
    }
    Ok(read == 2 && magic == [0x1f, 0x8b])
}

/// Writes the sample of one archive. Read problems were reported by the first pass; the
/// second reads the same bytes and ignores them. An I/O error writing is returned.
pub fn write_archive(job: ArchiveJob<'_>, scan: &ScanOptions) -> io::Result<Written> {
    match job.kind {
        Some(Kind::Text) | None => {}
        Some(kind) => return super::copy::write_copy(&job, scan, kind),
    }
    let gzip = is_gzip(job.archive)?;
    let mut sink = WriteSink {
        job: &job,
        keeper: Keeper::new(&job),
        gzip,
        out: None,
        pending_header: None,
        last_written_header: None,
        header_before_format: false,
        log_format: scan.log_format.as_ref(),
        rules: Vec::new(),
        pseudonymiser: job.pseudonymiser.clone(),
        buf: Vec::new(),
        error: None,
    };
    scan_archive(job.archive, scan, &mut sink);
    if let Some(e) = sink.error.take() {
        return Err(e);
    }
    let mut written = sink.keeper.written;
    if let Some(out) = sink.out.take() {
        out.finish()?;
        written.bytes = std::fs::metadata(&job.destination)?.len();
    }
    Ok(written)
}

enum Output {
    Gzip(Box<GzEncoder<BufWriter<File>>>),
    Plain(BufWriter<File>),
}

impl Output {
    fn create(path: &Path, gzip: bool) -> io::Result<Output> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = BufWriter::with_capacity(256 * 1024, File::create(path)?);
        Ok(if gzip {
            // GzEncoder writes no time and no name: same input, same bytes.
            Output::Gzip(Box::new(GzEncoder::new(file, Compression::default())))
        } else {
            Output::Plain(file)
        })
    }

    fn write_line(&mut self, bytes: &[u8]) -> io::Result<()> {
        let w: &mut dyn Write = match self {
            Output::Gzip(g) => g.as_mut(),
            Output::Plain(p) => p,
        };
        w.write_all(bytes)?;
        w.write_all(b"\n")
    }

    fn finish(self) -> io::Result<()> {
        let file = match self {
            Output::Gzip(g) => g.finish()?,
            Output::Plain(p) => p,
        };
        file.into_inner().map_err(|e| e.into_error())?.sync_all()
    }
}

struct WriteSink<'j, 'a> {
    job: &'j ArchiveJob<'a>,
    keeper: Keeper<'j, 'a>,
    gzip: bool,
    out: Option<Output>,
    /// A header read but not yet written: it goes out before the next kept record.
    pending_header: Option<Vec<u8>>,
    last_written_header: Option<Vec<u8>>,
    header_before_format: bool,
    log_format: Option<&'j Format>,
    rules: Vec<ColumnRule>,
    pseudonymiser: Option<Pseudonymiser>,
    buf: Vec<u8>,
    error: Option<io::Error>,
}

impl WriteSink<'_, '_> {
    fn emit(&mut self, line: &[u8]) -> io::Result<()> {
        if self.out.is_none() {
            self.out = Some(Output::create(&self.job.destination, self.gzip)?);
        }
        let out = self.out.as_mut().expect("created above");
        if let Some(h) = self.pending_header.take() {
            out.write_line(&h)?;
            self.last_written_header = Some(h);
        }
        match &mut self.pseudonymiser {
            Some(p) => {
                self.buf.clear();
                p.line(&self.rules, line, &mut self.buf);
                out.write_line(&self.buf)
            }
            None => out.write_line(line),
        }
    }
}

impl Sink for WriteSink<'_, '_> {
    fn header_line(&mut self, _archive: &Archive, _line: u64, bytes: &[u8]) {
        self.header_before_format = true;
        if self.last_written_header.as_deref() != Some(bytes) {
            self.pending_header = Some(bytes.to_vec());
        }
    }

    fn format(&mut self, _archive: &Archive, format: &Format) {
        // A format without a header line just before it comes from --log-format (the input
        // has no header, nor will the sample) or from a good header found after a bad one.
        if !self.header_before_format && self.log_format != Some(format) {
            self.pending_header = Some(format.header().into_bytes());
        }
        self.header_before_format = false;
        self.rules = Pseudonymiser::rules(format);
    }

    fn record(&mut self, _archive: &Archive, _line: u64, _flow: &Flow<'_>) {
        unreachable!("record_line is overridden")
    }

    fn record_line(&mut self, _archive: &Archive, line: u64, bytes: &[u8], flow: &Flow<'_>) {
        if self.error.is_some() || !self.keeper.keep(line, flow) {
            return;
        }
        if let Err(e) = self.emit(bytes) {
            self.error = Some(e);
        }
    }

    fn problem(&mut self, _problem: Problem) {}

    fn cancelled(&self) -> bool {
        self.error.is_some()
    }
}
