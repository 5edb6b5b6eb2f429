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

use super::conversations::{max_opt, min_opt, Conversations};
pub use super::conversations::{ConversationKey, ConversationStats};
use super::coverage::Coverage;
use super::hours::{Hours, HOUR};
use super::server::{Merge, Pending, RunEvidence};
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
    pub undecided: Pending<WaitingKey, Waiting>,
    /// The worker's per-archive table of ends, kept empty between archives so that it is
    /// not grown anew for each (never merged).
    pub(crate) scratch: super::server::ArchiveEvidence,
}

/// What a violation waiting for its server is kept by besides its two ends: the policy and
/// the (src, dst) addresses the policy reports (the packet addresses for some scopes).
pub type WaitingKey = (usize, Option<IpAddr>, Option<IpAddr>);

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
    /// Would-be-blocked records per service (protocol, server port) and hour of their start.
    pub blocked_hours: BTreeMap<(Option<u8>, Option<u16>), Hours>,
    pub in_scope_first: Option<u64>,
    pub in_scope_last: Option<u64>,
    /// (archive index, field, policy key): archives this policy could not be judged against.
    pub field_errors: BTreeSet<(usize, Field, &'static str)>,
}

/// Violations waiting for their server (see `server::Pending`): their sums, and the hours
/// they started in, which join their service's timeline once the server is known.
#[derive(Clone, Debug)]
pub struct Waiting {
    pub stats: ConversationStats,
    pub hours: StartHours,
}

/// The hours a waiting violation's records started in. A violation waits per flow (both
/// ports), so most wait as one record, or a few in one hour: those are kept inline, and only
/// records spread over hours take a map. (Before, every waiting violation held a map of its
/// own, a 192-byte node: with a hundred failing drafts, most of the memory of the check.)
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StartHours {
    /// No record with a start.
    #[default]
    None,
    /// `records` started in `hour`.
    One {
        hour: u64,
        records: u64,
    },
    Many(Hours),
}

impl StartHours {
    pub fn add(&mut self, hour: u64, n: u64) {
        if n == 0 {
            return;
        }
        match self {
            StartHours::None => *self = StartHours::One { hour, records: n },
            StartHours::One { hour: h, records } if *h == hour => *records += n,
            StartHours::One { hour: h, records } => {
                let mut many = Hours::default();
                many.add(*h, *records);
                many.add(hour, n);
                *self = StartHours::Many(many);
            }
            StartHours::Many(many) => many.add(hour, n),
        }
    }

    /// Folds another's hours in; the result does not depend on the order.
    pub fn merge(&mut self, other: StartHours) {
        match other {
            StartHours::None => {}
            StartHours::One { hour, records } => self.add(hour, records),
            StartHours::Many(many) => {
                for (hour, n) in many.iter() {
                    self.add(hour, n);
                }
            }
        }
    }

    /// Adds these hours to `hours`.
    pub fn add_to(self, hours: &mut Hours) {
        match self {
            StartHours::None => {}
            StartHours::One { hour, records } => hours.add(hour, records),
            StartHours::Many(many) => hours.merge(many),
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
        Waiting { stats, hours }
    }
}

impl Merge for Waiting {
    fn merge(&mut self, other: Waiting) {
        self.stats.merge(&other.stats);
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

    /// Adds would-be-blocked records to their conversation and their service's hours.
    pub fn add_blocked(&mut self, key: ConversationKey, waiting: Waiting) {
        if !waiting.hours.is_empty() {
            waiting.hours.add_to(
                self.blocked_hours
                    .entry((key.protocol, key.server_port))
                    .or_default(),
            );
        }
        self.add_conversation(key, waiting.stats);
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
        for (k, v) in o.blocked_hours {
            self.blocked_hours.entry(k).or_default().merge(v);
        }
        self.in_scope_first = min_opt(self.in_scope_first, o.in_scope_first);
        self.in_scope_last = max_opt(self.in_scope_last, o.in_scope_last);
        self.field_errors.extend(o.field_errors);
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
        for (mine, theirs) in self.policies.iter_mut().zip(other.policies) {
            mine.merge(theirs);
        }
        self
    }

    /// At the end of the run, once every tally is merged: the run's servers decide the
    /// violations their archives did not.
    pub fn settle_run(&mut self) {
        let undecided = std::mem::take(&mut self.undecided);
        let servers = std::mem::take(&mut self.servers).seal();
        let policies = &mut self.policies;
        undecided.settle_run(&servers, |side, basis, ends, (i, src, dst), mut waiting| {
            let ports = (Some(ends.src.port), Some(ends.dst.port));
            let key = ConversationKey::new(Some(ends.src.protocol), (src, dst), side, ports);
            waiting.stats.basis = basis;
            policies[i].add_blocked(key, waiting);
        });
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
                (0, src, dst),
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
