//! The result of a check, sorted and complete: what every output writer reads.
//!
//! Writers never see hash maps or thread order; they see this model, built once from the
//! merged tally. It also owns the exit status, so every output and the process agree on what
//! the run means: 0 every policy passed, 1 some policy would block traffic or lacks evidence,
//! 2 the run could not be trusted.

pub mod build;
pub mod diff;
pub mod finding;
pub mod service;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;

pub use crate::engine::coverage::{Coverage, CoverageReport, Gap};
pub use crate::engine::hours::Hours;
pub use crate::engine::tally::Counts;
pub use finding::{Effect, Finding, Origin};

use crate::flowlog::{Kind, Problem, Unit};
pub use crate::source::Skipped;
pub use crate::text::{human_duration, rfc3339};

/// Exit status: every policy passed.
pub const EXIT_PASS: u8 = 0;
/// Exit status: some policy failed (traffic would be blocked, or evidence is too thin).
pub const EXIT_FAIL: u8 = 1;
/// Exit status: the run could not be trusted (bad policy, unreadable evidence, bad arguments).
pub const EXIT_UNTRUSTED: u8 = 2;
/// Exit status: stopped by Ctrl-C (SIGINT) before a verdict; 128 + 2, as shells report a
/// process killed by SIGINT, so scripts treat it like any interrupted command.
pub const EXIT_INTERRUPTED: u8 = 130;

/// Version of the JSON document layout; bumped on any incompatible change (2: `lint` became
/// `findings`).
pub const JSON_SCHEMA_VERSION: u32 = 2;

/// Everything one `flowgate check` found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// flowgate's version.
    pub tool_version: String,
    /// The date waivers were judged against (`--today`), `YYYY-MM-DD`.
    pub today: String,
    /// `--since` / `--until` as given, Unix seconds.
    pub since: Option<u64>,
    pub until: Option<u64>,
    pub run: RunSummary,
    pub policies: Vec<PolicyReport>,
    /// Lint findings, policy files that did not load, evidence that could not be found: in
    /// file and position order. Lint errors fail their policy; the others make the run
    /// untrusted ([`Finding::effect`]).
    pub findings: Vec<Finding>,
    /// What the archives were sampled from, when a `flowgate sample` manifest sits in a
    /// `--logs` directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance: Option<crate::manifest::Provenance>,
    /// With `--base REV`: what the change from REV to the working tree does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<diff::Diff>,
}

/// What the archives held, whatever the policies.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RunSummary {
    pub archives_read: u64,
    /// Set when the run's bound on conversations dropped some: each such policy says so
    /// ([`PolicyReport::conversations_sampled`]).
    #[serde(skip)]
    pub sampled: Option<crate::engine::bound::Sampled>,
    /// The paths of `not_read` (kept from the first version of this document).
    pub archives_skipped: Vec<String>,
    /// Every file under `--logs` that was not read, with why (documentation, configuration,
    /// hidden files: see `source`). Evidence that could not be read is a problem instead.
    pub not_read: Vec<Skipped>,
    /// What listing `s3://` prefixes found: objects listed, to read, and passed over (each
    /// of those is in `not_read` with why), when some were given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3: Option<crate::source::s3::Listing>,
    /// Archives read, by kind: `text`, `parquet`, `cloudwatch` (with its shape).
    pub kinds: Vec<KindUse>,
    /// Where CloudWatch Logs deliveries came from, when some archive was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloudwatch: Option<CloudWatchSummary>,
    pub lines: u64,
    pub records: u64,
    pub nodata: u64,
    pub skipdata: u64,
    /// Every problem counted; `problems` keeps the first ones by (archive, line).
    pub problems_total: u64,
    pub problems: Vec<ProblemReport>,
    pub formats: Vec<FormatUse>,
    /// Header fields flowgate does not know (carried, not read).
    pub unknown_fields: Vec<String>,
    pub coverage: CoverageReport,
    /// Records (OK, NODATA, SKIPDATA) per hour of their start: the evidence timeline. Not
    /// in the JSON document, which holds the coverage's facts.
    #[serde(skip)]
    pub hours: Hours,
    /// SKIPDATA records per hour of their start.
    #[serde(skip)]
    pub skipdata_hours: Hours,
}

/// How many archives of one kind were read.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct KindUse {
    #[serde(flatten)]
    pub kind: Kind,
    pub archives: u64,
}

