//! `MANIFEST.toml`: what a sample stands for, beside the archives it describes.
//!
//! A reviewer reading a pull request that changes `fixtures/` should see, without running
//! anything, what the sample was cut from (archives, bytes, records, time window), how (rate,
//! seed, size cap, pseudonyms, window), for which policies' scopes, and what it kept.
//! `flowgate check` shows the same as the report's provenance when it finds a manifest in a
//! `--logs` directory, and warns about policies whose scope is not inside the scopes the
//! sample was cut for. Discovery skips the file (`.toml` is not a flow-log name). Nothing in
//! it depends on the clock or the machine (paths are the archives' folders below the sample,
//! never where the input was), so the same input and seed give the same manifest too.
//!
//! It is its own module, below the report that shows it and the `sample` command that writes
//! it, so the report never depends on the sampler.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::policy::{Policy, PolicySet};

/// The manifest's file name.
pub const FILE_NAME: &str = "MANIFEST.toml";

/// The whole manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub sample: SampleSection,
    pub input: InputSection,
    pub output: OutputSection,
    /// The policies' scopes the sample was cut for (`--policies`); none: every record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<SampledScope>,
}

/// One scope a sample was cut for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampledScope {
    /// The policy's name.
    pub policy: String,
    /// Its `[scope]` as written (empty: everything).
    pub scope: toml::Table,
}

/// How the sample was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleSection {
    pub flowgate_version: String,
    pub seed: u64,
    /// The rate asked for (`--rate`).
    pub rate_requested: f64,
    /// The rate used: lower than asked when `--max-bytes` needed it.
    pub rate: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    pub pseudonymised: bool,
    /// `--since` / `--until`, RFC 3339: records outside were left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// What every sample keeps whatever the rate, in words.
    pub lossless: String,
}

/// What the sample was cut from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSection {
    /// Per `--logs` path, the folder below the sample that holds its archives (`.` for the
    /// top): the archives' key layout, never the local path they were read from.
    pub logs: Vec<String>,
    pub archives: u64,
    pub bytes: u64,
    pub records: u64,
    pub nodata: u64,
    pub skipdata: u64,
    /// Lines that could not be read (each makes `flowgate sample` exit 2).
    pub problems: u64,
    /// Distinct verdict combinations: the records a lossless sample cannot drop.
    pub combinations: u64,
    /// RFC 3339: earliest record start and latest record end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_end: Option<String>,
}

/// What the sample holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSection {
    pub archives: u64,
    pub bytes: u64,
    pub records: u64,
    /// Kept by the evidence rule: first record, new format, NODATA / SKIPDATA, new minutes.
    pub kept_evidence: u64,
    /// Kept for the window: each archive's last record, earliest start, latest end.
    pub kept_window: u64,
    /// Kept as the representative of a combination no other kept record stands for.
    pub kept_combinations: u64,
    /// Kept as witnesses of who a kept record's server is.
    #[serde(default)]
    pub kept_witnesses: u64,
    /// Kept by the seeded rate alone.
    pub kept_rate: u64,
    pub nodata: u64,
    pub skipdata: u64,
}

impl Manifest {
    /// The TOML text, with a comment saying what the file is.
    pub fn render(&self) -> String {
        let body = toml::to_string_pretty(self).unwrap_or_default();
        format!(
            "# Written by `flowgate sample`: what the flow-log archives beside this file stand for.\n\
             # `flowgate check` prints it as the report's provenance. Do not edit by hand.\n\n{body}"
        )
    }

    /// Reads a manifest.
    pub fn load(path: &Path) -> Result<Manifest, String> {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        toml::from_str(&text).map_err(|e| e.to_string())
    }
}

/// The scopes of the policies of `set` (none: every record), as written in their files.
pub fn scopes(set: Option<&PolicySet>) -> Vec<SampledScope> {
    let Some(set) = set else {
        return Vec::new();
    };
    set.policies()
        .iter()
        .map(|p| {
            let source = set.files().source(p.file);
            let scope = toml::from_str::<toml::Table>(source)
                .ok()
                .and_then(|t| t.get("scope").and_then(|s| s.as_table()).cloned())
                .unwrap_or_default();
            SampledScope {
                policy: p.name.clone(),
                scope,
            }
        })
        .collect()
}

/// The policies whose scope is inside none of the scopes a sample was cut for: their
/// verdicts on the sample may miss traffic. A sample cut for every record (no scopes) has
/// none; a scope in the manifest that does not load (any more) contains nothing.
pub fn outside(policies: &[Policy], cut_for: &[SampledScope]) -> Vec<String> {
    if cut_for.is_empty() {
        return Vec::new();
    }
    let loaded: Vec<Policy> = cut_for
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let body = toml::to_string(&s.scope).ok()?;
            let set = PolicySet::from_sources([(
                format!("sampled-{i}.toml"),
                format!("[scope]\n{body}"),
            )])
            .ok()?;
            set.policies().first().cloned()
        })
        .collect();
    policies
        .iter()
        .filter(|p| {
            !loaded
                .iter()
                .any(|outer| crate::policy::lint::scope_within(&p.scope, &outer.scope))
        })
        .map(|p| p.name.clone())
        .collect()
}

