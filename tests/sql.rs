//! `flowgate sql` and `check --sql-results`: the query and table definitions it prints, the
//! rows it reads back, and parity: the same check run by DuckDB and by local Spark (its DDL
//! over the local files, its query, the rows exported as CSV or JSON lines) gives the report
//! `flowgate check` gives, paths and line numbers aside; the Athena and Trino queries parse
//! as Trino SQL.
//!
//! The engines come from PyPI (`duckdb`, `pyspark` 4 with the machine's Java 17, `sqlglot`),
//! installed by `.ci/run`; `FLOWGATE_PYTHON` names the interpreter (default `python3`). A
//! test whose engine is missing says so and passes, except under `CI=true`, where it fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{flowgate, root};
use serde_json::Value;

// ---------------------------------------------------------------------------------------
// What `flowgate sql` prints.

fn sql(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = flowgate(dir).arg("sql").args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_dialect_gets_one_deterministic_query_with_its_fingerprint() {
    for dialect in ["athena", "trino", "spark", "duckdb"] {
        let args = [
            "--dialect",
            dialect,
            "--policies",
            "tests/sql/policies",
            "--today",
            "2026-11-26",
        ];
        let (code, query, err) = sql(root(), &args);
        assert_eq!(code, 0, "{dialect}: {err}");
        assert_eq!(
            sql(root(), &args).1,
            query,
            "{dialect}: same input, same text"
        );
        assert!(query.contains("-- fingerprint 0.1.0/"), "{dialect}");
        assert!(query.contains("waivers judged on 2026-11-26"), "{dialect}");
        assert!(query.contains("-- policy 7: vpc-ids (tests/sql/policies/d-ids.toml)"));
        // One statement, reading the view, ordered with NULLs placed explicitly.
        assert_eq!(query.matches(';').count(), 0, "{dialect}");
        assert!(query.contains(" flow_logs\n"), "{dialect}");
        assert!(query.contains("ASC NULLS FIRST"), "{dialect}");
        // Addresses are compared as numbers and fixed-width hex, never as dotted text.
        assert!(
            query.contains("BETWEEN 167772160 AND 184549375"),
            "{dialect}"
        );
        assert!(query.contains("'2a05d018'") || query.contains("2a05d0180c1a7e01"));
        // Spark's ANSI mode: every cast that may fail is a try_cast.
        assert!(!query.contains(" CAST(sa"), "{dialect}");
    }
    let (code, _, err) = sql(
        root(),
        &["--dialect", "duckdb", "--table", "x; DROP TABLE y"],
    );
    assert_eq!(code, 2);
    assert!(err.contains("is not a plain name"), "{err}");
    let (code, _, err) = sql(root(), &["--dialect", "oracle"]);
    assert_eq!(code, 2);
    assert!(err.contains("athena, trino, spark or duckdb"), "{err}");
}

#[test]
fn the_athena_table_uses_partition_projection() {
    let (code, ddl, err) = sql(
        root(),
        &[
            "--ddl",
            "--dialect",
            "athena",
            "--location",
            "s3://logs-bucket/flows/",
            "--accounts",
            "111122223333,444455556666",
            "--regions",
            "eu-west-1",
            "--first-day",
            "2026-01-01",
        ],
    );
    assert_eq!(code, 0, "{err}");
    for needle in [
        "CREATE EXTERNAL TABLE IF NOT EXISTS flow_logs_text (",
        "`end` string",
        "PARTITIONED BY (`aws_account` string, `aws_region` string, `day` string)",
        "ROW FORMAT DELIMITED\nFIELDS TERMINATED BY ' '",
        "LOCATION 's3://logs-bucket/flows/'",
        "\"skip.header.line.count\" = \"1\"",
        "\"projection.enabled\" = \"true\"",
        "\"projection.aws_account.values\" = \"111122223333,444455556666\"",
        "\"projection.day.type\" = \"date\"",
        "\"projection.day.format\" = \"yyyy/MM/dd\"",
        "\"projection.day.range\" = \"2026/01/01,NOW\"",
        "\"storage.location.template\" = \"s3://logs-bucket/flows/AWSLogs/${aws_account}/vpcflowlogs/${aws_region}/${day}\"",
        "CREATE OR REPLACE VIEW flow_logs AS",
        "\"$path\" AS \"flowgate_object\"",
        "CAST(NULL AS varchar) AS \"vpc_id\"",
    ] {
        assert!(ddl.contains(needle), "missing {needle:?} in\n{ddl}");
    }
    assert_eq!(ddl.matches(';').count(), 2, "two statements");
    // Parquet with Hive-style keys, one account's region at the location.
    let (code, ddl, err) = sql(
        root(),
        &[
            "--ddl",
            "--dialect",
            "athena",
            "--location",
            "s3://b/AWSLogs/aws-account-id=1/aws-service=vpcflowlogs/aws-region=eu-west-1",
            "--format",
            "parquet",
            "--partitioning",
            "hive",
            "--log-format",
            "version srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status tcp-flags",
        ],
    );
    assert_eq!(code, 0, "{err}");
    for needle in [
        "CREATE EXTERNAL TABLE IF NOT EXISTS flow_logs_parquet (",
        "`srcport` int",
        "`packets` bigint",
        "`tcp_flags` int",
        "PARTITIONED BY (`day` string)",
        "ParquetHiveSerDe",
        "\"projection.day.format\" = \"'year='yyyy'/month='MM'/day='dd\"",
        "${day}\"",
    ] {
        assert!(ddl.contains(needle), "missing {needle:?} in\n{ddl}");
    }
    assert!(!ddl.contains("skip.header"), "Parquet has no header line");
    // A location is what Athena and Trino read.
    for dialect in ["athena", "trino"] {
        let (code, _, err) = sql(root(), &["--ddl", "--dialect", dialect]);
        assert_eq!(code, 2);
        assert!(err.contains("--location s3://"), "{err}");
    }
    let (code, _, err) = sql(
        root(),
        &[
            "--ddl",
            "--dialect",
            "athena",
            "--location",
            "s3://b/",
            "--accounts",
            "1",
        ],
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("--accounts and --regions go together"),
        "{err}"
    );
}

#[test]
fn local_files_make_one_table_part_per_format() {
    let (code, ddl, err) = sql(root(), &["--ddl", "--dialect", "duckdb"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        ddl.matches("read_csv(").count(),
        2,
        "fixtures hold two formats"
    );
    assert!(ddl.contains("compression = 'gzip'"));
    assert!(ddl.contains("'fixtures/AWSLogs/444455556666/"));
    assert!(
        !ddl.contains("README"),
        "files that are not evidence are left out"
    );
    let (code, ddl, err) = sql(
        root(),
        &["--ddl", "--dialect", "spark", "--logs", "fixtures"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(ddl.matches("USING csv").count(), 2);
    assert!(ddl.contains("mode 'FAILFAST'"));
    assert!(ddl.contains("CREATE OR REPLACE VIEW flow_logs AS"));
    // Spark names local objects by URI: the view gives back the paths `check` shows.
    assert!(ddl.contains("regexp_replace(_metadata.file_path, '^file:(//)?', '')"));
    // A location needs no local files.
    let (code, ddl, _) = sql(
        root(),
        &["--ddl", "--dialect", "duckdb", "--location", "s3://b/p/"],
    );
    assert_eq!(code, 0);
    assert!(ddl.contains("read_csv('s3://b/p/**/*.log.gz'"));
    // What is not a table is refused, naming the file.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("events.json"), "{\"events\": []}").unwrap();
    let (code, _, err) = sql(dir.path(), &["--ddl", "--dialect", "duckdb", "--logs", "."]);
    assert_eq!(code, 2);
    assert!(
        err.contains("events.json") && err.contains("header"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------
// Reading rows back: handmade rows, so these need no engine.

const LAYOUT: &str = "layout,fingerprint,kind,policy,item,name,detail,protocol,client,server,server_port,records,packets,bytes,first_start,last_end,in_scope,allowed,already_rejected,waived,would_block,nodata,skipdata,problems,objects,interfaces,example,expired_waiver,server_by";

const POLICY: &str = "[policy]\nname = \"line\"\n[scope]\npeer = \"10.20.0.0/16\"\n\
    [[allow]]\nname = \"api\"\npeer_port = 443\n[[waive]]\nname = \"old\"\npeer = \"10.20.9.9\"\n\
    reason = \"r\"\nexpires = 2026-01-01\n";

/// Rows as an engine would return them for `POLICY`, with `fingerprint`.
fn rows(fingerprint: &str) -> String {
    let fp = fingerprint;
    let v2 = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";
    let mut s = format!("{LAYOUT}\n");
    for line in [
        format!("2,{fp},query,,,2026-11-26,duckdb,,,,,,,,,,,,,,,,,,,,,,"),
        format!("2,{fp},run,,,,,,,,,10,,,1793579700,1793583300,,,,,,1,0,0,2,3,,,"),
        format!("2,{fp},format,,,{v2},text,,,,,9,,,,,,,,,,,,,2,,logs/a.log.gz,,"),
        format!("2,{fp},account,,,111122223333,,,,,,,,,,,,,,,,,,,,,,,"),
        format!("2,{fp},span,,,,,,,,,,,,1793579700,1793583300,,,,,,,,,,,,,"),
        format!("2,{fp},policy,0,,,,,,,,,,,1793579700,1793580000,6,4,0,0,2,,,,,,,,"),
        format!("2,{fp},allow,0,0,,,,,,,4,,,,,,,,,,,,,,,,,"),
        format!("2,{fp},waiver,0,0,,,,,,,2,,,,,,,,,,,,,,,,,"),
        format!("2,{fp},conversation,0,,,,6,10.0.2.15,10.20.9.9,1433,2,10,900,1793579760,1793579900,,,,,,,,,,,logs/b.log.gz,0,port-range"),
    ] {
        s.push_str(&line);
        s.push('\n');
    }
    s
}

fn fingerprint(policy: &str, today: &str) -> String {
    let set = flowgate::policy::PolicySet::from_sources([("policies/line.toml", policy)]).unwrap();
    flowgate::sql::fingerprint(&set, flowgate::date(today).unwrap(), None, None)
}

fn read_report(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn rows_become_the_report_every_writer_renders() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("policies")).unwrap();
    std::fs::write(dir.path().join("policies/line.toml"), POLICY).unwrap();
    std::fs::write(
        dir.path().join("rows.csv"),
        rows(&fingerprint(POLICY, "2026-11-26")),
    )
    .unwrap();
    let out = flowgate(dir.path())
        .args([
            "check",
            "--sql-results",
            "rows.csv",
            "--json",
            "r.json",
            "--junit",
            "r.xml",
        ])
        .args(["--sarif", "r.sarif", "--format", "github"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("tcp    10.0.2.15  10.20.9.9:1433"),
        "{stdout}"
    );
    assert!(stdout.contains("::error"), "GitHub annotations: {stdout}");
    let r = read_report(&dir.path().join("r.json"));
    let p = &r["policies"][0];
    assert_eq!(p["counts"]["scanned"], 9);
    assert_eq!(p["counts"]["in_scope"], 6);
    assert_eq!(p["allows"][0]["hits"], 4);
    assert_eq!(p["waivers"][0]["expired"], true);
    let c = &p["conversations"][0];
    assert_eq!(c["expired_waiver"], "old");
    assert_eq!(c["example"]["archive"], "logs/b.log.gz");
    assert_eq!(
        c["example"]["line"], 0,
        "no line: the engine names the object"
    );
    assert_eq!(r["today"], "2026-11-26", "the date the rows were judged on");
    assert_eq!(
        r["run"]["lines"], 12,
        "records, problems and a header per text object"
    );
    assert_eq!(r["run"]["coverage"]["interfaces"], 3);
    assert!(
        stdout.contains("logs/b.log.gz\n") || stdout.contains("logs/b.log.gz "),
        "{stdout}"
    );
    assert!(!stdout.contains("logs/b.log.gz:0"), "{stdout}");
    for file in ["r.xml", "r.sarif"] {
        assert!(
            dir.path().join(file).metadata().unwrap().len() > 100,
            "{file}"
        );
    }
    // The same rows as JSON lines (a missing key is NULL, as Spark writes them).
    let csv = rows(&fingerprint(POLICY, "2026-11-26"));
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let mut jsonl = String::new();
    for line in lines {
        let mut o = serde_json::Map::new();
        for (k, v) in header.iter().zip(line.split(',')) {
            if !v.is_empty() {
                let value = v
                    .parse::<i64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| Value::from(v));
                o.insert(k.to_string(), value);
            }
        }
        jsonl.push_str(&Value::Object(o).to_string());
        jsonl.push('\n');
    }
    std::fs::write(dir.path().join("rows.json"), jsonl).unwrap();
    let out = flowgate(dir.path())
        .args(["check", "--sql-results", "rows.json", "--json", "j.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let mut a = read_report(&dir.path().join("r.json"));
    let mut b = read_report(&dir.path().join("j.json"));
    a["findings"] = Value::Null;
    b["findings"] = Value::Null;
    assert_eq!(a, b, "CSV and JSON lines read the same");
}

#[test]
fn rows_of_other_policies_versions_or_dates_are_refused_and_reports_still_written() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("policies")).unwrap();
    std::fs::write(dir.path().join("policies/line.toml"), POLICY).unwrap();
    let other = POLICY.replace("443", "8443");
    let check = |rows: &str, extra: &[&str]| {
        std::fs::write(dir.path().join("rows.csv"), rows).unwrap();
        let _ = std::fs::remove_file(dir.path().join("r.xml"));
        let out = flowgate(dir.path())
            .args(["check", "--sql-results", "rows.csv", "--junit", "r.xml"])
            .args(extra)
            .output()
            .unwrap();
        assert!(dir.path().join("r.xml").exists(), "JUnit written anyway");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, text) = check(&rows(&fingerprint(&other, "2026-11-26")), &[]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("rows were computed for other policies"),
        "{text}"
    );
    assert!(
        text.contains("the SQL engine's rows could not be used"),
        "{text}"
    );
    let (code, text) = check(&rows("0.0.1/0123456789abcdef"), &[]);
    assert_eq!(code, Some(2));
    assert!(text.contains("the query of flowgate 0.0.1"), "{text}");
    let good = rows(&fingerprint(POLICY, "2026-11-26"));
    let (code, text) = check(&good, &["--today", "2026-12-01"]);
    assert_eq!(code, Some(2));
    assert!(text.contains("compiled with --today 2026-11-26"), "{text}");
    let (code, text) = check(&good.replace(",conversation,", ",conversation2,"), &[]);
    assert_eq!(code, Some(2));
    assert!(
        text.contains("`conversation2` is not a kind of row"),
        "{text}"
    );
    let (code, text) = check(&good.replace("10.20.9.9", "10.20.9"), &[]);
    assert_eq!(code, Some(2));
    assert!(text.contains("`10.20.9` is not an address"), "{text}");
    let (code, text) = check(&good.replacen("layout,", "layer,", 1), &[]);
    assert_eq!(code, Some(2));
    assert!(text.contains("no column `layout`"), "{text}");
    let no_run: String = good
        .lines()
        .filter(|l| !l.contains(",run,"))
        .map(|l| format!("{l}\n"))
        .collect();
    let (code, text) = check(&no_run, &[]);
    assert_eq!(code, Some(2));
    assert!(text.contains("no `run` row"), "{text}");
}

// ---------------------------------------------------------------------------------------
// Parity: DuckDB and Spark against `check`.

/// The interpreter with the engines, when it has `module`; else says why not, and fails
/// the test under CI.
fn python_with(module: &str) -> Option<PathBuf> {
    let python =
        PathBuf::from(std::env::var_os("FLOWGATE_PYTHON").unwrap_or_else(|| "python3".into()));
    let found = Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some(python);
    }
    let why = format!(
        "{} cannot import {module}: `python3 -m pip install {}` (as .ci/run does)",
        python.display(),
        if module == "pyspark" {
            "'pyspark>=4,<5'"
        } else {
            module
        }
    );
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
    eprintln!("skipped: {why}");
    None
}

/// One check to run both ways.
struct Case {
    name: &'static str,
    policies: PathBuf,
    logs: PathBuf,
    args: Vec<&'static str>,
}

/// Archives written by the repository's seeded generator (`examples/generate.rs`, built by
/// `cargo test`), in AWS's default format or a v5 custom one.
fn generated(dir: &Path, v5: bool) -> Option<PathBuf> {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_flowgate"));
    let generate = exe.parent().unwrap().join("examples").join("generate");
    if !generate.exists() {
        let why = "examples/generate is not built: `cargo build --example generate` (`cargo test` builds it)";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
        eprintln!("skipped generated archives: {why}");
        return None;
    }
    let out = dir.join(if v5 { "v5" } else { "v2" });
    let mut c = Command::new(generate);
    c.args(["bench", "--days", "1", "--mb-per-day", "0.12", "--out"])
        .arg(&out);
    c.args(["--seed", if v5 { "5" } else { "2" }]);
    if v5 {
        c.args([
            "--extra-fields",
            "vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr flow-direction traffic-path",
        ]);
    }
    let status = c.output().unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    Some(out)
}

/// A small archive of values the reader rejects and odd spellings it takes.
fn hostile(dir: &Path) -> PathBuf {
    let logs = dir.join("hostile");
    std::fs::create_dir_all(&logs).unwrap();
    let header = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status tcp-flags";
    let records = [
        "2 1 eni-1 10.0.0.1 10.0.0.2 50000 443 6 1 60 1000 1060 ACCEPT OK 2",
        "2 1 eni-1 10.0.0.1 10.0.0.2 50000 70000 6 1 60 1000 1060 ACCEPT OK 2",
        "2 1 eni-1 010.0.0.1 10.0.0.2 50000 443 6 1 60 1000 1060 ACCEPT OK 2",
        "2 1 eni-1 1::2::3 10.0.0.2 50000 443 6 1 60 1000 1060 ACCEPT OK 2",
        "2 1 eni-1 ::FFFF:10.0.0.9 2001:DB8::0001 50001 443 6 1 60 1000 1060 ACCEPT OK 0",
        "2 1 eni-1 ::ffff:a00:9 2001:db8::1 50001 443 6 1 60 1000 1060 ACCEPT OK 18",
        "2 1 eni-1 1:2:3:4:5:6:7:: 1:2:3:4:5:6::8 5 6 17 1 60 1000 1060 ACCEPT OK -",
        "2 1 eni-1 10.0.0.1 10.0.0.2 50000 443 6 1 60 1070 1060 ACCEPT OK 2",
        "2 1 eni-1 10.0.0.1 10.0.0.2 0443 00000000000000000443 6 1 60 1000 1060 ACCEPT OK 3",
        "2 1 eni-1 10.0.0.1 10.0.0.2 50000 443 6 1 60 1000 1060 accept OK 2",
        "2 1 eni-1 10.0.0.1 10.0.0.2 +5 443 6 1 60 1000 1060 ACCEPT OK 2",
        "2 1 eni-1 10.0.0.1 10.0.0.2 50000 443 256 1 60 1000 1060 ACCEPT OK 2",
        "2 1 eni-1 - - - - - - - 1000 1060 - NODATA -",
        "2 1 eni-1 :: ::1 1 2 58 1 60 1000 1060 ACCEPT OK -",
        "2 1 eni-2 1.2.3.4 ::1.2.3.4 1 2 1 1 60 1000 99999 - - -",
        "2 1 eni-2 1.2.3.4 1::1.2.3.4.5 1 2 1 1 60 1000 1060 - - -",
        "2 1 eni-2 1.2.3.4 :1:: 1 2 1 1 60 1000 1060 - - -",
        "2 1 eni-2 1.2.3.4 fe80::1%1 1 2 1 1 60 1000 1060 - - -",
        "2 1 eni-2 1.2.3.4 1.2.3 1 2 1 1 60 1000 1060 - - -",
    ];
    let text = format!("{header}\n{}\n", records.join("\n"));
    std::fs::write(logs.join("a.log.gz"), common::gz(text.clone())).unwrap();
    std::fs::write(logs.join("b.log"), text).unwrap();
    logs
}

fn cases(work: &Path, with_generated: bool) -> Vec<Case> {
    let every_key = root().join("tests/sql/policies");
    let fixtures = root().join("fixtures");
    let mut cases = vec![
        Case {
            name: "bundled",
            policies: root().join("policies"),
            logs: fixtures.clone(),
            args: vec!["--today", "2026-11-26"],
        },
        Case {
            name: "spec-only",
            policies: root().join("examples/spec-only"),
            logs: fixtures.clone(),
            args: vec!["--today", "2026-11-26"],
        },
        Case {
            name: "every-key",
            policies: every_key.clone(),
            logs: fixtures.clone(),
            args: vec!["--today", "2026-11-26"],
        },
        Case {
            name: "every-key-window",
            policies: every_key.clone(),
            logs: fixtures.clone(),
            args: vec![
                "--today",
                "2027-06-01",
                "--since",
                "2026-11-03",
                "--until",
                "2026-11-04T12:00:00Z",
            ],
        },
        Case {
            name: "hostile",
            policies: every_key.clone(),
            logs: hostile(work),
            args: vec!["--today", "2026-11-26"],
        },
    ];
    // The fixtures' records as AWS's Parquet objects (tests/data/parity.py, pyarrow): the
    // table over Parquet, two schemas, absent values as `-` strings and as nulls.
    if let Some(python) = python_with("pyarrow") {
        let out = work.join("delivered");
        let status = Command::new(python)
            .arg(root().join("tests/data/parity.py"))
            .arg(&fixtures)
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            status.status.success(),
            "parity.py: {}",
            String::from_utf8_lossy(&status.stderr)
        );
        cases.push(Case {
            name: "parquet",
            policies: every_key.clone(),
            logs: out.join("parquet"),
            args: vec!["--today", "2026-11-26"],
        });
    }
    if with_generated {
        if let Some(v2) = generated(work, false) {
            cases.push(Case {
                name: "generated-v2",
                policies: v2.join("policies10"),
                logs: v2.join("AWSLogs"),
                args: vec!["--today", "2026-11-26"],
            });
            // AWS's default format has no tcp-flags: the run's evidence decides who is
            // the server (docs/server.md), in SQL as in `check`.
            cases.push(Case {
                name: "generated-v2-every-key",
                policies: every_key.clone(),
                logs: v2.join("AWSLogs"),
                args: vec!["--today", "2026-11-26"],
            });
        }
        if let Some(v5) = generated(work, true) {
            cases.push(Case {
                name: "generated-v5",
                policies: every_key,
                logs: v5.join("AWSLogs"),
                args: vec!["--today", "2026-11-26"],
            });
        }
    }
    cases
}

/// A report as both sides must agree on it: without what SQL cannot know (the files that
/// are not evidence, line numbers, the wording of problems, whose number must agree).
fn comparable(mut report: Value) -> Value {
    let run = &mut report["run"];
    for key in ["not_read", "archives_skipped", "problems"] {
        run[key] = Value::Null;
    }
    if let Some(policies) = report["policies"].as_array_mut() {
        for p in policies {
            if let Some(conversations) = p["conversations"].as_array_mut() {
                for c in conversations {
                    c["example"]["line"] = Value::from(0);
                }
            }
        }
    }
    report
}

/// Writes each case's DDL and query for `dialect` under `work`, and the engine's job list.
fn jobs(cases: &[Case], dialect: &str, work: &Path, json: bool) -> PathBuf {
    let mut list = Vec::new();
    for case in cases {
        let dir = work.join(format!("{}-{dialect}", case.name));
        std::fs::create_dir_all(&dir).unwrap();
        let logs = case.logs.display().to_string();
        let policies = case.policies.display().to_string();
        let (code, ddl, err) = sql(root(), &["--ddl", "--dialect", dialect, "--logs", &logs]);
        assert_eq!(code, 0, "{}: {err}", case.name);
        let mut args = vec!["--dialect", dialect, "--policies", policies.as_str()];
        args.extend(&case.args);
        let (code, query, err) = sql(root(), &args);
        assert_eq!(code, 0, "{}: {err}", case.name);
        std::fs::write(dir.join("ddl.sql"), ddl).unwrap();
        std::fs::write(dir.join("query.sql"), query).unwrap();
        let out = dir.join(if json { "rows.json" } else { "rows.csv" });
        list.push(serde_json::json!({
            "ddl": dir.join("ddl.sql"),
            "query": dir.join("query.sql"),
            "out": out,
            "cwd": root(),
            "json": json,
        }));
    }
    let path = work.join(format!("{dialect}-jobs.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&list).unwrap()).unwrap();
    path
}

fn run_engine(python: &Path, engine: &str, jobs: &Path) {
    let script = root().join("tests/sql/engine.py");
    let out = Command::new(python)
        .arg(script)
        .arg(engine)
        .arg(jobs)
        .env("SPARK_LOCAL_IP", "127.0.0.1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{engine} failed:\n{err}");
    // What each step took, for the CI log (Spark's start-up is most of it).
    for line in err.lines().filter(|l| l.ends_with(" s")) {
        eprintln!("{engine}: {line}");
    }
}

/// `check` on the logs and `check --sql-results` on the engine's rows give the same report.
/// Returns how the servers of the conversations were decided, over every case.
fn assert_same_reports(
    cases: &[Case],
    dialect: &str,
    work: &Path,
    json: bool,
) -> std::collections::BTreeSet<String> {
    let mut bases = std::collections::BTreeSet::new();
    for case in cases {
        let dir = work.join(format!("{}-{dialect}", case.name));
        let rows = dir.join(if json { "rows.json" } else { "rows.csv" });
        let local = dir.join("local.json");
        let remote = dir.join("sql.json");
        let policies = case.policies.display().to_string();
        let run = |extra: &[&str], report: &Path| {
            flowgate(root())
                .args(["check", "--policies", &policies, "--json"])
                .arg(report)
                .args(&case.args)
                .args(extra)
                .output()
                .unwrap()
                .status
                .code()
        };
        let logs = case.logs.display().to_string();
        let code = run(&["--logs", &logs], &local);
        let rows_arg = rows.display().to_string();
        let sql_code = run(&["--sql-results", &rows_arg], &remote);
        let a = comparable(read_report(&local));
        let b = comparable(read_report(&remote));
        assert_eq!(code, sql_code, "{} ({dialect}): exit status", case.name);
        if a != b {
            panic!(
                "{} ({dialect}): the reports differ\n--- check\n{}\n--- sql\n{}",
                case.name,
                serde_json::to_string_pretty(&a).unwrap(),
                serde_json::to_string_pretty(&b).unwrap()
            );
        }
        assert!(a["run"]["records"].as_u64().unwrap() > 0, "{}", case.name);
        for p in a["policies"].as_array().unwrap() {
            for c in p["conversations"].as_array().into_iter().flatten() {
                bases.insert(c["server_by"].as_str().unwrap().to_string());
            }
        }
    }
    bases
}

/// Every step of the server rule that decides some conversation of the cases: what the
/// parity tests hold the query's server rule to.
const BASES: [&str; 6] = [
    "flags",
    "protocol",
    "fan-in",
    "run",
    "service-port",
    "port-range",
];

fn assert_every_basis(bases: &std::collections::BTreeSet<String>) {
    for basis in BASES {
        assert!(
            bases.contains(basis),
            "no conversation decided by {basis}: {bases:?}"
        );
    }
}

#[test]
fn duckdb_gives_the_reports_check_gives() {
    let Some(python) = python_with("duckdb") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let cases = cases(work.path(), true);
    // CSV with a header, then JSON lines: both as DuckDB's own writers export them.
    for json in [false, true] {
        let jobs = jobs(&cases, "duckdb", work.path(), json);
        run_engine(&python, "duckdb", &jobs);
        assert_every_basis(&assert_same_reports(&cases, "duckdb", work.path(), json));
    }
}

#[test]
fn spark_gives_the_reports_check_gives() {
    let Some(python) = python_with("pyspark") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    // One Spark session for every case: it takes long to start.
    let cases: Vec<Case> = cases(work.path(), true)
        .into_iter()
        .filter(|c| c.name != "bundled" && c.name != "spec-only")
        .collect();
    let jobs = jobs(&cases, "spark", work.path(), false);
    run_engine(&python, "spark", &jobs);
    assert_every_basis(&assert_same_reports(&cases, "spark", work.path(), false));
}

#[test]
fn the_athena_and_trino_queries_parse_as_trino_sql() {
    let Some(python) = python_with("sqlglot") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (dialect, args) in [
        (
            "athena",
            vec!["--policies", "tests/sql/policies", "--today", "2026-11-26"],
        ),
        (
            "trino",
            vec![
                "--policies",
                "policies",
                "--since",
                "2026-11-03",
                "--until",
                "2026-11-04",
            ],
        ),
    ] {
        let mut all = vec!["--dialect", dialect];
        all.extend(args);
        let (code, query, err) = sql(root(), &all);
        assert_eq!(code, 0, "{err}");
        let path = work.path().join(format!("{dialect}.sql"));
        std::fs::write(&path, query).unwrap();
        files.push(path);
    }
    // The view of Athena's DDL is Trino SQL too (its table is Hive DDL).
    let (code, ddl, err) = sql(
        root(),
        &["--ddl", "--dialect", "athena", "--location", "s3://b/p/"],
    );
    assert_eq!(code, 0, "{err}");
    let view = &ddl[ddl.find("CREATE OR REPLACE VIEW").unwrap()..];
    let path = work.path().join("view.sql");
    std::fs::write(&path, view).unwrap();
    files.push(path);
    let script = "import sys, sqlglot\n\
        for path in sys.argv[1:]:\n\
        \x20   statements = sqlglot.parse(open(path).read(), read='trino')\n\
        \x20   assert [s for s in statements if s is not None], path\n\
        \x20   print(path, len(statements))\n";
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sqlglot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
