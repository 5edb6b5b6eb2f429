//! What a conversation is (its key and its sums), and one policy's would-be-blocked
//! conversations in a table packed for size.
//!
//! A first draft fails on most of its traffic, and a hundred drafts hold a million
//! conversations or more. Kept as they are read, a conversation costs 136 bytes before the
//! hash table's slack: two `Option<IpAddr>` of 17 bytes in its key, and sums of `Option`s of
//! 16 bytes each. Here the key is 12 bytes (an IPv4 address is its own 32 bits, an IPv6
//! address the index of the table's own list of them, which stays short because IPv6 estates
//! are few addresses talking a lot) and the sums 60 bytes, so an entry is 72: the same counts,
//! exact, in 53% of the memory. Nothing outside this file sees the packed forms: the table
//! takes and gives [`ConversationKey`] and [`ConversationStats`], and merging two tables maps
//! the other's IPv6 indexes to this one's, so which addresses came first never shows.

use std::net::{IpAddr, Ipv4Addr};

use super::server::{Basis, FastMap, Side};
use table::{Hash64, PairTable};

mod table;

/// DESIGN.md's conversation: (protocol, client, server, server port).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConversationKey {
    pub protocol: Option<u8>,
    pub client: Option<IpAddr>,
    pub server: Option<IpAddr>,
    pub server_port: Option<u16>,
}

impl ConversationKey {
    /// The conversation of a record whose server is `side`, given its (src, dst) addresses as
    /// the policy sees them and its (src, dst) ports.
    pub fn new(
        protocol: Option<u8>,
        (src, dst): (Option<IpAddr>, Option<IpAddr>),
        side: Side,
        (src_port, dst_port): (Option<u16>, Option<u16>),
    ) -> ConversationKey {
        match side {
            Side::Src => ConversationKey {
                protocol,
                client: dst,
                server: src,
                server_port: src_port,
            },
            Side::Dst => ConversationKey {
                protocol,
                client: src,
                server: dst,
                server_port: dst_port,
            },
        }
    }
}

/// Sums over the records of one conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConversationStats {
    pub records: u64,
    pub packets: u64,
    pub bytes: u64,
    pub first_start: Option<u64>,
    pub last_end: Option<u64>,
    /// Smallest (archive index, line); archives are indexed in sorted path order.
    pub example: (usize, u64),
    /// Smallest index of an expired waiver that matched one of its records.
    pub expired_waiver: Option<usize>,
    /// The strongest way the server of one of its records was decided.
    pub basis: Basis,
}

pub(crate) fn min_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

pub(crate) fn max_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    a.max(b)
}

impl ConversationStats {
    pub fn merge(&mut self, o: &ConversationStats) {
        self.records += o.records;
        self.packets = self.packets.saturating_add(o.packets);
        self.bytes = self.bytes.saturating_add(o.bytes);
        self.first_start = min_opt(self.first_start, o.first_start);
        self.last_end = max_opt(self.last_end, o.last_end);
        self.example = self.example.min(o.example);
        self.expired_waiver = match (self.expired_waiver, o.expired_waiver) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.basis = self.basis.min(o.basis);
    }
}

/// What an address field of a packed key holds.
const NONE: u8 = 0;
const V4: u8 = 1;
const V6: u8 = 2;

/// Flags of [`Key::flags`]: bits 0-1 the client's kind, 2-3 the server's, then whether the
/// protocol and the server port are known.
const CLIENT_SHIFT: u8 = 0;
const SERVER_SHIFT: u8 = 2;
const HAS_PROTOCOL: u8 = 1 << 4;
const HAS_PORT: u8 = 1 << 5;

/// A [`ConversationKey`] in 12 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Key {
    client: u32,
    server: u32,
    port: u16,
    protocol: u8,
    flags: u8,
}

impl Hash64 for Key {
    /// One word, mixed here: a folded multiply of the key's two halves makes every bit of the
    /// key reach both the high bits, which pick the first slot, and the low 32, the tag (the
    /// servers of outbound conversations differ in their high bits).
    #[inline]
    fn hash64(&self) -> u64 {
        let a = u64::from(self.client) | u64::from(self.server) << 32;
        let b = u64::from(self.port) | u64::from(self.protocol) << 16 | u64::from(self.flags) << 24;
        crate::policy::classifier::fold(a ^ 0x243f_6a88_85a3_08d3, b ^ 0x1319_8a2e_0370_7344)
    }
}

