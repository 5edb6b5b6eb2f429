//! Policy mistakes found without any logs: rules that can never match, rules that add nothing,
//! an allow that leaves nothing to block, waivers at or past their date, names used twice.
//!
//! Lint is conservative: it reports only what the sets prove. Each check compares, key by
//! key, the value sets a rule and its scope were compiled into, and reasons only within one
//! key (never, say, from a `src` in the scope to a `peer` in a rule), so a finding is always
//! true and a missed finding is the price. What a rule effectively matches on a key is its own
//! set intersected with the scope's, since only in-scope records reach the rules.

mod shadow;

use std::collections::HashMap;
use std::ops::Range;

use crate::diag::{self, Diagnostic, Label, Severity};

use super::matcher::{Key, Matcher, Slot};
use super::sets::{AddrSet, Bits, IdSet, PortSet, ProtoSet, SetOps};
use super::{Policy, PolicySet, Rule, Scope};

/// A waiver expiring within this many days is worth a warning: time to renew or fix.
pub const EXPIRING_DAYS: i64 = 14;

/// Lints every policy of the set as of `today`, sorted by file and position.
pub fn lint(set: &PolicySet, today: time::Date) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for policy in set.policies() {
        lint_policy(policy, today, &mut out);
    }
    diag::sort(&mut out);
    out
}

fn lint_policy(p: &Policy, today: time::Date, out: &mut Vec<Diagnostic>) {
    duplicate_rule_names(p, out);
    let allows: Vec<(&Rule, &str)> = p.allows.iter().map(|r| (r, "allow")).collect();
    let waivers: Vec<(&Rule, &str)> = p.waivers.iter().map(|w| (&w.rule, "waiver")).collect();

    // Rules that can match at all, and which of those match every in-scope record.
    let mut live = Vec::new();
    for &(rule, kind) in allows.iter().chain(&waivers) {
        if let Some(key) = disjoint_key(p, rule) {
            out.push(outside_scope(p, rule, kind, key));
            continue;
        }
        let covers = covers_scope(p, rule);
        if covers {
            out.push(
                Diagnostic::error(
                    "allow-covers-scope",
                    format!("{kind} `{}` matches everything in the scope", rule.name),
                )
                .with_label(Label::primary(
                    rule.file,
                    rule.span.clone(),
                    "covers the whole scope",
                ))
                .with_label(Label::secondary(p.file, p.span.clone(), "the scope"))
                .with_note("the planned block would block nothing: narrow the rule, or the scope"),
            );
        }
        live.push((rule, kind, covers));
    }

    covered_together(p, &live, out);

    for (rule, kind, by) in shadowed(p, &live) {
        let what = if kind == "waiver" {
            "is never consulted"
        } else {
            "adds nothing"
        };
        out.push(
            Diagnostic::warning(
                "rule-shadowed",
                format!(
                    "{kind} `{}` {what}: allow `{}` matches every record it matches",
                    rule.name, by.name
                ),
            )
            .with_label(Label::primary(rule.file, rule.span.clone(), "shadowed"))
            .with_label(Label::secondary(by.file, by.span.clone(), "by this rule")),
        );
    }

    for w in &p.waivers {
        let days = (w.expires - today).whole_days();
        let (severity, code, when) = if days < 0 {
            (
                Severity::Error,
                "waiver-expired",
                format!("expired on {}", w.expires),
            )
        } else if days <= EXPIRING_DAYS {
            let in_days = match days {
                0 => "today".to_string(),
                1 => "tomorrow".to_string(),
                n => format!("in {n} days"),
            };
            (
                Severity::Warning,
                "waiver-expiring",
                format!("expires {in_days}, on {}", w.expires),
            )
        } else {
            continue;
        };
        out.push(
            Diagnostic::new(severity, code, format!("waiver `{}` {when}", w.rule.name))
                .with_label(Label::primary(
                    w.rule.file,
                    w.expires_span.clone(),
                    "the last day it holds",
                ))
                .with_note(format!("reason given: {}", w.reason))
                .with_note("fix the traffic it waives, or renew it with a new date and reason"),
        );
    }
}