/// What CloudWatch Logs deliveries said about where their records came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CloudWatchSummary {
    pub log_groups: Vec<String>,
    /// Distinct log streams (`eni-…-all`, one per interface).
    pub log_streams: u64,
    /// CONTROL_MESSAGEs skipped: CloudWatch checking that a destination is reachable.
    pub control_messages: u64,
}

/// A problem as shown in reports.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ProblemReport {
    pub archive: String,
    /// The line, row or event (see `unit`) the problem is at.
    pub line: Option<u64>,
    pub message: String,
    /// What `line` counts, when not lines of text: `row` (Parquet), `event` (CloudWatch).
    #[serde(skip_serializing_if = "Unit::is_line")]
    pub unit: Unit,
}

impl From<Problem> for ProblemReport {
    fn from(p: Problem) -> Self {
        ProblemReport {
            archive: p.archive,
            line: p.line,
            message: p.message,
            unit: p.unit,
        }
    }
}

impl std::fmt::Display for ProblemReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(
                f,
                "{}: {}",
                self.unit.locate(&self.archive, l),
                self.message
            ),
            None => write!(f, "{}: {}", self.archive, self.message),
        }
    }
}

/// One field list and how many archives use it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct FormatUse {
    pub fields: String,
    pub archives: u64,
}

/// The verdict of one policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    /// The policy could not be judged (an archive lacks a field it needs).
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Error => "ERROR",
        }
    }
}

/// One policy's result.
#[derive(Clone, Debug, Serialize)]
pub struct PolicyReport {
    pub name: String,
    pub path: String,
    /// Line of `[scope]` in the policy file.
    pub line: u32,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub ticket: Option<String>,
    pub status: Status,
    pub counts: Counts,
    /// First `start` and last `end` of the records in scope.
    pub in_scope_first: Option<u64>,
    pub in_scope_last: Option<u64>,
    /// The would-be-blocked conversations grouped by protocol and server port, most records
    /// first: what a reviewer reads before the conversations (and what a million of them
    /// usually come down to). Always over every conversation, listed or not.
    pub services: Vec<service::Service>,
    /// Would-be-blocked conversations, most records first, then by key: every one, unless
    /// `--max-conversations` cut the list ([`PolicyReport::conversations_not_listed`]).
    pub conversations: Vec<Conversation>,
    /// What `--max-conversations` left out of `conversations` (those with the fewest
    /// records), and what the run's bound dropped (`conversations_sampled`): records,
    /// packets and bytes stay exact; with a sample, its conversation counts are estimates.
    /// Absent when every conversation is listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversations_not_listed: Option<NotListed>,
    /// Present when the run's bound on conversations (`--keep-conversations`) dropped some
    /// of this policy's: `conversations` is then a deterministic sample of them, not every
    /// one nor the top by records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversations_sampled: Option<ConversationSample>,
    pub allows: Vec<AllowUse>,
    pub waivers: Vec<WaiverUse>,
    /// The policy's `[[expect]]`s in file order, each run without logs; one that does not
    /// hold is also a finding ([`Origin::Expect`]) and fails the policy.
    pub expectations: Vec<ExpectationResult>,
    /// Evidence demands, each with its outcome.
    pub demands: Vec<Demand>,
    /// Archives this policy could not be judged against: `needs <field> (key <key>), which <archive> lacks`.
    pub field_errors: Vec<String>,
    /// Would-be-blocked records per service (protocol, server port) and hour of their start:
    /// the policy's timelines. Not in the JSON document, which lists every conversation.
    #[serde(skip)]
    pub blocked_hours: BTreeMap<(Option<u8>, Option<u16>), Hours>,
}

/// How a policy's listing was sampled once the run held `keep_conversations` pairs: every
/// conversation whose rank (a fixed hash of its key, the same in every policy and run) falls
/// in the lowest `kept_fraction` is listed with exact counts, the rest only summed.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ConversationSample {
    /// The run's bound: (policy, conversation) pairs held at most.
    pub keep_conversations: u64,
    /// The fraction of conversations kept, in every policy.
    pub kept_fraction: f64,
    /// This policy's conversations in the sample (listed unless `--max-conversations` cut
    /// the listing too).
    pub sampled: u64,
    /// How `conversations_not_listed.conversations` was found.
    pub not_listed_count: NotListedCount,
}

