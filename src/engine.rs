//! The one pass over the evidence: every archive read once, every record judged by every
//! policy, in parallel.
//!
//! Archives are independent, so the work splits by archive: rayon hands them to workers, each
//! worker folds its records into its own [`Tally`] without locks, and tallies merge at the end
//! in whatever order they finish. The merge is order-independent (see `tally`), so the report
//! is the same at any thread count. This is the only module that knows about threads.

pub mod bound;
pub mod conversations;
pub mod coverage;
pub mod hours;
pub mod server;
pub mod tally;

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use crate::flowlog::scan::{
    prepare, scan_prepared, scan_row_group, Prepared, ScanOptions, ScanStats,
};
use hours::{HourRun, HOUR};

use crate::flowlog::{Archive, Delivery, Field, Flow, Format, Kind, LogStatus, Problem, Sink};
use crate::policy::classifier::{self, Classifier, Lookup};
use crate::policy::{Policy, Verdict};
use server::{ArchiveEvidence, Basis, Pending, Reading};
pub use tally::{ConversationKey, ConversationStats, PolicyTally, Tally, Waiting, WaitingKey};

/// How to run one pass.
#[derive(Clone, Debug)]
pub struct ScanPlan<'a> {
    pub scan: ScanOptions,
    /// Worker threads; `None` uses every core.
    pub threads: Option<usize>,
    /// The date waivers are judged against.
    pub today: time::Date,
    /// Only records that end at or after this Unix time.
    pub since: Option<u64>,
    /// Only records that start before this Unix time.
    pub until: Option<u64>,
    /// Set to stop the scan early (Ctrl-C); a stopped scan's tally is incomplete.
    pub cancel: Option<&'a AtomicBool>,
    /// Gather who the servers are even without policies (they need it to key violations;
    /// nothing else does, so `inspect` skips it unless a benchmark asks).
    pub server_evidence: bool,
    /// (policy, conversation) pairs the run holds at most; past it, exact totals and a
    /// sample (`bound`).
    pub max_pairs: usize,
}

/// Reads every archive once and judges every record against every policy, in the order
/// given (one tally per policy, same index). `check --base` passes two versions of a policy
/// set, and probes of allow rules, as one slice. `on_archive` is called after each archive
/// (for progress displays), from worker threads.
pub fn run(
    policies: &[Policy],
    archives: &[Archive],
    plan: &ScanPlan<'_>,
    on_archive: &(dyn Fn() + Sync),
) -> Result<Tally, rayon::ThreadPoolBuildError> {
    let shape: Vec<(usize, usize)> = policies
        .iter()
        .map(|p| (p.allows.len(), p.waivers.len()))
        .collect();
    let classifier = Classifier::new(policies, plan.today);
    let required: Vec<_> = policies.iter().map(Policy::required_fields).collect();
    let gathered = tally::Gathered::new(policies.len(), plan.max_pairs);
    let work = || {
        archives
            .par_iter()
            .enumerate()
            .fold(
                || Tally::new(&shape),
                |mut tally, (index, archive)| {
                    let job = Job {
                        policies,
                        classifier: &classifier,
                        required: &required,
                        shape: &shape,
                        plan,
                    };
                    scan_one(&job, index, archive, &mut tally);
                    gathered.take_from(&mut tally);
                    on_archive();
                    tally
                },
            )
            .reduce(
                || Tally::new(&shape),
                |mut a, mut b| {
                    gathered.take_rest(&mut a);
                    gathered.take_rest(&mut b);
                    a.merge(b)
                },
            )
    };
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(n) = plan.threads {
        builder = builder.num_threads(n.max(1));
    }
    let mut tally = builder.build()?.install(work);
    let bound = gathered.give_to(&mut tally);
    tally.settle_run();
    tally.bound(&bound);
    Ok(tally)
}

/// The server of one OK record, as the check decides it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordSide {
    pub line: u64,
    pub protocol: Option<u8>,
    pub side: server::Side,
    pub basis: Basis,
}

/// How large the server rule's evidence grew over a run ([`sides`]): what bounds its memory
/// besides the records that wait for a key (docs/server.md, "Determinism and memory").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvidenceSize {
    /// Distinct ends of the largest archive: the most a worker's table of ends held.
    pub largest_archive_ends: usize,
    /// The run's servers: ends with fan-in in some archive, or flagged as a server.
    pub run_servers: usize,
    /// Service ports: (protocol, port) with run's servers on two or more addresses.
    pub service_ports: usize,
}

