//! `flowgate sample`: cut a small, committable `fixtures/` from a full flow-log archive
//! without changing what `flowgate check` finds in it.
//!
//! Two passes over the input, each parallel over archives like the check. The first
//! (`survey`) counts, pins the records the evidence needs (window, covered minutes, NODATA
//! and SKIPDATA, formats) and, for every distinct combination of the fields verdicts depend on
//! ([`key`]), one representative record; it also sums sizes by coin, so a size cap can be
//! planned. The second (`write`) copies each archive's header, its pinned records and the
//! records whose seeded coin falls below the rate into the same relative path under `--out`,
//! gzip when the input was gzip, ids pseudonymised on request ([`pseudonym`]). A
//! [`manifest::Manifest`] beside the archives says what the sample stands for.
//!
//! Lossless means: for every policy that does not match on client ports, `flowgate check` on
//! the sample reports the same would-be-blocked conversations, the same used and unused allow
//! rules and waivers, and the same evidence verdicts (window, gaps, SKIPDATA) as on the input.
//! Counts (records, bytes) shrink, as they must.

mod copy;
mod evidence;
mod fetch;
pub mod key;
pub mod pseudonym;
mod survey;
mod write;

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use rayon::prelude::*;

use crate::flowlog::{Archive, Format, Kind, Problem, ScanOptions};
pub use crate::manifest::{self, Manifest, Provenance};
use crate::source::discover;
use pseudonym::Pseudonymiser;
use survey::{Pinned, Survey};
use write::{write_archive, ArchiveJob, Written};

/// What to sample and how.
#[derive(Clone, Debug)]
pub struct SampleOptions {
    /// Full archives or directories of them; each archive's path below its root is kept.
    pub logs: Vec<PathBuf>,
    /// Where the sample goes; it must hold no flow-log archive yet.
    pub out: PathBuf,
    /// Share of the records beyond the lossless minimum to keep, 0 to 1.
    pub rate: f64,
    pub seed: u64,
    /// Cap on the bytes of the sample archives; lowers the rate when needed.
    pub max_bytes: Option<u64>,
    /// Secret for keyed pseudonyms of account, interface, instance, vpc and subnet ids.
    pub pseudonymise: Option<String>,
    /// Format of archives without a header line.
    pub log_format: Option<Format>,
    /// Worker threads; `None` uses every core.
    pub threads: Option<usize>,
}

impl Default for SampleOptions {
    fn default() -> Self {
        SampleOptions {
            logs: Vec::new(),
            out: PathBuf::from("fixtures"),
            rate: 0.01,
            seed: 1,
            max_bytes: None,
            pseudonymise: None,
            log_format: None,
            threads: None,
        }
    }
}

/// Why no sample was written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("flowgate sample reads its input twice, so `--logs -` (standard input) cannot be sampled: save it to a file first")]
    Stdin,
    #[error("no flow-log archives found under {0}")]
    NoArchives(String),
    #[error("{path}: cannot read: {source}")]
    Unreadable {
        path: String,
        source: std::io::Error,
    },
    #[error("{out} already holds {count} flow-log archive(s), e.g. {first}; flowgate sample writes into a directory without archives, so an old sample never mixes with a new one: remove them or choose another --out")]
    OutNotEmpty {
        out: String,
        count: usize,
        first: String,
    },
    #[error("two archives would both be written to {0}: give --logs roots whose archives have different paths below them")]
    Collision(String),
    #[error("the lossless sample takes {needed} bytes (every distinct combination and the evidence records, at rate 0), more than --max-bytes {max}: raise --max-bytes to at least {needed}, or sample fewer archives")]
    TooLarge { needed: u64, max: u64 },
    #[error("{path}: cannot write: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot start worker threads: {0}")]
    Threads(#[from] rayon::ThreadPoolBuildError),
}

/// A finished sample.
#[derive(Debug)]
pub struct Outcome {
    pub manifest: Manifest,
    pub manifest_path: PathBuf,
    /// What could not be read in the input (the sample holds the rest); any makes it untrusted.
    pub problems: Vec<Problem>,
    pub problems_total: u64,
    /// Write passes made: more than one when `--max-bytes` needed a lower rate.
    pub passes: u32,
}

/// One archive to sample.
#[derive(Debug)]
pub struct Input {
    pub archive: Archive,
    /// Path below its `--logs` root, `/`-separated: what the coin is seeded with.
    pub key: String,
    /// Path below `--out`.
    pub destination: PathBuf,
    pub bytes: u64,
}

