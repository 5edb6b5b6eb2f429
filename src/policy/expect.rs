//! A policy's own tests: `[[expect]]` flows with the verdict the policy must give them, run
//! without logs by `flowgate lint` and `flowgate check`.
//!
//! A check on traffic proves that nothing seen would be blocked; it cannot prove that what must
//! stay closed is closed. An expectation states that: `flow = "tcp 10.0.2.15 ->
//! 10.20.30.5:22"`, `verdict = "blocked"`. It holds when every record the flow stands for
//! (every port of its ranges, see [`flowspec`](super::flowspec)) gets that verdict, as
//! [`explain`](super::explain) works it out with the check's own judge, waivers judged on the
//! run's `--today`. When it does not hold, the diagnostic says what the policy decided instead
//! and why, at the expectation's line. Expectations that could never be run or never hold are
//! errors of their own: a verdict that depends on a field the expectation does not give
//! (`expect-undetermined`), one no record of the flow can reach, such as `allowed` for a flow
//! outside the scope (`expect-unreachable`), and at load time a file of expectations with no
//! policy in it (`expect-without-rules`), which is how expectations kept apart from the policy
//! they mean would otherwise test nothing and pass.

use std::collections::HashMap;
use std::ops::Range;

use crate::diag::{Diagnostic, FileId, Label};

use super::explain::{explain, Explanation, Path, Piece};
use super::flowspec::{FlowFields, FlowSpec, FORM};
use super::matcher::IdKind;
use super::raw::{show, FileDiags, SectionCfg};
use super::values;
use super::{Addresses, Outcome, Policy, Scope};

/// One `[[expect]]`, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectation {
    /// Required, unique within the policy: the JUnit test case is `expect: <name>`.
    pub name: String,
    pub description: Option<String>,
    /// 1-based line of its `[[expect]]` header.
    pub line: u32,
    pub file: FileId,
    /// Byte span of its header.
    pub span: Range<usize>,
    pub flow: FlowSpec,
    /// The flow as written.
    pub flow_text: String,
    pub verdict: Outcome,
    pub fields: FlowFields,
    pub(crate) verdict_span: Range<usize>,
    pub(crate) name_span: Range<usize>,
}

/// The verdicts an expectation can name, as written.
const VERDICTS: [(&str, Outcome); 5] = [
    ("allowed", Outcome::Allowed),
    ("blocked", Outcome::Blocked),
    ("waived", Outcome::Waived),
    ("out of scope", Outcome::OutOfScope),
    ("rejected", Outcome::Rejected),
];

/// Words people use elsewhere, suggested (never accepted) for the verdicts above.
const VERDICT_ALIASES: [(&str, &str); 12] = [
    ("allow", "allowed"),
    ("accept", "allowed"),
    ("open", "allowed"),
    ("pass", "allowed"),
    ("block", "blocked"),
    ("den", "blocked"),
    ("drop", "blocked"),
    ("closed", "blocked"),
    ("violation", "blocked"),
    ("waive", "waived"),
    ("outside", "out of scope"),
    ("reject", "rejected"),
];

/// Where the file's sections are: its id, and the 1-based line of a span.
pub(crate) type Place<'a> = (FileId, &'a dyn Fn(&Range<usize>) -> u32);

