//! Records per UTC hour: what the timelines of the reports are drawn from.
//!
//! A reviewer reads *when* traffic happens (02:11 every night is a batch job) and *which time*
//! the evidence covers (a hole on the last day of the month) as pictures. The tally keeps, per
//! hour that holds a record's start, how many records started in it: bounded by the span of
//! time, not by the number of records, and merged by addition, so the thread order cannot
//! change a count. The writers bucket these hours to a bounded number of bars.

use std::collections::BTreeMap;

/// Seconds in an hour.
pub const HOUR: u64 = 3600;

/// Records per hour, keyed by the hour's number since the Unix epoch (`start / 3600`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hours(BTreeMap<u64, u64>);

impl Hours {
    /// Counts `n` records starting in hour `hour`.
    #[inline]
    pub fn add(&mut self, hour: u64, n: u64) {
        if n > 0 {
            *self.0.entry(hour).or_default() += n;
        }
    }

    /// Folds another count into this one; the result does not depend on the order.
    pub fn merge(&mut self, other: Hours) {
        for (h, n) in other.0 {
            self.add(h, n);
        }
    }

    /// `(hour, records)` in ascending hour order; hours without records are absent.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.0.iter().map(|(&h, &n)| (h, n))
    }

    /// All records counted.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first and last hour holding records.
    pub fn span(&self) -> Option<(u64, u64)> {
        Some((*self.0.keys().next()?, *self.0.keys().next_back()?))
    }
}

impl FromIterator<(u64, u64)> for Hours {
    fn from_iter<I: IntoIterator<Item = (u64, u64)>>(iter: I) -> Self {
        let mut h = Hours::default();
        for (hour, n) in iter {
            h.add(hour, n);
        }
        h
    }
}

/// One worker's running count for the hour its records are in: records of one archive mostly
/// start in the same hour, so most records add to a local counter instead of the map.
#[derive(Clone, Copy, Debug)]
pub struct HourRun {
    hour: u64,
    records: u64,
}

impl Default for HourRun {
    fn default() -> Self {
        HourRun {
            hour: u64::MAX,
            records: 0,
        }
    }
}

impl HourRun {
    /// Counts one record starting at `start` (Unix seconds), flushing into `into` when the
    /// hour changes.
    #[inline]
    pub fn count(&mut self, start: u64, into: &mut Hours) {
        let hour = start / HOUR;
        if hour != self.hour {
            self.flush(into);
            self.hour = hour;
        }
        self.records += 1;
    }

    /// Adds what is counted to `into`.
    pub fn flush(&mut self, into: &mut Hours) {
        into.add(self.hour, std::mem::take(&mut self.records));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_counts_like_the_map() {
        let starts = [0, 10, 3599, 3600, 7300, 20, 7200, 7201];
        let mut run = HourRun::default();
        let mut hours = Hours::default();
        for s in starts {
            run.count(s, &mut hours);
        }
        run.flush(&mut hours);
        let want: Hours = starts.iter().map(|s| (s / HOUR, 1)).collect();
        assert_eq!(hours, want);
        assert_eq!(hours.iter().collect::<Vec<_>>(), [(0, 4), (1, 1), (2, 3)]);
        assert_eq!(hours.total(), 8);
        assert_eq!(hours.span(), Some((0, 2)));
    }

    #[test]
    fn merge_is_order_free() {
        let a: Hours = [(1, 2), (5, 1)].into_iter().collect();
        let b: Hours = [(5, 3), (9, 1)].into_iter().collect();
        let (mut ab, mut ba) = (a.clone(), b.clone());
        ab.merge(b);
        ba.merge(a);
        assert_eq!(ab, ba);
        assert_eq!(ab.iter().collect::<Vec<_>>(), [(1, 2), (5, 4), (9, 1)]);
    }
}
