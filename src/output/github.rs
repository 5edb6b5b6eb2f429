//! `--format github`: GitHub Actions workflow commands that annotate the policy files.
//!
//! One `::error` per failing or unjudgeable policy (at its `[scope]` line), per expired waiver
//! that still matches traffic (at the waiver's line) and one for a run whose evidence could not
//! be read; one `::warning` per unused allow rule or waiver (at its line) and per evidence
//! demand that warned. GitHub shows at most 10 of each per step, so they come most important
//! first and, when there are more, the tenth says how many were left out. The output ends with
//! one plain verdict line; the CLI decides what else to print.
//!
//! A workflow command only starts at the beginning of a line, so what keeps data from
//! injecting one is escaping: `%`, CR and LF in messages, and also `:` and `,` in properties.
//! Data is cleaned of control characters first.

use std::fmt::Write;

use super::{blocked_count, clean_line, clean_text, count, problem_line, verdict};
use crate::report::finding::Severity;
use crate::report::{
    DemandKind, DemandStatus, Effect, Finding, Origin, PolicyReport, Report, Status,
};

/// Annotations of one level GitHub shows per step.
const MAX_PER_LEVEL: usize = 10;
/// Conversations named in a failing policy's message.
const TOP_CONVERSATIONS: usize = 3;
/// Problems (or field errors) named in one message.
const TOP_PROBLEMS: usize = 5;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Error,
    Warning,
}

impl Level {
    fn command(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Level::Error => "errors",
            Level::Warning => "warnings",
        }
    }
}

struct Annotation {
    file: Option<String>,
    line: Option<u64>,
    col: Option<u64>,
    title: String,
    message: String,
}

impl Annotation {
    /// An annotation at a policy file's line (no column).
    fn at(file: &str, line: impl Into<u64>, title: String, message: String) -> Annotation {
        Annotation {
            file: Some(file.to_string()),
            line: Some(line.into()),
            col: None,
            title,
            message,
        }
    }

    /// A finding at its file, line and column: the message, then its notes.
    fn finding(f: &Finding) -> Annotation {
        let mut title = format!("flowgate: {}", f.title());
        if let Some(p) = &f.policy {
            title = format!("flowgate: {p} {}", f.title());
        }
        // A file at the base revision is not the file GitHub shows: its line numbers would
        // point into the working tree's version. The message names the revision. A `--logs`
        // path that could not be read is no file GitHub can show either (missing, outside
        // the checkout): the message names it.
        let file = f
            .path
            .clone()
            .filter(|_| f.origin != Origin::Base && f.origin != Origin::Logs);
        Annotation {
            line: file.as_ref().and(f.line.map(u64::from)),
            col: file.as_ref().and(f.column.map(u64::from)),
            file,
            title,
            message: f.full_message(),
        }
    }
}

