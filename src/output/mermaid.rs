//! Mermaid timelines for the job summary and the pull-request comment: GitHub draws a
//! ```` ```mermaid ```` block as a chart, and where nothing draws it the block is still a
//! readable list of numbers under a sentence that says what they are.
//!
//! Every chart is an `xychart-beta` bar chart with a numeric x-axis (hours or days from the
//! window's first bucket, named in the axis title), because a category axis with 72 labels is
//! unreadable and Mermaid merges equal category names. Only flowgate's own words and numbers
//! go inside a block: protocol names, ports and times, never a policy or archive name, so no
//! untrusted text can end the block, start a directive or add a chart element. Names appear
//! in the Markdown around it, escaped as the rest of the summary is.
//!
//! The grammar used is exactly this (the tests parse every block against it):
//!
//! ```text
//! xychart-beta
//!     title "<text without quotes>"
//!     x-axis "<text>" 0 --> <number>
//!     y-axis "<text>" 0 --> <number>
//!     bar [<number>, ...]
//! ```

use std::fmt::Write;

use super::timeline::{top_services, window, Timeline};
use super::{count, markdown::md};
use crate::report::{Hours, PolicyReport, Report, Status};

/// Failing policies that get timelines; the others are named after them.
pub const POLICIES_CHARTED: usize = 5;

/// One bar chart of `t` as a fenced Mermaid block: `title` and `y` are flowgate's own words.
pub fn chart(title: &str, y: &str, t: &Timeline) -> String {
    let n = t.values.len().max(1) as u64;
    let (axis, step) = if t.bucket_hours.is_multiple_of(24) {
        ("days", t.bucket_hours / 24)
    } else {
        ("hours", t.bucket_hours)
    };
    let values: Vec<String> = t.values.iter().map(u64::to_string).collect();
    let mut out = String::from("```mermaid\nxychart-beta\n");
    let _ = writeln!(out, "    title \"{}\"", quoted(title));
    let _ = writeln!(
        out,
        "    x-axis \"{axis} from {} UTC\" 0 --> {}",
        t.label(0),
        (n - 1).max(1) * step
    );
    // An explicit range: a chart of zeros has none of its own.
    let _ = writeln!(out, "    y-axis \"{}\" 0 --> {}", quoted(y), t.max().max(1));
    let _ = writeln!(out, "    bar [{}]", values.join(", "));
    out.push_str("```\n");
    out
}

/// Our own words only reach a chart, but a quote would still end its string.
fn quoted(s: &str) -> String {
    s.chars()
        .map(|c| if c == '"' || c.is_control() { '\'' } else { c })
        .collect()
}

/// The timelines of one failing policy: a sentence and a chart for each of its top services.
/// Empty when the run has no window.
pub fn policy_timelines(report: &Report, p: &PolicyReport) -> String {
    let Some(win) = window(report) else {
        return String::new();
    };
    let mut out = String::new();
    for (s, hours) in top_services(p) {
        let empty = Hours::default();
        let t = Timeline::new(hours.unwrap_or(&empty), win);
        let name = s.name();
        let _ = writeln!(
            out,
            "\n{}.\n",
            md(&t.describe(&format!("Would-be-blocked records of {name}")))
        );
        out.push_str(&chart(
            &format!("{name}: would-be-blocked records per {}", t.unit()),
            "records",
            &t,
        ));
    }
    if p.services.len() > super::timeline::TOP_SERVICES {
        let _ = writeln!(
            out,
            "\n{} not charted.",
            count(
                (p.services.len() - super::timeline::TOP_SERVICES) as u64,
                "more service",
                "more services"
            )
        );
    }
    out
}

/// The evidence timeline: records per bucket over the window (empty bars are gaps), and
/// SKIPDATA records per bucket when there are any. Empty when the run has no window.
pub fn evidence_timeline(report: &Report) -> String {
    let Some(win) = window(report) else {
        return String::new();
    };
    let run = &report.run;
    let t = Timeline::new(&run.hours, win);
    let empty = t.values.iter().filter(|&&v| v == 0).count();
    let mut out = format!(
        "\n{}; {} without any record.\n\n",
        md(&t.describe("Records")),
        count(empty as u64, "bar", "bars")
    );
    out.push_str(&chart(
        &format!("Evidence: records per {}", t.unit()),
        "records",
        &t,
    ));
    if !run.skipdata_hours.is_empty() {
        let s = Timeline::new(&run.skipdata_hours, win);
        let _ = writeln!(
            out,
            "\n{}: some flows were not logged.\n",
            md(&s.describe("SKIPDATA records"))
        );
        out.push_str(&chart(
            &format!("SKIPDATA records per {}", s.unit()),
            "SKIPDATA records",
            &s,
        ));
    }
    out
}

