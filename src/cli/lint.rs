//! `flowgate lint`: policy mistakes found without reading any logs, and every policy's
//! `[[expect]]` run.

use std::path::PathBuf;

use clap::Args;

use super::{load_policies_or_report, parse_date, print};
use crate::output::clean_line;
use crate::report::{EXIT_FAIL, EXIT_PASS, EXIT_UNTRUSTED};

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Policy files or directories (every *.toml inside).
    #[arg(long, num_args = 1.., default_value = "policies", value_name = "PATH")]
    pub policies: Vec<PathBuf>,
    /// Lint reads no records; paths given here must still exist, so a typo in a script that
    /// lints and checks with the same arguments fails here too.
    #[arg(long, num_args = 1.., value_name = "PATH")]
    pub logs: Vec<PathBuf>,
    /// The date waivers are judged against [default: today, UTC].
    #[arg(long, value_parser = parse_date, value_name = "YYYY-MM-DD")]
    pub today: Option<time::Date>,
}

pub fn run(args: LintArgs) -> anyhow::Result<u8> {
    let missing: Vec<&PathBuf> = args
        .logs
        .iter()
        .filter(|p| p.as_os_str() != "-" && p.symlink_metadata().is_err())
        .collect();
    for path in &missing {
        eprintln!(
            "error: --logs {}: no such file or directory",
            clean_line(&path.display().to_string())
        );
    }
    if !missing.is_empty() {
        return Ok(EXIT_UNTRUSTED);
    }
    let Some(policies) = load_policies_or_report(&args.policies) else {
        return Ok(EXIT_UNTRUSTED);
    };
    let today = args
        .today
        .unwrap_or_else(|| time::OffsetDateTime::now_utc().date());
    let mut findings = crate::policy::lint::lint(&policies, today);
    // Every `[[expect]]` runs too: one that does not hold is an error at its line.
    let (mut expectations, mut failing) = (0, 0);
    for policy in policies.policies() {
        for checked in crate::policy::expect::check(policy, today) {
            expectations += 1;
            if let Some(d) = checked.failure {
                failing += 1;
                findings.push(d);
            }
        }
    }
    crate::diag::sort(&mut findings);
    let errors = findings
        .iter()
        .filter(|d| d.severity == crate::diag::Severity::Error)
        .count();
    let mut text = crate::diag::render(policies.files(), &findings, false);
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let expected = match (expectations, failing) {
        (0, _) => "no expectations ([[expect]])".to_string(),
        (1, 0) => "1 expectation holds".to_string(),
        (n, 0) => format!("{n} expectations hold"),
        (n, 1) => format!("1 of {} fails", plural(n, "expectation", "expectations")),
        (n, f) => format!("{f} of {n} expectations fail"),
    };
    text.push_str(&format!(
        "{} linted: {}, {}; {expected}\n",
        plural(policies.policies().len(), "policy", "policies"),
        plural(errors, "error", "errors"),
        plural(findings.len() - errors, "warning", "warnings"),
    ));
    print(&text)?;
    Ok(if errors > 0 { EXIT_FAIL } else { EXIT_PASS })
}
