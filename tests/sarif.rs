//! `flowgate check --sarif` through the real binary: the file validates against the SARIF
//! 2.1.0 schema, its results sit at the policy file's lines under repository-relative URIs
//! wherever flowgate runs from, and runs that cannot be trusted still write it.

mod common;

use common::{sarif_schema, Repo};
use serde_json::Value;

const HEADER: &str =
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";

/// 2025-11-02T00:00:00Z
const T0: u64 = 1_762_041_600;

const POLICY: &str = r#"# the retail line
[policy]
name = "retail"

[scope]
peer = ["10.20.0.0/16"]

[[allow]]
name = "settlement API"
peer = ["10.20.30.0/24"]
protocol = "tcp"
peer_port = 443

[[waive]]
name = "old backup"
peer = "10.20.98.0/24"
reason = "was to be moved by October"
expires = 2026-10-31
"#;

/// The 1-based line of `needle` in the policy.
fn line_of(needle: &str) -> u64 {
    POLICY.lines().position(|l| l == needle).unwrap() as u64 + 1
}

fn record(src: &str, dst: &str, dport: u16) -> String {
    format!(
        "2 111122223333 eni-0aa11bb22cc33dd44 {src} {dst} 40001 {dport} 6 3 180 {T0} {} ACCEPT OK",
        T0 + 60
    )
}

/// A repository (it has `.git`) with the policy and an archive holding traffic the block
/// would cut, traffic only an expired waiver covers, and none for the allow rule.
fn repo() -> Repo {
    let r = Repo::empty();
    std::fs::create_dir_all(r.path(".git")).unwrap();
    r.policy("retail", POLICY);
    let archive = [
        HEADER.to_string(),
        record("10.0.2.15", "10.20.40.12", 1433),
        record("10.0.2.16", "10.20.98.9", 22),
    ]
    .join("\n");
    r.raw("a.log", format!("{archive}\n").as_bytes());
    r
}

/// (ruleId, uri, uriBaseId, line) of every result.
fn results(v: &Value) -> Vec<(String, String, String, u64)> {
    v["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let loc = &r["locations"][0]["physicalLocation"];
            (
                r["ruleId"].as_str().unwrap().to_string(),
                loc["artifactLocation"]["uri"].as_str().unwrap().to_string(),
                loc["artifactLocation"]["uriBaseId"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                loc["region"]["startLine"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn read(r: &Repo, rel: &str) -> Value {
    let text = std::fs::read_to_string(r.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    sarif_schema::valid(&text)
}

#[test]
fn results_sit_at_the_policy_lines_and_the_file_validates() {
    let r = repo();
    let run = r.check(&["--sarif", "flowgate.sarif"]);
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    // The JSON report of the same run has the two conversations the results speak of.
    assert_eq!(
        run.json["policies"][0]["conversations"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let v = read(&r, "flowgate.sarif");
    let uri = "policies/retail.toml".to_string();
    let at = |code: &str, line: u64| (code.to_string(), uri.clone(), "%SRCROOT%".to_string(), line);
    assert_eq!(
        results(&v),
        [
            at("would-block", line_of("[scope]")),
            at("waiver-expired", line_of("[[waive]]")),
            at("unused-allow", line_of("[[allow]]")),
        ]
    );
    let would_block = v["runs"][0]["results"][0]["message"]["text"]
        .as_str()
        .unwrap();
    assert!(
        would_block.contains("tcp 10.0.2.15 -> 10.20.40.12:1433 (server by port-range) (1 record)")
            && would_block.contains("waiver \"old backup\" expired"),
        "{would_block}"
    );
    assert_eq!(v["runs"][0]["invocations"][0]["executionSuccessful"], true);

    // The same problems from a subdirectory, with other relative paths: the same URIs.
    let sub = r
        .command(&[
            "check",
            "--policies",
            ".",
            "--logs",
            "../logs",
            "--today",
            "2026-11-26",
            "--sarif",
            "../sub.sarif",
        ])
        .current_dir(r.path("policies"))
        .output()
        .unwrap();
    assert_eq!(sub.status.code(), Some(1));
    let moved = read(&r, "sub.sarif");
    assert_eq!(results(&moved), results(&v));
    let prints = |v: &Value| {
        v["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["partialFingerprints"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(prints(&moved), prints(&v));
}

#[test]
fn a_passing_run_writes_a_file_without_results() {
    let r = repo();
    r.policy(
        "retail",
        "[scope]\npeer = [\"10.20.0.0/16\"]\n[[allow]]\nname = \"all used\"\npeer = [\"10.20.40.0/24\", \"10.20.98.0/24\"]\n",
    );
    let run = r.check(&["--sarif", "pass.sarif"]);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    let v = read(&r, "pass.sarif");
    assert_eq!(results(&v), []);
    assert_eq!(v["runs"][0]["invocations"][0]["executionSuccessful"], true);
}

#[test]
fn an_untrusted_run_still_writes_it_and_says_so() {
    let r = repo();
    let archive = [
        HEADER.to_string(),
        record("10.0.2.15", "10.20.40.12", 1433),
        "2 111122223333 eni-0aa11bb22cc33dd44 not-an-address".to_string(),
    ]
    .join("\n");
    r.raw("a.log", format!("{archive}\n").as_bytes());
    let run = r.check(&["--sarif", "untrusted.sarif"]);
    assert_eq!(run.code, Some(2), "{}", run.stdout);
    let v = read(&r, "untrusted.sarif");
    let invocation = &v["runs"][0]["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], false);
    let note = invocation["toolExecutionNotifications"][0]["message"]["text"]
        .as_str()
        .unwrap();
    assert!(
        note.starts_with("cannot read the evidence: logs/a.log:3: "),
        "{note}"
    );
    // What could be judged is still there.
    assert_eq!(results(&v)[0].0, "would-block");
}

#[test]
fn a_policy_that_does_not_load_is_a_result_at_its_line() {
    let r = repo();
    r.policy("broken", "[scope]\npeer = [\"10.20.0.1/16\"]\n");
    let run = r.check(&["--sarif", "broken.sarif"]);
    assert_eq!(run.code, Some(2), "{}{}", run.stdout, run.stderr);
    let v = read(&r, "broken.sarif");
    assert_eq!(
        results(&v),
        [(
            "cidr-host-bits".to_string(),
            "policies/broken.toml".to_string(),
            "%SRCROOT%".to_string(),
            2
        )]
    );
    let region = &v["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"];
    assert_eq!(region["startColumn"], 9);
    assert_eq!(v["runs"][0]["invocations"][0]["executionSuccessful"], false);
}
