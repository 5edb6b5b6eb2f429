//! `flowgate sample` on generated archives: the sample gives the same verdicts as its input,
//! is reproducible byte for byte, fits a size cap, and pseudonymises consistently.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use common::gz;
use flowgate::sample::{sample, SampleOptions};
use flowgate::{Check, Report};
use proptest::prelude::*;

const HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags pkt-srcaddr pkt-dstaddr flow-direction";
const V2: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";
const ACCOUNT: &str = "111122223333";
const DAY: u64 = 1_793_577_600; // 2026-11-02T00:00:00Z

/// xorshift64*: enough randomness for test data, and no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const ENIS: &[(&str, &str, &str, &str)] = &[
    // interface, subnet, instance, address
    (
        "eni-0a7c91d2e4b5f6071",
        "subnet-0aa1b2c3d4e5f6071",
        "i-0123456789abcdef0",
        "10.0.1.10",
    ),
    (
        "eni-0b7c91d2e4b5f6072",
        "subnet-0aa1b2c3d4e5f6071",
        "i-0123456789abcdef1",
        "10.0.1.11",
    ),
    (
        "eni-0c7c91d2e4b5f6073",
        "subnet-0bb1b2c3d4e5f6072",
        "i-0123456789abcdef2",
        "10.0.2.15",
    ),
    (
        "eni-0e95aa7c31402b111",
        "subnet-0bb1b2c3d4e5f6072",
        "-",
        "10.0.0.50",
    ),
];
const PEERS: &[&str] = &[
    "10.20.30.5",
    "10.20.30.6",
    "10.20.40.12",
    "10.20.50.9",
    "142.250.185.91",
    "10.0.0.10",
    "2a02:cf40::1",
];
const PORTS: &[(u8, u16)] = &[(6, 443), (6, 1433), (6, 22), (17, 53), (6, 5432), (1, 0)];

/// One record of the custom format at `t`.
fn record(rng: &mut Rng, t: u64) -> String {
    let (eni, subnet, instance, local) = *rng.pick(ENIS);
    let peer = *rng.pick(PEERS);
    let local = if peer.contains(':') {
        "2a05:d018:c1a:7e01::10"
    } else {
        local
    };
    let (proto, port) = *rng.pick(PORTS);
    let client_port = if proto == 1 {
        0
    } else {
        32768 + rng.below(28000) as u16
    };
    let outbound = rng.below(3) > 0;
    let request = rng.below(2) == 0;
    // The client is the local end on outbound conversations.
    let (client, server) = if outbound {
        (local, peer)
    } else {
        (peer, local)
    };
    let (src, dst, sport, dport) = if request {
        (client, server, client_port, port)
    } else {
        (server, client, port, client_port)
    };
    // Flags as AWS reports them (ACK only with SYN): the client's side may carry SYN, the
    // server's SYN-ACK. A reply with a bare SYN would make its receiver, the client, the
    // server, and then `src_port = 443` would match a client port, which the sampling promise
    // excludes (proptest found that case: data_seed 8443, seed 891, rate 0.05).
    let flags = match (proto, request) {
        (6, true) => *rng.pick(&[0u8, 2, 3, 1]),
        (6, false) => *rng.pick(&[0u8, 18, 19, 1]),
        _ => 0,
    };
    let direction = if src == local { "egress" } else { "ingress" };
    let action = if rng.below(6) == 0 {
        "REJECT"
    } else {
        "ACCEPT"
    };
    let (pkt_src, pkt_dst) = if eni.ends_with("111") && rng.below(2) == 0 {
        ("10.0.1.12", dst)
    } else {
        (src, dst)
    };
    let start = t + rng.below(240);
    let end = start + rng.below(120);
    format!(
        "5 {ACCOUNT} {eni} {src} {dst} {sport} {dport} {proto} {} {} {start} {end} {action} OK vpc-0a1b2c3d4e5f60718 {subnet} {instance} {flags} {pkt_src} {pkt_dst} {direction}",
        1 + rng.below(20),
        40 + rng.below(20_000),
    )
}

