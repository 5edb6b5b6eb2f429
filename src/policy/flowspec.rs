//! One flow as a person writes it, `tcp 10.0.2.15 -> 10.20.30.5:22`: what an `[[expect]]`
//! states and what `flowgate explain` is asked about.
//!
//! A [`FlowSpec`] is a protocol, two addresses and two port ranges; [`FlowFields`] are the
//! record's other fields where a policy matches on them. The text form is
//! `PROTOCOL SRC[:PORT] -> DST[:PORT]`: the protocol by name or number, IPv6 addresses in
//! brackets (`[2001:db8::7]:443`, since a bare `2001:db8::7:443` is itself an address), a port
//! as a number or an inclusive `lo-hi` range. A port left out stands for every port a record
//! of that flow could carry: any ephemeral port ([`EPHEMERAL`]) for protocols with ports, any
//! value at all for the others (ICMP records carry 0, or type and code, in their port
//! fields). A statement about such a flow is a statement about every one of those ports.
//! Each mistake is a [`FlowError`] with the byte span inside the text, so a diagnostic can put
//! its caret under the wrong part.

use std::fmt;
use std::net::IpAddr;
use std::ops::Range;

use crate::flowlog::{Action, Direction, Flow};

use super::matcher::Key;
use super::raw::{closest, show};
use super::values::{protocol_by_name, protocol_names, protocol_text};
use super::Addresses;

/// The ports a client may pick for its end of a connection: 1024-65535, AWS's advice for
/// network ACLs, which takes in Linux's 32768-60999, Windows' and IANA's 49152-65535 and NAT
/// gateways' 1024-65535. A flow written without a port on a protocol with ports means every
/// one of them.
pub const EPHEMERAL: (u16, u16) = (1024, 65535);

/// Protocols whose records carry ports: tcp, udp, dccp, sctp, udplite. For the others a port
/// field holds 0, or ICMP's type and code, never a port.
pub const PORTED: [u8; 5] = [6, 17, 33, 132, 136];

/// The ports of one end of a flow: an inclusive range, and whether it was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ports {
    pub lo: u16,
    pub hi: u16,
    /// `false` when the text left the port out and the range is the default.
    pub written: bool,
}

impl Ports {
    /// The ports a flow of `protocol` written without a port may carry.
    pub fn unwritten(protocol: u8) -> Ports {
        let (lo, hi) = if PORTED.contains(&protocol) {
            EPHEMERAL
        } else {
            (0, u16::MAX)
        };
        Ports {
            lo,
            hi,
            written: false,
        }
    }
}

impl fmt::Display for Ports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}-{}", self.lo, self.hi)
        }
    }
}

/// One flow: protocol, ends and port ranges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowSpec {
    pub protocol: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_ports: Ports,
    pub dst_ports: Ports,
}

/// What is wrong with a flow's text, at `span` (bytes of that text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowError {
    pub span: Range<usize>,
    pub message: String,
    /// What the caret says.
    pub label: String,
    pub notes: Vec<String>,
}

impl fmt::Display for FlowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.label)?;
        for n in &self.notes {
            write!(f, "; {n}")?;
        }
        Ok(())
    }
}

/// The form, for every error's last note.
pub const FORM: &str =
    "a flow is `PROTOCOL SRC[:PORT] -> DST[:PORT]`, e.g. `tcp 10.0.2.15 -> 10.20.30.5:443` or `udp [2001:db8::7] -> [2001:db8::53]:53`";

fn error(span: Range<usize>, message: impl Into<String>, label: impl Into<String>) -> FlowError {
    FlowError {
        span,
        message: message.into(),
        label: label.into(),
        notes: Vec::new(),
    }
}

