//! `check --base REV` against the real binary and a real `git`, in scratch repositories: the
//! `diff` object must equal the difference of two separate checks, one of each commit.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

const HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";

/// Runs git in `dir`, asserting success; returns stdout.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=flowgate", "-c", "user.email=t@example.com"])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn commit(dir: &Path, message: &str) -> String {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "--allow-empty", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

/// `check` in `dir` with the JSON report; (exit status, report, stdout).
fn check(dir: &Path, extra: &[&str]) -> (i32, Value, String) {
    let json = dir.join("report.json");
    let _ = std::fs::remove_file(&json);
    let out = common::flowgate(dir)
        .args(["check", "--logs", "logs", "--today", "2026-11-26", "--json"])
        .arg(&json)
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    common::assert_no_panic(&String::from_utf8_lossy(&out.stderr));
    let doc = serde_json::from_str(&std::fs::read_to_string(&json).expect("JSON report written"))
        .unwrap();
    (out.status.code().unwrap(), doc, stdout)
}

/// One accepted tcp record: client:port -> server:port at minute `m`.
fn rec(client: &str, cport: u16, server: &str, sport: u16, m: u64) -> String {
    let t = 1_762_041_600 + 60 * m;
    format!(
        "2 111122223333 eni-1 {client} {server} {cport} {sport} 6 10 800 {t} {} ACCEPT OK\n",
        t + 60
    )
}

fn logs(dir: &Path) {
    let mut text = format!("{HEADER}\n");
    for m in 0..5 {
        text += &rec("10.0.1.10", 40000 + m as u16, "10.20.30.5", 443, m); // settlement
        text += &rec("10.0.1.11", 41000 + m as u16, "10.20.30.6", 443, m);
    }
    text += &rec("10.0.2.15", 51566, "10.20.40.12", 1433, 7); // the nightly batch
    text += &rec("10.0.2.16", 51567, "10.20.40.12", 1433, 8);
    text += &rec("10.0.3.1", 52000, "10.30.0.9", 22, 9); // the partner line
    text += &rec("10.0.3.2", 52001, "10.30.0.9", 8080, 9);
    text += &rec("10.0.4.1", 53000, "10.40.0.5", 5432, 10); // the database line
    write(dir, "logs/a.log", &text);
}

const RETAIL_BASE: &str = r#"[policy]
name = "retail"
[scope]
peer = ["10.20.0.0/16"]
[[allow]]
name = "settlement API"
peer = ["10.20.30.0/24"]
protocol = "tcp"
peer_port = 443
[[allow]]
name = "nightly batch"
peer = ["10.20.40.12"]
protocol = "tcp"
peer_port = 1433
"#;

/// The head: the batch rule removed, a wide rule nothing uses added, the settlement rule
/// widened to the whole /16.
const RETAIL_HEAD: &str = r#"[policy]
name = "retail"
[scope]
peer = ["10.20.0.0/16"]
[[allow]]
name = "settlement API"
peer = ["10.20.0.0/16"]
protocol = "tcp"
peer_port = 443
[[allow]]
name = "wide open"
peer = ["10.20.0.0/16"]
protocol = "udp"
"#;

const PARTNER: &str = "[scope]\npeer = [\"10.30.0.0/16\"]\n[[allow]]\nname = \"ssh\"\npeer = \"10.30.0.9\"\nprotocol = \"tcp\"\npeer_port = 22\n";
const DATABASE: &str = "[scope]\npeer = [\"10.40.0.0/16\"]\n[[allow]]\nname = \"postgres\"\npeer = \"10.40.0.4/31\"\nprotocol = \"tcp\"\npeer_port = 5432\n";

/// A repository whose base commit has `retail` (base) and `partner`, and whose head commit has
/// `retail` (head) and `database`. Returns (dir, base commit, head commit).
fn scenario() -> (tempfile::TempDir, String, String) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    git(dir, &["init", "-q"]);
    logs(dir);
    write(dir, "policies/retail.toml", RETAIL_BASE);
    write(dir, "policies/partner.toml", PARTNER);
    let base = commit(dir, "base");
    write(dir, "policies/retail.toml", RETAIL_HEAD);
    std::fs::remove_file(dir.join("policies/partner.toml")).unwrap();
    write(dir, "policies/database.toml", DATABASE);
    let head = commit(dir, "head");
    (tmp, base, head)
}

type Key = String;

/// A conversation's key, (protocol, client, server, server port), as text.
fn key(c: &Value) -> Key {
    format!(
        "{} {} {} {}",
        c["protocol"], c["client"], c["server"], c["server_port"]
    )
}

