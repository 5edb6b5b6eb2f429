//! The first pass: what the input holds, and which records a lossless sample must keep.
//!
//! Each archive is read once and folded, without locks, into a [`Survey`]: counts for the
//! manifest, the records kept as evidence (see `evidence`), and for every distinct
//! [`Combination`](super::key::Combination) its representative, the record with the smallest
//! coin. Choosing by the coin (not by position) makes representatives and rate-kept records
//! overlap, so the lossless part adds as little as it can. Sizes are summed into a histogram
//! over the coin, so the second pass can be planned to fit `--max-bytes` without a third read.

use std::collections::HashMap;

use super::evidence::Evidence;
use super::key::{archive_salt, combination, record_hash, Combination};
use super::Input;
use crate::flowlog::{
    scan_archive, Archive, Flow, Format, Kind, LogStatus, Problem, ScanOptions, Sink,
};

/// Histogram buckets over the coin: the rate a size cap can pick is a multiple of 1/BUCKETS.
pub const BUCKETS: usize = 1 << 14;
const BUCKET_SHIFT: u32 = 64 - 14;

/// A record that some rule pins into the sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pinned {
    pub line: u64,
    pub coin: u64,
    /// Bytes written for it (line and newline).
    pub bytes: u64,
    pub why: Why,
}

/// Why a record is pinned; a record pinned for several reasons counts under the first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Why {
    /// The evidence rule: first record, new format, NODATA / SKIPDATA, a minute not yet covered.
    Evidence,
    /// The archive's last record, or its earliest start or latest end.
    Window,
    /// The representative of a combination: what makes the sample lossless.
    Combination,
}

/// A combination's representative: the record with the smallest (coin, archive, line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Representative {
    pub coin: u64,
    pub archive: u32,
    pub line: u64,
    pub bytes: u64,
}

impl Representative {
    fn order(&self) -> (u64, u32, u64) {
        (self.coin, self.archive, self.line)
    }
}

/// What the first pass learnt about one archive.
#[derive(Clone, Debug, Default)]
pub struct ArchiveSurvey {
    /// Whether this worker read the archive (merges keep the one that did).
    surveyed: bool,
    /// What the archive is, by its content (none when it could not be opened).
    pub kind: Option<Kind>,
    pub lines: u64,
    pub records: u64,
    pub nodata: u64,
    pub skipdata: u64,
    pub problems: u64,
    /// Bytes of the record and header lines, with newlines: the archive as text.
    pub text_bytes: u64,
    /// Bytes of the header lines a sample writes (the first, and each change of format).
    pub header_bytes: u64,
    /// Records kept by the evidence rule, in line order.
    pub evidence: Vec<Pinned>,
    /// The last record, and those with the earliest start and the latest end: kept so the
    /// window reads the same to the second.
    pub last: Option<Pinned>,
    pub earliest: Option<(u64, Pinned)>,
    pub latest: Option<(u64, Pinned)>,
}

impl ArchiveSurvey {
    /// Lines pinned besides the evidence rule (last, earliest start, latest end), sorted.
    pub fn window_lines(&self) -> Vec<Pinned> {
        let mut v: Vec<Pinned> = self
            .last
            .into_iter()
            .chain(self.earliest.map(|(_, p)| p))
            .chain(self.latest.map(|(_, p)| p))
            .map(|p| Pinned {
                why: Why::Window,
                ..p
            })
            .collect();
        v.sort_by_key(|p| p.line);
        v.dedup_by_key(|p| p.line);
        v
    }
}

/// The first pass over every archive.
#[derive(Debug)]
pub struct Survey {
    /// One per input archive, in input order.
    pub archives: Vec<ArchiveSurvey>,
    pub representatives: HashMap<Combination, Representative>,
    /// Bytes of all records by coin bucket.
    pub histogram: Vec<u64>,
    pub first_start: Option<u64>,
    pub last_end: Option<u64>,
    pub problems: Vec<Problem>,
    pub problems_total: u64,
}

