//! Why a policy decides what it decides for one flow: the scope key that kept it out, the
//! allow rule or waiver that let it through, or, when none did, the rule that came nearest.
//!
//! The verdict is never worked out here: every record of the flow is judged by
//! [`Policy::decide`], which is [`Policy::judge`], the reference the check's classifier is
//! held to (verdict and hit counts, by property tests). This module adds only the reasons, in
//! the policy's own terms (its scope, its rules by name and line), so `flowgate explain`, a
//! failing `[[expect]]` and the check cannot disagree about a verdict.
//!
//! A flow stands for every record with its protocol and addresses, any port in its ranges
//! and the fields given. Its port ranges are cut where any port set of the policy starts or
//! ends, so every port of one cell is inside or outside every set alike, and one record per
//! cell decides the whole cell exactly; cells with the same reasons form one [`Piece`]. A
//! field not given (`interface`, `vpc`, `subnet`, `instance`, `direction`) is absent from the
//! records, and where the verdict would change with its value, the piece is
//! [`Path::Undetermined`] instead of a guess.

use std::net::IpAddr;
use std::ops::Range;

use crate::flowlog::{Action, Direction, Flow};

use super::flowspec::{FlowFields, FlowSpec, Ports};
use super::matcher::{action_bit, direction_bit, Key, Matcher, Slot, Subject};
use super::raw::show;
use super::values::protocol_text;
use super::{Outcome, Policy, Rule, Verdict};

/// Values of a set named in a message before "and N more".
const SHOWN: usize = 4;

/// What the policy decides for a flow, piece by piece of its port ranges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// The flow with its port ranges spelt out.
    pub flow: FlowSpec,
    /// In the order of their first ports; together they cover every port of the flow.
    pub pieces: Vec<Piece>,
}

/// Ports of the flow that one path decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece {
    /// The port cells (source range, destination range) the path holds for, in order.
    pub cells: Vec<Cell>,
    pub path: Path,
}

/// Source and destination ports (inclusive ranges) every set of the policy treats alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cell {
    pub src: (u16, u16),
    pub dst: (u16, u16),
}

/// How the verdict came about: DESIGN.md's steps 2-6, with the rules named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Path {
    /// Step 2: the scope keys the flow fails (`peer`: neither end is inside).
    OutOfScope { misses: Vec<Miss> },
    /// Step 3: the scope judges other actions only.
    Rejected { action: Action, judged: Vec<Action> },
    /// Step 4: every allow rule that matches.
    Allowed { by: Vec<RuleRef> },
    /// Step 5: every live waiver that matches.
    Waived { by: Vec<RuleRef> },
    /// Step 6: the allow rule that came nearest, and waivers that match but have expired.
    Blocked {
        nearest: Option<Near>,
        expired: Vec<RuleRef>,
    },
    /// The verdict depends on fields not given: `rule` matches on `keys` and fails on
    /// nothing else, and whether it matches would change the verdict.
    Undetermined { keys: Vec<Key>, rule: RuleRef },
}

/// The part of a policy a path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleKind {
    Scope,
    Allow,
    Waiver,
}

impl RuleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Scope => "scope",
            RuleKind::Allow => "allow",
            RuleKind::Waiver => "waiver",
        }
    }
}

/// A rule (or the scope) by name and place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleRef {
    pub kind: RuleKind,
    /// The rule's name; `scope` for the scope.
    pub name: String,
    /// 1-based line of its header.
    pub line: u32,
    /// A waiver's last day.
    pub expires: Option<time::Date>,
    pub(crate) span: Range<usize>,
}

impl RuleRef {
    /// `allow rule \`settlement API\` (line 14)`, `[scope] (line 10)`.
    pub fn describe(&self) -> String {
        match self.kind {
            RuleKind::Scope => format!("[scope] (line {})", self.line),
            RuleKind::Allow => format!("allow rule `{}` (line {})", show(&self.name), self.line),
            RuleKind::Waiver => format!("waiver `{}` (line {})", show(&self.name), self.line),
        }
    }
}

/// A key a rule wants and the flow fails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Miss {
    pub key: Key,
    /// The rule's values, as a person reads them (`443, 8443-8444`).
    pub wants: String,
    /// The flow's value there (`22`, `1024-65535`, `none given`).
    pub has: String,
    pub(crate) span: Range<usize>,
    /// For a port key, which of the record's ports it reads (`true`: the destination's):
    /// `has` is then the ports of that end over the whole piece, filled in once the cells
    /// are grouped, so cells that differ only in a port no rule tells apart share a piece.
    port_is_dst: Option<bool>,
}

impl Miss {
    /// `` `peer_port` 443, not 22 ``
    pub fn describe(&self) -> String {
        format!("`{}` {}, not {}", self.key, self.wants, self.has)
    }
}

/// The allow rule that fails on the fewest keys (the first in the file among equals).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Near {
    pub rule: RuleRef,
    pub misses: Vec<Miss>,
}