const LOSSLESS: &str = "one record of every distinct (protocol, client, server, server port and side, action, \
interface, vpc, subnet, instance, flow direction), with client and server taken on srcaddr/dstaddr and on \
pkt-srcaddr/pkt-dstaddr; every NODATA and SKIPDATA record; each archive's first and last record, earliest \
start and latest end, first record of each format, and a record for every minute the archive covers";

/// Makes the sample.
pub fn sample(opts: &SampleOptions) -> Result<Outcome, Error> {
    let mut pseudonymiser = opts.pseudonymise.as_deref().map(Pseudonymiser::new);
    let existing = discover(std::slice::from_ref(&opts.out)).archives;
    if let Some(first) = existing.first() {
        return Err(Error::OutNotEmpty {
            out: opts.out.display().to_string(),
            count: existing.len(),
            first: first.display.clone(),
        });
    }
    // Objects of s3:// roots are copied here first, and removed when the sample is done.
    let staging = fetch::Staging::new(&opts.out);
    let inputs = gather(&opts.logs, pseudonymiser.as_mut(), &staging)?;
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(n) = opts.threads {
        pool = pool.num_threads(n.max(1));
    }
    pool.build()?
        .install(|| run(opts, &inputs, pseudonymiser.as_ref()))
}

fn run(
    opts: &SampleOptions,
    inputs: &[Input],
    pseudonymiser: Option<&Pseudonymiser>,
) -> Result<Outcome, Error> {
    let scan = ScanOptions {
        log_format: opts.log_format.clone(),
    };
    let survey = Survey::run(inputs, opts.seed, &scan);
    let pinned = survey.pinned();
    let kinds: Vec<Option<Kind>> = survey.archives.iter().map(|a| a.kind).collect();
    let input_bytes: u64 = inputs.iter().map(|i| i.bytes).sum();
    let requested = key::threshold(opts.rate);
    let mut threshold = requested;
    if let Some(cap) = opts.max_bytes {
        // First guess: the sample compresses as well as its input did.
        let text = survey.text_bytes_at(&pinned, None).max(1);
        let ratio = (input_bytes as f64 / text as f64).clamp(0.01, 1.0);
        threshold = lower(threshold, survey.threshold_for(&pinned, budget(cap, ratio)));
    }
    // Each pass writes into its own hidden staging directory (discovery skips dot names);
    // the best pass that fits is published, the others removed.
    let staging = |pass: u32| {
        opts.out
            .join(format!(".flowgate-sample-{}-{pass}", std::process::id()))
    };
    let mut best: Option<(Option<u64>, u32, WrittenAll)> = None;
    // The lowest threshold known to be too large.
    let mut ceiling: Option<Option<u64>> = None;
    let mut passes = 0;
    let cleanup = |best: &Option<(Option<u64>, u32, WrittenAll)>| {
        if let Some((_, pass, _)) = best {
            let _ = std::fs::remove_dir_all(staging(*pass));
        }
    };
    while passes < MAX_PASSES {
        passes += 1;
        let dir = staging(passes);
        let marks = Marks {
            pinned: &pinned,
            kinds: &kinds,
        };
        let written = match write_all(
            inputs,
            &marks,
            threshold,
            &dir,
            pseudonymiser,
            &scan,
            opts.seed,
        ) {
            Ok(w) => w,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                cleanup(&best);
                return Err(e);
            }
        };
        let Some(cap) = opts.max_bytes else {
            best = Some((threshold, passes, written));
            break;
        };
        // The sample's own compression is now known: plan with it.
        let text = survey.text_bytes_at(&pinned, threshold).max(1);
        let ratio = (written.totals.bytes as f64 / text as f64).clamp(0.001, 1.0);
        let planned = lower(requested, survey.threshold_for(&pinned, budget(cap, ratio)));
        if written.totals.bytes <= cap {
            cleanup(&best);
            best = Some((threshold, passes, written));
            // Try a higher rate when the plan says it fits and it is not known not to.
            let below_ceiling = ceiling.is_none_or(|c| order(planned) < order(c));
            if order(planned) <= order(threshold) || !below_ceiling {
                break;
            }
            threshold = planned;
        } else {
            let _ = std::fs::remove_dir_all(&dir);
            if threshold == Some(0) {
                cleanup(&best);
                return Err(Error::TooLarge {
                    needed: written.totals.bytes,
                    max: cap,
                });
            }
            ceiling = Some(threshold);
            let mut next = planned;
            if order(next) >= order(threshold) {
                next = Some(threshold.unwrap_or(u64::MAX) / 2);
            }
            if let Some((b, ..)) = &best {
                if order(next) <= order(*b) {
                    break;
                }
            }
            // The last pass falls back to the lossless part alone, which fits or says why not.
            threshold = if passes + 1 == MAX_PASSES && best.is_none() {
                Some(0)
            } else {
                next
            };
        }
    }
    let Some((threshold, pass, written)) = best else {
        unreachable!("the last pass writes rate 0, which fits or returns TooLarge")
    };
    let staging = staging(pass);
    publish(inputs, &staging, &opts.out)?;

    let manifest = Manifest {
        sample: manifest::SampleSection {
            flowgate_version: env!("CARGO_PKG_VERSION").to_string(),
            seed: opts.seed,
            rate_requested: opts.rate,
            rate: threshold.map_or(1.0, |t| t as f64 / 18_446_744_073_709_551_616.0),
            max_bytes: opts.max_bytes,
            pseudonymised: pseudonymiser.is_some(),
            lossless: LOSSLESS.to_string(),
        },
        input: manifest::InputSection {
            logs: opts.logs.iter().map(|p| p.display().to_string()).collect(),
            archives: inputs.len() as u64,
            bytes: input_bytes,
            records: survey.archives.iter().map(|a| a.records).sum(),
            nodata: survey.archives.iter().map(|a| a.nodata).sum(),
            skipdata: survey.archives.iter().map(|a| a.skipdata).sum(),
            problems: survey.problems_total,
            combinations: survey.representatives.len() as u64,
            first_start: survey.first_start.map(crate::text::rfc3339),
            last_end: survey.last_end.map(crate::text::rfc3339),
        },
        output: manifest::OutputSection {
            archives: written.archives,
            bytes: written.totals.bytes,
            records: written.totals.records,
            kept_evidence: written.totals.evidence,
            kept_window: written.totals.window,
            kept_combinations: written.totals.combinations,
            kept_rate: written.totals.rate,
            nodata: written.totals.nodata,
            skipdata: written.totals.skipdata,
        },
    };
    let manifest_path = opts.out.join(manifest::FILE_NAME);
    crate::output::write_atomic(&manifest_path, manifest.render().as_bytes()).map_err(
        |source| Error::Write {
            path: manifest_path.display().to_string(),
            source,
        },
    )?;
    Ok(Outcome {
        manifest,
        manifest_path,
        problems: survey.problems,
        problems_total: survey.problems_total,
        passes,
    })
}

