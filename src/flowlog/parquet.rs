//! Flow logs delivered as Parquet: S3's other file format, and what query tools write.
//!
//! AWS writes one optional column per field of the flow log's format, named with `_` for `-`
//! (`log_status`, `pkt_srcaddr`), typed INT_32 (version, ports, protocol, tcp-flags,
//! traffic-path), INT_64 (packets, bytes, start, end) or STRING, with nulls or `"-"` where a
//! field has no value. Other writers differ: int64 where AWS has int32, numbers as strings,
//! doubles with NaN (pandas), timestamps for start and end. All of it is read by one rule: a
//! row is the record whose line would hold the row's cells in column order, a null as `-`, a
//! number as its decimal digits (a timestamp as Unix seconds), a string as it is. The row is
//! rendered as that line and parsed by the record parser, so a Parquet row and the same record
//! as text are judged alike, to the byte, and a bad cell is reported as the text parser
//! reports a bad token, at the object, row and column (`flows.parquet: row 3: column srcport:
//! ``None`` is not a port (0-65535)`). Only the columns the record parser reads are decoded;
//! the others are named in the format and carried.
//!
//! Reading streams: a row group is read column by column a batch of [`BATCH`] rows at a time,
//! and each column chunk page by page (the `parquet` crate's column readers, without its arrow
//! layer: see the commit that added it), so memory stays at one page per read column and one
//! batch, whatever the size of the object or its row groups. Row groups are independent, so
//! the engine reads the row groups of one object on several threads ([`ParquetLog::scan_row_group`]).
//!
//! Parquet that is not flow-log columns (Security Lake's OCSF with nested `src_endpoint` and
//! `dst_endpoint`, any nested or repeated column, a table without flow-log fields) is not
//! read: [`open`] says what it is.

use std::sync::Arc;

use ::parquet::basic::{LogicalType, Repetition, TimeUnit, Type as Physical};
use ::parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use ::parquet::data_type::{ByteArray, DataType};
use ::parquet::file::reader::{FileReader, SerializedFileReader};
use ::parquet::schema::types::ColumnDescriptor;

use super::format::{Column, Field, Format};
use super::kind::Unit;
use super::object::{ParquetChunks, RandomAccess};
use super::record::{Flow, RecordError, READ_FIELDS};
use super::sink::{Problem, Sink};
use crate::source::Archive;

/// Rows decoded per column at a time: 4096 rows of 21 columns are ~2.5 MiB of values at most
/// (32-byte byte-array handles), small enough to stay in cache with the pages they point into.
pub const BATCH: usize = 4096;

/// Why a Parquet object is not read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The footer or the schema cannot be read: a truncated or damaged file.
    #[error("cannot read the Parquet footer: {0}")]
    Footer(String),
    /// Valid Parquet, but not flow-log columns.
    #[error("{0}")]
    NotFlowLogs(String),
    /// A flow-log column of a type no value of its field can be read from.
    #[error("column {column} is {kind}, which cannot hold {field} values")]
    ColumnType {
        column: String,
        field: Field,
        kind: String,
    },
}

/// How a column's cells become tokens of the record's line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cells {
    /// Strings, as they are.
    Text,
    Int32 {
        unsigned: bool,
    },
    /// `divisor` turns a timestamp into Unix seconds (1 for plain integers).
    Int64 {
        unsigned: bool,
        divisor: i64,
    },
    Float,
    Double,
}

/// A column the record parser reads.
#[derive(Clone, Debug)]
struct ReadColumn {
    /// Index among the file's leaf columns.
    leaf: usize,
    name: String,
    cells: Cells,
}

/// An open Parquet object with flow-log columns.
pub struct ParquetLog {
    reader: SerializedFileReader<ParquetChunks>,
    /// Every column of the file, in order: what reports show and policies are checked against.
    format: Format,
    /// The columns decoded, in file order; the record line of a row holds these.
    read: Vec<ReadColumn>,
    read_format: Format,
    /// First row (0-based) of each row group.
    row_starts: Vec<u64>,
    rows: u64,
}

/// Counts of what part of an object held.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RowStats {
    pub rows: u64,
    pub records: u64,
    pub problems: u64,
}