/// Decides the server of every OK record of `archives` by the check's rule, and hands each
/// archive's decisions, in line order, to `visit` (from worker threads); returns what `visit`
/// returned, in archive order. Two passes: the first gathers the run's servers, the second
/// decides each archive's records once its own evidence is complete. This is what the truth
/// test measures (`examples/truth.rs`); the check itself makes one pass and holds back only
/// the records that need a key. Also returns how large the evidence grew.
pub fn sides<T: Send>(
    archives: &[Archive],
    plan: &ScanPlan<'_>,
    visit: impl Fn(usize, &[RecordSide]) -> T + Sync,
) -> Result<(Vec<T>, EvidenceSize), rayon::ThreadPoolBuildError> {
    let work = || {
        let (run, largest) = archives
            .par_iter()
            .map(|archive| {
                let mut sink = EvidenceSink::new(plan, false);
                scan_prepared(prepare(archive), archive, &plan.scan, &mut sink);
                let mut run = server::RunEvidence::default();
                sink.evidence.add_servers_to(&mut run);
                (run, sink.evidence.len())
            })
            .reduce(
                || (server::RunEvidence::default(), 0),
                |(mut a, la), (b, lb)| {
                    a.merge(b);
                    (a, la.max(lb))
                },
            );
        let run = run.seal();
        let size = EvidenceSize {
            largest_archive_ends: largest,
            run_servers: run.len(),
            service_ports: run.service_ports(),
        };
        let per = archives
            .par_iter()
            .enumerate()
            .map(|(index, archive)| {
                let mut sink = EvidenceSink::new(plan, true);
                scan_prepared(prepare(archive), archive, &plan.scan, &mut sink);
                let decided: Vec<RecordSide> = sink
                    .records
                    .iter()
                    .map(|&(line, protocol, reading)| {
                        let (side, basis) = match (reading.decided, reading.ends) {
                            (Some(d), _) => d,
                            (None, Some(ends)) => server::decide(&ends, &sink.evidence, &run),
                            (None, None) => unreachable!("server::read decides what has no ends"),
                        };
                        RecordSide {
                            line,
                            protocol,
                            side,
                            basis,
                        }
                    })
                    .collect();
                visit(index, &decided)
            })
            .collect();
        (per, size)
    };
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(n) = plan.threads {
        builder = builder.num_threads(n.max(1));
    }
    Ok(builder.build()?.install(work))
}

/// Gathers one archive's evidence (and, when asked, its OK records' readings) as the check's
/// worker does.
struct EvidenceSink<'p> {
    plan: &'p ScanPlan<'p>,
    evidence: ArchiveEvidence,
    keep: bool,
    records: Vec<(u64, Option<u8>, Reading)>,
}

impl<'p> EvidenceSink<'p> {
    fn new(plan: &'p ScanPlan<'p>, keep: bool) -> Self {
        EvidenceSink {
            plan,
            evidence: ArchiveEvidence::default(),
            keep,
            records: Vec::new(),
        }
    }
}

impl Sink for EvidenceSink<'_> {
    fn format(&mut self, _archive: &Archive, _format: &Format) {}

    fn record(&mut self, _archive: &Archive, line: u64, flow: &Flow<'_>) {
        if flow.status != LogStatus::Ok || !in_window(flow, self.plan.since, self.plan.until) {
            return;
        }
        self.evidence.observe(flow, line);
        if self.keep {
            self.records.push((line, flow.protocol, server::read(flow)));
        }
    }

    fn problem(&mut self, _problem: Problem) {}

    fn cancelled(&self) -> bool {
        self.plan.cancel.is_some_and(|c| c.load(Ordering::Relaxed))
    }
}

/// Whether a record falls inside `--since`/`--until`: it ends at or after `since` and starts
/// before `until` (a record without times is kept).
#[inline]
pub fn in_window(flow: &Flow<'_>, since: Option<u64>, until: Option<u64>) -> bool {
    if let Some(since) = since {
        if flow.end.or(flow.start).is_some_and(|t| t < since) {
            return false;
        }
    }
    if let Some(until) = until {
        if flow.start.or(flow.end).is_some_and(|t| t >= until) {
            return false;
        }
    }
    true
}

/// What the decompress-only pass read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadTotals {
    pub archives: u64,
    pub lines: u64,
    pub bytes: u64,
    pub errors: u64,
    /// Records whose dstaddr is in [`LIGHT_PARSE_NET`] (counted by [`ReadDepth::LightParse`]).
    pub matched: u64,
}

