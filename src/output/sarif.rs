//! `--sarif FILE`: the report as SARIF 2.1.0, for GitHub code scanning and other SARIF readers.
//!
//! One result per thing a reviewer must act on in a policy file: a policy whose traffic would
//! be blocked or that could not be judged, an expired waiver, a failed (or warned) evidence
//! demand, an allow rule or waiver that matched nothing, and every finding of lint or of
//! loading the policies. Each sits at its line of the policy file, under a repository-relative
//! URI (`uriBaseId` `%SRCROOT%`), so code scanning shows it in the file. `ruleId` is the
//! stable code of `docs/diagnostics.md`, whose sections are the rules' descriptions and help.
//! What has no place in a policy file (evidence that could not be read) is a tool execution
//! notification, and a run that could not be trusted says so (`executionSuccessful: false`).
//!
//! Code scanning matches results across runs by `partialFingerprints`: ours hashes the policy,
//! what the result is about (a rule's name, a message) and the code, never a line number, so
//! an alert keeps its identity when lines above it move. GitHub takes at most 25,000 results
//! and 10 MB per file: past either, the least important results are left out and a
//! notification says how many.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use crate::report::finding::Severity;
use crate::report::{DemandKind, DemandStatus, Origin, PolicyReport, Report, Status};
use crate::text::{clean_line, clean_text};

use super::{blocked_count, count, more_conversations, problem_line};

/// The rules' descriptions: one `## \`code\`` section each.
const DIAGNOSTICS_MD: &str = include_str!("../../docs/diagnostics.md");
/// The schema a reader validates the file against (OASIS, SARIF 2.1.0 with errata 01).
const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";
/// The key of our fingerprint in `partialFingerprints`; bumped if its recipe ever changes.
const FINGERPRINT_KEY: &str = "flowgate/v1";
/// GitHub code scanning's limits for one run of one file.
pub const MAX_RESULTS: usize = 25_000;
pub const MAX_BYTES: usize = 10 * 1024 * 1024;
/// Conversations named in a `would-block` message.
const TOP_CONVERSATIONS: usize = 5;

/// Where the policy files live relative to the repository, for repository-relative URIs.
///
/// Report paths are as the policies were given (`policies/a.toml`, relative to the directory
/// flowgate ran in, or absolute); code scanning wants them relative to the checkout's root.
#[derive(Clone, Debug)]
pub struct SourceRoot {
    /// The directory relative paths are relative to (absolute).
    pub cwd: PathBuf,
    /// The repository's root (absolute): URIs are relative to it.
    pub root: PathBuf,
}

impl SourceRoot {
    /// Paths relative to `root`, which is also where flowgate ran.
    pub fn at(root: impl Into<PathBuf>) -> SourceRoot {
        let root = root.into();
        SourceRoot {
            cwd: root.clone(),
            root,
        }
    }

    /// `(uri, uriBaseId)`: `policies/a%20b.toml` under `%SRCROOT%` for a file inside the
    /// repository, an absolute `file://` URI without a base for one outside it.
    fn locate(&self, path: &str) -> (String, Option<&'static str>) {
        let path = Path::new(path);
        let absolute = normalize(&self.cwd.join(path));
        match absolute.strip_prefix(normalize(&self.root)) {
            Ok(rel) => (encode_path(rel), Some("%SRCROOT%")),
            Err(_) => (format!("file://{}", encode_absolute(&absolute)), None),
        }
    }
}