/// Blocks with the timelines of the failing policies (at most [`POLICIES_CHARTED`]), each
/// under a heading at `level` naming the policy, then a line naming how many were left out.
pub fn failing_blocks(report: &Report, level: &str) -> Vec<String> {
    let failing: Vec<&PolicyReport> = report
        .policies
        .iter()
        .filter(|p| p.status != Status::Pass && !p.services.is_empty())
        .collect();
    let mut blocks: Vec<String> = failing
        .iter()
        .take(POLICIES_CHARTED)
        .map(|p| {
            format!(
                "\n{level} {}: when traffic would be blocked\n{}",
                md(&p.name),
                policy_timelines(report, p)
            )
        })
        .collect();
    if failing.len() > POLICIES_CHARTED {
        blocks.push(format!(
            "\nTimelines of {} are in the HTML report (`--html`).\n",
            count(
                (failing.len() - POLICIES_CHARTED) as u64,
                "more failing policy",
                "more failing policies"
            )
        ));
    }
    blocks
}

#[cfg(test)]
pub(crate) mod grammar;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::sample;

    #[test]
    fn every_chart_parses() {
        for report in [
            sample::report(),
            sample::hostile_report(),
            sample::report_with_diff(),
        ] {
            let text = failing_blocks(&report, "###").concat() + &evidence_timeline(&report);
            let charts = grammar::parse_all(&text).unwrap();
            assert_eq!(charts.len(), 5, "{text}");
        }
    }

    #[test]
    fn charts_hold_the_hours_exactly() {
        let report = sample::report();
        let text = evidence_timeline(&report);
        let charts = grammar::parse_all(&text).unwrap();
        assert_eq!(charts[0].bars.iter().sum::<u64>(), report.run.hours.total());
        assert_eq!(charts[0].bars.len(), 72);
        assert_eq!(charts[0].title, "Evidence: records per hour");
        // One bar per hour: the x-axis runs over the 72 hours' starts, the y-axis to the top.
        assert_eq!(charts[0].x_axis.0, "hours from 2026-03-02 00:00 UTC");
        assert_eq!(charts[0].x_axis.2, 71.0);
        let top = *charts[0].bars.iter().max().unwrap();
        assert_eq!(
            (charts[0].y_axis.0.as_str(), charts[0].y_axis.2),
            ("records", top as f64)
        );
        // The gap of the sample (hours 25 and 26) shows as empty bars.
        assert_eq!(charts[0].bars[25..27], [0, 0]);
        assert_eq!(
            charts[1].bars.iter().sum::<u64>(),
            report.run.skipdata_hours.total()
        );
        let p = &report.policies[1];
        let text = policy_timelines(&report, p);
        let charts = grammar::parse_all(&text).unwrap();
        assert_eq!(charts.len(), 3);
        for (chart, s) in charts.iter().zip(&p.services) {
            assert_eq!(chart.bars.iter().sum::<u64>(), s.records, "{}", s.name());
        }
    }

    #[test]
    fn hostile_names_stay_outside_the_blocks() {
        let report = sample::hostile_report();
        let text = failing_blocks(&report, "###").concat();
        for block in text.split("```mermaid").skip(1) {
            let body = block.split("```").next().unwrap();
            assert!(!body.contains("evil") && !body.contains('<'), "{body}");
        }
        assert!(!text.contains("<script>"), "{text}");
    }

    #[test]
    fn no_window_no_chart() {
        let mut report = sample::report();
        report.run.coverage = Default::default();
        report.run.hours = Hours::default();
        assert_eq!(evidence_timeline(&report), "");
        assert_eq!(policy_timelines(&report, &report.policies[1]), "");
    }

    #[test]
    fn snapshot() {
        let report = sample::report();
        insta::assert_snapshot!(
            failing_blocks(&report, "###").concat() + &evidence_timeline(&report)
        );
    }
}