/// How the number of a sampled policy's conversations outside the sample was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotListedCount {
    /// Scaled from the sample's (`sampled / kept_fraction - sampled`), at least one per
    /// service with dropped traffic.
    Estimate,
    /// The sample holds none of the policy's conversations, so nothing to scale: the count is
    /// the services with dropped traffic (each had at least one conversation), a lower bound.
    AtLeast,
}

/// The conversations a listing left out, summed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NotListed {
    pub conversations: u64,
    pub records: u64,
    pub packets: u64,
    pub bytes: u64,
    /// How many of them only an expired waiver would have covered.
    pub expired_waiver: u64,
}

impl PolicyReport {
    /// What qualifies [`PolicyReport::conversations_total`] in prose: `""` when exact,
    /// `"about "` when estimated from the bound's sample, `"at least "` when the sample held
    /// none of this policy's conversations to estimate from.
    pub fn conversations_qualifier(&self) -> &'static str {
        match self.conversations_sampled.map(|s| s.not_listed_count) {
            None => "",
            Some(NotListedCount::Estimate) => "about ",
            Some(NotListedCount::AtLeast) => "at least ",
        }
    }

    /// Would-be-blocked conversations in all, listed or not.
    pub fn conversations_total(&self) -> u64 {
        self.conversations.len() as u64
            + self.conversations_not_listed.map_or(0, |n| n.conversations)
    }

    /// Would-be-blocked conversations, listed or not, that only an expired waiver would have
    /// covered.
    pub fn expired_waiver_conversations(&self) -> u64 {
        let listed = self.conversations.iter();
        listed.filter(|c| c.expired_waiver.is_some()).count() as u64
            + self
                .conversations_not_listed
                .map_or(0, |n| n.expired_waiver)
    }

    /// Would-be-blocked records, listed or not.
    pub fn conversation_records(&self) -> u64 {
        self.conversations.iter().map(|c| c.records).sum::<u64>()
            + self.conversations_not_listed.map_or(0, |n| n.records)
    }

    /// Keeps the first `max` conversations (the most records) and sums the rest into
    /// [`PolicyReport::conversations_not_listed`].
    pub fn list_conversations(&mut self, max: usize) {
        if self.conversations.len() <= max {
            return;
        }
        let mut left = self.conversations_not_listed.unwrap_or_default();
        for c in self.conversations.drain(max..) {
            left.conversations += 1;
            left.records += c.records;
            left.packets = left.packets.saturating_add(c.packets);
            left.bytes = left.bytes.saturating_add(c.bytes);
            left.expired_waiver += u64::from(c.expired_waiver.is_some());
        }
        self.conversations.shrink_to_fit();
        self.conversations_not_listed = Some(left);
    }
}

impl Report {
    /// `--max-conversations`: every policy lists at most `max` conversations, the totals
    /// (counts, services, what was left out) stay exact.
    pub fn list_conversations(&mut self, max: usize) {
        for p in &mut self.policies {
            p.list_conversations(max);
        }
    }
}

/// A would-be-blocked conversation: records grouped by (protocol, client, server, server port).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Conversation {
    pub protocol: Option<u8>,
    pub client: Option<IpAddr>,
    pub server: Option<IpAddr>,
    pub server_port: Option<u16>,
    pub records: u64,
    pub packets: u64,
    pub bytes: u64,
    pub first_start: Option<u64>,
    pub last_end: Option<u64>,
    /// The smallest (archive, line) holding one of its records.
    pub example: Location,
    /// Name of the expired waiver that would have covered it, if any.
    pub expired_waiver: Option<SharedName>,
    /// How its server was decided (the strongest way over its records): read from tcp-flags,
    /// fixed by the protocol, or inferred from the run's evidence (docs/server.md).
    pub server_by: crate::engine::server::Basis,
}

/// A name that many listed conversations share (an archive's, a waiver's), held once: one
/// pointer in each conversation, 8 bytes where an `Arc<str>` takes 16 (its length beside the
/// pointer). A listing at the default bound holds 1.25 million conversations with two names
/// each, so 20 MB at the report's peak. It reads, compares, prints and serializes as the
/// string it holds.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SharedName(Arc<String>);

impl std::ops::Deref for SharedName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<String> for SharedName {
    fn from(s: String) -> SharedName {
        SharedName(Arc::new(s))
    }
}