/// Validates the `[[expect]]` sections of one file. `scope` is the file's (for `addresses`),
/// `has_policy` whether the file has a `[scope]` or any rule.
pub(crate) fn load(
    sections: &[SectionCfg<'_>],
    scope: &Scope,
    has_policy: bool,
    text: &str,
    (file, line_of): Place<'_>,
    d: &mut FileDiags,
) -> Vec<Expectation> {
    if let (false, Some(first)) = (has_policy, sections.first()) {
        d.error(
            "expect-without-rules",
            first.span.clone(),
            "this file has expectations but no policy: no [scope], no rule",
            "expectations of which policy?",
        )
        .notes
        .push("expectations test the policy of their own file: move them into it (here they would test a policy that blocks all traffic)".into());
    }
    let mut out = Vec::new();
    for section in sections {
        if let Some(e) = one(section, scope, text, (file, line_of(&section.span)), d) {
            out.push(e);
        }
    }
    let mut first: HashMap<&str, &Expectation> = HashMap::new();
    for e in &out {
        match first.get(e.name.as_str()) {
            None => {
                first.insert(&e.name, e);
            }
            Some(earlier) => {
                d.error(
                    "duplicate-expect-name",
                    e.name_span.clone(),
                    format!("two expectations are named `{}`", show(&e.name)),
                    "named here",
                );
                let diag = d.diags.last_mut().expect("just pushed");
                diag.labels.push(Label::secondary(
                    file,
                    earlier.name_span.clone(),
                    "and here",
                ));
                diag.notes.push(
                    "each expectation is its own test case (`expect: <name>`): give each its own name"
                        .into(),
                );
            }
        }
    }
    out
}

fn one(
    section: &SectionCfg<'_>,
    scope: &Scope,
    text: &str,
    (file, line): (FileId, u32),
    d: &mut FileDiags,
) -> Option<Expectation> {
    let before = d.diags.len();
    let mut name = None;
    let mut description = None;
    let mut flow = None;
    let mut verdict = None;
    let mut fields = FlowFields::default();
    for e in &section.entries {
        match e.key {
            "name" => name = values::name(e, d).map(|n| (n, e.value.span())),
            "description" => description = values::string(e, d).map(String::from),
            "flow" => {
                let Some(written) = values::string(e, d) else {
                    continue;
                };
                match FlowSpec::parse(written) {
                    Ok(f) => flow = Some((f, written.to_string())),
                    Err(err) => {
                        // The caret goes under the wrong part when the string is written
                        // without escapes, so its bytes are the text's; else under all of it.
                        let span = e.value.span();
                        let raw = &text[span.clone()];
                        let inner = raw
                            .strip_prefix(['"', '\''])
                            .and_then(|r| r.strip_suffix(['"', '\'']))
                            .filter(|r| {
                                *r == written
                                    && !raw.starts_with("\"\"\"")
                                    && !raw.starts_with("'''")
                            });
                        let at = match inner {
                            Some(_) => {
                                span.start + 1 + err.span.start..span.start + 1 + err.span.end
                            }
                            None => span,
                        };
                        let diag = d.error("invalid-flow", at, err.message, err.label);
                        diag.notes.extend(err.notes);
                    }
                }
            }
            "verdict" => {
                verdict = values::word("verdict", e.value, &VERDICTS, &VERDICT_ALIASES, d)
                    .map(|v| (v, e.value.span()))
            }
            "interface" => fields.interface = values::id(IdKind::Interface, e, d),
            "vpc" => fields.vpc = values::id(IdKind::Vpc, e, d),
            "subnet" => fields.subnet = values::id(IdKind::Subnet, e, d),
            "instance" => fields.instance = values::id(IdKind::Instance, e, d),
            "direction" => fields.direction = values::direction(e, d),
            "action" => fields.action = values::action(e, d).unwrap_or(fields.action),
            _ => {
                // `addresses`: what the flow's addresses are; the policy must read the same.
                let Some(said) = values::addresses_mode(e, d) else {
                    continue;
                };
                if said != scope.addresses {
                    let word = |a: Addresses| match a {
                        Addresses::Interface => "interface addresses (srcaddr, dstaddr)",
                        Addresses::Packet => "packet addresses (pkt-srcaddr, pkt-dstaddr)",
                    };
                    d.error(
                        "expect-addresses-mismatch",
                        e.value.span(),
                        format!(
                            "this expectation's flow is in {}, but the policy matches {}",
                            word(said),
                            word(scope.addresses)
                        ),
                        "not what the policy reads",
                    )
                    .notes
                    .push(match said {
                        Addresses::Packet => "set `addresses = \"packet\"` in [scope] if the policy is about the real ends behind a NAT gateway, or drop `addresses` here".into(),
                        Addresses::Interface => "the policy reads the packet addresses: write the flow in them, and drop `addresses` here (or set it to \"packet\")".into(),
                    });
                }
            }
        }
    }
    for (key, present, example) in [
        (
            "name",
            name.is_some(),
            "name = \"ssh to the partner stays closed\"",
        ),
        (
            "flow",
            flow.is_some(),
            "flow = \"tcp 10.0.2.15 -> 10.20.30.5:22\"",
        ),
        ("verdict", verdict.is_some(), "verdict = \"blocked\""),
    ] {
        if !present && section.get(key).is_none() {
            let diag = d.error(
                "expect-missing-key",
                section.span.clone(),
                format!("this expectation has no `{key}`"),
                format!("`{key}` missing"),
            );
            diag.notes.push(format!(
                "every expectation needs a name, a flow and a verdict, e.g. `{example}`"
            ));
            if key == "flow" {
                diag.notes.push(FORM.to_string());
            }
        }
    }
    if d.diags[before..].iter().any(Diagnostic::is_error) {
        return None;
    }
    let ((name, name_span), (flow, flow_text), (verdict, verdict_span)) = (name?, flow?, verdict?);
    Some(Expectation {
        name,
        description,
        line,
        file,
        span: section.span.clone(),
        flow,
        flow_text,
        verdict,
        fields,
        verdict_span,
        name_span,
    })
}

/// One expectation run.
#[derive(Clone, Debug)]
pub struct Checked {
    /// Its index in its policy's `expectations`.
    pub index: usize,
    pub explanation: Explanation,
    /// Why it does not hold, at its line; `None` when it holds.
    pub failure: Option<Diagnostic>,
}

impl Checked {
    pub fn holds(&self) -> bool {
        self.failure.is_none()
    }

    /// What the policy decided, in one line: `blocked: no allow rule matches; ...`, or per
    /// piece of the ports, `source ports 1024-32767: allowed by ...; ...`.
    pub fn decided(&self) -> String {
        let x = &self.explanation;
        if let [only] = x.pieces.as_slice() {
            return only.path.summary();
        }
        let parts: Vec<String> = x
            .pieces
            .iter()
            .map(|p| format!("for {}: {}", p.ports(&x.flow), p.path.summary()))
            .collect();
        parts.join("; ")
    }
}

/// Runs every expectation of `policy`, waivers judged on `today`, in file order.
pub fn check(policy: &Policy, today: time::Date) -> Vec<Checked> {
    policy
        .expectations
        .iter()
        .enumerate()
        .map(|(index, e)| {
            let explanation = explain(policy, &e.flow, &e.fields, today);
            let failure = failure(policy, e, &explanation, today);
            Checked {
                index,
                explanation,
                failure,
            }
        })
        .collect()
}

/// Why no record of the flow can get `expected` when the policy decides `decided` for it, if
/// that is so: the flow stops before the step that gives `expected`, or the policy lacks what
/// that step needs.
fn unreachable(
    policy: &Policy,
    expected: Outcome,
    decided: Outcome,
    today: time::Date,
) -> Option<String> {
    use Outcome::*;
    match (expected, decided) {
        (OutOfScope, _) => None,
        (_, OutOfScope) => Some(format!(
            "the flow is outside the scope, so no record of it is ever {expected}: fix the flow, or the scope"
        )),
        (Allowed | Waived | Blocked, Rejected) => Some(format!(
            "the scope does not judge records with the flow's action, so none is ever {expected}: records it judges have action {}",
            judged(policy)
        )),
        (Rejected, _) => Some(match unjudged(policy) {
            None => "the scope judges every action (ACCEPT and REJECT), so no record is ever `rejected`".into(),
            Some(other) => format!(
                "`rejected` is for records whose action the scope does not judge ({other}), and it judges this flow's: give the expectation `action = \"{other}\"` to test that"
            ),
        }),
        (Allowed, _) if policy.allows.is_empty() => {
            Some("the policy has no allow rule, so nothing is ever allowed".into())
        }
        (Waived, _) if policy.waivers.is_empty() => {
            Some("the policy has no waiver, so nothing is ever waived".into())
        }
        (Waived, _) if policy.waivers.iter().all(|w| w.expires < today) => Some(format!(
            "every waiver of the policy expired before {today}, so nothing is waived any more"
        )),
        _ => None,
    }
}

/// The action the scope does not judge, if any.
fn unjudged(policy: &Policy) -> Option<&'static str> {
    [
        crate::flowlog::Action::Accept,
        crate::flowlog::Action::Reject,
    ]
    .into_iter()
    .find(|&a| !policy.scope.judges(a))
    .map(|a| a.as_str())
}

