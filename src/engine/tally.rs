//! Counts that one worker accumulates, and how two of them merge.
//!
//! Every field merges by addition, minimum, maximum or set union, so merging tallies in any
//! order gives the same result: that is what makes the report independent of the number of
//! threads. Memory grows with the number of distinct would-be-blocked conversations, the
//! problems kept, the run's servers and the violations whose server waits for the run's
//! evidence (see `server`), never with the number of records.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::Serialize;

use super::bound::{Bound, Dropped, Sampled};
use super::conversations::{max_opt, min_opt, Conversations, Sums};
pub use super::conversations::{ConversationKey, ConversationStats};
use super::coverage::Coverage;
use super::hours::{Hours, HOUR};
use super::server::{Held, Merge, Pending, RunEvidence};
use crate::flowlog::{Field, Kind, Problem};

/// Problems kept in full; the rest are only counted. Enough to show the pattern of a broken
/// archive without holding millions of messages.
pub const PROBLEMS_KEPT: usize = 1000;

/// Records of one policy by verdict branch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// OK records read for this policy (all of them, in scope or not).
    pub scanned: u64,
    pub in_scope: u64,
    pub allowed: u64,
    pub already_rejected: u64,
    pub waived: u64,
    pub would_block: u64,
}

/// Everything learnt from the archives a worker read.
#[derive(Debug, Default)]
pub struct Tally {
    pub archives_read: u64,
    pub lines: u64,
    pub records: u64,
    pub nodata: u64,
    pub skipdata: u64,
    pub problems: ProblemLog,
    /// Header line -> number of archives using it.
    pub formats: BTreeMap<String, u64>,
    pub unknown_fields: BTreeSet<String>,
    pub coverage: Coverage,
    /// Records (OK, NODATA and SKIPDATA) per hour of their start.
    pub hours: Hours,
    /// SKIPDATA records per hour of their start.
    pub skipdata_hours: Hours,
    pub policies: Vec<PolicyTally>,
    /// The kind of each archive read, by index (an archive that could not be opened has none).
    pub kinds: BTreeMap<usize, Kind>,
    pub cloudwatch: CloudWatchTally,
    /// The run's servers: step 4 of the server rule.
    pub servers: RunEvidence,
    /// Violations whose archive did not decide their server; [`Tally::settle_run`] does.
    pub undecided: Held<WaitingKey, Waiting>,
    /// The worker's per-archive table of ends, kept empty between archives so that it is
    /// not grown anew for each (never merged).
    pub(crate) scratch: super::server::ArchiveEvidence,
    /// The worker's per-archive table of waiting violations, kept empty between archives
    /// for the same reason (never merged).
    pub(crate) scratch_waiting: Pending<WaitingKey, Waiting>,
    /// The worker's staging of settled sums per policy ([`Settling`]), kept empty between
    /// archives (never merged).
    pub(crate) scratch_settled: Vec<Vec<(ConversationKey, Sums)>>,
    /// Set once the run's bound on conversations ([`super::bound`]) dropped some: the
    /// fraction of conversations its sample keeps.
    pub sampled: Option<Sampled>,
}

/// What a violation waiting for its server is kept by besides its two ends: the policies it
/// counts for, and the (src, dst) addresses they report.
///
/// A record that a hundred broad drafts would block waits once for all of them, not once per
/// policy: where the policies see the record's own addresses (the ends') and no expired
/// waiver marks it, the same sums are theirs, so one entry with a bit per policy holds them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum WaitingKey {
    /// Bit `i` (of 128) for policy `i`: policies below [`SHARED_POLICIES`] that report the
    /// ends' addresses, with no expired waiver matched.
    Shared([u64; 2]),
    /// One policy (any other case) and the (src, dst) addresses it reports. Boxed: rare, and
    /// every key is as wide as the widest variant.
    One(Box<(usize, Option<IpAddr>, Option<IpAddr>)>),
}

/// Policies whose waiting violations can share one entry ([`WaitingKey::Shared`]); the
/// others wait one policy to an entry, which counts the same.
pub const SHARED_POLICIES: usize = 128;

