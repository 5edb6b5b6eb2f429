//! A reviewer's view of a failure (issue 17, part 3): blocked conversations grouped by service
//! before the per-conversation table, in every output, and a sample's counts named as such.

mod common;

use common::Repo;

const HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";

/// 210 clients sending statsd (udp 8125) to 5 servers, 4 records each, and one SQL client.
fn logs(r: &Repo) {
    let servers = [
        "10.20.2.44",
        "10.20.2.45",
        "10.20.30.8",
        "10.20.31.1",
        "10.20.31.3",
    ];
    let mut text = format!("{HEADER}\n");
    for client in 0..210u64 {
        let server = servers[(client % 5) as usize];
        for k in 0..4u64 {
            let t = 1_762_041_600 + 300 * k + client;
            text.push_str(&format!(
                "2 111122223333 eni-1 10.0.{}.{} {server} {} 8125 17 1 90 {t} {} ACCEPT OK\n",
                client / 200,
                client % 200,
                40000 + client,
                t + 60
            ));
        }
    }
    text.push_str("2 111122223333 eni-1 10.0.9.9 10.20.40.12 51566 1433 6 8 900 1762041600 1762041660 ACCEPT OK\n");
    r.raw(
        "AWSLogs/111122223333/vpcflowlogs/eu-west-1/2025/11/02/a.log",
        text.as_bytes(),
    );
}

const POLICY: &str = "[scope]\npeer = \"10.20.0.0/16\"\n[[allow]]\nname = \"sql\"\npeer = \"10.20.40.12\"\nprotocol = \"tcp\"\npeer_port = 1433\n";

#[test]
fn blocked_traffic_is_grouped_by_service_first() {
    let r = Repo::empty();
    logs(&r);
    r.policy("retail", POLICY);
    let summary = r.path("summary.md");
    let out = common::github_step(r.dir.path(), &summary)
        .args([
            "check",
            "--logs",
            "logs",
            "--today",
            "2026-11-26",
            "--json",
            "r.json",
        ])
        .args(["--pr-comment", "comment.md"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = "udp 8125 to 5 servers (10.20.2.44/31, 10.20.30.8, 10.20.31.1 …) from 210 clients: 210 conversations, 840 records";
    let at = text.find(line).unwrap_or_else(|| panic!("{text}"));
    assert!(
        at < text.find("PROTO  CLIENT").unwrap(),
        "services come first: {text}"
    );
    let summary = std::fs::read_to_string(summary).unwrap();
    assert!(
        summary.contains(
            "| udp 8125 | 5 servers (10.20.2.44/31, 10.20.30.8, 10.20.31.1 …) | 210 | 210 | 840 |"
        ),
        "{summary}"
    );
    let comment = std::fs::read_to_string(r.path("comment.md")).unwrap();
    assert!(comment.contains("| udp 8125 | 5 servers"), "{comment}");
    // JSON: every service, uncapped, with every server network.
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(r.path("r.json")).unwrap()).unwrap();
    let services = doc["policies"][0]["services"].as_array().unwrap();
    assert_eq!(services.len(), 1);
    assert_eq!(
        services[0]["server_networks"],
        serde_json::json!(["10.20.2.44/31", "10.20.30.8", "10.20.31.1", "10.20.31.3"])
    );
    assert_eq!(services[0]["clients"], 210);
    assert_eq!(
        doc["policies"][0]["conversations"]
            .as_array()
            .unwrap()
            .len(),
        210
    );
}

#[test]
fn counts_from_a_sample_say_so() {
    let r = Repo::empty();
    logs(&r);
    r.policy("retail", POLICY);
    let out = r.output(&[
        "sample", "--logs", "logs", "--out", "fixtures", "--rate", "0.1", "--seed", "7",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest = std::fs::read_to_string(r.path("fixtures/MANIFEST.toml")).unwrap();
    let records = |section: &str| -> u64 {
        let part = &manifest[manifest.find(section).unwrap()..];
        let line = part.lines().find(|l| l.starts_with("records")).unwrap();
        line.split('=').nth(1).unwrap().trim().parse().unwrap()
    };
    let (input, sampled) = (records("[input]"), records("[output]"));
    assert_eq!(input, 841);
    assert!(sampled < input, "{manifest}");
    let note = format!("counts are from a sample: {sampled} of {input} records");

    let summary = r.path("summary.md");
    let out = common::github_step(r.dir.path(), &summary)
        .args([
            "check",
            "--logs",
            "fixtures",
            "--today",
            "2026-11-26",
            "--junit",
            "j.xml",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("  records: ")
                && l.ends_with(&format!(" would be blocked ({note})"))),
        "{text}"
    );
    let summary = std::fs::read_to_string(summary).unwrap();
    assert!(summary.contains(&format!("_{note}._")), "{summary}");
    let junit = std::fs::read_to_string(r.path("j.xml")).unwrap();
    assert!(
        junit.contains(&format!("<property name=\"sample\" value=\"{note}\"/>")),
        "{junit}"
    );
}
