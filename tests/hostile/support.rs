//! Helpers only the hostile-input suite needs: its repository (a policy and a good archive
//! beside every bad one), generators that stream big inputs without holding them, a deflate
//! encoder for symbols zlib never writes, and process probes (peak memory, open files). The
//! scratch repository, the binary and `gz` come from `tests/common`.

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

pub use crate::common::{assert_no_panic, gz, Repo, Run};

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

/// Deflate symbols RFC 1951 reserves: they "will never actually occur in the compressed data".
/// zlib rejects them; libdeflate read the length symbols as 258 and the distance symbols as
/// 24577 and up, which is how the same file once passed as a file and failed from stdin.
#[derive(Clone, Copy, Debug)]
pub enum Reserved {
    Length286,
    Length287,
    Distance30,
    Distance31,
}

impl Reserved {
    pub const ALL: [Reserved; 4] = [
        Reserved::Length286,
        Reserved::Length287,
        Reserved::Distance30,
        Reserved::Distance31,
    ];
}

/// Bits for a deflate stream: numbers least significant bit first, Huffman codes most
/// significant bit first (RFC 1951, 3.1.1).
#[derive(Default)]
struct Bits {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits {
    fn put(&mut self, value: u32, count: u32) {
        self.acc |= u64::from(value) << self.n;
        self.n += count;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    fn code(&mut self, (code, len): (u32, u32)) {
        let reversed = (0..len).fold(0, |r, i| r | ((code >> i) & 1) << (len - 1 - i));
        self.put(reversed, len);
    }

    fn align(&mut self) {
        if self.n > 0 {
            self.put(0, 8 - self.n);
        }
    }
}

/// A length's symbol, extra bits and their count (RFC 1951, 3.2.5).
fn length_code(len: u32) -> (u32, u32, u32) {
    const BASE: [u32; 29] = [
        3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115,
        131, 163, 195, 227, 258,
    ];
    let i = BASE.iter().rposition(|&b| b <= len).unwrap();
    let extra_bits = if (8..28).contains(&i) {
        (i as u32 - 4) / 4
    } else {
        0
    };
    (257 + i as u32, len - BASE[i], extra_bits)
}

/// A distance's symbol, extra bits and their count.
fn distance_code(dist: u32) -> (u32, u32, u32) {
    let (mut base, mut sym) = (1, 0);
    loop {
        let extra_bits = if sym < 4 { 0 } else { sym / 2 - 1 };
        if dist < base + (1 << extra_bits) {
            return (sym, dist - base, extra_bits);
        }
        base += 1 << extra_bits;
        sym += 1;
    }
}

/// Code lengths of a complete prefix code over `used` (at least two symbols), in a table
/// of `n` symbols.
fn complete_lengths(used: &[u32], n: usize) -> Vec<u32> {
    let k = used.len() as u32;
    let bits = 32 - (k - 1).leading_zeros();
    let short = (1 << bits) - k;
    let mut lens = vec![0; n];
    for (i, &s) in used.iter().enumerate() {
        lens[s as usize] = if (i as u32) < short { bits - 1 } else { bits };
    }
    lens
}

/// Canonical codes for code lengths (RFC 1951, 3.2.2).
fn canonical(lens: &[u32]) -> Vec<(u32, u32)> {
    let mut count = [0u32; 16];
    for &l in lens.iter().filter(|&&l| l > 0) {
        count[l as usize] += 1;
    }
    let mut next = [0u32; 16];
    let mut code = 0;
    for bits in 1..16 {
        code = (code + count[bits - 1]) << 1;
        next[bits] = code;
    }
    lens.iter()
        .map(|&l| {
            if l == 0 {
                return (0, 0);
            }
            let c = next[l as usize];
            next[l as usize] += 1;
            (c, l)
        })
        .collect()
}

/// One match or the end of the block, as the symbols to write.
enum Token {
    Match { len: u32, dist: u32 },
    End,
}

/// A one-member gzip file: `text` in a stored block, then a block (fixed or dynamic
/// Huffman) of matches that copy whole 108-byte records of it, one of them coded with the
/// `reserved` symbol. Returns the file and the text a decoder that accepts the symbol (as
/// libdeflate did) decodes, whose CRC and size the trailer holds.
pub fn gzip_with_reserved(
    text: &[u8],
    record: usize,
    reserved: Reserved,
    dynamic: bool,
) -> (Vec<u8>, Vec<u8>) {
    assert!(text.len() < 65_536 && text.ends_with(b"\n"));
    let record = record as u32;
    let mut b = Bits::default();
    // Stored block: BFINAL 0, BTYPE 00, LEN, NLEN, the bytes.
    b.put(0, 1);
    b.put(0, 2);
    b.align();
    b.put(text.len() as u32, 16);
    b.put(!(text.len() as u32) & 0xffff, 16);
    for &byte in text {
        b.put(u32::from(byte), 8);
    }
    let mut decoded = text.to_vec();
    // The matches, and the symbol that stands in for a real one.
    let (tokens, swap_len, swap_dist) = match reserved {
        // 258 + 66 bytes at one record's distance: three records.
        Reserved::Length286 | Reserved::Length287 => {
            let sym = if matches!(reserved, Reserved::Length286) {
                286
            } else {
                287
            };
            let tokens = vec![
                Token::Match {
                    len: 258,
                    dist: record,
                },
                Token::Match {
                    len: 3 * record - 258,
                    dist: record,
                },
                Token::End,
            ];
            (tokens, Some(sym), None)
        }
        // One record copied from 24577 + extra bytes back, a whole number of records.
        Reserved::Distance30 | Reserved::Distance31 => {
            let sym = if matches!(reserved, Reserved::Distance30) {
                30
            } else {
                31
            };
            let dist = 24_577_u32.div_ceil(record) * record;
            assert!(dist as usize <= text.len());
            (
                vec![Token::Match { len: record, dist }, Token::End],
                None,
                Some(sym),
            )
        }
    };
    // Symbols as written: (litlen symbol, its extra), (distance symbol, its extra).
    type Written = ((u32, u32, u32), Option<(u32, u32, u32)>);
    let written: Vec<Written> = tokens
        .iter()
        .map(|t| match *t {
            Token::Match { len, dist } => {
                let start = decoded.len() - dist as usize;
                for i in 0..len as usize {
                    decoded.push(decoded[start + i]);
                }
                let mut l = length_code(len);
                if len == 258 {
                    if let Some(sym) = swap_len {
                        l = (sym, 0, 0);
                    }
                }
                let mut d = distance_code(dist);
                if let Some(sym) = swap_dist {
                    d = (sym, dist - 24_577, 13);
                }
                (l, Some(d))
            }
            Token::End => ((256, 0, 0), None),
        })
        .collect();
    // Final block header.
    b.put(1, 1);
    let (lit_codes, dist_codes) = if dynamic {
        b.put(2, 2);
        let mut lit_used: Vec<u32> = written.iter().map(|w| w.0 .0).collect();
        let mut dist_used: Vec<u32> = written.iter().filter_map(|w| w.1.map(|d| d.0)).collect();
        dist_used.push(0); // at least two distance symbols, so the code is complete
        for v in [&mut lit_used, &mut dist_used] {
            v.sort_unstable();
            v.dedup();
        }
        // All 288 litlen and 32 distance lengths are written: HLIT 288 > 286 and HDIST
        // 32 > 30, which zlib refuses in any block; libdeflate read them.
        let lit_lens = complete_lengths(&lit_used, 288);
        let dist_lens = complete_lengths(&dist_used, 32);
        // The lengths as precode symbols: a length as itself, zero runs as 18 (11-138),
        // 17 (3-10) or single zeros.
        let all: Vec<u32> = lit_lens.iter().chain(&dist_lens).copied().collect();
        let mut pre: Vec<(u32, u32, u32)> = Vec::new();
        let mut i = 0;
        while i < all.len() {
            let run = all[i..].iter().take_while(|&&l| l == 0).count().min(138) as u32;
            if run >= 11 {
                pre.push((18, run - 11, 7));
            } else if run >= 3 {
                pre.push((17, run - 3, 3));
            } else {
                pre.push((all[i], 0, 0));
                i += 1;
                continue;
            }
            i += run as usize;
        }
        let mut pre_used: Vec<u32> = pre.iter().map(|p| p.0).collect();
        pre_used.sort_unstable();
        pre_used.dedup();
        let pre_lens = complete_lengths(&pre_used, 19);
        let pre_codes = canonical(&pre_lens);
        const ORDER: [usize; 19] = [
            16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
        ];
        let hclen = ORDER.iter().rposition(|&s| pre_lens[s] > 0).unwrap() + 1;
        b.put(288 - 257, 5);
        b.put(32 - 1, 5);
        b.put(hclen.max(4) as u32 - 4, 4);
        for &s in &ORDER[..hclen.max(4)] {
            b.put(pre_lens[s], 3);
        }
        for &(sym, extra, bits) in &pre {
            b.code(pre_codes[sym as usize]);
            b.put(extra, bits);
        }
        (canonical(&lit_lens), canonical(&dist_lens))
    } else {
        b.put(1, 2);
        let lit: Vec<(u32, u32)> = (0..288)
            .map(|s| match s {
                0..=143 => (0x30 + s, 8),
                144..=255 => (0x190 + s - 144, 9),
                256..=279 => (s - 256, 7),
                _ => (0xc0 + s - 280, 8),
            })
            .collect();
        (lit, (0..32).map(|s| (s, 5)).collect())
    };
    for ((lsym, lextra, lbits), d) in &written {
        b.code(lit_codes[*lsym as usize]);
        b.put(*lextra, *lbits);
        if let Some((dsym, dextra, dbits)) = d {
            b.code(dist_codes[*dsym as usize]);
            b.put(*dextra, *dbits);
        }
    }
    b.align();
    let mut crc = flate2::Crc::new();
    crc.update(&decoded);
    let mut file = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    file.extend(b.out);
    file.extend(crc.sum().to_le_bytes());
    file.extend((decoded.len() as u32).to_le_bytes());
    (file, decoded)
}
