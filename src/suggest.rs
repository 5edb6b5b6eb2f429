//! `flowgate suggest`: a first policy written from what the logs show.
//!
//! Given a scope (peer networks, and any other scope keys), one parallel pass collects every
//! record the scope would judge, grouped as the allow rules will be: by protocol and server
//! port, with the side the server is on (the peer end: `peer_port`; the local end:
//! `local_port`). Who the server is comes from the check's own rule (`engine::server`): the
//! run's evidence, so a load balancer's source port is never taken for a service. The peer
//! addresses of each group are merged into the fewest CIDRs (`render`), optionally widened;
//! a rule is one server port, or a short run of ports of the same service on the same
//! servers; rules that other rules cover are dropped. The scope is compiled by the policy
//! loader and records are judged by [`Policy::judge`], so the policy written passes
//! `flowgate check` on the same logs by construction; the tests run that check.

mod render;

pub use render::quote;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use rayon::prelude::*;

use crate::check::Check;
use crate::engine::server::{self, ArchiveEvidence, Basis, Merge, Pending, RunEvidence, Side};
use crate::engine::ConversationKey;
use crate::flowlog::{scan_archive, Archive, Flow, Format, LogStatus, Problem, ScanOptions, Sink};
use crate::policy::{Policy, PolicySet, Verdict};

/// What to suggest a policy for.
#[derive(Clone, Debug)]
pub struct SuggestOptions {
    pub logs: Vec<PathBuf>,
    /// The scope's `peer` networks.
    pub peer: Vec<IpNet>,
    /// Other scope keys as `(key, TOML value)`, e.g. `("vpc", "\"vpc-0a1b\"")`.
    pub scope: Vec<(String, String)>,
    /// Round IPv4 peers up to this prefix length (never wider than the scope's network).
    pub widen_v4: Option<u8>,
    /// Round IPv6 peers up to this prefix length.
    pub widen_v6: Option<u8>,
    /// The policy's name.
    pub name: String,
    pub log_format: Option<Format>,
    pub threads: Option<usize>,
}

/// Why no policy could be suggested.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The scope given does not make a valid policy; the text is the rendered diagnostics.
    #[error("the scope is not valid:\n{0}")]
    Scope(String),
    #[error("{0}")]
    Check(#[from] crate::check::Error),
    #[error("cannot start worker threads: {0}")]
    Threads(#[from] rayon::ThreadPoolBuildError),
}

/// A suggested policy.
#[derive(Debug)]
pub struct Suggestion {
    /// The policy file.
    pub toml: String,
    pub rules: usize,
    /// Records the rules cover.
    pub records: u64,
    pub problems: Vec<Problem>,
    pub problems_total: u64,
}

/// Which end of a conversation the server is, seen from the scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleSide {
    /// The server is the peer end: `peer_port`.
    Peer,
    /// The server is the local end: `local_port`.
    Local,
    /// The protocol has no ports (ICMP and others): either side, no port key.
    Any,
}

/// What one future allow rule is grouped by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKey {
    pub protocol: Option<u8>,
    pub side: RuleSide,
    pub port: Option<u16>,
}

/// A set that stops growing at `CAP` members and then only says "more" (`None`): enough to
/// compare small sets exactly without holding a large one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capped<T: Ord>(pub Option<BTreeSet<T>>);

/// Members a [`Capped`] set holds.
pub const CAP: usize = 256;

impl<T: Ord> Default for Capped<T> {
    fn default() -> Self {
        Capped(Some(BTreeSet::new()))
    }
}

impl<T: Ord> Capped<T> {
    fn insert(&mut self, item: T) {
        if let Some(set) = &mut self.0 {
            set.insert(item);
            if set.len() > CAP {
                self.0 = None;
            }
        }
    }

    fn merge(&mut self, other: Capped<T>) {
        match (&mut self.0, other.0) {
            (Some(mine), Some(theirs)) => {
                mine.extend(theirs);
                if mine.len() > CAP {
                    self.0 = None;
                }
            }
            _ => self.0 = None,
        }
    }
}

