//! `check --base REV`: what a change to the policies does, judged in the same pass.
//!
//! Both versions of the policies are judged on the same records, so the change is a plain
//! difference of their results, policy by policy (matched by name): the conversations blocked
//! now and not at the base (newly blocked), those blocked at the base and not now (newly
//! allowed), and the rules added and removed. Every allow rule that is new or changed is
//! measured against the traffic it matched (through its probe, see `policy::change`): how many
//! addresses, ports and protocols it admits within the scope, how many peers, ports and
//! conversations used it, and whether it is overly permissive. The verdict and exit status stay
//! those of the working tree; the diff only explains them.

use std::collections::{BTreeSet, HashSet};
use std::net::IpAddr;

use serde::Serialize;

use crate::policy::change::{rule_diff, RuleChange, RuleKind};
use crate::policy::Policy;

use super::{Conversation, PolicyReport, Status};

/// An allow rule that admits at least this many times more addresses or ports than its
/// traffic used is overly permissive (as is one that nothing used).
pub const OVERLY_PERMISSIVE: u64 = 256;

/// What happened to a policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyChange {
    /// Only in the working tree.
    Added,
    /// Only at the base revision.
    Removed,
    /// In both, different.
    Changed,
    /// In both, the same (line numbers and comments aside).
    Unchanged,
}

impl PolicyChange {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyChange::Added => "added",
            PolicyChange::Removed => "removed",
            PolicyChange::Changed => "changed",
            PolicyChange::Unchanged => "unchanged",
        }
    }
}

/// The change between the base revision and the working tree.
#[derive(Clone, Debug, Serialize)]
pub struct Diff {
    /// The revision as given (`origin/main`, a commit id).
    pub base: String,
    /// The commit it names.
    pub base_commit: String,
    /// Every policy of either version, by name.
    pub policies: Vec<PolicyDiff>,
    /// Policy files that could not be read at the base: whatever policy they held there is
    /// unknown, so the working tree's policy in that file counts as added, every rule new.
    pub unreadable: Vec<Unreadable>,
}

/// A policy file that could not be read at the base revision.
#[derive(Clone, Debug, Serialize)]
pub struct Unreadable {
    /// The file as the working tree names it.
    pub path: String,
    /// The line of the first error at the base, when it has one.
    pub line: Option<u32>,
    /// The first error at the base.
    pub message: String,
}

impl Unreadable {
    /// `policies/x.toml could not be read at REV (line 7: unknown key `ownr`): its rules
    /// count as added`, for the reports to say plainly.
    pub fn sentence(&self, label: &str) -> String {
        let at = self.line.map(|l| format!("line {l}: ")).unwrap_or_default();
        format!(
            "{} could not be read at {label} ({at}{}): its rules count as added",
            self.path, self.message
        )
    }
}

/// One policy's change.
#[derive(Clone, Debug, Serialize)]
pub struct PolicyDiff {
    pub name: String,
    pub change: PolicyChange,
    /// The file in the working tree (at the base for a removed policy).
    pub path: String,
    /// The verdicts at the base and now; `null` where the policy does not exist.
    pub base_status: Option<Status>,
    pub status: Option<Status>,
    /// Blocked now, not at the base: the working tree's conversation objects.
    pub newly_blocked: Vec<Conversation>,
    /// Blocked at the base, not now: the base's conversation objects.
    pub newly_allowed: Vec<Conversation>,
    pub rules_added: Vec<RuleAdded>,
    pub rules_removed: Vec<RuleRemoved>,
}

/// A rule new in the working tree, or the new version of a changed one.
#[derive(Clone, Debug, Serialize)]
pub struct RuleAdded {
    /// `allow` or `waiver`.
    pub kind: &'static str,
    pub name: String,
    pub line: u32,
    /// `new`, `widened`, `narrowed` or `changed` (against the rule of that name at the base).
    pub change: &'static str,
    /// For allow rules: how much of the scope it admits.
    pub width: Option<Width>,
    /// For allow rules: what the traffic that matched it used.
    pub used: Option<Usage>,
    /// It admits at least [`OVERLY_PERMISSIVE`] times more addresses or ports than its
    /// traffic used, or nothing used it.
    pub overly_permissive: bool,
    /// Why it is overly permissive, as a sentence; `null` when it is not.
    pub reason: Option<String>,
}