fn judged(policy: &Policy) -> String {
    let v: Vec<&str> = [
        crate::flowlog::Action::Accept,
        crate::flowlog::Action::Reject,
    ]
    .into_iter()
    .filter(|&a| policy.scope.judges(a))
    .map(|a| a.as_str())
    .collect();
    v.join(" or ")
}

fn failure(
    policy: &Policy,
    e: &Expectation,
    x: &Explanation,
    today: time::Date,
) -> Option<Diagnostic> {
    let label_at = |span: Range<usize>, message: String| Label::secondary(e.file, span, message);
    let whole = |p: &Piece| {
        let ports = p.ports(&x.flow);
        if ports.is_empty() {
            String::new()
        } else {
            format!("for {ports}, ")
        }
    };
    if let Some(piece) = x.pieces.iter().find(|p| p.path.outcome().is_none()) {
        let Path::Undetermined { keys, rule } = &piece.path else {
            unreachable!("only an undetermined path has no outcome")
        };
        let names: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
        let mut diag = Diagnostic::error(
            "expect-undetermined",
            format!(
                "expectation `{}` cannot be judged: {}its verdict depends on {}, which it does not give",
                show(&e.name),
                whole(piece),
                names.join(" and ")
            ),
        )
        .with_label(Label::primary(e.file, e.span.clone(), format!("which {}?", keys[0])))
        .with_label(label_at(rule.span.clone(), format!("matches on {}", names.join(" and "))));
        diag = diag.with_note(format!(
            "{} decides whether the flow {}; a record of it could hold any value there",
            rule.describe(),
            if rule.kind == super::explain::RuleKind::Scope {
                "is in scope"
            } else {
                "matches"
            }
        ));
        return Some(diag.with_note(format!(
            "add `{} = ...` to the expectation (the record's other fields: interface, vpc, subnet, instance, direction, action)",
            keys[0]
        )));
    }
    let wrong: Vec<&Piece> = x
        .pieces
        .iter()
        .filter(|p| p.path.outcome() != Some(e.verdict))
        .collect();
    let first = *wrong.first()?;
    let decided = first.path.outcome().expect("determined");
    let why_unreachable: Option<Vec<String>> = wrong
        .iter()
        .map(|p| {
            unreachable(
                policy,
                e.verdict,
                p.path.outcome().expect("determined"),
                today,
            )
        })
        .collect();
    let (code, opening) = match &why_unreachable {
        Some(_) => (
            "expect-unreachable",
            format!(
                "expectation `{}` expects {}, which no record of this flow can reach;",
                show(&e.name),
                e.verdict
            ),
        ),
        None => (
            "expect-failed",
            format!("expectation `{}` expects {};", show(&e.name), e.verdict),
        ),
    };
    let mut diag = Diagnostic::error(
        code,
        format!(
            "{opening} {}the policy decides {}",
            whole(first),
            first.path.summary()
        ),
    )
    .with_label(Label::primary(
        e.file,
        e.span.clone(),
        format!("decided: {decided}"),
    ))
    .with_label(label_at(
        e.verdict_span.clone(),
        format!("expects {}", e.verdict),
    ));
    match &first.path {
        Path::Allowed { by } | Path::Waived { by } => {
            let what = if matches!(first.path, Path::Allowed { .. }) {
                "allows the flow"
            } else {
                "waives the flow"
            };
            for r in by {
                diag = diag.with_label(label_at(r.span.clone(), what.into()));
            }
        }
        Path::Blocked { nearest, expired } => {
            for w in expired {
                diag = diag.with_label(label_at(w.span.clone(), "matches, but has expired".into()));
            }
            // The nearest rule's values that the flow misses, each under its key.
            for m in nearest.iter().flat_map(|n| &n.misses) {
                diag = diag.with_label(label_at(
                    m.span.clone(),
                    format!("nearest allow rule: not {}", m.has),
                ));
            }
        }
        Path::OutOfScope { misses } => {
            for m in misses {
                diag = diag.with_label(label_at(
                    m.span.clone(),
                    format!("keeps {} out of scope", m.has),
                ));
            }
        }
        Path::Rejected { .. } | Path::Undetermined { .. } => {}
    }
    for p in &wrong[1..] {
        diag = diag.with_note(format!(
            "and for {}: {}",
            p.ports(&x.flow),
            p.path.summary()
        ));
    }
    if let Some(reasons) = why_unreachable {
        let mut reasons = reasons;
        reasons.dedup();
        for r in reasons {
            diag = diag.with_note(r);
        }
    }
    Some(diag.with_note(format!("the flow: {} ({})", x.flow, e.fields.describe())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::PolicySet;
    use time::macros::date;

    const TODAY: time::Date = date!(2026 - 06 - 01);

    fn set(text: &str) -> PolicySet {
        PolicySet::from_sources([("policies/p.toml", text)]).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `code line:col` of every load error.
    fn load_errors(text: &str) -> Vec<String> {
        let err = PolicySet::from_sources([("p.toml", text)]).expect_err(text);
        err.0
            .iter()
            .map(|d| {
                let (_, l, c) = d.location(&err.1).unwrap();
                format!("{} {l}:{c}", d.code)
            })
            .collect()
    }

    /// Each expectation: `ok` or the failure's code and message.
    fn results(text: &str) -> Vec<String> {
        let s = set(text);
        check(&s.policies()[0], TODAY)
            .iter()
            .map(|c| match &c.failure {
                None => "ok".to_string(),
                Some(d) => format!("{}: {}", d.code, d.message),
            })
            .collect()
    }

    const POLICY: &str = r#"[scope]
peer = ["10.20.0.0/16", "2406:da14:8a3::/48"]

[[allow]]
name = "settlement API"
peer = ["10.20.30.0/24", "2406:da14:8a3::/64"]
protocol = "tcp"
peer_port = 443

[[waive]]
name = "legacy agent"
peer = "10.20.99.7"
reason = "retired with NET-1300"
expires = 2027-01-31
"#;

    fn with(expectations: &str) -> String {
        format!("{POLICY}\n{expectations}")
    }

    #[test]
    fn right_expectations_of_every_verdict_hold() {
        let text = with(
            r#"
[[expect]]
name = "settlement open"
flow = "tcp 10.0.2.15 -> 10.20.30.5:443"
verdict = "allowed"

[[expect]]
name = "its replies too"
flow = "tcp 10.20.30.5:443 -> 10.0.2.15"
verdict = "allowed"

[[expect]]
name = "over IPv6"
flow = "tcp [2001:db8::7]:50000 -> [2406:da14:8a3::10]:443"
verdict = "allowed"

[[expect]]
name = "ssh closed"
flow = "tcp 10.0.2.15 -> 10.20.30.5:22"
verdict = "blocked"

[[expect]]
name = "agent waived"
flow = "tcp 10.20.99.7:9100 -> 10.0.2.15:40000"
verdict = "waived"

[[expect]]
name = "other networks"
flow = "udp 10.0.2.15 -> 10.30.0.1:53"
verdict = "out of scope"

[[expect]]
name = "rejected already"
flow = "tcp 10.0.2.15 -> 10.20.30.5:22"
action = "REJECT"
verdict = "rejected"
"#,
        );
        assert_eq!(results(&text), ["ok"; 7]);
    }

    #[test]
    fn wrong_expectations_say_what_was_decided_and_why() {
        let text = with(
            r#"
[[expect]]
name = "ssh open"
flow = "tcp 10.0.2.15 -> 10.20.30.5:22"
verdict = "allowed"

[[expect]]
name = "settlement closed"
flow = "tcp 10.0.2.15 -> 10.20.30.5:443"
verdict = "blocked"

[[expect]]
name = "outside, allowed"
flow = "tcp 10.0.2.15 -> 10.30.0.1:443"
verdict = "allowed"

[[expect]]
name = "in scope"
flow = "tcp 10.0.2.15 -> 10.20.30.5:22"
verdict = "out of scope"

[[expect]]
name = "accepted, rejected"
flow = "tcp 10.0.2.15 -> 10.20.30.5:22"
verdict = "rejected"

[[expect]]
name = "rejected, blocked"
flow = "tcp 10.0.2.15 -> 10.20.30.5:22"
action = "REJECT"
verdict = "blocked"
"#,
        );
        assert_eq!(
            results(&text),
            [
                "expect-failed: expectation `ssh open` expects allowed; the policy decides blocked: no allow rule matches; nearest: `settlement API` (line 4) allows `peer_port` 443, not 22",
                "expect-failed: expectation `settlement closed` expects blocked; the policy decides allowed by allow rule `settlement API` (line 4)",
                "expect-unreachable: expectation `outside, allowed` expects allowed, which no record of this flow can reach; the policy decides out of scope: [scope] `peer` 10.20.0.0/16, 2406:da14:8a3::/48, not 10.0.2.15 or 10.30.0.1",
                "expect-failed: expectation `in scope` expects out of scope; the policy decides blocked: no allow rule matches; nearest: `settlement API` (line 4) allows `peer_port` 443, not 22",
                "expect-unreachable: expectation `accepted, rejected` expects rejected, which no record of this flow can reach; the policy decides blocked: no allow rule matches; nearest: `settlement API` (line 4) allows `peer_port` 443, not 22",
                "expect-unreachable: expectation `rejected, blocked` expects blocked, which no record of this flow can reach; the policy decides rejected: the flow's action is REJECT, and the scope judges ACCEPT records only",
            ]
        );
    }

    #[test]
    fn waivers_are_judged_on_today() {
        let text = with(
            "[[expect]]\nname = 'agent'\nflow = 'tcp 10.20.99.7:9100 -> 10.0.2.15:40000'\nverdict = 'waived'\n",
        );
        let s = set(&text);
        let p = &s.policies()[0];
        assert!(check(p, date!(2027 - 01 - 31))[0].holds());
        let late = check(p, date!(2027 - 02 - 01));
        let d = late[0].failure.as_ref().unwrap();
        assert_eq!(d.code, "expect-unreachable");
        assert!(
            d.message
                .contains("waiver `legacy agent` (line 10) matches, but expired on 2027-01-31"),
            "{}",
            d.message
        );
        assert!(
            d.notes
                .iter()
                .any(|n| n.contains("every waiver of the policy expired")),
            "{:?}",
            d.notes
        );
    }

    #[test]
    fn a_verdict_that_varies_with_the_ports_must_hold_for_every_port() {
        let text = "[scope]\ndst = '10.0.0.0/8'\n[[allow]]\nname = 'linux clients'\nsrc_port = '32768-60999'\ndst_port = 443\n\n[[expect]]\nname = 'https from any client'\nflow = 'tcp 192.0.2.1 -> 10.0.0.1:443'\nverdict = 'allowed'\n\n[[expect]]\nname = 'https from linux'\nflow = 'tcp 192.0.2.1:32768-60999 -> 10.0.0.1:443'\nverdict = 'allowed'\n";
        assert_eq!(
            results(text),
            [
                "expect-failed: expectation `https from any client` expects allowed; for source ports 1024-32767, 61000-65535, the policy decides blocked: no allow rule matches; nearest: `linux clients` (line 3) allows `src_port` 32768-60999, not 1024-32767, 61000-65535",
                "ok",
            ]
        );
    }

    #[test]
    fn a_field_the_verdict_depends_on_must_be_given() {
        let text = "[scope]\ndst = '10.0.0.0/8'\n[[allow]]\nname = 'ops'\ninterface = 'eni-1'\n\n[[expect]]\nname = 'no interface'\nflow = 'tcp 192.0.2.1 -> 10.0.0.1:22'\nverdict = 'blocked'\n\n[[expect]]\nname = 'other interface'\nflow = 'tcp 192.0.2.1 -> 10.0.0.1:22'\ninterface = 'eni-2'\nverdict = 'blocked'\n";
        assert_eq!(
            results(text),
            [
                "expect-undetermined: expectation `no interface` cannot be judged: its verdict depends on `interface`, which it does not give",
                "ok",
            ]
        );
    }

    #[test]
    fn rejected_says_which_action_to_give() {
        let notes = |scope: &str| {
            let text = format!("[scope]\ndst = '10.0.0.0/8'\n{scope}\n[[expect]]\nname = 'r'\nflow = 'tcp 192.0.2.1 -> 10.0.0.1:22'\naction = 'REJECT'\nverdict = 'rejected'\n");
            let s = set(&text);
            let checked = check(&s.policies()[0], TODAY);
            checked[0].failure.as_ref().map(|d| d.notes[0].clone())
        };
        assert_eq!(notes(""), None);
        assert_eq!(
            notes("action = ['ACCEPT', 'REJECT']").as_deref(),
            Some("the scope judges every action (ACCEPT and REJECT), so no record is ever `rejected`")
        );
        assert_eq!(
            notes("action = 'REJECT'").as_deref(),
            Some("`rejected` is for records whose action the scope does not judge (ACCEPT), and it judges this flow's: give the expectation `action = \"ACCEPT\"` to test that")
        );
    }

    #[test]
    fn unreachable_for_want_of_rules() {
        let text = "[scope]\ndst = '10.0.0.0/8'\n\n[[expect]]\nname = 'a'\nflow = 'tcp 192.0.2.1 -> 10.0.0.1:22'\nverdict = 'allowed'\n\n[[expect]]\nname = 'w'\nflow = 'tcp 192.0.2.1 -> 10.0.0.1:22'\nverdict = 'waived'\n";
        let s = set(text);
        let checked = check(&s.policies()[0], TODAY);
        let notes: Vec<&str> = checked
            .iter()
            .map(|c| c.failure.as_ref().unwrap().notes[0].as_str())
            .collect();
        assert_eq!(
            notes,
            [
                "the policy has no allow rule, so nothing is ever allowed",
                "the policy has no waiver, so nothing is ever waived"
            ]
        );
    }

    #[test]
    fn every_mistake_in_an_expectation_is_a_spanned_diagnostic() {
        assert_eq!(
            load_errors(
                "[scope]\npeer = '10.0.0.0/8'\n[[expect]]\nname = 'a'\nflow = 'tcp 10.0.0.1 -> 10.0.0.2:70000'\nverdict = 'closed'\ninterface = ['eni-1']\nvpc = 'vcp-1'\ndirection = 'inbound'\naction = 'deny'\naddresses = 'packet'\nsrc = '10.0.0.1'\n[[expect]]\n[[expect]]\nname = 'a'\nflow = 'tcp 10.0.0.1 -> 10.0.0.2:22'\nverdict = 'blocked'\n[[expect]]\nname = 'a'\nflow = 'tcp 10.0.0.1 -> 10.0.0.2:23'\nverdict = 'blocked'\n[expectations]\n"
            ),
            [
                "invalid-flow 5:34",
                "invalid-value 6:11",
                "wrong-type 7:13",
                "invalid-id 8:7",
                "invalid-value 9:13",
                "invalid-value 10:10",
                "expect-addresses-mismatch 11:13",
                "unknown-key 12:1",
                "expect-missing-key 13:1",
                "expect-missing-key 13:1",
                "expect-missing-key 13:1",
                "duplicate-expect-name 19:8",
                "unknown-key 22:2",
            ]
        );
        assert_eq!(
            load_errors(
                "[[expect]]\nname = 'a'\nflow = 'tcp 10.0.0.1 -> 10.0.0.2'\nverdict = 'blocked'\n"
            ),
            ["expect-without-rules 1:1"]
        );
        assert_eq!(load_errors("[expect]\nname = 'a'\n"), ["wrong-type 1:2"]);
        // A flow written with escapes: the caret covers the whole string.
        assert_eq!(
            load_errors("[[allow]]\n[[expect]]\nname = 'a'\nflow = \"tcp \\u0031.0.0.1 -> x\"\nverdict = 'blocked'\n"),
            ["invalid-flow 4:8"]
        );
    }

    #[test]
    fn expectations_load_with_their_fields() {
        let s = set("[scope]\naddresses = 'packet'\n\n[[expect]]\nname = 'nat'\ndescription = 'via the NAT gateway'\nflow = 'tcp 10.0.1.5 -> 52.1.1.1:443'\nverdict = 'blocked'\ninterface = 'eni-1'\nvpc = 'vpc-1'\nsubnet = 'subnet-1'\ninstance = 'i-1'\ndirection = 'egress'\naction = 'accept'\naddresses = 'packet'\n");
        let e = &s.policies()[0].expectations[0];
        assert_eq!(
            (e.name.as_str(), e.line, e.verdict),
            ("nat", 4, Outcome::Blocked)
        );
        assert_eq!(e.flow_text, "tcp 10.0.1.5 -> 52.1.1.1:443");
        assert_eq!(
            e.fields.describe(),
            "action ACCEPT, interface eni-1, vpc vpc-1, subnet subnet-1, instance i-1, direction egress"
        );
    }
}
