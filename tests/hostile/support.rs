//! Helpers for the hostile-input suite: a scratch repository, generators that stream big
//! inputs without holding them, and process probes (peak memory, open files).

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use flate2::write::GzEncoder;
use flate2::Compression;

pub const HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";

/// An allowed record (settlement API, 10.20.30.5:443) in [`HEADER`]'s format.
pub const GOOD: &str =
    "2 111122223333 eni-0aa11bb22cc33dd44 10.0.1.10 10.20.30.5 40001 443 6 3 180 1762041600 1762041660 ACCEPT OK";

/// Records in `logs/good.log.gz`, which every bad-input test puts beside its bad archive.
pub const GOOD_RECORDS: u64 = 3;

pub const POLICY: &str = r#"
[policy]
name = "retail"
[scope]
peer = ["10.20.0.0/16"]
[[allow]]
name = "settlement API"
peer = ["10.20.30.0/24"]
peer_port = 443
"#;

pub use crate::repo::{assert_no_panic, Repo, Run};

impl Repo {
    /// A repository with `policies/retail.toml` and `logs/good.log.gz`.
    pub fn new() -> Repo {
        let r = Repo::empty();
        r.policy("retail", POLICY);
        let body = format!(
            "{HEADER}\n{}",
            format!("{GOOD}\n").repeat(GOOD_RECORDS as usize)
        );
        r.raw("good.log.gz", &gz(body.as_bytes()));
        r
    }
}

impl Run {
    /// The policy's count `what` (`allowed`, `would_block`, ...).
    pub fn count(&self, what: &str) -> u64 {
        self.json["policies"][0]["counts"][what]
            .as_u64()
            .unwrap_or_else(|| panic!("no count {what} in {}", self.json))
    }

    /// Problems of archives whose path ends with `name`, as (line, message).
    pub fn problems(&self, name: &str) -> Vec<(Option<u64>, String)> {
        self.json["run"]["problems"]
            .as_array()
            .unwrap_or_else(|| panic!("no problems in {}\n{}", self.json, self.stderr))
            .iter()
            .filter(|p| p["archive"].as_str().unwrap().ends_with(name))
            .map(|p| {
                (
                    p["line"].as_u64(),
                    p["message"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// Asserts exit 2 (untrusted), one problem for `name` at `line` saying `what`, the problem
    /// in the human report too, and `allowed` records counted (good.log.gz's among them).
    pub fn assert_problem(&self, name: &str, line: Option<u64>, what: &str, allowed: u64) {
        assert_eq!(self.code, Some(2), "{}\n{}", self.stdout, self.stderr);
        let problems = self.problems(name);
        assert!(
            problems.iter().any(|(l, m)| *l == line && m.contains(what)),
            "no problem `{what}` at line {line:?} for {name}: {problems:?}"
        );
        let shown = match line {
            Some(l) => format!("{name}:{l}: "),
            None => format!("{name}: "),
        };
        assert!(
            self.stdout.contains(&shown),
            "{shown} not in\n{}",
            self.stdout
        );
        assert_eq!(
            self.count("allowed"),
            allowed,
            "good records lost: {}",
            self.json
        );
        assert!(self.stdout.contains("UNTRUSTED"), "{}", self.stdout);
    }
}

pub fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A gzip file that inflates to `head`, then `block` repeated `times` times, then `tail`,
/// made by concatenating gzip members: `block` is compressed once, so a gigabyte of output
/// costs a few megabytes and milliseconds. Readers must (and flowgate does) read every member.
pub fn gz_repeated(path: &Path, head: &[u8], block: &[u8], times: usize, tail: &[u8]) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    if !head.is_empty() {
        f.write_all(&gz(head)).unwrap();
    }
    // Compressed once, so the best ratio (~1000:1, deflate's limit) costs nothing.
    let mut e = GzEncoder::new(Vec::new(), Compression::best());
    e.write_all(block).unwrap();
    let member = e.finish().unwrap();
    for _ in 0..times {
        f.write_all(&member).unwrap();
    }
    if !tail.is_empty() {
        f.write_all(&gz(tail)).unwrap();
    }
    f.flush().unwrap();
}

/// Peak resident memory of a running child, in KiB, from `/proc/<pid>/status` (VmHWM).
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Waits for `child`, sampling its peak memory until it exits; returns the output and the
/// highest VmHWM seen (the high-water mark only grows, so the last sample is close to final).
pub fn wait_measuring(mut child: Child) -> (Output, u64) {
    let pid = child.id();
    let mut peak = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if let Some(kib) = peak_rss_kib(pid) {
            peak = peak.max(kib);
        }
        assert!(Instant::now() < deadline, "child still running after 120 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    (child.wait_with_output().unwrap(), peak)
}

/// Spawns `cmd` with all three streams piped.
pub fn spawn(mut cmd: Command) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until `pid` has a file open whose path ends with `suffix`: the scan has reached it.
pub fn wait_until_reading(pid: u32, suffix: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read_link(e.path()).ok())
            .any(|p| p.to_string_lossy().ends_with(suffix));
        if open {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "process {pid} never opened {suffix}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits for `child` at most `limit`; kills it and fails the test if it takes longer.
pub fn wait_within(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("process did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

/// `n` tiny records (four fields) in gzip members of 10,000, after their header: flowgate's
/// per-record cost, without the cost of generating them.
pub fn tiny_records(path: &Path, n: usize) {
    assert_eq!(n % 10_000, 0);
    let block = "10.0.1.10 10.20.30.5 40001 443\n".repeat(10_000);
    gz_repeated(
        path,
        b"srcaddr dstaddr srcport dstport\n",
        block.as_bytes(),
        n / 10_000,
        b"",
    );
}

/// Sends `signal` (`INT`, `KILL`) with kill(1).
pub fn send_signal(pid: u32, signal: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{signal} {pid} failed");
}