/// Rule, kind and the rule that shadows it, for each live rule that an earlier allow shadows:
/// an allow after another that matches all it matches adds nothing; a waiver that an allow
/// covers is never consulted. Rules covering the whole scope are reported as such, not here,
/// and shadow nothing (the finding would only repeat theirs). Through an index (`shadow.rs`):
/// comparing each rule with every earlier one took minutes on a 1 MiB policy.
fn shadowed<'r, 'k>(
    p: &Policy,
    live: &[(&'r Rule, &'k str, bool)],
) -> Vec<(&'r Rule, &'k str, &'r Rule)> {
    let shadowers = shadow::Shadowers::new(
        live.iter()
            .filter(|(_, kind, covers)| *kind == "allow" && !covers)
            .map(|(r, ..)| *r)
            .collect(),
    );
    let mut out = Vec::new();
    // An allow is shadowed only by allows before it; a waiver by any allow.
    let (mut allows_before, all) = (
        0,
        live.iter().filter(|(_, k, c)| *k == "allow" && !c).count(),
    );
    for &(rule, kind, covers_scope) in live {
        if covers_scope {
            continue;
        }
        let before = if kind == "allow" { allows_before } else { all };
        if let Some(by) = shadowers.first_containing(p, rule, before) {
            out.push((rule, kind, by));
        }
        if kind == "allow" {
            allows_before += 1;
        }
    }
    out
}

fn duplicate_rule_names(p: &Policy, out: &mut Vec<Diagnostic>) {
    let mut first: HashMap<&str, &Rule> = HashMap::new();
    let rules = p.allows.iter().chain(p.waivers.iter().map(|w| &w.rule));
    for rule in rules {
        match first.get(rule.name.as_str()) {
            None => {
                first.insert(&rule.name, rule);
            }
            Some(earlier) => out.push(
                Diagnostic::error(
                    "duplicate-rule-name",
                    format!("two rules of policy `{}` are named `{}`", p.name, rule.name),
                )
                .with_label(Label::primary(rule.file, name_span(rule), "named here"))
                .with_label(Label::secondary(
                    earlier.file,
                    name_span(earlier),
                    "and here",
                ))
                .with_note("reports identify rules by name; give each its own"),
            ),
        }
    }
}

fn name_span(rule: &Rule) -> Range<usize> {
    rule.name_span.clone().unwrap_or_else(|| rule.span.clone())
}

fn outside_scope(p: &Policy, rule: &Rule, kind: &str, key: Key) -> Diagnostic {
    let mut d = Diagnostic::error(
        "rule-outside-scope",
        format!(
            "{kind} `{}` can never match: its `{key}` lies outside the scope",
            rule.name
        ),
    )
    .with_label(Label::primary(
        rule.file,
        rule.span_of(key),
        "nothing here is in scope",
    ));
    match p.scope.key_spans.iter().find(|(k, _)| *k == key) {
        Some((_, span)) => d = d.with_label(Label::secondary(p.file, span.clone(), "the scope's")),
        None if key == Key::Action => {
            d = d.with_note(
                "the scope judges ACCEPT records only (set `action` in [scope] to change that)",
            )
        }
        None => {}
    }
    d
}

/// A key's compiled value set, whatever its kind, for comparisons.
#[derive(Clone, Debug)]
enum Set {
    Addr(AddrSet),
    Port(PortSet),
    Proto(ProtoSet),
    Id(IdSet),
    Bits(Bits),
}

impl Set {
    fn intersection(&self, other: &Set) -> Set {
        match (self, other) {
            (Set::Addr(a), Set::Addr(b)) => Set::Addr(a.intersection(b)),
            (Set::Port(a), Set::Port(b)) => Set::Port(a.intersection(b)),
            (Set::Proto(a), Set::Proto(b)) => Set::Proto(a.intersection(b)),
            (Set::Id(a), Set::Id(b)) => Set::Id(a.intersection(b)),
            (Set::Bits(a), Set::Bits(b)) => Set::Bits(a.intersection(b)),
            _ => unreachable!("sets of one key have one kind"),
        }
    }

