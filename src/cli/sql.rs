//! `flowgate sql`: the check as one query for a SQL engine, or with `--ddl` the table the
//! query reads. Both are printed on stdout; `check --sql-results` takes the engine's rows.

use anyhow::Context;
use clap::Args;

use super::{parse_date, parse_time, print, CommonArgs};
use crate::check::Check;
use crate::sql::{DdlOptions, Dialect, Partitioning, QueryOptions, TableFormat};

#[derive(Debug, Args)]
pub struct SqlArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The engine: athena, trino, spark or duckdb.
    #[arg(long, value_parser = parse_dialect)]
    pub dialect: Dialect,
    /// Print the table definition (statements separated by `;`) instead of the query: a
    /// view over --location, or over the local --logs (their formats read from their
    /// headers).
    #[arg(long)]
    pub ddl: bool,
    /// The table or view the query reads and the DDL creates.
    #[arg(long, default_value = "flow_logs", value_name = "NAME")]
    pub table: String,
    /// Only records ending at or after this time (RFC 3339, YYYY-MM-DD or Unix seconds).
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub since: Option<u64>,
    /// Only records starting before this time (RFC 3339, YYYY-MM-DD or Unix seconds).
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub until: Option<u64>,
    /// The date waivers are judged against, fixed into the query [default: today, UTC].
    #[arg(long, value_parser = parse_date, value_name = "YYYY-MM-DD")]
    pub today: Option<time::Date>,
    /// DDL: where the objects are (s3://bucket/prefix/, or a folder or glob for DuckDB and
    /// Spark); without it, the local --logs.
    #[arg(long, value_name = "URL")]
    pub location: Option<String>,
    /// DDL: how the objects at --location store records: text or parquet (local --logs are
    /// looked at).
    #[arg(long, value_parser = parse_table_format, default_value = "text")]
    pub format: TableFormat,
    /// DDL (Athena): the key layout under --location: date (AWSLogs/<account>/vpcflowlogs/
    /// <region>/yyyy/mm/dd) or hive (aws-account-id=…/year=…/month=…/day=…).
    #[arg(long, value_parser = parse_partitioning, default_value = "date")]
    pub partitioning: Partitioning,
    /// DDL (Athena): the accounts under --location (with --regions: --location is then the
    /// prefix before AWSLogs/); without them, --location is one account's region.
    #[arg(long, value_delimiter = ',', value_name = "ID,...")]
    pub accounts: Vec<String>,
    /// DDL (Athena): the regions under --location, with --accounts.
    #[arg(long, value_delimiter = ',', value_name = "REGION,...")]
    pub regions: Vec<String>,
    /// DDL (Athena): the first day partition projection lists.
    #[arg(long, value_parser = parse_date, value_name = "YYYY-MM-DD", default_value = "2024-01-01")]
    pub first_day: time::Date,
}

pub fn run(args: SqlArgs) -> anyhow::Result<u8> {
    if args.ddl {
        let text = crate::sql::ddl(&DdlOptions {
            dialect: args.dialect,
            table: args.table,
            location: args.location,
            format: args.format,
            logs: args.common.logs,
            log_format: args.common.log_format,
            partitioning: args.partitioning,
            accounts: args.accounts,
            regions: args.regions,
            first_day: args.first_day,
        })?;
        print(&text)?;
        return Ok(0);
    }
    if !crate::sql::ddl::is_plain_name(&args.table) {
        anyhow::bail!(
            "`{}` is not a plain name for a table or view (letters, digits, `_`, `.` between parts)",
            args.table
        );
    }
    let policies = Check::new()
        .policies(args.common.policies)
        .load_policies()
        .context("cannot compile the query")?;
    let options = QueryOptions {
        dialect: args.dialect,
        table: args.table,
        today: args
            .today
            .unwrap_or_else(|| time::OffsetDateTime::now_utc().date()),
        since: args.since,
        until: args.until,
    };
    print(&crate::sql::query(&policies, &options))?;
    Ok(0)
}

fn parse_dialect(s: &str) -> Result<Dialect, String> {
    s.parse()
}

fn parse_table_format(s: &str) -> Result<TableFormat, String> {
    s.parse()
}

fn parse_partitioning(s: &str) -> Result<Partitioning, String> {
    s.parse()
}