/// Escapes a message: `%`, CR, LF. Control characters other than LF are first made visible.
fn escape_data(s: &str) -> String {
    clean_text(s)
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value (`file`, `title`): as data, and also `:` and `,`.
fn escape_property(s: &str) -> String {
    escape_data(&clean_line(s))
        .replace(':', "%3A")
        .replace(',', "%2C")
}

/// Whether GitHub can place an annotation in `file`: a path inside the checkout, relative
/// to it. An absolute path, one that climbs out (`..`) or an `s3://` URL is not.
fn placeable(file: &str) -> bool {
    let path = std::path::Path::new(file);
    !file.contains("://")
        && path.is_relative()
        && path.components().all(|c| {
            matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        })
}

fn write_annotation(out: &mut String, level: Level, a: &Annotation) {
    let mut props = Vec::new();
    if let Some(file) = a.file.as_deref().filter(|f| placeable(f)) {
        props.push(format!("file={}", escape_property(file)));
        if let Some(line) = a.line {
            props.push(format!("line={line}"));
            if let Some(col) = a.col {
                props.push(format!("col={col}"));
            }
        }
    }
    props.push(format!("title={}", escape_property(&a.title)));
    let _ = writeln!(
        out,
        "::{} {}::{}",
        level.command(),
        props.join(","),
        escape_data(&a.message)
    );
}

/// Writes at most [`MAX_PER_LEVEL`] annotations; when there are more, the last one written
/// says how many were left out.
fn write_level(out: &mut String, level: Level, annotations: &[Annotation]) {
    if annotations.len() <= MAX_PER_LEVEL {
        for a in annotations {
            write_annotation(out, level, a);
        }
        return;
    }
    let shown = MAX_PER_LEVEL - 1;
    for a in &annotations[..shown] {
        write_annotation(out, level, a);
    }
    let hidden = annotations.len() - shown;
    let titles: Vec<&str> = annotations[shown..]
        .iter()
        .map(|a| a.title.as_str())
        .collect();
    let more = Annotation {
        file: None,
        line: None,
        col: None,
        title: format!("flowgate: {hidden} more {}", level.plural()),
        message: format!(
            "GitHub shows {MAX_PER_LEVEL} {} per step; {hidden} more are in the flowgate report in the log:\n{}",
            level.plural(),
            titles.join("\n")
        ),
    };
    write_annotation(out, level, &more);
}

/// `3 conversations (41 records) would be blocked:` and the top ones, one per line.
fn blocked_message(p: &PolicyReport) -> String {
    let mut m = format!("{} would be blocked:", blocked_count(p));
    for c in p.conversations.iter().take(TOP_CONVERSATIONS) {
        let _ = write!(
            m,
            "\n{} ({})",
            c.describe(),
            count(c.records, "record", "records")
        );
        if let Some(w) = &c.expired_waiver {
            let _ = write!(m, ", waiver \"{}\" expired", clean_line(w));
        }
    }
    let hidden = p
        .conversations_total()
        .saturating_sub(p.conversations.len().min(TOP_CONVERSATIONS) as u64);
    if hidden > 0 {
        let shown = p.conversations.len().min(TOP_CONVERSATIONS);
        let words = super::more_words(p.conversations_qualifier(), hidden, shown);
        let _ = write!(m, "\n{words}");
    }
    if p.conversations_sampled.is_some() {
        let _ = write!(m, "\n({})", super::more_conversations(p, ""));
    }
    m
}

fn failed_demands(p: &PolicyReport) -> impl Iterator<Item = String> + '_ {
    p.demands
        .iter()
        .filter(|d| d.status == DemandStatus::Fail)
        .map(|d| format!("evidence {}: {}", d.kind.as_str(), clean_line(&d.message)))
}

/// Whether the policy wants to hear about rules of `kind` that matched nothing: unless its
/// demand says `ignore` (the default is to warn).
fn reports_unused(p: &PolicyReport, kind: DemandKind) -> bool {
    !p.demands
        .iter()
        .any(|d| d.kind == kind && d.status == DemandStatus::Skipped)
}

