//! Every policy's scope at once, as bitmasks: which policies a record can be in scope of.
//!
//! Most records are in the scope of few policies, yet asking each policy ([`Policy::judge`])
//! costs a hundred-odd instructions per policy just to hear "out of scope". A [`ScopeIndex`]
//! is built once per run from the scope keys of the first [`WIDTH`] policies: for every key it
//! holds a table from the record's value to a bitmask of the policies whose scope accepts that
//! value (addresses and ports as elementary intervals of all the scopes' ranges, protocols and
//! directions as arrays, ids by hash). One lookup per record field and a few ANDs then give the
//! candidates for all policies together.
//!
//! The index is a necessary condition, never the verdict: a clear bit proves that the policy's
//! scope does not match the record (its verdict is `OutOfScope`), a set bit proves nothing, and
//! `judge` stays the source of truth for every candidate. Where the index cannot speak for a
//! key it leaves the bit set: policies past [`WIDTH`] have no bit and are always judged, and a
//! scope with `addresses = "packet"` is not narrowed by address or by peer and local ports,
//! since its ends are the packet addresses the index does not look up.

use std::net::IpAddr;

use crate::flowlog::{Direction, Flow};

use super::matcher::{direction_bit, End, IdKind};
use super::sets::{Ip, Point, RangeSet};
use super::{Addresses, Policy};

/// Policies that get a bit: one machine word of candidates per record.
pub const WIDTH: usize = 64;

/// Slots of the address and port masks: the policies whose key of that end accepts the value
/// (or that have no such key). The address table answers `src`, `dst`, `peer` and `local`
/// for one address; which of them apply depends on whether the address is the record's src or
/// dst, and on where the peer end is.
const SRC: usize = End::Src as usize;
const DST: usize = End::Dst as usize;
const PEER: usize = End::Peer as usize;
const LOCAL: usize = End::Local as usize;

/// What a lookup that no scope reads gives.
static ALL: [u64; 4] = [u64::MAX; 4];

/// The candidates for one record: bit `i` clear means policy `i` certainly judges it
/// `OutOfScope`. Policies at index [`WIDTH`] and beyond are not represented.
pub type Candidates = u64;

/// The scopes of a run's policies, indexed by key value.
#[derive(Clone, Debug)]
pub struct ScopeIndex {
    /// Policies that have a bit: the first `width`.
    width: usize,
    /// Their bits.
    all: u64,
    /// `None` when no indexed scope has an address key: every address is then all-ones.
    addrs: Option<(Intervals<u32>, Intervals<u128>)>,
    /// Masks for a record without that address.
    addr_none: [u64; 4],
    ports: Option<Intervals<u16>>,
    port_none: [u64; 4],
    /// Whether any indexed scope reads the src address, the dst address, the src port, the dst
    /// port: a lookup that no scope reads is all-ones, and skipped.
    looked_up: [bool; 4],
    /// Indexed by protocol number; `None` when no indexed scope names protocols.
    protocols: Option<Box<[u64; 256]>>,
    protocol_none: u64,
    /// Indexed by [`direction_bit`], then a record without a direction.
    directions: Option<[u64; 3]>,
    interfaces: Option<IdIndex>,
    /// The other id keys that some indexed scope has: rarely any.
    other_ids: Vec<(IdKind, IdIndex)>,
}

