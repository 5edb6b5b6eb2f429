//! The classifier against the reference: for random policies (through the real loader, with
//! `check --base`'s probes among them) and random records, [`Classifier`] gives every policy
//! the verdict and the hit counts that [`Policy::judge`] gives, and its candidates are exactly
//! the policies whose scope holds the record.

use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use time::macros::date;

use super::*;
use crate::flowlog::Direction;
use crate::policy::PolicySet;

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

/// The policies (by index) whose scope holds `f`.
fn in_scope(c: &Classifier, f: &Flow<'_>) -> Vec<usize> {
    let mut look = c.new_lookup();
    c.lookup(f, f.interface.map(id_hash), &mut look);
    let words = look.candidates();
    (0..64 * words.len())
        .filter(|&i| words[i / 64] >> (i % 64) & 1 != 0)
        .collect()
}

#[test]
fn narrows_by_address_port_protocol_and_id() {
    // Sorted by file name: policy i is p00i.
    let s = set(&[
        "[scope]\npeer = '10.20.0.0/16'\n".into(),
        "[scope]\ndst = '10.0.9.0/24'\nprotocol = 'udp'\n".into(),
        "[scope]\ndst_port = [22, '5900-5901']\n".into(),
        "[scope]\ninterface = ['eni-1', 'eni-2']\n".into(),
        "[scope]\npeer = '10.20.0.0/16'\nlocal = '10.0.0.0/24'\npeer_port = 443\n".into(),
        "[scope]\n".into(),
    ]);
    let c = Classifier::new(s.policies(), date!(2026 - 01 - 01));
    let got = |f: &Flow<'_>| in_scope(&c, f);
    assert_eq!(got(&flow("10.0.0.1", "10.20.1.1", 443)), [0, 3, 4, 5]);
    assert_eq!(got(&flow("10.20.1.1", "10.0.0.1", 443)), [0, 3, 5]);
    assert_eq!(got(&flow("10.0.0.1", "10.0.9.1", 5901)), [2, 3, 5]);
    let mut f = flow("10.0.0.1", "10.0.9.1", 53);
    f.protocol = Some(17);
    f.interface = Some("eni-3");
    assert_eq!(got(&f), [1, 5]);
    f.dst = None;
    f.interface = None;
    assert_eq!(got(&f), [5]);
}

#[test]
fn packet_scopes_are_narrowed_by_the_packet_addresses() {
    let s =
        set(&["[scope]\naddresses = 'packet'\npeer = '10.20.0.0/16'\npeer_port = 443\n".into()]);
    let c = Classifier::new(s.policies(), date!(2026 - 01 - 01));
    let mut f = flow("10.0.0.50", "52.1.1.1", 443);
    assert!(in_scope(&c, &f).is_empty());
    f.pkt_dst = Some("10.20.1.1".parse().unwrap());
    assert_eq!(in_scope(&c, &f), [0]);
    // The peer end is the packet's dst: its port is the peer port.
    f.dst_port = Some(80);
    assert!(in_scope(&c, &f).is_empty());
}

#[test]
fn more_than_64_policies_each_have_their_bit() {
    let texts: Vec<String> = (0..150)
        .map(|i| format!("[scope]\ndst = '10.0.{i}.0/24'\n"))
        .collect();
    let s = set(&texts);
    let c = Classifier::new(s.policies(), date!(2026 - 01 - 01));
    for i in [0usize, 5, 63, 64, 100, 149] {
        let f = flow("10.9.0.1", &format!("10.0.{i}.1"), 443);
        assert_eq!(in_scope(&c, &f), [i]);
    }
    assert!(in_scope(&c, &flow("10.9.0.1", "10.0.200.1", 443)).is_empty());
}