    fn is_subset(&self, other: &Set) -> bool {
        match (self, other) {
            (Set::Addr(a), Set::Addr(b)) => a.is_subset(b),
            (Set::Port(a), Set::Port(b)) => a.is_subset(b),
            (Set::Proto(a), Set::Proto(b)) => a.is_subset(b),
            (Set::Id(a), Set::Id(b)) => a.is_subset(b),
            (Set::Bits(a), Set::Bits(b)) => a.is_subset(b),
            _ => unreachable!("sets of one key have one kind"),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Set::Addr(s) => s.is_empty(),
            Set::Port(s) => s.is_empty(),
            Set::Proto(s) => s.is_empty(),
            Set::Id(s) => s.is_empty(),
            Set::Bits(s) => s.is_empty(),
        }
    }

    fn union(&self, other: &Set) -> Set {
        match (self, other) {
            (Set::Addr(a), Set::Addr(b)) => Set::Addr(a.union(b)),
            (Set::Port(a), Set::Port(b)) => Set::Port(a.union(b)),
            (Set::Proto(a), Set::Proto(b)) => Set::Proto(a.union(b)),
            (Set::Id(a), Set::Id(b)) => Set::Id(IdSet::from_ids(a.ids().iter().chain(b.ids()))),
            (Set::Bits(a), Set::Bits(b)) => Set::Bits(Bits(a.0 | b.0)),
            _ => unreachable!("sets of one key have one kind"),
        }
    }
}

/// The address families the scope lets through: a record's two ends share one, so a scope
/// that names only IPv4 networks on any end sees only IPv4 records.
fn scope_families(p: &Policy) -> (bool, bool) {
    let mut families = (true, true);
    let mut narrow = |s: &AddrSet| {
        families.0 &= !s.v4().is_empty();
        families.1 &= !s.v6().is_empty();
    };
    if let Some(peer) = &p.scope.peer {
        narrow(peer);
    }
    for key in [Key::Src, Key::Dst] {
        if let Some(Set::Addr(s)) = get(&p.scope.matcher, key) {
            narrow(&s);
        }
    }
    families
}

/// Whether `set`, on a key the scope leaves open, holds every value a record in the scope can
/// have there: every port (`"0-65535"`), every protocol number, both directions, every address
/// of the scope's families. Such a key narrows nothing but records that hold `-` there, which
/// no planned rule is about; ids are never all listed.
fn is_everything(p: &Policy, set: &Set) -> bool {
    match set {
        Set::Port(s) => s.is_full(),
        Set::Proto(s) => s.is_full(),
        Set::Bits(s) => s.is_full(),
        Set::Id(_) => false,
        Set::Addr(s) => {
            let (v4, v6) = scope_families(p);
            (!v4 || s.v4().is_full()) && (!v6 || s.v6().is_full())
        }
    }
}

/// Whether `mine` holds all the scope lets through on `key`.
fn covers_key(p: &Policy, key: Key, mine: &Set) -> bool {
    match scope_set(p, key) {
        Some(s) => s.is_subset(mine),
        None => is_everything(p, mine),
    }
}

/// Allow rules that match everything in the scope together though none does alone: rules that
/// each cover the scope on every key but one, whose values on that key together cover it
/// (`tcp` on every port and `udp` on every port, in a tcp and udp scope). Reported once, at
/// the last of them.
fn covered_together(p: &Policy, live: &[(&Rule, &str, bool)], out: &mut Vec<Diagnostic>) {
    let allows: Vec<&Rule> = live
        .iter()
        .filter(|(_, kind, covers)| *kind == "allow" && !covers)
        .map(|(r, ..)| *r)
        .collect();
    for key in Key::ALL {
        let mut group: Vec<&Rule> = Vec::new();
        let mut sets: Vec<Set> = Vec::new();
        for &rule in &allows {
            let Some(mine) = get(&rule.matcher, key) else {
                continue;
            };
            let others_cover = rule.matcher.keys().into_iter().all(|k| {
                k == key || covers_key(p, k, &get(&rule.matcher, k).expect("a key of the rule"))
            });
            if others_cover {
                sets.push(mine);
                group.push(rule);
            }
        }
        let (Some(union), [.., last]) = (union_all(sets), group.as_slice()) else {
            continue;
        };
        if group.len() < 2 || !covers_key(p, key, &union) {
            continue;
        }
        let names: Vec<String> = group.iter().map(|r| format!("`{}`", r.name)).collect();
        let mut d = Diagnostic::error(
            "allow-covers-scope",
            format!(
                "allow rules {} together match everything in the scope",
                names.join(", ")
            ),
        )
        .with_label(Label::primary(
            last.file,
            last.span_of(key),
            format!("with the others, every `{key}` the scope sees"),
        ));
        for r in &group[..group.len() - 1] {
            d = d.with_label(Label::secondary(r.file, r.span_of(key), "this one"));
        }
        out.push(
            d.with_label(Label::secondary(p.file, p.span.clone(), "the scope"))
                .with_note("the planned block would block nothing: narrow the rules, or the scope"),
        );
        return;
    }
}