/// A rule at the base that is gone, or the old version of a changed one.
#[derive(Clone, Debug, Serialize)]
pub struct RuleRemoved {
    pub kind: &'static str,
    pub name: String,
    /// Its line at the base.
    pub line: u32,
    /// `removed`, or `replaced` when a rule of that name is in the working tree.
    pub change: &'static str,
}

/// How much of its scope an allow rule admits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Width {
    /// Addresses at the far end (the peer end; the destination for a scope without `peer`),
    /// saturating at 2^64 - 1.
    pub addresses: u64,
    /// Ports it admits (65,536 when it names none); `null` for protocols without ports.
    pub ports: Option<u64>,
    /// Protocol numbers it admits (256 when it names none).
    pub protocols: u64,
}

/// What the traffic an allow rule matched used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Distinct addresses at the far end.
    pub peers: u64,
    /// Distinct server ports.
    pub ports: u64,
    pub protocols: u64,
    pub conversations: u64,
    pub records: u64,
}

/// The traffic one allow rule matched: its probe's report.
#[derive(Clone, Debug)]
pub struct Probe {
    pub policy: String,
    pub rule: usize,
    pub report: PolicyReport,
}

impl Diff {
    /// The base as the reports name it: as given, a commit id shortened.
    pub fn label(&self) -> String {
        crate::policy::git::revision_label(&self.base, &self.base_commit)
    }

    /// Conversations newly blocked, over every policy.
    pub fn newly_blocked(&self) -> usize {
        self.policies.iter().map(|p| p.newly_blocked.len()).sum()
    }

    pub fn newly_allowed(&self) -> usize {
        self.policies.iter().map(|p| p.newly_allowed.len()).sum()
    }

    /// The policies that are not unchanged.
    pub fn changed(&self) -> impl Iterator<Item = &PolicyDiff> {
        self.policies
            .iter()
            .filter(|p| p.change != PolicyChange::Unchanged)
    }

    /// `origin/main (3f2c1a9b8e7d)`, or the short commit id alone when the base was given as
    /// a commit id: the reports name it once.
    pub fn named(&self) -> String {
        let short = &self.base_commit[..self.base_commit.len().min(12)];
        let label = self.label();
        if label == short {
            label
        } else {
            format!("{label} ({short})")
        }
    }

    /// Added and changed allow rules flagged overly permissive.
    pub fn overly_permissive(&self) -> impl Iterator<Item = (&PolicyDiff, &RuleAdded)> {
        self.policies.iter().flat_map(|p| {
            p.rules_added
                .iter()
                .filter(|r| r.overly_permissive)
                .map(move |r| (p, r))
        })
    }

    /// `This pull request newly blocks 12 conversations in 1 policy and newly allows 0.`, then
    /// a sentence on overly permissive rules when there are any. Counts only: safe anywhere.
    pub fn headline(&self, subject: &str) -> String {
        if self.changed().next().is_none() {
            return format!("{subject} changes no policy.");
        }
        let in_policies = |n: usize| {
            if n == 0 {
                String::new()
            } else {
                format!(" in {}", plural(n, "policy", "policies"))
            }
        };
        let blocking = self
            .policies
            .iter()
            .filter(|p| !p.newly_blocked.is_empty())
            .count();
        let allowing = self
            .policies
            .iter()
            .filter(|p| !p.newly_allowed.is_empty())
            .count();
        let mut line = format!(
            "{subject} newly blocks {}{} and newly allows {}{}.",
            plural(self.newly_blocked(), "conversation", "conversations"),
            in_policies(blocking),
            self.newly_allowed(),
            in_policies(allowing),
        );
        let wide = self.overly_permissive().count();
        if wide > 0 {
            line.push_str(&format!(
                " {} overly permissive.",
                if wide == 1 {
                    "1 added allow rule is".to_string()
                } else {
                    format!("{wide} added allow rules are")
                }
            ));
        }
        line
    }
}

impl RuleAdded {
    /// `65536 addresses x 65536 ports x 1 protocol`.
    pub fn describe_width(&self) -> Option<String> {
        let w = self.width?;
        let mut parts = vec![plural64(w.addresses, "address", "addresses")];
        if let Some(p) = w.ports {
            parts.push(plural64(p, "port", "ports"));
        }
        parts.push(plural64(w.protocols, "protocol", "protocols"));
        Some(parts.join(" x "))
    }