/// Reads the footer of a Parquet object and decides whether it holds flow-log columns.
pub fn open(object: Arc<dyn RandomAccess>) -> Result<ParquetLog, OpenError> {
    let reader = SerializedFileReader::new(ParquetChunks(object))
        .map_err(|e| OpenError::Footer(e.to_string()))?;
    let metadata = reader.metadata();
    let schema = metadata.file_metadata().schema_descr();
    let root = schema.root_schema();
    let nested: Vec<&str> = root
        .get_fields()
        .iter()
        .filter(|f| f.is_group() || f.get_basic_info().repetition() == Repetition::REPEATED)
        .map(|f| f.name())
        .collect();
    let names: Vec<&str> = root.get_fields().iter().map(|f| f.name()).collect();
    if !nested.is_empty() {
        return Err(OpenError::NotFlowLogs(not_flow_logs(&names, &nested)));
    }
    let known = names
        .iter()
        .filter(|n| Field::from_name(n).is_some())
        .count();
    if known == 0 || known * 2 < names.len() {
        return Err(OpenError::NotFlowLogs(not_flow_logs(&names, &nested)));
    }
    let format = Format::from_names(names.iter().copied()).map_err(|e| {
        OpenError::NotFlowLogs(format!(
            "Parquet whose columns are not a flow-log format: {e}"
        ))
    })?;
    let mut read = Vec::new();
    for (leaf, column) in schema.columns().iter().enumerate() {
        let Some(field) = Field::from_name(column.name()) else {
            continue;
        };
        if !READ_FIELDS.contains(&field) {
            continue;
        }
        read.push(ReadColumn {
            leaf,
            name: column.name().to_string(),
            cells: cells(column, field)?,
        });
    }
    let read_format = if read.is_empty() {
        // Only columns flowgate carries: every row is a record with no value it reads.
        format.clone()
    } else {
        Format::from_names(read.iter().map(|c| c.name.as_str()))
            .expect("a subset of a valid format")
    };
    let mut row_starts = Vec::with_capacity(metadata.num_row_groups());
    let mut rows = 0u64;
    for group in metadata.row_groups() {
        row_starts.push(rows);
        rows += u64::try_from(group.num_rows()).unwrap_or(0);
    }
    Ok(ParquetLog {
        reader,
        format,
        read,
        read_format,
        row_starts,
        rows,
    })
}

/// Says what a Parquet object that is not flow-log columns is.
fn not_flow_logs(names: &[&str], nested: &[&str]) -> String {
    let list = |v: &[&str]| {
        let mut s = v.iter().take(8).copied().collect::<Vec<_>>().join(", ");
        if v.len() > 8 {
            s.push_str(&format!(" and {} more", v.len() - 8));
        }
        s
    };
    let ocsf = ["class_uid", "src_endpoint", "dst_endpoint", "category_uid"];
    if names.iter().any(|n| ocsf.contains(n)) {
        return format!(
            "this is Parquet in the OCSF layout of Amazon Security Lake (nested columns {}), \
             not VPC flow-log columns; flowgate reads flow logs as AWS delivers them to S3 \
             (text or Parquet with columns such as srcaddr, dstaddr, dstport, action) and does \
             not support OCSF",
            list(nested)
        );
    }
    if !nested.is_empty() {
        return format!(
            "this Parquet has nested or repeated columns ({}), which flow logs never have; \
             flowgate reads flow logs as AWS delivers them (one column per field, such as \
             srcaddr, dstaddr, dstport, action) and does not support this layout",
            list(nested)
        );
    }
    format!(
        "this Parquet's columns ({}) are not flow-log fields; flowgate reads flow logs with \
         one column per field, named as AWS names them with `_` for `-` (srcaddr, dstport, \
         log_status, ...)",
        list(names)
    )
}

