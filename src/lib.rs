//! flowgate: test network allowlist policies against AWS VPC flow logs.
pub mod diag;
pub mod flowlog;
pub mod policy;
pub mod report;
