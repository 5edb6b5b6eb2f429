//! The GitHub job summary (`$GITHUB_STEP_SUMMARY`): the check as Markdown on the run's page.
//!
//! A heading with the verdict, a table of policies, the top conversations of each failing
//! policy, unused allow rules, evidence demands that failed or warned, the evidence window and
//! the problems. GitHub renders this Markdown as HTML, so every data value is escaped: it can
//! neither add HTML nor links nor break out of a table cell. GitHub refuses a summary over
//! 1 MiB per step, so the text is built from whole blocks (a heading, a paragraph, one table
//! row) and, when they do not all fit in the limit the CLI passes, stops at a block boundary
//! with a note pointing at the JSON report.

use std::fmt::Write;

use super::markdown::{
    conversation_header, conversation_row, md, policy_row, services_table, Columns, POLICIES_HEADER,
};
use super::{blocked_count, count, more_conversations, problem_line, verdict};
use crate::report::{DemandStatus, Effect, Finding, Origin, PolicyReport, Report, Status};

/// Conversations shown per failing policy.
const TOP_CONVERSATIONS: usize = 10;
/// Problems listed by name.
const TOP_PROBLEMS: usize = 10;
/// Files not read listed by name; the JSON report lists every one.
const TOP_NOT_READ: usize = 20;
/// Appended when the summary had to be cut.
const TRUNCATED: &str = "\n**summary truncated; see the JSON report**\n";

fn policies_table(blocks: &mut Vec<String>, report: &Report) {
    blocks.push(POLICIES_HEADER.to_string());
    blocks.extend(report.policies.iter().map(policy_row));
    // The sample keeps every conversation, not every record: say so next to the counts.
    if let Some(p) = &report.provenance {
        blocks.push(format!("\n_{}._\n", p.sample_note()));
    }
}

fn conversations(blocks: &mut Vec<String>, p: &PolicyReport) {
    let shown = &p.conversations[..p.conversations.len().min(TOP_CONVERSATIONS)];
    let columns = Columns::of(shown);
    let mut head = format!(
        "\n### {}: would be blocked\n\n{} would be blocked.\n\n",
        md(&p.name),
        blocked_count(p),
    );
    head.push_str(&services_table(&p.services));
    // No header over an empty sample.
    if !shown.is_empty() {
        head.push_str(&conversation_header(columns));
    }
    blocks.push(head);
    for c in shown {
        blocks.push(conversation_row(c, columns));
    }
    let hidden = p.conversations_total() - shown.len() as u64;
    if hidden > 0 {
        let whole = more_conversations(p, "the JSON report lists every one");
        let words = super::more_words(p.conversations_qualifier(), hidden, shown.len());
        // An empty sample's line is a sentence of its own under the services.
        let line = if shown.is_empty() {
            super::markdown::upper_first(&words)
        } else {
            format!("\n{words}")
        };
        blocks.push(format!("{line}; {whole}.\n"));
    }
}

/// `- **error** \`toml-syntax\` at policies/a.toml:3:9: message; note; note`
fn finding_item(f: &Finding, word: &str) -> String {
    let mut item = format!("- {word} ");
    if let Some(p) = &f.policy {
        let _ = write!(item, "{} ", md(p));
    }
    let _ = write!(item, "`{}`", f.code);
    if let Some(place) = f.place() {
        let _ = write!(item, " at {}", md(&place));
    }
    let mut text = vec![f.message.as_str()];
    text.extend(f.notes.iter().map(String::as_str));
    let _ = writeln!(item, ": {}", md(&text.join("; ")));
    item
}

/// Why the run cannot be trusted: first thing under the heading.
fn untrusting_findings(blocks: &mut Vec<String>, report: &Report) {
    let items: Vec<String> = report
        .untrusting_findings()
        .map(|f| finding_item(f, "**error**"))
        .collect();
    if !items.is_empty() {
        blocks.push(
            "### Why the check cannot be trusted\n\nNo verdict until these are fixed:\n\n".into(),
        );
        blocks.extend(items);
        blocks.push("\n".into());
    }
}