/// How far [`read_only`] reads each line: the rungs of the benchmark's cost ladder below the
/// check (benches/bench.sh, docs/performance.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadDepth {
    /// Split lines, parse nothing: the floor.
    Lines,
    /// Issue 6's "light record parse", from which it set its first target: fields split at
    /// spaces, dstaddr parsed, one range test ([`LIGHT_PARSE_NET`]), matches counted. What a
    /// filter that trusts its input costs, against which the check, which validates every
    /// field of every record and then judges it, can be weighed. Without a header line or a
    /// `--log-format`, an archive is taken to be in AWS's default format (where the check
    /// would refuse it: a benchmark rung need not).
    LightParse(LightReader),
}

/// Who splits the fields and reads the address in [`ReadDepth::LightParse`]; both read the
/// same tokens and count the same records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LightReader {
    /// The record reader's tools (separators from SSE2 masks, its address readers): the light
    /// parse as cheap as this crate knows how to make it.
    Simd,
    /// The standard library (`split`, `IpAddr::from_str`): the code most filters are.
    Std,
}

/// The network the light parse tests dstaddr against: the benchmark's partner line.
pub const LIGHT_PARSE_NET: &str = "10.20.0.0/16";

/// Reads every archive through the same opener and line splitter as the check, parsing
/// nothing (or, at [`ReadDepth::LightParse`], one field): the floor a check is measured against
/// (`flowgate inspect --read-only [--light-parse READER]`). `log_format` is the format of
/// archives without a header line, as the check takes it.
pub fn read_only(
    archives: &[Archive],
    threads: Option<usize>,
    depth: ReadDepth,
    log_format: Option<&Format>,
) -> Result<ReadTotals, rayon::ThreadPoolBuildError> {
    let net: ipnet::IpNet = LIGHT_PARSE_NET.parse().expect("a valid network");
    let headerless = match log_format {
        Some(format) => format.position(crate::flowlog::Field::DstAddr),
        None => Format::default_v2().position(crate::flowlog::Field::DstAddr),
    };
    let work = || {
        archives
            .par_iter()
            .map(|archive| read_one(archive, depth, headerless, &net))
            .reduce(ReadTotals::default, |a, b| ReadTotals {
                archives: a.archives + b.archives,
                lines: a.lines + b.lines,
                bytes: a.bytes + b.bytes,
                errors: a.errors + b.errors,
                matched: a.matched + b.matched,
            })
    };
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(n) = threads {
        builder = builder.num_threads(n.max(1));
    }
    Ok(builder.build()?.install(work))
}

/// One archive of [`read_only`]; `dst_column` is where dstaddr is until a header says.
fn read_one(
    archive: &Archive,
    depth: ReadDepth,
    mut dst_column: Option<usize>,
    net: &ipnet::IpNet,
) -> ReadTotals {
    use crate::flowlog::lines::Line;
    let mut t = ReadTotals {
        archives: 1,
        ..Default::default()
    };
    let Ok(mut lines) = crate::flowlog::archive::open_lines(archive) else {
        t.errors += 1;
        return t;
    };
    loop {
        match lines.next_line() {
            Ok(Some(Line::Text { bytes, .. })) => {
                t.lines += 1;
                t.bytes += bytes.len() as u64 + 1;
                if let ReadDepth::LightParse(reader) = depth {
                    match Format::from_header_line(bytes) {
                        Some(Ok(format)) => {
                            dst_column = format.position(crate::flowlog::Field::DstAddr)
                        }
                        Some(Err(_)) => dst_column = None,
                        None => t.matched += u64::from(light_parse(reader, bytes, dst_column, net)),
                    }
                }
            }
            Ok(Some(Line::TooLong { length, .. })) => {
                t.lines += 1;
                t.bytes += length + 1;
            }
            Ok(None) => break,
            Err(_) => {
                t.errors += 1;
                break;
            }
        }
    }
    t
}

/// Whether the `dst_column`th of `line`'s space-separated fields is an address inside `net`.
/// [`LightReader::Std`] is written as a filter that trusts its input is: fields cut with
/// `split` up to dstaddr, the address read by the standard library.
#[inline]
fn light_parse(
    reader: LightReader,
    line: &[u8],
    dst_column: Option<usize>,
    net: &ipnet::IpNet,
) -> bool {
    let Some(column) = dst_column else {
        return false;
    };
    let addr = match reader {
        LightReader::Simd => crate::flowlog::record::light_addr(line, column),
        LightReader::Std => line
            .split(|&b| b == b' ')
            .nth(column)
            .and_then(|token| std::str::from_utf8(token).ok())
            .and_then(|text| text.parse::<IpAddr>().ok()),
    };
    addr.is_some_and(|addr| net.contains(&addr))
}

