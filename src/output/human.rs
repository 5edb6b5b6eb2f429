//! `--format human`: the report a person reads in a terminal or a CI log.
//!
//! One block per policy in the report's order (verdict, counts, the would-be-blocked
//! conversations as a table, allow rules, waivers, evidence demands), then what the run read,
//! then one verdict line. Long lists are capped (20 conversations, 20 problems) with a line
//! saying how many more there are; `--json` has everything. Colour, when asked for, touches
//! only our own verdict words: every data string goes through [`clean_line`] or
//! [`clean_text`], so nothing in an archive name or a policy can send escape sequences.

use std::fmt::Write;

use super::{
    align, blocked_count, clean_line, clean_text, conversation_table, count, more_conversations,
    verdict, when,
};
use crate::report::diff::{Diff, PolicyDiff};
use crate::report::finding::Severity;
use crate::report::service::{services, Service};
use crate::report::{DemandStatus, Finding, PolicyReport, Report, RunSummary, Status, EXIT_PASS};

/// Conversations shown per policy.
const MAX_CONVERSATIONS: usize = 20;

#[derive(Clone, Copy)]
enum Paint {
    Green,
    Red,
    Yellow,
}

/// Our own words, coloured when the terminal wants it.
struct Style {
    color: bool,
}

impl Style {
    fn paint(&self, paint: Paint, text: &str) -> String {
        if !self.color {
            return text.to_string();
        }
        let code = match paint {
            Paint::Green => "1;32",
            Paint::Red => "1;31",
            Paint::Yellow => "1;33",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }

    fn status(&self, status: Status) -> String {
        let paint = match status {
            Status::Pass => Paint::Green,
            Status::Fail | Status::Error => Paint::Red,
        };
        self.paint(paint, status.as_str())
    }
}

fn push_indented(out: &mut String, indent: &str, lines: impl IntoIterator<Item = String>) {
    for line in lines {
        if line.is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, "{indent}{line}");
        }
    }
}

/// Conversations shown per list in the change (`--base`).
const MAX_CHANGE_CONVERSATIONS: usize = 10;
/// Services shown before a conversation table.
const MAX_SERVICES: usize = 10;

/// The services of a conversation list, one line each (at most [`MAX_SERVICES`]), then a
/// blank line: what a reviewer reads before the conversations themselves.
fn services_lines(out: &mut String, services: &[Service]) {
    let mut lines: Vec<String> = services
        .iter()
        .take(MAX_SERVICES)
        .map(Service::describe)
        .collect();
    if services.len() > MAX_SERVICES {
        lines.push(format!(
            "... and {}",
            count(
                (services.len() - MAX_SERVICES) as u64,
                "more service",
                "more services"
            )
        ));
    }
    lines.push(String::new());
    push_indented(out, "    ", lines);
}

