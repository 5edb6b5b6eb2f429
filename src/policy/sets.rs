//! The value sets a compiled matcher tests records against, and the set algebra `lint` needs.
//!
//! Matching runs per record per policy per rule, so every set is built once at load time into
//! a shape that answers `contains` without allocating: sorted, merged, inclusive ranges with a
//! binary search for addresses (IPv4 as `u32`, IPv6 as `u128`) and ports, a 256-bit set for
//! protocols, a sorted list for resource ids. Because ranges are merged (overlapping and
//! adjacent ones joined), subset and disjointness tests are exact, which lets `lint` report
//! only what is provably true.

use std::net::IpAddr;

use ipnet::IpNet;

/// A point of an ordered integer domain: what [`RangeSet`] is built over.
pub trait Point: Copy + Ord + std::fmt::Debug {
    const MIN: Self;
    const MAX: Self;
    fn succ(self) -> Option<Self>;
}

macro_rules! point {
    ($($t:ty),*) => {$(
        impl Point for $t {
            const MIN: Self = <$t>::MIN;
            const MAX: Self = <$t>::MAX;
            fn succ(self) -> Option<Self> { self.checked_add(1) }
        }
    )*};
}
point!(u16, u32, u128);

/// A set of integers as sorted, disjoint, non-adjacent inclusive ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeSet<T> {
    ranges: Vec<(T, T)>,
}

impl<T: Point> RangeSet<T> {
    /// Builds the set from ranges in any order; reversed ranges are taken as written reversed
    /// (the loader rejects them before this point).
    pub fn from_ranges(ranges: impl IntoIterator<Item = (T, T)>) -> RangeSet<T> {
        let mut v: Vec<(T, T)> = ranges
            .into_iter()
            .map(|(a, b)| (a.min(b), a.max(b)))
            .collect();
        v.sort_unstable();
        let mut merged: Vec<(T, T)> = Vec::with_capacity(v.len());
        for (lo, hi) in v {
            if let Some(last) = merged.last_mut() {
                // Join overlapping and adjacent ranges, so each set has one canonical form.
                if last.1.succ().is_none_or(|next| lo <= next) {
                    last.1 = last.1.max(hi);
                    continue;
                }
            }
            merged.push((lo, hi));
        }
        RangeSet { ranges: merged }
    }

    pub fn full() -> RangeSet<T> {
        RangeSet {
            ranges: vec![(T::MIN, T::MAX)],
        }
    }

    pub fn ranges(&self) -> &[(T, T)] {
        &self.ranges
    }

    /// Rules and scopes mostly list one to a few ranges, and for those a scan of the sorted
    /// ranges costs less than setting up a binary search; longer lists are searched.
    #[inline]
    pub fn contains(&self, x: T) -> bool {
        if self.ranges.len() <= 4 {
            for &(lo, hi) in &self.ranges {
                if x <= hi {
                    return lo <= x;
                }
            }
            return false;
        }
        let i = self.ranges.partition_point(|r| r.1 < x);
        i < self.ranges.len() && self.ranges[i].0 <= x
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.ranges == [(T::MIN, T::MAX)]
    }

    /// Every element of `self` is in `other`. Exact, because `other` is merged: a range of
    /// `self` inside `other` lies inside a single range of `other`.
    pub fn is_subset(&self, other: &RangeSet<T>) -> bool {
        self.ranges.iter().all(|&(lo, hi)| {
            let i = other.ranges.partition_point(|r| r.1 < lo);
            i < other.ranges.len() && other.ranges[i].0 <= lo && hi <= other.ranges[i].1
        })
    }

    pub fn intersection(&self, other: &RangeSet<T>) -> RangeSet<T> {
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        while i < self.ranges.len() && j < other.ranges.len() {
            let (a, b) = (self.ranges[i], other.ranges[j]);
            let lo = a.0.max(b.0);
            let hi = a.1.min(b.1);
            if lo <= hi {
                out.push((lo, hi));
            }
            if a.1 < b.1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        RangeSet { ranges: out }
    }

    pub fn intersects(&self, other: &RangeSet<T>) -> bool {
        !self.intersection(other).is_empty()
    }

    pub fn union(&self, other: &RangeSet<T>) -> RangeSet<T> {
        RangeSet::from_ranges(self.ranges.iter().chain(&other.ranges).copied())
    }
}

/// An IP address as the integer the sets are keyed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ip {
    V4(u32),
    V6(u128),
}

