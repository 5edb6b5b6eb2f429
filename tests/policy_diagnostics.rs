//! Rendered policy diagnostics, one small bad policy per code, snapshotted.
//!
//! Each file under `tests/cfg/` is named after the code it shows; `tests/cfg/lint/` holds the
//! ones only `lint` finds. The snapshots are what an author sees in a terminal (without
//! colour), so a change to any message, label or caret shows up in review.

use std::path::{Path, PathBuf};

use flowgate::diag::render;
use flowgate::policy::{expect, lint, PolicySet};
use time::macros::date;

/// The date lint judges waivers against, fixed so snapshots do not age.
const TODAY: time::Date = date!(2026 - 06 - 01);

fn load_error(paths: &[PathBuf]) -> String {
    match PolicySet::load(paths) {
        Ok(_) => panic!("{paths:?} loaded without errors"),
        Err(e) => e.to_string(),
    }
}

/// Loads `tests/cfg/<code>.toml` (or the directory `tests/cfg/<code>/`), checks that the
/// diagnostic it is named after is there, and snapshots the rendering.
fn check_load(code: &str) {
    let file = PathBuf::from(format!("tests/cfg/{code}.toml"));
    let path = if file.exists() {
        file
    } else {
        PathBuf::from(format!("tests/cfg/{code}"))
    };
    let text = load_error(&[path]);
    assert!(text.contains(&format!("error[{code}]")), "{text}");
    insta::assert_snapshot!(code, text);
}

fn check_lint(code: &str) {
    let path = PathBuf::from(format!("tests/cfg/lint/{code}.toml"));
    let set = PolicySet::load(&[path]).unwrap_or_else(|e| panic!("{e}"));
    let diags = lint(&set, TODAY);
    let text = render(set.files(), &diags, false);
    assert!(text.contains(&format!("[{code}]")), "{text}");
    insta::assert_snapshot!(format!("lint-{code}"), text);
}

/// Runs the expectations of `tests/cfg/expect/<code>.toml` and snapshots the ones that fail.
fn check_expect(code: &str) {
    let path = PathBuf::from(format!("tests/cfg/expect/{code}.toml"));
    let set = PolicySet::load(&[path]).unwrap_or_else(|e| panic!("{e}"));
    let diags: Vec<_> = set
        .policies()
        .iter()
        .flat_map(|p| expect::check(p, TODAY))
        .filter_map(|c| c.failure)
        .collect();
    let text = render(set.files(), &diags, false);
    assert!(text.contains(&format!("error[{code}]")), "{text}");
    insta::assert_snapshot!(format!("expect-{code}"), text);
}

macro_rules! cases {
    ($check:ident: $($name:ident => $code:literal,)*) => {
        $(
            #[test]
            fn $name() {
                $check($code);
            }
        )*
    };
}

cases! { check_load:
    empty_policy_file => "empty-policy-file",
    toml_syntax => "toml-syntax",
    unknown_key => "unknown-key",
    scope_only_key => "scope-only-key",
    wrong_type => "wrong-type",
    cidr_host_bits => "cidr-host-bits",
    invalid_address => "invalid-address",
    port_out_of_range => "port-out-of-range",
    port_range_reversed => "port-range-reversed",
    invalid_port => "invalid-port",
    unknown_protocol => "unknown-protocol",
    invalid_id => "invalid-id",
    invalid_value => "invalid-value",
    empty_list => "empty-list",
    peer_key_without_peer_scope => "peer-key-without-peer-scope",
    waiver_missing_expires => "waiver-missing-expires",
    waiver_missing_reason => "waiver-missing-reason",
    invalid_date => "invalid-date",
    invalid_duration => "invalid-duration",
    invalid_level => "invalid-level",
    invalid_name => "invalid-name",
    duplicate_policy_name => "duplicate-policy-name",
    invalid_utf8 => "invalid-utf8",
    invalid_flow => "invalid-flow",
    expect_missing_key => "expect-missing-key",
    duplicate_expect_name => "duplicate-expect-name",
    expect_addresses_mismatch => "expect-addresses-mismatch",
    expect_without_rules => "expect-without-rules",
}

cases! { check_expect:
    expect_failed => "expect-failed",
    expect_unreachable => "expect-unreachable",
    expect_undetermined => "expect-undetermined",
}

cases! { check_lint:
    lint_rule_outside_scope => "rule-outside-scope",
    lint_rule_shadowed => "rule-shadowed",
    lint_allow_covers_scope => "allow-covers-scope",
    lint_waiver_expired => "waiver-expired",
    lint_waiver_expiring => "waiver-expiring",
    lint_duplicate_rule_name => "duplicate-rule-name",
}

#[test]
fn io_error_names_the_path() {
    let text = load_error(&[PathBuf::from("tests/cfg/no-such-policy.toml")]);
    assert!(
        text.starts_with("error[io-error]: cannot read `tests/cfg/no-such-policy.toml`"),
        "{text}"
    );
}

#[test]
fn file_too_large_and_no_policies() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.toml");
    std::fs::write(&big, "#".repeat(2 << 20)).unwrap();
    let text = load_error(std::slice::from_ref(&big));
    let text = text.replace(&dir.path().display().to_string(), "<tmp>");
    insta::assert_snapshot!("file-too-large", text);

    std::fs::remove_file(&big).unwrap();
    let text = load_error(&[dir.path().to_path_buf()]);
    insta::assert_snapshot!("no-policies", text);
}

#[test]
fn every_mistake_of_every_file_at_once() {
    let text = load_error(&[
        PathBuf::from("tests/cfg/cidr-host-bits.toml"),
        PathBuf::from("tests/cfg/unknown-key.toml"),
        PathBuf::from("tests/cfg/valid.toml"),
        PathBuf::from("tests/cfg/waiver-missing-reason.toml"),
    ]);
    let codes: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("error["))
        .map(|l| &l[..l.find(']').unwrap()])
        .collect();
    assert_eq!(
        codes,
        [
            "cidr-host-bits",
            "cidr-host-bits",
            "cidr-host-bits",
            "unknown-key",
            "unknown-key",
            "unknown-key",
            "waiver-missing-reason",
            "waiver-missing-reason",
        ]
    );
}

#[test]
fn the_design_example_loads_and_lints_clean() {
    let set = PolicySet::load(&[PathBuf::from("tests/cfg/valid.toml")]).unwrap();
    let p = &set.policies()[0];
    assert_eq!(p.name, "retail-dedicated-line");
    assert_eq!(p.path, Path::new("tests/cfg/valid.toml"));
    assert_eq!(
        (p.line, p.allows[0].line, p.waivers[0].rule.line),
        (7, 10, 16)
    );
    assert_eq!(lint(&set, TODAY), []);
}

#[test]
fn every_code_has_a_documented_example() {
    let docs = std::fs::read_to_string("docs/diagnostics.md").unwrap();
    let mut codes: Vec<String> = Vec::new();
    for dir in ["tests/cfg", "tests/cfg/lint", "tests/cfg/expect"] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            if stem != "valid" && !path.is_dir() {
                codes.push(stem);
            }
        }
    }
    codes.extend(
        [
            "io-error",
            "file-too-large",
            "no-policies",
            "too-many-diagnostics",
        ]
        .map(String::from),
    );
    for code in codes {
        assert!(
            docs.contains(&format!("## `{code}`")),
            "docs/diagnostics.md lacks `{code}`"
        );
    }
}
