//! Every policy's scope at once, as rows of bits: which policies a record is in scope of, and
//! for each which end is its peer end.
//!
//! Per field, a table from the record's value to a row with a bit per policy whose scope
//! accepts it (addresses and ports as elementary intervals, see `intervals`; protocols and
//! directions as arrays; ids by hash and then by string), so one lookup per field and a few
//! ANDs per 64 policies give the candidates for all policies together: Lakshman and
//! Stiliadis's bit vectors, with scopes as the rules.
//!
//! Addresses are looked up per view: a policy with `addresses = "packet"` matches on the
//! packet addresses (each falling back to the interface's where the record holds `-`), so its
//! bits live in a second address table, looked up with those addresses, and are free (always
//! set) in the first; only a run with such a policy pays for the second lookup.
//!
//! The answer is exact, with one exception said by [`Scopes::settled`]: a scope that writes
//! its own `peer` or `action` key (only the probes of `check --base` do: a probe's scope is a
//! policy's scope and one of its allow rules) is left to the judge for those keys.

use crate::flowlog::Flow;
use crate::policy::matcher::{direction_bit, End, IdKind};
use crate::policy::sets::Ip;
use crate::policy::{Addresses, Policy};

use super::ids::IdIndex;
use super::intervals::{Intervals, Member};

/// Slots of a row of an address or port table: the policies whose key of that end accepts
/// the value (or that have no such key). The address table answers `src`, `dst`, `peer` and
/// `local` for one address; which of them apply depends on whether the address is the
/// record's src or dst, and on where the peer end is.
const SRC: usize = End::Src as usize;
const DST: usize = End::Dst as usize;
const PEER: usize = End::Peer as usize;
const LOCAL: usize = End::Local as usize;
const SLOTS: usize = 4;

/// The (src, dst) addresses of a record in one view, as the sets are keyed.
pub(super) type Ends = (Option<Ip>, Option<Ip>);

/// The view a policy matches addresses in: 0 the interface's, 1 the packet's.
pub(super) fn view(p: &Policy) -> usize {
    match p.scope.addresses {
        Addresses::Interface => 0,
        Addresses::Packet => 1,
    }
}

/// The scopes of a run's policies, indexed by key value.
#[derive(Clone, Debug)]
pub(super) struct Scopes {
    words: usize,
    /// Every policy's bit.
    all: Vec<u64>,
    /// Per view: `None` when no scope of that view has an address key.
    addrs: [Option<AddrTables>; 2],
    ports: Option<PortTable>,
    /// Indexed by protocol number, `words` a row, then the row for a record without one;
    /// `None` when no scope names protocols.
    protocols: Option<Vec<u64>>,
    /// Rows by [`direction_bit`], then a record without a direction.
    directions: Option<Vec<u64>>,
    ids: Vec<(IdKind, IdIndex)>,
    /// `SLOTS * words` set bits: what a lookup no scope reads gives.
    ones: Vec<u64>,
    /// Policies whose scope the rows decide alone (see the module's note).
    settled: Vec<bool>,
}

#[derive(Clone, Debug)]
struct AddrTables {
    v4: Intervals<u32>,
    v6: Intervals<u128>,
    /// The row for a record without that address.
    none: Vec<u64>,
    /// Whether any scope reads the src address, the dst address (peer and local keys read
    /// both): a lookup that nothing reads is all ones, and skipped.
    reads: [bool; 2],
}

#[derive(Clone, Debug)]
struct PortTable {
    ports: Intervals<u16>,
    none: Vec<u64>,
    reads: [bool; 2],
}

fn set_bit(row: &mut [u64], words: usize, slot: usize, i: usize) {
    row[slot * words + i / 64] |= 1 << (i % 64);
}

