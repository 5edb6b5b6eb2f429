//! The run summary: what the archives held, whatever the policies.
//!
//! One writer for both places a person reads it: `flowgate inspect` prints it alone, and the
//! human report of `flowgate check` prints it, indented, under `run:`. So the two always show
//! the same facts in the same words: archives read and skipped, records by status and the
//! lines they came from, the sample a `MANIFEST.toml` says they stand for, the evidence window
//! with its days and gaps, interfaces, accounts and regions, the formats, and the problems.
//! One fact a line, its label in a column; a list (skipped files, formats, problems) continues
//! under the value, capped with a line saying how many more there are. [`render_json`] is the
//! same summary for machines (`inspect --json`).

use time::macros::format_description;
use time::Date;

use super::{clean_line, count, problem_line};
use crate::manifest::Provenance;
use crate::report::{RunSummary, JSON_SCHEMA_VERSION};
use crate::text::{human_duration, rfc3339};

/// Skipped file names shown.
const MAX_SKIPPED: usize = 20;
/// Problems shown in full.
const MAX_PROBLEMS: usize = 20;
/// Width of the label column: the longest label (`interfaces`) and a space.
const LABEL: usize = 11;

/// The summary as lines without a line feed, for a caller to indent.
pub fn lines(run: &RunSummary, provenance: Option<&Provenance>) -> Vec<String> {
    let mut out = Lines::default();
    let skipped = &run.archives_skipped;
    let mut archives = format!("{} read", run.archives_read);
    if !skipped.is_empty() {
        archives += &format!(", {} skipped as not flow logs by name:", skipped.len());
    }
    out.fact("archives", archives);
    let hidden = skipped.len().saturating_sub(MAX_SKIPPED);
    out.under(
        skipped
            .iter()
            .take(MAX_SKIPPED)
            .map(|s| clean_line(s).into_owned())
            .chain((hidden > 0).then(|| format!("and {hidden} more"))),
    );

    let ok = run.records - run.nodata - run.skipdata;
    out.fact(
        "records",
        format!(
            "{} in {}: {ok} OK, {} NODATA, {} SKIPDATA; {}",
            run.records,
            count(run.lines, "line", "lines"),
            run.nodata,
            run.skipdata,
            count(run.problems_total, "problem", "problems")
        ),
    );
    if let Some(p) = provenance {
        let [what, how] = p.describe();
        out.fact("sample", clean_line(&what).into_owned());
        out.under([clean_line(&how).into_owned()]);
    }

    let c = &run.coverage;
    match (c.first_start, c.last_end) {
        (Some(s), Some(e)) => {
            out.fact(
                "window",
                format!(
                    "{} to {} ({})",
                    rfc3339(s),
                    rfc3339(e),
                    human_duration(c.window_seconds)
                ),
            );
            out.fact("days", format!("{}: {}", c.days.len(), day_runs(&c.days)));
            let gaps = match c.longest_gap {
                Some(g) => format!(
                    "longest {}, from {} to {}; {} without any record",
                    human_duration(g.seconds),
                    rfc3339(g.from),
                    rfc3339(g.to),
                    count(c.hours_without_records, "hour", "hours")
                ),
                None => "none".to_string(),
            };
            out.fact("gaps", gaps);
        }
        _ => out.fact("window", "no records with a time".to_string()),
    }

    out.fact("interfaces", c.interfaces.to_string());
    out.fact("accounts", names(&c.accounts));
    out.fact("regions", names(&c.regions));
    out.fact("formats", run.formats.len().to_string());
    out.under(run.formats.iter().map(|f| {
        format!(
            "{}: {}",
            count(f.archives, "archive", "archives"),
            clean_line(&f.fields)
        )
    }));
    if !run.unknown_fields.is_empty() {
        out.under([format!(
            "unknown fields, carried and not read: {}",
            names(&run.unknown_fields)
        )]);
    }

    if run.problems_total > 0 {
        out.fact(
            "problems",
            format!(
                "{} (the evidence was not read completely: exit 2)",
                run.problems_total
            ),
        );
        let shown = run.problems.len().min(MAX_PROBLEMS) as u64;
        out.under(run.problems.iter().take(MAX_PROBLEMS).map(problem_line));
        if run.problems_total > shown {
            out.under([format!(
                "and {}",
                count(run.problems_total - shown, "more problem", "more problems")
            )]);
        }
    }
    out.0
}

/// Lines of facts: a label in its column, then the value; lists continue under the value.
#[derive(Default)]
struct Lines(Vec<String>);

impl Lines {
    fn fact(&mut self, label: &str, value: String) {
        self.0.push(format!("{label:<LABEL$}{value}"));
    }

    fn under(&mut self, items: impl IntoIterator<Item = String>) {
        for item in items {
            self.0.push(format!("{:LABEL$}{item}", ""));
        }
    }
}

