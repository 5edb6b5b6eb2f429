//! One field's value, looked up once, answering for every policy: a partition of the field's
//! domain into elementary intervals, each with a row of bitmasks.
//!
//! This is the per-field step of Lakshman and Stiliadis's bit-vector scheme: take every range
//! that any policy's set of a field holds, cut the domain at all their ends, and inside each
//! piece every set either holds every value or none, so one precomputed row of bits (a bit per
//! policy, per slot) answers them all. A row is `slots x words` 64-bit words: slot `s`, word
//! `w` holds policies `64 w..64 w + 63` for slot `s`. Rows are interned (runs of intervals,
//! and gaps between networks, share one), so a table costs a `u32` per interval and a row per
//! distinct answer.
//!
//! The interval holding a value is found by a 256-ary trie over the value's bytes from the
//! top, built only where more than [`LEAF_SPAN`] intervals crowd one entry (the /16 and /24s
//! of a VPC), in the manner of DPDK's `rte_acl` multi-bit tries with a stride of a byte: a
//! load per byte of the crowded prefix and one comparison, where a binary search over every
//! interval takes a dozen dependent, unpredictable steps.

use std::collections::HashMap;

use crate::policy::sets::{Point, RangeSet};

/// A partition of a domain by the ranges of a family of sets, with a row of masks per piece.
#[derive(Clone, Debug)]
pub(super) struct Intervals<T> {
    /// Ascending; the first is `T::MIN`. Interval `k` is `starts[k]..starts[k + 1]`.
    starts: Vec<T>,
    /// Per interval, the index of its row in `rows` (in units of `stride`).
    class: Vec<u32>,
    /// Distinct rows, `stride` words each.
    rows: Vec<u64>,
    stride: usize,
    /// The trie: node `i` is `nodes[256 * i..][..256]`, the root is node 0, and an entry is
    /// either [`CHILD`] and the node for the next byte, or a [`Leaf`].
    nodes: Vec<u64>,
}

/// A trie entry that ends the walk: the first interval that meets it in the low 32 bits, how
/// many intervals meet it (at most [`LEAF_SPAN`]) above.
type Leaf = u64;

/// Marks a trie entry that names a node.
const CHILD: u64 = 1 << 63;

/// Most intervals that a leaf leaves to search.
const LEAF_SPAN: usize = 2;

/// A domain that the trie can walk byte by byte.
pub(super) trait Bytes: Point + Into<u128> {
    const BITS: u32;
    /// The byte of `self` at `shift`.
    fn byte(self, shift: u32) -> usize;
}

macro_rules! bytes {
    ($($t:ty),*) => {$(
        impl Bytes for $t {
            const BITS: u32 = <$t>::BITS;
            #[inline]
            fn byte(self, shift: u32) -> usize {
                (self >> shift) as u8 as usize
            }
        }
    )*};
}
bytes!(u16, u32, u128);

/// One set of the family: it sets bit `bit` of slot `slot` where it holds the value.
pub(super) struct Member<'a, T> {
    pub slot: usize,
    pub bit: usize,
    pub set: &'a RangeSet<T>,
}

