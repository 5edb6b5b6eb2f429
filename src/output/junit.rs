//! `--junit FILE`: the check as JUnit XML, so a CI system shows a red test per broken promise.
//!
//! Layout (see `docs/outputs.md`): one `<testsuite>` per policy, named after it; one
//! `<testcase>` per question the policy answers: `no traffic would be blocked`, `allow: <rule>`,
//! `waiver: <name>`, `expect: <name>` (each `[[expect]]`), `evidence: <demand>`, `archives read
//! cleanly`. Test names never hold counts or times, so CI tools that compare runs see the same
//! tests every time; the numbers go in `message`, in the element body (some consumers read only
//! one of them) and in `system-out`. Every test case carries `classname="flowgate.<policy>"` and `file=<policy
//! path>`.
//!
//! The `junit-report` crate stamps the current time, writes CDATA without guarding `]]>` and
//! writes control characters raw, so this writer fixes the timestamp (the report's `today` at
//! midnight UTC), sets every duration to zero, and cleans every string before the crate sees
//! it. Its attribute values are escaped by the crate (`&`, `<`, quotes); tests parse the output
//! back.

use std::collections::HashMap;

use junit_report::{
    Duration, OffsetDateTime, ReportBuilder, TestCase, TestCaseBuilder, TestResult, TestSuite,
    TestSuiteBuilder,
};

use super::{
    blocked_count, clean_line, clean_text, conversation_table, count, more_conversations,
    problem_line,
};
use crate::report::{DemandStatus, Effect, Finding, Origin, PolicyReport, Report, RunSummary};

/// Conversations listed in a failure body; the JSON report has all of them.
const MAX_CONVERSATIONS: usize = 100;

/// A single-line value for an attribute or a name: no control characters, no line breaks.
fn attr(s: &str) -> String {
    clean_line(s).into_owned()
}

/// Text for a CDATA section: control characters made visible, and `]]>` split across two
/// sections so that it cannot end the one it is in. A parser joins them back into the text.
fn body(s: &str) -> String {
    clean_text(s).replace("]]>", "]]]]><![CDATA[>")
}

