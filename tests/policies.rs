//! This repository's own policies, tested the way a policy repository tests its own: through
//! the library, so `cargo test` fails when a policy in `policies/` would block traffic that
//! `fixtures/` shows.
//!
//! The date waivers are judged against is fixed: a test must not change verdict overnight
//! because the clock passed a waiver's `expires`.

use std::path::Path;

/// The date waivers are judged against.
const TODAY: &str = "2026-11-26";

fn check(policies: &str) -> flowgate::Check {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    flowgate::Check::new()
        .policies([root.join(policies)])
        .logs([root.join("fixtures")])
        .today(flowgate::date(TODAY).unwrap())
}

#[test]
fn policies_pass_on_fixtures() {
    check("policies")
        .run()
        .expect("policies and fixtures load")
        .assert_passes();
}

#[test]
fn a_policy_that_blocks_observed_traffic_fails_with_the_readable_report() {
    let report = check("examples/spec-only")
        .run()
        .expect("policies and fixtures load");
    let panic = std::panic::catch_unwind(|| report.assert_passes())
        .expect_err("spec-only blocks the nightly batch, so the test must fail");
    let message = panic
        .downcast_ref::<String>()
        .expect("the panic carries the report as a String");
    // The first line a test runner shows names the verdict and the blocked conversation.
    assert!(
        message.starts_with(
            "flowgate check failed (exit 1): FAIL: 1 of 1 policy fails: traffic would be blocked\n  FAIL retail-dedicated-line: would block tcp 10.0.2.15 -> 10.20.40.12:1433\n"
        ),
        "{message}"
    );
    // Then the report the CLI prints, whole.
    let cli = flowgate::output::human::render(&report, false);
    assert!(message.ends_with(&cli), "{message}");
    assert!(cli.contains("FAIL retail-dedicated-line"));
    assert!(cli.contains("tcp    10.0.2.15  10.20.40.12:1433"), "{cli}");
}

#[test]
fn the_month_end_example_fails_on_thin_evidence_not_traffic() {
    let report = check("examples/month-end").run().unwrap();
    let message = report.failure_message();
    assert_eq!(report.exit_code(), flowgate::report::EXIT_FAIL);
    assert!(
        message.contains("FAIL: 1 of 1 policy fails: evidence demands not met"),
        "{message}"
    );
    assert!(!message.contains("would block tcp"), "{message}");
}
