//! Where archives come from: the paths on the command line, walked into a sorted list.
//!
//! Users point flowgate at a synced S3 prefix, a handful of files, or standard input. The walk
//! is sorted so that every run sees archives in the same order, follows directory symlinks
//! without looping, and passes over only what is plainly not evidence (documentation, config,
//! images, hidden files: [`Skipped`]), listing each with why so nothing is dropped unseen.
//! Everything else is an archive whose reader is chosen by its content: text, Parquet, JSON
//! of CloudWatch Logs; what looks like evidence and cannot be read is a problem, not a skip. The S3 key layout and file name are
//! read for what they tell a report: account, region, flow log, and the 5-minute slot.
//!
//! This is the bottom of the pipeline: it names archives and never opens one (that is
//! `flowlog::archive`). New ways to find evidence (an `s3://` listing, content detection of
//! what a file holds) belong here, beside [`discover`].

mod local;
pub mod s3;

pub use s3::window::Window;

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

/// Where an archive's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    File(PathBuf),
    Stdin,
    /// An object of an S3 bucket (`--logs s3://…`).
    S3(s3::Object),
}

/// An archive to read, with what its path says about it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Archive {
    /// The path as shown in reports (`-` for standard input).
    pub display: String,
    pub source: Source,
    pub meta: ArchiveMeta,
}

/// What the S3 key layout and the AWS file name say about an archive. Empty when the path does
/// not follow the layout (a hand-made sample, a CloudWatch export).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ArchiveMeta {
    pub account: Option<String>,
    pub region: Option<String>,
    pub flow_log_id: Option<String>,
    /// Start of the 5-minute publishing window, `YYYYMMDDTHHmmZ`.
    pub slot: Option<String>,
    /// `yyyy/mm/dd` from the key's date folders.
    pub day: Option<String>,
}

/// A path on the command line that could not be read as archives.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    /// An `s3://` URL that could not be listed: the message names the bucket, the prefix and
    /// the credentials tried.
    #[error("{url}: {message}")]
    S3 { url: String, message: String },
}

/// A file (or hidden directory) under `--logs` that is not read, and why.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

/// The result of walking `--logs`.
#[derive(Debug, Default)]
pub struct Discovery {
    pub archives: Vec<Archive>,
    /// What a directory held that is not evidence, by name, in walk order.
    pub skipped: Vec<Skipped>,
    /// Paths that could not be read (missing, permissions, symlink loops): each one fails the
    /// run, since evidence the user pointed at was not read.
    pub errors: Vec<DiscoverError>,
    /// What listing `s3://` paths found, when some were given.
    pub s3: Option<s3::Listing>,
}

/// Extensions of files that are certainly not flow logs, and what they are. Everything else in
/// a directory is read and recognised by its content: AWS names text objects `.log.gz` and
/// Parquet objects `.log.parquet`, Firehose objects have no extension, samples come as `.log`,
/// `.txt`, `.json` or without extension.
const SKIPPED_EXTENSIONS: &[(&str, &str)] = &[
    ("md", "documentation"),
    ("html", "documentation"),
    ("pdf", "documentation"),
    (
        "toml",
        "configuration (a flowgate sample's MANIFEST.toml, a policy)",
    ),
    ("yml", "configuration"),
    ("yaml", "configuration"),
    ("csv", "CSV, which is no format flow logs are delivered in"),
    ("png", "an image"),
    ("jpg", "an image"),
    (
        "zip",
        "a zip archive, which flowgate does not unpack: unpack it to have what it holds read",
    ),
    (
        "tar",
        "a tar archive, which flowgate does not unpack: unpack it to have what it holds read",
    ),
    ("sh", "a script"),
    ("py", "a script"),
    ("rs", "source code"),
];

/// Objects read from S3 at once when `--threads` is not given: each reader thread holds one
/// object in flight, so a run over S3 waits on the network this many times in parallel. Each
/// holds at most what a local archive does (an object of up to 2 MiB fetched whole and its
/// text of up to 8 MiB, or a streamed window; Parquet up to 16 MiB whole, bigger ones in 4
/// blocks of 4 MiB): 16 x 16 MiB at most.
pub const S3_READERS: usize = 16;

