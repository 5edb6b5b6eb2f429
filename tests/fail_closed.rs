//! The check never goes green or silent on a policy that proves nothing or a run that cannot
//! be trusted (issue 17, part 1): allow-everything, broken and empty policies, missing logs,
//! run as a GitHub Actions step with every report asked for.

mod common;

use std::path::Path;

use common::{assert_no_panic, github_step, Repo};

const HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";

/// Accepted tcp records to the retail network: 443 to the settlement subnet, 1433 elsewhere.
fn logs(r: &Repo) {
    let mut text = format!("{HEADER}\n");
    for (i, (dst, port)) in [
        ("10.20.30.5", 443),
        ("10.20.30.6", 443),
        ("10.20.40.12", 1433),
    ]
    .into_iter()
    .enumerate()
    {
        let t = 1_762_041_600 + 60 * i;
        text.push_str(&format!(
            "2 111122223333 eni-1 10.0.1.{i} {dst} {} {port} 6 10 600 {t} {} ACCEPT OK\n",
            40000 + i,
            t + 60
        ));
    }
    r.raw("a.log", text.as_bytes());
}

/// What one run as a GitHub Actions step left: exit status, stdout, and every report.
struct Step {
    code: i32,
    stdout: String,
    summary: String,
    junit: String,
    json: serde_json::Value,
}

fn step(r: &Repo, args: &[&str]) -> Step {
    let summary = r.path("summary.md");
    let _ = std::fs::remove_file(&summary);
    let mut all = vec![
        "check",
        "--today",
        "2026-11-26",
        "--junit",
        "reports/flowgate.xml",
        "--json",
        "reports/flowgate.json",
    ];
    if !args.contains(&"--logs") {
        all.extend_from_slice(&["--logs", "logs"]);
    }
    all.extend_from_slice(args);
    std::fs::create_dir_all(r.path("reports")).unwrap();
    let out = github_step(r.dir.path(), &summary)
        .args(&all)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_no_panic(&stderr);
    let read = |p: &Path| {
        std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{} not written: {e}", p.display()))
    };
    Step {
        code: out.status.code().unwrap(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        summary: read(&summary),
        junit: read(&r.path("reports/flowgate.xml")),
        json: serde_json::from_str(&read(&r.path("reports/flowgate.json"))).unwrap(),
    }
}

impl Step {
    fn errors(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|l| l.starts_with("::error "))
            .collect()
    }

    /// The test case `name` of suite `suite`, as (outcome element, its `type` attribute).
    fn case(&self, suite: &str, name: &str) -> (String, String) {
        let doc = roxmltree::Document::parse(&self.junit).expect("valid JUnit");
        let case = doc
            .descendants()
            .filter(|n| n.has_tag_name("testsuite") && n.attribute("name") == Some(suite))
            .flat_map(|s| s.children())
            .find(|n| n.attribute("name") == Some(name))
            .unwrap_or_else(|| panic!("no case {suite}/{name} in\n{}", self.junit));
        let outcome = case
            .children()
            .find(|n| n.is_element() && !n.has_tag_name("system-out"));
        match outcome {
            Some(e) => (
                e.tag_name().name().to_string(),
                e.attribute("type").unwrap_or("").to_string(),
            ),
            None => ("success".into(), String::new()),
        }
    }
}

#[test]
fn an_allow_rule_that_opens_the_whole_scope_fails() {
    for (name, rule, line) in [
        ("every-peer", "peer = \"0.0.0.0/0\"\n", 4),
        ("every-port", "peer_port = \"0-65535\"\n", 4),
        (
            "two-halves",
            "protocol = \"tcp\"\npeer_port = \"0-1023\"\n[[allow]]\nname = \"high\"\nprotocol = \"tcp\"\npeer_port = \"1024-65535\"\n",
            11,
        ),
    ] {
        let r = Repo::empty();
        logs(&r);
        r.policy(
            name,
            &format!("[scope]\npeer = \"10.20.0.0/16\"\nprotocol = \"tcp\"\n[[allow]]\nname = \"all\"\n{rule}"),
        );
        let s = step(&r, &[]);
        assert_eq!(s.code, 1, "{name}: {}", s.stdout);
        let p = &s.json["policies"][0];
        assert_eq!(p["status"], "fail", "{name}");
        // Nothing would be blocked: the lint error alone fails it.
        assert_eq!(p["counts"]["would_block"], 0, "{name}");
        assert!(
            s.stdout.contains(&format!("FAIL {name} (policies/{name}.toml)")),
            "{}",
            s.stdout
        );
        assert!(
            s.stdout
                .contains("FAIL: 1 of 1 policy fails: lint errors\n"),
            "{}",
            s.stdout
        );
        assert_eq!(
            s.case(name, "lint: allow-covers-scope"),
            ("failure".into(), "allow-covers-scope".into())
        );
        let at_rule = format!("::error file=policies/{name}.toml,line={line},col=");
        assert!(
            s.errors().iter().any(|e| e.starts_with(&at_rule)),
            "{name}: no annotation at the rule:\n{}",
            s.stdout
        );
        assert!(s.summary.contains("### Policy mistakes (lint)"), "{}", s.summary);
        assert!(
            s.summary.contains(&format!("- **FAIL** {name} `allow-covers-scope` at policies/{name}.toml:{line}:")),
            "{}",
            s.summary
        );
        assert!(s.summary.starts_with("## flowgate: FAIL"), "{}", s.summary);
    }
}

