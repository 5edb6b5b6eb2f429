//! The table the query reads: a view named `flow_logs` (or `--table`) with one text-castable
//! column per field the query reads, plus the object each row came from and that object's
//! field list. Each dialect writes it its own way (`athena.rs`, `spark.rs`, `duckdb.rs`);
//! this file decides what goes into it.
//!
//! Two sources: a location (`--location s3://…`), whose objects share one format (given with
//! `--log-format`, AWS's default otherwise), or local files (`--logs DIR`), which flowgate
//! reads the headers (or Parquet schemas) of and groups by format, so a folder mixing the
//! default format with a custom one (as `fixtures/` does) becomes one table part per format,
//! each object's columns named by its own header, as `check` reads them.

use std::path::{Path, PathBuf};

use crate::flowlog::archive::{open_lines_with, Limits};
use crate::flowlog::lines::Line;
use crate::flowlog::scan::{prepare, Prepared};
use crate::flowlog::{Archive, Column, Field, Format};

use super::query::{column_name, table_fields, FORMAT_COLUMN, OBJECT_COLUMN};
use super::{athena, duckdb, spark, Dialect, Flavor};

/// How the objects store records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TableFormat {
    /// Space-separated text with a header line, gzip or plain (S3's default delivery).
    Text,
    /// Parquet with one column per field, named with `_` (S3's other delivery format).
    Parquet,
}

impl TableFormat {
    pub fn name(self) -> &'static str {
        match self {
            TableFormat::Text => "text",
            TableFormat::Parquet => "parquet",
        }
    }
}

impl std::str::FromStr for TableFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<TableFormat, String> {
        match s.to_ascii_lowercase().as_str() {
            "text" | "textfile" | "csv" => Ok(TableFormat::Text),
            "parquet" => Ok(TableFormat::Parquet),
            _ => Err(format!("`{s}` is not a table format: text or parquet")),
        }
    }
}

/// The S3 key layout of a location, for Athena's partition projection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Partitioning {
    /// AWS's default: `AWSLogs/<account>/vpcflowlogs/<region>/<yyyy>/<mm>/<dd>/`.
    Date,
    /// Hive-compatible prefixes: `AWSLogs/aws-account-id=<account>/aws-service=vpcflowlogs/
    /// aws-region=<region>/year=<yyyy>/month=<mm>/day=<dd>/`.
    Hive,
}

impl std::str::FromStr for Partitioning {
    type Err = String;

    fn from_str(s: &str) -> Result<Partitioning, String> {
        match s.to_ascii_lowercase().as_str() {
            "date" => Ok(Partitioning::Date),
            "hive" => Ok(Partitioning::Hive),
            _ => Err(format!("`{s}` is not a layout: date or hive")),
        }
    }
}

/// What to define the table over.
#[derive(Clone, Debug)]
pub struct DdlOptions {
    pub dialect: Dialect,
    /// The view the query reads.
    pub table: String,
    /// Where the objects are (`s3://bucket/prefix/`, or a directory or glob DuckDB and Spark
    /// read); `None`: the local `logs`.
    pub location: Option<String>,
    pub format: TableFormat,
    /// Local archives or directories, read for their formats.
    pub logs: Vec<PathBuf>,
    /// The field list of a location's objects (AWS's default format when not given).
    pub log_format: Option<Format>,
    /// Athena: the key layout under the location.
    pub partitioning: Partitioning,
    /// Athena: the accounts and regions under `location` (`…/AWSLogs/` follows it); without
    /// them, the location is one account's region (the folder holding the date folders).
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    /// Athena: the first day partition projection lists.
    pub first_day: time::Date,
}

/// Why no table definition can be written.
#[derive(Debug, thiserror::Error)]
pub enum DdlError {
    #[error("{0} reads objects in S3: give their place with --location s3://bucket/prefix/")]
    NeedsLocation(Dialect),
    #[error("no flow-log archives found under {0}")]
    NoArchives(String),
    #[error("{path}: {why}")]
    Archive { path: String, why: String },
    #[error(
        "--accounts and --regions go together: the partitions are every account in every region"
    )]
    HalfProjection,
    #[error(
        "`{0}` is not a plain name for a table or view (letters, digits, `_`, `.` between parts)"
    )]
    BadTableName(String),
}

/// Objects of one format and kind: one part of the table.
#[derive(Clone, Debug)]
pub(crate) struct Part {
    pub format: Format,
    pub kind: TableFormat,
    /// Whether the text objects are gzip (false for Parquet).
    pub gzip: bool,
    /// Local objects, as displayed (sorted); empty for a location.
    pub files: Vec<String>,
}