impl Path {
    fn misses_mut(&mut self) -> Vec<&mut Miss> {
        match self {
            Path::OutOfScope { misses } => misses.iter_mut().collect(),
            Path::Blocked {
                nearest: Some(n), ..
            } => n.misses.iter_mut().collect(),
            _ => Vec::new(),
        }
    }

    /// The verdict, unless it depends on a field not given.
    pub fn outcome(&self) -> Option<Outcome> {
        Some(match self {
            Path::OutOfScope { .. } => Outcome::OutOfScope,
            Path::Rejected { .. } => Outcome::Rejected,
            Path::Allowed { .. } => Outcome::Allowed,
            Path::Waived { .. } => Outcome::Waived,
            Path::Blocked { .. } => Outcome::Blocked,
            Path::Undetermined { .. } => return None,
        })
    }

    /// The rule (or scope) that decided, or came nearest: where a message points.
    pub fn rule(&self) -> Option<&RuleRef> {
        match self {
            Path::Allowed { by } | Path::Waived { by } => by.first(),
            Path::Blocked { nearest, expired } => {
                expired.first().or(nearest.as_ref().map(|n| &n.rule))
            }
            Path::Undetermined { rule, .. } => Some(rule),
            Path::OutOfScope { .. } | Path::Rejected { .. } => None,
        }
    }

    /// One line: the verdict and why, in the policy's terms: "blocked: no allow rule matches;
    /// nearest: allow `settlement API` (line 14): `peer_port` 443, not 22".
    pub fn summary(&self) -> String {
        let list = |rules: &[RuleRef]| -> String {
            let names: Vec<String> = rules.iter().map(RuleRef::describe).collect();
            names.join(" and ")
        };
        let misses = |m: &[Miss]| -> String {
            let v: Vec<String> = m.iter().map(Miss::describe).collect();
            v.join("; ")
        };
        match self {
            Path::OutOfScope { misses: m } => format!("out of scope: [scope] {}", misses(m)),
            Path::Rejected { action, judged } => {
                let judged: Vec<&str> = judged.iter().map(|a| a.as_str()).collect();
                format!(
                    "rejected: the flow's action is {}, and the scope judges {} records only",
                    action.as_str(),
                    judged.join(" and ")
                )
            }
            Path::Allowed { by } => format!("allowed by {}", list(by)),
            Path::Waived { by } => {
                let until = by
                    .iter()
                    .filter_map(|r| r.expires)
                    .max()
                    .map_or_else(String::new, |d| format!(", until {d}"));
                format!("waived by {}{until}", list(by))
            }
            Path::Blocked { nearest, expired } => {
                let mut out = match nearest {
                    None => "blocked: the policy has no allow rule".to_string(),
                    Some(n) => format!(
                        "blocked: no allow rule matches; nearest: `{}` (line {}) allows {}",
                        show(&n.rule.name),
                        n.rule.line,
                        misses(&n.misses)
                    ),
                };
                for w in expired {
                    out.push_str(&format!(
                        "; {} matches, but expired on {}",
                        w.describe(),
                        w.expires.map_or_else(String::new, |d| d.to_string())
                    ));
                }
                out
            }
            Path::Undetermined { keys, rule } => {
                let keys: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
                format!(
                    "undetermined: {} matches on {}, which the flow does not give",
                    rule.describe(),
                    keys.join(" and ")
                )
            }
        }
    }
}

impl Piece {
    /// The ports this piece holds for, exactly: `source ports 1024-32767, 61000-65535`,
    /// `destination ports 0-442, 444-65535; source ports 0-32767 with destination port 443`,
    /// or nothing when the piece is the whole flow.
    pub fn ports(&self, flow: &FlowSpec) -> String {
        let whole_src = [(flow.src_ports.lo, flow.src_ports.hi)];
        let whole_dst = [(flow.dst_ports.lo, flow.dst_ports.hi)];
        // The cells by destination range, each with its source ranges; then destination
        // ranges with the same source ranges together.
        let mut by_dst: Vec<(Range16, Vec<Range16>)> = Vec::new();
        for c in &self.cells {
            match by_dst.iter_mut().find(|(d, _)| *d == c.dst) {
                Some((_, srcs)) => srcs.push(c.src),
                None => by_dst.push((c.dst, vec![c.src])),
            }
        }
        let mut groups: Vec<(Vec<Range16>, Vec<Range16>)> = Vec::new();
        for (dst, srcs) in by_dst {
            let srcs = merged(srcs.into_iter());
            match groups.iter_mut().find(|(s, _)| *s == srcs) {
                Some((_, dsts)) => dsts.push(dst),
                None => groups.push((srcs, vec![dst])),
            }
        }
        let show = |ranges: &[(u16, u16)]| -> String {
            let v: Vec<String> = ranges.iter().map(|&r| port_text(r)).collect();
            v.join(", ")
        };
        let word = |ranges: &[(u16, u16)], one: &str, many: &str| {
            if let [(lo, hi)] = ranges {
                if lo == hi {
                    return format!("{one} {lo}");
                }
            }
            format!("{many} {}", show(ranges))
        };
        let parts: Vec<String> = groups
            .into_iter()
            .map(|(srcs, dsts)| {
                let dsts = merged(dsts.into_iter());
                match (srcs == whole_src, dsts == whole_dst) {
                    (true, true) => String::new(),
                    (false, true) => word(&srcs, "source port", "source ports"),
                    (true, false) => word(&dsts, "destination port", "destination ports"),
                    (false, false) => format!(
                        "{} with {}",
                        word(&srcs, "source port", "source ports"),
                        word(&dsts, "destination port", "destination ports")
                    ),
                }
            })
            .collect();
        if parts.iter().any(String::is_empty) {
            return String::new();
        }
        parts.join("; ")
    }
}

