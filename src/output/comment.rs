//! `--pr-comment FILE`: the check as one pull-request comment, in Markdown.
//!
//! Modelled on Infracost's and tfcmt's comments: the headline first (with `--base`, what the
//! pull request changes: "This pull request newly blocks 12 conversations in 1 policy and newly
//! allows 0"), then the verdict of the check, a table of the policies that changed, the added
//! allow rules with how much they open against what their traffic used, and the details
//! (conversations, removed rules, every policy's verdict) folded in `<details>`. It opens with a
//! hidden marker, [`MARKER`], so that a workflow finds its earlier comment and updates it in
//! place instead of adding one per push.
//!
//! GitHub refuses a comment over 65,536 characters. The comment is built from whole blocks
//! and, when they do not all fit, ends at a block boundary with a note saying how much was
//! left out and where to find it.

use std::borrow::Cow;

use super::markdown::{blocked_tables, change_blocks, details, md, policy_row, POLICIES_HEADER};
use super::{blocked_count, count, more_conversations, verdict};
use crate::report::service::services;
use crate::report::{Report, Status};

/// The first line of every comment flowgate writes: an HTML comment, invisible on GitHub.
pub const MARKER: &str = "<!-- flowgate-pr-comment -->";
/// GitHub's limit for a comment body, in characters, less a margin.
pub const LIMIT: usize = 65_000;
/// Conversations listed per table.
const TOP_CONVERSATIONS: usize = 10;

/// Joins whole blocks while they fit in `limit` characters; when some do not, ends with a note
/// naming how many blocks were left out.
fn fit(blocks: &[String], limit: usize) -> String {
    let total: usize = blocks.iter().map(|b| b.chars().count()).sum();
    if total <= limit {
        return blocks.concat();
    }
    let note = |left: usize| {
        format!(
            "\n**Comment cut to fit GitHub's size limit: {} left out.** The job summary and the JSON report (`--json`) have everything.\n",
            count(left as u64, "section", "sections")
        )
    };
    let room = limit.saturating_sub(note(blocks.len()).chars().count());
    let mut out = String::new();
    let mut used = 0;
    let mut taken = 0;
    for block in blocks {
        let n = block.chars().count();
        if used + n > room {
            break;
        }
        out.push_str(block);
        used += n;
        taken += 1;
    }
    out.push_str(&note(blocks.len() - taken));
    out
}