impl WaitingKey {
    /// `Some(bits)` with bit `i` set for policy `i` (below [`SHARED_POLICIES`]).
    pub fn shared_bit(i: usize) -> Option<[u64; 2]> {
        let mut bits = [0; 2];
        *bits.get_mut(i / 64)? |= 1 << (i % 64);
        Some(bits)
    }

    /// The policies and the (src, dst) addresses each reports, for a violation between
    /// `ends`.
    pub fn each(
        &self,
        ends: &super::server::Ends,
    ) -> impl Iterator<Item = (usize, Option<IpAddr>, Option<IpAddr>)> + '_ {
        let own = (Some(ends.src.addr), Some(ends.dst.addr));
        let (bits, one) = match self {
            WaitingKey::Shared(bits) => (*bits, None),
            WaitingKey::One(one) => ([0; 2], Some(**one)),
        };
        // The set bits only, lowest first: a record blocked by a few of a hundred drafts
        // must not test all 128.
        let shared = bits.into_iter().enumerate().flat_map(move |(w, mut word)| {
            std::iter::from_fn(move || {
                let bit = word.trailing_zeros() as usize;
                word &= word.wrapping_sub(1);
                (bit < 64).then_some(64 * w + bit)
            })
        });
        shared.map(move |i| (i, own.0, own.1)).chain(one)
    }
}

/// What CloudWatch Logs deliveries said about where their records came from.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CloudWatchTally {
    /// CONTROL_MESSAGEs skipped (health checks of a subscription's destination).
    pub control_messages: u64,
    pub log_groups: BTreeSet<String>,
    /// `eni-…-all`: one per interface.
    pub log_streams: BTreeSet<String>,
}

/// Problems in (archive, line) order: the first [`PROBLEMS_KEPT`] in full, all counted.
#[derive(Debug, Default)]
pub struct ProblemLog {
    pub kept: Vec<Problem>,
    pub total: u64,
}

/// What one policy saw.
#[derive(Debug, Default)]
pub struct PolicyTally {
    pub counts: Counts,
    pub allow_hits: Vec<u64>,
    pub waiver_hits: Vec<u64>,
    /// Would-be-blocked conversations, packed (see `conversations`).
    pub conversations: Conversations,
    /// The sums of the conversations the run's bound dropped (see `bound`).
    pub dropped: Dropped,
    /// Would-be-blocked records per service (protocol, server port) and hour of their start.
    pub blocked_hours: BTreeMap<(Option<u8>, Option<u16>), Hours>,
    pub in_scope_first: Option<u64>,
    pub in_scope_last: Option<u64>,
    /// (archive index, field, policy key): archives this policy could not be judged against.
    pub field_errors: BTreeSet<(usize, Field, &'static str)>,
}

/// Violations waiting for their server (see `server::Pending`): their sums, packed (80 bytes
/// in all), and the hours they started in, which join their service's timeline once the
/// server is known.
#[derive(Clone, Debug)]
pub struct Waiting {
    sums: Sums,
    pub hours: StartHours,
}

/// The hours a waiting violation's records started in. A violation waits per flow (both
/// ports), so most wait as one record, or a few in one hour: those are kept inline, and only
/// records spread over hours take a map. (Before, every waiting violation held a map of its
/// own, a 192-byte node: with a hundred failing drafts, most of the memory of the check.)
/// 16 bytes: the hour as 32 bits inline (hours since 1970 fit until the year 490,000; a later
/// one takes the map), the map boxed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StartHours {
    /// No record with a start.
    #[default]
    None,
    /// `records` started in `hour`.
    One {
        hour: u32,
        records: u64,
    },
    Many(Box<Hours>),
}

impl StartHours {
    pub fn add(&mut self, hour: u64, n: u64) {
        if n == 0 {
            return;
        }
        match self {
            StartHours::None => match u32::try_from(hour) {
                Ok(hour) => *self = StartHours::One { hour, records: n },
                Err(_) => *self = StartHours::Many(Box::new([(hour, n)].into_iter().collect())),
            },
            StartHours::One { hour: h, records } if u64::from(*h) == hour => *records += n,
            StartHours::One { hour: h, records } => {
                let mut many = Hours::default();
                many.add(u64::from(*h), *records);
                many.add(hour, n);
                *self = StartHours::Many(Box::new(many));
            }
            StartHours::Many(many) => many.add(hour, n),
        }
    }

