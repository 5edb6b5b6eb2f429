//! `flowgate sample`: cut a small, committable `fixtures/` from a full flow-log archive
//! without changing what `flowgate check` finds in it.
//!
//! Two passes over the input, each parallel over archives like the check. The first
//! (`survey`) counts, pins the records the evidence needs (window, covered minutes, NODATA
//! and SKIPDATA, formats) and, for every distinct combination of the fields verdicts depend on
//! ([`key`]) among the records the sampled scopes can see (`--policies`; every record without
//! it), one representative record, and the witnesses that keep its server the input's; it also
//! sums sizes by coin, so a size cap can be planned. The second (`write`) copies each
//! archive's header, its pinned records and the records outside the scopes whose seeded coin
//! falls below the rate into the same key layout under `--out`, gzip when the input was gzip
//! (Parquet stays Parquet, a CloudWatch delivery the same delivery: `copy`), ids
//! pseudonymised on request ([`pseudonym`]). At rate 0 a sample is its pinned records alone,
//! and the survey holds their lines (`held`), so most archives are written from memory, not
//! read a second time; the samples are the same bytes either way. Then the sample is read
//! back and every kept record in scope decided again from the sample alone (`verify`); more
//! witnesses are kept
//! until each is keyed as in the input. A [`manifest::Manifest`] beside the archives says what
//! the sample stands for, and for which scopes.
//!
//! Lossless means: for every policy whose scope is inside the sampled scopes and that does not
//! match on client ports, `flowgate check` on the sample reports the same would-be-blocked
//! conversations, the same used and unused allow rules and waivers, and the same evidence
//! verdicts (window, gaps, SKIPDATA) as on the input. Counts (records, bytes) shrink, as they
//! must.

mod copy;
mod evidence;
mod fetch;
mod held;
pub mod key;
pub mod pseudonym;
mod representatives;
mod survey;
mod verify;
mod witness;
mod write;

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use rayon::prelude::*;

use crate::flowlog::{Archive, Flow, Format, Kind, Problem, ScanOptions};
pub use crate::manifest::{self, Manifest, Provenance};
use crate::policy::{Classifier, Policy, PolicySet};
use crate::source::discover;
use pseudonym::Pseudonymiser;
use survey::{Pinned, Reading, Survey};
use write::{make_held, write_archive, write_file, ArchiveJob, Written};

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
    /// Policies whose scopes the sample is cut for: only what they can see is kept
    /// losslessly. Empty: every record.
    pub policies: Vec<PathBuf>,
    /// Only records that end at or after this Unix time, as `check --since`.
    pub since: Option<u64>,
    /// Only records that start before this Unix time, as `check --until`.
    pub until: Option<u64>,
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
            policies: Vec::new(),
            since: None,
            until: None,
        }
    }
}

/// The scopes a sample is cut for: every record, or what some of the policies' scopes see.
pub struct Scopes {
    policies: Option<(PolicySet, Classifier)>,
}

impl Scopes {
    /// Every record.
    pub fn everything() -> Scopes {
        Scopes { policies: None }
    }

    /// What these policies' scopes see.
    pub fn of(set: PolicySet) -> Scopes {
        // Only the scopes are asked, never a waiver, so any date compiles them alike.
        let classifier = Classifier::new(set.policies(), time::Date::MIN);
        Scopes {
            policies: Some((set, classifier)),
        }
    }

    /// Whether the sample is cut for some scopes (`--policies`), not for every record.
    pub fn is_cut(&self) -> bool {
        self.policies.is_some()
    }

    /// The policies, when the sample is cut for some.
    pub fn set(&self) -> Option<&PolicySet> {
        self.policies.as_ref().map(|(set, _)| set)
    }

    pub fn policies(&self) -> &[Policy] {
        self.policies
            .as_ref()
            .map_or(&[], |(set, _)| set.policies())
    }

