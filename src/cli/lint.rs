//! `flowgate lint`: policy mistakes found without reading any logs.

use clap::Args;

use super::{parse_date, print, CommonArgs};
use crate::check::Check;
use crate::report::{EXIT_FAIL, EXIT_PASS, EXIT_UNTRUSTED};

#[derive(Debug, Args)]
pub struct LintArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The date waivers are judged against [default: today, UTC].
    #[arg(long, value_parser = parse_date, value_name = "YYYY-MM-DD")]
    pub today: Option<time::Date>,
}

pub fn run(args: LintArgs) -> anyhow::Result<u8> {
    let check = Check::new().policies(args.common.policies.clone());
    let policies = match check.load_policies() {
        Ok(p) => p,
        Err(crate::check::Error::Policies(d)) => {
            eprint!(
                "{}",
                d.render(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            );
            return Ok(EXIT_UNTRUSTED);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_UNTRUSTED);
        }
    };
    let today = args
        .today
        .unwrap_or_else(|| time::OffsetDateTime::now_utc().date());
    let findings = crate::policy::lint::lint(&policies, today);
    let errors = findings
        .iter()
        .filter(|d| d.severity == crate::diag::Severity::Error)
        .count();
    let mut text = crate::diag::render(policies.files(), &findings, false);
    text.push_str(&format!(
        "{} polic{} linted: {} error{}, {} warning{}\n",
        policies.policies().len(),
        if policies.policies().len() == 1 {
            "y"
        } else {
            "ies"
        },
        errors,
        if errors == 1 { "" } else { "s" },
        findings.len() - errors,
        if findings.len() - errors == 1 {
            ""
        } else {
            "s"
        },
    ));
    print(&text)?;
    Ok(if errors > 0 { EXIT_FAIL } else { EXIT_PASS })
}
