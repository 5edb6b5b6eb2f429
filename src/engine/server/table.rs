//! The table of an archive's IPv4 ends: what the server rule touches twice for every record.
//!
//! A record's two ends are looked up (and inserted when new) in the archive's evidence, so
//! this table is on the per-record path of every check. `std`'s `HashMap` with a one-multiply
//! hasher took ~75 instructions a lookup through its entry API (hash, group probe, tag match,
//! the update or insert closures); this is open addressing with linear probing over one array
//! of (key, value) pairs, indexed by the high bits of one multiplication (Fibonacci hashing),
//! kept at most 5/8 full, so most lookups read one slot. Keys are [`super::word`]s, whose top
//! byte is zero, so `u64::MAX` marks an empty slot.
//!
//! The order of [`WordTable::iter`] is the slots' order: arbitrary, like a hash map's, and
//! every caller folds what it reads in an order-independent way.

/// A key no [`super::word`] can be: its top byte (above the protocol) is never set.
const EMPTY: u64 = u64::MAX;

/// Slots of a table's first allocation: 16 KiB of (key, value) pairs for the check.
const FIRST: usize = 1024;

/// The multiplier of Fibonacci hashing: 2^64 over the golden ratio.
const HASH: u64 = 0x9e37_79b9_7f4a_7c15;

/// A map from [`super::word`]s to `V`.
#[derive(Clone, Debug)]
pub(super) struct WordTable<V> {
    /// A power of two of slots (or none before the first insertion).
    slots: Vec<(u64, V)>,
    len: usize,
    /// 5/8 of the slots: an insertion past it grows the table first. Kept rather than
    /// computed, so the check before each upsert is one comparison.
    limit: usize,
    /// `64 - log2(slots.len())`: the hash's high bits index the slots.
    shift: u32,
}

impl<V> Default for WordTable<V> {
    fn default() -> Self {
        WordTable {
            slots: Vec::new(),
            len: 0,
            limit: 0,
            shift: 64,
        }
    }
}

impl<V: Copy + Default> WordTable<V> {
    #[inline(always)]
    fn home(&self, key: u64) -> usize {
        (key.wrapping_mul(HASH) >> self.shift) as usize
    }

    /// Updates the value of `key` with `update`, or inserts `new()` for it.
    #[inline]
    pub fn upsert(&mut self, key: u64, update: impl FnOnce(&mut V), new: impl FnOnce() -> V) {
        if !self.has_room(1) {
            self.grow();
        }
        let (slots, shift) = (self.slots.as_mut_slice(), self.shift);
        self.len += usize::from(Self::put(slots, shift, key, update, new));
    }

    /// Whether `n` more entries fit without growing: a caller about to upsert two keys checks
    /// once, and grows exactly when [`Self::upsert`] would (so the slots, and the order of
    /// [`Self::iter`], are the same either way).
    #[inline(always)]
    pub fn has_room(&self, n: usize) -> bool {
        self.len + n <= self.limit
    }

    /// Two [`Self::upsert`]s after the caller saw [`Self::has_room`] for both: the slots'
    /// address and the shift loaded once (the keys are a record's two ends: distinct, or the
    /// same end twice, which the second finds as the first left it).
    #[inline(always)]
    pub fn upsert_pair_in_room(
        &mut self,
        (k1, update1, new1): (u64, impl FnOnce(&mut V), impl FnOnce() -> V),
        (k2, update2, new2): (u64, impl FnOnce(&mut V), impl FnOnce() -> V),
    ) {
        debug_assert!(self.has_room(2));
        let (slots, shift) = (self.slots.as_mut_slice(), self.shift);
        let added = Self::put(slots, shift, k1, update1, new1);
        let added = usize::from(added) + usize::from(Self::put(slots, shift, k2, update2, new2));
        self.len += added;
    }

    /// Updates or inserts `key` in `slots`, which has an empty slot; whether it inserted.
    #[inline(always)]
    #[allow(unsafe_code)] // unchecked slot index; see the SAFETY note
    fn put(
        slots: &mut [(u64, V)],
        shift: u32,
        key: u64,
        update: impl FnOnce(&mut V),
        new: impl FnOnce() -> V,
    ) -> bool {
        debug_assert_ne!(key, EMPTY);
        debug_assert!(slots.len().is_power_of_two() && shift == 64 - slots.len().trailing_zeros());
        let mask = slots.len() - 1;
        let mut i = (key.wrapping_mul(HASH) >> shift) as usize;
        loop {
            debug_assert!(i < slots.len());
            // SAFETY: the slots are a power of two, `1 << (64 - shift)` (the caller checked for
            // room, so there are slots), so the top `64 - shift` bits of a word and `i & mask`
            // are below their count. (Checked, a record's two lookups took ~6 instructions
            // more.)
            let slot = unsafe { slots.get_unchecked_mut(i) };
            if slot.0 == key {
                update(&mut slot.1);
                return false;
            }
            if slot.0 == EMPTY {
                *slot = (key, new());
                return true;
            }
            i = (i + 1) & mask;
        }
    }

    /// The value of `key`, if it is in the table.
    #[inline]
    pub fn get(&self, key: u64) -> Option<&V> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        loop {
            let slot = &self.slots[i];
            if slot.0 == key {
                return Some(&slot.1);
            }
            if slot.0 == EMPTY {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    /// Twice the slots (at least [`FIRST`]), every entry moved to its new place.
    #[cold]
    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(FIRST);
        let old = std::mem::replace(&mut self.slots, vec![(EMPTY, V::default()); size]);
        self.shift = 64 - size.trailing_zeros();
        self.limit = size / 8 * 5;
        self.len = 0;
        for (key, value) in old {
            if key != EMPTY {
                self.upsert(key, |_| unreachable!("keys are distinct"), || value);
            }
        }
    }

    /// Every (key, value), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &V)> {
        self.slots
            .iter()
            .filter(|(key, _)| *key != EMPTY)
            .map(|(key, value)| (*key, value))
    }

    /// Forgets every entry, keeping the slots for the next archive.
    pub fn clear(&mut self) {
        if self.len > 0 {
            self.slots.fill((EMPTY, V::default()));
            self.len = 0;
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    proptest! {
        /// The table holds what a `HashMap` holds after the same insertions and updates,
        /// through growth and clearing, with keys that crowd a few home slots.
        #[test]
        fn agrees_with_a_hash_map(
            ops in proptest::collection::vec(
                (prop_oneof![0u64..64, any::<u64>().prop_map(|k| k >> 8), (0u64..4000).prop_map(|k| k << 40)], any::<u8>()),
                0..3000,
            ),
            clear_at in proptest::option::of(0usize..3000),
        ) {
            let mut table: WordTable<u32> = WordTable::default();
            let mut map: HashMap<u64, u32> = HashMap::new();
            for (n, &(key, add)) in ops.iter().enumerate() {
                if clear_at == Some(n) {
                    table.clear();
                    map.clear();
                }
                let add = u32::from(add);
                table.upsert(key, |v| *v += add, || add);
                *map.entry(key).or_insert(0) += add;
            }
            prop_assert_eq!(table.len(), map.len());
            for (key, value) in &map {
                prop_assert_eq!(table.get(*key), Some(value));
            }
            let mut listed: Vec<(u64, u32)> = table.iter().map(|(k, v)| (k, *v)).collect();
            listed.sort_unstable();
            let mut want: Vec<(u64, u32)> = map.into_iter().collect();
            want.sort_unstable();
            prop_assert_eq!(listed, want);
            prop_assert_eq!(table.get(1 << 56), None);
        }
    }
}