/// Lint findings on the policies that loaded: errors fail their policy.
fn lint_findings(blocks: &mut Vec<String>, report: &Report) {
    let items: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.origin == Origin::Lint && f.effect() != Effect::Untrusted)
        .map(|f| {
            let word = if f.effect() == Effect::Fails {
                "**FAIL**"
            } else {
                f.severity.as_str()
            };
            finding_item(f, word)
        })
        .collect();
    if !items.is_empty() {
        blocks.push("\n### Policy mistakes (lint)\n\n".into());
        blocks.extend(items);
    }
}

/// Each `[[expect]]` that does not hold, one line each: the policy, the expectation, its
/// place, and what the policy decided instead.
fn expect_findings(blocks: &mut Vec<String>, report: &Report) {
    let items: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.origin == Origin::Expect)
        .map(|f| finding_item(f, "**FAIL**"))
        .collect();
    if !items.is_empty() {
        blocks.push("\n### Expectations that do not hold\n\n".into());
        blocks.extend(items);
    }
}

fn unused_allows(blocks: &mut Vec<String>, report: &Report) {
    let unused: Vec<String> = report
        .policies
        .iter()
        .flat_map(|p| {
            p.unused_allows().map(move |a| {
                format!(
                    "- {}: allow rule {} (line {})\n",
                    md(&p.name),
                    md(&a.name),
                    a.line
                )
            })
        })
        .collect();
    if !unused.is_empty() {
        blocks.push("\n### Allow rules that matched no traffic\n\n".into());
        blocks.extend(unused);
    }
}

fn demands(blocks: &mut Vec<String>, report: &Report) {
    let items: Vec<String> = report
        .policies
        .iter()
        .flat_map(|p| {
            p.demands
                .iter()
                .filter(|d| matches!(d.status, DemandStatus::Fail | DemandStatus::Warn))
                .map(move |d| {
                    let word = if d.status == DemandStatus::Fail {
                        "**FAIL**"
                    } else {
                        "warn"
                    };
                    format!(
                        "- {word} {} {}: {}\n",
                        md(&p.name),
                        d.kind.as_str(),
                        md(&d.message)
                    )
                })
        })
        .collect();
    if !items.is_empty() {
        blocks.push("\n### Evidence demands not met\n\n".into());
        blocks.extend(items);
    }
}

fn evidence(blocks: &mut Vec<String>, report: &Report) {
    let run = &report.run;
    let mut text = String::from("\n### Evidence\n\n");
    let _ = writeln!(text, "- window: {}", md(&run.coverage.describe()));
    let kinds = if run.kinds.is_empty() {
        String::new()
    } else {
        format!(" ({})", md(&super::run::kinds(run)))
    };
    let _ = writeln!(
        text,
        "- {} read{kinds}, {} ({} NODATA, {} SKIPDATA)",
        count(run.archives_read, "archive", "archives"),
        count(run.records, "record", "records"),
        run.nodata,
        run.skipdata
    );
    if let Some(cw) = &run.cloudwatch {
        let _ = writeln!(
            text,
            "- CloudWatch Logs: {} in {}, {} skipped",
            count(cw.log_streams, "log stream", "log streams"),
            count(cw.log_groups.len() as u64, "log group", "log groups"),
            count(cw.control_messages, "CONTROL_MESSAGE", "CONTROL_MESSAGEs")
        );
    }
    let _ = writeln!(
        text,
        "- problems reading the evidence: {}",
        run.problems_total
    );
    let _ = writeln!(text, "- files not read: {}", run.not_read.len());
    blocks.push(text);
    let timeline = super::mermaid::evidence_timeline(report);
    if !timeline.is_empty() {
        blocks.push(timeline);
    }
    if !run.not_read.is_empty() {
        blocks.push("\n### Files not read\n\n".into());
        for s in run.not_read.iter().take(TOP_NOT_READ) {
            blocks.push(format!("- {}: {}\n", md(&s.path), md(&s.reason)));
        }
        if run.not_read.len() > TOP_NOT_READ {
            blocks.push(format!(
                "- and {} more\n",
                run.not_read.len() - TOP_NOT_READ
            ));
        }
    }
    if run.problems_total > 0 {
        blocks.push("\n### Problems\n\n".into());
        for p in run.problems.iter().take(TOP_PROBLEMS) {
            blocks.push(format!("- {}\n", md(&problem_line(p))));
        }
        let shown = run.problems.len().min(TOP_PROBLEMS) as u64;
        if run.problems_total > shown {
            blocks.push(format!(
                "- and {}\n",
                count(run.problems_total - shown, "more problem", "more problems")
            ));
        }
    }
}