/// Write passes at most when fitting `--max-bytes`.
const MAX_PASSES: u32 = 5;

/// Thresholds in order, `None` (keep all) highest.
fn order(t: Option<u64>) -> u128 {
    t.map_or(u128::MAX, u128::from)
}

/// Text bytes that should compress to at most `cap` at `ratio`, with a little room.
fn budget(cap: u64, ratio: f64) -> u64 {
    (cap as f64 * 0.97 / ratio) as u64
}

/// The lower of two thresholds; `None` (keep all) is the highest.
fn lower(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

struct WrittenAll {
    archives: u64,
    totals: Written,
}

/// What the first pass found about each input, for the second.
struct Marks<'a> {
    /// The records each archive must keep.
    pinned: &'a [Vec<Pinned>],
    /// What each archive is, so its sample is of the same kind.
    kinds: &'a [Option<Kind>],
}

fn write_all(
    inputs: &[Input],
    marks: &Marks<'_>,
    threshold: Option<u64>,
    staging: &Path,
    pseudonymiser: Option<&Pseudonymiser>,
    scan: &ScanOptions,
    seed: u64,
) -> Result<WrittenAll, Error> {
    let _ = std::fs::remove_dir_all(staging);
    let results: Vec<Written> = inputs
        .par_iter()
        .zip(marks.pinned)
        .zip(marks.kinds)
        .map(|((input, pins), kind)| {
            let destination = staging.join(&input.destination);
            let job = ArchiveJob {
                archive: &input.archive,
                salt: key::archive_salt(seed, &input.key),
                pinned: pins,
                threshold,
                destination: destination.clone(),
                pseudonymiser: pseudonymiser.cloned(),
                kind: *kind,
            };
            write_archive(job, scan).map_err(|source| Error::Write {
                path: destination.display().to_string(),
                source,
            })
        })
        .collect::<Result<_, _>>()?;
    let mut totals = Written::default();
    let mut archives = 0;
    for w in results {
        archives += u64::from(w.records > 0);
        totals += w;
    }
    Ok(WrittenAll { archives, totals })
}

