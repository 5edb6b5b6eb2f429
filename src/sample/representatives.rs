//! The run's representatives: for every combination the sampled scopes can see, the record
//! with the smallest (coin, archive, line), and its line while the survey holds lines.
//!
//! Every archive offers each of its combinations here once, a few million offers on a week,
//! nearly all of which lose to the representative already chosen. The table they probe is
//! large (a slot per combination) and touched at random, so what decides its cost is how many
//! bytes a probe reads: its slots hold the combination, the representative's coin and where
//! the rest of it is (32 bytes), not the representative itself (112). An offer whose coin is
//! larger than the representative's loses without reading more.
//!
//! Most offers need not reach that table at all: a worker reads archives in order, and the
//! combinations of one archive are mostly those of the one before. Each worker remembers, in
//! a small table of its own ([`Recent`]), the coin the run's representative had when it last
//! offered a combination; the run's coin only ever falls, so an offer with a larger coin than
//! that loses, and is dropped before the worker takes the run's lock. The representatives are
//! the same with or without it.

use super::key::Combination;
use crate::engine::server::{Ends, FastMap};

/// A combination's representative: the record with the smallest (coin, archive, line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Representative {
    pub coin: u64,
    pub archive: u32,
    pub line: u64,
    pub bytes: u64,
    /// Its two ends, when the evidence decided its server (their witnesses are kept).
    pub ends: Option<Ends>,
    /// Its line, while the survey holds lines (see `held`); moved into its archive's held
    /// lines at the end of the run.
    pub text: Option<Vec<u8>>,
}

impl Representative {
    pub fn order(&self) -> (u64, u32, u64) {
        (self.coin, self.archive, self.line)
    }
}

/// Every combination's representative.
#[derive(Debug, Default)]
pub struct Representatives {
    /// Combination -> (its representative's coin, its place in `all`).
    index: FastMap<Combination, (u64, u32)>,
    all: Vec<(Combination, Representative)>,
}

impl Representatives {
    /// Distinct combinations.
    pub fn len(&self) -> usize {
        self.all.len()
    }

    pub fn contains_key(&self, c: &Combination) -> bool {
        self.index.contains_key(c)
    }

    /// The representative of `c`, if it has one.
    #[cfg(test)]
    pub fn get(&self, c: &Combination) -> Option<&Representative> {
        self.index.get(c).map(|&(_, at)| &self.all[at as usize].1)
    }

    /// Every (combination, representative), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&Combination, &Representative)> {
        self.all.iter().map(|(c, r)| (c, r))
    }

    pub fn values(&self) -> impl Iterator<Item = &Representative> {
        self.all.iter().map(|(_, r)| r)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Representative> {
        self.all.iter_mut().map(|(_, r)| r)
    }

    /// Makes `v` the representative of `c` if it comes first, with the line `text` gives
    /// (asked only then) while `held` (bytes of lines held) stays within `limit`. A
    /// representative is replaced a few times a combination as the run goes on: the new
    /// line goes into the old one's buffer.
    ///
    /// Returns the coin of `c`'s representative after the offer.
    pub fn offer<'t>(
        &mut self,
        c: Combination,
        mut v: Representative,
        text: impl FnOnce() -> Option<&'t [u8]>,
        held: &mut usize,
        limit: usize,
    ) -> u64 {
        use std::collections::hash_map::Entry;
        let coin = v.coin;
        let slot = match self.index.entry(c) {
            Entry::Occupied(mut e) => {
                let (coin, at) = *e.get();
                if v.coin > coin {
                    return coin;
                }
                let slot = &mut self.all[at as usize].1;
                if v.order() >= slot.order() {
                    return coin;
                }
                e.get_mut().0 = v.coin;
                slot
            }
            Entry::Vacant(e) => {
                let at = u32::try_from(self.all.len())
                    .expect("fewer than 2^32 combinations: each takes memory");
                e.insert((v.coin, at));
                self.all.push((c, v.clone()));
                &mut self.all[at as usize].1
            }
        };
        let old = slot.text.take();
        *held -= old.as_ref().map_or(0, Vec::len);
        v.text = text().filter(|t| *held + t.len() <= limit).map(|t| {
            let mut buffer = old.unwrap_or_default();
            buffer.clear();
            buffer.extend_from_slice(t);
            buffer
        });
        *held += v.text.as_ref().map_or(0, Vec::len);
        *slot = v;
        coin
    }
}

/// A worker's memory of the run's representatives' coins: for a few thousand combinations it
/// offered lately, the coin the run's representative had then, which is at least the coin it
/// has now. Direct-mapped by the combination's low bits (combinations are well-mixed hashes):
/// 512 KiB, so it stays in a core's cache where the run's table does not.
#[derive(Debug)]
pub struct Recent {
    slots: Vec<(Combination, u64)>,
}

