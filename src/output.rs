//! Output writers: the last stage of the pipeline, from a sorted [`Report`] to text.
//!
//! One small file per format, each a pure function of the report: [`human`] for terminals,
//! [`json`] for machines, [`junit`] for CI test reports, [`github`] for workflow annotations,
//! [`summary`] for the GitHub job summary, [`sarif`] for code scanning and [`html`] for a
//! self-contained web page; [`run`] is the run
//! summary that the human report and `flowgate inspect` share. None of them prints, reads the
//! environment or the clock, so the same report always gives the same bytes. [`Format`] picks
//! the writer for `--format`; JUnit, SARIF and the job summary are files written next to it.
//!
//! Every string in a report may come from an archive or a policy file that someone else wrote,
//! so every writer passes data through the cleaners of [`crate::text`] ([`clean_text`], [`clean_line`])
//! before its own escaping: no value can move a terminal cursor, end an XML section or start a
//! workflow command.

pub mod comment;
pub mod github;
pub mod html;
pub mod human;
pub mod json;
pub mod junit;
mod markdown;
pub mod mermaid;
pub mod run;
pub mod sarif;
pub mod summary;
pub mod timeline;

#[cfg(test)]
pub(crate) mod sample;

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::report::{protocol_name, Conversation, ProblemReport, Report, Status};
use crate::text::rfc3339;
pub use crate::text::{clean_line, clean_text};

/// A format for the main output of `flowgate check` (`--format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The readable terminal report.
    Human,
    /// The whole report as one JSON document.
    Json,
    /// GitHub workflow commands (annotations) and a verdict line.
    Github,
}

impl Format {
    /// Every format, in the order `--help` lists them.
    pub const ALL: [Format; 3] = [Format::Human, Format::Json, Format::Github];
    /// The names `--format` accepts, in the order of [`Format::ALL`].
    pub const NAMES: [&'static str; 3] = ["human", "json", "github"];

    /// The name `--format` accepts.
    pub fn name(self) -> &'static str {
        match self {
            Format::Human => "human",
            Format::Json => "json",
            Format::Github => "github",
        }
    }

    /// One line for `--help`.
    pub fn help(self) -> &'static str {
        match self {
            Format::Human => "readable report for a terminal",
            Format::Json => "the complete report as JSON (every conversation)",
            Format::Github => "GitHub Actions annotations and a verdict line",
        }
    }

    /// Renders `report` in this format. `color` only affects [`Format::Human`].
    pub fn render(self, report: &Report, color: bool) -> String {
        match self {
            Format::Human => human::render(report, color),
            Format::Json => json::render(report),
            Format::Github => github::render(report),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `--format` value that names no format.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown format `{0}`; expected one of: human, json, github")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| UnknownFormat(s.to_string()))
    }
}

/// `10.20.40.12:1433`, `[2a02:cf40::7]:443`, or `-` where the record had no address.
pub(crate) fn server_port(c: &Conversation) -> String {
    match (c.server, c.server_port) {
        (Some(IpAddr::V6(a)), Some(p)) => format!("[{a}]:{p}"),
        (Some(a), Some(p)) => format!("{a}:{p}"),
        (None, Some(p)) => format!("-:{p}"),
        (a, None) => a.map_or_else(|| "-".to_string(), |a| a.to_string()),
    }
}

/// The cells every conversation table starts with: protocol, client, server:port, records,
/// packets, bytes, first and last seen. Addresses and numbers only, so no cleaning is needed.
/// Whether a table of these conversations needs the "server by" column: some server was
/// inferred rather than read from tcp-flags or fixed by the protocol.
pub(crate) fn shows_server_by(conversations: &[Conversation]) -> bool {
    conversations.iter().any(|c| c.server_by.is_inferred())
}

pub(crate) fn conversation_cells(c: &Conversation, server_by: bool) -> Vec<String> {
    let mut cells = vec![
        protocol_name(c.protocol),
        c.client.map_or_else(|| "-".to_string(), |a| a.to_string()),
        server_port(c),
    ];
    if server_by {
        cells.push(c.server_by.as_str().to_string());
    }
    cells.extend([
        c.records.to_string(),
        c.packets.to_string(),
        c.bytes.to_string(),
        when(c.first_start),
        when(c.last_end),
    ]);
    cells
}