/// `a/./b/../c` -> `a/c`, without touching the file system (the file may be gone).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push(c);
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// The path's components, `/`-separated and percent-encoded (RFC 3986: everything but
/// unreserved characters).
fn encode_path(path: &Path) -> String {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(percent_encode(&s.to_string_lossy())),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// `/abs/path` or, on Windows, `/C:/abs/path`.
fn encode_absolute(path: &Path) -> String {
    let mut out = String::new();
    for c in path.components() {
        match c {
            Component::Prefix(p) => {
                out.push('/');
                out.push_str(&p.as_os_str().to_string_lossy().replace('\\', "/"));
            }
            Component::Normal(s) => {
                out.push('/');
                out.push_str(&percent_encode(&s.to_string_lossy()));
            }
            _ => {}
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// SARIF's levels; ours map one to one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
enum Level {
    Error,
    Warning,
    Note,
}

impl From<Severity> for Level {
    fn from(s: Severity) -> Level {
        match s {
            Severity::Error => Level::Error,
            Severity::Warning => Level::Warning,
            Severity::Note => Level::Note,
        }
    }
}

impl Level {
    fn from_severity(severity: &str) -> Level {
        match severity {
            "error" => Level::Error,
            "warning" => Level::Warning,
            _ => Level::Note,
        }
    }
}

/// One rule as `docs/diagnostics.md` describes it.
struct RuleDoc {
    id: String,
    level: Level,
    /// The first sentence of the section.
    short: String,
    /// The first paragraph.
    full: String,
    /// The whole section, Markdown.
    help: String,
}

/// Every rule of `docs/diagnostics.md`, in the order of its sections.
fn rule_docs() -> Vec<RuleDoc> {
    // The summary table: `| [`code`](#code) | severity | found by |`.
    let level_of = |id: &str| {
        DIAGNOSTICS_MD
            .lines()
            .find_map(|l| {
                let rest = l.strip_prefix(&format!("| [`{id}`](#{id}) | "))?;
                Some(Level::from_severity(rest.split(' ').next()?))
            })
            .unwrap_or(Level::Error)
    };
    let mut docs = Vec::new();
    let mut lines = DIAGNOSTICS_MD.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(id) = line.strip_prefix("## `").and_then(|r| r.strip_suffix('`')) else {
            continue;
        };
        let mut body = Vec::new();
        while let Some(next) = lines.peek() {
            if next.starts_with("## ") {
                break;
            }
            body.push(lines.next().unwrap_or_default());
        }
        let help = body.join("\n").trim().to_string();
        let full = help
            .split("\n\n")
            .find(|p| !p.starts_with("```"))
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let short = match full.find(". ") {
            Some(end) => full[..=end].to_string(),
            None => full.clone(),
        };
        docs.push(RuleDoc {
            id: id.to_string(),
            level: level_of(id),
            short,
            full,
            help,
        });
    }
    docs
}

#[derive(Serialize)]
struct Log<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [Run<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run<'a> {
    tool: Tool,
    invocations: [Invocation; 1],
    results: &'a [SarifResult],
    column_kind: &'static str,
}

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: &'static str,
    version: String,
    semantic_version: String,
    information_uri: &'static str,
    rules: Vec<Rule>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    id: String,
    short_description: Text,
    full_description: Text,
    help: Help,
    help_uri: String,
    default_configuration: Configuration,
}

#[derive(Serialize)]
struct Text {
    text: String,
}

#[derive(Serialize)]
struct Help {
    text: String,
    markdown: String,
}

#[derive(Serialize)]
struct Configuration {
    level: Level,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Invocation {
    execution_successful: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_execution_notifications: Vec<Notification>,
}

#[derive(Serialize)]
struct Notification {
    level: Level,
    message: Text,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult {
    rule_id: String,
    rule_index: usize,
    level: Level,
    message: Text,
    locations: [ResultLocation; 1],
    partial_fingerprints: BTreeMap<&'static str, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    properties: Option<Properties>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResultLocation {
    physical_location: PhysicalLocation,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    region: Region,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactLocation {
    uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    uri_base_id: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_column: Option<u32>,
}

#[derive(Serialize)]
struct Properties {
    policy: String,
}

/// A result before it is numbered against the rules.
struct Draft {
    code: String,
    level: Level,
    message: String,
    path: String,
    line: u32,
    column: Option<u32>,
    policy: Option<String>,
    /// What the result is about within its policy: a rule's name, a demand, a message.
    subject: String,
}

impl Draft {
    fn at_policy(p: &PolicyReport, code: &str, level: Level, line: u32, subject: &str) -> Draft {
        Draft {
            code: code.to_string(),
            level,
            message: String::new(),
            path: p.path.clone(),
            line: line.max(1),
            column: None,
            policy: Some(p.name.clone()),
            subject: subject.to_string(),
        }
    }

    fn message(mut self, message: String) -> Draft {
        self.message = message;
        self
    }
}

/// The fingerprint: a hash of the policy (or file), the subject and the code. No line, no
/// count: the same problem keeps it from run to run and when other lines move.
fn fingerprint(d: &Draft) -> String {
    let mut h = blake3::Hasher::new();
    for part in [
        d.policy.as_deref().unwrap_or(&d.path),
        d.subject.as_str(),
        d.code.as_str(),
    ] {
        h.update(part.as_bytes());
        h.update(b"\0");
    }
    h.finalize().to_hex()[..32].to_string()
}

/// `3 conversations (41 records) would be blocked:` and the top ones, one per line.
fn blocked_message(p: &PolicyReport) -> String {
    let mut lines = vec![format!(
        "policy {}: {} would be blocked:",
        clean_line(&p.name),
        blocked_count(p)
    )];
    for c in p.conversations.iter().take(TOP_CONVERSATIONS) {
        let mut line = format!(
            "{} ({})",
            c.describe(),
            count(c.records, "record", "records")
        );
        if let Some(w) = &c.expired_waiver {
            line.push_str(&format!(", waiver \"{}\" expired", clean_line(w)));
        }
        lines.push(line);
    }
    let hidden = p
        .conversations_total()
        .saturating_sub(p.conversations.len().min(TOP_CONVERSATIONS) as u64);
    if hidden > 0 {
        let whole = more_conversations(p, "the JSON report lists every one");
        let shown = p.conversations.len().min(TOP_CONVERSATIONS);
        let words = super::more_words(p.conversations_qualifier(), hidden, shown);
        lines.push(format!("{words} ({whole})"));
    }
    lines.join("\n")
}

/// The stable code of an evidence demand's result.
fn demand_code(kind: DemandKind) -> &'static str {
    match kind {
        DemandKind::Traffic => "evidence-traffic",
        DemandKind::Window => "evidence-window",
        DemandKind::Gaps => "evidence-gaps",
        DemandKind::Skipdata => "evidence-skipdata",
        DemandKind::UnusedAllow => "unused-allow",
        DemandKind::UnusedWaiver => "unused-waiver",
    }
}

/// The level a demand's outcome gives, if any.
fn demand_level(status: DemandStatus) -> Option<Level> {
    match status {
        DemandStatus::Fail => Some(Level::Error),
        DemandStatus::Warn => Some(Level::Warning),
        DemandStatus::Pass | DemandStatus::Skipped => None,
    }
}

/// The results of one judged policy.
fn policy_results(p: &PolicyReport, out: &mut Vec<Draft>) {
    let name = clean_line(&p.name);
    if p.status == Status::Error {
        let mut lines = vec![format!(
            "policy {name} could not be judged against every archive:"
        )];
        lines.extend(p.field_errors.iter().map(|e| clean_line(e).into_owned()));
        out.push(
            Draft::at_policy(p, "missing-field", Level::Error, p.line, "")
                .message(lines.join("\n")),
        );
    }
    if p.conversations_total() > 0 || p.counts.would_block > 0 {
        out.push(
            Draft::at_policy(p, "would-block", Level::Error, p.line, "")
                .message(blocked_message(p)),
        );
    }
    for w in p.waivers.iter().filter(|w| w.expired) {
        let still = if w.hits > 0 {
            format!(
                " and still matches {}, which now would be blocked",
                count(w.hits, "record", "records")
            )
        } else {
            String::new()
        };
        out.push(
            Draft::at_policy(p, "waiver-expired", Level::Error, w.line, &w.name).message(format!(
                "waiver \"{}\" of policy {name} expired on {}{still}; reason given: {}",
                clean_line(&w.name),
                w.expires,
                clean_line(&w.reason)
            )),
        );
    }
    for d in &p.demands {
        let Some(level) = demand_level(d.status) else {
            continue;
        };
        let code = demand_code(d.kind);
        match d.kind {
            // Each rule that matched nothing sits at its own line.
            DemandKind::UnusedAllow => {
                for a in p.unused_allows() {
                    out.push(Draft::at_policy(p, code, level, a.line, &a.name).message(format!(
                        "allow rule \"{}\" of policy {name} matched no traffic: it keeps nothing open that the evidence shows",
                        clean_line(&a.name)
                    )));
                }
            }
            DemandKind::UnusedWaiver => {
                for w in p.waivers.iter().filter(|w| w.hits == 0) {
                    out.push(
                        Draft::at_policy(p, code, level, w.line, &w.name).message(format!(
                            "waiver \"{}\" of policy {name} matched no traffic: it excuses nothing",
                            clean_line(&w.name)
                        )),
                    );
                }
            }
            _ => out.push(
                Draft::at_policy(p, code, level, p.line, d.kind.as_str()).message(format!(
                    "policy {name}: evidence {}: {}",
                    d.kind.as_str(),
                    clean_line(&d.message)
                )),
            ),
        }
    }
}

/// The report as SARIF 2.1.0: pretty-printed JSON ending in a newline, at most
/// [`MAX_RESULTS`] results and about [`MAX_BYTES`].
pub fn render(report: &Report, root: &SourceRoot) -> String {
    render_within(report, root, MAX_RESULTS, MAX_BYTES)
}

fn render_within(
    report: &Report,
    root: &SourceRoot,
    max_results: usize,
    max_bytes: usize,
) -> String {
    let mut drafts = Vec::new();
    for p in &report.policies {
        policy_results(p, &mut drafts);
    }
    // Findings: lint, policy files that did not load, evidence that is not there. One with a
    // place in a policy file is a result there; one without (`no-archives`, an unreadable
    // `--logs` path) cannot be a result, since code scanning shows results in files: it is a
    // notification. An expired waiver is a result above, from the report, with the traffic
    // it still matches, so lint's `waiver-expired` would only say it twice.
    let mut placeless = Vec::new();
    for f in &report.findings {
        // A new kind of finding that points into a policy file joins the first arm; the
        // match is exhaustive so none is left out unnoticed.
        let place = match f.origin {
            Origin::PolicyFile | Origin::Lint | Origin::Expect => f.path.as_ref().zip(f.line),
            // The base revision's files are not the working tree's: lines there mean nothing
            // in the pull request's files.
            Origin::Logs | Origin::Base => None,
        };
        if f.code == "waiver-expired" && f.origin == Origin::Lint && report.is_scanned() {
            continue;
        }
        let level = Level::from(f.severity);
        let Some((path, line)) = place else {
            placeless.push(Notification {
                level,
                message: Text {
                    text: clean_text(&f.rendered).trim_end().to_string(),
                },
            });
            continue;
        };
        drafts.push(Draft {
            code: f.code.clone(),
            level,
            message: clean_text(&f.full_message()).into_owned(),
            path: path.clone(),
            line: line.max(1),
            column: f.column,
            policy: f.policy.clone(),
            // An expectation is known by its name, whatever the policy decides this time.
            subject: f.subject.clone().unwrap_or_else(|| f.message.clone()),
        });
    }
    // Most important first, so the limits cut the least important; the order is otherwise
    // the report's (policies by name, then findings by place).
    drafts.sort_by_key(|d| d.level);

    let mut notifications = placeless;
    notifications.extend(report.run.problems.iter().map(|p| Notification {
        level: Level::Error,
        message: Text {
            text: format!("cannot read the evidence: {}", problem_line(p)),
        },
    }));
    let hidden = report.run.problems_total - report.run.problems.len() as u64;
    if hidden > 0 {
        notifications.push(Notification {
            level: Level::Error,
            message: Text {
                text: format!(
                    "and {} reading the evidence (the JSON report counts them)",
                    count(hidden, "more problem", "more problems")
                ),
            },
        });
    }

    let docs = rule_docs();
    let mut rules: Vec<Rule> = docs.iter().map(rule).collect();
    let mut results = Vec::with_capacity(drafts.len());
    for d in drafts {
        let rule_index = match rules.iter().position(|r| r.id == d.code) {
            Some(i) => i,
            // A code without a section: still a rule, described by its own message.
            None => {
                rules.push(undocumented_rule(&d));
                rules.len() - 1
            }
        };
        let (uri, uri_base_id) = root.locate(&d.path);
        results.push(SarifResult {
            partial_fingerprints: BTreeMap::from([(FINGERPRINT_KEY, fingerprint(&d))]),
            rule_id: d.code,
            rule_index,
            level: d.level,
            message: Text { text: d.message },
            locations: [ResultLocation {
                physical_location: PhysicalLocation {
                    artifact_location: ArtifactLocation { uri, uri_base_id },
                    region: Region {
                        start_line: d.line,
                        start_column: d.column,
                    },
                },
            }],
            properties: d.policy.map(|policy| Properties { policy }),
        });
    }

    let log = Log {
        schema: SCHEMA,
        version: "2.1.0",
        runs: [Run {
            tool: Tool {
                driver: Driver {
                    name: "flowgate",
                    version: report.tool_version.clone(),
                    semantic_version: report.tool_version.clone(),
                    information_uri: env!("CARGO_PKG_REPOSITORY"),
                    rules,
                },
            },
            invocations: [Invocation {
                execution_successful: !report.is_untrusted(),
                tool_execution_notifications: notifications,
            }],
            results: &[],
            column_kind: "unicodeCodePoints",
        }],
    };
    fit(log, &results, max_results, max_bytes)
}

/// `log` with as many of `results` as GitHub's limits allow. Nearly always that is all of
/// them, serialised once; otherwise the longest prefix (the results come most important
/// first) that fits, found by bisection, with a notification saying what was left out.
fn fit<'a>(
    mut log: Log<'a>,
    results: &'a [SarifResult],
    max_results: usize,
    max_bytes: usize,
) -> String {
    let most = results.len().min(max_results);
    log.runs[0].results = &results[..most];
    let text = serialize(&log);
    if most == results.len() && text.len() <= max_bytes {
        return text;
    }
    let notifications = &mut log.runs[0].invocations[0].tool_execution_notifications;
    notifications.push(Notification {
        level: Level::Warning,
        message: Text {
            text: String::new(),
        },
    });
    let mut with = |n: usize| {
        log.runs[0].results = &results[..n];
        let left_out = count((results.len() - n) as u64, "result", "results");
        if let Some(note) = log.runs[0].invocations[0]
            .tool_execution_notifications
            .last_mut()
        {
            note.message.text = format!(
                "{left_out} left out: code scanning takes at most {MAX_RESULTS} results and 10 MB per file; the JSON report has everything"
            );
        }
        let text = serialize(&log);
        (text.len() <= max_bytes).then_some(text)
    };
    // `lo` always fits: a log without results is a few kilobytes of rules.
    let (mut lo, mut hi) = (0, most);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if with(mid).is_some() {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    with(lo).unwrap_or_default()
}

fn serialize(log: &Log<'_>) -> String {
    // Plain data with string keys: serialising cannot fail.
    let mut text = serde_json::to_string_pretty(log).expect("the SARIF log serialises");
    text.push('\n');
    text
}

fn help_uri(id: &str) -> String {
    format!(
        "{}/blob/v{}/docs/diagnostics.md#{id}",
        env!("CARGO_PKG_REPOSITORY"),
        env!("CARGO_PKG_VERSION")
    )
}

fn rule(d: &RuleDoc) -> Rule {
    Rule {
        id: d.id.clone(),
        short_description: Text {
            text: d.short.clone(),
        },
        full_description: Text {
            text: d.full.clone(),
        },
        help: Help {
            text: d.help.clone(),
            markdown: d.help.clone(),
        },
        help_uri: help_uri(&d.id),
        default_configuration: Configuration { level: d.level },
    }
}

fn undocumented_rule(d: &Draft) -> Rule {
    let text = format!("flowgate finding `{}`", d.code);
    Rule {
        id: d.code.clone(),
        short_description: Text { text: text.clone() },
        full_description: Text { text: text.clone() },
        help: Help {
            text: text.clone(),
            markdown: text,
        },
        help_uri: help_uri(&d.code),
        default_configuration: Configuration { level: d.level },
    }
}

/// The schema check, shared with the end-to-end tests.
#[cfg(test)]
#[path = "../../tests/common/sarif_schema.rs"]
mod sarif_schema;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::sample;
    use serde_json::Value;

    use super::sarif_schema as schema;
    use schema::valid;

    /// The validator catches what it should, or the tests below would prove nothing.
    #[test]
    fn the_schema_check_can_fail() {
        let mut v = valid(&render(&sample::trusted_report(), &root()));
        v["runs"][0]["results"][0]["level"] = "fatal".into();
        v["runs"][0]["results"][1]["locations"][0]["physicalLocation"]["region"] =
            serde_json::json!({"startColumn": 3});
        v["runs"][0]["results"][2]["ruleIndex"] = 0.into();
        let problems = schema::problems(&v);
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(problems[0].contains("fatal"), "{problems:#?}");
    }

    fn root() -> SourceRoot {
        SourceRoot::at("/repo")
    }

    fn results(v: &Value) -> Vec<Value> {
        v["runs"][0]["results"].as_array().unwrap().clone()
    }

    #[test]
    fn one_result_per_thing_to_act_on_at_its_line() {
        let v = valid(&render(&sample::trusted_report(), &root()));
        let seen: Vec<(String, String, u64)> = results(&v)
            .iter()
            .map(|r| {
                let loc = &r["locations"][0]["physicalLocation"];
                (
                    r["ruleId"].as_str().unwrap().to_string(),
                    loc["artifactLocation"]["uri"].as_str().unwrap().to_string(),
                    loc["region"]["startLine"].as_u64().unwrap(),
                )
            })
            .collect();
        let file = "policies/retail-dedicated-line.toml".to_string();
        assert_eq!(
            seen,
            [
                ("would-block".into(), file.clone(), 7),
                ("waiver-expired".into(), file.clone(), 22),
                ("evidence-window".into(), file.clone(), 7),
                ("evidence-skipdata".into(), file.clone(), 7),
                ("unused-allow".into(), file.clone(), 16),
                ("rule-shadowed".into(), file.clone(), 16),
            ]
        );
        let r = &results(&v)[0];
        assert_eq!(r["level"], "error");
        assert_eq!(
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"],
            "%SRCROOT%"
        );
        assert_eq!(r["properties"]["policy"], "retail-dedicated-line");
        let message = r["message"]["text"].as_str().unwrap();
        assert!(
            message.starts_with(
                "policy retail-dedicated-line: 25 conversations (700 records) would be blocked:\ntcp 10.0.2.10 -> 10.20.40.12:1433 (40 records)"
            ),
            "{message}"
        );
        assert!(message.ends_with("and 20 more conversations (the JSON report lists every one)"));
        let waiver = results(&v)[1]["message"]["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            waiver.contains("expired on 2026-01-31 and still matches 38 records"),
            "{waiver}"
        );
        assert_eq!(results(&v)[2]["level"], "error");
        assert_eq!(results(&v)[3]["level"], "warning");
        let run = &v["runs"][0];
        assert_eq!(run["invocations"][0]["executionSuccessful"], true);
        assert_eq!(run["tool"]["driver"]["name"], "flowgate");
    }

    #[test]
    fn rules_come_from_the_diagnostics_docs() {
        let v = valid(&render(&sample::report(), &root()));
        let rules = v["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
        let rule = |id: &str| {
            rules
                .iter()
                .find(|r| r["id"] == id)
                .unwrap_or_else(|| panic!("no rule {id}"))
        };
        let wb = rule("would-block");
        assert!(wb["shortDescription"]["text"]
            .as_str()
            .unwrap()
            .starts_with("The policy's scope saw accepted traffic"));
        assert!(wb["help"]["markdown"]
            .as_str()
            .unwrap()
            .contains("waive it with a reason"));
        assert_eq!(
            wb["helpUri"],
            format!(
                "https://github.com/flowgate-dev/flowgate/blob/v{}/docs/diagnostics.md#would-block",
                env!("CARGO_PKG_VERSION")
            )
        );
        assert_eq!(
            rule("unused-allow")["defaultConfiguration"]["level"],
            "warning"
        );
        assert_eq!(
            rule("cidr-host-bits")["defaultConfiguration"]["level"],
            "error"
        );
        // Every code a check result can have is documented, with a sentence and a paragraph.
        for kind in [
            DemandKind::Traffic,
            DemandKind::Window,
            DemandKind::Gaps,
            DemandKind::Skipdata,
            DemandKind::UnusedAllow,
            DemandKind::UnusedWaiver,
        ] {
            rule(demand_code(kind));
        }
        for id in ["would-block", "missing-field", "waiver-expired"] {
            rule(id);
        }
        for doc in rule_docs() {
            assert!(
                doc.short.ends_with('.') && doc.full.len() >= doc.short.len(),
                "{}: {:?}",
                doc.id,
                doc.short
            );
            assert!(!doc.help.contains("\n## "), "{}", doc.id);
        }
        // A code the docs do not know still gets a rule.
        let mut report = sample::report();
        report.findings[0].code = "made-up".into();
        let v = valid(&render(&report, &root()));
        let rules = v["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
        let made_up = rules.iter().find(|r| r["id"] == "made-up").unwrap();
        assert_eq!(
            made_up["shortDescription"]["text"],
            "flowgate finding `made-up`"
        );
    }

    /// Moving lines (a comment added at the top) changes every line number and no fingerprint.
    #[test]
    fn fingerprints_survive_lines_moving() {
        let report = sample::trusted_report();
        let mut moved = report.clone();
        for p in &mut moved.policies {
            p.line += 5;
            p.allows.iter_mut().for_each(|a| a.line += 5);
            p.waivers.iter_mut().for_each(|w| w.line += 5);
        }
        moved
            .findings
            .iter_mut()
            .for_each(|f| f.line = f.line.map(|l| l + 5));
        let (a, b) = (
            results(&valid(&render(&report, &root()))),
            results(&valid(&render(&moved, &root()))),
        );
        let prints = |rs: &[Value]| {
            rs.iter()
                .map(|r| r["partialFingerprints"]["flowgate/v1"].clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(prints(&a), prints(&b));
        assert_ne!(a[0]["locations"], b[0]["locations"]);
        // And they tell results apart.
        let mut unique = prints(&a);
        unique.sort_by_key(ToString::to_string);
        unique.dedup();
        assert_eq!(unique.len(), a.len());
        // More traffic is the same alert.
        let mut more = report.clone();
        more.policies[1].conversations.truncate(3);
        assert_eq!(
            prints(&results(&valid(&render(&more, &root()))))[0],
            prints(&a)[0]
        );
    }

    #[test]
    fn uris_are_relative_to_the_repository() {
        let root = SourceRoot {
            cwd: PathBuf::from("/repo/sub"),
            root: PathBuf::from("/repo"),
        };
        assert_eq!(
            root.locate("policies/a.toml"),
            ("sub/policies/a.toml".into(), Some("%SRCROOT%"))
        );
        assert_eq!(
            root.locate("./../policies/./a b#1.toml"),
            ("policies/a%20b%231.toml".into(), Some("%SRCROOT%"))
        );
        assert_eq!(
            root.locate("/repo/p/ä.toml"),
            ("p/%C3%A4.toml".into(), Some("%SRCROOT%"))
        );
        assert_eq!(
            root.locate("/etc/flowgate/p.toml"),
            ("file:///etc/flowgate/p.toml".into(), None)
        );
        assert_eq!(root.locate("../../x.toml"), ("file:///x.toml".into(), None));
    }

    #[test]
    fn untrusted_runs_say_so_and_list_what_could_not_be_read() {
        let v = valid(&render(&sample::report(), &root()));
        let inv = &v["runs"][0]["invocations"][0];
        assert_eq!(inv["executionSuccessful"], false);
        let notes = inv["toolExecutionNotifications"].as_array().unwrap();
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0]["level"], "error");
        assert!(notes[0]["message"]["text"]
            .as_str()
            .unwrap()
            .ends_with(".log.gz:417: expected 14 fields, found 9"));
    }

    #[test]
    fn github_limits_cut_the_least_important_results() {
        let mut report = sample::trusted_report();
        let template = report.policies[1].clone();
        report.policies = (0..40)
            .map(|i| {
                let mut p = template.clone();
                p.name = format!("policy-{i:02}");
                p
            })
            .collect();
        let all = results(&valid(&render(&report, &root())));
        assert_eq!(all.len(), 40 * 5 + 1);
        // Errors first: the warnings are what a cut loses.
        assert!(all[..120].iter().all(|r| r["level"] == "error"));

        let v = valid(&render_within(&report, &root(), 100, MAX_BYTES));
        assert_eq!(results(&v).len(), 100);
        assert!(results(&v).iter().all(|r| r["level"] == "error"));
        let notes = &v["runs"][0]["invocations"][0]["toolExecutionNotifications"];
        assert_eq!(notes[0]["message"]["text"], "101 results left out: code scanning takes at most 25000 results and 10 MB per file; the JSON report has everything");

        let full = render(&report, &root()).len();
        let text = render_within(&report, &root(), MAX_RESULTS, full / 2);
        assert!(text.len() <= full / 2);
        let kept = results(&valid(&text)).len();
        assert!(kept > 10 && kept < all.len(), "{kept}");
        // The largest prefix that fits: one result more would not.
        assert!(render_within(&report, &root(), kept + 1, usize::MAX).len() > full / 2);
    }

    #[test]
    fn hostile_strings_stay_data() {
        let text = render(&sample::hostile_report(), &root());
        let v = valid(&text);
        assert!(!text.contains('\x1b') && !text.contains('\0') && !text.contains('\r'));
        for r in results(&v) {
            let m = r["message"]["text"].as_str().unwrap();
            assert!(!m.chars().any(|c| c.is_control() && c != '\n'), "{m:?}");
            let uri = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap();
            assert!(
                uri.bytes().all(|b| b.is_ascii_graphic() && b != b'\\'),
                "{uri}"
            );
        }
    }

    #[test]
    fn findings_are_results_where_they_have_a_place_and_notifications_elsewhere() {
        use crate::report::finding::Severity;
        use crate::report::{Finding, Origin};
        let mut load = sample::lint_error();
        load.origin = Origin::PolicyFile;
        load.code = "cidr-host-bits".into();
        load.policy = None;
        load.column = Some(9);
        let no_policies = Finding::plain(
            Origin::PolicyFile,
            Severity::Error,
            "no-policies",
            "no policy files (*.toml) found under policies".into(),
        );
        let mut logs = Finding::plain(
            Origin::Logs,
            Severity::Error,
            "logs-unreadable",
            "nowhere: cannot read: denied".into(),
        );
        logs.path = Some("nowhere".into());
        // A run stopped by its policies: nothing scanned, every report still written.
        let report = crate::report::build::unscanned(
            vec![load, no_policies, logs],
            time::macros::date!(2026 - 03 - 15),
            None,
            None,
        );
        let v = valid(&render(&report, &root()));
        let rs = results(&v);
        assert_eq!(rs.len(), 1);
        assert_eq!(rs[0]["ruleId"], "cidr-host-bits");
        assert_eq!(
            rs[0]["locations"][0]["physicalLocation"]["region"],
            serde_json::json!({"startLine": 10, "startColumn": 9})
        );
        assert_eq!(rs[0]["message"]["text"], "allow `sftp to exchange` matches everything in the scope\ncovers the whole scope\nthe planned block would block nothing: narrow the rule, or the scope");
        assert!(rs[0].get("properties").is_none());
        let inv = &v["runs"][0]["invocations"][0];
        assert_eq!(inv["executionSuccessful"], false);
        let notes: Vec<&str> = inv["toolExecutionNotifications"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["message"]["text"].as_str().unwrap())
            .collect();
        assert_eq!(
            notes,
            [
                "error[no-policies]: no policy files (*.toml) found under policies",
                "error[logs-unreadable]: nowhere: cannot read: denied"
            ]
        );
    }

    #[test]
    fn an_expired_waiver_is_one_result_with_its_traffic() {
        let mut report = sample::trusted_report();
        let mut lint = sample::lint_error();
        lint.code = "waiver-expired".into();
        lint.policy = Some("retail-dedicated-line".into());
        report.findings.push(lint);
        let v = valid(&render(&report, &root()));
        let expired: Vec<Value> = results(&v)
            .into_iter()
            .filter(|r| r["ruleId"] == "waiver-expired")
            .collect();
        assert_eq!(expired.len(), 1);
        assert!(expired[0]["message"]["text"]
            .as_str()
            .unwrap()
            .contains("still matches 38 records"));
    }

    #[test]
    fn same_report_same_bytes() {
        assert_eq!(
            render(&sample::report(), &root()),
            render(&sample::report(), &root())
        );
    }

    /// The run's bound kept a sample: the result says so and counts every record.
    #[test]
    fn a_sampled_listing_says_so() {
        let text = render(&sample::sampled_report(), &root());
        assert!(text.contains(crate::output::SAMPLED), "{text}");
        assert!(
            text.contains("about 25 conversations (700 records)"),
            "{text}"
        );
    }

    #[test]
    fn snapshot() {
        // The rules are the docs (tested above); the snapshot shows their ids only.
        let mut report = sample::report();
        report.policies[1].conversations.truncate(2);
        let mut v: Value = serde_json::from_str(&render(&report, &root())).unwrap();
        let rules = &mut v["runs"][0]["tool"]["driver"]["rules"];
        *rules = Value::Array(
            rules
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].clone())
                .collect(),
        );
        insta::assert_snapshot!(serde_json::to_string_pretty(&v).unwrap());
    }

    #[test]
    fn a_failing_expectation_is_a_result_at_its_line() {
        let v: Value =
            serde_json::from_str(&render(&sample::report_with_expectations(), &root())).unwrap();
        let results = v["runs"][0]["results"].as_array().unwrap();
        let r: Vec<&Value> = results
            .iter()
            .filter(|r| r["ruleId"] == "expect-failed")
            .collect();
        assert_eq!(r.len(), 1);
        let loc = &r[0]["locations"][0]["physicalLocation"];
        assert_eq!(
            loc["artifactLocation"]["uri"],
            "policies/retail-dedicated-line.toml"
        );
        assert_eq!(loc["region"]["startLine"], 39);
        assert_eq!(r[0]["level"], "error");
        // Its rule is documented (docs/diagnostics.md), not a placeholder.
        let rules = v["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
        let rule = rules.iter().find(|x| x["id"] == "expect-failed").unwrap();
        assert_ne!(
            rule["shortDescription"]["text"],
            "flowgate finding `expect-failed`"
        );
    }

    /// `--max-conversations` cut the listing: the result counts every conversation.
    #[test]
    fn a_cut_listing_keeps_the_exact_counts() {
        let mut report = sample::report();
        report.list_conversations(2);
        let text = render(&report, &root());
        assert!(
            text.contains("25 conversations (700 records) would be blocked:"),
            "{text}"
        );
        assert!(
            text.contains("and 23 more conversations (--max-conversations cut the listing"),
            "{text}"
        );
    }
}
