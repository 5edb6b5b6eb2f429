//! Samples of objects that are not text keep their kind: Parquet stays Parquet, a Firehose
//! object stays a Firehose object, a page of log events stays a page.
//!
//! The second pass reads such an object as the check does, to decide which records to keep
//! by the same pins and coin as a text archive's lines (numbered by row or event instead of
//! line), then copies the object with those records only, in its own shape and compression
//! ([`parquet`], and `flowlog::cloudwatch::copy` for CloudWatch deliveries).

mod parquet;

use std::fs::File;
use std::io::{self, Write};

use super::pseudonym::{ColumnRule, Pseudonymiser};
use super::write::{ArchiveJob, Keeper, Written};
use crate::flowlog::archive::Text;
use crate::flowlog::cloudwatch::copy::{copy_export, copy_json, Renamer, Rewrite};
use crate::flowlog::cloudwatch::Values;
use crate::flowlog::scan::{prepare, scan_prepared, Prepared};
use crate::flowlog::{Archive, CloudWatchShape, Flow, Format, Kind, Problem, ScanOptions, Sink};

/// Writes the sample of an object of `kind` (not text): which records to keep, then a copy.
pub fn write_copy(
    job: &ArchiveJob<'_>,
    scan: &ScanOptions,
    kind: Kind,
) -> io::Result<(Written, Vec<u64>)> {
    let mut sink = KeepSink {
        keeper: Keeper::new(job),
        kept: Vec::new(),
        format: None,
    };
    scan_prepared(prepare(job.archive), job.archive, scan, &mut sink);
    let KeepSink {
        keeper,
        kept,
        format,
        ..
    } = sink;
    let mut written = keeper.written;
    if kept.is_empty() {
        return Ok((written, kept));
    }
    let mut pseudonymiser = job.pseudonymiser.clone();
    match (kind, prepare(job.archive)) {
        (Kind::Parquet, Prepared::Parquet(log)) => {
            let copied = crate::flowlog::parquet::guard::guard(|| {
                parquet::copy(&log, &kept, &job.destination, pseudonymiser.as_mut())
            });
            copied.map_err(io::Error::other)??
        }
        (Kind::CloudWatch(shape), Prepared::Text { text, gzip }) => {
            let rules = format
                .as_ref()
                .map(Pseudonymiser::rules)
                .unwrap_or_default();
            copy_cloudwatch(
                job,
                shape,
                text,
                gzip,
                &kept,
                pseudonymiser.as_mut(),
                &rules,
            )?
        }
        (kind, _) => {
            return Err(io::Error::other(format!(
                "{} is no longer {kind} as it was when it was surveyed",
                job.archive.display
            )))
        }
    }
    written.bytes = std::fs::metadata(&job.destination)?.len();
    Ok((written, kept))
}

fn copy_cloudwatch(
    job: &ArchiveJob<'_>,
    shape: CloudWatchShape,
    text: Text,
    gzip: bool,
    kept: &[u64],
    pseudonymiser: Option<&mut Pseudonymiser>,
    rules: &[ColumnRule],
) -> io::Result<()> {
    let keep = |n: u64| kept.binary_search(&n).is_ok();
    let mut pseudonyms = pseudonymiser.map(|p| Pseudonyms { p, rules });
    let mut rewrite = Rewrite {
        keep: &keep,
        renamer: pseudonyms.as_mut().map(|p| p as &mut dyn Renamer),
    };
    // A sample is small: it is made in memory, then written.
    let mut out = Vec::new();
    match shape {
        CloudWatchShape::Export => {
            copy_export(&mut text.into_lines(), &mut rewrite, &mut out)?;
            if gzip {
                let mut e =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(&out)?;
                out = e.finish()?;
            }
        }
        // JSON is written one value a gzip member when it was gzip (a Firehose object), one
        // value a line when plain.
        _ => match text {
            Text::Whole(whole) => {
                copy_json(Values::whole(&whole), gzip, &mut rewrite, &mut out)?;
            }
            Text::Stream(read) => {
                copy_json(Values::stream(Box::new(read)), gzip, &mut rewrite, &mut out)?;
            }
        },
    }
    if let Some(dir) = job.destination.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = File::create(&job.destination)?;
    file.write_all(&out)?;
    file.sync_all()
}

/// The pseudonymiser as the CloudWatch copy renames with it.
struct Pseudonyms<'p> {
    p: &'p mut Pseudonymiser,
    rules: &'p [ColumnRule],
}

impl Renamer for Pseudonyms<'_> {
    fn message(&mut self, message: &str) -> String {
        let mut out = Vec::new();
        self.p.line(self.rules, message.as_bytes(), &mut out);
        String::from_utf8(out).unwrap_or_else(|_| message.to_string())
    }

    fn id(&mut self, id: &str) -> String {
        self.p.id(id)
    }
}

/// Decides which records of an object are kept, as the text writer decides for lines.
struct KeepSink<'j, 'a> {
    keeper: Keeper<'j, 'a>,
    /// Rows or events kept, ascending.
    kept: Vec<u64>,
    /// The format of the records (for the pseudonymiser's column rules).
    format: Option<Format>,
}

impl Sink for KeepSink<'_, '_> {
    fn format(&mut self, _archive: &Archive, format: &Format) {
        self.format = Some(format.clone());
    }

    fn record(&mut self, _archive: &Archive, at: u64, flow: &Flow<'_>) {
        if self.keeper.keep(at, flow) {
            self.kept.push(at);
        }
    }

    fn problem(&mut self, _problem: Problem) {}
}