/// Writes `contents` to `path` whole or not at all: a temporary file beside it, then a
/// rename. A run killed halfway never leaves a truncated report (a JUnit file a CI reporter
/// could read as green, half a sample archive). Missing parent directories are created: a
/// passing check must not turn into a failure because `reports/` does not exist yet.
pub fn write_atomic(path: &std::path::Path, contents: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, |f| std::io::Write::write_all(f, contents))
}

/// [`write_atomic`], the contents written by `write` as they are made (a large JSON report
/// goes to its file without being held in memory whole).
pub fn write_atomic_with(
    path: &std::path::Path,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map_or_else(|| "report".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        write(&mut f)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// RFC 3339 for a time, `-` for none.
pub(crate) fn when(t: Option<u64>) -> String {
    t.map_or_else(|| "-".to_string(), rfc3339)
}

/// Width of a cell on screen: characters, not counting our own colour codes. Data is cleaned
/// before it reaches a cell, so every ESC in one is ours.
fn visible_width(s: &str) -> usize {
    let mut width = 0;
    let mut in_escape = false;
    for c in s.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => width += 1,
        }
    }
    width
}

/// Pads cells into aligned columns, two spaces apart; columns listed in `right` are
/// right-aligned (numbers). Cells must already be clean single-line text (colour codes of our
/// own are fine).
pub(crate) fn align(rows: &[Vec<String>], right: &[usize]) -> Vec<String> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; columns];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(visible_width(cell));
        }
    }
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                let pad = widths[i] - visible_width(cell);
                if right.contains(&i) {
                    line.extend(std::iter::repeat_n(' ', pad));
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            line.truncate(line.trim_end().len());
            line
        })
        .collect()
}

/// The would-be-blocked conversations as an aligned plain-text table, the first `max` of them
/// in the report's order, then a line saying how many more there are and where to find them.
pub(crate) fn conversation_table(
    conversations: &[Conversation],
    total: u64,
    qualifier: &str,
    max: usize,
    more: &str,
) -> Vec<String> {
    let shown = &conversations[..conversations.len().min(max)];
    let hidden = total.saturating_sub(shown.len() as u64);
    if shown.is_empty() {
        // An empty sample: no table under a header, only what is known.
        return if hidden > 0 {
            vec![format!("{} ({more})", more_words(qualifier, hidden, 0))]
        } else {
            Vec::new()
        };
    }
    let waivers = shown.iter().any(|c| c.expired_waiver.is_some());
    let server_by = shows_server_by(shown);
    let mut header: Vec<String> = ["PROTO", "CLIENT", "SERVER:PORT"]
        .map(String::from)
        .to_vec();
    if server_by {
        header.push("SERVER BY".into());
    }
    header.extend(["RECORDS", "PACKETS", "BYTES", "FIRST SEEN", "LAST SEEN"].map(String::from));
    // The example path is long, so it goes last; the waiver column only exists when needed.
    if waivers {
        header.push("EXPIRED WAIVER".into());
    }
    header.push("EXAMPLE".into());
    let mut rows = vec![header];
    for c in shown {
        let mut row = conversation_cells(c, server_by);
        if waivers {
            row.push(clean_line(c.expired_waiver.as_deref().unwrap_or("-")).into_owned());
        }
        row.push(clean_line(&c.example.to_string()).into_owned());
        rows.push(row);
    }
    let numbers = if server_by { [4, 5, 6] } else { [3, 4, 5] };
    let mut lines = align(&rows, &numbers);
    if hidden > 0 {
        lines.push(format!(
            "... {} ({more})",
            more_words(qualifier, hidden, shown.len())
        ));
    }
    lines
}