/// The words of `text` with their byte ranges.
fn words(text: &str, base: usize) -> Vec<(Range<usize>, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((base + s..base + i, &text[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((base + s..base + text.len(), &text[s..]));
    }
    out
}

impl FlowSpec {
    /// Reads `PROTOCOL SRC[:PORT] -> DST[:PORT]`.
    pub fn parse(text: &str) -> Result<FlowSpec, FlowError> {
        let all = 0..text.len();
        let with_form = |mut e: FlowError| {
            e.notes.push(FORM.to_string());
            e
        };
        let Some(arrow) = text.find("->") else {
            return Err(with_form(error(
                all,
                format!("`{}` is not a flow: it has no `->`", show(text)),
                "no `->` between source and destination",
            )));
        };
        if let Some(second) = text[arrow + 2..].find("->") {
            let at = arrow + 2 + second;
            return Err(with_form(error(
                at..at + 2,
                "a flow has one `->`",
                "a second `->`",
            )));
        }
        let left = words(&text[..arrow], 0);
        let right = words(&text[arrow + 2..], arrow + 2);
        let (proto, src) = match left.as_slice() {
            [] => {
                return Err(with_form(error(
                    0..arrow,
                    "the flow has no protocol and no source",
                    "expected a protocol and a source address before `->`",
                )))
            }
            [(span, one)] => {
                let (message, label) =
                    if protocol_by_name(one).is_some() || one.bytes().all(|b| b.is_ascii_digit()) {
                        (
                            "the flow has no source address",
                            "a source address after this",
                        )
                    } else {
                        ("the flow has no protocol", "a protocol before this")
                    };
                return Err(with_form(error(span.clone(), message, label)));
            }
            [p, s] => (p.clone(), s.clone()),
            [_, _, extra, ..] => {
                return Err(with_form(error(
                    extra.0.clone(),
                    format!("unexpected `{}` before `->`", show(extra.1)),
                    "not part of a flow",
                )))
            }
        };
        let dst = match right.as_slice() {
            [] => {
                return Err(with_form(error(
                    arrow..arrow + 2,
                    "the flow has no destination",
                    "a destination address after this",
                )))
            }
            [d] => d.clone(),
            [_, extra, ..] => {
                return Err(with_form(error(
                    extra.0.clone(),
                    format!("unexpected `{}` after the destination", show(extra.1)),
                    "not part of a flow",
                )))
            }
        };
        let protocol = protocol(proto.0, proto.1)?;
        let (src_addr, src_ports) = end(src.0, src.1, protocol)?;
        let (dst_addr, dst_ports) = end(dst.0.clone(), dst.1, protocol)?;
        if src_addr.is_ipv4() != dst_addr.is_ipv4() {
            return Err(error(
                dst.0,
                "the two ends of a flow are IPv4 and IPv6",
                "not the source's address family",
            ));
        }
        Ok(FlowSpec {
            protocol,
            src: src_addr,
            dst: dst_addr,
            src_ports,
            dst_ports,
        })
    }

    /// The record this flow stands for at one source and one destination port, with
    /// `fields`, as a policy matching `addresses` reads it: the flow's addresses are the
    /// interface addresses, or with `Addresses::Packet` the packet addresses (`pkt-srcaddr`,
    /// `pkt-dstaddr`). Fields not given are absent, as `-` in a record.
    pub fn record<'a>(
        &self,
        fields: &'a FlowFields,
        addresses: Addresses,
        src_port: u16,
        dst_port: u16,
    ) -> Flow<'a> {
        let packet = addresses == Addresses::Packet;
        Flow {
            version: Some(if packet { 5 } else { 2 }),
            action: Some(fields.action),
            src: Some(self.src),
            dst: Some(self.dst),
            pkt_src: packet.then_some(self.src),
            pkt_dst: packet.then_some(self.dst),
            src_port: Some(src_port),
            dst_port: Some(dst_port),
            protocol: Some(self.protocol),
            direction: fields.direction,
            interface: fields.interface.as_deref(),
            vpc: fields.vpc.as_deref(),
            subnet: fields.subnet.as_deref(),
            instance: fields.instance.as_deref(),
            ..Flow::EMPTY
        }
    }
}

/// `tcp 10.0.2.15:1024-65535 -> 10.20.30.5:22`: every port range spelt out.
impl fmt::Display for FlowSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = |a: IpAddr, p: Ports| match a {
            IpAddr::V4(a) => format!("{a}:{p}"),
            IpAddr::V6(a) => format!("[{a}]:{p}"),
        };
        write!(
            f,
            "{} {} -> {}",
            protocol_text(self.protocol),
            end(self.src, self.src_ports),
            end(self.dst, self.dst_ports)
        )
    }
}

