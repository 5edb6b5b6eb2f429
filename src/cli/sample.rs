//! `flowgate sample`: a committable `fixtures/` cut from a full archive, losslessly for verdicts.

use std::path::PathBuf;

use clap::Args;

use super::print;
use super::progress::Progress;
use crate::flowlog::Format;
use crate::report::{EXIT_PASS, EXIT_UNTRUSTED};
use crate::sample::{sample_with, Outcome, Pass, SampleOptions};

#[derive(Debug, Args)]
pub struct SampleArgs {
    /// The full archives: files, directories or `s3://bucket/prefix/` (their key layout is
    /// kept below --out).
    #[arg(long, num_args = 1.., required = true, value_name = "PATH")]
    pub logs: Vec<PathBuf>,
    /// Where the sample goes; it must not hold flow-log archives yet.
    #[arg(long, default_value = "fixtures", value_name = "DIR")]
    pub out: PathBuf,
    /// Policies (files or directories) whose scopes the sample is cut for: only what they can
    /// see is kept losslessly, everything else at --rate. Without it, every record is.
    #[arg(long, num_args = 1.., value_name = "PATH")]
    pub policies: Vec<PathBuf>,
    /// Share of the other records to keep (outside the --policies scopes, or beyond one of
    /// every verdict combination without them): 0.01 or 1%; 0 keeps none.
    #[arg(long, default_value = "0.01", value_parser = parse_rate, value_name = "R")]
    pub rate: f64,
    /// Seed of the per-record coin: the same input and seed give the same bytes.
    #[arg(long, default_value_t = 1, value_name = "S")]
    pub seed: u64,
    /// Cap on the sample's archive bytes (e.g. 5M, 800k, 2MiB); lowers the rate to fit.
    #[arg(long, value_parser = parse_bytes, value_name = "N")]
    pub max_bytes: Option<u64>,
    /// Replace account, interface, instance, vpc and subnet ids with keyed pseudonyms of the
    /// same shape. KEY is the secret, or `env:NAME` to read it from a variable (keeps it out
    /// of shell history).
    #[arg(long, value_name = "KEY")]
    pub pseudonymise: Option<String>,
    /// Field list of archives without a header line.
    #[arg(long, value_name = "FORMAT", value_parser = super::parse_log_format)]
    pub log_format: Option<Format>,
    /// Worker threads [default: every core].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Only records ending at or after this time (RFC 3339, YYYY-MM-DD or Unix seconds).
    #[arg(long, value_parser = super::parse_time, value_name = "TIME")]
    pub since: Option<u64>,
    /// Only records starting before this time (RFC 3339, YYYY-MM-DD or Unix seconds).
    #[arg(long, value_parser = super::parse_time, value_name = "TIME")]
    pub until: Option<u64>,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let (num, scale) = match s.strip_suffix('%') {
        Some(n) => (n, 100.0),
        None => (s, 1.0),
    };
    match num.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&(r / scale)) => Ok(r / scale),
        _ => Err(format!("`{s}` is not a rate from 0 to 1 (or 0% to 100%)")),
    }
}

/// `123`, `800k`, `5M`, `1G` (powers of 1000) or `2KiB`, `5MiB`, `1GiB` (powers of 1024).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "k" | "K" | "kB" | "KB" => 1_000,
        "M" | "MB" => 1_000_000,
        "G" | "GB" => 1_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return Err(format!("`{s}` is not a size like 5M, 800k or 2MiB")),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("`{s}` is not a size like 5M, 800k or 2MiB"))
}

/// What the progress line counts in each pass.
fn stage(pass: Pass) -> String {
    match pass {
        Pass::Fetch => "objects fetched".into(),
        Pass::Survey => "archives surveyed".into(),
        Pass::Write(1) => "archives sampled".into(),
        Pass::Write(n) => format!("archives sampled (pass {n})"),
    }
}

