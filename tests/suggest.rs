//! `flowgate suggest` on the repository's fixtures: the policy it writes parses, lints clean,
//! and passes `flowgate check` on the same logs, whatever the scope.

mod common;

use std::path::PathBuf;

use flowgate::policy::PolicySet;
use flowgate::suggest::{suggest, SuggestOptions};
use flowgate::Check;

fn fixtures() -> PathBuf {
    common::root().join("fixtures")
}

fn options(peer: &[&str]) -> SuggestOptions {
    SuggestOptions {
        logs: vec![fixtures()],
        peer: peer.iter().map(|p| p.parse().unwrap()).collect(),
        scope: vec![],
        widen_v4: None,
        widen_v6: None,
        name: "suggested".into(),
        log_format: None,
        threads: None,
    }
}

/// Writes the suggestion, lints it and checks it on the fixtures; returns the text.
fn suggest_lint_check(opts: &SuggestOptions) -> String {
    let s = suggest(opts).unwrap();
    assert_eq!(s.problems_total, 0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("suggested.toml");
    std::fs::write(&path, &s.toml).unwrap();
    let set =
        PolicySet::load(std::slice::from_ref(&path)).unwrap_or_else(|d| panic!("{d}\n{}", s.toml));
    let today = time::macros::date!(2026 - 11 - 26);
    let findings = flowgate::policy::lint(&set, today);
    assert!(
        findings.is_empty(),
        "{}\n{}",
        flowgate::diag::render(set.files(), &findings, false),
        s.toml
    );
    let report = Check::new()
        .policies([&path])
        .logs(opts.logs.clone())
        .today(today)
        .run()
        .unwrap();
    report.assert_passes();
    let p = &report.policies[0];
    assert!(p.allows.iter().all(|a| a.hits > 0), "{}", s.toml);
    assert_eq!(p.counts.allowed, s.records);
    s.toml
}

#[test]
fn the_retail_line_gives_the_two_rules_the_policy_needs() {
    let text = suggest_lint_check(&options(&["10.20.0.0/16"]));
    assert!(
        text.contains("[scope]\npeer = [\"10.20.0.0/16\"]\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "[[allow]]\nname = \"tcp 443 to the peer\"\npeer = [\"10.20.30.5\", \"10.20.30.6\"]\nprotocol = \"tcp\"\npeer_port = 443\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("# 1 conversation, 8 records, 8303945 bytes; first seen 2026-11-03T02:11:03Z, last seen 2026-11-03T02:13:33Z\n# peers seen: 10.20.40.12\n[[allow]]\nname = \"tcp 1433 to the peer\""),
        "{text}"
    );
    assert_eq!(text.matches("[[allow]]").count(), 2);
}

#[test]
fn output_is_deterministic_at_any_thread_count() {
    let mut a = options(&["0.0.0.0/0", "::/0"]);
    a.threads = Some(1);
    let mut b = a.clone();
    b.threads = Some(4);
    assert_eq!(suggest(&a).unwrap().toml, suggest(&b).unwrap().toml);
}

#[test]
fn everything_widened_still_lints_clean_and_passes() {
    let mut o = options(&["0.0.0.0/0", "::/0"]);
    o.widen_v4 = Some(24);
    o.widen_v6 = Some(48);
    let text = suggest_lint_check(&o);
    assert!(text.contains("\"10.20.30.0/24\""), "{text}");
    assert!(
        text.contains("local_port"),
        "servers on our side are local_port rules: {text}"
    );
    assert!(text.contains("protocol = \"icmp\""), "{text}");
}

#[test]
fn packet_addresses_and_other_scope_keys() {
    // The NAT gateway's records: the real ends are in pkt-srcaddr / pkt-dstaddr.
    let mut o = options(&["142.250.0.0/16", "151.101.0.0/16", "104.16.0.0/12"]);
    // Only the custom-format flow log has vpc-id and pkt-*; the default-format one would be
    // a problem (the scope needs fields it lacks).
    o.logs = vec![fixtures().join("AWSLogs/111122223333")];
    o.scope = vec![
        ("addresses".into(), "\"packet\"".into()),
        ("vpc".into(), "\"vpc-0a1b2c3d4e5f60718\"".into()),
    ];
    let text = suggest_lint_check(&o);
    assert!(
        text.contains("addresses = \"packet\"\nvpc = \"vpc-0a1b2c3d4e5f60718\"\n"),
        "{text}"
    );
    assert!(
        text.contains("peer = [\"104.18.32.7\", \"142.250.185.91\", \"151.101.2.132\"]"),
        "{text}"
    );
}

#[test]
fn a_bad_scope_key_is_an_error_that_points_at_it() {
    let mut o = options(&["10.20.0.0/16"]);
    o.scope = vec![("colour".into(), "\"blue\"".into())];
    let err = suggest(&o).unwrap_err().to_string();
    assert!(err.contains("colour"), "{err}");
}

#[test]
fn the_cli_round_trip_passes() {
    let dir = tempfile::tempdir().unwrap();
    let logs = fixtures();
    let out = common::flowgate(dir.path())
        .args([
            "suggest",
            "--scope-peer",
            "10.20.0.0/16",
            "--widen",
            "/24",
            "--name",
            "retail-line",
            "--logs",
        ])
        .arg(&logs)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("name = \"retail-line\""));
    assert!(text.contains("peer = [\"10.20.30.0/24\"]"), "{text}");
    let path = dir.path().join("retail-line.toml");
    std::fs::write(&path, &text).unwrap();
    let lint = common::flowgate(dir.path())
        .arg("lint")
        .arg("--policies")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(lint.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&lint.stdout)
        .ends_with("1 policy linted: 0 errors, 0 warnings; no expectations ([[expect]])\n"));
    let check = common::flowgate(dir.path())
        .args(["check", "--today", "2026-11-26", "--policies"])
        .arg(&path)
        .arg("--logs")
        .arg(&logs)
        .output()
        .unwrap();
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
}