#[test]
fn lint_warnings_stay_warnings() {
    let r = Repo::empty();
    logs(&r);
    r.policy(
        "retail",
        "[scope]\npeer = \"10.20.0.0/16\"\n[[allow]]\nname = \"subnet\"\npeer = \"10.20.0.0/17\"\n[[allow]]\nname = \"inside\"\npeer = \"10.20.30.0/24\"\n",
    );
    let s = step(&r, &[]);
    assert_eq!(s.code, 0, "{}", s.stdout);
    assert!(
        s.stdout
            .contains("    warn  rule-shadowed  line 6  allow `inside` adds nothing"),
        "{}",
        s.stdout
    );
    assert!(
        s.stdout.ends_with("flowgate: PASS: 1 of 1 policy passes\n"),
        "{}",
        s.stdout
    );
    assert_eq!(
        s.case("retail", "lint: rule-shadowed"),
        ("success".into(), String::new())
    );
    assert!(s
        .stdout
        .lines()
        .any(|l| l.starts_with("::warning file=policies/retail.toml,line=6,col=1,")));
}

#[test]
fn an_expired_waiver_fails_even_unused() {
    let r = Repo::empty();
    logs(&r);
    r.policy(
        "retail",
        "[scope]\npeer = \"10.20.0.0/16\"\n[[allow]]\nname = \"all used\"\npeer = [\"10.20.30.0/24\", \"10.20.40.0/24\"]\n\
         [[waive]]\nname = \"old\"\npeer = \"10.20.99.7\"\nreason = \"moved\"\nexpires = 2026-10-31\n",
    );
    let s = step(&r, &[]);
    assert_eq!(s.code, 1, "{}", s.stdout);
    assert_eq!(
        s.case("retail", "lint: waiver-expired"),
        ("failure".into(), "waiver-expired".into())
    );
    assert!(
        s.errors()
            .iter()
            .any(|e| e.starts_with("::error file=policies/retail.toml,line=10,col=11,")),
        "{}",
        s.stdout
    );
}

#[test]
fn a_broken_policy_still_writes_every_report() {
    let r = Repo::empty();
    logs(&r);
    r.policy("good", "[scope]\npeer = \"10.20.0.0/16\"\n[[allow]]\npeer = \"10.20.0.0/16\"\nprotocol = \"tcp\"\npeer_port = [443, 1433]\n");
    // A typo in a key, and a CIDR with host bits.
    r.policy(
        "typo",
        "[scope]\npeer = \"10.20.0.0/8\"\n[[allow]]\nname = \"settlement\"\npeer_prot = 443\n",
    );
    let s = step(&r, &[]);
    assert_eq!(s.code, 2, "{}", s.stdout);
    assert!(
        s.stdout
            .contains("UNTRUSTED: 1 policy file could not be loaded (exit 2)"),
        "{}",
        s.stdout
    );
    // One annotation per diagnostic, at its line and column.
    let errors = s.errors();
    assert_eq!(errors.len(), 2, "{}", s.stdout);
    assert!(
        errors[0].starts_with(
            "::error file=policies/typo.toml,line=2,col=8,title=flowgate%3A policy file%3A cidr-host-bits::`10.20.0.0/8` has host bits set%0Adid you mean `10.0.0.0/8` or `10.20.0.0/16`?"
        ),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].starts_with("::error file=policies/typo.toml,line=5,col=1,"),
        "{}",
        errors[1]
    );
    // JSON: the diagnostics, no verdict on any policy.
    let codes: Vec<&str> = s.json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["cidr-host-bits", "unknown-key"]);
    assert_eq!(s.json["policies"], serde_json::json!([]));
    // JUnit: an errored case for the broken file.
    assert_eq!(
        s.case("flowgate", "policy file: policies/typo.toml"),
        ("error".into(), "cidr-host-bits".into())
    );
    // The summary says why first.
    assert!(s.summary.starts_with("## flowgate: UNTRUSTED: 1 policy file could not be loaded (exit 2)\n\n### Why the check cannot be trusted"), "{}", s.summary);
    assert!(
        s.summary.contains("- **error** `unknown-key` at policies/typo.toml:5:1: unknown key \\`peer\\_prot\\` in \\[\\[allow\\]\\]; not known here; did you mean \\`peer\\_port\\`?"),
        "{}",
        s.summary
    );
}