fn policy(
    out: &mut String,
    p: &PolicyReport,
    findings: &[&Finding],
    sample: Option<&str>,
    style: &Style,
) {
    let _ = writeln!(
        out,
        "{} {} ({})",
        style.status(p.status),
        clean_line(&p.name),
        clean_line(&p.path)
    );
    if let Some(d) = &p.description {
        let _ = writeln!(out, "  {}", clean_line(d));
    }
    let who: Vec<String> = [("owner", &p.owner), ("ticket", &p.ticket)]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}: {}", clean_line(v))))
        .collect();
    if !who.is_empty() {
        let _ = writeln!(out, "  {}", who.join(", "));
    }
    let c = &p.counts;
    let _ = writeln!(
        out,
        "  records: {} scanned, {} in scope, {} allowed, {} already rejected, {} waived, {} would be blocked{}",
        c.scanned,
        c.in_scope,
        c.allowed,
        c.already_rejected,
        c.waived,
        c.would_block,
        sample.map_or_else(String::new, |s| format!(" ({s})"))
    );
    if p.in_scope_first.is_some() || p.in_scope_last.is_some() {
        let _ = writeln!(
            out,
            "  in scope from {} to {}",
            when(p.in_scope_first),
            when(p.in_scope_last)
        );
    }

    if p.conversations_total() > 0 {
        let _ = writeln!(
            out,
            "\n  {}: {}",
            style.paint(Paint::Red, "would be blocked"),
            blocked_count(p)
        );
        services_lines(out, &p.services);
        let more = more_conversations(p, "see --json for all");
        let table = conversation_table(
            &p.conversations,
            p.conversations_total(),
            p.conversations_qualifier(),
            MAX_CONVERSATIONS,
            more,
        );
        push_indented(out, "    ", table);
    }

    if !p.allows.is_empty() {
        out.push_str("\n  allow rules:\n");
        let rows: Vec<Vec<String>> = p
            .allows
            .iter()
            .map(|a| {
                let hits = if a.hits == 0 {
                    style.paint(Paint::Yellow, "unused")
                } else {
                    count(a.hits, "record", "records")
                };
                vec![
                    clean_line(&a.name).into_owned(),
                    format!("line {}", a.line),
                    hits,
                ]
            })
            .collect();
        push_indented(out, "    ", align(&rows, &[]));
    }

    if !p.waivers.is_empty() {
        out.push_str("\n  waivers:\n");
        let rows: Vec<Vec<String>> = p
            .waivers
            .iter()
            .map(|w| {
                let (expiry, hits) = if w.expired {
                    let what = if w.hits == 0 {
                        "unused".to_string()
                    } else {
                        format!(
                            "{} now would be blocked",
                            count(w.hits, "record", "records")
                        )
                    };
                    (
                        style.paint(Paint::Red, &format!("EXPIRED {}", w.expires)),
                        what,
                    )
                } else if w.hits == 0 {
                    (
                        format!("expires {}", w.expires),
                        style.paint(Paint::Yellow, "unused"),
                    )
                } else {
                    let what = format!("{} excused", count(w.hits, "record", "records"));
                    (format!("expires {}", w.expires), what)
                };
                vec![
                    clean_line(&w.name).into_owned(),
                    format!("line {}", w.line),
                    expiry,
                    hits,
                    clean_line(&w.reason).into_owned(),
                ]
            })
            .collect();
        push_indented(out, "    ", align(&rows, &[]));
    }

    // Expectations: a count when they all hold (JUnit and JSON list each), else the ones
    // that do not, each with what the policy decided instead.
    if !p.expectations.is_empty() {
        let total = p.expectations.len();
        let failing: Vec<Vec<String>> = p
            .expectations
            .iter()
            .filter(|e| !e.holds)
            .map(|e| {
                vec![
                    style.paint(Paint::Red, "FAIL"),
                    clean_line(&e.name).into_owned(),
                    format!("line {}", e.line),
                    clean_line(&format!("expects {}; decided {}", e.verdict, e.decided))
                        .into_owned(),
                ]
            })
            .collect();
        if failing.is_empty() {
            let verb = if total == 1 { "holds" } else { "hold" };
            let _ = writeln!(out, "\n  expectations: {total} {verb}");
        } else {
            let verb = if failing.len() == 1 {
                "does not hold"
            } else {
                "do not hold"
            };
            let _ = writeln!(
                out,
                "\n  expectations: {} of {total} {}:",
                failing.len(),
                style.paint(Paint::Red, verb)
            );
            push_indented(out, "    ", align(&failing, &[]));
        }
    }

    let demands: Vec<Vec<String>> = p
        .demands
        .iter()
        .filter(|d| d.status != DemandStatus::Skipped)
        .map(|d| {
            let (word, message) = match d.status {
                DemandStatus::Pass => ("pass".to_string(), String::new()),
                DemandStatus::Warn => (
                    style.paint(Paint::Yellow, "warn"),
                    clean_line(&d.message).into_owned(),
                ),
                _ => (
                    style.paint(Paint::Red, "FAIL"),
                    clean_line(&d.message).into_owned(),
                ),
            };
            vec![word, d.kind.as_str().to_string(), message]
        })
        .collect();
    if !demands.is_empty() {
        out.push_str("\n  evidence:\n");
        push_indented(out, "    ", align(&demands, &[]));
    }

    if !findings.is_empty() {
        out.push_str("\n  lint:\n");
        let rows: Vec<Vec<String>> = findings
            .iter()
            .map(|f| {
                let word = match f.severity {
                    Severity::Error => style.paint(Paint::Red, "FAIL"),
                    Severity::Warning => style.paint(Paint::Yellow, "warn"),
                    Severity::Note => "note".to_string(),
                };
                vec![
                    word,
                    f.code.clone(),
                    f.line.map_or_else(String::new, |l| format!("line {l}")),
                    clean_line(&f.message).into_owned(),
                ]
            })
            .collect();
        push_indented(out, "    ", align(&rows, &[]));
    }

    if !p.field_errors.is_empty() {
        out.push_str("\n  could not be judged against every archive:\n");
        push_indented(
            out,
            "    ",
            p.field_errors.iter().map(|e| clean_line(e).into_owned()),
        );
    }
    out.push('\n');
}

