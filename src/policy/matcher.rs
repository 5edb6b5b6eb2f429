//! Compiled predicates: the matching keys of a scope, allow rule or waiver, ready for the record loop.
//!
//! A [`Matcher`] holds one optional set per matching key; keys are ANDed, the values inside a
//! set are ORed, and a key the record cannot answer (`-`, or a field the format lacks) does not
//! match. A record is presented as a [`Subject`]: its addresses already chosen (interface or
//! packet addresses) and converted to integers, and its peer end already resolved against the
//! scope, so each rule costs a few bit tests and binary searches and allocates nothing.

use std::fmt;

use crate::flowlog::{Action, Direction, Flow};

use super::sets::{AddrSet, Bits, IdSet, Ip, PortSet, ProtoSet};

/// A matching key, as written in a policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    Src,
    Dst,
    Peer,
    Local,
    SrcPort,
    DstPort,
    PeerPort,
    LocalPort,
    Protocol,
    Interface,
    Vpc,
    Subnet,
    Instance,
    Direction,
    Action,
}

impl Key {
    pub const ALL: [Key; 15] = [
        Key::Src,
        Key::Dst,
        Key::Peer,
        Key::Local,
        Key::SrcPort,
        Key::DstPort,
        Key::PeerPort,
        Key::LocalPort,
        Key::Protocol,
        Key::Interface,
        Key::Vpc,
        Key::Subnet,
        Key::Instance,
        Key::Direction,
        Key::Action,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Key::Src => "src",
            Key::Dst => "dst",
            Key::Peer => "peer",
            Key::Local => "local",
            Key::SrcPort => "src_port",
            Key::DstPort => "dst_port",
            Key::PeerPort => "peer_port",
            Key::LocalPort => "local_port",
            Key::Protocol => "protocol",
            Key::Interface => "interface",
            Key::Vpc => "vpc",
            Key::Subnet => "subnet",
            Key::Instance => "instance",
            Key::Direction => "direction",
            Key::Action => "action",
        }
    }

    pub fn from_name(name: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Where the key's compiled set lives in a [`Matcher`]: the one mapping from keys to
    /// slots, shared by the loader that fills them and lint that compares them.
    pub fn slot(self) -> Slot {
        match self {
            Key::Src => Slot::Addr(End::Src),
            Key::Dst => Slot::Addr(End::Dst),
            Key::Peer => Slot::Addr(End::Peer),
            Key::Local => Slot::Addr(End::Local),
            Key::SrcPort => Slot::Port(End::Src),
            Key::DstPort => Slot::Port(End::Dst),
            Key::PeerPort => Slot::Port(End::Peer),
            Key::LocalPort => Slot::Port(End::Local),
            Key::Protocol => Slot::Protocol,
            Key::Interface => Slot::Id(IdKind::Interface),
            Key::Vpc => Slot::Id(IdKind::Vpc),
            Key::Subnet => Slot::Id(IdKind::Subnet),
            Key::Instance => Slot::Id(IdKind::Instance),
            Key::Direction => Slot::Direction,
            Key::Action => Slot::Action,
        }
    }

    /// Keys that speak of the peer or local end, and so need a `peer` scope.
    pub fn needs_peer_scope(self) -> bool {
        matches!(
            self,
            Key::Peer | Key::Local | Key::PeerPort | Key::LocalPort
        )
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which end of a record: the slots of the address and port arrays of a [`Matcher`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Src = 0,
    Dst = 1,
    Peer = 2,
    Local = 3,
}

/// Which id: the slots of the id array of a [`Matcher`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdKind {
    Interface = 0,
    Vpc = 1,
    Subnet = 2,
    Instance = 3,
}

impl IdKind {
    pub const ALL: [IdKind; 4] = [
        IdKind::Interface,
        IdKind::Vpc,
        IdKind::Subnet,
        IdKind::Instance,
    ];

    /// How every id of this kind starts (`eni-`), and what it is called.
    pub fn prefix(self) -> (&'static str, &'static str) {
        match self {
            IdKind::Interface => ("eni-", "a network interface id"),
            IdKind::Vpc => ("vpc-", "a VPC id"),
            IdKind::Subnet => ("subnet-", "a subnet id"),
            IdKind::Instance => ("i-", "an instance id"),
        }
    }

    /// Whether `id` is written as flow logs write ids of this kind: the prefix, then letters
    /// and digits. Anything else could never match a record.
    pub fn accepts(self, id: &str) -> bool {
        let body = id.strip_prefix(self.prefix().0).unwrap_or("");
        !body.is_empty() && body.bytes().all(|b| b.is_ascii_alphanumeric())
    }
}

/// A field of a [`Matcher`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    Addr(End),
    Port(End),
    Protocol,
    Id(IdKind),
    Direction,
    Action,
}