/// Writes `archives` gzip archives of the custom format (with NODATA and SKIPDATA records),
/// one plain-text archive and one default-format archive, in the S3 key layout.
fn generate(root: &Path, seed: u64, archives: usize, records: usize) {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let dir = root.join(format!(
        "AWSLogs/{ACCOUNT}/vpcflowlogs/eu-west-1/2026/11/02"
    ));
    std::fs::create_dir_all(&dir).unwrap();
    for a in 0..archives {
        let t = DAY + a as u64 * 1800;
        let mut text = format!("{HEADER}\n");
        for i in 0..records {
            if i == records / 3 {
                text.push_str(&format!("5 {ACCOUNT} eni-0f3e2d1c0b9a87654 - - - - - - - {t} {} - NODATA vpc-0a1b2c3d4e5f60718 subnet-0aa1b2c3d4e5f6071 i-0fedcba9876543210 - - - -\n", t + 60));
            }
            if a == 1 && i == records / 2 {
                text.push_str(&format!("5 {ACCOUNT} eni-0e95aa7c31402b111 - - - - - - - {t} {} - SKIPDATA vpc-0a1b2c3d4e5f60718 subnet-0bb1b2c3d4e5f6072 - - - - -\n", t + 60));
            }
            text.push_str(&record(&mut rng, t + (i as u64 * 1500) / records as u64));
            text.push('\n');
        }
        let hh = a / 2;
        let mm = (a % 2) * 30;
        let name = format!(
            "{ACCOUNT}_vpcflowlogs_eu-west-1_fl-0677f11ab059bfb6d_20261102T{hh:02}{mm:02}Z_{:08x}.log.gz",
            rng.next() as u32
        );
        std::fs::write(dir.join(name), gz(&text)).unwrap();
    }
    // A plain-text archive stays plain.
    let mut text = format!("{HEADER}\n");
    for i in 0..200 {
        text.push_str(&record(&mut rng, DAY + 40_000 + i * 3));
        text.push('\n');
    }
    std::fs::write(dir.join("hand-made.log"), text).unwrap();
    // A second flow log in the default format, another account.
    let other = root.join("AWSLogs/444455556666/vpcflowlogs/us-gov-east-1/2026/11/02");
    std::fs::create_dir_all(&other).unwrap();
    let mut text = format!("{V2}\n");
    for i in 0..300u64 {
        let t = DAY + 50_000 + i * 2;
        let c = 11 + rng.below(4);
        text.push_str(&format!(
            "2 444455556666 eni-0d1e2f3a4b5c6d7e8 10.50.1.{c} 10.50.2.30 {} 8080 6 3 400 {t} {} ACCEPT OK\n",
            40000 + rng.below(20000),
            t + 30
        ));
    }
    std::fs::write(
        other.join("444455556666_vpcflowlogs_us-gov-east-1_fl-0146027aa883691da_20261102T1350Z_1a2b3c4d.log.gz"),
        gz(&text),
    )
    .unwrap();
}

/// Policies over every kind of key: peer scopes, src/dst ports (replies vs requests), packet
/// addresses, interfaces, subnets, instances, directions, rejects, waivers, unused rules.
const POLICIES: &[(&str, &str)] = &[
    (
        "retail",
        r#"
[scope]
peer = ["10.20.0.0/16"]
[[allow]]
name = "settlement"
peer = ["10.20.30.0/24"]
protocol = "tcp"
peer_port = 443
[[allow]]
name = "never used"
peer = ["10.20.99.0/24"]
[[waive]]
name = "batch"
peer = "10.20.40.12"
reason = "NET-1"
expires = 2027-01-31
[evidence]
max_gap = "2h"
"#,
    ),
    (
        "replies",
        r#"
[scope]
interface = ["eni-0e95aa7c31402b111", "eni-0a7c91d2e4b5f6071"]
[[allow]]
name = "web requests"
protocol = "tcp"
dst_port = [443]
[[allow]]
name = "web replies"
protocol = "tcp"
src_port = [443]
[[allow]]
name = "dns"
protocol = "udp"
"#,
    ),
    (
        "packet",
        r#"
[scope]
addresses = "packet"
src = ["10.0.1.12/32"]
[[allow]]
name = "google"
dst = ["142.250.185.91"]
"#,
    ),
    (
        "subnet-direction",
        r#"
[scope]
subnet = ["subnet-0bb1b2c3d4e5f6072"]
direction = "ingress"
action = ["ACCEPT", "REJECT"]
[[allow]]
name = "mssql from retail"
protocol = "tcp"
dst_port = 1433
[[allow]]
name = "instance 2"
instance = ["i-0123456789abcdef2"]
dst_port = [22]
"#,
    ),
    (
        "ipv6-and-icmp",
        r#"
[scope]
peer = ["2a02:cf40::/32", "10.0.0.10/32"]
[[allow]]
name = "icmp"
protocol = "icmp"
[[allow]]
name = "https v6"
protocol = "tcp"
peer_port = 443
"#,
    ),
    (
        "other-flow-log",
        r#"
[scope]
dst = ["10.50.2.0/24"]
[[allow]]
name = "web to app"
src = ["10.50.1.11", "10.50.1.12", "10.50.1.13"]
dst_port = 8080
"#,
    ),
];

