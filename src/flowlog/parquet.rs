//! Flow logs delivered as Parquet: S3's other file format, and what query tools write.
//!
//! AWS writes one optional column per field of the flow log's format, named with `_` for `-`
//! (`log_status`, `pkt_srcaddr`), typed INT_32 (version, ports, protocol, tcp-flags,
//! traffic-path), INT_64 (packets, bytes, start, end) or STRING, with nulls or `"-"` where a
//! field has no value. Other writers differ: int64 where AWS has int32, numbers as strings,
//! doubles with NaN (pandas), timestamps for start and end. All of it is read by one rule: a
//! row is the record whose line would hold the row's cells in column order, a null as `-`, a
//! number as its decimal digits (a timestamp as Unix seconds), a string as it is. So a Parquet
//! row and the same record as text are judged alike, and a bad cell is reported as the text
//! parser reports a bad token, at the object, row and column (`flows.parquet: row 3: column
//! srcport: ``None`` is not a port (0-65535)`). Only the columns the record parser reads are
//! decoded; the others are named in the format and carried.
//!
//! How, quickly: each cell's effect on the record ([`Prep`]) is worked out as the record parser
//! would work out its token (a property test holds the two together), once per dictionary
//! entry, since flow-log string columns are dictionary-encoded; a plain row is then a handful
//! of stores. A row with anything unusual (an odd string, a number out of range, start after
//! end) is written as its line and handed to the record parser, which decides and says what is
//! wrong; so is every row when the sink wants lines (`flowgate sample`).
//!
//! Reading streams: a row group is read [`BATCH`] rows at a time, each column chunk page by
//! page (`pages`, or the `parquet` crate's column reader for encodings it does not read), so
//! memory stays at one page per read column and one batch, whatever the size of the object or
//! its row groups. Row groups are independent, so the engine reads the row groups of one object
//! on several threads ([`ParquetLog::scan_row_group`]).
//!
//! Parquet that is not flow-log columns (Security Lake's OCSF with nested `src_endpoint` and
//! `dst_endpoint`, any nested or repeated column, a table without flow-log fields) is not
//! read: [`open`] says what it is.

use std::net::IpAddr;
use std::sync::Arc;

mod batch;
pub(crate) mod guard;
mod pages;

use ::parquet::basic::{Compression, LogicalType, Repetition, TimeUnit, Type as Physical};
use ::parquet::file::reader::{FileReader, SerializedFileReader};
use ::parquet::schema::types::ColumnDescriptor;

use super::format::{Column, Field, Format};
use super::kind::Unit;
use super::object::{ParquetChunks, RandomAccess};
use super::record::{
    parse_addr, parse_u64, Action, Direction, Flow, LogStatus, RecordError, READ_FIELDS,
};
use super::sink::{Problem, Sink};
use crate::source::Archive;
use batch::Batch;
use pages::{Bad, Dictionary, Grid, Pages, Value};

/// Rows decoded at a time: 1024 rows of 21 columns are 336 KiB of values (16 bytes each, laid
/// out row by row), which stay in the second-level cache between their decoding and their
/// reading. 4096 rows cost ~8% more time on the benchmark archive (docs/performance.md).
pub const BATCH: usize = 1024;

