//! Athena and Trino: Trino's SQL for the query; for the table, Athena's Hive DDL with
//! partition projection, or Trino's Hive connector.
//!
//! Trino is strict about types (no implicit cast from a string to a number, `try_cast` for
//! casts that may fail), orders NULLs last unless told, and `/` on integers truncates.
//! Identifiers are double-quoted and string literals double their quotes; a backslash is an
//! ordinary character.

use super::ddl::{
    file_columns, parquet_type, view_columns, DdlError, DdlOptions, Part, Partitioning, Plan,
    TableFormat,
};
use super::Flavor;

/// The query text of Athena (engine version 3) and Trino.
pub(crate) struct Trino;

impl Flavor for Trino {
    fn matches(&self, expr: &str, pattern: &str) -> String {
        format!("regexp_like({expr}, {})", self.string(pattern))
    }

    fn idiv(&self, expr: &str, divisor: u64) -> String {
        format!("({expr} / {divisor})")
    }

    fn hex4(&self, expr: &str) -> String {
        format!("lpad(to_base({expr}, 16), 4, '0')")
    }

    fn compact_array(&self, elements: &[String]) -> String {
        format!("filter(ARRAY[{}], c -> c IS NOT NULL)", elements.join(", "))
    }

    fn explode(&self, source: &str, array: &str, column: &str) -> String {
        format!("{source}\n  CROSS JOIN UNNEST({array}) AS u ({column})")
    }
}

/// The data table's name and column list (Hive DDL: back-quoted names): text columns are
/// all strings (the query reads `-` itself), Parquet ones AWS's types.
fn columns(part: &Part) -> Vec<String> {
    let fields = part.format.columns().iter().map(|c| match c {
        crate::flowlog::Column::Known(f) => Some(*f),
        crate::flowlog::Column::Unknown(_) => None,
    });
    file_columns(&part.format)
        .iter()
        .zip(fields)
        .map(|(name, field)| {
            let ty = match part.kind {
                TableFormat::Text => "string",
                TableFormat::Parquet => parquet_type(field),
            };
            format!("`{name}` {ty}")
        })
        .collect()
}

fn single_part(plan: &Plan) -> (&Part, &str) {
    // A location always makes one part (`ddl::plan`); local files need no Athena table.
    (&plan.parts[0], plan.location.as_deref().unwrap_or_default())
}