/// Problems kept in full; the rest are counted.
const PROBLEMS_KEPT: usize = 1000;

impl Survey {
    fn empty(archives: usize) -> Survey {
        Survey {
            archives: vec![ArchiveSurvey::default(); archives],
            representatives: HashMap::new(),
            histogram: vec![0; BUCKETS],
            first_start: None,
            last_end: None,
            problems: Vec::new(),
            problems_total: 0,
        }
    }

    /// Folds `other` into `self`; the result does not depend on the order of merges.
    fn merge(mut self, other: Survey) -> Survey {
        for (mine, theirs) in self.archives.iter_mut().zip(other.archives) {
            // Each archive is surveyed by exactly one worker; the others hold a default.
            if theirs.surveyed {
                *mine = theirs;
            }
        }
        for (k, v) in other.representatives {
            self.representatives
                .entry(k)
                .and_modify(|mine| {
                    if v.order() < mine.order() {
                        *mine = v;
                    }
                })
                .or_insert(v);
        }
        for (a, b) in self.histogram.iter_mut().zip(other.histogram) {
            *a += b;
        }
        self.first_start = min_opt(self.first_start, other.first_start);
        self.last_end = self.last_end.max(other.last_end);
        self.problems_total += other.problems_total;
        self.problems.extend(other.problems);
        self.problems.sort();
        self.problems.truncate(PROBLEMS_KEPT);
        self
    }

    /// Reads every input, in parallel.
    pub fn run(inputs: &[Input], seed: u64, scan: &ScanOptions) -> Survey {
        use rayon::prelude::*;
        inputs
            .par_iter()
            .enumerate()
            .fold(
                || Survey::empty(inputs.len()),
                |mut survey, (index, input)| {
                    survey_one(index, input, seed, scan, &mut survey);
                    survey
                },
            )
            .reduce(|| Survey::empty(inputs.len()), Survey::merge)
    }

    /// Every pinned record (evidence, window, representatives) per archive, in line order,
    /// each once.
    pub fn pinned(&self) -> Vec<Vec<Pinned>> {
        let mut out: Vec<Vec<Pinned>> = self
            .archives
            .iter()
            .map(|a| {
                let mut v = a.evidence.clone();
                v.extend(a.window_lines());
                v
            })
            .collect();
        for r in self.representatives.values() {
            out[r.archive as usize].push(Pinned {
                line: r.line,
                coin: r.coin,
                bytes: r.bytes,
                why: Why::Combination,
            });
        }
        for v in &mut out {
            v.sort_by_key(|p| (p.line, p.why));
            v.dedup_by_key(|p| p.line);
        }
        out
    }

    /// Bytes of text a sample at `threshold` (coin below it; `None` keeps all) writes, exact
    /// when the threshold is a bucket boundary. Pinned records count once, whatever their coin.
    pub fn text_bytes_at(&self, pinned: &[Vec<Pinned>], threshold: Option<u64>) -> u64 {
        let Some(t) = threshold else {
            return self.archives.iter().map(|a| a.text_bytes).sum();
        };
        let below: u64 = self.histogram[..bucket_of(t)].iter().sum();
        let mut pinned_total = 0;
        let mut pinned_below = 0;
        for p in pinned.iter().flatten() {
            pinned_total += p.bytes;
            if bucket_of(p.coin) < bucket_of(t) {
                pinned_below += p.bytes;
            }
        }
        self.header_bytes() + pinned_total + below - pinned_below
    }

    fn header_bytes(&self) -> u64 {
        self.archives.iter().map(|a| a.header_bytes).sum()
    }

