//! Proving a written sample keys every kept record as its input does, and repairing it until
//! it does.
//!
//! `flowgate check` decides who the server of a record is from the evidence of the archives it
//! reads (`engine::server`), and a sample holds only part of that evidence. The survey pins
//! the witnesses a representative obviously needs (the records that show its ends to be the
//! run's servers), but a kept record can still lose its server in subtler ways: its server's
//! fan-in in its own archive, or a client end that a kept witness turns into a server. So once
//! the sample is written, it is read back (it is small) and every kept record that a sampled
//! scope can see is decided again, from the sample alone, exactly as a check of the sample will
//! decide it. Its combination must be the one the input gave it: a representative's own, any
//! other kept record's one of the input's. Where one is not, the evidence of both its ends is
//! pinned (the records that show them as the run's servers, the servers that make their ports
//! service ports, the records that give them fan-in in their archive, found by reading that
//! archive of the input again), the archives that changed are written again, and the sample is
//! checked again. Pins only grow, and once all of a record's evidence is kept it is decided as
//! in the input, so this ends; in practice after one round, if any.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use std::path::Path;

use rayon::prelude::*;

use super::key::{combination, partial, Combination, Partial};
use super::survey::{run_witnesses, Reading, Survey};
use super::Input;
use crate::engine::server::{self, ArchiveEvidence, Ends, Lines, RunEvidence, Servers, Side};
use crate::flowlog::scan::{prepare, scan_prepared};
use crate::flowlog::{scan_archive, Archive, Flow, Format, LogStatus, Problem, Sink};
use crate::source::{ArchiveMeta, Source};

/// A kept record whose server the sample decides otherwise than the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Miss {
    pub archive: usize,
    /// Its line in the input archive.
    pub line: u64,
    pub ends: Ends,
}

/// What the verification compares against.
pub struct Truth<'a> {
    pub survey: &'a Survey,
    /// Representatives by archive: input line -> combination.
    pub representatives: Vec<BTreeMap<u64, Combination>>,
    pub servers: &'a Servers,
}

impl<'a> Truth<'a> {
    pub fn new(survey: &'a Survey, servers: &'a Servers) -> Truth<'a> {
        let mut representatives = vec![BTreeMap::new(); survey.archives.len()];
        for (c, r) in survey.representatives.iter() {
            representatives[r.archive as usize].insert(r.line, *c);
        }
        Truth {
            survey,
            representatives,
            servers,
        }
    }

    /// Whether a kept record on `line` of archive `archive`, whose combination in the sample is
    /// `c`, is keyed as in the input.
    fn holds(&self, archive: usize, line: u64, c: Combination) -> bool {
        match self.representatives[archive].get(&line) {
            Some(&want) => want == c,
            None => self.survey.representatives.contains_key(&c),
        }
    }
}

/// Reads the staged sample and returns the kept records in scope whose server it decides
/// otherwise than the input, in order. `lines[i]` are the input lines of the records written
/// for input `i`, in order.
pub fn verify(
    inputs: &[Input],
    staging: &Path,
    lines: &[Vec<u64>],
    reading: Reading<'_>,
    truth: &Truth<'_>,
) -> Vec<Miss> {
    let per: Vec<(RunEvidence, Vec<Waiting>, Vec<Miss>)> = inputs
        .par_iter()
        .enumerate()
        .map(|(i, input)| {
            let path = staging.join(&input.destination);
            if !path.exists() {
                return Default::default();
            }
            let staged = Archive {
                display: path.display().to_string(),
                source: Source::File(path),
                meta: ArchiveMeta::default(),
            };
            let mut sink = VerifySink {
                archive: i,
                lines: &lines[i],
                next: 0,
                reading,
                truth,
                evidence: ArchiveEvidence::default(),
                waiting: Vec::new(),
                misses: Vec::new(),
            };
            scan_prepared(prepare(&staged), &staged, reading.scan, &mut sink);
            let mut run = RunEvidence::default();
            sink.evidence.add_servers_to(&mut run);
            let mut undecided = Vec::new();
            for w in std::mem::take(&mut sink.waiting) {
                match sink.evidence.decide(&w.ends) {
                    Some(side) => sink.check(w.line, w.ends, w.partial, side),
                    None => undecided.push(w),
                }
            }
            (run, undecided, sink.misses)
        })
        .collect();
    let mut run = RunEvidence::default();
    let mut undecided = Vec::new();
    let mut misses = Vec::new();
    for (r, u, m) in per {
        run.merge(r);
        undecided.extend(u);
        misses.extend(m);
    }
    let sample_servers = run.seal();
    for w in undecided {
        let (side, _) = sample_servers.decide(&w.ends);
        let c = combination(w.partial, side, Some(w.ends.server(side).port));
        if !truth.holds(w.archive, w.line, c) {
            misses.push(Miss {
                archive: w.archive,
                line: w.line,
                ends: w.ends,
            });
        }
    }
    misses.sort();
    misses
}

