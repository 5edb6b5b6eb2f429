//! The rows a compiled query returns: one layout for every dialect, versioned.
//!
//! Every row has every column (NULL where a kind has nothing to say), so the result is one
//! table that any engine exports as CSV with a header or as JSON lines, and `check
//! --sql-results` reads either. `kind` says what a row is; `docs/scale-out.md` documents each
//! kind's columns, and this file is where the query and the reader agree on them. A change
//! to what a column means bumps [`LAYOUT`], which the fingerprint covers, so rows of another
//! layout are refused rather than misread.

/// The version of the row layout.
pub const LAYOUT: u32 = 2;

/// A column's SQL type: every value is a 64-bit integer or a string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    Int,
    Text,
}

/// The columns, in order: what the query selects and a CSV header names.
pub const COLUMNS: &[(&str, Type)] = &[
    ("layout", Type::Int),
    ("fingerprint", Type::Text),
    ("kind", Type::Text),
    ("policy", Type::Int),
    ("item", Type::Int),
    ("name", Type::Text),
    ("detail", Type::Text),
    ("protocol", Type::Int),
    ("client", Type::Text),
    ("server", Type::Text),
    ("server_port", Type::Int),
    ("records", Type::Int),
    ("packets", Type::Int),
    ("bytes", Type::Int),
    ("first_start", Type::Int),
    ("last_end", Type::Int),
    ("in_scope", Type::Int),
    ("allowed", Type::Int),
    ("already_rejected", Type::Int),
    ("waived", Type::Int),
    ("would_block", Type::Int),
    ("nodata", Type::Int),
    ("skipdata", Type::Int),
    ("problems", Type::Int),
    ("objects", Type::Int),
    ("interfaces", Type::Int),
    ("example", Type::Text),
    ("expired_waiver", Type::Int),
    ("server_by", Type::Text),
];

/// What a row is. The query orders rows by kind in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// What the query was compiled for: `name` the date waivers were judged against,
    /// `first_start`/`last_end` the `--since`/`--until` window, `detail` the dialect.
    Query,
    /// The run: `records` (parsed, whatever their time), `nodata`, `skipdata`, `problems`
    /// (rows that are not records), `objects`, `interfaces`, and the window `first_start` to
    /// `last_end` of the records with both times.
    Run,
    /// One format and kind of object: `name` the field list, `detail` `text` or `parquet`,
    /// `objects`, `records` (OK records in the window), `example` the first object.
    Format,
    /// An account, from the objects' S3 keys (`name`).
    Account,
    /// A region, from the objects' S3 keys (`name`).
    Region,
    /// Covered minutes `first_start` to `last_end` (Unix seconds of the first and last
    /// minute, both covered), as disjoint, non-adjacent runs.
    Span,
    /// An object holding rows that are not records (`name`, `problems`); the first 1000
    /// such objects by name.
    Problem,
    /// One policy (`policy`, its index in name order): `in_scope`, `allowed`,
    /// `already_rejected`, `waived`, `would_block`, the in-scope window.
    Policy,
    /// Allow rule `item` of `policy` (file order): `records` it matched.
    Allow,
    /// Waiver `item` of `policy`: `records` it matched.
    Waiver,
    /// A would-be-blocked conversation of `policy`: `protocol`, `client`, `server`,
    /// `server_port`, `records`, `packets`, `bytes`, `first_start`, `last_end`, `example`
    /// (the first object holding one of its records), `expired_waiver` (index),
    /// `server_by` (the strongest way one of its records' server was decided, as
    /// `docs/server.md` names it).
    Conversation,
}

impl Kind {
    pub const ALL: [Kind; 11] = [
        Kind::Query,
        Kind::Run,
        Kind::Format,
        Kind::Account,
        Kind::Region,
        Kind::Span,
        Kind::Problem,
        Kind::Policy,
        Kind::Allow,
        Kind::Waiver,
        Kind::Conversation,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Query => "query",
            Kind::Run => "run",
            Kind::Format => "format",
            Kind::Account => "account",
            Kind::Region => "region",
            Kind::Span => "span",
            Kind::Problem => "problem",
            Kind::Policy => "policy",
            Kind::Allow => "allow",
            Kind::Waiver => "waiver",
            Kind::Conversation => "conversation",
        }
    }

    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The rank rows are ordered by.
    pub fn rank(self) -> usize {
        self as usize
    }
}

/// Problem objects listed by name; the rest are only counted (as `check` keeps the first
/// 1000 problems).
pub const PROBLEM_OBJECTS: u64 = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_rank_in_order() {
        for (i, k) in Kind::ALL.into_iter().enumerate() {
            assert_eq!(Kind::from_name(k.name()), Some(k));
            assert_eq!(k.rank(), i);
        }
        let mut names: Vec<&str> = COLUMNS.iter().map(|c| c.0).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), COLUMNS.len(), "column names are unique");
    }
}