/// The `hidden` conversations a listing of `shown` leaves out, in words: `and 3 more
/// conversations`; `and about 571 more conversations` when `qualifier`
/// ([`crate::report::PolicyReport::conversations_qualifier`]) says they are estimated; `none
/// in the sample: at least 2 conversations` when the listing is empty.
pub(crate) fn more_words(qualifier: &str, hidden: u64, shown: usize) -> String {
    if shown == 0 {
        let none = if qualifier.is_empty() {
            "none listed"
        } else {
            "none in the sample"
        };
        format!(
            "{none}: {qualifier}{}",
            count(hidden, "conversation", "conversations")
        )
    } else {
        format!(
            "and {qualifier}{}",
            count(hidden, "more conversation", "more conversations")
        )
    }
}

/// What the run's bound on conversations made of a policy's listing, for every writer.
pub(crate) const SAMPLED: &str = "--keep-conversations bound the run's memory: the listing is a deterministic sample, not the top; records, packets, bytes and the verdict count every one, the number of conversations is estimated";

/// [`SAMPLED`] for a policy the sample holds none of: nothing to estimate from.
pub(crate) const SAMPLED_NONE: &str = "--keep-conversations bound the run's memory: the sample holds none of this policy's conversations, so their number is not estimated, only at least one per service; records, packets, bytes and the verdict count every one";

/// [`SAMPLED`] when `--max-conversations` also cut the sample's listing.
pub(crate) const SAMPLED_AND_CUT: &str = "--keep-conversations bound the run's memory and --max-conversations cut the listing: it is part of a deterministic sample, not the top; records, packets, bytes and the verdict count every one, the number of conversations is estimated";

/// Where the conversations a writer leaves out can be read: the JSON report, unless
/// `--max-conversations` cut its listing too, or the run's bound kept only a sample.
pub(crate) fn more_conversations(
    p: &crate::report::PolicyReport,
    json: &'static str,
) -> &'static str {
    if let Some(s) = p.conversations_sampled {
        if s.sampled == 0 {
            SAMPLED_NONE
        } else if (p.conversations.len() as u64) < s.sampled {
            // --max-conversations cut the listing below the sample's size too.
            SAMPLED_AND_CUT
        } else {
            SAMPLED
        }
    } else if p.conversations_not_listed.is_some() {
        "--max-conversations cut the listing; the totals count every one"
    } else {
        json
    }
}

/// `archive:line: message` (`archive: row N: message` for Parquet, `event N` for CloudWatch)
/// on one line, whatever the archive name or message hold.
pub(crate) fn problem_line(p: &ProblemReport) -> String {
    let (archive, message) = (clean_line(&p.archive), clean_line(&p.message));
    match p.line {
        Some(line) => format!("{}: {message}", p.unit.locate(&archive, line)),
        None => format!("{archive}: {message}"),
    }
}

/// `1 policy`, `2 policies`.
pub(crate) fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `3 conversations (41 records)`: how much of a policy's traffic would be blocked; `about
/// 3100 conversations` when the run's bound kept a sample, `at least 2` when the sample
/// holds none of them.
pub(crate) fn blocked_count(p: &crate::report::PolicyReport) -> String {
    format!(
        "{}{} ({})",
        p.conversations_qualifier(),
        count(p.conversations_total(), "conversation", "conversations"),
        count(p.counts.would_block, "record", "records")
    )
}

/// Why the failing policies fail, as a clause: `traffic would be blocked`, `evidence demands
/// not met`, `lint errors`, joined by commas.
fn failure_reasons(report: &Report) -> String {
    let failing = report.policies.iter().filter(|p| p.status == Status::Fail);
    let (mut traffic, mut evidence, mut lint, mut expect) = (false, false, false, false);
    for p in failing {
        traffic |= !p.conversations.is_empty() || p.counts.would_block > 0;
        evidence |= p
            .demands
            .iter()
            .any(|d| d.status == crate::report::DemandStatus::Fail);
        for f in report.findings.iter().filter(|f| f.fails(&p.name)) {
            match f.origin {
                crate::report::Origin::Expect => expect = true,
                _ => lint = true,
            }
        }
    }
    let mut reasons = Vec::new();
    if traffic {
        reasons.push("traffic would be blocked");
    }
    if evidence {
        reasons.push("evidence demands not met");
    }
    if lint {
        reasons.push("lint errors");
    }
    if expect {
        reasons.push("expectations do not hold");
    }
    if reasons.is_empty() {
        reasons.push("traffic would be blocked");
    }
    reasons.join(", ")
}