/// One record as the allow rules of a suggestion can match it: peer address, peer port,
/// local port (the protocol is the group's).
pub type Seen = (IpAddr, Option<u16>, Option<u16>);

/// What one group saw.
#[derive(Clone, Debug, Default)]
pub struct Group {
    pub peers: BTreeSet<IpAddr>,
    /// The servers' addresses: ports of one service on the same servers share a rule.
    pub servers: Capped<IpAddr>,
    /// Its distinct records as rules can match them: a group whose records all match another
    /// rule is dropped (a record whose server was taken for the wrong end usually does).
    pub seen: Capped<Seen>,
    pub conversations: HashSet<ConversationKey>,
    pub records: u64,
    pub bytes: u64,
    pub first_start: Option<u64>,
    pub last_end: Option<u64>,
}

impl Group {
    fn merge(&mut self, o: Group) {
        self.peers.extend(o.peers);
        self.servers.merge(o.servers);
        self.seen.merge(o.seen);
        self.conversations.extend(o.conversations);
        self.records += o.records;
        self.bytes = self.bytes.saturating_add(o.bytes);
        self.first_start = min_opt(self.first_start, o.first_start);
        self.last_end = self.last_end.max(o.last_end);
    }
}

fn min_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Records of one group's conversation waiting for their server (see `engine::server`).
#[derive(Clone, Copy, Debug)]
struct Traffic {
    records: u64,
    bytes: u64,
    first_start: Option<u64>,
    last_end: Option<u64>,
}

impl Merge for Traffic {
    fn merge(&mut self, o: Traffic) {
        self.records += o.records;
        self.bytes = self.bytes.saturating_add(o.bytes);
        self.first_start = min_opt(self.first_start, o.first_start);
        self.last_end = self.last_end.max(o.last_end);
    }
}

/// What a waiting record is kept by besides its two ends: its (src, dst) addresses as the
/// scope sees them, and whether the peer is dst.
type WaitingKey = ((Option<IpAddr>, Option<IpAddr>), bool);

/// Everything one pass learnt.
#[derive(Debug, Default)]
pub struct Observed {
    pub groups: HashMap<GroupKey, Group>,
    pub archives: u64,
    pub records: u64,
    pub first_start: Option<u64>,
    pub last_end: Option<u64>,
    pub problems: Vec<Problem>,
    pub problems_total: u64,
    servers: RunEvidence,
    undecided: Pending<WaitingKey, Traffic>,
}

impl Observed {
    fn merge(mut self, o: Observed) -> Observed {
        for (k, g) in o.groups {
            self.groups.entry(k).or_default().merge(g);
        }
        self.servers.merge(o.servers);
        self.undecided.merge(o.undecided);
        self.archives += o.archives;
        self.records += o.records;
        self.first_start = match (self.first_start, o.first_start) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_end = self.last_end.max(o.last_end);
        self.problems_total += o.problems_total;
        self.problems.extend(o.problems);
        self.problems.sort();
        self.problems.truncate(1000);
        self
    }
}

impl Observed {
    /// Adds records whose server is `side` to their group.
    fn add(
        &mut self,
        protocol: Option<u8>,
        (side, basis): (Side, Basis),
        (endpoints, peer_is_dst): WaitingKey,
        (src_port, dst_port): (Option<u16>, Option<u16>),
        t: Traffic,
    ) {
        let _ = basis;
        let (peer_port, local_port) = if peer_is_dst {
            (dst_port, src_port)
        } else {
            (src_port, dst_port)
        };
        let server_is_peer = (side == Side::Dst) == peer_is_dst;
        let key = if protocol.is_some_and(server::has_ports) {
            GroupKey {
                protocol,
                side: if server_is_peer {
                    RuleSide::Peer
                } else {
                    RuleSide::Local
                },
                port: if server_is_peer {
                    peer_port
                } else {
                    local_port
                },
            }
        } else {
            GroupKey {
                protocol,
                side: RuleSide::Any,
                port: None,
            }
        };
        let (src, dst) = endpoints;
        let peer = if peer_is_dst { dst } else { src };
        let group = self.groups.entry(key).or_default();
        if let Some(a) = peer {
            group.peers.insert(a);
            if key.side != RuleSide::Any {
                group.seen.insert((a, peer_port, local_port));
            }
        }
        if let Some(a) = if side == Side::Src { src } else { dst } {
            group.servers.insert(a);
        }
        group.conversations.insert(ConversationKey::new(
            protocol,
            endpoints,
            side,
            (src_port, dst_port),
        ));
        group.records += t.records;
        group.bytes = group.bytes.saturating_add(t.bytes);
        group.first_start = min_opt(group.first_start, t.first_start);
        group.last_end = group.last_end.max(t.last_end);
    }

