//! Who is the server of a record: the rule that groups records into conversations, decided
//! from the evidence of the run, never from a list of "usual" service ports.
//!
//! A record has two ends, (protocol, srcaddr, srcport) and (protocol, dstaddr, dstport). The
//! steps, first decisive one wins (docs/server.md says the same for users):
//!
//! 1. ICMP, ICMPv6 and protocols without ports: dst is the server.
//! 2. TCP with a `tcp-flags` value: SYN-ACK (16) marks the sender as the server, else SYN (2)
//!    the receiver.
//! 3. Fan-in in the record's own archive: an end that talks to remote ends on at least two
//!    different ports, over the OK records of that archive, has fan-in. If exactly one end has
//!    it, that end is the server. (Clients' ports are ephemeral, so a server's remotes vary in
//!    port; a client port that a NAT gateway or a busy host reuses towards several servers
//!    meets them on the same few service ports, and does not count.)
//! 4. The run's servers: the ends that tcp-flags showed as a server in any record, or that had
//!    fan-in in any archive. If exactly one end is among them, it is the server. Else, if
//!    exactly one end's port (and protocol) is the port of run's servers on at least two
//!    addresses, it is the server: a service learnt from this run, never from a list.
//! 5. Port ranges: a system port (below 1024) against any other, then a port below 32768
//!    against one at or above it (IANA's ephemeral range 49152-65535 and Linux's 32768-60999
//!    both lie there): the lower range is the server's.
//! 6. The lower port; dst on a tie.
//!
//! The evidence is gathered from every OK record the run reads (after `--since`/`--until`),
//! never from the records a policy selects, so a record's conversation does not depend on the
//! policies loaded. Step 3 is known when the archive ends, step 4 when the run ends: records
//! that need a key (violations, or what suggest and sample group) wait in a [`Pending`] map
//! aggregated by their two ends, so memory is bounded by one archive's ends plus the records
//! that step 3 cannot decide (flows where neither or both ends have fan-in in their archive),
//! aggregated by 5-tuple, plus the run's servers. Everything merges by union, so the result is
//! the same at any thread count.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::net::IpAddr;

use serde::Serialize;

use crate::flowlog::Flow;
pub use held::Held;
use table::WordTable;

mod held;
mod table;

/// Which end of a record is the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    Src,
    Dst,
}

/// How the server of a record was decided, strongest first: the strongest over a
/// conversation's records is what reports show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    /// tcp-flags: SYN-ACK from the server, or SYN to it.
    Flags,
    /// ICMP, ICMPv6 or a protocol without ports: dst, by definition.
    Protocol,
    /// Fan-in in the record's own archive.
    FanIn,
    /// The end was a server elsewhere in the run (by tcp-flags or fan-in).
    Run,
    /// The end's port is a service port of the run: servers on two or more addresses.
    ServicePort,
    /// System, registered and ephemeral port ranges.
    PortRange,
    /// The lower port, dst on a tie: nothing else decided.
    LowerPort,
}

impl Basis {
    /// Stable name, as in reports and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Flags => "flags",
            Basis::Protocol => "protocol",
            Basis::FanIn => "fan-in",
            Basis::Run => "run",
            Basis::ServicePort => "service-port",
            Basis::PortRange => "port-range",
            Basis::LowerPort => "lower-port",
        }
    }

    /// Whether the side was inferred, rather than read from the record (flags) or fixed by
    /// definition (protocols without ports).
    pub fn is_inferred(self) -> bool {
        !matches!(self, Basis::Flags | Basis::Protocol)
    }
}

/// One end of a record as the evidence counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Endpoint {
    pub protocol: u8,
    pub addr: IpAddr,
    pub port: u16,
}

impl Hash for Endpoint {
    /// Two words: the address, and protocol, family and port together (the derived hash fed
    /// the hasher five pieces, and every record hashes two ends).
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        let (bits, family) = match self.addr {
            IpAddr::V4(a) => (u128::from(u32::from(a)), 4u32),
            IpAddr::V6(a) => (u128::from(a), 6),
        };
        state.write_u128(bits);
        state.write_u32(u32::from(self.protocol) << 24 | family << 16 | u32::from(self.port));
    }
}

/// The two ends of a record whose protocol has ports (same protocol at both ends).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ends {
    pub src: Endpoint,
    pub dst: Endpoint,
}

impl Ends {
    pub fn server(&self, side: Side) -> Endpoint {
        match side {
            Side::Src => self.src,
            Side::Dst => self.dst,
        }
    }
}

/// Protocols whose records carry ports: TCP, UDP, DCCP, SCTP, UDP-Lite.
pub fn has_ports(protocol: u8) -> bool {
    matches!(protocol, 6 | 17 | 33 | 132 | 136)
}

/// What a record says by itself: its ends, when the evidence can speak about them, and the
/// side, when steps 1-2 (or missing fields) decide it without evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reading {
    pub ends: Option<Ends>,
    pub decided: Option<(Side, Basis)>,
}