/// [`ConversationStats`] in 60 bytes: the `Option`s as flags and sentinels. Also what a
/// violation waiting for its server keeps (`tally::Waiting`). Aligned to 4 bytes, not 8:
/// beside the 12-byte [`Key`] an entry is then 72 bytes, where 8-byte alignment padded the
/// key and the sums' tail to 80 (a tenth of the memory of a hundred failing drafts' tables).
/// Its fields are read and written by value only (a reference to one could be misaligned).
#[derive(Clone, Copy, Debug)]
#[repr(C, packed(4))]
pub(crate) struct Sums {
    records: u64,
    packets: u64,
    bytes: u64,
    first_start: u64,
    last_end: u64,
    line: u64,
    /// [`NO_ARCHIVE`] for `usize::MAX` (a conversation read back from SQL has no archive).
    archive: u32,
    /// [`NO_WAIVER`] for none.
    waiver: u32,
    basis: Basis,
    /// [`HAS_START`] and [`HAS_END`].
    flags: u8,
}

const NO_ARCHIVE: u32 = u32::MAX;
const NO_WAIVER: u32 = u32::MAX;
const HAS_START: u8 = 1;
const HAS_END: u8 = 2;

impl Sums {
    pub(crate) fn pack(s: &ConversationStats) -> Sums {
        let small = |n: usize, none: u32| u32::try_from(n).ok().filter(|&n| n != none);
        Sums {
            records: s.records,
            packets: s.packets,
            bytes: s.bytes,
            first_start: s.first_start.unwrap_or(0),
            last_end: s.last_end.unwrap_or(0),
            line: s.example.1,
            // Archives and waivers are counted in thousands; an index past u32 is only the
            // "none" of the SQL path (usize::MAX).
            archive: small(s.example.0, NO_ARCHIVE).unwrap_or(NO_ARCHIVE),
            waiver: s
                .expired_waiver
                .map_or(NO_WAIVER, |w| small(w, NO_WAIVER).unwrap_or(NO_WAIVER)),
            basis: s.basis,
            flags: if s.first_start.is_some() {
                HAS_START
            } else {
                0
            } | if s.last_end.is_some() { HAS_END } else { 0 },
        }
    }

    pub(crate) fn unpack(&self) -> ConversationStats {
        ConversationStats {
            records: self.records,
            packets: self.packets,
            bytes: self.bytes,
            first_start: (self.flags & HAS_START != 0).then_some(self.first_start),
            last_end: (self.flags & HAS_END != 0).then_some(self.last_end),
            example: (
                match self.archive {
                    NO_ARCHIVE => usize::MAX,
                    a => a as usize,
                },
                self.line,
            ),
            expired_waiver: (self.waiver != NO_WAIVER).then_some(self.waiver as usize),
            basis: self.basis,
        }
    }

    /// Sets how the server of these records was decided.
    pub(crate) fn set_basis(&mut self, basis: Basis) {
        self.basis = basis;
    }

    /// [`ConversationStats::merge`], on the packed form.
    pub(crate) fn merge(&mut self, o: &Sums) {
        self.records += o.records;
        self.packets = self.packets.saturating_add(o.packets);
        self.bytes = self.bytes.saturating_add(o.bytes);
        self.first_start = match (self.flags & HAS_START, o.flags & HAS_START) {
            (0, _) => o.first_start,
            (_, 0) => self.first_start,
            _ => self.first_start.min(o.first_start),
        };
        self.last_end = match (self.flags & HAS_END, o.flags & HAS_END) {
            (0, _) => o.last_end,
            (_, 0) => self.last_end,
            _ => self.last_end.max(o.last_end),
        };
        self.flags |= o.flags;
        // NO_ARCHIVE (usize::MAX) sorts last, as usize::MAX does.
        if (o.archive, o.line) < (self.archive, self.line) {
            (self.archive, self.line) = (o.archive, o.line);
        }
        // NO_WAIVER (none) sorts last: the smallest waiver that matched wins.
        self.waiver = self.waiver.min(o.waiver);
        self.basis = self.basis.min(o.basis);
    }
}

