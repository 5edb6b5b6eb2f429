//! The command line: argument parsing and the one place that prints and picks exit codes.
//!
//! Each subcommand lives in its own file and turns its options into library calls; the
//! library returns values and errors, and only this layer writes to the terminal.

mod check;
mod explain;
mod init;
mod inspect;
mod lint;
mod progress;
mod sample;
mod sql;
mod suggest;

use std::io::{self, Write};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::flowlog::Format;
use crate::report::EXIT_UNTRUSTED;

/// Test network allowlist policies against AWS VPC flow logs before you block traffic.
#[derive(Debug, Parser)]
#[command(name = "flowgate", version, about, long_about = None, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replay the flow logs against the policies: fail when observed traffic would be blocked.
    Check(check::CheckArgs),
    /// Show what the archives hold, without policies.
    Inspect(inspect::InspectArgs),
    /// Find policy mistakes and run every policy's [[expect]], without reading any logs.
    Lint(lint::LintArgs),
    /// For one flow, every policy's decision and the rule, waiver or scope key that made it.
    Explain(explain::ExplainArgs),
    /// Cut a small fixtures/ from a full archive, keeping every verdict the full archive gives.
    Sample(sample::SampleArgs),
    /// Write a policy whose allow rules cover the traffic the logs show in a scope.
    Suggest(suggest::SuggestArgs),
    /// Scaffold a policy repository: an example policy, fixtures/, a CI workflow, a cargo test.
    Init(init::InitArgs),
    /// Print the check as one SQL query (Athena, Trino, Spark, DuckDB), or with --ddl the
    /// table it reads; `check --sql-results` renders the engine's rows.
    Sql(sql::SqlArgs),
}

/// Options every subcommand shares.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Policy files or directories (every *.toml inside).
    #[arg(long, num_args = 1.., default_value = "policies", value_name = "PATH")]
    pub policies: Vec<PathBuf>,
    /// Flow-log archives or directories (gzip or plain text, Parquet, CloudWatch Logs), or
    /// `s3://bucket/prefix/` read in place (docs/s3.md); `-` reads stdin.
    #[arg(long, num_args = 1.., default_value = "fixtures", value_name = "PATH")]
    pub logs: Vec<PathBuf>,
    /// Field list of archives without a header line (CloudWatch, Firehose exports), in
    /// AWS's `${version} ${srcaddr} ...` syntax or as plain names.
    #[arg(long, value_name = "FORMAT", value_parser = parse_log_format)]
    pub log_format: Option<Format>,
}

fn parse_log_format(s: &str) -> Result<Format, String> {
    Format::parse_spec(s).map_err(|e| e.to_string())
}

/// Parses a `YYYY-MM-DD` date.
pub fn parse_date(s: &str) -> Result<time::Date, String> {
    time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| format!("`{s}` is not a date like 2026-11-26"))
}

/// Parses a point in time: RFC 3339, a `YYYY-MM-DD` date (midnight UTC) or Unix seconds.
pub fn parse_time(s: &str) -> Result<u64, String> {
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(secs);
    }
    if let Ok(t) = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return u64::try_from(t.unix_timestamp()).map_err(|_| format!("`{s}` is before 1970"));
    }
    let date = parse_date(s).map_err(|_| {
        format!("`{s}` is not a time: use RFC 3339 (2026-11-02T00:00:00Z), a date (2026-11-02) or Unix seconds")
    })?;
    u64::try_from(date.midnight().assume_utc().unix_timestamp())
        .map_err(|_| format!("`{s}` is before 1970"))
}

/// Runs the parsed command line and returns the exit status.
pub fn run(cli: Cli) -> u8 {
    let result = match cli.command {
        Command::Check(args) => check::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Lint(args) => lint::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Sample(args) => sample::run(args),
        Command::Suggest(args) => suggest::run(args),
        Command::Init(args) => init::run(args),
        Command::Sql(args) => sql::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(io::stderr(), "error: {e:#}");
            EXIT_UNTRUSTED
        }
    }
}

pub use crate::output::{write_atomic, write_atomic_with};

/// Loads the policies for a command that needs nothing else (`lint`, `explain`); when they do
/// not load, prints why to stderr (every diagnostic, or that no policy file was found) and
/// gives `None`, for the caller to exit untrusted.
pub(crate) fn load_policies_or_report(paths: &[PathBuf]) -> Option<crate::policy::PolicySet> {
    match crate::check::Check::new()
        .policies(paths.to_vec())
        .load_policies()
    {
        Ok(set) => Some(set),
        Err(crate::check::Error::Policies(d)) => {
            eprint!("{}", d.render(io::IsTerminal::is_terminal(&io::stderr())));
            None
        }
        Err(e) => {
            eprintln!("error: {e}");
            None
        }
    }
}

/// Writes to stdout. A closed pipe (`flowgate check | head -1`) is what the reader wanted,
/// not an error: the rest is dropped quietly and the exit status still tells the verdict.
pub fn print(text: &str) -> io::Result<()> {
    print_with(|out| out.write_all(text.as_bytes()))
}

/// [`print`], the text written by `write` as it is made.
pub fn print_with(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    let mut out = io::stdout().lock();
    match write(&mut out).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_three_spellings() {
        assert_eq!(parse_time("1762041600"), Ok(1762041600));
        assert_eq!(parse_time("2025-11-02"), Ok(1762041600));
        assert_eq!(parse_time("2025-11-02T00:00:00Z"), Ok(1762041600));
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn atomic_write_replaces_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.xml");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn atomic_write_creates_missing_parent_directories() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("reports/nested/r.xml");
        write_atomic(&p, b"one").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        assert_eq!(std::fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
    }
}