fn write_policies(dir: &Path) -> PathBuf {
    let p = dir.join("policies");
    std::fs::create_dir_all(&p).unwrap();
    for (name, text) in POLICIES {
        std::fs::write(p.join(format!("{name}.toml")), text).unwrap();
    }
    p
}

fn check(policies: &Path, logs: &Path) -> Report {
    Check::new()
        .policies([policies])
        .logs([logs])
        .today(time::macros::date!(2026 - 11 - 26))
        .run()
        .unwrap()
}

/// What a sample must keep of a report: per policy its status, would-be-blocked
/// conversations, which allow rules and waivers matched anything, and each demand's outcome.
type Verdicts = BTreeMap<String, String>;

fn verdicts(r: &Report) -> Verdicts {
    let mut out = BTreeMap::new();
    for p in &r.policies {
        let conversations: BTreeSet<String> = p
            .conversations
            .iter()
            .map(|c| {
                format!(
                    "{:?} {:?} -> {:?}:{:?}",
                    c.protocol, c.client, c.server, c.server_port
                )
            })
            .collect();
        let allows: Vec<String> = p
            .allows
            .iter()
            .map(|a| format!("{}={}", a.name, a.hits > 0))
            .collect();
        let waivers: Vec<String> = p
            .waivers
            .iter()
            .map(|w| format!("{}={}", w.name, w.hits > 0))
            .collect();
        let demands: Vec<String> = p
            .demands
            .iter()
            .map(|d| format!("{:?}:{:?}", d.kind, d.status))
            .collect();
        out.insert(
            p.name.clone(),
            format!(
                "{:?}\nconversations {conversations:?}\nallows {allows:?}\nwaivers {waivers:?}\ndemands {demands:?}\nfield errors {:?}",
                p.status, p.field_errors.len()
            ),
        );
    }
    out.insert(
        "run".into(),
        format!(
            "window {:?} {:?} longest gap {:?} nodata {} skipdata {} problems {}",
            r.run.coverage.first_start,
            r.run.coverage.last_end,
            r.run.coverage.longest_gap,
            r.run.nodata,
            r.run.skipdata,
            r.run.problems_total
        ),
    );
    out
}

fn options(logs: &Path, out: &Path, rate: f64, seed: u64) -> SampleOptions {
    SampleOptions {
        logs: vec![logs.to_path_buf()],
        out: out.to_path_buf(),
        rate,
        seed,
        ..SampleOptions::default()
    }
}

/// Every file below `dir`, by relative path, with its bytes.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.insert(
                    p.strip_prefix(root).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn text_of(bytes: &[u8]) -> String {
    let mut s = String::new();
    if bytes.starts_with(&[0x1f, 0x8b]) {
        flate2::read::MultiGzDecoder::new(bytes)
            .read_to_string(&mut s)
            .unwrap();
    } else {
        s = String::from_utf8(bytes.to_vec()).unwrap();
    }
    s
}

