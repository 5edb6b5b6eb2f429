//! Checks one value of a policy file and turns it into what the validated types hold.
//!
//! Each function takes a spanned TOML value, reports every mistake in it (a list is checked to
//! its end, so three bad CIDRs give three diagnostics) and returns `None` when anything was
//! wrong. Messages quote the value and labels sit on it, so the caret lands on the exact
//! element that is wrong.

use std::net::IpAddr;

use ipnet::IpNet;
use toml::de::DeValue;
use toml::Spanned;

use crate::flowlog::{Action, Direction};

use super::duration;
use super::matcher::{action_bit, direction_bit, IdKind};
use super::raw::{closest, show, type_name, Entry, FileDiags};
use super::sets::{AddrSet, Bits, IdSet, PortSet, ProtoSet};
use super::Level;

type Value<'a> = Spanned<DeValue<'a>>;

/// IANA protocol numbers by the names people write. Aliases map to the same number.
const PROTOCOLS: &[(&str, u8)] = &[
    ("icmp", 1),
    ("igmp", 2),
    ("ipip", 4),
    ("ip-in-ip", 4),
    ("tcp", 6),
    ("egp", 8),
    ("udp", 17),
    ("ipv6-in-ipv4", 41),
    ("ipv6", 41),
    ("rsvp", 46),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("icmpv6", 58),
    ("ipv6-icmp", 58),
    ("eigrp", 88),
    ("ospf", 89),
    ("pim", 103),
    ("vrrp", 112),
    ("l2tp", 115),
    ("sctp", 132),
];

/// The protocol number of a name people write (`tcp`, `ICMPv6`), case-insensitive.
pub(crate) fn protocol_by_name(name: &str) -> Option<u8> {
    let lower = name.to_ascii_lowercase();
    PROTOCOLS
        .iter()
        .find(|(n, _)| *n == lower)
        .map(|&(_, number)| number)
}

/// Every protocol name known, in the table's order.
pub(crate) fn protocol_names() -> Vec<&'static str> {
    PROTOCOLS.iter().map(|(n, _)| *n).collect()
}

/// The first name of protocol `n` (`tcp` for 6), or its number.
pub(crate) fn protocol_text(n: u8) -> String {
    PROTOCOLS
        .iter()
        .find(|&&(_, number)| number == n)
        .map_or_else(|| n.to_string(), |(name, _)| (*name).to_string())
}

/// The elements of a key's value: a list, or a single value written without brackets.
fn items<'a>(e: &Entry<'a>, d: &mut FileDiags) -> Option<Vec<&'a Value<'a>>> {
    match e.value.get_ref() {
        DeValue::Array(a) if a.is_empty() => {
            d.error(
                "empty-list",
                e.value.span(),
                format!("`{}` is an empty list, which matches nothing", e.key),
                "empty",
            )
            .notes
            .push(format!(
                "remove `{}` to match any value, or list at least one",
                e.key
            ));
            None
        }
        DeValue::Array(a) => Some(a.iter().collect()),
        _ => Some(vec![e.value]),
    }
}

