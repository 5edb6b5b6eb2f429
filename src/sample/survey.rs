//! The first pass: what the input holds, and which records a lossless sample must keep.
//!
//! Each archive is read once, by one worker, into its own tables; what it found then joins the
//! run's [`Survey`] under a lock, once per archive (never per record): counts for the
//! manifest, the records kept as evidence (see `evidence`), the run's servers and where each
//! shows as one (see `engine::server`), and for every distinct
//! [`Combination`](super::key::Combination) of the records the sampled scopes can see, its
//! representative, the record with the smallest coin. A combination names the server's side,
//! which the evidence decides at the end of the record's archive or of the run, so records
//! wait in a [`Pending`] map until then. Choosing by the coin (not by position) makes
//! representatives and rate-kept records overlap, so the lossless part adds as little as it
//! can. Sizes are summed into a histogram over the coin, so the second pass can be planned to
//! fit `--max-bytes` without a third read.
//!
//! At rate 0 the survey also holds the lines of what it pins (`held`): each archive's records
//! in a worker's arena while it is read, then the evidence and window lines, each
//! representative's line (replaced in place when a record with a smaller coin takes over), the
//! lines of the records waiting for the run's servers, and the witnesses' lines. What waits
//! is nearly all of distinct connections and can become a representative whichever end turns
//! out to be the server, so it is all held. What the run holds is bounded (`HELD_LIMIT`):
//! past it, lines are not held, and an archive whose pinned line is not held is read again.

use super::evidence::Evidence;
use super::held::{Arena, Held, HeldLine, Span, Store, Stored};
use super::key::{archive_salt, combination, partial, record_hash, Combination, Partial};
use super::pseudonym::Pseudonymiser;
use super::representatives::{Recent, Representative, Representatives};
use super::witness::Near;
use super::{Input, Scopes};
use crate::engine::in_window;
use crate::engine::server::{
    self, ArchiveEvidence, Endpoint, Ends, FastMap, Lines, RunEvidence, Servers, Side,
};
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
    /// Bytes written for it (line and newline); 0 when not known (a witness pinned after the
    /// survey), which only the plan for `--max-bytes` reads.
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
    /// A witness of who the server is: it keeps a kept record's server decided as in the
    /// input (see `witness`).
    Witness,
}

/// A record in scope waiting for the run's servers to decide its combination.
#[derive(Clone, Copy, Debug)]
struct Undecided {
    ends: Ends,
    partial: Partial,
    coin: u64,
    line: u64,
    archive: u32,
    /// Bytes written for it (a line is at most 512 KiB).
    bytes: u32,
    /// Its line in the worker's arena, when it is held.
    span: Option<Span>,
}

impl Undecided {
    fn rep(&self) -> Representative {
        Representative {
            coin: self.coin,
            archive: self.archive,
            line: self.line,
            bytes: u64::from(self.bytes),
            ends: Some(self.ends),
            text: None,
        }
    }
}

/// Where the run first shows an end to be a server: the smallest archive that does, and its
/// lines there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerWitness {
    pub archive: u32,
    pub lines: Lines,
}

/// What the first pass learnt about one archive.
#[derive(Clone, Debug, Default)]
pub struct ArchiveSurvey {
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
    /// What the archive is, by its content (none when it could not be opened).
    pub kind: Option<Kind>,
    /// The lines its sample may hold, when the run holds lines and the archive is plain text
    /// (see `held`); the representatives' lines join at the end of the run.
    pub held: Option<Held>,
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
    pub representatives: Representatives,
    /// The run's servers and where each first shows as one.
    pub witnesses: FastMap<Endpoint, ServerWitness>,
    /// Records in scope whose archive did not decide their server, each on its own: they are
    /// nearly all of distinct connections, so a list (merged by concatenation) holds them in
    /// the least memory. With their lines when the survey holds lines (in `undecided_lines`).
    undecided: Vec<(Undecided, Option<Stored>)>,
    /// The lines of the undecided records, in a few large buffers: one allocation per record
    /// would cost more than the line.
    undecided_lines: Store,
    /// Bytes of the representatives' and the waiting records' lines held, against
    /// [`HELD_LIMIT`].
    held_bytes: usize,
    /// Whether the survey holds lines (see `held`).
    hold: bool,
    /// The lines of each server's witnesses (`witnesses`), when held.
    witness_texts: FastMap<Endpoint, Vec<HeldLine>>,
    /// Bytes of all records by coin bucket.
    pub histogram: Vec<u64>,
    pub first_start: Option<u64>,
    pub last_end: Option<u64>,
    pub problems: Vec<Problem>,
    pub problems_total: u64,
}