impl ScopeIndex {
    /// Indexes the scopes of `policies` (the first [`WIDTH`] of them).
    pub fn new(policies: &[Policy]) -> ScopeIndex {
        let indexed = &policies[..policies.len().min(WIDTH)];
        let all = if indexed.len() == WIDTH {
            u64::MAX
        } else {
            (1u64 << indexed.len()) - 1
        };
        let bits = || indexed.iter().enumerate().map(|(i, p)| (1u64 << i, p));

        // Which address and port sets narrow each policy, per slot.
        let mut v4: [Vec<(u64, &RangeSet<u32>)>; 4] = Default::default();
        let mut v6: [Vec<(u64, &RangeSet<u128>)>; 4] = Default::default();
        let mut ports: [Vec<(u64, &RangeSet<u16>)>; 4] = Default::default();
        let mut addr_free = [0u64; 4];
        let mut port_free = [0u64; 4];
        for (bit, p) in bits() {
            let scope = &p.scope;
            let by_interface = scope.addresses == Addresses::Interface;
            for slot in [SRC, DST, PEER, LOCAL] {
                let set = match slot {
                    PEER => scope.peer.as_ref(),
                    _ => scope.matcher.addrs[slot].as_ref(),
                };
                match set {
                    Some(set) if by_interface => {
                        v4[slot].push((bit, set.v4()));
                        v6[slot].push((bit, set.v6()));
                    }
                    _ => addr_free[slot] |= bit,
                }
                // Which port is the peer's follows from the addresses: only src and dst
                // ports can be read without them.
                let port_known = by_interface || slot == SRC || slot == DST;
                match scope.matcher.ports[slot].as_ref() {
                    Some(set) if port_known => ports[slot].push((bit, set)),
                    _ => port_free[slot] |= bit,
                }
            }
        }
        // Peer and local keys read both ends.
        let addr_used = v4.each_ref().map(|v| !v.is_empty());
        let port_used = ports.each_ref().map(|v| !v.is_empty());
        let reads = |used: [bool; 4], end: usize| used[end] || used[PEER] || used[LOCAL];
        let looked_up = [
            reads(addr_used, SRC),
            reads(addr_used, DST),
            reads(port_used, SRC),
            reads(port_used, DST),
        ];
        let addrs = v4.iter().any(|v| !v.is_empty()).then(|| {
            (
                Intervals::new(&v4, addr_free),
                Intervals::new(&v6, addr_free),
            )
        });
        let ports_table = ports
            .iter()
            .any(|v| !v.is_empty())
            .then(|| Intervals::new(&ports, port_free));

        let mut protocols = Box::new([0u64; 256]);
        let mut protocol_none = 0;
        let mut directions = [0u64; 3];
        for (bit, p) in bits() {
            let m = &p.scope.matcher;
            match &m.protocol {
                Some(set) => set.numbers().for_each(|n| protocols[usize::from(n)] |= bit),
                None => {
                    protocol_none |= bit;
                    protocols.iter_mut().for_each(|t| *t |= bit);
                }
            }
            match m.direction {
                Some(set) => {
                    for d in [Direction::Ingress, Direction::Egress] {
                        if set.contains(direction_bit(d)) {
                            directions[usize::from(direction_bit(d))] |= bit;
                        }
                    }
                }
                None => directions.iter_mut().for_each(|t| *t |= bit),
            }
        }
        let any = |f: fn(&Policy) -> bool| indexed.iter().any(f);
        ScopeIndex {
            width: indexed.len(),
            all,
            addrs,
            addr_none: addr_free,
            ports: ports_table,
            port_none: port_free,
            looked_up,
            protocols: any(|p| p.scope.matcher.protocol.is_some()).then_some(protocols),
            protocol_none,
            directions: any(|p| p.scope.matcher.direction.is_some()).then_some(directions),
            interfaces: IdIndex::new(indexed, IdKind::Interface),
            other_ids: [IdKind::Vpc, IdKind::Subnet, IdKind::Instance]
                .into_iter()
                .filter_map(|kind| Some((kind, IdIndex::new(indexed, kind)?)))
                .collect(),
        }
    }

