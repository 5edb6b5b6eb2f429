//! `[[expect]]` and `flowgate explain` through the real binary: right and wrong expectations of
//! every verdict (IPv4 and IPv6, both directions, peer and local rules, waivers live and
//! expired, out of scope, rejected) through `lint` and `check`, with their exit codes, the
//! failing lines, one JUnit test case per expectation, annotations, SARIF and the job summary;
//! `explain` naming the deciding rule; and the ways an expectation could pass without running,
//! each of which must fail instead.

mod common;

use std::collections::BTreeMap;

use common::{flowgate, github_step, root, sarif_schema, Repo};
use serde_json::Value;

/// The rules both test policies share: a peer scope over IPv4 and IPv6, a peer rule, a local
/// rule with a direction, and a waiver that holds until 2026-12-31.
const RULES: &str = r#"
[scope]
peer = ["10.20.0.0/16", "2406:da14:8a3::/48"]

[[allow]]
name = "https"
peer = ["10.20.30.0/24", "2406:da14:8a3::/64"]
protocol = "tcp"
peer_port = 443

[[allow]]
name = "ops from the bastion"
local = "10.0.9.9"
protocol = "tcp"
peer_port = 22
direction = "egress"

[[waive]]
name = "agent"
peer = "10.20.99.7"
reason = "retired with NET-1300"
expires = 2026-12-31
"#;

/// Expectations that hold on 2026-11-26, one or more of every verdict.
const RIGHT: &str = r#"
[[expect]]
name = "https out"
flow = "tcp 10.0.2.15 -> 10.20.30.5:443"
verdict = "allowed"

[[expect]]
name = "https replies"
flow = "tcp 10.20.30.5:443 -> 10.0.2.15"
verdict = "allowed"

[[expect]]
name = "https over IPv6"
flow = "tcp [2001:db8::7]:50000 -> [2406:da14:8a3::10]:443"
verdict = "allowed"

[[expect]]
name = "its IPv6 replies"
flow = "tcp [2406:da14:8a3::10]:443 -> [2001:db8::7]"
verdict = "allowed"

[[expect]]
name = "ssh from the bastion"
flow = "tcp 10.0.9.9 -> 10.20.30.5:22"
direction = "egress"
verdict = "allowed"

[[expect]]
name = "ssh into the bastion's side"
flow = "tcp 10.0.9.9 -> 10.20.30.5:22"
direction = "ingress"
verdict = "blocked"

[[expect]]
name = "ssh from elsewhere"
flow = "tcp 10.0.2.15 -> 10.20.30.5:22"
verdict = "blocked"

[[expect]]
name = "dns over IPv6"
flow = "udp [2001:db8::7] -> [2406:da14:8a3::10]:53"
verdict = "blocked"

[[expect]]
name = "the agent"
flow = "tcp 10.20.99.7:9100 -> 10.0.2.15:40000"
verdict = "waived"

[[expect]]
name = "other networks"
flow = "tcp 10.0.2.15 -> 10.30.0.1:443"
verdict = "out of scope"

[[expect]]
name = "other IPv6 networks"
flow = "tcp [2001:db8::7] -> [2406:da14:8a4::1]:443"
verdict = "out of scope"

[[expect]]
name = "rejected already"
flow = "tcp 10.0.2.15 -> 10.20.30.5:22"
action = "REJECT"
verdict = "rejected"
"#;

