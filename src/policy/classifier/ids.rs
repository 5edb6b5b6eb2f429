//! Resource ids (`eni-…`, `vpc-…`) as the classifier looks them up: by a 64-bit hash, then
//! the string itself, so that a hash collision can never put a record in a scope it is not in.

/// One id key (`interface`, `vpc`, ...) of every scope that has it: which policies each id
/// named there puts a record in scope of.
#[derive(Clone, Debug)]
pub(super) struct IdIndex {
    /// Sorted by (hash, id), distinct ids: each with the row (in `rows`) of the policies whose
    /// list holds it, the free ones included.
    entries: Vec<(u64, Box<str>, u32)>,
    /// Row 0 is the free row (policies without this key); `words` words a row.
    rows: Vec<u64>,
    words: usize,
}

impl IdIndex {
    /// `lists`: (policy, its ids) for every policy with this key; `free`: the policies without
    /// it, as a row of `words` words. `None` when no policy has the key.
    pub fn new<'a>(
        lists: impl IntoIterator<Item = (usize, &'a [Box<str>])>,
        free: &[u64],
    ) -> Option<IdIndex> {
        let words = free.len();
        let mut named: Vec<(u64, &str, usize)> = Vec::new();
        for (policy, ids) in lists {
            named.extend(ids.iter().map(|id| (id_hash(id), &**id, policy)));
        }
        if named.is_empty() {
            return None;
        }
        named.sort_unstable();
        let mut out = IdIndex {
            entries: Vec::new(),
            rows: free.to_vec(),
            words,
        };
        for (hash, id, policy) in named {
            let fresh = out
                .entries
                .last()
                .is_none_or(|(h, i, _)| (*h, &**i) != (hash, id));
            if fresh {
                let row = (out.rows.len() / words) as u32;
                out.rows.extend_from_slice(free);
                out.entries.push((hash, id.into(), row));
            }
            let row = out.entries.last().expect("just pushed").2 as usize;
            out.rows[row * words + policy / 64] |= 1 << (policy % 64);
        }
        Some(out)
    }

    /// The policies whose scope accepts the record's id (`hash` is [`id_hash`] of `id`).
    #[inline]
    pub fn get(&self, id: Option<(u64, &str)>) -> &[u64] {
        let row = match id {
            None => 0,
            Some((hash, id)) => {
                let mut k = self.entries.partition_point(|e| e.0 < hash);
                let mut row = 0;
                while let Some((h, name, r)) = self.entries.get(k) {
                    if *h != hash {
                        break;
                    }
                    if **name == *id {
                        row = *r as usize;
                        break;
                    }
                    k += 1;
                }
                row
            }
        };
        &self.rows[row * self.words..][..self.words]
    }
}

/// A 64-bit hash of a resource id (`eni-0b57e2c8a19d46f31`), the same in every run and on every
/// machine, and a few multiplications for an id of ~21 bytes: cheap enough to compute once
/// per record. Well mixed in every bit, so it can key a hash table directly.
#[inline]
pub fn id_hash(id: &str) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let b = id.as_bytes();
    let n = b.len();
    let word = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    let mut h = fold(n as u64 ^ 0x2d35_8dcc_aa6c_78a5, K);
    if n >= 8 {
        let mut i = 0;
        while i + 8 < n {
            h = fold(h ^ word(i), K);
            i += 8;
        }
        // The last 8 bytes, overlapping the previous word when n is not a multiple of 8; the
        // length is already in `h`, so the overlap cannot make two ids equal.
        h = fold(h ^ word(n - 8), K);
    } else {
        let tail = b
            .iter()
            .enumerate()
            .fold(0u64, |t, (j, &x)| t | u64::from(x) << (8 * j));
        h = fold(h ^ tail, K);
    }
    fold(h, 0x94d0_49bb_1331_11eb)
}

/// The high and low halves of a full 64x64-bit product, XORed: a strong mixing step. Also
/// what the engine's conversation tables mix their keys with (`conversations::Key`'s hash).
#[inline]
pub fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_hashes_differ_by_every_byte_and_the_length() {
        let ids = [
            "",
            "e",
            "eni-",
            "eni-1",
            "eni-2",
            "eni-12345678",
            "eni-123456789",
            "eni-0b57e2c8a19d46f31",
            "eni-0b57e2c8a19d46f32",
            "fni-0b57e2c8a19d46f31",
            "eni-0b57e2c8a19d46f3",
            "eni-0b57e2c8a19d46f311",
        ];
        let mut hashes: Vec<u64> = ids.iter().map(|s| id_hash(s)).collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), ids.len());
        assert_eq!(id_hash("eni-1"), id_hash(&String::from("eni-1")));
    }

    #[test]
    fn a_colliding_hash_is_told_apart_by_the_string() {
        let ids: [Box<str>; 2] = ["eni-1".into(), "eni-2".into()];
        let index = IdIndex::new([(0, &ids[..1]), (65, &ids[1..])], &[0b100, 0]).unwrap();
        let h1 = id_hash("eni-1");
        assert_eq!(index.get(Some((h1, "eni-1"))), [0b101, 0]);
        // Another id presented with eni-1's hash: a collision, which the string settles.
        assert_eq!(index.get(Some((h1, "eni-9"))), [0b100, 0]);
        assert_eq!(index.get(Some((id_hash("eni-2"), "eni-2"))), [0b100, 2]);
        assert_eq!(index.get(None), [0b100, 0]);
    }
}