/// What every archive of a run is read with.
struct Job<'a> {
    policies: &'a [Policy],
    classifier: &'a Classifier,
    /// Per policy, the fields its keys need ([`Policy::required_fields`]): asked at every
    /// format, so worked out once per run, not once per archive and rule.
    required: &'a [Vec<(Field, &'static str)>],
    /// Allow rules and waivers per policy, for new tallies.
    shape: &'a [(usize, usize)],
    plan: &'a ScanPlan<'a>,
}

fn scan_one(job: &Job<'_>, index: usize, archive: &Archive, tally: &mut Tally) {
    if let Some(a) = &archive.meta.account {
        tally.coverage.accounts.insert(a.clone());
    }
    if let Some(r) = &archive.meta.region {
        tally.coverage.regions.insert(r.clone());
    }
    tally.archives_read += 1;
    match prepare(archive) {
        // The row groups of a Parquet object are independent: read them on every thread,
        // each into its own tally, merged like archives are. Who the servers are is a
        // question about the whole object, so the parts' evidence is merged before any of
        // their records is settled.
        Prepared::Parquet(log) if log.row_groups() > 1 && log.rows() > 0 => {
            type Part = (Tally, ArchiveEvidence, Pending<WaitingKey, Waiting>);
            let empty = || -> Part {
                (
                    Tally::new(job.shape),
                    Default::default(),
                    Default::default(),
                )
            };
            let (parts, evidence, mut waiting) = (0..log.row_groups())
                .into_par_iter()
                .fold(empty, |(mut part, mut evidence, mut waiting), group| {
                    let (e, w) =
                        scan_part(job, index, &mut part, group == 0, Default::default(), |w| {
                            scan_row_group(&log, group, archive, w)
                        });
                    evidence.merge(e);
                    waiting.merge(w);
                    (part, evidence, waiting)
                })
                .reduce(empty, |(a, mut ae, mut aw), (b, be, bw)| {
                    ae.merge(be);
                    aw.merge(bw);
                    (a.merge(b), ae, aw)
                });
            let mine = std::mem::take(tally);
            *tally = mine.merge(parts);
            settle_archive(tally, &evidence, &mut waiting);
        }
        prepared => {
            let evidence = std::mem::take(&mut tally.scratch);
            let (mut evidence, mut waiting) = scan_part(job, index, tally, true, evidence, |w| {
                scan_prepared(prepared, archive, &job.plan.scan, w)
            });
            settle_archive(tally, &evidence, &mut waiting);
            evidence.clear();
            tally.scratch = evidence;
            tally.scratch_waiting = waiting;
        }
    }
}

/// At the end of an archive: the violations its evidence decides join their conversations,
/// the rest wait for the run's; its servers join the run's.
fn settle_archive(
    tally: &mut Tally,
    evidence: &ArchiveEvidence,
    waiting: &mut Pending<WaitingKey, Waiting>,
) {
    let mut settling = tally::Settling::new(&mut tally.policies, &mut tally.scratch_settled);
    waiting.settle_archive(
        evidence,
        &mut tally.undecided,
        |side, basis, ends, key, waiting| {
            settling.settle(side, basis, &ends, &key, waiting);
        },
    );
    drop(settling);
    evidence.add_servers_to(&mut tally.servers);
}

/// Reads one archive, or one part of one, into `tally` through a fresh worker, with
/// `evidence` (empty) for its table of ends. `first`: whether this part counts the archive
/// under its format (once per archive). Returns the part's evidence of who the servers are
/// and its violations that wait for it.
fn scan_part(
    job: &Job<'_>,
    index: usize,
    tally: &mut Tally,
    first: bool,
    evidence: ArchiveEvidence,
    read: impl FnOnce(&mut Worker<'_, '_>) -> ScanStats,
) -> (ArchiveEvidence, Pending<WaitingKey, Waiting>) {
    // Empty; kept from the worker's last archive with its memory, as `evidence` is.
    let waiting = std::mem::take(&mut tally.scratch_waiting);
    let mut worker = Worker {
        policies: job.policies,
        classifier: job.classifier,
        look: job.classifier.new_lookup(),
        required: job.required,
        index,
        plan: job.plan,
        tally,
        count_formats: first,
        enabled: vec![0; job.policies.len().div_ceil(64)],
        ok_records: 0,
        formats_seen: HashSet::new(),
        window: (u64::MAX, u64::MIN),
        marked: (1, 0),
        recent: Box::new(std::array::from_fn(|i| i as u64 ^ 1)),
        hour: HourRun::default(),
        evidence,
        waiting,
        shared: [0; 2],
        gather: job.plan.server_evidence || !job.policies.is_empty(),
    };
    let stats = read(&mut worker);
    worker.count_scanned();
    worker.hour.flush(&mut worker.tally.hours);
    let (first, last) = worker.window;
    let found = (
        std::mem::take(&mut worker.evidence),
        std::mem::take(&mut worker.waiting),
    );
    if first <= last {
        tally.coverage.widen(first, last);
    }
    tally.lines += stats.lines;
    tally.records += stats.records;
    found
}