    /// Folds another's hours in; the result does not depend on the order.
    pub fn merge(&mut self, other: StartHours) {
        match other {
            StartHours::None => {}
            StartHours::One { hour, records } => self.add(u64::from(hour), records),
            StartHours::Many(many) => {
                for (hour, n) in many.iter() {
                    self.add(hour, n);
                }
            }
        }
    }

    /// Adds these hours to `hours`.
    pub fn add_to(&self, hours: &mut Hours) {
        match self {
            StartHours::None => {}
            StartHours::One { hour, records } => hours.add(u64::from(*hour), *records),
            StartHours::Many(many) => {
                for (hour, n) in many.iter() {
                    hours.add(hour, n);
                }
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == StartHours::None
    }
}

impl Waiting {
    /// One record's.
    pub fn one(stats: ConversationStats) -> Waiting {
        let mut hours = StartHours::None;
        if let Some(s) = stats.first_start {
            hours.add(s / HOUR, 1);
        }
        Waiting {
            sums: Sums::pack(&stats),
            hours,
        }
    }

    /// The sums of the records waiting.
    pub fn stats(&self) -> ConversationStats {
        self.sums.unpack()
    }

    /// Records how their server was decided.
    pub fn set_basis(&mut self, basis: super::server::Basis) {
        self.sums.set_basis(basis);
    }
}

impl Merge for Waiting {
    fn merge(&mut self, other: Waiting) {
        self.sums.merge(&other.sums);
        self.hours.merge(other.hours);
    }
}

impl ProblemLog {
    pub fn push(&mut self, p: Problem) {
        self.total += 1;
        if self.kept.len() < PROBLEMS_KEPT {
            self.kept.push(p);
        }
    }

    fn merge(&mut self, other: ProblemLog) {
        self.total += other.total;
        self.kept.extend(other.kept);
        self.kept.sort();
        self.kept.truncate(PROBLEMS_KEPT);
    }
}

impl PolicyTally {
    pub fn new(allows: usize, waivers: usize) -> Self {
        PolicyTally {
            allow_hits: vec![0; allows],
            waiver_hits: vec![0; waivers],
            ..Default::default()
        }
    }

    /// Adds records to their conversation.
    pub fn add_conversation(&mut self, key: ConversationKey, stats: ConversationStats) {
        self.conversations.add(key, &stats);
    }

    /// Notes a record in scope at `[start, end]`.
    pub fn saw_in_scope(&mut self, start: Option<u64>, end: Option<u64>) {
        self.counts.in_scope += 1;
        self.in_scope_first = min_opt(self.in_scope_first, start);
        self.in_scope_last = max_opt(self.in_scope_last, end);
    }

    fn merge(&mut self, o: PolicyTally) {
        let c = &mut self.counts;
        c.scanned += o.counts.scanned;
        c.in_scope += o.counts.in_scope;
        c.allowed += o.counts.allowed;
        c.already_rejected += o.counts.already_rejected;
        c.waived += o.counts.waived;
        c.would_block += o.counts.would_block;
        for (a, b) in self.allow_hits.iter_mut().zip(o.allow_hits) {
            *a += b;
        }
        for (a, b) in self.waiver_hits.iter_mut().zip(o.waiver_hits) {
            *a += b;
        }
        self.conversations.merge(o.conversations);
        self.dropped.merge(o.dropped);
        for (k, v) in o.blocked_hours {
            self.blocked_hours.entry(k).or_default().merge(v);
        }
        self.in_scope_first = min_opt(self.in_scope_first, o.in_scope_first);
        self.in_scope_last = max_opt(self.in_scope_last, o.in_scope_last);
        self.field_errors.extend(o.field_errors);
    }
}

/// The run's would-be-blocked conversations and waiting violations, shared by the workers:
/// each hands over what it gathered at the end of every archive ([`Gathered::take_from`]).
///
/// Kept in each worker's tally until the end of the run, the same conversation was held once
/// per worker (a week's services recur every day, so nearly all of them), and the merge of
/// the workers' tallies held both and the merged copy at once: with a hundred failing drafts,
/// the check's peak. Here the run holds each once, and a worker only its current archive's.
/// A lock per policy, so two workers handing over rarely wait for each other; additions
/// commute, so the order of hand-overs changes no count. The run's [`Bound`] admits what is
/// handed over and compacts the store when it outgrows it.
#[derive(Debug)]
pub struct Gathered {
    conversations: Vec<std::sync::Mutex<(Conversations, Dropped)>>,
    undecided: std::sync::Mutex<Held<WaitingKey, Waiting>>,
    bound: Bound,
    /// Held by the one worker compacting the store (which locks every policy's table).
    compacting: std::sync::Mutex<()>,
}

/// Entries (conversations and waiting violations) a worker sums on its own before it hands
/// them to the run's [`Gathered`]: ~2.5 MiB of entries, in tables that grow to several times
/// that (a hundred policies' tables, each with its slack). Halved from 65,536 with issue 21's
/// set d, where a worker's tables were ~13 MiB of the check's peak each.
pub const WORKER_HOLDS: usize = 1 << 15;

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A worker that panicked while holding it fails the run anyway.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Gathered {
    /// For `policies` policies, holding at most `max_pairs` (policy, conversation) pairs.
    pub fn new(policies: usize, max_pairs: usize) -> Gathered {
        Gathered {
            conversations: (0..policies).map(|_| Default::default()).collect(),
            undecided: Default::default(),
            bound: Bound::new(max_pairs),
            compacting: Default::default(),
        }
    }

    /// Compacts the store if it holds more than `most` pairs.
    fn compact(&self, most: usize) {
        let held: usize = self.conversations.iter().map(|c| lock(c).0.len()).sum();
        if held <= most {
            return;
        }
        let _alone = lock(&self.compacting);
        let mut all: Vec<_> = self.conversations.iter().map(lock).collect();
        let mut tables: Vec<_> = all
            .iter_mut()
            .map(|g| {
                let (table, dropped) = &mut **g;
                (table, dropped)
            })
            .collect();
        self.bound.compact(&mut tables, most);
    }

    /// Moves a worker's conversations and waiting violations here once they hold more than
    /// [`WORKER_HOLDS`] entries: a worker's next archives mostly repeat its conversations, so
    /// they are summed in its own small tables first, and the run's are locked a few times
    /// per hundred archives, not once per archive. What a worker still holds at the end joins
    /// the run's through [`Gathered::take_rest`].
    pub fn take_from(&self, tally: &mut Tally) {
        let held: usize = tally.undecided.len()
            + tally
                .policies
                .iter()
                .map(|p| p.conversations.len())
                .sum::<usize>();
        if held > WORKER_HOLDS {
            self.take_all(tally, true);
        }
    }

    /// Moves everything a worker still holds here, whatever its size: as the workers'
    /// tallies merge at the end of the scan, so that merging them does not hold their tables
    /// and the merged copy beside the run's (on issue 21's set d, that merge was the check's
    /// peak once the waiting violations were a list).
    pub fn take_rest(&self, tally: &mut Tally) {
        self.take_all(tally, false);
    }

    /// `keep`: the worker goes on reading, so its tables keep their memory for the next
    /// archives (they fill to about the same size again at once); at the end they are freed.
    fn take_all(&self, tally: &mut Tally, keep: bool) {
        for (pt, shared) in tally.policies.iter_mut().zip(&self.conversations) {
            if !pt.conversations.is_empty() {
                let (table, dropped) = &mut *lock(shared);
                // Until the bound drops anything, its admission is a merge (`Bound::admit`);
                // the cut only changes under every policy's lock, so it holds while this
                // one is held.
                if keep && !self.bound.is_hit() {
                    table.merge_from(&mut pt.conversations);
                } else {
                    let mine = std::mem::take(&mut pt.conversations);
                    self.bound.admit(mine, table, dropped);
                }
            }
        }
        self.compact(self.bound.slack());
        if !tally.undecided.is_empty() {
            let mine = std::mem::take(&mut tally.undecided);
            lock(&self.undecided).merge(mine);
        }
    }

    /// Once every worker is done: everything gathered, into the run's merged tally. Returns
    /// the bound, for [`Tally::bound`] once the run's evidence settled the waiting violations.
    pub fn give_to(self, tally: &mut Tally) -> Bound {
        for (pt, shared) in tally.policies.iter_mut().zip(self.conversations) {
            let (table, dropped) = shared
                .into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            pt.conversations.merge(table);
            pt.dropped.merge(dropped);
        }
        let undecided = self
            .undecided
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tally.undecided.merge(undecided);
        self.bound
    }
}

impl Tally {
    /// An empty tally for policies with the given (allow rules, waivers) counts.
    pub fn new(shape: &[(usize, usize)]) -> Self {
        Tally {
            policies: shape.iter().map(|&(a, w)| PolicyTally::new(a, w)).collect(),
            ..Default::default()
        }
    }

    /// Folds `other` into `self`. Commutative and associative.
    pub fn merge(mut self, other: Tally) -> Tally {
        self.archives_read += other.archives_read;
        self.lines += other.lines;
        self.records += other.records;
        self.nodata += other.nodata;
        self.skipdata += other.skipdata;
        self.problems.merge(other.problems);
        for (k, v) in other.formats {
            *self.formats.entry(k).or_default() += v;
        }
        self.unknown_fields.extend(other.unknown_fields);
        self.coverage.merge(other.coverage);
        self.hours.merge(other.hours);
        self.skipdata_hours.merge(other.skipdata_hours);
        self.kinds.extend(other.kinds);
        self.cloudwatch.control_messages += other.cloudwatch.control_messages;
        self.cloudwatch
            .log_groups
            .extend(other.cloudwatch.log_groups);
        self.cloudwatch
            .log_streams
            .extend(other.cloudwatch.log_streams);
        self.servers.merge(other.servers);
        self.undecided.merge(other.undecided);
        self.sampled = self.sampled.or(other.sampled);
        for (mine, theirs) in self.policies.iter_mut().zip(other.policies) {
            mine.merge(theirs);
        }
        self
    }

    /// At the very end: at most the bound's pairs stay, the rest are summed per service in
    /// each policy's [`PolicyTally::dropped`] (see `bound`).
    pub fn bound(&mut self, bound: &Bound) {
        let mut tables: Vec<_> = self
            .policies
            .iter_mut()
            .map(|p| {
                let all = std::mem::take(&mut p.conversations);
                bound.admit(all, &mut p.conversations, &mut p.dropped);
                (&mut p.conversations, &mut p.dropped)
            })
            .collect();
        bound.compact(&mut tables, bound.limit());
        self.sampled = bound.kept_fraction().map(|kept_fraction| Sampled {
            limit: bound.limit(),
            kept_fraction,
        });
    }

    /// At the end of the run, once every tally is merged: the run's servers decide the
    /// violations their archives did not.
    pub fn settle_run(&mut self) {
        let undecided = std::mem::take(&mut self.undecided);
        let servers = std::mem::take(&mut self.servers).seal();
        let mut staged = Vec::new();
        let mut settling = Settling::new(&mut self.policies, &mut staged);
        undecided.settle_run(&servers, |side, basis, ends, key, waiting| {
            settling.settle(side, basis, &ends, &key, waiting);
        });
    }
}

/// Waiting violations whose server is decided, joining the conversations of their policies:
/// an archive's at its end, the run's at the run's end. Their hours are counted at once;
/// their sums are staged per policy and added when this is dropped, each policy's as one
/// batch ([`Conversations::add_all`]), which fetches the table's slots and entries ahead: one
/// at a time, nearly every addition waited for its own cache miss (the workers' tables were
/// ~14% of set d's CPU on the week, profile in docs/performance.md).
pub(crate) struct Settling<'a> {
    policies: &'a mut [PolicyTally],
    /// Per policy, the (conversation, sums) to add; emptied (not freed) by each flush.
    staged: &'a mut Vec<Vec<(ConversationKey, Sums)>>,
}

impl<'a> Settling<'a> {
    /// For `policies`, staging in `staged` (kept by the caller between archives).
    pub(crate) fn new(
        policies: &'a mut [PolicyTally],
        staged: &'a mut Vec<Vec<(ConversationKey, Sums)>>,
    ) -> Settling<'a> {
        staged.resize_with(policies.len(), Vec::new);
        Settling { policies, staged }
    }

