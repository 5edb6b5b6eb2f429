//! `flowgate inspect`: what the archives hold, before any policy is written.
//!
//! A check with no policies, printed by the run summary's writer (`output::run`), which the
//! human report of `flowgate check` shares; `--read-only` is the benchmarks' floor.

use clap::Args;

use super::progress::Progress;
use super::{print, write_atomic};
use crate::check::Check;
use crate::engine::{LightReader, ReadDepth, LIGHT_PARSE_NET};
use crate::output::run::{render, render_json};
use crate::policy::PolicySet;
use crate::report::{EXIT_PASS, EXIT_UNTRUSTED};

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Flow-log archives or directories (gzip or plain text, Parquet, CloudWatch Logs), or
    /// `s3://bucket/prefix/` read in place (docs/s3.md); `-` reads stdin.
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
    /// Worker threads [default: every core; 16 when reading from S3].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Only records ending at or after this time (RFC 3339, YYYY-MM-DD or Unix seconds); from
    /// S3, only the objects whose key time can hold such records are listed and read.
    #[arg(long, value_parser = super::parse_time, value_name = "TIME")]
    pub since: Option<u64>,
    /// Only records starting before this time (RFC 3339, YYYY-MM-DD or Unix seconds).
    #[arg(long, value_parser = super::parse_time, value_name = "TIME")]
    pub until: Option<u64>,
    /// Only decompress and split lines, parsing nothing: the floor benchmarks compare the
    /// check against.
    #[arg(long, hide = true)]
    pub read_only: bool,
    /// With --read-only: also read dstaddr with READER (`simd` or `std`) and count the
    /// records in 10.20.0.0/16, issue 6's "light record parse" (see `engine::ReadDepth`).
    #[arg(long, hide = true, requires = "read_only", value_name = "READER", value_parser = light_reader)]
    pub light_parse: Option<LightReader>,
    /// Also gather who the servers are, as a check does (docs/server.md): the benchmark's
    /// cost ladder times it against plain inspect.
    #[arg(long, hide = true, conflicts_with = "read_only")]
    pub server_evidence: bool,
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
    if let Some(t) = args.since {
        check = check.since(t);
    }
    if let Some(t) = args.until {
        check = check.until(t);
    }
    check = check.server_evidence(args.server_evidence);
    if args.read_only {
        let found = check.discover()?;
        let depth = args
            .light_parse
            .map_or(ReadDepth::Lines, ReadDepth::LightParse);
        let t = crate::engine::read_only(
            &found.archives,
            crate::source::threads(&found.archives, args.threads),
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
    let progress = Progress::new("archives read");
    let result = check.run_with(&none, None, &|| progress.tick());
    progress.finish();
    let report = match result {
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
        render(&report.run, report.provenance.as_ref())
    })?;
    Ok(if report.run.problems_total > 0 {
        EXIT_UNTRUSTED
    } else {
        EXIT_PASS
    })
}