/// The timestamp every suite carries: `today` at midnight UTC, so the same report gives the
/// same bytes (the crate would stamp the wall clock).
fn timestamp(today: &str) -> OffsetDateTime {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(today, &format)
        .map(|d| d.midnight().assume_utc())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Test cases of one policy, all sharing its classname and file.
struct Cases {
    classname: String,
    file: String,
    cases: Vec<TestCase>,
    /// Names used so far, to keep names unique when two rules share a name.
    seen: HashMap<String, usize>,
}

impl Cases {
    fn new(policy: &PolicyReport) -> Self {
        Cases::named(&policy.name, &policy.path)
    }

    /// Cases with classname `flowgate.<suite>` in `file`.
    fn named(suite: &str, file: &str) -> Self {
        Cases {
            classname: attr(&format!("flowgate.{suite}")),
            file: attr(file),
            cases: Vec::new(),
            seen: HashMap::new(),
        }
    }

    /// A unique test name: a repeated name gets ` (2)`, ` (3)`... in the order of the file.
    fn name(&mut self, name: &str) -> String {
        let name = attr(name);
        let n = self.seen.entry(name.clone()).or_insert(0);
        *n += 1;
        if *n == 1 {
            name
        } else {
            format!("{name} ({n})")
        }
    }

    fn push(&mut self, mut builder: TestCaseBuilder, out: Option<&str>) {
        builder.set_classname(&self.classname);
        if !self.file.is_empty() {
            builder.set_filepath(&self.file);
        }
        if let Some(out) = out {
            builder.set_system_out(&body(out));
        }
        self.cases.push(builder.build());
    }

    fn success(&mut self, name: &str, out: Option<&str>) {
        let name = self.name(name);
        self.push(TestCaseBuilder::success(&name, Duration::ZERO), out);
    }

    /// A failure with the same text as `message` and as the body; `detail` follows in the body.
    fn failure(&mut self, name: &str, kind: &str, message: &str, detail: &str) {
        let name = self.name(name);
        let mut b = TestCaseBuilder::failure(&name, Duration::ZERO, kind, &attr(message));
        b.set_trace(&body(&join(message, detail)));
        self.push(b, None);
    }

    fn error(&mut self, name: &str, kind: &str, message: &str, detail: &str) {
        let name = self.name(name);
        let mut b = TestCaseBuilder::error(&name, Duration::ZERO, kind, &attr(message));
        b.set_trace(&body(&join(message, detail)));
        self.push(b, None);
    }

    fn skipped(&mut self, name: &str, message: &str) {
        let name = self.name(name);
        let mut b = TestCaseBuilder::skipped(&name);
        // The builder cannot give a skipped case a body; GitLab shows only the body.
        b.testcase.result = TestResult::SkippedWithCause {
            type_: "skipped".into(),
            message: attr(message),
            cause: Some(body(message)),
        };
        self.push(b, None);
    }
}

fn join(message: &str, detail: &str) -> String {
    if detail.is_empty() {
        message.to_string()
    } else {
        format!("{message}\n\n{detail}")
    }
}

fn traffic_case(cases: &mut Cases, p: &PolicyReport) {
    const NAME: &str = "no traffic would be blocked";
    if p.conversations_total() == 0 && p.counts.would_block == 0 {
        let out = format!(
            "{} in scope: {} allowed, {} already rejected, {} waived",
            count(p.counts.in_scope, "record", "records"),
            p.counts.allowed,
            p.counts.already_rejected,
            p.counts.waived
        );
        cases.success(NAME, Some(&out));
        return;
    }
    let mut message = format!("{} would be blocked", blocked_count(p));
    let expired = p.expired_waiver_conversations();
    if expired > 0 {
        message.push_str(&format!(
            "; {expired} of them only because a waiver expired"
        ));
    }
    let table = conversation_table(
        &p.conversations,
        p.conversations_total(),
        p.conversations_qualifier(),
        MAX_CONVERSATIONS,
        more_conversations(p, "see the JSON report for all"),
    )
    .join("\n");
    cases.failure(NAME, "would-block", &message, &table);
}

fn allow_cases(cases: &mut Cases, p: &PolicyReport) {
    for a in &p.allows {
        let name = format!("allow: {}", a.name);
        if a.hits == 0 {
            cases.skipped(&name, &format!("matched no traffic (line {})", a.line));
        } else {
            let out = format!("matched {}", count(a.hits, "record", "records"));
            cases.success(&name, Some(&out));
        }
    }
}

fn waiver_cases(cases: &mut Cases, p: &PolicyReport) {
    for w in &p.waivers {
        let name = format!("waiver: {}", w.name);
        if w.hits == 0 {
            cases.skipped(
                &name,
                &format!(
                    "matched no traffic (line {}, expires {})",
                    w.line, w.expires
                ),
            );
        } else if w.expired {
            let message = format!(
                "expired on {} and still matches {}, which now would be blocked",
                w.expires,
                count(w.hits, "record", "records")
            );
            let detail = format!("line {}; reason: {}", w.line, w.reason);
            cases.failure(&name, "waiver-expired", &message, &detail);
        } else {
            let out = format!(
                "excused {} until {}: {}",
                count(w.hits, "record", "records"),
                w.expires,
                w.reason
            );
            cases.success(&name, Some(&out));
        }
    }
}

/// One case per `[[expect]]`, `expect: <name>`, in file order: it passes when the
/// expectation holds, and fails with the finding that says what the policy decided instead.
fn expectation_cases(cases: &mut Cases, p: &PolicyReport, report: &Report) {
    for e in &p.expectations {
        let name = format!("expect: {}", e.name);
        if e.holds {
            let out = format!(
                "{}, as expected: {}\nflow: {}",
                e.verdict, e.decided, e.flow
            );
            cases.success(&name, Some(&out));
            continue;
        }
        let finding = report
            .findings_of(&p.name)
            .find(|f| f.origin == Origin::Expect && f.subject.as_deref() == Some(e.name.as_str()));
        match finding {
            Some(f) => cases.failure(&name, &f.code, &f.message, &clean_text(&f.rendered)),
            None => {
                let message = format!("expects {}; the policy decides {}", e.verdict, e.decided);
                cases.failure(
                    &name,
                    "expect-failed",
                    &message,
                    &format!("line {}", e.line),
                );
            }
        }
    }
}

fn demand_cases(cases: &mut Cases, p: &PolicyReport) {
    for d in &p.demands {
        let name = format!("evidence: {}", d.kind.as_str());
        match d.status {
            DemandStatus::Fail => cases.failure(&name, "evidence", &d.message, ""),
            DemandStatus::Pass => cases.success(&name, Some(&d.message)),
            DemandStatus::Warn => cases.success(&name, Some(&format!("warning: {}", d.message))),
            DemandStatus::Skipped => cases.skipped(&name, &d.message),
        }
    }
}

fn archives_case(cases: &mut Cases, p: &PolicyReport, run: &RunSummary) {
    const NAME: &str = "archives read cleanly";
    let mut reasons = Vec::new();
    let mut detail = Vec::new();
    if run.problems_total > 0 {
        reasons.push(format!(
            "{} reading the evidence",
            count(run.problems_total, "problem", "problems")
        ));
        detail.extend(run.problems.iter().map(problem_line));
        let hidden = run.problems_total.saturating_sub(run.problems.len() as u64);
        if hidden > 0 {
            detail.push(format!(
                "and {}",
                count(hidden, "more problem", "more problems")
            ));
        }
    }
    if !p.field_errors.is_empty() {
        reasons.push(format!(
            "{} this policy could not be judged against",
            count(p.field_errors.len() as u64, "archive", "archives")
        ));
        detail.extend(p.field_errors.iter().map(|e| attr(e)));
    }
    if reasons.is_empty() {
        let out = format!(
            "{} read, {}",
            count(run.archives_read, "archive", "archives"),
            count(run.records, "record", "records")
        );
        cases.success(NAME, Some(&out));
    } else {
        cases.error(NAME, "untrusted", &reasons.join("; "), &detail.join("\n"));
    }
}

/// One case per finding about the policy, named `lint: <code>`: an error fails (type = the
/// code), a warning or note passes with the text in `system-out`.
fn finding_cases<'a>(cases: &mut Cases, findings: impl Iterator<Item = &'a Finding>) {
    for f in findings {
        let name = f.title();
        let detail = clean_text(&f.rendered).into_owned();
        match (f.effect(), f.severity) {
            (Effect::Untrusted, _) => cases.error(&name, &f.code, &f.message, &detail),
            (Effect::Fails, _) => cases.failure(&name, &f.code, &f.message, &detail),
            (Effect::Informs, _) => cases.success(&name, Some(&f.rendered)),
        }
    }
}

