//! What changed between two versions of a policy, and how much an allow rule opens.
//!
//! `check --base` judges a policy as it was and as it is. This module says what changed in
//! the policy itself (which rules are new, gone, wider or narrower, whether anything changed at
//! all, line numbers aside) and measures an allow rule: how many addresses, ports and
//! protocols it admits within its scope ([`Width`]), and which traffic it matches, through a
//! *probe*: a policy whose scope is the rule's scope and the rule together and which allows
//! nothing, so that the ordinary engine groups every record the rule would match into
//! conversations. The figures are compared with what the traffic used (GCP Firewall Insights'
//! "overly permissive rules" is the model).

use std::net::IpAddr;

use super::matcher::{End, Matcher};
use super::sets::{AddrSet, Bits, IdSet, ProtoSet, RangeSet, SetOps};
use super::{EvidenceDemands, Policy, Rule, Waiver};

/// Protocols whose records carry ports. For the others (ICMP, GRE, ESP...) a port count says
/// nothing, so a rule's width has no port figure.
const PORTED: [u8; 5] = [6, 17, 33, 132, 136];

/// How much of its scope an allow rule admits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Width {
    /// Addresses at the far end: the peer end for a scope with `peer` networks, else the
    /// destination. Saturates at `u64::MAX` (IPv6 networks wider than a /64).
    pub addresses: u64,
    /// Ports its port keys admit (all 65,536 when it names none); `None` when it admits only
    /// protocols without ports.
    pub ports: Option<u64>,
    /// Protocol numbers it admits (all 256 when it names none).
    pub protocols: u64,
}

/// How a rule differs between two versions of a policy. Rules are told apart by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleChange {
    Same,
    /// No rule of that name before (in `added`), or none after (in `removed`).
    New,
    /// Matches all it matched, and more.
    Widened,
    /// Matches part of what it matched.
    Narrowed,
    /// Neither: some traffic in, some out (for waivers: the reason or date changed too).
    Changed,
}

impl RuleChange {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleChange::Same => "same",
            RuleChange::New => "new",
            RuleChange::Widened => "widened",
            RuleChange::Narrowed => "narrowed",
            RuleChange::Changed => "changed",
        }
    }
}

/// Allow rule or waiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleKind {
    Allow,
    Waiver,
}

/// One rule that is not the same in both versions: its index among its kind, in the version
/// it belongs to (the head for `added`, the base for `removed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChangedRule {
    pub kind: RuleKind,
    pub index: usize,
    pub change: RuleChange,
}

/// The rules of two versions of a policy that differ. A rule whose name is in both versions
/// but whose keys differ is in both lists: its new version added, its old one removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleDiff {
    pub added: Vec<ChangedRule>,
    pub removed: Vec<ChangedRule>,
}

/// Pairs rules by name, the k-th of a name with the k-th of the same name, and reports every
/// rule without an identical partner. `None` is a version without the policy.
pub fn rule_diff(base: Option<&Policy>, head: Option<&Policy>) -> RuleDiff {
    fn allows(p: Option<&Policy>) -> &[Rule] {
        p.map_or(&[], |p| &p.allows)
    }
    fn waivers(p: Option<&Policy>) -> &[Waiver] {
        p.map_or(&[], |p| &p.waivers)
    }
    let mut diff = RuleDiff::default();
    pair(
        RuleKind::Allow,
        allows(base),
        allows(head),
        |r| &r.name,
        rule_change,
        &mut diff,
    );
    pair(
        RuleKind::Waiver,
        waivers(base),
        waivers(head),
        |w| &w.rule.name,
        waiver_change,
        &mut diff,
    );
    diff
}

fn pair<T>(
    kind: RuleKind,
    base: &[T],
    head: &[T],
    name: impl Fn(&T) -> &String,
    change: impl Fn(&T, &T) -> RuleChange,
    diff: &mut RuleDiff,
) {
    let mut paired = vec![false; base.len()];
    for (index, h) in head.iter().enumerate() {
        let partner = (0..base.len()).find(|&i| !paired[i] && name(&base[i]) == name(h));
        let c = match partner {
            Some(i) => {
                paired[i] = true;
                change(&base[i], h)
            }
            None => RuleChange::New,
        };
        if c != RuleChange::Same {
            diff.added.push(ChangedRule {
                kind,
                index,
                change: c,
            });
        }
        if let Some(i) = partner.filter(|_| c != RuleChange::Same) {
            diff.removed.push(ChangedRule {
                kind,
                index: i,
                change: c,
            });
        }
    }
    for (index, _) in base.iter().enumerate().filter(|&(i, _)| !paired[i]) {
        diff.removed.push(ChangedRule {
            kind,
            index,
            change: RuleChange::New,
        });
    }
    diff.removed.sort_by_key(|r| (r.kind as u8, r.index));
}