/// The worker threads for reading `archives`: `threads` when given, else every core, or
/// [`S3_READERS`] when some archive is in S3 and there are fewer cores than that.
pub fn threads(archives: &[Archive], threads: Option<usize>) -> Option<usize> {
    if threads.is_some() {
        return threads;
    }
    if !archives.iter().any(|a| matches!(a.source, Source::S3(_))) {
        return None;
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    Some(cores.max(S3_READERS))
}

/// Walks `paths` (files, directories, `s3://` prefixes, or `-`) in sorted order.
pub fn discover(paths: &[PathBuf]) -> Discovery {
    discover_in(paths, Window::default())
}

/// [`discover`] for a `--since/--until` window: S3 prefixes are listed only where the window
/// can have records, and objects whose key time is outside it are not read (listed as such).
/// Local files are all read (their records are filtered as they are read).
pub fn discover_in(paths: &[PathBuf], window: Window) -> Discovery {
    let mut found = Discovery::default();
    let mut seen_dirs = BTreeSet::new();
    let mut clients = Vec::new();
    for path in paths {
        if s3::is_url(path) {
            let url = path.to_string_lossy();
            s3::discover(&url, window, &mut clients, &mut found);
            continue;
        }
        if path.as_os_str() == "-" {
            found.archives.push(Archive {
                display: "-".into(),
                source: Source::Stdin,
                meta: ArchiveMeta::default(),
            });
            continue;
        }
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => local::walk(path, &mut seen_dirs, &mut found),
            // A file named explicitly is read whatever its extension: the user asked for it.
            Ok(_) => found.archives.push(archive_for(path)),
            Err(e) => found.errors.push(DiscoverError::Io {
                path: path.display().to_string(),
                source: e,
            }),
        }
    }
    found
}

/// Why a file in a directory is not read, when its name says it is not evidence.
pub(crate) fn skip_reason(name: &str) -> Option<String> {
    if name.starts_with('.') {
        return Some("a hidden file".into());
    }
    let lower = name.to_ascii_lowercase();
    if let Some((_, ext)) = lower.rsplit_once('.') {
        return SKIPPED_EXTENSIONS
            .iter()
            .find(|(e, _)| *e == ext)
            .map(|(e, what)| format!("`.{e}`: {what}, not flow logs"));
    }
    matches!(lower.as_str(), "readme" | "license" | "manifest" | "notice")
        .then(|| "documentation by its name, not flow logs".to_string())
}

pub(crate) fn archive_for(path: &Path) -> Archive {
    Archive {
        display: path.display().to_string(),
        source: Source::File(path.to_path_buf()),
        meta: ArchiveMeta::from_path(path),
    }
}

impl ArchiveMeta {
    /// Reads the S3 key layout (plain or Hive-style) and the AWS object name.
    pub fn from_path(path: &Path) -> ArchiveMeta {
        let parts: Vec<String> = path
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .filter(|p| !p.is_empty())
            .collect();
        ArchiveMeta::from_parts(&parts)
    }

    /// The same from an S3 key (`/`-separated, empty segments allowed).
    pub fn from_key(key: &str) -> ArchiveMeta {
        let parts: Vec<String> = key
            .split('/')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        ArchiveMeta::from_parts(&parts)
    }