/// One policy's conversations: exact sums per conversation, packed.
#[derive(Debug, Default)]
pub struct Conversations {
    map: PairTable<Key, Sums>,
    /// The IPv6 addresses of the keys, by index.
    v6: Vec<IpAddr>,
    v6_index: FastMap<IpAddr, u32>,
}

impl Conversations {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Adds records to their conversation.
    pub fn add(&mut self, key: ConversationKey, stats: &ConversationStats) {
        let key = self.pack(key);
        self.add_packed(key, Sums::pack(stats));
    }

    /// Adds packed sums to their conversations, fetching ahead ([`PairTable::add_all`]).
    pub(crate) fn add_all(&mut self, items: impl Iterator<Item = (ConversationKey, Sums)>) {
        let packed: Vec<(Key, Sums)> = items.map(|(key, sums)| (self.pack(key), sums)).collect();
        self.map.add_all(packed, |c, s| c.merge(&s));
    }

    /// Adds a conversation that must not be here yet; false (and nothing added) if it is.
    pub fn insert_new(&mut self, key: ConversationKey, stats: &ConversationStats) -> bool {
        let key = self.pack(key);
        // Nothing is added where the key is already: the update leaves its sums alone.
        self.map.upsert(key, Sums::pack(stats), |_, _| {})
    }

    fn add_packed(&mut self, key: Key, sums: Sums) {
        self.map.upsert(key, sums, |c, s| c.merge(&s));
    }

    /// Adds `other`'s entries (its IPv6 indexes mapped to this table's by `ids`), fetching
    /// ahead ([`PairTable::add_all`]): the run's tables are large, and nearly every entry
    /// handed to them is a cache miss.
    fn add_remapped(&mut self, entries: impl Iterator<Item = (Key, Sums)>, ids: &[u32]) {
        let remap = |kind: u8, id: u32| if kind == V6 { ids[id as usize] } else { id };
        let entries = entries.map(|(mut key, sums)| {
            key.client = remap(key.flags >> CLIENT_SHIFT & 3, key.client);
            key.server = remap(key.flags >> SERVER_SHIFT & 3, key.server);
            (key, sums)
        });
        self.map.add_all(entries, |c, s| c.merge(&s));
    }

    /// Folds `other` in: the smaller table into the larger, so that the larger is not
    /// grown entry by entry.
    pub fn merge(&mut self, mut other: Conversations) {
        if other.map.len() > self.map.len() {
            std::mem::swap(self, &mut other);
        }
        let ids: Vec<u32> = other.v6.iter().map(|&a| self.v6_id(a)).collect();
        self.add_remapped(other.map.into_entries(), &ids);
    }

    /// Moves `other`'s conversations in, as [`Conversations::merge`] does, leaving `other`
    /// empty with its memory: a worker's table, handed to the run's every few archives and
    /// filled again at once (a fresh table regrew from nothing each time: its rehashes and
    /// fresh pages were ~3% of issue 21's set d).
    pub fn merge_from(&mut self, other: &mut Conversations) {
        if self.map.is_empty() {
            // The run's first: swapping costs nothing, and the worker's is filled again.
            std::mem::swap(self, other);
            return;
        }
        let ids: Vec<u32> = other.v6.iter().map(|&a| self.v6_id(a)).collect();
        self.add_remapped(other.map.drain(), &ids);
        other.v6.clear();
        other.v6_index.clear();
    }