#[test]
fn ids_are_compared_as_strings_after_the_hash() {
    let s = set(&["[scope]\nvpc = 'vpc-1'\n".into()]);
    let c = Classifier::new(s.policies(), date!(2026 - 01 - 01));
    let mut f = flow("10.0.0.1", "10.0.0.2", 1);
    f.vpc = Some("vpc-1");
    assert_eq!(in_scope(&c, &f), [0]);
    f.vpc = Some("vpc-2");
    assert!(in_scope(&c, &f).is_empty());
}

// The property test.

fn addr() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        4 => (0u8..4, any::<u8>()).prop_map(|(c, d)| IpAddr::V4(Ipv4Addr::new(10, 0, c, d))),
        1 => any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        2 => (0u16..4, any::<u16>())
            .prop_map(|(a, b)| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, a, 0, 0, 0, b))),
        1 => any::<u8>().prop_map(|d| IpAddr::V6(Ipv4Addr::new(10, 0, 0, d).to_ipv6_mapped())),
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
        1 => Just("'::ffff:0:0/96'".to_string()),
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

/// A policy: a few rules, or (now and then) enough for the rule tree.
fn policy() -> impl Strategy<Value = String> {
    (
        proptest::option::weighted(0.6, list(cidr())),
        proptest::bool::weighted(0.25),
        prop_oneof![4 => 0usize..3, 1 => 9usize..30],
    )
        .prop_flat_map(|(peer, packet, allows)| {
            let has_peer = peer.is_some();
            (
                Just(peer),
                Just(packet),
                keys(has_peer),
                proptest::collection::vec(keys(has_peer), allows),
                proptest::collection::vec((keys(has_peer), any::<bool>()), 0..3),
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

/// Fails on the first record where the classifier (lookup, then `judge` for the candidates
/// only) and the reference (each policy's `judge`) differ in a verdict or a hit count,
/// naming the policy and the record.
fn agree(policies: &[Policy], flows: &[Flow<'_>]) -> Result<(), TestCaseError> {
    let today = date!(2026 - 01 - 01);
    let c = Classifier::new(policies, today);
    let mut look = c.new_lookup();
    for f in flows {
        c.lookup(f, f.interface.map(id_hash), &mut look);
        for (i, p) in policies.iter().enumerate() {
            let hits = || (vec![0; p.allows.len()], vec![0; p.waivers.len()]);
            let (mut want_a, mut want_w) = hits();
            let want = p.judge(f, today, &mut want_a, &mut want_w);
            let (mut got_a, mut got_w) = hits();
            let got = if look.candidates()[i / 64] >> (i % 64) & 1 == 0 {
                Verdict::OutOfScope
            } else {
                c.judge(i, &look, f, &mut got_a, &mut got_w)
            };
            let why = || format!("policy {i} ({p:?}), record {f:?}");
            prop_assert_eq!(got, want, "{}", why());
            prop_assert_eq!((got_a, got_w), (want_a, want_w), "{}", why());
        }
    }
    Ok(())
}

/// The policies and, for some of their allow rules, the probe `check --base` judges with them.
fn with_probes(s: &PolicySet, probes: &[usize]) -> Vec<Policy> {
    let mut out = s.policies().to_vec();
    for (p, &k) in s.policies().iter().zip(probes) {
        if !p.allows.is_empty() {
            out.push(p.probe(k % p.allows.len()));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn the_classifier_judges_as_each_policy_does(
        policies in proptest::collection::vec(policy(), 1..8),
        probes in proptest::collection::vec(any::<usize>(), 0..3),
        records in proptest::collection::vec(record(), 1..40),
    ) {
        let s = set(&policies);
        let all = with_probes(&s, &probes);
        let flows: Vec<Flow<'_>> = records.iter().map(to_flow).collect();
        agree(&all, &flows)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn the_classifier_judges_as_each_policy_does_past_64_policies(
        policies in proptest::collection::vec(policy(), 65..140),
        records in proptest::collection::vec(record(), 1..60),
    ) {
        let s = set(&policies);
        let flows: Vec<Flow<'_>> = records.iter().map(to_flow).collect();
        agree(s.policies(), &flows)?;
    }
}