/// The union of sets of one key, merged pairwise in rounds: each round's sets hold no more
/// values than the last's, so n sets cost O(total size x log n), not the O(n x total size) of
/// adding them one at a time (a policy of 62,000 rules on one key).
fn union_all(mut sets: Vec<Set>) -> Option<Set> {
    while sets.len() > 1 {
        sets = sets
            .chunks(2)
            .map(|pair| match pair {
                [a, b] => a.union(b),
                [a] => a.clone(),
                _ => unreachable!("chunks of two"),
            })
            .collect();
    }
    sets.pop()
}

fn get(m: &Matcher, key: Key) -> Option<Set> {
    match key.slot() {
        Slot::Addr(end) => m.addrs[end as usize].clone().map(Set::Addr),
        Slot::Port(end) => m.ports[end as usize].clone().map(Set::Port),
        Slot::Protocol => m.protocol.map(Set::Proto),
        Slot::Id(kind) => m.ids[kind as usize].clone().map(Set::Id),
        Slot::Direction => m.direction.map(Set::Bits),
        Slot::Action => m.action.map(Set::Bits),
    }
}

/// What the scope lets through on a key: its peer networks are the only possible peer ends,
/// and its action list the only actions that reach the rules.
fn scope_set(p: &Policy, key: Key) -> Option<Set> {
    match key {
        Key::Peer => p.scope.peer.clone().map(Set::Addr),
        Key::Action => Some(Set::Bits(p.scope.actions)),
        _ => get(&p.scope.matcher, key),
    }
}

/// What a rule can match on a key, given the scope: `None` when neither constrains it.
fn effective(p: &Policy, rule: &Rule, key: Key) -> Option<Set> {
    match (get(&rule.matcher, key), scope_set(p, key)) {
        (Some(r), Some(s)) => Some(r.intersection(&s)),
        (r, s) => r.or(s),
    }
}

/// The first key on which the rule and its scope share no value: the rule never matches.
fn disjoint_key(p: &Policy, rule: &Rule) -> Option<Key> {
    rule.matcher
        .keys()
        .into_iter()
        .find(|&k| effective(p, rule, k).is_some_and(|s| s.is_empty()))
}

/// Whether `rule` matches every record in scope: on each of its keys it holds at least what
/// the scope lets through, or, where the scope leaves the key open, every value
/// ([`is_everything`]).
fn covers_scope(p: &Policy, rule: &Rule) -> bool {
    rule.matcher
        .keys()
        .into_iter()
        .all(|k| covers_key(p, k, &get(&rule.matcher, k).expect("a key of the rule")))
}

/// Whether every in-scope record that `rule` matches is matched by `by` too: on each key of
/// `by`, what the rule and scope leave is inside `by`'s set. A key neither constrains is not
/// met, for the same reason as in [`covers_scope`]. The pairwise definition the index in
/// `shadow.rs` answers; kept for the property test that holds the index to it.
#[cfg(test)]
fn contains(p: &Policy, by: &Rule, rule: &Rule) -> bool {
    by.matcher.keys().into_iter().all(|k| {
        let theirs = get(&by.matcher, k).expect("a key of the rule");
        effective(p, rule, k).is_some_and(|s| s.is_subset(&theirs))
    })
}

