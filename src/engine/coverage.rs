//! How much time the evidence covers, and where it has holes.
//!
//! "No traffic was seen" only means something for the time the logs cover. A [`Coverage`]
//! remembers, per minute, whether any record (traffic, NODATA or SKIPDATA: all prove the log
//! was being written) touched it, as one 1440-bit map per day. That is bounded by the span of
//! time, not by the number of records, and merging two coverages is a bitwise OR, so thread
//! order cannot change the result.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use serde::Serialize;

use crate::text::{human_duration, rfc3339};

const WORDS_PER_DAY: usize = 1440 / 64 + 1;

/// Accumulates the time span and covered minutes of the records seen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    pub first_start: Option<u64>,
    pub last_end: Option<u64>,
    days: BTreeMap<u64, [u64; WORDS_PER_DAY]>,
    /// Interfaces seen, as [`id_hash`](crate::policy::classifier::id_hash)es of their ids:
    /// only their number is reported, and a hash is a few instructions per record where a
    /// string set costs a hash of its bytes, a comparison and a copy per new id. Two ids
    /// share a hash with a chance of about n²/2⁶⁵ (under 10⁻⁷ for a million interfaces); the
    /// count is then one low, the same at any thread count.
    pub interfaces: HashSet<u64, BuildHasherDefault<Prehashed>>,
    pub accounts: BTreeSet<String>,
    pub regions: BTreeSet<String>,
}

/// The hasher of keys that are hashes already: passes them through.
#[derive(Clone, Copy, Debug, Default)]
pub struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed; anything else folds in, to stay a valid hasher.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A stretch of time without any record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// Last covered minute before the gap ends here (Unix seconds).
    pub from: u64,
    /// First covered minute after the gap (Unix seconds).
    pub to: u64,
    pub seconds: u64,
}

/// Coverage as reports show it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CoverageReport {
    pub first_start: Option<u64>,
    pub last_end: Option<u64>,
    /// `last_end - first_start`, seconds.
    pub window_seconds: u64,
    /// Days (UTC, `YYYY-MM-DD`) with at least one record.
    pub days: Vec<String>,
    /// Hours inside the window without any record.
    pub hours_without_records: u64,
    /// The longest stretch without records, if any is longer than a minute.
    pub longest_gap: Option<Gap>,
    /// Distinct interfaces (`interface-id`) seen in records.
    pub interfaces: u64,
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
}

impl Coverage {
    /// Records the interval `[start, end]` of one record. Intervals longer than an hour are
    /// not real aggregation intervals (AWS uses at most 10 minutes); only their ends count.
    pub fn add(&mut self, start: u64, end: u64) {
        self.widen(start, end);
        self.mark_minutes(start, end);
    }

    /// Widens the window to `[start, end]` without marking minutes.
    #[inline]
    pub fn widen(&mut self, start: u64, end: u64) {
        self.first_start = Some(self.first_start.map_or(start, |f| f.min(start)));
        self.last_end = Some(self.last_end.map_or(end, |l| l.max(end)));
    }

    /// Marks the minutes from `start` to `end` as covered. Returns whether every one of them
    /// is now marked (not so for an interval too long to be real: only its ends are).
    pub fn mark_minutes(&mut self, start: u64, end: u64) -> bool {
        let (a, b) = (start / 60, end / 60);
        if b - a <= 60 {
            // One map lookup per day touched, not per minute.
            let mut minute = a;
            while minute <= b {
                let day_end = (minute / 1440 + 1) * 1440 - 1;
                let last = b.min(day_end);
                let day = self.days.entry(minute / 1440).or_insert([0; WORDS_PER_DAY]);
                for m in minute..=last {
                    let m = (m % 1440) as usize;
                    day[m / 64] |= 1 << (m % 64);
                }
                minute = last + 1;
            }
            true
        } else {
            self.mark(a);
            self.mark(b);
            false
        }
    }

    /// Marks every minute from `first` to `last` (minute numbers, both included), however
    /// far apart: coverage already computed elsewhere (a SQL engine's runs of minutes).
    pub fn mark_span(&mut self, first: u64, last: u64) {
        let mut minute = first;
        while minute <= last {
            let day_end = (minute / 1440 + 1) * 1440 - 1;
            let end = last.min(day_end);
            let day = self.days.entry(minute / 1440).or_insert([0; WORDS_PER_DAY]);
            for m in minute..=end {
                let m = (m % 1440) as usize;
                day[m / 64] |= 1 << (m % 64);
            }
            minute = end + 1;
        }
    }

    fn mark(&mut self, minute: u64) {
        let day = self.days.entry(minute / 1440).or_insert([0; WORDS_PER_DAY]);
        let m = (minute % 1440) as usize;
        day[m / 64] |= 1 << (m % 64);
    }

    /// Folds another coverage into this one; the result does not depend on the order.
    pub fn merge(&mut self, other: Coverage) {
        if let Some(s) = other.first_start {
            self.first_start = Some(self.first_start.map_or(s, |f| f.min(s)));
        }
        if let Some(e) = other.last_end {
            self.last_end = Some(self.last_end.map_or(e, |l| l.max(e)));
        }
        for (day, bits) in other.days {
            let mine = self.days.entry(day).or_insert([0; WORDS_PER_DAY]);
            for (m, o) in mine.iter_mut().zip(bits) {
                *m |= o;
            }
        }
        self.interfaces.extend(other.interfaces);
        self.accounts.extend(other.accounts);
        self.regions.extend(other.regions);
    }