/// Expectations that do not hold, each with the code it must fail with.
const WRONG: &[(&str, &str, &str)] = &[
    (
        "https out, closed",
        "flow = \"tcp 10.0.2.15 -> 10.20.30.5:443\"\nverdict = \"blocked\"",
        "expect-failed",
    ),
    (
        "ssh from elsewhere, open",
        "flow = \"tcp 10.0.2.15 -> 10.20.30.5:22\"\nverdict = \"allowed\"",
        "expect-failed",
    ),
    (
        "IPv6 https, out of scope",
        "flow = \"tcp [2001:db8::7] -> [2406:da14:8a3::10]:443\"\nverdict = \"out of scope\"",
        "expect-failed",
    ),
    (
        "the agent, allowed",
        "flow = \"tcp 10.20.99.7:9100 -> 10.0.2.15:40000\"\nverdict = \"allowed\"",
        "expect-failed",
    ),
    (
        "https replies, waived",
        "flow = \"tcp 10.20.30.5:443 -> 10.0.2.15\"\nverdict = \"waived\"",
        "expect-failed",
    ),
    (
        "other networks, allowed",
        "flow = \"tcp 10.0.2.15 -> 10.30.0.1:443\"\nverdict = \"allowed\"",
        "expect-unreachable",
    ),
    (
        "other IPv6 networks, blocked",
        "flow = \"tcp [2001:db8::7] -> [2406:da14:8a4::1]:443\"\nverdict = \"blocked\"",
        "expect-unreachable",
    ),
    (
        "rejected, blocked",
        "flow = \"tcp 10.0.2.15 -> 10.20.30.5:22\"\naction = \"REJECT\"\nverdict = \"blocked\"",
        "expect-unreachable",
    ),
    (
        "accepted, rejected",
        "flow = \"tcp 10.20.30.5:443 -> 10.0.2.15\"\nverdict = \"rejected\"",
        "expect-unreachable",
    ),
    (
        "ssh from the bastion, no direction",
        "flow = \"tcp 10.0.9.9 -> 10.20.30.5:22\"\nverdict = \"allowed\"",
        "expect-undetermined",
    ),
];

fn policy(name: &str, expectations: &str) -> String {
    format!("[policy]\nname = \"{name}\"\n{RULES}\n{expectations}")
}

fn wrong_text() -> String {
    WRONG
        .iter()
        .map(|(name, body, _)| format!("\n[[expect]]\nname = \"{name}\"\n{body}\n"))
        .collect()
}

/// The line of each `[[expect]]` header, by the name that follows it.
fn expect_lines(text: &str) -> BTreeMap<String, usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = BTreeMap::new();
    for (i, l) in lines.iter().enumerate() {
        if *l == "[[expect]]" {
            let name = lines[i + 1]
                .strip_prefix("name = \"")
                .and_then(|n| n.strip_suffix('"'))
                .unwrap();
            out.insert(name.to_string(), i + 1);
        }
    }
    out
}

const HEADER: &str =
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status flow-direction";

/// Traffic in both policies' scope, all of it allowed: the check on traffic passes, so what
/// fails is the expectations.
fn repo_with(policies: &[(&str, &str)]) -> Repo {
    let repo = Repo::empty();
    for (name, text) in policies {
        repo.policy(name, text);
    }
    repo.archive_with(
        "a.log.gz",
        HEADER,
        &[
            "5 111122223333 eni-1 10.0.2.15 10.20.30.5 50000 443 6 10 1000 1793600000 1793600060 ACCEPT OK egress",
            "5 111122223333 eni-1 10.20.30.5 10.0.2.15 443 50000 6 10 1000 1793600000 1793600060 ACCEPT OK ingress",
        ],
    );
    repo
}

/// `(code, line)` of every `error[...]` in rendered diagnostics, with the file they point into.
fn errors(text: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let Some(rest) = l.trim_start().strip_prefix("error[") else {
            continue;
        };
        let code = rest[..rest.find(']').unwrap()].to_string();
        let place = lines[i + 1].split("┌─ ").nth(1).unwrap_or("").to_string();
        out.push((code, place));
    }
    out
}