    /// How many policies have a bit; the rest must always be judged.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The policies whose scope can match `flow`. `interface` is `flow.interface` hashed with
    /// [`id_hash`], which the caller computes anyway (for its count of interfaces).
    #[inline]
    pub fn candidates(&self, flow: &Flow<'_>, interface: Option<u64>) -> Candidates {
        debug_assert_eq!(interface, flow.interface.map(id_hash));
        let mut m = self.all;
        if let Some(t) = &self.protocols {
            m &= flow
                .protocol
                .map_or(self.protocol_none, |p| t[usize::from(p)]);
        }
        if let Some(t) = &self.directions {
            m &= t[flow.direction.map_or(2, |d| usize::from(direction_bit(d)))];
        }
        if let Some(ids) = &self.interfaces {
            m &= ids.get(interface);
        }
        for (kind, ids) in &self.other_ids {
            let id = match kind {
                IdKind::Vpc => flow.vpc,
                IdKind::Subnet => flow.subnet,
                _ => flow.instance,
            };
            m &= ids.get(id.map(id_hash));
        }
        if m == 0 {
            return 0;
        }
        let [src_addr, dst_addr, src_port, dst_port] = self.looked_up;
        let s = match &self.addrs {
            Some(t) if src_addr => self.addr_masks(t, flow.src),
            _ => &ALL,
        };
        let d = match &self.addrs {
            Some(t) if dst_addr => self.addr_masks(t, flow.dst),
            _ => &ALL,
        };
        let sp = match (&self.ports, flow.src_port) {
            (Some(t), Some(p)) if src_port => t.get(p),
            (Some(_), None) if src_port => &self.port_none,
            _ => &ALL,
        };
        let dp = match (&self.ports, flow.dst_port) {
            (Some(t), Some(p)) if dst_port => t.get(p),
            (Some(_), None) if dst_port => &self.port_none,
            _ => &ALL,
        };
        // The peer end is dst when dst is in the peer networks, else src when src is; local
        // keys then read the other end. A policy without a peer scope (or whose ends the index
        // does not see) has every peer and local bit set, so the first case holds for it.
        let peer_is_dst = d[PEER] & s[LOCAL] & dp[PEER] & sp[LOCAL];
        let peer_is_src = !d[PEER] & s[PEER] & d[LOCAL] & sp[PEER] & dp[LOCAL];
        m & s[SRC] & d[DST] & sp[SRC] & dp[DST] & (peer_is_dst | peer_is_src)
    }

    #[inline(always)]
    fn addr_masks<'a>(
        &'a self,
        (v4, v6): &'a (Intervals<u32>, Intervals<u128>),
        addr: Option<IpAddr>,
    ) -> &'a [u64; 4] {
        match addr.map(Ip::from) {
            None => &self.addr_none,
            Some(Ip::V4(a)) => v4.get(a),
            Some(Ip::V6(a)) => v6.get(a),
        }
    }
}

/// A partition of a domain into the elementary intervals of a family of range sets: inside
/// one interval every set either holds every value or none, so one mask per interval answers
/// them all.
#[derive(Clone, Debug)]
struct Intervals<T> {
    /// Ascending; the first is `T::MIN`. Interval `k` is `starts[k]..starts[k + 1]`.
    starts: Vec<T>,
    /// Per interval, per slot: `free | ` the policies whose set in that slot holds it.
    masks: Vec<[u64; 4]>,
    /// A 256-ary trie over the value's bytes, from the top, that says where to look: node `i`
    /// is `nodes[256 * i..][..256]`, the root is node 0, and an entry is either [`CHILD`] and
    /// the node for the next byte, or a [`Leaf`]. A node is made only where more than
    /// [`LEAF_SPAN`] intervals meet one entry, so the trie follows the crowded prefixes (the
    /// /16 and /24s of a VPC) and is a few KiB. A lookup is a load per byte of the crowded
    /// prefix and one comparison, where a binary search over every interval takes half a
    /// dozen dependent, unpredictable steps.
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
trait Bytes: Point + Into<u128> {
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

impl<T: Bytes> Intervals<T> {
    fn new(sets: &[Vec<(u64, &RangeSet<T>)>; 4], free: [u64; 4]) -> Intervals<T> {
        let mut starts = vec![T::MIN];
        for (_, set) in sets.iter().flatten() {
            for &(lo, hi) in set.ranges() {
                starts.push(lo);
                starts.extend(hi.succ());
            }
        }
        starts.sort_unstable();
        starts.dedup();
        let mut out = Intervals {
            starts: Vec::with_capacity(starts.len()),
            masks: Vec::with_capacity(starts.len()),
            nodes: Vec::new(),
        };
        for s in starts {
            let mask = std::array::from_fn(|slot| {
                sets[slot]
                    .iter()
                    .filter(|(_, set)| set.contains(s))
                    .fold(free[slot], |m, (bit, _)| m | bit)
            });
            // Neighbours with the same masks are one interval: fewer to tell apart.
            if out.masks.last() != Some(&mask) {
                out.starts.push(s);
                out.masks.push(mask);
            }
        }
        out.node(0, T::BITS - 8, 0, out.starts.len() - 1);
        out
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

    /// The masks of the interval holding `x`: the last start `<= x` (`starts[0]` is `T::MIN`,
    /// so there is one).
    #[inline(always)]
    fn get(&self, x: T) -> &[u64; 4] {
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
        &self.masks[k]
    }
}

/// One id key (`interface`, `vpc`, ...) of every indexed scope, by [`id_hash`]. Equal ids hash
/// equally, so a hash missing from the table proves the id is in no scope's list; a collision
/// only leaves a bit set, which `judge` then clears by comparing the strings.
#[derive(Clone, Debug)]
struct IdIndex {
    /// Sorted, distinct, with the policies whose list holds an id of that hash.
    hashes: Vec<(u64, u64)>,
    /// Policies without this key.
    free: u64,
}

impl IdIndex {
    fn new(indexed: &[Policy], kind: IdKind) -> Option<IdIndex> {
        let mut hashes: Vec<(u64, u64)> = Vec::new();
        let mut free = 0;
        for (i, p) in indexed.iter().enumerate() {
            match &p.scope.matcher.ids[kind as usize] {
                Some(set) => hashes.extend(set.ids().iter().map(|id| (id_hash(id), 1 << i))),
                None => free |= 1 << i,
            }
        }
        if hashes.is_empty() {
            return None;
        }
        hashes.sort_unstable();
        hashes.dedup_by(|next, kept| {
            let same = next.0 == kept.0;
            if same {
                kept.1 |= next.1;
            }
            same
        });
        Some(IdIndex { hashes, free })
    }

