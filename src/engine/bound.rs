//! The bound on per-conversation detail: how many (policy, conversation) pairs a run holds,
//! and which it keeps once there are more.
//!
//! A check counts every would-be-blocked record in its policy's totals whatever happens
//! here; what is bounded is the table of conversations (at most 17/16 of the bound during
//! the scan) and then the report's listing (136 bytes a pair); not the violations still
//! waiting for their server (docs/performance.md, "What the bound is"). The exact top conversations by records cannot be known in one pass in
//! bounded memory (a conversation dropped early may be the largest in the end), and any
//! choice made from partial counts depends on the order the archives are read in, so on the
//! thread count. What is kept instead is a *bottom-k sample*: every conversation has a rank,
//! a fixed-seed hash of its key (protocol, client, server, server port) that depends on
//! nothing else, and the run keeps the pairs of the conversations with the smallest ranks,
//! at most [`Bound::limit`] of them. When the run's store grows past 17/16 of the limit it is
//! compacted: the rank of the (limit + 1)-th smallest pair becomes the *cut*, pairs at or
//! above it are dropped (their sums go to [`Dropped`]) and later pairs at or above it are
//! never admitted. The cut only falls, so a pair below the final cut was never dropped
//! anywhere: its counts are exact, and the kept set is the pairs ranked below the (limit +
//! 1)-th smallest rank of the whole run, whatever the order of the archives or the number of
//! workers. The rank does not involve the policy, so the sample holds the same
//! conversations in every policy that blocks them (and in `--base`'s two versions).
//!
//! Every record's sums go to exactly one place, its kept conversation or its policy's
//! [`Dropped`] sums per service, so records, packets and bytes stay exact per policy and per
//! service, and a policy with any dropped record still fails.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use super::conversations::{max_opt, min_opt, ConversationKey, ConversationStats, Conversations};

/// The default bound: 1.25 million (policy, conversation) pairs. Issue 21 asks that a run of
/// 100 failing drafts blocking 1.15 million conversations still counts every one exactly in
/// under 256 MiB; such a run on the bench week peaks at 225 MiB (docs/performance.md, "What
/// the bound is"), so the default sits just above it rather than cutting it.
pub const DEFAULT_PAIRS: usize = 1_250_000;

/// The rank that admits every pair: no rank reaches it ([`rank`] clears the top bit).
const NONE_DROPPED: u64 = u64::MAX;

/// A conversation's place in the sample: a fixed-seed hash of its key, below 2^63. The same
/// key has the same rank in every run, build and platform (no `Hasher` of the standard
/// library, whose output may change between releases).
pub fn rank(key: &ConversationKey) -> u64 {
    fn mix(h: u64, x: u64) -> u64 {
        // splitmix64's finaliser over the running state and the next word.
        let mut z = (h ^ x).wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn addr(h: u64, a: Option<IpAddr>) -> u64 {
        match a {
            None => mix(h, 0),
            Some(IpAddr::V4(v4)) => mix(mix(h, 4), u64::from(u32::from(v4))),
            Some(IpAddr::V6(v6)) => {
                let bits = u128::from(v6);
                mix(mix(mix(h, 6), (bits >> 64) as u64), bits as u64)
            }
        }
    }
    let mut h = 0x666c_6f77_6761_7465; // "flowgate"
    h = mix(h, key.protocol.map_or(1 << 16, u64::from));
    h = addr(h, key.client);
    h = addr(h, key.server);
    h = mix(h, key.server_port.map_or(1 << 16, u64::from));
    h >> 1
}

/// The bound a run held its conversations to, once it dropped some.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sampled {
    /// (policy, conversation) pairs kept at most (`--keep-conversations`).
    pub limit: usize,
    /// The fraction of all conversations the sample keeps.
    pub kept_fraction: f64,
}

/// The run's bound and its cut, shared by the workers.
#[derive(Debug)]
pub struct Bound {
    limit: usize,
    /// Pairs whose rank is below it are admitted; [`NONE_DROPPED`] until the first
    /// compaction.
    cut: AtomicU64,
}