fn protocol(span: Range<usize>, word: &str) -> Result<u8, FlowError> {
    if word.bytes().all(|b| b.is_ascii_digit()) {
        return word.parse::<u8>().map_err(|_| {
            error(
                span,
                format!("protocol {} is out of range", show(word)),
                "protocol numbers are 0 to 255",
            )
        });
    }
    if let Some(n) = protocol_by_name(word) {
        return Ok(n);
    }
    let names = protocol_names();
    let mut e = error(
        span,
        format!("unknown protocol `{}`", show(word)),
        "not a protocol name",
    );
    if let Some(best) = closest(&word.to_ascii_lowercase(), &names) {
        e.notes.push(format!("did you mean `{best}`?"));
    }
    e.notes.push(format!(
        "known names: {}; any other protocol by its number (0-255)",
        names.join(", ")
    ));
    Err(e)
}

/// One end: `10.0.2.15`, `10.0.2.15:443`, `[2001:db8::7]`, `[2001:db8::7]:1024-2048`.
fn end(span: Range<usize>, word: &str, protocol: u8) -> Result<(IpAddr, Ports), FlowError> {
    let at = |from: usize, to: usize| span.start + from..span.start + to;
    let (addr, addr_span, port) = if let Some(rest) = word.strip_prefix('[') {
        let Some(close) = rest.find(']') else {
            return Err(error(
                span,
                format!("`{}` has no closing `]`", show(word)),
                "unclosed `[`",
            ));
        };
        let inner = &rest[..close];
        let after = &rest[close + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some((p, at(close + 3, word.len()))),
            None if after.is_empty() => None,
            None => {
                return Err(error(
                    at(close + 2, word.len()),
                    format!("unexpected `{}` after the address", show(after)),
                    "expected `:PORT` or nothing",
                ))
            }
        };
        let parsed = inner.parse::<std::net::Ipv6Addr>().map(IpAddr::V6);
        if parsed.is_err() && inner.parse::<std::net::Ipv4Addr>().is_ok() {
            let mut e = error(
                at(0, close + 2),
                "brackets are for IPv6 addresses",
                "an IPv4 address in brackets",
            );
            e.notes.push(format!("write `{inner}` without brackets"));
            return Err(e);
        }
        (parsed.ok(), at(1, close + 1), port)
    } else if word.matches(':').count() > 1 {
        let mut e = error(
            span.clone(),
            format!("`{}`: write IPv6 addresses in brackets", show(word)),
            "an IPv6 address without brackets",
        );
        e.notes.push(
            "`[2001:db8::7]:443` is an address and a port; `2001:db8::7:443` is one address".into(),
        );
        return Err(e);
    } else {
        match word.split_once(':') {
            Some((a, p)) => (
                a.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4),
                at(0, a.len()),
                Some((p, at(a.len() + 1, word.len()))),
            ),
            None => (
                word.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4),
                span.clone(),
                None,
            ),
        }
    };
    let text = &word[addr_span.start - span.start..addr_span.end - span.start];
    let Some(addr) = addr else {
        let mut e = error(
            addr_span,
            format!("`{}` is not an IP address", show(text)),
            "not an address",
        );
        if text.contains('/') {
            e.notes
                .push("a flow is between two addresses, not networks: drop the prefix".into());
        }
        return Err(e);
    };
    let ports = match port {
        None => Ports::unwritten(protocol),
        Some((p, p_span)) => ports(p, p_span)?,
    };
    Ok((addr, ports))
}

fn ports(text: &str, span: Range<usize>) -> Result<Ports, FlowError> {
    let (lo, hi) = text.split_once('-').unwrap_or((text, text));
    let number = |t: &str| -> Result<u16, FlowError> {
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            let mut e = error(
                span.clone(),
                format!("`{}` is not a port or port range", show(text)),
                "not a port",
            );
            e.notes
                .push("write a number (`443`) or a range (`1024-65535`)".into());
            return Err(e);
        }
        t.parse::<u16>().map_err(|_| {
            error(
                span.clone(),
                format!("port {} is out of range", show(t)),
                "ports are 0 to 65535",
            )
        })
    };
    let (lo, hi) = (number(lo)?, number(hi)?);
    if lo > hi {
        return Err(error(
            span.clone(),
            format!("port range `{}` is reversed", show(text)),
            format!("did you mean `{hi}-{lo}`?"),
        ));
    }
    Ok(Ports {
        lo,
        hi,
        written: true,
    })
}