    #[inline]
    fn get(&self, hash: Option<u64>) -> u64 {
        let Some(h) = hash else {
            return self.free;
        };
        match self.hashes.binary_search_by_key(&h, |&(k, _)| k) {
            Ok(j) => self.free | self.hashes[j].1,
            Err(_) => self.free,
        }
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

/// The high and low halves of a full 64x64-bit product, XORed: a strong mixing step.
#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flowlog::Action;
    use crate::policy::{PolicySet, Verdict};
    use proptest::prelude::*;
    use std::fmt::Write;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use time::macros::date;

    fn set(texts: &[String]) -> PolicySet {
        PolicySet::from_sources(
            texts
                .iter()
                .enumerate()
                .map(|(i, t)| (format!("policies/p{i:03}.toml"), t.clone())),
        )
        .unwrap_or_else(|e| panic!("{e}\n{texts:#?}"))
    }

    fn flow(src: &str, dst: &str, dport: u16) -> Flow<'static> {
        Flow {
            action: Some(Action::Accept),
            src: Some(src.parse().unwrap()),
            dst: Some(dst.parse().unwrap()),
            src_port: Some(50000),
            dst_port: Some(dport),
            protocol: Some(6),
            interface: Some("eni-1"),
            ..Flow::EMPTY
        }
    }

    fn candidates(s: &PolicySet, f: &Flow<'_>) -> u64 {
        ScopeIndex::new(s.policies()).candidates(f, f.interface.map(id_hash))
    }

    #[test]
    fn narrows_by_address_port_protocol_and_id() {
        // Sorted by file name: bit i is p00i.
        let s = set(&[
            "[scope]\npeer = '10.20.0.0/16'\n".into(),
            "[scope]\ndst = '10.0.9.0/24'\nprotocol = 'udp'\n".into(),
            "[scope]\ndst_port = [22, '5900-5901']\n".into(),
            "[scope]\ninterface = ['eni-1', 'eni-2']\n".into(),
            "[scope]\npeer = '10.20.0.0/16'\nlocal = '10.0.0.0/24'\npeer_port = 443\n".into(),
            "".into(),
        ]);
        let c = |f: &Flow<'_>| candidates(&s, f);
        assert_eq!(c(&flow("10.0.0.1", "10.20.1.1", 443)), 0b111001);
        assert_eq!(c(&flow("10.20.1.1", "10.0.0.1", 443)), 0b101001);
        assert_eq!(c(&flow("10.0.0.1", "10.0.9.1", 5901)), 0b101100);
        let mut f = flow("10.0.0.1", "10.0.9.1", 53);
        f.protocol = Some(17);
        f.interface = Some("eni-3");
        assert_eq!(c(&f), 0b100010);
        f.dst = None;
        f.interface = None;
        assert_eq!(c(&f), 0b100000);
    }