/// The sink for one archive: judges records and folds them into the worker's tally.
struct Worker<'a, 't> {
    policies: &'a [Policy],
    classifier: &'a Classifier,
    /// The current record's lookup: which policies' scope holds it.
    look: Lookup,
    required: &'a [Vec<(Field, &'static str)>],
    index: usize,
    plan: &'a ScanPlan<'a>,
    tally: &'t mut Tally,
    /// Whether this worker counts its archive under each format it meets (one part of a
    /// Parquet object does; the others read the same format).
    count_formats: bool,
    /// Which policies can be judged under the current format, 64 to a word as the
    /// classifier's candidates are.
    enabled: Vec<u64>,
    /// OK records since `enabled` last changed, not yet added to the enabled policies'
    /// `scanned`: one addition per policy and format, not one per policy and record.
    ok_records: u64,
    formats_seen: HashSet<String>,
    /// Earliest start and latest end of this archive's records, widened into the coverage
    /// once at the end (empty while start > end).
    window: (u64, u64),
    /// Minutes `lo..=hi` that are all marked in the coverage map (none while lo > hi).
    /// Records of one archive overlap in time, so most fall inside and need no map update.
    marked: (u64, u64),
    /// Interface hashes already in the coverage's set, each at slot `hash % RECENT`. An
    /// archive holds a few hundred interfaces in no order, so the last one seen rarely
    /// repeats; most are still here, and a look here costs a few instructions where the
    /// set costs ~45. Slot `i` starts as `i ^ 1`, which no hash of that slot equals.
    recent: Box<[u64; RECENT]>,
    /// Records of the current hour, not yet added to the tally's `hours`.
    hour: HourRun,
    /// Who talked to whom in this archive: step 3 of the server rule (`server`).
    evidence: ArchiveEvidence,
    /// Violations whose server this archive's evidence (or the run's) decides.
    waiting: Pending<WaitingKey, Waiting>,
    /// The policies for which the current record waits in one shared entry
    /// ([`WaitingKey::Shared`]), added once its policies are judged.
    shared: [u64; 2],
    /// Whether to gather the evidence at all (see [`ScanPlan::server_evidence`]).
    gather: bool,
}

/// Slots of `Worker::recent`: 8 KiB.
const RECENT: usize = 1024;

impl Worker<'_, '_> {
    /// Adds the OK records counted since the last call to the `scanned` of every policy
    /// enabled over them: before `enabled` changes, and at the end of the archive.
    fn count_scanned(&mut self) {
        let n = std::mem::take(&mut self.ok_records);
        if n == 0 {
            return;
        }
        for (i, pt) in self.tally.policies.iter_mut().enumerate() {
            if self.enabled[i / 64] >> (i % 64) & 1 != 0 {
                pt.counts.scanned += n;
            }
        }
    }

    /// Judges the OK record for every enabled policy whose scope holds it (`look` has the
    /// record's lookup). Out of line: most records are in no policy's scope, and inlined into
    /// `record` the judging's set-up (the record's fields loaded for the rules) ran for every
    /// record, ~100 instructions each (docs/performance.md).
    #[inline(never)]
    fn judge_candidates(&mut self, line: u64, flow: &Flow<'_>) {
        for w in 0..self.enabled.len() {
            let mut candidates = self.look.candidates()[w] & self.enabled[w];
            while candidates != 0 {
                let i = 64 * w + candidates.trailing_zeros() as usize;
                candidates &= candidates - 1;
                self.judge(i, line, flow);
            }
        }
        if self.shared != [0; 2] {
            self.wait_shared(line, flow);
        }
    }

    /// Steps 2-6 of the verdict of policy `i` for an OK record, folded into its tally.
    #[inline]
    fn judge(&mut self, i: usize, line: u64, flow: &Flow<'_>) {
        let pt = &mut self.tally.policies[i];
        let verdict =
            self.classifier
                .judge(i, &self.look, flow, &mut pt.allow_hits, &mut pt.waiver_hits);
        if verdict != Verdict::OutOfScope {
            pt.saw_in_scope(flow.start, flow.end);
        }
        match verdict {
            Verdict::OutOfScope => {}
            Verdict::AlreadyRejected => pt.counts.already_rejected += 1,
            Verdict::Allowed => pt.counts.allowed += 1,
            Verdict::Waived => pt.counts.waived += 1,
            Verdict::Violation { expired_waiver } => self.blocked(i, line, flow, expired_waiver),
        }
    }

