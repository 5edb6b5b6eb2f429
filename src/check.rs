//! The library's front door: load policies, find archives, run the pass, build the report.
//!
//! Both the CLI and a policy repository's own `cargo test` go through [`Check`], so a test
//! fails with exactly the report the CLI prints.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::diag::Diagnostics;
use crate::engine::{self, ScanPlan, Tally};
use crate::flowlog::{Format, Problem, ScanOptions};
use crate::policy::PolicySet;
use crate::report::build::{build, ReportContext};
use crate::report::{ExpectationResult, Finding, Origin, Report};
use crate::source::{discover_in, DiscoverError, Window};

mod base;
mod sql_results;

/// Why a check could not produce a report at all. Each maps to exit status 2.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `--base REV` could not be read: no git, no repository, a revision git does not know.
    #[error("{0}")]
    Base(#[from] crate::policy::git::GitError),
    /// Some policy file is wrong; the diagnostics point into it.
    #[error("{0}")]
    Policies(Diagnostics),
    /// No policy file under the given paths.
    #[error("no policy files (*.toml) found under {0}")]
    NoPolicies(String),
    /// No archive under the given paths; `problems` are the paths that could not be read,
    /// `skipped` the files that are not evidence (named in the message, so an empty result
    /// says what it passed over).
    #[error(
        "no flow-log archives found under {paths}{}",
        detail(problems, skipped)
    )]
    NoArchives {
        paths: String,
        problems: Vec<Problem>,
        skipped: Vec<crate::source::Skipped>,
    },
    #[error("cannot start worker threads: {0}")]
    Threads(#[from] rayon::ThreadPoolBuildError),
    /// `--sql-results`: the rows cannot be read, or are not the rows of these policies.
    #[error("{0}")]
    SqlResults(#[from] crate::sql::ResultsError),
    /// `--sql-results` with an option the rows cannot honour.
    #[error("{0}")]
    SqlOptions(String),
    /// The cancel flag was set during the scan: the tally is incomplete, so no report is made
    /// from it. A partial report would count fewer violations than the evidence holds and
    /// could pass where the full scan fails.
    #[error("interrupted: no verdict")]
    Interrupted,
}

/// The archives found under `--logs`.
#[derive(Debug)]
pub struct Found {
    pub archives: Vec<crate::flowlog::Archive>,
    /// Files under `--logs` that are not read (documentation, configuration, ...), with why.
    pub skipped: Vec<crate::source::Skipped>,
    /// Paths that could not be read; each makes the run untrusted.
    pub problems: Vec<Problem>,
    /// What listing `s3://` prefixes found, when some were given.
    pub s3: Option<crate::source::s3::Listing>,
}

/// A configured check. Defaults match a policy repository's layout: `policies/` and
/// `fixtures/`, every core, today's date from the clock.
///
/// A policy repository's `tests/policies.rs` is this, with a fixed date so the test does not
/// change verdict when a waiver expires overnight (this example checks flowgate's own
/// `policies/` on its own `fixtures/`):
///
/// ```
/// let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
/// let report = flowgate::Check::new()
///     .policies([root.join("policies")])
///     .logs([root.join("fixtures")])
///     .today(flowgate::date("2026-11-26").unwrap())
///     .run()
///     .expect("policies and archives load");
/// report.assert_passes();
/// ```
///
/// When some policy would block observed traffic, [`Report::assert_passes`] panics with the
/// report `flowgate check` prints:
///
/// ```should_panic
/// # let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
/// flowgate::Check::new()
///     .policies([root.join("examples/spec-only")])
///     .logs([root.join("fixtures")])
///     .today(flowgate::date("2026-11-26").unwrap())
///     .run()
///     .unwrap()
///     .assert_passes(); // retail-dedicated-line would block tcp 10.0.2.15 -> 10.20.40.12:1433
/// ```
#[derive(Clone, Debug)]
pub struct Check {
    policies: Vec<PathBuf>,
    logs: Vec<PathBuf>,
    today: Option<time::Date>,
    threads: Option<usize>,
    log_format: Option<Format>,
    since: Option<u64>,
    until: Option<u64>,
    base: Option<String>,
    server_evidence: bool,
    sql_results: Option<PathBuf>,
    keep_conversations: usize,
}

impl Default for Check {
    fn default() -> Self {
        Check {
            policies: vec![PathBuf::from("policies")],
            logs: vec![PathBuf::from("fixtures")],
            today: None,
            threads: None,
            log_format: None,
            since: None,
            until: None,
            base: None,
            server_evidence: false,
            sql_results: None,
            keep_conversations: crate::engine::bound::DEFAULT_PAIRS,
        }
    }
}

impl Check {
    pub fn new() -> Self {
        Self::default()
    }

    /// Policy files or directories (every `*.toml` inside).
    pub fn policies<P: Into<PathBuf>>(mut self, paths: impl IntoIterator<Item = P>) -> Self {
        self.policies = paths.into_iter().map(Into::into).collect();
        self
    }

    /// Archives or directories of archives; `-` is standard input.
    pub fn logs<P: Into<PathBuf>>(mut self, paths: impl IntoIterator<Item = P>) -> Self {
        self.logs = paths.into_iter().map(Into::into).collect();
        self
    }

    /// The date waivers are judged against (default: today, UTC).
    pub fn today(mut self, date: time::Date) -> Self {
        self.today = Some(date);
        self
    }

    /// Worker threads (default: every core).
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = Some(n);
        self
    }

    /// (policy, conversation) pairs the run holds at most (default
    /// [`crate::engine::bound::DEFAULT_PAIRS`]): past it every total stays exact and each
    /// policy lists a deterministic sample of its conversations (docs/performance.md).
    /// At least one: a run that kept none would have no sample to list or estimate from.
    pub fn keep_conversations(mut self, n: std::num::NonZeroUsize) -> Self {
        self.keep_conversations = n.get();
        self
    }

    /// Format of archives without a header line.
    pub fn log_format(mut self, format: Format) -> Self {
        self.log_format = Some(format);
        self
    }

    /// Only records ending at or after this Unix time.
    pub fn since(mut self, secs: u64) -> Self {
        self.since = Some(secs);
        self
    }

    /// Only records starting before this Unix time.
    pub fn until(mut self, secs: u64) -> Self {
        self.until = Some(secs);
        self
    }

    /// Gathers who the servers are (`engine::server`) even when no policy is judged, which
    /// otherwise needs no conversation: the benchmark's cost ladder (`inspect
    /// --server-evidence`) times it against `inspect` this way.
    #[doc(hidden)]
    pub fn server_evidence(mut self, on: bool) -> Self {
        self.server_evidence = on;
        self
    }

    /// Also judges the policies as they were at git revision `rev` (read with git from the
    /// same `--policies` paths, relative to the repository root), in the same pass, and puts
    /// the change into [`Report::diff`]. The verdict stays the working tree's.
    pub fn base(mut self, rev: impl Into<String>) -> Self {
        self.base = Some(rev.into());
        self
    }

    /// Judges the rows a SQL engine computed with `flowgate sql`'s query (CSV with a header,
    /// or JSON lines) instead of reading `--logs`: the same report, from the engine's scan.
    pub fn sql_results(mut self, path: impl Into<PathBuf>) -> Self {
        self.sql_results = Some(path.into());
        self
    }

    /// Loads the policies (all diagnostics at once).
    pub fn load_policies(&self) -> Result<PolicySet, Error> {
        let set = PolicySet::load(&self.policies).map_err(Error::Policies)?;
        if set.policies().is_empty() {
            return Err(Error::NoPolicies(join_paths(&self.policies)));
        }
        Ok(set)
    }

    /// Runs the check.
    pub fn run(&self) -> Result<Report, Error> {
        let policies = self.load_policies()?;
        self.run_with(&policies, None, &|| {})
    }

    /// Runs the check with loaded policies, a cancel flag and a per-archive callback.
    /// Once `cancel` is set the scan stops within a few thousand lines per worker and the
    /// result is [`Error::Interrupted`], never a report of the part that was read.
    pub fn run_with(
        &self,
        policies: &PolicySet,
        cancel: Option<&AtomicBool>,
        on_archive: &(dyn Fn() + Sync),
    ) -> Result<Report, Error> {
        if let Some(path) = &self.sql_results {
            return sql_results::run(self, policies, path);
        }
        let today = self
            .today
            .unwrap_or_else(|| time::OffsetDateTime::now_utc().date());
        let Found {
            archives,
            skipped,
            problems: discovery_problems,
            s3,
        } = self.discover()?;
        let plan = ScanPlan {
            scan: ScanOptions {
                log_format: self.log_format.clone(),
            },
            threads: crate::source::threads(&archives, self.threads),
            today,
            since: self.since,
            until: self.until,
            cancel,
            server_evidence: self.server_evidence,
            max_pairs: self.keep_conversations,
        };
        // With --base, REV's policies and the probes of the rules the change adds are judged
        // in the same pass, after the working tree's.
        let base = match &self.base {
            Some(rev) => Some(base::Base::load(rev, &self.policies, policies, today)?),
            None => None,
        };
        let combined = base.as_ref().map(|b| b.scanned(policies));
        let scanned = combined.as_deref().unwrap_or(policies.policies());
        let mut tally: Tally = engine::run(scanned, &archives, &plan, on_archive)?;
        if cancel.is_some_and(|c| c.load(Ordering::SeqCst)) {
            return Err(Error::Interrupted);
        }
        let extra = tally.policies.split_off(policies.policies().len());
        let kinds = base
            .as_ref()
            .map(|_| tally.kinds.clone())
            .unwrap_or_default();
        for p in discovery_problems {
            tally.problems.push(p);
        }
        let (findings, mut expectations) = policy_findings(policies, today);
        let mut report = build(
            tally,
            ReportContext {
                policies,
                archives: &archives,
                skipped,
                today,
                since: self.since,
                until: self.until,
                findings,
                s3,
            },
        );
        for p in &mut report.policies {
            p.expectations = expectations.remove(&p.name).unwrap_or_default();
        }
        report.provenance = crate::manifest::Provenance::find(&self.logs).map(|mut p| {
            p.judge(policies.policies());
            p
        });
        if let Some(base) = base {
            let (diff, findings) = base.finish(extra, policies, &report, &archives, &kinds, today);
            report.diff = Some(diff);
            report.findings.extend(findings);
        }
        Ok(report)
    }

    /// The report of a run that could not scan, saying why: `error` as findings (and, when the
    /// policies did not load, also every `--logs` path that cannot be read), no policy judged.
    /// A run that cannot be trusted still writes every report it was asked for.
    pub fn unscanned_report(&self, error: &Error) -> Report {
        let mut findings = error.findings();
        let mut not_read = Vec::new();
        match error {
            // With --sql-results the evidence is the rows, not --logs.
            Error::Policies(_) | Error::NoPolicies(_) if self.sql_results.is_some() => {}
            Error::Policies(_) | Error::NoPolicies(_) => match self.discover() {
                Ok(found) => {
                    findings.extend(found.problems.iter().map(logs_finding));
                    not_read = found.skipped;
                }
                Err(e) => {
                    findings.extend(e.findings());
                    if let Error::NoArchives { skipped, .. } = e {
                        not_read = skipped;
                    }
                }
            },
            Error::NoArchives { skipped, .. } => not_read = skipped.clone(),
            _ => {}
        }
        let today = self
            .today
            .unwrap_or_else(|| time::OffsetDateTime::now_utc().date());
        let mut report = crate::report::build::unscanned(findings, today, self.since, self.until);
        // Every file not read is listed in every report, also when nothing could be judged.
        report.run.archives_skipped = not_read.iter().map(|s| s.path.clone()).collect();
        report.run.not_read = not_read;
        report
    }

    /// Finds the archives; unreadable paths become problems (the run is then untrusted).
    pub fn discover(&self) -> Result<Found, Error> {
        let window = Window {
            since: self.since,
            until: self.until,
        };
        let found = discover_in(&self.logs, window);
        let problems: Vec<Problem> = found
            .errors
            .into_iter()
            .map(|e| match e {
                DiscoverError::Io { path, source } => {
                    Problem::new(path, None, format!("cannot read: {source}"))
                }
                DiscoverError::S3 { url, message } => Problem::new(url, None, message),
            })
            .collect();
        if found.archives.is_empty() {
            return Err(Error::NoArchives {
                paths: join_paths(&self.logs),
                problems,
                skipped: found.skipped,
            });
        }
        Ok(Found {
            archives: found.archives,
            skipped: found.skipped,
            problems,
            s3: found.s3,
        })
    }
}