/// How the cells of `column` are read as `field`.
fn cells(column: &ColumnDescriptor, field: Field) -> Result<Cells, OpenError> {
    let unsigned = matches!(
        column.logical_type_ref(),
        Some(LogicalType::Integer(t)) if !t.is_signed
    ) || matches!(
        column.converted_type(),
        ::parquet::basic::ConvertedType::UINT_32 | ::parquet::basic::ConvertedType::UINT_64
    );
    let divisor = match column.logical_type_ref() {
        Some(LogicalType::Timestamp(t)) => match t.unit {
            TimeUnit::MILLIS => 1_000,
            TimeUnit::MICROS => 1_000_000,
            TimeUnit::NANOS => 1_000_000_000,
        },
        _ => match column.converted_type() {
            ::parquet::basic::ConvertedType::TIMESTAMP_MILLIS => 1_000,
            ::parquet::basic::ConvertedType::TIMESTAMP_MICROS => 1_000_000,
            _ => 1,
        },
    };
    Ok(match column.physical_type() {
        Physical::BYTE_ARRAY => Cells::Text,
        Physical::INT32 => Cells::Int32 { unsigned },
        Physical::INT64 => Cells::Int64 { unsigned, divisor },
        Physical::FLOAT => Cells::Float,
        Physical::DOUBLE => Cells::Double,
        other => {
            return Err(OpenError::ColumnType {
                column: column.name().to_string(),
                field,
                kind: other.to_string(),
            })
        }
    })
}

/// One column's values for a batch of rows: dense values and, for an optional column, the
/// definition level of every row (1 where the row has a value).
enum Values {
    Text(Vec<ByteArray>),
    Int32(Vec<i32>),
    Int64(Vec<i64>),
    Float(Vec<f32>),
    Double(Vec<f64>),
}

struct ColumnBatch {
    reader: ColumnReader,
    values: Values,
    levels: Vec<i16>,
    /// Next value to take from `values`.
    next: usize,
}

/// A cell that is not a single token of a line.
enum BadCell {
    Empty,
    Whitespace,
}

impl ParquetLog {
    /// The `parquet` crate's reader of the object, for copying it (`flowgate sample`).
    pub fn file(&self) -> &SerializedFileReader<ParquetChunks> {
        &self.reader
    }

    /// Every column of the object, in order.
    pub fn format(&self) -> &Format {
        &self.format
    }

    pub fn row_groups(&self) -> usize {
        self.row_starts.len()
    }

    /// Rows in the object, as its footer says.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The line a row's record is read from: the read columns' cells in order. Sinks that
    /// copy lines (`flowgate sample`) get it; see the module docs.
    pub fn read_format(&self) -> &Format {
        &self.read_format
    }

    /// Reads every row group in order.
    pub fn scan(&self, archive: &Archive, sink: &mut impl Sink) -> RowStats {
        let mut stats = RowStats::default();
        for group in 0..self.row_groups() {
            if sink.cancelled() {
                break;
            }
            let s = self.scan_row_group(group, archive, sink);
            stats.rows += s.rows;
            stats.records += s.records;
            stats.problems += s.problems;
        }
        stats
    }

