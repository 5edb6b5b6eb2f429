//! The real binary on Parquet and CloudWatch Logs objects, and on files it does not read:
//! every kind is recognised by content, and nothing under `--logs` disappears unlisted.

mod common;

use std::path::Path;

use common::{assert_no_panic, gz, log_text, root, Repo, Run};

/// A test file of `tests/data/parquet` (see make.py there): five default-format records,
/// among them 10.0.1.5 -> 10.20.30.5:443 accepted.
fn parquet(name: &str) -> Vec<u8> {
    std::fs::read(root().join("tests/data/parquet").join(name)).unwrap()
}

/// The same five records as text, gzip, with AWS's header.
fn text_gz() -> Vec<u8> {
    gz(log_text(
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status",
        &RECORDS,
    ))
}

const RECORDS: [&str; 5] = [
    "2 123456789010 eni-0a1b2c3d4e5f60718 10.0.1.5 10.20.30.5 49152 443 6 10 8400 1762052400 1762052460 ACCEPT OK",
    "2 123456789010 eni-0a1b2c3d4e5f60718 10.20.30.5 10.0.1.5 443 49152 6 8 5100 1762052400 1762052460 ACCEPT OK",
    "2 123456789010 eni-0a1b2c3d4e5f60718 2001:db8::5 2001:db8:1::9 50000 22 6 3 180 1762052401 1762052461 REJECT OK",
    "2 123456789010 eni-0fffffffffffffff0 - - - - - - - 1762052400 1762052460 - NODATA",
    "2 123456789010 eni-0eeeeeeeeeeeeeee0 - - - - - - - 1762052400 1762052460 - SKIPDATA",
];

/// Blocks everything to the partner but 10.20.99.0/24: 10.0.1.5 -> 10.20.30.5:443 would be.
const POLICY: &str = r#"
[scope]
peer = ["10.20.0.0/16"]

[[allow]]
name = "nothing that is there"
peer = ["10.20.99.0/24"]

[evidence]
max_gap = "30d"
skipdata = "ignore"
unused_allow = "ignore"
"#;

/// A Firehose object: a CONTROL_MESSAGE and two DATA_MESSAGEs, one gzip member each.
fn firehose() -> Vec<u8> {
    let message = |stream: &str, records: &[&str]| {
        let events: Vec<serde_json::Value> = records
            .iter()
            .enumerate()
            .map(|(i, m)| serde_json::json!({"id": i.to_string(), "timestamp": 1762052400000u64, "message": m}))
            .collect();
        serde_json::json!({
            "messageType": "DATA_MESSAGE", "owner": "210987654321", "logGroup": "flow-logs",
            "logStream": stream, "subscriptionFilters": ["all"], "logEvents": events,
        })
        .to_string()
    };
    let mut object = gz(br#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1762052400000,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}"#);
    object.extend(gz(
        message("eni-0a1b2c3d4e5f60718-all", &RECORDS[..3]).as_bytes()
    ));
    object.extend(gz(
        message("eni-0fffffffffffffff0-all", &RECORDS[3..4]).as_bytes()
    ));
    object.extend(gz(
        message("eni-0eeeeeeeeeeeeeee0-all", &RECORDS[4..]).as_bytes()
    ));
    object
}

fn kinds(json: &serde_json::Value) -> Vec<String> {
    json["run"]["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let shape = k["shape"]
                .as_str()
                .map(|s| format!("/{s}"))
                .unwrap_or_default();
            format!("{}{shape}:{}", k["kind"].as_str().unwrap(), k["archives"])
        })
        .collect()
}

/// Issue 18's first report: a `.log.parquet` beside a `.log.gz` was skipped by name and the
/// check passed on the text alone. Both are read now; the Parquet's traffic counts.
#[test]
fn parquet_beside_text_is_read_and_its_traffic_counts() {
    let repo = Repo::empty();
    repo.policy("partner", POLICY)
        .raw(
            "AWSLogs/123456789010/vpcflowlogs/eu-west-1/2026/11/02/a.log.gz",
            &text_gz(),
        )
        .raw(
            "AWSLogs/aws-account-id=210987654321/aws-service=vpcflowlogs/aws-region=us-east-2/year=2026/month=11/day=02/hour=03/b.log.parquet",
            &parquet("aws-snappy.parquet"),
        );
    let run = repo.check(&[]);
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    let r = &run.json["run"];
    assert_eq!(r["archives_read"], 2);
    assert_eq!(r["records"], 10);
    assert_eq!(r["not_read"], serde_json::json!([]));
    assert_eq!(kinds(&run.json), ["text:1", "parquet:1"]);
    assert_eq!(
        r["coverage"]["accounts"],
        serde_json::json!(["123456789010", "210987654321"])
    );
    assert_eq!(
        r["coverage"]["regions"],
        serde_json::json!(["eu-west-1", "us-east-2"])
    );
    let c = &run.json["policies"][0]["conversations"][0];
    assert_eq!(c["records"], 4, "both directions, from each archive");
    // Alone, the Parquet object finds the same conversation, and names it by row.
    std::fs::remove_dir_all(repo.path("logs/AWSLogs/123456789010")).unwrap();
    let run = repo.check(&[]);
    assert_eq!(run.code, Some(1));
    let c = &run.json["policies"][0]["conversations"][0];
    assert_eq!(
        (c["records"].as_u64(), c["server_port"].as_u64()),
        (Some(2), Some(443))
    );
    assert_eq!(c["example"]["unit"], "row");
    assert_eq!(c["example"]["line"], 1);
    assert!(
        run.stdout.contains("b.log.parquet: row 1"),
        "{}",
        run.stdout
    );
}