fn addr_count(set: &AddrSet) -> u64 {
    let v4: u128 = set
        .v4()
        .ranges()
        .iter()
        .map(|&(lo, hi)| u128::from(hi - lo) + 1)
        .sum();
    let v6 = set.v6().ranges().iter().fold(0u128, |n, &(lo, hi)| {
        n.saturating_add(hi - lo).saturating_add(1)
    });
    u64::try_from(v4.saturating_add(v6)).unwrap_or(u64::MAX)
}

fn port_count(set: &RangeSet<u16>) -> u64 {
    set.ranges()
        .iter()
        .map(|&(lo, hi)| u64::from(hi - lo) + 1)
        .sum()
}

/// `a` and `b` together: what a record must match on a slot to match both.
fn both<T: SetOps + Clone>(a: &Option<T>, b: &Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.intersection(b)),
        (a, b) => a.clone().or_else(|| b.clone()),
    }
}

/// Whether every record `inner` matches, `outer` matches too, judged key by key.
fn within<T: SetOps>(inner: &Option<T>, outer: &Option<T>) -> bool {
    match (inner, outer) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(i), Some(o)) => i.is_subset(o),
    }
}

fn matcher_within(inner: &Matcher, outer: &Matcher) -> bool {
    (0..4).all(|i| within(&inner.addrs[i], &outer.addrs[i]))
        && (0..4).all(|i| within(&inner.ports[i], &outer.ports[i]))
        && within(&inner.protocol, &outer.protocol)
        && (0..4).all(|i| within(&inner.ids[i], &outer.ids[i]))
        && within(&inner.direction, &outer.direction)
        && within(&inner.action, &outer.action)
}

fn both_matchers(a: &Matcher, b: &Matcher) -> Matcher {
    Matcher {
        addrs: std::array::from_fn(|i| both(&a.addrs[i], &b.addrs[i])),
        ports: std::array::from_fn(|i| both(&a.ports[i], &b.ports[i])),
        protocol: both::<ProtoSet>(&a.protocol, &b.protocol),
        ids: std::array::from_fn(|i| both::<IdSet>(&a.ids[i], &b.ids[i])),
        direction: both::<Bits>(&a.direction, &b.direction),
        action: both::<Bits>(&a.action, &b.action),
    }
}

/// How the rule `head` differs from `base`, the rule of the same name in the earlier version.
pub fn rule_change(base: &Rule, head: &Rule) -> RuleChange {
    match (
        matcher_within(&base.matcher, &head.matcher),
        matcher_within(&head.matcher, &base.matcher),
    ) {
        (true, true) => RuleChange::Same,
        (true, false) => RuleChange::Widened,
        (false, true) => RuleChange::Narrowed,
        (false, false) => RuleChange::Changed,
    }
}

/// How waiver `head` differs from `base`: any change of reason or date is a change.
pub fn waiver_change(base: &Waiver, head: &Waiver) -> RuleChange {
    match rule_change(&base.rule, &head.rule) {
        RuleChange::Same if base.reason != head.reason || base.expires != head.expires => {
            RuleChange::Changed
        }
        c => c,
    }
}

impl Policy {
    /// Whether the two versions judge every record alike and say the same about themselves:
    /// the same scope, rules (by name and matching keys), waivers, evidence demands and
    /// description. Line numbers and formatting do not count.
    pub fn same_as(&self, other: &Policy) -> bool {
        let (a, b) = (self, other);
        let same_rule = |x: &Rule, y: &Rule| x.name == y.name && x.matcher == y.matcher;
        let same_waiver = |x: &Waiver, y: &Waiver| {
            same_rule(&x.rule, &y.rule) && x.reason == y.reason && x.expires == y.expires
        };
        (&a.name, &a.description, &a.owner, &a.ticket)
            == (&b.name, &b.description, &b.owner, &b.ticket)
            && (
                a.scope.addresses,
                &a.scope.peer,
                &a.scope.matcher,
                a.scope.actions,
            ) == (
                b.scope.addresses,
                &b.scope.peer,
                &b.scope.matcher,
                b.scope.actions,
            )
            && a.evidence == b.evidence
            && a.allows.len() == b.allows.len()
            && a.allows.iter().zip(&b.allows).all(|(x, y)| same_rule(x, y))
            && a.waivers.len() == b.waivers.len()
            && a.waivers
                .iter()
                .zip(&b.waivers)
                .all(|(x, y)| same_waiver(x, y))
    }