impl From<IpAddr> for Ip {
    #[inline]
    fn from(a: IpAddr) -> Ip {
        match a {
            IpAddr::V4(v4) => Ip::V4(u32::from(v4)),
            IpAddr::V6(v6) => Ip::V6(u128::from(v6)),
        }
    }
}

impl From<Ip> for IpAddr {
    fn from(a: Ip) -> IpAddr {
        match a {
            Ip::V4(v4) => IpAddr::V4(v4.into()),
            Ip::V6(v6) => IpAddr::V6(v6.into()),
        }
    }
}

/// A set of IPv4 and IPv6 addresses, from CIDRs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddrSet {
    v4: RangeSet<u32>,
    v6: RangeSet<u128>,
}

impl AddrSet {
    pub fn from_nets<'a>(nets: impl IntoIterator<Item = &'a IpNet>) -> AddrSet {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for net in nets {
            match net {
                IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.broadcast()))),
                IpNet::V6(n) => v6.push((u128::from(n.network()), u128::from(n.broadcast()))),
            }
        }
        AddrSet {
            v4: RangeSet::from_ranges(v4),
            v6: RangeSet::from_ranges(v6),
        }
    }

    #[inline]
    pub fn contains(&self, ip: Ip) -> bool {
        match ip {
            Ip::V4(a) => self.v4.contains(a),
            Ip::V6(a) => self.v6.contains(a),
        }
    }

    pub fn v4(&self) -> &RangeSet<u32> {
        &self.v4
    }

    pub fn union(&self, other: &AddrSet) -> AddrSet {
        AddrSet {
            v4: self.v4.union(&other.v4),
            v6: self.v6.union(&other.v6),
        }
    }

    pub fn v6(&self) -> &RangeSet<u128> {
        &self.v6
    }

    /// The set as the fewest CIDRs, IPv4 first, each in address order: how messages show it.
    pub fn nets(&self) -> Vec<IpNet> {
        let mut out = Vec::new();
        for &(lo, hi) in self.v4.ranges() {
            for (addr, len) in cidrs(u128::from(lo), u128::from(hi), 32) {
                let a = std::net::Ipv4Addr::from(addr as u32);
                out.push(IpNet::new(IpAddr::V4(a), len).expect("prefix within 32"));
            }
        }
        for &(lo, hi) in self.v6.ranges() {
            for (addr, len) in cidrs(lo, hi, 128) {
                let a = std::net::Ipv6Addr::from(addr);
                out.push(IpNet::new(IpAddr::V6(a), len).expect("prefix within 128"));
            }
        }
        out
    }
}

/// The inclusive range `lo..=hi` of a `bits`-wide address space as aligned blocks
/// (network address, prefix length): at each step the largest block that starts at `lo`
/// (aligned to it) and ends at or before `hi`.
fn cidrs(mut lo: u128, hi: u128, bits: u8) -> Vec<(u128, u8)> {
    // The last offset of a block with `host` host bits.
    let span = |host: u32| {
        if host >= 128 {
            u128::MAX
        } else {
            (1u128 << host) - 1
        }
    };
    let mut out = Vec::new();
    loop {
        let mut host = if lo == 0 {
            u32::from(bits)
        } else {
            lo.trailing_zeros().min(u32::from(bits))
        };
        while host > 0 && span(host) > hi - lo {
            host -= 1;
        }
        let last = lo + span(host);
        out.push((lo, bits - host as u8));
        if last >= hi {
            return out;
        }
        lo = last + 1;
    }
}

/// A set of ports.
pub type PortSet = RangeSet<u16>;

/// A set of IP protocol numbers: 256 bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProtoSet([u64; 4]);

impl ProtoSet {
    pub fn from_numbers(numbers: impl IntoIterator<Item = u8>) -> ProtoSet {
        let mut set = ProtoSet::default();
        for n in numbers {
            set.0[usize::from(n >> 6)] |= 1 << (n & 63);
        }
        set
    }

    #[inline]
    pub fn contains(&self, n: u8) -> bool {
        self.0[usize::from(n >> 6)] & (1 << (n & 63)) != 0
    }

    pub fn numbers(&self) -> impl Iterator<Item = u8> + '_ {
        (0..=255u8).filter(|&n| self.contains(n))
    }

    pub fn union(&self, other: &ProtoSet) -> ProtoSet {
        ProtoSet(std::array::from_fn(|i| self.0[i] | other.0[i]))
    }

    /// How many protocol numbers the set holds.
    pub fn count(&self) -> u32 {
        self.0.iter().map(|w| w.count_ones()).sum()
    }
}