    /// Whether some sampled scope sees the record (whatever its action).
    #[inline]
    pub fn contains(&self, flow: &Flow<'_>) -> bool {
        let Some((set, classifier)) = &self.policies else {
            return true;
        };
        let policies = set.policies();
        classifier.any_in_scope(flow, |i| policies[i].in_scope(flow))
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
    /// A policy file is wrong; the text is the rendered diagnostics.
    #[error("{0}")]
    Policies(String),
    #[error("no policy files (*.toml) found under {0}")]
    NoPolicies(String),
    /// The sample could not be made to key some records as the input does (a bug: every
    /// record's evidence can be kept).
    #[error("the sample keys {0} otherwise than the input, and keeping more witnesses did not help; please report this")]
    Unkeyable(String),
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
    /// Rounds that kept more witnesses after reading the sample back.
    pub repairs: u32,
    /// Sample archives written from the lines the survey held, without reading their input
    /// again (at rate 0; see `held`).
    pub from_memory: u64,
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
    /// Which `--logs` root it was found under.
    pub root: usize,
}

const LOSSLESS: &str = "one record of every distinct (protocol, client, server, server port and side, action, \
interface, vpc, subnet, instance, flow direction) that the sampled scopes can see, with client and server \
taken on srcaddr/dstaddr and on pkt-srcaddr/pkt-dstaddr and the server decided as flowgate check decides it; \
the witness records that keep each kept record's server decided as in the input; every NODATA and SKIPDATA \
record; each archive's first and last record, earliest start and latest end, first record of each format, and \
a record for every minute the archive covers";

/// A pass of the sample over its input, for progress displays: the input is read more than
/// once, and a count that ran on across passes would count each archive twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// An object of an `s3://` root copied to the staging folder.
    Fetch,
    /// An archive read to count and pin its records.
    Survey,
    /// An archive's sample written, in write pass number `.0` (more than one when
    /// `--max-bytes` needs a lower rate).
    Write(u32),
}

/// Makes the sample.
pub fn sample(opts: &SampleOptions) -> Result<Outcome, Error> {
    sample_with(opts, &|_| {})
}

/// Makes the sample, calling `on_archive` after each archive of each [`Pass`] (for progress
/// displays), from worker threads.
pub fn sample_with(
    opts: &SampleOptions,
    on_archive: &(dyn Fn(Pass) + Sync),
) -> Result<Outcome, Error> {
    sample_holding(opts, on_archive, true)
}

/// [`sample_with`]; `hold: false` reads every archive again to write its sample, as the
/// samples written from memory must equal (the tests compare the two).
fn sample_holding(
    opts: &SampleOptions,
    on_archive: &(dyn Fn(Pass) + Sync),
    hold: bool,
) -> Result<Outcome, Error> {
    let scopes = if opts.policies.is_empty() {
        Scopes::everything()
    } else {
        let set = PolicySet::load(&opts.policies).map_err(|d| Error::Policies(d.render(false)))?;
        if set.policies().is_empty() {
            let paths: Vec<String> = opts
                .policies
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            return Err(Error::NoPolicies(paths.join(", ")));
        }
        Scopes::of(set)
    };
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
    let inputs = gather(&opts.logs, pseudonymiser.as_mut(), &staging, on_archive)?;
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(n) = opts.threads {
        pool = pool.num_threads(n.max(1));
    }
    pool.build()?.install(|| {
        run(
            opts,
            &inputs,
            &scopes,
            pseudonymiser.as_ref(),
            hold,
            on_archive,
        )
    })
}