/// Slots of a [`Recent`] table.
const RECENT: usize = 1 << 14;

impl Default for Recent {
    fn default() -> Self {
        // u64::MAX: no coin is larger, so an empty slot turns nothing down.
        Recent {
            slots: vec![(0, u64::MAX); RECENT],
        }
    }
}

impl Recent {
    #[inline]
    fn slot(c: Combination) -> usize {
        c as usize & (RECENT - 1)
    }

    /// Whether an offer of `c` with `coin` surely loses: the run's representative of `c` had
    /// a smaller coin when this worker last asked.
    #[inline]
    pub fn loses(&self, c: Combination, coin: u64) -> bool {
        let (k, known) = self.slots[Self::slot(c)];
        k == c && coin > known
    }

    /// The run's representative of `c` has `coin` (what [`Representatives::offer`] returned).
    #[inline]
    pub fn note(&mut self, c: Combination, coin: u64) {
        self.slots[Self::slot(c)] = (c, coin);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rep(coin: u64, archive: u32, line: u64) -> Representative {
        Representative {
            coin,
            archive,
            line,
            bytes: 10,
            ends: None,
            text: None,
        }
    }

    /// The representative is the smallest (coin, archive, line) offered, whatever the order
    /// of the offers, with its own line; the bytes held follow the lines kept.
    #[test]
    fn the_smallest_offer_wins_in_any_order() {
        let offers = [
            (7, rep(50, 3, 9), "c"),
            (7, rep(40, 5, 2), "bb"),
            (7, rep(40, 4, 8), "aaa"),
            (7, rep(40, 4, 9), "dddd"),
            (9, rep(60, 1, 1), "e"),
            (7, rep(45, 1, 1), "f"),
        ];
        let mut orders = vec![offers.to_vec()];
        let mut reversed = offers.to_vec();
        reversed.reverse();
        orders.push(reversed);
        for order in orders {
            let mut reps = Representatives::default();
            let mut held = 0;
            for (c, r, text) in order {
                reps.offer(c, r, || Some(text.as_bytes()), &mut held, 100);
            }
            assert_eq!(reps.len(), 2);
            let seven = reps.get(&7).unwrap();
            assert_eq!(seven.order(), (40, 4, 8));
            assert_eq!(seven.text.as_deref(), Some(&b"aaa"[..]));
            assert_eq!(reps.get(&9).unwrap().order(), (60, 1, 1));
            assert_eq!(held, 4);
            assert!(reps.contains_key(&9) && !reps.contains_key(&8));
        }
    }

    /// Offers that a worker's [`Recent`] table turns down are offers the run's table turns
    /// down: the same representatives with the table as without, whatever the order.
    #[test]
    fn recent_coins_turn_down_only_losing_offers() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        // Two workers' offers, interleaved, over few combinations (some sharing a slot).
        let offers: Vec<(usize, Combination, Representative)> = (0..4000u64)
            .map(|i| {
                let c = Combination::from(next() % 40) << (if i % 3 == 0 { 14 } else { 0 });
                (i as usize % 2, c, rep(next() >> 4, (i / 7) as u32, i))
            })
            .collect();
        let mut plain = Representatives::default();
        let mut filtered = Representatives::default();
        let mut recent = [Recent::default(), Recent::default()];
        let (mut held_a, mut held_b) = (0, 0);
        let mut turned_down = 0;
        for (worker, c, r) in offers {
            plain.offer(c, r.clone(), || None, &mut held_a, 0);
            if recent[worker].loses(c, r.coin) {
                turned_down += 1;
                continue;
            }
            let coin = filtered.offer(c, r, || None, &mut held_b, 0);
            recent[worker].note(c, coin);
        }
        assert!(turned_down > 1500, "{turned_down}");
        let mut a: Vec<_> = plain.iter().map(|(c, r)| (*c, r.order())).collect();
        let mut b: Vec<_> = filtered.iter().map(|(c, r)| (*c, r.order())).collect();
        a.sort();
        b.sort();
        assert_eq!(a, b);
    }

    /// Past the limit, a representative is still chosen, without its line.
    #[test]
    fn lines_past_the_limit_are_not_held() {
        let mut reps = Representatives::default();
        let mut held = 0;
        reps.offer(1, rep(5, 0, 1), || Some(&b"abcd"[..]), &mut held, 6);
        reps.offer(2, rep(5, 0, 2), || Some(&b"efgh"[..]), &mut held, 6);
        assert_eq!(held, 4);
        assert!(reps.get(&2).unwrap().text.is_none());
        // A smaller coin takes over and frees the old line first.
        reps.offer(1, rep(4, 0, 3), || Some(&b"ijklm"[..]), &mut held, 6);
        assert_eq!(held, 5);
        assert_eq!(reps.get(&1).unwrap().line, 3);
        assert_eq!(reps.values().count(), 2);
    }
}