/// ` (path: cannot read: ...; path not read: why; ...)` after "no archives found", or
/// nothing.
fn detail(problems: &[Problem], skipped: &[crate::source::Skipped]) -> String {
    /// Files not read named in the message; the reports list them all.
    const SHOWN: usize = 10;
    let mut all: Vec<String> = problems.iter().map(ToString::to_string).collect();
    all.extend(
        skipped
            .iter()
            .take(SHOWN)
            .map(|s| format!("{} not read: {}", s.path, s.reason)),
    );
    if skipped.len() > SHOWN {
        all.push(format!("and {} more files not read", skipped.len() - SHOWN));
    }
    if all.is_empty() {
        return String::new();
    }
    format!(" ({})", all.join("; "))
}

impl Error {
    /// Why no report could be made, as findings: every policy diagnostic, every `--logs` path
    /// that could not be read. Each error among them makes the run untrusted.
    pub fn findings(&self) -> Vec<Finding> {
        use crate::report::finding::Severity;
        match self {
            Error::Policies(d) => d
                .diagnostics()
                .iter()
                .map(|x| Finding::from_diagnostic(Origin::PolicyFile, x, d.files(), None))
                .collect(),
            Error::NoPolicies(_) => vec![Finding::plain(
                Origin::PolicyFile,
                Severity::Error,
                "no-policies",
                self.to_string(),
            )],
            Error::NoArchives {
                paths,
                problems,
                skipped,
            } => {
                let mut out: Vec<Finding> = problems.iter().map(logs_finding).collect();
                out.push(Finding::plain(
                    Origin::Logs,
                    Severity::Error,
                    "no-archives",
                    format!(
                        "no flow-log archives found under {paths}: there is no evidence to judge \
                         the policies against{}",
                        detail(&[], skipped)
                    ),
                ));
                out
            }
            Error::Base(e) => vec![e.finding()],
            Error::SqlResults(_) | Error::SqlOptions(_) => {
                let mut f = Finding::plain(
                    Origin::Logs,
                    Severity::Error,
                    "sql-results",
                    self.to_string(),
                );
                if let Error::SqlResults(e) = self {
                    f.path = e.path().map(str::to_string);
                }
                vec![f]
            }
            Error::Threads(_) | Error::Interrupted => vec![Finding::plain(
                Origin::Logs,
                Severity::Error,
                "not-scanned",
                self.to_string(),
            )],
        }
    }
}

