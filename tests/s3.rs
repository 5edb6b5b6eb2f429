//! `--logs s3://bucket/prefix/` against a real S3-compatible server on loopback (moto's), with
//! a proxy in front of it that counts requests and breaks some: the same verdicts as the local
//! copy, a `--since/--until` window that fetches only the objects it needs, every kind of
//! object, retries, cuts, and the errors that stop a run (missing bucket, bad or no
//! credentials) naming the bucket, the prefix and the credentials tried.

#![cfg(feature = "s3")]

mod common;
#[path = "s3/support.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Output};

use common::{gz, log_text, root};
use support::{moto, moto_with_bucket, Fault, Moto, Proxy};

/// The binary in `dir` with only the AWS settings a test gives: keys moto accepts, the
/// endpoint, no instance metadata, and `dir/home` as home (without `.aws/` unless the test
/// writes one).
fn flowgate_s3(dir: &Path, endpoint: &str) -> Command {
    let mut c = common::flowgate(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            c.env_remove(k);
        }
    }
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    c.env("AWS_ACCESS_KEY_ID", "AKIAFLOWGATETEST")
        .env("AWS_SECRET_ACCESS_KEY", "flowgate-test-secret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", home);
    c
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A JSON report with `from` (an `s3://bucket/` prefix) read as `to` (the local folder), and
/// the S3 listing's own counts taken out: what must equal the local copy's report.
fn as_local(report: &serde_json::Value, from: &str, to: &str) -> serde_json::Value {
    let text = report.to_string().replace(from, to);
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["run"].as_object_mut().unwrap().remove("s3");
    v
}

/// Asserts that the run stopped with exit 2 and said each of `needles` (on stdout or stderr).
fn assert_exit_2_saying(out: &Output, needles: &[&str]) {
    let t = text(out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    for needle in needles {
        assert!(t.contains(needle), "{needle} not in {t}");
    }
}

/// `flowgate check --logs LOGS --today 2026-11-26` in `dir` against `endpoint`; the caller
/// adds the reports and flags it needs.
fn check(dir: &Path, endpoint: &str, logs: &str) -> Command {
    let mut c = flowgate_s3(dir, endpoint);
    c.args(["check", "--logs", logs, "--today", "2026-11-26"]);
    c
}

/// A folder with the partner policy in `policies/`, where `check` looks by default.
fn with_partner_policy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("policies")).unwrap();
    std::fs::write(dir.path().join("policies/partner.toml"), POLICY).unwrap();
    dir
}