fn errors(report: &Report) -> Vec<Annotation> {
    // Why the run cannot be trusted comes first: a policy file that did not load, evidence
    // that is not there. Each at its own file, line and column.
    let mut errors: Vec<Annotation> = report
        .untrusting_findings()
        .map(Annotation::finding)
        .collect();
    let run = &report.run;
    if run.problems_total > 0 {
        let first = run.problems.first();
        let mut message = format!(
            "{} reading the evidence, so the check cannot be trusted (exit 2):",
            count(run.problems_total, "problem", "problems")
        );
        for p in run.problems.iter().take(TOP_PROBLEMS) {
            let _ = write!(message, "\n{}", problem_line(p));
        }
        let shown = run.problems.len().min(TOP_PROBLEMS) as u64;
        if run.problems_total > shown {
            let _ = write!(
                message,
                "\nand {}",
                count(run.problems_total - shown, "more problem", "more problems")
            );
        }
        errors.push(Annotation {
            file: first.map(|p| p.archive.clone()),
            // A row of Parquet or an event of JSON is no line GitHub could point at.
            line: first.filter(|p| p.unit.is_line()).and_then(|p| p.line),
            col: None,
            title: "flowgate: the evidence could not be read completely".into(),
            message,
        });
    }
    for p in report.policies.iter().filter(|p| p.status == Status::Error) {
        let mut lines = vec![format!(
            "policy {} could not be judged against every archive:",
            clean_line(&p.name)
        )];
        lines.extend(
            p.field_errors
                .iter()
                .take(TOP_PROBLEMS)
                .map(|e| clean_line(e).into_owned()),
        );
        let hidden = p.field_errors.len().saturating_sub(TOP_PROBLEMS);
        if hidden > 0 {
            lines.push(format!("and {hidden} more"));
        }
        if !p.conversations.is_empty() {
            lines.push(blocked_message(p));
        }
        errors.push(Annotation::at(
            &p.path,
            p.line,
            format!("flowgate: {} could not be judged", p.name),
            lines.join("\n"),
        ));
    }
    for p in report.policies.iter().filter(|p| p.status == Status::Fail) {
        let mut lines = Vec::new();
        if !p.conversations.is_empty() {
            lines.push(blocked_message(p));
        }
        lines.extend(failed_demands(p));
        lines.extend(
            report
                .findings_of(&p.name)
                .filter(|f| f.effect() == Effect::Fails)
                .map(|f| {
                    format!(
                        "{} (line {}): {}",
                        f.title(),
                        f.line.unwrap_or(0),
                        clean_line(&f.message)
                    )
                }),
        );
        errors.push(Annotation::at(
            &p.path,
            p.line,
            format!("flowgate: {} FAIL", p.name),
            lines.join("\n"),
        ));
    }
    // Each lint error also at the rule it is about.
    errors.extend(
        report
            .findings
            .iter()
            .filter(|f| f.effect() == Effect::Fails)
            .map(Annotation::finding),
    );
    for p in &report.policies {
        for w in p.waivers.iter().filter(|w| w.expired && w.hits > 0) {
            errors.push(Annotation::at(
                &p.path,
                w.line,
                format!("flowgate: waiver {} expired", w.name),
                format!(
                    "waiver \"{}\" of policy {} expired on {} and still matches {}, which now would be blocked",
                    clean_line(&w.name),
                    clean_line(&p.name),
                    w.expires,
                    count(w.hits, "record", "records")
                ),
            ));
        }
    }
    errors
}

fn warnings(report: &Report) -> Vec<Annotation> {
    let mut warnings = Vec::new();
    for p in &report.policies {
        // Unused rules are reported at their own lines below, not as a demand.
        let demands = p.demands.iter().filter(|d| {
            d.status == DemandStatus::Warn
                && !matches!(d.kind, DemandKind::UnusedAllow | DemandKind::UnusedWaiver)
        });
        for d in demands {
            warnings.push(Annotation::at(
                &p.path,
                p.line,
                format!("flowgate: {} evidence {}", p.name, d.kind.as_str()),
                d.message.clone(),
            ));
        }
    }
    for p in &report.policies {
        if reports_unused(p, DemandKind::UnusedAllow) {
            for a in p.unused_allows() {
                warnings.push(Annotation::at(
                    &p.path,
                    a.line,
                    format!("flowgate: unused allow rule {}", a.name),
                    format!(
                        "allow rule \"{}\" of policy {} matched no traffic: the rule is obsolete or the sample misses what it is for",
                        clean_line(&a.name),
                        clean_line(&p.name)
                    ),
                ));
            }
        }
        if reports_unused(p, DemandKind::UnusedWaiver) {
            for w in p.waivers.iter().filter(|w| w.hits == 0) {
                warnings.push(Annotation::at(
                    &p.path,
                    w.line,
                    format!("flowgate: unused waiver {}", w.name),
                    format!(
                        "waiver \"{}\" of policy {} matched no traffic",
                        clean_line(&w.name),
                        clean_line(&p.name)
                    ),
                ));
            }
        }
    }
    warnings.extend(
        report
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
            .map(Annotation::finding),
    );
    // With --base: each added allow rule that opens far more than its traffic used, at its
    // line, where the reviewer reads the diff.
    if let Some(d) = &report.diff {
        for (p, r) in d.overly_permissive() {
            warnings.push(Annotation::at(
                &p.path,
                r.line,
                format!("flowgate: overly permissive allow rule {}", r.name),
                format!(
                    "allow rule \"{}\" of policy {} ({}, used by {}): {}",
                    clean_line(&r.name),
                    clean_line(&p.name),
                    r.describe_width().unwrap_or_default(),
                    r.describe_usage().unwrap_or_default(),
                    r.reason.as_deref().unwrap_or_default()
                ),
            ));
        }
    }
    warnings
}