/// What the run read: the same summary `flowgate inspect` prints, under `run:`.
fn run(out: &mut String, r: &RunSummary, provenance: Option<&crate::manifest::Provenance>) {
    out.push_str("run:\n");
    push_indented(out, "  ", super::run::lines(r, provenance));
}

/// `PASS`, `FAIL`, `ERROR`, or `-` where the policy does not exist.
fn status_word(status: Option<Status>, style: &Style) -> String {
    status.map_or_else(|| "-".to_string(), |s| style.status(s))
}

/// With `--base`: the change first. The headline, a table of the policies that changed, then
/// per policy its newly blocked and newly allowed conversations and its rules added and
/// removed, each added allow rule with its width against its traffic.
fn change(out: &mut String, d: &Diff, style: &Style) {
    let _ = writeln!(
        out,
        "change against {}:\n  {}",
        clean_line(&d.named()),
        d.headline("This change")
    );
    for u in &d.unreadable {
        let _ = writeln!(
            out,
            "  {}",
            style.paint(Paint::Yellow, &clean_line(&u.sentence(&d.label())))
        );
    }
    let changed: Vec<&PolicyDiff> = d.changed().collect();
    if changed.is_empty() {
        out.push('\n');
        return;
    }
    let mut rows = vec![[
        "POLICY",
        "CHANGE",
        "BEFORE",
        "NOW",
        "NEWLY BLOCKED",
        "NEWLY ALLOWED",
        "RULES ADDED",
        "RULES REMOVED",
    ]
    .map(String::from)
    .to_vec()];
    for p in &changed {
        rows.push(vec![
            clean_line(&p.name).into_owned(),
            p.change.as_str().to_string(),
            status_word(p.base_status, style),
            status_word(p.status, style),
            p.newly_blocked.len().to_string(),
            p.newly_allowed.len().to_string(),
            p.rules_added.len().to_string(),
            p.rules_removed.len().to_string(),
        ]);
    }
    out.push('\n');
    push_indented(out, "  ", align(&rows, &[4, 5, 6, 7]));
    for p in changed {
        let name = clean_line(&p.name);
        for (what, list, paint) in [
            ("newly blocked", &p.newly_blocked, Paint::Red),
            ("newly allowed", &p.newly_allowed, Paint::Green),
        ] {
            if list.is_empty() {
                continue;
            }
            let records: u64 = list.iter().map(|c| c.records).sum();
            let _ = writeln!(
                out,
                "\n  {name}: {} {} ({})",
                style.paint(paint, what),
                count(list.len() as u64, "conversation", "conversations"),
                count(records, "record", "records")
            );
            services_lines(out, &services(list));
            // Fewer than in the state below, which lists every blocked conversation again.
            let table = conversation_table(
                list,
                list.len() as u64,
                "",
                MAX_CHANGE_CONVERSATIONS,
                "see --json for all",
            );
            push_indented(out, "    ", table);
        }
        if p.rules_added.is_empty() && p.rules_removed.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n  {name}: rules");
        let mut rows = Vec::new();
        for r in &p.rules_added {
            let mut about = Vec::new();
            if let Some(w) = r.describe_width() {
                about.push(w);
            }
            if let Some(u) = r.describe_usage() {
                about.push(format!("used by {u}"));
            }
            let mut text = about.join(", ");
            if let Some(why) = &r.reason {
                let _ = write!(
                    text,
                    ": {} ({})",
                    style.paint(Paint::Yellow, "OVERLY PERMISSIVE"),
                    why
                );
            }
            rows.push(vec![
                "+".to_string(),
                r.kind.to_string(),
                clean_line(&r.name).into_owned(),
                format!("line {}", r.line),
                r.change.to_string(),
                text,
            ]);
        }
        for r in &p.rules_removed {
            rows.push(vec![
                "-".to_string(),
                r.kind.to_string(),
                clean_line(&r.name).into_owned(),
                format!("line {}", r.line),
                r.change.to_string(),
                String::new(),
            ]);
        }
        push_indented(out, "    ", align(&rows, &[]));
    }
    out.push('\n');
}

