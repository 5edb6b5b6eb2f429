//! The run's violations that no archive decided the server of, kept in the order they came
//! until the run's evidence decides them: a list, not a map.
//!
//! A flow waits here when neither or both of its ends showed fan-in in its archive. Within
//! an archive its records are summed by flow ([`super::Pending`]); past the archive a flow
//! hardly ever comes back (its client port was ephemeral): on issue 21's set d over the
//! bench week, 434,685 flows left their archives undecided, and merging them by flow found
//! 3 repeats. A hash table bought nothing for them and cost its slack (a 63 MiB table, and
//! another 32 MiB while it doubled, for ~50 MiB of entries) and a rehash of every entry at
//! every hand-over. Here they are appended to chunks of [`CHUNK`] entries: no slack past one
//! chunk, no doubling, merging moves chunks, and the run's end frees each chunk once it is
//! decided. A flow that does come back is decided twice, each time alike, and sums the same.

use super::{unword, word, Basis, Ends, Servers, Side};

/// Entries in a chunk: ~480 KiB of waiting violations.
pub const CHUNK: usize = 4096;

/// Undecided records: two IPv4 ends as two words ([`word`]), as [`super::Pending`] keeps
/// them, and the rare other ends whole.
#[derive(Debug)]
pub struct Held<K, V> {
    v4: Chunks<(u64, u64, K, V)>,
    v6: Chunks<(Ends, K, V)>,
}

impl<K, V> Default for Held<K, V> {
    fn default() -> Self {
        Held {
            v4: Chunks::default(),
            v6: Chunks::default(),
        }
    }
}

/// Full chunks of [`CHUNK`] entries and one being filled.
#[derive(Debug)]
struct Chunks<T> {
    full: Vec<Vec<T>>,
    last: Vec<T>,
}

impl<T> Default for Chunks<T> {
    fn default() -> Self {
        Chunks {
            full: Vec::new(),
            last: Vec::new(),
        }
    }
}

impl<T> Chunks<T> {
    fn push(&mut self, item: T) {
        if self.last.len() == CHUNK {
            let full = std::mem::replace(&mut self.last, Vec::with_capacity(CHUNK));
            self.full.push(full);
        } else if self.last.capacity() == 0 {
            self.last.reserve_exact(CHUNK);
        }
        self.last.push(item);
    }

    fn len(&self) -> usize {
        self.full.len() * CHUNK + self.last.len()
    }

    /// Takes `other`'s chunks; of the two chunks being filled, the shorter's entries move
    /// into the longer, so every chunk but the last stays full.
    fn append(&mut self, mut other: Chunks<T>) {
        self.full.append(&mut other.full);
        if other.last.len() > self.last.len() {
            std::mem::swap(&mut self.last, &mut other.last);
        }
        for item in other.last {
            self.push(item);
        }
    }

    /// Every entry, each chunk freed once it is read.
    fn drain(self) -> impl Iterator<Item = T> {
        self.full
            .into_iter()
            .chain(std::iter::once(self.last))
            .flatten()
    }
}

impl<K, V> Held<K, V> {
    pub fn add(&mut self, ends: Ends, key: K, value: V) {
        match (word(&ends.src), word(&ends.dst)) {
            (Some(s), Some(d)) => self.v4.push((s, d, key, value)),
            _ => self.v6.push((ends, key, value)),
        }
    }

    /// Entries held (a flow added twice counts twice).
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes another's (a worker's) entries.
    pub fn merge(&mut self, other: Held<K, V>) {
        self.v4.append(other.v4);
        self.v6.append(other.v6);
    }

    /// At the end of the run: decides everything held, freeing it as it goes.
    pub fn settle_run(self, run: &Servers, mut decided: impl FnMut(Side, Basis, Ends, K, V)) {
        let v4 = self.v4.drain().map(|(s, d, key, value)| {
            let ends = Ends {
                src: unword(s),
                dst: unword(d),
            };
            (ends, key, value)
        });
        for (ends, key, value) in v4.chain(self.v6.drain()) {
            let (side, basis) = run.decide(&ends);
            decided(side, basis, ends, key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Endpoint;
    use super::*;

    /// Whatever the order of adds and merges, every entry comes out once, and every chunk
    /// but the last is full.
    #[test]
    fn merges_keep_every_entry_and_chunks_full() {
        let end = |addr: &str, port| Endpoint {
            protocol: 6,
            addr: addr.parse().unwrap(),
            port,
        };
        let mut want = Vec::new();
        let mut whole: Held<u32, u64> = Held::default();
        for (part, n) in [0, 1, CHUNK - 1, CHUNK, 3 * CHUNK + 7, 5]
            .into_iter()
            .enumerate()
        {
            let mut held = Held::default();
            for i in 0..n {
                let src = if i % 9 == 0 { "2600::1" } else { "10.0.0.1" };
                let ends = Ends {
                    src: end(src, i as u16),
                    dst: end("10.0.0.2", 443),
                };
                held.add(ends, part as u32, i as u64);
                want.push((ends, part as u32, i as u64));
            }
            assert_eq!(held.len(), n);
            if part % 2 == 0 {
                whole.merge(held);
            } else {
                held.merge(whole);
                whole = held;
            }
            assert!(whole.v4.full.iter().all(|c| c.len() == CHUNK));
            assert!(whole.v6.full.iter().all(|c| c.len() == CHUNK));
        }
        assert_eq!(whole.len(), want.len());
        let mut got = Vec::new();
        let run = Servers::default();
        whole.settle_run(&run, |side, basis, ends, key, value| {
            assert_eq!((side, basis), run.decide(&ends));
            got.push((ends, key, value));
        });
        got.sort();
        want.sort();
        assert_eq!(got, want);
    }
}
