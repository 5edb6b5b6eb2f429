//! `--keep-conversations N`: the bound on the conversations a run holds. Run with a tiny
//! bound on a small crafted archive, the binary keeps every total and verdict of the
//! unbounded run, lists a sample that is the same at any thread count, and every writer says
//! the listing is a sample.

mod common;

use common::{github_step, Repo};

const HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id tcp-flags flow-direction";

const T0: u64 = 1_762_041_600; // 2025-11-02T00:00:00Z

/// Blocks everything to 10.20.0.0/16.
const BROAD: &str = r#"
[policy]
name = "broad"
[scope]
peer = ["10.20.0.0/16"]
"#;

/// Allows ssh to 10.20.50.1, blocks the rest of 10.20.50.0/29.
const NARROW: &str = r#"
[policy]
name = "narrow"
[scope]
peer = ["10.20.50.0/29"]
[[allow]]
name = "ssh to the bastion"
peer = ["10.20.50.1"]
protocol = "tcp"
peer_port = 22
"#;

/// 60 clients, each ssh to one of seven servers (and udp 514 for every third), 1-5 records
/// each, spread over three archives so that the workers see parts of one conversation.
fn repo() -> Repo {
    let r = Repo::empty();
    r.policy("broad", BROAD).policy("narrow", NARROW);
    let mut archives = vec![Vec::new(); 3];
    for k in 1..=60u16 {
        let server = format!("10.20.50.{}", k % 7 + 1);
        let (port, proto) = if k % 3 == 0 { (514, 17) } else { (22, 6) };
        for i in 0..(k % 5 + 1) {
            let start = T0 + 600 * u64::from(k) + 60 * u64::from(i);
            archives[usize::from((k + i) % 3)].push(format!(
                "2 111122223333 eni-0aa11bb22cc33dd44 10.0.1.{k} {server} {} {port} {proto} 3 180 {start} {} ACCEPT OK vpc-0a1b2c3d4e5f60718 2 egress",
                40000 + k,
                start + 60
            ));
        }
    }
    for (n, records) in archives.iter().enumerate() {
        let records: Vec<&str> = records.iter().map(String::as_str).collect();
        r.archive_with(
            &format!("AWSLogs/111122223333/vpcflowlogs/eu-west-1/2025/11/02/a{n}.log.gz"),
            HEADER,
            &records,
        );
    }
    r
}

/// Every report of one run, by name (stdout under `human`, `github`; the step summary under
/// `summary`), and its exit code.
fn run(r: &Repo, threads: &str, bound: Option<&str>) -> (i32, Vec<(&'static str, String)>) {
    let mut args = vec![
        "check",
        "--today",
        "2026-11-26",
        "--logs",
        "logs",
        "--threads",
        threads,
        "--color",
        "never",
        "--json",
        "r.json",
        "--junit",
        "r.xml",
        "--sarif",
        "r.sarif",
        "--html",
        "r.html",
        "--pr-comment",
        "r.md",
    ];
    if let Some(n) = bound {
        args.extend(["--keep-conversations", n]);
    }
    let human = r.output(&args);
    let read = |name: &str| std::fs::read_to_string(r.path(name)).unwrap();
    let mut reports = vec![
        ("human", String::from_utf8(human.stdout).unwrap()),
        ("json", read("r.json")),
        ("junit", read("r.xml")),
        ("sarif", read("r.sarif")),
        ("html", read("r.html")),
        ("comment", read("r.md")),
    ];
    let summary = r.path("summary.md");
    let _ = std::fs::remove_file(&summary);
    let github = github_step(&r.path(""), &summary)
        .args(&args[..9])
        .args(bound.map(|n| ["--keep-conversations", n]).iter().flatten())
        .output()
        .unwrap();
    assert_eq!(github.status.code(), human.status.code());
    reports.push(("github", String::from_utf8(github.stdout).unwrap()));
    reports.push(("summary", std::fs::read_to_string(&summary).unwrap()));
    (human.status.code().unwrap(), reports)
}

fn json(reports: &[(&str, String)]) -> serde_json::Value {
    serde_json::from_str(&reports[1].1).unwrap()
}

fn policy<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap()
}