/// An inclusive range of ports.
type Range16 = (u16, u16);

/// Ranges in order, adjacent ones joined, duplicates dropped.
fn merged(ranges: impl Iterator<Item = (u16, u16)>) -> Vec<(u16, u16)> {
    let mut v: Vec<(u16, u16)> = ranges.collect();
    v.sort_unstable();
    v.dedup();
    let mut out: Vec<(u16, u16)> = Vec::new();
    for (lo, hi) in v {
        match out.last_mut() {
            Some(last) if last.1.checked_add(1).is_some_and(|n| n >= lo) => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// What `policy` decides for every record of `flow` with `fields`, waivers judged on
/// `today`.
pub fn explain(
    policy: &Policy,
    flow: &FlowSpec,
    fields: &FlowFields,
    today: time::Date,
) -> Explanation {
    let cuts = port_cuts(policy);
    let srcs = cells(flow.src_ports, &cuts);
    let dsts = cells(flow.dst_ports, &cuts);
    // Cells with the same path form a piece; a blocked piece's nearest rule is chosen once
    // its cells are known, from each cell's candidates (one per allow rule).
    let mut pieces: Vec<Piece> = Vec::new();
    let mut candidates: Vec<Vec<(Cell, Vec<Near>)>> = Vec::new();
    for &src in &srcs {
        for &dst in &dsts {
            let cell = Cell { src, dst };
            let record = flow.record(fields, policy.scope.addresses, src.0, dst.0);
            let (path, nears) = path(policy, &record, fields, today);
            match pieces.iter().position(|p| p.path == path) {
                Some(i) => {
                    pieces[i].cells.push(cell);
                    candidates[i].push((cell, nears));
                }
                None => {
                    pieces.push(Piece {
                        cells: vec![cell],
                        path,
                    });
                    candidates.push(vec![(cell, nears)]);
                }
            }
        }
    }
    for (piece, cands) in pieces.iter_mut().zip(candidates) {
        let srcs = merged(piece.cells.iter().map(|c| c.src));
        let dsts = merged(piece.cells.iter().map(|c| c.dst));
        if let Path::Blocked { nearest, .. } = &mut piece.path {
            *nearest = nearest_of(&cands);
        }
        for m in piece.path.misses_mut() {
            if m.port_is_dst.is_none() || !m.has.is_empty() {
                continue;
            }
            let ranges = if m.port_is_dst == Some(true) {
                &dsts
            } else {
                &srcs
            };
            let v: Vec<String> = ranges.iter().map(|&r| port_text(r)).collect();
            m.has = v.join(", ");
        }
    }
    Explanation {
        flow: flow.clone(),
        pieces,
    }
}

/// The allow rule failing on the fewest keys in any cell of a blocked piece (the earliest
/// cell, then the first rule in the file, among equals), with the ports of the piece's cells
/// where it fails on each port key.
fn nearest_of(cands: &[(Cell, Vec<Near>)]) -> Option<Near> {
    let mut best: Option<(usize, usize)> = None;
    for (c, (_, nears)) in cands.iter().enumerate() {
        for (r, near) in nears.iter().enumerate() {
            let fewer =
                best.is_none_or(|(bc, br)| near.misses.len() < cands[bc].1[br].misses.len());
            if fewer {
                best = Some((c, r));
            }
        }
    }
    let (c, r) = best?;
    let mut near = cands[c].1[r].clone();
    for m in &mut near.misses {
        let Some(is_dst) = m.port_is_dst else {
            continue;
        };
        let failing = cands.iter().filter_map(|(cell, nears)| {
            nears[r]
                .misses
                .iter()
                .any(|x| x.key == m.key)
                .then_some(if is_dst { cell.dst } else { cell.src })
        });
        let v: Vec<String> = merged(failing).iter().map(|&r| port_text(r)).collect();
        m.has = v.join(", ");
    }
    Some(near)
}

/// Every port where some port set of the policy starts, or ends plus one: between two cuts
/// each set holds all ports or none.
fn port_cuts(policy: &Policy) -> Vec<u32> {
    let matchers = std::iter::once(&policy.scope.matcher)
        .chain(policy.allows.iter().map(|r| &r.matcher))
        .chain(policy.waivers.iter().map(|w| &w.rule.matcher));
    let mut cuts = Vec::new();
    for m in matchers {
        for set in m.ports.iter().flatten() {
            for &(lo, hi) in set.ranges() {
                cuts.push(u32::from(lo));
                cuts.push(u32::from(hi) + 1);
            }
        }
    }
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

/// `ports` cut at `cuts`.
fn cells(ports: Ports, cuts: &[u32]) -> Vec<(u16, u16)> {
    let mut out = Vec::new();
    let first = u32::from(ports.lo);
    let hi = u32::from(ports.hi);
    let mut lo = first;
    for &cut in cuts.iter().filter(|&&c| c > first && c <= hi) {
        out.push((lo as u16, (cut - 1) as u16));
        lo = cut;
    }
    out.push((lo as u16, hi as u16));
    out
}

/// The path of one record, standing for its cell; for a blocked record, its nearness to
/// every allow rule (the path's `nearest` is then chosen per piece).
fn path(
    policy: &Policy,
    record: &Flow<'_>,
    fields: &FlowFields,
    today: time::Date,
) -> (Path, Vec<Near>) {
    let mut nears = Vec::new();
    let path = decide_path(policy, record, fields, today, &mut nears);
    (path, nears)
}

fn decide_path(
    policy: &Policy,
    record: &Flow<'_>,
    fields: &FlowFields,
    today: time::Date,
    nears: &mut Vec<Near>,
) -> Path {
    let decision = policy.decide(record, today);
    let subject = policy.subject(record);
    let scope_ref = RuleRef {
        kind: RuleKind::Scope,
        name: "scope".into(),
        line: policy.line,
        expires: None,
        span: policy.span.clone(),
    };
    let undetermined = |keys: &[Key]| !keys.is_empty() && keys.iter().all(|&k| !fields.gives(k));
    match decision.verdict {
        Verdict::OutOfScope => {
            let Some(subject) = subject else {
                let (src, dst) = policy.endpoints(record);
                let ends: Vec<String> = [src, dst]
                    .into_iter()
                    .flatten()
                    .map(|a| a.to_string())
                    .collect();
                let peer = policy
                    .scope
                    .peer
                    .as_ref()
                    .map_or_else(String::new, addresses);
                return Path::OutOfScope {
                    misses: vec![Miss {
                        key: Key::Peer,
                        wants: peer,
                        has: ends.join(" or "),
                        span: scope_span(policy, Key::Peer),
                        port_is_dst: None,
                    }],
                };
            };
            let keys = policy.scope.matcher.failing_keys(&subject);
            debug_assert!(
                !keys.is_empty(),
                "judge says out of scope, the scope matches"
            );
            if undetermined(&keys) {
                return Path::Undetermined {
                    keys,
                    rule: scope_ref,
                };
            }
            Path::OutOfScope {
                misses: keys
                    .iter()
                    .map(|&k| miss(&policy.scope.matcher, k, &subject, scope_span(policy, k)))
                    .collect(),
            }
        }
        Verdict::AlreadyRejected => Path::Rejected {
            action: record.action.unwrap_or(Action::Accept),
            judged: [Action::Accept, Action::Reject]
                .into_iter()
                .filter(|&a| policy.scope.judges(a))
                .collect(),
        },
        Verdict::Allowed => Path::Allowed {
            by: decision
                .allows
                .iter()
                .map(|&i| rule_ref(&policy.allows[i], RuleKind::Allow, None))
                .collect(),
        },
        Verdict::Waived | Verdict::Violation { .. } => {
            let subject = subject.expect("in scope, so the peer end is resolved");
            // A rule that fails only on fields not given could match a record of this flow,
            // and change the verdict: an allow rule always, a live waiver when none matched.
            for rule in &policy.allows {
                let keys = rule.matcher.failing_keys(&subject);
                if undetermined(&keys) {
                    return Path::Undetermined {
                        keys,
                        rule: rule_ref(rule, RuleKind::Allow, None),
                    };
                }
            }
            if decision.verdict != Verdict::Waived {
                for w in policy.waivers.iter().filter(|w| today <= w.expires) {
                    let keys = w.rule.matcher.failing_keys(&subject);
                    if undetermined(&keys) {
                        return Path::Undetermined {
                            keys,
                            rule: rule_ref(&w.rule, RuleKind::Waiver, Some(w.expires)),
                        };
                    }
                }
            }
            let waivers = decision.waivers.iter().map(|&i| &policy.waivers[i]);
            if decision.verdict == Verdict::Waived {
                return Path::Waived {
                    by: waivers
                        .filter(|w| today <= w.expires)
                        .map(|w| rule_ref(&w.rule, RuleKind::Waiver, Some(w.expires)))
                        .collect(),
                };
            }
            *nears = policy
                .allows
                .iter()
                .map(|rule| Near {
                    rule: rule_ref(rule, RuleKind::Allow, None),
                    misses: rule
                        .matcher
                        .failing_keys(&subject)
                        .iter()
                        .map(|&k| miss(&rule.matcher, k, &subject, rule.span_of(k)))
                        .collect(),
                })
                .collect();
            Path::Blocked {
                nearest: None,
                expired: waivers
                    .map(|w| rule_ref(&w.rule, RuleKind::Waiver, Some(w.expires)))
                    .collect(),
            }
        }
    }
}

fn rule_ref(rule: &Rule, kind: RuleKind, expires: Option<time::Date>) -> RuleRef {
    RuleRef {
        kind,
        name: rule.name.clone(),
        line: rule.line,
        expires,
        span: rule.span.clone(),
    }
}

/// Where `key` is written in the scope, else the scope's header.
fn scope_span(policy: &Policy, key: Key) -> Range<usize> {
    policy
        .scope
        .key_spans
        .iter()
        .find(|(k, _)| *k == key)
        .map_or_else(|| policy.span.clone(), |(_, s)| s.clone())
}

fn miss(m: &Matcher, key: Key, s: &Subject<'_, '_>, span: Range<usize>) -> Miss {
    let port_is_dst = match key.slot() {
        Slot::Port(end) => match end as usize {
            0 => Some(false),
            1 => Some(true),
            2 => s.peer_is_dst,
            _ => s.peer_is_dst.map(|d| !d),
        },
        _ => None,
    };
    Miss {
        key,
        wants: wants(m, key),
        // A port's is filled in per piece (see `Miss::port_is_dst`).
        has: if port_is_dst.is_some() {
            String::new()
        } else {
            has(key, s)
        },
        span,
        port_is_dst,
    }
}

/// A list of values for a message: the first few, then how many more.
fn listed(values: Vec<String>) -> String {
    if values.len() <= SHOWN {
        return values.join(", ");
    }
    format!(
        "{} and {} more",
        values[..SHOWN].join(", "),
        values.len() - SHOWN
    )
}

fn addresses(set: &super::sets::AddrSet) -> String {
    listed(
        set.nets()
            .iter()
            .map(|n| {
                if n.prefix_len() == n.max_prefix_len() {
                    n.addr().to_string()
                } else {
                    n.to_string()
                }
            })
            .collect(),
    )
}

fn port_text((lo, hi): (u16, u16)) -> String {
    if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}-{hi}")
    }
}

/// What the matcher wants on `key`, which it has.
fn wants(m: &Matcher, key: Key) -> String {
    let words = |bits: super::sets::Bits, names: &[(u8, &str)]| -> String {
        let v: Vec<String> = names
            .iter()
            .filter(|(b, _)| bits.contains(*b))
            .map(|(_, n)| (*n).to_string())
            .collect();
        v.join(", ")
    };
    match key.slot() {
        Slot::Addr(end) => m.addrs[end as usize].as_ref().map(addresses),
        Slot::Port(end) => m.ports[end as usize]
            .as_ref()
            .map(|set| listed(set.ranges().iter().map(|&r| port_text(r)).collect())),
        Slot::Protocol => m
            .protocol
            .as_ref()
            .map(|set| listed(set.numbers().map(protocol_text).collect())),
        Slot::Id(kind) => m.ids[kind as usize]
            .as_ref()
            .map(|set| listed(set.ids().iter().map(|s| show(s)).collect())),
        Slot::Direction => m.direction.map(|b| {
            words(
                b,
                &[
                    (direction_bit(Direction::Ingress), "ingress"),
                    (direction_bit(Direction::Egress), "egress"),
                ],
            )
        }),
        Slot::Action => m.action.map(|b| {
            words(
                b,
                &[
                    (action_bit(Action::Accept), "ACCEPT"),
                    (action_bit(Action::Reject), "REJECT"),
                ],
            )
        }),
    }
    .unwrap_or_default()
}

/// The flow's value on `key` (not a port key): its address at that end, its id.
fn has(key: Key, s: &Subject<'_, '_>) -> String {
    let not_given = || "none given".to_string();
    match key.slot() {
        Slot::Addr(end) => s
            .addr(end as usize)
            .map_or_else(not_given, |a| IpAddr::from(a).to_string()),
        Slot::Port(_) => not_given(),
        Slot::Protocol => s.flow.protocol.map_or_else(not_given, protocol_text),
        Slot::Id(kind) => s.id(kind as usize).map_or_else(not_given, show),
        Slot::Direction => s
            .flow
            .direction
            .map_or_else(not_given, |d| d.as_str().to_string()),
        Slot::Action => s.flow.action.unwrap_or(Action::Accept).as_str().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::PolicySet;
    use time::macros::date;

    const TODAY: time::Date = date!(2026 - 06 - 01);

    fn policy(text: &str) -> Policy {
        PolicySet::from_sources([("p.toml", text)])
            .unwrap_or_else(|e| panic!("{e}"))
            .policies()[0]
            .clone()
    }

    fn summaries(p: &Policy, flow: &str, fields: &FlowFields) -> Vec<String> {
        let flow = FlowSpec::parse(flow).unwrap();
        explain(p, &flow, fields, TODAY)
            .pieces
            .iter()
            .map(|piece| {
                let ports = piece.ports(&flow);
                if ports.is_empty() {
                    piece.path.summary()
                } else {
                    format!("{ports}: {}", piece.path.summary())
                }
            })
            .collect()
    }

    fn one(p: &Policy, flow: &str) -> String {
        let s = summaries(p, flow, &FlowFields::default());
        assert_eq!(s.len(), 1, "{s:?}");
        s[0].clone()
    }

    const RETAIL: &str = r#"
[scope]
peer = ["10.20.0.0/16"]

[[allow]]
name = "settlement API"
peer = ["10.20.30.0/24"]
protocol = "tcp"
peer_port = [443, "8443-8444"]

[[allow]]
name = "nightly batch"
peer = "10.20.40.12"
protocol = "tcp"
peer_port = 1433

[[waive]]
name = "legacy agent"
peer = "10.20.99.7"
reason = "retired with NET-1300"
expires = 2027-01-31

[[waive]]
name = "old scanner"
peer = "10.20.99.8"
reason = "gone"
expires = 2026-01-31
"#;

    #[test]
    fn each_step_names_its_reason() {
        let p = policy(RETAIL);
        assert_eq!(
            one(&p, "tcp 10.0.2.15 -> 10.20.30.5:443"),
            "allowed by allow rule `settlement API` (line 5)"
        );
        // The reply: the same rule, by the peer end.
        assert_eq!(
            one(&p, "tcp 10.20.30.5:443 -> 10.0.2.15"),
            "allowed by allow rule `settlement API` (line 5)"
        );
        assert_eq!(
            one(&p, "tcp 10.0.2.15 -> 10.20.30.5:22"),
            "blocked: no allow rule matches; nearest: `settlement API` (line 5) allows `peer_port` 443, 8443-8444, not 22"
        );
        assert_eq!(
            one(&p, "tcp 10.0.2.15 -> 10.20.40.12:22"),
            "blocked: no allow rule matches; nearest: `nightly batch` (line 11) allows `peer_port` 1433, not 22"
        );
        // Both rules fail on one key: the first in the file is the nearest.
        assert_eq!(
            one(&p, "tcp 10.0.2.15 -> 10.20.40.12:443"),
            "blocked: no allow rule matches; nearest: `settlement API` (line 5) allows `peer` 10.20.30.0/24, not 10.20.40.12"
        );
        assert_eq!(
            one(&p, "udp 10.0.2.15 -> 10.20.40.12:1433"),
            "blocked: no allow rule matches; nearest: `nightly batch` (line 11) allows `protocol` tcp, not udp"
        );
        assert_eq!(
            one(&p, "tcp 10.0.2.15 -> 10.99.0.1:443"),
            "out of scope: [scope] `peer` 10.20.0.0/16, not 10.0.2.15 or 10.99.0.1"
        );
        assert_eq!(
            one(&p, "tcp 10.20.99.7 -> 10.0.2.15:9100"),
            "waived by waiver `legacy agent` (line 17), until 2027-01-31"
        );
        assert_eq!(
            one(&p, "tcp 10.20.99.8:9100 -> 10.0.2.15:40000"),
            "blocked: no allow rule matches; nearest: `settlement API` (line 5) allows `peer` 10.20.30.0/24, not 10.20.99.8; `peer_port` 443, 8443-8444, not 9100; waiver `old scanner` (line 23) matches, but expired on 2026-01-31"
        );
        let rejected = FlowFields {
            action: Action::Reject,
            ..FlowFields::default()
        };
        assert_eq!(
            summaries(&p, "tcp 10.0.2.15 -> 10.20.30.5:22", &rejected),
            ["rejected: the flow's action is REJECT, and the scope judges ACCEPT records only"]
        );
    }

    #[test]
    fn port_ranges_are_cut_where_the_rules_change() {
        let p = policy(
            "[scope]\ndst = '10.0.0.0/8'\n[[allow]]\nname = 'high'\nsrc_port = '32768-60999'\ndst_port = 443\n",
        );
        let flow = FlowSpec::parse("tcp 192.0.2.1 -> 10.0.0.1:443").unwrap();
        let e = explain(&p, &flow, &FlowFields::default(), TODAY);
        let cells: Vec<Vec<Cell>> = e.pieces.iter().map(|p| p.cells.clone()).collect();
        let cell = |a, b| Cell {
            src: (a, b),
            dst: (443, 443),
        };
        assert_eq!(
            cells,
            [
                vec![cell(1024, 32767), cell(61000, 65535)],
                vec![cell(32768, 60999)],
            ]
        );
        assert_eq!(
            summaries(&p, "tcp 192.0.2.1 -> 10.0.0.1:443", &FlowFields::default()),
            [
                "source ports 1024-32767, 61000-65535: blocked: no allow rule matches; nearest: `high` (line 3) allows `src_port` 32768-60999, not 1024-32767, 61000-65535",
                "source ports 32768-60999: allowed by allow rule `high` (line 3)",
            ]
        );
        // The exactness the cells promise: every port of a cell has the cell's verdict.
        for piece in &e.pieces {
            for c in &piece.cells {
                for port in [c.src.0, c.src.0.saturating_add(1).min(c.src.1), c.src.1] {
                    let fields = FlowFields::default();
                    let record = flow.record(&fields, p.scope.addresses, port, 443);
                    let v = p.decide(&record, TODAY).verdict;
                    assert_eq!(Some(Outcome::of(v)), piece.path.outcome(), "port {port}");
                }
            }
        }
    }

    #[test]
    fn fields_not_given_leave_a_verdict_open_only_where_they_matter() {
        let p = policy(
            "[scope]\npeer = '10.20.0.0/16'\nvpc = 'vpc-1'\n[[allow]]\nname = 'ops'\ninterface = 'eni-1'\npeer_port = 22\n[[allow]]\nname = 'web'\npeer_port = 443\n",
        );
        let none = FlowFields::default();
        assert_eq!(
            summaries(&p, "tcp 10.0.0.1 -> 10.20.0.1:22", &none),
            ["undetermined: [scope] (line 1) matches on `vpc`, which the flow does not give"]
        );
        let vpc = FlowFields {
            vpc: Some("vpc-1".into()),
            ..FlowFields::default()
        };
        assert_eq!(
            summaries(&p, "tcp 10.0.0.1 -> 10.20.0.1:22", &vpc),
            ["undetermined: allow rule `ops` (line 4) matches on `interface`, which the flow does not give"]
        );
        // Port 443 is allowed by `web` whatever the interface; 80 fails `ops` on its port.
        assert_eq!(
            summaries(&p, "tcp 10.0.0.1 -> 10.20.0.1:443", &vpc),
            ["allowed by allow rule `web` (line 8)"]
        );
        assert!(summaries(&p, "tcp 10.0.0.1 -> 10.20.0.1:80", &vpc)[0].starts_with("blocked"));
        let other_vpc = FlowFields {
            vpc: Some("vpc-2".into()),
            ..FlowFields::default()
        };
        assert_eq!(
            summaries(&p, "tcp 10.0.0.1 -> 10.20.0.1:22", &other_vpc),
            ["out of scope: [scope] `vpc` vpc-1, not vpc-2"]
        );
        let eni = FlowFields {
            interface: Some("eni-1".into()),
            ..vpc
        };
        assert_eq!(
            summaries(&p, "tcp 10.0.0.1 -> 10.20.0.1:22", &eni),
            ["allowed by allow rule `ops` (line 4)"]
        );
    }

    #[test]
    fn ipv6_and_packet_addresses() {
        let p = policy(
            "[scope]\naddresses = 'packet'\nsrc = '2001:db8::/32'\n[[allow]]\nname = 'https'\ndst = '2406:da14:8a3::/48'\ndst_port = 443\n",
        );
        assert_eq!(
            one(&p, "tcp [2001:db8::7] -> [2406:da14:8a3::10]:443"),
            "allowed by allow rule `https` (line 4)"
        );
        assert_eq!(
            one(&p, "tcp [2001:db9::7] -> [2406:da14:8a3::10]:443"),
            "out of scope: [scope] `src` 2001:db8::/32, not 2001:db9::7"
        );
        assert_eq!(
            one(&p, "tcp [2001:db8::7] -> [2406:da14:8a4::10]:443"),
            "blocked: no allow rule matches; nearest: `https` (line 4) allows `dst` 2406:da14:8a3::/48, not 2406:da14:8a4::10"
        );
    }

    #[test]
    fn a_piece_names_exactly_its_ports() {
        let p = policy("[scope]\ndst = '10.0.0.0/8'\n[[allow]]\nname = 'linux'\nsrc_port = '32768-60999'\ndst_port = 443\n");
        assert_eq!(
            summaries(&p, "icmp 192.0.2.1 -> 10.0.0.1", &FlowFields::default()),
            [
                "destination ports 0-442, 444-65535; source ports 0-32767, 61000-65535 with destination port 443: blocked: no allow rule matches; nearest: `linux` (line 3) allows `src_port` 32768-60999, not 0-32767, 61000-65535",
                "source ports 32768-60999 with destination port 443: allowed by allow rule `linux` (line 3)",
            ]
        );
    }

    #[test]
    fn no_allow_rule_at_all() {
        let p = policy("[scope]\ndst = '10.0.0.0/8'\n");
        assert_eq!(
            one(&p, "tcp 192.0.2.1 -> 10.0.0.1:443"),
            "blocked: the policy has no allow rule"
        );
    }

    #[test]
    fn nearest_is_the_rule_failing_on_fewest_keys_first_in_the_file_among_equals() {
        let p = policy(
            "[[allow]]\nname = 'a'\ndst = '10.0.0.9'\ndst_port = 80\nprotocol = 'udp'\n[[allow]]\nname = 'b'\ndst_port = 80\n[[allow]]\nname = 'c'\nprotocol = 'udp'\n",
        );
        assert_eq!(
            one(&p, "tcp 192.0.2.1 -> 10.0.0.1:443"),
            "blocked: no allow rule matches; nearest: `b` (line 6) allows `dst_port` 80, not 443"
        );
    }

    #[test]
    fn long_value_lists_are_cut() {
        let p = policy("[[allow]]\nname = 'many'\ndst_port = [1, 3, 5, 7, 9, 11]\n");
        assert!(one(&p, "udp 192.0.2.1 -> 10.0.0.1:2")
            .ends_with("`dst_port` 1, 3, 5, 7 and 2 more, not 2"));
    }

    mod exact {
        //! The cells promise: every port of a piece gets the piece's verdict, for any policy.
        use super::*;
        use proptest::prelude::*;

        fn range() -> impl Strategy<Value = (u16, u16)> {
            let edge = prop_oneof![
                0u16..10,
                1020u16..1030,
                Just(443),
                32760u16..32780,
                65530u16..=65535
            ];
            (edge.clone(), edge).prop_map(|(a, b)| (a.min(b), a.max(b)))
        }

        fn ports_key(key: &'static str) -> impl Strategy<Value = String> {
            proptest::option::of(proptest::collection::vec(range(), 1..3)).prop_map(
                move |r| match r {
                    None => String::new(),
                    Some(v) => {
                        let items: Vec<String> =
                            v.iter().map(|(a, b)| format!("'{a}-{b}'")).collect();
                        format!("{key} = [{}]\n", items.join(", "))
                    }
                },
            )
        }

        fn rule() -> impl Strategy<Value = String> {
            (
                ports_key("src_port"),
                ports_key("dst_port"),
                ports_key("peer_port"),
                any::<bool>(),
            )
                .prop_map(|(s, d, p, waive)| {
                    if waive {
                        format!("[[waive]]\nreason = 'r'\nexpires = 2030-01-01\n{s}{d}{p}")
                    } else {
                        format!("[[allow]]\n{s}{d}{p}")
                    }
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(200))]
            #[test]
            fn every_port_of_a_piece_has_its_verdict(
                scope in ports_key("local_port"),
                rules in proptest::collection::vec(rule(), 0..4),
                src in proptest::option::of(range()),
                dst in proptest::option::of(range()),
                probes in proptest::collection::vec((any::<u16>(), any::<u16>()), 16),
            ) {
                let text = format!("[scope]\npeer = '10.0.0.0/8'\n{scope}{}", rules.concat());
                let p = policy(&text);
                let end = |a: &str, r: Option<(u16, u16)>| match r {
                    None => a.to_string(),
                    Some((lo, hi)) => format!("{a}:{lo}-{hi}"),
                };
                let flow = FlowSpec::parse(&format!("tcp {} -> {}", end("192.0.2.1", src), end("10.0.0.1", dst))).unwrap();
                let fields = FlowFields::default();
                let x = explain(&p, &flow, &fields, TODAY);
                // The pieces cover the flow's ports exactly once.
                let cells: u64 = x.pieces.iter().flat_map(|p| &p.cells)
                    .map(|c| (u64::from(c.src.1) - u64::from(c.src.0) + 1) * (u64::from(c.dst.1) - u64::from(c.dst.0) + 1))
                    .sum();
                let whole = (u64::from(flow.src_ports.hi) - u64::from(flow.src_ports.lo) + 1)
                    * (u64::from(flow.dst_ports.hi) - u64::from(flow.dst_ports.lo) + 1);
                prop_assert_eq!(cells, whole);
                // A piece names its ports unless it is the whole flow.
                for piece in &x.pieces {
                    prop_assert_eq!(piece.ports(&flow).is_empty(), x.pieces.len() == 1);
                }
                for (a, b) in probes {
                    let sp = flow.src_ports.lo + a % (flow.src_ports.hi - flow.src_ports.lo).saturating_add(1).max(1);
                    let dp = flow.dst_ports.lo + b % (flow.dst_ports.hi - flow.dst_ports.lo).saturating_add(1).max(1);
                    let record = flow.record(&fields, p.scope.addresses, sp, dp);
                    let verdict = Outcome::of(p.decide(&record, TODAY).verdict);
                    let piece = x.pieces.iter().find(|piece| piece.cells.iter().any(|c| {
                        c.src.0 <= sp && sp <= c.src.1 && c.dst.0 <= dp && dp <= c.dst.1
                    }));
                    prop_assert_eq!(piece.and_then(|p| p.path.outcome()), Some(verdict), "ports {} {} of {}", sp, dp, text);
                }
            }
        }
    }
}