/// Checks every element with `one`, keeping going after a bad one to report them all.
fn each<'a, T>(
    e: &Entry<'a>,
    d: &mut FileDiags,
    mut one: impl FnMut(&'a Value<'a>, &mut FileDiags) -> Option<T>,
) -> Option<Vec<T>> {
    let items = items(e, d)?;
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for v in items {
        match one(v, d) {
            Some(t) => out.push(t),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn wrong_type(d: &mut FileDiags, key: &str, v: &Value<'_>, expected: &str) {
    d.error(
        "wrong-type",
        v.span(),
        format!("`{key}` takes {expected}"),
        format!("found {}", type_name(v.get_ref())),
    );
}

/// A TOML integer, whatever its radix, as an `i128` (wide enough for any TOML integer).
fn integer(v: &DeValue<'_>) -> Option<i128> {
    let i = v.as_integer()?;
    i128::from_str_radix(i.as_str(), i.radix()).ok()
}

pub(crate) fn string<'a>(e: &Entry<'a>, d: &mut FileDiags) -> Option<&'a str> {
    let s = e.value.get_ref().as_str();
    if s.is_none() {
        wrong_type(d, e.key, e.value, "a string");
    }
    s
}

/// A name (of a policy or rule): a string with something in it.
pub(crate) fn name(e: &Entry<'_>, d: &mut FileDiags) -> Option<String> {
    let s = string(e, d)?;
    if s.trim().is_empty() {
        d.error(
            "invalid-name",
            e.value.span(),
            "a name cannot be empty",
            "empty",
        );
        return None;
    }
    Some(s.to_string())
}

pub(crate) fn boolean(e: &Entry<'_>, d: &mut FileDiags) -> Option<bool> {
    let b = e.value.get_ref().as_bool();
    if b.is_none() {
        wrong_type(d, e.key, e.value, "`true` or `false`");
    }
    b
}

pub(crate) fn addresses(e: &Entry<'_>, d: &mut FileDiags) -> Option<AddrSet> {
    let nets = each(e, d, |v, d| address(e.key, v, d))?;
    Some(AddrSet::from_nets(&nets))
}

fn address(key: &str, v: &Value<'_>, d: &mut FileDiags) -> Option<IpNet> {
    let Some(s) = v.get_ref().as_str() else {
        wrong_type(d, key, v, "CIDRs or addresses, as strings");
        return None;
    };
    if let Ok(net) = s.parse::<IpNet>() {
        let trunc = net.trunc();
        if trunc != net {
            // Two readings: the prefix is right (the network around the address, which can be
            // far wider than meant: `10.20.0.0/8` is all of 10/8), or the address is right and
            // the prefix a slip (`10.20.0.0/16`). The author must choose; neither is guessed.
            let narrow = narrow_reading(&net);
            let diag = match narrow {
                Some(narrow) => {
                    let diag = d.error(
                        "cidr-host-bits",
                        v.span(),
                        format!("`{s}` has host bits set"),
                        format!("did you mean `{trunc}` or `{narrow}`?"),
                    );
                    let host_bits = u32::from(trunc.max_prefix_len() - trunc.prefix_len());
                    let size = match 1u128.checked_shl(host_bits) {
                        Some(n) if host_bits < 128 => n.to_string(),
                        _ => "2^128".to_string(),
                    };
                    diag.notes.push(format!(
                        "`{trunc}` keeps the prefix length: {size} addresses, which may take in networks that are not yours"
                    ));
                    diag.notes.push(format!(
                        "`{narrow}` keeps the address as written: the narrowest network on an {} boundary that starts there",
                        if net.addr().is_ipv4() { "octet" } else { "16-bit group" }
                    ));
                    diag
                }
                None => d.error(
                    "cidr-host-bits",
                    v.span(),
                    format!("`{s}` has host bits set"),
                    format!("did you mean `{trunc}`?"),
                ),
            };
            diag.notes.push(format!(
                "a CIDR names its network address: `{trunc}` for the network, `{}` for the one address",
                net.addr()
            ));
            return None;
        }
        return Some(net);
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(IpNet::from(ip));
    }
    let diag = d.error(
        "invalid-address",
        v.span(),
        format!("`{}` is not an IP address or CIDR", show(s)),
        "not an address",
    );
    if let Some((addr, len)) = s.split_once('/') {
        if let Ok(ip) = addr.parse::<IpAddr>() {
            let max = if ip.is_ipv4() { 32 } else { 128 };
            diag.notes.push(format!(
                "the prefix length `{}` must be a number from 0 to {max}",
                show(len)
            ));
            return None;
        }
    }
    diag.notes.push(
        "write an IPv4 or IPv6 address (`10.0.0.7`, `2001:db8::7`) or a CIDR (`10.0.0.0/16`)"
            .into(),
    );
    None
}

/// The narrowest network on an octet (IPv6: 16-bit group) boundary, no wider than `net`, whose
/// network address is the address written: `10.20.0.0/8` -> `10.20.0.0/16`. `None` when only
/// the single address is left, which the other note names already.
fn narrow_reading(net: &IpNet) -> Option<IpNet> {
    let (max, step) = if net.addr().is_ipv4() {
        (32, 8)
    } else {
        (128, 16)
    };
    let mut len = net.prefix_len().div_ceil(step) * step;
    while len < max {
        let candidate = IpNet::new(net.addr(), len).ok()?;
        if candidate.trunc() == candidate {
            return Some(candidate);
        }
        len += step;
    }
    None
}

pub(crate) fn ports(e: &Entry<'_>, d: &mut FileDiags) -> Option<PortSet> {
    let ranges = each(e, d, |v, d| port_range(e.key, v, d))?;
    Some(PortSet::from_ranges(ranges))
}

fn port_range(key: &str, v: &Value<'_>, d: &mut FileDiags) -> Option<(u16, u16)> {
    if let Some(n) = integer(v.get_ref()) {
        let p = port_number(n, v, d)?;
        return Some((p, p));
    }
    let Some(s) = v.get_ref().as_str() else {
        wrong_type(d, key, v, "ports: numbers or \"lo-hi\" strings");
        return None;
    };
    let (lo, hi) = s.split_once('-').unwrap_or((s, s));
    let parse = |t: &str, d: &mut FileDiags| -> Option<u16> {
        let t = t.trim();
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            d.error(
                "invalid-port",
                v.span(),
                format!("`{}` is not a port or port range", show(s)),
                "not a port",
            )
            .notes
            .push("write a number (`443`) or a range (`\"8443-8444\"`)".into());
            return None;
        }
        // More than 10 digits cannot fit, and is out of range either way.
        port_number(t.parse::<i128>().unwrap_or(i128::MAX), v, d)
    };
    let lo = parse(lo, d)?;
    let hi = parse(hi, d)?;
    if lo > hi {
        d.error(
            "port-range-reversed",
            v.span(),
            format!("port range `{}` is reversed", show(s)),
            format!("did you mean `\"{hi}-{lo}\"`?"),
        );
        return None;
    }
    Some((lo, hi))
}

