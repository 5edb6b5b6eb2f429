//! Policies: what a planned block will see (the scope), what stays allowed, and what it demands.
//!
//! A [`PolicySet`] is loaded from TOML files (`load` checks every file and collects every
//! mistake before failing) into validated types whose matching keys are compiled
//! ([`matcher`]). The engine judges records through a [`Classifier`], all policies compiled
//! into one lookup; [`Policy::judge`] is the plain reading of the same verdict (steps 2-6 of
//! DESIGN.md's "Verdict for one record and one policy"), one policy at a time, which the
//! classifier is tested against. [`lint`](mod@lint) finds mistakes that need no logs. The
//! reference for the file format is `docs/policy.md`.

pub mod change;
pub mod classifier;
pub mod duration;
pub mod expect;
pub mod explain;
pub mod flowspec;
pub mod git;
pub mod lint;
mod load;
pub mod matcher;
mod raw;
pub mod sets;
mod values;

use std::net::IpAddr;
use std::ops::Range;
use std::path::PathBuf;

use crate::diag::{Diagnostics, FileId, Files};
use crate::flowlog::{Action, Field, Flow};

pub use classifier::Classifier;
pub use expect::Expectation;
pub use flowspec::{FlowFields, FlowSpec};
pub use lint::lint;
pub use matcher::{Key, Matcher};

use matcher::{action_bit, Subject};
use sets::{AddrSet, Bits, Ip};

/// Every policy of a run, sorted by name, with the sources their diagnostics point into.
#[derive(Clone, Debug)]
pub struct PolicySet {
    policies: Vec<Policy>,
    files: Files,
}

impl PolicySet {
    /// Loads every path: files, or directories (all `*.toml` inside, recursively, sorted).
    /// Collects all diagnostics of all files before failing.
    pub fn load(paths: &[PathBuf]) -> Result<PolicySet, Diagnostics> {
        load::load_paths(paths)
    }

    /// Loads policies from texts already in memory, each named by the path it stands for (the
    /// policy name defaults to that path's file stem). For tests and embedders.
    pub fn from_sources<P: Into<PathBuf>, S: Into<String>>(
        sources: impl IntoIterator<Item = (P, S)>,
    ) -> Result<PolicySet, Diagnostics> {
        load::load_sources(
            sources
                .into_iter()
                .map(|(p, s)| (p.into(), s.into()))
                .collect(),
        )
    }

    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    /// The policy sources, so diagnostics about policies can be rendered.
    pub fn files(&self) -> &Files {
        &self.files
    }
}

/// One policy file, validated.
#[derive(Clone, Debug)]
pub struct Policy {
    pub name: String,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub ticket: Option<String>,
    /// The file, as given or found.
    pub path: PathBuf,
    /// 1-based line of the `[scope]` header (1 when the file has no `[scope]`).
    pub line: u32,
    pub file: FileId,
    /// Byte span of the `[scope]` header (empty at 0 when there is none), for diagnostics.
    pub span: Range<usize>,
    pub scope: Scope,
    pub allows: Vec<Rule>,
    pub waivers: Vec<Waiver>,
    /// The policy's own tests (`[[expect]]`), in file order, run without logs.
    pub expectations: Vec<Expectation>,
    pub evidence: EvidenceDemands,
    /// Where the name was written, if it was (else it is the file stem).
    pub(crate) name_span: Option<Range<usize>>,
}

/// Which addresses a policy matches on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Addresses {
    /// `srcaddr`/`dstaddr`, as the logged interface saw them (the default).
    #[default]
    Interface,
    /// `pkt-srcaddr`/`pkt-dstaddr`: the real ends behind a NAT gateway or transit interface.
    Packet,
}

/// The traffic the planned rule will see.
#[derive(Clone, Debug)]
pub struct Scope {
    pub addresses: Addresses,
    /// `peer`: a record is in scope when either end is inside; that end is its peer end.
    pub(crate) peer: Option<AddrSet>,
    /// Every other key but `action`.
    pub(crate) matcher: Matcher,
    /// Actions judged (step 3): ACCEPT unless the scope says otherwise.
    pub(crate) actions: Bits,
    /// Where each key was written, for lint diagnostics.
    pub(crate) key_spans: Vec<(Key, Range<usize>)>,
}