/// The records to pin so that the missed records keep their servers: per input archive, the
/// lines, and the ends whose fan-in in that archive must be kept (found by [`fan_in_lines`]).
pub fn wants(
    misses: &[Miss],
    survey: &Survey,
    servers: &Servers,
) -> (
    Vec<BTreeSet<u64>>,
    BTreeMap<usize, BTreeSet<server::Endpoint>>,
) {
    let mut pins = vec![BTreeSet::new(); survey.archives.len()];
    let mut fan_in: BTreeMap<usize, BTreeSet<server::Endpoint>> = BTreeMap::new();
    for m in misses {
        let mut ends: Vec<server::Endpoint> = vec![m.ends.src, m.ends.dst];
        ends.extend(run_witnesses(&m.ends, servers));
        for end in ends {
            if let Some(w) = survey.witnesses.get(&end) {
                pins[w.archive as usize].extend(w.lines.witnesses());
            }
        }
        fan_in
            .entry(m.archive)
            .or_default()
            .extend([m.ends.src, m.ends.dst]);
    }
    (pins, fan_in)
}

/// Reads input archive `input` again and returns the records that give each of `ends` its
/// fan-in there (none for an end without it).
pub fn fan_in_lines(
    input: &Input,
    reading: Reading<'_>,
    ends: &BTreeSet<server::Endpoint>,
) -> BTreeSet<u64> {
    let mut sink = EvidenceOnly {
        reading,
        evidence: ArchiveEvidence::default(),
    };
    scan_archive(&input.archive, reading.scan, &mut sink);
    ends.iter()
        .filter_map(|e| sink.evidence.witness(e))
        .filter_map(|w: Lines| w.fan_in_witnesses())
        .flatten()
        .collect()
}

/// A kept record waiting for the sample's servers.
struct Waiting {
    archive: usize,
    line: u64,
    ends: Ends,
    partial: Partial,
}

struct VerifySink<'v, 't> {
    archive: usize,
    lines: &'v [u64],
    /// Index in `lines` of the next record.
    next: usize,
    reading: Reading<'v>,
    truth: &'v Truth<'t>,
    evidence: ArchiveEvidence,
    waiting: Vec<Waiting>,
    misses: Vec<Miss>,
}

impl VerifySink<'_, '_> {
    fn check(&mut self, line: u64, ends: Ends, partial: Partial, side: Side) {
        let c = combination(partial, side, Some(ends.server(side).port));
        if !self.truth.holds(self.archive, line, c) {
            self.misses.push(Miss {
                archive: self.archive,
                line,
                ends,
            });
        }
    }
}

impl Sink for VerifySink<'_, '_> {
    fn format(&mut self, _: &Archive, _: &Format) {}