/// Joins whole blocks while they fit in `limit` bytes; when some do not, ends with a note.
/// The result never exceeds `limit` (when even the note does not fit, it is empty).
fn fit(blocks: &[String], limit: usize) -> String {
    let total: usize = blocks.iter().map(String::len).sum();
    if total <= limit {
        return blocks.concat();
    }
    let room = match limit.checked_sub(TRUNCATED.len()) {
        Some(room) => room,
        None => return String::new(),
    };
    let mut out = String::new();
    for block in blocks {
        if out.len() + block.len() > room {
            break;
        }
        out.push_str(block);
    }
    out.push_str(TRUNCATED);
    out
}

/// The summary as whole blocks, in order of importance.
fn blocks(report: &Report) -> Vec<String> {
    // With --base the change leads; the state follows.
    let mut blocks = match &report.diff {
        Some(d) => {
            let mut b =
                super::markdown::change_blocks(d, "This pull request", "##", TOP_CONVERSATIONS);
            b.push("\n".into());
            b
        }
        None => Vec::new(),
    };
    blocks.push(format!("## flowgate: {}\n\n", verdict(report)));
    untrusting_findings(&mut blocks, report);
    if !report.policies.is_empty() {
        policies_table(&mut blocks, report);
    }
    for p in report
        .policies
        .iter()
        .filter(|p| p.status != Status::Pass && p.conversations_total() > 0)
    {
        conversations(&mut blocks, p);
    }
    blocks.extend(super::mermaid::failing_blocks(report, "###"));
    lint_findings(&mut blocks, report);
    expect_findings(&mut blocks, report);
    unused_allows(&mut blocks, report);
    demands(&mut blocks, report);
    if report.is_scanned() {
        evidence(&mut blocks, report);
    }
    blocks
}