/// Tables a worker fills for each archive and empties after it, kept from archive to archive
/// so they are not grown anew each time.
#[derive(Debug, Default)]
struct Scratch {
    /// Who the servers are in the archive being read, and where it shows (see `witness`).
    servers: ArchiveEvidence<Near>,
    /// Records in scope whose server the archive's evidence (or the run's) decides: few of
    /// them repeat in one archive, so a list, not a map.
    waiting: Vec<Undecided>,
    /// The archive's representatives, with their lines in `arena` when held.
    local: FastMap<Combination, (Representative, Option<Span>)>,
    /// Those of them the run's table may take (see `representatives`).
    offers: Vec<(Combination, Representative, Option<Span>)>,
    /// The coins of the run's representatives this worker knows.
    recent: Recent,
    /// The lines of the archive's records in scope, when the run holds lines.
    arena: Arena,
    /// This worker's copy of the pseudonymiser, when the sample is pseudonymised: the
    /// combinations are of the ids as the sample will hold them, so the sample can be checked
    /// against them.
    pseudonymiser: Option<Pseudonymiser>,
    /// What the archive adds to the run's counts.
    part: Part,
}

/// One archive's share of the run's counts, added to them when the archive is done.
#[derive(Debug, Default)]
struct Part {
    /// Whether `sizes` are counted (only a sample that must fit `--max-bytes` reads them).
    count_sizes: bool,
    /// Bytes of records by coin bucket, as (bucket, bytes) pairs.
    sizes: Vec<(u16, u32)>,
    first_start: Option<u64>,
    last_end: Option<u64>,
    problems: Vec<Problem>,
    problems_total: u64,
}

/// Problems kept in full; the rest are counted.
const PROBLEMS_KEPT: usize = 1000;

/// Bytes of representatives' and waiting records' lines the run holds at most; beyond, they
/// are not held, and an archive whose sample needs one is read again when written. The
/// benchmark's week cut for eight policies holds about 60 MiB.
const HELD_LIMIT: usize = 128 << 20;

/// What each pass reads: the scopes sampled and the window.
#[derive(Clone, Copy)]
pub struct Reading<'a> {
    pub scopes: &'a Scopes,
    pub since: Option<u64>,
    pub until: Option<u64>,
    pub scan: &'a ScanOptions,
}

impl Survey {
    fn empty(archives: usize, hold: bool) -> Survey {
        Survey {
            archives: vec![ArchiveSurvey::default(); archives],
            representatives: Representatives::default(),
            witnesses: FastMap::default(),
            undecided: Vec::new(),
            hold,
            undecided_lines: Store::default(),
            held_bytes: 0,
            witness_texts: FastMap::default(),
            histogram: vec![0; BUCKETS],
            first_start: None,
            last_end: None,
            problems: Vec::new(),
            problems_total: 0,
        }
    }

    /// Reads every input, in parallel (calling `on_archive` after each), and decides the
    /// servers the archives left open. With `hold`, it also keeps the lines a sample at rate 0
    /// writes, where it can (`ArchiveSurvey::held`); with `sizes`, it sums the records' sizes
    /// by coin ([`Survey::histogram`], for `--max-bytes`).
    pub fn run(
        inputs: &[Input],
        seed: u64,
        reading: Reading<'_>,
        pseudonymiser: Option<&Pseudonymiser>,
        hold: bool,
        sizes: bool,
        on_archive: &(dyn Fn() + Sync),
    ) -> (Survey, Servers) {
        use rayon::prelude::*;
        // One survey for the run, not one per worker: its tables (a representative per
        // combination, a witness per server) are as large for a part of the run as for all of
        // it, since combinations repeat day after day.
        let shared = std::sync::Mutex::new(Survey::empty(inputs.len(), hold));
        let scratch = || Scratch {
            pseudonymiser: pseudonymiser.cloned(),
            part: Part {
                count_sizes: sizes,
                ..Part::default()
            },
            ..Scratch::default()
        };
        inputs
            .par_iter()
            .enumerate()
            .for_each_init(scratch, |scratch, (index, input)| {
                survey_one(index, input, seed, reading, hold, scratch, &shared);
                on_archive();
            });
        let mut survey = shared.into_inner().unwrap_or_else(|e| e.into_inner());
        survey.problems.sort();
        let mut run = RunEvidence::default();
        for end in survey.witnesses.keys() {
            run.insert(*end);
        }
        let servers = run.seal();
        let undecided = std::mem::take(&mut survey.undecided);
        let representatives = &mut survey.representatives;
        let lines = std::mem::take(&mut survey.undecided_lines);
        for (u, text) in undecided {
            let (side, _) = servers.decide(&u.ends);
            let port = u.ends.server(side).port;
            let c = combination(u.partial, side, Some(port));
            let text = || text.map(|t| lines.get(t));
            representatives.offer(c, u.rep(), text, &mut survey.held_bytes, HELD_LIMIT);
        }
        drop(lines);
        if survey.hold {
            let archives = &mut survey.archives;
            for r in survey.representatives.values_mut() {
                let held = archives[r.archive as usize].held.as_mut();
                if let (Some(held), Some(bytes)) = (held, r.text.take()) {
                    held.push(HeldLine {
                        line: r.line,
                        status: LogStatus::Ok,
                        bytes: bytes.into(),
                    });
                }
            }
            for (end, lines) in std::mem::take(&mut survey.witness_texts) {
                let Some(w) = survey.witnesses.get(&end) else {
                    continue;
                };
                if let Some(held) = archives[w.archive as usize].held.as_mut() {
                    for l in lines {
                        held.push(l);
                    }
                }
            }
            for a in archives.iter_mut() {
                if let Some(held) = &mut a.held {
                    held.seal();
                }
            }
        }
        (survey, servers)
    }