/// Makes the sample; `hold`: the survey may hold lines to write samples from.
fn run(
    opts: &SampleOptions,
    inputs: &[Input],
    scopes: &Scopes,
    pseudonymiser: Option<&Pseudonymiser>,
    hold: bool,
    on_archive: &(dyn Fn(Pass) + Sync),
) -> Result<Outcome, Error> {
    let scan = ScanOptions {
        log_format: opts.log_format.clone(),
    };
    let reading = Reading {
        scopes,
        since: opts.since,
        until: opts.until,
        scan: &scan,
    };
    let surveyed = || on_archive(Pass::Survey);
    let requested = key::threshold(opts.rate);
    // At rate 0 a sample is the pinned records alone, which the survey can hold: most
    // archives are then written without being read again. Pseudonyms are written as the
    // archive is read again. Without --policies nearly every record may become a
    // representative: holding them cost more than the second read saves (one bench day:
    // 21% more CPU, 66% more memory), so the archives are read again.
    let hold = hold && requested == Some(0) && pseudonymiser.is_none() && scopes.is_cut();
    // Sizes by coin plan a sample to fit --max-bytes; without it they are not counted.
    let sizes = opts.max_bytes.is_some();
    let (mut survey, servers) = Survey::run(
        inputs,
        opts.seed,
        reading,
        pseudonymiser,
        hold,
        sizes,
        &surveyed,
    );
    let held = survey.take_held();
    let truth = verify::Truth::new(&survey, &servers);
    let mut pinned = survey.pinned(&servers);
    let kinds: Vec<Option<Kind>> = survey.archives.iter().map(|a| a.kind).collect();
    let input_bytes: u64 = inputs.iter().map(|i| i.bytes).sum();
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
    let mut repairs = 0;
    let cleanup = |best: &Option<(Option<u64>, u32, WrittenAll)>| {
        if let Some((_, pass, _)) = best {
            let _ = std::fs::remove_dir_all(staging(*pass));
        }
    };
    let write = Writing {
        inputs,
        reading,
        seed: opts.seed,
        kinds: &kinds,
        held: &held,
        pseudonymiser,
        io: &rayon::ThreadPoolBuilder::new()
            .num_threads(IO_THREADS)
            .build()?,
    };
    while passes < MAX_PASSES {
        passes += 1;
        let dir = staging(passes);
        let written = write.all(&pinned, threshold, &dir, &|| {
            on_archive(Pass::Write(passes))
        });
        let written = written.and_then(|w| {
            write.keyed_as_input(w, &mut pinned, threshold, &dir, &truth, &mut repairs)
        });
        let written = match written {
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
            since: opts.since.map(crate::text::rfc3339),
            until: opts.until.map(crate::text::rfc3339),
            lossless: LOSSLESS.to_string(),
        },
        input: manifest::InputSection {
            // An S3 URL names no local path: it is kept as given. A local root is written as
            // the folder its archives share below `--out`.
            logs: opts
                .logs
                .iter()
                .enumerate()
                .map(|(r, root)| {
                    if crate::source::s3::is_url(root) {
                        root.display().to_string()
                    } else {
                        common_folder(inputs, r)
                    }
                })
                .collect(),
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
            kept_witnesses: written.totals.witnesses,
            kept_rate: written.totals.rate,
            nodata: written.totals.nodata,
            skipdata: written.totals.skipdata,
        },
        scopes: manifest::scopes(scopes.set()),
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
        repairs,
        from_memory: written.from_memory.iter().filter(|&&m| m).count() as u64,
    })
}

/// Rounds of [`Writing::keyed_as_input`] before giving up: each keeps every witness of the
/// records it found keyed otherwise, so one is the most seen.
const MAX_REPAIRS: u32 = 8;

/// What writing a sample needs besides the pins and the rate.
struct Writing<'a> {
    inputs: &'a [Input],
    reading: Reading<'a>,
    seed: u64,
    /// What each archive is, so its sample is of the same kind.
    kinds: &'a [Option<Kind>],
    /// The lines the survey held of each archive, to write its sample at rate 0 from.
    held: &'a [Option<held::Held>],
    pseudonymiser: Option<&'a Pseudonymiser>,
    /// Threads that write and sync the samples made in memory (see [`IO_THREADS`]).
    io: &'a rayon::ThreadPool,
}

/// Threads that write and sync sample archives made in memory. Syncing a file waits for the
/// disk (a few milliseconds each on the machines measured, one file per input archive), not
/// for a core: several in flight at once let the disk take them together. The samples are
/// made (compressed) on the run's worker threads, so `--threads` still bounds the CPU.
const IO_THREADS: usize = 8;

/// Archives made in memory before their files are written: bounds the memory of a batch.
const IO_BATCH: usize = 256;

