//! `check --sql-results FILE`: the report of a check whose scan a SQL engine ran.
//!
//! The rows become the tally the parallel pass would have produced (`sql::results`), and
//! from there everything is the check's own: lint findings, verdicts, evidence demands,
//! every writer, the exit status. The date and window are the ones the query was compiled
//! for (a check cannot judge waivers on another day than the rows did), so `--today`,
//! `--since` and `--until`, when given, must agree with them.

use std::path::Path;

use super::{policy_findings, Check, Error};
use crate::policy::PolicySet;
use crate::report::build::{build, ReportContext};
use crate::report::Report;

pub(super) fn run(check: &Check, policies: &PolicySet, path: &Path) -> Result<Report, Error> {
    if check.base.is_some() {
        return Err(Error::SqlOptions(
            "--base cannot be combined with --sql-results: the rows judge one version of the \
             policies; compile a query for each version instead"
                .into(),
        ));
    }
    let run = crate::sql::read_results(path, policies)?;
    let disagree = |flag: &str, given: String, rows: String| {
        Error::SqlOptions(format!(
            "{}: the query was compiled with {flag} {rows}, but this check was given {given}: \
             leave {flag} out, or compile the query again with it",
            path.display()
        ))
    };
    let shown = |t: Option<u64>| t.map_or_else(|| "none".to_string(), |t| t.to_string());
    if let Some(today) = check.today.filter(|&t| t != run.today) {
        return Err(disagree(
            "--today",
            today.to_string(),
            run.today.to_string(),
        ));
    }
    if check.since.is_some() && check.since != run.since {
        return Err(disagree("--since", shown(check.since), shown(run.since)));
    }
    if check.until.is_some() && check.until != run.until {
        return Err(disagree("--until", shown(check.until), shown(run.until)));
    }
    let (findings, mut expectations) = policy_findings(policies, run.today);
    let mut report = build(
        run.tally,
        ReportContext {
            policies,
            archives: &run.archives,
            skipped: Vec::new(),
            today: run.today,
            since: run.since,
            until: run.until,
            findings,
            s3: None,
        },
    );
    for p in &mut report.policies {
        p.expectations = expectations.remove(&p.name).unwrap_or_default();
    }
    Ok(report)
}