/// Whether every record `inner` sees, `outer` sees too, as far as the keys tell (a sample cut
/// for `outer` then holds all of `inner`'s traffic). Actions aside: the action list decides
/// what is judged, not what is seen. For every key `outer` writes, `inner` must write it with
/// values inside `outer`'s; `inner` may write more keys. The keys that read the peer end
/// (`local`, `peer_port`, `local_port`) need the same peer networks, since those decide which
/// end is the peer; keys on addresses need the same `addresses`.
pub fn scope_within(inner: &Scope, outer: &Scope) -> bool {
    let on_addresses = [
        Key::Src,
        Key::Dst,
        Key::Local,
        Key::PeerPort,
        Key::LocalPort,
    ];
    let outer_reads_addresses =
        outer.peer.is_some() || on_addresses.iter().any(|&k| outer.matcher.has(k));
    if outer_reads_addresses && inner.addresses != outer.addresses {
        return false;
    }
    match (&inner.peer, &outer.peer) {
        (_, None) => {}
        (None, Some(_)) => return false,
        (Some(i), Some(o)) => {
            let peer_relative = [Key::Local, Key::PeerPort, Key::LocalPort]
                .iter()
                .any(|&k| outer.matcher.has(k));
            if !i.is_subset(o) || (peer_relative && !o.is_subset(i)) {
                return false;
            }
        }
    }
    outer
        .matcher
        .keys()
        .into_iter()
        .filter(|&k| k != Key::Action)
        .all(|k| {
            let theirs = get(&outer.matcher, k).expect("a key of the scope");
            get(&inner.matcher, k).is_some_and(|mine| mine.is_subset(&theirs))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn scope(text: &str) -> Scope {
        let set = PolicySet::from_sources([("p.toml", format!("[scope]\n{text}"))])
            .unwrap_or_else(|e| panic!("{e}"));
        set.policies()[0].scope.clone()
    }

    #[test]
    fn scopes_within_scopes() {
        let within = |a: &str, b: &str| scope_within(&scope(a), &scope(b));
        let line = "peer = [\"10.20.0.0/16\"]";
        assert!(within(line, line));
        assert!(within("peer = [\"10.20.30.0/24\"]", line));
        assert!(within(
            "peer = [\"10.20.30.0/24\"]\nprotocol = \"tcp\"",
            line
        ));
        assert!(!within("peer = [\"10.0.0.0/8\"]", line));
        assert!(!within("", line));
        assert!(within(line, ""));
        assert!(within(line, "action = [\"ACCEPT\", \"REJECT\"]"));
        assert!(!within(
            "peer = [\"10.20.30.0/24\"]",
            "peer = [\"10.20.0.0/16\"]\nprotocol = \"tcp\""
        ));
        assert!(within("dst_port = 22", "dst_port = [22, 3389]"));
        assert!(!within("dst_port = [22, 23]", "dst_port = [22, 3389]"));
        // Peer-relative keys need the same peer networks.
        let a = "peer = [\"10.20.30.0/24\"]\npeer_port = 443";
        assert!(!within(a, "peer = [\"10.20.0.0/16\"]\npeer_port = 443"));
        assert!(within(
            a,
            "peer = [\"10.20.30.0/24\"]\npeer_port = [443, 80]"
        ));
        // Packet addresses are other addresses.
        assert!(!within(
            "peer = [\"10.20.0.0/16\"]\naddresses = \"packet\"",
            line
        ));
        assert!(within(
            "protocol = \"udp\"\naddresses = \"packet\"",
            "protocol = [\"udp\", \"tcp\"]"
        ));
    }

    fn lint_text(text: &str) -> Vec<String> {
        let set = PolicySet::from_sources([("p.toml", text)]).unwrap_or_else(|e| panic!("{e}"));
        lint(&set, date!(2026 - 06 - 01))
            .iter()
            .map(|d| {
                let (_, line, col) = d.location(set.files()).unwrap();
                format!("{} {line}:{col}", d.code)
            })
            .collect()
    }

    #[test]
    fn a_clean_policy_has_no_findings() {
        let text = "[scope]\npeer = '10.20.0.0/16'\n[[allow]]\nname = 'a'\npeer = '10.20.30.0/24'\nprotocol = 'tcp'\npeer_port = 443\n[[allow]]\nname = 'b'\npeer = '10.20.31.0/24'\n[[waive]]\nname = 'w'\npeer = '10.20.99.7'\nreason = 'r'\nexpires = 2027-01-31";
        assert_eq!(lint_text(text), Vec::<String>::new());
    }

    #[test]
    fn rules_outside_the_scope() {
        let text = "[scope]\npeer = '10.20.0.0/16'\nprotocol = 'tcp'\n[[allow]]\npeer = '10.30.0.0/24'\n[[allow]]\nprotocol = ['udp', 'icmp']\n[[allow]]\naction = 'REJECT'\n[[waive]]\nreason = 'r'\nexpires = 2027-01-31\npeer = ['10.20.0.0/24', '10.30.0.0/24']\nprotocol = 'tcp'\ndst = '10.20.0.0/16'";
        assert_eq!(
            lint_text(text),
            [
                "rule-outside-scope 5:8",
                "rule-outside-scope 7:12",
                "rule-outside-scope 9:10"
            ]
        );
    }

    #[test]
    fn allow_covering_the_scope() {
        assert_eq!(
            lint_text("[scope]\npeer = '10.20.0.0/16'\n[[allow]]\n"),
            ["allow-covers-scope 3:1"]
        );
        assert_eq!(
            lint_text("[scope]\npeer = '10.20.0.0/16'\nprotocol = 'tcp'\n[[allow]]\npeer = '10.0.0.0/8'\nprotocol = ['tcp', 'udp']\naction = ['ACCEPT']"),
            ["allow-covers-scope 4:1"]
        );
        // A key the scope leaves open is covered by every value on it: every port, every
        // protocol, every address of the scope's family.
        assert_eq!(
            lint_text("[scope]\npeer = '10.20.0.0/16'\n[[allow]]\npeer_port = '0-65535'"),
            ["allow-covers-scope 3:1"]
        );
        let every: Vec<String> = (0..=255).map(|n| n.to_string()).collect();
        assert_eq!(
            lint_text(&format!(
                "[scope]\npeer = '10.20.0.0/16'\n[[allow]]\nprotocol = [{}]",
                every.join(", ")
            )),
            ["allow-covers-scope 3:1"]
        );
        assert_eq!(
            lint_text("[scope]\npeer = '10.20.0.0/16'\n[[allow]]\nsrc = '0.0.0.0/0'\ndst_port = '0-65535'"),
            ["allow-covers-scope 3:1"]
        );
        // Not every port, or an IPv6 scope with an IPv4 rule: narrower than the scope.
        assert_eq!(
            lint_text("[scope]\npeer = '10.20.0.0/16'\n[[allow]]\npeer_port = '1-65535'"),
            Vec::<String>::new()
        );
        assert_eq!(
            lint_text("[scope]\npeer = '2001:db8::/32'\n[[allow]]\nsrc = '0.0.0.0/0'"),
            Vec::<String>::new()
        );
        assert_eq!(
            lint_text(
                "[scope]\ndst = ['2001:db8::/32', '10.0.0.0/8']\n[[allow]]\nsrc = '0.0.0.0/0'"
            ),
            Vec::<String>::new()
        );
        assert_eq!(
            lint_text("[[waive]]\nreason = 'r'\nexpires = 2027-01-01"),
            ["allow-covers-scope 1:1"]
        );
    }

    #[test]
    fn allows_covering_the_scope_together() {
        // Every port of tcp and every port of udp, in a tcp and udp scope.
        let text = "[scope]\npeer = '10.20.0.0/16'\nprotocol = ['tcp', 'udp']\n[[allow]]\nname = 't'\nprotocol = 'tcp'\npeer_port = '0-65535'\n[[allow]]\nname = 'u'\nprotocol = 'udp'\npeer_port = '0-65535'";
        assert_eq!(lint_text(text), ["allow-covers-scope 10:12"]);
        // Port halves of one protocol.
        let text = "[scope]\npeer = '10.20.0.0/16'\nprotocol = 'tcp'\n[[allow]]\npeer_port = '0-1023'\n[[allow]]\npeer_port = '1024-65535'";
        assert_eq!(lint_text(text), ["allow-covers-scope 7:13"]);
        // Together they leave udp 53 to block.
        let text = "[scope]\npeer = '10.20.0.0/16'\nprotocol = ['tcp', 'udp']\n[[allow]]\nprotocol = 'tcp'\n[[allow]]\nprotocol = 'udp'\npeer_port = '0-52'\n[[allow]]\nprotocol = 'udp'\npeer_port = '54-65535'";
        assert_eq!(lint_text(text), Vec::<String>::new());
    }

    #[test]
    fn shadowed_rules_point_at_the_later_one() {
        let text = "[scope]\npeer = '10.20.0.0/16'\n[[allow]]\nname = 'wide'\npeer = '10.20.30.0/24'\n[[allow]]\nname = 'narrow'\npeer = '10.20.30.7'\npeer_port = 443\n[[allow]]\nname = 'other'\npeer = '10.20.31.0/24'\n[[waive]]\nname = 'w'\nreason = 'r'\nexpires = 2027-01-31\npeer = '10.20.30.9'";
        assert_eq!(lint_text(text), ["rule-shadowed 6:1", "rule-shadowed 13:1"]);
        // The scope narrows what a rule can match: with scope tcp, `narrow` (no protocol) is
        // inside `wide` (tcp).
        let text = "[scope]\npeer = '10.0.0.0/8'\nprotocol = 'tcp'\n[[allow]]\npeer = '10.1.0.0/16'\nprotocol = 'tcp'\n[[allow]]\npeer = '10.1.2.0/24'";
        assert_eq!(lint_text(text), ["rule-shadowed 7:1"]);
        // An earlier narrower rule shadows nothing.
        let text = "[scope]\npeer = '10.0.0.0/8'\n[[allow]]\npeer = '10.1.2.0/24'\n[[allow]]\npeer = '10.1.0.0/16'";
        assert_eq!(lint_text(text), Vec::<String>::new());
    }

    #[test]
    fn waiver_dates() {
        let text = "[[allow]]\ndst_port=1\n[[waive]]\nreason = 'r'\nexpires = 2026-05-31\ndst_port = 2\n[[waive]]\nreason = 'r'\nexpires = 2026-06-01\ndst_port = 3\n[[waive]]\nreason = 'r'\nexpires = 2026-06-15\ndst_port = 4\n[[waive]]\nreason = 'r'\nexpires = 2026-06-16\ndst_port = 5";
        assert_eq!(
            lint_text(text),
            [
                "waiver-expired 5:11",
                "waiver-expiring 9:11",
                "waiver-expiring 13:11"
            ]
        );
    }

    #[test]
    fn duplicate_rule_names_across_allows_and_waivers() {
        let text = "[[allow]]\nname = 'x'\ndst_port = 1\n[[allow]]\nname = 'y'\ndst_port = 2\n[[waive]]\nname = 'x'\nreason = 'r'\nexpires = 2027-01-01\ndst_port = 3";
        assert_eq!(lint_text(text), ["duplicate-rule-name 8:8"]);
    }

    mod props {
        //! The index in `shadow.rs` finds what comparing each rule with every earlier allow
        //! finds: the same shadowed rules, each with the same (first) shadowing rule.
        use super::*;
        use proptest::prelude::*;

        /// The pairwise check the index replaced, as it was.
        fn shadowed_pairwise<'r, 'k>(
            p: &Policy,
            live: &[(&'r Rule, &'k str, bool)],
        ) -> Vec<(&'r Rule, &'k str, &'r Rule)> {
            let shadowers: Vec<&Rule> = live
                .iter()
                .filter(|(_, kind, covers)| *kind == "allow" && !covers)
                .map(|(r, ..)| *r)
                .collect();
            let mut out = Vec::new();
            for &(rule, kind, covers_scope) in live {
                if covers_scope {
                    continue;
                }
                let earlier = shadowers
                    .iter()
                    .take_while(|r| kind == "waiver" || !std::ptr::eq(**r, rule))
                    .find(|by| contains(p, by, rule));
                if let Some(by) = earlier {
                    out.push((rule, kind, *by));
                }
            }
            out
        }

        fn one_of(values: &'static [&'static str]) -> impl Strategy<Value = String> {
            proptest::sample::select(values).prop_map(str::to_string)
        }

        /// Values from small pools, so that rules often hold each other: nested and
        /// overlapping networks of both families, points and ranges of ports, lists.
        fn value(key: &'static str) -> BoxedStrategy<String> {
            match key {
                "peer" | "src" | "dst" => one_of(&[
                    "'10.0.0.0/8'",
                    "'10.1.0.0/16'",
                    "'10.1.0.0/17'",
                    "'10.1.2.0/24'",
                    "'10.1.2.3'",
                    "'10.2.0.0/16'",
                    "['10.1.2.0/24', '10.2.0.0/16']",
                    "'192.168.0.0/16'",
                    "'fd00::/8'",
                    "['fd00:1::/32', '10.1.0.0/16']",
                    "['0.0.0.0/0', '::/0']",
                ])
                .boxed(),
                "dst_port" | "src_port" | "peer_port" => one_of(&[
                    "1",
                    "2",
                    "3",
                    "'1-3'",
                    "'2-5'",
                    "'0-65535'",
                    "[1, 3]",
                    "[2, '4-6']",
                ])
                .boxed(),
                "protocol" => one_of(&[
                    "'tcp'",
                    "'udp'",
                    "'icmp'",
                    "['tcp', 'udp']",
                    "6",
                    "['udp', 1]",
                ])
                .boxed(),
                "direction" => one_of(&["'ingress'", "'egress'", "['ingress', 'egress']"]).boxed(),
                "vpc" => one_of(&["'vpc-a'", "'vpc-b'", "['vpc-a', 'vpc-b']"]).boxed(),
                "action" => one_of(&["'ACCEPT'", "'REJECT'", "['ACCEPT', 'REJECT']"]).boxed(),
                _ => unreachable!(),
            }
        }

        const RULE_KEYS: [&str; 10] = [
            "peer",
            "src",
            "dst",
            "dst_port",
            "src_port",
            "peer_port",
            "protocol",
            "direction",
            "vpc",
            "action",
        ];

        /// `key = value` lines for a random subset of `keys` (at least `min` of them).
        fn keys(keys: &'static [&'static str], min: usize) -> BoxedStrategy<String> {
            proptest::sample::subsequence(keys, min..=3.min(keys.len()))
                .prop_flat_map(|chosen| {
                    chosen
                        .into_iter()
                        .map(|k| value(k).prop_map(move |v| format!("{k} = {v}\n")))
                        .collect::<Vec<_>>()
                })
                .prop_map(|lines| lines.concat())
                .boxed()
        }

        fn policy() -> impl Strategy<Value = String> {
            (
                value("peer"),
                keys(&["protocol", "dst_port", "action", "vpc"], 0),
                proptest::collection::vec(keys(&RULE_KEYS, 1), 0..12),
                proptest::collection::vec(keys(&RULE_KEYS, 1), 0..4),
            )
                .prop_map(|(peer, scope, allows, waivers)| {
                    let mut text = format!("[scope]\npeer = {peer}\n{scope}");
                    for a in allows {
                        text += &format!("[[allow]]\n{a}");
                    }
                    for w in waivers {
                        text += &format!("[[waive]]\nreason = 'r'\nexpires = 2027-01-01\n{w}");
                    }
                    text
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(1000))]

            #[test]
            fn the_index_finds_what_pairwise_comparison_finds(text in policy()) {
                let Ok(set) = PolicySet::from_sources([("p.toml", text.as_str())]) else {
                    // Values the loader refuses together (a port key on icmp, ...): no policy.
                    return Ok(());
                };
                for p in set.policies() {
                    let mut live = Vec::new();
                    let rules = p.allows.iter().map(|r| (r, "allow"));
                    for (rule, kind) in rules.chain(p.waivers.iter().map(|w| (&w.rule, "waiver"))) {
                        if disjoint_key(p, rule).is_none() {
                            live.push((rule, kind, covers_scope(p, rule)));
                        }
                    }
                    let name = |found: Vec<(&Rule, &str, &Rule)>| -> Vec<(String, String)> {
                        found.into_iter().map(|(r, _, by)| (r.name.clone(), by.name.clone())).collect()
                    };
                    prop_assert_eq!(
                        name(shadowed(p, &live)),
                        name(shadowed_pairwise(p, &live)),
                        "{}", text
                    );
                }
            }
        }
    }
}