/// Steps 1 and 2 for one record.
#[inline]
pub fn read(flow: &Flow<'_>) -> Reading {
    let Some(protocol) = flow.protocol else {
        return Reading {
            ends: None,
            decided: Some((lower_port(flow.src_port, flow.dst_port), Basis::LowerPort)),
        };
    };
    if !has_ports(protocol) {
        return Reading {
            ends: None,
            decided: Some((Side::Dst, Basis::Protocol)),
        };
    }
    let ends = match (flow.src, flow.dst, flow.src_port, flow.dst_port) {
        (Some(sa), Some(da), Some(sp), Some(dp)) => Some(Ends {
            src: Endpoint {
                protocol,
                addr: sa,
                port: sp,
            },
            dst: Endpoint {
                protocol,
                addr: da,
                port: dp,
            },
        }),
        _ => None,
    };
    let flags = match flagged(protocol, flow.tcp_flags) {
        (true, _) => Some((Side::Src, Basis::Flags)),
        (false, true) => Some((Side::Dst, Basis::Flags)),
        (false, false) => None,
    };
    let decided = match (flags, ends) {
        (Some(d), _) => Some(d),
        // An end without an address or a port cannot be counted: the ports alone decide.
        (None, None) => Some((lower_port(flow.src_port, flow.dst_port), Basis::LowerPort)),
        (None, Some(_)) => None,
    };
    Reading { ends, decided }
}

/// Step 6: the lower port, dst on a tie (or when a port is missing).
fn lower_port(src: Option<u16>, dst: Option<u16>) -> Side {
    match (src, dst) {
        (Some(s), Some(d)) if s < d => Side::Src,
        _ => Side::Dst,
    }
}

/// The range a port is in: 0 system (below 1024), 1 registered (below 32768), 2 where both
/// common ephemeral ranges lie.
fn port_range(port: u16) -> u8 {
    match port {
        0..1024 => 0,
        1024..32768 => 1,
        _ => 2,
    }
}

/// Steps 5 and 6.
pub fn by_ports(ends: &Ends) -> (Side, Basis) {
    let (s, d) = (port_range(ends.src.port), port_range(ends.dst.port));
    match s.cmp(&d) {
        std::cmp::Ordering::Less => (Side::Src, Basis::PortRange),
        std::cmp::Ordering::Greater => (Side::Dst, Basis::PortRange),
        std::cmp::Ordering::Equal => (
            lower_port(Some(ends.src.port), Some(ends.dst.port)),
            Basis::LowerPort,
        ),
    }
}

/// A fast hasher for endpoint keys (FxHash's multiply-rotate): the table is touched twice per
/// record, and SipHash's flood resistance buys nothing against a bounded per-archive table.
#[derive(Default, Clone, Copy)]
pub struct EndpointHasher(u64);

