//! The `flowgate` binary: parse, run, exit. Everything else is in the library.
use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = flowgate::cli::Cli::parse();
    std::process::ExitCode::from(flowgate::cli::run(cli))
}