fn port_number(n: i128, v: &Value<'_>, d: &mut FileDiags) -> Option<u16> {
    match u16::try_from(n) {
        Ok(p) => Some(p),
        Err(_) => {
            let shown = if n == i128::MAX {
                "the port".to_string()
            } else {
                format!("port {n}")
            };
            d.error(
                "port-out-of-range",
                v.span(),
                format!("{shown} is out of range"),
                "ports are 0 to 65535",
            );
            None
        }
    }
}

pub(crate) fn protocols(e: &Entry<'_>, d: &mut FileDiags) -> Option<ProtoSet> {
    let numbers = each(e, d, protocol)?;
    Some(ProtoSet::from_numbers(numbers))
}

fn protocol(v: &Value<'_>, d: &mut FileDiags) -> Option<u8> {
    let out_of_range = |d: &mut FileDiags, n: &dyn std::fmt::Display| {
        d.error(
            "unknown-protocol",
            v.span(),
            format!("protocol {n} is out of range"),
            "protocol numbers are 0 to 255",
        );
    };
    if let Some(n) = integer(v.get_ref()) {
        return u8::try_from(n).ok().or_else(|| {
            out_of_range(d, &n);
            None
        });
    }
    let Some(s) = v.get_ref().as_str() else {
        wrong_type(d, "protocol", v, "protocol names or numbers");
        return None;
    };
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<u8>().ok().or_else(|| {
            out_of_range(d, &show(s));
            None
        });
    }
    let lower = s.to_ascii_lowercase();
    if let Some(&(_, n)) = PROTOCOLS.iter().find(|(name, _)| *name == lower) {
        return Some(n);
    }
    let names: Vec<&str> = PROTOCOLS.iter().map(|(n, _)| *n).collect();
    let diag = d.error(
        "unknown-protocol",
        v.span(),
        format!("unknown protocol `{}`", show(s)),
        "not a protocol name",
    );
    if let Some(best) = closest(&lower, &names) {
        diag.notes.push(format!("did you mean `{best}`?"));
    }
    diag.notes.push(format!(
        "known names: {}; any other protocol by its number (0-255)",
        names.join(", ")
    ));
    None
}

