//! The engine's rows back into the tally the parallel pass produces.
//!
//! `check --sql-results FILE` reads what an engine exported: CSV with a header (any column
//! order, RFC 4180 quoting, as Athena, Spark and DuckDB write it) or JSON lines (a missing
//! key is NULL, as Spark leaves them out). The rows must all carry the fingerprint of this
//! flowgate and these policies (and the date and window the query fixed); then they become
//! a [`Tally`], so the report, every writer and the exit status are built exactly as after
//! a local scan.
//!
//! What SQL cannot say is filled in so the report stays honest: objects are named where a
//! row names them (examples, the first object of a format) and only counted otherwise; no
//! line numbers (an example is its object, at line 0); lines are records, problems and one
//! header per text object.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use crate::engine::tally::{ConversationKey, ConversationStats};
use crate::engine::Tally;
use crate::flowlog::{Archive, ArchiveMeta, Format, Kind as ObjectKind, Problem};
use crate::policy::PolicySet;
use crate::source::Source;

use super::fingerprint;
use super::rows::{self, Kind, COLUMNS};
use super::server::BASES;

/// What the rows say, as the report builder takes it.
#[derive(Debug)]
pub struct SqlRun {
    pub tally: Tally,
    /// The objects rows name, by the index the tally uses.
    pub archives: Vec<Archive>,
    /// The date waivers were judged against, and the window: what the query was compiled for.
    pub today: time::Date,
    pub since: Option<u64>,
    pub until: Option<u64>,
    /// The dialect the query was written in.
    pub dialect: String,
}

/// Why rows cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: line {line}: {what}")]
    Syntax {
        path: String,
        line: usize,
        what: String,
    },
    #[error(
        "{path}: no column `{column}`: these are not the rows of `flowgate sql` (row layout {})",
        rows::LAYOUT
    )]
    MissingColumn { path: String, column: String },
    #[error("{path}: row {row}, column {column}: {what}")]
    Value {
        path: String,
        row: usize,
        column: &'static str,
        what: String,
    },
    #[error("{path}: the rows are of row layout {found}; this flowgate reads layout {}: compile the query again with `flowgate sql`", rows::LAYOUT)]
    Layout { path: String, found: i64 },
    #[error("{path}: the rows come from the query of flowgate {theirs}; this is flowgate {}: compile the query again with this version's `flowgate sql`", env!("CARGO_PKG_VERSION"))]
    Version { path: String, theirs: String },
    #[error("{path}: the rows were computed for other policies than these (fingerprint {theirs}, these give {ours}, with waivers judged on {today}): run `flowgate sql` with the same --policies, --today, --since and --until as the check")]
    Fingerprint {
        path: String,
        theirs: String,
        ours: String,
        today: String,
    },
    #[error("{path}: {what}")]
    Incomplete { path: String, what: String },
}

impl ResultsError {
    /// The file the rows came from.
    pub fn path(&self) -> Option<&str> {
        match self {
            ResultsError::Io { path, .. }
            | ResultsError::Syntax { path, .. }
            | ResultsError::MissingColumn { path, .. }
            | ResultsError::Value { path, .. }
            | ResultsError::Layout { path, .. }
            | ResultsError::Version { path, .. }
            | ResultsError::Fingerprint { path, .. }
            | ResultsError::Incomplete { path, .. } => Some(path),
        }
    }
}

/// One row: a value (or NULL) per layout column.
#[derive(Clone, Debug, Default)]
struct Row {
    values: Vec<Option<String>>,
    /// 1-based, for messages.
    number: usize,
}

struct Reader<'a> {
    path: &'a str,
}

impl Reader<'_> {
    fn text<'r>(&self, row: &'r Row, column: &'static str) -> Option<&'r str> {
        let i = index(column);
        row.values[i].as_deref()
    }

    fn int(&self, row: &Row, column: &'static str) -> Result<Option<i64>, ResultsError> {
        match self.text(row, column) {
            None => Ok(None),
            Some(t) => t
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| self.bad(row, column, format!("`{t}` is not an integer"))),
        }
    }

    /// A count or time: present and not negative.
    fn count(&self, row: &Row, column: &'static str) -> Result<u64, ResultsError> {
        Ok(self.opt_count(row, column)?.unwrap_or(0))
    }

    fn opt_count(&self, row: &Row, column: &'static str) -> Result<Option<u64>, ResultsError> {
        match self.int(row, column)? {
            None => Ok(None),
            Some(n) => u64::try_from(n)
                .map(Some)
                .map_err(|_| self.bad(row, column, format!("{n} is negative"))),
        }
    }

    fn index_of(&self, row: &Row, column: &'static str, len: usize) -> Result<usize, ResultsError> {
        let n = self.count(row, column)? as usize;
        if n >= len {
            return Err(self.bad(
                row,
                column,
                format!("{n} is out of range (0 to {})", len.saturating_sub(1)),
            ));
        }
        Ok(n)
    }

    fn bad(&self, row: &Row, column: &'static str, what: String) -> ResultsError {
        ResultsError::Value {
            path: self.path.to_string(),
            row: row.number,
            column,
            what,
        }
    }

    fn incomplete(&self, what: impl Into<String>) -> ResultsError {
        ResultsError::Incomplete {
            path: self.path.to_string(),
            what: what.into(),
        }
    }
}