    /// At the end of the run: the run's servers decide what the archives did not.
    fn settle_run(&mut self) {
        let undecided = std::mem::take(&mut self.undecided);
        let servers = std::mem::take(&mut self.servers).seal();
        undecided.settle_run(&servers, |side, basis, ends, key, t| {
            let ports = (Some(ends.src.port), Some(ends.dst.port));
            self.add(Some(ends.src.protocol), (side, basis), key, ports, t);
        });
    }
}

/// The `[policy]` and `[scope]` text of the suggested policy.
fn scope_text(opts: &SuggestOptions) -> String {
    let peers: Vec<String> = opts.peer.iter().map(|n| format!("\"{n}\"")).collect();
    let mut text = format!(
        "[policy]\nname = {}\n\n[scope]\npeer = [{}]\n",
        render::quote(&opts.name),
        peers.join(", ")
    );
    for (k, v) in &opts.scope {
        text.push_str(&format!("{k} = {v}\n"));
    }
    text
}

/// Suggests a policy.
pub fn suggest(opts: &SuggestOptions) -> Result<Suggestion, Error> {
    suggest_with(opts, &|| {})
}

/// Suggests a policy, calling `on_archive` after each archive is read (for progress
/// displays), from worker threads.
pub fn suggest_with(
    opts: &SuggestOptions,
    on_archive: &(dyn Fn() + Sync),
) -> Result<Suggestion, Error> {
    let scope = scope_text(opts);
    let set = PolicySet::from_sources([(format!("{}.toml", opts.name), scope.clone())])
        .map_err(|d| Error::Scope(d.render(false)))?;
    let policy = set.policies()[0].clone();
    let mut check = Check::new().logs(opts.logs.clone());
    if let Some(f) = &opts.log_format {
        check = check.log_format(f.clone());
    }
    let found = check.discover()?;
    let scan = ScanOptions {
        log_format: opts.log_format.clone(),
    };
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(n) = crate::source::threads(&found.archives, opts.threads) {
        pool = pool.num_threads(n.max(1));
    }
    let mut observed = pool.build()?.install(|| {
        found
            .archives
            .par_iter()
            .fold(Observed::default, |mut o, archive| {
                observe(&policy, &opts.peer, archive, &scan, &mut o);
                on_archive();
                o
            })
            .reduce(Observed::default, Observed::merge)
    });
    observed.settle_run();
    for p in found.problems {
        observed.problems_total += 1;
        observed.problems.push(p);
    }
    let rules = render::rules(&observed, opts);
    let toml = render::policy(&scope, &rules, &observed, opts);
    Ok(Suggestion {
        toml,
        rules: rules.len(),
        records: observed.groups.values().map(|g| g.records).sum(),
        problems: observed.problems,
        problems_total: observed.problems_total,
    })
}