/// The conversation's key as the JSON writes it.
fn key(c: &serde_json::Value) -> String {
    format!(
        "{} {} {} {}",
        c["protocol"], c["client"], c["server"], c["server_port"]
    )
}

#[test]
fn a_tiny_bound_keeps_every_total_and_says_so_in_every_report() {
    let r = repo();
    let (code, full) = run(&r, "2", None);
    assert_eq!(code, 1);
    let (code1, one) = run(&r, "1", Some("10"));
    let (code2, two) = run(&r, "2", Some("10"));
    assert_eq!((code1, code2), (1, 1));
    // The same reports, byte for byte, at one and two threads.
    for ((name, a), (_, b)) in one.iter().zip(&two) {
        assert_eq!(a, b, "{name} differs between 1 and 2 threads");
    }
    let (full_doc, doc) = (json(&full), json(&one));
    let mut kept_pairs = 0;
    let mut sampled = std::collections::BTreeMap::new();
    for name in ["broad", "narrow"] {
        let (f, b) = (policy(&full_doc, name), policy(&doc, name));
        // Verdicts and counts exactly the unbounded run's.
        assert_eq!(b["status"], f["status"], "{name}");
        assert_eq!(b["counts"], f["counts"], "{name}");
        assert_eq!(b["allows"], f["allows"], "{name}");
        assert!(f.get("conversations_sampled").is_none());
        let sample = &b["conversations_sampled"];
        assert_eq!(sample["keep_conversations"], 10, "{b}");
        // Each kept conversation has exactly its unbounded counts.
        let all: std::collections::BTreeMap<String, &serde_json::Value> = f["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (key(c), c))
            .collect();
        let listed = b["conversations"].as_array().unwrap();
        assert_eq!(sample["sampled"], listed.len());
        for c in listed {
            assert_eq!(Some(&c), all.get(&key(c)), "{name}");
            sampled.entry(key(c)).or_insert_with(Vec::new).push(name);
        }
        kept_pairs += listed.len();
        // Records, packets and bytes: the listed and the left out sum to the unbounded run's.
        let left = &b["conversations_not_listed"];
        for field in ["records", "packets", "bytes"] {
            let sum = |list: &[serde_json::Value]| -> u64 {
                list.iter().map(|c| c[field].as_u64().unwrap()).sum()
            };
            let listed_sum = sum(listed) + left[field].as_u64().unwrap();
            assert_eq!(
                listed_sum,
                sum(f["conversations"].as_array().unwrap()),
                "{name} {field}"
            );
        }
        // So do every service's, which say they are sampled.
        let services = |p: &serde_json::Value| -> Vec<(String, u64, u64, u64)> {
            p["services"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    let n = |k: &str| s[k].as_u64().unwrap();
                    (
                        format!("{} {}", s["protocol"], s["server_port"]),
                        n("records"),
                        n("packets"),
                        n("bytes"),
                    )
                })
                .collect()
        };
        assert_eq!(services(b), services(f), "{name}");
        assert!(b["services"][0]["sampled"] == true, "{b}");
    }
    assert!(kept_pairs <= 10, "{kept_pairs} pairs kept");
    assert!(kept_pairs > 0);
    // The sample is of conversations, not of pairs: one that both policies block and one
    // keeps, the other keeps too.
    let narrow: Vec<String> = policy(&full_doc, "narrow")["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(key)
        .collect();
    for (k, policies) in &sampled {
        if narrow.contains(k) {
            assert_eq!(policies, &["broad", "narrow"], "{k}");
        }
    }
    // Every writer says the listing is a sample (the JSON by `conversations_sampled`).
    for (name, text) in one.iter().filter(|(name, _)| *name != "json") {
        assert!(
            text.contains("--keep-conversations bound the run"),
            "{name} does not say the listing is a sample:\n{text}"
        );
    }
    let human = &one[0].1;
    assert!(human.contains("would be blocked: about "), "{human}");
    assert!(human.contains("... and about "), "{human}");
    // The HTML page: the estimate says about, the services' sample counts say so, and the
    // listing's note does not call the sample the first of an exact total.
    let html = &one.iter().find(|(n, _)| *n == "html").unwrap().1;
    assert!(html.contains("Would be blocked: about "), "{html}");
    assert!(html.contains("\">about "), "{html}");
    assert!(html.contains(" in the sample</td>"), "{html}");
    assert!(!html.contains("most records first"), "{html}");
}

/// A bound the run stays under changes nothing: the reports are the unbounded run's.
#[test]
fn a_bound_not_reached_changes_no_report() {
    let r = repo();
    let (_, full) = run(&r, "2", None);
    let (_, exact) = run(&r, "2", Some("114"));
    let doc = json(&full);
    let pairs: usize = ["broad", "narrow"]
        .iter()
        .map(|n| policy(&doc, n)["conversations"].as_array().unwrap().len())
        .sum();
    assert_eq!(pairs, 114);
    for ((name, a), (_, b)) in full.iter().zip(&exact) {
        assert_eq!(a, b, "{name}");
    }
}

/// A policy the sample holds none of is not "about 1 conversation": its count is a lower
/// bound (one per service with dropped traffic), said as such in every report, and no
/// report prints a conversation table without rows; at one and two threads alike.
#[test]
fn a_policy_with_nothing_in_the_sample_is_not_estimated() {
    let r = repo();
    let (_, full) = run(&r, "2", None);
    let (_, one) = run(&r, "1", Some("1"));
    let (_, two) = run(&r, "2", Some("1"));
    for ((name, a), (_, b)) in one.iter().zip(&two) {
        assert_eq!(a, b, "{name} differs between 1 and 2 threads");
    }
    let (full_doc, doc) = (json(&full), json(&one));
    let empty: Vec<&serde_json::Value> = doc["policies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["conversations_sampled"]["sampled"] == 0)
        .collect();
    assert!(
        !empty.is_empty(),
        "a bound of one pair leaves a policy an empty sample"
    );
    for p in empty {
        let name = p["name"].as_str().unwrap();
        assert_eq!(p["conversations_sampled"]["not_listed_count"], "at_least");
        let services = p["services"].as_array().unwrap().len() as u64;
        assert_eq!(p["conversations_not_listed"]["conversations"], services);
        // Still exact: the records of the unbounded run.
        assert_eq!(
            p["conversations_not_listed"]["records"],
            policy(&full_doc, name)["counts"]["would_block"]
        );
        let at_least = format!("at least {services} conversations");
        let human = &one[0].1;
        let section = &human[human.find(&format!("FAIL {name} ")).unwrap()..];
        let section = &section[..section.find("\n\n  allow rules").unwrap_or(section.len())];
        assert!(
            section.contains(&format!("would be blocked: {at_least}")),
            "{section}"
        );
        assert!(section.contains("none in the sample"), "{section}");
        assert!(!section.contains("PROTO"), "{section}");
        assert!(!section.contains("about"), "{section}");
        for report in ["summary", "comment"] {
            let text = &one.iter().find(|(n, _)| *n == report).unwrap().1;
            assert!(
                text.contains("| none in the sample | - | - |"),
                "{report}:\n{text}"
            );
            assert!(text.contains(&at_least), "{report}:\n{text}");
        }
    }
    for (report, text) in &one {
        assert!(
            !text.contains("about 1 conversation") && !text.contains("and 1 more conversation"),
            "{report}:\n{text}"
        );
    }
}

/// `--keep-conversations 0` would keep no sample to list or estimate from: a range error,
/// as `--max-conversations 0` is.
#[test]
fn a_bound_of_zero_is_refused() {
    let r = repo();
    for flag in ["--keep-conversations", "--max-conversations"] {
        let out = r.output(&["check", "--logs", "logs", flag, "0"]);
        assert_eq!(out.status.code(), Some(2), "{flag}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains("0 is not in 1.."), "{flag}: {err}");
    }
}

/// With --max-conversations cutting the sample's listing too, the human report names both.
#[test]
fn both_cuts_are_named() {
    let r = repo();
    let out = r.output(&[
        "check",
        "--today",
        "2026-11-26",
        "--logs",
        "logs",
        "--color",
        "never",
        "--keep-conversations",
        "40",
        "--max-conversations",
        "2",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(
            "--keep-conversations bound the run's memory and --max-conversations cut the listing"
        ),
        "{text}"
    );
    assert!(text.contains("... and about "), "{text}");
}
