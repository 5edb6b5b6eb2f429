//! Keyed pseudonyms for AWS ids, so a sample can be committed without naming real accounts
//! and resources.
//!
//! Each id maps to a pseudonym of the same shape (`eni-` and 17 hex digits stays `eni-` and 17
//! hex digits, a 12-digit account stays 12 digits), so the sample still parses and reads like
//! AWS data. The pseudonym depends only on the key and the id's text, so the same id gets the
//! same pseudonym in every field, file name and path, in every run with that key; without the
//! key it cannot be reversed or recomputed (a keyed BLAKE3 hash). Addresses are left alone:
//! policies are written in addresses.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use crate::flowlog::{ArchiveMeta, Column, Field, Format};

/// Fields that hold AWS resource or account ids. Tag values and ECS names are free text and
/// are left as they are (see the README, "Getting started with your own logs"); ECS ARNs have their account replaced.
const ID_FIELDS: &[Field] = &[
    Field::AccountId,
    Field::InterfaceId,
    Field::VpcId,
    Field::SubnetId,
    Field::InstanceId,
    Field::ResourceId,
    Field::NextHopInterfaceId,
    Field::NextHopSubnetId,
    Field::NextHopVpcId,
    Field::TgwId,
    Field::TgwAttachmentId,
    Field::TgwSrcVpcAccountId,
    Field::TgwDstVpcAccountId,
    Field::TgwSrcVpcId,
    Field::TgwDstVpcId,
    Field::TgwSrcSubnetId,
    Field::TgwDstSubnetId,
    Field::TgwSrcEni,
    Field::TgwDstEni,
    Field::TgwPairAttachmentId,
    Field::EcsContainerInstanceId,
];

const ARN_FIELDS: &[Field] = &[
    Field::EcsClusterArn,
    Field::EcsContainerInstanceArn,
    Field::EcsTaskDefinitionArn,
    Field::EcsTaskArn,
];

/// Replaces ids with keyed pseudonyms. One per worker: it caches what it has computed.
#[derive(Clone)]
pub struct Pseudonymiser {
    key: [u8; 32],
    cache: HashMap<String, String>,
}

impl std::fmt::Debug for Pseudonymiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymiser { .. }")
    }
}

/// What to do with each column of a format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnRule {
    Keep,
    Id,
    Arn,
}

impl Pseudonymiser {
    /// A pseudonymiser for a secret passphrase. The same passphrase gives the same pseudonyms.
    pub fn new(passphrase: &str) -> Self {
        Pseudonymiser {
            key: blake3::derive_key("flowgate sample pseudonyms v1", passphrase.as_bytes()),
            cache: HashMap::new(),
        }
    }

    /// What each column of `format` needs.
    pub fn rules(format: &Format) -> Vec<ColumnRule> {
        format
            .columns()
            .iter()
            .map(|c| match c {
                Column::Known(f) if ID_FIELDS.contains(f) => ColumnRule::Id,
                Column::Known(f) if ARN_FIELDS.contains(f) => ColumnRule::Arn,
                _ => ColumnRule::Keep,
            })
            .collect()
    }