/// A set of resource ids (`eni-…`, `vpc-…`), sorted for binary search by string comparison.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdSet(Vec<Box<str>>);

impl IdSet {
    pub fn from_ids<S: AsRef<str>>(ids: impl IntoIterator<Item = S>) -> IdSet {
        let mut v: Vec<Box<str>> = ids.into_iter().map(|s| s.as_ref().into()).collect();
        v.sort_unstable();
        v.dedup();
        IdSet(v)
    }

    #[inline]
    pub fn contains(&self, id: &str) -> bool {
        self.0.binary_search_by(|s| (**s).cmp(id)).is_ok()
    }

    pub fn ids(&self) -> &[Box<str>] {
        &self.0
    }
}

/// A subset of a domain of at most 8 values (directions, actions), as bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bits(pub u8);

impl Bits {
    #[inline]
    pub fn contains(self, index: u8) -> bool {
        self.0 & (1 << index) != 0
    }
}

/// The set algebra `lint` uses to compare rules with their scope and with each other.
pub trait SetOps: Sized {
    fn is_subset(&self, other: &Self) -> bool;
    fn intersection(&self, other: &Self) -> Self;
    fn is_empty(&self) -> bool;
    /// Matches every value a record can hold (a key written with every value is no key).
    fn is_full(&self) -> bool;
}

impl<T: Point> SetOps for RangeSet<T> {
    fn is_subset(&self, other: &Self) -> bool {
        RangeSet::is_subset(self, other)
    }
    fn intersection(&self, other: &Self) -> Self {
        RangeSet::intersection(self, other)
    }
    fn is_empty(&self) -> bool {
        RangeSet::is_empty(self)
    }
    fn is_full(&self) -> bool {
        RangeSet::is_full(self)
    }
}

impl SetOps for AddrSet {
    fn is_subset(&self, other: &Self) -> bool {
        self.v4.is_subset(&other.v4) && self.v6.is_subset(&other.v6)
    }
    fn intersection(&self, other: &Self) -> Self {
        AddrSet {
            v4: self.v4.intersection(&other.v4),
            v6: self.v6.intersection(&other.v6),
        }
    }
    fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }
    fn is_full(&self) -> bool {
        self.v4.is_full() && self.v6.is_full()
    }
}

impl SetOps for ProtoSet {
    fn is_subset(&self, other: &Self) -> bool {
        (0..4).all(|i| self.0[i] & !other.0[i] == 0)
    }
    fn intersection(&self, other: &Self) -> Self {
        ProtoSet(std::array::from_fn(|i| self.0[i] & other.0[i]))
    }
    fn is_empty(&self) -> bool {
        self.0 == [0; 4]
    }
    fn is_full(&self) -> bool {
        self.0 == [u64::MAX; 4]
    }
}