fn blocks(report: &Report) -> Vec<String> {
    let mut blocks = vec![format!("{MARKER}\n")];
    let verdict = verdict(report);
    let icon = match report.exit_code() {
        0 => "✅",
        1 => "❌",
        _ => "⚠️",
    };
    match &report.diff {
        Some(d) => {
            // The headline, then at once what the check says: the state the change leaves.
            let mut change = change_blocks(d, "This pull request", "###", TOP_CONVERSATIONS);
            change.insert(1, format!("\n{icon} **The check:** {verdict}\n"));
            blocks.extend(change);
        }
        None => blocks.push(format!("### flowgate: {icon} {verdict}\n")),
    }
    if let Some(p) = &report.provenance {
        blocks.push(format!("\n_{}._\n", p.sample_note()));
    }
    // Why the run cannot be trusted, in full: nothing else matters until it is fixed.
    let untrusting: Vec<String> = report
        .untrusting_findings()
        .map(|f| {
            let place = f
                .place()
                .map(|p| format!(" at {}", md(&p)))
                .unwrap_or_default();
            format!("- `{}`{place}: {}\n", f.code, md(&f.message))
        })
        .collect();
    if !untrusting.is_empty() {
        blocks.push(format!(
            "\n**Why the check cannot be trusted:**\n\n{}",
            untrusting.concat()
        ));
    }
    // The state: failing policies' conversations (with --base, those the pull request does
    // not newly block: they were blocked before it too), then every policy's verdict, folded.
    for p in report
        .policies
        .iter()
        .filter(|p| p.status != Status::Pass && p.conversations_total() > 0)
    {
        let more = more_conversations(p, "the JSON report lists every one");
        let (list, services, total, summary) = match &report.diff {
            None => (
                Cow::Borrowed(p.conversations.as_slice()),
                Cow::Borrowed(p.services.as_slice()),
                p.conversations_total(),
                format!("{}: {} would be blocked", md(&p.name), blocked_count(p)),
            ),
            Some(d) => {
                let new: Vec<_> = d
                    .policies
                    .iter()
                    .filter(|q| q.name == p.name)
                    .flat_map(|q| &q.newly_blocked)
                    .collect();
                let before: Vec<_> = p
                    .conversations
                    .iter()
                    .filter(|c| !new.contains(c))
                    .cloned()
                    .collect();
                // The newly blocked are never cut (they are few and whole in the diff) and
                // are all among the policy's conversations: the rest is exact.
                let total = p.conversations_total().saturating_sub(new.len() as u64);
                let summary = format!(
                    "{}: {}{} would be blocked before and after this pull request",
                    md(&p.name),
                    // The run's bound kept a sample: the count is an estimate.
                    p.conversations_qualifier(),
                    count(total, "conversation", "conversations")
                );
                let grouped = services(&before);
                (Cow::Owned(before), Cow::Owned(grouped), total, summary)
            }
        };
        if total == 0 {
            continue;
        }
        let mut body = String::new();
        if report.diff.is_some() && p.conversations_not_listed.is_some() {
            // Grouping the conversations blocked before needs them all; the cut listing
            // has only some of them.
            let why = if p.conversations_sampled.is_some() {
                "--keep-conversations kept a sample"
            } else {
                "--max-conversations cut the listing"
            };
            body.push_str(&format!(
                "_The services below group the {} listed; {why}._\n\n",
                count(list.len() as u64, "conversation", "conversations")
            ));
        }
        body.push_str(&blocked_tables(
            &services,
            &list,
            total,
            p.conversations_qualifier(),
            TOP_CONVERSATIONS,
            more,
        ));
        blocks.push(details(&summary, &body));
    }
    // The timelines, folded: when the blocked traffic happens, what time the evidence covers.
    let timelines = super::mermaid::failing_blocks(report, "####").concat();
    if !timelines.is_empty() {
        blocks.push(details(
            "Timelines: when traffic would be blocked",
            &timelines,
        ));
    }
    let evidence = super::mermaid::evidence_timeline(report);
    if !evidence.is_empty() {
        blocks.push(details(
            "Timeline: what time the evidence covers",
            &evidence,
        ));
    }
    let lint: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.policy.is_some() && f.severity == crate::report::finding::Severity::Error)
        .map(|f| {
            // An expectation by its name (data, escaped), a lint error by its code.
            let what = match (f.origin, &f.subject) {
                (crate::report::Origin::Expect, Some(name)) => format!("expect: {}", md(name)),
                _ => format!("`{}`", f.code),
            };
            format!(
                "- {} {} at {}: {}\n",
                md(f.policy.as_deref().unwrap_or("")),
                what,
                md(&f.place().unwrap_or_default()),
                md(&f.message)
            )
        })
        .collect();
    if !lint.is_empty() {
        blocks.push(format!(
            "\n**Policy mistakes (lint errors and expectations that do not hold):**\n\n{}",
            lint.concat()
        ));
    }
    if !report.policies.is_empty() {
        let mut table = String::from(POLICIES_HEADER);
        for p in &report.policies {
            table.push_str(&policy_row(p));
        }
        let (pass, ..) = report.status_counts();
        blocks.push(details(
            &format!(
                "Every policy: {} of {} {}",
                pass,
                report.policies.len(),
                if report.policies.len() == 1 {
                    "passes"
                } else {
                    "pass"
                }
            ),
            &table,
        ));
    }
    blocks.push(format!(
        "\n<sub>flowgate {} · evidence: {}</sub>\n",
        report.tool_version,
        md(&report.run.coverage.describe())
    ));
    blocks
}