pub(crate) fn ids(kind: IdKind, e: &Entry<'_>, d: &mut FileDiags) -> Option<IdSet> {
    let (prefix, what) = kind.prefix();
    let list = each(e, d, |v, d| {
        let Some(s) = v.get_ref().as_str() else {
            wrong_type(d, e.key, v, "ids, as strings");
            return None;
        };
        // Flow logs write ids exactly like this; anything else can never match a record.
        if !kind.accepts(s) {
            d.error(
                "invalid-id",
                v.span(),
                format!("`{}` is not {what}", show(s)),
                format!("expected `{prefix}…`"),
            );
            return None;
        }
        Some(s)
    })?;
    Some(IdSet::from_ids(list))
}

/// One of a few fixed words (`ingress`, `ACCEPT`, `packet`), case-insensitive. `aliases` are
/// words people use for them elsewhere (`inbound`, `deny`): not accepted, but suggested.
pub(crate) fn word<T: Copy>(
    key: &str,
    v: &Value<'_>,
    choices: &[(&'static str, T)],
    aliases: &[(&str, &str)],
    d: &mut FileDiags,
) -> Option<T> {
    let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
    let Some(s) = v.get_ref().as_str() else {
        wrong_type(d, key, v, &format!("one of: {}", names.join(", ")));
        return None;
    };
    if let Some(&(_, t)) = choices.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)) {
        return Some(t);
    }
    let diag = d.error(
        "invalid-value",
        v.span(),
        format!("`{}` is not a valid `{key}`", show(s)),
        format!("expected one of: {}", names.join(", ")),
    );
    let lower: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    let typed = s.to_ascii_lowercase();
    if let Some(best) = closest(&typed, &lower) {
        let i = lower
            .iter()
            .position(|l| *l == best)
            .expect("from the list");
        diag.notes.push(format!("did you mean `{}`?", names[i]));
    } else if let Some((_, meant)) = aliases.iter().find(|(a, _)| typed.starts_with(a)) {
        diag.notes.push(format!("did you mean `{meant}`?"));
    }
    None
}

/// One value where a list makes no sense: a record has one interface, one direction.
fn single<'a>(e: &Entry<'a>, d: &mut FileDiags, what: &str) -> Option<&'a Value<'a>> {
    if let DeValue::Array(_) = e.value.get_ref() {
        d.error(
            "wrong-type",
            e.value.span(),
            format!("`{}` of an expectation takes {what}", e.key),
            "found an array",
        )
        .notes
        .push("an expectation describes one record, which holds one value of each field".into());
        return None;
    }
    Some(e.value)
}

/// One id (`interface = "eni-…"`), checked like the ids of a matching key.
pub(crate) fn id(kind: IdKind, e: &Entry<'_>, d: &mut FileDiags) -> Option<String> {
    single(e, d, "one id")?;
    let set = ids(kind, e, d)?;
    set.ids().first().map(|s| s.to_string())
}

/// One direction, `ingress` or `egress`.
pub(crate) fn direction(e: &Entry<'_>, d: &mut FileDiags) -> Option<Direction> {
    let v = single(e, d, "one direction")?;
    let choices = [
        ("ingress", Direction::Ingress),
        ("egress", Direction::Egress),
    ];
    word(
        e.key,
        v,
        &choices,
        &[("in", "ingress"), ("out", "egress")],
        d,
    )
}

/// One action, `ACCEPT` or `REJECT`.
pub(crate) fn action(e: &Entry<'_>, d: &mut FileDiags) -> Option<Action> {
    let v = single(e, d, "one action")?;
    let choices = [("ACCEPT", Action::Accept), ("REJECT", Action::Reject)];
    let aliases = [
        ("allow", "ACCEPT"),
        ("permit", "ACCEPT"),
        ("deny", "REJECT"),
        ("drop", "REJECT"),
        ("block", "REJECT"),
    ];
    word(e.key, v, &choices, &aliases, d)
}

pub(crate) fn directions(e: &Entry<'_>, d: &mut FileDiags) -> Option<Bits> {
    let choices = [
        ("ingress", Direction::Ingress),
        ("egress", Direction::Egress),
    ];
    let aliases = [("in", "ingress"), ("out", "egress")];
    let list = each(e, d, |v, d| word(e.key, v, &choices, &aliases, d))?;
    Some(Bits(list.iter().fold(0, |b, &x| b | 1 << direction_bit(x))))
}