/// What the table is made of.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub parts: Vec<Part>,
    /// The location, when not local files.
    pub location: Option<String>,
    /// The `--logs` paths as given, with their absolute form: Spark names objects by
    /// absolute URI, and the view turns them back into the paths `check` shows.
    pub roots: Vec<(String, PathBuf)>,
}

/// The statements creating the table and its view, separated by `;`.
pub fn ddl(options: &DdlOptions) -> Result<String, DdlError> {
    if !is_plain_name(&options.table) {
        return Err(DdlError::BadTableName(options.table.clone()));
    }
    if options.accounts.is_empty() != options.regions.is_empty() {
        return Err(DdlError::HalfProjection);
    }
    let plan = plan(options)?;
    Ok(match options.dialect {
        Dialect::Athena => athena::athena_ddl(options, &plan)?,
        Dialect::Trino => athena::trino_ddl(options, &plan)?,
        Dialect::Spark => spark::ddl(options, &plan)?,
        Dialect::DuckDb => duckdb::ddl(options, &plan)?,
    })
}

/// A table name as the query may use it unquoted: `flow_logs`, `db.flow_logs`.
pub(crate) fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|part| {
            part.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

fn plan(options: &DdlOptions) -> Result<Plan, DdlError> {
    if let Some(location) = &options.location {
        let format = options
            .log_format
            .clone()
            .unwrap_or_else(Format::default_v2);
        return Ok(Plan {
            parts: vec![Part {
                format,
                kind: options.format,
                gzip: options.format == TableFormat::Text,
                files: Vec::new(),
            }],
            location: Some(location.clone()),
            roots: Vec::new(),
        });
    }
    if matches!(options.dialect, Dialect::Athena | Dialect::Trino) {
        return Err(DdlError::NeedsLocation(options.dialect));
    }
    local_plan(&options.logs)
}

/// Reads the format of every local archive and groups them.
fn local_plan(logs: &[PathBuf]) -> Result<Plan, DdlError> {
    let found = crate::source::discover(logs);
    if let Some(e) = found.errors.into_iter().next() {
        return Err(match e {
            crate::source::DiscoverError::Io { path, source } => DdlError::Archive {
                path,
                why: format!("cannot read: {source}"),
            },
            // The DDL names local files; objects in S3 are a --location.
            crate::source::DiscoverError::S3 { url, .. } => DdlError::Archive {
                path: url,
                why: "the DDL reads local files for their formats; give objects in S3 as                       --location with --log-format"
                    .into(),
            },
        });
    }
    if found.archives.is_empty() {
        let names: Vec<String> = logs.iter().map(|p| p.display().to_string()).collect();
        return Err(DdlError::NoArchives(names.join(", ")));
    }
    let mut parts: Vec<Part> = Vec::new();
    for archive in &found.archives {
        let (format, kind, gzip) = local_format(archive)?;
        match parts
            .iter_mut()
            .find(|p| p.format == format && p.kind == kind && p.gzip == gzip)
        {
            Some(part) => part.files.push(archive.display.clone()),
            None => parts.push(Part {
                format,
                kind,
                gzip,
                files: vec![archive.display.clone()],
            }),
        }
    }
    let roots = logs
        .iter()
        .map(|p| {
            let absolute = p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
            (p.display().to_string(), absolute)
        })
        .collect();
    Ok(Plan {
        parts,
        location: None,
        roots,
    })
}

/// The format, kind and compression of one local archive.
fn local_format(archive: &Archive) -> Result<(Format, TableFormat, bool), DdlError> {
    let fail = |why: String| DdlError::Archive {
        path: archive.display.clone(),
        why,
    };
    match prepare(archive) {
        Prepared::Parquet(log) => Ok((log.format().clone(), TableFormat::Parquet, false)),
        Prepared::Unreadable(why) => Err(fail(why)),
        Prepared::Text { gzip, .. } => {
            // Only the first line is needed: stream, whatever the size.
            let mut lines = open_lines_with(
                archive,
                Limits {
                    compressed: 0,
                    text: 0,
                },
            )
            .map_err(|e| fail(format!("cannot read: {e}")))?;
            loop {
                match lines.next_line() {
                    Ok(Some(Line::Text { bytes, .. })) => {
                        if bytes.iter().all(u8::is_ascii_whitespace) {
                            continue;
                        }
                        return match Format::from_header_line(bytes) {
                            Some(Ok(format)) => Ok((format, TableFormat::Text, gzip)),
                            Some(Err(e)) => Err(fail(format!("bad header line: {e}"))),
                            None => Err(fail(
                                "does not start with a header line: a SQL table reads text \
                                 objects by their header (CloudWatch deliveries and exports \
                                 have none, and are not tables)"
                                    .into(),
                            )),
                        };
                    }
                    Ok(Some(Line::TooLong { .. })) => {
                        return Err(fail("the first line is too long to be a header".into()))
                    }
                    Ok(None) => return Err(fail("is empty".into())),
                    Err(e) => return Err(fail(format!("cannot read: {e}"))),
                }
            }
        }
    }
}

/// A column of one part of the table, in the object's order: the field's table column name,
/// or `col_N` for a column flowgate does not know.
pub(crate) fn file_columns(format: &Format) -> Vec<String> {
    format
        .columns()
        .iter()
        .enumerate()
        .map(|(i, c)| match c {
            Column::Known(f) => column_name(*f),
            Column::Unknown(_) => format!("col_{}", i + 1),
        })
        .collect()
}

/// The view's select list over one part: the object, its field list, and every field the
/// query reads (NULL where the part's objects lack it). `object` is the dialect's expression
/// for the object a row came from.
pub(crate) fn view_columns(f: &dyn Flavor, format: &Format, object: &str) -> Vec<String> {
    let mut cols = vec![
        format!("{object} AS {}", f.ident(OBJECT_COLUMN)),
        format!(
            "{} AS {}",
            f.string(&format.header()),
            f.ident(FORMAT_COLUMN)
        ),
    ];
    for field in table_fields() {
        let name = f.ident(&column_name(field));
        // Text everywhere: parts of text and Parquet then union, whatever their types.
        cols.push(if format.has(field) {
            format!("CAST({name} AS {}) AS {name}", f.text_type())
        } else {
            format!("CAST(NULL AS {}) AS {name}", f.text_type())
        });
    }
    cols
}

/// AWS's Parquet column type of a field (Athena's DDL must match the objects').
pub(crate) fn parquet_type(field: Option<Field>) -> &'static str {
    match field {
        Some(
            Field::Version | Field::SrcPort | Field::DstPort | Field::TcpFlags | Field::TrafficPath,
        ) => "int",
        Some(Field::Protocol | Field::Packets | Field::Bytes | Field::Start | Field::End) => {
            "bigint"
        }
        _ => "string",
    }
}