/// The comment, at most `limit` characters.
pub fn render(report: &Report, limit: usize) -> String {
    fit(&blocks(report), limit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::sample;

    #[test]
    fn without_a_base_the_verdict_leads() {
        let text = render(&sample::trusted_report(), LIMIT);
        assert!(
            text.starts_with(&format!("{MARKER}\n### flowgate: ❌ FAIL: ")),
            "{text}"
        );
        assert!(text.contains("<details><summary>retail-dedicated-line: 25 conversations (700 records) would be blocked</summary>"));
        assert_eq!(
            text.matches("<details>").count(),
            text.matches("</details>").count()
        );
    }

    #[test]
    fn never_exceeds_the_limit_and_says_so() {
        let mut report = sample::trusted_report();
        let failing = report.policies[1].clone();
        for i in 0..400 {
            let mut p = failing.clone();
            p.name = format!("politique-é✓-{i}");
            report.policies.push(p);
        }
        let full = blocks(&report).concat();
        assert!(full.chars().count() > LIMIT);
        for limit in [500, 5_000, LIMIT] {
            let text = render(&report, limit);
            assert!(
                text.chars().count() <= limit,
                "{} > {limit}",
                text.chars().count()
            );
            assert!(
                text.contains("**Comment cut to fit GitHub's size limit: "),
                "{limit}"
            );
            assert_eq!(
                text.matches("<details>").count(),
                text.matches("</details>").count()
            );
            assert!(text.starts_with(MARKER));
        }
    }

    /// The run's bound kept a sample of the failing policy's conversations: the report says
    /// so, counts every record and estimates the conversations.
    #[test]
    fn a_sampled_listing_says_so() {
        let text = render(&sample::sampled_report(), LIMIT);
        assert!(text.contains(crate::output::SAMPLED), "{text}");
        insta::assert_snapshot!(text);
        // With --base, the blocked before and after are the sample's too, and said so.
        let text = render(&sample::sampled_report_with_diff(), LIMIT);
        assert!(
            text.contains(
                ": about 22 conversations would be blocked before and after this pull request"
            ),
            "{text}"
        );
        assert!(text.contains("_The services below group the "), "{text}");
        assert!(
            text.contains("; --keep-conversations kept a sample._"),
            "{text}"
        );
        assert!(text.contains(crate::output::SAMPLED), "{text}");
    }

    #[test]
    fn snapshot() {
        insta::assert_snapshot!(render(&sample::report_with_diff(), LIMIT));
    }

    #[test]
    fn hostile_values_stay_text() {
        let text = render(&sample::hostile_report(), LIMIT);
        assert!(!text.contains("<script>") && !text.contains('\x1b') && !text.contains('\r'));
    }

    #[test]
    fn failing_expectations_are_named() {
        let text = render(&sample::report_with_expectations(), LIMIT);
        assert!(text.contains("expect: 443 is open to the settlement subnet only at policies/retail-dedicated-line.toml:39:1"), "{text}");
        let hostile = render(&sample::hostile_expectations_report(), LIMIT);
        assert!(
            !hostile.contains("<script>") && !hostile.contains('\x1b') && !hostile.contains('\r')
        );
    }

    /// `--max-conversations` cut the listing: the summary, the services and "and N more" count
    /// every conversation.
    #[test]
    fn a_cut_listing_keeps_the_exact_counts() {
        let whole = sample::trusted_report();
        let mut report = whole.clone();
        report.list_conversations(3);
        let text = render(&report, LIMIT);
        assert!(text.contains("<details><summary>retail-dedicated-line: 25 conversations (700 records) would be blocked</summary>"), "{text}");
        assert!(
            text.contains("\nand 22 more conversations; --max-conversations cut the listing; the totals count every one.\n"),
            "{text}"
        );
        let services = crate::output::markdown::services_table(&whole.policies[1].services);
        assert!(text.contains(&services), "{text}");
    }

    /// With `--base`, the conversations blocked before and after are every conversation
    /// less the newly blocked ones (which the diff holds whole), not the listed ones less them.
    #[test]
    fn a_cut_listing_with_a_base_keeps_the_exact_counts() {
        let mut report = sample::report_with_diff();
        // The first three are newly blocked; two of the 22 blocked before are listed.
        report.list_conversations(5);
        let text = render(&report, LIMIT);
        assert!(
            text.contains("retail-dedicated-line: 22 conversations would be blocked before and after this pull request"),
            "{text}"
        );
        assert!(text.contains("_The services below group the 2 conversations listed; --max-conversations cut the listing._"), "{text}");
        assert!(
            text.contains("\nand 20 more conversations; --max-conversations cut the listing"),
            "{text}"
        );
    }
}
