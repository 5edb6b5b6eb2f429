//! Spark SQL (3.4 and later; Glue, EMR, Databricks), with ANSI mode on (Spark 4's default)
//! or off.
//!
//! Under ANSI mode a cast that fails raises an error instead of giving NULL, and comparing a
//! string with a number casts the string: the query only ever casts with `try_cast` and
//! compares values of one type. `/` is fractional division (`div` truncates), NULLs sort
//! first unless told, identifiers are back-quoted, and a backslash in a string literal
//! escapes the next character (so quotes and backslashes are escaped with one; `''` would be
//! two adjacent literals, concatenated).

use std::path::{Path, PathBuf};

use super::ddl::{
    common_dir, file_columns, glob_escape, view_columns, DdlError, DdlOptions, Part, Plan,
    TableFormat,
};
use super::Flavor;

/// The query text of Spark SQL.
pub(crate) struct Spark;

impl Flavor for Spark {
    fn ident(&self, name: &str) -> String {
        format!("`{}`", name.replace('`', "``"))
    }

    fn string(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len() + 2);
        out.push('\'');
        for c in text.chars() {
            if c == '\'' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('\'');
        out
    }

    fn text_type(&self) -> &'static str {
        "string"
    }

    fn matches(&self, expr: &str, pattern: &str) -> String {
        format!("({expr} RLIKE {})", self.string(pattern))
    }

    fn idiv(&self, expr: &str, divisor: u64) -> String {
        format!("({expr} DIV {divisor})")
    }

    fn hex4(&self, expr: &str) -> String {
        format!("lpad(lower(hex({expr})), 4, '0')")
    }

    fn strpos(&self, haystack: &str, needle: &str) -> String {
        format!("instr({haystack}, {needle})")
    }

    fn compact_array(&self, elements: &[String]) -> String {
        format!("filter(array({}), c -> c IS NOT NULL)", elements.join(", "))
    }

    fn explode(&self, source: &str, array: &str, column: &str) -> String {
        format!("{source}\n  LATERAL VIEW explode({array}) u AS {column}")
    }
}

/// One external table per part (`CREATE TABLE … USING csv|parquet OPTIONS (…)`), and the
/// view over them. A table's `path` names its objects: a location (read recursively), or the
/// local objects as one glob (`/common/dir/{a/x.log.gz,b/y.log.gz}`).
pub(crate) fn ddl(options: &DdlOptions, plan: &Plan) -> Result<String, DdlError> {
    let f = &Spark;
    let mut out = format!(
        "-- flowgate {}: the table `flowgate sql --dialect spark` reads.\n",
        env!("CARGO_PKG_VERSION")
    );
    let mut selects = Vec::new();
    for (n, part) in plan.parts.iter().enumerate() {
        let table = format!("{}_part_{}", options.table, n + 1);
        let path = match &plan.location {
            Some(location) => location.clone(),
            None => local_glob(part)?,
        };
        out.push_str(&format!("DROP TABLE IF EXISTS {table};\n"));
        out.push_str(&table_statement(
            &table,
            part,
            &path,
            plan.location.is_some(),
        ));
        // `_metadata.file_path` is the object's URI (`file:/dir/x.log.gz` for a local one):
        // local ones become the paths check shows, under the --logs path as given.
        let mut object = "_metadata.file_path".to_string();
        if !plan.roots.is_empty() {
            object = format!("regexp_replace({object}, '^file:(//)?', '')");
        }
        for (display, absolute) in &plan.roots {
            let display = display.trim_end_matches('/');
            object = format!(
                "replace({object}, {}, {})",
                f.string(&absolute.display().to_string()),
                f.string(display)
            );
        }
        selects.push(format!(
            "SELECT\n  {}\nFROM {table}",
            view_columns(f, &part.format, &object).join(",\n  ")
        ));
    }
    out.push_str(&format!(
        "CREATE OR REPLACE VIEW {} AS\n{};\n",
        options.table,
        selects.join("\nUNION ALL\n")
    ));
    Ok(out)
}

fn table_statement(table: &str, part: &Part, path: &str, location: bool) -> String {
    let f = &Spark;
    let mut opts = vec![format!("path {}", f.string(path))];
    if location {
        opts.push("recursiveFileLookup 'true'".into());
    }
    match part.kind {
        TableFormat::Parquet => format!(
            "CREATE TABLE {table}\nUSING parquet\nOPTIONS ({});\n",
            opts.join(", ")
        ),
        TableFormat::Text => {
            let columns: Vec<String> = file_columns(&part.format)
                .iter()
                .map(|c| format!("{} STRING", f.ident(c)))
                .collect();
            // Columns by position (the header line is skipped, not read for names); every
            // value text; a line with another number of fields fails the query (FAILFAST)
            // rather than turning into NULLs.
            opts.extend([
                "sep ' '".to_string(),
                "header 'true'".to_string(),
                "quote ''".to_string(),
                "escape ''".to_string(),
                "mode 'FAILFAST'".to_string(),
            ]);
            format!(
                "CREATE TABLE {table} (\n  {}\n)\nUSING csv\nOPTIONS ({});\n",
                columns.join(",\n  "),
                opts.join(", ")
            )
        }
    }
}

/// The local objects of a part as one Hadoop glob. Spark picks a decompressor by the file's
/// name, so gzip text must be named `.gz`.
fn local_glob(part: &Part) -> Result<String, DdlError> {
    let absolute: Vec<PathBuf> = part
        .files
        .iter()
        .map(|p| {
            Path::new(p)
                .canonicalize()
                .unwrap_or_else(|_| PathBuf::from(p))
        })
        .collect();
    if part.gzip {
        if let Some(bad) = part.files.iter().find(|p| !p.ends_with(".gz")) {
            return Err(DdlError::Archive {
                path: bad.clone(),
                why: "is gzip but not named `.gz`, and Spark chooses its decompressor by the \
                      name: rename it, or read it with DuckDB"
                    .into(),
            });
        }
    }
    let root = common_dir(&absolute);
    let relative: Vec<String> = absolute
        .iter()
        .map(|p| glob_escape(&p.strip_prefix(&root).unwrap_or(p).display().to_string()))
        .collect();
    let root = glob_escape(&root.display().to_string());
    Ok(match relative.as_slice() {
        [one] => format!("{}/{one}", root.trim_end_matches('/')),
        _ => format!("{}/{{{}}}", root.trim_end_matches('/'), relative.join(",")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(Spark.ident("end"), "`end`");
        assert_eq!(Spark.string("it's \\"), "'it\\'s \\\\'");
    }
}