    #[test]
    fn packet_scopes_are_not_narrowed_by_address() {
        let s = set(&["[scope]\naddresses = 'packet'\npeer = '10.20.0.0/16'\npeer_port = 1\nprotocol = 'tcp'\n".into()]);
        assert_eq!(candidates(&s, &flow("192.0.2.1", "192.0.2.2", 443)), 1);
        let mut f = flow("192.0.2.1", "192.0.2.2", 443);
        f.protocol = Some(17);
        assert_eq!(candidates(&s, &f), 0);
    }

    #[test]
    fn policies_past_the_width_have_no_bit() {
        let texts: Vec<String> = (0..WIDTH + 3)
            .map(|i| format!("[scope]\ndst = '10.0.{i}.0/24'\n"))
            .collect();
        let s = set(&texts);
        let index = ScopeIndex::new(s.policies());
        assert_eq!(index.width(), WIDTH);
        let f = flow("10.9.0.1", "10.0.5.1", 443);
        assert_eq!(index.candidates(&f, f.interface.map(id_hash)), 1 << 5);
        let f = flow("10.9.0.1", "10.0.65.1", 443);
        assert_eq!(index.candidates(&f, f.interface.map(id_hash)), 0);
    }

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

    /// Anywhere, or crowded into one /16 so that its bucket gets a table of /24s.
    fn v4() -> impl Strategy<Value = u32> {
        prop_oneof![any::<u32>(), (0u32..1 << 16).prop_map(|x| 0x0a00_0000 | x)]
    }

    proptest! {
        #[test]
        fn interval_lookup_agrees_with_the_sets(
            ranges in proptest::collection::vec(
                proptest::collection::vec((v4(), prop_oneof![0u32..300, 0u32..1 << 18]), 0..12), 1..5),
            probes in proptest::collection::vec(v4(), 1..50),
        ) {
            let sets: Vec<RangeSet<u32>> = ranges
                .iter()
                .map(|r| RangeSet::from_ranges(r.iter().map(|&(lo, n)| (lo, lo.saturating_add(n)))))
                .collect();
            let mut slots: [Vec<(u64, &RangeSet<u32>)>; 4] = Default::default();
            for (i, set) in sets.iter().enumerate() {
                slots[i % 4].push((1 << i, set));
            }
            let t = Intervals::new(&slots, [0; 4]);
            // Probe the edges of every range too, where an off-by-one would show.
            let edges = sets.iter().flat_map(|s| s.ranges().iter().flat_map(|&(lo, hi)| {
                [lo.wrapping_sub(1), lo, hi, hi.wrapping_add(1)]
            }));
            for x in probes.into_iter().chain(edges) {
                let got = t.get(x);
                for (i, set) in sets.iter().enumerate() {
                    prop_assert_eq!(got[i % 4] & (1 << i) != 0, set.contains(x), "{} in {:?}", x, set);
                }
            }
        }
    }

    // The property test: judging only the candidates gives the same verdicts and hit counts as
    // judging every policy, for random policies (through the real loader) and random records.