impl Scopes {
    pub fn new(policies: &[Policy]) -> Scopes {
        let n = policies.len();
        let words = n.div_ceil(64).max(1);
        let mut all = vec![0u64; words];
        for i in 0..n {
            all[i / 64] |= 1 << (i % 64);
        }
        let row = |slots: usize| vec![0u64; slots * words];

        let addrs = [0, 1].map(|v| {
            let mut free = row(SLOTS);
            let mut members4 = Vec::new();
            let mut members6 = Vec::new();
            for (i, p) in policies.iter().enumerate() {
                for slot in [SRC, DST, PEER, LOCAL] {
                    let set = match slot {
                        PEER => p.scope.peer.as_ref(),
                        _ => p.scope.matcher.addrs[slot].as_ref(),
                    };
                    match set {
                        Some(set) if view(p) == v => {
                            members4.push(Member {
                                slot,
                                bit: i,
                                set: set.v4(),
                            });
                            members6.push(Member {
                                slot,
                                bit: i,
                                set: set.v6(),
                            });
                        }
                        _ => set_bit(&mut free, words, slot, i),
                    }
                }
            }
            if members4.is_empty() {
                return None;
            }
            let used = |slot| members4.iter().any(|m| m.slot == slot);
            Some(AddrTables {
                v4: Intervals::new(&members4, &free, words),
                v6: Intervals::new(&members6, &free, words),
                reads: [SRC, DST].map(|end| used(end) || used(PEER) || used(LOCAL)),
                none: free,
            })
        });

        let mut free = row(SLOTS);
        let mut members = Vec::new();
        for (i, p) in policies.iter().enumerate() {
            for slot in [SRC, DST, PEER, LOCAL] {
                match &p.scope.matcher.ports[slot] {
                    Some(set) => members.push(Member { slot, bit: i, set }),
                    None => set_bit(&mut free, words, slot, i),
                }
            }
        }
        let ports = (!members.is_empty()).then(|| {
            let used = |slot| members.iter().any(|m| m.slot == slot);
            PortTable {
                ports: Intervals::new(&members, &free, words),
                reads: [SRC, DST].map(|end| used(end) || used(PEER) || used(LOCAL)),
                none: free,
            }
        });

        let protocols = policies
            .iter()
            .any(|p| p.scope.matcher.protocol.is_some())
            .then(|| {
                let mut t = vec![0u64; 257 * words];
                for (i, p) in policies.iter().enumerate() {
                    for n in 0..257 {
                        let holds = match &p.scope.matcher.protocol {
                            None => true,
                            Some(set) => n < 256 && set.contains(n as u8),
                        };
                        if holds {
                            set_bit(&mut t, words, n, i);
                        }
                    }
                }
                t
            });
        let directions = policies
            .iter()
            .any(|p| p.scope.matcher.direction.is_some())
            .then(|| {
                let mut t = vec![0u64; 3 * words];
                for (i, p) in policies.iter().enumerate() {
                    for d in 0..3u8 {
                        let holds = match p.scope.matcher.direction {
                            None => true,
                            Some(set) => d < 2 && set.contains(d),
                        };
                        if holds {
                            set_bit(&mut t, words, usize::from(d), i);
                        }
                    }
                }
                t
            });
        let ids = IdKind::ALL
            .into_iter()
            .filter_map(|kind| {
                let mut free = row(1);
                let mut lists = Vec::new();
                for (i, p) in policies.iter().enumerate() {
                    match &p.scope.matcher.ids[kind as usize] {
                        Some(set) => lists.push((i, set.ids())),
                        None => set_bit(&mut free, words, 0, i),
                    }
                }
                Some((kind, IdIndex::new(lists, &free)?))
            })
            .collect();
        Scopes {
            words,
            all,
            addrs,
            ports,
            protocols,
            directions,
            ids,
            ones: vec![u64::MAX; SLOTS * words],
            settled: policies
                .iter()
                .map(|p| p.scope.matcher.addrs[PEER].is_none() && p.scope.matcher.action.is_none())
                .collect(),
        }
    }

    /// Words of a row of policies.
    pub fn words(&self) -> usize {
        self.words
    }

    /// Whether the candidates settle policy `i`'s scope: false when its scope writes a `peer`
    /// or an `action` key of its own, which `judge` then tests.
    pub fn settled(&self, i: usize) -> bool {
        self.settled[i]
    }

    /// Fills `candidates` with the policies whose scope holds `flow` (seen through `ends`, per
    /// view) and `peer_dst` with the policies whose peer end (if any) is dst. `interface` is
    /// `flow.interface` hashed with `id_hash`, which the caller computes anyway.
    ///
    /// Compiled once per common width (up to 64 and up to 128 policies) so that the row
    /// indices are constants and the loops over words disappear: written for any width, the
    /// bounds checks and loop counters of its per-slot reads cost ~250 instructions a record,
    /// more than the table walks themselves (docs/performance.md).
    #[inline]
    pub fn lookup(
        &self,
        flow: &Flow<'_>,
        ends: &[Ends; 2],
        interface: Option<u64>,
        candidates: &mut [u64],
        peer_dst: &mut [u64],
    ) {
        match self.words {
            1 => self.lookup_words::<1>(flow, ends, interface, candidates, peer_dst),
            2 => self.lookup_words::<2>(flow, ends, interface, candidates, peer_dst),
            _ => self.lookup_words::<0>(flow, ends, interface, candidates, peer_dst),
        }
    }