fn archive_bytes(dir: &Path) -> u64 {
    files(dir)
        .iter()
        .filter(|(p, _)| !p.ends_with("MANIFEST.toml"))
        .map(|(_, b)| b.len() as u64)
        .sum()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// The promise: for policies that do not match on client ports, the sample's verdicts are
    /// the input's, whatever the data, the rate and the seed.
    #[test]
    fn sample_verdicts_equal_the_full_input(data_seed in 1u64..10_000, seed in 0u64..1000, rate in prop::sample::select(vec![0.0, 0.003, 0.05, 0.5])) {
        let dir = tempfile::tempdir().unwrap();
        let full = dir.path().join("full");
        generate(&full, data_seed, 6, 700);
        let policies = write_policies(dir.path());
        let out = dir.path().join("fixtures");
        let outcome = sample(&options(&full, &out, rate, seed)).unwrap();
        prop_assert_eq!(outcome.problems_total, 0);
        let (a, b) = (check(&policies, &full), check(&policies, &out));
        prop_assert!(b.run.records < a.run.records || rate >= 0.5);
        let (va, vb) = (verdicts(&a), verdicts(&b));
        for (k, v) in &va {
            prop_assert_eq!(Some(v), vb.get(k), "policy {}", k);
        }
        // The generated data does exercise the verdict branches.
        prop_assert!(a.policies.iter().any(|p| !p.conversations.is_empty()));
        prop_assert!(a.policies.iter().any(|p| p.allows.iter().any(|r| r.hits == 0)));
    }
}

#[test]
fn layout_gzip_headers_and_manifest_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    generate(&full, 7, 4, 500);
    let out = dir.path().join("fixtures");
    let outcome = sample(&options(&full, &out, 0.01, 1)).unwrap();
    let input = files(&full);
    let output = files(&out);
    // Same relative paths (plus the manifest), same compression, same first line.
    let names: BTreeSet<&PathBuf> = output
        .keys()
        .filter(|p| !p.ends_with("MANIFEST.toml"))
        .collect();
    assert_eq!(names, input.keys().collect());
    for (path, bytes) in &output {
        if path.ends_with("MANIFEST.toml") {
            continue;
        }
        let original = &input[path];
        assert_eq!(
            bytes.starts_with(&[0x1f, 0x8b]),
            original.starts_with(&[0x1f, 0x8b]),
            "{path:?}"
        );
        let (a, b) = (text_of(original), text_of(bytes));
        assert_eq!(a.lines().next(), b.lines().next());
        // Every kept line is an input line, in input order.
        let mut rest = a.lines();
        for line in b.lines() {
            assert!(rest.any(|l| l == line), "{path:?}: {line}");
        }
    }
    let m = &outcome.manifest;
    assert_eq!(m.input.archives, 6);
    assert_eq!(m.input.records, 4 * 501 + 1 + 200 + 300);
    assert_eq!(m.output.nodata, 4);
    assert_eq!(m.output.skipdata, 1);
    assert_eq!(
        m.output.records,
        m.output.kept_evidence
            + m.output.kept_window
            + m.output.kept_combinations
            + m.output.kept_witnesses
            + m.output.kept_rate
    );
    assert_eq!(m.output.bytes, archive_bytes(&out));
    let manifest = std::fs::read_to_string(out.join("MANIFEST.toml")).unwrap();
    assert!(
        manifest.contains("seed = 1\n") && manifest.contains("rate = 0.01\n"),
        "{manifest}"
    );
    // A check of the sample shows where it came from.
    let policies = write_policies(dir.path());
    let report = check(&policies, &out);
    let p = report.provenance.as_ref().expect("provenance");
    assert_eq!(
        (p.input_records, p.sample_records),
        (m.input.records, m.output.records)
    );
    let human = flowgate::output::human::render(&report, false);
    assert!(
        human.contains(&format!(
            "  sample     {} of {} records",
            m.output.records, m.input.records
        )),
        "{human}"
    );
    assert!(check(&policies, &full).provenance.is_none());
}

#[test]
fn same_seed_same_bytes_at_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    generate(&full, 3, 5, 600);
    let run = |name: &str, seed: u64, threads: usize| {
        let out = dir.path().join(name);
        let mut o = options(&full, &out, 0.05, seed);
        o.threads = Some(threads);
        sample(&o).unwrap();
        files(&out)
    };
    let one = run("a", 9, 1);
    assert_eq!(one, run("b", 9, 4));
    assert_ne!(one, run("c", 10, 2));
}

