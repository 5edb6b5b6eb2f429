//! `flowgate inspect`: what the archives hold, before any policy is written.

use clap::Args;

use super::{print, write_atomic};
use crate::check::Check;
use crate::engine::{LightReader, ReadDepth, LIGHT_PARSE_NET};
use crate::manifest::Provenance;
use crate::policy::PolicySet;
use crate::report::{human_duration, rfc3339, RunSummary, EXIT_PASS, EXIT_UNTRUSTED};

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Flow-log archives or directories (.log.gz, .gz or plain text); `-` reads stdin.
    /// (Inspect reads no policies: there is no `--policies`.)
    #[arg(long, num_args = 1.., default_value = "fixtures", value_name = "PATH")]
    pub logs: Vec<std::path::PathBuf>,
    /// Field list of archives without a header line (CloudWatch, Firehose exports), in
    /// AWS's `${version} ${srcaddr} ...` syntax or as plain names.
    #[arg(long, value_name = "FORMAT", value_parser = super::parse_log_format)]
    pub log_format: Option<crate::flowlog::Format>,
    /// Print the summary as a versioned JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON document to this file.
    #[arg(long, value_name = "FILE")]
    pub json_file: Option<std::path::PathBuf>,
    /// Worker threads [default: every core].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Only decompress and split lines, parsing nothing: the floor benchmarks compare the
    /// check against.
    #[arg(long, hide = true)]
    pub read_only: bool,
    /// With --read-only: also read dstaddr with READER (`simd` or `std`) and count the
    /// records in 10.20.0.0/16, issue 6's "light record parse" (see `engine::ReadDepth`).
    #[arg(long, hide = true, requires = "read_only", value_name = "READER", value_parser = light_reader)]
    pub light_parse: Option<LightReader>,
}

fn light_reader(name: &str) -> Result<LightReader, String> {
    match name {
        "simd" => Ok(LightReader::Simd),
        "std" => Ok(LightReader::Std),
        _ => Err("expected `simd` or `std`".into()),
    }
}

pub fn run(args: InspectArgs) -> anyhow::Result<u8> {
    let mut check = Check::new().logs(args.logs.clone());
    if let Some(f) = args.log_format.clone() {
        check = check.log_format(f);
    }
    if let Some(n) = args.threads {
        check = check.threads(n);
    }
    if args.read_only {
        let found = check.discover()?;
        let depth = args
            .light_parse
            .map_or(ReadDepth::Lines, ReadDepth::LightParse);
        let t = crate::engine::read_only(
            &found.archives,
            args.threads,
            depth,
            args.log_format.as_ref(),
        )?;
        let mut text = format!(
            "read-only: {} archives, {} lines, {} bytes of text, {} errors",
            t.archives, t.lines, t.bytes, t.errors
        );
        if args.light_parse.is_some() {
            text += &format!("; light parse: {} dstaddr in {LIGHT_PARSE_NET}", t.matched);
        }
        print(&(text + "\n"))?;
        return Ok(if t.errors > 0 {
            EXIT_UNTRUSTED
        } else {
            EXIT_PASS
        });
    }
    let none = PolicySet::from_sources(Vec::<(std::path::PathBuf, String)>::new())?;
    let report = match check.run_with(&none, None, &|| {}) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_UNTRUSTED);
        }
    };
    let json = render_json(&report.run, report.provenance.as_ref());
    if let Some(path) = &args.json_file {
        write_atomic(path, json.as_bytes())?;
    }
    print(&if args.json {
        json
    } else {
        render_text(&report.run, report.provenance.as_ref())
    })?;
    Ok(if report.run.problems_total > 0 {
        EXIT_UNTRUSTED
    } else {
        EXIT_PASS
    })
}

/// The inspect document: `{"schema_version": 1, "tool": "flowgate", "inspect": {...}}`.
pub fn render_json(run: &RunSummary, provenance: Option<&Provenance>) -> String {
    let mut doc = serde_json::json!({
        "schema_version": crate::report::JSON_SCHEMA_VERSION,
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

/// The inspect summary for a person.
pub fn render_text(run: &RunSummary, provenance: Option<&Provenance>) -> String {
    use std::fmt::Write;
    let clean = crate::text::clean_line;
    let mut out = String::new();
    let c = &run.coverage;
    let _ = writeln!(
        out,
        "archives   {} read, {} skipped (not flow logs by name)",
        run.archives_read,
        run.archives_skipped.len()
    );
    for s in &run.archives_skipped {
        let _ = writeln!(out, "           skipped {}", clean(s));
    }
    let ok = run.records - run.nodata - run.skipdata;
    let _ = writeln!(
        out,
        "records    {} ({ok} OK, {} NODATA, {} SKIPDATA), {} problems",
        run.records, run.nodata, run.skipdata, run.problems_total
    );
    match (c.first_start, c.last_end) {
        (Some(s), Some(e)) => {
            let _ = writeln!(
                out,
                "window     {} to {} ({})",
                rfc3339(s),
                rfc3339(e),
                human_duration(c.window_seconds)
            );
            let _ = writeln!(out, "days       {} ({})", c.days.len(), c.days.join(", "));
            match c.longest_gap {
                Some(g) => {
                    let _ = writeln!(
                        out,
                        "gaps       longest {} from {} to {}; {} hours without any record",
                        human_duration(g.seconds),
                        rfc3339(g.from),
                        rfc3339(g.to),
                        c.hours_without_records
                    );
                }
                None => {
                    let _ = writeln!(out, "gaps       none");
                }
            }
        }
        _ => {
            let _ = writeln!(out, "window     no records with a time");
        }
    }
    if let Some(p) = provenance {
        for line in p.describe() {
            let _ = writeln!(out, "{}", clean(&line));
        }
    }
    let _ = writeln!(out, "interfaces {}", c.interfaces);
    let list = |v: &[String]| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.iter().map(|s| clean(s)).collect::<Vec<_>>().join(", ")
        }
    };
    let _ = writeln!(out, "accounts   {}", list(&c.accounts));
    let _ = writeln!(out, "regions    {}", list(&c.regions));
    let _ = writeln!(out, "formats    {}", run.formats.len());
    for f in &run.formats {
        let _ = writeln!(
            out,
            "  {} archive{}: {}",
            f.archives,
            if f.archives == 1 { "" } else { "s" },
            clean(&f.fields)
        );
    }
    if !run.unknown_fields.is_empty() {
        let _ = writeln!(
            out,
            "warning: header fields flowgate does not know were carried and ignored: {}",
            list(&run.unknown_fields)
        );
    }
    if run.problems_total > 0 {
        let _ = writeln!(
            out,
            "problems   {} (the evidence was not read completely: exit 2)",
            run.problems_total
        );
        for p in run.problems.iter().take(20) {
            let _ = writeln!(out, "  {}", clean(&p.to_string()));
        }
        if run.problems_total > 20 {
            let _ = writeln!(out, "  ... and {} more problems", run.problems_total - 20);
        }
    }
    out
}
