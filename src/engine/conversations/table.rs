//! The table under a policy's conversations: entries in a list, found through an index of
//! open-addressing slots, so that merging one table into another can fetch ahead.
//!
//! With a hundred failing drafts, a run's conversations are ~100 MB of tables, and every
//! worker hands what it summed to them every few archives: on issue 21's set d week, 4.25 M
//! (policy, conversation) merges into tables that end with 0.88 M, nearly every one a cache
//! miss (`std`'s `HashMap` gives no way to ask for a bucket before it is needed). Here an
//! entry's place is known from its hash alone, so [`PairTable::add_all`] asks the memory for
//! the slots, then the entries, of the next [`AHEAD`] additions while it makes the current
//! one, and the misses overlap instead of following one another.
//!
//! The index is a power of two of `u64` slots, at most 3/4 full, linear probing from the
//! hash's high bits; a slot holds the hash's low 32 bits (a tag, so that most other keys are
//! passed over without reading their entry) and the entry's number plus one (0: empty).
//! Entries are kept in chunks of [`CHUNK`], never moved, so growing rebuilds only the index
//! and no chunk but the last has slack. Memory: the entry and 11-21 bytes of index, where a
//! hash map of the same entries took the entry again times 1/7 to 9/7 of slack.
//!
//! The order of [`PairTable::iter`] is the entries' order of arrival; every caller folds
//! what it reads in an order-independent way or sorts it.

/// Entries in a chunk: 144 KiB of conversations, above the 128 KiB from which the allocator
/// maps a block of its own (`src/main.rs` fixes that threshold), so a chunk freed is given
/// back to the system at once. (Chunks of 72 KiB came from the allocator's heaps, which kept
/// them once freed: the report is built while the tables are drained, and set d's peak RSS
/// rose from 208 to 270 MiB.) The first chunk grows as a `Vec` does, so the many small
/// tables (a worker's, a policy that blocks a few conversations) stay small.
const CHUNK: usize = 2048;

/// Additions fetched ahead by [`PairTable::add_all`]: the slots of the next `AHEAD`, the
/// entries of the next `AHEAD / 2`.
const AHEAD: usize = 16;

/// Slots of the first index.
const FIRST: usize = 16;

/// A key and its 64-bit hash, well mixed in its high bits (which pick the first slot) and
/// its low 32 (the tag).
pub(super) trait Hash64: Copy + Eq {
    fn hash64(&self) -> u64;
}

/// Entries keyed by `K`.
#[derive(Clone, Debug)]
pub(super) struct PairTable<K, V> {
    /// A power of two of slots (or none before the first entry): `tag << 32 | (entry + 1)`.
    slots: Vec<u64>,
    /// `64 - log2(slots.len())`: the hash's high bits pick the first slot.
    shift: u32,
    chunks: Vec<Vec<(K, V)>>,
    len: usize,
}

impl<K, V> Default for PairTable<K, V> {
    fn default() -> Self {
        PairTable {
            slots: Vec::new(),
            shift: 64,
            chunks: Vec::new(),
            len: 0,
        }
    }
}

/// Asks for the cache line at `p`; it never faults, whatever the address.
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it reads nothing into the program and cannot fault.
    #[allow(unsafe_code)]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

