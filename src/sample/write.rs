//! The second pass: copy the kept lines of each archive into its sample archive.
//!
//! An archive's sample holds its header lines and the records that are pinned (evidence,
//! window, representatives, witnesses) or, outside the sampled scopes, whose coin is below the
//! threshold, byte for byte as they were (or with ids pseudonymised), gzip when the input was
//! gzip. Lines are read raw and only those that may be kept are parsed, so this pass costs
//! little more than decompressing. The gzip header carries no time or name, so the same input
//! and seed give the same bytes.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;

use super::held::Held;
use super::key::{kept_by_rate, record_hash};
use super::pseudonym::{ColumnRule, Pseudonymiser};
use super::survey::{Pinned, Why};
use super::Scopes;
use crate::engine::in_window;
use crate::flowlog::archive;
use crate::flowlog::lines::Line;
use crate::flowlog::{Archive, Flow, Format, Kind, LogStatus, ScanOptions};
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
    pub witnesses: u64,
    pub rate: u64,
    pub nodata: u64,
    pub skipdata: u64,
}

impl Written {
    /// Counts a record kept for `why` (`None`: by rate) whose status is `status`.
    fn count(&mut self, why: Option<Why>, status: LogStatus) {
        self.records += 1;
        match why {
            Some(Why::Evidence) => self.evidence += 1,
            Some(Why::Window) => self.window += 1,
            Some(Why::Combination) => self.combinations += 1,
            Some(Why::Witness) => self.witnesses += 1,
            None => self.rate += 1,
        }
        match status {
            LogStatus::NoData => self.nodata += 1,
            LogStatus::SkipData => self.skipdata += 1,
            LogStatus::Ok => {}
        }
    }
}

impl std::ops::AddAssign for Written {
    fn add_assign(&mut self, o: Written) {
        self.bytes += o.bytes;
        self.records += o.records;
        self.evidence += o.evidence;
        self.window += o.window;
        self.combinations += o.combinations;
        self.witnesses += o.witnesses;
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
    /// The format of archives without a header line.
    pub log_format: Option<&'a Format>,
    /// `--since` / `--until`.
    pub since: Option<u64>,
    pub until: Option<u64>,
    /// The sampled scopes: what they see is kept for its combinations, never by rate.
    pub scopes: &'a Scopes,
    /// The lines the survey held of the archive, if any: at rate 0, without pseudonyms,
    /// when every pinned line is held, the sample is written from them.
    pub held: Option<&'a Held>,
}

/// Which records of an archive a sample keeps: the pinned ones and, outside the sampled
/// scopes and inside `--since`/`--until`, those whose coin falls below the threshold. Records
/// are offered in order (line, row or event).
pub struct Keeper<'j, 'a> {
    job: &'j ArchiveJob<'a>,
    /// Index of the next pinned record not yet passed.
    next_pin: usize,
    pub written: Written,
    /// The input line (row, event) of each record kept, in order.
    pub lines: Vec<u64>,
}

impl<'j, 'a> Keeper<'j, 'a> {
    pub fn new(job: &'j ArchiveJob<'a>) -> Self {
        Keeper {
            job,
            next_pin: 0,
            written: Written::default(),
            lines: Vec::new(),
        }
    }

    /// Whether the record at `line` is kept; counts it if so.
    pub fn keep(&mut self, line: u64, flow: &Flow<'_>) -> bool {
        match self.may_keep(line) {
            Some(why) => self.admit(line, why, flow),
            None => false,
        }
    }

    /// Whether the record at `line` may be kept, before it is read: `Some(why)` when it is
    /// pinned (`Some(Some(why))`) or its coin is below the threshold (`Some(None)`).
    pub fn may_keep(&mut self, line: u64) -> Option<Option<Why>> {
        let why = self.pinned(line);
        let by_rate = kept_by_rate(record_hash(self.job.salt, line), self.job.threshold);
        (why.is_some() || by_rate).then_some(why)
    }