    fn record(&mut self, _: &Archive, _: u64, flow: &Flow<'_>) {
        // The sample's records are the input's, in order: the k-th is on lines[k].
        let Some(&line) = self.lines.get(self.next) else {
            return;
        };
        self.next += 1;
        if flow.status != LogStatus::Ok {
            return;
        }
        self.evidence.observe(flow, line);
        let read = server::read(flow);
        if !self.reading.scopes.contains(flow) {
            return;
        }
        // The sample's ids are as the survey hashed them (pseudonymised when asked).
        let partial = partial(flow, None);
        match (read.decided, read.ends) {
            (Some((side, _)), _) => {
                let port = match side {
                    Side::Src => flow.src_port,
                    Side::Dst => flow.dst_port,
                };
                if !self
                    .truth
                    .holds(self.archive, line, combination(partial, side, port))
                {
                    // Decided by the record alone, it cannot be wrong unless the input's
                    // combination is: report it with what ends it has.
                    if let Some(ends) = read.ends {
                        self.misses.push(Miss {
                            archive: self.archive,
                            line,
                            ends,
                        });
                    }
                }
            }
            (None, Some(ends)) => self.waiting.push(Waiting {
                archive: self.archive,
                line,
                ends,
                partial,
            }),
            (None, None) => unreachable!("server::read decides what has no ends"),
        }
    }

    fn problem(&mut self, _: Problem) {}
}

/// Gathers one input archive's evidence, with witness lines.
struct EvidenceOnly<'r> {
    reading: Reading<'r>,
    evidence: ArchiveEvidence<Lines>,
}

impl Sink for EvidenceOnly<'_> {
    fn format(&mut self, _: &Archive, _: &Format) {}

    fn record(&mut self, _: &Archive, line: u64, flow: &Flow<'_>) {
        if flow.status == LogStatus::Ok
            && crate::engine::in_window(flow, self.reading.since, self.reading.until)
        {
            self.evidence.observe(flow, line);
        }
    }

    fn problem(&mut self, _: Problem) {}
}

/// Folds pins found by [`wants`] and [`fan_in_lines`] into `pinned`; returns the archives that
/// gained a pin.
pub fn add_pins(
    pinned: &mut [Vec<super::survey::Pinned>],
    more: Vec<BTreeSet<u64>>,
) -> BTreeSet<usize> {
    let mut changed = BTreeSet::new();
    for (i, lines) in more.into_iter().enumerate() {
        let v = &mut pinned[i];
        let have: std::collections::HashSet<u64> = v.iter().map(|p| p.line).collect();
        let new: Vec<u64> = lines.into_iter().filter(|l| !have.contains(l)).collect();
        if new.is_empty() {
            continue;
        }
        changed.insert(i);
        v.extend(new.into_iter().map(super::survey::witness_pin));
        v.sort_by_key(|p| (p.line, p.why));
    }
    changed
}

/// Counts, by archive, of misses: for the error message when a round makes no progress.
pub fn describe(misses: &[Miss], inputs: &[Input]) -> String {
    let mut by: HashMap<usize, usize> = HashMap::new();
    for m in misses {
        *by.entry(m.archive).or_default() += 1;
    }
    let first = &misses[0];
    let end = |e: &server::Endpoint| match e.addr {
        std::net::IpAddr::V4(a) => format!("{a}:{}", e.port),
        std::net::IpAddr::V6(a) => format!("[{a}]:{}", e.port),
    };
    format!(
        "{} records in {} archives, e.g. {}:{} (protocol {}, {} to {})",
        misses.len(),
        by.len(),
        inputs[first.archive].archive.display,
        first.line,
        first.ends.src.protocol,
        end(&first.ends.src),
        end(&first.ends.dst)
    )
}

#[cfg(test)]
mod tests {
    use super::super::survey::{Survey, Why};
    use super::super::{gather, Scopes, Writing};
    use super::*;
    use crate::flowlog::ScanOptions;
    use crate::policy::PolicySet;

    const HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";

    fn rec(src: &str, sp: u16, dst: &str, dp: u16) -> String {
        format!("2 1 eni-1 {src} {dst} {sp} {dp} 6 1 60 1793491200 1793491230 ACCEPT OK")
    }

    fn conversations(policies: &Path, logs: &Path) -> Vec<String> {
        let report = crate::Check::new()
            .policies([policies])
            .logs([logs])
            .today(crate::date("2026-11-26").unwrap())
            .run()
            .unwrap();
        let mut c: Vec<String> = report.policies[0]
            .conversations
            .iter()
            .map(|c| format!("{:?} {:?}:{:?}", c.client, c.server, c.server_port))
            .collect();
        c.sort();
        c
    }