/// The fields of a record besides protocol, addresses and ports, where a policy matches on
/// them. A field not given is absent, as in a record holding `-`; `explain` and `[[expect]]`
/// then refuse to decide where the verdict depends on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowFields {
    pub interface: Option<String>,
    pub vpc: Option<String>,
    pub subnet: Option<String>,
    pub instance: Option<String>,
    pub direction: Option<Direction>,
    /// `ACCEPT` unless given.
    pub action: Action,
}

impl Default for FlowFields {
    fn default() -> Self {
        FlowFields {
            interface: None,
            vpc: None,
            subnet: None,
            instance: None,
            direction: None,
            action: Action::Accept,
        }
    }
}

impl FlowFields {
    /// Whether the record field that `key` reads is given. Addresses, ports, protocol and
    /// action always are.
    pub fn gives(&self, key: Key) -> bool {
        match key {
            Key::Interface => self.interface.is_some(),
            Key::Vpc => self.vpc.is_some(),
            Key::Subnet => self.subnet.is_some(),
            Key::Instance => self.instance.is_some(),
            Key::Direction => self.direction.is_some(),
            _ => true,
        }
    }

    /// `action ACCEPT, interface eni-1, direction egress`: the fields given, as words.
    pub fn describe(&self) -> String {
        let mut out = vec![format!("action {}", self.action.as_str())];
        for (key, value) in [
            ("interface", &self.interface),
            ("vpc", &self.vpc),
            ("subnet", &self.subnet),
            ("instance", &self.instance),
        ] {
            if let Some(v) = value {
                out.push(format!("{key} {}", show(v)));
            }
        }
        if let Some(d) = self.direction {
            out.push(format!("direction {}", d.as_str()));
        }
        out.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> FlowSpec {
        FlowSpec::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    /// The error's message and the text under its span.
    fn fails(text: &str) -> (String, String) {
        let e = FlowSpec::parse(text).expect_err(text);
        (e.message, text[e.span].to_string())
    }

    #[test]
    fn every_documented_form_reads() {
        let f = parse("tcp 10.0.2.15 -> 10.20.30.5:22");
        assert_eq!(
            (f.protocol, f.src.to_string(), f.dst.to_string()),
            (6, "10.0.2.15".into(), "10.20.30.5".into())
        );
        assert_eq!(
            (f.src_ports.lo, f.src_ports.hi, f.src_ports.written),
            (1024, 65535, false)
        );
        assert_eq!(
            (f.dst_ports.lo, f.dst_ports.hi, f.dst_ports.written),
            (22, 22, true)
        );
        assert_eq!(f.to_string(), "tcp 10.0.2.15:1024-65535 -> 10.20.30.5:22");

        let f = parse("  TCP   [2001:db8::7]:50000->[2406:da14:8a3::10]:443 ");
        assert_eq!(
            f.to_string(),
            "tcp [2001:db8::7]:50000 -> [2406:da14:8a3::10]:443"
        );
        let f = parse("6 10.0.0.1:1-1023 -> 10.0.0.2");
        assert_eq!(f.to_string(), "tcp 10.0.0.1:1-1023 -> 10.0.0.2:1024-65535");
        // Without ports: every value a port field can hold.
        assert_eq!(
            parse("icmp 10.0.0.1 -> 10.0.0.2").to_string(),
            "icmp 10.0.0.1:0-65535 -> 10.0.0.2:0-65535"
        );
        assert_eq!(parse("47 10.0.0.1 -> 10.0.0.2").protocol, 47);
        assert_eq!(parse("icmpv6 [::1] -> [::2]").protocol, 58);
    }

    #[test]
    fn mistakes_point_at_the_wrong_part() {
        assert_eq!(
            fails("tcp 10.0.0.1 10.0.0.2:22").1,
            "tcp 10.0.0.1 10.0.0.2:22"
        );
        assert_eq!(
            fails("tpc 10.0.0.1 -> 10.0.0.2:22"),
            ("unknown protocol `tpc`".into(), "tpc".into())
        );
        assert_eq!(fails("300 10.0.0.1 -> 10.0.0.2:22").1, "300");
        assert_eq!(
            fails("tcp 10.0.0.1 -> 10.0.0.2:70000"),
            ("port 70000 is out of range".into(), "70000".into())
        );
        assert_eq!(fails("tcp 10.0.0.1 -> 10.0.0.2:x").1, "x");
        assert_eq!(fails("tcp 10.0.0.1:9-1 -> 10.0.0.2:1").1, "9-1");
        assert_eq!(fails("tcp 10.0.0.300 -> 10.0.0.2:1").1, "10.0.0.300");
        assert_eq!(fails("tcp 10.0.0.0/24 -> 10.0.0.2:1").1, "10.0.0.0/24");
        assert_eq!(
            fails("tcp 10.0.0.1 -> 2001:db8::7:443").1,
            "2001:db8::7:443"
        );
        assert_eq!(fails("tcp [10.0.0.1]:5 -> 10.0.0.2:1").1, "[10.0.0.1]");
        assert_eq!(fails("tcp [2001:db8::7 -> [::1]:1").1, "[2001:db8::7");
        assert_eq!(fails("tcp [2001:db8::7]x -> [::1]:1").1, "x");
        assert_eq!(fails("tcp [zz::7]:1 -> [::1]:1").1, "zz::7");
        assert_eq!(fails("tcp 10.0.0.1 -> [::1]:1").1, "[::1]:1");
        assert_eq!(
            fails("10.0.0.1 -> 10.0.0.2:1").0,
            "the flow has no protocol"
        );
        assert_eq!(
            fails("tcp -> 10.0.0.2:1").0,
            "the flow has no source address"
        );
        assert_eq!(fails("tcp 10.0.0.1 ->").0, "the flow has no destination");
        assert_eq!(fails("tcp a b -> c").1, "b");
        assert_eq!(fails("tcp a -> b c").1, "c");
        assert_eq!(fails("tcp a -> b -> c").1, "->");
        assert_eq!(fails(" -> ").0, "the flow has no protocol and no source");
        assert!(FlowSpec::parse("tcp 10.0.0.1 -> 10.0.0.2").is_ok());
    }

    #[test]
    fn hostile_text_never_panics() {
        for text in [
            "",
            "->",
            "[",
            "[]",
            "tcp [",
            "tcp ]:1 -> [",
            "tcp é -> ü:1",
            "tcp 1.1.1.1:- -> 1.1.1.1:-",
            "tcp [::1]: -> [::2]:",
            "\u{0}->\u{0}",
        ] {
            let _ = FlowSpec::parse(text);
        }
    }

    #[test]
    fn records_carry_the_fields_given_and_the_addresses_the_policy_reads() {
        let f = parse("udp 10.0.0.1 -> 10.0.0.2:53");
        let fields = FlowFields {
            vpc: Some("vpc-1".into()),
            direction: Some(Direction::Egress),
            ..FlowFields::default()
        };
        let r = f.record(&fields, Addresses::Interface, 40000, 53);
        assert_eq!(
            (r.src_port, r.dst_port, r.protocol),
            (Some(40000), Some(53), Some(17))
        );
        assert_eq!(
            (r.vpc, r.interface, r.action),
            (Some("vpc-1"), None, Some(Action::Accept))
        );
        assert_eq!(r.pkt_src, None);
        let r = f.record(&fields, Addresses::Packet, 1, 53);
        assert_eq!(r.pkt_src, Some(f.src));
        assert!(fields.gives(Key::Vpc) && !fields.gives(Key::Interface) && fields.gives(Key::Peer));
        assert_eq!(
            fields.describe(),
            "action ACCEPT, vpc vpc-1, direction egress"
        );
    }
}
