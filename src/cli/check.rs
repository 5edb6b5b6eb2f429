//! `flowgate check`: the product. Policies and archives in; reports and an exit status out.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use clap::Args;

use super::progress::Progress;
use super::{
    parse_date, parse_time, print, print_with, write_atomic, write_atomic_with, CommonArgs,
};
use crate::check::{Check, Error};
use crate::output::{self, Format as OutputFormat};
use crate::report::EXIT_INTERRUPTED;

/// GitHub refuses step summaries over 1 MiB; keep a margin for what other steps append.
const SUMMARY_LIMIT: usize = 1024 * 1024 - 64 * 1024;

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Write a JUnit XML report (one test suite per policy).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write the full JSON report (every conversation, uncapped).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a SARIF 2.1.0 report for GitHub code scanning (results at the policy lines).
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
    /// Write the check as one self-contained HTML page (timelines, sortable and filterable
    /// tables; nothing fetched, works offline).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// What to print on stdout: human, json or github [default: github when
    /// GITHUB_ACTIONS=true, else human].
    #[arg(long, value_parser = parse_format)]
    pub format: Option<OutputFormat>,
    /// List at most N conversations per policy in every report (those with the most
    /// records); the counts, services and the sums of those left out stay exact [default:
    /// every conversation].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_conversations: Option<u64>,
    /// Hold at most N (policy, conversation) pairs in memory, run-wide: past N, every total
    /// (records, packets, bytes, per policy and per service) and verdict stays exact, and
    /// each policy lists a deterministic sample of its conversations, said in every report.
    /// At least 1: a run that kept none would have no sample to list or estimate from.
    #[arg(
        long,
        value_name = "N",
        default_value_t = crate::engine::bound::DEFAULT_PAIRS as u64,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub keep_conversations: u64,
    /// Worker threads [default: every core].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Only records ending at or after this time (RFC 3339, YYYY-MM-DD or Unix seconds).
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub since: Option<u64>,
    /// Only records starting before this time (RFC 3339, YYYY-MM-DD or Unix seconds).
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub until: Option<u64>,
    /// The date waivers are judged against [default: today, UTC].
    #[arg(long, value_parser = parse_date, value_name = "YYYY-MM-DD")]
    pub today: Option<time::Date>,
    /// Also judge the policies as they were at this git revision (same --policies paths, read
    /// with git, no checkout) in the same pass, and report what the change does: newly blocked
    /// and newly allowed conversations, rules added and removed, how wide new rules are.
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,
    /// Write the result as Markdown for a pull-request comment (the change first, with
    /// --base), under GitHub's 65,535-character limit.
    #[arg(long, value_name = "FILE")]
    pub pr_comment: Option<PathBuf>,
    /// Render the reports from a SQL engine's rows instead of reading --logs: the result of
    /// `flowgate sql`'s query (same --policies), exported as CSV with a header or JSON lines.
    #[arg(long, value_name = "FILE")]
    pub sql_results: Option<PathBuf>,
    /// Colour in the human report: auto (on a terminal), always, never.
    #[arg(long, value_enum, default_value = "auto")]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    pub fn enabled(self) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
            }
        }
    }
}

pub fn run(args: CheckArgs) -> anyhow::Result<u8> {
    let mut check = Check::new()
        .policies(args.common.policies.clone())
        .logs(args.common.logs.clone());
    if let Some(f) = args.common.log_format.clone() {
        check = check.log_format(f);
    }
    if let Some(d) = args.today {
        check = check.today(d);
    }
    // clap refuses 0; a count past usize (32-bit targets) means no bound either.
    let keep = usize::try_from(args.keep_conversations).unwrap_or(usize::MAX);
    if let Some(keep) = std::num::NonZeroUsize::new(keep) {
        check = check.keep_conversations(keep);
    }
    if let Some(n) = args.threads {
        check = check.threads(n);
    }
    if let Some(s) = args.since {
        check = check.since(s);
    }
    if let Some(u) = args.until {
        check = check.until(u);
    }
    if let Some(rev) = &args.base {
        check = check.base(rev);
    }
    if let Some(path) = &args.sql_results {
        check = check.sql_results(path);
    }
    // A run that cannot be trusted still writes every report asked for: the policies that
    // did not load, or the evidence that is not there, become the report's findings.
    let mut report = match check.load_policies() {
        Err(e) => check.unscanned_report(&e),
        Ok(policies) => {
            let cancel = catch_interrupt();
            let progress = Progress::new("archives read");
            let result = check.run_with(&policies, cancel, &|| progress.tick());
            progress.finish();
            match result {
                Ok(_) | Err(Error::Interrupted) if is_interrupted(cancel) => {
                    return Ok(interrupted())
                }
                Ok(r) => r,
                Err(e) => check.unscanned_report(&e),
            }
        }
    };
    if let Some(max) = args.max_conversations {
        report.list_conversations(usize::try_from(max).unwrap_or(usize::MAX));
    }
    write_reports(&args, &report)?;
    let format = args.format.unwrap_or_else(|| {
        if std::env::var_os("GITHUB_ACTIONS").is_some_and(|v| v == "true") {
            OutputFormat::Github
        } else {
            OutputFormat::Human
        }
    });
    let text = match format {
        OutputFormat::Human => output::human::render(&report, args.color.enabled()),
        OutputFormat::Json => {
            print_with(|out| output::json::write(&report, out))?;
            return Ok(report.exit_code());
        }
        OutputFormat::Github => {
            let mut t = output::human::render(&report, false);
            t.push_str(&output::github::render(&report));
            t
        }
    };
    print(&text)?;
    Ok(report.exit_code())
}

