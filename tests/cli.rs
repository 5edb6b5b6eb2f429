//! The real binary, run on small crafted archives in a temporary directory.
//!
//! One test per verdict branch and per exit status; JSON is parsed to assert exact numbers,
//! JUnit is parsed back with a real XML parser.

mod common;

use std::io::Write;
use std::path::Path;

use common::{flowgate, github_step, gz, root, Repo, Run};

const HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id tcp-flags flow-direction";

impl Repo {
    /// Writes a gzip archive with the test header and `records` (one per line).
    fn archive(&self, name: &str, records: &[&str]) -> &Repo {
        self.archive_with(name, HEADER, records)
    }
}

/// A record in the test header's format.
fn rec(
    (src, sp): (&str, u16),
    (dst, dp): (&str, u16),
    proto: u8,
    start: u64,
    action: &str,
    flags: &str,
) -> String {
    format!("5 111122223333 eni-0aa11bb22cc33dd44 {src} {dst} {sp} {dp} {proto} 3 180 {start} {} {action} OK vpc-0a1b2c3d4e5f60718 {flags} egress", start + 60)
}

const RETAIL: &str = r#"
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
name = "legacy agent"
peer = "10.20.99.7"
reason = "retired with NET-1300"
expires = 2027-01-31
[[waive]]
name = "old backup"
peer = "10.20.98.0/24"
reason = "was to be moved by October"
expires = 2026-10-31
"#;

const T0: u64 = 1_762_041_600; // 2025-11-02T00:00:00Z

fn policy<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no policy {name} in {doc}"))
}

#[test]
fn every_verdict_branch_is_counted() {
    let r = Repo::empty();
    r.policy("retail", RETAIL).archive(
        "a.log.gz",
        &[
            // out of scope
            &rec(("10.0.1.10", 40000), ("8.8.8.8", 53), 17, T0, "ACCEPT", "0"),
            // allowed, both directions
            &rec(("10.0.1.10", 40001), ("10.20.30.5", 443), 6, T0, "ACCEPT", "2"),
            &rec(("10.20.30.5", 443), ("10.0.1.10", 40001), 6, T0, "ACCEPT", "18"),
            // already rejected
            &rec(("10.0.1.10", 40002), ("10.20.50.9", 3389), 6, T0, "REJECT", "2"),
            // waived (unexpired)
            &rec(("10.0.1.11", 40003), ("10.20.99.7", 9100), 6, T0 + 60, "ACCEPT", "2"),
            // expired waiver: a violation
            &rec(("10.0.1.12", 40004), ("10.20.98.4", 22), 6, T0 + 120, "ACCEPT", "2"),
            // violation
            &rec(("10.0.2.15", 40005), ("10.20.40.12", 1433), 6, T0 + 180, "ACCEPT", "2"),
            &rec(("10.20.40.12", 1433), ("10.0.2.15", 40005), 6, T0 + 180, "ACCEPT", "18"),
            "5 111122223333 eni-0aa11bb22cc33dd44 - - - - - - - 1762041600 1762041660 - NODATA vpc-0a1b2c3d4e5f60718 - -",
        ],
    );
    let Run {
        code,
        json: doc,
        stdout,
        stderr,
    } = r.check(&[]);
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    let p = policy(&doc, "retail");
    assert_eq!(p["status"], "fail");
    let c = &p["counts"];
    assert_eq!(c["scanned"], 8);
    assert_eq!(c["in_scope"], 7);
    assert_eq!(c["allowed"], 2);
    assert_eq!(c["already_rejected"], 1);
    assert_eq!(c["waived"], 1);
    assert_eq!(c["would_block"], 3);
    let convs = p["conversations"].as_array().unwrap();
    assert_eq!(convs.len(), 2, "{convs:?}");
    // Both directions of the batch job are one conversation, client 10.0.2.15.
    assert_eq!(convs[0]["client"], "10.0.2.15");
    assert_eq!(convs[0]["server"], "10.20.40.12");
    assert_eq!(convs[0]["server_port"], 1433);
    assert_eq!(convs[0]["records"], 2);
    assert_eq!(convs[0]["example"]["line"], 8);
    assert_eq!(convs[1]["server"], "10.20.98.4");
    assert_eq!(convs[1]["expired_waiver"], "old backup");
    assert_eq!(p["allows"][0]["hits"], 2);
    assert_eq!(p["waivers"][0]["hits"], 1);
    assert_eq!(p["waivers"][1]["expired"], true);
    assert_eq!(doc["run"]["nodata"], 1);
    assert!(stdout.contains("10.20.40.12"), "{stdout}");
}

#[test]
fn passing_check_exits_zero_and_threads_do_not_change_reports() {
    let r = Repo::empty();
    r.policy("retail", RETAIL);
    for i in 0..12 {
        r.archive(
            &format!("AWSLogs/111122223333/vpcflowlogs/eu-west-1/2025/11/02/f{i:02}.log.gz"),
            &[
                &rec(
                    ("10.0.1.10", 40001 + i),
                    ("10.20.30.5", 443),
                    6,
                    T0 + 300 * i as u64,
                    "ACCEPT",
                    "2",
                ),
                &rec(
                    ("10.0.1.11", 41000 + i),
                    ("10.20.99.7", 9100),
                    6,
                    T0 + 300 * i as u64,
                    "ACCEPT",
                    "2",
                ),
                &rec(
                    ("10.0.1.12", 42000 + i),
                    ("10.20.98.4", 22),
                    6,
                    T0 + 300 * i as u64,
                    "ACCEPT",
                    "2",
                ),
            ],
        );
    }
    let run = |threads: &str| {
        let out = r.output(&[
            "check",
            "--today",
            "2026-11-26",
            "--logs",
            "logs",
            "--threads",
            threads,
            "--json",
            "t.json",
            "--junit",
            "t.xml",
        ]);
        let json = std::fs::read(r.path("t.json")).unwrap();
        let xml = std::fs::read(r.path("t.xml")).unwrap();
        (out.status.code(), out.stdout, json, xml)
    };
    let one = run("1");
    let eight = run("8");
    assert_eq!(one.0, Some(1));
    assert_eq!(
        one, eight,
        "reports differ between --threads 1 and --threads 8"
    );
}