/// A `--logs` path that could not be read, as a finding pointing at it.
fn logs_finding(p: &Problem) -> Finding {
    let mut f = Finding::plain(
        Origin::Logs,
        crate::report::finding::Severity::Error,
        "logs-unreadable",
        p.to_string(),
    );
    f.path = Some(p.archive.clone());
    f
}

/// What the policies say about themselves, without logs: lint's findings and the
/// expectations' failures, in one list in file and position order, and each policy's
/// expectation results.
fn policy_findings(
    policies: &PolicySet,
    today: time::Date,
) -> (Vec<Finding>, HashMap<String, Vec<ExpectationResult>>) {
    let mut findings: Vec<Finding> = crate::policy::lint::lint(policies, today)
        .iter()
        .map(|d| lint_finding(policies, d))
        .collect();
    let (failures, expectations) = run_expectations(policies, today);
    findings.extend(failures);
    findings.sort_by(|a, b| (&a.path, a.line, a.column).cmp(&(&b.path, b.line, b.column)));
    (findings, expectations)
}

/// A lint diagnostic as the report carries it: located, rendered, and naming its policy.
fn lint_finding(policies: &PolicySet, d: &crate::diag::Diagnostic) -> Finding {
    let files = policies.files();
    let file = d.primary_label().map(|l| l.file);
    let policy = policies
        .policies()
        .iter()
        .find(|p| Some(p.file) == file)
        .map(|p| p.name.clone());
    Finding::from_diagnostic(Origin::Lint, d, files, policy)
}