/// The suite `flowgate`, present only when something went wrong outside any one policy: one
/// errored case per policy file that did not load (`policy file: <path>`), per `--logs` path
/// or archive that could not be read (`logs: <path>`, `archive: <path>`), per other finding.
fn run_suite(report: &Report) -> Option<TestSuite> {
    let unowned: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.policy.is_none())
        .collect();
    if unowned.is_empty() && report.run.problems.is_empty() {
        return None;
    }
    let mut cases = Cases::named("run", "");
    // Findings of one file become one case: the file is what is broken.
    let mut by_subject: Vec<(String, Vec<&Finding>)> = Vec::new();
    for f in unowned {
        let subject = match &f.path {
            Some(path) => format!("{}: {path}", f.origin.label()),
            None => f.title(),
        };
        match by_subject.iter_mut().find(|(s, _)| *s == subject) {
            Some((_, list)) => list.push(f),
            None => by_subject.push((subject, vec![f])),
        }
    }
    for (subject, findings) in by_subject {
        cases.file = attr(findings[0].path.as_deref().unwrap_or(""));
        let errors: Vec<&&Finding> = findings
            .iter()
            .filter(|f| f.effect() == Effect::Untrusted)
            .collect();
        let detail: String = findings.iter().map(|f| clean_text(&f.rendered)).collect();
        match errors.first() {
            Some(first) => {
                let message = if errors.len() == 1 {
                    first.message.clone()
                } else {
                    format!("{} errors; the first: {}", errors.len(), first.message)
                };
                cases.error(&subject, &first.code, &message, &detail);
            }
            None => cases.success(&subject, Some(&detail)),
        }
    }
    // Archives with problems, each once, in the report's (archive, line) order.
    let mut archives: Vec<(&str, Vec<String>)> = Vec::new();
    for p in &report.run.problems {
        match archives.last_mut() {
            Some((a, lines)) if *a == p.archive => lines.push(problem_line(p)),
            _ => archives.push((&p.archive, vec![problem_line(p)])),
        }
    }
    for (archive, lines) in archives {
        cases.file = attr(archive);
        let message = format!(
            "{} reading this archive",
            count(lines.len() as u64, "problem", "problems")
        );
        cases.error(
            &format!("archive: {archive}"),
            "untrusted",
            &message,
            &lines.join("\n"),
        );
    }
    Some(
        TestSuiteBuilder::new("flowgate")
            .set_timestamp(timestamp(&report.today))
            .add_testcases(cases.cases)
            .set_system_out(&body(&super::verdict(report)))
            .build(),
    )
}