/// Puts `bytes` at `key` in `bucket`, and the same bytes at `dir/local/key`: the local copy
/// whose verdicts the S3 run must give.
fn put_with_local_copy(moto: &Moto, bucket: &str, dir: &Path, key: &str, bytes: &[u8]) {
    moto.put(bucket, key, bytes);
    let path = dir.join("local").join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn the_fixtures_from_s3_give_the_local_copys_verdicts() {
    let Some(moto) = moto_with_bucket("fixtures-copy") else {
        return;
    };
    moto.put_dir("fixtures-copy", "", &root().join("fixtures"));
    let dir = tempfile::tempdir().unwrap();
    let (local, remote) = (dir.path().join("local.json"), dir.path().join("s3.json"));
    let run = |logs: &str, report: &Path| {
        check(root(), &moto.endpoint(), logs)
            .args(["--policies", "examples/spec-only", "--json"])
            .arg(report)
            .output()
            .unwrap()
    };
    let l = run("fixtures", &local);
    let s = run("s3://fixtures-copy/", &remote);
    assert_eq!(s.status.code(), l.status.code(), "{}", text(&s));
    assert_eq!(
        l.status.code(),
        Some(1),
        "spec-only blocks traffic in the fixtures"
    );
    let remote = json(&remote);
    assert_eq!(
        as_local(&remote, "s3://fixtures-copy/", "fixtures/"),
        json(&local)
    );
    let listing = &remote["run"]["s3"];
    assert_eq!(listing["objects_to_read"], remote["run"]["archives_read"]);
    assert_eq!(listing["objects_not_evidence"], 1, "README.md");
    assert!(text(&s).contains("s3://fixtures-copy/README.md (`.md`: documentation, not flow logs)"));
}

const HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";

/// 2026-11-01T00:00:00Z.
const NOV_1: u64 = 1_793_491_200;

/// The key of flow log `fl-1`'s object for the 5-minute slot starting at `t`.
fn slot_key(t: u64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(t as i64).unwrap();
    format!(
        "AWSLogs/123456789012/vpcflowlogs/eu-west-1/{:04}/{:02}/{:02}/123456789012_vpcflowlogs_eu-west-1_fl-1_{:04}{:02}{:02}T{:02}{:02}Z_0a1b2c3d.log.gz",
        at.year(), at.month() as u8, at.day(), at.year(), at.month() as u8, at.day(), at.hour(), at.minute()
    )
}

/// Two days of a flow log, one object per 5 minutes, each with an allowed record ending in its
/// slot; the slots at 07:30 and 12:00 on the second day also hold a record the partner policy
/// would block.
fn two_days() -> Vec<(String, Vec<u8>)> {
    (0..2 * 288)
        .map(|i| {
            let t = NOV_1 + i * 300;
            let allowed = format!("2 123456789012 eni-0a1b2c3d4e5f60718 10.0.1.5 10.20.30.5 49152 443 6 10 840 {} {} ACCEPT OK", t, t + 60);
            let blocked = format!("2 123456789012 eni-0a1b2c3d4e5f60718 10.0.2.15 10.20.40.12 50000 1433 6 4 240 {} {} ACCEPT OK", t + 30, t + 90);
            let second_day = t as i64 - (NOV_1 + 86_400) as i64;
            let records: Vec<&str> = if second_day == 7 * 3600 + 1800 || second_day == 12 * 3600 {
                vec![&allowed, &blocked]
            } else {
                vec![&allowed]
            };
            (slot_key(t), gz(log_text(HEADER, &records)))
        })
        .collect()
}

const POLICY: &str = r#"
[scope]
peer = ["10.20.0.0/16"]

[[allow]]
name = "settlement API"
peer = ["10.20.30.0/24"]
protocol = "tcp"
peer_port = [443]

[evidence]
max_gap = "30d"
"#;

#[test]
fn a_two_hour_window_fetches_only_the_objects_it_needs() {
    let Some(moto) = moto_with_bucket("two-days") else {
        return;
    };
    let dir = with_partner_policy();
    for (key, bytes) in two_days() {
        put_with_local_copy(moto, "two-days", dir.path(), &key, &bytes);
    }
    let proxy = Proxy::start(moto.port, Vec::new());
    let window = [
        "--since",
        "2026-11-02T07:00:00Z",
        "--until",
        "2026-11-02T09:00:00Z",
    ];
    let run = |logs: &str, report: &str| {
        check(dir.path(), &proxy.endpoint(), logs)
            .args(["--json", report])
            .args(window)
            .output()
            .unwrap()
    };
    let s = run("s3://two-days/AWSLogs/", "s3.json");
    let l = run("local/AWSLogs", "local.json");
    assert_eq!(s.status.code(), Some(1), "{}", text(&s));
    assert_eq!(l.status.code(), Some(1));
    let remote = json(&dir.path().join("s3.json"));
    let local = json(&dir.path().join("local.json"));
    // The same verdicts: the 07:30 conversation would be blocked, the 12:00 one is outside.
    assert_eq!(
        remote["policies"],
        local["policies"]
            .to_string()
            .replace("local/AWSLogs/", "s3://two-days/AWSLogs/")
            .parse::<serde_json::Value>()
            .unwrap()
    );
    let blocked = &remote["policies"][0]["conversations"];
    assert_eq!(blocked.as_array().unwrap().len(), 1, "{blocked}");
    // The objects it needs: the 24 slots of the window, the one before whose records may end
    // in it and the three after whose records may start in it (the margins of
    // source/s3/window.rs), fetched once each; nothing of the first day even listed.
    let gets = proxy.gets("/two-days/");
    assert_eq!(gets, 28, "{:#?}", proxy.seen());
    assert_eq!(remote["run"]["archives_read"], 28);
    let listing = &remote["run"]["s3"];
    assert_eq!(listing["objects_to_read"], 28);
    // Daily folders: the second day's is listed, and its objects outside the window are not
    // read.
    assert_eq!(listing["objects_outside_window"], 288 - 28);
    assert!(listing["folders_outside_window"].as_u64().unwrap() >= 1);
    assert!(!proxy
        .seen()
        .iter()
        .any(|r| r.target.contains("2026%2F11%2F01") || r.target.contains("2026/11/01")));
    // Every object not read is listed with why.
    let not_read = remote["run"]["not_read"].as_array().unwrap();
    assert!(not_read.iter().any(|s| s["path"]
        == "s3://two-days/AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/11/01/"
        && s["reason"].as_str().unwrap().contains("folder not listed")));
    assert_eq!(
        not_read
            .iter()
            .filter(|s| s["reason"]
                .as_str()
                .unwrap()
                .starts_with("not read: its key time"))
            .count(),
        288 - 28
    );
}

#[test]
fn a_missing_bucket_is_exit_2_naming_bucket_prefix_and_credentials() {
    let Some(moto) = moto() else { return };
    let dir = with_partner_policy();
    let out = check(dir.path(), &moto.endpoint(), "s3://no-such-bucket/AWSLogs/")
        .args(["--junit", "junit.xml"])
        .output()
        .unwrap();
    assert_exit_2_saying(
        &out,
        &[
            "s3://no-such-bucket/AWSLogs/",
            "prefix `AWSLogs/` of bucket `no-such-bucket`",
            "the bucket does not exist",
            "NoSuchBucket",
            "credentials: environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        ],
    );
    // Every report asked for is still written.
    assert!(std::fs::read_to_string(dir.path().join("junit.xml"))
        .unwrap()
        .contains("no-such-bucket"));
}

#[test]
fn no_credentials_is_exit_2_saying_what_was_tried() {
    let Some(moto) = moto() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = flowgate_s3(dir.path(), &moto.endpoint())
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args(["inspect", "--logs", "s3://any-bucket/logs/"])
        .output()
        .unwrap();
    assert_exit_2_saying(
        &out,
        &[
            "prefix `logs/` of bucket `any-bucket`",
            "no credentials",
            "AWS_EC2_METADATA_DISABLED",
            ".aws/credentials",
        ],
    );
}

#[test]
fn credentials_s3_does_not_know_are_exit_2() {
    // A server that checks signatures: the first request (creating the bucket) is let through
    // unsigned, every one after must be signed by a key it knows.
    let Some(_) = moto() else { return };
    let strict = Moto::start(&[("INITIAL_NO_AUTH_ACTION_COUNT", "1")]).unwrap();
    strict.bucket("guarded");
    let dir = tempfile::tempdir().unwrap();
    let out = flowgate_s3(dir.path(), &strict.endpoint())
        .args(["inspect", "--logs", "s3://guarded/AWSLogs/"])
        .output()
        .unwrap();
    assert_exit_2_saying(
        &out,
        &[
            "prefix `AWSLogs/` of bucket `guarded`",
            "InvalidAccessKeyId",
            "credentials: environment variables",
        ],
    );
}

/// Plain text of `n` records (no gzip), about 110 bytes a line: what a cut leaves readable.
fn plain_text(n: u64) -> Vec<u8> {
    let lines: Vec<String> = (0..n)
        .map(|i| {
            let t = NOV_1 + 86_400 + i;
            format!("2 123456789012 eni-0a1b2c3d4e5f60718 10.0.1.5 10.20.30.5 {} 443 6 10 840 {t} {} ACCEPT OK", 1024 + i % 60000, t + 60)
        })
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    log_text(HEADER, &refs).into_bytes()
}

/// A bucket with a gzip object and a plain one, and a folder with the partner policy and the
/// same two files in `local/`; `None` as [`moto`].
fn flaky_bucket(bucket: &str) -> Option<(&'static Moto, tempfile::TempDir)> {
    let moto = moto_with_bucket(bucket)?;
    let dir = with_partner_policy();
    let objects = [
        ("a.log.gz", gz(plain_text(50))),
        ("b.log", plain_text(1000)),
    ];
    for (key, bytes) in objects {
        put_with_local_copy(moto, bucket, dir.path(), key, &bytes);
    }
    Some((moto, dir))
}

#[test]
fn throttling_and_a_cut_connection_are_retried_to_the_same_verdicts() {
    let Some((moto, dir)) = flaky_bucket("flaky") else {
        return;
    };
    let proxy = Proxy::start(
        moto.port,
        vec![
            Fault::SlowDown {
                path: "/flaky/a.log.gz".into(),
                times: 2,
            },
            Fault::Cut {
                path: "/flaky/b.log".into(),
                after: 20_000,
                times: 1,
            },
            Fault::Answer {
                path: "list-type".into(),
                times: 1,
                status: 500,
                code: "InternalError",
            },
        ],
    );
    let run = |logs: &str, report: &str| {
        check(dir.path(), &proxy.endpoint(), logs)
            .args(["--json", report])
            .output()
            .unwrap()
    };
    let s = run("s3://flaky/", "s3.json");
    let l = run("local", "local.json");
    assert_eq!(s.status.code(), l.status.code(), "{}", text(&s));
    assert_eq!(s.status.code(), Some(0), "{}", text(&s));
    assert_eq!(
        as_local(&json(&dir.path().join("s3.json")), "s3://flaky/", "local/"),
        json(&dir.path().join("local.json"))
    );
    // Two 503s, then the object; the cut object's rest fetched again (a ranged GET).
    assert_eq!(proxy.gets("/flaky/a.log.gz"), 3, "{:#?}", proxy.seen());
    assert_eq!(proxy.gets("/flaky/b.log"), 2, "{:#?}", proxy.seen());
    // A 500 on the listing, then the listing again.
    let lists = proxy
        .seen()
        .iter()
        .filter(|s| s.target.contains("list-type"))
        .count();
    assert_eq!(lists, 2, "{:#?}", proxy.seen());
}

#[test]
fn access_denied_is_exit_2_naming_the_bucket_prefix_credentials_or_object() {
    let Some((moto, dir)) = flaky_bucket("denied") else {
        return;
    };
    // Denied listing: nothing can be read, and the run says whose credentials were refused.
    let proxy = Proxy::start(
        moto.port,
        vec![Fault::Answer {
            path: "list-type".into(),
            times: usize::MAX,
            status: 403,
            code: "AccessDenied",
        }],
    );
    let out = check(dir.path(), &proxy.endpoint(), "s3://denied/AWSLogs/")
        .args(["--junit", "junit.xml"])
        .output()
        .unwrap();
    assert_exit_2_saying(
        &out,
        &[
            "s3://denied/AWSLogs/",
            "prefix `AWSLogs/` of bucket `denied`",
            "access denied",
            "AccessDenied",
            "credentials: environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        ],
    );
    assert!(std::fs::read_to_string(dir.path().join("junit.xml"))
        .unwrap()
        .contains("s3://denied/AWSLogs/"));
    // A 403 is an answer, not a fault of the network: it is not retried.
    assert_eq!(proxy.seen().len(), 1, "{:#?}", proxy.seen());

    // Denied on one object only: the other is read, the denied one is a problem naming it.
    let proxy = Proxy::start(
        moto.port,
        vec![Fault::Answer {
            path: "/denied/b.log".into(),
            times: usize::MAX,
            status: 403,
            code: "AccessDenied",
        }],
    );
    let out = check(dir.path(), &proxy.endpoint(), "s3://denied/")
        .args(["--json", "r.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let report = json(&dir.path().join("r.json"));
    let problems = report["run"]["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0]["archive"], "s3://denied/b.log");
    let message = problems[0]["message"].as_str().unwrap();
    assert!(
        message.contains("AccessDenied") || message.contains("403"),
        "{message}"
    );
    assert_eq!(
        report["run"]["records"], 50,
        "a.log.gz's records still count"
    );
}

/// A bucket of 64 small objects behind a proxy that answers each after 400 ms, so readers
/// overlap and a run takes over a second: long enough for the progress line, which waits a
/// second before it shows. `None` as [`moto`].
fn slow_bucket(bucket: &str) -> Option<Proxy> {
    let moto = moto_with_bucket(bucket)?;
    for i in 0..64 {
        moto.put(bucket, &format!("o{i:02}.log"), &plain_text(3));
    }
    Some(Proxy::start(
        moto.port,
        vec![Fault::Delay {
            path: format!("/{bucket}/"),
            millis: 400,
        }],
    ))
}

/// Runs `command` on a terminal: under `script`, which gives it a pseudo-terminal and copies
/// what it shows to stdout.
fn on_a_terminal(command: &Command) -> Output {
    let line = std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| format!("'{}'", a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ");
    let mut script = Command::new("script");
    script.args(["-q", "-e", "-c", &line, "/dev/null"]);
    if let Some(dir) = command.get_current_dir() {
        script.current_dir(dir);
    }
    for (k, v) in command.get_envs() {
        match v {
            Some(v) => script.env(k, v),
            None => script.env_remove(k),
        };
    }
    script
        .output()
        .expect("`script` (util-linux) runs the command on a pseudo-terminal")
}

/// The counts and stages the progress line showed, in order: `12 objects fetched, …` is
/// `(12, "objects fetched")`.
fn progress_frames(terminal: &str) -> Vec<(u64, String)> {
    terminal
        .split(['\r', '\n'])
        .filter_map(|frame| {
            // A frame is `{spinner} {count} {stage}, {rate}/s [{elapsed}]`, after the escape
            // sequence that cleared the line.
            let (head, _) = frame.split_once(", ")?;
            let mut words = head.rsplit(' ');
            let stage_last = words.next()?;
            let stage_first = words.next()?;
            let count = words.next()?.parse().ok()?;
            Some((count, format!("{stage_first} {stage_last}")))
        })
        .collect()
}

#[test]
fn objects_are_read_sixteen_at_once_with_progress_on_a_terminal() {
    let Some(proxy) = slow_bucket("busy") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The endpoint from AWS_ENDPOINT_URL_S3, which beats AWS_ENDPOINT_URL (nothing listens
    // on port 1).
    let mut flowgate = flowgate_s3(dir.path(), "http://127.0.0.1:1");
    flowgate
        .env("AWS_ENDPOINT_URL_S3", proxy.endpoint())
        .args(["inspect", "--logs", "s3://busy/"]);
    let out = on_a_terminal(&flowgate);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("archives   64 read"), "{t}");
    assert!(t.contains("archives read, "), "no progress line in {t}");
    // Without --threads, 16 readers (or one per core, if more), each one object in flight.
    let bound = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .max(16);
    let most = proxy.most_in_flight();
    assert!((4..=bound).contains(&most), "{most} object GETs at once");
    assert_eq!(proxy.gets("/busy/"), 64);
}

#[test]
fn suggest_from_s3_shows_progress_on_a_terminal_and_none_in_a_file() {
    let Some(proxy) = slow_bucket("busy-suggest") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut flowgate = flowgate_s3(dir.path(), &proxy.endpoint());
    flowgate.args([
        "suggest",
        "--logs",
        "s3://busy-suggest/",
        "--scope-peer",
        "10.20.0.0/16",
    ]);
    let out = on_a_terminal(&flowgate);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("archives read, "), "no progress line in {t}");
    assert!(t.contains("covering 192 records"), "{t}");
    // Not on a terminal (a pipe, as in CI logs): the same run without the line.
    let out = flowgate.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains("archives read"), "{}", text(&out));
    assert!(text(&out).contains("covering 192 records"));
}

#[test]
fn sample_from_s3_shows_progress_on_a_terminal_and_none_in_a_file() {
    let Some(proxy) = slow_bucket("busy-sample") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sample = |out: &str| {
        let mut c = flowgate_s3(dir.path(), &proxy.endpoint());
        c.args([
            "sample",
            "--logs",
            "s3://busy-sample/",
            "--rate",
            "0",
            "--out",
            out,
        ]);
        c
    };
    let out = on_a_terminal(&sample("on-terminal"));
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("objects fetched, "), "no progress line in {t}");
    // Each stage counts up from where it starts, never showing another stage's count.
    let frames = progress_frames(&t);
    for pair in frames.windows(2) {
        let ((a, stage_a), (b, stage_b)) = (&pair[0], &pair[1]);
        assert!(
            stage_a != stage_b || a <= b,
            "{a} then {b} {stage_b}: {frames:?}"
        );
    }
    assert!(
        dir.path().join("on-terminal/MANIFEST.toml").is_file(),
        "{t}"
    );
    // Not on a terminal (a pipe, as in CI logs): the same run without the line.
    let out = sample("in-a-file").output().unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    for stage in ["objects fetched", "archives surveyed", "archives sampled"] {
        assert!(!t.contains(stage), "{stage} in {t}");
    }
    assert!(dir.path().join("in-a-file/MANIFEST.toml").is_file(), "{t}");
    assert_eq!(proxy.gets("/busy-sample/"), 2 * 64);
}

#[test]
fn a_connection_cut_every_time_is_a_problem_naming_the_object() {
    let Some((moto, dir)) = flaky_bucket("cut") else {
        return;
    };
    let proxy = Proxy::start(
        moto.port,
        vec![Fault::Cut {
            path: "/cut/b.log".into(),
            after: 5_000,
            times: usize::MAX,
        }],
    );
    let out = check(dir.path(), &proxy.endpoint(), "s3://cut/")
        .env("AWS_MAX_ATTEMPTS", "2")
        .args(["--json", "r.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let report = json(&dir.path().join("r.json"));
    let problems = report["run"]["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0]["archive"], "s3://cut/b.log");
    let message = problems[0]["message"].as_str().unwrap();
    assert!(
        message.contains("records read before the break"),
        "{message}"
    );
    // The records before the cut count, like those of a local archive cut short: all 50 of
    // a.log.gz, and of b.log what the two attempts got (2 x 5000 bytes, ~90 lines).
    let records = report["run"]["records"].as_u64().unwrap();
    assert!((50 + 50..50 + 1000).contains(&records), "{records}");
    assert_eq!(proxy.gets("/cut/b.log"), 2);
}

/// `inspect` of `s3://bucket/logs/` through a proxy, without keys in the environment and with
/// `home/.aws/config` and `credentials` as given; the requests the proxy saw. `None` as
/// [`moto`].
fn inspect_with_profile(
    bucket: &str,
    env: &[(&str, &str)],
    config: &str,
    credentials: &str,
) -> Option<(Output, Vec<support::Seen>)> {
    let moto = moto_with_bucket(bucket)?;
    moto.put(bucket, "logs/a.log", &plain_text(3));
    let dir = tempfile::tempdir().unwrap();
    let aws = dir.path().join("home/.aws");
    std::fs::create_dir_all(&aws).unwrap();
    std::fs::write(aws.join("config"), config).unwrap();
    std::fs::write(aws.join("credentials"), credentials).unwrap();
    let proxy = Proxy::start(moto.port, Vec::new());
    let out = flowgate_s3(dir.path(), &proxy.endpoint())
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .envs(env.iter().copied())
        .args(["inspect", "--logs", &format!("s3://{bucket}/logs/")])
        .output()
        .unwrap();
    Some((out, proxy.seen()))
}

#[test]
fn a_profiles_role_is_assumed_with_its_source_profiles_keys() {
    let Some((out, seen)) = inspect_with_profile(
        "roles",
        &[("AWS_PROFILE", "audit")],
        "[profile audit]\nrole_arn = arn:aws:iam::123456789012:role/flow-logs-reader\nsource_profile = base\n",
        "[base]\naws_access_key_id = AKIABASEPROFILE\naws_secret_access_key = base-secret\n",
    ) else {
        return;
    };
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // STS was asked with the source profile's keys; S3 with the role's.
    let sts = seen
        .iter()
        .find(|s| s.method == "POST")
        .expect("an STS request");
    assert_eq!(sts.key_id.as_deref(), Some("AKIABASEPROFILE"));
    let get = seen.iter().find(|s| s.is_object_get()).expect("a GET");
    let role_key = get.key_id.clone().unwrap();
    assert!(
        role_key != "AKIABASEPROFILE" && !role_key.is_empty(),
        "{role_key}"
    );
}

#[test]
fn a_profiles_credential_process_gives_the_keys() {
    let Some((out, seen)) = inspect_with_profile(
        "process",
        &[("AWS_PROFILE", "tool")],
        "[profile tool]\ncredential_process = echo '{\"Version\": 1, \"AccessKeyId\": \"AKIAFROMPROCESS\", \"SecretAccessKey\": \"s\"}'\n",
        "",
    ) else {
        return;
    };
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        seen.iter()
            .all(|s| s.key_id.as_deref() == Some("AKIAFROMPROCESS")),
        "{seen:#?}"
    );
}

#[test]
fn web_identity_from_the_environment_is_exchanged_with_sts() {
    let token = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        token.path(),
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOmZsb3dnYXRlIn0.c2ln",
    )
    .unwrap();
    let token_path = token.path().to_string_lossy().into_owned();
    let Some((out, seen)) = inspect_with_profile(
        "oidc",
        &[
            ("AWS_WEB_IDENTITY_TOKEN_FILE", &token_path),
            (
                "AWS_ROLE_ARN",
                "arn:aws:iam::123456789012:role/github-actions",
            ),
        ],
        "",
        "",
    ) else {
        return;
    };
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        seen.iter()
            .any(|s| s.method == "POST" && s.key_id.is_none()),
        "{seen:#?}"
    );
    assert!(seen.iter().any(|s| s.is_object_get() && s.key_id.is_some()));
}

/// What a sample must keep of a report: per policy its status, the conversations that would be
/// blocked, which allow rules and waivers matched, and each evidence demand's status.
fn verdicts(report: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    for p in report["policies"].as_array().unwrap() {
        out.push(format!("{} {}", p["name"], p["status"]));
        let mut conversations: Vec<String> = p["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                format!(
                    "  {} {} -> {}:{}",
                    c["protocol"], c["client"], c["server"], c["server_port"]
                )
            })
            .collect();
        conversations.sort();
        out.extend(conversations);
        for kind in ["allows", "waivers"] {
            for a in p[kind].as_array().unwrap() {
                out.push(format!(
                    "  {kind} {} {}",
                    a["name"],
                    a["hits"].as_u64().unwrap() > 0
                ));
            }
        }
        for d in p["demands"].as_array().unwrap() {
            out.push(format!("  demand {} {}", d["kind"], d["status"]));
        }
    }
    out
}

#[test]
fn a_sample_straight_from_s3_keeps_the_layout_and_every_verdict() {
    let Some(moto) = moto_with_bucket("org-logs") else {
        return;
    };
    moto.put_dir("org-logs", "prod/", &root().join("fixtures"));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sampled");
    let sample = flowgate_s3(root(), &moto.endpoint())
        .args([
            "sample",
            "--logs",
            "s3://org-logs/prod/",
            "--rate",
            "0",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(sample.status.code(), Some(0), "{}", text(&sample));
    // The key layout from AWSLogs/ down, nothing else: no staging folder left behind.
    let written: Vec<String> = support::files(&out)
        .iter()
        .map(|p| p.strip_prefix(&out).unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        written
            .iter()
            .all(|p| p == "MANIFEST.toml" || p.starts_with("AWSLogs/")),
        "{written:?}"
    );
    assert!(!std::fs::read_dir(&out).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with('.')));
    let manifest = std::fs::read_to_string(out.join("MANIFEST.toml")).unwrap();
    assert!(manifest.contains("s3://org-logs/prod/"), "{manifest}");
    assert!(
        !manifest.contains(&*dir.path().to_string_lossy()),
        "a local path: {manifest}"
    );
    let run = |logs: &Path, report: &str| {
        let o = check(root(), &moto.endpoint(), &logs.to_string_lossy())
            .args(["--policies", "examples/spec-only", "--json"])
            .arg(dir.path().join(report))
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        json(&dir.path().join(report))
    };
    let full = run(&root().join("fixtures"), "full.json");
    let sampled = run(&out, "sampled.json");
    assert_eq!(verdicts(&sampled), verdicts(&full));
    assert!(full["run"]["records"].as_u64() > sampled["run"]["records"].as_u64());
}

#[test]
fn parquet_cloudwatch_and_big_objects_from_s3_read_as_local_files() {
    let Some(moto) = moto_with_bucket("kinds") else {
        return;
    };
    let dir = with_partner_policy();
    let export: String = plain_text(20)
        .split(|&b| b == b'\n')
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| format!("2026-11-02T03:00:00.000Z {}\n", String::from_utf8_lossy(l)))
        .collect();
    let big = plain_text(30_000);
    assert!(big.len() > 2 << 20, "past the size read whole: streamed");
    let objects: [(&str, Vec<u8>); 3] = [
        (
            "AWSLogs/aws-account-id=123456789010/aws-service=vpcflowlogs/aws-region=eu-west-1/year=2026/month=11/day=02/b.log.parquet",
            std::fs::read(root().join("tests/data/parquet/aws-snappy.parquet")).unwrap(),
        ),
        ("cloudwatch/export-000000.gz", gz(export)),
        ("big/c.log", big),
    ];
    for (key, bytes) in &objects {
        put_with_local_copy(moto, "kinds", dir.path(), key, bytes);
    }
    let run = |logs: &str, report: &str| {
        check(dir.path(), &moto.endpoint(), logs)
            .args(["--json", report])
            .args(["--log-format", "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"])
            .output()
            .unwrap()
    };
    let s = run("s3://kinds/", "s3.json");
    let l = run("local", "local.json");
    assert_eq!(s.status.code(), l.status.code(), "{}", text(&s));
    let remote = json(&dir.path().join("s3.json"));
    assert_eq!(
        as_local(&remote, "s3://kinds/", "local/"),
        json(&dir.path().join("local.json"))
    );
    let kinds: Vec<String> = remote["run"]["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| format!("{}:{}", k["kind"].as_str().unwrap(), k["archives"]))
        .collect();
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert_eq!(remote["run"]["records"].as_u64(), Some(5 + 20 + 30_000));
}

#[test]
fn instance_metadata_and_container_credentials_sign_the_requests() {
    let metadata = support::metadata_server();
    let imds = format!("http://127.0.0.1:{metadata}");
    let Some((out, seen)) = inspect_with_profile(
        "instance",
        &[
            ("AWS_EC2_METADATA_DISABLED", "false"),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds),
        ],
        "",
        "",
    ) else {
        return;
    };
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        seen.iter()
            .all(|s| s.key_id.as_deref() == Some("ASIAINSTANCEROLE")),
        "{seen:#?}"
    );
    let container = format!("http://127.0.0.1:{metadata}/container-credentials");
    let (out, seen) = inspect_with_profile(
        "container",
        &[("AWS_CONTAINER_CREDENTIALS_FULL_URI", &container)],
        "",
        "",
    )
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        seen.iter()
            .all(|s| s.key_id.as_deref() == Some("ASIACONTAINERROLE")),
        "{seen:#?}"
    );
}
