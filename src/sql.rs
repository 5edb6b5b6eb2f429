//! The second back end of the policy compiler: the same check as SQL, for an engine that sits
//! next to the full archive (Athena and Trino, Spark, DuckDB).
//!
//! A year of an organisation's flow logs is terabytes in S3, and the engines that already sit
//! beside them can scan it where one machine cannot. This module compiles a [`PolicySet`] into
//! one query per dialect that computes, for every policy, what `check` computes (counts, rule
//! hits, the would-be-blocked conversations with the same server rule, the in-scope window)
//! and the run's evidence (records, NODATA, SKIPDATA, the minutes the records cover), as rows
//! of one documented, versioned layout ([`rows`], `docs/scale-out.md`). [`results`] reads
//! those rows back into the same [`Tally`](crate::engine::Tally) the parallel pass produces,
//! so `check --sql-results` builds its report, every writer and the exit status exactly as a
//! local check does.
//!
//! What is the same in every engine lives in [`query`] (the query's stages) and [`predicate`]
//! (a policy's keys as SQL); what differs (quoting, string literals, regular expressions,
//! integer division, the table definition) lives in one file per dialect: `athena.rs` (Athena
//! and Trino), `spark.rs`, `duckdb.rs`. The table definition the query reads is [`ddl`]'s.
//! The query never needs an extension: addresses become integers (IPv4) and fixed-width hex
//! strings (IPv6) with plain string functions, and CIDRs become ranges computed here.
//!
//! The query embeds a fingerprint of what it was compiled from (flowgate's version, the row
//! layout, the policies' texts, `--today`, `--since`, `--until`), and every row carries it:
//! rows from another version or policy set are refused, never misread.

mod athena;
pub mod ddl;
mod duckdb;
mod predicate;
mod query;
pub mod results;
pub mod rows;
mod server;
mod spark;

use std::fmt;

use crate::policy::PolicySet;

pub use ddl::{ddl, DdlError, DdlOptions, Partitioning, TableFormat};
pub use results::{read_results, ResultsError, SqlRun};

/// The SQL engines flowgate writes for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// Amazon Athena (engine version 3, Trino): Hive DDL with partition projection.
    Athena,
    /// Trino (or Presto) with the Hive connector.
    Trino,
    /// Apache Spark 3.4 or later (Glue, EMR, Databricks), ANSI mode on or off.
    Spark,
    /// DuckDB 1.0 or later.
    DuckDb,
}