#[test]
fn right_expectations_of_every_verdict_pass_lint_and_check() {
    let text = policy("line", RIGHT);
    let repo = repo_with(&[("line", &text)]);
    let out = repo.output(&["lint", "--policies", "policies", "--today", "2026-11-26"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(
        stdout,
        "1 policy linted: 0 errors, 0 warnings; 12 expectations hold\n"
    );
    let run = repo.check(&["--junit", "junit.xml"]);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    assert!(
        run.stdout.contains("\n  expectations: 12 hold\n"),
        "{}",
        run.stdout
    );
    let listed = run.json["policies"][0]["expectations"].as_array().unwrap();
    assert_eq!(listed.len(), 12);
    assert!(listed.iter().all(|e| e["holds"] == true));
    // Every expectation is a passing test case of its own, named after it.
    let xml = std::fs::read_to_string(repo.path("junit.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let cases: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .filter_map(|n| n.attribute("name"))
        .filter(|n| n.starts_with("expect: "))
        .collect();
    let names: Vec<String> = expect_lines(&text).into_keys().collect();
    let mut sorted: Vec<&str> = cases.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        names
            .iter()
            .map(|n| format!("expect: {n}"))
            .collect::<Vec<_>>()
    );
}

#[test]
fn wrong_expectations_fail_lint_and_check_at_their_lines() {
    let text = policy("line", &wrong_text());
    let lines = expect_lines(&text);
    let repo = repo_with(&[("line", &text)]);

    let out = repo.output(&["lint", "--policies", "policies", "--today", "2026-11-26"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let want: Vec<(String, String)> = WRONG
        .iter()
        .map(|(name, _, code)| {
            (
                code.to_string(),
                format!("policies/line.toml:{}:1", lines[*name]),
            )
        })
        .collect();
    assert_eq!(errors(&stdout), want, "{stdout}");
    assert!(stdout.ends_with(&format!(
        "1 policy linted: {n} errors, 0 warnings; {n} of {n} expectations fail\n",
        n = WRONG.len()
    )));
    // What was decided instead, and why, in the policy's terms.
    for says in [
        "expectation `https out, closed` expects blocked; the policy decides allowed by allow rule `https` (line 7)",
        "expectation `ssh from elsewhere, open` expects allowed; the policy decides blocked: no allow rule matches; nearest: `https` (line 7) allows `peer_port` 443, not 22",
        "expectation `the agent, allowed` expects allowed; the policy decides waived by waiver `agent` (line 20), until 2026-12-31",
        "expectation `other networks, allowed` expects allowed, which no record of this flow can reach; the policy decides out of scope: [scope] `peer` 10.20.0.0/16, 2406:da14:8a3::/48, not 10.0.2.15 or 10.30.0.1",
        "expectation `ssh from the bastion, no direction` cannot be judged: its verdict depends on `direction`, which it does not give",
    ] {
        assert!(stdout.contains(says), "{says}\n{stdout}");
    }

    let summary = repo.path("summary.md");
    let out = github_step(repo.dir.path(), &summary)
        .args([
            "check",
            "--policies",
            "policies",
            "--logs",
            "logs",
            "--today",
            "2026-11-26",
            "--junit",
            "junit.xml",
            "--sarif",
            "out.sarif",
            "--json",
            "report.json",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    common::assert_no_panic(&String::from_utf8_lossy(&out.stderr));

    // One JUnit test case per expectation, each failing with its code.
    let xml = std::fs::read_to_string(repo.path("junit.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let cases: Vec<(String, String)> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .filter(|n| n.attribute("name").is_some_and(|s| s.starts_with("expect")))
        .map(|n| {
            let failure = n.children().find(|c| c.has_tag_name("failure")).unwrap();
            (
                n.attribute("name").unwrap().to_string(),
                failure.attribute("type").unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = WRONG
        .iter()
        .map(|(name, _, code)| (format!("expect: {name}"), code.to_string()))
        .collect();
    assert_eq!(cases, want);

    // An annotation at each expectation's line; GitHub shows 10 errors per step, so past
    // those the last one names the rest.
    for (name, ..) in WRONG {
        let at = format!(
            "::error file=policies/line.toml,line={},col=1,title=flowgate%3A line expect%3A {}",
            lines[*name],
            name.replace(',', "%2C")
        );
        let named = format!("%0Aflowgate: line expect: {name}");
        assert!(
            stdout.contains(&at) || stdout.contains(&named),
            "{at}\n{stdout}"
        );
    }
    assert!(
        stdout.contains("flowgate: FAIL: 1 of 1 policy fails: expectations do not hold"),
        "{stdout}"
    );

    // A SARIF result at each line, valid against the schema.
    let sarif = sarif_schema::valid(&std::fs::read_to_string(repo.path("out.sarif")).unwrap());
    let mut results: Vec<(String, u64)> = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["ruleId"].as_str().unwrap().starts_with("expect-"))
        .map(|r| {
            (
                r["ruleId"].as_str().unwrap().to_string(),
                r["locations"][0]["physicalLocation"]["region"]["startLine"]
                    .as_u64()
                    .unwrap(),
            )
        })
        .collect();
    results.sort_by_key(|r| r.1);
    let want: Vec<(String, u64)> = WRONG
        .iter()
        .map(|(name, _, code)| (code.to_string(), lines[*name] as u64))
        .collect();
    assert_eq!(results, want);

    // A line in the job summary for each, and in the JSON both the list and the findings.
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("### Expectations that do not hold"), "{md}");
    for (name, ..) in WRONG {
        assert!(
            md.contains(&format!("policies/line.toml:{}:1", lines[*name])),
            "{name}\n{md}"
        );
    }
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(repo.path("report.json")).unwrap()).unwrap();
    assert_eq!(json["policies"][0]["status"], "fail");
    let origins = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["origin"] == "expect")
        .count();
    assert_eq!(origins, WRONG.len());
}

#[test]
fn one_failing_expectation_fails_only_its_policy() {
    let right = policy("right", RIGHT);
    let wrong = policy(
        "wrong",
        &wrong_text()[..wrong_text().find("\n[[expect]]\nname = \"ssh").unwrap()],
    );
    let repo = repo_with(&[("right", &right), ("wrong", &wrong)]);
    let run = repo.check(&[]);
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    let status: Vec<(&str, &str)> = run.json["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["status"].as_str().unwrap()))
        .collect();
    assert_eq!(status, [("right", "pass"), ("wrong", "fail")]);
}

#[test]
fn waivers_are_judged_against_today() {
    let text = policy("line", RIGHT);
    let repo = repo_with(&[("line", &text)]);
    let lint = |today: &str| {
        let out = repo.output(&["lint", "--policies", "policies", "--today", today]);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    // The waiver's last day: it still holds.
    let (code, out) = lint("2026-12-31");
    assert_eq!(code, Some(0), "{out}");
    // The day after: the agent is blocked, and `waived` can no longer be reached at all.
    let (code, out) = lint("2027-01-01");
    assert_eq!(code, Some(1), "{out}");
    let lines = expect_lines(&text);
    let codes = errors(&out);
    assert!(
        codes.contains(&(
            "expect-unreachable".into(),
            format!("policies/line.toml:{}:1", lines["the agent"])
        )),
        "{out}"
    );
    assert!(
        out.contains("waiver `agent` (line 20) matches, but expired on 2026-12-31"),
        "{out}"
    );
    assert!(
        out.contains("every waiver of the policy expired before 2027-01-01"),
        "{out}"
    );
}

#[test]
fn a_verdict_must_hold_for_every_ephemeral_port() {
    let text = "[scope]\ndst = '10.0.0.0/8'\n\n[[allow]]\nname = 'linux clients'\nsrc_port = '32768-60999'\ndst_port = 443\n\n[[expect]]\nname = 'https from any client'\nflow = 'tcp 192.0.2.1 -> 10.0.0.1:443'\nverdict = 'allowed'\n";
    let repo = repo_with(&[("p", text)]);
    let out = repo.output(&["lint", "--policies", "policies", "--today", "2026-11-26"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("for source ports 1024-32767, 61000-65535, the policy decides blocked"),
        "{stdout}"
    );
}

#[test]
fn explain_names_the_deciding_rule() {
    let text = policy("line", RIGHT);
    let repo = repo_with(&[("line", &text)]);
    let explain = |args: &[&str]| {
        let mut all = vec!["explain", "--policies", "policies"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--today", "2026-11-26"]);
        let out = repo.output(&all);
        common::assert_no_panic(&String::from_utf8_lossy(&out.stderr));
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, _) = explain(&["tcp 10.20.30.5:443 -> 10.0.2.15"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        out,
        "tcp 10.20.30.5:443 -> 10.0.2.15:1024-65535 (action ACCEPT); waivers judged on 2026-11-26\n\n\
         line: allowed\n  policies/line.toml:4\n  in scope, and its action is judged\n  \
         allowed by allow rule `https` (policies/line.toml:7)\n"
    );
    let (_, out, _) = explain(&["tcp 10.0.2.15 -> 10.20.30.5:22"]);
    assert!(out.contains("line: blocked\n"), "{out}");
    assert!(out.contains("nearest: allow rule `https` (policies/line.toml:7), which wants\n    `peer_port` 443, not 22\n"), "{out}");
    let (_, out, _) = explain(&["tcp 10.20.99.7:9100 -> 10.0.2.15:40000"]);
    assert!(
        out.contains("waived by waiver `agent` (policies/line.toml:20), until 2026-12-31"),
        "{out}"
    );
    let (_, out, _) = explain(&["tcp [2001:db8::7] -> [2406:da14:8a4::1]:443"]);
    assert!(out.contains("line: out of scope\n  policies/line.toml:4\n  out of scope: [scope] (line 4) wants\n    `peer` 10.20.0.0/16, 2406:da14:8a3::/48, not 2001:db8::7 or 2406:da14:8a4::1\n"), "{out}");
    let (_, out, _) = explain(&["tcp 10.0.2.15 -> 10.20.30.5:22", "--action", "REJECT"]);
    assert!(out.contains("line: rejected\n"), "{out}");

    // A decision that depends on a field not given: exit 1, and the flag to pass.
    let (code, out, _) = explain(&["tcp 10.0.9.9 -> 10.20.30.5:22"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("matches on `direction`, which the flow does not give: pass --direction"),
        "{out}"
    );
    let (code, out, _) = explain(&["tcp 10.0.9.9 -> 10.20.30.5:22", "--direction", "egress"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("allowed by allow rule `ops from the bastion` (policies/line.toml:13)"),
        "{out}"
    );

    // The flow may come before the flags, too; JSON for tools.
    let out = repo.output(&[
        "explain",
        "tcp 10.0.2.15 -> 10.20.30.5:22",
        "--policies",
        "policies",
        "--json",
        "--today",
        "2026-11-26",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["policies"][0]["decision"], "blocked");
    let piece = &v["policies"][0]["pieces"][0];
    assert_eq!(piece["nearest"]["rule"]["name"], "https");
    assert_eq!(piece["nearest"]["rule"]["line"], 7);
    assert_eq!(piece["nearest"]["misses"][0]["key"], "peer_port");
    assert_eq!(piece["nearest"]["misses"][0]["has"], "22");

    // A malformed flow: exit 2, the caret under the mistake.
    let (code, _, err) = explain(&["tcp 10.0.2.15 -> 10.20.30.5:70000"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("error[invalid-flow]: port 70000 is out of range\n  tcp 10.0.2.15 -> 10.20.30.5:70000\n                              ^^^^^ ports are 0 to 65535\n"), "{err}");
    let (code, _, err) = explain(&["tcp 10.0.2.15 -> 10.20.30.5:22", "--interface", "eth0"]);
    assert_eq!(code, Some(2), "{err}");
    let out = flowgate(repo.dir.path())
        .args([
            "explain",
            "--policies",
            "nowhere",
            "tcp 10.0.2.15 -> 10.20.30.5:22",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn expectations_cannot_pass_without_running() {
    // A misspelt section is an error, not expectations quietly left out.
    let repo = repo_with(&[(
        "p",
        "[scope]\ndst = '10.20.0.0/16'\n[[expects]]\nname = 'a'\nflow = 'tcp 10.0.0.1 -> 10.20.0.1:22'\nverdict = 'allowed'\n",
    )]);
    let out = repo.output(&["lint", "--policies", "policies"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("error[unknown-key]: unknown key `expects` in a policy file"),
        "{err}"
    );
    assert!(err.contains("did you mean `expect`?"), "{err}");
    let run = repo.check(&[]);
    assert_eq!(run.code, Some(2), "{}", run.stdout);

    // Expectations kept in a file of their own would test a policy that blocks everything.
    let repo = repo_with(&[
        ("retail", "[scope]\npeer = '10.20.0.0/16'\n[[allow]]\npeer_port = 443\n"),
        (
            "retail-tests",
            "[[expect]]\nname = 'ssh closed'\nflow = 'tcp 10.0.0.1 -> 10.20.0.1:22'\nverdict = 'blocked'\n",
        ),
    ]);
    let out = repo.output(&["lint", "--policies", "policies"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error[expect-without-rules]"));

    // Expectations that all hold prove nothing about the traffic: no record in scope still
    // fails the check, as it does without expectations.
    let text = policy("line", RIGHT);
    let repo = Repo::empty();
    repo.policy("line", &text).archive_with(
        "a.log.gz",
        HEADER,
        &["5 111122223333 eni-1 10.0.2.15 10.99.0.1 50000 443 6 10 1000 1793600000 1793600060 ACCEPT OK egress"],
    );
    let run = repo.check(&[]);
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    let demands = run.json["policies"][0]["demands"].as_array().unwrap();
    assert!(demands
        .iter()
        .any(|d| d["kind"] == "traffic" && d["status"] == "fail"));
    assert!(run.json["policies"][0]["expectations"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["holds"] == true));

    // A policy set where another file does not load never passes on the expectations that ran.
    let repo = repo_with(&[("line", &text), ("broken", "[scope\n")]);
    let out = repo.output(&["lint", "--policies", "policies", "--today", "2026-11-26"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(repo.check(&[]).code, Some(2));

    // No expectations at all is said, not passed over in silence.
    let repo = repo_with(&[("p", "[scope]\ndst = '10.20.0.0/16'\n")]);
    let out = repo.output(&["lint", "--policies", "policies"]);
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("; no expectations ([[expect]])\n"));
}

#[test]
fn the_bundled_policies_pin_the_seed_scenario() {
    let lint = |dir: &str| {
        flowgate(root())
            .args(["lint", "--policies", dir, "--today", "2026-11-26"])
            .output()
            .unwrap()
    };
    for (dir, n) in [
        ("policies", 13),
        ("examples/month-end", 13),
        ("examples/spec-only", 11),
    ] {
        let out = lint(dir);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{dir}: {stdout}");
        assert!(
            stdout.ends_with(&format!("; {n} expectations hold\n")),
            "{dir}: {stdout}"
        );
    }
    // The too-wide settlement rule: lint and check fail at the expectation's line.
    let out = lint("examples/too-wide");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert_eq!(
        errors(&stdout),
        [(
            "expect-failed".to_string(),
            "examples/too-wide/retail-dedicated-line.toml:57:1".to_string()
        )]
    );
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let out = flowgate(root())
        .args([
            "check",
            "--policies",
            "examples/too-wide",
            "--today",
            "2026-11-26",
            "--junit",
        ])
        .arg(&junit)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let expects: Vec<roxmltree::Node> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .filter(|n| {
            n.attribute("name")
                .is_some_and(|s| s.starts_with("expect: "))
        })
        .collect();
    assert_eq!(expects.len(), 13);
    let failed: Vec<&str> = expects
        .iter()
        .filter(|n| n.children().any(|c| c.has_tag_name("failure")))
        .map(|n| n.attribute("name").unwrap())
        .collect();
    assert_eq!(
        failed,
        ["expect: 443 is open to the settlement subnet only"]
    );
    // The repository's own check still passes, expectations included.
    let out = flowgate(root())
        .args(["check", "--today", "2026-11-26"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// One expectation is counted in the singular, by lint and in the check's report.
#[test]
fn one_expectation_is_singular() {
    let one = "\n[[expect]]\nname = \"https out\"\nflow = \"tcp 10.0.2.15 -> 10.20.30.5:443\"\nverdict = \"allowed\"\n";
    let repo = repo_with(&[("line", &policy("line", one))]);
    let text = |args: &[&str]| {
        let out = repo.output(args);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let lint = text(&["lint", "--policies", "policies", "--today", "2026-11-26"]);
    assert!(
        lint.ends_with("1 policy linted: 0 errors, 0 warnings; 1 expectation holds\n"),
        "{lint}"
    );
    let check = text(&["check", "--logs", "logs", "--today", "2026-11-26"]);
    assert!(check.contains("\n  expectations: 1 holds\n"), "{check}");

    let wrong = one.replace("\"allowed\"", "\"blocked\"");
    let repo = repo_with(&[("line", &policy("line", &wrong))]);
    let out = repo.output(&["lint", "--policies", "policies", "--today", "2026-11-26"]);
    let lint = String::from_utf8_lossy(&out.stdout);
    assert!(
        lint.ends_with("1 policy linted: 1 error, 0 warnings; 1 of 1 expectation fails\n"),
        "{lint}"
    );
    let out = repo.output(&["check", "--logs", "logs", "--today", "2026-11-26"]);
    let check = String::from_utf8_lossy(&out.stdout);
    assert!(
        check.contains("\n  expectations: 1 of 1 does not hold:\n"),
        "{check}"
    );
}

/// A flow without a port whose verdict differs between ports is not decided: exit 1, as for a
/// field not given (README, docs/policy.md), so `explain FLOW && ...` never reads "it depends"
/// as a decision. With the port, exit 0.
#[test]
fn explain_exits_1_when_the_decision_depends_on_the_ports() {
    let policies = common::root().join("policies");
    let explain = |flow: &str| {
        let out = flowgate(common::root())
            .args(["explain", "--today", "2026-11-26", "--policies"])
            .arg(&policies)
            .arg(flow)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = explain("tcp 10.0.2.15 -> 10.20.40.12");
    assert!(
        out.contains("retail-dedicated-line: depends on the ports\n"),
        "{out}"
    );
    assert_eq!(code, Some(1), "{out}");
    let (code, out) = explain("tcp 10.0.2.15 -> 10.20.40.12:1433");
    assert!(out.contains("retail-dedicated-line: allowed\n"), "{out}");
    assert_eq!(code, Some(0), "{out}");
}