/// Why a Parquet object is not read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The footer or the schema cannot be read: a truncated or damaged file.
    #[error("cannot read the Parquet footer: {0}")]
    Footer(String),
    /// Valid Parquet, but not flow-log columns.
    #[error("{0}")]
    NotFlowLogs(String),
    /// A column compressed with a codec this build does not decode (LZ4, Brotli, LZO).
    #[error(
        "row group {group}, column {column} is compressed with {codec}, which flowgate does not \
         decode (it reads snappy, gzip, zstd and uncompressed Parquet); rewrite the object with \
         one of those"
    )]
    Codec {
        group: usize,
        column: String,
        codec: String,
    },
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
    field: Field,
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
    let size = object.len();
    let reader = guard::guard(|| SerializedFileReader::new(ParquetChunks(object)))
        .map_err(OpenError::Footer)?
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
            field,
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
    for (g, group) in metadata.row_groups().iter().enumerate() {
        row_starts.push(rows);
        let n = u64::try_from(group.num_rows()).map_err(|_| {
            OpenError::Footer(format!("row group {} has a negative row count", g + 1))
        })?;
        rows = rows.saturating_add(n);
        // The parquet crate trusts these (and panics on a negative one): a damaged footer
        // is a problem here instead.
        for chunk in group.columns() {
            // Said up front, not as the crate's "disabled feature" error mid-read.
            if !matches!(
                chunk.compression(),
                Compression::UNCOMPRESSED
                    | Compression::SNAPPY
                    | Compression::GZIP(_)
                    | Compression::ZSTD(_)
            ) {
                let codec = chunk.compression().to_string();
                return Err(OpenError::Codec {
                    group: g + 1,
                    column: chunk.column_path().string(),
                    codec: codec.split('(').next().unwrap_or(&codec).to_string(),
                });
            }
            let start = chunk
                .dictionary_page_offset()
                .unwrap_or(chunk.data_page_offset());
            let fits = start >= 0
                && chunk.data_page_offset() >= 0
                && chunk.compressed_size() >= 0
                && (start as u64).saturating_add(chunk.compressed_size() as u64) <= size;
            if !fits {
                return Err(OpenError::Footer(format!(
                    "row group {}, column {}: the column chunk lies outside the file",
                    g + 1,
                    chunk.column_path()
                )));
            }
        }
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
        let problem =
            |stats: &mut RowStats, sink: &mut dyn Sink, row: Option<u64>, message: String| {
                stats.problems += 1;
                sink.problem(match row {
                    Some(row) => Problem::at(archive.display.clone(), Unit::Row, row, message),
                    None => Problem::new(archive.display.clone(), None, message),
                })
            };
        let first_row = self.row_starts[group];
        let group_reader = match guard::guard(|| self.reader.get_row_group(group))
            .map_err(Bad)
            .and_then(|r| r.map_err(Bad::from))
        {
            Ok(r) => r,
            Err(e) => {
                let message = format!("row group {}: cannot read: {}", group + 1, e.0);
                problem(&mut stats, sink, None, message);
                return stats;
            }
        };
        let expected = u64::try_from(group_reader.metadata().num_rows()).unwrap_or(0);
        let schema = self.reader.metadata().file_metadata().schema_descr();
        let mut sources = Vec::with_capacity(self.read.len());
        let mut dictionaries = Vec::with_capacity(self.read.len());
        for column in &self.read {
            let descr = schema.column(column.leaf);
            let chunk = group_reader.metadata().column(column.leaf);
            let opened = if pages::supported(chunk, descr.max_def_level()) {
                group_reader
                    .get_column_page_reader(column.leaf)
                    .map_err(Bad::from)
                    .and_then(|r| Pages::new(r, descr.physical_type(), descr.max_def_level()))
                    .map(Source::Pages)
            } else {
                group_reader
                    .get_column_reader(column.leaf)
                    .map(|r| {
                        Source::Batch(Box::new(Batch::new(r).expect("types checked by `open`")))
                    })
                    .map_err(Bad::from)
            };
            match opened {
                Ok(mut source) => {
                    dictionaries.push(match &mut source {
                        Source::Pages(p) => p.take_dictionary(),
                        Source::Batch(_) => None,
                    });
                    sources.push(source);
                }
                Err(e) => {
                    let message = format!(
                        "row group {}, column {}: cannot read: {}; its {expected} rows were not read",
                        group + 1,
                        column.name,
                        e.0
                    );
                    problem(&mut stats, sink, None, message);
                    return stats;
                }
            }
        }
        // Each dictionary entry is read as its field once per row group (when a row first
        // uses it), not once per row.
        let mut prepared: Vec<Vec<Prep<'_>>> = dictionaries
            .iter()
            .map(|d| vec![Prep::Unread; d.as_ref().map_or(0, Dictionary::len)])
            .collect();
        let lines = sink.wants_lines();
        let width = sources.len();
        // A batch's values row by row: a row's cells side by side.
        let mut grid = vec![Value::Null; BATCH * width];
        let mut arenas: Vec<Vec<u8>> = vec![Vec::new(); width];
        let mut line = Vec::with_capacity(256);
        let mut done = 0u64;
        while done < expected {
            if sink.cancelled() {
                return stats;
            }
            let n = BATCH.min((expected - done) as usize);
            for (c, source) in sources.iter_mut().enumerate() {
                arenas[c].clear();
                let mut column = Grid {
                    values: &mut grid[..n * width],
                    stride: width,
                    at: c,
                };
                let filled = guard::guard(|| source.fill(n, &mut column, &mut arenas[c]));
                if let Err(e) = filled.map_err(Bad).and_then(|r| r) {
                    let message = format!(
                        "row group {}, column {}: the data is damaged after row {}: {}; \
                         the rest of the row group was not read",
                        group + 1,
                        self.read[c].name,
                        first_row + done,
                        e.0
                    );
                    problem(&mut stats, sink, None, message);
                    return stats;
                }
            }
            // One record for the batch, each row written over the last: every read column sets
            // or clears its field, the others stay empty (a fresh record per row cost a copy).
            let mut flow = Flow::EMPTY;
            for r in 0..n {
                let row = first_row + done + r as u64 + 1;
                let values = &grid[r * width..(r + 1) * width];
                stats.rows += 1;
                let mut plain = !self.read.is_empty();
                for (c, ((column, value), prepared)) in
                    self.read.iter().zip(values).zip(&mut prepared).enumerate()
                {
                    let prep = match *value {
                        Value::Null => Prep::Skip,
                        Value::Entry(e) => {
                            let slot = &mut prepared[e as usize];
                            if let Prep::Unread = slot {
                                let d = dictionaries[c].as_ref();
                                *slot = prepare(column, cell(Value::Entry(e), d, &[]));
                            }
                            *slot
                        }
                        v => prepare(column, cell(v, None, &arenas[c])),
                    };
                    plain &= put(column.field, prep, &mut flow);
                }
                plain &= !matches!((flow.start, flow.end), (Some(s), Some(e)) if s > e);
                if plain && !lines {
                    stats.records += 1;
                    sink.record(archive, row, &flow);
                    continue;
                }
                let mut cells = [Cell::Null; READ_FIELDS.len()];
                for (c, slot) in cells.iter_mut().enumerate().take(width) {
                    *slot = cell(values[c], dictionaries[c].as_ref(), &arenas[c]);
                }
                line.clear();
                if let Err((c, what)) = self.render(&cells[..self.read.len()], &mut line) {
                    let message = format!("column {}: {what}", self.read[c].name);
                    problem(&mut stats, sink, Some(row), message);
                    continue;
                }
                match Flow::parse(&self.read_format, &line) {
                    Ok(flow) => {
                        stats.records += 1;
                        sink.record_line(archive, row, &line, &flow);
                    }
                    Err(e) => problem(&mut stats, sink, Some(row), self.describe(&e)),
                }
            }
            done += n as u64;
        }
        stats
    }

    /// The line of a row: its cells in order, `-` for a null (see the module docs); the
    /// column and what is wrong when a cell cannot be one token.
    fn render(&self, cells: &[Cell<'_>], line: &mut Vec<u8>) -> Result<(), (usize, String)> {
        let mut digits = itoa::Buffer::new();
        for (c, (column, cell)) in self.read.iter().zip(cells).enumerate() {
            if c > 0 {
                line.push(b' ');
            }
            match *cell {
                Cell::Null => line.push(b'-'),
                Cell::Bytes([]) => {
                    return Err((
                        c,
                        "`` is an empty string, which is no value (absent values are null or `-`)"
                            .into(),
                    ))
                }
                Cell::Bytes(b) if b.iter().any(|&x| matches!(x, b' ' | b'\t' | b'\n' | b'\r')) => {
                    return Err((
                        c,
                        format!(
                            "`{}` is not one value: it holds a space, tab or line break",
                            show(b)
                        ),
                    ))
                }
                Cell::Bytes(b) => line.extend_from_slice(b),
                Cell::Int(n) => match column.cells {
                    Cells::Int32 { unsigned: true } => {
                        line.extend_from_slice(digits.format(n as i32 as u32).as_bytes())
                    }
                    Cells::Int64 {
                        unsigned: true,
                        divisor: 1,
                    } => line.extend_from_slice(digits.format(n as u64).as_bytes()),
                    Cells::Int64 { divisor, .. } => {
                        line.extend_from_slice(digits.format(n.div_euclid(divisor)).as_bytes())
                    }
                    _ => line.extend_from_slice(digits.format(n).as_bytes()),
                },
                Cell::Float(f) => float(f, line),
            }
        }
        if self.read.is_empty() {
            line.push(b'-');
        }
        Ok(())
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

/// An integer cell as the number its column means (unsigned reinterpreted, a timestamp in
/// Unix seconds), `None` when negative: the line then says what is wrong.
#[inline]
fn number(n: i64, cells: Cells) -> Option<u64> {
    match cells {
        Cells::Int32 { unsigned: true } => Some(u64::from(n as i32 as u32)),
        Cells::Int64 {
            unsigned: true,
            divisor: 1,
        } => Some(n as u64),
        Cells::Int64 { divisor, .. } => u64::try_from(n.div_euclid(divisor)).ok(),
        _ => u64::try_from(n).ok(),
    }
}

/// A column chunk, read by pages or through the crate's column reader.
enum Source {
    Pages(Pages),
    Batch(Box<Batch>),
}

impl Source {
    fn fill(&mut self, rows: usize, out: &mut Grid<'_>, arena: &mut Vec<u8>) -> Result<(), Bad> {
        match self {
            Source::Pages(p) => p.fill(rows, out, arena),
            Source::Batch(b) => b.fill(rows, out, arena),
        }
    }
}

/// A cell as a column holds it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Cell<'a> {
    Null,
    Bytes(&'a [u8]),
    Int(i64),
    Float(f64),
}

/// The cell of a row's value: a dictionary entry, a number, bytes in the batch.
fn cell<'a>(v: Value, dictionary: Option<&'a Dictionary>, arena: &'a [u8]) -> Cell<'a> {
    match v {
        Value::Null => Cell::Null,
        Value::Int(n) => Cell::Int(n),
        Value::Float(f) => Cell::Float(f),
        Value::Span(a, b) => Cell::Bytes(&arena[a as usize..b as usize]),
        Value::Entry(e) => match dictionary {
            Some(Dictionary::Bytes { buf, spans }) => {
                let (a, b) = spans[e as usize];
                Cell::Bytes(&buf[a as usize..b as usize])
            }
            Some(Dictionary::Int(v)) => Cell::Int(v[e as usize]),
            Some(Dictionary::Float(v)) => Cell::Float(v[e as usize]),
            None => Cell::Null,
        },
    }
}

/// What a cell does to a record, worked out once (for a dictionary entry, once per row
/// group): the field it sets and to what, nothing (null, `-`), or `Slow`: anything unusual,
/// for which the row's line is read, so the record parser decides and says what is wrong.
#[derive(Clone, Copy, Debug)]
enum Prep<'a> {
    /// A dictionary entry no row has used yet.
    Unread,
    Skip,
    Slow,
    Src(IpAddr),
    Dst(IpAddr),
    PktSrc(IpAddr),
    PktDst(IpAddr),
    Account(&'a str),
    Interface(&'a str),
    Vpc(&'a str),
    Subnet(&'a str),
    Instance(&'a str),
    Action(Action),
    Status(LogStatus),
    Direction(Direction),
    SrcPort(u16),
    DstPort(u16),
    Protocol(u8),
    TcpFlags(u8),
    Version(u8),
    Packets(u64),
    Bytes(u64),
    Start(u64),
    End(u64),
}

/// What `cell` does to a record, read as the record parser reads the same token (a property
/// test holds the two together).
fn prepare<'a>(column: &ReadColumn, cell: Cell<'a>) -> Prep<'a> {
    let field = column.field;
    let number = match cell {
        Cell::Null | Cell::Bytes(b"-") => return Prep::Skip,
        Cell::Int(n) => number(n, column.cells),
        Cell::Float(f) if f.is_nan() => return Prep::Skip,
        Cell::Float(f) => (f.fract() == 0.0 && (0.0..1.8e19).contains(&f)).then_some(f as u64),
        // Printable ASCII without spaces: one token, with no byte the line check would look
        // at twice. Anything else is the line's to judge.
        Cell::Bytes(b) if b.is_empty() || !b.iter().all(|&c| (b'!'..=b'~').contains(&c)) => {
            return Prep::Slow
        }
        Cell::Bytes(b) => {
            let text = || std::str::from_utf8(b).ok();
            let prep = match field {
                Field::SrcAddr => parse_addr(b).map(Prep::Src),
                Field::DstAddr => parse_addr(b).map(Prep::Dst),
                Field::PktSrcAddr => parse_addr(b).map(Prep::PktSrc),
                Field::PktDstAddr => parse_addr(b).map(Prep::PktDst),
                Field::AccountId => text().map(Prep::Account),
                Field::InterfaceId => text().map(Prep::Interface),
                Field::VpcId => text().map(Prep::Vpc),
                Field::SubnetId => text().map(Prep::Subnet),
                Field::InstanceId => text().map(Prep::Instance),
                Field::Action => match b {
                    b"ACCEPT" => Some(Prep::Action(Action::Accept)),
                    b"REJECT" => Some(Prep::Action(Action::Reject)),
                    _ => None,
                },
                Field::LogStatus => match b {
                    b"OK" => Some(Prep::Status(LogStatus::Ok)),
                    b"NODATA" => Some(Prep::Status(LogStatus::NoData)),
                    b"SKIPDATA" => Some(Prep::Status(LogStatus::SkipData)),
                    _ => None,
                },
                Field::FlowDirection => match b {
                    b"ingress" => Some(Prep::Direction(Direction::Ingress)),
                    b"egress" => Some(Prep::Direction(Direction::Egress)),
                    _ => None,
                },
                _ => parse_u64(b).and_then(|n| numeric(field, n)),
            };
            return prep.unwrap_or(Prep::Slow);
        }
    };
    number.and_then(|n| numeric(field, n)).unwrap_or(Prep::Slow)
}

/// `n` as a value of the numeric `field`; `None` out of range, or for a field that is not a
/// number.
fn numeric(field: Field, n: u64) -> Option<Prep<'static>> {
    let small = |max: u64| (n <= max).then_some(n);
    match field {
        Field::SrcPort => small(65535).map(|n| Prep::SrcPort(n as u16)),
        Field::DstPort => small(65535).map(|n| Prep::DstPort(n as u16)),
        Field::Protocol => small(255).map(|n| Prep::Protocol(n as u8)),
        Field::TcpFlags => small(255).map(|n| Prep::TcpFlags(n as u8)),
        Field::Version => small(255).map(|n| Prep::Version(n as u8)),
        Field::Packets => Some(Prep::Packets(n)),
        Field::Bytes => Some(Prep::Bytes(n)),
        Field::Start => Some(Prep::Start(n)),
        Field::End => Some(Prep::End(n)),
        _ => None,
    }
}

/// Applies a prepared cell of `field` to `flow` (no value clears the field); false for `Slow`.
#[inline(always)]
fn put<'a>(field: Field, prep: Prep<'a>, flow: &mut Flow<'a>) -> bool {
    match prep {
        Prep::Skip => clear(field, flow),
        Prep::Slow | Prep::Unread => return false,
        Prep::Src(a) => flow.src = Some(a),
        Prep::Dst(a) => flow.dst = Some(a),
        Prep::PktSrc(a) => flow.pkt_src = Some(a),
        Prep::PktDst(a) => flow.pkt_dst = Some(a),
        Prep::Account(t) => flow.account = Some(t),
        Prep::Interface(t) => flow.interface = Some(t),
        Prep::Vpc(t) => flow.vpc = Some(t),
        Prep::Subnet(t) => flow.subnet = Some(t),
        Prep::Instance(t) => flow.instance = Some(t),
        Prep::Action(a) => flow.action = Some(a),
        Prep::Status(s) => flow.status = s,
        Prep::Direction(d) => flow.direction = Some(d),
        Prep::SrcPort(n) => flow.src_port = Some(n),
        Prep::DstPort(n) => flow.dst_port = Some(n),
        Prep::Protocol(n) => flow.protocol = Some(n),
        Prep::TcpFlags(n) => flow.tcp_flags = Some(n),
        Prep::Version(n) => flow.version = Some(n),
        Prep::Packets(n) => flow.packets = Some(n),
        Prep::Bytes(n) => flow.bytes = Some(n),
        Prep::Start(n) => flow.start = Some(n),
        Prep::End(n) => flow.end = Some(n),
    }
    true
}

/// Sets `field` of `flow` to no value, as `-` leaves it.
#[cold]
fn clear(field: Field, flow: &mut Flow<'_>) {
    match field {
        Field::SrcAddr => flow.src = None,
        Field::DstAddr => flow.dst = None,
        Field::PktSrcAddr => flow.pkt_src = None,
        Field::PktDstAddr => flow.pkt_dst = None,
        Field::AccountId => flow.account = None,
        Field::InterfaceId => flow.interface = None,
        Field::VpcId => flow.vpc = None,
        Field::SubnetId => flow.subnet = None,
        Field::InstanceId => flow.instance = None,
        Field::Action => flow.action = None,
        Field::LogStatus => flow.status = LogStatus::Ok,
        Field::FlowDirection => flow.direction = None,
        Field::SrcPort => flow.src_port = None,
        Field::DstPort => flow.dst_port = None,
        Field::Protocol => flow.protocol = None,
        Field::TcpFlags => flow.tcp_flags = None,
        Field::Version => flow.version = None,
        Field::Packets => flow.packets = None,
        Field::Bytes => flow.bytes = None,
        Field::Start => flow.start = None,
        Field::End => flow.end = None,
        _ => {}
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

    fn archive(name: &str) -> Archive {
        Archive {
            display: name.into(),
            source: Source::File(path(name)),
            meta: ArchiveMeta::default(),
        }
    }

    fn scan_file(name: &str) -> (ParquetLog, Collect) {
        let log = open_file(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let archive = archive(name);
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
    /// snappy, gzip, zstd and one or several row groups, dictionaries, PLAIN and DELTA
    /// encodings, version-1 and version-2 pages: every one reads as the text does.
    #[test]
    fn every_writers_types_read_as_the_text_does() {
        for name in [
            "aws-snappy.parquet",
            "aws-gzip-nulls.parquet",
            "int64-zstd.parquet",
            "floats-timestamps.parquet",
            "delta-v2.parquet",
            "plain-v2.parquet",
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
    fn a_codec_not_built_in_is_named_before_reading() {
        let Err(e) = open_file("lz4.parquet") else {
            panic!("LZ4 opened")
        };
        assert_eq!(
            e.to_string(),
            "row group 1, column version is compressed with LZ4_RAW, which flowgate does not \
             decode (it reads snappy, gzip, zstd and uncompressed Parquet); rewrite the object \
             with one of those"
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

    /// The check's sink takes records without their lines: those rows are read straight from
    /// the cells. Every test file gives the same records and problems either way.
    #[test]
    fn rows_read_without_their_line_are_the_rows_read_from_it() {
        struct NoLines(Collect);
        impl Sink for NoLines {
            fn wants_lines(&self) -> bool {
                false
            }
            fn format(&mut self, a: &Archive, f: &Format) {
                self.0.format(a, f)
            }
            fn record(&mut self, _: &Archive, row: u64, flow: &Flow<'_>) {
                self.0.records.push((row, format!("{flow:?}")));
            }
            fn problem(&mut self, p: Problem) {
                self.0.problem(p)
            }
        }
        for name in [
            "aws-snappy.parquet",
            "aws-gzip-nulls.parquet",
            "int64-zstd.parquet",
            "floats-timestamps.parquet",
            "custom-uncompressed.parquet",
            "pandas-strings.parquet",
            "delta-v2.parquet",
            "plain-v2.parquet",
        ] {
            let (log, with_lines) = scan_file(name);
            let mut direct = NoLines(Collect::default());
            log.scan(&archive(name), &mut direct);
            assert_eq!(direct.0.records, with_lines.records, "{name}");
            assert_eq!(direct.0.problems, with_lines.problems, "{name}");
        }
    }

    mod props {
        //! A cell read straight into a record gives what the record parser makes of the same
        //! token, or leaves the cell to it.
        use super::*;
        use proptest::prelude::*;

        fn token() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..24),
                "[0-9]{1,21}".prop_map(String::into_bytes),
                "[0-9:.a-f]{0,46}".prop_map(String::into_bytes),
                "(ACCEPT|REJECT|OK|NODATA|SKIPDATA|ingress|egress|-|eni-[0-9a-f]{8})"
                    .prop_map(String::into_bytes),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            /// Damaged files are problems, never a panic (a hostile object must not stop a
            /// check that reads thousands).
            #[test]
            fn damaged_bytes_never_panic(
                file in proptest::sample::select(vec![
                    "aws-snappy.parquet", "aws-gzip-nulls.parquet", "delta-v2.parquet",
                    "plain-v2.parquet", "custom-uncompressed.parquet",
                ]),
                flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..12),
            ) {
                let mut bytes = std::fs::read(path(file)).unwrap();
                for (at, x) in &flips {
                    let i = at.index(bytes.len());
                    bytes[i] ^= x;
                }
                if let Ok(log) = open(Arc::new(bytes::Bytes::from(bytes))) {
                    let mut sink = Collect::default();
                    let stats = log.scan(&archive(file), &mut sink);
                    prop_assert!(stats.records + stats.problems >= stats.rows.min(1));
                }
            }

            #[test]
            fn a_prepared_cell_is_its_token_parsed(
                field in proptest::sample::select(READ_FIELDS.to_vec()),
                token in token(),
                number in any::<i64>(),
                use_number in any::<bool>(),
            ) {
                let column = ReadColumn {
                    leaf: 0,
                    name: field.name().replace('-', "_"),
                    field,
                    cells: if use_number { Cells::Int64 { unsigned: false, divisor: 1 } } else { Cells::Text },
                };
                let format = Format::from_names([field.name()]).unwrap();
                let (cell, line) = if use_number {
                    (Cell::Int(number), number.to_string().into_bytes())
                } else {
                    (Cell::Bytes(&token), token.clone())
                };
                let mut flow = Flow::EMPTY;
                if put(field, prepare(&column, cell), &mut flow) {
                    let parsed = Flow::parse(&format, &line);
                    prop_assert_eq!(Ok(flow), parsed);
                }
            }
        }
    }
}