/// The bit of a direction in a direction set.
pub fn direction_bit(d: Direction) -> u8 {
    match d {
        Direction::Ingress => 0,
        Direction::Egress => 1,
    }
}

/// The bit of an action in an action set.
pub fn action_bit(a: Action) -> u8 {
    match a {
        Action::Accept => 0,
        Action::Reject => 1,
    }
}

/// A record as one policy sees it.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'f, 'a> {
    pub flow: &'f Flow<'a>,
    /// The addresses the policy matches on (interface or packet addresses).
    pub src: Option<Ip>,
    pub dst: Option<Ip>,
    /// Whether the peer end is dst (`Some(true)`), src (`Some(false)`), or unknown because the
    /// scope names no peer networks or neither end is in them (`None`: peer keys never match).
    pub peer_is_dst: Option<bool>,
}

impl Subject<'_, '_> {
    #[inline]
    pub(crate) fn addr(&self, end: usize) -> Option<Ip> {
        match end {
            0 => self.src,
            1 => self.dst,
            2 => self
                .peer_is_dst
                .and_then(|d| if d { self.dst } else { self.src }),
            _ => self
                .peer_is_dst
                .and_then(|d| if d { self.src } else { self.dst }),
        }
    }

    #[inline]
    pub(crate) fn port(&self, end: usize) -> Option<u16> {
        let f = self.flow;
        match end {
            0 => f.src_port,
            1 => f.dst_port,
            2 => self
                .peer_is_dst
                .and_then(|d| if d { f.dst_port } else { f.src_port }),
            _ => self
                .peer_is_dst
                .and_then(|d| if d { f.src_port } else { f.dst_port }),
        }
    }

    #[inline]
    pub(crate) fn id(&self, kind: usize) -> Option<&str> {
        let f = self.flow;
        match kind {
            0 => f.interface,
            1 => f.vpc,
            2 => f.subnet,
            _ => f.instance,
        }
    }
}

/// The compiled keys of one scope or rule. A key that is `None` was not written: it matches
/// every record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Matcher {
    /// Indexed by [`End`].
    pub(crate) addrs: [Option<AddrSet>; 4],
    /// Indexed by [`End`].
    pub(crate) ports: [Option<PortSet>; 4],
    pub(crate) protocol: Option<ProtoSet>,
    /// Indexed by [`IdKind`].
    pub(crate) ids: [Option<IdSet>; 4],
    /// Bits by [`direction_bit`].
    pub(crate) direction: Option<Bits>,
    /// Bits by [`action_bit`]; a record without an action counts as ACCEPT.
    pub(crate) action: Option<Bits>,
}

impl Matcher {
    /// Whether the record matches every key. Cheap tests first: bit sets, then address ranges
    /// (the key that tells rules apart most often, so most rules fail there), then port ranges,
    /// then string ids. Always inlined: `judge` calls it for the scope and every allow rule of
    /// each candidate, and a rule writes few keys, so the call's register saves and restores
    /// cost about as much as the tests.
    #[inline(always)]
    pub fn matches(&self, s: &Subject<'_, '_>) -> bool {
        let f = s.flow;
        if let Some(set) = &self.protocol {
            if !f.protocol.is_some_and(|p| set.contains(p)) {
                return false;
            }
        }
        if let Some(set) = self.action {
            if !set.contains(action_bit(f.action.unwrap_or(Action::Accept))) {
                return false;
            }
        }
        if let Some(set) = self.direction {
            if !f.direction.is_some_and(|d| set.contains(direction_bit(d))) {
                return false;
            }
        }
        for (end, set) in self.addrs.iter().enumerate() {
            if let Some(set) = set {
                if !s.addr(end).is_some_and(|a| set.contains(a)) {
                    return false;
                }
            }
        }
        for (end, set) in self.ports.iter().enumerate() {
            if let Some(set) = set {
                if !s.port(end).is_some_and(|p| set.contains(p)) {
                    return false;
                }
            }
        }
        for (kind, set) in self.ids.iter().enumerate() {
            if let Some(set) = set {
                if !s.id(kind).is_some_and(|id| set.contains(id)) {
                    return false;
                }
            }
        }
        true
    }

