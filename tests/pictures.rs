//! Pictures (issue 26): the timelines of the job summary and the pull-request comment, run
//! through the real binary on the bundled fixtures, and the HTML report.

mod common;

use common::{github_step, root};

/// The bar lists of every Mermaid block in `text`, with each block's title.
fn charts(text: &str) -> Vec<(String, Vec<u64>)> {
    text.split("```mermaid\n")
        .skip(1)
        .map(|block| {
            let body = block.split("\n```").next().unwrap();
            let mut lines = body.lines();
            assert_eq!(lines.next(), Some("xychart-beta"), "{body}");
            let title = lines.next().unwrap();
            let title = title
                .strip_prefix("    title \"")
                .and_then(|t| t.strip_suffix('"'))
                .unwrap_or_else(|| panic!("{title}"));
            let bars = body
                .lines()
                .find_map(|l| l.strip_prefix("    bar ["))
                .and_then(|l| l.strip_suffix(']'))
                .unwrap_or_else(|| panic!("no bars: {body}"));
            let bars = bars.split(", ").map(|v| v.parse().unwrap()).collect();
            (title.to_string(), bars)
        })
        .collect()
}

#[test]
fn the_summary_and_the_comment_of_a_failing_check_hold_timelines() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let comment = dir.path().join("comment.md");
    let out = github_step(root(), &summary)
        .args([
            "check",
            "--policies",
            "examples/spec-only",
            "--today",
            "2026-11-26",
        ])
        .arg("--pr-comment")
        .arg(&comment)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    for path in [&summary, &comment] {
        let text = std::fs::read_to_string(path).unwrap();
        let charts = charts(&text);
        let titles: Vec<&str> = charts.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(
            titles,
            [
                "tcp 1433: would-be-blocked records per hour",
                "Evidence: records per hour",
                "SKIPDATA records per hour"
            ],
            "{text}"
        );
        // The 8 blocked records are at 02:11 on the second day: hour 26 of the window.
        let blocked = &charts[0].1;
        assert_eq!((blocked.len(), blocked.iter().sum::<u64>()), (72, 8));
        assert_eq!(blocked[26], 8);
        // Every record of the fixtures is in the evidence chart, every SKIPDATA in its own.
        assert_eq!(charts[1].1.iter().sum::<u64>(), 3923);
        assert_eq!(charts[2].1.iter().sum::<u64>(), 2);
        assert!(text.contains(
            "Would-be-blocked records of tcp 1433 per hour from 2026-11-02 00:00 to 2026-11-05 00:00 UTC: 8 records in 1 of 72 hours; the busiest starts 2026-11-03 02:00 (8 records)."
        ), "{text}");
    }
}

/// `check --html` on the fixtures' failing example, at `threads` threads.
fn html_report(threads: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.html");
    let out = common::flowgate(root())
        .args([
            "check",
            "--policies",
            "examples/spec-only",
            "--today",
            "2026-11-26",
        ])
        .args(["--threads", threads, "--html"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    std::fs::read_to_string(&path).unwrap()
}

#[test]
fn the_html_report_of_the_fixtures() {
    let html = html_report("1");
    assert_eq!(html, html_report("2"), "the same bytes at any thread count");
    // One timeline for the blocked service, one for the evidence; the bars hold every record.
    assert_eq!(html.matches("<svg class=\"timeline\"").count(), 2);
    assert!(html.contains("data-bars=\"72\" data-total=\"8\""));
    assert!(html.contains("data-bars=\"72\" data-total=\"3923\""));
    let version = format!("flowgate {}", env!("CARGO_PKG_VERSION"));
    insta::assert_snapshot!(html.replace(&version, "flowgate VERSION"));
}

#[test]
fn hostile_names_in_the_html_report_are_text() {
    let repo = common::Repo::empty();
    let name = "x<script>alert(1)</script>\"'><img src=y onerror=alert(2)>";
    repo.policy(
        "evil",
        &format!(
            "[policy]\nname = {name:?}\ndescription = {name:?}\n[scope]\npeer = [\"10.20.0.0/16\"]\n[[allow]]\nname = {name:?}\npeer_port = [443]\n"
        ),
    );
    // A file name cannot hold `/`: the archive's is the rest of it.
    repo.archive_with(
        "x<img src=y onerror=alert(3)>\"'.log.gz",
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status",
        &["2 111122223333 eni-0aa11bb22cc33dd44 10.0.2.15 10.20.40.12 40000 1433 6 3 180 1772409600 1772409660 ACCEPT OK"],
    );
    let run = repo.check(&["--html", "report.html"]);
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    let html = std::fs::read_to_string(repo.path("report.html")).unwrap();
    assert_eq!(
        html.matches("<script").count(),
        1,
        "only flowgate's own script"
    );
    // As text only: no element of the names exists.
    assert!(!html.contains("<img"));
    assert!(html.contains(
        "x&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&gt;&lt;img src=y onerror=alert(2)&gt;"
    ));
    assert!(
        html.contains("logs/x&lt;img src=y onerror=alert(3)&gt;&quot;&#39;.log.gz:2"),
        "{html}"
    );
}