/// Athena's `CREATE EXTERNAL TABLE` with partition projection (no partitions to add or
/// repair: Athena computes them from the key layout), and the view the query reads.
pub(crate) fn athena_ddl(options: &DdlOptions, plan: &Plan) -> Result<String, DdlError> {
    let (part, location) = single_part(plan);
    let location = format!("{}/", location.trim_end_matches('/'));
    let table = format!("{}_{}", options.table, part.kind.name());
    let projected = !options.accounts.is_empty();
    let mut partitions = Vec::new();
    let mut props: Vec<(String, String)> = Vec::new();
    if part.kind == TableFormat::Text {
        props.push(("skip.header.line.count".into(), "1".into()));
    }
    props.push(("projection.enabled".into(), "true".into()));
    let mut template = location.clone();
    if projected {
        partitions.push("`aws_account` string");
        partitions.push("`aws_region` string");
        props.push(("projection.aws_account.type".into(), "enum".into()));
        props.push((
            "projection.aws_account.values".into(),
            options.accounts.join(","),
        ));
        props.push(("projection.aws_region.type".into(), "enum".into()));
        props.push((
            "projection.aws_region.values".into(),
            options.regions.join(","),
        ));
        template.push_str(match options.partitioning {
            Partitioning::Date => "AWSLogs/${aws_account}/vpcflowlogs/${aws_region}/",
            Partitioning::Hive => {
                "AWSLogs/aws-account-id=${aws_account}/aws-service=vpcflowlogs/aws-region=${aws_region}/"
            }
        });
    }
    partitions.push("`day` string");
    let d = options.first_day;
    let (y, m, dd) = (d.year(), u8::from(d.month()), d.day());
    let (format, first) = match options.partitioning {
        Partitioning::Date => ("yyyy/MM/dd", format!("{y:04}/{m:02}/{dd:02}")),
        Partitioning::Hive => (
            "'year='yyyy'/month='MM'/day='dd",
            format!("year={y:04}/month={m:02}/day={dd:02}"),
        ),
    };
    props.extend([
        ("projection.day.type".to_string(), "date".to_string()),
        ("projection.day.format".into(), format.into()),
        ("projection.day.range".into(), format!("{first},NOW")),
        ("projection.day.interval".into(), "1".into()),
        ("projection.day.interval.unit".into(), "DAYS".into()),
    ]);
    template.push_str("${day}");
    props.push(("storage.location.template".into(), template));
    let storage = match part.kind {
        TableFormat::Text => "ROW FORMAT DELIMITED\nFIELDS TERMINATED BY ' '".to_string(),
        TableFormat::Parquet => "ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'\n\
             STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat'\n\
             OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat'"
            .to_string(),
    };
    let props: Vec<String> = props
        .iter()
        .map(|(k, v)| format!("  \"{k}\" = \"{}\"", v.replace('"', "\\\"")))
        .collect();
    Ok(format!(
        "-- flowgate {}: the table `flowgate sql --dialect athena` reads (partition projection:\n\
         -- nothing to load or repair). Run each statement on its own.\n\
         CREATE EXTERNAL TABLE IF NOT EXISTS {table} (\n  {}\n)\n\
         PARTITIONED BY ({})\n{storage}\nLOCATION '{}'\nTBLPROPERTIES (\n{}\n);\n{}",
        env!("CARGO_PKG_VERSION"),
        columns(part).join(",\n  "),
        partitions.join(", "),
        location.replace('\'', "\\'"),
        props.join(",\n"),
        view(options, part, &table)
    ))
}

/// Trino's Hive connector: an external table over the location (with
/// `hive.recursive-directories=true` for the date folders), and the view.
pub(crate) fn trino_ddl(options: &DdlOptions, plan: &Plan) -> Result<String, DdlError> {
    let f = &Trino;
    let (part, location) = single_part(plan);
    let table = format!("{}_{}", options.table, part.kind.name());
    let fields = part.format.columns().iter().map(|c| match c {
        crate::flowlog::Column::Known(f) => Some(*f),
        crate::flowlog::Column::Unknown(_) => None,
    });
    let columns: Vec<String> = file_columns(&part.format)
        .iter()
        .zip(fields)
        .map(|(name, field)| {
            let ty = match (part.kind, parquet_type(field)) {
                (TableFormat::Text, _) | (_, "string") => "varchar",
                (_, other) => other,
            };
            format!("{} {ty}", f.ident(name))
        })
        .collect();
    let with = match part.kind {
        TableFormat::Text => format!(
            "external_location = {}, format = 'TEXTFILE', textfile_field_separator = ' ', \
             skip_header_line_count = 1",
            f.string(location)
        ),
        TableFormat::Parquet => format!(
            "external_location = {}, format = 'PARQUET'",
            f.string(location)
        ),
    };
    Ok(format!(
        "-- flowgate {}: the table `flowgate sql --dialect trino` reads (Hive connector, with\n\
         -- hive.recursive-directories=true to read the date folders under the location).\n\
         CREATE TABLE IF NOT EXISTS {table} (\n  {}\n)\nWITH ({with});\n{}",
        env!("CARGO_PKG_VERSION"),
        columns.join(",\n  "),
        view(options, part, &table)
    ))
}

/// The view over the data table: `$path` is the object a row came from.
fn view(options: &DdlOptions, part: &Part, table: &str) -> String {
    format!(
        "CREATE OR REPLACE VIEW {} AS\nSELECT\n  {}\nFROM {table};\n",
        options.table,
        view_columns(&Trino, &part.format, "\"$path\"").join(",\n  ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(Trino.ident("end"), "\"end\"");
        assert_eq!(Trino.ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(Trino.string("it's \\"), "'it''s \\'");
    }
}
