//! What the integration suites share: the real binary run the way CI runs it, scratch policy
//! repositories, archives written for a test, and the SARIF schema check.
//!
//! Every suite that runs flowgate starts here (`mod common;`), so there is one way to run the
//! binary (outside GitHub Actions unless a test asks to be a workflow step, never coloured),
//! one scratch repository ([`Repo`]: `policies/` and `logs/` in a temp dir, and one `check`
//! with its JSON report read back as a [`Run`]) and one gzip writer. Helpers that only one
//! suite needs stay in that suite (`hostile/support.rs` holds the hostile-input generators
//! and process probes). Each suite uses some of these, so unused ones are not warnings.

#![allow(dead_code, unused_imports)]

pub mod archive;
pub mod repo;
pub mod sarif_schema;

use std::path::Path;
use std::process::Command;

pub use archive::{gz, log_text};
pub use repo::{assert_no_panic, Repo, Run};

/// The repository itself: `policies/`, `fixtures/`, `examples/` as committed.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The binary, run in `dir`, outside GitHub Actions (whatever the machine running the tests
/// is) and without colour.
pub fn flowgate(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_flowgate"));
    c.current_dir(dir)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env("NO_COLOR", "1");
    c
}

/// The binary as one step of a GitHub Actions job runs it: `GITHUB_ACTIONS=true` and the job
/// summary appended to `summary`.
pub fn github_step(dir: &Path, summary: &Path) -> Command {
    let mut c = flowgate(dir);
    c.env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", summary);
    c
}