    fn addr() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            4 => (0u8..4, any::<u8>()).prop_map(|(c, d)| IpAddr::V4(Ipv4Addr::new(10, 0, c, d))),
            1 => any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
            2 => (0u16..4, any::<u16>())
                .prop_map(|(a, b)| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, a, 0, 0, 0, b))),
        ]
    }

    fn cidr() -> impl Strategy<Value = String> {
        prop_oneof![
            8 => (addr(), 0u8..=128).prop_map(|(a, len)| {
                let len = match a {
                    IpAddr::V4(_) => 20 + len % 13,
                    IpAddr::V6(_) => 100 + len % 29,
                };
                format!("'{}'", ipnet::IpNet::new(a, len).unwrap().trunc())
            }),
            1 => Just("'0.0.0.0/0'".to_string()),
            1 => Just("'::/0'".to_string()),
        ]
    }

    fn port() -> impl Strategy<Value = u16> {
        prop_oneof![0u16..8, Just(443), 65532u16..=65535]
    }

    fn port_item() -> impl Strategy<Value = String> {
        (port(), port()).prop_map(|(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("\"{}-{}\"", a.min(b), a.max(b))
            }
        })
    }

    fn list(item: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
        proptest::collection::vec(item, 1..4).prop_map(|v| format!("[{}]", v.join(", ")))
    }

    fn quoted(values: &'static [&'static str]) -> impl Strategy<Value = String> {
        list(proptest::sample::select(values).prop_map(|s| format!("'{s}'")))
    }

    /// The keys of one section (but the scope's `peer`), peer and local ones only where the
    /// scope has `peer`.
    fn keys(with_peer: bool) -> impl Strategy<Value = Vec<(&'static str, String)>> {
        let peer_keys = 0.4;
        use proptest::option::weighted as maybe;
        (
            (
                maybe(peer_keys / 2.0, list(cidr())),
                maybe(0.3, list(cidr())),
                maybe(0.3, list(cidr())),
                maybe(peer_keys, list(cidr())),
                maybe(0.3, list(port_item())),
                maybe(0.3, list(port_item())),
                maybe(peer_keys, list(port_item())),
                maybe(peer_keys, list(port_item())),
            ),
            (
                maybe(0.3, quoted(&["tcp", "udp", "icmp", "icmpv6"])),
                maybe(0.2, quoted(&["eni-1", "eni-2", "eni-3"])),
                maybe(0.1, quoted(&["vpc-1", "vpc-2"])),
                maybe(0.1, quoted(&["subnet-1"])),
                maybe(0.1, quoted(&["i-1", "i-2"])),
                maybe(0.2, quoted(&["ingress", "egress"])),
                maybe(0.2, quoted(&["ACCEPT", "REJECT"])),
            ),
        )
            .prop_map(
                move |(
                    (peer, src, dst, local, sp, dp, pp, lp),
                    (pr, eni, vpc, sub, inst, dir, act),
                )| {
                    [
                        ("peer", peer),
                        ("src", src),
                        ("dst", dst),
                        ("local", local),
                        ("src_port", sp),
                        ("dst_port", dp),
                        ("peer_port", pp),
                        ("local_port", lp),
                        ("protocol", pr),
                        ("interface", eni),
                        ("vpc", vpc),
                        ("subnet", sub),
                        ("instance", inst),
                        ("direction", dir),
                        ("action", act),
                    ]
                    .into_iter()
                    .filter_map(|(k, v)| v.map(|v| (k, v)))
                    .filter(move |(k, _)| {
                        with_peer || !matches!(*k, "peer" | "local" | "peer_port" | "local_port")
                    })
                    .collect()
                },
            )
    }

    fn policy() -> impl Strategy<Value = String> {
        (
            proptest::option::weighted(0.6, list(cidr())),
            proptest::bool::weighted(0.25),
        )
            .prop_flat_map(|(peer, packet)| {
                let has_peer = peer.is_some();
                (
                    Just(peer),
                    Just(packet),
                    keys(has_peer),
                    proptest::collection::vec(keys(has_peer), 0..3),
                    proptest::collection::vec((keys(has_peer), any::<bool>()), 0..2),
                )
            })
            .prop_map(|(peer, packet, scope, allows, waivers)| {
                let mut t = String::from("[scope]\n");
                if packet {
                    t.push_str("addresses = 'packet'\n");
                }
                if let Some(peer) = peer {
                    let _ = writeln!(t, "peer = {peer}");
                }
                let section = |t: &mut String, keys: &[(&str, String)]| {
                    for (k, v) in keys {
                        let _ = writeln!(t, "{k} = {v}");
                    }
                };
                // A scope's `peer` is written above; in the scope the key means the same.
                let scope: Vec<_> = scope.into_iter().filter(|(k, _)| *k != "peer").collect();
                section(&mut t, &scope);
                for a in &allows {
                    t.push_str("[[allow]]\n");
                    section(&mut t, a);
                }
                for (w, live) in &waivers {
                    let expires = if *live { "2030-01-01" } else { "2020-01-01" };
                    let _ = writeln!(t, "[[waive]]\nreason = 'r'\nexpires = {expires}");
                    section(&mut t, w);
                }
                t
            })
    }

    type Record = (
        [Option<IpAddr>; 4],
        [Option<u16>; 2],
        Option<u8>,
        [Option<&'static str>; 4],
        Option<Direction>,
        Option<Action>,
    );

    fn record() -> impl Strategy<Value = Record> {
        use proptest::option::weighted as maybe;
        use proptest::sample::select;
        (
            [
                maybe(0.95, addr()),
                maybe(0.95, addr()),
                maybe(0.5, addr()),
                maybe(0.5, addr()),
            ],
            [maybe(0.9, port()), maybe(0.9, port())],
            maybe(0.9, select(vec![1u8, 6, 17, 58, 47])),
            [
                maybe(0.9, select(vec!["eni-1", "eni-2", "eni-3", "eni-9"])),
                maybe(0.7, select(vec!["vpc-1", "vpc-2"])),
                maybe(0.7, select(vec!["subnet-1", "subnet-2"])),
                maybe(0.7, select(vec!["i-1", "i-3"])),
            ],
            maybe(
                0.8,
                prop_oneof![Just(Direction::Ingress), Just(Direction::Egress)],
            ),
            maybe(0.9, prop_oneof![Just(Action::Accept), Just(Action::Reject)]),
        )
    }

    fn to_flow(r: &Record) -> Flow<'static> {
        let (addrs, ports, protocol, ids, direction, action) = *r;
        Flow {
            src: addrs[0],
            dst: addrs[1],
            pkt_src: addrs[2],
            pkt_dst: addrs[3],
            src_port: ports[0],
            dst_port: ports[1],
            protocol,
            interface: ids[0],
            vpc: ids[1],
            subnet: ids[2],
            instance: ids[3],
            direction,
            action,
            ..Flow::EMPTY
        }
    }

    /// One policy's allow and waiver hit counts.
    type Hits = (Vec<u64>, Vec<u64>);

    /// Verdicts and hit counts of every policy for every record, judging only candidates when
    /// an index is given.
    fn judge_all(
        s: &PolicySet,
        index: Option<&ScopeIndex>,
        flows: &[Flow<'_>],
    ) -> (Vec<Verdict>, Vec<Hits>) {
        let today = date!(2026 - 01 - 01);
        let mut hits: Vec<Hits> = s
            .policies()
            .iter()
            .map(|p| (vec![0; p.allows.len()], vec![0; p.waivers.len()]))
            .collect();
        let mut verdicts = Vec::new();
        for f in flows {
            let c = index.map(|x| (x.width(), x.candidates(f, f.interface.map(id_hash))));
            for (i, p) in s.policies().iter().enumerate() {
                let skip = c.is_some_and(|(width, c)| i < width && c & (1 << i) == 0);
                let (a, w) = &mut hits[i];
                verdicts.push(if skip {
                    Verdict::OutOfScope
                } else {
                    p.judge(f, today, a, w)
                });
            }
        }
        (verdicts, hits)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn candidates_never_drop_a_verdict(
            policies in proptest::collection::vec(policy(), 1..8),
            records in proptest::collection::vec(record(), 1..40),
        ) {
            let s = set(&policies);
            let index = ScopeIndex::new(s.policies());
            let flows: Vec<Flow<'_>> = records.iter().map(to_flow).collect();
            let full = judge_all(&s, None, &flows);
            let filtered = judge_all(&s, Some(&index), &flows);
            prop_assert_eq!(full, filtered);
        }
    }
}