impl Writing<'_> {
    /// Writes every archive's sample into `staging`, calling `on_archive` after each.
    fn all(
        &self,
        pinned: &[Vec<Pinned>],
        threshold: Option<u64>,
        staging: &Path,
        on_archive: &(dyn Fn() + Sync),
    ) -> Result<WrittenAll, Error> {
        let _ = std::fs::remove_dir_all(staging);
        let every: Vec<usize> = (0..self.inputs.len()).collect();
        let mut all = WrittenAll {
            archives: 0,
            totals: Written::default(),
            each: vec![Written::default(); self.inputs.len()],
            lines: vec![Vec::new(); self.inputs.len()],
            from_memory: vec![false; self.inputs.len()],
        };
        self.some(&every, pinned, threshold, staging, &mut all, on_archive)?;
        Ok(all)
    }

    /// Writes (again) the samples of archives `which`, updating `all`, calling `on_archive`
    /// after each.
    fn some(
        &self,
        which: &[usize],
        pinned: &[Vec<Pinned>],
        threshold: Option<u64>,
        staging: &Path,
        all: &mut WrittenAll,
        on_archive: &(dyn Fn() + Sync),
    ) -> Result<(), Error> {
        let mut results: Vec<(usize, Written, Vec<u64>, bool)> = Vec::with_capacity(which.len());
        for batch in which.chunks(IO_BATCH) {
            let made: Vec<(usize, PathBuf, write::Made)> = batch
                .par_iter()
                .map(|&i| {
                    let input = &self.inputs[i];
                    let destination = staging.join(&input.destination);
                    let _ = std::fs::remove_file(&destination);
                    let job = ArchiveJob {
                        archive: &input.archive,
                        salt: key::archive_salt(self.seed, &input.key),
                        pinned: &pinned[i],
                        threshold,
                        destination: destination.clone(),
                        pseudonymiser: self.pseudonymiser.cloned(),
                        kind: self.kinds[i],
                        log_format: self.reading.scan.log_format.as_ref(),
                        since: self.reading.since,
                        until: self.reading.until,
                        // Records in scope are kept for their combinations, not by rate: a
                        // record by rate would need its own witnesses.
                        scopes: self.reading.scopes,
                        held: self.held.get(i).and_then(Option::as_ref),
                    };
                    // From the lines the survey held, else by reading the archive again.
                    let made = match make_held(&job) {
                        Ok(Some(made)) => Ok(made),
                        Ok(None) => {
                            write_archive(job, self.reading.scan).map(|(written, lines)| {
                                write::Made {
                                    written,
                                    lines,
                                    file: None,
                                    from_memory: false,
                                }
                            })
                        }
                        Err(e) => Err(e),
                    };
                    on_archive();
                    made.map(|m| (i, destination.clone(), m))
                        .map_err(|source| Error::Write {
                            path: destination.display().to_string(),
                            source,
                        })
                })
                .collect::<Result<_, _>>()?;
            self.io.install(|| {
                made.par_iter()
                    .filter_map(|(_, path, m)| Some((path, m.file.as_deref()?)))
                    .try_for_each(|(path, bytes)| {
                        write_file(path, bytes).map_err(|source| Error::Write {
                            path: path.display().to_string(),
                            source,
                        })
                    })
            })?;
            results.extend(
                made.into_iter()
                    .map(|(i, _, m)| (i, m.written, m.lines, m.from_memory)),
            );
        }
        for (i, w, lines, from_memory) in results {
            all.each[i] = w;
            all.lines[i] = lines;
            all.from_memory[i] = from_memory;
        }
        all.totals = Written::default();
        all.archives = 0;
        for w in &all.each {
            all.archives += u64::from(w.records > 0);
            all.totals += *w;
        }
        Ok(())
    }

    /// Reads the written sample back and, until every kept record in scope is keyed as in the
    /// input, keeps more witnesses and writes the archives that gained some again.
    fn keyed_as_input(
        &self,
        mut all: WrittenAll,
        pinned: &mut [Vec<Pinned>],
        threshold: Option<u64>,
        staging: &Path,
        truth: &verify::Truth<'_>,
        repairs: &mut u32,
    ) -> Result<WrittenAll, Error> {
        for _ in 0..MAX_REPAIRS {
            let misses = verify::verify(self.inputs, staging, &all.lines, self.reading, truth);
            if misses.is_empty() {
                return Ok(all);
            }
            *repairs += 1;
            let (mut more, fan_in) = verify::wants(&misses, truth.survey, truth.servers);
            let found: Vec<(usize, std::collections::BTreeSet<u64>)> = fan_in
                .par_iter()
                .map(|(&i, ends)| (i, verify::fan_in_lines(&self.inputs[i], self.reading, ends)))
                .collect();
            for (i, lines) in found {
                more[i].extend(lines);
            }
            let changed: Vec<usize> = verify::add_pins(pinned, more).into_iter().collect();
            if changed.is_empty() {
                return Err(Error::Unkeyable(verify::describe(&misses, self.inputs)));
            }
            // Not counted again: the progress display counts each archive once a pass.
            self.some(&changed, pinned, threshold, staging, &mut all, &|| {})?;
        }
        let misses = verify::verify(self.inputs, staging, &all.lines, self.reading, truth);
        if misses.is_empty() {
            Ok(all)
        } else {
            Err(Error::Unkeyable(verify::describe(&misses, self.inputs)))
        }
    }
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
    each: Vec<Written>,
    /// Per input, the input lines of the records written, in order.
    lines: Vec<Vec<u64>>,
    /// Per input, whether its sample was written from the lines the survey held.
    from_memory: Vec<bool>,
}