    /// The traffic allow rule `index` matches, as a policy: the scope and the rule together,
    /// nothing allowed or waived and nothing demanded, so that every record the rule would
    /// match is a "violation" the engine groups into conversations. Its scope's peer networks
    /// stay the scope's, so peer and local ends are the ones the rule sees.
    pub fn probe(&self, index: usize) -> Policy {
        let rule = &self.allows[index];
        let mut probe = self.clone();
        probe.name = format!("{} / {}", self.name, rule.name);
        probe.scope.matcher = both_matchers(&self.scope.matcher, &rule.matcher);
        probe.allows = Vec::new();
        probe.waivers = Vec::new();
        probe.expectations = Vec::new();
        probe.evidence = EvidenceDemands {
            allow_empty: true,
            ..EvidenceDemands::default()
        };
        probe
    }

    /// How much of the scope allow rule `index` admits ([`Width`]).
    pub fn allow_width(&self, index: usize) -> Width {
        let rule = &self.allows[index].matcher;
        let scope = &self.scope;
        let families = self.families();
        let universe = || {
            let mut nets = Vec::new();
            if families.0 {
                nets.push("0.0.0.0/0".parse().expect("a network"));
            }
            if families.1 {
                nets.push("::/0".parse().expect("a network"));
            }
            AddrSet::from_nets(&nets)
        };
        let addresses = match &scope.peer {
            Some(peer) => both(&rule.addrs[End::Peer as usize], &Some(peer.clone())),
            None => both(
                &rule.addrs[End::Dst as usize],
                &scope.matcher.addrs[End::Dst as usize],
            ),
        }
        .unwrap_or_else(universe);
        let protocols = both::<ProtoSet>(&rule.protocol, &scope.matcher.protocol);
        let ported = protocols.is_none_or(|p| PORTED.iter().any(|&n| p.contains(n)));
        let ports = ported.then(|| {
            (0..4)
                .filter_map(|i| both(&rule.ports[i], &scope.matcher.ports[i]))
                .map(|s| port_count(&s))
                .min()
                .unwrap_or(65_536)
        });
        Width {
            addresses: addr_count(&addresses),
            ports,
            protocols: protocols.map_or(256, |p| u64::from(p.count())),
        }
    }

    /// The address families the scope lets through (IPv4, IPv6): a record's two ends share
    /// one, so a scope naming only IPv4 networks at any end sees only IPv4 records.
    pub(crate) fn families(&self) -> (bool, bool) {
        let mut families = (true, true);
        let sets = [
            self.scope.peer.as_ref(),
            self.scope.matcher.addrs[End::Src as usize].as_ref(),
            self.scope.matcher.addrs[End::Dst as usize].as_ref(),
        ];
        for s in sets.into_iter().flatten() {
            families.0 &= !s.v4().is_empty();
            families.1 &= !s.v6().is_empty();
        }
        families
    }

