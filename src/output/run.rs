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
    let skipped = &run.not_read;
    let mut archives = format!("{} read", run.archives_read);
    if !run.kinds.is_empty() {
        archives += &format!(": {}", kinds(run));
    }
    if !skipped.is_empty() {
        archives += &format!("; {} not read:", skipped.len());
    }
    out.fact("archives", archives);
    let hidden = skipped.len().saturating_sub(MAX_SKIPPED);
    out.under(
        skipped
            .iter()
            .take(MAX_SKIPPED)
            .map(|s| format!("{} ({})", clean_line(&s.path), clean_line(&s.reason)))
            .chain((hidden > 0).then(|| format!("and {hidden} more"))),
    );
    if let Some(s3) = &run.s3 {
        out.fact("s3", s3_listing(s3));
    }
    if let Some(cw) = &run.cloudwatch {
        let mut what = count(cw.log_streams, "log stream", "log streams");
        // filter-log-events pages and export lines do not name their log group.
        if !cw.log_groups.is_empty() {
            what += &format!(
                " in {} ({})",
                count(cw.log_groups.len() as u64, "log group", "log groups"),
                names(&cw.log_groups)
            );
        }
        if cw.control_messages > 0 {
            what += &format!(
                "; {} skipped",
                count(cw.control_messages, "CONTROL_MESSAGE", "CONTROL_MESSAGEs")
            );
        }
        out.fact("cloudwatch", what);
    }

    let ok = run.records - run.nodata - run.skipdata;
    out.fact(
        "records",
        format!(
            "{} in {}: {ok} OK, {} NODATA, {} SKIPDATA; {}",
            run.records,
            units(run),
            run.nodata,
            run.skipdata,
            count(run.problems_total, "problem", "problems")
        ),
    );
    if let Some(p) = provenance {
        let [what, how] = p.describe();
        out.fact("sample", clean_line(&what).into_owned());
        let warnings = p.warnings().into_iter().map(|w| format!("warning: {w}"));
        out.under(
            std::iter::once(how)
                .chain(warnings)
                .map(|l| clean_line(&l).into_owned()),
        );
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

/// What listing S3 found: `1176 objects listed in 34 requests: 24 to read, 1150 outside
/// --since/--until, 2 not flow logs; 21 date folders outside the window not listed`.
fn s3_listing(s3: &crate::source::s3::Listing) -> String {
    let mut text = format!(
        "{} listed in {}: {} to read",
        count(s3.objects_listed, "object", "objects"),
        count(s3.list_requests, "request", "requests"),
        s3.objects_to_read
    );
    if s3.objects_outside_window > 0 {
        text += &format!(", {} outside --since/--until", s3.objects_outside_window);
    }
    if s3.objects_not_evidence > 0 {
        text += &format!(", {} not flow logs", s3.objects_not_evidence);
    }
    if s3.folders_outside_window > 0 {
        text += &format!(
            "; {} outside the window not listed",
            count(s3.folders_outside_window, "date folder", "date folders")
        );
    }
    text
}

/// Archives read by kind: `76 text, 2 Parquet, 3 CloudWatch Logs (2 Firehose, 1 export-task
/// object)`.
pub(crate) fn kinds(run: &RunSummary) -> String {
    use crate::flowlog::{CloudWatchShape, Kind};
    let family = |f: &str| -> u64 {
        run.kinds
            .iter()
            .filter(|k| k.kind.family() == f)
            .map(|k| k.archives)
            .sum()
    };
    let mut parts = Vec::new();
    for (f, name) in [("text", "text"), ("parquet", "Parquet")] {
        let n = family(f);
        if n > 0 {
            parts.push(format!("{n} {name}"));
        }
    }
    let shapes: Vec<String> = run
        .kinds
        .iter()
        .filter_map(|k| match k.kind {
            Kind::CloudWatch(shape) => Some(match shape {
                CloudWatchShape::Subscription => {
                    count(k.archives, "subscription payload", "subscription payloads")
                }
                CloudWatchShape::Export => {
                    count(k.archives, "export-task object", "export-task objects")
                }
                // "Firehose" and "filter-log-events output" read as well for any number.
                _ => format!("{} {}", k.archives, shape.as_str()),
            }),
            _ => None,
        })
        .collect();
    if !shapes.is_empty() {
        parts.push(format!(
            "{} CloudWatch Logs ({})",
            family("cloudwatch"),
            shapes.join(", ")
        ));
    }
    parts.join(", ")
}

/// What the records were read from, in the units of the kinds read: `3999 lines` of text,
/// `5 rows` of Parquet, `3796 events` of CloudWatch Logs, `10 lines and rows` of both.
fn units(run: &RunSummary) -> String {
    let mut units: Vec<crate::flowlog::Unit> = run.kinds.iter().map(|k| k.kind.unit()).collect();
    units.sort();
    units.dedup();
    match units.as_slice() {
        [] => count(run.lines, "line", "lines"),
        [one] => {
            let one = one.as_str();
            count(run.lines, one, &format!("{one}s"))
        }
        many => {
            let names: Vec<String> = many.iter().map(|u| format!("{}s", u.as_str())).collect();
            let (last, rest) = names.split_last().expect("two or more");
            format!("{} {} and {last}", run.lines, rest.join(", "))
        }
    }
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
        run.not_read = (0..23)
            .map(|i| crate::source::Skipped {
                path: format!("logs/notes-{i}.md"),
                reason: "`.md`: documentation, not flow logs".into(),
            })
            .collect();
        let p = run.problems[0].clone();
        run.problems = vec![p; 25];
        run.problems_total = 31;
        let text = render(&run, None);
        assert!(
            text.contains("archives   14 read: 14 text; 23 not read:\n"),
            "{text}"
        );
        assert!(
            text.contains("\n           logs/notes-0.md (`.md`: documentation, not flow logs)\n")
        );
        assert_eq!(text.matches("logs/notes-").count(), 20);
        assert!(text.contains("\n           and 3 more\nrecords"), "{text}");
        assert_eq!(text.matches("expected 14 fields, found 9").count(), 20);
        assert!(
            text.ends_with("\n           and 11 more problems\n"),
            "{text}"
        );
    }

    #[test]
    fn kinds_and_cloudwatch_sources_are_counted() {
        use crate::flowlog::{CloudWatchShape, Kind};
        use crate::report::{CloudWatchSummary, KindUse};
        let mut run = sample::report().run;
        run.not_read.clear();
        run.kinds = [
            (Kind::Text, 10),
            (Kind::Parquet, 2),
            (Kind::CloudWatch(CloudWatchShape::Firehose), 3),
            (Kind::CloudWatch(CloudWatchShape::Export), 1),
        ]
        .into_iter()
        .map(|(kind, archives)| KindUse { kind, archives })
        .collect();
        run.cloudwatch = Some(CloudWatchSummary {
            log_groups: vec!["vpc-flow-logs".into()],
            log_streams: 40,
            control_messages: 2,
        });
        let text = render(&run, None);
        assert!(
            text.starts_with(
                "archives   14 read: 10 text, 2 Parquet, 4 CloudWatch Logs (3 Firehose, 1 export-task object)\n\
                 cloudwatch 40 log streams in 1 log group (vpc-flow-logs); 2 CONTROL_MESSAGEs skipped\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(&format!("in {} lines, rows and events:", run.lines)),
            "{text}"
        );
        // filter-log-events output names no log group: none is claimed.
        run.cloudwatch = Some(CloudWatchSummary {
            log_groups: Vec::new(),
            log_streams: 1,
            control_messages: 0,
        });
        run.kinds = vec![KindUse {
            kind: Kind::CloudWatch(CloudWatchShape::Events),
            archives: 2,
        }];
        let text = render(&run, None);
        assert!(
            text.starts_with(
                "archives   14 read: 2 CloudWatch Logs (2 filter-log-events output)\n\
                 cloudwatch 1 log stream\n"
            ),
            "{text}"
        );
        // Records are counted in the units their kinds have.
        assert!(
            text.contains(&format!("in {} events:", run.lines)),
            "{text}"
        );
        run.kinds.push(KindUse {
            kind: Kind::Parquet,
            archives: 1,
        });
        let text = render(&run, None);
        assert!(
            text.contains(&format!("in {} rows and events:", run.lines)),
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
        run.not_read = vec![crate::source::Skipped {
            path: "a\nb\x1b[2J".into(),
            reason: "c\rd".into(),
        }];
        let text = render(&run, None);
        assert!(!text.contains('\x1b') && !text.contains('\r'), "{text}");
        assert!(
            text.contains("           a\\nb\\x1b[2J (c\\rd)\n"),
            "{text}"
        );
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
            cut_for: vec!["retail".into()],
            scopes: Vec::new(),
            outside_scopes: vec!["admin-ports".into()],
        };
        insta::assert_snapshot!(render(&sample::report().run, Some(&provenance)));
    }
}
