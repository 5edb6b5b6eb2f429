//! One flow-log record, parsed straight from the bytes of its line.
//!
//! Records are the hot loop: millions per archive. A [`Flow`] borrows its id fields from the
//! line buffer and parses addresses and numbers directly into integers, so reading a record
//! allocates nothing. Every typed field that is present is checked, whether or not a policy
//! needs it: a token that does not parse means the line is not what its header says, and that
//! is reported, never guessed around.

mod fast;

pub(crate) use fast::light_addr;

use std::net::{IpAddr, Ipv6Addr};

use super::format::{Field, Format};

/// `log-status`: whether the record describes traffic at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogStatus {
    /// Data logged normally (also assumed for formats without `log-status`).
    Ok,
    /// No traffic on the interface during the interval.
    NoData,
    /// Records were skipped during the interval: flows were lost.
    SkipData,
}

/// `action`: what the security group and network ACL decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Accept,
    Reject,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Accept => "ACCEPT",
            Action::Reject => "REJECT",
        }
    }
}

/// `flow-direction`, relative to the logged interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

/// A parsed record. `None` means the format lacks the field or the record holds `-` there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flow<'a> {
    pub status: LogStatus,
    pub action: Option<Action>,
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    pub pkt_src: Option<IpAddr>,
    pub pkt_dst: Option<IpAddr>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub protocol: Option<u8>,
    pub packets: Option<u64>,
    pub bytes: Option<u64>,
    pub start: Option<u64>,
    pub end: Option<u64>,
    pub tcp_flags: Option<u8>,
    pub direction: Option<Direction>,
    pub version: Option<u8>,
    pub account: Option<&'a str>,
    pub interface: Option<&'a str>,
    pub vpc: Option<&'a str>,
    pub subnet: Option<&'a str>,
    pub instance: Option<&'a str>,
}

/// Why a line is not a record of its format. Rendered after `path:line: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("expected {expected} fields (as the header says), found {found}")]
    FieldCount { expected: usize, found: usize },
    #[error("{field}: `{token}` is not {what}")]
    BadValue {
        field: Field,
        token: String,
        what: &'static str,
    },
    /// A column (read or not) holding bytes no flow log writes: invalid UTF-8 or a control
    /// character such as NUL or ESC. Such a line is damaged, and its other values are suspect.
    #[error("{column}: `{token}` is not {what}")]
    BadText {
        column: String,
        token: String,
        what: &'static str,
    },
    #[error("start {start} is after end {end}")]
    StartAfterEnd { start: u64, end: u64 },
}