/// Row groups are read on several threads; the report is the same on one.
#[test]
fn row_groups_read_in_parallel_report_as_on_one_thread() {
    let repo = Repo::empty();
    repo.policy("partner", POLICY)
        .raw(
            "five-groups.parquet",
            &parquet("custom-uncompressed.parquet"),
        )
        .raw("two-groups.parquet", &parquet("aws-gzip-nulls.parquet"));
    let one = repo.check(&["--threads", "1"]);
    let many = repo.check(&["--threads", "4"]);
    assert_eq!(one.json, many.json);
    assert_eq!(one.stdout, many.stdout);
    assert_eq!(one.json["run"]["records"], 10);
    assert_eq!(kinds(&one.json), ["parquet:2"]);
    assert_eq!(one.json["run"]["formats"].as_array().unwrap().len(), 2);
    assert_eq!(one.json["run"]["formats"][0]["archives"], 1);
}

#[test]
fn a_bad_parquet_cell_is_a_problem_at_row_and_column_and_the_rest_count() {
    let repo = Repo::empty();
    repo.policy("partner", POLICY)
        .raw("pandas.parquet", &parquet("pandas-strings.parquet"));
    let run = repo.check(&[]);
    assert_eq!(run.code, Some(2), "{}", run.stdout);
    assert_eq!(run.json["run"]["records"], 4);
    let p = &run.json["run"]["problems"][0];
    assert_eq!(p["unit"], "row");
    assert_eq!(p["line"], 3);
    assert_eq!(
        p["message"],
        "column srcport: `None` is not a port (0-65535)"
    );
    assert!(
        run.stdout
            .contains("logs/pandas.parquet: row 3: column srcport: `None` is not a port (0-65535)"),
        "{}",
        run.stdout
    );
}

/// What looks like evidence and cannot be read is a problem (exit 2), never a skip: Parquet
/// of another layout, JSON of something else, a `.log` whose lines are not records.
#[test]
fn evidence_that_cannot_be_read_is_a_problem_not_a_skip() {
    for (name, bytes, says) in [
        (
            "security-lake.parquet",
            parquet("ocsf.parquet"),
            "OCSF layout of Amazon Security Lake",
        ),
        (
            "prices.parquet",
            parquet("prices.parquet"),
            "are not flow-log fields",
        ),
        (
            "lz4.parquet",
            parquet("lz4.parquet"),
            "column version is compressed with LZ4_RAW, which flowgate does not decode",
        ),
        (
            "settings.json",
            br#"{"retention_days": 30}"#.to_vec(),
            "not a CloudWatch Logs delivery of flow-log records",
        ),
        (
            "app.log",
            b"2026-11-02 00:00:01 INFO server started\n".to_vec(),
            "no header line before the first record",
        ),
        ("export.gz", gz(b"version srcaddr\n10.0.0.1 10.0.0.2\n"), ""),
    ] {
        let repo = Repo::empty();
        repo.policy("partner", POLICY)
            .raw("flows.log.gz", &text_gz())
            .raw(name, &bytes);
        let run = repo.check(&[]);
        if says.is_empty() {
            // A header and a record of another format: read, not a problem.
            assert_eq!(run.json["run"]["archives_read"], 2, "{name}");
            continue;
        }
        assert_eq!(run.code, Some(2), "{name}: {}", run.stdout);
        let problems = run.json["run"]["problems"].to_string();
        assert!(problems.contains(says), "{name}: {problems}");
        assert!(problems.contains(name), "{name}: {problems}");
        assert_eq!(run.json["run"]["not_read"], serde_json::json!([]), "{name}");
    }
}