/// Runs every policy's `[[expect]]`s: each one that does not hold as a finding that fails
/// its policy (named after it), and every result by policy name.
fn run_expectations(
    policies: &PolicySet,
    today: time::Date,
) -> (Vec<Finding>, HashMap<String, Vec<ExpectationResult>>) {
    let mut findings = Vec::new();
    let mut results = HashMap::new();
    for policy in policies.policies() {
        let mut list = Vec::new();
        for checked in crate::policy::expect::check(policy, today) {
            let e = &policy.expectations[checked.index];
            list.push(ExpectationResult {
                name: e.name.clone(),
                line: e.line,
                flow: e.flow_text.clone(),
                verdict: e.verdict.as_str().to_string(),
                decided: checked.decided(),
                holds: checked.holds(),
            });
            if let Some(d) = &checked.failure {
                let mut f = Finding::from_diagnostic(
                    Origin::Expect,
                    d,
                    policies.files(),
                    Some(policy.name.clone()),
                );
                f.subject = Some(e.name.clone());
                findings.push(f);
            }
        }
        results.insert(policy.name.clone(), list);
    }
    (findings, results)
}

fn join_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Report {
    /// Panics with the readable report unless every policy passed and the evidence was read
    /// cleanly. Meant for a policy repository's `cargo test`.
    ///
    /// The message opens with one line per failing policy naming its top would-be-blocked
    /// conversations (what a test runner shows first), then the whole report exactly as
    /// `flowgate check` prints it.
    #[track_caller]
    pub fn assert_passes(&self) {
        if self.exit_code() != crate::report::EXIT_PASS {
            panic!("{}", self.failure_message());
        }
    }

    /// The message [`Report::assert_passes`] panics with.
    pub fn failure_message(&self) -> String {
        use crate::text::clean_line;
        use std::fmt::Write;
        /// Conversations named in the headline of each failing policy.
        const TOP: usize = 3;
        let mut m = format!(
            "flowgate check failed (exit {}): {}\n",
            self.exit_code(),
            crate::output::verdict(self)
        );
        for p in self
            .policies
            .iter()
            .filter(|p| p.status != crate::report::Status::Pass)
        {
            let _ = write!(m, "  {} {}", p.status.as_str(), clean_line(&p.name));
            if !p.conversations.is_empty() {
                let top: Vec<String> = p
                    .conversations
                    .iter()
                    .take(TOP)
                    .map(|c| c.describe())
                    .collect();
                let _ = write!(m, ": would block {}", top.join(", "));
                if p.conversations.len() > TOP {
                    let _ = write!(m, " and {} more", p.conversations.len() - TOP);
                }
            }
            m.push('\n');
        }
        m.push('\n');
        m.push_str(&crate::output::human::render(self, false));
        m
    }
}