    /// Reads row group `group`, handing each row's record (or problem) to `sink`. Row groups
    /// can be read at the same time from several threads, each with its own sink.
    pub fn scan_row_group(
        &self,
        group: usize,
        archive: &Archive,
        sink: &mut impl Sink,
    ) -> RowStats {
        let mut stats = RowStats::default();
        let first_row = self.row_starts[group];
        let problem = |sink: &mut dyn FnMut(Problem), row: Option<u64>, message: String| {
            sink(match row {
                Some(row) => Problem::at(archive.display.clone(), Unit::Row, row, message),
                None => Problem::new(archive.display.clone(), None, message),
            })
        };
        let group_reader = match self.reader.get_row_group(group) {
            Ok(r) => r,
            Err(e) => {
                stats.problems += 1;
                problem(
                    &mut |p| sink.problem(p),
                    None,
                    format!("row group {}: cannot read: {e}", group + 1),
                );
                return stats;
            }
        };
        let expected = u64::try_from(group_reader.metadata().num_rows()).unwrap_or(0);
        let mut columns = Vec::with_capacity(self.read.len());
        for column in &self.read {
            match group_reader.get_column_reader(column.leaf) {
                Ok(reader) => columns.push(ColumnBatch::new(reader)),
                Err(e) => {
                    stats.problems += 1;
                    problem(
                        &mut |p| sink.problem(p),
                        None,
                        format!(
                            "row group {}, column {}: cannot read: {e}; its {expected} rows were not read",
                            group + 1,
                            column.name
                        ),
                    );
                    return stats;
                }
            }
        }
        let mut line = Vec::with_capacity(256);
        let mut read_rows = 0u64;
        while read_rows < expected {
            if sink.cancelled() {
                return stats;
            }
            let want = BATCH.min((expected - read_rows) as usize);
            let mut got = None;
            for (column, batch) in self.read.iter().zip(&mut columns) {
                let n = match batch.read(want) {
                    Ok(n) => n,
                    Err(e) => {
                        stats.problems += 1;
                        problem(
                            &mut |p| sink.problem(p),
                            None,
                            format!(
                                "row group {}, column {}: the data is damaged after row {}: {e}; \
                                 the rest of the row group was not read",
                                group + 1,
                                column.name,
                                first_row + read_rows
                            ),
                        );
                        return stats;
                    }
                };
                if *got.get_or_insert(n) != n || n == 0 {
                    stats.problems += 1;
                    problem(
                        &mut |p| sink.problem(p),
                        None,
                        format!(
                            "row group {}: column {} ends after {} of its {expected} rows; \
                             the rest of the row group was not read",
                            group + 1,
                            column.name,
                            read_rows + n as u64
                        ),
                    );
                    return stats;
                }
            }
            // A row group without read columns: its rows are records with no value read.
            let n = got.unwrap_or(want);
            for i in 0..n {
                let row = first_row + read_rows + i as u64 + 1;
                stats.rows += 1;
                line.clear();
                let mut bad = None;
                for (c, batch) in columns.iter_mut().enumerate() {
                    if c > 0 {
                        line.push(b' ');
                    }
                    if let Err(why) = batch.render(i, self.read[c].cells, &mut line) {
                        bad.get_or_insert((c, why));
                    }
                }
                if let Some((c, (why, token))) = bad {
                    stats.problems += 1;
                    let what = match why {
                        BadCell::Empty => {
                            "an empty string, which is no value (absent values are null or `-`)"
                        }
                        BadCell::Whitespace => "not one value: it holds a space, tab or line break",
                    };
                    problem(
                        &mut |p| sink.problem(p),
                        Some(row),
                        format!("column {}: `{token}` is {what}", self.read[c].name),
                    );
                    continue;
                }
                if self.read.is_empty() {
                    line.extend_from_slice(b"-");
                }
                match Flow::parse(&self.read_format, &line) {
                    Ok(flow) => {
                        stats.records += 1;
                        sink.record_line(archive, row, &line, &flow);
                    }
                    Err(e) => {
                        stats.problems += 1;
                        problem(&mut |p| sink.problem(p), Some(row), self.describe(&e));
                    }
                }
            }
            for batch in &mut columns {
                batch.clear();
            }
            read_rows += n as u64;
        }
        stats
    }

    /// A record error in Parquet's words: the column as the file names it.
    fn describe(&self, e: &RecordError) -> String {
        let column = |field: Field| {
            self.read
                .iter()
                .find(|c| Field::from_name(&c.name) == Some(field))
                .map_or_else(|| field.to_string(), |c| c.name.clone())
        };
        match e {
            RecordError::BadValue { field, token, what } => {
                format!("column {}: `{token}` is not {what}", column(*field))
            }
            RecordError::BadText {
                column: name,
                token,
                what,
            } => {
                let name = Field::from_name(name).map_or_else(|| name.clone(), column);
                format!("column {name}: `{token}` is not {what}")
            }
            other => other.to_string(),
        }
    }

    /// The file's columns, as carried (for `flowgate sample`'s copy).
    pub fn columns(&self) -> &[Column] {
        self.format.columns()
    }
}