/// Documentation, configuration and hidden files are listed with why, in every report.
#[test]
fn files_not_read_are_listed_with_why() {
    let repo = Repo::empty();
    repo.policy("partner", POLICY)
        .raw("a.log.gz", &text_gz())
        .raw("README.md", b"# logs\n")
        .raw(".DS_Store", b"\0\0")
        .raw("sub/settings.yml", b"a: 1\n")
        .raw(".git/HEAD", b"ref: refs/heads/main\n");
    let run = repo.check(&[]);
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    assert_eq!(
        run.json["run"]["not_read"],
        serde_json::json!([
            {"path": "logs/.DS_Store", "reason": "a hidden file"},
            {"path": "logs/.git", "reason": "a hidden directory, not walked"},
            {"path": "logs/README.md", "reason": "`.md`: documentation, not flow logs"},
            {"path": "logs/sub/settings.yml", "reason": "`.yml`: configuration, not flow logs"},
        ])
    );
    assert_eq!(
        run.json["run"]["archives_skipped"],
        serde_json::json!([
            "logs/.DS_Store",
            "logs/.git",
            "logs/README.md",
            "logs/sub/settings.yml"
        ])
    );
    // The human report lists them beside what was read ...
    assert!(
        run.stdout.contains("1 text; 4 not read:")
            && run
                .stdout
                .contains("logs/sub/settings.yml (`.yml`: configuration, not flow logs)"),
        "{}",
        run.stdout
    );
    // ... and so does the job summary of a GitHub Actions step.
    let summary = repo.path("summary.md");
    let out = repo
        .command(&["check", "--logs", "logs", "--today", "2026-11-26"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.contains("### Files not read")
            && md.contains("- logs/.git: a hidden directory, not walked")
            && md.contains("- logs/sub/settings.yml: \\`.yml\\`: configuration, not flow logs"),
        "{md}"
    );
    // Nothing but files not read: the error names each with why.
    std::fs::remove_file(repo.path("logs/a.log.gz")).unwrap();
    let run = repo.check(&[]);
    assert_eq!(run.code, Some(2));
    assert!(
        run.stdout
            .contains("logs/README.md not read: `.md`: documentation, not flow logs"),
        "{}",
        run.stdout
    );
    assert_eq!(run.json["run"]["not_read"].as_array().unwrap().len(), 4);
}

/// A Firehose object, named as Firehose names them (no extension), beside the same records
/// as text: the same verdict and conversation, its stream and owner kept.
#[test]
fn a_firehose_object_reads_like_the_text() {
    let repo = Repo::empty();
    repo.policy("partner", POLICY)
        .raw(
            "firehose/2026/11/02/03/flow-logs-1-2026-11-02-03-00-05-0a1b2c3d-1234-5678-9abc-def012345678",
            &firehose(),
        );
    let cw = repo.check(&[]);
    let text = Repo::empty();
    text.policy("partner", POLICY).raw("a.log.gz", &text_gz());
    let t = text.check(&[]);
    assert_eq!(cw.code, Some(1), "{}", cw.stdout);
    assert_eq!(cw.json["run"]["records"], t.json["run"]["records"]);
    assert_eq!(
        cw.json["run"]["coverage"]["first_start"],
        t.json["run"]["coverage"]["first_start"]
    );
    let strip = |mut c: serde_json::Value| {
        c["example"] = serde_json::Value::Null;
        c
    };
    assert_eq!(
        strip(cw.json["policies"][0]["conversations"][0].clone()),
        strip(t.json["policies"][0]["conversations"][0].clone())
    );
    assert_eq!(kinds(&cw.json), ["cloudwatch/firehose:1"]);
    assert_eq!(
        cw.json["run"]["cloudwatch"],
        serde_json::json!({"log_groups": ["flow-logs"], "log_streams": 3, "control_messages": 1})
    );
    assert_eq!(
        cw.json["run"]["coverage"]["accounts"],
        serde_json::json!(["210987654321"])
    );
    assert_eq!(
        cw.json["policies"][0]["conversations"][0]["example"]["unit"],
        "event"
    );
}

/// A filter-log-events page of the five records, as the CLI prints it.
fn events_page() -> Vec<u8> {
    let events: Vec<serde_json::Value> = RECORDS
        .iter()
        .enumerate()
        .map(|(i, m)| {
            serde_json::json!({"logStreamName": "eni-0a1b2c3d4e5f60718-all", "timestamp": 1762052400000u64,
                "message": m, "ingestionTime": 1762052500000u64, "eventId": i.to_string()})
        })
        .collect();
    serde_json::to_vec_pretty(&serde_json::json!({"events": events, "searchedLogStreams": []}))
        .unwrap()
}

/// An export task's object: gzip lines of timestamp, space, record.
fn export_gz() -> Vec<u8> {
    let text: String = RECORDS
        .iter()
        .map(|r| format!("2026-11-02T03:00:00.000Z {r}\n"))
        .collect();
    gz(text.as_bytes())
}

/// Every kind in one archive: what `sample` keeps of each is of the same kind, under the
/// same name, and checks as the input does.
#[test]
fn a_sample_keeps_each_objects_kind_and_name() {
    let repo = Repo::empty();
    let objects: [(&str, Vec<u8>); 5] = [
        ("AWSLogs/123456789010/vpcflowlogs/eu-west-1/2026/11/02/a.log.gz", text_gz()),
        (
            "AWSLogs/aws-account-id=123456789010/aws-service=vpcflowlogs/aws-region=eu-west-1/year=2026/month=11/day=02/b.log.parquet",
            parquet("aws-gzip-nulls.parquet"),
        ),
        ("firehose/2026/11/02/03/flow-logs-1-2026-11-02-03-00-05-abc", firehose()),
        ("pages/page-1.json", events_page()),
        ("exportedlogs/task/eni-0a1b2c3d4e5f60718-all/000000.gz", export_gz()),
    ];
    for (name, bytes) in &objects {
        repo.raw(name, bytes);
    }
    repo.policy("partner", POLICY);
    let full = repo.check(&[]);
    assert_eq!(full.code, Some(1), "{}", full.stdout);
    let out = repo.output(&["sample", "--logs", "logs", "--out", "sample", "--rate", "0"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (name, bytes) in &objects {
        let copy = std::fs::read(repo.path(&format!("sample/{name}"))).unwrap();
        assert_eq!(
            copy[..1],
            bytes[..1],
            "{name}: same magic (gzip, PAR1, JSON)"
        );
    }
    let sampled = check_logs(&repo, "sample");
    assert_eq!(sampled.code, Some(1), "{}", sampled.stdout);
    assert_eq!(kinds(&sampled.json), kinds(&full.json));
    let conversations = |run: &Run| {
        let mut c = run.json["policies"][0]["conversations"].clone();
        for c in c.as_array_mut().unwrap() {
            c["records"] = serde_json::Value::Null;
            c["packets"] = serde_json::Value::Null;
            c["bytes"] = serde_json::Value::Null;
            c["example"] = serde_json::Value::Null;
        }
        c
    };
    assert_eq!(conversations(&sampled), conversations(&full));
    assert_eq!(
        sampled.json["run"]["coverage"],
        full.json["run"]["coverage"]
    );
    assert_eq!(
        sampled.json["run"]["cloudwatch"]["log_streams"],
        full.json["run"]["cloudwatch"]["log_streams"]
    );
}

/// Pseudonyms reach every id of a Parquet or CloudWatch sample: columns, messages, owner,
/// log stream names.
#[test]
fn a_pseudonymised_sample_of_every_kind_names_no_real_id() {
    let repo = Repo::empty();
    repo.policy("partner", POLICY)
        .raw("b.parquet", &parquet("aws-snappy.parquet"))
        .raw("firehose-object", &firehose())
        .raw("page.json", &events_page())
        .raw("eni-0a1b2c3d4e5f60718-all/000000.gz", &export_gz());
    let out = repo.output(&[
        "sample",
        "--logs",
        "logs",
        "--out",
        "sample",
        "--rate",
        "1",
        "--pseudonymise",
        "k",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = check_logs(&repo, "sample");
    assert_eq!(run.json["run"]["records"], 20, "{}", run.stdout);
    assert_eq!(run.json["run"]["problems_total"], 0, "{}", run.stdout);
    let mut seen = String::new();
    for entry in walk(&repo.path("sample")) {
        let bytes = std::fs::read(&entry).unwrap();
        let text = if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut t = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&bytes[..]), &mut t)
                .unwrap();
            t
        } else {
            bytes
        };
        seen.push_str(&String::from_utf8_lossy(&text));
        seen.push_str(&entry.display().to_string());
    }
    for real in [
        "123456789010",
        "0a1b2c3d4e5f60718",
        "210987654321",
        "0fffffffffffffff0",
    ] {
        assert!(!seen.contains(real), "{real} is still in the sample");
    }
}

/// `check` with `logs` (not `logs/`) as the evidence.
fn check_logs(repo: &Repo, logs: &str) -> Run {
    let out = repo.output(&[
        "check",
        "--policies",
        "policies",
        "--logs",
        logs,
        "--today",
        "2026-11-26",
        "--json",
        "sampled.json",
    ]);
    let run = Run {
        code: out.status.code(),
        json: serde_json::from_slice(&std::fs::read(repo.path("sampled.json")).unwrap()).unwrap(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_no_panic(&run.stderr);
    run
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