/// The report as terminal text. `color` adds ANSI colours to flowgate's own verdict words and
/// to nothing else.
pub fn render(report: &Report, color: bool) -> String {
    let style = Style { color };
    let mut out = String::new();
    if let Some(d) = &report.diff {
        change(&mut out, d, &style);
    }
    for p in &report.policies {
        // Expectations that do not hold have their own section.
        let findings: Vec<&Finding> = report
            .findings_of(&p.name)
            .filter(|f| f.origin != crate::report::Origin::Expect)
            .collect();
        let sample = report.provenance.as_ref().map(|p| p.sample_note());
        policy(&mut out, p, &findings, sample.as_deref(), &style);
    }
    // A run that judged nothing has no run to describe: its findings say why.
    if report.is_scanned() {
        run(&mut out, &report.run, report.provenance.as_ref());
    }
    if !report.findings.is_empty() {
        if report.is_scanned() {
            out.push('\n');
        }
        out.push_str("findings:\n");
        for finding in &report.findings {
            push_indented(
                &mut out,
                "  ",
                clean_text(&finding.rendered).lines().map(str::to_string),
            );
        }
    }
    let verdict = verdict(report);
    let paint = match report.exit_code() {
        EXIT_PASS => Paint::Green,
        _ => Paint::Red,
    };
    let _ = writeln!(out, "\n{}", style.paint(paint, &verdict));
    defuse_commands(out)
}