/// A sample's manifest as a check report shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Provenance {
    /// Where the manifest was found.
    pub manifest: String,
    pub flowgate_version: String,
    pub seed: u64,
    pub rate: f64,
    pub pseudonymised: bool,
    pub input_archives: u64,
    pub input_bytes: u64,
    pub input_records: u64,
    pub input_first_start: Option<String>,
    pub input_last_end: Option<String>,
    pub combinations: u64,
    pub sample_records: u64,
    /// The policies the sample was cut for (empty: every record).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cut_for: Vec<String>,
    /// The scopes themselves, to judge the check's policies against.
    #[serde(skip)]
    pub scopes: Vec<SampledScope>,
    /// Policies of this check whose scope is not inside those: their verdicts may miss
    /// traffic the sample left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outside_scopes: Vec<String>,
}

impl Provenance {
    fn from_manifest(path: &Path, m: Manifest) -> Provenance {
        Provenance {
            manifest: path.display().to_string(),
            flowgate_version: m.sample.flowgate_version,
            seed: m.sample.seed,
            rate: m.sample.rate,
            pseudonymised: m.sample.pseudonymised,
            input_archives: m.input.archives,
            input_bytes: m.input.bytes,
            input_records: m.input.records,
            input_first_start: m.input.first_start,
            input_last_end: m.input.last_end,
            combinations: m.input.combinations,
            sample_records: m.output.records,
            cut_for: m.scopes.iter().map(|s| s.policy.clone()).collect(),
            scopes: m.scopes,
            outside_scopes: Vec::new(),
        }
    }

    /// Notes which of `policies` the sample was not cut for.
    pub fn judge(&mut self, policies: &[Policy]) {
        self.outside_scopes = outside(policies, &self.scopes);
    }

    /// One warning per policy whose scope is outside the sampled ones.
    pub fn warnings(&self) -> Vec<String> {
        self.outside_scopes
            .iter()
            .map(|p| {
                format!("this sample was cut for other scopes: verdicts for {p} may miss traffic")
            })
            .collect()
    }

    /// The first manifest directly inside one of the `--logs` directories, in the order given.
    /// A manifest that does not parse is not provenance and is passed over.
    pub fn find(logs: &[PathBuf]) -> Option<Provenance> {
        logs.iter()
            .filter(|p| p.is_dir())
            .map(|dir| dir.join(FILE_NAME))
            .find_map(|path| {
                Manifest::load(&path)
                    .ok()
                    .map(|m| Provenance::from_manifest(&path, m))
            })
    }

    /// What the sample stands for and how it was cut, two values for the run summary's
    /// `sample` line and the one under it.
    /// `counts are from a sample: 683,821 of 2,244,310 records`: said next to every count a
    /// reviewer reads, since the sample keeps every conversation but not every record.
    pub fn sample_note(&self) -> String {
        format!(
            "counts are from a sample: {} of {} records",
            crate::text::thousands(self.sample_records),
            crate::text::thousands(self.input_records)
        )
    }

    pub fn describe(&self) -> [String; 2] {
        let window = match (&self.input_first_start, &self.input_last_end) {
            (Some(a), Some(b)) => format!(", {a} to {b}"),
            _ => String::new(),
        };
        [
            format!(
                "{} of {} records from {} archives ({} bytes{window})",
                self.sample_records, self.input_records, self.input_archives, self.input_bytes
            ),
            format!(
                "every one of the {} verdict combinations{} kept, the rest at rate {}, seed {}{} (flowgate {}, {})",
                self.combinations,
                if self.cut_for.is_empty() {
                    String::new()
                } else {
                    format!(" in the scopes of {}", self.cut_for.join(", "))
                },
                self.rate,
                self.seed,
                if self.pseudonymised {
                    ", ids pseudonymised"
                } else {
                    ""
                },
                self.flowgate_version,
                self.manifest
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            sample: SampleSection {
                flowgate_version: "0.1.0".into(),
                seed: 7,
                rate_requested: 0.05,
                rate: 0.01,
                max_bytes: Some(1_000_000),
                pseudonymised: true,
                since: None,
                until: None,
                lossless: "x".into(),
            },
            input: InputSection {
                logs: vec!["AWSLogs/1/vpcflowlogs/eu-west-1/2026/11/02".into()],
                archives: 3,
                bytes: 100,
                records: 50,
                nodata: 1,
                skipdata: 0,
                problems: 0,
                combinations: 9,
                first_start: Some("2026-11-02T00:00:00Z".into()),
                last_end: None,
            },
            output: OutputSection {
                archives: 3,
                bytes: 40,
                records: 12,
                kept_evidence: 3,
                kept_window: 1,
                kept_combinations: 6,
                kept_witnesses: 0,
                kept_rate: 2,
                nodata: 1,
                skipdata: 0,
            },
            scopes: vec![SampledScope {
                policy: "retail".into(),
                scope: toml::from_str("peer = [\"10.20.0.0/16\"]").unwrap(),
            }],
        }
    }

    #[test]
    fn round_trips_and_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, manifest().render()).unwrap();
        assert_eq!(Manifest::load(&path).unwrap(), manifest());
        let p =
            Provenance::find(&[PathBuf::from("/nonexistent"), dir.path().to_path_buf()]).unwrap();
        assert_eq!((p.input_records, p.sample_records, p.seed), (50, 12, 7));
        assert!(p.describe()[1].contains("ids pseudonymised"));
    }
}
