//! Records per UTC hour: what the timelines of the reports are drawn from.
//!
//! A reviewer reads *when* traffic happens (02:11 every night is a batch job) and *which time*
//! the evidence covers (a hole on the last day of the month) as pictures. The tally keeps, per
//! hour that holds a record's start, how many records started in it: bounded by the span of
//! time, not by the number of records, and merged by addition, so the thread order cannot
//! change a count. The writers bucket these hours to a bounded number of bars.

/// Seconds in an hour.
pub const HOUR: u64 = 3600;

/// Records per hour, keyed by the hour's number since the Unix epoch (`start / 3600`).
///
/// A sorted list of (hour, records), not a B-tree map: with a hundred failing drafts every
/// would-be-blocked flow adds to the hours of its service in each policy it fails (7.4 M
/// flows on issue 21's set d week), and the B-tree's walk from its root was ~3% of that
/// check. Records come in roughly in time order (an archive covers minutes, a worker reads
/// its archives in order), so nearly every addition is to the last hour or a new last one;
/// the rest find theirs by binary search. Memory: 16 bytes an hour with records, as a
/// week's services count a few dozen to 168 hours each.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hours(Vec<(u64, u64)>);

impl Hours {
    /// Counts `n` records starting in hour `hour`.
    #[inline]
    pub fn add(&mut self, hour: u64, n: u64) {
        if n == 0 {
            return;
        }
        match self.0.last_mut() {
            Some((last, records)) if *last == hour => *records += n,
            Some((last, _)) if *last > hour => self.add_before(hour, n),
            _ => self.0.push((hour, n)),
        }
    }

    /// [`Hours::add`] for an hour before the last one.
    #[cold]
    fn add_before(&mut self, hour: u64, n: u64) {
        match self.0.binary_search_by_key(&hour, |&(h, _)| h) {
            Ok(i) => self.0[i].1 += n,
            Err(i) => self.0.insert(i, (hour, n)),
        }
    }

    /// Folds another count into this one; the result does not depend on the order.
    pub fn merge(&mut self, other: Hours) {
        if other.0.is_empty() {
            return;
        }
        if self.0.is_empty() {
            *self = other;
            return;
        }
        // Both sorted: one pass, as a merge sort's.
        let mine = std::mem::take(&mut self.0);
        let mut merged = Vec::with_capacity(mine.len() + other.0.len());
        let (mut a, mut b) = (mine.into_iter().peekable(), other.0.into_iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(&(ha, na)), Some(&(hb, nb))) => match ha.cmp(&hb) {
                    std::cmp::Ordering::Less => a.next(),
                    std::cmp::Ordering::Greater => b.next(),
                    std::cmp::Ordering::Equal => {
                        a.next();
                        b.next();
                        Some((ha, na + nb))
                    }
                },
                (Some(_), None) => a.next(),
                (None, Some(_)) => b.next(),
                (None, None) => break,
            };
            merged.extend(next);
        }
        self.0 = merged;
    }

    /// `(hour, records)` in ascending hour order; hours without records are absent.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.0.iter().copied()
    }

    /// All records counted.
    pub fn total(&self) -> u64 {
        self.0.iter().map(|&(_, n)| n).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first and last hour holding records.
    pub fn span(&self) -> Option<(u64, u64)> {
        Some((self.0.first()?.0, self.0.last()?.0))
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

    /// The sorted list counts what a B-tree map of hours counts, whatever the order of the
    /// additions (in order, reversed, scattered) and however they are split and merged.
    #[test]
    fn the_list_counts_as_a_map_does() {
        use std::collections::BTreeMap;
        let adds: Vec<(u64, u64)> = (0..500u64)
            .map(|i| ((i * 7919) % 97 + (i / 50) * 3, i % 4))
            .collect();
        let orders: [Vec<(u64, u64)>; 3] = [adds.clone(), adds.iter().rev().copied().collect(), {
            let mut sorted = adds.clone();
            sorted.sort();
            sorted
        }];
        for order in orders {
            let mut want: BTreeMap<u64, u64> = BTreeMap::new();
            for &(h, n) in &order {
                if n > 0 {
                    *want.entry(h).or_default() += n;
                }
            }
            let want: Vec<(u64, u64)> = want.into_iter().collect();
            for split in [1, 3, 64, 500] {
                let mut whole = Hours::default();
                for (k, chunk) in order.chunks(split).enumerate() {
                    let part: Hours = chunk.iter().copied().collect();
                    if k % 2 == 0 {
                        whole.merge(part);
                    } else {
                        let mut part = part;
                        part.merge(whole);
                        whole = part;
                    }
                }
                assert_eq!(whole.iter().collect::<Vec<_>>(), want, "split {split}");
                assert_eq!(whole.total(), want.iter().map(|&(_, n)| n).sum::<u64>());
                assert_eq!(whole.span(), Some((want[0].0, want[want.len() - 1].0)));
            }
        }
        assert_eq!(Hours::default().span(), None);
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