    /// [`Scopes::lookup`] for rows of `N` words (`self.words`, when `N` is 0).
    #[inline(never)]
    fn lookup_words<const N: usize>(
        &self,
        flow: &Flow<'_>,
        ends: &[Ends; 2],
        interface: Option<u64>,
        candidates: &mut [u64],
        peer_dst: &mut [u64],
    ) {
        let words = if N == 0 { self.words } else { N };
        let candidates = &mut candidates[..words];
        let peer_dst = &mut peer_dst[..words];
        candidates.copy_from_slice(&self.all[..words]);
        let and = |out: &mut [u64], row: &[u64]| {
            let row = &row[..words];
            for w in 0..words {
                out[w] &= row[w];
            }
        };
        if let Some(t) = &self.protocols {
            let p = flow.protocol.map_or(256, usize::from);
            and(candidates, &t[p * words..]);
        }
        if let Some(t) = &self.directions {
            let d = flow.direction.map_or(2, |d| usize::from(direction_bit(d)));
            and(candidates, &t[d * words..]);
        }
        for (kind, index) in &self.ids {
            let id = match kind {
                IdKind::Interface => flow.interface.zip(interface).map(|(id, h)| (h, id)),
                IdKind::Vpc => flow.vpc.map(|id| (super::id_hash(id), id)),
                IdKind::Subnet => flow.subnet.map(|id| (super::id_hash(id), id)),
                IdKind::Instance => flow.instance.map(|id| (super::id_hash(id), id)),
            };
            and(candidates, index.get(id));
        }
        if candidates.iter().all(|&c| c == 0) {
            return;
        }
        // Each row cut to its `SLOTS * words` words once (a constant length for `N` > 0), so
        // that reading a slot needs no bounds check of its own.
        let slots = SLOTS * words;
        let s = &self.addr_row(0, SRC, ends)[..slots];
        let d = &self.addr_row(0, DST, ends)[..slots];
        let sp = &self.port_row(flow, SRC)[..slots];
        let dp = &self.port_row(flow, DST)[..slots];
        if self.addrs[1].is_some() {
            let ps = &self.addr_row(1, SRC, ends)[..slots];
            let pd = &self.addr_row(1, DST, ends)[..slots];
            for w in 0..words {
                let at = |row: &[u64], slot: usize| row[slot * words + w];
                let s = |slot| at(s, slot) & at(ps, slot);
                let d = |slot| at(d, slot) & at(pd, slot);
                let (sp, dp) = (|slot| at(sp, slot), |slot| at(dp, slot));
                combine(
                    w,
                    [s(SRC), s(DST), s(PEER), s(LOCAL)],
                    [d(SRC), d(DST), d(PEER), d(LOCAL)],
                    [sp(SRC), sp(PEER), sp(LOCAL)],
                    [dp(DST), dp(PEER), dp(LOCAL)],
                    candidates,
                    peer_dst,
                );
            }
        } else {
            for w in 0..words {
                let at = |row: &[u64], slot: usize| row[slot * words + w];
                combine(
                    w,
                    [at(s, SRC), at(s, DST), at(s, PEER), at(s, LOCAL)],
                    [at(d, SRC), at(d, DST), at(d, PEER), at(d, LOCAL)],
                    [at(sp, SRC), at(sp, PEER), at(sp, LOCAL)],
                    [at(dp, DST), at(dp, PEER), at(dp, LOCAL)],
                    candidates,
                    peer_dst,
                );
            }
        }
    }

    /// The row of view `v`'s address at `end` (SRC or DST) of the record seen as `ends`.
    #[inline(always)]
    fn addr_row(&self, v: usize, end: usize, ends: &[Ends; 2]) -> &[u64] {
        match &self.addrs[v] {
            Some(t) if t.reads[end] => {
                let a = if end == SRC { ends[v].0 } else { ends[v].1 };
                match a {
                    None => &t.none,
                    Some(Ip::V4(a)) => t.v4.get(a),
                    Some(Ip::V6(a)) => t.v6.get(a),
                }
            }
            _ => &self.ones,
        }
    }

    /// The row of the record's port at `end` (SRC or DST).
    #[inline(always)]
    fn port_row(&self, flow: &Flow<'_>, end: usize) -> &[u64] {
        match &self.ports {
            Some(t) if t.reads[end] => {
                let p = if end == SRC {
                    flow.src_port
                } else {
                    flow.dst_port
                };
                p.map_or(&t.none, |p| t.ports.get(p))
            }
            _ => &self.ones,
        }
    }
}

/// One word of candidates from the slots of the src address `s` and dst address `d` (by
/// slot), the src port `sp` (SRC, PEER, LOCAL) and the dst port `dp` (DST, PEER, LOCAL). The
/// peer end is dst when dst is in the peer networks, else src when src is; local keys then
/// read the other end. A policy without a peer scope has every peer and local bit set, so
/// the first case holds for it.
#[inline(always)]
fn combine(
    w: usize,
    s: [u64; 4],
    d: [u64; 4],
    sp: [u64; 3],
    dp: [u64; 3],
    candidates: &mut [u64],
    peer_dst: &mut [u64],
) {
    let [s_src, _, s_peer, s_local] = s;
    let [_, d_dst, d_peer, d_local] = d;
    let [sp_src, sp_peer, sp_local] = sp;
    let [dp_dst, dp_peer, dp_local] = dp;
    let is_dst = d_peer & s_local & dp_peer & sp_local;
    let is_src = !d_peer & s_peer & d_local & sp_peer & dp_local;
    candidates[w] &= s_src & d_dst & sp_src & dp_dst & (is_dst | is_src);
    peer_dst[w] = d_peer;
}