fn suite(p: &PolicyReport, report: &Report) -> TestSuite {
    let mut cases = Cases::new(p);
    traffic_case(&mut cases, p);
    allow_cases(&mut cases, p);
    waiver_cases(&mut cases, p);
    expectation_cases(&mut cases, p, report);
    demand_cases(&mut cases, p);
    finding_cases(
        &mut cases,
        report
            .findings_of(&p.name)
            .filter(|f| f.origin != Origin::Expect),
    );
    archives_case(&mut cases, p, &report.run);

    let mut about = vec![format!("{} {}", p.status.as_str(), p.name)];
    about.extend(p.description.iter().cloned());
    about.extend(p.owner.iter().map(|o| format!("owner: {o}")));
    about.extend(p.ticket.iter().map(|t| format!("ticket: {t}")));
    about.push(format!("evidence: {}", report.run.coverage.describe()));

    TestSuiteBuilder::new(&attr(&p.name))
        .set_timestamp(timestamp(&report.today))
        .add_testcases(cases.cases)
        .set_system_out(&body(&about.join("\n")))
        .build()
}

/// The report as a JUnit XML document, ending in a newline. Identical reports give identical
/// bytes.
pub fn render(report: &Report) -> String {
    let junit = ReportBuilder::new()
        .add_testsuites(report.policies.iter().map(|p| suite(p, report)))
        .add_testsuites(run_suite(report))
        .build();
    let mut out = Vec::new();
    // Writing to a Vec cannot fail, and every string was cleaned to valid XML text.
    junit.write_xml(&mut out).expect("JUnit XML is written");
    let mut text = String::from_utf8(out).expect("JUnit XML is UTF-8");
    if let Some(p) = &report.provenance {
        text = with_properties(
            &text,
            &[
                ("sample", p.sample_note()),
                ("sample_records", p.sample_records.to_string()),
                ("input_records", p.input_records.to_string()),
            ],
        );
    }
    text.push('\n');
    text
}

