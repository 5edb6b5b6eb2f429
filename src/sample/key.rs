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
//! Which end is the server comes from the run's evidence (`engine::server`), often known only
//! at the end of the record's archive or of the run, so a combination is built in two steps:
//! the [`partial`] hash of everything but the server, then the [`combination`] of that with
//! the server's side and port.
//!
//! Combinations are stored as 128-bit hashes, never as strings: memory grows with the number
//! of distinct combinations, at 16 bytes (plus the map's overhead) each.

use std::net::IpAddr;

use super::pseudonym::Pseudonymiser;
use crate::engine::server::Side;
use crate::flowlog::{Action, Direction, Flow, LogStatus};

/// A combination of the fields that decide verdicts, as a 128-bit hash.
pub type Combination = u128;

/// The fields of a combination that do not depend on which end is the server, hashed.
pub type Partial = u128;

/// The verdict-deciding fields of a record but the server's side and port, hashed: status,
/// action, direction, protocol, both addresses on `srcaddr`/`dstaddr` and on the packet
/// addresses (so policies with `addresses = "packet"` are covered too), and the ids, as
/// `pseudonyms` will write them when given (a one-to-one renaming: the same combinations).
pub fn partial(flow: &Flow<'_>, mut pseudonyms: Option<&mut Pseudonymiser>) -> Partial {
    let status = match flow.status {
        LogStatus::Ok => 0u64,
        LogStatus::NoData => 1,
        LogStatus::SkipData => 2,
    };
    let action = match flow.action {
        None => 0u64,
        Some(Action::Accept) => 1,
        Some(Action::Reject) => 2,
    };
    let direction = match flow.direction {
        None => 0u64,
        Some(Direction::Ingress) => 1,
        Some(Direction::Egress) => 2,
    };
    let protocol = flow.protocol.map_or(0, |p| 0x100 | u64::from(p));
    let mut h = Hash128::default();
    h.word(status | action << 8 | direction << 16 | protocol << 24);
    for addr in [
        flow.src,
        flow.dst,
        // What `addresses = "packet"` policies see: the packet address, else the interface's.
        flow.pkt_src.or(flow.src),
        flow.pkt_dst.or(flow.dst),
    ] {
        match addr {
            None => h.word(0),
            Some(IpAddr::V4(a)) => h.word(4 << 32 | u64::from(u32::from(a))),
            Some(IpAddr::V6(a)) => {
                let bits = u128::from(a);
                h.word(6 << 32);
                h.word(bits as u64);
                h.word((bits >> 64) as u64);
            }
        }
    }
    for id in [flow.interface, flow.vpc, flow.subnet, flow.instance] {
        match (&mut pseudonyms, id) {
            (Some(p), Some(id)) => h.text(Some(&p.id(id))),
            _ => h.text(id),
        }
    }
    h.finish()
}

/// The combination of a record whose [`partial`] hash is `partial`, whose server is `side`,
/// on `server_port`. The side is part of it because `src_port = 443` matches replies and
/// `dst_port = 443` requests; the server port because a policy can name it, the client's
/// not. The three go through a bijection, so combinations of different partial hashes can only
/// collide when those differ in their few low bits that encode side and port, which for
/// well-mixed hashes is as unlikely as any 128-bit collision.
pub fn combination(partial: Partial, side: Side, server_port: Option<u16>) -> Combination {
    let tag =
        u128::from(side == Side::Src) << 17 | server_port.map_or(0, |p| 0x1_0000 | u128::from(p));
    let mut x = partial ^ tag;
    x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
    x ^= x >> 67;
    x.wrapping_mul(0xd6e8_feb8_6659_fd93_a5b3_4bf9_c5ad_4157)
}

/// [`combination`] of a record whose server is known.
pub fn combination_of(flow: &Flow<'_>, side: Side) -> Combination {
    let port = match side {
        Side::Src => flow.src_port,
        Side::Dst => flow.dst_port,
    };
    combination(partial(flow, None), side, port)
}

/// A 128-bit hash of a record's few fields, fed as 64-bit words: two lanes of multiply and
/// xor-shift, each finished by murmur3's mixer. blake3 gave the same guarantee in practice at
/// several times the cost, and the survey hashes every record in scope.
#[derive(Clone, Copy)]
struct Hash128 {
    a: u64,
    b: u64,
}

impl Default for Hash128 {
    fn default() -> Self {
        Hash128 {
            a: 0x243f_6a88_85a3_08d3,
            b: 0x1319_8a2e_0370_7344,
        }
    }
}

impl Hash128 {
    #[inline]
    fn word(&mut self, w: u64) {
        self.a = (self.a ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.a ^= self.a >> 32;
        self.b = (self.b ^ w.rotate_left(29)).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
        self.b ^= self.b >> 29;
    }

    /// Length-prefixed, so `("ab", "c")` and `("a", "bc")` differ.
    #[inline]
    fn text(&mut self, text: Option<&str>) {
        let Some(t) = text else {
            return self.word(u64::MAX);
        };
        self.word(t.len() as u64);
        for chunk in t.as_bytes().chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.word(u64::from_le_bytes(w));
        }
    }

    fn finish(self) -> u128 {
        let a = fmix64(self.a ^ self.b.rotate_left(17));
        let b = fmix64(self.b ^ a);
        u128::from(a) | u128::from(b) << 64
    }
}

/// murmur3's 64-bit finaliser: every input bit reaches every output bit.
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
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
        let c = |f: &Flow<'_>| combination_of(f, Side::Dst);
        let a = parse("5 eni-1 10.0.0.1 10.0.0.2 50000 443 6 ACCEPT OK 0 egress - -");
        let b = parse("5 eni-1 10.0.0.1 10.0.0.2 50001 443 6 ACCEPT OK 0 egress - -");
        assert_eq!(c(&a), c(&b));
        // The server's side and port count.
        assert_ne!(c(&a), combination_of(&a, Side::Src));
        assert_ne!(
            combination(partial(&a, None), Side::Dst, Some(443)),
            combination(partial(&a, None), Side::Dst, Some(444))
        );
        for other in [
            "5 eni-2 10.0.0.1 10.0.0.2 50000 443 6 ACCEPT OK 0 egress - -",
            "5 eni-1 10.0.0.1 10.0.0.2 50000 443 6 REJECT OK 0 egress - -",
            "5 eni-1 10.0.0.1 10.0.0.2 50000 443 6 ACCEPT OK 0 ingress - -",
            "5 eni-1 10.0.0.1 10.0.0.2 50000 443 17 ACCEPT OK 0 egress - -",
            "5 eni-1 10.0.0.1 10.0.0.3 50000 443 6 ACCEPT OK 0 egress - -",
            "5 eni-1 10.0.0.1 10.0.0.2 50000 443 6 ACCEPT OK 0 egress 10.9.9.9 -",
        ] {
            assert_ne!(c(&a), c(&parse(other)), "{other}");
        }
        // The reply: same conversation, but the server is now the sender.
        let reply = parse("5 eni-1 10.0.0.2 10.0.0.1 443 50000 6 ACCEPT OK 0 egress - -");
        assert_ne!(c(&a), combination_of(&reply, Side::Src));
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