    /// The largest bucket-boundary threshold whose sample text fits in `budget` bytes
    /// (`None`: everything fits), or `Some(0)`: only the pinned records.
    pub fn threshold_for(&self, pinned: &[Vec<Pinned>], budget: u64) -> Option<u64> {
        if self.text_bytes_at(pinned, None) <= budget {
            return None;
        }
        let mut pinned_by_bucket = vec![0u64; BUCKETS];
        let mut size = self.header_bytes();
        for p in pinned.iter().flatten() {
            size += p.bytes;
            pinned_by_bucket[bucket_of(p.coin)] += p.bytes;
        }
        let mut best = 0;
        for (b, (all, pinned)) in self.histogram.iter().zip(&pinned_by_bucket).enumerate() {
            size += all - pinned;
            if size > budget {
                break;
            }
            best = b + 1;
        }
        if best == BUCKETS {
            None
        } else {
            Some((best as u64) << BUCKET_SHIFT)
        }
    }
}

fn bucket_of(coin: u64) -> usize {
    (coin >> BUCKET_SHIFT) as usize
}

fn min_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

fn survey_one(index: usize, input: &Input, seed: u64, scan: &ScanOptions, survey: &mut Survey) {
    let mut sink = SurveySink {
        index: index as u32,
        salt: archive_salt(seed, &input.key),
        evidence: Evidence::default(),
        archive: ArchiveSurvey::default(),
        survey,
        last_header: None,
    };
    let stats = scan_archive(&input.archive, scan, &mut sink);
    let mut archive = sink.archive;
    archive.surveyed = true;
    archive.lines = stats.lines;
    archive.records = stats.records;
    archive.problems = stats.problems;
    survey.archives[index] = archive;
}

struct SurveySink<'s> {
    index: u32,
    salt: u64,
    evidence: Evidence,
    archive: ArchiveSurvey,
    survey: &'s mut Survey,
    last_header: Option<Vec<u8>>,
}

impl Sink for SurveySink<'_> {
    fn kind(&mut self, _archive: &Archive, kind: Kind) {
        self.archive.kind = Some(kind);
    }

    fn format(&mut self, _archive: &Archive, _format: &Format) {
        self.evidence.format_changed();
    }

    fn header_line(&mut self, _archive: &Archive, _line: u64, bytes: &[u8]) {
        self.archive.text_bytes += bytes.len() as u64 + 1;
        if self.last_header.as_deref() != Some(bytes) {
            self.archive.header_bytes += bytes.len() as u64 + 1;
            self.last_header = Some(bytes.to_vec());
        }
    }

    fn record(&mut self, _archive: &Archive, _line: u64, _flow: &Flow<'_>) {
        unreachable!("record_line is overridden")
    }

    fn record_line(&mut self, _archive: &Archive, line: u64, bytes: &[u8], flow: &Flow<'_>) {
        let coin = record_hash(self.salt, line);
        let size = bytes.len() as u64 + 1;
        let pin = Pinned {
            line,
            coin,
            bytes: size,
            why: Why::Evidence,
        };
        let a = &mut self.archive;
        a.text_bytes += size;
        match flow.status {
            LogStatus::NoData => a.nodata += 1,
            LogStatus::SkipData => a.skipdata += 1,
            LogStatus::Ok => {}
        }
        self.survey.histogram[bucket_of(coin)] += size;
        if self.evidence.keep(flow) {
            a.evidence.push(pin);
        }
        a.last = Some(pin);
        if let Some(s) = flow.start {
            if a.earliest.is_none_or(|(t, _)| s < t) {
                a.earliest = Some((s, pin));
            }
            self.survey.first_start = min_opt(self.survey.first_start, Some(s));
        }
        if let Some(e) = flow.end {
            if a.latest.is_none_or(|(t, _)| e > t) {
                a.latest = Some((e, pin));
            }
            self.survey.last_end = self.survey.last_end.max(Some(e));
        }
        if flow.status == LogStatus::Ok {
            let rep = Representative {
                coin,
                archive: self.index,
                line,
                bytes: size,
            };
            self.survey
                .representatives
                .entry(combination(flow))
                .and_modify(|mine| {
                    if rep.order() < mine.order() {
                        *mine = rep;
                    }
                })
                .or_insert(rep);
        }
    }

    fn problem(&mut self, problem: Problem) {
        self.survey.problems_total += 1;
        if self.survey.problems.len() < PROBLEMS_KEPT {
            self.survey.problems.push(problem);
        }
    }
}
