//! A tiny seeded PRNG (SplitMix64). The generator must give byte-identical archives for a seed
//! on every machine and every Rust release, so it owns its randomness instead of depending on a
//! crate whose streams may change between versions.

/// SplitMix64: 64 bits of state, passes BigCrush, and every seed is a good seed.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    /// An independent stream for one part of the output (a day, a file, an id table), so that
    /// parts can be generated in any order or in parallel and still come out the same.
    pub fn derive(seed: u64, parts: &[u64]) -> Self {
        let mut rng = Rng(seed ^ 0x6a09_e667_f3bc_c908);
        for &part in parts {
            rng.0 ^= part.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            rng.next_u64();
        }
        rng
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the tiny bias is irrelevant here).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64) < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// `n` lowercase hex digits, as in AWS resource ids and file-name hashes.
    pub fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from_digit(self.below(16) as u32, 16).unwrap())
            .collect()
    }

    /// A Linux ephemeral port (the default `ip_local_port_range`).
    pub fn ephemeral_port(&mut self) -> u16 {
        self.range(32768, 60999) as u16
    }
}