/// GitHub Actions reads a line that starts with `::` (after any indentation) as a workflow
/// command, and `--format github` prints this report before its annotations. Every line
/// flowgate writes starts with its own words, so only data can begin one with `::` (a rule
/// named `::stop-commands::x` heads its table row): its first colon is shown as `\x3a`, in
/// the style of the other escapes, and the line stays text.
fn defuse_commands(text: String) -> String {
    if !text.lines().any(|l| l.trim_start().starts_with("::")) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 8);
    for line in text.split_inclusive('\n') {
        let body = line.trim_start();
        if body.starts_with("::") {
            out.push_str(&line[..line.len() - body.len()]);
            out.push_str("\\x3a");
            out.push_str(&body[1..]);
        } else {
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::sample;

    #[test]
    fn no_line_starts_a_workflow_command() {
        let mut report = sample::trusted_report();
        report.policies[1].allows[0].name = "::stop-commands::tok".into();
        report.policies[1].description = Some("::error::pwned".into());
        let text = render(&report, false);
        assert!(text.contains("    \\x3a:stop-commands::tok"), "{text}");
        assert!(text.contains("  \\x3a:error::pwned\n"), "{text}");
        assert!(text.lines().all(|l| !l.trim_start().starts_with("::")));
        assert_eq!(defuse_commands("a ::b\n".into()), "a ::b\n");
    }

    #[test]
    fn plain_output_is_plain() {
        let text = render(&sample::report(), false);
        assert!(!text.contains('\x1b'));
        assert!(text.starts_with("PASS partner-vpn (policies/partner-vpn.toml)\n"));
        assert!(
            text.contains("\nFAIL retail-dedicated-line (policies/retail-dedicated-line.toml)\n")
        );
        assert!(text.contains("... and 5 more conversations (see --json for all)"));
        assert!(text.contains("    old batch window  line 16  unused\n"));
        assert!(text.ends_with(
            "\nUNTRUSTED: 1 problem reading the evidence; 1 of 2 would fail (exit 2)\n"
        ));
    }

    #[test]
    fn colour_touches_only_our_words() {
        let text = render(&sample::report(), true);
        assert!(text.starts_with("\x1b[1;32mPASS\x1b[0m partner-vpn"));
        assert!(text.contains("\x1b[1;31mFAIL\x1b[0m retail-dedicated-line"));
        // Colour codes do not count towards column widths.
        assert!(text.contains("    \x1b[1;31mFAIL\x1b[0m  window        the archives"));
        assert!(text.contains("    \x1b[1;33mwarn\x1b[0m  unused-allow  allow rule"));
    }

    #[test]
    fn hostile_values_cannot_reach_the_terminal() {
        for color in [false, true] {
            let text = render(&sample::hostile_report(), color);
            assert!(!text.contains('\r') && !text.contains('\0'));
            // The only escapes left are our own colour codes.
            let stripped = text
                .replace("\x1b[1;31m", "")
                .replace("\x1b[1;32m", "")
                .replace("\x1b[1;33m", "")
                .replace("\x1b[0m", "");
            assert!(!stripped.contains('\x1b'), "{stripped}");
            assert!(text.contains("evil\\x1b[31m\\x00"));
            // A newline in data never starts a line of its own.
            assert!(!text.lines().any(|l| l.starts_with("::")));
        }
    }

    #[test]
    fn problems_are_capped() {
        let mut report = sample::report();
        let p = report.run.problems[0].clone();
        report.run.problems = vec![p; 25];
        report.run.problems_total = 31;
        let text = render(&report, false);
        assert_eq!(text.matches("expected 14 fields, found 9").count(), 20);
        assert!(
            text.contains("\n             and 11 more problems\n"),
            "{text}"
        );
    }

    #[test]
    fn verdicts() {
        let mut report = sample::trusted_report();
        let text = render(&report, false);
        assert!(text.ends_with(
            "\nFAIL: 1 of 2 policies fail: traffic would be blocked, evidence demands not met\n"
        ));
        report.policies.remove(1);
        assert!(render(&report, false).ends_with("\nPASS: 1 of 1 policy passes\n"));
    }

    /// The run's bound kept a sample of the failing policy's conversations: the report says
    /// so, counts every record and estimates the conversations.
    #[test]
    fn a_sampled_listing_says_so() {
        let text = render(&sample::sampled_report(), false);
        assert!(text.contains(crate::output::SAMPLED), "{text}");
        insta::assert_snapshot!(text);
    }

    /// A policy the sample holds none of: its count is a lower bound, not an estimate from
    /// zero, and no table header stands over no rows.
    #[test]
    fn an_empty_sample_is_not_estimated() {
        let text = render(&sample::empty_sample_report(), false);
        assert!(text.contains("would be blocked: at least 5 conversations (700 records)"));
        assert!(
            text.contains("none in the sample: at least 5 conversations"),
            "{text}"
        );
        assert!(text.contains(crate::output::SAMPLED_NONE), "{text}");
        assert!(!text.contains("PROTO"), "{text}");
        assert!(!text.contains("about"), "{text}");
        insta::assert_snapshot!(text);
    }

    #[test]
    fn snapshot() {
        insta::assert_snapshot!(render(&sample::report(), false));
    }

    #[test]
    fn the_change_leads() {
        let text = render(&sample::report_with_diff(), false);
        assert!(text.starts_with("change against origin/main (3f2c1a9b8e7d):\n  This change newly blocks 3 conversations in 1 policy and newly allows 1 in 1 policy. 1 added allow rule is overly permissive.\n"), "{text}");
        // Unchanged policies are not in the change's table; the state follows in full.
        let state = text
            .find("PASS partner-vpn (policies/partner-vpn.toml)")
            .unwrap();
        assert!(!text[..state].contains("  partner-vpn "), "{text}");
        insta::assert_snapshot!(text[..state].to_string());
    }

    #[test]
    fn expectations_are_listed_with_the_failing_ones_explained() {
        let text = render(&sample::report_with_expectations(), false);
        assert!(text.contains("\n  expectations: 1 of 2 does not hold:\n    FAIL  443 is open to the settlement subnet only  line 39  expects blocked; decided allowed by allow rule `settlement API` (line 10)\n"), "{text}");
        let mut all_hold = sample::report_with_expectations();
        all_hold.policies[1].expectations[1].holds = true;
        let text = render(&all_hold, false);
        assert!(text.contains("\n  expectations: 2 hold\n"), "{text}");
        // Not again in the lint table; in full among the findings.
        assert!(!text.contains("FAIL  expect-failed"), "{text}");
        assert!(
            text.contains("  error[expect-failed]: expectation `443 is open"),
            "{text}"
        );
        assert!(text.ends_with("FAIL: 1 of 2 policies fail: evidence demands not met, lint errors, expectations do not hold\n") || text.contains("expectations do not hold"), "{text}");
        let hostile = render(&sample::hostile_expectations_report(), false);
        assert!(!hostile.contains('\x1b') && !hostile.contains('\r'));
    }

    /// `--max-conversations` cut the listing: the report counts every conversation.
    #[test]
    fn a_cut_listing_keeps_the_exact_counts() {
        let mut report = sample::report();
        report.list_conversations(2);
        let text = render(&report, false);
        assert!(text.contains("25 conversations (700 records)"), "{text}");
        assert!(
            text.contains("... and 23 more conversations (--max-conversations cut the listing"),
            "{text}"
        );
    }
}
