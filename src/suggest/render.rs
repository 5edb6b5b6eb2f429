//! From groups to allow rules, and rules to policy text.
//!
//! What a reviewer would write: one rule per protocol and server port. Peer addresses become
//! the fewest CIDRs that hold exactly them (or, with `--widen`, their enclosing networks,
//! never wider than the scope network they are in). Ports share a rule only when they are one
//! service: consecutive ports (8443-8444) on the same servers, for the same peers, at most
//! [`MAX_PORTS`] of them. A rule whose traffic another rule already allows is dropped, and its
//! traffic counted under that rule: a wider rule (same protocol and side, more ports, wider
//! networks), or rules that match each of its records (a record whose server was taken for
//! the wrong end is matched by its real service's rule). Rules are written most traffic
//! first. The text is built by hand, in a fixed order, so the same logs always give the same
//! file, with comments a reviewer can check.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::net::IpAddr;

use ipnet::IpNet;

use super::{Capped, Observed, RuleSide, Seen, SuggestOptions, SuggestedRule};
use crate::text::rfc3339;

/// Peer addresses listed in a rule's comment; the rest are counted.
const PEERS_SHOWN: usize = 8;

/// Ports one rule holds at most: more is not one service.
pub const MAX_PORTS: usize = 10;

/// A TOML string literal.
pub fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The network an address is allowed as: itself, or its `--widen` network clamped to the
/// narrowest scope network that holds it.
fn widen(addr: IpAddr, opts: &SuggestOptions) -> IpNet {
    let (host, wanted) = match addr {
        IpAddr::V4(_) => (32, opts.widen_v4),
        IpAddr::V6(_) => (128, opts.widen_v6),
    };
    let prefix = match wanted {
        None => host,
        Some(w) => {
            let scope = opts
                .peer
                .iter()
                .filter(|n| n.contains(&addr))
                .map(IpNet::prefix_len)
                .max()
                .unwrap_or(0);
            w.clamp(scope, host)
        }
    };
    IpNet::new(addr, prefix)
        .map(|n| n.trunc())
        .unwrap_or_else(|_| IpNet::from(addr))
}

/// The rules, in the order they are written: most records first.
pub fn rules(observed: &Observed, opts: &SuggestOptions) -> Vec<SuggestedRule> {
    let mut groups: Vec<_> = observed.groups.iter().collect();
    groups.sort_by_key(|(k, _)| **k);
    let mut rules: Vec<Draft> = Vec::new();
    for (key, group) in groups {
        let nets: Vec<IpNet> = group.peers.iter().map(|&a| widen(a, opts)).collect();
        let mut nets = IpNet::aggregate(&nets);
        nets.sort();
        let rule = SuggestedRule {
            protocol: key.protocol,
            side: key.side,
            ports: key.port.into_iter().collect(),
            nets,
            peers: group.peers.clone(),
            conversations: group.conversations.len() as u64,
            records: group.records,
            bytes: group.bytes,
            first_start: group.first_start,
            last_end: group.last_end,
        };
        let draft = Draft {
            rule,
            servers: group.servers.clone(),
            seen: group.seen.clone(),
        };
        // Groups come in (protocol, side, port) order: the next port of the same service on
        // the same servers, for the same peers, joins the previous rule.
        match rules.last_mut() {
            Some(last) if last.continues(&draft) => {
                last.rule.ports.extend(draft.rule.ports.iter().copied());
                last.absorb(draft);
            }
            _ => rules.push(draft),
        }
    }
    drop_covered(&mut rules);
    let mut rules: Vec<SuggestedRule> = rules.into_iter().map(|d| d.rule).collect();
    rules.sort_by(|a, b| {
        (b.records, b.bytes)
            .cmp(&(a.records, a.bytes))
            .then_with(|| order(a).cmp(&order(b)))
    });
    rules
}

/// A rule with what deciding about it needs.
struct Draft {
    rule: SuggestedRule,
    servers: Capped<IpAddr>,
    seen: Capped<Seen>,
}

/// A fixed order of rules, whatever their traffic.
fn order(r: &SuggestedRule) -> (Option<u8>, RuleSide, Option<&u16>, &[IpNet]) {
    (r.protocol, r.side, r.ports.first(), &r.nets)
}

impl Draft {
    /// Whether `next` (the group after this rule's last port) is the next port of the same
    /// service: same protocol, side, networks and servers (all known), the port right after,
    /// and room for it.
    fn continues(&self, next: &Draft) -> bool {
        let (a, b) = (&self.rule, &next.rule);
        let adjacent = match (a.ports.last(), b.ports.first()) {
            (Some(&last), Some(&first)) => u32::from(last) + 1 == u32::from(first),
            _ => false,
        };
        adjacent
            && a.protocol == b.protocol
            && a.side == b.side
            && a.side != RuleSide::Any
            && a.nets == b.nets
            && self.servers.0.is_some()
            && self.servers == next.servers
            && a.ports.len() < MAX_PORTS
    }