/// An attribute value: `&`, `<`, `>` and quotes as entities.
fn escape_attr(s: &str) -> String {
    attr(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// `xml` with `<properties>` as the first child of every `<testsuite>`, where the JUnit
/// schema puts them (the crate writes none). A suite's opening tag ends at the first `>`
/// outside a quoted attribute value.
fn with_properties(xml: &str, properties: &[(&str, String)]) -> String {
    let mut block = String::from("<properties>");
    for (name, value) in properties {
        block.push_str(&format!(
            "<property name=\"{}\" value=\"{}\"/>",
            escape_attr(name),
            escape_attr(value)
        ));
    }
    block.push_str("</properties>");
    let mut out = String::with_capacity(xml.len() + 256);
    let mut rest = xml;
    while let Some(at) = rest.find("<testsuite ") {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let mut quoted = false;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                if c == '"' {
                    quoted = !quoted;
                }
                c == '>' && !quoted
            })
            .map_or(rest.len(), |(i, _)| i + 1);
        out.push_str(&rest[..end]);
        // A self-closing suite (no test cases) keeps its form; flowgate writes none.
        if !rest[..end].ends_with("/>") {
            out.push_str(&block);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::sample;

    /// The parsed document as indented lines: what every consumer reads, reviewable by eye.
    fn tree(xml: &str) -> String {
        fn walk(node: roxmltree::Node, depth: usize, out: &mut String) {
            let pad = "  ".repeat(depth);
            if node.is_element() {
                out.push_str(&format!("{pad}<{}", node.tag_name().name()));
                for a in node.attributes() {
                    out.push_str(&format!(" {}={:?}", a.name(), a.value()));
                }
                out.push_str(">\n");
                for child in node.children() {
                    walk(child, depth + 1, out);
                }
            } else if let Some(text) = node.text() {
                for line in text.lines() {
                    out.push_str(&format!("{pad}| {line}\n"));
                }
            }
        }
        let doc = roxmltree::Document::parse(xml).expect("valid XML");
        let mut out = String::new();
        walk(doc.root_element(), 0, &mut out);
        out
    }

    fn parse(xml: &str) -> roxmltree::Document<'_> {
        roxmltree::Document::parse(xml).expect("valid XML")
    }

    fn suites<'a>(doc: &'a roxmltree::Document<'a>) -> Vec<roxmltree::Node<'a, 'a>> {
        doc.root_element()
            .children()
            .filter(|n| n.has_tag_name("testsuite"))
            .collect()
    }

    fn case_names(suite: roxmltree::Node) -> Vec<String> {
        suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .map(|n| n.attribute("name").unwrap().to_string())
            .collect()
    }

    #[test]
    fn one_suite_per_policy_one_case_per_question() {
        let xml = render(&sample::report());
        let doc = parse(&xml);
        let suites = suites(&doc);
        assert_eq!(suites.len(), 3);
        assert_eq!(suites[0].attribute("name"), Some("partner-vpn"));
        assert_eq!(suites[1].attribute("name"), Some("retail-dedicated-line"));
        // The run's own suite: an errored case per archive with problems.
        assert_eq!(suites[2].attribute("name"), Some("flowgate"));
        assert_eq!(suites[2].attribute("errors"), Some("1"));
        assert_eq!(
            case_names(suites[1]),
            [
                "no traffic would be blocked",
                "allow: settlement API",
                "allow: old batch window",
                "waiver: legacy monitoring agent",
                "waiver: dr drill",
                "evidence: traffic",
                "evidence: window",
                "evidence: gaps",
                "evidence: skipdata",
                "evidence: unused-allow",
                "lint: rule-shadowed",
                "archives read cleanly",
            ]
        );
        // would-block, expired waiver, window demand
        assert_eq!(suites[1].attribute("failures"), Some("3"));
        assert_eq!(suites[1].attribute("errors"), Some("1"));
        assert_eq!(suites[0].attribute("failures"), Some("0"));
        assert_eq!(
            suites[0].attribute("timestamp"),
            Some("2026-03-15T00:00:00Z")
        );

        let blocked = suites[1].first_element_child().unwrap();
        assert_eq!(
            blocked.attribute("classname"),
            Some("flowgate.retail-dedicated-line")
        );
        assert_eq!(
            blocked.attribute("file"),
            Some("policies/retail-dedicated-line.toml")
        );
        let failure = blocked.first_element_child().unwrap();
        assert_eq!(failure.tag_name().name(), "failure");
        let message = failure.attribute("message").unwrap();
        assert_eq!(
            message,
            "25 conversations (700 records) would be blocked; \
             1 of them only because a waiver expired"
        );
        let text = failure.text().unwrap();
        assert!(text.starts_with(message));
        assert!(text.contains("[2a02:cf40:1:2::7]:443"));
    }

    #[test]
    fn names_hold_no_counts() {
        let xml = render(&sample::report());
        let doc = parse(&xml);
        // Archive paths name archives (and hold their dates): identifiers, not counts.
        for tc in doc.descendants().filter(|n| n.has_tag_name("testcase")) {
            let name = tc.attribute("name").unwrap();
            if name.starts_with("archive: ") {
                continue;
            }
            assert!(!name.chars().any(|c| c.is_ascii_digit()), "{name}");
        }
    }

    #[test]
    fn same_report_same_bytes() {
        assert_eq!(render(&sample::report()), render(&sample::report()));
        assert!(render(&sample::report()).contains(r#"time="0""#));
    }

    #[test]
    fn hostile_values_cannot_break_the_xml() {
        let report = sample::hostile_report();
        let xml = render(&report);
        assert!(!xml.contains('\x1b') && !xml.contains('\0'));
        let doc = parse(&xml);
        let suites = suites(&doc);
        assert_eq!(suites.len(), 3);
        let name = suites[0].attribute("name").unwrap();
        assert!(name.starts_with("evil\\x1b[31m\\x00]]>&<script>"), "{name}");
        assert!(name.contains("\\n::error::pwned%0A\\r::stop-commands::x"));
        assert_eq!(case_names(suites[1]).len(), 12);
        let failures: usize = suites
            .iter()
            .map(|s| s.attribute("failures").unwrap().parse::<usize>().unwrap())
            .sum();
        assert_eq!(failures, 3);
        // `]]>` in a CDATA body comes back whole.
        let archives = suites[0]
            .children()
            .find(|n| n.attribute("name") == Some("archives read cleanly"))
            .and_then(|n| n.first_element_child())
            .unwrap();
        assert_eq!(archives.tag_name().name(), "error");
        assert!(archives.text().unwrap().contains("]]>&<script>"));
        // No element came from data.
        assert!(doc.descendants().all(|n| n.tag_name().name() != "script"));
    }

    #[test]
    fn repeated_rule_names_stay_unique() {
        let mut report = sample::report();
        report.policies[1].allows[1].name = "settlement API".into();
        let xml = render(&report);
        let doc = parse(&xml);
        let names = case_names(suites(&doc)[1]);
        assert!(names.contains(&"allow: settlement API (2)".to_string()));
    }

    #[test]
    fn clean_policies_pass_every_case() {
        let mut report = sample::trusted_report();
        report.policies.remove(1);
        let xml = render(&report);
        let doc = parse(&xml);
        let s = suites(&doc)[0];
        assert_eq!(s.attribute("failures"), Some("0"));
        assert_eq!(s.attribute("errors"), Some("0"));
    }

    #[test]
    fn lint_errors_are_failed_cases_of_their_policy() {
        let mut report = sample::trusted_report();
        report.findings = vec![sample::lint_error()];
        let xml = render(&report);
        let doc = parse(&xml);
        let suite = suites(&doc)[0];
        let case = suite
            .children()
            .find(|n| n.attribute("name") == Some("lint: allow-covers-scope"))
            .unwrap();
        let failure = case.first_element_child().unwrap();
        assert_eq!(failure.tag_name().name(), "failure");
        assert_eq!(failure.attribute("type"), Some("allow-covers-scope"));
        assert_eq!(
            failure.attribute("message"),
            Some("allow `sftp to exchange` matches everything in the scope")
        );
    }

    #[test]
    fn an_unscanned_run_has_an_errored_case_per_broken_file() {
        use crate::report::{finding::Severity, Finding, Origin};
        let broken = |path: &str, line| {
            let mut f = Finding::plain(
                Origin::PolicyFile,
                Severity::Error,
                "toml-syntax",
                "invalid TOML".into(),
            );
            f.path = Some(path.into());
            f.line = Some(line);
            f
        };
        let mut missing = Finding::plain(
            Origin::Logs,
            Severity::Error,
            "logs-unreadable",
            "nope: cannot read".into(),
        );
        missing.path = Some("nope".into());
        let findings = vec![
            broken("policies/a.toml", 1),
            broken("policies/a.toml", 4),
            broken("policies/b.toml", 2),
            missing,
        ];
        let report = crate::report::build::unscanned(
            findings,
            time::macros::date!(2026 - 11 - 26),
            None,
            None,
        );
        let xml = render(&report);
        let doc = parse(&xml);
        let suites = suites(&doc);
        assert_eq!(suites.len(), 1);
        assert_eq!(
            case_names(suites[0]),
            [
                "policy file: policies/a.toml",
                "policy file: policies/b.toml",
                "logs: nope"
            ]
        );
        assert_eq!(suites[0].attribute("errors"), Some("3"));
        let a = suites[0].first_element_child().unwrap();
        assert_eq!(a.attribute("file"), Some("policies/a.toml"));
        let error = a.first_element_child().unwrap();
        assert_eq!(
            error.attribute("message"),
            Some("2 errors; the first: invalid TOML")
        );
    }

    #[test]
    fn a_sample_is_named_in_every_suites_properties() {
        let mut report = sample::report();
        report.policies[0].name = "a>b \"c\"".into();
        report.provenance = Some(sample::provenance());
        let xml = render(&report);
        let doc = parse(&xml);
        for s in suites(&doc) {
            let props = s.first_element_child().unwrap();
            assert_eq!(props.tag_name().name(), "properties", "{xml}");
            let sample = props.first_element_child().unwrap();
            assert_eq!(sample.attribute("name"), Some("sample"));
            assert_eq!(
                sample.attribute("value"),
                Some("counts are from a sample: 683,821 of 2,244,310 records")
            );
        }
    }

    /// The run's bound kept a sample of the failing policy's conversations: the report says
    /// so, counts every record and estimates the conversations.
    #[test]
    fn a_sampled_listing_says_so() {
        let text = render(&sample::sampled_report());
        assert!(text.contains(crate::output::SAMPLED), "{text}");
        insta::assert_snapshot!(tree(&text));
    }

    #[test]
    fn snapshot() {
        insta::assert_snapshot!(tree(&render(&sample::report())));
    }

    #[test]
    fn one_case_per_expectation_named_after_it() {
        let xml = render(&sample::report_with_expectations());
        let doc = parse(&xml);
        let suite = suites(&doc)[1];
        let names = case_names(suite);
        let expects: Vec<&String> = names.iter().filter(|n| n.starts_with("expect: ")).collect();
        assert_eq!(
            expects,
            [
                "expect: ssh to the partner is closed",
                "expect: 443 is open to the settlement subnet only"
            ]
        );
        // The finding is not a second case: one case per expectation.
        assert_eq!(names.iter().filter(|n| n.contains("expect")).count(), 2);
        let case = |name: &str| {
            suite
                .children()
                .find(|n| n.attribute("name") == Some(name))
                .unwrap()
        };
        let held = case("expect: ssh to the partner is closed");
        assert_eq!(
            held.first_element_child().unwrap().tag_name().name(),
            "system-out"
        );
        let failed = case("expect: 443 is open to the settlement subnet only")
            .first_element_child()
            .unwrap();
        assert_eq!(failed.tag_name().name(), "failure");
        assert_eq!(failed.attribute("type"), Some("expect-failed"));
        assert!(failed
            .text()
            .unwrap()
            .contains("policies/retail-dedicated-line.toml:39:1"));
        insta::assert_snapshot!(tree(&xml));
    }

    #[test]
    fn hostile_expectations_stay_data() {
        let xml = render(&sample::hostile_expectations_report());
        assert!(!xml.contains('\x1b') && !xml.contains('\0'));
        let doc = parse(&xml);
        let names = case_names(suites(&doc)[1]);
        assert_eq!(
            names
                .iter()
                .filter(|n| n.starts_with("expect: evil"))
                .count(),
            2
        );
        assert!(doc.descendants().all(|n| n.tag_name().name() != "script"));
    }

    /// `--max-conversations` cut the listing: the counts are of every conversation, the
    /// expired waiver's among them though it is not listed.
    #[test]
    fn a_cut_listing_keeps_the_exact_counts() {
        let mut report = sample::report();
        // The third conversation, the one an expired waiver would have covered, is cut.
        report.list_conversations(2);
        let xml = render(&report);
        assert!(
            xml.contains(
                "25 conversations (700 records) would be blocked; \
                 1 of them only because a waiver expired"
            ),
            "{xml}"
        );
        assert!(
            xml.contains("... and 23 more conversations (--max-conversations cut the listing"),
            "{xml}"
        );
    }
}