impl ColumnBatch {
    fn new(reader: ColumnReader) -> ColumnBatch {
        let values = match &reader {
            ColumnReader::ByteArrayColumnReader(_) => Values::Text(Vec::new()),
            ColumnReader::Int32ColumnReader(_) => Values::Int32(Vec::new()),
            ColumnReader::Int64ColumnReader(_) => Values::Int64(Vec::new()),
            ColumnReader::FloatColumnReader(_) => Values::Float(Vec::new()),
            ColumnReader::DoubleColumnReader(_) => Values::Double(Vec::new()),
            // `cells` refused every other type when the object was opened.
            _ => unreachable!("column types are checked by `open`"),
        };
        ColumnBatch {
            reader,
            values,
            levels: Vec::with_capacity(BATCH),
            next: 0,
        }
    }

    /// Reads up to `rows` more rows; returns how many.
    fn read(&mut self, rows: usize) -> ::parquet::errors::Result<usize> {
        fn typed<T: DataType>(
            r: &mut ColumnReaderImpl<T>,
            rows: usize,
            levels: &mut Vec<i16>,
            values: &mut Vec<T::T>,
        ) -> ::parquet::errors::Result<usize> {
            let (records, _, _) = r.read_records(rows, Some(levels), None, values)?;
            Ok(records)
        }
        match (&mut self.reader, &mut self.values) {
            (ColumnReader::ByteArrayColumnReader(r), Values::Text(v)) => {
                typed(r, rows, &mut self.levels, v)
            }
            (ColumnReader::Int32ColumnReader(r), Values::Int32(v)) => {
                typed(r, rows, &mut self.levels, v)
            }
            (ColumnReader::Int64ColumnReader(r), Values::Int64(v)) => {
                typed(r, rows, &mut self.levels, v)
            }
            (ColumnReader::FloatColumnReader(r), Values::Float(v)) => {
                typed(r, rows, &mut self.levels, v)
            }
            (ColumnReader::DoubleColumnReader(r), Values::Double(v)) => {
                typed(r, rows, &mut self.levels, v)
            }
            _ => unreachable!("values match their reader"),
        }
    }

    fn clear(&mut self) {
        self.levels.clear();
        self.next = 0;
        match &mut self.values {
            Values::Text(v) => v.clear(),
            Values::Int32(v) => v.clear(),
            Values::Int64(v) => v.clear(),
            Values::Float(v) => v.clear(),
            Values::Double(v) => v.clear(),
        }
    }

    /// Whether row `i` of the batch has a value. Rows are visited in order, once each.
    fn present(&self, i: usize) -> bool {
        // A required column has no levels: every row has a value.
        self.levels.get(i).is_none_or(|&l| l > 0)
    }

    /// Appends the token of row `i` to `line` (rows in order, each once).
    fn render(
        &mut self,
        i: usize,
        cells: Cells,
        line: &mut Vec<u8>,
    ) -> Result<(), (BadCell, String)> {
        if !self.present(i) {
            line.push(b'-');
            return Ok(());
        }
        let at = self.next;
        self.next += 1;
        let mut digits = itoa::Buffer::new();
        match (&self.values, cells) {
            (Values::Text(v), _) => {
                let bytes = v[at].data();
                if bytes.is_empty() {
                    line.push(b'-');
                    return Err((BadCell::Empty, String::new()));
                }
                if bytes
                    .iter()
                    .any(|&b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
                {
                    line.push(b'-');
                    return Err((BadCell::Whitespace, show(bytes)));
                }
                line.extend_from_slice(bytes);
            }
            (Values::Int32(v), Cells::Int32 { unsigned: true }) => {
                line.extend_from_slice(digits.format(v[at] as u32).as_bytes())
            }
            (Values::Int32(v), _) => line.extend_from_slice(digits.format(v[at]).as_bytes()),
            (Values::Int64(v), Cells::Int64 { unsigned, divisor }) => {
                if unsigned && divisor == 1 {
                    line.extend_from_slice(digits.format(v[at] as u64).as_bytes())
                } else {
                    line.extend_from_slice(digits.format(v[at].div_euclid(divisor)).as_bytes())
                }
            }
            (Values::Int64(v), _) => line.extend_from_slice(digits.format(v[at]).as_bytes()),
            (Values::Float(v), _) => float(f64::from(v[at]), line),
            (Values::Double(v), _) => float(v[at], line),
        }
        Ok(())
    }
}

/// A number written as a double (pandas writes integer columns with gaps as float64): an
/// integral value as its digits, NaN as no value, anything else as written, which no field
/// reads as valid.
fn float(v: f64, line: &mut Vec<u8>) {
    if v.is_nan() {
        line.push(b'-');
    } else if v.fract() == 0.0 && v.abs() < 1.8e19 {
        let mut digits = itoa::Buffer::new();
        let text = if v < 0.0 {
            digits.format(v as i64)
        } else {
            digits.format(v as u64)
        };
        line.extend_from_slice(text.as_bytes());
    } else {
        line.extend_from_slice(v.to_string().as_bytes());
    }
}

/// A cell's text in a message: printable, and at most 64 characters.
fn show(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(64)]);
    let mut out: String = text.chars().flat_map(char::escape_debug).collect();
    if bytes.len() > 64 {
        out.push('…');
    }
    out
}