    /// A waiting violation whose server is decided: for each of its policies, its hours now
    /// and its sums at the flush.
    pub(crate) fn settle(
        &mut self,
        side: super::server::Side,
        basis: super::server::Basis,
        ends: &super::server::Ends,
        key: &WaitingKey,
        mut waiting: Waiting,
    ) {
        let ports = (Some(ends.src.port), Some(ends.dst.port));
        waiting.set_basis(basis);
        for (i, src, dst) in key.each(ends) {
            let key = ConversationKey::new(Some(ends.src.protocol), (src, dst), side, ports);
            if !waiting.hours.is_empty() {
                waiting.hours.add_to(
                    self.policies[i]
                        .blocked_hours
                        .entry((key.protocol, key.server_port))
                        .or_default(),
                );
            }
            self.staged[i].push((key, waiting.sums));
        }
    }
}

impl Drop for Settling<'_> {
    /// Adds every staged sum to its policy's conversations.
    fn drop(&mut self) {
        for (pt, staged) in self.policies.iter_mut().zip(self.staged.iter_mut()) {
            if !staged.is_empty() {
                pt.conversations.add_all(staged.drain(..));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::server::Basis;
    use super::*;

    fn stats(records: u64, example: (usize, u64), start: u64) -> ConversationStats {
        ConversationStats {
            records,
            packets: records * 2,
            bytes: records * 100,
            first_start: Some(start),
            last_end: Some(start + 60),
            example,
            expired_waiver: None,
            basis: Basis::LowerPort,
        }
    }

    #[test]
    fn conversation_merge_keeps_smallest_example_and_widest_window() {
        let mut a = stats(2, (3, 10), 500);
        a.merge(&stats(1, (1, 99), 900));
        assert_eq!(a.records, 3);
        assert_eq!(a.example, (1, 99));
        assert_eq!((a.first_start, a.last_end), (Some(500), Some(960)));
    }

    /// A violation that waited for the run's evidence joins its service's hours under the
    /// server the run decided, as one decided at once would.
    #[test]
    fn waiting_violations_count_in_their_services_hours() {
        let end = |addr: &str, port| super::super::server::Endpoint {
            protocol: 6,
            addr: addr.parse().unwrap(),
            port,
        };
        let (lb, app) = (end("10.0.0.106", 1956), end("10.0.10.105", 7311));
        let mut tally = Tally::new(&[(0, 0)]);
        tally.servers.insert(app);
        let (src, dst) = (Some(lb.addr), Some(app.addr));
        let hour = 1_793_491_200 / HOUR;
        for start in [hour * HOUR + 10, hour * HOUR + 20, (hour + 1) * HOUR] {
            let w = Waiting::one(stats(1, (0, 1), start));
            tally.undecided.add(
                super::super::server::Ends { src: lb, dst: app },
                WaitingKey::One(Box::new((0, src, dst))),
                w,
            );
        }
        tally.settle_run();
        let p = &tally.policies[0];
        let hours: Vec<_> = p.blocked_hours[&(Some(6), Some(7311))].iter().collect();
        assert_eq!(hours, [(hour, 2), (hour + 1, 1)]);
        assert_eq!(p.blocked_hours.len(), 1);
        let (key, c) = p.conversations.iter().next().unwrap();
        assert_eq!(p.conversations.len(), 1);
        assert_eq!(
            (key.server, key.server_port, c.records),
            (dst, Some(7311), 3)
        );
        assert_eq!(c.basis, Basis::Run);
    }

    /// A violation that waits once for several policies counts for each as if it had waited
    /// for each alone; one of another policy's, with its own addresses, beside it; and the
    /// run's store of conversations gives back what the workers handed over.
    #[test]
    fn a_shared_wait_counts_for_each_policy() {
        use super::super::server::Ends;
        let end = |addr: &str, port| super::super::server::Endpoint {
            protocol: 17,
            addr: addr.parse().unwrap(),
            port,
        };
        let ends = [
            Ends {
                src: end("10.0.0.1", 40000),
                dst: end("10.0.9.9", 8125),
            },
            Ends {
                src: end("2600:1f18::1", 40000),
                dst: end("10.0.9.9", 8125),
            },
        ];
        let bits = |is: &[usize]| {
            let mut b = [0u64; 2];
            for &i in is {
                let [x, y] = WaitingKey::shared_bit(i).unwrap();
                b = [b[0] | x, b[1] | y];
            }
            b
        };
        assert_eq!(WaitingKey::shared_bit(SHARED_POLICIES), None);
        let shape = vec![(0, 0); 130];
        let gathered = Gathered::new(shape.len(), super::super::bound::DEFAULT_PAIRS);
        let mut shared = Tally::new(&shape);
        let mut alone = Tally::new(&shape);
        for (n, e) in ends.iter().enumerate() {
            let (src, dst) = (Some(e.src.addr), Some(e.dst.addr));
            let nat = Some("10.1.1.1".parse().unwrap());
            for start in [1_000, 5_000 + n as u64] {
                let w = || Waiting::one(stats(1, (n, start), start));
                let policies = [0, 63, 64, 127];
                let mut worker = Tally::new(&shape);
                worker
                    .undecided
                    .add(*e, WaitingKey::Shared(bits(&policies)), w());
                worker
                    .undecided
                    .add(*e, WaitingKey::One(Box::new((129, nat, dst))), w());
                // One worker hands over, the other's tally is merged at the end.
                if n == 0 {
                    gathered.take_all(&mut worker, true);
                    assert!(worker.undecided.is_empty());
                } else {
                    gathered.take_from(&mut worker);
                    assert_eq!(worker.undecided.len(), 2);
                    shared = shared.merge(worker);
                }
                for i in policies {
                    let key = WaitingKey::One(Box::new((i, src, dst)));
                    alone.undecided.add(*e, key, w());
                }
                let key = WaitingKey::One(Box::new((129, nat, dst)));
                alone.undecided.add(*e, key, w());
            }
        }
        let _ = gathered.give_to(&mut shared);
        shared.settle_run();
        alone.settle_run();
        for (i, (a, b)) in shared.policies.iter().zip(&alone.policies).enumerate() {
            let sorted = |t: &PolicyTally| {
                let mut v: Vec<_> = t.conversations.iter().collect();
                v.sort_by_key(|(k, _)| *k);
                v
            };
            assert_eq!(sorted(a), sorted(b), "policy {i}");
            assert_eq!(a.blocked_hours, b.blocked_hours, "policy {i}");
            // Policy 129 reports one client (the translated address) for both flows.
            let want = match i {
                0 | 63 | 64 | 127 => 2,
                129 => 1,
                _ => 0,
            };
            assert_eq!(a.conversations.len(), want, "policy {i}");
        }
        let (key, c) = shared.policies[129].conversations.iter().next().unwrap();
        assert_eq!(key.client, Some("10.1.1.1".parse().unwrap()));
        assert_eq!((c.records, c.basis), (4, Basis::PortRange));
    }

    /// The inline hours count what a map of hours counts, whatever the order of the adds
    /// and merges.
    #[test]
    fn start_hours_count_as_a_map_does() {
        let adds: Vec<(u64, u64)> = (0..40u64).map(|i| ((i * 7) % 5, 1 + i % 3)).collect();
        let want: Hours = adds.iter().copied().collect();
        for split in [1, 2, 7, 40] {
            let mut whole = StartHours::None;
            for chunk in adds.chunks(split).rev() {
                let mut part = StartHours::None;
                for &(h, n) in chunk {
                    part.add(h, n);
                }
                part.add(9, 0);
                whole.merge(part);
            }
            let mut got = Hours::default();
            whole.add_to(&mut got);
            assert_eq!(got, want, "split {split}");
        }
        let mut one = StartHours::None;
        one.add(3, 2);
        one.merge(StartHours::One {
            hour: 3,
            records: 1,
        });
        assert_eq!(
            one,
            StartHours::One {
                hour: 3,
                records: 3
            }
        );
    }

    #[test]
    fn problems_keep_the_first_by_place() {
        let p = |a: &str, l| Problem::new(a, Some(l), "x");
        let mut one = ProblemLog::default();
        one.push(p("b", 1));
        let mut two = ProblemLog::default();
        two.push(p("a", 7));
        one.merge(two);
        assert_eq!(one.total, 2);
        assert_eq!(one.kept[0].archive, "a");
    }
}