pub(crate) fn actions(e: &Entry<'_>, d: &mut FileDiags) -> Option<Bits> {
    let choices = [("ACCEPT", Action::Accept), ("REJECT", Action::Reject)];
    let aliases = [
        ("allow", "ACCEPT"),
        ("permit", "ACCEPT"),
        ("deny", "REJECT"),
        ("drop", "REJECT"),
        ("block", "REJECT"),
    ];
    let list = each(e, d, |v, d| word(e.key, v, &choices, &aliases, d))?;
    Some(Bits(list.iter().fold(0, |b, &x| b | 1 << action_bit(x))))
}

pub(crate) fn addresses_mode(e: &Entry<'_>, d: &mut FileDiags) -> Option<super::Addresses> {
    use super::Addresses;
    let choices = [
        ("interface", Addresses::Interface),
        ("packet", Addresses::Packet),
    ];
    let aliases = [("pkt", "packet"), ("nat", "packet"), ("eni", "interface")];
    word(e.key, e.value, &choices, &aliases, d)
}

pub(crate) fn level(e: &Entry<'_>, d: &mut FileDiags) -> Option<Level> {
    let choices = [
        ("fail", Level::Fail),
        ("warn", Level::Warn),
        ("ignore", Level::Ignore),
    ];
    let aliases = [
        ("error", "fail"),
        ("deny", "fail"),
        ("warn", "warn"),
        ("off", "ignore"),
        ("none", "ignore"),
        ("allow", "ignore"),
    ];
    let before = d.diags.len();
    let level = word(e.key, e.value, &choices, &aliases, d);
    // A level is its own kind of value, with its own code.
    if let Some(diag) = d.diags.get_mut(before) {
        if diag.code == "invalid-value" {
            diag.code = "invalid-level";
        }
    }
    level
}

pub(crate) fn duration(e: &Entry<'_>, d: &mut FileDiags) -> Option<u64> {
    let example = "write a number and a unit: \"30d\", \"2h\", \"90m\", \"45s\", \"1w\" (or sums like \"1d12h\")";
    let Some(s) = e.value.get_ref().as_str() else {
        wrong_type(d, e.key, e.value, "a duration string");
        d.diags
            .last_mut()
            .expect("just pushed")
            .notes
            .push(example.into());
        return None;
    };
    duration::parse(s)
        .map_err(|why| {
            d.error(
                "invalid-duration",
                e.value.span(),
                format!("`{}` is not a duration", show(s)),
                why,
            )
            .notes
            .push(example.into());
        })
        .ok()
}

/// `expires`: a TOML date (`2027-01-31`) or the same as a string.
pub(crate) fn date(e: &Entry<'_>, d: &mut FileDiags) -> Option<time::Date> {
    let bad = |d: &mut FileDiags, what: String| {
        d.error(
            "invalid-date",
            e.value.span(),
            what,
            "expected a date like 2027-01-31",
        )
        .notes
        .push("write the last day the waiver holds, as `expires = 2027-01-31`".into());
    };
    match e.value.get_ref() {
        DeValue::Datetime(dt) => {
            let (Some(date), None, None) = (dt.date, dt.time, dt.offset) else {
                bad(d, format!("`{dt}` is not a plain date"));
                return None;
            };
            let day = time::Month::try_from(date.month).ok().and_then(|m| {
                time::Date::from_calendar_date(i32::from(date.year), m, date.day).ok()
            });
            if day.is_none() {
                bad(d, format!("`{dt}` is not a day of the calendar"));
            }
            day
        }
        DeValue::String(s) => {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            let day = time::Date::parse(s, format).ok();
            if day.is_none() {
                bad(d, format!("`{}` is not a date", show(s)));
            }
            day
        }
        other => {
            d.error(
                "wrong-type",
                e.value.span(),
                "`expires` takes a date",
                format!("found {}", type_name(other)),
            );
            None
        }
    }
}
