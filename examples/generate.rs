//! Seeded generator of realistic AWS VPC flow-log archives, in the S3 key layout and gzip text
//! form that flowgate reads.
//!
//! flowgate needs data it can be tested and measured on without anyone's real logs: a small
//! committed sample whose every notable record is known (`fixtures`), and a large archive shaped
//! like production for benchmarks (`bench`). Both must be reproducible, so the same seed gives
//! byte-identical files (own PRNG, fixed gzip header and level). It deliberately does not use the
//! flowgate library: the data must not inherit the parser's mistakes.
//!
//! ```text
//! cargo run --release --example generate -- fixtures --out fixtures
//! cargo run --release --example generate -- bench --out /tmp/bench --days 7 --mb-per-day 45
//! cargo run --release --example generate -- bench --out /tmp/bench-pq --delivery parquet
//! cargo run --release --example generate -- policy-sets --out /tmp/bench/sets \
//!     --flowgate target/release/flowgate --logs /tmp/bench/AWSLogs
//! ```

// The crate root of an example lives beside its modules' directory, hence the paths.
#[path = "generate/bench.rs"]
mod bench;
#[path = "generate/delivery.rs"]
mod delivery;
#[path = "generate/flowlog.rs"]
mod flowlog;
#[path = "generate/policy_sets.rs"]
mod policy_sets;
#[path = "generate/rng.rs"]
mod rng;
#[path = "generate/scenario.rs"]
mod scenario;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;

#[derive(Parser)]
#[command(about = "Write seeded, realistic VPC flow-log archives")]
enum Cli {
    /// The seed scenario's sample: 3 days of hourly archives (retailer line, batch job, ...)
    Fixtures {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// A large archive of 5-minute files, plus policies/ and policies10/
    Bench {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 7)]
        days: u32,
        /// Target gzip megabytes (10^6 bytes) per day
        #[arg(long, default_value_t = 45.0)]
        mb_per_day: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// First day, UTC
        #[arg(long, default_value = "2026-11-01")]
        start: String,
        /// Fields after AWS's default fourteen, space-separated (e.g. "tcp-flags
        /// flow-direction"): a custom format, as flow logs made for direction keys have
        #[arg(long, default_value = "")]
        extra_fields: String,
        /// How the flow log is delivered: gzip text (S3's default), Parquet with AWS's
        /// schema, or CloudWatch Logs objects that Firehose wrote to S3; the same records
        #[arg(long, value_enum, default_value = "text")]
        delivery: delivery::Delivery,
        /// The port the apps behind the load balancers serve on (e.g. 7311, a port no list
        /// of services knows)
        #[arg(long, default_value_t = 8080)]
        app_port: u16,
        /// Also write, for every archive, which end of each record is the server, to the
        /// same key path under this directory with `.truth` appended (line N of the truth
        /// file is about line N of the archive: `h` header, `s` srcaddr, `d` dstaddr,
        /// `-` NODATA/SKIPDATA)
        #[arg(long, value_name = "DIR")]
        truth: Option<PathBuf>,
    },
    /// Issue 21's four policy sets for the bench archive of the same seed: one policy of 3
    /// rules, 10 written by `flowgate suggest`, 100 single-host policies, 100 broad drafts
    PolicySets {
        /// Directory to write set-a-one/, set-b-suggested/, set-c-hosts/, set-d-drafts/ in
        /// (each replaced whole)
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The archive's first day, UTC: set b is suggested from that day alone
        #[arg(long, default_value = "2026-11-01")]
        start: String,
        /// The archive's app port (as given to `bench --app-port`)
        #[arg(long, default_value_t = 8080)]
        app_port: u16,
        /// The flowgate binary whose `suggest` writes set b (without it and --logs, set b is
        /// not written, and the output says so)
        #[arg(long, requires = "logs")]
        flowgate: Option<PathBuf>,
        /// The bench archive of this seed (its directory or its AWSLogs/)
        #[arg(long, requires = "flowgate")]
        logs: Option<PathBuf>,
    },
}

/// Midnight UTC of a `YYYY-MM-DD` day, as Unix time.
fn midnight(day: &str, flag: &str) -> Result<i64> {
    let date = time::macros::format_description!("[year]-[month]-[day]");
    let day = time::Date::parse(day, date).with_context(|| format!("{flag} wants YYYY-MM-DD"))?;
    Ok(day.midnight().assume_utc().unix_timestamp())
}

fn main() -> Result<()> {
    let began = Instant::now();
    let stats = match Cli::parse() {
        Cli::Fixtures { out, seed } => scenario::write(&out, seed)?,
        Cli::Bench {
            out,
            days,
            mb_per_day,
            seed,
            start,
            extra_fields,
            delivery,
            app_port,
            truth,
        } => {
            if truth.is_some() && delivery != delivery::Delivery::Text {
                anyhow::bail!("--truth is written next to text archives only (--delivery text)");
            }
            let format = flowlog::Format::with_extra_fields(&extra_fields)?;
            let start = midnight(&start, "--start")?;
            bench::write(&bench::BenchOpts {
                out,
                days,
                mb_per_day,
                seed,
                start,
                format,
                delivery,
                app_port,
                truth,
            })?
        }
        Cli::PolicySets {
            out,
            seed,
            start,
            app_port,
            flowgate,
            logs,
        } => {
            let written = policy_sets::write(&policy_sets::SetsOpts {
                out,
                seed,
                start: midnight(&start, "--start")?,
                app_port,
                suggest: flowgate.zip(logs),
            })?;
            for (dir, policies, rules) in written.sets {
                println!("{dir}: {policies} policies, {rules} allow rules");
            }
            for skipped in written.skipped {
                println!("{skipped}");
            }
            println!("{:.1} s", began.elapsed().as_secs_f64());
            return Ok(());
        }
    };
    let mb = |bytes: u64| bytes as f64 / 1e6;
    println!(
        "files {}  records {}  gz {:.2} MB  text {:.2} MB  ratio {:.2}  {:.1} s",
        stats.files,
        stats.records,
        mb(stats.gz_bytes),
        mb(stats.text_bytes),
        stats.text_bytes as f64 / stats.gz_bytes.max(1) as f64,
        began.elapsed().as_secs_f64()
    );
    Ok(())
}