impl Default for Scope {
    /// Everything, and ACCEPT only: what a policy without `[scope]` sees.
    fn default() -> Self {
        Scope {
            addresses: Addresses::Interface,
            peer: None,
            matcher: Matcher::default(),
            actions: Bits(1 << action_bit(Action::Accept)),
            key_spans: Vec::new(),
        }
    }
}

impl Scope {
    /// Whether the scope names `peer` networks (so rules may use peer and local keys).
    pub fn has_peer(&self) -> bool {
        self.peer.is_some()
    }

    /// Whether records with this action are judged, rather than counted as already rejected.
    pub fn judges(&self, action: Action) -> bool {
        self.actions.contains(action_bit(action))
    }
}

/// An allow rule, or the matching part of a waiver.
#[derive(Clone, Debug)]
pub struct Rule {
    /// The `name` written, or `allow #N` / `waive #N` (1-based, in file order).
    pub name: String,
    /// 1-based line of its `[[allow]]` / `[[waive]]` header.
    pub line: u32,
    pub file: FileId,
    /// Byte span of its header, for diagnostics such as an unused allow rule.
    pub span: Range<usize>,
    pub(crate) matcher: Matcher,
    pub(crate) key_spans: Vec<(Key, Range<usize>)>,
    pub(crate) name_span: Option<Range<usize>>,
}

impl Rule {
    /// Where `key` was written in this rule, else the rule's header.
    pub(crate) fn span_of(&self, key: Key) -> Range<usize> {
        self.key_spans
            .iter()
            .find(|(k, _)| *k == key)
            .map_or_else(|| self.span.clone(), |(_, s)| s.clone())
    }
}

/// A known, accepted exception; past `expires` it fails like any other violation.
#[derive(Clone, Debug)]
pub struct Waiver {
    pub rule: Rule,
    pub reason: String,
    /// Last day the waiver holds (inclusive).
    pub expires: time::Date,
    pub(crate) expires_span: Range<usize>,
}

/// What to do about a kind of finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    Fail,
    Warn,
    Ignore,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Fail => "fail",
            Level::Warn => "warn",
            Level::Ignore => "ignore",
        }
    }
}

/// What the evidence must show for the policy to pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvidenceDemands {
    /// Least time the archives must cover, in seconds.
    pub min_window: Option<u64>,
    /// Longest allowed stretch without records, in seconds.
    pub max_gap: Option<u64>,
    /// What SKIPDATA records (lost flows) do to the verdict.
    pub skipdata: Level,
    /// What an allow rule that matched nothing does to the verdict.
    pub unused_allow: Level,
    /// Whether a policy with no traffic at all in scope may pass.
    pub allow_empty: bool,
}

impl Default for EvidenceDemands {
    fn default() -> Self {
        EvidenceDemands {
            min_window: None,
            max_gap: None,
            skipdata: Level::Warn,
            unused_allow: Level::Warn,
            allow_empty: false,
        }
    }
}

/// The verdict for one record (whose log-status is OK) and one policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    OutOfScope,
    AlreadyRejected,
    Allowed,
    Waived,
    /// Would be blocked. `expired_waiver` is the index of the first matching waiver when only
    /// expired waivers matched.
    Violation {
        expired_waiver: Option<usize>,
    },
}