fn conversations(report: &Value, policy: &str) -> BTreeMap<Key, Value> {
    report["policies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == policy)
        .flat_map(|p| p["conversations"].as_array().unwrap().clone())
        .map(|c| (key(&c), c))
        .collect()
}

/// The diff two separate reports imply, per policy: (change, newly blocked, newly allowed).
fn expected(base: &Value, head: &Value) -> BTreeMap<String, (String, Vec<Value>, Vec<Value>)> {
    let names = |r: &Value| -> BTreeSet<String> {
        r["policies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    let (b, h) = (names(base), names(head));
    let mut out = BTreeMap::new();
    for name in b.union(&h) {
        let (bc, hc) = (conversations(base, name), conversations(head, name));
        // Keep each report's own order: most records first.
        let order = |r: &Value, keep: &dyn Fn(&Value) -> bool| -> Vec<Value> {
            r["policies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["name"] == name.as_str())
                .flat_map(|p| p["conversations"].as_array().unwrap().clone())
                .filter(|c| keep(c))
                .collect()
        };
        let newly_blocked = order(head, &|c| !bc.contains_key(&key(c)));
        let newly_allowed = order(base, &|c| !hc.contains_key(&key(c)));
        let change = match (b.contains(name), h.contains(name)) {
            (false, _) => "added",
            (_, false) => "removed",
            _ => "changed-or-unchanged",
        };
        out.insert(
            name.clone(),
            (change.to_string(), newly_blocked, newly_allowed),
        );
    }
    out
}

#[test]
fn the_diff_equals_the_difference_of_two_separate_checks() {
    let (tmp, base, head) = scenario();
    let dir = tmp.path();

    // Two separate checks: the head as it is, the base in a worktree of its own.
    let (head_code, head_report, _) = check(dir, &[]);
    let other = tempfile::tempdir().unwrap();
    let base_tree = other.path().join("base");
    git(
        dir,
        &[
            "worktree",
            "add",
            "-q",
            "--detach",
            base_tree.to_str().unwrap(),
            &base,
        ],
    );
    logs(&base_tree);
    let (_, base_report, _) = check(&base_tree, &[]);

    // One pass with --base.
    let (code, with_base, stdout) = check(dir, &["--base", &base]);
    assert_eq!(
        code, head_code,
        "the exit status stays the state's\n{stdout}"
    );
    assert_eq!(code, 1, "{stdout}");
    assert_eq!(with_base["policies"], head_report["policies"], "same state");
    let diff = &with_base["diff"];
    assert_eq!(diff["base"], base.as_str());
    assert_eq!(diff["base_commit"], base.as_str());

    let want = expected(&base_report, &head_report);
    let got: BTreeMap<String, &Value> = diff["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_string(), p))
        .collect();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (name, (change, blocked, allowed)) in &want {
        let p = got[name];
        assert_eq!(p["newly_blocked"], json!(blocked), "{name}");
        assert_eq!(p["newly_allowed"], json!(allowed), "{name}");
        if change != "changed-or-unchanged" {
            assert_eq!(p["change"], change.as_str(), "{name}");
        }
    }
    // What the scenario does, in so many words.
    assert_eq!(got["retail"]["change"], "changed");
    assert_eq!(got["partner"]["change"], "removed");
    assert_eq!(got["database"]["change"], "added");
    let blocked = got["retail"]["newly_blocked"].as_array().unwrap();
    assert_eq!(blocked.len(), 2, "both batch conversations");
    assert!(blocked.iter().all(|c| c["server_port"] == 1433));
    assert_eq!(got["partner"]["newly_allowed"].as_array().unwrap().len(), 1);
    assert_eq!(got["retail"]["base_status"], "pass");
    assert_eq!(got["retail"]["status"], "fail");

    // Rules: the batch rule removed, the settlement rule widened, the wide rule new and unused.
    let removed = &got["retail"]["rules_removed"];
    assert_eq!(
        removed,
        &json!([
            {"kind": "allow", "name": "settlement API", "line": 5, "change": "replaced"},
            {"kind": "allow", "name": "nightly batch", "line": 10, "change": "removed"},
        ])
    );
    let added = got["retail"]["rules_added"].as_array().unwrap();
    assert_eq!(added.len(), 2);
    assert_eq!(added[0]["name"], "settlement API");
    assert_eq!(added[0]["change"], "widened");
    assert_eq!(
        added[0]["width"],
        json!({"addresses": 65536, "ports": 1, "protocols": 1})
    );
    assert_eq!(
        added[0]["used"],
        json!({"peers": 2, "ports": 1, "protocols": 1, "conversations": 2, "records": 10})
    );
    // 65,536 addresses for 2 peers: 32,768 times as many.
    assert_eq!(added[0]["overly_permissive"], true);
    assert_eq!(added[1]["name"], "wide open");
    assert_eq!(added[1]["change"], "new");
    assert_eq!(added[1]["used"]["conversations"], 0);
    assert_eq!(added[1]["overly_permissive"], true);
    assert_eq!(added[1]["reason"], "no traffic in the logs matched it");
    let database = got["database"]["rules_added"].as_array().unwrap();
    assert_eq!(database[0]["overly_permissive"], false, "{database:?}");

    // The human report leads with the change.
    assert!(
        stdout.starts_with(&format!(
            "change against {}:\n  This change newly blocks 2 conversations in 1 policy and newly allows 1 in 1 policy. 2 added allow rules are overly permissive.\n",
            &base[..12]
        )),
        "{stdout}"
    );
    let _ = head;
}

#[test]
fn the_comment_and_summary_lead_with_the_change() {
    let (tmp, base, _) = scenario();
    let dir = tmp.path();
    let summary = dir.join("summary.md");
    let out = common::github_step(dir, &summary)
        .args(["check", "--logs", "logs", "--today", "2026-11-26"])
        .args(["--base", &base, "--pr-comment", "comment.md"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The wide rules are annotated where the reviewer reads them.
    assert!(
        stdout.contains("::warning file=policies/retail.toml,line=10,title=flowgate%3A overly permissive allow rule wide open::"),
        "{stdout}"
    );
    let comment = std::fs::read_to_string(dir.join("comment.md")).unwrap();
    assert!(comment.starts_with(
        "<!-- flowgate-pr-comment -->\n### flowgate: This pull request newly blocks 2 conversations in 1 policy and newly allows 1 in 1 policy."
    ), "{comment}");
    assert!(
        comment.contains("❌ **The check:** FAIL: 1 of 2 policies fail: traffic would be blocked"),
        "{comment}"
    );
    assert!(comment.contains("| retail | allow wide open | 10 | new | 65536 addresses x 65536 ports x 1 protocol | nothing | ⚠️ overly permissive: no traffic in the logs matched it |"), "{comment}");
    assert!(
        comment.contains(
            "<details><summary>retail: 2 conversations newly blocked (2 records)</summary>"
        ),
        "{comment}"
    );
    assert_eq!(
        comment.matches("<details>").count(),
        comment.matches("</details>").count()
    );
    let summary = std::fs::read_to_string(summary).unwrap();
    assert!(
        summary.starts_with("## flowgate: This pull request newly blocks 2 conversations"),
        "{summary}"
    );
    let state = summary
        .find("## flowgate: FAIL: 1 of 2 policies fail")
        .expect("the state follows");
    assert!(
        state > summary.find("| retail | changed |").unwrap(),
        "{summary}"
    );
}

#[test]
fn unknown_revisions_and_missing_repositories_are_untrusted() {
    let (tmp, _, _) = scenario();
    let dir = tmp.path();
    let (code, report, stdout) = check(dir, &["--base", "no-such-branch"]);
    assert_eq!(code, 2, "{stdout}");
    assert!(
        stdout.contains(
            "error[base-unknown-revision]: --base no-such-branch: git does not know this revision"
        ),
        "{stdout}"
    );
    assert_eq!(report["findings"][0]["code"], "base-unknown-revision");
    // Options cannot be smuggled in as a revision.
    let (code, _, stdout) = check(dir, &["--base=--output=/tmp/x"]);
    assert_eq!(code, 2, "{stdout}");

    let plain = tempfile::tempdir().unwrap();
    logs(plain.path());
    write(plain.path(), "policies/partner.toml", PARTNER);
    let (code, report, stdout) = check(plain.path(), &["--base", "main"]);
    assert_eq!(code, 2, "{stdout}");
    assert_eq!(
        report["findings"][0]["code"], "base-no-repository",
        "{stdout}"
    );
    assert!(stdout.contains("--base main: "), "{stdout}");
}

#[test]
fn paths_are_read_from_the_repository_root_and_broken_base_files_count_as_added() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    git(dir, &["init", "-q"]);
    let sub = dir.join("net");
    logs(&sub);
    write(&sub, "policies/retail.toml", "[policy\nname = broken");
    write(&sub, "policies/partner.toml", PARTNER);
    write(&sub, "policies/.hidden/x.toml", DATABASE);
    let base = commit(dir, "base");
    write(&sub, "policies/retail.toml", RETAIL_BASE);
    // Run from the subdirectory, with one policy file named directly.
    let (code, report, stdout) = check(
        &sub,
        &[
            "--policies",
            "policies/retail.toml",
            "policies/partner.toml",
            "--base",
            &base,
        ],
    );
    assert_eq!(code, 1, "partner blocks 8080: {stdout}");
    let names: Vec<(&str, &str)> = report["diff"]["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["change"].as_str().unwrap()))
        .collect();
    assert_eq!(names, [("partner", "unchanged"), ("retail", "added")]);
    let warning = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["origin"] == "base")
        .expect("the broken base file is reported");
    assert_eq!(warning["severity"], "warning");
    assert_eq!(warning["path"], "policies/retail.toml");
    assert!(warning["message"]
        .as_str()
        .unwrap()
        .starts_with(&format!("at {}: invalid TOML", &base[..12])));
    assert!(
        stdout.contains("This change newly blocks 0 conversations and newly allows 0."),
        "{stdout}"
    );
}

/// What the workflow does on a pull request: a checkout of two commits of the merge commit,
/// `--base HEAD^1` (its first parent, the base branch).
#[test]
fn a_two_commit_checkout_of_a_merge_commit_has_its_base() {
    let (tmp, base, head) = scenario();
    let dir = tmp.path();
    // The merge commit GitHub checks out: base branch first, the pull request second.
    git(dir, &["checkout", "-q", "-b", "target", &base]);
    git(dir, &["merge", "-q", "--no-ff", "-m", "merge", &head]);
    let other = tempfile::tempdir().unwrap();
    let clone = other.path().join("clone");
    let url = format!("file://{}", dir.display());
    git(
        other.path(),
        &[
            "clone", "-q", "--depth", "2", "--branch", "target", &url, "clone",
        ],
    );
    logs(&clone);
    let (code, report, stdout) = check(&clone, &["--base", "HEAD^1"]);
    assert_eq!(code, 1, "{stdout}");
    assert_eq!(report["diff"]["base_commit"], base.as_str());
    let changes: Vec<&str> = report["diff"]["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["change"].as_str().unwrap())
        .collect();
    assert_eq!(changes, ["added", "removed", "changed"], "{stdout}");
}

/// A policy broken at the base (a typo the change fixes): every report says plainly that the
/// file could not be read at the base and its rules count as added, and the base's
/// diagnostics are placed in the base's file (`REV:path:line`), never the working tree's.
#[test]
fn a_policy_broken_at_the_base_is_named_as_the_base_s() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    git(dir, &["init", "-q"]);
    logs(dir);
    write(
        dir,
        "policies/retail.toml",
        &RETAIL_BASE.replace("[policy]\n", "[policy]\nownr = \"x\"\n"),
    );
    let base = commit(dir, "base");
    write(dir, "policies/retail.toml", RETAIL_BASE);
    let short = &base[..12];
    let summary = dir.join("summary.md");
    let out = common::github_step(dir, &summary)
        .args(["check", "--logs", "logs", "--today", "2026-11-26"])
        .args(["--policies", "policies/retail.toml", "--format", "human"])
        .args([
            "--json",
            "r.json",
            "--pr-comment",
            "comment.md",
            "--base",
            &base,
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    // The base given as a full commit id is named by its short form, once.
    assert!(
        stdout.starts_with(&format!("change against {short}:\n")),
        "{stdout}"
    );
    assert!(!stdout.contains(&base), "{stdout}");
    let sentence = format!(
        "policies/retail.toml could not be read at {short} (line 2: unknown key `ownr` in [policy]): its rules count as added"
    );
    assert!(stdout.contains(&format!("\n  {sentence}\n")), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "warning[unknown-key]: at {short}: unknown key `ownr` in [policy] (its rules count as added)\n"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("┌─ {short}:policies/retail.toml:2:1")),
        "{stdout}"
    );
    assert!(!stdout.contains("error[unknown-key]"), "{stdout}");

    let md_sentence = format!(
        "- ⚠️ policies/retail.toml could not be read at {short} (line 2: unknown key \\`ownr\\` in \\[policy\\]): its rules count as added\n"
    );
    let comment = std::fs::read_to_string(dir.join("comment.md")).unwrap();
    assert!(
        comment.contains(&format!("Against `{short}`.")),
        "{comment}"
    );
    assert!(comment.contains(&md_sentence), "{comment}");
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(summary.contains(&md_sentence), "{summary}");

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("r.json")).unwrap()).unwrap();
    assert_eq!(
        report["diff"]["unreadable"],
        json!([{"path": "policies/retail.toml", "line": 2, "message": "unknown key `ownr` in [policy]"}])
    );
    assert_eq!(report["diff"]["policies"][0]["change"], "added");

    // As a workflow step: the base's warning is not placed in the working tree's file.
    let out = common::github_step(dir, &dir.join("summary2.md"))
        .args(["check", "--logs", "logs", "--today", "2026-11-26"])
        .args(["--policies", "policies/retail.toml", "--base", &base])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let annotation = stdout
        .lines()
        .find(|l| l.starts_with("::") && l.contains("unknown key `ownr`"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        annotation.starts_with("::warning title=flowgate%3A base%3A unknown-key::at "),
        "{annotation}"
    );
}
