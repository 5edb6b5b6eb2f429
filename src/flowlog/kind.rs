//! What kind of object an archive is, found from its content, and what its records are
//! counted in.
//!
//! A flow log reaches a user as text (S3's default delivery), as Parquet (S3's other file
//! format), or through CloudWatch Logs in one of four shapes. The kind is never taken from a
//! file name: AWS names Firehose objects without an extension, users rename files, and a
//! `.log.gz` may hold anything. Reports count archives per kind and name a record by the unit
//! its kind has: a line of text, a row of Parquet, an event of CloudWatch Logs.

use std::fmt;

use serde::Serialize;

/// How a record is found within its archive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// A line of text, numbered from 1.
    #[default]
    Line,
    /// A row of a Parquet object, numbered from 1 across its row groups.
    Row,
    /// A CloudWatch Logs event, numbered from 1 across the object (every `logEvents[]` or
    /// `events[]` element, in order; CONTROL_MESSAGEs hold none).
    Event,
}

impl Unit {
    pub fn is_line(&self) -> bool {
        *self == Unit::Line
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Line => "line",
            Unit::Row => "row",
            Unit::Event => "event",
        }
    }

    /// `path:12` for a line (as compilers and grep write it), `path: row 12` otherwise, the
    /// path alone for 0: records are numbered from 1, and 0 is a record whose place in its
    /// archive is not known (a SQL engine's rows name the object, not the row).
    pub fn locate(self, archive: &str, number: u64) -> String {
        match self {
            _ if number == 0 => archive.to_string(),
            Unit::Line => format!("{archive}:{number}"),
            other => format!("{archive}: {} {number}", other.as_str()),
        }
    }
}

/// The shape a CloudWatch Logs delivery reached the user in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CloudWatchShape {
    /// Objects a subscription filter delivered to S3 through Kinesis Data Firehose: gzip
    /// members, each one JSON `DATA_MESSAGE` (or `CONTROL_MESSAGE`), no separators.
    Firehose,
    /// A subscription payload: the decoded JSON message, or the raw
    /// `{"awslogs":{"data":"<base64 gzip>"}}` a Lambda function receives.
    Subscription,
    /// `aws logs filter-log-events` / `get-log-events` output: JSON with `events[].message`,
    /// or such events one per line.
    Events,
    /// An export task's objects (`create-export-task`): lines of an ISO-8601 timestamp, a
    /// space and the record.
    Export,
}

impl CloudWatchShape {
    pub fn as_str(self) -> &'static str {
        match self {
            CloudWatchShape::Firehose => "Firehose",
            CloudWatchShape::Subscription => "subscription payload",
            CloudWatchShape::Events => "filter-log-events output",
            CloudWatchShape::Export => "export task",
        }
    }
}

/// The kind of an archive, from its content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "shape")]
pub enum Kind {
    /// Flow-log text with header lines, gzip or plain: S3's default delivery.
    Text,
    /// Parquet with flow-log columns: S3's other file format.
    Parquet,
    /// A CloudWatch Logs delivery: records without a header line.
    CloudWatch(CloudWatchShape),
}

impl Kind {
    /// How records of this kind are numbered.
    pub fn unit(self) -> Unit {
        match self {
            Kind::Text | Kind::CloudWatch(CloudWatchShape::Export) => Unit::Line,
            Kind::Parquet => Unit::Row,
            Kind::CloudWatch(_) => Unit::Event,
        }
    }

    /// The family reports count by: `text`, `parquet` or `cloudwatch`.
    pub fn family(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Parquet => "parquet",
            Kind::CloudWatch(_) => "cloudwatch",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::Text => f.write_str("text"),
            Kind::Parquet => f.write_str("Parquet"),
            Kind::CloudWatch(shape) => write!(f, "CloudWatch Logs {}", shape.as_str()),
        }
    }
}

/// The four bytes every Parquet file starts and ends with.
pub const PARQUET_MAGIC: &[u8; 4] = b"PAR1";

/// Whether `head`, the first bytes of an object, are a Parquet file's.
pub fn is_parquet(head: &[u8]) -> bool {
    head.starts_with(PARQUET_MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_locate_as_users_read_them() {
        assert_eq!(Unit::Line.locate("a.log.gz", 12), "a.log.gz:12");
        assert_eq!(Unit::Row.locate("a.parquet", 3), "a.parquet: row 3");
        assert_eq!(Unit::Line.locate("a.log.gz", 0), "a.log.gz");
        assert_eq!(Kind::CloudWatch(CloudWatchShape::Export).unit(), Unit::Line);
        assert_eq!(
            Kind::CloudWatch(CloudWatchShape::Firehose).unit(),
            Unit::Event
        );
        assert_eq!(
            serde_json::to_string(&Kind::CloudWatch(CloudWatchShape::Events)).unwrap(),
            r#"{"kind":"cloudwatch","shape":"events"}"#
        );
    }
}