/// A verdict as people name it: the words of an `[[expect]]`'s `verdict` and of `explain`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    OutOfScope,
    Rejected,
    Allowed,
    Waived,
    Blocked,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Allowed,
        Outcome::Blocked,
        Outcome::Waived,
        Outcome::OutOfScope,
        Outcome::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::OutOfScope => "out of scope",
            Outcome::Rejected => "rejected",
            Outcome::Allowed => "allowed",
            Outcome::Waived => "waived",
            Outcome::Blocked => "blocked",
        }
    }

    /// The outcome of a record's verdict: a violation is `blocked`, whatever waiver expired.
    pub fn of(verdict: Verdict) -> Outcome {
        match verdict {
            Verdict::OutOfScope => Outcome::OutOfScope,
            Verdict::AlreadyRejected => Outcome::Rejected,
            Verdict::Allowed => Outcome::Allowed,
            Verdict::Waived => Outcome::Waived,
            Verdict::Violation { .. } => Outcome::Blocked,
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The verdict for one record with the rules that made it: what [`Policy::judge`] decides,
/// kept rule by rule instead of counted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    /// Indexes of the allow rules that match the record (all of them are evaluated).
    pub allows: Vec<usize>,
    /// Indexes of the waivers that match it, expired or not (evaluated only when no allow
    /// rule matched).
    pub waivers: Vec<usize>,
}

impl Policy {
    /// The check's verdict for one record, with the rules that made it: [`Policy::judge`]
    /// itself (which the check's [`Classifier`] is held to), with one hit counter per rule
    /// read back, so `explain` and `[[expect]]` cannot decide otherwise than the check does.
    pub fn decide(&self, flow: &Flow<'_>, today: time::Date) -> Decision {
        let mut allow_hits = vec![0; self.allows.len()];
        let mut waiver_hits = vec![0; self.waivers.len()];
        let verdict = self.judge(flow, today, &mut allow_hits, &mut waiver_hits);
        let hit = |hits: Vec<u64>| -> Vec<usize> {
            hits.iter()
                .enumerate()
                .filter(|(_, &n)| n > 0)
                .map(|(i, _)| i)
                .collect()
        };
        Decision {
            verdict,
            allows: hit(allow_hits),
            waivers: hit(waiver_hits),
        }
    }

    /// Steps 2-6 of DESIGN.md's verdict for a record whose log-status is OK (the caller
    /// handles step 1). Every allow rule is evaluated and each one that matches gets a hit;
    /// only when none matched are the waivers evaluated, each matching one (expired or not)
    /// getting a hit. A record without an action counts as ACCEPT. Allocates nothing.
    ///
    /// `allow_hits` and `waiver_hits` have one slot per allow rule and per waiver.
    pub fn judge(
        &self,
        flow: &Flow<'_>,
        today: time::Date,
        allow_hits: &mut [u64],
        waiver_hits: &mut [u64],
    ) -> Verdict {
        debug_assert_eq!(allow_hits.len(), self.allows.len());
        debug_assert_eq!(waiver_hits.len(), self.waivers.len());
        let Some(subject) = self.subject(flow) else {
            return Verdict::OutOfScope;
        };
        if !self.scope.matcher.matches(&subject) {
            return Verdict::OutOfScope;
        }
        if !self.scope.judges(flow.action.unwrap_or(Action::Accept)) {
            return Verdict::AlreadyRejected;
        }
        let mut allowed = false;
        for (rule, hits) in self.allows.iter().zip(allow_hits.iter_mut()) {
            if rule.matcher.matches(&subject) {
                *hits += 1;
                allowed = true;
            }
        }
        if allowed {
            return Verdict::Allowed;
        }
        let mut waived = false;
        let mut expired_waiver = None;
        for (j, (waiver, hits)) in self.waivers.iter().zip(waiver_hits.iter_mut()).enumerate() {
            if waiver.rule.matcher.matches(&subject) {
                *hits += 1;
                if today <= waiver.expires {
                    waived = true;
                } else if expired_waiver.is_none() {
                    expired_waiver = Some(j);
                }
            }
        }
        if waived {
            Verdict::Waived
        } else {
            Verdict::Violation { expired_waiver }
        }
    }

    /// Whether the record is in this policy's scope (whatever its action): step 2 of the
    /// verdict alone, for `flowgate sample`, which keeps what scopes can see.
    pub fn in_scope(&self, flow: &Flow<'_>) -> bool {
        self.subject(flow)
            .is_some_and(|subject| self.scope.matcher.matches(&subject))
    }

    /// The (src, dst) addresses this policy matches on: `pkt_src`/`pkt_dst` when the scope says
    /// `addresses = "packet"` (each falling back to src/dst where the record holds `-`), else
    /// src/dst.
    #[inline]
    pub fn endpoints(&self, flow: &Flow<'_>) -> (Option<IpAddr>, Option<IpAddr>) {
        match self.scope.addresses {
            Addresses::Interface => (flow.src, flow.dst),
            Addresses::Packet => (flow.pkt_src.or(flow.src), flow.pkt_dst.or(flow.dst)),
        }
    }

    /// The record as this policy sees it; `None` when the scope names peer networks and
    /// neither end is inside them (out of scope).
    #[inline]
    fn subject<'f, 'a>(&self, flow: &'f Flow<'a>) -> Option<Subject<'f, 'a>> {
        let (src, dst) = self.endpoints(flow);
        let (src, dst) = (src.map(Ip::from), dst.map(Ip::from));
        let peer_is_dst = match &self.scope.peer {
            None => None,
            // The peer end is the end inside the peer networks, dst when both are.
            Some(peer) => {
                if dst.is_some_and(|a| peer.contains(a)) {
                    Some(true)
                } else if src.is_some_and(|a| peer.contains(a)) {
                    Some(false)
                } else {
                    return None;
                }
            }
        };
        Some(Subject {
            flow,
            src,
            dst,
            peer_is_dst,
        })
    }

    /// Every flow-log field this policy reads, each with the policy key that needs it,
    /// one entry per field, sorted by field. `srcaddr`/`dstaddr` are always there (key
    /// `scope`), since conversations need them; `action` never is, because a source without
    /// it (Transit Gateway) counts as accepted.
    pub fn required_fields(&self) -> Vec<(Field, &'static str)> {
        let mut out = vec![(Field::SrcAddr, "scope"), (Field::DstAddr, "scope")];
        if self.scope.addresses == Addresses::Packet {
            out.push((Field::PktSrcAddr, "addresses"));
            out.push((Field::PktDstAddr, "addresses"));
        }
        let matchers = std::iter::once(&self.scope.matcher)
            .chain(self.allows.iter().map(|r| &r.matcher))
            .chain(self.waivers.iter().map(|w| &w.rule.matcher));
        for m in matchers {
            for key in m.keys() {
                let fields: &[Field] = match key {
                    Key::Src | Key::Dst | Key::Peer | Key::Local | Key::Action => &[],
                    Key::SrcPort => &[Field::SrcPort],
                    Key::DstPort => &[Field::DstPort],
                    Key::PeerPort | Key::LocalPort => &[Field::SrcPort, Field::DstPort],
                    Key::Protocol => &[Field::Protocol],
                    Key::Interface => &[Field::InterfaceId],
                    Key::Vpc => &[Field::VpcId],
                    Key::Subnet => &[Field::SubnetId],
                    Key::Instance => &[Field::InstanceId],
                    Key::Direction => &[Field::FlowDirection],
                };
                out.extend(fields.iter().map(|&f| (f, key.name())));
            }
        }
        out.sort();
        out.dedup_by_key(|(f, _)| *f);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flowlog::Direction;
    use time::macros::date;

    pub(crate) fn set(text: &str) -> PolicySet {
        PolicySet::from_sources([("policies/p.toml", text)]).unwrap_or_else(|e| panic!("{e}"))
    }

    pub(crate) fn one(text: &str) -> Policy {
        set(text).policies[0].clone()
    }

    fn flow<'a>(src: &str, sport: u16, dst: &str, dport: u16) -> Flow<'a> {
        Flow {
            action: Some(Action::Accept),
            src: Some(src.parse().unwrap()),
            dst: Some(dst.parse().unwrap()),
            src_port: Some(sport),
            dst_port: Some(dport),
            protocol: Some(6),
            packets: Some(1),
            bytes: Some(40),
            start: Some(0),
            end: Some(60),
            direction: Some(Direction::Ingress),
            version: Some(2),
            interface: Some("eni-1"),
            ..Flow::EMPTY
        }
    }

    const DESIGN_EXAMPLE: &str = r#"
[policy]
name = "retail-dedicated-line"
owner = "retail-hub"

[scope]
peer = ["10.20.0.0/16"]

[[allow]]
name = "settlement API"
peer = ["10.20.30.0/24"]
protocol = "tcp"
peer_port = [443, "8443-8444"]

[[waive]]
name = "legacy monitoring agent"
peer = ["10.20.99.7"]
reason = "agent is retired with NET-1300"
expires = 2027-01-31
"#;

    fn judge(p: &Policy, f: &Flow<'_>, today: time::Date) -> (Verdict, Vec<u64>, Vec<u64>) {
        let mut a = vec![0; p.allows.len()];
        let mut w = vec![0; p.waivers.len()];
        let v = p.judge(f, today, &mut a, &mut w);
        (v, a, w)
    }

    #[test]
    fn design_example_verdicts() {
        let p = one(DESIGN_EXAMPLE);
        let today = date!(2026 - 06 - 01);
        assert_eq!(p.name, "retail-dedicated-line");
        assert_eq!(p.line, 6);
        assert_eq!(p.allows[0].line, 9);
        // Outbound to the settlement API and its reply: one rule covers both directions.
        let out = flow("10.0.0.5", 50000, "10.20.30.9", 443);
        let back = flow("10.20.30.9", 443, "10.0.0.5", 50000);
        assert_eq!(judge(&p, &out, today), (Verdict::Allowed, vec![1], vec![0]));
        assert_eq!(judge(&p, &back, today).0, Verdict::Allowed);
        // Another port on the peer: would be blocked.
        let ssh = flow("10.0.0.5", 50000, "10.20.30.9", 22);
        assert_eq!(
            judge(&p, &ssh, today).0,
            Verdict::Violation {
                expired_waiver: None
            }
        );
        // Not the peer network at all.
        let other = flow("10.0.0.5", 50000, "10.99.0.1", 443);
        assert_eq!(judge(&p, &other, today).0, Verdict::OutOfScope);
        // Rejected already.
        let mut rej = ssh.clone();
        rej.action = Some(Action::Reject);
        assert_eq!(judge(&p, &rej, today).0, Verdict::AlreadyRejected);
        // The waived agent, before and after expiry (the expiry day itself still holds).
        let agent = flow("10.20.99.7", 9100, "10.0.0.5", 40000);
        assert_eq!(
            judge(&p, &agent, date!(2027 - 01 - 31)),
            (Verdict::Waived, vec![0], vec![1])
        );
        assert_eq!(
            judge(&p, &agent, date!(2027 - 02 - 01)).0,
            Verdict::Violation {
                expired_waiver: Some(0)
            }
        );
    }

    #[test]
    fn every_matching_allow_gets_a_hit_and_waivers_are_not_consulted() {
        let p = one(
            "[scope]\ndst = '10.0.0.0/8'\n[[allow]]\ndst_port = 443\n[[allow]]\nprotocol = 'tcp'\n[[allow]]\nprotocol = 'udp'\n[[waive]]\nreason = 'r'\nexpires = 2030-01-01",
        );
        let f = flow("192.0.2.1", 1, "10.0.0.1", 443);
        assert_eq!(
            judge(&p, &f, date!(2026 - 01 - 01)),
            (Verdict::Allowed, vec![1, 1, 0], vec![0])
        );
    }

    #[test]
    fn expired_waiver_index_is_the_first_expired_match_and_any_live_one_wins() {
        let p = one(
            "[[waive]]\nreason = 'a'\nexpires = 2020-01-01\n[[waive]]\nreason = 'b'\nexpires = 2019-01-01\n",
        );
        let f = flow("192.0.2.1", 1, "10.0.0.1", 443);
        assert_eq!(
            judge(&p, &f, date!(2026 - 01 - 01)),
            (
                Verdict::Violation {
                    expired_waiver: Some(0)
                },
                vec![],
                vec![1, 1]
            )
        );
        let p = one("[[waive]]\nreason = 'a'\nexpires = 2020-01-01\n[[waive]]\nreason = 'b'\nexpires = 2030-01-01\n");
        assert_eq!(judge(&p, &f, date!(2026 - 01 - 01)).0, Verdict::Waived);
    }

    #[test]
    fn records_without_action_count_as_accepted() {
        let p = one("[scope]\naction = ['ACCEPT']\n");
        let mut f = flow("192.0.2.1", 1, "10.0.0.1", 443);
        f.action = None;
        assert_eq!(
            judge(&p, &f, date!(2026 - 01 - 01)).0,
            Verdict::Violation {
                expired_waiver: None
            }
        );
        let p = one("[scope]\naction = 'REJECT'\n");
        assert_eq!(
            judge(&p, &f, date!(2026 - 01 - 01)).0,
            Verdict::AlreadyRejected
        );
    }

    #[test]
    fn peer_end_is_dst_when_both_ends_are_peers() {
        let p = one("[scope]\npeer = '10.0.0.0/8'\n[[allow]]\npeer_port = 443\n[[allow]]\nlocal = '10.1.0.0/16'\n");
        let f = flow("10.1.0.1", 443, "10.2.0.1", 50000);
        // peer = dst (port 50000) so rule 1 does not match; local = src 10.1.0.1 matches rule 2.
        assert_eq!(judge(&p, &f, date!(2026 - 01 - 01)).1, vec![0, 1]);
    }

    #[test]
    fn scope_local_and_ports_use_the_resolved_ends() {
        let p = one("[scope]\npeer = '10.20.0.0/16'\nlocal = '10.0.0.0/24'\npeer_port = 443\n");
        let today = date!(2026 - 01 - 01);
        assert_ne!(
            judge(&p, &flow("10.0.0.1", 5, "10.20.0.1", 443), today).0,
            Verdict::OutOfScope
        );
        assert_ne!(
            judge(&p, &flow("10.20.0.1", 443, "10.0.0.1", 5), today).0,
            Verdict::OutOfScope
        );
        assert_eq!(
            judge(&p, &flow("10.0.1.1", 5, "10.20.0.1", 443), today).0,
            Verdict::OutOfScope
        );
        assert_eq!(
            judge(&p, &flow("10.0.0.1", 443, "10.20.0.1", 5), today).0,
            Verdict::OutOfScope
        );
    }

    #[test]
    fn packet_addresses_fall_back_per_end() {
        let p = one("[scope]\naddresses = 'packet'\nsrc = '10.0.1.0/24'\n");
        let mut f = flow("10.0.0.50", 1, "52.1.1.1", 443);
        assert_eq!(p.endpoints(&f), (f.src, f.dst));
        f.pkt_src = Some("10.0.1.12".parse().unwrap());
        assert_eq!(p.endpoints(&f), (f.pkt_src, f.dst));
        assert_ne!(judge(&p, &f, date!(2026 - 01 - 01)).0, Verdict::OutOfScope);
        let plain = one("[scope]\nsrc = '10.0.1.0/24'\n");
        assert_eq!(plain.endpoints(&f), (f.src, f.dst));
        assert_eq!(
            judge(&plain, &f, date!(2026 - 01 - 01)).0,
            Verdict::OutOfScope
        );
    }

    #[test]
    fn required_fields_name_the_key_that_needs_them() {
        let p = one("[scope]\naddresses = 'packet'\nvpc = 'vpc-1'\npeer = '10.0.0.0/8'\ndirection = 'egress'\n[[allow]]\npeer_port = 1\nprotocol = 6\n[[waive]]\nreason = 'r'\nexpires = 2030-01-01\ninstance = 'i-1'\naction = 'ACCEPT'");
        assert_eq!(
            p.required_fields(),
            vec![
                (Field::SrcAddr, "scope"),
                (Field::DstAddr, "scope"),
                (Field::SrcPort, "peer_port"),
                (Field::DstPort, "peer_port"),
                (Field::Protocol, "protocol"),
                (Field::VpcId, "vpc"),
                (Field::InstanceId, "instance"),
                (Field::PktSrcAddr, "addresses"),
                (Field::PktDstAddr, "addresses"),
                (Field::FlowDirection, "direction"),
            ]
        );
        assert_eq!(one("[scope]\n").required_fields().len(), 2);
    }

    #[test]
    fn defaults() {
        let p = one("[scope]\n");
        assert_eq!(p.name, "p");
        assert_eq!(p.line, 1);
        assert_eq!(p.evidence, EvidenceDemands::default());
        assert_eq!(p.scope.addresses, Addresses::Interface);
        assert!(p.scope.judges(Action::Accept) && !p.scope.judges(Action::Reject));
        let p = one(
            "[[allow]]\n[[allow]]\nname = 'x'\n[[waive]]\nreason = 'r'\nexpires = '2030-01-01'",
        );
        let names: Vec<_> = p.allows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["allow #1", "x"]);
        assert_eq!(p.waivers[0].rule.name, "waive #1");
        assert_eq!(p.waivers[0].expires, date!(2030 - 01 - 01));
    }

    #[test]
    fn policies_are_sorted_by_name() {
        let s = PolicySet::from_sources([
            ("b.toml", "[scope]\n"),
            ("a.toml", "[policy]\nname = 'z'"),
            ("c.toml", "[scope]\n"),
        ])
        .unwrap();
        let names: Vec<_> = s.policies().iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["b", "c", "z"]);
        assert_eq!(s.files().len(), 3);
    }
}