impl Hasher for EndpointHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.write_u64(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    #[inline]
    fn write_u128(&mut self, i: u128) {
        self.write_u64(i as u64);
        self.write_u64((i >> 64) as u64);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Hash maps and sets keyed by endpoints.
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<EndpointHasher>>;
pub type FastSet<K> = HashSet<K, BuildHasherDefault<EndpointHasher>>;

/// An IPv4 end as one word (protocol, port, address): nearly every record's ends are, and the
/// table of an archive's ends is touched twice per record, so its entries stay 16 bytes.
#[inline]
fn word(end: &Endpoint) -> Option<u64> {
    match end.addr {
        IpAddr::V4(a) => Some(word4(end.protocol, end.port, a)),
        IpAddr::V6(_) => None,
    }
}

/// The [`word`] of an IPv4 end from its parts, as [`ArchiveEvidence::observe`] reads them off
/// the flow without building an [`Endpoint`].
#[inline(always)]
fn word4(protocol: u8, port: u16, addr: std::net::Ipv4Addr) -> u64 {
    u64::from(protocol) << 48 | u64::from(port) << 32 | u64::from(u32::from(addr))
}

/// The end [`word`] packed.
fn unword(w: u64) -> Endpoint {
    Endpoint {
        protocol: (w >> 48) as u8,
        port: (w >> 32) as u16,
        addr: IpAddr::V4(std::net::Ipv4Addr::from(w as u32)),
    }
}

/// Where an archive shows an end to be a server: what `flowgate sample` keeps so that a
/// sample shows it too. The check records nothing (`()`).
pub trait Witness: Copy + Default {
    /// Whether it records lines at all: without (the check's `()`), an end's update is two
    /// ORs, with no branch on whether this record is the first to show fan-in or flags.
    const LINES: bool = true;
    /// The end's first record is on `line`.
    fn first(line: u64) -> Self;
    /// The end's first record talking to a second remote port is on `line`.
    fn fan_in(&mut self, line: u64);
    /// The end's first record whose tcp-flags show it as the server is on `line`.
    fn flagged(&mut self, line: u64);
}

impl Witness for () {
    const LINES: bool = false;
    #[inline]
    fn first(_: u64) -> Self {}
    #[inline]
    fn fan_in(&mut self, _: u64) {}
    #[inline]
    fn flagged(&mut self, _: u64) {}
}

/// The lines that show an end to be a server in its archive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lines {
    /// Its first record.
    pub first: u64,
    /// Its first record with another remote port than the first (0: none): with `first`,
    /// the two records that give it fan-in.
    pub second: u64,
    /// Its first record whose tcp-flags show it as the server (0: none).
    pub flag: u64,
}

impl Witness for Lines {
    fn first(line: u64) -> Self {
        Lines {
            first: line,
            second: 0,
            flag: 0,
        }
    }

    fn fan_in(&mut self, line: u64) {
        if self.second == 0 {
            self.second = line;
        }
    }

    fn flagged(&mut self, line: u64) {
        if self.flag == 0 {
            self.flag = line;
        }
    }
}

impl Lines {
    /// The fewest records that keep the end a server in a sample: its flags record, or the
    /// two that give it fan-in.
    pub fn witnesses(&self) -> Vec<u64> {
        if self.flag != 0 {
            vec![self.flag]
        } else if self.second != 0 {
            vec![self.first, self.second]
        } else {
            Vec::new()
        }
    }

    /// The two records that give it fan-in, if it has it.
    pub fn fan_in_witnesses(&self) -> Option<[u64; 2]> {
        (self.second != 0).then_some([self.first, self.second])
    }
}

/// What one archive showed about one end.
#[derive(Clone, Copy, Debug, Default)]
struct Seen<W> {
    /// The port of the first remote end it talked to.
    first_remote_port: u16,
    /// It talked to remote ends on at least two different ports: fan-in.
    fan_in: bool,
    /// tcp-flags showed it as a server.
    flagged: bool,
    lines: W,
}

/// Step 2, the one place it is written: which ends the tcp-flags of a record with ports show
/// as the server, SYN-ACK the sender, else SYN the receiver. [`read`] decides by it and
/// [`ArchiveEvidence::observe`] counts by it, so the two cannot disagree.
#[inline(always)]
fn flagged(protocol: u8, tcp_flags: Option<u8>) -> (bool, bool) {
    let f = if protocol == 6 {
        tcp_flags.unwrap_or(0)
    } else {
        0
    };
    (f & 0x10 != 0, f & 0x12 == 0x02)
}

/// What an end's record adds to what the archive showed of it before: fan-in when the
/// remote port is not the first one's, and the flags.
#[inline(always)]
fn update<W: Witness>(remote_port: u16, flagged: bool, line: u64) -> impl FnOnce(&mut Seen<W>) {
    move |s| {
        let differs = s.first_remote_port != remote_port;
        if W::LINES {
            if differs && !s.fan_in {
                s.lines.fan_in(line);
            }
            if flagged && !s.flagged {
                s.lines.flagged(line);
            }
        }
        s.fan_in |= differs;
        s.flagged |= flagged;
    }
}

/// What an end's first record in the archive shows of it.
#[inline(always)]
fn new<W: Witness>(remote_port: u16, flagged: bool, line: u64) -> impl FnOnce() -> Seen<W> {
    move || {
        let mut lines = W::first(line);
        if flagged {
            lines.flagged(line);
        }
        Seen {
            first_remote_port: remote_port,
            fan_in: false,
            flagged,
            lines,
        }
    }
}

impl ArchiveEvidence<()> {
    /// Folds in the evidence of another part of the same archive (a row group of a Parquet
    /// object read on another thread): an end has fan-in over both parts when it has it in
    /// either, or when the parts' first remote ports differ. Order-independent.
    pub fn merge(&mut self, other: ArchiveEvidence<()>) {
        let fold = |mine: &mut Seen<()>, theirs: Seen<()>| {
            mine.fan_in |= theirs.fan_in || mine.first_remote_port != theirs.first_remote_port;
            mine.flagged |= theirs.flagged;
        };
        for (end, &theirs) in other.seen4.iter() {
            self.seen4.upsert(end, |mine| fold(mine, theirs), || theirs);
        }
        for (end, theirs) in other.seen6 {
            self.seen6
                .entry(end)
                .and_modify(|mine| fold(mine, theirs))
                .or_insert(theirs);
        }
    }
}

/// Step 3's evidence: what each end of one archive talked to, and with `W = Lines` where it
/// shows. Memory: one entry per distinct end in the archive (16 bytes for an IPv4 end in the
/// check).
#[derive(Debug)]
pub struct ArchiveEvidence<W = ()> {
    seen4: WordTable<Seen<W>>,
    seen6: FastMap<Endpoint, Seen<W>>,
}

impl<W> Default for ArchiveEvidence<W> {
    fn default() -> Self {
        ArchiveEvidence {
            seen4: WordTable::default(),
            seen6: FastMap::default(),
        }
    }
}

impl<W: Witness> ArchiveEvidence<W> {
    fn get(&self, end: &Endpoint) -> Option<&Seen<W>> {
        match word(end) {
            Some(w) => self.seen4.get(w),
            None => self.seen6.get(end),
        }
    }

    /// Counts the OK record on `line` of the archive: what [`read`] finds of its ends and
    /// flags, read here from the flow's fields. The check calls this for every OK record,
    /// and only the few a policy judges need a [`Reading`]: building one for every record
    /// cost ~40 instructions, and packing each end's word through an [`Endpoint`] ~20 more.
    /// Inlined, with one check for room for both ends, the common record (IPv4 with ports)
    /// costs no call; the rest go out of line.
    #[inline(always)]
    pub fn observe(&mut self, flow: &Flow<'_>, line: u64) {
        let (Some(protocol), Some(sp), Some(dp)) = (flow.protocol, flow.src_port, flow.dst_port)
        else {
            return;
        };
        if !has_ports(protocol) {
            return;
        }
        if let Some(IpAddr::V4(sa)) = flow.src {
            if let Some(IpAddr::V4(da)) = flow.dst {
                if self.seen4.has_room(2) {
                    let (src_flagged, dst_flagged) = flagged(protocol, flow.tcp_flags);
                    let (src, dst) = (word4(protocol, sp, sa), word4(protocol, dp, da));
                    self.seen4.upsert_pair_in_room(
                        (
                            src,
                            update(dp, src_flagged, line),
                            new(dp, src_flagged, line),
                        ),
                        (
                            dst,
                            update(sp, dst_flagged, line),
                            new(sp, dst_flagged, line),
                        ),
                    );
                    return;
                }
            }
        }
        self.observe_other(flow, line);
    }

    /// [`Self::observe`] for the records it leaves: IPv6 ends, a missing address, or a table
    /// about to grow (where each upsert checks for room, as one end at a time always did).
    #[cold]
    #[inline(never)]
    fn observe_other(&mut self, flow: &Flow<'_>, line: u64) {
        let (Some(protocol), Some(sp), Some(dp), Some(sa), Some(da)) = (
            flow.protocol,
            flow.src_port,
            flow.dst_port,
            flow.src,
            flow.dst,
        ) else {
            return;
        };
        let (src_flagged, dst_flagged) = flagged(protocol, flow.tcp_flags);
        let end = |addr, port| Endpoint {
            protocol,
            addr,
            port,
        };
        self.see(end(sa, sp), dp, src_flagged, line);
        self.see(end(da, dp), sp, dst_flagged, line);
    }

    /// One end of any family (IPv6, or a record whose ends differ in family).
    fn see(&mut self, end: Endpoint, remote_port: u16, flagged: bool, line: u64) {
        let (update, new) = (
            update(remote_port, flagged, line),
            new(remote_port, flagged, line),
        );
        match word(&end) {
            Some(w) => self.seen4.upsert(w, update, new),
            None => {
                self.seen6.entry(end).and_modify(update).or_insert_with(new);
            }
        }
    }

    /// Where `end` shows as a server in this archive, if it does.
    pub fn witness(&self, end: &Endpoint) -> Option<W> {
        self.get(end)
            .filter(|s| s.fan_in || s.flagged)
            .map(|s| s.lines)
    }

    /// The ends this archive shows as servers (fan-in or flags), and where.
    pub fn servers(&self) -> impl Iterator<Item = (Endpoint, &W)> {
        let server = |s: &Seen<W>| s.fan_in || s.flagged;
        let v4 = self
            .seen4
            .iter()
            .filter(move |(_, s)| server(s))
            .map(|(w, s)| (unword(w), &s.lines));
        let v6 = self
            .seen6
            .iter()
            .filter(move |(_, s)| server(s))
            .map(|(e, s)| (*e, &s.lines));
        v4.chain(v6)
    }

    /// Whether `end` has fan-in in this archive.
    pub fn fan_in(&self, end: &Endpoint) -> bool {
        self.get(end).is_some_and(|s| s.fan_in)
    }

    /// Step 3: the end with fan-in, when exactly one has it.
    pub fn decide(&self, ends: &Ends) -> Option<Side> {
        match (self.fan_in(&ends.src), self.fan_in(&ends.dst)) {
            (true, false) => Some(Side::Src),
            (false, true) => Some(Side::Dst),
            _ => None,
        }
    }

    /// Forgets everything, keeping the memory for the next archive.
    pub fn clear(&mut self) {
        self.seen4.clear();
        self.seen6.clear();
    }

    /// Distinct ends seen.
    pub fn len(&self) -> usize {
        self.seen4.len() + self.seen6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds this archive's servers (fan-in or flagged) to the run's.
    pub fn add_servers_to(&self, run: &mut RunEvidence) {
        run.servers.extend(self.servers().map(|(e, _)| e));
    }
}

/// Step 4's evidence: the run's servers. Small (services x servers), merged by union.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunEvidence {
    servers: FastSet<Endpoint>,
}

impl RunEvidence {
    pub fn merge(&mut self, other: RunEvidence) {
        if self.servers.len() < other.servers.len() {
            let mine = std::mem::replace(&mut self.servers, other.servers);
            self.servers.extend(mine);
        } else {
            self.servers.extend(other.servers);
        }
    }

    pub fn is_server(&self, end: &Endpoint) -> bool {
        self.servers.contains(end)
    }

    /// Adds a server.
    pub fn insert(&mut self, end: Endpoint) {
        self.servers.insert(end);
    }

    /// The run's servers, in no order.
    pub fn servers(&self) -> impl Iterator<Item = &Endpoint> {
        self.servers.iter()
    }

    pub fn len(&self) -> usize {
        self.servers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// Once every archive is in: the servers, and the service ports they make.
    pub fn seal(self) -> Servers {
        // Per (protocol, port), its two smallest server addresses: a service port has two,
        // and they are what a sample keeps to show it (whatever order servers came in).
        let mut lowest: FastMap<(u8, u16), (IpAddr, Option<IpAddr>)> = FastMap::default();
        for end in &self.servers {
            let a = end.addr;
            lowest
                .entry((end.protocol, end.port))
                .and_modify(|(first, second)| {
                    if a < *first {
                        *second = Some(*first);
                        *first = a;
                    } else if second.is_none_or(|s| a < s) {
                        *second = Some(a);
                    }
                })
                .or_insert((a, None));
        }
        let ports = lowest
            .into_iter()
            .filter_map(|(k, (first, second))| Some((k, [first, second?])))
            .collect();
        Servers {
            ends: self.servers,
            ports,
        }
    }
}

/// The run's servers, sealed: step 4 and what follows.
#[derive(Debug, Default)]
pub struct Servers {
    ends: FastSet<Endpoint>,
    /// (protocol, port) of servers on two or more addresses, with the two lowest addresses.
    ports: FastMap<(u8, u16), [IpAddr; 2]>,
}

impl Servers {
    /// How many ends are servers of the run.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// How many (protocol, port) are service ports of the run.
    pub fn service_ports(&self) -> usize {
        self.ports.len()
    }

    pub fn is_server(&self, end: &Endpoint) -> bool {
        self.ends.contains(end)
    }

    pub fn is_service_port(&self, end: &Endpoint) -> bool {
        self.ports.contains_key(&(end.protocol, end.port))
    }

    /// The two servers that make `end`'s port a service port, if it is one.
    pub fn service_witnesses(&self, end: &Endpoint) -> Option<[Endpoint; 2]> {
        self.ports.get(&(end.protocol, end.port)).map(|addrs| {
            addrs.map(|addr| Endpoint {
                protocol: end.protocol,
                addr,
                port: end.port,
            })
        })
    }

    /// Steps 4-6, for a record step 3 did not decide.
    pub fn decide(&self, ends: &Ends) -> (Side, Basis) {
        match (self.is_server(&ends.src), self.is_server(&ends.dst)) {
            (true, false) => return (Side::Src, Basis::Run),
            (false, true) => return (Side::Dst, Basis::Run),
            _ => {}
        }
        match (
            self.is_service_port(&ends.src),
            self.is_service_port(&ends.dst),
        ) {
            (true, false) => (Side::Src, Basis::ServicePort),
            (false, true) => (Side::Dst, Basis::ServicePort),
            _ => by_ports(ends),
        }
    }
}

/// Steps 3-6 for a record with evidence to consult, given its archive's and the run's.
pub fn decide<W: Witness>(
    ends: &Ends,
    archive: &ArchiveEvidence<W>,
    run: &Servers,
) -> (Side, Basis) {
    match archive.decide(ends) {
        Some(side) => (side, Basis::FanIn),
        None => run.decide(ends),
    }
}

/// A value that records waiting for their side fold into.
pub trait Merge {
    fn merge(&mut self, other: Self);
}

/// Where an archive's records wait for the run's evidence: a [`Pending`] map that sums them
/// by flow, or a [`Held`] list that keeps them as they come.
pub trait Undecided<K, V> {
    fn hold(&mut self, ends: Ends, key: K, value: V);
}

impl<K: Hash + Eq, V: Merge> Undecided<K, V> for Pending<K, V> {
    fn hold(&mut self, ends: Ends, key: K, value: V) {
        self.add(ends, key, value);
    }
}

impl<K, V> Undecided<K, V> for Held<K, V> {
    fn hold(&mut self, ends: Ends, key: K, value: V) {
        self.add(ends, key, value);
    }
}

/// Records waiting for evidence, aggregated by their two ends and the caller's key `K` (for
/// the check: the policies and the addresses they report). Each archive has one; what its end
/// does not decide moves to the run's, which the run's end decides.
///
/// With a hundred failing drafts this is most of the check's memory (issue 21): the run's
/// table holds every flow (both ports) that no archive decided. So two IPv4 ends (nearly
/// every record's) are kept as two words ([`word`]), 16 bytes where [`Ends`] takes 40, and
/// IPv6 ends in a table of their own.
#[derive(Debug)]
pub struct Pending<K, V> {
    waiting4: FastMap<(u64, u64, K), V>,
    waiting6: FastMap<(Ends, K), V>,
}

impl<K, V> Default for Pending<K, V> {
    fn default() -> Self {
        Pending {
            waiting4: FastMap::default(),
            waiting6: FastMap::default(),
        }
    }
}

fn add_to<Q: Hash + Eq, V: Merge>(map: &mut FastMap<Q, V>, key: Q, value: V) {
    match map.entry(key) {
        std::collections::hash_map::Entry::Occupied(mut e) => e.get_mut().merge(value),
        std::collections::hash_map::Entry::Vacant(e) => {
            e.insert(value);
        }
    }
}

/// Folds `other` into `mine`, the smaller into the larger. (No room is reserved first: most
/// of a worker's waiting flows are already in the run's table, and reserving for all of them
/// would double a table that they do not grow.)
fn merge_maps<Q: Hash + Eq, V: Merge>(mine: &mut FastMap<Q, V>, mut other: FastMap<Q, V>) {
    if mine.len() < other.len() {
        std::mem::swap(mine, &mut other);
    }
    for (key, value) in other {
        add_to(mine, key, value);
    }
}

impl<K: Hash + Eq, V: Merge> Pending<K, V> {
    pub fn add(&mut self, ends: Ends, key: K, value: V) {
        match (word(&ends.src), word(&ends.dst)) {
            (Some(s), Some(d)) => add_to(&mut self.waiting4, (s, d, key), value),
            _ => add_to(&mut self.waiting6, (ends, key), value),
        }
    }

    pub fn len(&self) -> usize {
        self.waiting4.len() + self.waiting6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Everything waiting, the table's memory given back as it goes.
    fn drain_all(&mut self) -> impl Iterator<Item = (Ends, K, V)> + '_ {
        let v4 = self.waiting4.drain().map(|((s, d, key), value)| {
            let ends = Ends {
                src: unword(s),
                dst: unword(d),
            };
            (ends, key, value)
        });
        let v6 = self
            .waiting6
            .drain()
            .map(|((ends, key), value)| (ends, key, value));
        v4.chain(v6)
    }

    /// At the end of an archive: hands what its evidence decides to `decided`, and moves the
    /// rest into `undecided` (the run's).
    pub fn settle_archive<W: Witness>(
        &mut self,
        archive: &ArchiveEvidence<W>,
        undecided: &mut impl Undecided<K, V>,
        mut decided: impl FnMut(Side, Basis, Ends, K, V),
    ) {
        for (ends, key, value) in self.drain_all() {
            match archive.decide(&ends) {
                Some(side) => decided(side, Basis::FanIn, ends, key, value),
                None => undecided.hold(ends, key, value),
            }
        }
    }

    /// At the end of the run: decides everything left.
    pub fn settle_run(mut self, run: &Servers, mut decided: impl FnMut(Side, Basis, Ends, K, V)) {
        for (ends, key, value) in self.drain_all() {
            let (side, basis) = run.decide(&ends);
            decided(side, basis, ends, key, value);
        }
    }

    /// Folds another run's (or worker's) waiting records in. Order-independent when `V`'s
    /// merge is.
    pub fn merge(&mut self, other: Pending<K, V>) {
        merge_maps(&mut self.waiting4, other.waiting4);
        merge_maps(&mut self.waiting6, other.waiting6);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flowlog::Flow;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn flow(proto: u8, src: &str, sp: u16, dst: &str, dp: u16, flags: Option<u8>) -> Flow<'static> {
        Flow {
            src: Some(ip(src)),
            dst: Some(ip(dst)),
            src_port: Some(sp),
            dst_port: Some(dp),
            protocol: Some(proto),
            tcp_flags: flags,
            ..Flow::EMPTY
        }
    }

    fn ends(proto: u8, src: &str, sp: u16, dst: &str, dp: u16) -> Ends {
        read(&flow(proto, src, sp, dst, dp, None)).ends.unwrap()
    }

    #[test]
    fn protocols_and_flags_decide_alone() {
        let icmp = read(&flow(1, "10.0.0.1", 0, "10.0.0.2", 0, None));
        assert_eq!(icmp.decided, Some((Side::Dst, Basis::Protocol)));
        assert_eq!(icmp.ends, None);
        let gre = read(&flow(47, "10.0.0.1", 5, "10.0.0.2", 0, None));
        assert_eq!(gre.decided, Some((Side::Dst, Basis::Protocol)));
        // SYN-ACK from a high port: the sender, whatever the ports say.
        let r = read(&flow(6, "10.0.0.1", 50000, "10.0.0.2", 443, Some(18)));
        assert_eq!(r.decided, Some((Side::Src, Basis::Flags)));
        assert!(r.ends.is_some());
        let r = read(&flow(6, "10.0.0.1", 80, "10.0.0.2", 50000, Some(3)));
        assert_eq!(r.decided, Some((Side::Dst, Basis::Flags)));
        // No SYN bit, or not TCP: the evidence decides.
        for r in [
            read(&flow(6, "10.0.0.1", 80, "10.0.0.2", 50000, Some(1))),
            read(&flow(6, "10.0.0.1", 80, "10.0.0.2", 50000, Some(0))),
            read(&flow(17, "10.0.0.1", 53, "10.0.0.2", 50000, Some(18))),
        ] {
            assert_eq!(r.decided, None);
        }
        // Without a port, the ports that are there.
        let mut f = flow(6, "10.0.0.1", 80, "10.0.0.2", 50000, None);
        f.dst_port = None;
        assert_eq!(
            read(&f).decided,
            Some((Side::Dst, Basis::LowerPort)),
            "a missing port makes dst the server"
        );
    }

    #[test]
    fn port_ranges_then_the_lower_port() {
        let by = |sp, dp| by_ports(&ends(6, "10.0.0.1", sp, "10.0.0.2", dp));
        assert_eq!(by(443, 1956), (Side::Src, Basis::PortRange));
        assert_eq!(by(40000, 7311), (Side::Dst, Basis::PortRange));
        assert_eq!(by(1023, 1024), (Side::Src, Basis::PortRange));
        assert_eq!(by(32767, 32768), (Side::Src, Basis::PortRange));
        // Same range: the lower port, dst on a tie.
        assert_eq!(by(1956, 7311), (Side::Src, Basis::LowerPort));
        assert_eq!(by(50000, 49152), (Side::Dst, Basis::LowerPort));
        assert_eq!(by(123, 123), (Side::Dst, Basis::LowerPort));
    }

    /// A load balancer connects from ports in 1024-65535 to an app on 7311: port ranges alone
    /// would make the balancer's 1956 the server; the app's fan-in says otherwise.
    #[test]
    fn fan_in_finds_a_server_on_a_port_no_list_knows() {
        let mut archive = ArchiveEvidence::<()>::default();
        let records = [
            ("10.0.0.106", 1956, "10.0.10.105", 7311),
            ("10.0.10.105", 7311, "10.0.0.106", 1956),
            ("10.0.0.107", 3021, "10.0.10.105", 7311),
        ];
        for (s, sp, d, dp) in records {
            archive.observe(&flow(6, s, sp, d, dp, None), 1);
        }
        let e = ends(6, "10.0.0.106", 1956, "10.0.10.105", 7311);
        assert_eq!(archive.decide(&e), Some(Side::Dst));
        let run = Servers::default();
        assert_eq!(decide(&e, &archive, &run), (Side::Dst, Basis::FanIn));
        // The reply too.
        let r = ends(6, "10.0.10.105", 7311, "10.0.0.106", 1956);
        assert_eq!(decide(&r, &archive, &run), (Side::Src, Basis::FanIn));
        // Alone in another archive, the run's servers decide.
        let mut run = RunEvidence::default();
        archive.add_servers_to(&mut run);
        assert_eq!(run.len(), 1);
        let run = run.seal();
        let quiet = ArchiveEvidence::<()>::default();
        assert_eq!(decide(&e, &quiet, &run), (Side::Dst, Basis::Run));
    }

    /// A NAT gateway reuses its port towards two sites on 443: that end meets one remote
    /// port only, so it gets no fan-in, and the ports decide for the sites.
    #[test]
    fn a_reused_client_port_is_not_fan_in() {
        let mut archive = ArchiveEvidence::<()>::default();
        for (site, nat_port) in [("52.1.1.1", 1956), ("54.2.2.2", 1956)] {
            archive.observe(&flow(6, "10.0.0.50", nat_port, site, 443, None), 1);
            archive.observe(&flow(6, site, 443, "10.0.0.50", nat_port, None), 1);
        }
        let e = ends(6, "10.0.0.50", 1956, "52.1.1.1", 443);
        assert!(!archive.fan_in(&e.src));
        assert_eq!(
            decide(&e, &archive, &Servers::default()),
            (Side::Dst, Basis::PortRange)
        );
    }

    #[test]
    fn flags_make_run_servers() {
        let mut archive = ArchiveEvidence::<()>::default();
        archive.observe(&flow(6, "10.0.0.1", 1956, "10.0.0.2", 7311, Some(2)), 1);
        let mut run = RunEvidence::default();
        archive.add_servers_to(&mut run);
        let server = ends(6, "10.0.0.1", 1956, "10.0.0.2", 7311).dst;
        assert!(run.is_server(&server));
        assert_eq!(run.len(), 1);
        // One server on 7311 is no service port; a second address on it makes one.
        assert_eq!(run.clone().seal().service_ports(), 0);
        archive.clear();
        archive.observe(&flow(6, "10.0.0.1", 2001, "10.0.0.3", 7311, Some(2)), 1);
        archive.add_servers_to(&mut run);
        let sealed = run.seal();
        assert_eq!((sealed.len(), sealed.service_ports()), (2, 1));
        assert!(sealed.is_service_port(&server));
    }

    /// What the evidence was before it read the flow's fields itself: [`read`], then each
    /// end into a `HashMap`, one at a time.
    fn reference(flows: &[(Flow<'static>, u64)]) -> HashMap<Endpoint, Seen<Lines>> {
        let mut seen: HashMap<Endpoint, Seen<Lines>> = HashMap::new();
        for (flow, line) in flows {
            let reading = read(flow);
            let Some(ends) = reading.ends else { continue };
            let flagged = match reading.decided {
                Some((side, Basis::Flags)) => Some(side),
                _ => None,
            };
            for (end, remote, side) in [
                (ends.src, ends.dst.port, Side::Src),
                (ends.dst, ends.src.port, Side::Dst),
            ] {
                let flagged = flagged == Some(side);
                let s = seen.entry(end).or_insert_with(|| Seen {
                    first_remote_port: remote,
                    fan_in: false,
                    flagged: false,
                    lines: Lines::first(*line),
                });
                if !s.fan_in && s.first_remote_port != remote {
                    s.fan_in = true;
                    s.lines.fan_in(*line);
                }
                if flagged && !s.flagged {
                    s.flagged = true;
                    s.lines.flagged(*line);
                }
            }
        }
        seen
    }

    /// Records over a few addresses (both families) and ports, so ends repeat, some fields
    /// missing, every protocol kind and flag.
    fn any_flow() -> impl Strategy<Value = Flow<'static>> {
        let addr = prop_oneof![
            8 => (0u32..300).prop_map(|a| IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 | (a * 7919)))),
            1 => (0u128..20).prop_map(|a| IpAddr::from(std::net::Ipv6Addr::from(0x2001_0db8 << 96 | a))),
        ];
        let port = prop_oneof![0u16..8, Just(443), Just(u16::MAX), any::<u16>()];
        let protocol = prop_oneof![
            Just(6u8),
            Just(17),
            Just(1),
            Just(58),
            Just(132),
            any::<u8>()
        ];
        (
            proptest::option::weighted(0.97, addr.clone()),
            proptest::option::weighted(0.97, addr),
            proptest::option::weighted(0.97, port.clone()),
            proptest::option::weighted(0.97, port),
            proptest::option::weighted(0.97, protocol),
            proptest::option::of(any::<u8>()),
        )
            .prop_map(|(src, dst, src_port, dst_port, protocol, tcp_flags)| Flow {
                src,
                dst,
                src_port,
                dst_port,
                protocol,
                tcp_flags,
                ..Flow::EMPTY
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The evidence, with witness lines and without, holds what the reference holds for
        /// every end, across the tables' growth and a clear.
        #[test]
        fn observe_agrees_with_reading_each_end(
            flows in proptest::collection::vec(any_flow(), 0..3000),
            clear_at in 0usize..3000,
        ) {
            let flows: Vec<(Flow<'static>, u64)> =
                flows.into_iter().zip(1..).collect();
            let mut lines = ArchiveEvidence::<Lines>::default();
            let mut plain = ArchiveEvidence::<()>::default();
            for (n, (flow, line)) in flows.iter().enumerate() {
                if n == clear_at {
                    lines.clear();
                    plain.clear();
                }
                lines.observe(flow, *line);
                plain.observe(flow, *line);
            }
            let kept = if clear_at < flows.len() { clear_at } else { 0 };
            let want = reference(&flows[kept..]);
            prop_assert_eq!(lines.len(), want.len());
            prop_assert_eq!(plain.len(), want.len());
            for (end, w) in &want {
                let got = lines.get(end).expect("every end is seen");
                prop_assert_eq!(
                    (got.first_remote_port, got.fan_in, got.flagged, got.lines),
                    (w.first_remote_port, w.fan_in, w.flagged, w.lines)
                );
                let got = plain.get(end).expect("every end is seen");
                prop_assert_eq!(
                    (got.first_remote_port, got.fan_in, got.flagged),
                    (w.first_remote_port, w.fan_in, w.flagged)
                );
            }
            let mut servers: Vec<(Endpoint, Lines)> =
                lines.servers().map(|(e, l)| (e, *l)).collect();
            servers.sort_unstable();
            let mut expected: Vec<(Endpoint, Lines)> = want
                .iter()
                .filter(|(_, s)| s.fan_in || s.flagged)
                .map(|(e, s)| (*e, s.lines))
                .collect();
            expected.sort_unstable();
            prop_assert_eq!(servers, expected);
        }
    }

    impl Merge for u64 {
        fn merge(&mut self, other: u64) {
            *self += other;
        }
    }

    #[test]
    fn pending_records_settle_at_the_archive_or_the_run() {
        let mut archive = ArchiveEvidence::<()>::default();
        for sp in [40000, 40001] {
            archive.observe(&flow(17, "10.0.0.1", sp, "10.0.0.9", 8125, None), 1);
        }
        let mut pending: Pending<&str, u64> = Pending::default();
        let fanned = ends(17, "10.0.0.1", 40000, "10.0.0.9", 8125);
        let lonely = ends(17, "10.0.0.3", 3000, "10.0.0.4", 2000);
        pending.add(fanned, "a", 1);
        pending.add(fanned, "a", 2);
        pending.add(lonely, "a", 5);
        let mut undecided = Pending::default();
        let mut got = Vec::new();
        pending.settle_archive(&archive, &mut undecided, |side, basis, e, k, v| {
            got.push((side, basis, e, k, v))
        });
        assert_eq!(got, [(Side::Dst, Basis::FanIn, fanned, "a", 3)]);
        assert!(pending.is_empty());
        let mut other = Pending::default();
        other.add(lonely, "a", 1);
        undecided.merge(other);
        let mut got = Vec::new();
        undecided.settle_run(&Servers::default(), |side, basis, e, k, v| {
            got.push((side, basis, e, k, v))
        });
        assert_eq!(got, [(Side::Dst, Basis::LowerPort, lonely, "a", 6)]);
    }
}