#[test]
fn max_bytes_lowers_the_rate_or_says_what_lossless_needs() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    generate(&full, 5, 6, 1500);
    let policies = write_policies(dir.path());
    // The lossless floor: rate 0.
    let floor_dir = dir.path().join("floor");
    let floor = sample(&options(&full, &floor_dir, 0.0, 1))
        .unwrap()
        .manifest
        .output
        .bytes;
    let everything = sample(&options(&full, &dir.path().join("all"), 1.0, 1))
        .unwrap()
        .manifest
        .output
        .bytes;
    assert!(floor < everything);

    let cap = floor + (everything - floor) / 4;
    let out = dir.path().join("capped");
    let mut o = options(&full, &out, 1.0, 1);
    o.max_bytes = Some(cap);
    let m = sample(&o).unwrap().manifest;
    assert!(m.output.bytes <= cap, "{} > {cap}", m.output.bytes);
    assert_eq!(archive_bytes(&out), m.output.bytes);
    assert!(
        m.sample.rate < 1.0 && m.sample.rate > 0.0,
        "{}",
        m.sample.rate
    );
    assert_eq!(
        verdicts(&check(&policies, &out)),
        verdicts(&check(&policies, &full))
    );

    // A cap the lossless part alone exceeds: an error naming the size needed, nothing written.
    let out = dir.path().join("too-small");
    let mut o = options(&full, &out, 0.1, 1);
    o.max_bytes = Some(floor / 2);
    let err = sample(&o).unwrap_err().to_string();
    assert!(err.contains(&format!("takes {floor} bytes")), "{err}");
    assert!(err.contains(&format!("at least {floor}")), "{err}");
    assert!(
        !out.exists() || files(&out).is_empty(),
        "{:?}",
        files(&out).keys()
    );
}

