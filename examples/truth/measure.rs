//! The truth test's measurement: the share of records flowgate keys to the right server.
//!
//! `generate bench --truth DIR` writes, beside each archive, which end of each record is the
//! server (the generator knows: it made the request and the reply). flowgate decides the
//! server of every OK record by the check's own rule (`flowgate::engine::sides`); this counts,
//! over the records of protocols with ports, how many it keyed to the end the generator says.
//! ICMP and protocols without ports are left out: their server is dst by definition. With
//! `flags`, the same flows in a format with `tcp-flags` (`--extra-fields "tcp-flags ..."`),
//! it also counts agreement with the records whose flags decide (SYN-ACK or SYN), which is
//! what an outside check without the generator's truth can compare against.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use flowgate::engine::server::{self, Basis, Side};
use flowgate::engine::{sides, EvidenceSize, RecordSide, ScanPlan};
use flowgate::flowlog::archive::{Archive, Source};
use flowgate::flowlog::ScanOptions;

/// Right and wrong records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Score {
    pub records: u64,
    pub right: u64,
}

impl Score {
    fn add(&mut self, right: bool) {
        self.records += 1;
        self.right += u64::from(right);
    }

    fn merge(&mut self, o: Score) {
        self.records += o.records;
        self.right += o.right;
    }

    /// The share right, as a percentage.
    pub fn percent(&self) -> f64 {
        if self.records == 0 {
            100.0
        } else {
            100.0 * self.right as f64 / self.records as f64
        }
    }
}

/// What a measurement found.
#[derive(Debug, Default)]
pub struct Measurement {
    pub archives: u64,
    /// Records of protocols with ports, against the generator's truth.
    pub truth: Score,
    /// The same, by how flowgate decided.
    pub by_basis: BTreeMap<&'static str, Score>,
    /// Against the tcp-flags of the same flows, where they decide.
    pub flags: Score,
    /// A few records keyed to the wrong server: `archive:line (basis)`.
    pub wrong: Vec<String>,
    /// How large the rule's evidence grew on `logs`.
    pub evidence: EvidenceSize,
}

impl Measurement {
    fn merge(mut self, o: Measurement) -> Measurement {
        self.archives += o.archives;
        self.truth.merge(o.truth);
        for (k, v) in o.by_basis {
            self.by_basis.entry(k).or_default().merge(v);
        }
        self.flags.merge(o.flags);
        self.wrong.extend(o.wrong);
        self.wrong.sort();
        self.wrong.truncate(WRONG_SHOWN);
        self
    }

    /// A few lines for people.
    pub fn render(&self) -> String {
        let mut out = format!(
            "archives {}\nrecords with ports {}: {} keyed to the right server ({:.3}%)\n",
            self.archives,
            self.truth.records,
            self.truth.right,
            self.truth.percent()
        );
        for (basis, s) in &self.by_basis {
            out.push_str(&format!(
                "  decided by {basis:<11} {:>9} records, {:>9} right ({:.3}%)\n",
                s.records,
                s.right,
                s.percent()
            ));
        }
        if self.flags.records > 0 {
            out.push_str(&format!(
                "against tcp-flags where they decide: {} records, {} agree ({:.3}%)\n",
                self.flags.records,
                self.flags.right,
                self.flags.percent()
            ));
        }
        let e = &self.evidence;
        out.push_str(&format!(
            "evidence: largest archive {} distinct ends; run's servers {} ends, {} service ports\n",
            e.largest_archive_ends, e.run_servers, e.service_ports
        ));
        for w in &self.wrong {
            out.push_str(&format!("  wrong: {w}\n"));
        }
        out
    }
}

const WRONG_SHOWN: usize = 20;

/// The archive's key from `AWSLogs/` on: where its truth file and its twin in the other
/// format are.
fn key(archive: &Archive) -> Option<PathBuf> {
    let Source::File(path) = &archive.source else {
        return None;
    };
    let parts: Vec<_> = path.components().collect();
    let i = parts.iter().position(|c| c.as_os_str() == "AWSLogs")?;
    Some(parts[i..].iter().collect())
}

