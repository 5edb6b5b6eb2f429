//! flowgate: test network allowlist policies against AWS VPC flow logs.
pub mod flowlog;
pub mod output;
pub mod report;