impl Bound {
    /// At most `limit` pairs kept (0 keeps none: only the totals).
    pub fn new(limit: usize) -> Bound {
        Bound {
            limit,
            cut: AtomicU64::new(NONE_DROPPED),
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Pairs the store may hold before it is compacted: 17/16 of the limit, so that a
    /// compaction (three passes over every pair) runs once per sixteenth of the limit's new
    /// pairs, not at every hand-over. At 5/4 the store's top was the peak of a run past the
    /// default bound (issue 21's set e: 263-270 MiB); a sixteenth over the limit holds ~25 MB
    /// less there, and the compactions, four times as many, cost little (docs/performance.md).
    pub fn slack(&self) -> usize {
        self.limit.saturating_add(self.limit / 16)
    }

    /// Whether anything was dropped yet.
    pub fn is_hit(&self) -> bool {
        self.cut() != NONE_DROPPED
    }

    fn cut(&self) -> u64 {
        self.cut.load(Ordering::Acquire)
    }

    /// Whether a conversation of this rank is (still) kept.
    pub fn admits(&self, rank: u64) -> bool {
        rank < self.cut()
    }

    /// The fraction of all conversations the sample keeps, once something was dropped
    /// (the ranks are uniform below 2^63): what scales the sample's count to an estimate.
    pub fn kept_fraction(&self) -> Option<f64> {
        let cut = self.cut();
        (cut != NONE_DROPPED).then(|| cut as f64 / (1u64 << 63) as f64)
    }

    /// Moves `from`'s pairs into `to` if their conversation is admitted, into `dropped`
    /// otherwise.
    pub fn admit(&self, from: Conversations, to: &mut Conversations, dropped: &mut Dropped) {
        if !self.is_hit() {
            to.merge(from);
            return;
        }
        let cut = self.cut();
        for (key, stats) in from.drain() {
            if rank(&key) < cut {
                to.add(key, &stats);
            } else {
                dropped.add(&key, &stats);
            }
        }
    }

    /// Keeps at most [`Bound::limit`] pairs over `tables` (one per policy, `dropped` beside
    /// each), if they hold more than `most`: the (limit + 1)-th smallest rank becomes the
    /// cut, and every pair at or above it moves to its policy's dropped sums. The tables are
    /// compacted in place, so nothing beside the store is built at the store's fullest: the
    /// cut is found from a histogram of the ranks' top bits ([`nth_rank`]), not a list of
    /// every rank (12 MB at the default bound), and each table drops its pairs where it is
    /// (a rebuilt table held its old one beside it while it grew).
    pub fn compact(&self, tables: &mut [(&mut Conversations, &mut Dropped)], most: usize) {
        let held: usize = tables.iter().map(|(t, _)| t.len()).sum();
        if held <= most {
            return;
        }
        let cut = nth_rank(
            || {
                tables
                    .iter()
                    .flat_map(|(t, _)| t.iter().map(|(k, _)| rank(&k)))
            },
            self.limit,
        );
        // Another worker may have cut lower since: keep the lower.
        let cut = self.cut.fetch_min(cut, Ordering::AcqRel).min(cut);
        for (table, dropped) in tables.iter_mut() {
            table.retain(|key, stats| {
                let keep = rank(key) < cut;
                if !keep {
                    dropped.add(key, stats);
                }
                keep
            });
        }
    }
}

/// Bits of a rank that pick its bucket in [`nth_rank`]'s histogram: 2^16 counters (512 KiB),
/// ~20 ranks a bucket at the default bound's 1.3 million pairs.
const BUCKET_BITS: u32 = 16;

/// The `n`-th smallest (from 0) of the ranks `ranks()` yields, which must be more than `n`:
/// what sorting them all would give at index `n`, in two passes and the memory of one
/// bucket's ranks. The first pass counts the ranks per bucket of their top bits, which
/// finds the bucket holding the `n`-th; the second collects that bucket's ranks and selects
/// in them. The ranks are uniform (a hash), so a bucket holds about `len / 2^16` of them.
fn nth_rank<I: Iterator<Item = u64>>(ranks: impl Fn() -> I, n: usize) -> u64 {
    // Ranks are below 2^63.
    let shift = 63 - BUCKET_BITS;
    let mut counts = vec![0usize; 1 << BUCKET_BITS];
    for r in ranks() {
        counts[(r >> shift) as usize] += 1;
    }
    let mut before = 0;
    let mut bucket = 0;
    while before + counts[bucket] <= n {
        before += counts[bucket];
        bucket += 1;
    }
    drop(counts);
    let mut inside: Vec<u64> = ranks()
        .filter(|r| (r >> shift) as usize == bucket)
        .collect();
    let (_, &mut nth, _) = inside.select_nth_unstable(n - before);
    nth
}

/// The sums of one service (protocol, server port) over the records of the conversations
/// the bound dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServiceSums {
    pub records: u64,
    pub packets: u64,
    pub bytes: u64,
    pub first_start: Option<u64>,
    pub last_end: Option<u64>,
}

impl ServiceSums {
    /// Adds `o` as [`ConversationStats::merge`] adds a conversation's sums: records exactly,
    /// packets and bytes saturating, the widest window.
    fn add(&mut self, o: &ServiceSums) {
        self.records += o.records;
        self.packets = self.packets.saturating_add(o.packets);
        self.bytes = self.bytes.saturating_add(o.bytes);
        self.first_start = min_opt(self.first_start, o.first_start);
        self.last_end = max_opt(self.last_end, o.last_end);
    }
}

/// What a policy's dropped conversations held, per service: exact sums (additions, so in
/// any order the same), though not which conversations they were.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    pub services: BTreeMap<(Option<u8>, Option<u16>), ServiceSums>,
}