impl Dialect {
    pub const ALL: [Dialect; 4] = [
        Dialect::Athena,
        Dialect::Trino,
        Dialect::Spark,
        Dialect::DuckDb,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Dialect::Athena => "athena",
            Dialect::Trino => "trino",
            Dialect::Spark => "spark",
            Dialect::DuckDb => "duckdb",
        }
    }

    /// What differs between engines, in one object per dialect.
    pub(crate) fn flavor(self) -> &'static dyn Flavor {
        match self {
            Dialect::Athena | Dialect::Trino => &athena::Trino,
            Dialect::Spark => &spark::Spark,
            Dialect::DuckDb => &duckdb::DuckDb,
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Dialect {
    type Err = String;

    fn from_str(s: &str) -> Result<Dialect, String> {
        let lower = s.to_ascii_lowercase();
        match lower.as_str() {
            "presto" => return Ok(Dialect::Trino),
            "databricks" | "glue" | "emr" => return Ok(Dialect::Spark),
            _ => {}
        }
        Dialect::ALL
            .into_iter()
            .find(|d| d.name() == lower)
            .ok_or_else(|| format!("`{s}` is not a dialect: athena, trino, spark or duckdb"))
    }
}

/// The SQL text that differs between engines. Every method returns an expression or a
/// statement fragment; none of them depends on the policies.
pub(crate) trait Flavor: Sync {
    /// A quoted identifier (`"end"`, `` `end` ``). Standard SQL's double quotes by default.
    fn ident(&self, name: &str) -> String {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
    /// A string literal holding exactly `text`. Standard SQL's (a quote doubled) by default.
    fn string(&self, text: &str) -> String {
        format!("'{}'", text.replace('\'', "''"))
    }
    /// The type of character strings, for casts.
    fn text_type(&self) -> &'static str {
        "varchar"
    }
    /// Whether `expr` (a string, never NULL here) has a match of `pattern` (anchored with
    /// `^…$` when the whole string must match). Patterns use no backslash.
    fn matches(&self, expr: &str, pattern: &str) -> String;
    /// Integer division of a non-negative bigint by a positive constant.
    fn idiv(&self, expr: &str, divisor: u64) -> String;
    /// A number below 65536 as four lowercase hex digits.
    fn hex4(&self, expr: &str) -> String;
    /// The 1-based position of `needle` in `haystack`, 0 when absent.
    fn strpos(&self, haystack: &str, needle: &str) -> String {
        format!("strpos({haystack}, {needle})")
    }
    /// The non-NULL elements of `elements` (bigints, distinct where not NULL), as an array.
    fn compact_array(&self, elements: &[String]) -> String;
    /// `source` (a relation with its alias) joined to one row per element of `array`, the
    /// element named `column`.
    fn explode(&self, source: &str, array: &str, column: &str) -> String;
}

/// What a query is compiled for, besides the policies.
#[derive(Clone, Debug)]
pub struct QueryOptions {
    pub dialect: Dialect,
    /// The table or view to read: what [`ddl`] creates (`flow_logs`), or one with its columns.
    pub table: String,
    /// The date waivers are judged against: fixed into the query.
    pub today: time::Date,
    /// Only records ending at or after this Unix time.
    pub since: Option<u64>,
    /// Only records starting before this Unix time.
    pub until: Option<u64>,
}

/// The query computing every policy's verdict rows (see [`rows`]).
pub fn query(policies: &PolicySet, options: &QueryOptions) -> String {
    query::compile(policies, options)
}

/// What the rows of a query are tied to: flowgate's version, the row layout and a hash of the
/// policies (names and texts, in name order), the date and the window. `0.1.0/4f1c…`: the
/// version in plain sight, so a mismatch can say which side is older.
pub fn fingerprint(
    policies: &PolicySet,
    today: time::Date,
    since: Option<u64>,
    until: Option<u64>,
) -> String {
    let mut h = blake3::Hasher::new();
    let mut field = |bytes: &[u8]| {
        h.update(&(bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field(b"flowgate-sql");
    field(&rows::LAYOUT.to_le_bytes());
    field(env!("CARGO_PKG_VERSION").as_bytes());
    field(today.to_string().as_bytes());
    let window = |t: Option<u64>| t.map_or_else(|| "-".to_string(), |t| t.to_string());
    field(window(since).as_bytes());
    field(window(until).as_bytes());
    for p in policies.policies() {
        field(p.name.as_bytes());
        field(policies.files().source(p.file).as_bytes());
    }
    let hash = h.finalize().to_hex();
    format!("{}/{}", env!("CARGO_PKG_VERSION"), &hash[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(texts: &[(&str, &str)]) -> PolicySet {
        PolicySet::from_sources(texts.iter().copied()).unwrap()
    }

    #[test]
    fn dialects_parse_by_name_and_alias() {
        for d in Dialect::ALL {
            assert_eq!(d.name().parse::<Dialect>(), Ok(d));
        }
        assert_eq!("Presto".parse::<Dialect>(), Ok(Dialect::Trino));
        assert_eq!("databricks".parse::<Dialect>(), Ok(Dialect::Spark));
        assert!("oracle".parse::<Dialect>().is_err());
    }

    #[test]
    fn the_fingerprint_follows_policies_date_and_window_not_paths() {
        let day = time::macros::date!(2026 - 11 - 26);
        let a = set(&[("policies/a.toml", "[scope]\ndst = '10.0.0.0/8'\n")]);
        let moved = set(&[("elsewhere/a.toml", "[scope]\ndst = '10.0.0.0/8'\n")]);
        let other = set(&[("policies/a.toml", "[scope]\ndst = '10.0.0.0/16'\n")]);
        let fp = fingerprint(&a, day, None, None);
        assert!(
            fp.starts_with(concat!(env!("CARGO_PKG_VERSION"), "/")),
            "{fp}"
        );
        assert_eq!(fp, fingerprint(&moved, day, None, None));
        assert_ne!(fp, fingerprint(&other, day, None, None));
        assert_ne!(fp, fingerprint(&a, day.next_day().unwrap(), None, None));
        assert_ne!(fp, fingerprint(&a, day, Some(0), None));
        assert_ne!(fp, fingerprint(&a, day, None, Some(0)));
    }
}