/// Finds the archives under each `--logs` root and where each goes below `--out`.
fn gather(
    logs: &[PathBuf],
    mut pseudonymiser: Option<&mut Pseudonymiser>,
    staging: &fetch::Staging,
    on_archive: &(dyn Fn(Pass) + Sync),
) -> Result<Vec<Input>, Error> {
    let mut inputs = Vec::new();
    let mut destinations = HashSet::new();
    for (index, root) in logs.iter().enumerate() {
        if root.as_os_str() == "-" {
            return Err(Error::Stdin);
        }
        if crate::source::s3::is_url(root) {
            let fetched = staging.fetch(&root.to_string_lossy(), &|| on_archive(Pass::Fetch))?;
            for (archive, relative, bytes) in fetched {
                let input = input(
                    archive,
                    relative,
                    bytes,
                    index,
                    pseudonymiser.as_deref_mut(),
                );
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
            let input = input(
                archive,
                relative,
                bytes,
                index,
                pseudonymiser.as_deref_mut(),
            );
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

/// An archive to sample, at `relative` below `--out` (pseudonymised when asked), found under
/// `--logs` root number `root`.
fn input(
    archive: Archive,
    relative: PathBuf,
    bytes: u64,
    root: usize,
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
        root,
    }
}

/// Where an archive goes below `--out`: its S3 key layout from `AWSLogs/` down, whether
/// `--logs` names a folder above the layout (whatever is between them is kept too), a folder
/// inside it (a day) or the file itself; without that layout, its path below its `--logs`
/// folder, or its name.
fn relative_path(root: &Path, root_is_dir: bool, path: &Path) -> PathBuf {
    let is_layout = |c: &Component<'_>| c.as_os_str() == "AWSLogs";
    let below = if root_is_dir {
        path.strip_prefix(root).ok()
    } else {
        None
    };
    if let Some(rel) = below {
        if rel.components().any(|c| is_layout(&c)) {
            return rel.to_path_buf();
        }
    }
    let parts: Vec<Component<'_>> = path.components().collect();
    if let Some(i) = parts.iter().position(is_layout) {
        return parts[i..].iter().collect();
    }
    match below {
        Some(rel) => rel.to_path_buf(),
        None => path.file_name().map(PathBuf::from).unwrap_or_default(),
    }
}

/// The folder below `--out` that holds every archive of `--logs` root `root` (`.` for the
/// top): what the manifest says was sampled, without the local path it came from.
fn common_folder(inputs: &[Input], root: usize) -> String {
    let mut common: Option<Vec<Component<'_>>> = None;
    for input in inputs.iter().filter(|i| i.root == root) {
        let dir: Vec<Component<'_>> = input
            .destination
            .parent()
            .map(|p| p.components().collect())
            .unwrap_or_default();
        common = Some(match common {
            None => dir,
            Some(c) => c
                .into_iter()
                .zip(dir)
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| a)
                .collect(),
        });
    }
    let path: PathBuf = common.unwrap_or_default().into_iter().collect();
    let text = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/");
    if text.is_empty() {
        ".".into()
    } else {
        text
    }
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
        // --logs at a day folder: the layout is kept from AWSLogs/ down.
        assert_eq!(
            relative_path(
                Path::new("/data/full/AWSLogs/1/vpcflowlogs/r/2026/11/02"),
                true,
                p
            ),
            PathBuf::from("AWSLogs/1/vpcflowlogs/r/2026/11/02/a.log.gz")
        );
        // Folders above the layout below --logs stay.
        assert_eq!(
            relative_path(
                Path::new("/data"),
                true,
                Path::new("/data/prod/AWSLogs/1/a.log.gz")
            ),
            PathBuf::from("prod/AWSLogs/1/a.log.gz")
        );
        assert_eq!(
            relative_path(Path::new("/data"), true, Path::new("/data/x/y.log")),
            PathBuf::from("x/y.log")
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

    const V2: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";
    const V5: &str = "version interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status tcp-flags";

    /// An archive of `n` records in the default format, from `t` on, a client in 10.1.0.0/16
    /// or in 10.9.0.0/16 (outside the policy's scope) talking to a few servers.
    fn archive(n: u32, t: u64, seed: u32) -> Vec<String> {
        let mut lines = vec![V2.to_string()];
        for i in 0..n {
            let k = i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 7;
            let net = if k % 3 == 0 { 9 } else { 1 };
            let start = t + u64::from(k % 290);
            lines.push(format!(
                "2 123456789012 eni-{} 10.{net}.0.{} 10.2.0.{} {} {} 6 3 180 {start} {} ACCEPT OK",
                k % 2,
                k % 7,
                k % 4,
                40000 + k % 5000,
                [443, 5432, 8080][(k % 3) as usize],
                start + 30,
            ));
        }
        lines
    }

    fn gzip(text: &str) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    }

    /// Every file below `dir`, by its path below it, with its bytes.
    fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let rel = p.strip_prefix(dir).unwrap().to_path_buf();
                    out.push((rel, std::fs::read(&p).unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    /// The samples written from the lines the survey held are the samples written by reading
    /// every archive again, byte for byte (manifest included); archives that cannot be
    /// written from memory (two headers; pseudonyms) take the second way.
    #[test]
    fn a_sample_written_from_memory_equals_one_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("full/AWSLogs/1/vpcflowlogs/r/2026/11/01");
        std::fs::create_dir_all(&logs).unwrap();
        let t = 1_793_491_200;
        for i in 0..4u32 {
            let text = archive(400, t + 300 * u64::from(i), i).join("\n") + "\n";
            std::fs::write(logs.join(format!("a{i}.log.gz")), gzip(&text)).unwrap();
        }
        // Plain text, with a NODATA record and a blank line.
        let mut plain = archive(50, t, 9);
        plain.insert(
            3,
            format!("2 123456789012 eni-3 - - - - - - - {t} {} - NODATA", t + 60),
        );
        plain.insert(5, String::new());
        std::fs::write(logs.join("plain.log"), plain.join("\n") + "\n").unwrap();
        // Two formats in one archive.
        let mut two = archive(60, t + 600, 5);
        two.push(V5.to_string());
        for i in 0..30u64 {
            two.push(format!(
                "5 eni-1 10.1.0.{} 10.2.0.1 {} 443 6 3 180 {} {} ACCEPT OK 2",
                i % 5,
                41000 + i,
                t + 700 + i,
                t + 720 + i
            ));
        }
        std::fs::write(logs.join("two.log.gz"), gzip(&(two.join("\n") + "\n"))).unwrap();
        let policy = dir.path().join("p.toml");
        std::fs::write(&policy, "[scope]\npeer = [\"10.1.0.0/16\"]\n").unwrap();

        let run = |name: &str, hold: bool, pseudonymise: Option<&str>| {
            let opts = SampleOptions {
                logs: vec![dir.path().join("full")],
                out: dir.path().join(name),
                rate: 0.0,
                seed: 3,
                policies: vec![policy.clone()],
                pseudonymise: pseudonymise.map(String::from),
                threads: Some(2),
                ..SampleOptions::default()
            };
            let outcome = sample_holding(&opts, &|_| {}, hold).unwrap();
            (outcome, files(&opts.out))
        };
        let (held, from_memory) = run("held", true, None);
        let (read, read_again) = run("read", false, None);
        assert_eq!(
            from_memory.len(),
            7,
            "{:?}",
            from_memory.iter().map(|f| &f.0).collect::<Vec<_>>()
        );
        assert_eq!(from_memory, read_again);
        // All but the archive of two formats were written from memory.
        assert_eq!(held.from_memory, 5);
        assert_eq!(read.from_memory, 0);
        assert!(held.manifest.output.kept_evidence > 0 && held.manifest.output.nodata == 1);

        let (pseudo, pseudonymised) = run("pseudo-held", true, Some("secret"));
        let (_, pseudonymised_read) = run("pseudo-read", false, Some("secret"));
        assert_eq!(pseudo.from_memory, 0);
        assert_eq!(pseudonymised, pseudonymised_read);
        assert_ne!(pseudonymised, from_memory);
    }

    #[test]
    fn thresholds_order_with_none_highest() {
        assert_eq!(lower(None, Some(3)), Some(3));
        assert_eq!(lower(Some(5), Some(3)), Some(3));
        assert_eq!(lower(None, None), None);
    }
}