    /// `3 peers, 1 port, 3 conversations (41 records)`, or `nothing`.
    pub fn describe_usage(&self) -> Option<String> {
        let u = self.used?;
        if u.conversations == 0 {
            return Some("nothing".into());
        }
        Some(format!(
            "{}, {}, {} ({})",
            plural64(u.peers, "peer", "peers"),
            plural64(u.ports, "port", "ports"),
            plural64(u.conversations, "conversation", "conversations"),
            plural64(u.records, "record", "records"),
        ))
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    plural64(n as u64, one, many)
}

fn plural64(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn kind_str(k: RuleKind) -> &'static str {
    match k {
        RuleKind::Allow => "allow",
        RuleKind::Waiver => "waiver",
    }
}

type Key = (Option<u8>, Option<IpAddr>, Option<IpAddr>, Option<u16>);

fn key(c: &Conversation) -> Key {
    (c.protocol, c.client, c.server, c.server_port)
}

/// The conversations of `of` whose key is not among `minus`'s, in `of`'s order.
fn difference(of: Option<&PolicyReport>, minus: Option<&PolicyReport>) -> Vec<Conversation> {
    let Some(of) = of else {
        return Vec::new();
    };
    let minus: HashSet<Key> = minus
        .map(|m| m.conversations.iter().map(key).collect())
        .unwrap_or_default();
    of.conversations
        .iter()
        .filter(|c| !minus.contains(&key(c)))
        .cloned()
        .collect()
}

/// The width of allow rule `index` of `policy`, what its probe saw, and the verdict.
fn measure(policy: &Policy, index: usize, probe: Option<&PolicyReport>) -> (Width, Usage) {
    let w = policy.allow_width(index);
    let width = Width {
        addresses: w.addresses,
        ports: w.ports,
        protocols: w.protocols,
    };
    let conversations = probe.map_or(&[][..], |p| &p.conversations[..]);
    let distinct = |f: &dyn Fn(&Conversation) -> Option<String>| {
        conversations
            .iter()
            .filter_map(f)
            .collect::<BTreeSet<_>>()
            .len() as u64
    };
    let used = Usage {
        peers: distinct(&|c| policy.far_end(c.client, c.server).map(|a| a.to_string())),
        ports: distinct(&|c| c.server_port.map(|p| p.to_string())),
        protocols: distinct(&|c| c.protocol.map(|p| p.to_string())),
        conversations: conversations.len() as u64,
        records: probe.map_or(0, |p| p.counts.would_block),
    };
    (width, used)
}

/// Why an allow rule is overly permissive, or `None`.
fn too_wide(width: &Width, used: &Usage) -> Option<String> {
    if used.conversations == 0 {
        return Some("no traffic in the logs matched it".into());
    }
    let ratio = |admitted: u64, seen: u64| admitted / seen.max(1);
    let addresses = ratio(width.addresses, used.peers);
    if addresses >= OVERLY_PERMISSIVE {
        return Some(format!(
            "it admits {} where the traffic used {} ({addresses} times as many)",
            plural64(width.addresses, "address", "addresses"),
            used.peers
        ));
    }
    let ports = width.ports.map_or(0, |p| ratio(p, used.ports));
    if ports >= OVERLY_PERMISSIVE {
        return Some(format!(
            "it admits {} where the traffic used {} ({ports} times as many)",
            plural64(width.ports.unwrap_or(0), "port", "ports"),
            used.ports
        ));
    }
    None
}

/// Builds the diff. `base` and `head` are the policies and their reports (any order);
/// `probes` the reports of the probes of the added allow rules of `head`.
pub fn diff(
    revision: &str,
    commit: &str,
    base: (&[Policy], &[PolicyReport]),
    head: (&[Policy], &[PolicyReport]),
    probes: &[Probe],
) -> Diff {
    let names: BTreeSet<&str> = base
        .0
        .iter()
        .chain(head.0)
        .map(|p| p.name.as_str())
        .collect();
    let find_policy = |set: &[Policy], name: &str| set.iter().find(|p| p.name == name).cloned();
    let find_report =
        |set: &[PolicyReport], name: &str| set.iter().find(|p| p.name == name).cloned();
    let mut policies = Vec::new();
    for name in names {
        let (bp, hp) = (find_policy(base.0, name), find_policy(head.0, name));
        let (br, hr) = (find_report(base.1, name), find_report(head.1, name));
        let change = match (&bp, &hp) {
            (None, _) => PolicyChange::Added,
            (_, None) => PolicyChange::Removed,
            (Some(b), Some(h)) if b.same_as(h) => PolicyChange::Unchanged,
            _ => PolicyChange::Changed,
        };
        let rules = rule_diff(bp.as_ref(), hp.as_ref());
        let rules_added = rules
            .added
            .iter()
            .filter_map(|r| {
                let h = hp.as_ref()?;
                let (name, line) = match r.kind {
                    RuleKind::Allow => (&h.allows[r.index].name, h.allows[r.index].line),
                    RuleKind::Waiver => {
                        (&h.waivers[r.index].rule.name, h.waivers[r.index].rule.line)
                    }
                };
                let (width, used, reason) = match r.kind {
                    RuleKind::Allow => {
                        let probe = probes
                            .iter()
                            .find(|p| p.policy == h.name && p.rule == r.index)
                            .map(|p| &p.report);
                        let (width, used) = measure(h, r.index, probe);
                        (Some(width), Some(used), too_wide(&width, &used))
                    }
                    RuleKind::Waiver => (None, None, None),
                };
                Some(RuleAdded {
                    kind: kind_str(r.kind),
                    name: name.clone(),
                    line,
                    change: r.change.as_str(),
                    width,
                    used,
                    overly_permissive: reason.is_some(),
                    reason,
                })
            })
            .collect();
        let rules_removed = rules
            .removed
            .iter()
            .filter_map(|r| {
                let b = bp.as_ref()?;
                let (name, line) = match r.kind {
                    RuleKind::Allow => (&b.allows[r.index].name, b.allows[r.index].line),
                    RuleKind::Waiver => {
                        (&b.waivers[r.index].rule.name, b.waivers[r.index].rule.line)
                    }
                };
                Some(RuleRemoved {
                    kind: kind_str(r.kind),
                    name: name.clone(),
                    line,
                    change: if r.change == RuleChange::New {
                        "removed"
                    } else {
                        "replaced"
                    },
                })
            })
            .collect();
        let path = hr
            .as_ref()
            .or(br.as_ref())
            .map_or_else(String::new, |r| r.path.clone());
        policies.push(PolicyDiff {
            name: name.to_string(),
            change,
            path,
            base_status: br.as_ref().map(|r| r.status),
            status: hr.as_ref().map(|r| r.status),
            newly_blocked: difference(hr.as_ref(), br.as_ref()),
            newly_allowed: difference(br.as_ref(), hr.as_ref()),
            rules_added,
            rules_removed,
        });
    }
    Diff {
        base: revision.to_string(),
        base_commit: commit.to_string(),
        policies,
        unreadable: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(peers: u64, ports: u64, conversations: u64) -> Usage {
        Usage {
            peers,
            ports,
            protocols: 1,
            conversations,
            records: conversations * 10,
        }
    }

    #[test]
    fn overly_permissive_at_256_times_or_unused() {
        let w = |addresses, ports| Width {
            addresses,
            ports,
            protocols: 1,
        };
        assert_eq!(
            too_wide(&w(256, Some(1)), &usage(1, 1, 1)).as_deref(),
            Some("it admits 256 addresses where the traffic used 1 (256 times as many)")
        );
        assert_eq!(too_wide(&w(255, Some(1)), &usage(1, 1, 1)), None);
        assert_eq!(too_wide(&w(256, Some(1)), &usage(2, 1, 2)), None);
        assert!(too_wide(&w(1, Some(65_536)), &usage(1, 3, 3))
            .unwrap()
            .contains("65536 ports"));
        assert_eq!(too_wide(&w(1, None), &usage(1, 1, 1)), None);
        assert_eq!(
            too_wide(&w(1, Some(1)), &usage(0, 0, 0)).as_deref(),
            Some("no traffic in the logs matched it")
        );
    }
}
