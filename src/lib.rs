//! flowgate: test network allowlist policies against AWS VPC flow logs.
//!
//! Someone is about to close a network path. flowgate answers "is anything real still using
//! what gets closed?" by replaying flow logs against the planned allowlist, written as TOML
//! policies, and reporting every conversation that is in scope, was accepted, and matches no
//! allow rule: traffic that would be blocked.
//!
//! The pipeline: [`source`] finds archives, [`flowlog`] reads them, [`policy`] loads and
//! compiles policies, [`engine`] makes one parallel pass, [`report`] sorts the result and owns
//! the exit status, [`output`] writes it for people and machines. [`Check`] ties them
//! together; it is what a policy repository's own `cargo test` calls. Imports run one way,
//! down that list ([`text`] sits below everything); `docs/architecture.md` has the data flow,
//! a map of every file and where new things go.

// `unsafe` is allowed only where it is needed, each with a SAFETY note: SSE2 byte
// classification in `flowlog/record/fast.rs`, the prefetch of `engine/conversations/table.rs`,
// the slot index of `engine/server/table.rs`.
#![deny(unsafe_code)]

pub mod check;
pub mod cli;
pub mod diag;
pub mod engine;
pub mod flowlog;
pub mod manifest;
pub mod output;
pub mod policy;
pub mod report;
pub mod sample;
pub mod source;
pub mod sql;
pub mod suggest;
pub mod text;

pub use check::{Check, Error};
/// A `YYYY-MM-DD` date for [`Check::today`], so a policy repository's test needs no date
/// crate of its own: `flowgate::date("2026-11-26")`.
pub use cli::parse_date as date;
pub use report::Report;