/// The job summary as Markdown, at most `limit_bytes` long.
pub fn render(report: &Report, limit_bytes: usize) -> String {
    fit(&blocks(report), limit_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::sample;

    const MIB: usize = 1 << 20;

    #[test]
    fn hostile_values_stay_in_their_cells() {
        let text = render(&sample::hostile_report(), MIB);
        assert!(!text.contains('<') && !text.contains('\x1b') && !text.contains('\r'));
        // Every table row has exactly as many unescaped pipes as its header.
        for line in text.lines().filter(|l| l.starts_with('|')) {
            let pipes = line
                .replace("\\\\", "")
                .replace("\\|", "")
                .matches('|')
                .count();
            assert!(pipes == 6 || pipes == 7 || pipes == 12, "{pipes}: {line}");
        }
    }

    #[test]
    fn failing_policies_show_their_top_conversations() {
        let text = render(&sample::report(), MIB);
        assert!(text.starts_with("## flowgate: UNTRUSTED: "));
        assert!(text.contains("| retail-dedicated-line | ❌ FAIL | 3310 | 2410 | 700 | 25 |"));
        assert!(text.contains("and 15 more conversations; the JSON report lists every one."));
        assert!(text.contains("| tcp | 2600:1f18:24e:c00::13 | [2a02:cf40:1:2::7]:443 |"));
        assert!(!text.contains("truncated"));
    }

    #[test]
    fn never_exceeds_the_limit() {
        let mut report = sample::report();
        report.policies[1].conversations =
            (0..100_000).map(|i| sample::conversation(i, 1)).collect();
        // Many small failing policies make the summary itself long.
        let failing = sample::report().policies[1].clone();
        for i in 0..1000 {
            let mut p = failing.clone();
            p.name = format!("politique-é✓-{i}");
            report.policies.push(p);
        }
        let blocks = blocks(&report);
        let full = blocks.concat();
        assert!(full.len() > 1_000_000);
        for limit in (0..20_000).step_by(7).chain([full.len() - 1, full.len()]) {
            let text = fit(&blocks, limit);
            assert!(text.len() <= limit, "{} > {limit}", text.len());
            if limit < full.len() && limit >= TRUNCATED.len() {
                assert!(text.ends_with(TRUNCATED));
            }
        }
        assert_eq!(fit(&blocks, full.len()), full);
        let summary = render(&report, MIB - 64 * 1024);
        assert!(summary.len() <= MIB - 64 * 1024);
        assert!(summary.ends_with(TRUNCATED));
        // A cut summary still has its verdict.
        assert!(render(&report, 500).starts_with("## flowgate: "));
    }

    #[test]
    fn the_change_leads_and_the_state_follows() {
        let text = render(&sample::report_with_diff(), MIB);
        assert!(text.starts_with("## flowgate: This pull request newly blocks 3 conversations in 1 policy and newly allows 1 in 1 policy."), "{text}");
        let state = text
            .find("## flowgate: FAIL: 1 of 2 policies fail")
            .unwrap();
        assert!(
            text[..state].contains(
                "| retail-dedicated-line | changed | ✅ PASS | ❌ FAIL | 3 | 0 | 1 | 1 |"
            ),
            "{text}"
        );
        assert!(text[..state].contains("⚠️ overly permissive: it admits 65536 addresses where the traffic used 3 (21845 times as many)"), "{text}");
    }

    /// The run's bound kept a sample of the failing policy's conversations: the report says
    /// so, counts every record and estimates the conversations.
    #[test]
    fn a_sampled_listing_says_so() {
        let text = render(&sample::sampled_report(), MIB);
        assert!(text.contains(crate::output::SAMPLED), "{text}");
        insta::assert_snapshot!(text);
    }

    /// A policy the sample holds none of: a lower bound, services that say only their
    /// records are known, no conversation header over no rows.
    #[test]
    fn an_empty_sample_is_not_estimated() {
        let text = render(&sample::empty_sample_report(), MIB);
        assert!(text.contains("at least 5 conversations (700 records) would be blocked"));
        assert!(text.contains("| none in the sample | - | - |"), "{text}");
        assert!(!text.contains("| protocol |"), "{text}");
        assert!(!text.contains("()"), "{text}");
        assert!(text.contains("| ≥5 |"), "{text}");
        insta::assert_snapshot!(text);
    }

    #[test]
    fn snapshot() {
        insta::assert_snapshot!(render(&sample::report(), MIB));
    }

    #[test]
    fn each_failing_expectation_has_a_line() {
        let text = render(&sample::report_with_expectations(), MIB);
        assert!(text.contains("\n### Expectations that do not hold\n\n- **FAIL** retail-dedicated-line `expect-failed` at policies/retail-dedicated-line.toml:39:1: expectation"), "{text}");
        let hostile = render(&sample::hostile_expectations_report(), MIB);
        assert!(!hostile.contains("<script>") && !hostile.contains('\x1b'));
    }

    /// `--max-conversations` cut the listing: the summary counts every conversation.
    #[test]
    fn a_cut_listing_keeps_the_exact_counts() {
        let mut report = sample::report();
        report.list_conversations(2);
        let text = render(&report, 1 << 20);
        assert!(
            text.contains("25 conversations (700 records) would be blocked."),
            "{text}"
        );
        assert!(
            text.contains("\nand 23 more conversations; --max-conversations cut the listing"),
            "{text}"
        );
    }
}
