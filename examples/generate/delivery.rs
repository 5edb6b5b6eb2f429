//! The other two ways AWS delivers a flow log, written from the same records as the text:
//! Parquet with AWS's schema (S3's other file format), and CloudWatch Logs objects that a
//! subscription filter delivered to S3 through Kinesis Data Firehose. The benchmark measures
//! flowgate on each against gz text of the same records.
//!
//! Written with the `parquet` crate and serde_json directly, not with flowgate's library (the
//! data must not inherit the reader's mistakes). Each cell is taken from the record as the
//! text renders it, so the three deliveries hold the same values.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flate2::{Compression, GzBuilder};
use parquet::basic::{Compression as Codec, ConvertedType, Repetition, Type as Physical};
use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;

use crate::flowlog::{FlowLog, Record, Stats};

/// How a flow log reaches the user.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Delivery {
    /// Gzip text with a header line: S3's default file format.
    Text,
    /// Parquet with AWS's schema and Hive-compatible, per-hour prefixes.
    Parquet,
    /// CloudWatch Logs delivered to S3 through Kinesis Data Firehose.
    Firehose,
}

/// The Parquet type AWS gives a field (vpc-flow-logs.md §3): INT_32, INT_64 or STRING.
fn physical(field: &str) -> Physical {
    match field {
        "version" | "srcport" | "dstport" | "protocol" | "tcp-flags" | "traffic-path" => {
            Physical::INT32
        }
        "packets" | "bytes" | "start" | "end" => Physical::INT64,
        _ => Physical::BYTE_ARRAY,
    }
}

/// One 5-minute window's records, written when the window is complete.
pub struct Window<'l> {
    log: &'l FlowLog,
    delivery: Delivery,
    window: i64,
    hash: String,
    /// Each record as its text line renders it, without the newline.
    lines: Vec<Vec<u8>>,
    /// The interface of each record (its CloudWatch log stream).
    enis: Vec<String>,
    buf: Vec<u8>,
}

impl<'l> Window<'l> {
    pub fn new(log: &'l FlowLog, delivery: Delivery, window: i64, hash: &str) -> Self {
        Window {
            log,
            delivery,
            window,
            hash: hash.to_string(),
            lines: Vec::new(),
            enis: Vec::new(),
            buf: Vec::new(),
        }
    }

    pub fn push(&mut self, record: &Record) {
        self.buf.clear();
        self.log.render(record, &mut self.buf);
        self.buf.pop();
        self.lines.push(self.buf.clone());
        self.enis.push(record.eni.id.clone());
    }

    pub fn finish(self, root: &Path) -> io::Result<Stats> {
        let text_bytes = self.lines.iter().map(|l| l.len() as u64 + 1).sum();
        let path = match self.delivery {
            Delivery::Parquet => self.parquet(root)?,
            Delivery::Firehose => self.firehose(root)?,
            Delivery::Text => unreachable!("text is written by Archive"),
        };
        Ok(Stats {
            files: 1,
            records: self.lines.len() as u64,
            text_bytes,
            gz_bytes: fs::metadata(path)?.len(),
        })
    }

    fn utc(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::from_unix_timestamp(self.window).expect("valid time")
    }