    /// A record policy `i` would block, counted into its conversation (or held until its
    /// server is known). Out of line: inlined, the conversation key's fields (ports, times,
    /// counts) were loaded for every record judged, blocked or not (~80 instructions a
    /// record with a candidate policy). The record's [`Reading`] is made here, not in
    /// `record`: a blocked record needs it, the evidence does not (~40 instructions a record).
    #[inline(never)]
    fn blocked(&mut self, i: usize, line: u64, flow: &Flow<'_>, expired_waiver: Option<usize>) {
        let reading = server::read(flow);
        let policy = &self.policies[i];
        let pt = &mut self.tally.policies[i];
        pt.counts.would_block += 1;
        let endpoints = policy.endpoints(flow);
        let mut stats = violation((self.index, line), flow, expired_waiver);
        match (reading.decided, reading.ends) {
            (Some((side, basis)), _) => {
                stats.basis = basis;
                let key = ConversationKey::new(
                    flow.protocol,
                    endpoints,
                    side,
                    (flow.src_port, flow.dst_port),
                );
                if let Some(s) = flow.start {
                    pt.blocked_hours
                        .entry((key.protocol, key.server_port))
                        .or_default()
                        .add(s / HOUR, 1);
                }
                pt.add_conversation(key, stats);
            }
            (None, Some(ends)) => {
                let own = endpoints == (flow.src, flow.dst);
                match WaitingKey::shared_bit(i) {
                    Some([a, b]) if own && expired_waiver.is_none() => {
                        self.shared[0] |= a;
                        self.shared[1] |= b;
                    }
                    _ => {
                        let key = WaitingKey::One(Box::new((i, endpoints.0, endpoints.1)));
                        self.waiting.add(ends, key, Waiting::one(stats));
                    }
                }
            }
            (None, None) => unreachable!("server::read decides what has no ends"),
        }
    }

    /// The current record waits once for every policy in `shared`.
    #[inline(never)]
    fn wait_shared(&mut self, line: u64, flow: &Flow<'_>) {
        let bits = std::mem::take(&mut self.shared);
        let Some(ends) = server::read(flow).ends else {
            unreachable!("only a record with ends waits")
        };
        let stats = violation((self.index, line), flow, None);
        self.waiting
            .add(ends, WaitingKey::Shared(bits), Waiting::one(stats));
    }
}

/// The sums of one would-be-blocked record at `example` (its basis is set once its server
/// is known).
#[inline]
fn violation(
    example: (usize, u64),
    flow: &Flow<'_>,
    expired_waiver: Option<usize>,
) -> ConversationStats {
    ConversationStats {
        records: 1,
        packets: flow.packets.unwrap_or(0),
        bytes: flow.bytes.unwrap_or(0),
        first_start: flow.start,
        last_end: flow.end,
        example,
        expired_waiver,
        basis: Basis::LowerPort,
    }
}

impl Sink for Worker<'_, '_> {
    fn format(&mut self, archive: &Archive, format: &Format) {
        self.count_scanned();
        let header = format.header();
        if self.count_formats && self.formats_seen.insert(header.clone()) {
            *self.tally.formats.entry(header).or_default() += 1;
        }
        self.tally
            .unknown_fields
            .extend(format.unknown_columns().map(str::to_string));
        for (i, required) in self.required.iter().enumerate() {
            let missing: Vec<_> = required
                .iter()
                .copied()
                .filter(|(field, _)| !format.has(*field))
                .collect();
            let (word, bit) = (i / 64, 1 << (i % 64));
            if missing.is_empty() {
                self.enabled[word] |= bit;
            } else {
                self.enabled[word] &= !bit;
            }
            for (field, key) in missing {
                self.tally.policies[i]
                    .field_errors
                    .insert((self.index, field, key));
            }
        }
        let _ = archive;
    }