impl From<&str> for SharedName {
    fn from(s: &str) -> SharedName {
        SharedName(Arc::new(s.to_string()))
    }
}

impl std::fmt::Debug for SharedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl std::fmt::Display for SharedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

impl Serialize for SharedName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self)
    }
}

/// A place in the evidence.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Location {
    /// Shared by every conversation whose example is in the archive: a run with a million
    /// conversations holds each archive's name once, not a million times.
    pub archive: SharedName,
    /// The line, row or event (see `unit`), from 1; 0 when not known (`check
    /// --sql-results`: a SQL engine names a record's object, not its row).
    pub line: u64,
    /// What `line` counts, when not lines of text: `row` (Parquet), `event` (CloudWatch).
    #[serde(skip_serializing_if = "Unit::is_line")]
    pub unit: Unit,
}

impl std::fmt::Display for Location {
    /// `path:12` for a line of text, `path: row 12` or `path: event 12` otherwise.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.unit.locate(&self.archive, self.line))
    }
}

/// An allow rule and how much traffic it kept open.
#[derive(Clone, Debug, Serialize)]
pub struct AllowUse {
    pub name: String,
    pub line: u32,
    pub hits: u64,
}

/// One `[[expect]]` of a policy and what the policy decided for its flow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExpectationResult {
    pub name: String,
    /// Line of its `[[expect]]` header.
    pub line: u32,
    /// The flow as written.
    pub flow: String,
    /// The verdict expected: `allowed`, `blocked`, `waived`, `out of scope` or `rejected`.
    pub verdict: String,
    /// What the policy decided, and why, in one line.
    pub decided: String,
    pub holds: bool,
}

/// A waiver and the traffic it excused.
#[derive(Clone, Debug, Serialize)]
pub struct WaiverUse {
    pub name: String,
    pub line: u32,
    pub reason: String,
    /// `YYYY-MM-DD`.
    pub expires: String,
    pub expired: bool,
    pub hits: u64,
}

/// Which evidence demand a [`Demand`] reports on. The JUnit test names derive from these, so
/// they are stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DemandKind {
    /// Some traffic in scope was observed (`allow_empty`).
    Traffic,
    /// The archives cover at least `min_window`.
    Window,
    /// No gap without records is longer than `max_gap`.
    Gaps,
    /// No SKIPDATA records (records were lost).
    Skipdata,
    /// Every allow rule matched something.
    UnusedAllow,
    /// Every waiver matched something.
    UnusedWaiver,
}

impl DemandKind {
    /// Stable name, as in `evidence: window`.
    pub fn as_str(self) -> &'static str {
        match self {
            DemandKind::Traffic => "traffic",
            DemandKind::Window => "window",
            DemandKind::Gaps => "gaps",
            DemandKind::Skipdata => "skipdata",
            DemandKind::UnusedAllow => "unused-allow",
            DemandKind::UnusedWaiver => "unused-waiver",
        }
    }
}

/// The outcome of one demand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DemandStatus {
    Pass,
    Warn,
    Fail,
    /// The policy does not ask for this.
    Skipped,
}

/// One evidence demand, checked.
#[derive(Clone, Debug, Serialize)]
pub struct Demand {
    pub kind: DemandKind,
    pub status: DemandStatus,
    /// A sentence a person understands, e.g. "the archives cover 3d 0h; the policy demands 30d".
    pub message: String,
}

impl PolicyReport {
    /// Allow rules that matched nothing.
    pub fn unused_allows(&self) -> impl Iterator<Item = &AllowUse> {
        self.allows.iter().filter(|a| a.hits == 0)
    }
}

impl Report {
    /// Whether the evidence could not be read completely, some policy could not be judged, or
    /// some finding (a policy file that did not load, missing evidence) says so.
    pub fn is_untrusted(&self) -> bool {
        self.run.problems_total > 0
            || self.policies.iter().any(|p| p.status == Status::Error)
            || self
                .findings
                .iter()
                .any(|f| f.effect() == Effect::Untrusted)
    }

    /// Whether the run scanned any evidence or judged any policy; a report made only of the
    /// findings that stopped a run (policies that did not load, no archives) did neither.
    pub fn is_scanned(&self) -> bool {
        !self.policies.is_empty() || self.run.archives_read > 0 || self.run.records > 0
    }