/// Clean names joined by commas, `-` for none.
fn names(v: &[String]) -> String {
    if v.is_empty() {
        return "-".to_string();
    }
    v.iter()
        .map(|s| clean_line(s).into_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The summary as text, one line each: what `flowgate inspect` prints.
pub fn render(run: &RunSummary, provenance: Option<&Provenance>) -> String {
    lines(run, provenance)
        .into_iter()
        .map(|l| l + "\n")
        .collect()
}

/// The inspect document: `{"schema_version": 1, "tool": "flowgate", "inspect": {...}}`.
pub fn render_json(run: &RunSummary, provenance: Option<&Provenance>) -> String {
    let mut doc = serde_json::json!({
        "schema_version": JSON_SCHEMA_VERSION,
        "tool": "flowgate",
        "tool_version": env!("CARGO_PKG_VERSION"),
        "inspect": run,
    });
    if let Some(p) = provenance {
        doc["provenance"] = serde_json::json!(p);
    }
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

/// Days (`YYYY-MM-DD`, sorted) as runs of consecutive days: `2026-11-02 to 2026-11-04,
/// 2026-11-07`. Every day is still named, and a month of logs stays one short line.
fn day_runs(days: &[String]) -> String {
    let format = format_description!("[year]-[month]-[day]");
    let mut runs: Vec<(&str, &str)> = Vec::new();
    let mut last: Option<Date> = None;
    for day in days {
        let date = Date::parse(day, &format).ok();
        let follows = matches!((last, date), (Some(l), Some(d)) if l.next_day() == Some(d));
        match runs.last_mut() {
            Some(run) if follows => run.1 = day,
            _ => runs.push((day, day)),
        }
        last = date;
    }
    runs.iter()
        .map(|&(a, b)| {
            if a == b {
                clean_line(a).into_owned()
            } else {
                format!("{} to {}", clean_line(a), clean_line(b))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::sample;

    #[test]
    fn consecutive_days_read_as_runs() {
        let days = |d: &[&str]| d.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(day_runs(&[]), "");
        assert_eq!(day_runs(&days(&["2026-11-02"])), "2026-11-02");
        assert_eq!(
            day_runs(&days(&[
                "2026-02-27",
                "2026-02-28",
                "2026-03-01",
                "2026-03-03",
                "2026-12-31",
                "2027-01-01"
            ])),
            "2026-02-27 to 2026-03-01, 2026-03-03, 2026-12-31 to 2027-01-01"
        );
    }

    #[test]
    fn long_lists_are_capped_and_say_how_many_more() {
        let mut run = sample::report().run;
        run.archives_skipped = (0..23).map(|i| format!("logs/notes-{i}.md")).collect();
        let p = run.problems[0].clone();
        run.problems = vec![p; 25];
        run.problems_total = 31;
        let text = render(&run, None);
        assert!(text.contains("archives   14 read, 23 skipped as not flow logs by name:\n"));
        assert_eq!(text.matches("logs/notes-").count(), 20);
        assert!(text.contains("\n           and 3 more\nrecords"), "{text}");
        assert_eq!(text.matches("expected 14 fields, found 9").count(), 20);
        assert!(
            text.ends_with("\n           and 11 more problems\n"),
            "{text}"
        );
    }

    #[test]
    fn unknown_fields_and_no_time_are_said() {
        let mut run = sample::report().run;
        run.unknown_fields = vec!["ecs-cluster-x".into()];
        run.coverage.first_start = None;
        let text = render(&run, None);
        assert!(
            text.contains("\nwindow     no records with a time\n"),
            "{text}"
        );
        assert!(!text.contains("\ndays"), "{text}");
        assert!(text.contains("           unknown fields, carried and not read: ecs-cluster-x\n"));
    }

    #[test]
    fn hostile_values_stay_on_their_line() {
        let mut run = sample::hostile_report().run;
        run.archives_skipped = vec!["a\nb\x1b[2J".into()];
        let text = render(&run, None);
        assert!(!text.contains('\x1b') && !text.contains('\r'), "{text}");
        assert!(text.contains("           a\\nb\\x1b[2J\n"), "{text}");
    }

    #[test]
    fn snapshot() {
        let provenance = Provenance {
            manifest: "fixtures/MANIFEST.toml".into(),
            flowgate_version: "0.1.0".into(),
            seed: 7,
            rate: 0.01,
            pseudonymised: true,
            input_archives: 14,
            input_bytes: 9_000_000,
            input_records: 900_000,
            input_first_start: Some("2026-03-02T00:00:00Z".into()),
            input_last_end: Some("2026-03-04T23:59:00Z".into()),
            combinations: 40_000,
            sample_records: 48_226,
        };
        insta::assert_snapshot!(render(&sample::report().run, Some(&provenance)));
    }
}
