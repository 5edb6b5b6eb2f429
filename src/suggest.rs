//! `flowgate suggest`: a first policy written from what the logs show.
//!
//! Given a scope (peer networks, and any other scope keys), one parallel pass collects every
//! record the scope would judge, grouped as the allow rules will be: by protocol and server
//! port, with the side the server is on (the peer end: `peer_port`; the local end:
//! `local_port`). The peer addresses of each group are merged into the fewest CIDRs
//! (`render`), optionally widened, and groups with the same networks share one rule. The
//! scope is compiled by the policy loader and records are judged by [`Policy::judge`] and
//! grouped by the check's own conversation rule, so the policy written passes `flowgate check`
//! on the same logs by construction; the tests run that check.

mod render;

pub use render::quote;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use rayon::prelude::*;

use crate::check::Check;
use crate::engine::{conversation_key, ConversationKey};
use crate::flowlog::{scan_archive, Archive, Flow, Format, LogStatus, Problem, ScanOptions, Sink};
use crate::policy::{Policy, PolicySet, Verdict};
use crate::sample::key::server_is_src;

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
pub enum Side {
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
    pub side: Side,
    pub port: Option<u16>,
}

/// What one group saw.
#[derive(Clone, Debug, Default)]
pub struct Group {
    pub peers: BTreeSet<IpAddr>,
    pub conversations: HashSet<ConversationKey>,
    pub records: u64,
    pub bytes: u64,
    pub first_start: Option<u64>,
    pub last_end: Option<u64>,
}

impl Group {
    fn merge(&mut self, o: Group) {
        self.peers.extend(o.peers);
        self.conversations.extend(o.conversations);
        self.records += o.records;
        self.bytes = self.bytes.saturating_add(o.bytes);
        self.first_start = match (self.first_start, o.first_start) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_end = self.last_end.max(o.last_end);
    }
}

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
}

impl Observed {
    fn merge(mut self, o: Observed) -> Observed {
        for (k, g) in o.groups {
            self.groups.entry(k).or_default().merge(g);
        }
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

/// Protocols whose records carry ports.
fn has_ports(protocol: Option<u8>) -> bool {
    matches!(protocol, Some(6 | 17 | 132 | 136))
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
                o
            })
            .reduce(Observed::default, Observed::merge)
    });
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
    };
    let stats = scan_archive(archive, scan, &mut sink);
    o.archives += 1;
    o.records += stats.records;
}

struct ObserveSink<'a> {
    policy: &'a Policy,
    peer: &'a [IpNet],
    enabled: bool,
    observed: &'a mut Observed,
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

    fn record(&mut self, _archive: &Archive, _line: u64, flow: &Flow<'_>) {
        if let Some(s) = flow.start {
            self.observed.first_start = Some(self.observed.first_start.map_or(s, |f| f.min(s)));
        }
        self.observed.last_end = self.observed.last_end.max(flow.end);
        if !self.enabled || flow.status != LogStatus::Ok {
            return;
        }
        // No allow rules and no waivers: whatever the scope judges comes back a violation.
        let verdict = self.policy.judge(flow, time::Date::MIN, &mut [], &mut []);
        if !matches!(verdict, Verdict::Violation { .. }) {
            return;
        }
        let endpoints = self.policy.endpoints(flow);
        let (src, dst) = endpoints;
        // The peer end: the end inside the peer networks, dst when both are.
        let in_peer =
            |a: Option<IpAddr>| a.is_some_and(|a| self.peer.iter().any(|n| n.contains(&a)));
        let peer_is_dst = in_peer(dst);
        let peer_addr = if peer_is_dst { dst } else { src };
        let src_server = server_is_src(flow);
        let key = if has_ports(flow.protocol) {
            GroupKey {
                protocol: flow.protocol,
                side: if src_server != peer_is_dst {
                    Side::Peer
                } else {
                    Side::Local
                },
                port: if src_server {
                    flow.src_port
                } else {
                    flow.dst_port
                },
            }
        } else {
            GroupKey {
                protocol: flow.protocol,
                side: Side::Any,
                port: None,
            }
        };
        let group = self.observed.groups.entry(key).or_default();
        if let Some(a) = peer_addr {
            group.peers.insert(a);
        }
        group
            .conversations
            .insert(conversation_key(endpoints, flow));
        group.records += 1;
        group.bytes = group.bytes.saturating_add(flow.bytes.unwrap_or(0));
        if let Some(s) = flow.start {
            group.first_start = Some(group.first_start.map_or(s, |f| f.min(s)));
        }
        group.last_end = group.last_end.max(flow.end);
    }

    fn problem(&mut self, problem: Problem) {
        self.observed.problems_total += 1;
        if self.observed.problems.len() < 1000 {
            self.observed.problems.push(problem);
        }
    }
}

/// Allow rules in the making: the groups that share protocol, side and networks.
#[derive(Debug)]
pub struct SuggestedRule {
    pub protocol: Option<u8>,
    pub side: Side,
    pub ports: BTreeSet<u16>,
    pub nets: Vec<IpNet>,
    pub peers: BTreeSet<IpAddr>,
    pub conversations: u64,
    pub records: u64,
    pub bytes: u64,
    pub first_start: Option<u64>,
    pub last_end: Option<u64>,
}

/// Groups by (protocol, side, networks), in a stable order.
pub(crate) type RuleMap = BTreeMap<(Option<u8>, Side, Vec<IpNet>), SuggestedRule>;