/// `path` with the characters Hadoop's glob gives meaning to escaped.
pub(crate) fn glob_escape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if matches!(c, '{' | '}' | '[' | ']' | '*' | '?' | '\\' | ',') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The longest directory all `paths` are under.
pub(crate) fn common_dir(paths: &[PathBuf]) -> PathBuf {
    let mut common: Option<PathBuf> = None;
    for p in paths {
        let dir = p.parent().unwrap_or(Path::new("/")).to_path_buf();
        common = Some(match common {
            None => dir,
            Some(c) => c
                .components()
                .zip(dir.components())
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| a)
                .collect(),
        });
    }
    common.unwrap_or_else(|| PathBuf::from("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_only() {
        for ok in ["flow_logs", "db.flow_logs", "_x1"] {
            assert!(is_plain_name(ok), "{ok}");
        }
        for bad in ["", "1x", "a b", "a;drop", "a..b", "\"x\""] {
            assert!(!is_plain_name(bad), "{bad}");
        }
    }

    #[test]
    fn globs_escape_and_common_dirs() {
        assert_eq!(glob_escape("/a/{b},c*.gz"), "/a/\\{b\\}\\,c\\*.gz");
        let paths = [
            PathBuf::from("/x/AWSLogs/1/a/f.gz"),
            PathBuf::from("/x/AWSLogs/2/g.gz"),
        ];
        assert_eq!(common_dir(&paths), PathBuf::from("/x/AWSLogs"));
    }

    #[test]
    fn view_columns_fill_absent_fields_with_null() {
        let f = Dialect::DuckDb.flavor();
        let cols = view_columns(f, &Format::default_v2(), "filename");
        assert_eq!(cols[0], "filename AS \"flowgate_object\"");
        assert!(cols[1].starts_with("'version account-id interface-id"));
        assert!(cols.contains(&"CAST(\"end\" AS varchar) AS \"end\"".to_string()));
        assert!(cols.contains(&"CAST(NULL AS varchar) AS \"vpc_id\"".to_string()));
        assert_eq!(cols.len(), 2 + table_fields().len());
        let custom = Format::from_names(["srcaddr", "dstaddr", "x-y"]).unwrap();
        assert_eq!(file_columns(&custom), ["srcaddr", "dstaddr", "col_3"]);
    }
}
