//! What makes two records the same for every verdict, and the per-record coin flip.
//!
//! A policy's verdict for a record depends only on the fields its keys can name: addresses
//! (interface and packet ones), ports, protocol, action, interface, vpc, subnet, instance and
//! flow direction. Of the ports, only the server's counts here: policies that match on client
//! ports are outside the sampling promise (client ports are ephemeral, and keeping every one
//! would keep almost every record). Two records that agree on the rest get the same verdict
//! from every other policy, so keeping one record per [`combination`] keeps every verdict, every
//! would-be-blocked conversation and every allow-rule hit of the full input.
//!
//! Combinations are stored as 128-bit hashes, never as strings: memory grows with the number
//! of distinct combinations, at 16 bytes (plus the map's overhead) each.

use std::net::{IpAddr, Ipv4Addr};

use crate::engine::conversation_key;
use crate::flowlog::{Action, Direction, Flow, LogStatus};

/// A combination of the fields that decide verdicts, as a 128-bit hash.
pub type Combination = u128;

/// Whether the check's conversation rule (`engine::conversation_key`) makes the sender the
/// server. Asked through the rule itself, with two marker addresses, so the sample and the
/// check can never disagree on it; the rule looks only at protocol, tcp-flags and ports.
pub fn server_is_src(flow: &Flow<'_>) -> bool {
    const SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(0, 0, 0, 1));
    const DST: IpAddr = IpAddr::V4(Ipv4Addr::new(0, 0, 0, 2));
    conversation_key((Some(SRC), Some(DST)), flow).server == Some(SRC)
}

/// The verdict-deciding fields of a record, hashed. The conversation (protocol, client,
/// server, server port) is taken on `srcaddr`/`dstaddr` and on the packet addresses, so
/// policies with `addresses = "packet"` are covered too; the server's side (src or dst) is
/// part of it, because `src_port = 443` matches replies and `dst_port = 443` requests.
pub fn combination(flow: &Flow<'_>) -> Combination {
    let mut h = blake3::Hasher::new();
    let status = match flow.status {
        LogStatus::Ok => 0u8,
        LogStatus::NoData => 1,
        LogStatus::SkipData => 2,
    };
    let action = match flow.action {
        None => 0u8,
        Some(Action::Accept) => 1,
        Some(Action::Reject) => 2,
    };
    let direction = match flow.direction {
        None => 0u8,
        Some(Direction::Ingress) => 1,
        Some(Direction::Egress) => 2,
    };
    let src_server = server_is_src(flow);
    let server_port = if src_server {
        flow.src_port
    } else {
        flow.dst_port
    };
    h.update(&[
        status,
        action,
        direction,
        u8::from(src_server),
        flow.protocol.map_or(0, |_| 1),
        flow.protocol.unwrap_or(0),
    ]);
    put_port(&mut h, server_port);
    for addr in [
        flow.src,
        flow.dst,
        // What `addresses = "packet"` policies see: the packet address, else the interface's.
        flow.pkt_src.or(flow.src),
        flow.pkt_dst.or(flow.dst),
    ] {
        put_addr(&mut h, addr);
    }
    for id in [flow.interface, flow.vpc, flow.subnet, flow.instance] {
        put_text(&mut h, id);
    }
    let bytes = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&bytes.as_bytes()[..16]);
    u128::from_le_bytes(out)
}

fn put_port(h: &mut blake3::Hasher, port: Option<u16>) {
    match port {
        None => h.update(&[0]),
        Some(p) => h.update(&[1]).update(&p.to_le_bytes()),
    };
}

fn put_addr(h: &mut blake3::Hasher, addr: Option<IpAddr>) {
    match addr {
        None => h.update(&[0]),
        Some(IpAddr::V4(a)) => h.update(&[4]).update(&a.octets()),
        Some(IpAddr::V6(a)) => h.update(&[6]).update(&a.octets()),
    };
}

/// Length-prefixed, so `("ab", "c")` and `("a", "bc")` differ.
fn put_text(h: &mut blake3::Hasher, text: Option<&str>) {
    match text {
        None => h.update(&[0]),
        Some(t) => h
            .update(&[1])
            .update(&(t.len() as u32).to_le_bytes())
            .update(t.as_bytes()),
    };
}