    /// The findings that make the run untrusted, in the report's order.
    pub fn untrusting_findings(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.effect() == Effect::Untrusted)
    }

    /// The findings about one policy, in the report's order.
    pub fn findings_of<'a>(&'a self, policy: &'a str) -> impl Iterator<Item = &'a Finding> {
        self.findings
            .iter()
            .filter(move |f| f.policy.as_deref() == Some(policy))
    }

    /// The process exit status for this report.
    pub fn exit_code(&self) -> u8 {
        if self.is_untrusted() {
            EXIT_UNTRUSTED
        } else if self.policies.iter().any(|p| p.status == Status::Fail) {
            EXIT_FAIL
        } else {
            EXIT_PASS
        }
    }

    /// Number of policies with each status: (pass, fail, error).
    pub fn status_counts(&self) -> (usize, usize, usize) {
        let n = |s| self.policies.iter().filter(|p| p.status == s).count();
        (n(Status::Pass), n(Status::Fail), n(Status::Error))
    }
}

/// IANA protocol name for display, or the number.
pub fn protocol_name(p: Option<u8>) -> String {
    match p {
        Some(1) => "icmp".into(),
        Some(6) => "tcp".into(),
        Some(17) => "udp".into(),
        Some(58) => "icmpv6".into(),
        Some(47) => "gre".into(),
        Some(50) => "esp".into(),
        Some(51) => "ah".into(),
        Some(132) => "sctp".into(),
        Some(n) => n.to_string(),
        None => "-".into(),
    }
}

impl Conversation {
    /// `tcp 10.0.2.15 -> 10.20.40.12:1433`, and how the server was inferred when it was:
    /// `tcp 10.0.0.106 -> 10.0.10.105:7311 (server by fan-in)`.
    pub fn describe(&self) -> String {
        let addr = |a: Option<IpAddr>| a.map_or("-".to_string(), |a| a.to_string());
        let server = match (self.server, self.server_port) {
            (Some(IpAddr::V6(a)), Some(p)) => format!("[{a}]:{p}"),
            (s, Some(p)) => format!("{}:{p}", addr(s)),
            (s, None) => addr(s),
        };
        let by = if self.server_by.is_inferred() {
            format!(" (server by {})", self.server_by.as_str())
        } else {
            String::new()
        };
        format!(
            "{} {} -> {}{by}",
            protocol_name(self.protocol),
            addr(self.client),
            server
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listing at the default bound holds 1.25 million of these: their size is the
    /// report's peak (docs/performance.md, "What the bound is").
    #[test]
    fn a_listed_conversation_stays_small() {
        assert_eq!(std::mem::size_of::<SharedName>(), 8);
        assert_eq!(std::mem::size_of::<Option<SharedName>>(), 8);
        assert!(
            std::mem::size_of::<Conversation>() <= 136,
            "{}",
            std::mem::size_of::<Conversation>()
        );
    }

    /// A shared name reads, compares, prints and serializes as its string.
    #[test]
    fn shared_names_are_their_strings() {
        let a = SharedName::from("logs/a.log.gz");
        let b = SharedName::from(String::from("logs/b.log.gz"));
        assert!(a < b);
        assert_eq!(&*a, "logs/a.log.gz");
        assert_eq!(a.to_string(), "logs/a.log.gz");
        assert_eq!(format!("{a:?}"), "\"logs/a.log.gz\"");
        assert_eq!(
            serde_json::to_string(&Some(b)).unwrap(),
            "\"logs/b.log.gz\""
        );
    }

    #[test]
    fn conversations_describe_ipv6_servers_with_brackets() {
        let c = Conversation {
            protocol: Some(6),
            client: "2600:1f18::1".parse().ok(),
            server: "2a02:cf40::7".parse().ok(),
            server_port: Some(443),
            records: 1,
            packets: 1,
            bytes: 1,
            first_start: None,
            last_end: None,
            example: Location {
                archive: "a".into(),
                line: 1,
                unit: Unit::Line,
            },
            expired_waiver: None,
            server_by: crate::engine::server::Basis::Flags,
        };
        assert_eq!(c.describe(), "tcp 2600:1f18::1 -> [2a02:cf40::7]:443");
        let inferred = Conversation {
            server_by: crate::engine::server::Basis::FanIn,
            ..c
        };
        assert_eq!(
            inferred.describe(),
            "tcp 2600:1f18::1 -> [2a02:cf40::7]:443 (server by fan-in)"
        );
    }
}