/// Why the findings make the run untrusted, as clauses holding only counts: `2 policy files
/// could not be loaded`, `no flow-log archives found`.
fn untrusting_reasons(report: &Report) -> Vec<String> {
    use crate::report::Origin;
    let mut files = std::collections::BTreeSet::new();
    let (mut no_policies, mut no_archives, mut sql, mut other) = (false, false, false, 0u64);
    let mut logs = std::collections::BTreeSet::new();
    for f in report.untrusting_findings() {
        match (f.origin, f.code.as_str(), &f.path) {
            (Origin::PolicyFile, _, Some(path)) => {
                files.insert(path.as_str());
            }
            (Origin::PolicyFile, "no-policies", None) => no_policies = true,
            (Origin::Logs, "no-archives", _) => no_archives = true,
            (Origin::Logs, "sql-results", _) => sql = true,
            (Origin::Logs, _, Some(path)) => {
                logs.insert(path.as_str());
            }
            _ => other += 1,
        }
    }
    let mut why = Vec::new();
    if !files.is_empty() {
        why.push(format!(
            "{} could not be loaded",
            count(files.len() as u64, "policy file", "policy files")
        ));
    }
    if no_policies {
        why.push("no policy files found".into());
    }
    if !logs.is_empty() {
        why.push(format!(
            "{} could not be read",
            count(logs.len() as u64, "logs path", "logs paths")
        ));
    }
    if no_archives {
        why.push("no flow-log archives found".into());
    }
    if sql {
        why.push("the SQL engine's rows could not be used".into());
    }
    if other > 0 {
        why.push(count(other, "other error", "other errors"));
    }
    why
}

/// The one-line verdict every format ends with. It holds only counts, never data, so it is
/// safe in any output as it is.
pub fn verdict(report: &Report) -> String {
    let (pass, fail, error) = report.status_counts();
    let total = report.policies.len();
    if report.is_untrusted() {
        let mut why = untrusting_reasons(report);
        if report.run.problems_total > 0 {
            why.push(format!(
                "{} reading the evidence",
                count(report.run.problems_total, "problem", "problems")
            ));
        }
        if error > 0 {
            why.push(format!(
                "{} of {total} could not be judged",
                count(error as u64, "policy", "policies")
            ));
        }
        if fail > 0 {
            why.push(format!("{fail} of {total} would fail"));
        }
        format!("UNTRUSTED: {} (exit 2)", why.join("; "))
    } else if fail > 0 {
        let verb = if total == 1 {
            "policy fails"
        } else {
            "policies fail"
        };
        format!(
            "FAIL: {fail} of {total} {verb}: {}",
            failure_reasons(report)
        )
    } else {
        let verb = if total == 1 {
            "policy passes"
        } else {
            "policies pass"
        };
        format!("PASS: {pass} of {total} {verb}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_round_trip() {
        for (f, name) in Format::ALL.into_iter().zip(Format::NAMES) {
            assert_eq!(f.name(), name);
            assert_eq!(name.parse::<Format>(), Ok(f));
        }
        assert!("xml".parse::<Format>().is_err());
    }

    #[test]
    fn verdicts_name_the_exit_status() {
        let mut r = sample::report();
        assert_eq!(
            verdict(&r),
            "UNTRUSTED: 1 problem reading the evidence; 1 of 2 would fail (exit 2)"
        );
        r = sample::trusted_report();
        assert_eq!(
            verdict(&r),
            "FAIL: 1 of 2 policies fail: traffic would be blocked, evidence demands not met"
        );
        r.policies.remove(1);
        assert_eq!(verdict(&r), "PASS: 1 of 1 policy passes");
    }
}