impl<'a> Flow<'a> {
    /// A record with every field absent: what a parse starts from, and a base for tests
    /// (`Flow { dst_port: Some(443), ..Flow::EMPTY }`).
    pub const EMPTY: Flow<'static> = Flow {
        status: LogStatus::Ok,
        action: None,
        src: None,
        dst: None,
        pkt_src: None,
        pkt_dst: None,
        src_port: None,
        dst_port: None,
        protocol: None,
        packets: None,
        bytes: None,
        start: None,
        end: None,
        tcp_flags: None,
        direction: None,
        version: None,
        account: None,
        interface: None,
        vpc: None,
        subnet: None,
        instance: None,
    };

    /// Parses one line (without its line ending) of an archive in `format`.
    ///
    /// Plain records (single spaces, printable ASCII, valid values) are read by a fast path;
    /// every other line by the careful parser, which also says what is wrong. Both give the
    /// same record for a line both read.
    #[inline]
    pub fn parse(format: &Format, line: &'a [u8]) -> Result<Flow<'a>, RecordError> {
        let mut flow = Flow::EMPTY;
        flow.parse_into(format, line)?;
        Ok(flow)
    }

    /// [`Flow::parse`] into a record that starts as [`Flow::EMPTY`], for the scan loop: a
    /// record is some 240 bytes, and returning it by value copies it twice per line.
    #[inline]
    pub fn parse_into(&mut self, format: &Format, line: &'a [u8]) -> Result<(), RecordError> {
        if !fast::parse(format, line, self) {
            *self = Self::parse_careful(format, line)?;
        }
        Ok(())
    }

    /// The plain record of `format` that `rest`, a decoded buffer from the start of a line,
    /// begins with, and the length of its line (without the `\n`); `None` when the line is
    /// anything else, too long (256 bytes or more in AWS's default format, 512 in others),
    /// or too near the buffer's end (the 64-byte block holding its end must be whole), and
    /// the line is then read as usual (cut out, then [`Flow::parse_into`]). What it accepts,
    /// `parse_into` accepts with the same record: the scan loop's shortcut for the common
    /// line, which finds the line's end in the same pass as its separators. `self` may be
    /// [`Flow::EMPTY`] or the last record this read with the same format (every field of the
    /// format is written, the others are untouched), so the loop need not copy a fresh record
    /// per line; after `None` it is garbage.
    #[inline]
    pub fn parse_line(&mut self, format: &Format, rest: &'a [u8]) -> Option<usize> {
        if format.is_default_v2() {
            fast::default_v2_line(rest, self)
        } else {
            fast::format_line(format.slots(), rest, self)
        }
    }

    /// The fast path alone: the record when it reads `line` itself, `None` when it hands the
    /// line to the careful parser. For the fuzz target that holds the two to the same record
    /// (`fuzz/fuzz_targets/record_cross.rs`); readers call [`Flow::parse`].
    #[doc(hidden)]
    pub fn parse_fast_only(format: &Format, line: &'a [u8]) -> Option<Flow<'a>> {
        let mut flow = Flow::EMPTY;
        fast::parse(format, line, &mut flow).then_some(flow)
    }

    /// The careful parser alone, for the same fuzz target.
    #[doc(hidden)]
    pub fn parse_careful_only(format: &Format, line: &'a [u8]) -> Result<Flow<'a>, RecordError> {
        Self::parse_careful(format, line)
    }

    /// The careful parser: one pass over the line, each token parsed as the field its column
    /// holds, straight into the record. Runs of spaces or tabs separate once: AWS writes
    /// single spaces, its documentation has a doubled one, and the token count is still
    /// checked against the header, so tolerating them loses nothing.
    #[cold]
    fn parse_careful(format: &Format, line: &'a [u8]) -> Result<Flow<'a>, RecordError> {
        let slots = format.slots();
        let mut flow = Flow::EMPTY;
        let mut found = 0;
        let mut first_error = None;
        let (bytes, n) = (line, line.len());
        let mut i = 0;
        loop {
            // A plain loop beats memchr here: tokens are a few bytes long, shorter than the
            // set-up of a vectorised search.
            while i < n && (bytes[i] == b' ' || bytes[i] == b'\t') {
                i += 1;
            }
            if i == n {
                break;
            }
            let begin = i;
            while i < n && bytes[i] != b' ' && bytes[i] != b'\t' {
                i += 1;
            }
            let token = &bytes[begin..i];
            if let Some(Some(field)) = slots.get(found) {
                if token != b"-" && first_error.is_none() {
                    // Keep counting after a bad value: a wrong token count explains more.
                    first_error = flow.set(*field, token).err();
                }
            }
            found += 1;
        }
        if found != slots.len() {
            return Err(RecordError::FieldCount {
                expected: slots.len(),
                found,
            });
        }
        check_text(format, line)?;
        if let Some(e) = first_error {
            return Err(e);
        }
        if let (Some(start), Some(end)) = (flow.start, flow.end) {
            if start > end {
                return Err(RecordError::StartAfterEnd { start, end });
            }
        }
        Ok(flow)
    }

    /// Parses `token` as `field` into the record. Fields flowgate does not read are skipped.
    #[inline]
    fn set(&mut self, field: Field, token: &'a [u8]) -> Result<(), RecordError> {
        let bad = |what: &'static str| RecordError::BadValue {
            field,
            token: show_token(token),
            what,
        };
        let num = |max: u64, what: &'static str| {
            parse_u64(token)
                .filter(|&n| n <= max)
                .ok_or_else(|| bad(what))
        };
        let addr = || parse_addr(token).ok_or_else(|| bad("an IPv4 or IPv6 address"));
        let text = || std::str::from_utf8(token).map_err(|_| bad("valid UTF-8"));
        match field {
            Field::LogStatus => {
                self.status = match token {
                    b"OK" => LogStatus::Ok,
                    b"NODATA" => LogStatus::NoData,
                    b"SKIPDATA" => LogStatus::SkipData,
                    _ => return Err(bad("OK, NODATA or SKIPDATA")),
                }
            }
            Field::Action => {
                self.action = Some(match token {
                    b"ACCEPT" => Action::Accept,
                    b"REJECT" => Action::Reject,
                    _ => return Err(bad("ACCEPT or REJECT")),
                })
            }
            Field::FlowDirection => {
                self.direction = Some(match token {
                    b"ingress" => Direction::Ingress,
                    b"egress" => Direction::Egress,
                    _ => return Err(bad("ingress or egress")),
                })
            }
            Field::SrcAddr => self.src = Some(addr()?),
            Field::DstAddr => self.dst = Some(addr()?),
            Field::PktSrcAddr => self.pkt_src = Some(addr()?),
            Field::PktDstAddr => self.pkt_dst = Some(addr()?),
            Field::SrcPort => self.src_port = Some(num(65535, "a port (0-65535)")? as u16),
            Field::DstPort => self.dst_port = Some(num(65535, "a port (0-65535)")? as u16),
            Field::Protocol => self.protocol = Some(num(255, "a protocol number (0-255)")? as u8),
            Field::Packets => self.packets = Some(num(u64::MAX, "a count")?),
            Field::Bytes => self.bytes = Some(num(u64::MAX, "a count")?),
            Field::Start => self.start = Some(num(u64::MAX, "a Unix time in seconds")?),
            Field::End => self.end = Some(num(u64::MAX, "a Unix time in seconds")?),
            Field::TcpFlags => self.tcp_flags = Some(num(255, "TCP flags (0-255)")? as u8),
            Field::Version => self.version = Some(num(255, "a version number")? as u8),
            Field::AccountId => self.account = Some(text()?),
            Field::InterfaceId => self.interface = Some(text()?),
            Field::VpcId => self.vpc = Some(text()?),
            Field::SubnetId => self.subnet = Some(text()?),
            Field::InstanceId => self.instance = Some(text()?),
            _ => {}
        }
        Ok(())
    }

    /// Whether the record describes traffic: `log-status` OK.
    pub fn is_traffic(&self) -> bool {
        self.status == LogStatus::Ok
    }
}

/// The fields [`Flow`] holds: a record's other columns are carried, not read. Readers of
/// columnar objects (Parquet) read only these columns; `Flow::set` ignores every other field
/// (a test holds the two to each other).
pub const READ_FIELDS: &[Field] = &[
    Field::Version,
    Field::AccountId,
    Field::InterfaceId,
    Field::SrcAddr,
    Field::DstAddr,
    Field::SrcPort,
    Field::DstPort,
    Field::Protocol,
    Field::Packets,
    Field::Bytes,
    Field::Start,
    Field::End,
    Field::Action,
    Field::LogStatus,
    Field::VpcId,
    Field::SubnetId,
    Field::InstanceId,
    Field::TcpFlags,
    Field::PktSrcAddr,
    Field::PktDstAddr,
    Field::FlowDirection,
];

/// Every column must be text: AWS writes printable ASCII (and UTF-8 in tag values). A NUL
/// from a disk hole, a stray ESC or a broken multi-byte sequence means the line is damaged,
/// even in a column no policy reads, so the line is a problem rather than a record. The
/// common all-ASCII line is settled by one pass over its bytes; only a damaged one is split
/// again to name the column.
fn check_text(format: &Format, line: &[u8]) -> Result<(), RecordError> {
    // A fold without early exit: the compiler vectorises it, where `all` walks byte by byte.
    let damaged = line.iter().fold(false, |bad, &b| {
        bad | ((b < b' ') & (b != b'\t')) | (b > b'~')
    });
    if !damaged {
        return Ok(());
    }
    let tokens = line
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|t| !t.is_empty());
    for (column, token) in format.columns().iter().zip(tokens) {
        let what = match std::str::from_utf8(token) {
            Err(_) => "valid UTF-8",
            Ok(t) if t.chars().any(char::is_control) => "text (it holds a control character)",
            Ok(_) => continue,
        };
        return Err(RecordError::BadText {
            column: column.name().to_string(),
            token: show_token(token),
            what,
        });
    }
    Ok(())
}