fn index(column: &str) -> usize {
    COLUMNS
        .iter()
        .position(|c| c.0 == column)
        .unwrap_or_else(|| panic!("{column} is a layout column"))
}

/// Reads the rows of `path` for `policies`.
pub fn read_results(path: &Path, policies: &PolicySet) -> Result<SqlRun, ResultsError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ResultsError::Io {
        path: shown.clone(),
        source,
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let rows = if text.trim_start().starts_with('{') {
        json_rows(text, &shown)?
    } else {
        csv_rows(text, &shown)?
    };
    build(&rows, policies, &Reader { path: &shown })
}

/// Rows of JSON lines: one object per line, keys named as the columns.
fn json_rows(text: &str, path: &str) -> Result<Vec<Row>, ResultsError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let syntax = |what: String| ResultsError::Syntax {
            path: path.to_string(),
            line: n + 1,
            what,
        };
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| syntax(format!("not JSON: {e}")))?;
        let serde_json::Value::Object(map) = value else {
            return Err(syntax("not a JSON object".into()));
        };
        let values = COLUMNS
            .iter()
            .map(|(name, _)| match map.get(*name) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                Some(serde_json::Value::Number(x)) => Ok(Some(x.to_string())),
                Some(other) => Err(syntax(format!(
                    "`{name}` holds {other}, not a number or text"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if out.is_empty() && !map.contains_key("kind") {
            return Err(ResultsError::MissingColumn {
                path: path.to_string(),
                column: "kind".into(),
            });
        }
        out.push(Row {
            values,
            number: out.len() + 1,
        });
    }
    Ok(out)
}

/// Rows of CSV with a header naming the columns (any order, extra columns ignored). An
/// empty field is NULL.
fn csv_rows(text: &str, path: &str) -> Result<Vec<Row>, ResultsError> {
    let records = parse_csv(text).map_err(|(line, what)| ResultsError::Syntax {
        path: path.to_string(),
        line,
        what,
    })?;
    let mut records = records.into_iter();
    let Some((_, header)) = records.next() else {
        return Err(ResultsError::Incomplete {
            path: path.to_string(),
            what: "the file is empty".into(),
        });
    };
    let mut positions = Vec::with_capacity(COLUMNS.len());
    for (name, _) in COLUMNS {
        match header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
        {
            Some(p) => positions.push(p),
            None => {
                return Err(ResultsError::MissingColumn {
                    path: path.to_string(),
                    column: name.to_string(),
                })
            }
        }
    }
    let mut out = Vec::new();
    for (line, fields) in records {
        if fields.len() == 1 && fields[0].is_empty() {
            continue;
        }
        if fields.len() != header.len() {
            return Err(ResultsError::Syntax {
                path: path.to_string(),
                line,
                what: format!(
                    "{} fields, but the header names {}",
                    fields.len(),
                    header.len()
                ),
            });
        }
        let values = positions
            .iter()
            .map(|&p| Some(fields[p].clone()).filter(|v| !v.is_empty()))
            .collect();
        out.push(Row {
            values,
            number: out.len() + 1,
        });
    }
    Ok(out)
}

/// A CSV record: the line it starts on, its fields.
type CsvRecord = (usize, Vec<String>);

/// RFC 4180: fields separated by commas, records by line breaks; a quoted field may hold
/// commas, line breaks and doubled quotes. An error names its line.
fn parse_csv(text: &str) -> Result<Vec<CsvRecord>, (usize, String)> {
    let mut records = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let (mut line, mut start) = (1, 1);
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() && !was_quoted => {
                quoted = true;
                was_quoted = true;
            }
            '"' => return Err((line, "a quote inside an unquoted field".into())),
            ',' => {
                fields.push(std::mem::take(&mut field));
                was_quoted = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                fields.push(std::mem::take(&mut field));
                records.push((start, std::mem::take(&mut fields)));
                was_quoted = false;
                line += 1;
                start = line;
            }
            _ if was_quoted => return Err((line, "text after a closing quote".into())),
            _ => field.push(c),
        }
    }
    if quoted {
        return Err((start, "a quoted field is not closed".into()));
    }
    if !field.is_empty() || !fields.is_empty() || was_quoted {
        fields.push(field);
        records.push((start, fields));
    }
    Ok(records)
}