#[test]
fn pseudonyms_are_consistent_and_verdicts_survive() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    generate(&full, 11, 3, 400);
    let plain = dir.path().join("plain");
    let masked = dir.path().join("masked");
    sample(&options(&full, &plain, 0.05, 4)).unwrap();
    let mut o = options(&full, &masked, 0.05, 4);
    o.pseudonymise = Some("correct horse battery staple".into());
    let outcome = sample(&o).unwrap();
    assert!(outcome.manifest.sample.pseudonymised);

    let plain_files = files(&plain);
    let masked_files = files(&masked);
    let id_columns = [1usize, 2, 14, 15, 16];
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    let mut paths = Vec::new();
    for (path, bytes) in &plain_files {
        if path.ends_with("MANIFEST.toml") {
            continue;
        }
        let text = text_of(bytes);
        if text.starts_with("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n") {
            continue; // the default-format flow log: checked through its path below
        }
        // Find the pseudonymised twin: same position in the sorted list of its directory.
        let account = path.iter().nth(1).unwrap().to_string_lossy().into_owned();
        paths.push((path.clone(), account, text));
    }
    let masked_by_name: Vec<(&PathBuf, String)> = masked_files
        .iter()
        .filter(|(p, _)| !p.ends_with("MANIFEST.toml"))
        .map(|(p, b)| (p, text_of(b)))
        .collect();
    for (path, account, text) in &paths {
        // File names keep their slot and hash; the twin is the one with the same tail.
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let tail: String = if name.split('_').count() == 6 {
            name.split('_').skip(4).collect::<Vec<_>>().join("_")
        } else {
            name.clone()
        };
        let (twin_path, twin_text) = masked_by_name
            .iter()
            .find(|(p, _)| p.file_name().unwrap().to_string_lossy().ends_with(&tail))
            .unwrap_or_else(|| panic!("no twin for {path:?}"));
        assert_eq!(text.lines().count(), twin_text.lines().count());
        for (a, b) in text.lines().zip(twin_text.lines()).skip(1) {
            let (ta, tb): (Vec<&str>, Vec<&str>) = (a.split(' ').collect(), b.split(' ').collect());
            assert_eq!(ta.len(), tb.len());
            for (i, (x, y)) in ta.iter().zip(&tb).enumerate() {
                if id_columns.contains(&i) && *x != "-" {
                    assert_ne!(x, y, "column {i} not pseudonymised: {b}");
                    assert_eq!(x.len(), y.len(), "shape of {x} -> {y}");
                    if x.contains('-') {
                        assert_eq!(
                            x.rsplit_once('-').map(|p| p.0),
                            y.rsplit_once('-').map(|p| p.0),
                            "prefix of {x} -> {y}"
                        );
                    }
                    let prior = map.insert(x.to_string(), y.to_string());
                    assert!(prior.is_none_or(|p| p == *y), "{x} has two pseudonyms");
                } else {
                    assert_eq!(x, y, "column {i} changed");
                }
            }
        }
        // The account folder and the file name's account and flow-log id match the records'.
        let masked_account = &map[account];
        let twin = twin_path.to_string_lossy();
        assert!(
            twin.starts_with(&format!("AWSLogs/{masked_account}/")),
            "{twin}"
        );
        if name.starts_with(ACCOUNT) {
            let twin_name = twin_path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            assert!(
                twin_name.starts_with(&format!("{masked_account}_vpcflowlogs_eu-west-1_fl-")),
                "{twin_name}"
            );
            assert!(!twin_name.contains("fl-0677f11ab059bfb6d"));
        }
    }
    // Distinct ids stay distinct.
    let values: BTreeSet<&String> = map.values().collect();
    assert_eq!(values.len(), map.len());
    // No original id is left anywhere, paths included.
    for (path, bytes) in &masked_files {
        let all = format!("{} {}", path.display(), text_of(bytes));
        for id in [
            ACCOUNT,
            "444455556666",
            "eni-0a7c91d2e4b5f6071",
            "vpc-0a1b2c3d4e5f60718",
            "subnet-0aa1b2c3d4e5f6071",
            "i-0123456789abcdef0",
            "fl-0146027aa883691da",
        ] {
            assert!(!all.contains(id), "{id} left in {path:?}");
        }
    }
    // Policies that name no id judge the pseudonymised sample as they judge the input.
    let policies = dir.path().join("addr-policies");
    std::fs::create_dir_all(&policies).unwrap();
    for (name, text) in POLICIES
        .iter()
        .filter(|(_, t)| !t.contains("eni-") && !t.contains("subnet-"))
    {
        std::fs::write(policies.join(format!("{name}.toml")), text).unwrap();
    }
    let mut a = verdicts(&check(&policies, &full));
    let mut b = verdicts(&check(&policies, &masked));
    // Interfaces are pseudonymised, so the run line's window and counts are compared alone.
    a.remove("run");
    b.remove("run");
    assert_eq!(a, b);
    // The same key gives the same sample.
    let again = dir.path().join("again");
    sample(&SampleOptions {
        out: again.clone(),
        ..o
    })
    .unwrap();
    assert_eq!(files(&again), masked_files);
}

#[test]
fn an_old_sample_is_never_mixed_with_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    generate(&full, 1, 2, 100);
    let out = dir.path().join("fixtures");
    sample(&options(&full, &out, 0.1, 1)).unwrap();
    let err = sample(&options(&full, &out, 0.1, 1))
        .unwrap_err()
        .to_string();
    assert!(err.contains("already holds 4 flow-log archive(s)"), "{err}");
}

#[test]
fn the_cli_samples_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    generate(&full, 2, 2, 300);
    let out = common::flowgate(dir.path())
        .args([
            "sample",
            "--logs",
            "full",
            "--out",
            "fixtures",
            "--rate",
            "2%",
            "--seed",
            "5",
            "--max-bytes",
            "10M",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("input   4 archives"), "{stdout}");
    assert!(stdout.contains("by rate 2.0%, seed 5"), "{stdout}");
    assert!(
        stdout.ends_with("wrote   fixtures/MANIFEST.toml\n"),
        "{stdout}"
    );
    let again = common::flowgate(dir.path())
        .args(["sample", "--logs", "full", "--out", "fixtures"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
}
