//! A scope's, allow rule's or waiver's keys as one SQL condition.
//!
//! The condition reads the columns the query's earlier stages computed (addresses as
//! integers and hex strings, ports, protocol, ids), never the raw text, and it is built from
//! the same compiled sets the engine tests ([`Matcher`]): CIDRs as merged ranges, so the SQL
//! compares numbers and fixed-width strings, never dotted text (which sorts `172.2.0.1`
//! inside `172.16.0.0/12`). A key the record cannot answer (a NULL column) does not match,
//! as in the engine; the callers wrap every condition in `CASE WHEN … THEN 1 ELSE 0 END`, so
//! a NULL never reaches a `NOT`.

use crate::flowlog::{Action, Direction};
use crate::policy::matcher::{action_bit, direction_bit, End, IdKind, Matcher};
use crate::policy::sets::{AddrSet, Bits, PortSet, ProtoSet};

use super::Flavor;

/// Where one policy's record ends are: column names of the stage the condition runs in.
pub(crate) struct Ends<'a> {
    /// IPv4 as a bigint, IPv6 as 32 lowercase hex digits, of the policy's src and dst
    /// (interface or packet addresses).
    pub src4: &'a str,
    pub src6: &'a str,
    pub dst4: &'a str,
    pub dst6: &'a str,
    /// The policy's `peer is dst` column (1, 0, NULL when neither end is a peer), when its
    /// scope names peer networks.
    pub peer: Option<&'a str>,
}

impl Ends<'_> {
    /// The (IPv4, IPv6) expressions of an end.
    fn addr(&self, end: End) -> Option<(String, String)> {
        let pick = |peer_is: &str, when_dst: (&str, &str), else_src: (&str, &str)| {
            (
                format!(
                    "(CASE WHEN {peer_is} = 1 THEN {} ELSE {} END)",
                    when_dst.0, else_src.0
                ),
                format!(
                    "(CASE WHEN {peer_is} = 1 THEN {} ELSE {} END)",
                    when_dst.1, else_src.1
                ),
            )
        };
        let src = (self.src4, self.src6);
        let dst = (self.dst4, self.dst6);
        Some(match end {
            End::Src => (src.0.to_string(), src.1.to_string()),
            End::Dst => (dst.0.to_string(), dst.1.to_string()),
            End::Peer => pick(self.peer?, dst, src),
            End::Local => pick(self.peer?, src, dst),
        })
    }

    /// The port expression of an end.
    fn port(&self, end: End) -> Option<String> {
        Some(match end {
            End::Src => "sp".to_string(),
            End::Dst => "dp".to_string(),
            End::Peer => format!("(CASE WHEN {} = 1 THEN dp ELSE sp END)", self.peer?),
            End::Local => format!("(CASE WHEN {} = 1 THEN sp ELSE dp END)", self.peer?),
        })
    }
}

const ENDS: [End; 4] = [End::Src, End::Dst, End::Peer, End::Local];

/// The condition that every key of `m` holds, `TRUE` for a matcher without keys. A peer or
/// local key without a peer column (which the loader never lets through) matches nothing.
pub(crate) fn matcher(m: &Matcher, ends: &Ends<'_>, f: &dyn Flavor) -> String {
    let mut terms = Vec::new();
    if let Some(set) = &m.protocol {
        terms.push(protocols(set));
    }
    if let Some(set) = m.action {
        terms.push(actions(set, f));
    }
    if let Some(set) = m.direction {
        terms.push(directions(set, f));
    }
    for end in ENDS {
        if let Some(set) = &m.addrs[end as usize] {
            terms.push(match ends.addr(end) {
                Some((v4, v6)) => addresses(set, &v4, &v6, f),
                None => "FALSE".into(),
            });
        }
    }
    for end in ENDS {
        if let Some(set) = &m.ports[end as usize] {
            terms.push(match ends.port(end) {
                Some(col) => ports(set, &col),
                None => "FALSE".into(),
            });
        }
    }
    for kind in IdKind::ALL {
        if let Some(set) = &m.ids[kind as usize] {
            let col = match kind {
                IdKind::Interface => "iface",
                IdKind::Vpc => "vpc",
                IdKind::Subnet => "subnet",
                IdKind::Instance => "inst",
            };
            let list: Vec<String> = set.ids().iter().map(|id| f.string(id)).collect();
            terms.push(format!("{col} IN ({})", list.join(", ")));
        }
    }
    if terms.is_empty() {
        return "TRUE".into();
    }
    terms.join(" AND ")
}