/// Shows a token in an error message: lossy UTF-8, control characters escaped, and cut at 64
/// characters so a 1 MiB garbage token does not become a 1 MiB message.
fn show_token(token: &[u8]) -> String {
    let text = String::from_utf8_lossy(&token[..token.len().min(64)]);
    let mut out: String = text.chars().flat_map(char::escape_debug).collect();
    if token.len() > 64 {
        out.push('…');
    }
    out
}

/// Parses a decimal `u64` without sign, spaces or overflow.
#[inline]
pub fn parse_u64(t: &[u8]) -> Option<u64> {
    if t.is_empty() || t.len() > 20 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in t {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(d))?;
    }
    Some(n)
}

/// Parses dotted-quad IPv4 straight into an integer (the fast path's parser: no leading zeros
/// beyond one digit, as `std` and AWS agree), and anything with a `:` as IPv6 through `std`,
/// which also takes the spellings the fast path leaves alone.
#[inline]
pub fn parse_addr(t: &[u8]) -> Option<IpAddr> {
    if let Some(v4) = fast::ipv4(t) {
        return Some(IpAddr::V4(v4));
    }
    if t.contains(&b':') && t.len() <= 45 {
        let s = std::str::from_utf8(t).ok()?;
        return s.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn v2() -> Format {
        Format::default_v2()
    }

    #[test]
    fn only_the_read_fields_are_read() {
        for &field in Field::ALL {
            let mut flow = Flow::EMPTY;
            let garbage = flow.set(field, b"\xffnot a value");
            assert_eq!(garbage.is_err(), READ_FIELDS.contains(&field), "{field}");
        }
    }

    #[test]
    fn default_record_parses_every_field() {
        let line = b"2 210987654321 eni-0a7c91d2e4b5f6071 10.8.4.17 10.8.9.200 51234 22 6 17 3911 1762052400 1762052460 ACCEPT OK";
        let f = Flow::parse(&v2(), line).unwrap();
        assert_eq!(f.version, Some(2));
        assert_eq!(f.account, Some("210987654321"));
        assert_eq!(f.interface, Some("eni-0a7c91d2e4b5f6071"));
        assert_eq!(f.src, Some("10.8.4.17".parse().unwrap()));
        assert_eq!(f.dst, Some("10.8.9.200".parse().unwrap()));
        assert_eq!(
            (f.src_port, f.dst_port, f.protocol),
            (Some(51234), Some(22), Some(6))
        );
        assert_eq!((f.packets, f.bytes), (Some(17), Some(3911)));
        assert_eq!((f.start, f.end), (Some(1762052400), Some(1762052460)));
        assert_eq!(f.action, Some(Action::Accept));
        assert_eq!(f.status, LogStatus::Ok);
        assert_eq!(f.vpc, None);
    }

    #[test]
    fn nodata_and_skipdata_have_dashes() {
        let f = Flow::parse(
            &v2(),
            b"2 210987654321 eni-0a7c91d2e4b5f6071 - - - - - - - 1762056000 1762056060 - NODATA",
        )
        .unwrap();
        assert_eq!(f.status, LogStatus::NoData);
        assert_eq!((f.src, f.action, f.packets), (None, None, None));
        assert_eq!(f.start, Some(1762056000));
        let f = Flow::parse(
            &v2(),
            b"2 210987654321 eni-0f3e2d1c0b9a87654 - - - - - - - 1762056000 1762056060 - SKIPDATA",
        )
        .unwrap();
        assert_eq!(f.status, LogStatus::SkipData);
    }

    #[test]
    fn ipv6_addresses_parse() {
        let f = Flow::parse(&v2(), b"2 210987654321 eni-0a7c91d2e4b5f6071 2001:db8:77::15 2001:db8:78::9:1 40112 22 6 31 6104 1762052410 1762052470 ACCEPT OK").unwrap();
        assert_eq!(f.src, Some("2001:db8:77::15".parse().unwrap()));
        let f = Flow::parse(&v2(), b"2 1 eni-1 2a02:cf40:: ::1 1 2 17 1 1 1 2 REJECT OK").unwrap();
        assert_eq!(f.src, Some("2a02:cf40::".parse().unwrap()));
    }

    #[test]
    fn doubled_spaces_and_tabs_separate_once() {
        let f = Flow::parse(
            &v2(),
            b"2 1 eni-1 10.0.0.1  10.0.0.2 1 2 6 1 1 1 2 ACCEPT\tOK",
        )
        .unwrap();
        assert_eq!(f.dst, Some("10.0.0.2".parse().unwrap()));
    }

    #[test]
    fn wrong_token_count_is_an_error() {
        assert_eq!(
            Flow::parse(&v2(), b"bogus line"),
            Err(RecordError::FieldCount {
                expected: 14,
                found: 2
            })
        );
        let long = vec![b'1'; 300]
            .iter()
            .flat_map(|_| b"x ".iter().copied())
            .collect::<Vec<u8>>();
        assert_eq!(
            Flow::parse(&v2(), &long),
            Err(RecordError::FieldCount {
                expected: 14,
                found: 300
            })
        );
    }

    #[test]
    fn bad_values_name_field_and_token() {
        let cases: &[(&[u8], &str)] = &[
            (
                b"2 1 eni-1 10.0.0.256 10.0.0.2 1 2 6 1 1 1 2 ACCEPT OK",
                "srcaddr: `10.0.0.256` is not an IPv4 or IPv6 address",
            ),
            (
                b"2 1 eni-1 10.0.0.1 10.0.0.2 70000 2 6 1 1 1 2 ACCEPT OK",
                "srcport: `70000` is not a port (0-65535)",
            ),
            (
                b"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 tcp 1 1 1 2 ACCEPT OK",
                "protocol: `tcp` is not a protocol number (0-255)",
            ),
            (
                b"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 -3 1 1 2 ACCEPT OK",
                "packets: `-3` is not a count",
            ),
            (
                b"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 ALLOW OK",
                "action: `ALLOW` is not ACCEPT or REJECT",
            ),
            (
                b"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 ACCEPT FINE",
                "log-status: `FINE` is not OK, NODATA or SKIPDATA",
            ),
            (
                b"2 1 eni-\xff 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 ACCEPT OK",
                "interface-id: `eni-\u{fffd}` is not valid UTF-8",
            ),
            (
                b"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 9 2 ACCEPT OK",
                "start 9 is after end 2",
            ),
        ];
        for (line, msg) in cases {
            assert_eq!(Flow::parse(&v2(), line).unwrap_err().to_string(), *msg);
        }
    }

    #[test]
    fn damaged_bytes_in_any_column_are_errors() {
        let fmt = Format::parse_spec("version srcaddr dstaddr az-id future-field").unwrap();
        let cases: &[(&[u8], &str)] = &[
            (
                b"2 10.0.0.1 10.0.0.2 use1-az1\0 x",
                "az-id: `use1-az1\\0` is not text (it holds a control character)",
            ),
            (
                b"2 10.0.0.1 10.0.0.2 use1-az1 \x1b[2J",
                "future-field: `\\u{1b}[2J` is not text (it holds a control character)",
            ),
            (
                b"2 10.0.0.1 10.0.0.2 use1-az1 caf\xc3",
                "future-field: `caf\u{fffd}` is not valid UTF-8",
            ),
        ];
        for (line, msg) in cases {
            assert_eq!(Flow::parse(&fmt, line).unwrap_err().to_string(), *msg);
        }
        let nul_id = b"2 1 eni-\0 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 ACCEPT OK";
        assert!(Flow::parse(&v2(), nul_id).is_err());
        // UTF-8 text, as in tag values, is fine.
        assert!(Flow::parse(&fmt, "2 10.0.0.1 10.0.0.2 use1-az1 café".as_bytes()).is_ok());
    }

    #[test]
    fn counts_above_four_billion_fit() {
        let f = Flow::parse(
            &v2(),
            b"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 18446744073709551615 1 2 ACCEPT OK",
        )
        .unwrap();
        assert_eq!(f.bytes, Some(u64::MAX));
        assert!(Flow::parse(
            &v2(),
            b"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 18446744073709551616 1 2 ACCEPT OK"
        )
        .is_err());
    }

    #[test]
    fn ipv4_parser_agrees_with_std() {
        for s in [
            "0.0.0.0",
            "255.255.255.255",
            "10.20.30.40",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "1..2.3",
            "256.1.1.1",
            "1.2.3.4 ",
            "a.b.c.d",
            "1.2.3.04",
        ] {
            assert_eq!(fast::ipv4(s.as_bytes()), s.parse::<Ipv4Addr>().ok(), "{s}");
        }
    }

    #[test]
    fn custom_format_reads_packet_addresses_and_direction() {
        let fmt = Format::parse_spec("version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status flow-direction").unwrap();
        let f = Flow::parse(&fmt, b"5 vpc-1 subnet-1 i-1 eni-1 1 IPv4 10.0.0.50 52.1.1.1 4000 443 10.0.1.12 52.1.1.1 6 100 2 10 20 ACCEPT 19 OK egress").unwrap();
        assert_eq!(f.pkt_src, Some("10.0.1.12".parse().unwrap()));
        assert_eq!(f.tcp_flags, Some(19));
        assert_eq!(f.direction, Some(Direction::Egress));
        assert_eq!(
            (f.vpc, f.subnet, f.instance),
            (Some("vpc-1"), Some("subnet-1"), Some("i-1"))
        );
    }

    mod props {
        //! Arbitrary bytes never panic the record parser, and its errors stay printable: they
        //! become `path:line: message` in every output.
        use super::*;
        use proptest::prelude::*;

        /// Tokens near the edges of what parses, mixed with arbitrary bytes.
        fn token() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..24),
                "[0-9]{1,21}".prop_map(String::into_bytes),
                "[0-9:.a-f]{0,46}".prop_map(String::into_bytes),
                Just(b"-".to_vec()),
                Just(b"ACCEPT".to_vec()),
                Just(b"NODATA".to_vec()),
                Just(b"egress".to_vec()),
            ]
        }

        fn format() -> impl Strategy<Value = Format> {
            proptest::sample::subsequence(Field::ALL.to_vec(), 1..40).prop_map(|fields| {
                Format::from_names(fields.iter().map(|f| f.name())).expect("distinct names")
            })
        }

        fn assert_printable(e: &RecordError) {
            let text = e.to_string();
            assert!(!text.chars().any(char::is_control), "{text:?}");
            assert!(text.len() < 512, "{text}");
        }

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(line in proptest::collection::vec(any::<u8>(), 0..600)) {
                if let Err(e) = Flow::parse(&Format::default_v2(), &line) {
                    assert_printable(&e);
                }
            }

            #[test]
            fn token_soup_in_any_format_never_panics(
                format in format(),
                tokens in proptest::collection::vec(token(), 0..48),
                tab in any::<bool>(),
            ) {
                let line = tokens.join(if tab { &b'\t' } else { &b' ' });
                match Flow::parse(&format, &line) {
                    Ok(flow) => {
                        if let (Some(s), Some(e)) = (flow.start, flow.end) {
                            prop_assert!(s <= e);
                        }
                    }
                    Err(e) => assert_printable(&e),
                }
            }
        }
    }
}
