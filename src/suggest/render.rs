//! From groups to allow rules, and rules to policy text.
//!
//! Peer addresses become the fewest CIDRs that hold exactly them (or, with `--widen`, their
//! enclosing networks, never wider than the scope network they are in); groups whose networks
//! come out the same share one rule with a port list. The text is built by hand, in a fixed
//! order, so the same logs always give the same file, with comments a reviewer can check.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::net::IpAddr;

use ipnet::IpNet;

use super::{Observed, RuleMap, Side, SuggestOptions, SuggestedRule};
use crate::text::rfc3339;

/// Peer addresses listed in a rule's comment; the rest are counted.
const PEERS_SHOWN: usize = 8;

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

/// The rules, in the order they are written: by protocol, side, then first port.
pub fn rules(observed: &Observed, opts: &SuggestOptions) -> Vec<SuggestedRule> {
    let mut map = RuleMap::new();
    let mut groups: Vec<_> = observed.groups.iter().collect();
    groups.sort_by_key(|(k, _)| **k);
    for (key, group) in groups {
        let nets: Vec<IpNet> = group.peers.iter().map(|&a| widen(a, opts)).collect();
        let mut nets = IpNet::aggregate(&nets);
        nets.sort();
        let rule = map
            .entry((key.protocol, key.side, nets.clone()))
            .or_insert_with(|| SuggestedRule {
                protocol: key.protocol,
                side: key.side,
                ports: BTreeSet::new(),
                nets,
                peers: BTreeSet::new(),
                conversations: 0,
                records: 0,
                bytes: 0,
                first_start: None,
                last_end: None,
            });
        rule.ports.extend(key.port);
        rule.peers.extend(group.peers.iter().copied());
        rule.conversations += group.conversations.len() as u64;
        rule.records += group.records;
        rule.bytes = rule.bytes.saturating_add(group.bytes);
        rule.first_start = match (rule.first_start, group.first_start) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        rule.last_end = rule.last_end.max(group.last_end);
    }
    let mut rules: Vec<SuggestedRule> = map.into_values().collect();
    rules.sort_by(|a, b| {
        (a.protocol, a.side, a.ports.first(), &a.nets).cmp(&(
            b.protocol,
            b.side,
            b.ports.first(),
            &b.nets,
        ))
    });
    rules
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
        Side::Peer => "to the peer",
        Side::Local => "from the peer",
        Side::Any => "with the peer",
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
            Side::Peer => Some("peer_port"),
            Side::Local => Some("local_port"),
            Side::Any => None,
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