    /// The record at `line`, pinned for `why` or below the rate (`None`): whether it is kept
    /// (a record by rate is not when outside `--since`/`--until`, nor inside a sampled scope,
    /// where it would need witnesses of its own); counts it if so.
    pub fn admit(&mut self, line: u64, why: Option<Why>, flow: &Flow<'_>) -> bool {
        let job = self.job;
        if why.is_none()
            && (!in_window(flow, job.since, job.until)
                || (job.scopes.is_cut() && job.scopes.contains(flow)))
        {
            return false;
        }
        self.lines.push(line);
        self.written.count(why, flow.status);
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

/// Writes the sample of one archive; returns what it holds and the input line (row, event)
/// of each record kept. Read problems were reported by the first pass; this one reads the same
/// bytes and passes over them. Text is read as raw lines and only the lines that may be kept
/// (pinned, or below the rate) are parsed; a line is written only if it reads as a record, as
/// the first pass read it. An I/O error writing is returned.
pub fn write_archive(job: ArchiveJob<'_>, scan: &ScanOptions) -> io::Result<(Written, Vec<u64>)> {
    match job.kind {
        Some(Kind::Text) | None => {}
        Some(kind) => return super::copy::write_copy(&job, scan, kind),
    }

    let gzip = is_gzip(job.archive)?;
    let mut w = Writer {
        job: &job,
        gzip,
        out: None,
        pending_header: None,
        last_written_header: None,
        rules: job.log_format.map(Pseudonymiser::rules).unwrap_or_default(),
        pseudonymiser: job.pseudonymiser.clone(),
        buf: Vec::new(),
    };
    let mut keeper = Keeper::new(&job);
    let Ok(mut lines) = archive::open_lines(job.archive) else {
        return Ok((keeper.written, keeper.lines));
    };
    let mut format: Option<Format> = None;
    let mut seen_header = false;
    // A read error ends the archive where the first pass's reading ended too.
    while let Ok(Some(line)) = lines.next_line() {
        let Line::Text { number, bytes } = line else {
            continue;
        };
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        if let Some(header) = Format::from_header_line(bytes) {
            seen_header = true;
            match header {
                Ok(f) => {
                    if w.last_written_header.as_deref() != Some(bytes) {
                        w.pending_header = Some(bytes.to_vec());
                    }
                    w.rules = Pseudonymiser::rules(&f);
                    format = Some(f);
                }
                // Records after a header that cannot be used are not read, up to the next.
                Err(_) => format = None,
            }
            continue;
        }
        let current = match (&format, job.log_format) {
            (Some(f), _) => f,
            (None, Some(f)) => format.insert(f.clone()),
            // No header and no --log-format: nothing of this archive was read.
            (None, None) if !seen_header => break,
            (None, None) => continue,
        };
        let Some(why) = keeper.may_keep(number) else {
            continue;
        };
        let Ok(flow) = Flow::parse(current, bytes) else {
            continue;
        };
        if keeper.admit(number, why, &flow) {
            w.emit(bytes)?;
        }
    }
    let mut written = keeper.written;
    if let Some(out) = w.out.take() {
        out.close()?;
        written.bytes = std::fs::metadata(&job.destination)?.len();
    }
    Ok((written, keeper.lines))
}

/// One archive's sample made in memory from the lines the survey held.
pub struct Made {
    pub written: Written,
    /// The input line of each record kept, in order.
    pub lines: Vec<u64>,
    /// The sample archive's bytes, when made in memory and something is kept (else no file
    /// is written, or [`write_archive`] wrote it).
    pub file: Option<Vec<u8>>,
    /// Made from the lines the survey held.
    pub from_memory: bool,
}

/// Makes the sample of a text archive from the lines the survey held, when it can: at rate 0
/// (only pinned records), without pseudonyms, with every pinned line held. It makes what
/// reading the archive again writes: the header before the first record kept, then the pinned
/// records in line order, through the same encoder with the same writes. `None`: it cannot;
/// read the archive ([`write_archive`]).
pub fn make_held(job: &ArchiveJob<'_>) -> io::Result<Option<Made>> {
    let Some(held) = job.held else {
        return Ok(None);
    };
    if job.threshold != Some(0) || job.pseudonymiser.is_some() || job.kind != Some(Kind::Text) {
        return Ok(None);
    }
    let mut lines = Vec::with_capacity(job.pinned.len());
    for p in job.pinned {
        match held.get(p.line) {
            Some(l) => lines.push((p.why, l)),
            None => return Ok(None),
        }
    }
    let mut made = Made {
        written: Written::default(),
        lines: Vec::with_capacity(lines.len()),
        file: None,
        from_memory: true,
    };
    if lines.is_empty() {
        return Ok(Some(made));
    }
    let mut out = if is_gzip(job.archive)? {
        Output::Gzip(Box::new(encoder(Vec::new())))
    } else {
        Output::Plain(Vec::new())
    };
    if let Some(h) = &held.header {
        out.write_line(h)?;
    }
    for (why, l) in lines {
        out.write_line(&l.bytes)?;
        made.lines.push(l.line);
        made.written.count(Some(why), l.status);
    }
    let file = out.finish()?;
    made.written.bytes = file.len() as u64;
    made.file = Some(file);
    Ok(Some(made))
}

/// Writes a sample archive made in memory and syncs it to disk, as [`write_archive`] does.
pub fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Creates a sample archive's file, and the folders above it.
fn create(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    File::create(path)
}

/// The gzip encoder of every sample archive. It writes no time and no name: same input, same
/// bytes. Level 4: within 3% of level 6's size on the benchmark's samples, for 7% less of the
/// sample's time.
fn encoder<W: Write>(w: W) -> GzEncoder<W> {
    GzEncoder::new(w, Compression::new(4))
}

/// A sample archive being written: to a file, or (`W = Vec<u8>`) made in memory.
enum Output<W: Write> {
    Gzip(Box<GzEncoder<W>>),
    Plain(W),
}

impl Output<BufWriter<File>> {
    fn create(path: &Path, gzip: bool) -> io::Result<Self> {
        let file = BufWriter::with_capacity(256 * 1024, create(path)?);
        Ok(if gzip {
            Output::Gzip(Box::new(encoder(file)))
        } else {
            Output::Plain(file)
        })
    }

    /// Finishes the file and syncs it to disk.
    fn close(self) -> io::Result<()> {
        self.finish()?
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()
    }
}

impl<W: Write> Output<W> {
    fn write_line(&mut self, bytes: &[u8]) -> io::Result<()> {
        let w: &mut dyn Write = match self {
            Output::Gzip(g) => g.as_mut(),
            Output::Plain(p) => p,
        };
        w.write_all(bytes)?;
        w.write_all(b"\n")
    }

    fn finish(self) -> io::Result<W> {
        match self {
            Output::Gzip(g) => g.finish(),
            Output::Plain(p) => Ok(p),
        }
    }
}

/// One text archive's sample being written.
struct Writer<'j, 'a> {
    job: &'j ArchiveJob<'a>,
    gzip: bool,
    out: Option<Output<BufWriter<File>>>,
    /// A header read but not yet written: it goes out before the next kept record.
    pending_header: Option<Vec<u8>>,
    last_written_header: Option<Vec<u8>>,
    rules: Vec<ColumnRule>,
    pseudonymiser: Option<Pseudonymiser>,
    buf: Vec<u8>,
}

impl Writer<'_, '_> {
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
