//! Reading AWS VPC Flow Logs: formats, records, archives.
//!
//! The pipeline's first stage after [`crate::source`] has named the archives. [`archive`]
//! opens them (gzip or plain; whole where it can, streamed where it must, through one gzip
//! decoder either way), [`lines`] cuts them into bounded lines, [`format`](mod@format) knows every
//! documented field and reads header lines, [`record`] turns a line into a [`Flow`]. [`scan`]
//! ties them together and hands records and problems to whoever is listening.

pub mod archive;
pub mod cloudwatch;
pub mod format;
mod gunzip;
pub mod kind;
pub mod lines;
pub mod object;
pub mod parquet;
pub mod record;
pub mod scan;
pub mod sink;

pub use crate::source::{Archive, ArchiveMeta};
pub use format::{Column, Field, Format, FormatError};
pub use kind::{CloudWatchShape, Kind, Unit};
pub use record::{Action, Direction, Flow, LogStatus, RecordError};
pub use scan::{scan_archive, Delivery, Problem, ScanOptions, Sink};

/// Gzip of `data` in one member, for the unit tests of the reading layer.
#[cfg(test)]
fn test_gz(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}