    fn from_parts(parts: &[String]) -> ArchiveMeta {
        let mut meta = ArchiveMeta::default();
        if let Some(i) = parts.iter().position(|p| p == "AWSLogs") {
            let rest = &parts[i + 1..];
            let hive = |key: &str| {
                rest.iter()
                    .find_map(|p| p.strip_prefix(key).map(str::to_string))
            };
            if rest
                .first()
                .is_some_and(|p| p.starts_with("aws-account-id="))
            {
                meta.account = hive("aws-account-id=");
                meta.region = hive("aws-region=");
                if let (Some(y), Some(m), Some(d)) = (hive("year="), hive("month="), hive("day=")) {
                    meta.day = Some(format!("{y}/{m}/{d}"));
                }
            } else if rest.len() >= 6 && rest[1] == "vpcflowlogs" {
                meta.account = Some(rest[0].clone());
                meta.region = Some(rest[2].clone());
                if rest.len() >= 7 {
                    meta.day = Some(format!("{}/{}/{}", rest[3], rest[4], rest[5]));
                }
            }
        }
        if let Some(name) = parts.last() {
            // <account>_vpcflowlogs_<region>_<flow-log-id>_<YYYYMMDDTHHmmZ>_<hash>.log.gz;
            // regions and flow-log ids hold dashes, never underscores.
            let fields: Vec<&str> = name.split('_').collect();
            if fields.len() == 6 && fields[1] == "vpcflowlogs" && fields[3].starts_with("fl-") {
                meta.account.get_or_insert_with(|| fields[0].to_string());
                meta.region.get_or_insert_with(|| fields[2].to_string());
                meta.flow_log_id = Some(fields[3].to_string());
                let slot = fields[4];
                if slot.len() == 14 && slot.as_bytes()[8] == b'T' && slot.ends_with('Z') {
                    meta.slot = Some(slot.to_string());
                }
            }
        }
        meta
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_key_layout_is_read() {
        let m = ArchiveMeta::from_path(Path::new("my-bucket/AWSLogs/123456789012/vpcflowlogs/us-gov-east-1/2022/01/24/123456789012_vpcflowlogs_us-gov-east-1_fl-1234abcd_20180620T1620Z_fe123456.log.gz"));
        assert_eq!(m.account.as_deref(), Some("123456789012"));
        assert_eq!(m.region.as_deref(), Some("us-gov-east-1"));
        assert_eq!(m.flow_log_id.as_deref(), Some("fl-1234abcd"));
        assert_eq!(m.slot.as_deref(), Some("20180620T1620Z"));
        assert_eq!(m.day.as_deref(), Some("2022/01/24"));
    }

    #[test]
    fn hive_layout_with_hour_and_double_slash_is_read() {
        let m = ArchiveMeta::from_path(Path::new("b//prefix/AWSLogs/aws-account-id=210987654321/aws-service=vpcflowlogs/aws-region=ap-southeast-2/year=2026/month=11/day=02/hour=07/210987654321_vpcflowlogs_ap-southeast-2_fl-0630869f236e76872_20261102T0705Z_ea4b0f55.log.gz"));
        assert_eq!(m.account.as_deref(), Some("210987654321"));
        assert_eq!(m.region.as_deref(), Some("ap-southeast-2"));
        assert_eq!(m.day.as_deref(), Some("2026/11/02"));
        assert_eq!(m.slot.as_deref(), Some("20261102T0705Z"));
    }

    #[test]
    fn other_paths_have_no_meta() {
        assert_eq!(
            ArchiveMeta::from_path(Path::new("samples/V2_RECORDS.txt")),
            ArchiveMeta::default()
        );
    }

    #[test]
    fn obvious_non_logs_are_skipped_with_why() {
        assert_eq!(
            skip_reason("README.md").as_deref(),
            Some("`.md`: documentation, not flow logs")
        );
        assert_eq!(skip_reason(".DS_Store").as_deref(), Some("a hidden file"));
        for n in ["MANIFEST.toml", "x.csv", "README", "a.zip", "notes.PNG"] {
            assert!(skip_reason(n).is_some(), "{n}");
        }
        // Evidence by content, whatever the name: text, Parquet, JSON, Firehose objects.
        for n in [
            "a.log.gz",
            "a.log",
            "V2_RECORDS.txt",
            "records",
            "x.gz",
            "a.json",
            "flows.parquet",
            "x.ndjson.gz",
            "123_vpcflowlogs_us-east-1_fl-1_20261102T0705Z_ea4b0f55.log.parquet",
            "flow-logs-to-s3-1-2026-11-02-00-00-05-0a1b2c3d-1234-5678-9abc-def012345678",
        ] {
            assert_eq!(skip_reason(n), None, "{n}");
        }
    }
}