    /// The keys written that the record fails, in [`Key`] order: empty exactly when
    /// [`Matcher::matches`] holds. Not for the record loop (it tests every key and allocates);
    /// `explain` uses it to say which keys kept a rule from matching.
    pub fn failing_keys(&self, s: &Subject<'_, '_>) -> Vec<Key> {
        let f = s.flow;
        Key::ALL
            .into_iter()
            .filter(|&key| {
                let holds = match key.slot() {
                    Slot::Addr(end) => self.addrs[end as usize]
                        .as_ref()
                        .map(|set| s.addr(end as usize).is_some_and(|a| set.contains(a))),
                    Slot::Port(end) => self.ports[end as usize]
                        .as_ref()
                        .map(|set| s.port(end as usize).is_some_and(|p| set.contains(p))),
                    Slot::Protocol => self
                        .protocol
                        .as_ref()
                        .map(|set| f.protocol.is_some_and(|p| set.contains(p))),
                    Slot::Id(kind) => self.ids[kind as usize]
                        .as_ref()
                        .map(|set| s.id(kind as usize).is_some_and(|id| set.contains(id))),
                    Slot::Direction => self
                        .direction
                        .map(|set| f.direction.is_some_and(|d| set.contains(direction_bit(d)))),
                    Slot::Action => self
                        .action
                        .map(|set| set.contains(action_bit(f.action.unwrap_or(Action::Accept)))),
                };
                holds == Some(false)
            })
            .collect()
    }

    /// The keys written, in [`Key`] order.
    pub fn keys(&self) -> Vec<Key> {
        Key::ALL.into_iter().filter(|&k| self.has(k)).collect()
    }

    pub fn has(&self, key: Key) -> bool {
        match key.slot() {
            Slot::Addr(end) => self.addrs[end as usize].is_some(),
            Slot::Port(end) => self.ports[end as usize].is_some(),
            Slot::Protocol => self.protocol.is_some(),
            Slot::Id(kind) => self.ids[kind as usize].is_some(),
            Slot::Direction => self.direction.is_some(),
            Slot::Action => self.action.is_some(),
        }
    }