impl Dropped {
    pub fn add(&mut self, key: &ConversationKey, s: &ConversationStats) {
        let sums = ServiceSums {
            records: s.records,
            packets: s.packets,
            bytes: s.bytes,
            first_start: s.first_start,
            last_end: s.last_end,
        };
        self.services
            .entry((key.protocol, key.server_port))
            .or_default()
            .add(&sums);
    }

    pub fn merge(&mut self, other: Dropped) {
        for (k, o) in other.services {
            self.services.entry(k).or_default().add(&o);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    /// The sums over every service.
    pub fn total(&self) -> ServiceSums {
        let mut all = ServiceSums::default();
        for s in self.services.values() {
            all.add(s);
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::super::server::Basis;
    use super::*;
    use proptest::prelude::*;

    fn key(i: u32) -> ConversationKey {
        ConversationKey {
            protocol: Some(if i.is_multiple_of(3) { 17 } else { 6 }),
            client: Some(IpAddr::from((0x0a00_0000 + i * 7919).to_be_bytes())),
            server: Some(if i.is_multiple_of(5) {
                "2600:1f18::9".parse().unwrap()
            } else {
                IpAddr::from([10, 20, 0, (i % 11) as u8])
            }),
            server_port: Some(if i.is_multiple_of(2) { 443 } else { 8125 }),
        }
    }

    fn stats(records: u64, at: u64) -> ConversationStats {
        ConversationStats {
            records,
            packets: records * 3,
            bytes: records * 100,
            first_start: Some(at),
            last_end: Some(at + 60),
            example: (at as usize, 1),
            expired_waiver: None,
            basis: Basis::Flags,
        }
    }

    /// One worker's hand-over: (policy, conversation, records, start).
    type Adds = Vec<(usize, u32, u64, u64)>;

    /// Runs `parts` through a store of `policies` tables as `Gathered` does: each part is a
    /// worker's table handed over, admitted, then the store compacted; at the end the
    /// final compaction to the limit. Returns the kept pairs sorted and the dropped sums.
    fn run(
        parts: &[Adds],
        policies: usize,
        limit: usize,
    ) -> (
        Vec<(usize, ConversationKey, ConversationStats)>,
        Vec<Dropped>,
    ) {
        let bound = Bound::new(limit);
        let mut store: Vec<Conversations> = (0..policies).map(|_| Default::default()).collect();
        let mut dropped: Vec<Dropped> = vec![Dropped::default(); policies];
        for part in parts {
            let mut mine: Vec<Conversations> = (0..policies).map(|_| Default::default()).collect();
            for &(p, k, records, at) in part {
                mine[p].add(key(k), &stats(records, at));
            }
            for ((m, s), d) in mine.into_iter().zip(&mut store).zip(&mut dropped) {
                bound.admit(m, s, d);
            }
            let mut tables: Vec<_> = store.iter_mut().zip(dropped.iter_mut()).collect();
            bound.compact(&mut tables, bound.slack());
        }
        let mut tables: Vec<_> = store.iter_mut().zip(dropped.iter_mut()).collect();
        bound.compact(&mut tables, bound.limit());
        let mut kept: Vec<_> = store
            .iter()
            .enumerate()
            .flat_map(|(p, t)| t.iter().map(move |(k, s)| (p, k, s)))
            .collect();
        kept.sort_by_key(|&(p, k, _)| (p, k));
        (kept, dropped)
    }

    #[test]
    fn ranks_are_fixed() {
        // A changed rank changes which conversations every bounded report lists.
        assert_eq!(rank(&key(1)), rank(&key(1)));
        assert_ne!(rank(&key(1)), rank(&key(2)));
        assert!((0..1000).all(|i| rank(&key(i)) < NONE_DROPPED));
        assert_eq!(rank(&key(1)), 0x7f7e_8955_2c53_367f, "{:#x}", rank(&key(1)));
    }

    /// Under the limit nothing is dropped; over it the kept pairs are the limit's smallest
    /// ranks, their counts exact, and the dropped sums hold the rest.
    #[test]
    fn keeps_the_smallest_ranks_with_exact_counts() {
        let adds: Adds = (0..200u32)
            .flat_map(|k| [(0, k, 2, 100), ((k % 2) as usize, k, 1, 50)])
            .collect();
        let (kept, dropped) = run(std::slice::from_ref(&adds), 2, 1000);
        assert_eq!(kept.len(), 300);
        assert!(dropped.iter().all(Dropped::is_empty));

        let (kept, dropped) = run(&[adds], 2, 40);
        assert!(kept.len() <= 40 && kept.len() >= 39, "{}", kept.len());
        // The pairs (policy 0 has every conversation, policy 1 the odd ones) ranked below
        // the 41st smallest rank: exactly those kept.
        let mut ranks: Vec<u64> = (0..200u32)
            .flat_map(|k| [Some(rank(&key(k))), (k % 2 == 1).then(|| rank(&key(k)))])
            .flatten()
            .collect();
        ranks.sort_unstable();
        assert!(kept.iter().all(|(_, k, _)| rank(k) < ranks[40]));
        assert_eq!(ranks.iter().filter(|&&r| r < ranks[40]).count(), kept.len());
        for (p, k, s) in &kept {
            let i = (0..200u32).find(|&i| key(i) == *k).unwrap();
            let want = if *p == 0 {
                2 + u64::from(i % 2 == 0)
            } else {
                1
            };
            assert_eq!(s.records, want);
        }
        let total = |p: usize| {
            kept.iter()
                .filter(|(q, _, _)| *q == p)
                .map(|(_, _, s)| s.records)
                .sum::<u64>()
                + dropped[p].total().records
        };
        assert_eq!(total(0), 200 * 2 + 100);
        assert_eq!(total(1), 100);
    }

    #[test]
    fn a_limit_of_zero_keeps_only_totals() {
        let adds: Adds = (0..50u32).map(|k| (0, k, 1, 7)).collect();
        let (kept, dropped) = run(&[adds], 1, 0);
        assert!(kept.is_empty());
        assert_eq!(dropped[0].total().records, 50);
        assert_eq!(dropped[0].total().first_start, Some(7));
    }

    proptest! {
        /// The histogram's selection is the sorted ranks' `n`-th, however the ranks fall:
        /// spread (as hashes are), bunched in one bucket, or repeated.
        #[test]
        fn nth_rank_is_the_sorted_nth(
            spread in prop::collection::vec(0u64..(1 << 63), 1..300),
            bunched in prop::collection::vec(0u64..1000, 0..300),
            pick in any::<prop::sample::Index>(),
        ) {
            let mut all: Vec<u64> = spread.iter().chain(&bunched).copied().collect();
            all.extend(bunched.iter().take(20).map(|r| r + (1 << 62)));
            let n = pick.index(all.len());
            let got = nth_rank(|| all.iter().copied(), n);
            all.sort_unstable();
            prop_assert_eq!(got, all[n]);
        }

        /// The kept pairs and their counts, and the dropped sums, do not depend on the order
        /// of the records nor on how they are split between workers' hand-overs.
        #[test]
        fn the_sample_does_not_depend_on_order_or_split(
            adds in prop::collection::vec((0usize..3, 0u32..400, 1u64..5, 0u64..1000), 1..400),
            seed in any::<u64>(),
            cuts in prop::collection::vec(0usize..400, 0..6),
            limit in 0usize..120,
        ) {
            let whole = run(std::slice::from_ref(&adds), 3, limit);
            let mut shuffled = adds.clone();
            // A fixed permutation from the seed (Fisher-Yates with splitmix steps).
            let mut s = seed;
            for i in (1..shuffled.len()).rev() {
                s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let j = (s >> 33) as usize % (i + 1);
                shuffled.swap(i, j);
            }
            let mut at: Vec<usize> = cuts.iter().map(|c| c % (shuffled.len() + 1)).collect();
            at.sort_unstable();
            let mut parts = Vec::new();
            let mut from = 0;
            for c in at.into_iter().chain([shuffled.len()]) {
                parts.push(shuffled[from..c].to_vec());
                from = c;
            }
            let split = run(&parts, 3, limit);
            prop_assert_eq!(&whole, &split);
            prop_assert!(whole.0.len() <= limit);
            let records: u64 = adds.iter().map(|a| a.2).sum();
            let kept: u64 = whole.0.iter().map(|(_, _, s)| s.records).sum();
            let dropped: u64 = whole.1.iter().map(|d| d.total().records).sum();
            prop_assert_eq!(kept + dropped, records);
        }
    }
}