    /// `AWSLogs/aws-account-id=…/aws-service=vpcflowlogs/aws-region=…/year=…/month=…/day=…/
    /// hour=…/<account>_vpcflowlogs_<region>_<fl-id>_<YYYYMMDDTHHmmZ>_<hash>.log.parquet`,
    /// snappy pages, one row group.
    fn parquet(&self, root: &Path) -> io::Result<PathBuf> {
        let t = self.utc();
        let (y, m, d, hh, mm) = (t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute());
        let log = self.log;
        let dir = format!(
            "AWSLogs/aws-account-id={}/aws-service=vpcflowlogs/aws-region={}/year={y:04}/month={m:02}/day={d:02}/hour={hh:02}",
            log.account, log.region
        );
        let name = format!(
            "{}_vpcflowlogs_{}_{}_{y:04}{m:02}{d:02}T{hh:02}{mm:02}Z_{}.log.parquet",
            log.account, log.region, log.id, self.hash
        );
        let path = root.join(dir).join(name);
        fs::create_dir_all(path.parent().expect("a directory"))?;
        let header = log.format.header();
        let fields: Vec<&str> = header.split(' ').collect();
        let columns: Vec<Arc<Type>> = fields
            .iter()
            .map(|f| {
                let name = f.replace('-', "_");
                let builder = Type::primitive_type_builder(&name, physical(f))
                    .with_repetition(Repetition::OPTIONAL);
                let builder = if physical(f) == Physical::BYTE_ARRAY {
                    builder.with_converted_type(ConvertedType::UTF8)
                } else {
                    builder
                };
                Arc::new(builder.build().expect("a valid column"))
            })
            .collect();
        let schema = Type::group_type_builder("LogFormatInfo")
            .with_fields(columns)
            .build()
            .expect("a valid schema");
        let props = WriterProperties::builder()
            .set_compression(Codec::SNAPPY)
            .set_key_value_metadata(Some(vec![KeyValue::new(
                "writer.model.name".into(),
                "avro".to_string(),
            )]))
            .build();
        let err = |e: parquet::errors::ParquetError| io::Error::other(e.to_string());
        let file = BufWriter::new(File::create(&path)?);
        let mut writer =
            SerializedFileWriter::new(file, Arc::new(schema), Arc::new(props)).map_err(err)?;
        let tokens: Vec<Vec<&[u8]>> = self
            .lines
            .iter()
            .map(|l| l.split(|&b| b == b' ').collect())
            .collect();
        let mut group = writer.next_row_group().map_err(err)?;
        for (i, field) in fields.iter().enumerate() {
            let mut column = group
                .next_column()
                .map_err(err)?
                .expect("a column per field");
            let cells = tokens.iter().map(|t| t[i]);
            // `-` is null in number columns; string columns hold it, as AWS's writer does.
            let levels: Vec<i16> = match physical(field) {
                Physical::BYTE_ARRAY => vec![1; tokens.len()],
                _ => cells.clone().map(|c| i16::from(c != b"-")).collect(),
            };
            let number = |c: &[u8]| {
                std::str::from_utf8(c)
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok())
            };
            match physical(field) {
                Physical::INT32 => {
                    let v: Vec<i32> = cells.filter_map(number).map(|n| n as i32).collect();
                    column
                        .typed::<Int32Type>()
                        .write_batch(&v, Some(&levels), None)
                }
                Physical::INT64 => {
                    let v: Vec<i64> = cells.filter_map(number).collect();
                    column
                        .typed::<Int64Type>()
                        .write_batch(&v, Some(&levels), None)
                }
                _ => {
                    let v: Vec<ByteArray> = cells.map(|c| ByteArray::from(c.to_vec())).collect();
                    column
                        .typed::<ByteArrayType>()
                        .write_batch(&v, Some(&levels), None)
                }
            }
            .map_err(err)?;
            column.close().map_err(err)?;
        }
        group.close().map_err(err)?;
        writer.close().map_err(err)?;
        Ok(path)
    }

    /// `YYYY/MM/DD/HH/<delivery stream>-1-YYYY-MM-DD-HH-MM-SS-<uuid>`: one gzip member per
    /// subscription DATA_MESSAGE, one message per interface (its log stream, `eni-…-all`),
    /// each event's timestamp the record's start in milliseconds, as CloudWatch sets it.
    fn firehose(&self, root: &Path) -> io::Result<PathBuf> {
        let t = self.utc();
        let (y, m, d, hh, mm) = (t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute());
        let h = &self.hash;
        let name = format!(
            "{y:04}/{m:02}/{d:02}/{hh:02}/flow-logs-to-s3-1-{y:04}-{m:02}-{d:02}-{hh:02}-{mm:02}-05-{h}"
        );
        let path = root.join(name);
        fs::create_dir_all(path.parent().expect("a directory"))?;
        let mut streams: Vec<(&str, Vec<usize>)> = Vec::new();
        for (i, eni) in self.enis.iter().enumerate() {
            match streams.iter_mut().find(|(e, _)| e == eni) {
                Some((_, v)) => v.push(i),
                None => streams.push((eni, vec![i])),
            }
        }
        let mut out = BufWriter::new(File::create(&path)?);
        for (eni, records) in &streams {
            let events: Vec<serde_json::Value> = records
                .iter()
                .map(|&i| {
                    let line = std::str::from_utf8(&self.lines[i]).expect("ASCII records");
                    let start: u64 = self.start_of(line);
                    serde_json::json!({
                        "id": format!("{:056}", (self.window as u64) * 1_000_000 + i as u64),
                        "timestamp": start * 1000,
                        "message": line,
                    })
                })
                .collect();
            let message = serde_json::json!({
                "messageType": "DATA_MESSAGE",
                "owner": self.log.account,
                "logGroup": "vpc-flow-logs",
                "logStream": format!("{eni}-all"),
                "subscriptionFilters": ["flow-logs-to-firehose"],
                "logEvents": events,
            });
            let mut member = GzBuilder::new()
                .mtime(0)
                .write(Vec::new(), Compression::new(6));
            serde_json::to_writer(&mut member, &message)?;
            out.write_all(&member.finish()?)?;
        }
        out.flush()?;
        Ok(path)
    }

    /// The record's `start`, by its position in the format.
    fn start_of(&self, line: &str) -> u64 {
        let header = self.log.format.header();
        let at = header.split(' ').position(|f| f == "start").unwrap_or(10);
        line.split(' ')
            .nth(at)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }
}