    /// Whether no key is written: the matcher matches every record.
    pub fn is_empty(&self) -> bool {
        Key::ALL.into_iter().all(|k| !self.has(k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipnet::IpNet;
    use proptest::prelude::*;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    fn flow<'a>() -> Flow<'a> {
        Flow {
            action: Some(Action::Accept),
            src: Some("10.0.0.1".parse().unwrap()),
            dst: Some("10.20.30.40".parse().unwrap()),
            src_port: Some(50000),
            dst_port: Some(443),
            protocol: Some(6),
            direction: Some(Direction::Ingress),
            interface: Some("eni-1"),
            vpc: Some("vpc-1"),
            ..Flow::EMPTY
        }
    }

    fn subject<'f, 'a>(f: &'f Flow<'a>, peer_is_dst: Option<bool>) -> Subject<'f, 'a> {
        Subject {
            flow: f,
            src: f.src.map(Ip::from),
            dst: f.dst.map(Ip::from),
            peer_is_dst,
        }
    }

    fn nets(s: &[&str]) -> AddrSet {
        let v: Vec<IpNet> = s.iter().map(|s| s.parse().unwrap()).collect();
        AddrSet::from_nets(&v)
    }

    #[test]
    fn empty_matcher_matches_everything() {
        let f = flow();
        assert!(Matcher::default().matches(&subject(&f, None)));
        assert!(Matcher::default().is_empty());
    }

    #[test]
    fn keys_are_anded() {
        let f = flow();
        let mut m = Matcher::default();
        m.addrs[End::Dst as usize] = Some(nets(&["10.20.0.0/16"]));
        m.protocol = Some(ProtoSet::from_numbers([6]));
        assert!(m.matches(&subject(&f, None)));
        m.ports[End::Dst as usize] = Some(PortSet::from_ranges([(80, 80)]));
        assert!(!m.matches(&subject(&f, None)));
        assert_eq!(m.keys(), [Key::Dst, Key::DstPort, Key::Protocol]);
        assert_eq!(m.failing_keys(&subject(&f, None)), [Key::DstPort]);
    }

    #[test]
    fn peer_keys_follow_the_resolved_end() {
        let f = flow();
        let mut m = Matcher::default();
        m.ports[End::Peer as usize] = Some(PortSet::from_ranges([(443, 443)]));
        m.addrs[End::Local as usize] = Some(nets(&["10.0.0.0/24"]));
        assert!(m.matches(&subject(&f, Some(true))));
        assert!(!m.matches(&subject(&f, Some(false))));
        assert!(!m.matches(&subject(&f, None)), "no peer end, no match");
    }

    #[test]
    fn missing_values_do_not_match() {
        let mut f = flow();
        f.dst_port = None;
        f.direction = None;
        f.vpc = None;
        let mut m = Matcher::default();
        m.ports[End::Dst as usize] = Some(PortSet::full());
        assert!(!m.matches(&subject(&f, None)));
        let m = Matcher {
            direction: Some(Bits(0b11)),
            ..Matcher::default()
        };
        assert!(!m.matches(&subject(&f, None)));
        let mut m = Matcher::default();
        m.ids[IdKind::Vpc as usize] = Some(IdSet::from_ids(["vpc-1"]));
        assert!(!m.matches(&subject(&f, None)));
    }

    #[test]
    fn absent_action_counts_as_accept() {
        let mut f = flow();
        f.action = None;
        let m = Matcher {
            action: Some(Bits(1 << action_bit(Action::Accept))),
            ..Matcher::default()
        };
        assert!(m.matches(&subject(&f, None)));
        f.action = Some(Action::Reject);
        assert!(!m.matches(&subject(&f, None)));
    }

    // The property test: compiled matchers agree with a naive reading of the same rule.

    /// A rule as written: plain lists, checked the obvious way.
    #[derive(Clone, Debug)]
    struct NaiveRule {
        addrs: [Option<Vec<IpNet>>; 4],
        ports: [Option<Vec<(u16, u16)>>; 4],
        protocol: Option<Vec<u8>>,
        ids: [Option<Vec<String>>; 4],
        direction: Option<Vec<Direction>>,
        action: Option<Vec<Action>>,
    }

    impl NaiveRule {
        fn compile(&self) -> Matcher {
            Matcher {
                addrs: self
                    .addrs
                    .clone()
                    .map(|o| o.map(|v| AddrSet::from_nets(&v))),
                ports: self.ports.clone().map(|o| o.map(PortSet::from_ranges)),
                protocol: self.protocol.clone().map(ProtoSet::from_numbers),
                ids: self.ids.clone().map(|o| o.map(IdSet::from_ids)),
                direction: self
                    .direction
                    .as_ref()
                    .map(|v| Bits(v.iter().fold(0, |b, &d| b | 1 << direction_bit(d)))),
                action: self
                    .action
                    .as_ref()
                    .map(|v| Bits(v.iter().fold(0, |b, &a| b | 1 << action_bit(a)))),
            }
        }

        fn matches(&self, f: &Flow<'_>, peer_is_dst: Option<bool>) -> bool {
            let end_addr = |end: usize| match (end, peer_is_dst) {
                (0, _) => f.src,
                (1, _) => f.dst,
                (2, Some(true)) | (3, Some(false)) => f.dst,
                (2, Some(false)) | (3, Some(true)) => f.src,
                _ => None,
            };
            let end_port = |end: usize| match (end, peer_is_dst) {
                (0, _) => f.src_port,
                (1, _) => f.dst_port,
                (2, Some(true)) | (3, Some(false)) => f.dst_port,
                (2, Some(false)) | (3, Some(true)) => f.src_port,
                _ => None,
            };
            let ids = [f.interface, f.vpc, f.subnet, f.instance];
            (0..4).all(|e| {
                self.addrs[e].as_ref().is_none_or(|nets| {
                    end_addr(e).is_some_and(|a| nets.iter().any(|n| n.contains(&a)))
                })
            }) && (0..4).all(|e| {
                self.ports[e].as_ref().is_none_or(|rs| {
                    end_port(e).is_some_and(|p| rs.iter().any(|&(lo, hi)| lo <= p && p <= hi))
                })
            }) && self
                .protocol
                .as_ref()
                .is_none_or(|ps| f.protocol.is_some_and(|p| ps.contains(&p)))
                && (0..4).all(|k| {
                    self.ids[k]
                        .as_ref()
                        .is_none_or(|v| ids[k].is_some_and(|id| v.iter().any(|x| x == id)))
                })
                && self
                    .direction
                    .as_ref()
                    .is_none_or(|ds| f.direction.is_some_and(|d| ds.contains(&d)))
                && self
                    .action
                    .as_ref()
                    .is_none_or(|acts| acts.contains(&f.action.unwrap_or(Action::Accept)))
        }
    }

    // Small value spaces, so random records hit random rules often enough to test both answers.
    fn addr() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            3 => (0u8..4, any::<u8>()).prop_map(|(c, d)| IpAddr::V4(Ipv4Addr::new(10, 0, c, d))),
            1 => (0u16..4, any::<u16>())
                .prop_map(|(a, b)| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, a, 0, 0, 0, b))),
        ]
    }

    fn net() -> impl Strategy<Value = IpNet> {
        prop_oneof![
            (addr(), 0u8..=32).prop_filter_map("v4", |(a, len)| match a {
                IpAddr::V4(_) => IpNet::new(a, len.max(20)).ok().map(|n| n.trunc()),
                IpAddr::V6(_) => None,
            }),
            (addr(), 0u8..=128).prop_filter_map("v6", |(a, len)| match a {
                IpAddr::V6(_) => IpNet::new(a, len.max(100)).ok().map(|n| n.trunc()),
                IpAddr::V4(_) => None,
            }),
            Just("0.0.0.0/0".parse().unwrap()),
        ]
    }

    fn port() -> impl Strategy<Value = u16> {
        prop_oneof![0u16..20, Just(443), Just(65535), 65530u16..=65535]
    }

    fn port_range() -> impl Strategy<Value = (u16, u16)> {
        (port(), port()).prop_map(|(a, b)| (a.min(b), a.max(b)))
    }

    fn id() -> impl Strategy<Value = String> {
        prop_oneof![Just("eni-a"), Just("eni-b"), Just("vpc-1"), Just("x")].prop_map(String::from)
    }

    fn list<T: std::fmt::Debug + Clone>(
        s: impl Strategy<Value = T>,
    ) -> impl Strategy<Value = Option<Vec<T>>> {
        proptest::option::of(proptest::collection::vec(s, 1..4))
    }

    fn direction() -> impl Strategy<Value = Direction> {
        prop_oneof![Just(Direction::Ingress), Just(Direction::Egress)]
    }

    fn action() -> impl Strategy<Value = Action> {
        prop_oneof![Just(Action::Accept), Just(Action::Reject)]
    }

    fn rule() -> impl Strategy<Value = NaiveRule> {
        (
            [list(net()), list(net()), list(net()), list(net())],
            [
                list(port_range()),
                list(port_range()),
                list(port_range()),
                list(port_range()),
            ],
            list(prop_oneof![Just(6u8), Just(17), Just(1), any::<u8>()]),
            [list(id()), list(id()), list(id()), list(id())],
            list(direction()),
            list(action()),
        )
            .prop_map(
                |(addrs, ports, protocol, ids, direction, action)| NaiveRule {
                    addrs,
                    ports,
                    protocol,
                    ids,
                    direction,
                    action,
                },
            )
    }

    type Record = (
        [Option<IpAddr>; 2],
        [Option<u16>; 2],
        Option<u8>,
        [Option<String>; 4],
        Option<Direction>,
        Option<Action>,
    );

    fn record() -> impl Strategy<Value = Record> {
        use proptest::option::weighted as maybe;
        (
            [maybe(0.9, addr()), maybe(0.9, addr())],
            [maybe(0.9, port()), maybe(0.9, port())],
            maybe(0.9, prop_oneof![Just(6u8), Just(17), any::<u8>()]),
            [
                maybe(0.8, id()),
                maybe(0.8, id()),
                maybe(0.8, id()),
                maybe(0.8, id()),
            ],
            maybe(0.8, direction()),
            maybe(0.8, action()),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn compiled_matcher_agrees_with_naive_rule(
            rule in rule(),
            records in proptest::collection::vec((record(), proptest::option::of(any::<bool>())), 1..16),
        ) {
            let m = rule.compile();
            for (((src, dst), ports, protocol, ids, direction, action), peer_is_dst) in
                records.iter().map(|(r, p)| (((r.0[0], r.0[1]), r.1, r.2, &r.3, r.4, r.5), *p))
            {
                let mut f = flow();
                f.src = src;
                f.dst = dst;
                f.src_port = ports[0];
                f.dst_port = ports[1];
                f.protocol = protocol;
                f.interface = ids[0].as_deref();
                f.vpc = ids[1].as_deref();
                f.subnet = ids[2].as_deref();
                f.instance = ids[3].as_deref();
                f.direction = direction;
                f.action = action;
                let s = Subject { flow: &f, src: src.map(Ip::from), dst: dst.map(Ip::from), peer_is_dst };
                prop_assert_eq!(m.matches(&s), rule.matches(&f, peer_is_dst), "{:?}", f);
                // What explain says failed is empty exactly when the rule matches.
                prop_assert_eq!(m.failing_keys(&s).is_empty(), m.matches(&s), "{:?}", f);
            }
        }
    }
}