/// Finds the archives under each `--logs` root and where each goes below `--out`.
fn gather(
    logs: &[PathBuf],
    mut pseudonymiser: Option<&mut Pseudonymiser>,
    staging: &fetch::Staging,
) -> Result<Vec<Input>, Error> {
    let mut inputs = Vec::new();
    let mut destinations = HashSet::new();
    for root in logs {
        if root.as_os_str() == "-" {
            return Err(Error::Stdin);
        }
        if crate::source::s3::is_url(root) {
            for (archive, relative, bytes) in staging.fetch(&root.to_string_lossy())? {
                let input = input(archive, relative, bytes, pseudonymiser.as_deref_mut());
                if !destinations.insert(input.destination.clone()) {
                    return Err(Error::Collision(input.destination.display().to_string()));
                }
                inputs.push(input);
            }
            continue;
        }
        let found = discover(std::slice::from_ref(root));
        if let Some(crate::source::DiscoverError::Io { path, source }) =
            found.errors.into_iter().next()
        {
            return Err(Error::Unreadable { path, source });
        }
        let root_is_dir = root.is_dir();
        for archive in found.archives {
            let crate::source::Source::File(path) = &archive.source else {
                return Err(Error::Stdin);
            };
            let relative = relative_path(root, root_is_dir, path);
            let bytes = std::fs::metadata(path)
                .map_err(|source| Error::Unreadable {
                    path: archive.display.clone(),
                    source,
                })?
                .len();
            let input = input(archive, relative, bytes, pseudonymiser.as_deref_mut());
            if !destinations.insert(input.destination.clone()) {
                return Err(Error::Collision(input.destination.display().to_string()));
            }
            inputs.push(input);
        }
    }
    if inputs.is_empty() {
        let roots: Vec<String> = logs.iter().map(|p| p.display().to_string()).collect();
        return Err(Error::NoArchives(roots.join(", ")));
    }
    Ok(inputs)
}

/// An archive to sample, at `relative` below `--out` (pseudonymised when asked).
fn input(
    archive: Archive,
    relative: PathBuf,
    bytes: u64,
    pseudonymiser: Option<&mut Pseudonymiser>,
) -> Input {
    let key = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/");
    let destination = match pseudonymiser {
        Some(p) => p.path(&relative),
        None => relative,
    };
    Input {
        archive,
        key,
        destination,
        bytes,
    }
}

/// The archive's path below its root. A file named on its own keeps its S3 key from
/// `AWSLogs/` on when it has one, else just its name.
fn relative_path(root: &Path, root_is_dir: bool, path: &Path) -> PathBuf {
    if root_is_dir {
        if let Ok(rel) = path.strip_prefix(root) {
            return rel.to_path_buf();
        }
    }
    let parts: Vec<Component<'_>> = path.components().collect();
    if let Some(i) = parts.iter().position(|c| c.as_os_str() == "AWSLogs") {
        return parts[i..].iter().collect();
    }
    path.file_name().map(PathBuf::from).unwrap_or_default()
}

/// Moves the staged archives into `--out` and removes the staging directory.
fn publish(inputs: &[Input], staging: &Path, out: &Path) -> Result<(), Error> {
    let err = |path: &Path, source| Error::Write {
        path: path.display().to_string(),
        source,
    };
    for input in inputs {
        let from = staging.join(&input.destination);
        if !from.exists() {
            continue;
        }
        let to = out.join(&input.destination);
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
        }
        std::fs::rename(&from, &to).map_err(|e| err(&to, e))?;
    }
    std::fs::remove_dir_all(staging).map_err(|e| err(staging, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_keep_the_key_layout() {
        let p = Path::new("/data/full/AWSLogs/1/vpcflowlogs/r/2026/11/02/a.log.gz");
        assert_eq!(
            relative_path(Path::new("/data/full"), true, p),
            PathBuf::from("AWSLogs/1/vpcflowlogs/r/2026/11/02/a.log.gz")
        );
        assert_eq!(
            relative_path(p, false, p),
            PathBuf::from("AWSLogs/1/vpcflowlogs/r/2026/11/02/a.log.gz")
        );
        assert_eq!(
            relative_path(Path::new("x.log"), false, Path::new("x.log")),
            PathBuf::from("x.log")
        );
    }

    #[test]
    fn thresholds_order_with_none_highest() {
        assert_eq!(lower(None, Some(3)), Some(3));
        assert_eq!(lower(Some(5), Some(3)), Some(3));
        assert_eq!(lower(None, None), None);
    }
}