#[test]
fn missing_logs_still_write_every_report() {
    let r = Repo::empty();
    r.policy("retail", "[scope]\npeer = \"10.20.0.0/16\"\n");
    for (logs, errors) in [
        (&["--logs", "nowhere"][..], 2),
        (&["--logs", "logs"][..], 1),
    ] {
        let s = step(&r, logs);
        assert_eq!(s.code, 2, "{}", s.stdout);
        assert_eq!(s.errors().len(), errors, "{}", s.stdout);
        assert!(
            s.stdout.contains("no flow-log archives found"),
            "{}",
            s.stdout
        );
        assert_eq!(
            s.case("flowgate", "logs: no-archives"),
            ("error".into(), "no-archives".into())
        );
        assert!(s.summary.contains("`no-archives`"), "{}", s.summary);
        assert_eq!(
            s.json["findings"].as_array().unwrap().last().unwrap()["code"],
            "no-archives"
        );
    }
    let s = step(&r, &["--logs", "nowhere"]);
    assert_eq!(
        s.case("flowgate", "logs: nowhere"),
        ("error".into(), "logs-unreadable".into())
    );
    assert!(
        s.errors()[0].starts_with(
            // Not a file GitHub can show: the message names it.
            "::error title=flowgate%3A logs%3A logs-unreadable::nowhere: cannot read"
        ),
        "{}",
        s.stdout
    );
}

#[test]
fn empty_policies_do_not_pass() {
    // A file with nothing in it (0 bytes, or only blank lines and comments) is an error naming
    // it: read as a policy it would have everything in scope and nothing allowed, which is a
    // forgotten save, never what was meant. Every report is still written, without a verdict.
    for (text, what) in [
        ("", "it is empty (0 bytes)"),
        ("# to do\n\n", "it holds only blank lines and comments"),
    ] {
        let r = Repo::empty();
        logs(&r);
        r.policy("empty", text);
        let s = step(&r, &[]);
        assert_eq!(s.code, 2, "{}", s.stdout);
        assert!(
            s.stdout
                .contains("UNTRUSTED: 1 policy file could not be loaded (exit 2)"),
            "{}",
            s.stdout
        );
        let errors = s.errors();
        assert_eq!(errors.len(), 1, "{}", s.stdout);
        assert!(
            errors[0].starts_with("::error file=policies/empty.toml,")
                && errors[0].contains("empty-policy-file")
                && errors[0].contains(what),
            "{}",
            errors[0]
        );
        assert_eq!(s.json["findings"][0]["code"], "empty-policy-file");
        assert_eq!(s.json["policies"], serde_json::json!([]));
        assert_eq!(
            s.case("flowgate", "policy file: policies/empty.toml"),
            ("error".into(), "empty-policy-file".into())
        );
    }
    // A scope without keys is all traffic, and with nothing allowed all of it would be blocked.
    let r = Repo::empty();
    logs(&r);
    r.policy("everything", "[scope]\n");
    let s = step(&r, &[]);
    assert_eq!(s.code, 1, "{}", s.stdout);
    assert_eq!(s.json["policies"][0]["counts"]["would_block"], 3);
    // A scope that sees nothing proves nothing.
    let r = Repo::empty();
    logs(&r);
    r.policy("nothing", "[scope]\npeer = \"192.0.2.0/24\"\n");
    let s = step(&r, &[]);
    assert_eq!(s.code, 1, "{}", s.stdout);
    assert_eq!(
        s.case("nothing", "evidence: traffic"),
        ("failure".into(), "evidence".into())
    );
    // A directory without policies: no verdict at all.
    let r = Repo::empty();
    logs(&r);
    let s = step(&r, &[]);
    assert_eq!(s.code, 2, "{}", s.stdout);
    assert!(
        s.stdout
            .contains("UNTRUSTED: no policy files found (exit 2)"),
        "{}",
        s.stdout
    );
}

#[test]
fn a_missing_field_names_its_version_and_the_remedy() {
    let r = Repo::empty();
    logs(&r);
    r.policy(
        "vpc",
        "[scope]\npeer = \"10.20.0.0/16\"\nvpc = \"vpc-0a1b\"\n",
    );
    let s = step(&r, &[]);
    assert_eq!(s.code, 2, "{}", s.stdout);
    let p = &s.json["policies"][0];
    let error = p["field_errors"][0].as_str().unwrap();
    assert!(
        error.contains("`vpc-id` is a version 3 field")
            && error.contains(
                "the flow log must be recreated with a custom format that includes `vpc-id`"
            ),
        "{error}"
    );
    assert!(!s.stdout.contains("allow_empty"), "{}", s.stdout);
    assert!(!s.summary.contains("allow\\_empty"), "{}", s.summary);
}

#[test]
fn lint_and_inspect_refuse_what_they_would_ignore() {
    let r = Repo::empty();
    r.policy("retail", "[scope]\npeer = \"10.20.0.0/16\"\n");
    let out = r.output(&["lint", "--logs", "nowhere", "--today", "2026-11-26"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--logs nowhere: no such file or directory")
    );
    let out = r.output(&["lint", "--logs", "logs", "--today", "2026-11-26"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = r.output(&["inspect", "--policies", "policies", "--logs", "logs"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--policies"));
}