    /// Takes in another rule's traffic (not its ports, nor its networks).
    fn absorb(&mut self, other: Draft) {
        let (a, b) = (&mut self.rule, other.rule);
        a.peers.extend(b.peers);
        a.conversations += b.conversations;
        a.records += b.records;
        a.bytes = a.bytes.saturating_add(b.bytes);
        a.first_start = match (a.first_start, b.first_start) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
        a.last_end = a.last_end.max(b.last_end);
        self.seen.merge(other.seen);
    }

    /// Whether this rule allows every record `other` allows, whatever they are.
    fn contains(&self, other: &Draft) -> bool {
        let (a, b) = (&self.rule, &other.rule);
        a.protocol == b.protocol
            && (a.side == RuleSide::Any || (a.side == b.side && a.ports.is_superset(&b.ports)))
            && b.nets.iter().all(|n| a.nets.iter().any(|m| m.contains(n)))
    }

    /// Whether this rule matches a record of its protocol with these peer address and ports.
    fn matches(&self, &(peer, peer_port, local_port): &Seen) -> bool {
        let port = match self.rule.side {
            RuleSide::Any => return self.rule.nets.iter().any(|n| n.contains(&peer)),
            RuleSide::Peer => peer_port,
            RuleSide::Local => local_port,
        };
        port.is_some_and(|p| self.rule.ports.contains(&p))
            && self.rule.nets.iter().any(|n| n.contains(&peer))
    }
}

/// Drops the rules whose traffic other rules allow, folding it into them. First rules inside
/// a wider rule (keeping one of two equal rules); then, largest first, each rule whose every
/// record another kept rule matches (a record of the other rule's protocol), which needs the
/// rule's records known (at most `CAP` distinct).
fn drop_covered(rules: &mut Vec<Draft>) {
    // Inside a wider rule (of two equal rules, the first is the wider). Containment is
    // transitive and this order strict, so following "inside" ends at a rule that stays.
    let n = rules.len();
    let inside: Vec<Option<usize>> = (0..n)
        .map(|i| {
            (0..n).find(|&j| {
                j != i && rules[j].contains(&rules[i]) && (j < i || !rules[i].contains(&rules[j]))
            })
        })
        .collect();
    let target = |i: usize| {
        let mut t = i;
        while let Some(j) = inside[t] {
            t = j;
        }
        t
    };
    let mut slots: Vec<Option<Draft>> = std::mem::take(rules).into_iter().map(Some).collect();
    for i in 0..n {
        let t = target(i);
        if t != i {
            let inner = slots[i].take().expect("each rule moves once");
            slots[t].as_mut().expect("targets stay").absorb(inner);
        }
    }
    *rules = slots.into_iter().flatten().collect();
    // Record by record, largest rule first: a rule stays unless the rules already kept match
    // all of its records.
    rules.sort_by(|a, b| {
        (b.rule.records, b.rule.bytes)
            .cmp(&(a.rule.records, a.rule.bytes))
            .then_with(|| order(&a.rule).cmp(&order(&b.rule)))
    });
    let mut kept: Vec<Draft> = Vec::with_capacity(rules.len());
    for draft in rules.drain(..) {
        let covering = match &draft.seen.0 {
            Some(seen) if draft.rule.side != RuleSide::Any && !seen.is_empty() => seen
                .iter()
                .map(|record| {
                    kept.iter()
                        .position(|k| k.rule.protocol == draft.rule.protocol && k.matches(record))
                })
                .collect::<Option<Vec<usize>>>(),
            _ => None,
        };
        match covering {
            // Its counts go to the rule that matches its first record.
            Some(by) => kept[by[0]].absorb(draft),
            None => kept.push(draft),
        }
    }
    *rules = kept;
}

fn protocol_name(p: u8) -> String {
    match p {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        58 => "icmpv6".into(),
        n => n.to_string(),
    }
}

/// Ports as runs: `[80, 443, 8443, 8444]` -> `80`, `443`, `8443-8444`.
fn runs(ports: &BTreeSet<u16>) -> Vec<(u16, u16)> {
    let mut out: Vec<(u16, u16)> = Vec::new();
    for &p in ports {
        match out.last_mut() {
            Some((_, hi)) if u32::from(*hi) + 1 == u32::from(p) => *hi = p,
            _ => out.push((p, p)),
        }
    }
    out
}

fn run_text((lo, hi): (u16, u16)) -> String {
    if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}-{hi}")
    }
}

fn run_value((lo, hi): (u16, u16)) -> String {
    if lo == hi {
        lo.to_string()
    } else {
        format!("\"{lo}-{hi}\"")
    }
}

fn net_text(n: &IpNet) -> String {
    if n.prefix_len() == n.max_prefix_len() {
        n.addr().to_string()
    } else {
        n.to_string()
    }
}