    fn record(&mut self, _archive: &Archive, line: u64, flow: &Flow<'_>) {
        if !in_window(flow, self.plan.since, self.plan.until) {
            return;
        }
        if let (Some(s), Some(e)) = (flow.start, flow.end) {
            self.window = (self.window.0.min(s), self.window.1.max(e));
            let (a, b) = (s / 60, e / 60);
            let (lo, hi) = self.marked;
            if (a < lo || b > hi) && self.tally.coverage.mark_minutes(s, e) {
                // Overlapping or adjacent spans join into one; else the newer one is kept.
                self.marked = if lo <= hi && a <= hi.saturating_add(1) && lo <= b.saturating_add(1)
                {
                    (a.min(lo), b.max(hi))
                } else {
                    (a, b)
                };
            }
        }
        if let Some(s) = flow.start {
            self.hour.count(s, &mut self.tally.hours);
        }
        let interface = flow.interface.map(classifier::id_hash);
        if let Some(h) = interface {
            let slot = &mut self.recent[h as usize % RECENT];
            if *slot != h {
                *slot = h;
                self.tally.coverage.interfaces.insert(h);
            }
        }
        match flow.status {
            LogStatus::NoData => return self.tally.nodata += 1,
            LogStatus::SkipData => {
                if let Some(s) = flow.start {
                    self.tally.skipdata_hours.add(s / HOUR, 1);
                }
                return self.tally.skipdata += 1;
            }
            LogStatus::Ok => {}
        }
        self.ok_records += 1;
        if !self.gather {
            return;
        }
        self.evidence.observe(flow, line);
        // Only the policies whose scope holds the record are judged: for the others the
        // verdict is OutOfScope, which changes nothing but `scanned`, counted in `ok_records`.
        self.classifier.lookup(flow, interface, &mut self.look);
        let candidates = self.look.candidates().iter().zip(&self.enabled);
        if candidates.fold(0, |any, (c, e)| any | c & e) != 0 {
            self.judge_candidates(line, flow);
        }
    }

    fn kind(&mut self, _archive: &Archive, kind: Kind) {
        self.tally.kinds.insert(self.index, kind);
    }

    fn wants_lines(&self) -> bool {
        false
    }

    fn delivery(&mut self, _archive: &Archive, d: &Delivery<'_>) {
        let cw = &mut self.tally.cloudwatch;
        if d.control {
            cw.control_messages += 1;
            return;
        }
        if let Some(owner) = d.owner {
            self.tally.coverage.accounts.insert(owner.to_string());
        }
        if let Some(group) = d.log_group {
            if !cw.log_groups.contains(group) {
                cw.log_groups.insert(group.to_string());
            }
        }
        if let Some(stream) = d.log_stream {
            if !cw.log_streams.contains(stream) {
                cw.log_streams.insert(stream.to_string());
            }
        }
    }

    fn problem(&mut self, problem: Problem) {
        self.tally.problems.push(problem);
    }