/// Whether an address (its IPv4 and IPv6 columns, one of them NULL) is in `set`.
pub(crate) fn addresses(set: &AddrSet, v4: &str, v6: &str, f: &dyn Flavor) -> String {
    let mut alternatives: Vec<String> = set
        .v4()
        .ranges()
        .iter()
        .map(|&(lo, hi)| between(v4, &lo.to_string(), &hi.to_string()))
        .collect();
    alternatives.extend(set.v6().ranges().iter().map(|&(lo, hi)| {
        between(
            v6,
            &f.string(&format!("{lo:032x}")),
            &f.string(&format!("{hi:032x}")),
        )
    }));
    any(alternatives)
}

/// Whether a port column is in `set`.
pub(crate) fn ports(set: &PortSet, col: &str) -> String {
    any(set
        .ranges()
        .iter()
        .map(|&(lo, hi)| between(col, &lo.to_string(), &hi.to_string()))
        .collect())
}

fn protocols(set: &ProtoSet) -> String {
    let list: Vec<String> = set.numbers().map(|n| n.to_string()).collect();
    format!("proto IN ({})", list.join(", "))
}

/// A record without an action counts as ACCEPT.
pub(crate) fn actions(set: Bits, f: &dyn Flavor) -> String {
    let list: Vec<String> = [Action::Accept, Action::Reject]
        .into_iter()
        .filter(|&a| set.contains(action_bit(a)))
        .map(|a| f.string(a.as_str()))
        .collect();
    if list.is_empty() {
        return "FALSE".into();
    }
    format!(
        "COALESCE(act, {}) IN ({})",
        f.string(Action::Accept.as_str()),
        list.join(", ")
    )
}

fn directions(set: Bits, f: &dyn Flavor) -> String {
    let list: Vec<String> = [Direction::Ingress, Direction::Egress]
        .into_iter()
        .filter(|&d| set.contains(direction_bit(d)))
        .map(|d| f.string(d.as_str()))
        .collect();
    if list.is_empty() {
        return "FALSE".into();
    }
    format!("dir IN ({})", list.join(", "))
}

fn between(col: &str, lo: &str, hi: &str) -> String {
    if lo == hi {
        format!("{col} = {lo}")
    } else {
        format!("{col} BETWEEN {lo} AND {hi}")
    }
}

/// `(a OR b OR …)`, `FALSE` for none.
fn any(alternatives: Vec<String>) -> String {
    match alternatives.len() {
        0 => "FALSE".into(),
        1 => alternatives.into_iter().next().unwrap_or_default(),
        _ => format!("({})", alternatives.join(" OR ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::PolicySet;
    use crate::sql::Dialect;

    fn scope(text: &str) -> Matcher {
        let set = PolicySet::from_sources([("p.toml", text)]).unwrap();
        set.policies()[0].scope.matcher.clone()
    }

    const ENDS_PLAIN: Ends<'static> = Ends {
        src4: "s4",
        src6: "s6",
        dst4: "d4",
        dst6: "d6",
        peer: Some("pd0"),
    };

    #[test]
    fn cidrs_become_integer_and_hex_ranges() {
        let m = scope("[scope]\ndst = ['172.16.0.0/12', '10.0.0.1', '2600:1f18::/32']\n");
        let sql = matcher(&m, &ENDS_PLAIN, Dialect::Athena.flavor());
        assert_eq!(
            sql,
            "(d4 = 167772161 OR d4 BETWEEN 2886729728 AND 2887778303 OR \
             d6 BETWEEN '26001f18000000000000000000000000' AND '26001f18ffffffffffffffffffffffff')"
        );
    }

    #[test]
    fn every_key_is_anded_and_peer_keys_follow_the_peer_column() {
        let m = scope(
            "[scope]\npeer = '10.20.0.0/16'\nlocal_port = '1-1023'\nprotocol = ['tcp', 'udp']\n\
             vpc = 'vpc-1'\ndirection = 'egress'\naction = 'REJECT'\n",
        );
        let sql = matcher(&m, &ENDS_PLAIN, Dialect::Spark.flavor());
        assert_eq!(
            sql,
            "proto IN (6, 17) AND dir IN ('egress') AND \
             (CASE WHEN pd0 = 1 THEN sp ELSE dp END) BETWEEN 1 AND 1023 AND vpc IN ('vpc-1')"
        );
        // `action` is not a matcher key of a scope (it picks the actions judged).
        let no_peer = Ends {
            peer: None,
            ..ENDS_PLAIN
        };
        assert!(matcher(&m, &no_peer, Dialect::Spark.flavor()).contains("FALSE"));
        assert_eq!(
            actions(Bits(0b11), Dialect::DuckDb.flavor()),
            "COALESCE(act, 'ACCEPT') IN ('ACCEPT', 'REJECT')"
        );
        assert_eq!(
            matcher(&Matcher::default(), &ENDS_PLAIN, Dialect::DuckDb.flavor()),
            "TRUE"
        );
    }
}
