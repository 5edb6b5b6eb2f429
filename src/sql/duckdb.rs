//! DuckDB (1.0 and later), over local files or `s3://` (its httpfs extension, which it loads
//! by itself; the query needs no extension).
//!
//! DuckDB casts leniently (`try_cast(' 5' AS bigint)` is 5), so numbers are checked with a
//! pattern before any cast, as in every dialect. `/` is fractional division (`//` truncates)
//! and NULLs sort last unless told. Identifiers are double-quoted, string literals double
//! their quotes.

use super::ddl::{file_columns, view_columns, DdlError, DdlOptions, Part, Plan, TableFormat};
use super::Flavor;

/// The query text of DuckDB.
pub(crate) struct DuckDb;

impl Flavor for DuckDb {
    fn matches(&self, expr: &str, pattern: &str) -> String {
        format!("regexp_matches({expr}, {})", self.string(pattern))
    }

    fn idiv(&self, expr: &str, divisor: u64) -> String {
        format!("({expr} // {divisor})")
    }

    fn hex4(&self, expr: &str) -> String {
        format!("lpad(lower(hex({expr})), 4, '0')")
    }

    fn compact_array(&self, elements: &[String]) -> String {
        // `list_distinct` drops NULLs (and duplicates, which the elements never are);
        // lambdas changed syntax between DuckDB versions.
        format!("list_distinct([{}])", elements.join(", "))
    }

    fn explode(&self, source: &str, array: &str, column: &str) -> String {
        format!("{source}\n  CROSS JOIN unnest({array}) AS u ({column})")
    }
}

/// `CREATE OR REPLACE VIEW` over `read_csv`/`read_parquet` of each part's objects.
pub(crate) fn ddl(options: &DdlOptions, plan: &Plan) -> Result<String, DdlError> {
    let f = &DuckDb;
    let selects: Vec<String> = plan
        .parts
        .iter()
        .map(|part| {
            let source = match &plan.location {
                Some(location) => f.string(&location_glob(location, part.kind)),
                None => {
                    let files: Vec<String> = part.files.iter().map(|p| f.string(p)).collect();
                    format!("[{}]", files.join(", "))
                }
            };
            let reader = reader(part, &source, plan.location.is_some());
            format!(
                "SELECT\n  {}\nFROM {reader}",
                view_columns(f, &part.format, "filename").join(",\n  ")
            )
        })
        .collect();
    Ok(format!(
        "-- flowgate {}: the table `flowgate sql --dialect duckdb` reads.\n\
         CREATE OR REPLACE VIEW {} AS\n{};\n",
        env!("CARGO_PKG_VERSION"),
        options.table,
        selects.join("\nUNION ALL\n")
    ))
}

/// The reader of one part: every column text, the header line skipped, nothing guessed. A
/// line with another number of fields stops the query (DuckDB's strict mode) rather than
/// being dropped.
fn reader(part: &Part, source: &str, location: bool) -> String {
    let f = &DuckDb;
    match part.kind {
        TableFormat::Parquet => format!("read_parquet({source}, filename = true)"),
        TableFormat::Text => {
            let columns: Vec<String> = file_columns(&part.format)
                .iter()
                .map(|c| format!("{}: 'VARCHAR'", f.string(c)))
                .collect();
            // Local objects were looked at: their compression is known, whatever their name.
            let compression = match (location, part.gzip) {
                (true, _) => "auto",
                (false, true) => "gzip",
                (false, false) => "none",
            };
            format!(
                "read_csv({source}, delim = ' ', header = true, quote = '', escape = '', \
                 auto_detect = false, filename = true, compression = '{compression}', \
                 columns = {{{}}})",
                columns.join(", ")
            )
        }
    }
}

/// A location as DuckDB globs it: a folder means every object of the kind below it.
fn location_glob(location: &str, kind: TableFormat) -> String {
    if location.contains('*') {
        return location.to_string();
    }
    let dir = location.trim_end_matches('/');
    match kind {
        TableFormat::Text => format!("{dir}/**/*.log.gz"),
        TableFormat::Parquet => format!("{dir}/**/*.parquet"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(DuckDb.ident("end"), "\"end\"");
        assert_eq!(DuckDb.string("it's"), "'it''s'");
    }

    #[test]
    fn locations_glob_their_kind() {
        assert_eq!(
            location_glob("s3://b/p/", TableFormat::Text),
            "s3://b/p/**/*.log.gz"
        );
        assert_eq!(
            location_glob("s3://b/p", TableFormat::Parquet),
            "s3://b/p/**/*.parquet"
        );
        assert_eq!(location_glob("logs/*.gz", TableFormat::Text), "logs/*.gz");
    }
}
