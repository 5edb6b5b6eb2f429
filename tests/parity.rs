//! The same records as gz text, Parquet and every CloudWatch Logs shape give the same verdicts,
//! counts, conversations and evidence window.
//!
//! `tests/data/parity.py` rewrites the repository's `fixtures/` (3,923 records in 76 objects,
//! two formats, two accounts and regions) with pyarrow and the standard library, never with
//! flowgate: Parquet under Hive-compatible prefixes (snappy with `-` strings, gzip with nulls),
//! Firehose objects, filter-log-events pages, export-task lines and raw subscription payloads.
//! Each is checked with the repository's policy and with `examples/spec-only` (which blocks a
//! conversation) and compared with the text. CloudWatch messages carry no header, so each
//! format is its own run: AWS's default format read without `--log-format`, the custom one
//! with it.
//!
//! Needs python3 with pyarrow (`.ci/run` installs it). Without it the test says so and passes
//! locally, and fails under `CI=true`.

mod common;

use std::path::Path;
use std::process::Command;

use common::{flowgate, root};
use serde_json::Value;

/// The custom format of most fixtures.
const CUSTOM: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr flow-direction traffic-path";

fn pyarrow() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import pyarrow"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok && std::env::var("CI").as_deref() == Ok("true") {
        panic!("python3 with pyarrow is needed for the parity test; .ci/run installs it");
    }
    if !ok {
        eprintln!("SKIPPED: python3 with pyarrow not found (pip install pyarrow); the parity test did not run");
    }
    ok
}

/// What must not depend on how the records were delivered: every policy's verdict, counts,
/// conversations (but for their example, a place in one object) and evidence demands, the
/// records and the evidence window. Accounts and regions are kept when `places`.
fn facts(report: &Value, places: bool) -> Value {
    let policies: Vec<Value> = report["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let conversations: Vec<Value> = p["conversations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    let mut c = c.clone();
                    c.as_object_mut().unwrap().remove("example");
                    c
                })
                .collect();
            let demands: Vec<Value> = p["demands"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| serde_json::json!([d["kind"], d["status"], d["message"]]))
                .collect();
            serde_json::json!({
                "name": p["name"], "status": p["status"], "counts": p["counts"],
                "conversations": conversations, "demands": demands,
                "first": p["in_scope_first"], "last": p["in_scope_last"],
            })
        })
        .collect();
    let mut coverage = report["run"]["coverage"].clone();
    if !places {
        let c = coverage.as_object_mut().unwrap();
        c.remove("accounts");
        c.remove("regions");
    }
    let run = &report["run"];
    serde_json::json!({
        "policies": policies, "coverage": coverage, "records": run["records"],
        "nodata": run["nodata"], "skipdata": run["skipdata"], "problems": run["problems_total"],
    })
}

fn check(dir: &Path, policies: &Path, logs: &Path, log_format: Option<&str>) -> Value {
    let json = dir.join("report.json");
    let _ = std::fs::remove_file(&json);
    let mut c = flowgate(dir);
    c.arg("check")
        .arg("--policies")
        .arg(policies)
        .arg("--logs")
        .arg(logs)
        .args(["--today", "2026-11-26", "--json"])
        .arg(&json);
    if let Some(f) = log_format {
        c.args(["--log-format", f]);
    }
    let out = c.output().unwrap();
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(
        report["run"]["problems_total"],
        0,
        "{}: {}",
        logs.display(),
        String::from_utf8_lossy(&out.stdout)
    );
    report
}

#[test]
fn every_delivery_gives_the_verdicts_of_the_text() {
    if !pyarrow() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let status = Command::new("python3")
        .arg(root().join("tests/data/parity.py"))
        .arg(root().join("fixtures"))
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "parity.py failed");
    for policies in ["policies", "examples/spec-only"] {
        let policies = root().join(policies);
        let text = check(dir.path(), &policies, &root().join("fixtures"), None);
        let parquet = check(dir.path(), &policies, &out.join("parquet"), None);
        assert_eq!(facts(&parquet, true), facts(&text, true), "parquet");
        assert_eq!(
            parquet["run"]["kinds"],
            serde_json::json!([{"kind": "parquet", "archives": 76}])
        );
        for (format, log_format) in [("default", None), ("custom", Some(CUSTOM))] {
            let text = check(
                dir.path(),
                &policies,
                &out.join(format!("text-{format}")),
                None,
            );
            assert!(text["run"]["records"].as_u64().unwrap() > 100, "{format}");
            for shape in ["firehose", "events", "export", "subscription"] {
                let logs = out.join(format!("{shape}-{format}"));
                let got = check(dir.path(), &policies, &logs, log_format);
                assert_eq!(facts(&got, false), facts(&text, false), "{shape}-{format}");
            }
        }
    }
}