/// The annotations, errors first, then warnings, each capped at 10; then a plain line
/// `flowgate: <verdict>`.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    write_level(&mut out, Level::Error, &errors(report));
    write_level(&mut out, Level::Warning, &warnings(report));
    let _ = writeln!(out, "flowgate: {}", verdict(report));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::sample;

    fn commands(text: &str) -> Vec<&str> {
        text.lines().filter(|l| l.starts_with("::")).collect()
    }

    #[test]
    fn only_paths_inside_the_checkout_are_files() {
        assert!(placeable("policies/a.toml"));
        assert!(placeable("./fixtures/x.log.gz"));
        assert!(!placeable("/data/full/x.log.gz"));
        assert!(!placeable("../elsewhere/x.log.gz"));
        assert!(!placeable("s3://bucket/AWSLogs/x.log.gz"));
    }

    #[test]
    fn annotations_point_at_policy_lines() {
        let text = render(&sample::report());
        let cmds = commands(&text);
        assert_eq!(cmds.len(), 6, "{text}");
        assert!(cmds[0].starts_with("::error file=fixtures/AWSLogs/"));
        assert!(cmds[1].starts_with(
            "::error file=policies/retail-dedicated-line.toml,line=7,title=flowgate%3A retail-dedicated-line FAIL::25 conversations (700 records) would be blocked:%0Atcp 10.0.2.10 -> 10.20.40.12:1433 (40 records)%0A"
        ));
        assert!(cmds[1].contains("%0Aand 22 more conversations%0Aevidence window: the archives cover 2d 23h; the policy demands 30d"));
        assert!(cmds[2].starts_with(
            "::error file=policies/retail-dedicated-line.toml,line=22,title=flowgate%3A waiver legacy monitoring agent expired::"
        ));
        assert!(cmds[3].starts_with("::warning file=policies/retail-dedicated-line.toml,line=7,title=flowgate%3A retail-dedicated-line evidence skipdata::3 SKIPDATA"));
        assert!(cmds[4].starts_with("::warning file=policies/retail-dedicated-line.toml,line=16,title=flowgate%3A unused allow rule old batch window::"));
        // A lint warning at its line and column, with what the caret says.
        assert!(cmds[5].starts_with("::warning file=policies/retail-dedicated-line.toml,line=16,col=1,title=flowgate%3A retail-dedicated-line lint%3A rule-shadowed::allow `old batch window` adds nothing"), "{}", cmds[5]);
        assert_eq!(
            text.lines().last(),
            Some("flowgate: UNTRUSTED: 1 problem reading the evidence; 1 of 2 would fail (exit 2)")
        );
    }

    #[test]
    fn ignored_unused_rules_are_not_reported() {
        let mut report = sample::trusted_report();
        report.policies[1].demands[4].status = DemandStatus::Skipped;
        report.findings.clear();
        let text = render(&report);
        assert!(!text.contains("unused allow rule"));
        assert_eq!(commands(&text).len(), 3);
    }

    #[test]
    fn at_most_ten_per_level_and_the_tenth_counts_the_rest() {
        let mut report = sample::trusted_report();
        let failing = report.policies[1].clone();
        report.policies = (0..14)
            .map(|i| {
                let mut p = failing.clone();
                p.name = format!("policy-{i:02}");
                p
            })
            .collect();
        let text = render(&report);
        let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("::error")).collect();
        let warnings: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("::warning"))
            .collect();
        assert_eq!((errors.len(), warnings.len()), (10, 10));
        // 14 failing policies and 14 expired waivers: 28 errors, 9 shown.
        assert!(
            errors[9].starts_with("::error title=flowgate%3A 19 more errors::"),
            "{}",
            errors[9]
        );
        // Failing policies come before expired waivers.
        assert!(errors[8].contains("policy-08 FAIL"));
        // 14 warned demands, 14 unused rules and a lint warning: 29, 9 shown.
        assert!(warnings[9].starts_with("::warning title=flowgate%3A 20 more warnings::"));
    }

    #[test]
    fn hostile_values_cannot_start_a_command() {
        let report = sample::hostile_report();
        let text = render(&report);
        // Exactly the commands flowgate meant: problems, the failing policy, the expired
        // waiver; the skipdata demand, the unused allow rule and the lint warning.
        let cmds = commands(&text);
        assert_eq!(cmds.len(), 6, "{text}");
        assert_eq!(cmds.iter().filter(|l| l.starts_with("::error ")).count(), 3);
        assert_eq!(
            cmds.iter().filter(|l| l.starts_with("::warning ")).count(),
            3
        );
        assert_eq!(text.lines().count(), 7);
        assert!(!text.contains('\r') && !text.contains('\x1b') && !text.contains('\0'));
        // A literal `%0A` in data stays literal.
        assert!(text.contains("pwned%250A"));
        // Every line is one flowgate wrote; data stayed inside them.
        assert!(text.lines().all(|l| l.starts_with("::error ")
            || l.starts_with("::warning ")
            || l.starts_with("flowgate: ")));
        // Properties hold no raw `:` or `,` from data.
        let title = cmds[1].split("::").nth(1).unwrap();
        assert!(title.contains("title=flowgate%3A evil\\x1b[31m\\x00]]>&<script>alert(1)</script>\\n%3A%3Aerror%3A%3Apwned%250A\\r%3A%3Astop-commands%3A%3Ax"), "{title}");
    }

    #[test]
    fn unjudgeable_policies_are_errors_at_their_scope() {
        let mut report = sample::trusted_report();
        let p = &mut report.policies[0];
        p.status = Status::Error;
        p.field_errors = (0..8)
            .map(|i| format!("needs pkt-srcaddr (key addresses), which a{i}.log.gz lacks"))
            .collect();
        let text = render(&report);
        let cmds = commands(&text);
        assert!(cmds[0].starts_with(
            "::error file=policies/partner-vpn.toml,line=6,title=flowgate%3A partner-vpn could not be judged::policy partner-vpn could not be judged against every archive:%0Aneeds pkt-srcaddr"
        ));
        assert!(cmds[0].ends_with("a4.log.gz lacks%0Aand 3 more"));
        assert!(text.ends_with(
            "flowgate: UNTRUSTED: 1 policy of 2 could not be judged; 1 of 2 would fail (exit 2)\n"
        ));
    }

    #[test]
    fn passing_runs_say_so_without_annotations() {
        let mut report = sample::trusted_report();
        report.policies.remove(1);
        report.findings.clear();
        assert_eq!(render(&report), "flowgate: PASS: 1 of 1 policy passes\n");
    }

    #[test]
    fn lint_errors_fail_at_the_rule_and_in_the_policy_message() {
        let mut report = sample::trusted_report();
        report.findings = vec![sample::lint_error()];
        report.policies[0].status = Status::Fail;
        let text = render(&report);
        let cmds = commands(&text);
        assert!(cmds[0].starts_with("::error file=policies/partner-vpn.toml,line=6,title=flowgate%3A partner-vpn FAIL::lint: allow-covers-scope (line 10): allow `sftp to exchange` matches everything in the scope"), "{}", cmds[0]);
        assert!(cmds.iter().any(|c| c.starts_with("::error file=policies/partner-vpn.toml,line=10,col=1,title=flowgate%3A partner-vpn lint%3A allow-covers-scope::allow `sftp to exchange` matches everything in the scope%0Acovers the whole scope%0Athe planned block")), "{text}");
        assert!(text.ends_with("flowgate: FAIL: 2 of 2 policies fail: traffic would be blocked, evidence demands not met, lint errors\n"), "{text}");
    }

    #[test]
    fn an_unscanned_run_annotates_every_diagnostic_first() {
        use crate::report::{finding::Severity, Finding, Origin};
        let mut findings: Vec<Finding> = (1..=12)
            .map(|i| {
                let mut f = Finding::plain(
                    Origin::PolicyFile,
                    Severity::Error,
                    "toml-syntax",
                    format!("invalid TOML {i}"),
                );
                f.path = Some(format!("policies/p{i:02}.toml"));
                f.line = Some(3);
                f.column = Some(9);
                f
            })
            .collect();
        findings.push(Finding::plain(
            Origin::Logs,
            Severity::Error,
            "no-archives",
            "no flow-log archives found under logs".into(),
        ));
        let report = crate::report::build::unscanned(
            findings,
            time::macros::date!(2026 - 11 - 26),
            None,
            None,
        );
        let text = render(&report);
        let cmds = commands(&text);
        assert_eq!(cmds.len(), 10, "{text}");
        assert!(cmds[0].starts_with("::error file=policies/p01.toml,line=3,col=9,title=flowgate%3A policy file%3A toml-syntax::invalid TOML 1"), "{}", cmds[0]);
        assert!(
            cmds[9].starts_with("::error title=flowgate%3A 4 more errors::"),
            "{}",
            cmds[9]
        );
        assert!(text.ends_with("flowgate: UNTRUSTED: 12 policy files could not be loaded; no flow-log archives found (exit 2)\n"), "{text}");
    }

    /// The run's bound kept a sample of the failing policy's conversations: the report says
    /// so, counts every record and estimates the conversations.
    #[test]
    fn a_sampled_listing_says_so() {
        let text = render(&sample::sampled_report());
        assert!(text.contains(crate::output::SAMPLED), "{text}");
        insta::assert_snapshot!(text);
    }

    #[test]
    fn snapshot() {
        insta::assert_snapshot!(render(&sample::report()));
    }

    #[test]
    fn a_failing_expectation_is_an_error_at_its_line() {
        let text = render(&sample::report_with_expectations());
        let at_line: Vec<&str> = commands(&text)
            .into_iter()
            .filter(|l| l.contains("line=39"))
            .collect();
        assert_eq!(at_line.len(), 1, "{text}");
        assert!(at_line[0].starts_with("::error file=policies/retail-dedicated-line.toml,line=39,col=1,title=flowgate%3A retail-dedicated-line expect%3A 443 is open to the settlement subnet only::expectation"), "{}", at_line[0]);
        // The policy's own annotation names it among the reasons it fails.
        assert!(
            text.contains("expect: 443 is open to the settlement subnet only (line 39)"),
            "{text}"
        );
        // An expectation that holds is not annotated.
        assert!(!text.contains("ssh to the partner"), "{text}");
        let hostile = render(&sample::hostile_expectations_report());
        assert!(hostile.lines().all(|l| l.starts_with("::error ")
            || l.starts_with("::warning ")
            || l.starts_with("flowgate: ")));
    }

    /// `--max-conversations` cut the listing: the annotation counts every conversation.
    #[test]
    fn a_cut_listing_keeps_the_exact_counts() {
        let mut report = sample::report();
        report.list_conversations(2);
        let text = render(&report);
        assert!(
            text.contains("25 conversations (700 records) would be blocked:"),
            "{text}"
        );
        assert!(text.contains("and 23 more conversations"), "{text}");
    }
}
