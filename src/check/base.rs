//! `check --base REV`: the policies at REV and the probes of the allow rules the change adds,
//! judged in the same pass as the working tree's policies.
//!
//! The engine judges many policies per record, so the one pass gets one combined list: the
//! working tree's policies first (their tallies build the report as without `--base`), then
//! REV's, then one probe per new or changed allow rule. The tallies are split back in that
//! order and the diff is the difference of the two versions' reports. The verdict and the exit
//! status are the working tree's alone.

use crate::engine::PolicyTally;
use std::collections::BTreeMap;

use crate::flowlog::{Archive, Kind};
use crate::policy::change::{rule_diff, RuleKind};
use crate::policy::git::{load_at, AtRevision, GitError};
use crate::policy::{Policy, PolicySet};
use crate::report::build::policy_reports;
use crate::report::diff::{diff, Diff, Probe, Unreadable};
use crate::report::finding::Severity;
use crate::report::{Finding, Origin, Report};

/// The policies at the base revision, and what the pass needs to compare them.
pub(crate) struct Base {
    at: AtRevision,
    /// REV's policies, by name (a name in two files is kept once, the first by path).
    policies: Vec<Policy>,
    /// Lint findings on REV's policies: a lint error fails a policy there as here.
    lint: Vec<Finding>,
    /// (policy, allow rule index, probe) for each new or changed allow rule of the working tree.
    probes: Vec<(String, usize, Policy)>,
}

impl Base {
    /// Reads the policies at `rev` from the same `--policies` paths and plans the probes of
    /// the allow rules that `head` adds or changes.
    pub(crate) fn load(
        rev: &str,
        paths: &[std::path::PathBuf],
        head: &PolicySet,
        today: time::Date,
    ) -> Result<Base, GitError> {
        let at = load_at(rev, paths)?;
        let mut policies: Vec<Policy> = Vec::new();
        let mut lint = Vec::new();
        for set in &at.sets {
            lint.extend(
                crate::policy::lint::lint(set, today)
                    .iter()
                    .map(|d| super::lint_finding(set, d)),
            );
            for p in set.policies() {
                if !policies.iter().any(|q| q.name == p.name) {
                    policies.push(p.clone());
                }
            }
        }
        policies.sort_by(|a, b| a.name.cmp(&b.name));
        let mut probes = Vec::new();
        for h in head.policies() {
            let b = policies.iter().find(|b| b.name == h.name);
            for r in rule_diff(b, Some(h)).added {
                if r.kind == RuleKind::Allow {
                    // Named by index: two rules of one policy may share a name.
                    let mut probe = h.probe(r.index);
                    probe.name = format!("{} / allow #{}", h.name, r.index);
                    probes.push((h.name.clone(), r.index, probe));
                }
            }
        }
        Ok(Base {
            at,
            policies,
            lint,
            probes,
        })
    }

    /// Everything the one pass judges: the working tree's policies, REV's, the probes.
    pub(crate) fn scanned(&self, head: &PolicySet) -> Vec<Policy> {
        head.policies()
            .iter()
            .chain(&self.policies)
            .chain(self.probes.iter().map(|(.., p)| p))
            .cloned()
            .collect()
    }

    /// The diff from REV's tallies and the probes' (in [`Base::scanned`] order, after the
    /// working tree's), with the working tree's finished report; and the findings about REV
    /// (files there that did not load) for the report.
    pub(crate) fn finish(
        self,
        mut tallies: Vec<PolicyTally>,
        head: &PolicySet,
        report: &Report,
        archives: &[Archive],
        kinds: &BTreeMap<usize, Kind>,
        today: time::Date,
    ) -> (Diff, Vec<Finding>) {
        let probe_tallies = tallies.split_off(self.policies.len());
        let base_reports = policy_reports(
            &self.policies,
            tallies,
            &report.run,
            archives,
            kinds,
            today,
            &self.lint,
        );
        let probe_policies: Vec<Policy> = self.probes.iter().map(|(.., p)| p.clone()).collect();
        let probe_reports = policy_reports(
            &probe_policies,
            probe_tallies,
            &report.run,
            archives,
            kinds,
            today,
            &[],
        );
        // Reports come back sorted by name; each probe's name is its own.
        let probes: Vec<Probe> = self
            .probes
            .iter()
            .filter_map(|(policy, rule, p)| {
                let report = probe_reports.iter().find(|r| r.name == p.name)?;
                Some(Probe {
                    policy: policy.clone(),
                    rule: *rule,
                    report: report.clone(),
                })
            })
            .collect();
        let mut diff = diff(
            &self.at.revision,
            &self.at.commit,
            (&self.policies, &base_reports),
            (head.policies(), &report.policies),
            &probes,
        );
        let label = diff.label();
        let mut findings = Vec::new();
        for broken in &self.at.broken {
            let d = &broken.diagnostics;
            let errors: Vec<&crate::diag::Diagnostic> =
                d.diagnostics().iter().filter(|x| x.is_error()).collect();
            let first = errors
                .first()
                .map(|x| (x.location(d.files()), x.message.clone()));
            diff.unreadable.push(Unreadable {
                path: broken.path.display().to_string(),
                line: first.as_ref().and_then(|(at, _)| at.map(|(_, l, _)| l)),
                message: first.map_or_else(|| "it did not load".to_string(), |(_, m)| m),
            });
            for x in errors {
                // A warning: the verdict is the working tree's, and the file there may be fine.
                let mut x = x.clone();
                x.severity = crate::diag::Severity::Warning;
                x.message = format!("at {label}: {} (its rules count as added)", x.message);
                let mut f = Finding::from_diagnostic(Origin::Base, &x, d.files(), None);
                // The working tree's name, for tools; the text names the revision's file.
                f.path = Some(broken.path.display().to_string());
                findings.push(f);
            }
        }
        (diff, findings)
    }
}

impl GitError {
    /// The finding that says why `--base` could not be read: the run is untrusted.
    pub(crate) fn finding(&self) -> Finding {
        let code = match self {
            GitError::Spawn { .. } | GitError::Failed { .. } => "base-git-failed",
            GitError::NoRepository { .. } => "base-no-repository",
            GitError::UnknownRevision { .. } => "base-unknown-revision",
            GitError::Outside { .. } => "base-outside-repository",
        };
        Finding::plain(Origin::Base, Severity::Error, code, self.to_string())
    }
}