    /// Covered minutes in ascending order.
    fn minutes(&self) -> impl Iterator<Item = u64> + '_ {
        self.days.iter().flat_map(|(&day, bits)| {
            bits.iter().enumerate().flat_map(move |(w, &word)| {
                (0..64)
                    .filter(move |b| word & (1 << b) != 0)
                    .map(move |b| day * 1440 + (w * 64 + b) as u64)
            })
        })
    }

    /// The longest stretch between two covered minutes.
    pub fn longest_gap(&self) -> Option<Gap> {
        let mut best: Option<Gap> = None;
        let mut prev: Option<u64> = None;
        for m in self.minutes() {
            if let Some(p) = prev {
                if m - p > 1 {
                    let gap = Gap {
                        from: (p + 1) * 60,
                        to: m * 60,
                        seconds: (m - p - 1) * 60,
                    };
                    if best.is_none_or(|b| gap.seconds > b.seconds) {
                        best = Some(gap);
                    }
                }
            }
            prev = Some(m);
        }
        best
    }

    /// Summarises for reports.
    pub fn report(&self) -> CoverageReport {
        let window_seconds = match (self.first_start, self.last_end) {
            (Some(s), Some(e)) => e.saturating_sub(s),
            _ => 0,
        };
        let days = self
            .days
            .iter()
            .filter(|(_, bits)| bits.iter().any(|&w| w != 0))
            .map(|(&d, _)| rfc3339(d * 86400)[..10].to_string())
            .collect();
        let mut hours = BTreeSet::new();
        for m in self.minutes() {
            hours.insert(m / 60);
        }
        let hours_without_records = match (self.first_start, self.last_end) {
            (Some(s), Some(e)) => (e / 3600 - s / 3600 + 1).saturating_sub(hours.len() as u64),
            _ => 0,
        };
        CoverageReport {
            first_start: self.first_start,
            last_end: self.last_end,
            window_seconds,
            days,
            hours_without_records,
            longest_gap: self.longest_gap(),
            interfaces: self.interfaces.len() as u64,
            accounts: self.accounts.iter().cloned().collect(),
            regions: self.regions.iter().cloned().collect(),
        }
    }
}

impl CoverageReport {
    /// One line for terminal and summary reports.
    pub fn describe(&self) -> String {
        match (self.first_start, self.last_end) {
            (Some(s), Some(e)) => {
                let mut text = format!(
                    "{} to {} ({}, {} day{})",
                    rfc3339(s),
                    rfc3339(e),
                    human_duration(self.window_seconds),
                    self.days.len(),
                    if self.days.len() == 1 { "" } else { "s" }
                );
                if let Some(g) = self.longest_gap {
                    text.push_str(&format!(
                        "; longest gap {} from {}",
                        human_duration(g.seconds),
                        rfc3339(g.from)
                    ));
                }
                text
            }
            _ => "no records with a time".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86400;

    #[test]
    fn window_days_and_gap() {
        let mut c = Coverage::default();
        c.add(20 * DAY, 20 * DAY + 300);
        c.add(20 * DAY + 3 * 3600, 20 * DAY + 3 * 3600 + 60);
        c.add(21 * DAY + 10, 21 * DAY + 70);
        let r = c.report();
        assert_eq!(r.window_seconds, DAY + 70);
        assert_eq!(r.days, ["1970-01-21", "1970-01-22"]);
        let g = r.longest_gap.unwrap();
        assert_eq!((g.from, g.to), (20 * DAY + 3 * 3600 + 120, 21 * DAY));
        assert_eq!(r.hours_without_records, 25 - 3);
    }

    #[test]
    fn merge_is_order_independent() {
        let mut a = Coverage::default();
        a.add(1000, 1100);
        a.interfaces.insert(7);
        let mut b = Coverage::default();
        b.add(50_000, 50_060);
        b.regions.insert("eu-west-1".into());
        let mut ab = a.clone();
        ab.merge(b.clone());
        let mut ba = b;
        ba.merge(a);
        assert_eq!(ab, ba);
        assert_eq!(ab.report(), ba.report());
    }

    #[test]
    fn intervals_across_midnight_mark_both_days() {
        let mut c = Coverage::default();
        c.add(DAY - 120, DAY + 60);
        let minutes: Vec<u64> = c.minutes().collect();
        assert_eq!(minutes, [1438, 1439, 1440, 1441]);
    }

    #[test]
    fn spans_mark_every_minute_across_days() {
        let mut c = Coverage::default();
        c.mark_span(1438, 1441 + 1440);
        let minutes: Vec<u64> = c.minutes().collect();
        assert_eq!(minutes.len(), 1441 + 1440 - 1438 + 1);
        assert_eq!((minutes[0], minutes[minutes.len() - 1]), (1438, 2881));
    }

    #[test]
    fn absurd_intervals_only_mark_their_ends() {
        let mut c = Coverage::default();
        c.add(0, 365 * DAY);
        assert_eq!(c.report().days.len(), 2);
    }
}