    /// Rewrites one record line: the columns the rules name, each token in place; the line is
    /// re-joined with single spaces, as AWS writes it.
    pub fn line(&mut self, rules: &[ColumnRule], line: &[u8], out: &mut Vec<u8>) {
        let tokens = line
            .split(|&b| b == b' ' || b == b'\t')
            .filter(|t| !t.is_empty());
        for (i, token) in tokens.enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            let rule = rules.get(i).copied().unwrap_or(ColumnRule::Keep);
            match (rule, std::str::from_utf8(token)) {
                (ColumnRule::Id, Ok(t)) => out.extend_from_slice(self.id(t).as_bytes()),
                (ColumnRule::Arn, Ok(t)) => out.extend_from_slice(self.arn(t).as_bytes()),
                _ => out.extend_from_slice(token),
            }
        }
    }

    /// The pseudonym of one id. `-` and `unknown` stay: they name nothing.
    pub fn id(&mut self, id: &str) -> String {
        if id == "-" || id == "unknown" || id.is_empty() {
            return id.to_string();
        }
        if let Some(p) = self.cache.get(id) {
            return p.clone();
        }
        let p = self.compute(id);
        self.cache.insert(id.to_string(), p.clone());
        p
    }

    fn compute(&self, id: &str) -> String {
        let digest = blake3::keyed_hash(&self.key, id.as_bytes());
        let mut stream = digest.as_bytes().iter().flat_map(|b| [b >> 4, b & 15]);
        if id.bytes().all(|b| b.is_ascii_digit()) {
            // An account: the same number of decimal digits.
            return (0..id.len())
                .map(|_| char::from(b'0' + stream.next().unwrap_or(0) % 10))
                .collect();
        }
        // `eni-0a7c...`, `tgw-attach-0...`: keep the prefix, replace what follows the last `-`.
        let (prefix, body) = match id.rfind('-') {
            Some(i) => id.split_at(i + 1),
            None => ("", id),
        };
        let mut out = String::with_capacity(id.len());
        out.push_str(prefix);
        for (i, c) in body.chars().enumerate() {
            let nibble = stream.next().unwrap_or(0);
            // Current AWS ids have 17 hex digits and start with 0; keep that look.
            if i == 0 && c == '0' && body.len() == 17 {
                out.push('0');
            } else {
                out.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
            }
        }
        out
    }

    /// `arn:aws:ecs:region:account:rest`: the account replaced.
    pub fn arn(&mut self, arn: &str) -> String {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        if parts.len() == 6 && parts[0] == "arn" && !parts[4].is_empty() {
            let account = self.id(parts[4]);
            format!(
                "{}:{}:{}:{}:{}:{}",
                parts[0], parts[1], parts[2], parts[3], account, parts[5]
            )
        } else {
            arn.to_string()
        }
    }

    /// A path relative to the `--logs` root with its account folder (`AWSLogs/<account>/`
    /// or `aws-account-id=<account>`) and the account and flow-log id of the AWS file name
    /// replaced.
    pub fn path(&mut self, relative: &Path) -> PathBuf {
        let meta = ArchiveMeta::from_path(relative);
        let names: Vec<String> = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let last = names.len().saturating_sub(1);
        let mut out = PathBuf::new();
        for (i, (name, comp)) in names.iter().zip(relative.components()).enumerate() {
            if !matches!(comp, Component::Normal(_)) {
                out.push(comp.as_os_str());
                continue;
            }
            let new = if i == last {
                self.file_name(name)
            } else if meta.account.as_deref() == Some(name.as_str()) {
                self.id(name)
            } else if let Some(acct) = name.strip_prefix("aws-account-id=") {
                format!("aws-account-id={}", self.id(acct))
            } else if let Some(at) = name.rfind('-').filter(|_| name.starts_with("eni-")) {
                // A CloudWatch export names a folder after each log stream: `eni-…-all`.
                format!("{}{}", self.id(&name[..at]), &name[at..])
            } else {
                name.clone()
            };
            out.push(new);
        }
        out
    }

    /// `<account>_vpcflowlogs_<region>_<fl-id>_<slot>_<hash>.log.gz` with account and
    /// flow-log id replaced; other names unchanged.
    fn file_name(&mut self, name: &str) -> String {
        let fields: Vec<&str> = name.split('_').collect();
        if fields.len() == 6 && fields[1] == "vpcflowlogs" && fields[3].starts_with("fl-") {
            let account = self.id(fields[0]);
            let flow_log = self.id(fields[3]);
            format!(
                "{account}_{}_{}_{flow_log}_{}_{}",
                fields[1], fields[2], fields[4], fields[5]
            )
        } else {
            name.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_kept_and_ids_are_stable() {
        let mut p = Pseudonymiser::new("secret");
        let eni = p.id("eni-0a7c91d2e4b5f6071");
        assert!(eni.starts_with("eni-0") && eni.len() == 21, "{eni}");
        assert_ne!(eni, "eni-0a7c91d2e4b5f6071");
        assert!(eni[4..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(
            Pseudonymiser::new("secret").id("eni-0a7c91d2e4b5f6071"),
            eni
        );
        assert_ne!(Pseudonymiser::new("other").id("eni-0a7c91d2e4b5f6071"), eni);
        let acct = p.id("111122223333");
        assert!(acct.len() == 12 && acct.bytes().all(|b| b.is_ascii_digit()));
        assert_ne!(acct, "111122223333");
        assert!(p
            .id("tgw-attach-0123456789abcdef0")
            .starts_with("tgw-attach-0"));
        assert_eq!(p.id("-"), "-");
        assert_eq!(p.id("unknown"), "unknown");
    }

    #[test]
    fn paths_and_file_names_use_the_same_pseudonyms() {
        let mut p = Pseudonymiser::new("k");
        let path = Path::new("AWSLogs/111122223333/vpcflowlogs/eu-west-1/2026/11/02/111122223333_vpcflowlogs_eu-west-1_fl-0677f11ab059bfb6d_20261102T0035Z_eab65d1e.log.gz");
        let acct = p.id("111122223333");
        let fl = p.id("fl-0677f11ab059bfb6d");
        let out = p.path(path);
        assert_eq!(
            out,
            PathBuf::from(format!("AWSLogs/{acct}/vpcflowlogs/eu-west-1/2026/11/02/{acct}_vpcflowlogs_eu-west-1_{fl}_20261102T0035Z_eab65d1e.log.gz"))
        );
        let hive = p.path(Path::new(
            "AWSLogs/aws-account-id=111122223333/aws-region=eu-west-1/x.log",
        ));
        assert_eq!(
            hive,
            PathBuf::from(format!(
                "AWSLogs/aws-account-id={acct}/aws-region=eu-west-1/x.log"
            ))
        );
    }

    #[test]
    fn lines_rewrite_only_id_columns() {
        let format = Format::from_header_line(
            b"version account-id interface-id srcaddr dstaddr vpc-id ecs-task-arn log-status",
        )
        .unwrap()
        .unwrap();
        let rules = Pseudonymiser::rules(&format);
        let mut p = Pseudonymiser::new("k");
        let mut out = Vec::new();
        p.line(
            &rules,
            b"5 111122223333 eni-1 10.0.0.1 10.0.0.2 vpc-0a1b2c3d arn:aws:ecs:eu-west-1:111122223333:task/x OK",
            &mut out,
        );
        let text = String::from_utf8(out).unwrap();
        let acct = p.id("111122223333");
        assert_eq!(
            text,
            format!(
                "5 {acct} {} 10.0.0.1 10.0.0.2 {} arn:aws:ecs:eu-west-1:{acct}:task/x OK",
                p.id("eni-1"),
                p.id("vpc-0a1b2c3d")
            )
        );
    }
}