    /// Every conversation with its sums, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (ConversationKey, ConversationStats)> + '_ {
        self.map.iter().map(|(k, s)| (self.unpack(k), s.unpack()))
    }

    /// The sums of one conversation.
    pub fn get(&self, key: &ConversationKey) -> Option<ConversationStats> {
        let packed = self.packed(*key)?;
        self.map.get(&packed).map(Sums::unpack)
    }

    /// Keeps the conversations `keep` says to, in place: no second table while it runs (the
    /// bound's compaction, which drops most of a full table's pairs at the run's peak).
    pub fn retain(&mut self, mut keep: impl FnMut(&ConversationKey, &ConversationStats) -> bool) {
        let v6 = &self.v6;
        self.map
            .retain(|k, s| keep(&unpack_key(v6, k), &s.unpack()));
    }

    /// Every conversation, the table's memory given back as they go out.
    pub fn drain(mut self) -> impl Iterator<Item = (ConversationKey, ConversationStats)> {
        let v6 = std::mem::take(&mut self.v6);
        self.v6_index = FastMap::default();
        self.map
            .into_entries()
            .map(move |(k, s)| (unpack_key(&v6, &k), s.unpack()))
    }

    fn v6_id(&mut self, addr: IpAddr) -> u32 {
        let next = self.v6.len();
        *self.v6_index.entry(addr).or_insert_with(|| {
            self.v6.push(addr);
            // 4 billion distinct IPv6 addresses would not fit in memory as keys anyway.
            u32::try_from(next).expect("fewer than 2^32 IPv6 addresses")
        })
    }

    fn address(&mut self, addr: Option<IpAddr>) -> (u8, u32) {
        match addr {
            None => (NONE, 0),
            Some(IpAddr::V4(a)) => (V4, u32::from(a)),
            Some(a @ IpAddr::V6(_)) => (V6, self.v6_id(a)),
        }
    }

    fn pack(&mut self, k: ConversationKey) -> Key {
        let (ck, client) = self.address(k.client);
        let (sk, server) = self.address(k.server);
        key_of(k, (ck, client), (sk, server))
    }

    /// The packed key of `k` if its addresses are known here (no address is added).
    fn packed(&self, k: ConversationKey) -> Option<Key> {
        let look = |addr: Option<IpAddr>| match addr {
            None => Some((NONE, 0)),
            Some(IpAddr::V4(a)) => Some((V4, u32::from(a))),
            Some(a @ IpAddr::V6(_)) => self.v6_index.get(&a).map(|&id| (V6, id)),
        };
        Some(key_of(k, look(k.client)?, look(k.server)?))
    }

    fn unpack(&self, k: &Key) -> ConversationKey {
        unpack_key(&self.v6, k)
    }
}

fn key_of(k: ConversationKey, (ck, client): (u8, u32), (sk, server): (u8, u32)) -> Key {
    Key {
        client,
        server,
        port: k.server_port.unwrap_or(0),
        protocol: k.protocol.unwrap_or(0),
        flags: ck << CLIENT_SHIFT
            | sk << SERVER_SHIFT
            | if k.protocol.is_some() {
                HAS_PROTOCOL
            } else {
                0
            }
            | if k.server_port.is_some() { HAS_PORT } else { 0 },
    }
}