    /// Takes the lines held for each archive (see `ArchiveSurvey::held`), in input order.
    pub fn take_held(&mut self) -> Vec<Option<Held>> {
        self.archives.iter_mut().map(|a| a.held.take()).collect()
    }

    /// Every pinned record (evidence, window, representatives, and the witnesses that keep
    /// the representatives' servers the run's servers) per archive, in line order, each once.
    pub fn pinned(&self, servers: &Servers) -> Vec<Vec<Pinned>> {
        let mut out: Vec<Vec<Pinned>> = self
            .archives
            .iter()
            .map(|a| {
                let mut v = a.evidence.clone();
                v.extend(a.window_lines());
                v
            })
            .collect();
        let mut witnessed = std::collections::HashSet::new();
        for r in self.representatives.values() {
            out[r.archive as usize].push(Pinned {
                line: r.line,
                coin: r.coin,
                bytes: r.bytes,
                why: Why::Combination,
            });
            if let Some(ends) = r.ends {
                for end in run_witnesses(&ends, servers) {
                    witnessed.insert(end);
                }
            }
        }
        for end in witnessed {
            if let Some(w) = self.witnesses.get(&end) {
                for line in w.lines.witnesses() {
                    out[w.archive as usize].push(witness_pin(line));
                }
            }
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
            size += all.saturating_sub(*pinned);
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

/// A witness line pinned after the survey (its size and coin are not known).
pub fn witness_pin(line: u64) -> Pinned {
    Pinned {
        line,
        coin: u64::MAX,
        bytes: 0,
        why: Why::Witness,
    }
}

/// The run's servers whose witnesses keep the decision of a record with these ends: each end
/// that is a server of the run, and, when both ends are or both are not (so service ports
/// can decide), two servers on each end's service port.
pub fn run_witnesses(ends: &Ends, servers: &Servers) -> Vec<Endpoint> {
    let mut out = Vec::new();
    let (s, d) = (servers.is_server(&ends.src), servers.is_server(&ends.dst));
    for (end, is) in [(ends.src, s), (ends.dst, d)] {
        if is {
            out.push(end);
        }
        if s == d {
            out.extend(servers.service_witnesses(&end).into_iter().flatten());
        }
    }
    out
}

/// An archive's representative, with its line in the worker's arena when held.
fn add_local(
    map: &mut FastMap<Combination, (Representative, Option<Span>)>,
    k: Combination,
    v: Representative,
    span: Option<Span>,
) {
    use std::collections::hash_map::Entry;
    match map.entry(k) {
        Entry::Occupied(mut e) => {
            if v.order() < e.get().0.order() {
                e.insert((v, span));
            }
        }
        Entry::Vacant(e) => {
            e.insert((v, span));
        }
    }
}

/// Makes `w` the witness of `end` if it comes first; returns whether it did.
fn add_witness(
    map: &mut FastMap<Endpoint, ServerWitness>,
    end: Endpoint,
    w: ServerWitness,
) -> bool {
    use std::collections::hash_map::Entry;
    match map.entry(end) {
        Entry::Occupied(mut e) => {
            let wins = w < *e.get();
            if wins {
                e.insert(w);
            }
            wins
        }
        Entry::Vacant(e) => {
            e.insert(w);
            true
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

fn survey_one(
    index: usize,
    input: &Input,
    seed: u64,
    reading: Reading<'_>,
    hold: bool,
    scratch: &mut Scratch,
    shared: &std::sync::Mutex<Survey>,
) {
    let Scratch {
        servers,
        waiting,
        local,
        offers,
        recent,
        arena,
        pseudonymiser,
        part,
    } = scratch;
    arena.clear();
    let mut sink = SurveySink {
        index: index as u32,
        salt: archive_salt(seed, &input.key),
        evidence: Evidence::default(),
        archive: ArchiveSurvey::default(),
        part,
        last_header: None,
        reading,
        servers,
        waiting,
        local,
        pseudonymiser: pseudonymiser.as_mut(),
        hold: hold.then(|| Holding {
            arena: std::mem::take(&mut *arena),
            plain: true,
            header: None,
            records_seen: false,
        }),
    };
    let stats = scan_archive(&input.archive, reading.scan, &mut sink);
    let mut a = sink.archive;
    a.lines = stats.lines;
    a.records = stats.records;
    a.problems = stats.problems;
    // The archive is written from memory only when it reads as plain text: its one header
    // before every record, no problem (the writer passes over a bad line as the reader did,
    // but a plain archive has none to pass over).
    let holding = sink.hold.take();
    if let Some(h) = &holding {
        let plain = h.plain && !h.arena.full && stats.problems == 0;
        if plain && a.kind == Some(Kind::Text) {
            a.held = h.held(&a);
        }
    }
    // Lines are held only for an archive whose sample can be written from them.
    let held_arena: Option<&Arena> = holding
        .as_ref()
        .filter(|_| a.held.is_some())
        .map(|h| &h.arena);
    let text = |span: Option<Span>| -> Option<&[u8]> { Some(held_arena?.get(span?)) };
    let mut undecided = Vec::new();
    for u in waiting.drain(..) {
        match servers.decide(&u.ends) {
            Some(side) => {
                let port = u.ends.server(side).port;
                add_local(
                    local,
                    combination(u.partial, side, Some(port)),
                    u.rep(),
                    u.span,
                );
            }
            None => undecided.push(u),
        }
    }
    // Records of one archive repeat their combinations: the run's map, large and touched at
    // random, sees each of them once, if this worker does not know it would turn it down.
    offers.extend(
        local
            .drain()
            .filter(|(k, (v, _))| !recent.loses(*k, v.coin))
            .map(|(k, (v, span))| (k, v, span)),
    );
    let mut guard = shared.lock().unwrap_or_else(|e| e.into_inner());
    let survey = &mut *guard;
    for (k, v, span) in offers.drain(..) {
        let coin =
            survey
                .representatives
                .offer(k, v, || text(span), &mut survey.held_bytes, HELD_LIMIT);
        recent.note(k, coin);
    }
    for (end, near) in servers.servers() {
        let lines = near.wide();
        let w = ServerWitness {
            archive: index as u32,
            lines,
        };
        if add_witness(&mut survey.witnesses, end, w) && survey.hold {
            // The witness lines of the archive that is now the end's witness, or none.
            let held: Option<Vec<HeldLine>> = lines
                .witnesses()
                .into_iter()
                .map(|l| held_arena?.line(l))
                .collect();
            match held {
                Some(h) => survey.witness_texts.insert(end, h),
                None => survey.witness_texts.remove(&end),
            };
        }
    }
    for u in undecided {
        let stored = text(u.span)
            .filter(|t| survey.held_bytes + t.len() <= HELD_LIMIT)
            .map(|t| {
                survey.held_bytes += t.len();
                survey.undecided_lines.push(t)
            });
        survey.undecided.push((u, stored));
    }
    for (bucket, size) in part.sizes.drain(..) {
        survey.histogram[usize::from(bucket)] += u64::from(size);
    }
    survey.first_start = min_opt(survey.first_start, part.first_start.take());
    survey.last_end = survey.last_end.max(part.last_end.take());
    survey.problems_total += std::mem::take(&mut part.problems_total);
    // The first problems by place, whatever order the archives finish in.
    survey.problems.append(&mut part.problems);
    survey.problems.sort();
    survey.problems.truncate(PROBLEMS_KEPT);
    survey.archives[index] = a;
    drop(guard);
    servers.clear();
    if let Some(h) = holding {
        *arena = h.arena;
    }
}

/// What an archive's survey holds of its lines, for a sample written from memory.
struct Holding {
    /// Its records: the worker's arena, lent for the archive.
    arena: Arena,
    /// No header after a record, and at most one.
    plain: bool,
    header: Option<Box<[u8]>>,
    records_seen: bool,
}

impl Holding {
    /// The archive's held lines but its representatives' and witnesses': evidence and
    /// window. None when one is not in the arena.
    fn held(&self, a: &ArchiveSurvey) -> Option<Held> {
        let mut held = Held::new(self.header.clone());
        for p in a.evidence.iter().chain(&a.window_lines()) {
            held.push(self.arena.line(p.line)?);
        }
        Some(held)
    }
}

struct SurveySink<'s, 'r> {
    index: u32,
    salt: u64,
    evidence: Evidence,
    archive: ArchiveSurvey,
    part: &'s mut Part,
    last_header: Option<Vec<u8>>,
    reading: Reading<'r>,
    /// Who the servers are in this archive, and where it shows.
    servers: &'s mut ArchiveEvidence<Near>,
    /// Records in scope whose server this archive's evidence (or the run's) decides.
    waiting: &'s mut Vec<Undecided>,
    /// This archive's representatives.
    local: &'s mut FastMap<Combination, (Representative, Option<Span>)>,
    pseudonymiser: Option<&'s mut Pseudonymiser>,
    /// The lines held, when the run holds them.
    hold: Option<Holding>,
}

impl Sink for SurveySink<'_, '_> {
    fn format(&mut self, _archive: &Archive, _format: &Format) {
        self.evidence.format_changed();
    }

    fn header_line(&mut self, _archive: &Archive, _line: u64, bytes: &[u8]) {
        self.archive.text_bytes += bytes.len() as u64 + 1;
        if self.last_header.as_deref() != Some(bytes) {
            self.archive.header_bytes += bytes.len() as u64 + 1;
            self.last_header = Some(bytes.to_vec());
        }
        if let Some(h) = &mut self.hold {
            if h.records_seen || h.header.is_some() {
                h.plain = false;
            }
            h.header = Some(bytes.into());
        }
    }

    fn record(&mut self, _archive: &Archive, _line: u64, _flow: &Flow<'_>) {
        unreachable!("record_line is overridden")
    }

    fn record_line(&mut self, _archive: &Archive, line: u64, bytes: &[u8], flow: &Flow<'_>) {
        if let Some(h) = &mut self.hold {
            h.records_seen = true;
        }
        // A record outside --since/--until is not part of the input the sample stands for.
        if !in_window(flow, self.reading.since, self.reading.until) {
            return;
        }
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
        if self.part.count_sizes {
            self.part
                .sizes
                .push((bucket_of(coin) as u16, bytes.len() as u32 + 1));
        }
        // Any record may be pinned when the archive or the run ends.
        let span = self
            .hold
            .as_mut()
            .and_then(|h| h.arena.keep(line, bytes, flow.status));
        if self.evidence.keep(flow) {
            a.evidence.push(pin);
        }
        a.last = Some(pin);
        if let Some(s) = flow.start {
            if a.earliest.is_none_or(|(t, _)| s < t) {
                a.earliest = Some((s, pin));
            }
            self.part.first_start = min_opt(self.part.first_start, Some(s));
        }
        if let Some(e) = flow.end {
            if a.latest.is_none_or(|(t, _)| e > t) {
                a.latest = Some((e, pin));
            }
            self.part.last_end = self.part.last_end.max(Some(e));
        }
        if flow.status != LogStatus::Ok {
            return;
        }
        self.servers.observe(flow, line);
        let read = server::read(flow);
        if !self.reading.scopes.contains(flow) {
            return;
        }
        let partial = partial(flow, self.pseudonymiser.as_deref_mut());
        match (read.decided, read.ends) {
            (Some((side, _)), _) => {
                let port = match side {
                    Side::Src => flow.src_port,
                    Side::Dst => flow.dst_port,
                };
                // Its server needs no evidence, so neither does the sample.
                let rep = Representative {
                    coin,
                    archive: self.index,
                    line,
                    bytes: size,
                    ends: None,
                    text: None,
                };
                add_local(self.local, combination(partial, side, port), rep, span);
            }
            (None, Some(ends)) => self.waiting.push(Undecided {
                ends,
                partial,
                coin,
                line,
                archive: self.index,
                bytes: size as u32,
                span,
            }),
            (None, None) => unreachable!("server::read decides what has no ends"),
        }
    }

    fn kind(&mut self, _archive: &Archive, kind: Kind) {
        self.archive.kind = Some(kind);
    }

    fn problem(&mut self, problem: Problem) {
        self.part.problems_total += 1;
        if self.part.problems.len() < PROBLEMS_KEPT {
            self.part.problems.push(problem);
        }
    }
}
