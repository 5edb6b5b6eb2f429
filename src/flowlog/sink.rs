//! What a reader hands on: records, formats, problems, and what it learnt about the object.
//!
//! Every reader (text lines, Parquet rows, CloudWatch events) reports to a [`Sink`] in the
//! object's order, so `check`, `inspect`, `sample` and `suggest` are sinks over the same
//! readers and never need to know what kind of object a record came from. A [`Problem`] is
//! anything that could not be read, at the line, row or event it concerns.

use std::fmt;

use super::format::Format;
use super::kind::{Kind, Unit};
use super::record::Flow;
use crate::source::Archive;

/// Something in the evidence that could not be read. Any problem makes the run untrusted.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Problem {
    pub archive: String,
    /// 1-based line (row, event: see `unit`), where the problem is tied to one.
    pub line: Option<u64>,
    pub message: String,
    /// What `line` counts: lines of text, rows of Parquet, CloudWatch events.
    pub unit: Unit,
}

impl Problem {
    /// A problem at a line of text (`at` is `None` when it concerns the whole archive).
    pub fn new(archive: impl Into<String>, at: Option<u64>, message: impl Into<String>) -> Self {
        Problem {
            archive: archive.into(),
            line: at,
            message: message.into(),
            unit: Unit::Line,
        }
    }

    /// A problem at row or event `at` (as `unit` counts) of an archive.
    pub fn at(archive: impl Into<String>, unit: Unit, at: u64, message: impl Into<String>) -> Self {
        Problem {
            archive: archive.into(),
            line: Some(at),
            message: message.into(),
            unit,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(
                f,
                "{}: {}",
                self.unit.locate(&self.archive, line),
                self.message
            ),
            None => write!(f, "{}: {}", self.archive, self.message),
        }
    }
}

/// Where a CloudWatch Logs message came from, as far as its shape says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivery<'a> {
    /// The account that owns the log group (a subscription message's `owner`).
    pub owner: Option<&'a str>,
    pub log_group: Option<&'a str>,
    /// `eni-…-all` for a VPC flow log: one stream per interface.
    pub log_stream: Option<&'a str>,
    /// A CONTROL_MESSAGE: CloudWatch checking that the destination is reachable.
    pub control: bool,
}

/// Receives what a scan finds, in file order.
pub trait Sink {
    /// A format takes effect for the lines that follow: the header line, a repeated header
    /// with a different field list, or `--log-format` for a headerless archive.
    fn format(&mut self, archive: &Archive, format: &Format);
    /// A record that parsed.
    fn record(&mut self, archive: &Archive, line: u64, flow: &Flow<'_>);
    /// Whether the sink needs each record's line (`record_line`'s bytes). A reader of rows
    /// (Parquet) then writes the line; a sink that judges records only says no, and gets
    /// `record` without it.
    fn wants_lines(&self) -> bool {
        true
    }
    /// A record that parsed, with the bytes of its line (without the line ending). Sinks that
    /// copy records out (`flowgate sample`) override this; the default hands on to `record`.
    fn record_line(&mut self, archive: &Archive, line: u64, bytes: &[u8], flow: &Flow<'_>) {
        let _ = bytes;
        self.record(archive, line, flow);
    }
    /// A header line that parsed, every time one is read (also when it repeats the current
    /// format). Called before `format`. Only sinks that copy archives need it.
    fn header_line(&mut self, archive: &Archive, line: u64, bytes: &[u8]) {
        let _ = (archive, line, bytes);
    }
    /// The kind of the archive, found from its content before its first record.
    fn kind(&mut self, archive: &Archive, kind: Kind) {
        let _ = (archive, kind);
    }
    /// A CloudWatch Logs message's envelope: its owner account, log group and stream (each
    /// when the shape carries it), and whether it was a CONTROL_MESSAGE (no records).
    fn delivery(&mut self, archive: &Archive, delivery: &Delivery<'_>) {
        let _ = (archive, delivery);
    }
    /// A line or a stream that could not be read.
    fn problem(&mut self, problem: Problem);
    /// Whether to stop early (Ctrl-C). Checked between records, so it must be cheap.
    fn cancelled(&self) -> bool {
        false
    }
}