    fn cancelled(&self) -> bool {
        self.plan.cancel.is_some_and(|c| c.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::coverage::Coverage;
    use super::*;
    use crate::source::{ArchiveMeta, Source};

    /// `text` as the plain-text archive `name` in `dir`.
    fn text_archive(dir: &tempfile::TempDir, name: &str, text: &str) -> Archive {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        Archive {
            display: name.into(),
            source: Source::File(path),
            meta: ArchiveMeta::default(),
        }
    }

    /// The light parse counts dstaddr in 10.20.0.0/16 by the column the last header names
    /// (none after a header that is not a format; `log_format`, else AWS's default, before
    /// any), the last column included, and counts nothing it cannot read; the plain read-only
    /// pass counts lines alone. Both light readers cut tokens at spaces only.
    #[test]
    fn the_light_parse_reads_dstaddr_where_the_header_puts_it() {
        let with_header = "\
version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status
2 1 eni-1 10.0.0.1 10.20.30.5 1 443 6 1 60 10 20 ACCEPT OK
2 1 eni-1 10.20.30.5 10.0.0.1 443 1 6 1 60 10 20 ACCEPT OK
2 1 eni-1 10.0.0.1 10.20.255.255 1 443 6 1 60 10 20 REJECT OK
2 1 eni-1 10.0.0.1 10.21.0.1 1 443 6 1 60 10 20 ACCEPT OK
2 1 eni-1 10.0.0.1 2600::1 1 443 6 1 60 10 20 ACCEPT OK
2 1 eni-1 10.0.0.1 10.20.0.x 1 443 6 1 60 10 20 ACCEPT OK
2 1 eni-1 - - - - - - - 10 20 - NODATA
2 1 eni-1 10.0.0.1 10.20.7.7 1 443 6 1 60 10 20 ACCEPT\tOK\x1b
dstaddr srcaddr
10.20.1.1 10.0.0.1
10.0.0.1 10.20.1.1
srcaddr dstaddr
10.0.0.1 10.20.2.2
version srcaddr srcaddr
10.20.3.3 10.20.3.3 10.20.3.3
";
        let headerless = "\
2 1 eni-1 10.0.0.1 10.20.5.5 1 443 6 1 60 10 20 ACCEPT OK
10.20.4.4 10.0.0.1
10.20.4.4 10.0.0.1
";
        let dir = tempfile::tempdir().unwrap();
        let archives = [
            text_archive(&dir, "a.log", with_header),
            text_archive(&dir, "b.log", with_header),
            text_archive(&dir, "c.log", headerless),
        ];
        let spec = Format::from_names(["dstaddr", "srcaddr"]).unwrap();
        let lines = ReadTotals {
            archives: 3,
            lines: 2 * 16 + 3,
            bytes: (2 * with_header.len() + headerless.len()) as u64,
            errors: 0,
            matched: 0,
        };
        for reader in [LightReader::Simd, LightReader::Std] {
            let light = ReadDepth::LightParse(reader);
            let got = read_only(&archives, Some(2), light, None).unwrap();
            assert_eq!(
                got,
                ReadTotals {
                    matched: 2 * 5 + 1,
                    ..lines
                },
                "{reader:?}"
            );
            let got = read_only(&archives, Some(2), light, Some(&spec)).unwrap();
            assert_eq!(
                got,
                ReadTotals {
                    matched: 2 * 5 + 2,
                    ..lines
                },
                "{reader:?}"
            );
        }
        assert_eq!(
            read_only(&archives, Some(2), ReadDepth::Lines, None).unwrap(),
            lines
        );
    }

    /// The worker's shortcuts (scanned counted per format, the marked-minutes span, the
    /// filter of interface hashes) give what plain per-record bookkeeping gives.
    #[test]
    fn bookkeeping_matches_a_per_record_reckoning() {
        const V2: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";
        const DIR: &str = "interface-id srcaddr dstaddr start end action log-status flow-direction";
        let mut want = Coverage::default();
        let mut text = String::new();
        let (mut ok_v2, mut ok_dir) = (0, 0);
        let mut x: u64 = 1;
        let mut next = |n: u64| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % n
        };
        for (part, header) in [V2, DIR, V2, DIR].iter().enumerate() {
            text.push_str(header);
            text.push('\n');
            for i in 0..200 {
                // Minutes 0 and 2 (2 and 0 in odd parts), then 1, which a span joined across
                // the gap would skip; then overlapping, disjoint and absurd intervals.
                // Interfaces in no order, some sharing a filter slot; now and then NODATA.
                let base = 1_793_491_200 + part as u64 * 7_200;
                let start = match i {
                    0..3 if part % 2 == 0 => base + [0, 120, 60][i],
                    0..3 => base + [120, 0, 60][i],
                    _ => base + 600 + next(1_800),
                };
                let end = match i {
                    0..3 => start,
                    _ => start + [0, 59, 60, 600, 7_200][next(5) as usize],
                };
                let eni = format!("eni-{:017x}", next(3_000) * 1024);
                let nodata = i >= 3 && next(10) == 0;
                let status = if nodata { "NODATA" } else { "OK" };
                let line = if *header == V2 {
                    ok_v2 += u64::from(!nodata);
                    format!("2 1 {eni} 10.0.0.1 10.0.0.2 1 2 6 1 60 {start} {end} ACCEPT {status}")
                } else {
                    ok_dir += u64::from(!nodata);
                    format!("{eni} 10.0.0.1 10.0.0.2 {start} {end} ACCEPT {status} egress")
                };
                text.push_str(&line);
                text.push('\n');
                want.add(start, end);
                want.interfaces.insert(classifier::id_hash(&eni));
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let archive = text_archive(&dir, "a.log", &text);
        let policies = crate::policy::PolicySet::from_sources([
            ("a.toml", "[scope]\ndirection = 'egress'\n"),
            ("b.toml", "[scope]\n"),
        ])
        .unwrap();
        let plan = ScanPlan {
            scan: ScanOptions::default(),
            threads: Some(1),
            today: time::macros::date!(2026 - 11 - 26),
            since: None,
            until: None,
            cancel: None,
            server_evidence: false,
            max_pairs: bound::DEFAULT_PAIRS,
        };
        let tally = run(policies.policies(), &[archive], &plan, &|| {}).unwrap();
        assert_eq!(tally.coverage, want);
        assert_eq!(tally.policies[0].counts.scanned, ok_dir);
        assert_eq!(tally.policies[1].counts.scanned, ok_v2 + ok_dir);
        assert!(want.interfaces.len() > 100, "{}", want.interfaces.len());
    }
}