    /// The end of a conversation that [`Width::addresses`] counts: the one inside the scope's
    /// peer networks (the server when both are), or the server for a scope without them.
    pub fn far_end(&self, client: Option<IpAddr>, server: Option<IpAddr>) -> Option<IpAddr> {
        let Some(peer) = &self.scope.peer else {
            return server;
        };
        let inside = |a: Option<IpAddr>| a.is_some_and(|a| peer.contains(a.into()));
        if inside(server) || !inside(client) {
            server
        } else {
            client
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::PolicySet;

    fn policies(text: &str) -> Vec<Policy> {
        PolicySet::from_sources([("p.toml", text)])
            .unwrap_or_else(|e| panic!("{e}"))
            .policies()
            .to_vec()
    }

    #[test]
    fn widths_count_within_the_scope() {
        let p = &policies(
            "[scope]\npeer = '10.20.0.0/16'\n\
             [[allow]]\npeer = '10.20.30.0/24'\nprotocol = 'tcp'\npeer_port = [443, '8443-8444']\n\
             [[allow]]\npeer = '10.0.0.0/8'\n\
             [[allow]]\nprotocol = 'icmp'\n",
        )[0];
        assert_eq!(
            p.allow_width(0),
            Width {
                addresses: 256,
                ports: Some(3),
                protocols: 1
            }
        );
        // Wider than the scope counts as the scope; no ports named: every port.
        assert_eq!(
            p.allow_width(1),
            Width {
                addresses: 65_536,
                ports: Some(65_536),
                protocols: 256
            }
        );
        // Ports say nothing about ICMP.
        assert_eq!(p.allow_width(2).ports, None);
    }

    #[test]
    fn widths_without_a_peer_scope_count_destinations() {
        let p = &policies(
            "[scope]\ndst = ['10.1.0.0/16', '2001:db8::/120']\n[[allow]]\ndst_port = 22\n[[allow]]\nsrc = '::/0'\n",
        )[0];
        assert_eq!(p.allow_width(0).addresses, 65_536 + 256);
        assert_eq!(p.allow_width(0).ports, Some(1));
        let p = &policies("[[allow]]\ndst_port = 22\n")[0];
        assert_eq!(
            p.allow_width(0).addresses,
            u64::MAX,
            "every address there is"
        );
    }

    #[test]
    fn rule_changes() {
        let rules = |text: &str| policies(text)[0].allows.clone();
        let base = rules("[[allow]]\nname = 'a'\ndst = '10.0.0.0/24'\ndst_port = 443\n");
        let wider = rules("[[allow]]\nname = 'a'\ndst = '10.0.0.0/16'\ndst_port = 443\n");
        let other = rules("[[allow]]\nname = 'a'\ndst = '10.0.0.0/16'\ndst_port = 22\n");
        let unported = rules("[[allow]]\nname = 'a'\ndst = '10.0.0.0/24'\n");
        assert_eq!(rule_change(&base[0], &base[0]), RuleChange::Same);
        assert_eq!(rule_change(&base[0], &wider[0]), RuleChange::Widened);
        assert_eq!(rule_change(&wider[0], &base[0]), RuleChange::Narrowed);
        assert_eq!(rule_change(&base[0], &other[0]), RuleChange::Changed);
        assert_eq!(rule_change(&base[0], &unported[0]), RuleChange::Widened);
    }

    #[test]
    fn rules_pair_by_name() {
        let base = &policies(
            "[[allow]]\nname = 'kept'\ndst_port = 1\n[[allow]]\nname = 'gone'\ndst_port = 2\n\
             [[allow]]\nname = 'wider'\ndst_port = 3\n[[waive]]\nname = 'w'\ndst_port = 9\nreason = 'r'\nexpires = 2027-01-01\n",
        )[0];
        let head = &policies(
            "[[allow]]\nname = 'wider'\ndst_port = [3, 4]\n[[allow]]\nname = 'kept'\ndst_port = 1\n\
             [[allow]]\nname = 'new'\ndst_port = 5\n[[waive]]\nname = 'w'\ndst_port = 9\nreason = 'r'\nexpires = 2027-02-01\n",
        )[0];
        let d = rule_diff(Some(base), Some(head));
        let show = |rules: &[ChangedRule]| {
            rules
                .iter()
                .map(|r| format!("{:?} {} {}", r.kind, r.index, r.change.as_str()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            show(&d.added),
            ["Allow 0 widened", "Allow 2 new", "Waiver 0 changed"]
        );
        assert_eq!(
            show(&d.removed),
            ["Allow 1 new", "Allow 2 widened", "Waiver 0 changed"]
        );
        let all_new = rule_diff(None, Some(head));
        assert_eq!(all_new.added.len(), 4);
        assert!(all_new.removed.is_empty());
        assert_eq!(rule_diff(Some(base), Some(base)), RuleDiff::default());
    }

    #[test]
    fn same_policies_ignore_lines_and_comments() {
        let a = &policies("[scope]\npeer = '10.20.0.0/16'\n[[allow]]\npeer = '10.20.30.0/24'\n")[0];
        let b = &policies("# a comment\n\n[scope]\npeer = [\"10.20.0.0/16\"]\n\n[[allow]]\npeer = '10.20.30.0/24'\n")[0];
        let c = &policies("[scope]\npeer = '10.20.0.0/16'\n[[allow]]\npeer = '10.20.31.0/24'\n")[0];
        assert!(a.same_as(b));
        assert!(!a.same_as(c));
    }

    #[test]
    fn probes_match_what_the_rule_matches_and_allow_nothing() {
        use crate::flowlog::{Action, Flow};
        let p = &policies(
            "[scope]\npeer = '10.20.0.0/16'\n[[allow]]\nname = 'api'\npeer = '10.20.30.0/24'\npeer_port = 443\n",
        )[0];
        let probe = p.probe(0);
        assert_eq!(probe.name, "p / api");
        let flow = |src: &str, dst: &str, dport| Flow {
            action: Some(Action::Accept),
            src: src.parse().ok(),
            dst: dst.parse().ok(),
            src_port: Some(40000),
            dst_port: Some(dport),
            protocol: Some(6),
            ..Flow::EMPTY
        };
        let today = time::macros::date!(2026 - 11 - 26);
        let judge = |f: &Flow<'_>| probe.judge(f, today, &mut [], &mut []);
        // The rule's traffic, in either direction, is a violation of the probe...
        assert!(matches!(
            judge(&flow("10.0.0.1", "10.20.30.5", 443)),
            crate::policy::Verdict::Violation { .. }
        ));
        // ... the rest of the scope is out of its scope.
        assert_eq!(
            judge(&flow("10.0.0.1", "10.20.40.5", 443)),
            crate::policy::Verdict::OutOfScope
        );
        assert_eq!(
            judge(&flow("10.0.0.1", "10.20.30.5", 22)),
            crate::policy::Verdict::OutOfScope
        );
        let (client, server) = ("10.0.0.1".parse().ok(), "10.20.30.5".parse().ok());
        assert_eq!(p.far_end(client, server), server);
        assert_eq!(p.far_end(server, client), server);
    }
}