fn unpack_key(v6: &[IpAddr], k: &Key) -> ConversationKey {
    let address = |kind: u8, value: u32| match kind {
        V4 => Some(IpAddr::V4(Ipv4Addr::from(value))),
        V6 => Some(v6[value as usize]),
        _ => None,
    };
    ConversationKey {
        protocol: (k.flags & HAS_PROTOCOL != 0).then_some(k.protocol),
        client: address(k.flags >> CLIENT_SHIFT & 3, k.client),
        server: address(k.flags >> SERVER_SHIFT & 3, k.server),
        server_port: (k.flags & HAS_PORT != 0).then_some(k.port),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn key(
        protocol: Option<u8>,
        client: Option<&str>,
        server: Option<&str>,
        port: Option<u16>,
    ) -> ConversationKey {
        ConversationKey {
            protocol,
            client: client.map(|c| c.parse().unwrap()),
            server: server.map(|s| s.parse().unwrap()),
            server_port: port,
        }
    }

    fn stats(
        records: u64,
        example: (usize, u64),
        start: Option<u64>,
        end: Option<u64>,
    ) -> ConversationStats {
        ConversationStats {
            records,
            packets: records * 3,
            bytes: u64::MAX - 1,
            first_start: start,
            last_end: end,
            example,
            expired_waiver: None,
            basis: Basis::PortRange,
        }
    }

    /// The packed table is a plain map of keys to merged sums: the same conversations and
    /// sums as a `HashMap<ConversationKey, ConversationStats>` fed the same records, whatever
    /// the split into tables and the order of their merge.
    #[test]
    fn packing_loses_nothing_and_merges_as_the_plain_map_does() {
        let keys = [
            key(Some(6), Some("10.0.0.1"), Some("10.20.30.5"), Some(443)),
            key(Some(6), Some("10.20.30.5"), Some("10.0.0.1"), Some(443)),
            key(Some(0), Some("0.0.0.0"), Some("255.255.255.255"), Some(0)),
            key(None, None, None, None),
            key(Some(17), Some("2600:1f18::1"), Some("10.0.0.1"), Some(53)),
            key(Some(17), Some("10.0.0.1"), Some("2600:1f18::1"), Some(53)),
            key(Some(58), Some("2600:1f18::2"), Some("2600:1f18::1"), None),
            key(Some(58), Some("::"), Some("::ffff:10.0.0.1"), Some(65535)),
        ];
        let records: Vec<(ConversationKey, ConversationStats)> = (0..64u64)
            .map(|i| {
                let mut s = stats(
                    1 + i % 3,
                    ((i % 5) as usize * 1000, 100 - i),
                    (i % 4 != 0).then_some(1_000 + (i * 37) % 91),
                    (i % 6 != 0).then_some(2_000 + (i * 53) % 97),
                );
                if i == 7 {
                    s.example.0 = usize::MAX;
                }
                s.expired_waiver = (i % 7 == 3).then_some((i % 3) as usize);
                s.basis = [Basis::Flags, Basis::LowerPort, Basis::Run][(i % 3) as usize];
                (keys[(i as usize * 5) % keys.len()], s)
            })
            .collect();
        let mut want: HashMap<ConversationKey, ConversationStats> = HashMap::new();
        for (k, s) in &records {
            want.entry(*k).and_modify(|c| c.merge(s)).or_insert(*s);
        }
        for split in [1, 3, 17, 64] {
            let mut parts: Vec<Conversations> = Vec::new();
            for chunk in records.chunks(split) {
                let mut t = Conversations::default();
                for (k, s) in chunk.iter().rev() {
                    t.add(*k, s);
                }
                parts.push(t);
            }
            let mut whole = Conversations::default();
            for p in parts.into_iter().rev() {
                whole.merge(p);
            }
            assert_eq!(whole.len(), want.len());
            for (k, s) in whole.iter() {
                assert_eq!(want.get(&k), Some(&s), "{k:?} split {split}");
                assert_eq!(whole.get(&k), Some(s));
            }
            let drained: HashMap<_, _> = whole.drain().collect();
            assert_eq!(drained, want);
        }
    }

    /// Moving a table in with [`Conversations::merge_from`] gives what merging it gives,
    /// IPv6 indexes remapped, and leaves it empty and reusable.
    #[test]
    fn merge_from_is_merge() {
        let k = |client: &str, port| key(Some(6), Some(client), Some("2600::9"), Some(port));
        let rounds = [
            vec![(k("10.0.0.1", 22), 1), (k("2600::1", 22), 2)],
            vec![(k("2600::2", 443), 3), (k("2600::1", 22), 4)],
            vec![
                (k("2600::1", 22), 5),
                (k("10.0.0.1", 22), 6),
                (k("2600::3", 1), 7),
            ],
        ];
        let (mut moved, mut merged) = (Conversations::default(), Conversations::default());
        let mut worker = Conversations::default();
        for round in &rounds {
            let mut fresh = Conversations::default();
            for &(key, n) in round {
                worker.add(key, &stats(n, (0, n), Some(n), None));
                fresh.add(key, &stats(n, (0, n), Some(n), None));
            }
            moved.merge_from(&mut worker);
            merged.merge(fresh);
            assert!(worker.is_empty());
            assert_eq!(worker.iter().count(), 0);
        }
        let sorted = |t: &Conversations| {
            let mut v: Vec<_> = t.iter().collect();
            v.sort_by_key(|(k, _)| *k);
            v
        };
        assert_eq!(sorted(&moved), sorted(&merged));
        assert_eq!(moved.get(&k("2600::1", 22)).unwrap().records, 11);
        assert_eq!(moved.len(), 4);
    }

    #[test]
    fn a_conversation_is_new_once() {
        let mut t = Conversations::default();
        let k = key(Some(6), Some("2600::1"), Some("10.0.0.1"), Some(22));
        assert!(t.insert_new(k, &stats(1, (0, 1), None, None)));
        assert!(!t.insert_new(k, &stats(5, (0, 1), None, None)));
        assert_eq!(t.get(&k).unwrap().records, 1);
        assert_eq!(
            t.get(&key(Some(6), Some("2600::2"), Some("10.0.0.1"), Some(22))),
            None
        );
    }

    #[test]
    fn an_entry_is_72_bytes() {
        assert_eq!(std::mem::size_of::<(Key, Sums)>(), 72);
    }
}