pub fn run(args: SampleArgs) -> anyhow::Result<u8> {
    let pseudonymise = match args.pseudonymise {
        Some(k) => match k.strip_prefix("env:") {
            Some(var) => Some(std::env::var(var).map_err(|_| {
                anyhow::anyhow!("--pseudonymise env:{var}: the variable is not set")
            })?),
            None => Some(k),
        },
        None => None,
    };
    if pseudonymise.as_deref() == Some("") {
        anyhow::bail!("--pseudonymise needs a non-empty key");
    }
    let opts = SampleOptions {
        logs: args.logs,
        out: args.out,
        rate: args.rate,
        seed: args.seed,
        max_bytes: args.max_bytes,
        pseudonymise,
        log_format: args.log_format,
        threads: args.threads,
        policies: args.policies,
        since: args.since,
        until: args.until,
    };
    let progress = Progress::new("archives surveyed");
    let outcome = sample_with(&opts, &|pass| progress.tick_in(&stage(pass)));
    progress.finish();
    let outcome = outcome?;
    for p in &outcome.problems {
        eprintln!("{}", crate::text::clean_line(&p.to_string()));
    }
    if outcome.problems_total > outcome.problems.len() as u64 {
        eprintln!(
            "... and {} more problems",
            outcome.problems_total - outcome.problems.len() as u64
        );
    }
    print(&render(&opts, &outcome))?;
    if outcome.problems_total > 0 {
        eprintln!(
            "error: {} problem(s) reading the input: the sample holds only what could be read",
            outcome.problems_total
        );
        return Ok(EXIT_UNTRUSTED);
    }
    Ok(EXIT_PASS)
}

fn render(opts: &SampleOptions, o: &Outcome) -> String {
    let m = &o.manifest;
    let (i, out) = (&m.input, &m.output);
    let window = match (&i.first_start, &i.last_end) {
        (Some(a), Some(b)) => format!(", {a} to {b}"),
        _ => String::new(),
    };
    let pct = |r: f64| {
        let p = r * 100.0;
        if p >= 1.0 {
            format!("{p:.1}%")
        } else {
            format!("{p:.3}%")
        }
    };
    let rate = if m.sample.rate < m.sample.rate_requested {
        format!(
            "rate {} (lowered from {} to fit --max-bytes)",
            pct(m.sample.rate),
            pct(m.sample.rate_requested)
        )
    } else {
        format!("rate {}", pct(m.sample.rate))
    };
    let scopes = if m.scopes.is_empty() {
        String::new()
    } else {
        let names: Vec<&str> = m.scopes.iter().map(|s| s.policy.as_str()).collect();
        format!(" in the scopes of {}", names.join(", "))
    };
    format!(
        "input   {} archives, {} bytes, {} records ({} NODATA, {} SKIPDATA){window}\n\
         sample  {} archives, {} bytes, {} records in {}\n\
         kept    {} for the {} verdict combinations{scopes}, {} as witnesses of servers, {} as evidence, {} for the window, {} by {rate}, seed {}{}\n\
         wrote   {}\n",
        i.archives,
        i.bytes,
        i.records,
        i.nodata,
        i.skipdata,
        out.archives,
        out.bytes,
        out.records,
        opts.out.display(),
        out.kept_combinations,
        i.combinations,
        out.kept_witnesses,
        out.kept_evidence,
        out.kept_window,
        out.kept_rate,
        m.sample.seed,
        if m.sample.pseudonymised {
            ", ids pseudonymised"
        } else {
            ""
        },
        o.manifest_path.display(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_sizes_parse() {
        assert_eq!(parse_rate("0.05"), Ok(0.05));
        assert_eq!(parse_rate("5%"), Ok(0.05));
        assert!(parse_rate("1.5").is_err());
        assert!(parse_rate("-1").is_err());
        assert_eq!(parse_bytes("5M"), Ok(5_000_000));
        assert_eq!(parse_bytes("800k"), Ok(800_000));
        assert_eq!(parse_bytes("2MiB"), Ok(2 << 20));
        assert_eq!(parse_bytes("1234"), Ok(1234));
        assert!(parse_bytes("5X").is_err());
        assert!(parse_bytes("M").is_err());
    }
}