#[test]
fn junit_is_well_formed_and_names_are_stable() {
    let r = Repo::empty();
    r.policy("retail", RETAIL).archive(
        "weird & <name> ]]>.log.gz",
        &[&rec(
            ("10.0.2.15", 40005),
            ("10.20.40.12", 1433),
            6,
            T0,
            "ACCEPT",
            "2",
        )],
    );
    let out = r.output(&[
        "check",
        "--logs",
        "logs",
        "--today",
        "2026-11-26",
        "--junit",
        "j.xml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let xml = std::fs::read_to_string(r.path("j.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    assert_eq!(suite.attribute("name"), Some("retail"));
    let cases: Vec<_> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let names: Vec<&str> = cases.iter().map(|c| c.attribute("name").unwrap()).collect();
    assert!(names.contains(&"no traffic would be blocked"), "{names:?}");
    assert!(names.contains(&"allow: settlement API"), "{names:?}");
    assert!(
        names.iter().all(|n| !n.chars().any(|c| c.is_ascii_digit())),
        "counts in test names: {names:?}"
    );
    let blocked = cases
        .iter()
        .find(|c| c.attribute("name") == Some("no traffic would be blocked"))
        .unwrap();
    assert_eq!(blocked.attribute("classname"), Some("flowgate.retail"));
    assert!(blocked.children().any(|n| n.has_tag_name("failure")));
}

#[test]
fn a_policy_needing_a_missing_field_is_untrusted() {
    let r = Repo::empty();
    r.policy(
        "subnet",
        "[scope]\npeer = \"10.20.0.0/16\"\nsubnet = \"subnet-0abc\"\n",
    )
    .raw(
        "v2.log",
        b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n2 1 eni-1 10.0.0.1 10.20.0.1 1 2 6 1 1 1762041600 1762041660 ACCEPT OK\n",
    );
    let Run {
        code,
        json: doc,
        stdout,
        ..
    } = r.check(&[]);
    assert_eq!(code, Some(2), "{stdout}");
    let p = policy(&doc, "subnet");
    assert_eq!(p["status"], "error");
    let err = p["field_errors"][0].as_str().unwrap();
    assert!(
        err.contains("subnet-id") && err.contains("`subnet`") && err.contains("v2.log"),
        "{err}"
    );
}

#[test]
fn bad_records_are_problems_and_good_ones_still_count() {
    let r = Repo::empty();
    let good = rec(
        ("10.0.1.10", 40001),
        ("10.20.30.5", 443),
        6,
        T0,
        "ACCEPT",
        "2",
    );
    let text = format!("{HEADER}\n{good}\nnot a record\n{good}\n");
    r.policy("retail", RETAIL).raw("b.log", text.as_bytes());
    let Run {
        code,
        json: doc,
        stdout,
        ..
    } = r.check(&[]);
    assert_eq!(code, Some(2), "{stdout}");
    assert_eq!(doc["run"]["problems_total"], 1);
    assert_eq!(doc["run"]["problems"][0]["line"], 3);
    assert_eq!(policy(&doc, "retail")["counts"]["allowed"], 2);
    assert!(stdout.contains("b.log:3:"), "{stdout}");
}

#[test]
fn since_and_until_restrict_records() {
    let r = Repo::empty();
    // An expired waiver fails the policy whatever the records: keep it current here.
    let current = RETAIL.replace("2026-10-31", "2027-10-31");
    r.policy("retail", &current).archive(
        "a.log.gz",
        &[
            &rec(
                ("10.0.1.10", 40001),
                ("10.20.30.5", 443),
                6,
                T0,
                "ACCEPT",
                "2",
            ),
            &rec(
                ("10.0.2.15", 40005),
                ("10.20.40.12", 1433),
                6,
                T0 + 7200,
                "ACCEPT",
                "2",
            ),
        ],
    );
    let Run {
        code, json: doc, ..
    } = r.check(&["--until", "2025-11-02T01:00:00Z"]);
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(policy(&doc, "retail")["counts"]["in_scope"], 1);
    let Run {
        code, json: doc, ..
    } = r.check(&["--since", "2025-11-02T01:00:00Z"]);
    assert_eq!(code, Some(1));
    assert_eq!(policy(&doc, "retail")["counts"]["in_scope"], 1);
}

#[test]
fn exit_two_when_nothing_can_be_read() {
    let r = Repo::empty();
    r.policy("retail", RETAIL);
    let out = r.output(&["check", "--logs", "nowhere"]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("error[logs-unreadable]: nowhere: cannot read: No such file or directory"),
        "{text}"
    );
    assert!(
        text.contains("error[no-archives]: no flow-log archives found under nowhere"),
        "{text}"
    );
    let out = r.output(&["check", "--logs", "logs"]);
    assert_eq!(out.status.code(), Some(2), "empty logs dir must not pass");
}

#[test]
fn a_broken_policy_stops_the_run_with_a_pointed_diagnostic() {
    let r = Repo::empty();
    r.policy("bad", "[scope]\npeer = [\"10.20.0.1/16\"]\n")
        .archive(
            "a.log.gz",
            &[&rec(
                ("10.0.1.10", 40001),
                ("10.20.30.5", 443),
                6,
                T0,
                "ACCEPT",
                "2",
            )],
        );
    let out = r.output(&["check", "--logs", "logs"]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("bad.toml:2:"), "{text}");
    assert!(text.contains("10.20.0.0/16"), "{text}");
    assert!(
        text.ends_with("\nUNTRUSTED: 1 policy file could not be loaded (exit 2)\n"),
        "{text}"
    );
}

#[test]
fn inspect_summarises_archives_without_policies() {
    let r = Repo::empty();
    r.archive(
        "AWSLogs/111122223333/vpcflowlogs/us-gov-east-1/2025/11/02/111122223333_vpcflowlogs_us-gov-east-1_fl-0123abcd_20251102T0000Z_abcdef12.log.gz",
        &[
            &rec(("10.0.1.10", 40001), ("10.20.30.5", 443), 6, T0, "ACCEPT", "2"),
            &rec(("10.0.1.10", 40001), ("10.20.30.5", 443), 6, T0 + 7200, "ACCEPT", "2"),
        ],
    )
    .raw("notes.md", b"# not a log\n");
    let out = r.output(&["inspect", "--logs", "logs", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let i = &doc["inspect"];
    assert_eq!(i["archives_read"], 1);
    assert_eq!(i["archives_skipped"].as_array().unwrap().len(), 1);
    assert_eq!(i["records"], 2);
    assert_eq!(i["coverage"]["regions"][0], "us-gov-east-1");
    assert_eq!(i["coverage"]["accounts"][0], "111122223333");
    assert_eq!(i["coverage"]["longest_gap"]["seconds"], 7200 - 120);
    let text = r.output(&["inspect", "--logs", "logs"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("2025-11-02T00:00:00Z"), "{text}");
}

#[test]
fn two_gzip_members_and_a_truncated_one() {
    let r = Repo::empty();
    let good = rec(
        ("10.0.1.10", 40001),
        ("10.20.30.5", 443),
        6,
        T0,
        "ACCEPT",
        "2",
    );
    let mut two = gz(format!("{HEADER}\n{good}\n"));
    two.extend(gz(format!("{good}\n")));
    r.raw("two.log.gz", &two);
    let out = r.output(&["inspect", "--logs", "logs/two.log.gz", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["inspect"]["records"], 2);
    assert_eq!(out.status.code(), Some(0));

    let body: String = std::iter::once(format!("{HEADER}\n"))
        .chain((0..3000).map(|_| format!("{good}\n")))
        .collect();
    let whole = gz(&body);
    r.raw("cut.log.gz", &whole[..whole.len() / 2]);
    let out = r.output(&["inspect", "--logs", "logs/cut.log.gz"]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("cut.log.gz: gzip data is corrupt or truncated"),
        "{text}"
    );
}

#[test]
fn bundled_policies_pass_on_bundled_fixtures() {
    let out = flowgate(root())
        .args(["check", "--today", "2026-11-26"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `inspect` and the check's `run:` section have one writer: the same lines, indented.
#[test]
fn inspect_prints_the_run_section_of_the_check() {
    let stdout = |args: &[&str]| {
        let out = flowgate(root()).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let inspect = stdout(&["inspect"]);
    let check = stdout(&["check", "--today", "2026-11-26"]);
    let run = &check[check.find("\nrun:\n").expect("a run section") + "\nrun:\n".len()..];
    let section: String = run
        .lines()
        .take_while(|l| !l.is_empty())
        .map(|l| format!("{}\n", l.strip_prefix("  ").unwrap()))
        .collect();
    assert_eq!(section, inspect);
    assert!(
        inspect.contains("\ndays       3: 2026-11-02 to 2026-11-04\n"),
        "{inspect}"
    );
}

#[test]
fn the_spec_only_example_finds_the_forgotten_batch_job() {
    let out = flowgate(root())
        .args([
            "check",
            "--policies",
            "examples/spec-only",
            "--today",
            "2026-11-26",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let convs = doc["policies"][0]["conversations"].as_array().unwrap();
    assert_eq!(convs.len(), 1, "{convs:?}");
    assert_eq!(convs[0]["client"], "10.0.2.15");
    assert_eq!(convs[0]["server"], "10.20.40.12");
    assert_eq!(convs[0]["server_port"], 1433);
}

/// Runs the binary as a GitHub Actions step would: `GITHUB_ACTIONS=true` and a step summary
/// file. Returns (exit code, stdout, stderr).
fn run_as_github_step(dir: &Path, args: &[&str], summary: &Path) -> (i32, String, String) {
    let out = github_step(dir, summary).args(args).output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    )
}

/// The workflow commands in `text`: GitHub starts one at any line (after CR or LF) that begins
/// with `::`, on stdout and stderr alike.
fn workflow_commands(text: &str) -> Vec<&str> {
    text.split(['\n', '\r'])
        .filter(|l| l.trim_start().starts_with("::"))
        .collect()
}

/// Whether `line` is an annotation as flowgate writes one: `::error` or `::warning`, then
/// properties whose values hold no raw `:` or `,` (so none can end the property list early),
/// then `::` and the escaped message.
fn is_flowgate_annotation(line: &str) -> bool {
    let Some(rest) = line
        .strip_prefix("::error ")
        .or_else(|| line.strip_prefix("::warning "))
    else {
        return false;
    };
    let Some((props, message)) = rest.split_once("::") else {
        return false;
    };
    let props_ok = props.split(',').all(|p| {
        p.split_once('=').is_some_and(|(k, v)| {
            matches!(k, "file" | "line" | "col" | "title") && !v.contains(':') && !v.is_empty()
        })
    });
    props_ok && !message.contains(['\r', '\n', '\x1b', '\0'])
}

/// Table rows of one Markdown table keep the header's number of cells: no value broke out.
fn assert_markdown_tables_intact(md: &str) {
    let mut cells = None;
    for line in md.lines() {
        if !line.starts_with('|') {
            cells = None;
            continue;
        }
        let n = line
            .replace("\\\\", "")
            .replace("\\|", "")
            .matches('|')
            .count();
        match cells {
            None => cells = Some(n),
            Some(c) => assert_eq!(c, n, "a table row lost its shape: {line}"),
        }
    }
}

/// Names and texts chosen to start workflow commands, HTML and terminal escapes if they were
/// printed as they are.
const HOSTILE_POLICY: &str = r#"
[policy]
name = "evil <script>alert(1)</script>\n::error file=x,line=1::pwned-name"
description = "desc\r\n::warning::pwned-desc\u2028::error::pwned-ls\u0085::error::pwned-nel"
owner = "o\n::error::pwned-owner"
ticket = "%0A::error::pwned-ticket"

[scope]
peer = ["10.20.0.0/16"]

[[allow]]
name = "x\n::error::pwned"
peer = ["10.20.77.0/24"]

[[allow]]
name = "ok ::warning::y, <b>|</b>"
peer = ["10.20.30.0/24"]

[[waive]]
name = "w\n::error::pwned-waiver\r\n<script>x</script>\u001b[31m"
peer = "10.20.98.0/24"
reason = "r\n::error::pwned-reason\u0000"
expires = 2026-10-31
"#;

#[test]
fn github_step_output_holds_only_flowgates_commands() {
    let r = Repo::empty();
    r.policy("evil", HOSTILE_POLICY);
    // A file whose stem (the policy's default name) is itself a command.
    r.policy(
        "p\n::error::pwned-file %0A",
        "[scope]\ndst_port = 1433\n[[allow]]\nname = \"::stop-commands::tok\"\ndst = \"192.0.2.1\"\n",
    );
    r.archive(
        "%0A::warning::y/a.log.gz",
        &[
            &rec(
                ("10.0.1.10", 40001),
                ("10.20.30.5", 443),
                6,
                T0,
                "ACCEPT",
                "2",
            ),
            &rec(
                ("10.0.2.15", 51566),
                ("10.20.40.12", 1433),
                6,
                T0,
                "ACCEPT",
                "2",
            ),
            &rec(
                ("10.0.2.16", 51567),
                ("10.20.98.5", 22),
                6,
                T0,
                "ACCEPT",
                "2",
            ),
        ],
    );
    // A bad record in an archive whose directory name holds a line break: a problem whose
    // path and text reach every output.
    r.archive(
        "b\n::error::pwned-archive\r<script>/c.log.gz",
        &[
            &rec(
                ("10.0.1.11", 40002),
                ("10.20.30.6", 443),
                6,
                T0 + 60,
                "ACCEPT",
                "2",
            ),
            "5 111122223333 eni-0aa11bb22cc33dd44 10.0.0.1\r::error::pwned-record x y z",
        ],
    );
    let summary = r.path("summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let (code, stdout, stderr) = run_as_github_step(
        r.dir.path(),
        &[
            "check",
            "--policies",
            "policies",
            "--logs",
            "logs",
            "--today",
            "2026-11-26",
        ],
        &summary,
    );
    assert_eq!(code, 2, "{stdout}\n{stderr}");

    // No command but the annotations flowgate meant, on either stream.
    assert!(workflow_commands(&stderr).is_empty(), "{stderr}");
    let cmds = workflow_commands(&stdout);
    for c in &cmds {
        assert!(is_flowgate_annotation(c), "not flowgate's: {c}\n{stdout}");
    }
    let errors = cmds.iter().filter(|c| c.starts_with("::error ")).count();
    let warnings = cmds.iter().filter(|c| c.starts_with("::warning ")).count();
    // Errors: the unreadable record, the two failing policies, the expired waiver at its
    // header (it still matches traffic) and as a lint error at its date.
    // Warnings: the unused allow rules of both policies.
    assert_eq!((errors, warnings), (5, 2), "{stdout}");
    assert!(cmds.iter().all(|c| c.contains(" file=")), "{stdout}");
    assert!(!stdout.contains(['\r', '\x1b', '\0', '\u{85}']));
    // A literal `%0A` in data stays literal text, never a line break.
    assert!(
        cmds.iter()
            .any(|c| c.contains("file=policies/p\\n%3A%3Aerror%3A%3Apwned-file %250A.toml,")),
        "{stdout}"
    );
    assert!(
        stdout.ends_with(
            "flowgate: UNTRUSTED: 1 problem reading the evidence; 2 of 2 would fail (exit 2)\n"
        ),
        "{stdout}"
    );

    // The summary was appended, stays under GitHub's cap and renders no HTML of the data.
    let text = std::fs::read_to_string(&summary).unwrap();
    let ours = text
        .strip_prefix("earlier step\n")
        .expect("the summary is appended, not overwritten");
    assert!(ours.starts_with("## flowgate: UNTRUSTED"), "{ours}");
    assert!(ours.len() < 1 << 20);
    assert!(!ours.contains('<'), "{ours}");
    assert!(!ours.contains(['\r', '\x1b', '\0']));
    assert!(ours.contains(
        "evil &lt;script&gt;alert(1)&lt;/script&gt;\\\\n::error file=x,line=1::pwned-name | "
    ));
    assert!(
        ours.contains("| logs/%0A::warning::y/a.log.gz:3 |"),
        "{ours}"
    );
    assert_markdown_tables_intact(ours);
}

#[test]
fn github_step_summary_stays_under_the_cap() {
    let r = Repo::empty();
    // 400 failing policies with long names and 12 conversations each: several MiB of summary
    // if nothing capped it.
    let long = "n|<i>*".repeat(100);
    for i in 0..400 {
        r.policy(
            &format!("p{i:03}"),
            &format!("[policy]\nname = \"{i:03}{long}\"\n[scope]\npeer = [\"10.20.0.0/16\"]\n"),
        );
    }
    let records: Vec<String> = (0..12)
        .map(|i| {
            rec(
                ("10.0.2.15", 50000 + i),
                ("10.20.40.12", 1000 + i),
                6,
                T0,
                "ACCEPT",
                "2",
            )
        })
        .collect();
    let records: Vec<&str> = records.iter().map(String::as_str).collect();
    r.archive(&format!("{}/a.log.gz", "d".repeat(200)), &records);
    let summary = r.path("summary.md");
    let (code, stdout, _) = run_as_github_step(
        r.dir.path(),
        &[
            "check",
            "--policies",
            "policies",
            "--logs",
            "logs",
            "--today",
            "2026-11-26",
        ],
        &summary,
    );
    assert_eq!(code, 1);
    // GitHub shows 10 annotations of a kind per step; the tenth counts the rest.
    assert_eq!(workflow_commands(&stdout).len(), 10);
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(text.len() < 1 << 20, "{} bytes", text.len());
    assert!(
        text.len() > 512 << 10,
        "the cap is used, not undercut: {}",
        text.len()
    );
    assert!(text.ends_with("**summary truncated; see the JSON report**\n"));
    assert!(!text.contains('<'));
    assert_markdown_tables_intact(&text);
}

#[test]
fn github_step_with_broken_policies_writes_no_command() {
    let r = Repo::empty();
    // A lone carriage return ends a line in a CI log: shown as it is, it would start one.
    r.policy(
        "a",
        "[scope]\npeer = [\"10.20.0.0/16\"] # a\r::error::pwned-cr\n",
    );
    r.policy(
        "b\r::error::pwned-file\n::warning::x",
        "[scope]\npeer = [\"10.20.0.0/16\"]\nsrc = \"1.2.3.4/8\\n::error::bad\"\n[\"\\n::error::key\"]\n",
    );
    r.archive(
        "a.log.gz",
        &[&rec(
            ("10.0.1.10", 40001),
            ("10.20.30.5", 443),
            6,
            T0,
            "ACCEPT",
            "2",
        )],
    );
    let summary = r.path("summary.md");
    let (code, stdout, stderr) = run_as_github_step(
        r.dir.path(),
        &["check", "--policies", "policies", "--logs", "logs"],
        &summary,
    );
    assert_eq!(code, 2);
    assert!(stdout.contains("error["), "{stdout}");
    // One annotation per diagnostic, each flowgate's own: data stays inside them.
    let cmds = workflow_commands(&stdout);
    assert_eq!(cmds.len(), 6, "{stdout}");
    for c in &cmds {
        assert!(
            c.starts_with("::error ") && is_flowgate_annotation(c),
            "not flowgate's: {c}\n{stdout}"
        );
    }
    assert!(workflow_commands(&stderr).is_empty(), "{stderr}");
    assert!(!stdout.contains(['\r', '\x1b', '\0']), "{stdout:?}");

    // The same for `lint`, which a workflow may run before `check`.
    let (_, stdout, stderr) =
        run_as_github_step(r.dir.path(), &["lint", "--policies", "policies"], &summary);
    assert!(workflow_commands(&stdout).is_empty(), "{stdout}");
    assert!(workflow_commands(&stderr).is_empty(), "{stderr}");
}

// ----- Evidence demands: each one passing and failing on a crafted archive. -----

/// A policy over the retail peer with one allow rule and the given `[evidence]` lines.
fn evidence_policy(evidence: &str) -> String {
    format!(
        "[scope]\npeer = \"10.20.0.0/16\"\n\n[[allow]]\nname = \"settlement\"\npeer = \"10.20.30.0/24\"\n\n[evidence]\n{evidence}\n"
    )
}

fn demand<'a>(doc: &'a serde_json::Value, kind: &str) -> &'a serde_json::Value {
    doc["policies"][0]["demands"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no demand {kind} in {doc}"))
}

/// Settlement traffic every 10 minutes for `hours`, starting at T0.
fn steady(hours: u64) -> Vec<String> {
    (0..hours * 6)
        .map(|i| {
            rec(
                ("10.0.1.10", 40000),
                ("10.20.30.5", 443),
                6,
                T0 + i * 600,
                "ACCEPT",
                "2",
            )
        })
        .collect()
}

fn run_evidence(evidence: &str, records: &[String]) -> (i32, serde_json::Value) {
    let r = Repo::empty();
    let refs: Vec<&str> = records.iter().map(String::as_str).collect();
    r.policy("p", &evidence_policy(evidence))
        .archive("a.log.gz", &refs);
    let Run {
        code,
        json: doc,
        stdout,
        stderr,
    } = r.check(&[]);
    assert_ne!(code, Some(2), "{stdout}\n{stderr}");
    (code.expect("an exit code"), doc)
}

#[test]
fn min_window_passes_and_fails_with_a_readable_reason() {
    let (code, doc) = run_evidence("min_window = \"2h\"", &steady(3));
    assert_eq!(code, 0);
    assert_eq!(demand(&doc, "window")["status"], "pass");
    let (code, doc) = run_evidence("min_window = \"30d\"", &steady(3));
    assert_eq!(code, 1);
    let d = demand(&doc, "window");
    assert_eq!(d["status"], "fail");
    let msg = d["message"].as_str().unwrap();
    assert!(
        msg.contains("cover only 2h 51m") && msg.contains("at least 30d"),
        "{msg}"
    );
}

#[test]
fn max_gap_fails_on_a_hole_in_the_logs() {
    let (code, doc) = run_evidence("max_gap = \"30m\"", &steady(2));
    assert_eq!((code, &demand(&doc, "gaps")["status"]), (0, &"pass".into()));
    // An hour of records, then nothing for three hours, then one more.
    let mut records = steady(1);
    records.push(rec(
        ("10.0.1.10", 40000),
        ("10.20.30.5", 443),
        6,
        T0 + 4 * 3600,
        "ACCEPT",
        "2",
    ));
    let (code, doc) = run_evidence("max_gap = \"30m\"", &records);
    assert_eq!(code, 1);
    let d = demand(&doc, "gaps");
    assert_eq!(d["status"], "fail");
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("longer than the 30m"),
        "{d}"
    );
}

#[test]
fn skipdata_levels() {
    let mut records = steady(1);
    records.push(format!(
        "5 111122223333 eni-0aa11bb22cc33dd44 - - - - - - - {T0} {} - SKIPDATA vpc-0a1b2c3d4e5f60718 - -",
        T0 + 60
    ));
    let (code, doc) = run_evidence("skipdata = \"fail\"", &records);
    assert_eq!(
        (code, &demand(&doc, "skipdata")["status"]),
        (1, &"fail".into())
    );
    let (code, doc) = run_evidence("", &records);
    assert_eq!(
        (code, &demand(&doc, "skipdata")["status"]),
        (0, &"warn".into())
    );
    let (code, doc) = run_evidence("skipdata = \"ignore\"", &records);
    assert_eq!(
        (code, &demand(&doc, "skipdata")["status"]),
        (0, &"skipped".into())
    );
    let (code, doc) = run_evidence("skipdata = \"fail\"", &steady(1));
    assert_eq!(
        (code, &demand(&doc, "skipdata")["status"]),
        (0, &"pass".into())
    );
}

#[test]
fn unused_allow_rules_warn_or_fail() {
    let only_batch: Vec<String> = vec![rec(
        ("10.0.1.10", 40000),
        ("10.20.40.12", 1433),
        6,
        T0,
        "ACCEPT",
        "2",
    )];
    let policy = "[scope]\npeer = \"10.20.0.0/16\"\n\n[[allow]]\nname = \"batch\"\npeer = \"10.20.40.12\"\n\n[[allow]]\nname = \"stale\"\npeer = \"10.20.77.0/24\"\n";
    for (evidence, code, status) in [
        ("", 0, "warn"),
        ("[evidence]\nunused_allow = \"fail\"\n", 1, "fail"),
        ("[evidence]\nunused_allow = \"ignore\"\n", 0, "skipped"),
    ] {
        let r = Repo::empty();
        let refs: Vec<&str> = only_batch.iter().map(String::as_str).collect();
        r.policy("p", &format!("{policy}{evidence}"))
            .archive("a.log.gz", &refs);
        let Run {
            code: got,
            json: doc,
            ..
        } = r.check(&[]);
        assert_eq!(got, Some(code), "{evidence}");
        let d = demand(&doc, "unused-allow");
        assert_eq!(d["status"], status, "{evidence}");
        if status != "skipped" {
            assert!(d["message"].as_str().unwrap().contains("`stale`"), "{d}");
        }
        assert_eq!(doc["policies"][0]["allows"][1]["hits"], 0);
    }
}

#[test]
fn no_traffic_in_scope_proves_nothing_unless_allowed() {
    let elsewhere = vec![rec(
        ("10.0.1.10", 40000),
        ("8.8.8.8", 53),
        17,
        T0,
        "ACCEPT",
        "0",
    )];
    let (code, doc) = run_evidence("", &elsewhere);
    assert_eq!(code, 1);
    let d = demand(&doc, "traffic");
    assert_eq!(d["status"], "fail");
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("this proves nothing"),
        "{d}"
    );
    let (code, doc) = run_evidence("allow_empty = true\nunused_allow = \"ignore\"", &elsewhere);
    assert_eq!(
        (code, &demand(&doc, "traffic")["status"]),
        (0, &"pass".into())
    );
}

#[test]
fn unused_waivers_are_reported() {
    let r = Repo::empty();
    let current = RETAIL.replace("2026-10-31", "2027-10-31");
    r.policy("retail", &current).archive(
        "a.log.gz",
        &[&rec(
            ("10.0.1.10", 40001),
            ("10.20.30.5", 443),
            6,
            T0,
            "ACCEPT",
            "2",
        )],
    );
    let Run {
        code,
        json: doc,
        stdout,
        ..
    } = r.check(&[]);
    assert_eq!(code, Some(0), "{stdout}");
    let d = demand(&doc, "unused-waiver");
    assert_eq!(d["status"], "warn");
    let msg = d["message"].as_str().unwrap();
    assert!(
        msg.contains("`legacy agent`") && msg.contains("`old backup`"),
        "{msg}"
    );
}

#[test]
fn stdin_is_read_with_dash_and_the_read_only_floor_counts_lines() {
    let r = Repo::empty();
    r.archive(
        "a.log.gz",
        &[&rec(
            ("10.0.1.10", 40001),
            ("10.20.30.5", 443),
            6,
            T0,
            "ACCEPT",
            "2",
        )],
    );
    let bytes = std::fs::read(r.path("logs/a.log.gz")).unwrap();
    let mut child = r
        .command(&["inspect", "--logs", "-", "--json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["inspect"]["records"], 1);

    let out = r.output(&["inspect", "--logs", "logs", "--read-only"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("read-only: 1 archives, 2 lines,"),
        "{text}"
    );
}

/// The benchmark's light-parse rung (`inspect --read-only --light-parse READER`, hidden):
/// either reader counts the records whose dstaddr is in the partner /16, and the flag means
/// nothing without --read-only.
#[test]
fn the_light_parse_rung_counts_dstaddr_in_the_partner_network() {
    let r = Repo::empty();
    let partner = rec(
        ("10.0.1.10", 40001),
        ("10.20.30.5", 443),
        6,
        T0,
        "ACCEPT",
        "2",
    );
    let reply = rec(
        ("10.20.30.5", 443),
        ("10.0.1.10", 40001),
        6,
        T0,
        "ACCEPT",
        "2",
    );
    r.archive("a.log.gz", &[&partner, &reply, &partner]);
    for reader in ["simd", "std"] {
        let out = r.output(&[
            "inspect",
            "--logs",
            "logs",
            "--read-only",
            "--light-parse",
            reader,
        ]);
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.starts_with("read-only: 1 archives, 4 lines,")
                && text.ends_with("errors; light parse: 2 dstaddr in 10.20.0.0/16\n"),
            "{reader}: {text}"
        );
    }
    let out = r.output(&["inspect", "--logs", "logs", "--light-parse", "simd"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--read-only"), "{err}");
}

#[test]
fn inspect_shows_the_provenance_of_a_sample() {
    let r = Repo::empty();
    let records: Vec<String> = (0..40)
        .map(|i| {
            rec(
                ("10.0.1.10", 40000 + i),
                ("10.20.30.5", 443),
                6,
                T0 + u64::from(i) * 60,
                "ACCEPT",
                "2",
            )
        })
        .collect();
    let refs: Vec<&str> = records.iter().map(String::as_str).collect();
    r.archive(
        "AWSLogs/111122223333/vpcflowlogs/eu-west-1/2025/11/02/a.log.gz",
        &refs,
    );
    let out = r.output(&[
        "sample", "--logs", "logs", "--out", "sampled", "--seed", "7",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = r.output(&["inspect", "--logs", "sampled", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["provenance"]["seed"], 7);
    assert_eq!(doc["provenance"]["input_records"], 40);
    let text = r.output(&["inspect", "--logs", "sampled"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("\nsample     ") && text.contains("of 40 records from 1 archives"),
        "{text}"
    );
}

/// Every FILE a command writes gets its missing parent directories: a passing check with
/// its reports under a `reports/` that does not exist yet still passes and writes them all,
/// and `suggest --out` / `inspect --json-file` write into new directories too.
#[test]
fn output_files_get_their_parent_directories() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let policies = root().join("policies");
    let fixtures = root().join("fixtures");
    let files = [
        ("--junit", "reports/a/junit.xml"),
        ("--json", "reports/b/check.json"),
        ("--sarif", "reports/c/check.sarif"),
        ("--html", "reports/d/check.html"),
        ("--pr-comment", "reports/e/comment.md"),
    ];
    let mut args = vec![
        "check".to_string(),
        "--today".into(),
        "2026-11-26".into(),
        "--policies".into(),
        policies.display().to_string(),
        "--logs".into(),
        fixtures.display().to_string(),
    ];
    for (flag, file) in files {
        args.push(flag.into());
        args.push(file.into());
    }
    let out = github_step(d, &d.join("summary/dir/step.md"))
        .args(&args)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (_, file) in files {
        let len = std::fs::metadata(d.join(file))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(len > 0, "{file} was not written");
    }
    assert!(d.join("summary/dir/step.md").is_file());

    let out = flowgate(d)
        .args(["suggest", "--logs"])
        .arg(&fixtures)
        .args([
            "--scope-peer",
            "10.20.0.0/16",
            "--out",
            "new/policies/suggested.toml",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::read_to_string(d.join("new/policies/suggested.toml"))
            .unwrap()
            .contains("[[allow]]")
    );

    let out = flowgate(d)
        .args(["inspect", "--logs"])
        .arg(&fixtures)
        .args(["--json-file", "out/inspect/run.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(d.join("out/inspect/run.json").is_file());
}

/// A `--logs` path GitHub cannot show (it does not exist) is annotated without `file=`: the
/// message names it, and the annotation is not lost on a file GitHub cannot place.
#[test]
fn an_unreadable_logs_path_is_annotated_without_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let policies = root().join("policies");
    let policies = policies.to_str().unwrap();
    let (code, stdout, _) = run_as_github_step(
        dir.path(),
        &["check", "--policies", policies, "--logs", "does-not-exist"],
        &summary,
    );
    assert_eq!(code, 2, "{stdout}");
    let unreadable: Vec<&str> = workflow_commands(&stdout)
        .into_iter()
        .filter(|c| c.contains("does-not-exist"))
        .collect();
    assert!(!unreadable.is_empty(), "{stdout}");
    for c in unreadable {
        assert!(c.starts_with("::error title="), "{c}");
    }
}

/// Every relative link of the documentation a user reads on GitHub points at a file of the
/// repository (a link that climbs out of it, or names a missing file, is a dead link there).
#[test]
fn documentation_links_stay_in_the_repository() {
    let mut pages: Vec<std::path::PathBuf> = Vec::new();
    for dir in [
        "", "docs", "policies", "fixtures", "benches", "examples", "fuzz",
    ] {
        let Ok(entries) = std::fs::read_dir(root().join(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "md") {
                pages.push(e.path());
            }
        }
    }
    pages.sort();
    assert!(pages.len() > 5, "{pages:?}");
    let mut dead = Vec::new();
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        for (i, _) in text.match_indices("](") {
            let rest = &text[i + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = rest[..end].split_whitespace().next().unwrap_or("");
            let target = target.split('#').next().unwrap();
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let mut resolved = page.parent().unwrap().to_path_buf();
            let mut outside = false;
            for part in target.split('/') {
                match part {
                    "" | "." => {}
                    ".." => outside |= !resolved.pop() || !resolved.starts_with(root()),
                    p => resolved.push(p),
                }
            }
            if outside || !resolved.starts_with(root()) || !resolved.exists() {
                dead.push(format!("{}: {target}", page.display()));
            }
        }
    }
    assert!(dead.is_empty(), "dead links:\n{}", dead.join("\n"));
}

/// A 0-byte or blank policy file is an error naming the file, for lint and check alike: it
/// is never read as "everything in scope, nothing allowed".
#[test]
fn an_empty_policy_file_is_an_error_naming_it() {
    for (text, what) in [
        ("", "it is empty (0 bytes)"),
        ("\n  \n# later\n", "it holds only blank lines and comments"),
    ] {
        let r = Repo::empty();
        r.policy("blank", text);
        r.archive(
            "a.log.gz",
            &[&rec(
                ("10.0.1.10", 40001),
                ("10.20.30.5", 443),
                6,
                T0,
                "ACCEPT",
                "2",
            )],
        );
        let message =
            format!("error[empty-policy-file]: `policies/blank.toml` holds no policy: {what}");
        for args in [
            &["lint", "--policies", "policies"][..],
            &["check", "--logs", "logs", "--today", "2026-11-26"][..],
        ] {
            let out = r.output(args);
            // lint prints it on stderr, check in its report.
            let text = String::from_utf8_lossy(&out.stderr).into_owned()
                + &String::from_utf8_lossy(&out.stdout);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {text}");
            assert!(text.contains(&message), "{args:?}: {text}");
        }
    }
}

/// `--max-conversations N` lists the N conversations with the most records in every report;
/// the counts, the services and the sums of those left out stay what the full listing gives.
/// The JSON document is the same streamed to stdout and written to a file.
#[test]
fn max_conversations_cuts_the_listing_and_keeps_the_totals() {
    let r = Repo::empty();
    r.policy("retail", RETAIL);
    // Five blocked conversations (ssh to five partner hosts) of 5, 4, 3, 2 and 1 records.
    let mut records = Vec::new();
    for host in 1..=5u16 {
        for i in 0..(6 - host) {
            records.push(rec(
                ("10.0.1.10", 40000 + 10 * host + i),
                (&format!("10.20.50.{host}"), 22),
                6,
                T0 + 60 * u64::from(i),
                "ACCEPT",
                "2",
            ));
        }
    }
    let records: Vec<&str> = records.iter().map(String::as_str).collect();
    r.archive(
        "AWSLogs/111122223333/vpcflowlogs/eu-west-1/2025/11/02/a.log.gz",
        &records,
    );
    let check = |extra: &[&str]| {
        let mut args = vec!["check", "--today", "2026-11-26", "--logs", "logs"];
        args.extend(extra);
        r.output(&args)
    };
    let full = check(&["--json", "full.json"]);
    assert_eq!(full.status.code(), Some(1));
    let cut = check(&[
        "--max-conversations",
        "2",
        "--json",
        "cut.json",
        "--junit",
        "cut.xml",
        "--pr-comment",
        "cut.md",
        "--html",
        "cut.html",
    ]);
    assert_eq!(cut.status.code(), Some(1));
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(r.path(name)).unwrap()).unwrap()
    };
    let (full_doc, cut_doc) = (read("full.json"), read("cut.json"));
    let (f, c) = (policy(&full_doc, "retail"), policy(&cut_doc, "retail"));
    let listed = f["conversations"].as_array().unwrap();
    assert_eq!(listed.len(), 5);
    assert!(f.get("conversations_not_listed").is_none());
    assert_eq!(c["conversations"].as_array().unwrap()[..], listed[..2]);
    assert_eq!(
        c["conversations_not_listed"],
        serde_json::json!({"conversations": 3, "records": 6, "packets": 18, "bytes": 1080, "expired_waiver": 0})
    );
    assert_eq!(c["counts"], f["counts"]);
    assert_eq!(c["services"], f["services"]);
    assert_eq!(c["services"][0]["conversations"], 5);
    // The human report counts every conversation and says why the rest are not listed.
    let human = String::from_utf8(cut.stdout).unwrap();
    assert!(
        human.contains("would be blocked: 5 conversations (15 records)"),
        "{human}"
    );
    assert!(
        human.contains("... and 3 more conversations (--max-conversations cut the listing"),
        "{human}"
    );
    // Every writer counts the conversations not listed too.
    let text = |name: &str| std::fs::read_to_string(r.path(name)).unwrap();
    let junit = text("cut.xml");
    assert!(
        junit.contains("5 conversations (15 records) would be blocked"),
        "{junit}"
    );
    assert!(junit.contains("... and 3 more conversations"), "{junit}");
    let comment = text("cut.md");
    assert!(
        comment.contains("retail: 5 conversations (15 records) would be blocked"),
        "{comment}"
    );
    assert!(comment.contains("\nand 3 more conversations;"), "{comment}");
    assert!(comment.contains("| 5 | 15 |"), "{comment}");
    let html = text("cut.html");
    assert!(html.contains("the first 2 of 5 conversations"), "{html}");
    // Streamed to stdout, the same bytes as the file.
    let stdout = check(&["--max-conversations", "2", "--format", "json"]);
    assert_eq!(stdout.stdout, std::fs::read(r.path("cut.json")).unwrap());
    // Listing nothing would hide the conversations: refused.
    let zero = check(&["--max-conversations", "0"]);
    assert_eq!(zero.status.code(), Some(2));
}