fn rule_name(r: &SuggestedRule) -> String {
    let proto = r
        .protocol
        .map_or_else(|| "any protocol".into(), protocol_name);
    let runs = runs(&r.ports);
    let ports = match runs.len() {
        0 => String::new(),
        1..=4 => format!(
            " {}",
            runs.iter()
                .map(|&x| run_text(x))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        n => format!(" {} and {} more port ranges", run_text(runs[0]), n - 1),
    };
    let side = match r.side {
        RuleSide::Peer => "to the peer",
        RuleSide::Local => "from the peer",
        RuleSide::Any => "with the peer",
    };
    format!("{proto}{ports} {side}")
}

/// The policy file.
pub fn policy(
    scope: &str,
    rules: &[SuggestedRule],
    observed: &Observed,
    opts: &SuggestOptions,
) -> String {
    let mut out = String::new();
    let window = match (observed.first_start, observed.last_end) {
        (Some(a), Some(b)) => format!(", {} to {}", rfc3339(a), rfc3339(b)),
        _ => String::new(),
    };
    let covered: u64 = rules.iter().map(|r| r.records).sum();
    let _ = writeln!(
        out,
        "# Suggested by `flowgate suggest` from {} ({}{window}).\n\
         # The allow rules cover every record in the scope that a check would judge: {} in {}.\n\
         # Review each one before committing: traffic seen is not traffic needed, and traffic\n\
         # that did not happen in this window (a monthly job) is not covered.",
        crate::output::count(observed.archives, "archive", "archives"),
        crate::output::count(observed.records, "record", "records"),
        crate::output::count(covered, "record", "records"),
        crate::output::count(rules.len() as u64, "rule", "rules"),
    );
    if opts.widen_v4.is_some() || opts.widen_v6.is_some() {
        let w = |p: Option<u8>| p.map_or_else(|| "-".into(), |p| format!("/{p}"));
        let _ = writeln!(
            out,
            "# Peer addresses were widened to {} (IPv4) and {} (IPv6) networks.",
            w(opts.widen_v4),
            w(opts.widen_v6)
        );
    }
    out.push('\n');
    out.push_str(scope);
    if rules.is_empty() {
        out.push_str("\n# No traffic in the scope was seen, so there is nothing to allow.\n");
    }
    for r in rules {
        out.push('\n');
        let _ = writeln!(
            out,
            "# {}, {}, {} bytes{}",
            crate::output::count(r.conversations, "conversation", "conversations"),
            crate::output::count(r.records, "record", "records"),
            r.bytes,
            match (r.first_start, r.last_end) {
                (Some(a), Some(b)) =>
                    format!("; first seen {}, last seen {}", rfc3339(a), rfc3339(b)),
                _ => String::new(),
            }
        );
        let shown: Vec<String> = r
            .peers
            .iter()
            .take(PEERS_SHOWN)
            .map(|a| a.to_string())
            .collect();
        let more = r.peers.len().saturating_sub(PEERS_SHOWN);
        let _ = writeln!(
            out,
            "# peers seen: {}{}",
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
        out.push_str("[[allow]]\n");
        let _ = writeln!(out, "name = {}", quote(&rule_name(r)));
        let nets: Vec<String> = r.nets.iter().map(|n| quote(&net_text(n))).collect();
        let _ = writeln!(out, "peer = [{}]", nets.join(", "));
        if let Some(p) = r.protocol {
            let _ = writeln!(out, "protocol = {}", quote(&protocol_name(p)));
        }
        let key = match r.side {
            RuleSide::Peer => Some("peer_port"),
            RuleSide::Local => Some("local_port"),
            RuleSide::Any => None,
        };
        if let (Some(key), false) = (key, r.ports.is_empty()) {
            let values: Vec<String> = runs(&r.ports).into_iter().map(run_value).collect();
            if values.len() == 1 {
                let _ = writeln!(out, "{key} = {}", values[0]);
            } else {
                let _ = writeln!(out, "{key} = [{}]", values.join(", "));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(peer: &[&str], widen: Option<u8>) -> SuggestOptions {
        SuggestOptions {
            logs: vec![],
            peer: peer.iter().map(|p| p.parse().unwrap()).collect(),
            scope: vec![],
            widen_v4: widen,
            widen_v6: None,
            name: "suggested".into(),
            log_format: None,
            threads: None,
        }
    }

    #[test]
    fn widening_never_leaves_the_scope_network() {
        let a: IpAddr = "10.20.30.5".parse().unwrap();
        assert_eq!(
            widen(a, &opts(&["10.20.0.0/16"], None)).to_string(),
            "10.20.30.5/32"
        );
        assert_eq!(
            widen(a, &opts(&["10.20.0.0/16"], Some(24))).to_string(),
            "10.20.30.0/24"
        );
        assert_eq!(
            widen(a, &opts(&["10.20.30.0/28"], Some(24))).to_string(),
            "10.20.30.0/28"
        );
        assert_eq!(
            widen(a, &opts(&["10.0.0.0/8", "10.20.30.4/30"], Some(16))).to_string(),
            "10.20.30.4/30"
        );
    }

    #[test]
    fn ports_collapse_into_runs() {
        let p: BTreeSet<u16> = [80, 443, 8443, 8444, 8445].into();
        assert_eq!(runs(&p), [(80, 80), (443, 443), (8443, 8445)]);
        assert_eq!(run_value((8443, 8445)), "\"8443-8445\"");
        let q = quote("a \"b\"");
        let t: toml::Table = toml::from_str(&format!("v = {q}")).unwrap();
        assert_eq!(t["v"].as_str(), Some("a \"b\""));
    }
}
