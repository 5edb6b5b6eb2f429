//! `flowgate suggest`: a policy whose allow rules cover what the logs show in a scope.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use ipnet::IpNet;

use super::print;
use super::progress::Progress;
use crate::flowlog::Format;
use crate::report::{EXIT_PASS, EXIT_UNTRUSTED};
use crate::suggest::{suggest_with, SuggestOptions};

#[derive(Debug, Args)]
pub struct SuggestArgs {
    /// Flow-log archives or directories, or `s3://bucket/prefix/`.
    #[arg(long, num_args = 1.., default_value = "fixtures", value_name = "PATH")]
    pub logs: Vec<PathBuf>,
    /// The scope's peer networks: the far side of the path being closed.
    #[arg(long = "scope-peer", num_args = 1.., required = true, value_name = "CIDR", value_parser = parse_net)]
    pub scope_peer: Vec<IpNet>,
    /// Another scope key, as in a policy file: `vpc=vpc-0a1b2c3d`, `protocol=tcp`,
    /// `addresses=packet`, `interface=["eni-1","eni-2"]`. Repeatable.
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_scope)]
    pub scope: Vec<(String, String)>,
    /// Round IPv4 peer addresses up to networks of this prefix length (e.g. /24), never wider
    /// than the scope network they are in.
    #[arg(long, value_name = "/N", value_parser = parse_v4_prefix)]
    pub widen: Option<u8>,
    /// The same for IPv6 peer addresses (e.g. /64).
    #[arg(long, value_name = "/N", value_parser = parse_v6_prefix)]
    pub widen6: Option<u8>,
    /// The policy's name.
    #[arg(long, default_value = "suggested")]
    pub name: String,
    /// Field list of archives without a header line.
    #[arg(long, value_name = "FORMAT", value_parser = super::parse_log_format)]
    pub log_format: Option<Format>,
    /// Worker threads [default: every core].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Write the policy to this file (created whole, never over an existing one) instead of
    /// standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

fn parse_net(s: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
        .map(|n| n.trunc())
        .map_err(|_| format!("`{s}` is not a CIDR or an address"))
}

fn parse_scope(s: &str) -> Result<(String, String), String> {
    let (key, value) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))?;
    let key = key.trim();
    if key == "peer" {
        return Err("give peer networks with --scope-peer".into());
    }
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        return Err(format!("`{key}` is not a scope key"));
    }
    let value = value.trim();
    // A TOML value as written (numbers, arrays, quoted strings), else a bare string.
    let is_toml = toml::from_str::<toml::Table>(&format!("v = {value}")).is_ok();
    let value = if is_toml {
        value.to_string()
    } else {
        crate::suggest::quote(value)
    };
    Ok((key.to_string(), value))
}

fn parse_prefix(s: &str, max: u8) -> Result<u8, String> {
    s.trim_start_matches('/')
        .parse::<u8>()
        .ok()
        .filter(|&p| p <= max)
        .ok_or_else(|| format!("`{s}` is not a prefix length like /24 (0 to {max})"))
}

fn parse_v4_prefix(s: &str) -> Result<u8, String> {
    parse_prefix(s, 32)
}

fn parse_v6_prefix(s: &str) -> Result<u8, String> {
    parse_prefix(s, 128)
}

pub fn run(args: SuggestArgs) -> anyhow::Result<u8> {
    // Refused before the logs are read: a reviewed policy is never replaced by a draft.
    if let Some(out) = args.out.as_ref().filter(|p| p.symlink_metadata().is_ok()) {
        eprintln!(
            "error: {} exists; suggest never replaces a policy: remove it or choose another --out",
            crate::output::clean_line(&out.display().to_string())
        );
        return Ok(EXIT_UNTRUSTED);
    }
    let out = args.out.clone();
    let opts = SuggestOptions {
        logs: args.logs,
        peer: args.scope_peer,
        scope: args.scope,
        widen_v4: args.widen,
        widen_v6: args.widen6,
        name: args.name,
        log_format: args.log_format,
        threads: args.threads,
    };
    let progress = Progress::new("archives read");
    let s = suggest_with(&opts, &|| progress.tick());
    progress.finish();
    let s = s?;
    for p in &s.problems {
        eprintln!("{}", crate::text::clean_line(&p.to_string()));
    }
    match &out {
        Some(path) => super::write_atomic(path, s.toml.as_bytes())
            .with_context(|| format!("cannot write the suggested policy to {}", path.display()))?,
        None => print(&s.toml)?,
    }
    eprintln!(
        "suggested {} allow rule{} covering {} record{}; review them, then `flowgate lint` and `flowgate check` with the file",
        s.rules,
        if s.rules == 1 { "" } else { "s" },
        s.records,
        if s.records == 1 { "" } else { "s" },
    );
    if s.problems_total > 0 {
        eprintln!(
            "error: {} problem(s) reading the logs: the rules cover only what could be read",
            s.problems_total
        );
        return Ok(EXIT_UNTRUSTED);
    }
    Ok(EXIT_PASS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_values_are_toml_or_strings() {
        assert_eq!(
            parse_scope("vpc=vpc-0a1b"),
            Ok(("vpc".into(), "\"vpc-0a1b\"".into()))
        );
        assert_eq!(
            parse_scope("dst_port=443"),
            Ok(("dst_port".into(), "443".into()))
        );
        assert_eq!(
            parse_scope("interface=[\"eni-1\"]"),
            Ok(("interface".into(), "[\"eni-1\"]".into()))
        );
        assert!(parse_scope("peer=10.0.0.0/8").is_err());
        assert!(parse_scope("novalue").is_err());
        assert_eq!(
            parse_net("10.20.30.5/16").unwrap().to_string(),
            "10.20.0.0/16"
        );
        assert_eq!(
            parse_net("10.20.30.5").unwrap().to_string(),
            "10.20.30.5/32"
        );
        assert_eq!(parse_v4_prefix("/24"), Ok(24));
        assert!(parse_v4_prefix("/33").is_err());
    }
}