impl<K: Hash64, V> PairTable<K, V> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline(always)]
    fn home(&self, hash: u64) -> usize {
        (hash >> self.shift) as usize
    }

    #[inline(always)]
    fn entry(&self, n: usize) -> &(K, V) {
        &self.chunks[n / CHUNK][n % CHUNK]
    }

    #[inline(always)]
    fn entry_mut(&mut self, n: usize) -> &mut (K, V) {
        &mut self.chunks[n / CHUNK][n % CHUNK]
    }

    /// The number of `key`'s entry, or the empty slot where it would go.
    #[inline]
    fn find(&self, hash: u64, key: &K) -> Result<usize, usize> {
        let mask = self.slots.len() - 1;
        let tag = hash as u32;
        let mut i = self.home(hash);
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                return Err(i);
            }
            if (slot >> 32) as u32 == tag {
                let n = (slot as u32 - 1) as usize;
                if self.entry(n).0 == *key {
                    return Ok(n);
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// The value of `key`, if it is here.
    pub fn get(&self, key: &K) -> Option<&V> {
        if self.len == 0 {
            return None;
        }
        self.find(key.hash64(), key).ok().map(|n| &self.entry(n).1)
    }

    /// Updates `key`'s value with `update`, or adds `value` for it; true if it was added.
    #[inline]
    pub fn upsert(&mut self, key: K, value: V, update: impl FnOnce(&mut V, V)) -> bool {
        self.upsert_hashed(key.hash64(), key, value, update)
    }

    #[inline]
    fn upsert_hashed(
        &mut self,
        hash: u64,
        key: K,
        value: V,
        update: impl FnOnce(&mut V, V),
    ) -> bool {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        match self.find(hash, &key) {
            Ok(n) => {
                update(&mut self.entry_mut(n).1, value);
                false
            }
            Err(i) => {
                let n = self.len;
                let number = u32::try_from(n + 1).expect("fewer than 2^32 entries in a table");
                self.slots[i] = u64::from(hash as u32) << 32 | u64::from(number);
                // Entries fill the chunks in order (a drained table keeps its chunks, empty).
                match self.chunks.get_mut(n / CHUNK) {
                    Some(chunk) => chunk.push((key, value)),
                    None => {
                        // The first chunk grows as a Vec does; later ones are made whole.
                        let mut chunk = Vec::with_capacity(if n == 0 { 0 } else { CHUNK });
                        chunk.push((key, value));
                        self.chunks.push(chunk);
                    }
                }
                self.len += 1;
                true
            }
        }
    }

    /// [`PairTable::upsert`] for every `(key, value)`, the slots and entries of the next
    /// ones asked for from memory ahead of their turn.
    pub fn add_all(
        &mut self,
        items: impl IntoIterator<Item = (K, V)>,
        mut update: impl FnMut(&mut V, V),
    ) {
        let mut ring: std::collections::VecDeque<(u64, K, V)> =
            std::collections::VecDeque::with_capacity(AHEAD);
        for (key, value) in items {
            let hash = key.hash64();
            self.fetch_slot(hash);
            ring.push_back((hash, key, value));
            if ring.len() > AHEAD / 2 {
                self.fetch_entry(ring[ring.len() - 1 - AHEAD / 2].0);
            }
            if ring.len() == AHEAD {
                let (hash, key, value) = ring.pop_front().expect("a full ring");
                self.upsert_hashed(hash, key, value, &mut update);
            }
        }
        for (hash, key, value) in ring {
            self.upsert_hashed(hash, key, value, &mut update);
        }
    }

    /// Asks for the first slot of `hash`.
    #[inline(always)]
    fn fetch_slot(&self, hash: u64) {
        if !self.slots.is_empty() {
            prefetch(self.slots.as_ptr().wrapping_add(self.home(hash)));
        }
    }

    /// Asks for the entry of the first slot of `hash`, if it holds one with its tag (the
    /// slot was asked for [`AHEAD`] / 2 additions ago).
    #[inline(always)]
    fn fetch_entry(&self, hash: u64) {
        if self.slots.is_empty() {
            return;
        }
        let slot = self.slots[self.home(hash)];
        if slot != 0 && (slot >> 32) as u32 == hash as u32 {
            let n = (slot as u32 - 1) as usize;
            if let Some(chunk) = self.chunks.get(n / CHUNK) {
                prefetch(chunk.as_ptr().wrapping_add(n % CHUNK));
            }
        }
    }

    /// Twice the slots (at least [`FIRST`]), rebuilt from the entries' keys (entries do not
    /// move).
    #[cold]
    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(FIRST);
        self.slots = vec![0; size];
        self.shift = 64 - size.trailing_zeros();
        self.rebuild();
    }

    /// Keeps the entries `keep` says to, in place: the kept ones move down within the
    /// chunks (their order kept), the emptied chunks are freed, and the index is rebuilt at
    /// its size (no second table while it runs: the bound's compaction, at the run's peak).
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) {
        let mut kept = 0;
        for n in 0..self.len {
            let entry = self.entry(n);
            if keep(&entry.0, &entry.1) {
                if kept != n {
                    let (a, b) = (kept, n);
                    self.swap_entries(a, b);
                }
                kept += 1;
            }
        }
        // Entries kept..len are the dropped ones: cut them off the chunks.
        let chunks = kept.div_ceil(CHUNK);
        self.chunks.truncate(chunks.max(1).min(self.chunks.len()));
        if let Some(last) = self.chunks.last_mut() {
            last.truncate(kept - (chunks.max(1) - 1) * CHUNK);
        }
        self.len = kept;
        self.rebuild();
    }

    fn swap_entries(&mut self, a: usize, b: usize) {
        debug_assert!(a < b);
        if a / CHUNK == b / CHUNK {
            self.chunks[a / CHUNK].swap(a % CHUNK, b % CHUNK);
        } else {
            let (low, high) = self.chunks.split_at_mut(b / CHUNK);
            std::mem::swap(&mut low[a / CHUNK][a % CHUNK], &mut high[0][b % CHUNK]);
        }
    }

    /// The index rebuilt at its size from the entries.
    fn rebuild(&mut self) {
        self.slots.fill(0);
        let mask = self.slots.len().wrapping_sub(1);
        for (n, (key, _)) in self.chunks.iter().flatten().enumerate() {
            let hash = key.hash64();
            let mut i = (hash >> self.shift) as usize;
            while self.slots[i] != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = u64::from(hash as u32) << 32 | (n as u64 + 1);
        }
    }

    /// Every entry, in order of arrival.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.chunks.iter().flatten().map(|(k, v)| (k, v))
    }

    /// Every entry, each chunk freed once read.
    pub fn into_entries(self) -> impl Iterator<Item = (K, V)> {
        self.chunks.into_iter().flatten()
    }

    /// Every entry, leaving the table empty with its memory, index and chunks (a worker's
    /// table is filled and handed over many times, to about the same size).
    pub fn drain(&mut self) -> impl Iterator<Item = (K, V)> + '_ {
        if self.len > 0 {
            self.slots.fill(0);
        }
        self.len = 0;
        self.chunks.iter_mut().flat_map(|chunk| chunk.drain(..))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// A key whose hash the test chooses: `Crowded` keys share a few first slots and tags.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    enum TestKey {
        Mixed(u64),
        Crowded(u64),
    }

    impl Hash64 for TestKey {
        fn hash64(&self) -> u64 {
            match *self {
                TestKey::Mixed(k) => k.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29),
                // Four first slots and one tag for them all.
                TestKey::Crowded(k) => (k % 4) << 62 | 7,
            }
        }
    }

    fn key() -> impl Strategy<Value = TestKey> {
        prop_oneof![
            (0u64..200).prop_map(TestKey::Mixed),
            any::<u64>().prop_map(TestKey::Mixed),
            (0u64..40).prop_map(TestKey::Crowded),
        ]
    }

    proptest! {
        /// The table holds what a `HashMap` holds after the same additions, one at a time or
        /// fetched ahead in batches, through growth and drains.
        #[test]
        fn agrees_with_a_hash_map(
            ops in proptest::collection::vec((key(), 1u32..100), 0..2500),
            batch in 1usize..40,
            drain_at in proptest::option::of(0usize..2500),
        ) {
            let mut table: PairTable<TestKey, u32> = PairTable::default();
            let mut map: HashMap<TestKey, u32> = HashMap::new();
            for (n, part) in ops.chunks(batch).enumerate() {
                if drain_at.is_some_and(|d| d / batch == n) {
                    let mut drained: Vec<_> = table.drain().collect();
                    let mut want: Vec<_> = map.drain().collect();
                    drained.sort_unstable_by_key(|(k, _)| format!("{k:?}"));
                    want.sort_unstable_by_key(|(k, _)| format!("{k:?}"));
                    prop_assert_eq!(drained, want);
                    prop_assert!(table.is_empty());
                }
                if n % 2 == 0 {
                    table.add_all(part.iter().copied(), |v, add| *v += add);
                } else {
                    for &(k, add) in part {
                        let new = !map.contains_key(&k);
                        prop_assert_eq!(table.upsert(k, add, |v, add| *v += add), new);
                        *map.entry(k).or_insert(0) += add;
                    }
                    continue;
                }
                for &(k, add) in part {
                    *map.entry(k).or_insert(0) += add;
                }
            }
            prop_assert_eq!(table.len(), map.len());
            for (k, v) in &map {
                prop_assert_eq!(table.get(k), Some(v));
            }
            prop_assert_eq!(table.get(&TestKey::Crowded(1 << 40)), None);
            let listed: HashMap<TestKey, u32> = table.iter().map(|(k, v)| (*k, *v)).collect();
            prop_assert_eq!(listed.len(), table.len());
            prop_assert_eq!(&listed, &map);
            let entries: HashMap<TestKey, u32> = table.into_entries().collect();
            prop_assert_eq!(entries, map);
        }
    }

    /// Keeping some entries in place leaves what a `HashMap`'s `retain` leaves, findable,
    /// and the table goes on taking additions; keeping none or all works too.
    #[test]
    fn retain_keeps_what_a_map_keeps() {
        for (n, modulus) in [
            (0u64, 3u64),
            (5, 2),
            (3 * CHUNK as u64 + 9, 3),
            (2 * CHUNK as u64, 1),
        ] {
            for keep_none in [false, true] {
                let mut table: PairTable<TestKey, u64> = PairTable::default();
                let mut map: HashMap<TestKey, u64> = HashMap::new();
                for k in 0..n {
                    let key = if k % 5 == 0 {
                        TestKey::Crowded(k)
                    } else {
                        TestKey::Mixed(k)
                    };
                    table.upsert(key, k, |_, _| unreachable!());
                    map.insert(key, k);
                }
                let keep = |v: &u64| !keep_none && v.is_multiple_of(modulus);
                table.retain(|_, v| keep(v));
                map.retain(|_, v| keep(v));
                assert_eq!(table.len(), map.len());
                assert_eq!(table.iter().count(), map.len());
                for (k, v) in &map {
                    assert_eq!(table.get(k), Some(v));
                }
                assert!(table.chunks.len() <= map.len().div_ceil(CHUNK).max(1));
                table.upsert(TestKey::Mixed(u64::MAX), 1, |v, a| *v += a);
                table.upsert(TestKey::Mixed(u64::MAX), 1, |v, a| *v += a);
                assert_eq!(table.get(&TestKey::Mixed(u64::MAX)), Some(&2));
                assert_eq!(table.len(), map.len() + 1);
            }
        }
    }

    /// Entries stay in chunks of [`CHUNK`], the first grown as a `Vec`, and the index at most
    /// 3/4 full.
    #[test]
    fn chunks_fill_and_the_index_grows() {
        let mut table: PairTable<TestKey, u64> = PairTable::default();
        for k in 0..(3 * CHUNK as u64 + 5) {
            assert!(table.upsert(TestKey::Mixed(k), k, |_, _| unreachable!()));
            assert!(table.len * 4 <= table.slots.len() * 3);
        }
        assert_eq!(table.chunks.len(), 4);
        assert!(table.chunks[..3].iter().all(|c| c.len() == CHUNK));
        assert_eq!(table.chunks[1].capacity(), CHUNK);
        let slots = table.slots.len();
        assert_eq!(table.drain().count(), 3 * CHUNK + 5);
        assert_eq!((table.len(), table.slots.len()), (0, slots));
        assert!(table.slots.iter().all(|&s| s == 0));
        assert_eq!(table.chunks.len(), 4, "a drained table keeps its chunks");
        assert!(table.chunks.iter().all(|c| c.is_empty()));
        for k in 0..(CHUNK as u64 + 1) {
            assert!(table.upsert(TestKey::Mixed(k + 7), k, |_, _| unreachable!()));
        }
        assert_eq!(table.chunks[1].len(), 1);
        assert_eq!(
            table.get(&TestKey::Mixed(7 + CHUNK as u64)),
            Some(&(CHUNK as u64))
        );
        assert_eq!(table.iter().count(), CHUNK + 1);
    }
}