fn observe(
    policy: &Policy,
    peer: &[IpNet],
    archive: &Archive,
    scan: &ScanOptions,
    o: &mut Observed,
) {
    let mut sink = ObserveSink {
        policy,
        peer,
        enabled: true,
        observed: o,
        evidence: ArchiveEvidence::default(),
        waiting: Pending::default(),
    };
    let stats = scan_archive(archive, scan, &mut sink);
    let ObserveSink {
        evidence, waiting, ..
    } = sink;
    let mut waiting = waiting;
    let mut undecided = std::mem::take(&mut o.undecided);
    waiting.settle_archive(&evidence, &mut undecided, |side, basis, ends, key, t| {
        let ports = (Some(ends.src.port), Some(ends.dst.port));
        o.add(Some(ends.src.protocol), (side, basis), key, ports, t);
    });
    o.undecided = undecided;
    evidence.add_servers_to(&mut o.servers);
    o.archives += 1;
    o.records += stats.records;
}

struct ObserveSink<'a> {
    policy: &'a Policy,
    peer: &'a [IpNet],
    enabled: bool,
    observed: &'a mut Observed,
    /// This archive's evidence of who the servers are.
    evidence: ArchiveEvidence,
    /// Records in scope whose server this archive's evidence (or the run's) decides.
    waiting: Pending<WaitingKey, Traffic>,
}

impl Sink for ObserveSink<'_> {
    fn format(&mut self, archive: &Archive, format: &Format) {
        let missing: Vec<String> = self
            .policy
            .required_fields()
            .into_iter()
            .filter(|(f, _)| !format.has(*f))
            .map(|(f, key)| format!("{f} (scope key {key})"))
            .collect();
        self.enabled = missing.is_empty();
        if !self.enabled {
            self.problem(Problem::new(
                archive.display.clone(),
                None,
                format!(
                    "the scope needs {}, which this archive's format lacks; its records were not read",
                    missing.join(", ")
                ),
            ));
        }
    }

    fn record(&mut self, _archive: &Archive, line: u64, flow: &Flow<'_>) {
        if let Some(s) = flow.start {
            self.observed.first_start = Some(self.observed.first_start.map_or(s, |f| f.min(s)));
        }
        self.observed.last_end = self.observed.last_end.max(flow.end);
        if flow.status != LogStatus::Ok {
            return;
        }
        // The evidence counts every OK record, whatever the scope: a record's server must not
        // depend on the policy asking.
        self.evidence.observe(flow, line);
        if !self.enabled {
            return;
        }
        // No allow rules and no waivers: whatever the scope judges comes back a violation.
        let verdict = self.policy.judge(flow, time::Date::MIN, &mut [], &mut []);
        if !matches!(verdict, Verdict::Violation { .. }) {
            return;
        }
        let endpoints = self.policy.endpoints(flow);
        // The peer end: the end inside the peer networks, dst when both are.
        let in_peer =
            |a: Option<IpAddr>| a.is_some_and(|a| self.peer.iter().any(|n| n.contains(&a)));
        let key = (endpoints, in_peer(endpoints.1));
        let t = Traffic {
            records: 1,
            bytes: flow.bytes.unwrap_or(0),
            first_start: flow.start,
            last_end: flow.end,
        };
        let reading = server::read(flow);
        match (reading.decided, reading.ends) {
            (Some(decided), _) => {
                let ports = (flow.src_port, flow.dst_port);
                self.observed.add(flow.protocol, decided, key, ports, t);
            }
            (None, Some(ends)) => self.waiting.add(ends, key, t),
            (None, None) => unreachable!("server::read decides what has no ends"),
        }
    }

    fn problem(&mut self, problem: Problem) {
        self.observed.problems_total += 1;
        if self.observed.problems.len() < 1000 {
            self.observed.problems.push(problem);
        }
    }
}

/// An allow rule in the making: one group, or a run of ports of the same service.
#[derive(Debug)]
pub struct SuggestedRule {
    pub protocol: Option<u8>,
    pub side: RuleSide,
    pub ports: BTreeSet<u16>,
    pub nets: Vec<IpNet>,
    pub peers: BTreeSet<IpAddr>,
    pub conversations: u64,
    pub records: u64,
    pub bytes: u64,
    pub first_start: Option<u64>,
    pub last_end: Option<u64>,
}