/// Writes the report files asked for (`--junit`, `--json`, `--sarif`, `--html`) and appends the job summary under
/// GitHub Actions.
fn write_reports(args: &CheckArgs, report: &crate::report::Report) -> anyhow::Result<()> {
    if let Some(path) = &args.junit {
        write_atomic(path, output::junit::render(report).as_bytes())
            .with_context(|| format!("cannot write JUnit report {}", path.display()))?;
    }
    if let Some(path) = &args.json {
        write_atomic_with(path, |f| output::json::write(report, f))
            .with_context(|| format!("cannot write JSON report {}", path.display()))?;
    }
    if let Some(path) = &args.sarif {
        let sarif = output::sarif::render(report, &source_root());
        write_atomic(path, sarif.as_bytes())
            .with_context(|| format!("cannot write SARIF report {}", path.display()))?;
    }
    if let Some(path) = &args.html {
        write_atomic(path, output::html::render(report).as_bytes())
            .with_context(|| format!("cannot write HTML report {}", path.display()))?;
    }
    if let Some(path) = &args.pr_comment {
        let comment = output::comment::render(report, output::comment::LIMIT);
        write_atomic(path, comment.as_bytes())
            .with_context(|| format!("cannot write the pull-request comment {}", path.display()))?;
    }
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        let summary = output::summary::render(report, SUMMARY_LIMIT);
        let summary_path = std::path::Path::new(&path);
        summary_path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(summary_path)
            })
            .and_then(|mut f| f.write_all(summary.as_bytes()))
            .with_context(|| {
                format!(
                    "cannot append the job summary to {}",
                    PathBuf::from(path).display()
                )
            })?;
    }
    Ok(())
}

/// Where SARIF's repository-relative URIs start: the checkout around the current directory
/// (its nearest ancestor holding `.git`), else the current directory itself.
fn source_root() -> output::sarif::SourceRoot {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let root = cwd
        .ancestors()
        .find(|dir| dir.join(".git").exists())
        .unwrap_or(&cwd)
        .to_path_buf();
    output::sarif::SourceRoot { cwd, root }
}

fn parse_format(s: &str) -> Result<OutputFormat, String> {
    s.parse()
        .map_err(|e: crate::output::UnknownFormat| e.to_string())
}

/// Set by the first Ctrl-C. A static, since the signal handler lives as long as the process.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Turns the first Ctrl-C (SIGINT) into the scan's cancel flag, so the run stops between
/// records and says that it has no verdict, instead of dying with whatever the kernel leaves.
/// A second Ctrl-C exits at once, for a user who does not want to wait even that long.
/// Returns `None` when no handler could be installed; Ctrl-C then kills the process as usual,
/// which also leaves no report behind (reports are written only after a full scan).
fn catch_interrupt() -> Option<&'static AtomicBool> {
    let installed = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            std::process::exit(i32::from(EXIT_INTERRUPTED));
        }
    });
    installed.ok().map(|()| &INTERRUPTED)
}

fn is_interrupted(cancel: Option<&AtomicBool>) -> bool {
    cancel.is_some_and(|c| c.load(Ordering::SeqCst))
}

/// A Ctrl-C during the scan, or after it but before any report was written: nothing is
/// written and no verdict printed, since the user asked the run to stop.
fn interrupted() -> u8 {
    let _ = std::io::stderr().write_all(b"interrupted: no verdict\n");
    EXIT_INTERRUPTED
}