impl SetOps for IdSet {
    fn is_subset(&self, other: &Self) -> bool {
        self.0.iter().all(|id| other.contains(id))
    }
    fn intersection(&self, other: &Self) -> Self {
        IdSet(
            self.0
                .iter()
                .filter(|id| other.contains(id))
                .cloned()
                .collect(),
        )
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn is_full(&self) -> bool {
        false
    }
}

/// Directions and actions both have two values, so "full" is both bits.
impl SetOps for Bits {
    fn is_subset(&self, other: &Self) -> bool {
        self.0 & !other.0 == 0
    }
    fn intersection(&self, other: &Self) -> Self {
        Bits(self.0 & other.0)
    }
    fn is_empty(&self) -> bool {
        self.0 == 0
    }
    fn is_full(&self) -> bool {
        self.0 == 0b11
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_sets_show_as_the_fewest_cidrs() {
        let show = |nets: &[&str]| {
            let v: Vec<IpNet> = nets.iter().map(|n| n.parse().unwrap()).collect();
            let out: Vec<String> = AddrSet::from_nets(&v)
                .nets()
                .iter()
                .map(ToString::to_string)
                .collect();
            out.join(" ")
        };
        assert_eq!(show(&["10.20.30.0/24"]), "10.20.30.0/24");
        assert_eq!(show(&["10.0.0.0/25", "10.0.0.128/25"]), "10.0.0.0/24");
        assert_eq!(
            show(&["10.0.0.1/32", "10.0.0.2/31"]),
            "10.0.0.1/32 10.0.0.2/31"
        );
        assert_eq!(show(&["0.0.0.0/0", "::/0"]), "0.0.0.0/0 ::/0");
        assert_eq!(
            show(&["2001:db8::7/128", "10.0.0.0/8"]),
            "10.0.0.0/8 2001:db8::7/128"
        );
        assert_eq!(show(&["255.255.255.255/32"]), "255.255.255.255/32");
        // An unaligned range: 10.0.0.3-10.0.0.9.
        let set = AddrSet {
            v4: RangeSet::from_ranges([(0x0a00_0003, 0x0a00_0009)]),
            v6: RangeSet::default(),
        };
        let nets: Vec<String> = set.nets().iter().map(ToString::to_string).collect();
        assert_eq!(nets, ["10.0.0.3/32", "10.0.0.4/30", "10.0.0.8/31"]);
    }

    fn rs(r: &[(u16, u16)]) -> RangeSet<u16> {
        RangeSet::from_ranges(r.iter().copied())
    }

    #[test]
    fn ranges_merge_overlapping_and_adjacent() {
        assert_eq!(
            rs(&[(5, 9), (1, 3), (4, 4), (20, 30), (25, 26)]).ranges(),
            [(1, 9), (20, 30)]
        );
        assert_eq!(rs(&[(0, 65535), (3, 4)]), RangeSet::full());
        assert_eq!(
            rs(&[(65535, 65535), (65534, 65534)]).ranges(),
            [(65534, 65535)]
        );
        assert!(rs(&[]).is_empty());
    }

    #[test]
    fn contains_uses_inclusive_bounds() {
        let s = rs(&[(443, 443), (8443, 8444)]);
        for (p, want) in [
            (442, false),
            (443, true),
            (444, false),
            (8443, true),
            (8444, true),
            (8445, false),
            (0, false),
            (65535, false),
        ] {
            assert_eq!(s.contains(p), want, "{p}");
        }
    }

    #[test]
    fn subset_and_intersection_are_exact() {
        let big = rs(&[(1, 10), (20, 30)]);
        assert!(rs(&[(2, 3), (21, 30)]).is_subset(&big));
        assert!(!rs(&[(9, 21)]).is_subset(&big));
        assert!(rs(&[]).is_subset(&big));
        assert_eq!(
            big.intersection(&rs(&[(5, 25)])).ranges(),
            [(5, 10), (20, 25)]
        );
        assert!(!big.intersects(&rs(&[(11, 19), (31, 40)])));
    }

    #[test]
    fn addresses_of_both_families() {
        let nets: Vec<IpNet> = [
            "10.20.0.0/16",
            "10.21.0.0/16",
            "2001:db8::/32",
            "192.0.2.7/32",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let set = AddrSet::from_nets(&nets);
        assert_eq!(set.v4().ranges().len(), 2, "adjacent /16s merge");
        let ip = |s: &str| Ip::from(s.parse::<IpAddr>().unwrap());
        assert!(set.contains(ip("10.21.255.255")));
        assert!(!set.contains(ip("10.22.0.0")));
        assert!(set.contains(ip("192.0.2.7")));
        assert!(set.contains(ip("2001:db8:ffff::1")));
        assert!(!set.contains(ip("2001:db9::")));
        let all: Vec<IpNet> = vec!["0.0.0.0/0".parse().unwrap(), "::/0".parse().unwrap()];
        assert!(AddrSet::from_nets(&all).is_full());
    }

    #[test]
    fn protocols_and_ids_and_bits() {
        let p = ProtoSet::from_numbers([0, 6, 17, 63, 64, 255]);
        assert!(
            p.contains(6) && p.contains(255) && p.contains(63) && p.contains(64) && p.contains(0)
        );
        assert!(!p.contains(1) && !p.contains(254));
        assert_eq!(p.numbers().collect::<Vec<_>>(), [0, 6, 17, 63, 64, 255]);
        assert!(ProtoSet::from_numbers(0..=255).is_full());
        assert!(ProtoSet::from_numbers([6]).is_subset(&p));
        let ids = IdSet::from_ids(["vpc-b", "vpc-a", "vpc-b"]);
        assert_eq!(ids.ids().len(), 2);
        assert!(ids.contains("vpc-a") && !ids.contains("vpc-c") && !ids.contains("vpc"));
        assert!(!ids.is_full());
        assert!(Bits(0b01).is_subset(&Bits(0b11)) && Bits(0b11).is_full());
        assert!(Bits(0b01).intersection(&Bits(0b10)).is_empty());
    }
}
