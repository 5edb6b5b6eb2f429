//! The truth test for the server rule, on archives of any size: the share of records that
//! flowgate keys to the right server, against the truth the generator writes.
//!
//! ```text
//! cargo run --release --example generate -- bench --out /tmp/week --days 7 --truth /tmp/week-truth
//! cargo run --release --example generate -- bench --out /tmp/week-v5 --days 7 \
//!     --extra-fields "tcp-flags flow-direction"
//! cargo run --release --example truth -- --logs /tmp/week --truth /tmp/week-truth --flags /tmp/week-v5
//! ```
//!
//! `tests/generated.rs` runs the same measurement on small generated archives in `cargo test`.

#[path = "truth/measure.rs"]
mod measure;

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(about = "Measure how many records flowgate keys to the right server")]
struct Cli {
    /// The archives (a `generate bench` output)
    #[arg(long)]
    logs: PathBuf,
    /// The truth files (`generate bench --truth DIR`)
    #[arg(long)]
    truth: PathBuf,
    /// The same flows in a format with tcp-flags, to compare with where the flags decide
    #[arg(long)]
    flags: Option<PathBuf>,
    #[arg(long)]
    threads: Option<usize>,
    /// Fail (exit 1) below this share of right records, in percent
    #[arg(long)]
    at_least: Option<f64>,
}

fn main() -> anyhow::Result<std::process::ExitCode> {
    let cli = Cli::parse();
    let m = measure::measure(&cli.logs, &cli.truth, cli.flags.as_deref(), cli.threads)?;
    print!("{}", m.render());
    if cli.at_least.is_some_and(|min| m.truth.percent() < min) {
        println!("below {}%", cli.at_least.unwrap_or_default());
        return Ok(std::process::ExitCode::FAILURE);
    }
    Ok(std::process::ExitCode::SUCCESS)
}