    /// A record in scope whose server only another archive shows (by fan-in of records no
    /// scope sees): a sample without those witnesses would report the client as the server.
    /// Reading the sample back finds it, and one round of repair keeps the witnesses.
    #[test]
    fn a_sample_that_keys_a_record_otherwise_is_found_and_repaired() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("full");
        std::fs::create_dir_all(&logs).unwrap();
        // Ports 1956 and 7311 are both registered: without the run's evidence the lower port,
        // the client's 1956, would make 10.9.0.5 the server.
        let a = [HEADER.to_string(), rec("10.9.0.5", 1956, "10.1.0.7", 7311)];
        let b = [
            HEADER.to_string(),
            rec("10.3.0.1", 40000, "10.3.0.2", 50000),
            rec("10.2.0.1", 40001, "10.1.0.7", 7311),
            rec("10.2.0.2", 40002, "10.1.0.7", 7311),
            rec("10.3.0.1", 40003, "10.3.0.2", 50000),
        ];
        std::fs::write(logs.join("a.log"), a.join("\n") + "\n").unwrap();
        std::fs::write(logs.join("b.log"), b.join("\n") + "\n").unwrap();
        let policy = dir.path().join("line.toml");
        std::fs::write(&policy, "[scope]\npeer = [\"10.9.0.0/24\"]\n").unwrap();
        let out = dir.path().join("sample");
        let staging = super::super::fetch::Staging::new(&out);
        let inputs = gather(std::slice::from_ref(&logs), None, &staging, &|_| {}).unwrap();
        let scopes = Scopes::of(PolicySet::load(std::slice::from_ref(&policy)).unwrap());
        let scan = ScanOptions::default();
        let reading = Reading {
            scopes: &scopes,
            since: None,
            until: None,
            scan: &scan,
        };
        let (mut survey, servers) = Survey::run(&inputs, 7, reading, None, true, false, &|| {});
        let held = survey.take_held();
        let truth = Truth::new(&survey, &servers);
        let mut pinned = survey.pinned(&servers);
        assert!(pinned.iter().flatten().any(|p| p.why == Why::Witness));
        // Drop the witnesses, as a selection that missed them would.
        for v in &mut pinned {
            v.retain(|p| p.why != Why::Witness);
        }
        let kinds: Vec<_> = survey.archives.iter().map(|a| a.kind).collect();
        let write = Writing {
            inputs: &inputs,
            reading,
            seed: 7,
            kinds: &kinds,
            held: &held,
            pseudonymiser: None,
            io: &rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .build()
                .unwrap(),
        };
        let staged = out.join("staged");
        let all = write.all(&pinned, Some(0), &staged, &|| {}).unwrap();
        let misses = verify(&inputs, &staged, &all.lines, reading, &truth);
        assert_eq!(misses.len(), 1, "{misses:?}");
        assert_eq!(inputs[misses[0].archive].key, "a.log");
        // Were it left so, the error names the record and its ends.
        let said = describe(&misses, &inputs);
        assert!(
            said.starts_with("1 records in 1 archives, e.g. ")
                && said.ends_with("a.log:2 (protocol 6, 10.9.0.5:1956 to 10.1.0.7:7311)"),
            "{said}"
        );
        // What the check of that sample would have said: the client as the server.
        assert_eq!(
            conversations(&policy, &logs),
            ["Some(10.9.0.5) Some(10.1.0.7):Some(7311)"]
        );
        assert_eq!(
            conversations(&policy, &staged),
            ["Some(10.1.0.7) Some(10.9.0.5):Some(1956)"]
        );
        let mut repairs = 0;
        let all = write
            .keyed_as_input(all, &mut pinned, Some(0), &staged, &truth, &mut repairs)
            .unwrap();
        assert_eq!(repairs, 1);
        assert!(verify(&inputs, &staged, &all.lines, reading, &truth).is_empty());
        assert_eq!(
            conversations(&policy, &staged),
            conversations(&policy, &logs)
        );
    }
}