impl<T: Bytes> Intervals<T> {
    /// The table of `members` over rows of `slots` slots of `words` words, starting from
    /// `free` (`slots * words` words: the bits that hold everywhere, for policies without
    /// the key). Built by a sweep over the ranges' ends: a set's ranges are disjoint and
    /// apart, so its bit turns on at each range's start and off after its end.
    pub fn new(members: &[Member<'_, T>], free: &[u64], words: usize) -> Intervals<T> {
        let stride = free.len();
        debug_assert_eq!(stride % words, 0);
        // (value, member, on): on before off at one value cannot happen within a set, and
        // between sets order does not matter, since the row is read only after every event
        // at a value is applied.
        let mut events: Vec<(T, u32, bool)> = Vec::new();
        for (m, member) in members.iter().enumerate() {
            for &(lo, hi) in member.set.ranges() {
                events.push((lo, m as u32, true));
                if let Some(next) = hi.succ() {
                    events.push((next, m as u32, false));
                }
            }
        }
        events.sort_unstable_by_key(|e| e.0);
        let mut out = Intervals {
            starts: Vec::new(),
            class: Vec::new(),
            rows: Vec::new(),
            stride,
            nodes: Vec::new(),
        };
        let mut interned: HashMap<Vec<u64>, u32> = HashMap::new();
        let mut row = free.to_vec();
        let mut last: Option<Vec<u64>> = None;
        let mut i = 0;
        loop {
            let at = if i < events.len() {
                events[i].0
            } else {
                T::MIN
            };
            if out.starts.is_empty() && (i == events.len() || at != T::MIN) {
                // The domain's start, before any event there.
                out.push(T::MIN, &row, &mut last, &mut interned);
            }
            if i == events.len() {
                break;
            }
            while i < events.len() && events[i].0 == at {
                let (_, m, on) = events[i];
                let member = &members[m as usize];
                let (word, bit) = (member.slot * words + member.bit / 64, member.bit % 64);
                if on {
                    row[word] |= 1 << bit;
                } else {
                    row[word] &= !(1 << bit);
                }
                i += 1;
            }
            // `free` bits stay set whatever a member says (a policy is either free or a
            // member in a slot, never both, but say so rather than rely on it).
            for (r, f) in row.iter_mut().zip(free) {
                *r |= f;
            }
            out.push(at, &row, &mut last, &mut interned);
        }
        out.node(0, T::BITS - 8, 0, out.starts.len() - 1);
        out
    }

    /// Appends an interval starting at `at` with `row`, unless the previous one has the same
    /// row (neighbours with the same answer are one interval: fewer to tell apart).
    fn push(
        &mut self,
        at: T,
        row: &[u64],
        last: &mut Option<Vec<u64>>,
        interned: &mut HashMap<Vec<u64>, u32>,
    ) {
        if last.as_deref() == Some(row) {
            return;
        }
        let next = (self.rows.len() / self.stride) as u32;
        let class = *interned.entry(row.to_vec()).or_insert_with(|| {
            self.rows.extend_from_slice(row);
            next
        });
        self.starts.push(at);
        self.class.push(class);
        *last = Some(row.to_vec());
    }

    /// Appends the node for the values from `base` that share the bytes above `shift`, which
    /// lie in intervals `lo..=hi`, and the nodes below it that it needs.
    fn node(&mut self, base: u128, shift: u32, lo: usize, hi: usize) {
        let at = self.nodes.len();
        self.nodes.resize(at + 256, 0);
        // The interval holding each entry's first value, found by walking on from `lo`.
        let mut firsts = [lo; 257];
        let mut k = lo;
        for (c, first) in firsts.iter_mut().enumerate().take(256) {
            let value = base + ((c as u128) << shift);
            while k < hi && self.starts[k + 1].into() <= value {
                k += 1;
            }
            *first = k;
        }
        firsts[256] = hi;
        for c in 0..256 {
            // A value under entry c lies in an interval from the one holding the entry's
            // first value to the one holding the next entry's.
            let (from, to) = (firsts[c], firsts[c + 1]);
            self.nodes[at + c] = if to - from < LEAF_SPAN || shift == 0 {
                from as u64 | ((to - from + 1) as u64) << 32
            } else {
                let child = self.nodes.len() / 256;
                self.node(base + ((c as u128) << shift), shift - 8, from, to);
                CHILD | child as u64
            };
        }
    }

    /// The row of the interval holding `x`: the last start `<= x` (`starts[0]` is `T::MIN`,
    /// so there is one).
    #[inline(always)]
    pub fn get(&self, x: T) -> &[u64] {
        let mut shift = T::BITS - 8;
        let mut e: Leaf = self.nodes[x.byte(shift)];
        while e & CHILD != 0 {
            shift -= 8;
            e = self.nodes[((e & !CHILD) as usize) << 8 | x.byte(shift)];
        }
        let (mut k, span) = (e as u32 as usize, (e >> 32) as usize);
        // At most LEAF_SPAN intervals, or two where a leaf is one value: one comparison.
        if span > 1 && self.starts[k + 1] <= x {
            k += 1;
        }
        let class = self.class[k] as usize;
        &self.rows[class * self.stride..][..self.stride]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Anywhere, or crowded into one /16 so that its bucket gets a table of /24s.
    fn v4() -> impl Strategy<Value = u32> {
        prop_oneof![any::<u32>(), (0u32..1 << 16).prop_map(|x| 0x0a00_0000 | x)]
    }

    proptest! {
        #[test]
        fn lookup_agrees_with_the_sets(
            ranges in proptest::collection::vec(
                proptest::collection::vec((v4(), prop_oneof![0u32..300, 0u32..1 << 18]), 0..12), 1..90),
            free_bits in any::<u64>(),
            probes in proptest::collection::vec(v4(), 1..50),
        ) {
            let sets: Vec<RangeSet<u32>> = ranges
                .iter()
                .map(|r| RangeSet::from_ranges(r.iter().map(|&(lo, n)| (lo, lo.saturating_add(n)))))
                .collect();
            // Two words a slot, so bits past 64 are exercised; members spread over 3 slots.
            let words = 2;
            let members: Vec<Member<'_, u32>> = sets
                .iter()
                .enumerate()
                .map(|(i, set)| Member { slot: i % 3, bit: i, set })
                .collect();
            // Free bits only where no member has its bit: at and past `sets.len()`.
            let mut free = vec![0u64; 3 * words];
            for slot in 0..3 {
                for bit in sets.len()..64 * words {
                    if free_bits >> (bit % 64) & 1 != 0 {
                        free[slot * words + bit / 64] |= 1 << (bit % 64);
                    }
                }
            }
            let t = Intervals::new(&members, &free, words);
            // Probe the edges of every range too, where an off-by-one would show.
            let edges = sets.iter().flat_map(|s| s.ranges().iter().flat_map(|&(lo, hi)| {
                [lo.wrapping_sub(1), lo, hi, hi.wrapping_add(1)]
            }));
            for x in probes.into_iter().chain(edges).chain([0, u32::MAX]) {
                let row = t.get(x);
                for (i, set) in sets.iter().enumerate() {
                    let word = (i % 3) * words + i / 64;
                    let want = set.contains(x) || free[word] & (1 << (i % 64)) != 0;
                    prop_assert_eq!(row[word] & (1 << (i % 64)) != 0, want, "{} in {:?}", x, set);
                }
                for (w, f) in free.iter().enumerate() {
                    prop_assert_eq!(row[w] & f, *f);
                }
            }
        }
    }

    #[test]
    fn an_empty_family_is_one_interval_of_the_free_row() {
        let t: Intervals<u16> = Intervals::new(&[], &[5, 0, 0, 1], 1);
        assert_eq!(t.get(0), [5, 0, 0, 1]);
        assert_eq!(t.get(u16::MAX), [5, 0, 0, 1]);
        assert_eq!(t.starts.len(), 1);
    }

    #[test]
    fn a_range_from_the_domain_start_to_its_end() {
        let full = RangeSet::<u16>::full();
        let low = RangeSet::from_ranges([(0, 9)]);
        let members = [
            Member {
                slot: 0,
                bit: 0,
                set: &full,
            },
            Member {
                slot: 0,
                bit: 1,
                set: &low,
            },
        ];
        let t = Intervals::new(&members, &[0], 1);
        assert_eq!(t.get(0), [0b11]);
        assert_eq!(t.get(9), [0b11]);
        assert_eq!(t.get(10), [0b01]);
        assert_eq!(t.get(u16::MAX), [0b01]);
    }
}
