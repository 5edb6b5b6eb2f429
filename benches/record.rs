//! Per-record cost of the hot loop, without gzip: `cargo bench --bench record`.
//!
//! Parses a few hundred thousand synthetic records (default v2 format and a 23-field custom
//! v5 format) and judges them against the ten bench policies, printing nanoseconds per
//! record. A plain `Instant` timer over many iterations keeps this free of extra dependencies;
//! whole-run timings against the decompression floor are in `benches/bench.sh`.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use flowgate::flowlog::{Flow, Format};
use flowgate::policy::{PolicySet, Verdict};

const V2: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";
const V5: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr flow-direction traffic-path";

/// A small deterministic generator (xorshift), so runs compare like with like.
fn lines(n: usize, v5: bool) -> Vec<String> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|i| {
            let r = next();
            let (a, b) = (r % 200, (r >> 8) % 250);
            let (src, dst) = match r % 4 {
                0 => (format!("10.0.{a}.{b}"), format!("10.20.30.{}", r % 16)),
                1 => (format!("10.20.40.{}", r % 20), format!("10.0.{a}.{b}")),
                2 => (format!("10.0.{a}.{b}"), format!("52.94.{b}.{a}")),
                _ => (format!("10.0.{b}.{a}"), format!("10.0.{a}.{b}")),
            };
            let sport = 32768 + (r >> 16) % 28000;
            let dport = [443, 1433, 53, 22, 8080][(r >> 24) as usize % 5];
            let start = 1_793_577_600 + i as u64 / 10;
            let action = if r % 33 == 0 { "REJECT" } else { "ACCEPT" };
            let base = format!(
                "{} 123456789012 eni-0{:016x} {src} {dst} {sport} {dport} 6 {} {} {start} {} {action} OK",
                if v5 { 5 } else { 2 },
                r % 400,
                1 + r % 90,
                60 + r % 90000,
                start + 60
            );
            if v5 {
                format!("{base} vpc-0a1b2c3d4e5f60718 subnet-0123456789abcdef0 i-0{:016x} {} IPv4 {src} {dst} egress 1", r % 50, [2, 18, 0, 3][(r >> 5) as usize % 4])
            } else {
                base
            }
        })
        .collect()
}

fn time_per_record(label: &str, records: usize, mut body: impl FnMut() -> u64) {
    body(); // warm up
    let rounds = 5;
    let mut best = f64::MAX;
    let mut sink = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        sink += body();
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{label:<44} {:>8.1} ns/record  ({:.2} M records/s, best of {rounds})",
        best * 1e9 / records as f64,
        records as f64 / best / 1e6
    );
    black_box(sink);
}

fn main() {
    // FLOWGATE_BENCH_RECORDS makes a short run, e.g. for an instruction count under callgrind.
    let n = std::env::var("FLOWGATE_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let policies_dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/generate/bench-policies");
    let mut sources: Vec<(std::path::PathBuf, String)> = std::fs::read_dir(&policies_dir)
        .expect("bench policies")
        .map(|e| {
            let p = e.unwrap().path();
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect();
    sources.sort();
    let retail = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/retail-dedicated-line.toml");
    sources.push((retail.clone(), std::fs::read_to_string(&retail).unwrap()));
    let ten = PolicySet::from_sources(sources.clone()).expect("bench policies load");
    let one = PolicySet::from_sources(sources.into_iter().rev().take(1)).expect("retail loads");
    let today = time::macros::date!(2026 - 11 - 26);

    for (name, spec, v5) in [
        ("v2 (14 fields)", V2, false),
        ("custom v5 (23 fields)", V5, true),
    ] {
        let format = Format::parse_spec(spec).unwrap();
        let data = lines(n, v5);
        time_per_record(&format!("parse {name}"), n, || {
            data.iter()
                .map(|l| {
                    u64::from(
                        Flow::parse(&format, l.as_bytes())
                            .unwrap()
                            .dst_port
                            .unwrap(),
                    )
                })
                .sum()
        });
        if n > 0 {
            // How the scan reads a decoded file: line ends found in the same pass, one record
            // read over the last (the lines that fall back to the line reader are not timed).
            let mut text = data.join("\n").into_bytes();
            text.extend_from_slice(&[b'\n'; 256]);
            time_per_record(&format!("parse in buffer {name}"), n, || {
                let (mut at, mut sum) = (0, 0);
                let mut flow = Flow::EMPTY;
                while let Some(length) = flow.parse_line(&format, &text[at..]) {
                    sum += u64::from(flow.dst_port.unwrap());
                    at += length + 1;
                }
                assert_eq!(at, text.len() - 255, "every line read in the buffer");
                sum
            });
        }
        for (label, set) in [("1 policy", &one), ("10 policies", &ten)] {
            let mut hits: Vec<(Vec<u64>, Vec<u64>)> = set
                .policies()
                .iter()
                .map(|p| (vec![0; p.allows.len()], vec![0; p.waivers.len()]))
                .collect();
            let usable: Vec<bool> = set
                .policies()
                .iter()
                .map(|p| p.required_fields().iter().all(|(f, _)| format.has(*f)))
                .collect();
            time_per_record(&format!("parse + judge {label}, {name}"), n, || {
                let mut verdicts = 0;
                for l in &data {
                    let flow = Flow::parse(&format, l.as_bytes()).unwrap();
                    for ((p, (a, w)), ok) in set.policies().iter().zip(hits.iter_mut()).zip(&usable)
                    {
                        if *ok {
                            verdicts +=
                                u64::from(p.judge(&flow, today, a, w) != Verdict::OutOfScope);
                        }
                    }
                }
                verdicts
            });
        }
    }
}