/// An address as the rows spell it: a dotted quad, or 32 hex digits.
fn address(text: &str) -> Option<IpAddr> {
    if text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return u128::from_str_radix(text, 16)
            .ok()
            .map(|v| IpAddr::V6(Ipv6Addr::from(v)));
    }
    text.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

fn build(rows: &[Row], policies: &PolicySet, r: &Reader<'_>) -> Result<SqlRun, ResultsError> {
    let Some(first) = rows.first() else {
        return Err(r.incomplete("holds no rows: the query always returns at least two"));
    };
    let theirs = r.text(first, "fingerprint").unwrap_or_default().to_string();
    let mut by_kind: BTreeMap<Kind, Vec<&Row>> = BTreeMap::new();
    for row in rows {
        match r.int(row, "layout")? {
            Some(l) if l == i64::from(rows::LAYOUT) => {}
            Some(found) => {
                return Err(ResultsError::Layout {
                    path: r.path.to_string(),
                    found,
                })
            }
            None => return Err(r.bad(row, "layout", "missing".into())),
        }
        if r.text(row, "fingerprint") != Some(theirs.as_str()) {
            return Err(r.bad(
                row,
                "fingerprint",
                "differs from the first row's: rows of two queries are mixed".into(),
            ));
        }
        let kind = r.text(row, "kind").unwrap_or_default();
        let kind = Kind::from_name(kind)
            .ok_or_else(|| r.bad(row, "kind", format!("`{kind}` is not a kind of row")))?;
        by_kind.entry(kind).or_default().push(row);
    }
    let one = |kind: Kind| -> Result<&Row, ResultsError> {
        match by_kind.get(&kind).map(Vec::as_slice) {
            Some([row]) => Ok(row),
            Some(more) => Err(r.incomplete(format!(
                "{} `{}` rows; a query returns one",
                more.len(),
                kind.name()
            ))),
            None => Err(r.incomplete(format!(
                "no `{}` row: the export is incomplete",
                kind.name()
            ))),
        }
    };
    let rows_of = |kind: Kind| by_kind.get(&kind).map(Vec::as_slice).unwrap_or_default();

    // What the query was compiled for, and whether it was compiled from these policies.
    let query = one(Kind::Query)?;
    let today_text = r.text(query, "name").unwrap_or_default();
    let today = time::Date::parse(
        today_text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| {
        r.bad(
            query,
            "name",
            format!("`{today_text}` is not a date (YYYY-MM-DD)"),
        )
    })?;
    let since = r.opt_count(query, "first_start")?;
    let until = r.opt_count(query, "last_end")?;
    let ours = fingerprint(policies, today, since, until);
    if theirs != ours {
        let version = |fp: &str| fp.split('/').next().unwrap_or_default().to_string();
        if version(&theirs) != version(&ours) {
            return Err(ResultsError::Version {
                path: r.path.to_string(),
                theirs: version(&theirs),
            });
        }
        return Err(ResultsError::Fingerprint {
            path: r.path.to_string(),
            theirs,
            ours,
            today: today.to_string(),
        });
    }
    let dialect = r.text(query, "detail").unwrap_or_default().to_string();

    let list = policies.policies();
    let shape: Vec<(usize, usize)> = list
        .iter()
        .map(|p| (p.allows.len(), p.waivers.len()))
        .collect();
    let mut tally = Tally::new(&shape);

    // Objects: the ones rows name get the first indices, in name order (as `check` numbers
    // archives in path order); the others are only counted.
    let run = one(Kind::Run)?;
    let formats = rows_of(Kind::Format);
    let mut named: BTreeSet<String> = BTreeSet::new();
    for row in formats {
        named.extend(r.text(row, "example").map(str::to_string));
    }
    for row in rows_of(Kind::Conversation) {
        named.extend(r.text(row, "example").map(str::to_string));
    }
    let objects = r.count(run, "objects")?;
    let names: Vec<String> = named.into_iter().collect();
    let index: HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let object_kind = |detail: Option<&str>| match detail {
        Some("parquet") => ObjectKind::Parquet,
        _ => ObjectKind::Text,
    };
    let suffix_kind = |name: &str| {
        if name.to_ascii_lowercase().ends_with(".parquet") {
            ObjectKind::Parquet
        } else {
            ObjectKind::Text
        }
    };
    let mut per_kind: BTreeMap<ObjectKind, u64> = BTreeMap::new();
    for row in formats {
        *per_kind
            .entry(object_kind(r.text(row, "detail")))
            .or_default() += r.count(row, "objects")?;
    }
    let mut next = names.len();
    for (i, name) in names.iter().enumerate() {
        let kind = suffix_kind(name);
        tally.kinds.insert(i, kind);
        if let Some(n) = per_kind.get_mut(&kind) {
            *n = n.saturating_sub(1);
        }
    }
    for (kind, n) in per_kind {
        for _ in 0..n {
            tally.kinds.insert(next, kind);
            next += 1;
        }
    }
    let archives: Vec<Archive> = names
        .iter()
        .map(|n| Archive {
            display: n.clone(),
            source: Source::File(PathBuf::from(n)),
            meta: ArchiveMeta::default(),
        })
        .collect();

    // The run.
    tally.archives_read = objects;
    tally.records = r.count(run, "records")?;
    tally.nodata = r.count(run, "nodata")?;
    tally.skipdata = r.count(run, "skipdata")?;
    let problems = r.count(run, "problems")?;
    let text_objects = formats
        .iter()
        .filter(|row| object_kind(r.text(row, "detail")) == ObjectKind::Text)
        .map(|row| r.count(row, "objects"))
        .sum::<Result<u64, _>>()?;
    tally.lines = tally.records + problems + text_objects;
    for row in rows_of(Kind::Problem) {
        let object = r.text(row, "name").unwrap_or_default();
        let n = r.count(row, "problems")?;
        tally.problems.push(Problem::new(
            object,
            None,
            format!(
                "{n} row{} of this object {} not records of its format: a value its field \
                 cannot hold, or a start after the end (the SQL engine does not number rows; \
                 `flowgate check --logs` on this object names each line)",
                if n == 1 { "" } else { "s" },
                if n == 1 { "is" } else { "are" },
            ),
        ));
    }
    tally.problems.total = problems;
    if let (Some(first), Some(last)) = (
        r.opt_count(run, "first_start")?,
        r.opt_count(run, "last_end")?,
    ) {
        tally.coverage.widen(first, last);
    }
    for row in rows_of(Kind::Span) {
        let (a, b) = (r.count(row, "first_start")?, r.count(row, "last_end")?);
        if b < a {
            return Err(r.bad(row, "last_end", "before first_start".into()));
        }
        tally.coverage.mark_span(a / 60, b / 60);
    }
    // Only the number of interfaces is reported: stand-ins, one per interface.
    tally
        .coverage
        .interfaces
        .extend(0..r.count(run, "interfaces")?);
    for row in rows_of(Kind::Account) {
        tally
            .coverage
            .accounts
            .extend(r.text(row, "name").map(str::to_string));
    }
    for row in rows_of(Kind::Region) {
        tally
            .coverage
            .regions
            .extend(r.text(row, "name").map(str::to_string));
    }

    // Formats: archives per field list, and what each policy could be judged on.
    let mut spare = names.len();
    for row in formats {
        let header = r.text(row, "name").unwrap_or_default().to_string();
        let objects = r.count(row, "objects")?;
        let ok = r.count(row, "records")?;
        *tally.formats.entry(header.clone()).or_default() += objects;
        let format = Format::from_names(header.split_ascii_whitespace()).ok();
        if let Some(f) = &format {
            tally
                .unknown_fields
                .extend(f.unknown_columns().map(str::to_string));
        }
        let example = r.text(row, "example").and_then(|e| index.get(e).copied());
        for (policy, pt) in list.iter().zip(tally.policies.iter_mut()) {
            let missing: Vec<_> = policy
                .required_fields()
                .into_iter()
                .filter(|(field, _)| !format.as_ref().is_some_and(|f| f.has(*field)))
                .collect();
            if missing.is_empty() {
                pt.counts.scanned += ok;
                continue;
            }
            // Each object of the format lacks the field: the first by name, the others
            // counted under indices of their own.
            let first = example.unwrap_or(spare);
            let others: Vec<usize> = (0..objects.saturating_sub(1) as usize)
                .map(|k| spare + k)
                .collect();
            for (field, key) in missing {
                pt.field_errors.insert((first, field, key));
                for &o in &others {
                    pt.field_errors.insert((o, field, key));
                }
            }
        }
        spare += objects.saturating_sub(1) as usize;
    }

    // Policies.
    for row in rows_of(Kind::Policy) {
        let i = r.index_of(row, "policy", list.len())?;
        let pt = &mut tally.policies[i];
        pt.counts.in_scope = r.count(row, "in_scope")?;
        pt.counts.allowed = r.count(row, "allowed")?;
        pt.counts.already_rejected = r.count(row, "already_rejected")?;
        pt.counts.waived = r.count(row, "waived")?;
        pt.counts.would_block = r.count(row, "would_block")?;
        pt.in_scope_first = r.opt_count(row, "first_start")?;
        pt.in_scope_last = r.opt_count(row, "last_end")?;
    }
    for (kind, column) in [(Kind::Allow, "allow"), (Kind::Waiver, "waiver")] {
        for row in rows_of(kind) {
            let i = r.index_of(row, "policy", list.len())?;
            let pt = &mut tally.policies[i];
            let hits = if kind == Kind::Allow {
                &mut pt.allow_hits
            } else {
                &mut pt.waiver_hits
            };
            let k = r.index_of(row, "item", hits.len()).map_err(|_| {
                r.bad(
                    row,
                    "item",
                    format!("policy {i} has no {column} rule of that index"),
                )
            })?;
            hits[k] = r.count(row, "records")?;
        }
    }
    for row in rows_of(Kind::Conversation) {
        let i = r.index_of(row, "policy", list.len())?;
        let addr = |column: &'static str| -> Result<Option<IpAddr>, ResultsError> {
            match r.text(row, column) {
                None => Ok(None),
                Some(t) => address(t).map(Some).ok_or_else(|| {
                    r.bad(
                        row,
                        column,
                        format!("`{t}` is not an address (a dotted quad or 32 hex digits)"),
                    )
                }),
            }
        };
        let small = |column: &'static str, max: u64| -> Result<Option<u64>, ResultsError> {
            match r.opt_count(row, column)? {
                Some(n) if n > max => Err(r.bad(row, column, format!("{n} is above {max}"))),
                other => Ok(other),
            }
        };
        let key = ConversationKey {
            protocol: small("protocol", 255)?.map(|p| p as u8),
            client: addr("client")?,
            server: addr("server")?,
            server_port: small("server_port", 65535)?.map(|p| p as u16),
        };
        let waivers = list[i].waivers.len();
        let expired_waiver = match r.opt_count(row, "expired_waiver")? {
            Some(w) if w as usize >= waivers => {
                return Err(r.bad(
                    row,
                    "expired_waiver",
                    format!("policy {i} has no waiver {w}"),
                ))
            }
            other => other.map(|w| w as usize),
        };
        let example = r
            .text(row, "example")
            .and_then(|e| index.get(e).copied())
            .unwrap_or(usize::MAX);
        let basis = match r.text(row, "server_by") {
            None => return Err(r.bad(row, "server_by", "no value: who is the server".into())),
            Some(name) => BASES
                .into_iter()
                .find(|b| b.as_str() == name)
                .ok_or_else(|| {
                    r.bad(
                        row,
                        "server_by",
                        format!("`{name}` is not a way the server is decided"),
                    )
                })?,
        };
        let stats = ConversationStats {
            records: r.count(row, "records")?,
            packets: r.count(row, "packets")?,
            bytes: r.count(row, "bytes")?,
            first_start: r.opt_count(row, "first_start")?,
            last_end: r.opt_count(row, "last_end")?,
            example: (example, 0),
            expired_waiver,
            basis,
        };
        if !tally.policies[i].conversations.insert_new(key, &stats) {
            return Err(r.bad(row, "client", "the same conversation twice".into()));
        }
    }
    Ok(SqlRun {
        tally,
        archives,
        today,
        since,
        until,
        dialect,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quoting_as_engines_write_it() {
        let text = "a,b,c\r\n\"1\",\"x,\"\"y\"\"\",\n2,,\"multi\nline\"\n";
        let rows = parse_csv(text).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1].1, ["1", "x,\"y\"", ""]);
        assert_eq!(
            rows[2],
            (3, vec!["2".into(), String::new(), "multi\nline".into()])
        );
        assert!(parse_csv("a,\"b\nc").is_err());
        assert!(parse_csv("a,b\"c\n").is_err());
    }

    #[test]
    fn addresses_in_both_spellings() {
        assert_eq!(address("10.0.0.1"), "10.0.0.1".parse().ok());
        assert_eq!(
            address("20010db8000000000000000000000001"),
            "2001:db8::1".parse().ok()
        );
        assert_eq!(address("2001:db8::1"), None, "only the query's spelling");
        assert_eq!(address("10.0.0.256"), None);
    }

    #[test]
    fn columns_are_found_by_name() {
        assert_eq!(index("layout"), 0);
        assert_eq!(COLUMNS[index("expired_waiver")].0, "expired_waiver");
    }
}