/// Whether row-group readers can be had on other threads: the engine reads row groups of one
/// object in parallel.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<ParquetLog>();
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flowlog::archive::{ArchiveMeta, Source};
    use crate::flowlog::object::LocalFile;

    /// The five records every test file holds (tests/data/parquet/make.py).
    const RECORDS: [&str; 5] = [
        "2 123456789010 eni-0a1b2c3d4e5f60718 10.0.1.5 10.20.30.5 49152 443 6 10 8400 1762052400 1762052460 ACCEPT OK",
        "2 123456789010 eni-0a1b2c3d4e5f60718 10.20.30.5 10.0.1.5 443 49152 6 8 5100 1762052400 1762052460 ACCEPT OK",
        "2 123456789010 eni-0a1b2c3d4e5f60718 2001:db8::5 2001:db8:1::9 50000 22 6 3 180 1762052401 1762052461 REJECT OK",
        "2 123456789010 eni-0fffffffffffffff0 - - - - - - - 1762052400 1762052460 - NODATA",
        "2 123456789010 eni-0eeeeeeeeeeeeeee0 - - - - - - - 1762052400 1762052460 - SKIPDATA",
    ];

    #[derive(Default)]
    struct Collect {
        formats: Vec<String>,
        records: Vec<(u64, String)>,
        lines: Vec<String>,
        problems: Vec<String>,
    }

    impl Sink for Collect {
        fn format(&mut self, _: &Archive, format: &Format) {
            self.formats.push(format.header());
        }
        fn record(&mut self, _: &Archive, _: u64, _: &Flow<'_>) {
            unreachable!("record_line is overridden")
        }
        fn record_line(&mut self, _: &Archive, row: u64, bytes: &[u8], flow: &Flow<'_>) {
            self.records.push((row, format!("{flow:?}")));
            self.lines.push(String::from_utf8_lossy(bytes).into_owned());
        }
        fn problem(&mut self, p: Problem) {
            self.problems.push(p.to_string());
        }
    }

    fn path(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/parquet")
            .join(name)
    }

    fn open_file(name: &str) -> Result<ParquetLog, OpenError> {
        let file = std::fs::File::open(path(name)).unwrap();
        open(Arc::new(LocalFile::new(file).unwrap()))
    }

    fn scan_file(name: &str) -> (ParquetLog, Collect) {
        let log = open_file(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let archive = Archive {
            display: name.into(),
            source: Source::File(path(name)),
            meta: ArchiveMeta::default(),
        };
        let mut sink = Collect::default();
        let stats = log.scan(&archive, &mut sink);
        assert_eq!(stats.rows, log.rows());
        assert_eq!(stats.records + stats.problems, stats.rows);
        (log, sink)
    }

    /// What the text reader makes of the five records.
    fn as_text() -> Vec<(u64, String)> {
        let v2 = Format::default_v2();
        RECORDS
            .iter()
            .enumerate()
            .map(|(i, line)| {
                let flow = Flow::parse(&v2, line.as_bytes()).unwrap();
                (i as u64 + 1, format!("{flow:?}"))
            })
            .collect()
    }

    /// AWS's types with `-` or nulls, int64 everywhere, floats with NaN and timestamps, in
    /// snappy, gzip, zstd and one or several row groups: every one reads as the text does.
    #[test]
    fn every_writers_types_read_as_the_text_does() {
        for name in [
            "aws-snappy.parquet",
            "aws-gzip-nulls.parquet",
            "int64-zstd.parquet",
            "floats-timestamps.parquet",
        ] {
            let (log, got) = scan_file(name);
            assert_eq!(got.problems, Vec::<String>::new(), "{name}");
            assert_eq!(got.records, as_text(), "{name}");
            assert_eq!(log.format(), &Format::default_v2(), "{name}");
            assert_eq!(got.lines[0], RECORDS[0], "{name}");
        }
        assert_eq!(open_file("aws-gzip-nulls.parquet").unwrap().row_groups(), 2);
    }

    #[test]
    fn a_subset_of_columns_in_any_order_with_an_unknown_column() {
        let (log, got) = scan_file("custom-uncompressed.parquet");
        assert_eq!(
            log.format().header(),
            "interface-id dstaddr srcaddr dstport srcport protocol future_field start end action log-status"
        );
        assert_eq!(log.row_groups(), 5);
        assert!(got.problems.is_empty(), "{:?}", got.problems);
        let text = Format::parse_spec(
            "interface-id dstaddr srcaddr dstport srcport protocol start end action log-status",
        )
        .unwrap();
        assert_eq!(log.read_format(), &text);
        assert_eq!(
            got.lines[0],
            "eni-0a1b2c3d4e5f60718 10.20.30.5 10.0.1.5 443 49152 6 1762052400 1762052460 ACCEPT OK"
        );
        assert_eq!(got.records.len(), 5);
    }

    /// pandas writes numbers as strings and "None" for a value Python did not have: that row
    /// is a problem naming the row and the column, and the other rows still count.
    #[test]
    fn a_bad_cell_is_a_problem_at_its_row_and_column() {
        let (_, got) = scan_file("pandas-strings.parquet");
        assert_eq!(
            got.problems,
            ["pandas-strings.parquet: row 3: column srcport: `None` is not a port (0-65535)"]
        );
        let mut want = as_text();
        want.remove(2);
        assert_eq!(got.records, want);
    }

    #[test]
    fn parquet_that_is_not_flow_logs_says_what_it_is() {
        let Err(OpenError::NotFlowLogs(ocsf)) = open_file("ocsf.parquet") else {
            panic!("OCSF opened")
        };
        assert!(
            ocsf.contains("OCSF layout of Amazon Security Lake"),
            "{ocsf}"
        );
        assert!(ocsf.contains("src_endpoint, dst_endpoint"), "{ocsf}");
        assert!(ocsf.contains("does not support OCSF"), "{ocsf}");
        let Err(OpenError::NotFlowLogs(prices)) = open_file("prices.parquet") else {
            panic!("prices opened")
        };
        assert!(
            prices.starts_with(
                "this Parquet's columns (sku, price, version) are not flow-log fields"
            ),
            "{prices}"
        );
    }

    #[test]
    fn a_damaged_file_is_an_error() {
        let bytes = std::fs::read(path("aws-snappy.parquet")).unwrap();
        let cut = bytes::Bytes::from(bytes[..bytes.len() - 10].to_vec());
        assert!(matches!(open(Arc::new(cut)), Err(OpenError::Footer(_))));
        // A page broken in the middle: a problem for the row group, nothing panics.
        let mut broken = bytes.clone();
        for b in &mut broken[40..200] {
            *b ^= 0x5a;
        }
        let log = open(Arc::new(bytes::Bytes::from(broken))).unwrap();
        let archive = Archive {
            display: "broken.parquet".into(),
            source: Source::Stdin,
            meta: ArchiveMeta::default(),
        };
        let mut sink = Collect::default();
        let stats = log.scan(&archive, &mut sink);
        assert!(stats.problems > 0, "{stats:?}");
        assert!(
            sink.problems[0].starts_with("broken.parquet: "),
            "{:?}",
            sink.problems
        );
    }
}