fn archives(logs: &Path) -> anyhow::Result<Vec<Archive>> {
    let found = flowgate::Check::new().logs([logs]).discover()?;
    anyhow::ensure!(
        found.problems.is_empty(),
        "cannot read some of {}",
        logs.display()
    );
    Ok(found.archives)
}

/// The flags' verdict per line (0 none, 1 src, 2 dst) of each archive, by key.
fn flag_sides(logs: &Path, plan: &ScanPlan<'_>) -> anyhow::Result<BTreeMap<PathBuf, Vec<u8>>> {
    let archives = archives(logs)?;
    let (per, _) = sides(&archives, plan, |_, decided| {
        let mut by_line = vec![0u8; decided.last().map_or(0, |d| d.line as usize + 1)];
        for d in decided.iter().filter(|d| d.basis == Basis::Flags) {
            by_line[d.line as usize] = if d.side == Side::Src { 1 } else { 2 };
        }
        by_line
    })?;
    Ok(archives
        .iter()
        .zip(per)
        .filter_map(|(a, v)| Some((key(a)?, v)))
        .collect())
}

/// Measures the archives under `logs` against the truth files under `truth` (and, with
/// `flags`, against the tcp-flags of the same flows in another format).
pub fn measure(
    logs: &Path,
    truth: &Path,
    flags: Option<&Path>,
    threads: Option<usize>,
) -> anyhow::Result<Measurement> {
    let plan = ScanPlan {
        scan: ScanOptions::default(),
        threads,
        today: time::macros::date!(2026 - 11 - 26),
        since: None,
        until: None,
        cancel: None,
        server_evidence: true,
        max_pairs: flowgate::engine::bound::DEFAULT_PAIRS,
    };
    let flag_sides = match flags {
        Some(dir) => flag_sides(dir, &plan)?,
        None => BTreeMap::new(),
    };
    let archives = archives(logs)?;
    let (per, evidence) = sides(&archives, &plan, |index, decided| {
        score(&archives[index], decided, truth, &flag_sides)
    })?;
    let mut total = Measurement {
        evidence,
        ..Measurement::default()
    };
    for m in per {
        total = total.merge(m?);
    }
    Ok(total)
}

fn score(
    archive: &Archive,
    decided: &[RecordSide],
    truth: &Path,
    flag_sides: &BTreeMap<PathBuf, Vec<u8>>,
) -> anyhow::Result<Measurement> {
    let key = key(archive)
        .ok_or_else(|| anyhow::anyhow!("{}: not in an AWSLogs/ layout", archive.display))?;
    let mut name = truth.join(&key).into_os_string();
    name.push(".truth");
    let lines = std::fs::read(&name)
        .map_err(|e| anyhow::anyhow!("{}: {e}", PathBuf::from(&name).display()))?;
    let lines: Vec<u8> = lines
        .split(|&b| b == b'\n')
        .map(|l| l.first().copied().unwrap_or(0))
        .collect();
    let flags = flag_sides.get(&key);
    let mut m = Measurement {
        archives: 1,
        ..Measurement::default()
    };
    for d in decided {
        if !d.protocol.is_some_and(server::has_ports) {
            continue;
        }
        let want = match lines.get(d.line as usize - 1) {
            Some(b's') => Side::Src,
            Some(b'd') => Side::Dst,
            other => anyhow::bail!(
                "{}:{}: the truth file says {:?} for a record",
                archive.display,
                d.line,
                other.map(|&b| b as char)
            ),
        };
        let right = d.side == want;
        m.truth.add(right);
        m.by_basis.entry(d.basis.as_str()).or_default().add(right);
        if !right && m.wrong.len() < WRONG_SHOWN {
            m.wrong.push(format!(
                "{}:{} ({})",
                archive.display,
                d.line,
                d.basis.as_str()
            ));
        }
        match flags.and_then(|f| f.get(d.line as usize)) {
            Some(1) => m.flags.add(d.side == Side::Src),
            Some(2) => m.flags.add(d.side == Side::Dst),
            _ => {}
        }
    }
    Ok(m)
}