/// The per-archive half of the record hash: the seed and the archive's path relative to its
/// `--logs` root, so the same input sampled from another directory gives the same sample.
pub fn archive_salt(seed: u64, relative_path: &str) -> u64 {
    let mut h = blake3::Hasher::new();
    h.update(b"flowgate sample record v1\0")
        .update(&seed.to_le_bytes())
        .update(relative_path.as_bytes());
    let mut out = [0u8; 8];
    out.copy_from_slice(&h.finalize().as_bytes()[..8]);
    u64::from_le_bytes(out)
}

/// The record's coin: uniform over `u64`, a function of (seed, archive path, line) only, so
/// the decision never depends on which thread read the archive or in what order.
#[inline]
pub fn record_hash(salt: u64, line: u64) -> u64 {
    // splitmix64's finaliser: cheap, and every input bit reaches every output bit.
    let mut z = salt ^ line.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The coin threshold for a rate: a record is kept by rate when its hash is below it.
/// `None` keeps every record (rate 1).
pub fn threshold(rate: f64) -> Option<u64> {
    if rate >= 1.0 {
        None
    } else if rate <= 0.0 {
        Some(0)
    } else {
        // Exact enough: f64 has 53 bits, and rates below 2^-53 round to keeping nothing.
        Some((rate * 18_446_744_073_709_551_616.0) as u64)
    }
}

/// Whether a record whose hash is `h` is kept by the rate.
#[inline]
pub fn kept_by_rate(h: u64, threshold: Option<u64>) -> bool {
    threshold.is_none_or(|t| h < t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flowlog::Format;

    fn parse(line: &str) -> Flow<'_> {
        let f = Box::leak(Box::new(Format::from_header_line(b"version interface-id srcaddr dstaddr srcport dstport protocol action log-status tcp-flags flow-direction pkt-srcaddr pkt-dstaddr").unwrap().unwrap()));
        Flow::parse(f, line.as_bytes()).unwrap()
    }

    #[test]
    fn client_ports_do_not_matter_and_the_rest_does() {
        let a = parse("5 eni-1 10.0.0.1 10.0.0.2 50000 443 6 ACCEPT OK 0 egress - -");
        let b = parse("5 eni-1 10.0.0.1 10.0.0.2 50001 443 6 ACCEPT OK 0 egress - -");
        assert_eq!(combination(&a), combination(&b));
        for other in [
            "5 eni-2 10.0.0.1 10.0.0.2 50000 443 6 ACCEPT OK 0 egress - -",
            "5 eni-1 10.0.0.1 10.0.0.2 50000 443 6 REJECT OK 0 egress - -",
            "5 eni-1 10.0.0.1 10.0.0.2 50000 443 6 ACCEPT OK 0 ingress - -",
            "5 eni-1 10.0.0.1 10.0.0.2 50000 443 17 ACCEPT OK 0 egress - -",
            "5 eni-1 10.0.0.1 10.0.0.3 50000 443 6 ACCEPT OK 0 egress - -",
            "5 eni-1 10.0.0.1 10.0.0.2 50000 443 6 ACCEPT OK 0 egress 10.9.9.9 -",
            // The reply: same conversation, but the server is now the sender.
            "5 eni-1 10.0.0.2 10.0.0.1 443 50000 6 ACCEPT OK 0 egress - -",
        ] {
            assert_ne!(combination(&a), combination(&parse(other)), "{other}");
        }
    }

    #[test]
    fn the_server_side_follows_the_check() {
        assert!(!server_is_src(&parse(
            "5 eni-1 10.0.0.1 10.0.0.2 50000 443 6 ACCEPT OK 2 egress - -"
        )));
        assert!(server_is_src(&parse(
            "5 eni-1 10.0.0.1 10.0.0.2 50000 443 6 ACCEPT OK 18 egress - -"
        )));
        assert!(server_is_src(&parse(
            "5 eni-1 10.0.0.1 10.0.0.2 443 50000 6 ACCEPT OK 0 egress - -"
        )));
    }

    #[test]
    fn the_coin_is_uniform_enough_and_stable() {
        let salt = archive_salt(7, "AWSLogs/1/x.log.gz");
        assert_eq!(salt, archive_salt(7, "AWSLogs/1/x.log.gz"));
        assert_ne!(salt, archive_salt(8, "AWSLogs/1/x.log.gz"));
        let t = threshold(0.1);
        let kept = (0..100_000)
            .filter(|&l| kept_by_rate(record_hash(salt, l), t))
            .count();
        assert!((9_000..11_000).contains(&kept), "{kept}");
        assert_eq!(threshold(1.0), None);
        assert_eq!(threshold(0.0), Some(0));
    }
}
