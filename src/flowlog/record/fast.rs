//! The fast path of the record parser: the line every flow log writes millions of times.
//!
//! AWS writes records as printable ASCII tokens separated by single spaces. This path reads
//! only such lines, and only when every value in them is valid; anything else (a tab, a doubled
//! space, a byte outside `' '..='~'`, a wrong token count, a value that does not parse, an
//! IPv6 address in an unusual spelling) makes it give up (it returns `false`), and the careful
//! parser in `record.rs` reads the line again and says what is wrong. So this path never
//! decides that a line is bad, it only accepts lines that the careful parser accepts with the
//! same result (a property test holds it to that), and errors keep one source.
//!
//! Why it is faster: the bytes are classified 64 at a time into bit masks (separators, and
//! bytes outside printable ASCII) with SSE2 compares; tokens are then found from the separator
//! mask with `trailing_zeros` instead of byte by byte, and in a decoded buffer the line's end
//! with them (and empty tokens, so the fields need not test for them); numbers of up to
//! sixteen digits are read at once without a branch on their length (two neighbouring ones
//! of up to eight together), IPv4 addresses with an SSSE3 shuffle where the CPU has it, IPv6
//! by hand; AWS's default format has straight-line code; and no error values are built on
//! the way.

#![deny(clippy::undocumented_unsafe_blocks)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Action, Direction, Flow, LogStatus};
use crate::flowlog::format::{Field, Format};

/// Parses `line` into `flow` (which starts as [`Flow::EMPTY`]) when it is a plain, valid
/// record of `format`; `false` sends it to the careful parser, and `flow` is then garbage.
///
/// Not inlined on purpose: writing through `flow` keeps the record in memory, where inlined
/// into the caller the compiler splits it into some forty locals that do not fit in registers
/// and spends more on spilling them than on parsing.
#[inline(never)]
pub(super) fn parse<'a>(format: &Format, line: &'a [u8], flow: &mut Flow<'a>) -> bool {
    if format.is_default_v2() {
        default_v2(line, flow).is_some()
    } else {
        any_format(format.slots(), line, flow).is_some()
    }
}

/// Hands the separator mask of each 64-byte block of `$line` to `$each` (a macro, not a
/// function taking a closure: a closure's captured counters would live in memory, and this
/// runs once per token). Returns `None` from the enclosing function on a byte outside
/// printable ASCII.
macro_rules! for_each_block {
    ($line:expr, |$spaces:ident, $base:ident| $each:block) => {
        let line: &[u8] = $line;
        let mut $base = 0;
        let mut blocks = line.chunks_exact(64);
        for block in &mut blocks {
            let ($spaces, odd) = classify(block.try_into().ok()?);
            if odd != 0 {
                return None;
            }
            $each
            $base += 64;
        }
        if !blocks.remainder().is_empty() {
            let ($spaces, odd) = tail_block(line, $base);
            if odd != 0 {
                return None;
            }
            $each
        }
    };
}

/// `classify` of `line[base..]`, fewer than 64 bytes at the line's end, as if the block went
/// on with printable non-separators: the last 64 bytes shifted past the ones already read,
/// or a short line padded.
#[inline(always)]
fn tail_block(line: &[u8], base: usize) -> (u64, u64) {
    let rest = line.len() - base;
    debug_assert!(rest > 0 && rest < 64);
    if line.len() >= 64 {
        let (spaces, odd) = classify(line[line.len() - 64..].try_into().expect("64 bytes"));
        (spaces >> (64 - rest), odd >> (64 - rest))
    } else {
        let mut block = [b'0'; 64];
        block[..rest].copy_from_slice(line);
        classify(&block)
    }
}

/// Any format: each token is stored as the field its column holds.
#[inline(always)]
fn any_format<'a>(slots: &[Option<Field>], line: &'a [u8], flow: &mut Flow<'a>) -> Option<()> {
    let mut column = 0;
    let mut begin = 0;
    for_each_block!(line, |spaces, base| {
        let mut spaces: u64 = spaces;
        while spaces != 0 {
            let end = base + spaces.trailing_zeros() as usize;
            spaces &= spaces - 1;
            set(flow, *slots.get(column)?, line, begin, end)?;
            column += 1;
            begin = end + 1;
        }
    });
    if column + 1 != slots.len() {
        return None;
    }
    set(flow, slots[column], line, begin, line.len())?;
    check_times(flow)
}

/// AWS's default format, the one most archives are in: the separators are found first, then
/// the fields are read by `v2_fields`.
#[inline(always)]
fn default_v2<'a>(line: &'a [u8], flow: &mut Flow<'a>) -> Option<()> {
    let mut ends = [0usize; 14];
    let mut count = 0;
    for_each_block!(line, |spaces, base| {
        let mut spaces: u64 = spaces;
        while spaces != 0 {
            // A 14th separator (15 tokens) has no slot: not this format.
            *ends.get_mut(count)? = base + spaces.trailing_zeros() as usize;
            count += 1;
            spaces &= spaces - 1;
        }
    });
    if count != 13 {
        return None;
    }
    ends[13] = line.len();
    v2_fields::<false, _, 14>(line, &ends, flow)
}

/// The plain default-format record that `rest` (a decoded buffer from a line's start) begins
/// with: its length when its line ends in `\n` and `default_v2` would accept it, `None` for
/// anything else (a header, a blank line, `\r\n`, a line this path gives up on, a line of 256
/// bytes or more, or a buffer that ends within 64 bytes of the 64-byte block holding the
/// line's end), which the caller then reads the usual way. Every field of
/// the format is written (`-` as absent), so `flow` may hold the previous record of this
/// format rather than [`Flow::EMPTY`]; after `None` it is garbage.
///
/// Why: cut out first (a `memchr` for the newline) and then classified, each line's bytes
/// were scanned twice, and the line bookkeeping between the two cost as much again. Here the
/// classification that finds the separators also finds the line's end, the first byte
/// outside printable ASCII, which must be the newline.
#[inline(never)]
pub(super) fn default_v2_line<'a>(rest: &'a [u8], flow: &mut Flow<'a>) -> Option<usize> {
    // u8: positions in a line under 256 bytes, 16 bytes to clear per line; 16 of them so
    // that `line_ends` stores without a bounds test.
    let mut ends = [0u8; 16];
    // Plain default-format records are 60-200 bytes long; longer lines take the usual way.
    let end = line_ends(rest, &mut ends, 14, 256)?;
    v2_fields::<true, _, 16>(&rest[..end], &ends, flow)?;
    Some(end)
}

/// Most columns a custom-format line may have to be read by [`format_line`]; AWS's formats
/// have at most some 30 fields, and a longer header's lines take the usual way.
const MOST_COLUMNS: usize = 48;

/// [`default_v2_line`] for any other format (`slots` from its header): the same shortcut for
/// archives written in a custom format, such as one that adds `flow-direction` or the
/// `pkt-` addresses. Lines of 512 bytes or more take the usual way. Every column of the
/// format is written (`-` as absent) and fields the format lacks are never touched, so `flow`
/// may hold the previous record of this format; after `None` it is garbage.
#[inline(never)]
pub(super) fn format_line<'a>(
    slots: &[Option<Field>],
    rest: &'a [u8],
    flow: &mut Flow<'a>,
) -> Option<usize> {
    // u16: positions in a line under 512 bytes, and 128 bytes to clear per line, not 512.
    if slots.len() > MOST_COLUMNS {
        return None;
    }
    let mut ends = [0u16; 64];
    let end = line_ends(rest, &mut ends, slots.len(), 512)?;
    let line = &rest[..end];
    let mut begin = 0;
    for (&slot, &end) in slots.iter().zip(ends.iter()) {
        let end = usize::from(end);
        nonempty_token(line, begin, end);
        set(flow, slot, line, begin, end)?;
        begin = end + 1;
    }
    check_times(flow)?;
    Some(end)
}

/// The `column`th of `line`'s space-separated tokens read as an address: the light parse of
/// the benchmark's cost ladder (see `engine::ReadDepth`) with this module's tools. Only spaces
/// separate, as in `split(' ')`, and nothing past the token is looked at, so it reads what the
/// standard library's version reads (bar unusual IPv6 spellings, which `addr` leaves to the
/// careful parser): separators from the classification masks, blocks classified only until
/// the token's end.
pub(crate) fn light_addr(line: &[u8], column: usize) -> Option<IpAddr> {
    let mut count = 0;
    let mut begin = 0;
    let mut base = 0;
    while base < line.len() {
        let mut spaces = match line.get(base..base + 64) {
            Some(block) => classify(block.try_into().ok()?).0,
            None => tail_block(line, base).0,
        };
        while spaces != 0 {
            let end = base + spaces.trailing_zeros() as usize;
            if count == column {
                return addr(line, begin, end);
            }
            spaces &= spaces - 1;
            count += 1;
            begin = end + 1;
        }
        base += 64;
    }
    // The last token ends with the line; an empty token is no address.
    if count == column {
        addr(line, begin, line.len())
    } else {
        None
    }
}

/// Finds the line `rest` begins with and where its tokens end: `ends[..n - 1]` the separators
/// and `ends[n - 1]` the line's end, its length (returned), for `n` tokens (`columns`, at most
/// `M`). `None` unless the line is under `limit` bytes, ends in `\n` and has exactly `n`
/// tokens, all printable ASCII and none empty; so on `Some`, the ends rise by at least 2 from one to the next (the first is
/// at least 1), which is what [`nonempty_token`] tells the compiler.
///
/// Why the empty tokens here: tested on the masks, a few instructions a 64-byte block, where
/// each field's own test (is its token empty, does it lie within the line) cost ~7
/// instructions, a hundred a default-format record.
#[inline(always)]
fn line_ends<T: Position, const M: usize>(
    rest: &[u8],
    ends: &mut [T; M],
    columns: usize,
    limit: usize,
) -> Option<usize> {
    const { assert!(M.is_power_of_two()) };
    debug_assert!(limit <= T::LIMIT && (1..=M).contains(&columns));
    let mut count = 0;
    let mut base = 0;
    // Bit 0: whether the byte before this block is a separator (the line's start counts as
    // one, so a space at byte 0 is an empty first token).
    let mut carry = 1u64;
    while base < limit {
        let (spaces, odd) = classify(rest.get(base..base + 64)?.try_into().ok()?);
        // The line's end if in this block, and the separators before it (all of them when
        // there is none).
        let stop = odd & odd.wrapping_neg();
        let mut spaces = spaces & stop.wrapping_sub(1);
        // A token ends (at a separator or the line's end) right after another token's end:
        // an empty token (a doubled, leading or trailing space, or an empty line).
        if (spaces | stop) & ((spaces << 1) | carry) != 0 {
            return None;
        }
        carry = spaces >> 63;
        while spaces != 0 {
            // Past `M` separators the positions wrap and are garbage, but `count` stays
            // exact and refuses the line below: no bounds test per separator.
            ends[count & (M - 1)] = T::at(base + spaces.trailing_zeros() as usize);
            count += 1;
            spaces &= spaces - 1;
        }
        if odd != 0 {
            let end = base + odd.trailing_zeros() as usize;
            if rest[end] != b'\n' || count + 1 != columns {
                return None;
            }
            ends[count] = T::at(end);
            return Some(end);
        }
        base += 64;
    }
    None
}

/// A byte position in a line, as `line_ends` stores it: `u8` for the default format's
/// fourteen (lines under 256 bytes), `u16` for up to [`MOST_COLUMNS`] (lines under 512).
trait Position: Copy {
    /// Positions up to this fit.
    const LIMIT: usize;
    /// `i`, which is below `LIMIT`.
    fn at(i: usize) -> Self;
}

impl Position for usize {
    const LIMIT: usize = usize::MAX;
    #[inline(always)]
    fn at(i: usize) -> usize {
        i
    }
}

impl Position for u8 {
    const LIMIT: usize = 1 << 8;
    #[inline(always)]
    fn at(i: usize) -> u8 {
        i as u8
    }
}

impl Position for u16 {
    const LIMIT: usize = 1 << 16;
    #[inline(always)]
    fn at(i: usize) -> u16 {
        i as u16
    }
}

/// The fourteen fields of a default-format `line` whose tokens end at `ends`, each read by
/// code written for it, with no per-column dispatch, so the compiler keeps the record's values
/// in registers. The checks are those of `any_format`. `FROM_LINE_ENDS`: the ends are
/// [`line_ends`]'s, so no token is empty or outside the line, and the per-field tests of that
/// are left out (see [`nonempty_token`]).
#[inline(always)]
fn v2_fields<'a, const FROM_LINE_ENDS: bool, T: Copy + Into<usize>, const M: usize>(
    line: &'a [u8],
    ends: &[T; M],
    flow: &mut Flow<'a>,
) -> Option<()> {
    const { assert!(M >= 14) };
    macro_rules! field {
        ($k:literal, $field:ident) => {
            let begin = if $k == 0 { 0 } else { ends[$k - 1].into() + 1 };
            let end = ends[$k].into();
            if FROM_LINE_ENDS {
                nonempty_token(line, begin, end);
            }
            set(flow, Some(Field::$field), line, begin, end)?;
        };
    }
    field!(0, Version);
    field!(1, AccountId);
    field!(2, InterfaceId);
    field!(3, SrcAddr);
    field!(4, DstAddr);
    // Two neighbouring numbers of up to 8 digits each (the ports; the packets and bytes of
    // most records) are read at once (see `two_numbers`); anything else field by field.
    macro_rules! pair {
        ($k:literal, $k1:literal, $first:ident, $a:ident, $second:ident, $b:ident, $max:expr, $to:ty) => {
            let (b0, e0) = (ends[$k - 1].into() + 1, ends[$k].into());
            match two_numbers(line, b0, e0, ends[$k1].into()) {
                Some((x, y)) if x <= $max && y <= $max => {
                    flow.$a = Some(x as $to);
                    flow.$b = Some(y as $to);
                }
                _ => {
                    field!($k, $first);
                    field!($k1, $second);
                }
            }
        };
    }
    pair!(5, 6, SrcPort, src_port, DstPort, dst_port, 65535, u16);
    field!(7, Protocol);
    pair!(8, 9, Packets, packets, Bytes, bytes, u64::MAX, u64);
    field!(10, Start);
    field!(11, End);
    field!(12, Action);
    field!(13, LogStatus);
    check_times(flow)
}

/// Tells the compiler that `line[begin..end]` is a token that [`line_ends`] found: not
/// empty and within the line, so that `set` and the readers under it skip testing it again.
///
/// Only for `begin` and `end` from a `line_ends` that returned `Some` (the previous token's
/// end plus one, or 0 for the first, and this token's end) with `line` cut at the end it
/// returned: its ends rise by at least 2 from one to the next and the first is at least 1
/// (empty tokens are refused on the masks), and the last is the line's length. Debug builds
/// (the tests) check it.
#[allow(unsafe_code)] // a fact for the optimiser; see the SAFETY note
#[inline(always)]
fn nonempty_token(line: &[u8], begin: usize, end: usize) {
    // SAFETY: by `line_ends`'s contract above, for the `begin` and `end` of its callers
    // (`v2_fields::<true, _>`, `format_line`), which is the only way they call this.
    unsafe { std::hint::assert_unchecked(begin < end && end <= line.len()) }
}

#[inline(always)]
fn check_times(flow: &Flow<'_>) -> Option<()> {
    match (flow.start, flow.end) {
        (Some(start), Some(end)) if start > end => None,
        _ => Some(()),
    }
}

/// Bit `i` of the first mask: byte `i` is a space; of the second: byte `i` is outside
/// printable ASCII (`' '..='~'`).
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)] // SSE2 intrinsics; see the SAFETY note
#[inline(always)]
fn classify(block: &[u8; 64]) -> (u64, u64) {
    // SSE2 is part of x86_64, so these are always available: four 16-byte compares per mask
    // where a byte loop takes some 20 instructions a byte (the compiler does not vectorise
    // building a bit mask).
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    // SAFETY: the SSE2 intrinsics need the `sse2` target feature, which every x86_64 target
    // has; the loads read bytes 16k..16k+16 of the 64-byte `block` (k < 4), and `loadu` has
    // no alignment requirement.
    unsafe {
        let space = _mm_set1_epi8(b' ' as i8);
        let del = _mm_set1_epi8(0x7f);
        let mut spaces = 0u64;
        let mut odd = 0u64;
        for k in 0..4 {
            let v = _mm_loadu_si128(block.as_ptr().add(16 * k).cast::<__m128i>());
            spaces |= u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, space)) as u16) << (16 * k);
            // Signed compare: bytes 0x80-0xff are negative, so "< 0x20" also catches them.
            let low = _mm_cmplt_epi8(v, space);
            let bad = _mm_or_si128(low, _mm_cmpeq_epi8(v, del));
            odd |= u64::from(_mm_movemask_epi8(bad) as u16) << (16 * k);
        }
        (spaces, odd)
    }
}

/// The portable version of the above, for other targets (such as aarch64 laptops); built
/// everywhere so that a test holds the two to the same answers.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn classify(block: &[u8; 64]) -> (u64, u64) {
    classify_portable(block)
}

#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline(always)]
fn classify_portable(block: &[u8; 64]) -> (u64, u64) {
    // Eight bytes at a time (SWAR): each test leaves a byte's high bit set, and a multiply
    // gathers the eight high bits into eight mask bits. A byte loop building the mask costs
    // some 20 instructions a byte, this about 3.
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const fn splat(b: u8) -> u64 {
        u64::from_ne_bytes([b; 8])
    }
    let gather = |m: u64| ((m >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) & 0xff;
    let mut spaces = 0u64;
    let mut odd = 0u64;
    for (k, chunk) in block.chunks_exact(8).enumerate() {
        let x = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        // A byte equal to ' ': zero after the XOR. (y & LOW7) + LOW7 sets the high bit of
        // every non-zero low seven bits, `| y` of every byte with its own high bit.
        let y = x ^ splat(b' ');
        let space = !(((y & LOW7) + LOW7) | y) & HIGH;
        // Outside ' '..='~': the high bit set (0x80-0xff), below 0x20, or 0x7f. No test
        // carries into the next byte: the low seven bits plus at most 0x60 stay below 0x100.
        let below = !((x & LOW7) + splat(0x60)) & HIGH;
        let del = ((x & LOW7) + splat(0x01)) & HIGH;
        let bad = (x | below | del) & HIGH;
        spaces |= gather(space) << (8 * k);
        odd |= gather(bad) << (8 * k);
    }
    (spaces, odd)
}

/// Stores `token` as `field`; `None` when it is empty (a doubled or edge space) or not a
/// valid value, so that the careful parser takes over.
///
/// `-` (absent) is tested only when a value does not parse (no field's values include it),
/// so the common token pays for one test fewer.
#[inline(always)]
fn set<'a>(
    flow: &mut Flow<'a>,
    field: Option<Field>,
    line: &'a [u8],
    begin: usize,
    end: usize,
) -> Option<()> {
    let token = line.get(begin..end)?;
    if token.is_empty() {
        return None;
    }
    let Some(field) = field else {
        return Some(()); // a column flowgate does not read: printable is all it must be
    };
    // The value, or from a token that is not one: absent for `-`, else a give-up.
    macro_rules! value {
        ($parsed:expr) => {
            match $parsed {
                Some(v) => Some(v),
                None if token == b"-" => None,
                None => return None,
            }
        };
    }
    let num = |max| number(line, begin, end, max);
    let id = || (token != b"-").then(|| ascii(token));
    match field {
        Field::LogStatus => {
            flow.status = match token {
                b"OK" => LogStatus::Ok,
                b"NODATA" => LogStatus::NoData,
                b"SKIPDATA" => LogStatus::SkipData,
                b"-" => Flow::EMPTY.status,
                _ => return None,
            }
        }
        Field::Action => {
            flow.action = match token {
                b"ACCEPT" => Some(Action::Accept),
                b"REJECT" => Some(Action::Reject),
                b"-" => None,
                _ => return None,
            }
        }
        Field::FlowDirection => {
            flow.direction = match token {
                b"ingress" => Some(Direction::Ingress),
                b"egress" => Some(Direction::Egress),
                b"-" => None,
                _ => return None,
            }
        }
        Field::SrcAddr => flow.src = value!(addr(line, begin, end)),
        Field::DstAddr => flow.dst = value!(addr(line, begin, end)),
        Field::PktSrcAddr => flow.pkt_src = value!(addr(line, begin, end)),
        Field::PktDstAddr => flow.pkt_dst = value!(addr(line, begin, end)),
        Field::SrcPort => flow.src_port = value!(num(65535)).map(|n| n as u16),
        Field::DstPort => flow.dst_port = value!(num(65535)).map(|n| n as u16),
        Field::Protocol => flow.protocol = value!(num(255)).map(|n| n as u8),
        Field::Packets => flow.packets = value!(num(u64::MAX)),
        Field::Bytes => flow.bytes = value!(num(u64::MAX)),
        Field::Start => flow.start = value!(num(u64::MAX)),
        Field::End => flow.end = value!(num(u64::MAX)),
        Field::TcpFlags => flow.tcp_flags = value!(num(255)).map(|n| n as u8),
        Field::Version => flow.version = value!(num(255)).map(|n| n as u8),
        Field::AccountId => flow.account = id(),
        Field::InterfaceId => flow.interface = id(),
        Field::VpcId => flow.vpc = id(),
        Field::SubnetId => flow.subnet = id(),
        Field::InstanceId => flow.instance = id(),
        _ => {}
    }
    Some(())
}

/// A token of a line `classify` found to be printable ASCII, as text.
#[allow(unsafe_code)] // skips re-checking what `classify` checked; see the SAFETY note
#[inline(always)]
fn ascii(token: &[u8]) -> &str {
    debug_assert!(token.is_ascii());
    // SAFETY: `parse` only hands on tokens of blocks whose bytes `classify` found to be all
    // in ' '..='~' (it returns before `set` otherwise); `default_v2_line` and `format_line`
    // only tokens before the first byte `classify` found outside that range (the line's end,
    // from `line_ends`); and ASCII is valid UTF-8.
    unsafe { std::str::from_utf8_unchecked(token) }
}

/// The decimal `line[begin..end]` (not empty), if it is at most `max`. Up to 16 digits are
/// read at once, whatever their number (see `sixteen_digits`); longer ones, which no flow-log
/// field holds in practice, by the careful parser's digit loop.
#[inline(always)]
fn number(line: &[u8], begin: usize, end: usize, max: u64) -> Option<u64> {
    // One digit (the version, most protocols, the packets of many records) needs no window:
    // ~5 instructions where the window takes ~30. Within 16 bytes of the line's start the
    // window would be copied into a buffer of zeros; the digit loop is cheaper there.
    let n = if end - begin == 1 {
        let digit = line[begin].wrapping_sub(b'0');
        (digit <= 9).then_some(u64::from(digit))?
    } else if end - begin <= 16 && end >= 16 {
        sixteen_digits(window(line, end), end - begin)?
    } else {
        super::parse_u64(&line[begin..end])?
    };
    (n <= max).then_some(n)
}

/// The decimal numbers `line[begin..end]` and `line[end + 1..next]` (neighbouring tokens)
/// when both are all digits and of 1-8, and `end` is 8 or more; `None` leaves
/// them to `number`, token by token. The two eight-byte words that end the tokens are read as
/// one sixteen-byte number: where `number` takes ~30 instructions a token, this takes ~35
/// for both.
#[inline(always)]
fn two_numbers(line: &[u8], begin: usize, end: usize, next: usize) -> Option<(u64, u64)> {
    let (first, second) = (end - begin, next - end - 1);
    // Lengths 1-8 (an empty token, which `parse`'s ends allow, is `set`'s to refuse).
    if first.wrapping_sub(1) >= 8 || second.wrapping_sub(1) >= 8 || end < 8 {
        return None;
    }
    let word = |end: usize| -> Option<[u8; 8]> { line.get(end - 8..end)?.try_into().ok() };
    let (a, b) = (word(end)?, word(next)?);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a);
    bytes[8..].copy_from_slice(&b);
    two_eight_digits(bytes, first, second)
}

/// The values of the last `first` (1-8) bytes of `bytes[..8]` and the last `second` (1-8)
/// of `bytes[8..]`, if they are all decimal digits: `sixteen_digits` with each half's
/// own length, its two eight-digit halves taken apart instead of joined.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)] // SSE2 intrinsics; see the SAFETY note
#[inline(always)]
fn two_eight_digits(bytes: [u8; 16], first: usize, second: usize) -> Option<(u64, u64)> {
    use std::arch::x86_64::{
        __m128i, _mm_and_si128, _mm_cmpeq_epi8, _mm_cvtsi128_si64, _mm_loadu_si128, _mm_madd_epi16,
        _mm_max_epu8, _mm_movemask_epi8, _mm_packs_epi32, _mm_set1_epi32, _mm_set1_epi8,
        _mm_set_epi64x, _mm_setzero_si128, _mm_sub_epi8, _mm_unpackhi_epi8, _mm_unpacklo_epi8,
    };
    debug_assert!((1..=8).contains(&first) && (1..=8).contains(&second));
    // The last `len` bytes of eight, as a little-endian word's high bytes.
    let keep = |len: usize| (u64::MAX << (8 * (8 - len))) as i64;
    // SAFETY: SSE2 is part of every x86_64 target; the load reads the 16 bytes of `bytes`,
    // and `loadu` needs no alignment.
    unsafe {
        let x = _mm_loadu_si128(bytes.as_ptr().cast::<__m128i>());
        let keep = _mm_set_epi64x(keep(second), keep(first));
        let d = _mm_and_si128(_mm_sub_epi8(x, _mm_set1_epi8(b'0' as i8)), keep);
        let nine = _mm_set1_epi8(9);
        if _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(d, nine), nine)) != 0xffff {
            return None;
        }
        // As in `sixteen_digits`: pairs, fours, then each half's eight digits in a 32-bit lane.
        let zero = _mm_setzero_si128();
        let tens = _mm_set1_epi32(0x0001_000a);
        let pairs = _mm_packs_epi32(
            _mm_madd_epi16(_mm_unpacklo_epi8(d, zero), tens),
            _mm_madd_epi16(_mm_unpackhi_epi8(d, zero), tens),
        );
        let fours = _mm_madd_epi16(pairs, _mm_set1_epi32(0x0001_0064));
        let fours = _mm_packs_epi32(fours, fours);
        let eights = _mm_madd_epi16(fours, _mm_set1_epi32(0x0001_2710));
        let both = _mm_cvtsi128_si64(eights) as u64;
        Some((both & 0xffff_ffff, both >> 32))
    }
}

/// The portable version of the above: two eight-byte words (SWAR).
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn two_eight_digits(bytes: [u8; 16], first: usize, second: usize) -> Option<(u64, u64)> {
    two_eight_digits_portable(bytes, first, second)
}

#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline(always)]
fn two_eight_digits_portable(bytes: [u8; 16], first: usize, second: usize) -> Option<(u64, u64)> {
    Some((
        eight_digits(&bytes, 8, first)?,
        eight_digits(&bytes, 16, second)?,
    ))
}

/// The sixteen bytes that end at `line[end]`; before the line's start, `'0'`s. Fields after
/// the first few always have sixteen bytes before their end, so the copy is rare.
#[inline(always)]
fn window(line: &[u8], end: usize) -> [u8; 16] {
    match line.get(end.wrapping_sub(16)..end) {
        Some(bytes) => bytes.try_into().expect("16 bytes"),
        None => {
            let mut bytes = [b'0'; 16];
            bytes[16 - end..].copy_from_slice(&line[..end]);
            bytes
        }
    }
}

/// The value of the last `len` (1-16) bytes of `bytes`, if they are all decimal digits.
///
/// Branch-free, so the length of a number costs no mispredicted branch: ports and counts change
/// length from one record to the next, and the digit loop or switch on the length this replaced
/// mispredicted on most records (measured: 3 fewer mispredicted branches a record, about 10%
/// off a check's time). With SSE2 (every x86_64): subtract `'0'`, clear the bytes before the
/// number, test every byte for <= 9, then combine digits into pairs, fours and eights with
/// multiply-adds.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)] // SSE2 intrinsics; see the SAFETY note
#[inline(always)]
fn sixteen_digits(bytes: [u8; 16], len: usize) -> Option<u64> {
    use std::arch::x86_64::{
        __m128i, _mm_and_si128, _mm_cmpeq_epi8, _mm_cvtsi128_si64, _mm_loadu_si128, _mm_madd_epi16,
        _mm_max_epu8, _mm_movemask_epi8, _mm_packs_epi32, _mm_set1_epi32, _mm_set1_epi8,
        _mm_setzero_si128, _mm_sub_epi8, _mm_unpackhi_epi8, _mm_unpacklo_epi8,
    };
    debug_assert!((1..=16).contains(&len));
    // Indexed, so that a `len` over 16 panics rather than reads past `KEEP`.
    let keep: &[u8; 16] = KEEP[len..len + 16].try_into().expect("16 bytes");
    // SAFETY: SSE2 is part of every x86_64 target; the loads read the 16 bytes of `bytes` and
    // of `keep`, and `loadu` needs no alignment.
    unsafe {
        let x = _mm_loadu_si128(bytes.as_ptr().cast::<__m128i>());
        let keep = _mm_loadu_si128(keep.as_ptr().cast::<__m128i>());
        let d = _mm_and_si128(_mm_sub_epi8(x, _mm_set1_epi8(b'0' as i8)), keep);
        let nine = _mm_set1_epi8(9);
        if _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(d, nine), nine)) != 0xffff {
            return None;
        }
        // Digit 0 is the most significant: pairs (d0, d1) -> 10 d0 + d1, in 32-bit lanes,
        // packed back to 16 bits; then fours likewise; then eights.
        let zero = _mm_setzero_si128();
        let tens = _mm_set1_epi32(0x0001_000a); // 16-bit lanes 10, 1, 10, 1, ...
        let pairs = _mm_packs_epi32(
            _mm_madd_epi16(_mm_unpacklo_epi8(d, zero), tens),
            _mm_madd_epi16(_mm_unpackhi_epi8(d, zero), tens),
        );
        let fours = _mm_madd_epi16(pairs, _mm_set1_epi32(0x0001_0064)); // 100, 1
        let fours = _mm_packs_epi32(fours, fours); // each <= 9999, fits
        let eights = _mm_madd_epi16(fours, _mm_set1_epi32(0x0001_2710)); // 10000, 1
        let both = _mm_cvtsi128_si64(eights) as u64;
        Some((both & 0xffff_ffff) * 100_000_000 + (both >> 32))
    }
}

/// `KEEP[len..len + 16]` keeps the last `len` bytes of sixteen.
#[cfg(target_arch = "x86_64")]
const KEEP: [u8; 32] = {
    let mut keep = [0u8; 32];
    let mut i = 16;
    while i < 32 {
        keep[i] = 0xff;
        i += 1;
    }
    keep
};

/// The portable version of the above: two eight-byte words (SWAR).
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn sixteen_digits(bytes: [u8; 16], len: usize) -> Option<u64> {
    sixteen_digits_portable(bytes, len)
}

#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline(always)]
fn sixteen_digits_portable(bytes: [u8; 16], len: usize) -> Option<u64> {
    let low = eight_digits(&bytes, 16, len.min(8))?;
    if len <= 8 {
        return Some(low);
    }
    Some(eight_digits(&bytes, 8, len - 8)? * 100_000_000 + low)
}

/// The value of the `len` (1-8) decimal digits that end at `line[end]`, if they are digits.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline(always)]
fn eight_digits(line: &[u8], end: usize, len: usize) -> Option<u64> {
    const ZEROS: u64 = u64::from_le_bytes([b'0'; 8]);
    // The eight bytes before `end`; the first digit lands in the lowest byte.
    let word = match line.get(end.wrapping_sub(8)..end) {
        Some(bytes) => u64::from_le_bytes(bytes.try_into().ok()?),
        None => {
            let mut bytes = [b'0'; 8];
            bytes[8 - end..].copy_from_slice(&line[..end]);
            u64::from_le_bytes(bytes)
        }
    };
    // Bytes before the number become leading zeros.
    let pad = 64 - 8 * len as u32;
    let keep = u64::MAX.checked_shl(pad).unwrap_or(0);
    let word = (word & keep) | (ZEROS & !keep);
    // Every byte 0x30-0x39: high nibble 3, and still 3 after adding 6.
    let high = 0xF0F0_F0F0_F0F0_F0F0u64;
    if (word & high) | ((word.wrapping_add(0x0606_0606_0606_0606) & high) >> 4)
        != 0x3333_3333_3333_3333
    {
        return None;
    }
    let v = word & 0x0F0F_0F0F_0F0F_0F0F;
    let v = (v.wrapping_mul(10 << 8 | 1)) >> 8; // pairs of digits
    let v = ((v & 0x00FF_00FF_00FF_00FF).wrapping_mul(100 << 16 | 1)) >> 16; // fours
    let v = ((v & 0x0000_FFFF_0000_FFFF).wrapping_mul(10_000 << 32 | 1)) >> 32; // eight
    Some(v)
}

#[inline(always)]
fn addr(line: &[u8], begin: usize, end: usize) -> Option<IpAddr> {
    let token = &line[begin..end];
    if (7..=15).contains(&token.len()) {
        if let Some(v4) = ipv4_at(line, begin, end) {
            return Some(IpAddr::V4(v4));
        }
    }
    ipv6(token).map(IpAddr::V6)
}

/// `ipv4(&line[begin..end])` for a token of 7-15 bytes: with SSSE3, found at run time (x86_64
/// only promises SSE2), all four octets at once from the 16-byte [`window`] that ends with
/// the token, which is only cut where it is read.
#[inline(always)]
fn ipv4_at(line: &[u8], begin: usize, end: usize) -> Option<Ipv4Addr> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("ssse3") {
        #[allow(unsafe_code)]
        // SAFETY: the CPU has SSSE3, the only target feature `ipv4_ssse3` enables.
        return unsafe { ipv4_ssse3(&window(line, end), end - begin) };
    }
    ipv4(&line[begin..end])
}

/// The dotted quad in the last `len` (7-15) bytes of `bytes`, as `ipv4` reads it. The shape
/// is checked on bit masks (every byte a digit or a dot, three dots, octets of 1-3 digits, no
/// leading zero); the octets' lengths then pick a shuffle from `OCTET_SHUFFLES` that moves
/// each octet's digits to its own four bytes, and two multiply-adds weigh them. Octets change
/// length from one address to the next, so the branches of `ipv4`'s digit loop mispredict;
/// this takes about as many instructions (~90 with the call) and one branch, and checks ran
/// 3-10% faster with it (docs/performance.md).
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)] // SSE2/SSSE3 intrinsics; see the SAFETY notes
#[target_feature(enable = "ssse3")]
unsafe fn ipv4_ssse3(bytes: &[u8; 16], len: usize) -> Option<Ipv4Addr> {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_cmpgt_epi32, _mm_cvtsi128_si32, _mm_loadu_si128,
        _mm_madd_epi16, _mm_maddubs_epi16, _mm_max_epu8, _mm_movemask_epi8, _mm_packs_epi32,
        _mm_packus_epi16, _mm_set1_epi16, _mm_set1_epi32, _mm_set1_epi8, _mm_shuffle_epi8,
        _mm_sub_epi8,
    };
    debug_assert!((7..=15).contains(&len));
    // SAFETY: the loads read the 16 bytes of `bytes` and one 16-byte entry of
    // `OCTET_SHUFFLES`; `loadu` needs no alignment; SSE2 is part of x86_64 and SSSE3
    // (`_mm_shuffle_epi8`, `_mm_maddubs_epi16`) is enabled on this function.
    unsafe {
        let x = _mm_loadu_si128(bytes.as_ptr().cast::<__m128i>());
        let d = _mm_sub_epi8(x, _mm_set1_epi8(b'0' as i8));
        let nine = _mm_set1_epi8(9);
        let keep = (0xffff_u32 << (16 - len)) & 0xffff;
        let digits = _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(d, nine), nine)) as u32 & keep;
        let dots = _mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8(b'.' as i8))) as u32 & keep;
        let zeros = _mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8(b'0' as i8))) as u32 & keep;
        let p1 = dots.trailing_zeros();
        let rest = dots & dots.wrapping_sub(1);
        let p2 = rest.trailing_zeros();
        let rest = rest & rest.wrapping_sub(1);
        let p3 = rest.trailing_zeros();
        let rest = rest & rest.wrapping_sub(1);
        // Octet lengths less one; each must be 0-2.
        let l0 = p1.wrapping_sub(17 - len as u32);
        let l1 = p2.wrapping_sub(p1 + 2);
        let l2 = p3.wrapping_sub(p2 + 2);
        let l3 = 14u32.wrapping_sub(p3);
        let firsts = digits & !(digits << 1);
        let bad = ((digits | dots) != keep)
            | (rest != 0)
            | (p3 >= 16)
            | (l0.max(l1).max(l2).max(l3) > 2)
            | ((zeros & firsts & digits >> 1) != 0);
        if bad {
            return None;
        }
        let shape = (l0 * 27 + l1 * 9 + l2 * 3 + l3) as usize;
        let shuffle = _mm_loadu_si128(OCTET_SHUFFLES[shape].as_ptr().cast::<__m128i>());
        // Octet k in bytes 4k..4k+4 as hundreds, tens, ones, 0 (absent digits are 0).
        let gathered = _mm_shuffle_epi8(d, shuffle);
        let weighed = _mm_maddubs_epi16(gathered, _mm_set1_epi32(0x0001_0a64)); // 100, 10, 1, 0
        let octets = _mm_madd_epi16(weighed, _mm_set1_epi16(1));
        if _mm_movemask_epi8(_mm_cmpgt_epi32(octets, _mm_set1_epi32(255))) != 0 {
            return None;
        }
        let packed = _mm_packus_epi16(_mm_packs_epi32(octets, octets), octets);
        Some(Ipv4Addr::from(
            (_mm_cvtsi128_si32(packed) as u32).to_le_bytes(),
        ))
    }
}

/// For each shape of a dotted quad that ends a 16-byte window (octet lengths `l0`-`l3`, 1-3
/// each, at index `27 (l0 - 1) + 9 (l1 - 1) + 3 (l2 - 1) + (l3 - 1)`), the `_mm_shuffle_epi8`
/// control that puts octet k's digits at bytes 4k (hundreds), 4k + 1 (tens) and 4k + 2 (ones),
/// zero (0x80) where the octet is shorter and at 4k + 3.
#[cfg(target_arch = "x86_64")]
static OCTET_SHUFFLES: [[u8; 16]; 81] = {
    let mut table = [[0x80u8; 16]; 81];
    let mut shape = 0;
    while shape < 81 {
        let lengths = [
            shape / 27 + 1,
            shape / 9 % 3 + 1,
            shape / 3 % 3 + 1,
            shape % 3 + 1,
        ];
        // Octet 3 ends at byte 16; each earlier one a dot before the next one's start.
        let mut end = 16;
        let mut k = 4;
        while k > 0 {
            k -= 1;
            let mut j = 0;
            while j < lengths[k] {
                table[shape][4 * k + 2 - j] = (end - 1 - j) as u8;
                j += 1;
            }
            end -= lengths[k] + 1;
        }
        shape += 1;
    }
    table
};

/// Dotted-quad IPv4 as `std` reads it: four decimal octets of 1-3 digits, no leading zeros.
#[inline(always)]
pub(super) fn ipv4(t: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut i = 0;
    for (k, octet) in octets.iter_mut().enumerate() {
        if k > 0 {
            if *t.get(i)? != b'.' {
                return None;
            }
            i += 1;
        }
        let first = t.get(i)?.wrapping_sub(b'0');
        if first > 9 {
            return None;
        }
        let mut value = u32::from(first);
        i += 1;
        for _ in 0..2 {
            let Some(d) = t.get(i).map(|b| b.wrapping_sub(b'0')).filter(|d| *d <= 9) else {
                break;
            };
            if value == 0 {
                return None; // a leading zero
            }
            value = value * 10 + u32::from(d);
            i += 1;
        }
        *octet = u8::try_from(value).ok()?;
    }
    (i == t.len()).then(|| Ipv4Addr::from(octets))
}

/// IPv6 in the spellings flow logs use: groups of 1-4 hex digits, at most one `::`. Embedded
/// IPv4 (`::ffff:1.2.3.4`) and everything unusual is left to `std` in the careful parser
/// (whose IPv6 parser costs about ten times this one).
#[inline]
fn ipv6(t: &[u8]) -> Option<Ipv6Addr> {
    if t.len() < 2 || t.len() > 39 {
        return None;
    }
    let mut groups = [0u16; 8];
    let mut count = 0; // groups written
    let mut gap = None; // index in `groups` where `::` stands
    let mut i = 0;
    if t[0] == b':' {
        if t[1] != b':' {
            return None;
        }
        gap = Some(0);
        i = 2;
        if i == t.len() {
            return Some(Ipv6Addr::UNSPECIFIED);
        }
    }
    loop {
        // One group of 1-4 hex digits.
        let mut value: u16 = 0;
        let mut digits = 0;
        while i < t.len() && digits < 5 {
            let d = match t[i] {
                c @ b'0'..=b'9' => c - b'0',
                c @ b'a'..=b'f' => c - b'a' + 10,
                c @ b'A'..=b'F' => c - b'A' + 10,
                _ => break,
            };
            value = (value << 4) | u16::from(d);
            digits += 1;
            i += 1;
        }
        if digits == 0 || digits > 4 || count == 8 {
            return None;
        }
        groups[count] = value;
        count += 1;
        if i == t.len() {
            break;
        }
        if t[i] != b':' {
            return None;
        }
        i += 1;
        if i < t.len() && t[i] == b':' {
            if gap.is_some() {
                return None;
            }
            gap = Some(count);
            i += 1;
            if i == t.len() {
                break;
            }
        } else if i == t.len() {
            return None; // a single trailing colon
        }
    }
    match gap {
        None if count == 8 => Some(Ipv6Addr::from(groups)),
        Some(at) if count < 8 => {
            let tail = count - at;
            let mut out = [0u16; 8];
            out[..at].copy_from_slice(&groups[..at]);
            out[8 - tail..].copy_from_slice(&groups[at..count]);
            Some(Ipv6Addr::from(out))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The fast path alone, as an `Option`.
    fn parse<'a>(format: &Format, line: &'a [u8]) -> Option<Flow<'a>> {
        let mut flow = Flow::EMPTY;
        super::parse(format, line, &mut flow).then_some(flow)
    }

    #[test]
    fn plain_records_take_the_fast_path() {
        let v2 = Format::default_v2();
        let line = b"2 210987654321 eni-0a7c91d2e4b5f6071 10.8.4.17 10.8.9.200 51234 22 6 17 3911 1762052400 1762052460 ACCEPT OK";
        let flow = parse(&v2, line).expect("fast path");
        assert_eq!(Ok(flow), Flow::parse_careful(&v2, line));
        let nodata =
            b"2 210987654321 eni-0a7c91d2e4b5f6071 - - - - - - - 1762056000 1762056060 - NODATA";
        assert_eq!(parse(&v2, nodata).unwrap().status, LogStatus::NoData);
        let v6 = b"2 1 eni-1 2001:db8:77::15 2600:1f18:4a3:6e00:0:0:0:1 40112 443 6 31 6104 1 2 ACCEPT OK";
        assert!(parse(&v2, v6).is_some());
    }

    #[test]
    fn anything_unusual_is_left_to_the_careful_parser() {
        let v2 = Format::default_v2();
        for line in [
            &b"2 1 eni-1 10.0.0.1  10.0.0.2 1 2 6 1 1 1 2 ACCEPT OK"[..], // doubled space
            b"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 ACCEPT\tOK",      // tab
            b" 2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 ACCEPT OK",      // leading space
            b"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 ACCEPT OK ",      // trailing space
            b"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 ACCEPT",          // too few
            b"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 ACCEPT OK x",     // too many
            b"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 18446744073709551616 1 2 ACCEPT OK", // overflow
            b"2 1 eni-1 ::ffff:10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 ACCEPT OK", // embedded IPv4
            b"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 9 2 ACCEPT OK",       // start after end
            "2 1 café 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 ACCEPT OK".as_bytes(), // UTF-8
        ] {
            assert_eq!(parse(&v2, line), None, "{}", String::from_utf8_lossy(line));
            // The in-buffer readers decline them too, in the default format and in a custom
            // one with a column more.
            let in_buffer = |line: &[u8]| [line, b"\n", &[b'x'; 64]].concat();
            let custom = Format::from_names(
                Field::ALL[..14]
                    .iter()
                    .chain([&Field::FlowDirection])
                    .map(|f| f.name()),
            )
            .unwrap();
            let extended = [line, b" ingress"].concat();
            let (plain, custom_buffer) = (in_buffer(line), in_buffer(&extended));
            // Each reader first reads a valid record, so that a check of the record before
            // this one would pass.
            let valid = b"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 ACCEPT OK";
            let valid_extended = [&valid[..], b" ingress"].concat();
            let (valid_plain, valid_custom) = (in_buffer(valid), in_buffer(&valid_extended));
            let mut flow = Flow::EMPTY;
            assert!(default_v2_line(&valid_plain, &mut flow).is_some());
            assert_eq!(default_v2_line(&plain, &mut flow), None);
            assert_eq!(parse(&custom, &extended), None);
            let mut flow = Flow::EMPTY;
            assert!(format_line(custom.slots(), &valid_custom, &mut flow).is_some());
            assert_eq!(format_line(custom.slots(), &custom_buffer, &mut flow), None);
        }
    }

    /// `Flow::parse_line` reads a format by its own columns: fourteen columns in another
    /// order than AWS's default are not read as the default format.
    #[test]
    fn parse_line_reads_each_format_by_its_own_columns() {
        let swapped = "version account-id interface-id dstaddr srcaddr dstport srcport protocol packets bytes start end action log-status";
        let formats = [Format::default_v2(), Format::parse_spec(swapped).unwrap()];
        let line = b"2 1 eni-1 10.0.0.1 10.0.0.2 40000 443 6 1 60 100 160 ACCEPT OK";
        let buffer = [&line[..], b"\n", &[b'x'; 64]].concat();
        for format in &formats {
            let mut flow = Flow::EMPTY;
            assert_eq!(flow.parse_line(format, &buffer), Some(line.len()));
            assert_eq!(Some(flow), parse(format, line));
        }
        let mut flow = Flow::EMPTY;
        flow.parse_line(&formats[1], &buffer).unwrap();
        assert_eq!((flow.src_port, flow.dst_port), (Some(443), Some(40000)));
    }

    #[test]
    fn classifiers_answer_for_every_byte_value() {
        for b in 0..=255u8 {
            let block = [b; 64];
            let space = if b == b' ' { u64::MAX } else { 0 };
            let odd = if (b' '..=b'~').contains(&b) {
                0
            } else {
                u64::MAX
            };
            assert_eq!(classify(&block), (space, odd), "{b:#x}");
            assert_eq!(classify_portable(&block), (space, odd), "{b:#x}");
        }
    }

    #[test]
    fn ipv6_agrees_with_std_where_it_answers() {
        for s in [
            "::",
            "::1",
            "1::",
            "1::2",
            "2001:db8::",
            "2001:DB8:0:0:0:0:0:1",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7::",
            "::2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7:8:9",
            "1::2::3",
            ":1",
            "1:",
            "12345::",
            "1:2:3:4:5:6:7",
            "::ffff:1.2.3.4",
            "g::",
            ":::",
            "1:::2",
            "0:0:0:0:0:0:0:0",
            "1:2:3:4::5:6:7:8",
            "1:2:3:4:5:6::7",
            "fe80::1%eth0",
            "00000::",
        ] {
            if let Some(a) = ipv6(s.as_bytes()) {
                assert_eq!(Ok(a), s.parse::<Ipv6Addr>(), "{s}");
            }
        }
        assert!(ipv6(b"2001:db8::1").is_some());
        assert!(ipv6(b"1:2:3:4:5:6:7:8").is_some());
    }

    /// Every shape of dotted quad (octets of 1, 2 and 3 digits in each place, 81 in all),
    /// valid and with a leading zero or an octet over 255, read at a line's start and after
    /// other bytes, as `ipv4` reads it.
    #[test]
    fn ipv4_at_reads_every_octet_shape() {
        let octets = ["7", "25", "250", "07", "256"];
        for a in octets {
            for b in octets {
                for c in octets {
                    for d in octets {
                        let s = format!("{a}.{b}.{c}.{d}");
                        for before in ["", "2 123456789012 eni-0a1b2c3d "] {
                            let line = format!("{before}{s}");
                            let at = ipv4_at(line.as_bytes(), before.len(), line.len());
                            assert_eq!(at, ipv4(s.as_bytes()), "{line}");
                        }
                    }
                }
            }
        }
        assert_eq!(
            ipv4_at(b"10.250.250.250", 0, 14),
            Some(Ipv4Addr::new(10, 250, 250, 250))
        );
    }

    /// A value AWS could write for `field`, chosen by `seed`.
    fn valid_token(field: Field, seed: u64) -> String {
        if seed.is_multiple_of(11) {
            return "-".into();
        }
        let pick = |options: &[&str]| options[(seed % options.len() as u64) as usize].to_string();
        match field {
            Field::LogStatus => pick(&["OK", "NODATA", "SKIPDATA"]),
            Field::Action => pick(&["ACCEPT", "REJECT"]),
            Field::FlowDirection => pick(&["ingress", "egress"]),
            Field::SrcAddr | Field::DstAddr | Field::PktSrcAddr | Field::PktDstAddr => {
                if seed.is_multiple_of(3) {
                    Ipv6Addr::from(u128::from(seed) << (seed % 64)).to_string()
                } else {
                    Ipv4Addr::from(seed as u32).to_string()
                }
            }
            Field::SrcPort | Field::DstPort => (seed % 65536).to_string(),
            Field::Protocol | Field::TcpFlags | Field::Version => (seed % 256).to_string(),
            // start <= end: both from the same seed, end later.
            Field::Start => (1_700_000_000 + seed % 1000).to_string(),
            Field::End => (1_700_001_000 + seed % 1000).to_string(),
            // Any length up to u64::MAX's twenty digits.
            Field::Packets | Field::Bytes => (seed >> (seed % 64)).to_string(),
            _ => format!("x-{seed:x}"),
        }
    }

    /// A line of `fields` with valid values chosen by `seeds`, with token `at` replaced (or
    /// one appended, past the last) when `replace` says so.
    fn record_line(fields: &[Field], seeds: &[u64], replace: Option<(usize, Vec<u8>)>) -> Vec<u8> {
        let mut tokens: Vec<Vec<u8>> = fields
            .iter()
            .zip(seeds)
            .map(|(field, &seed)| valid_token(*field, seed).into_bytes())
            .collect();
        if let Some((at, token)) = replace {
            match tokens.get_mut(at) {
                Some(t) => *t = token,
                None => tokens.push(token),
            }
        }
        tokens.join(&b' ')
    }

    /// A default-format line (see `record_line`).
    fn v2_line(seeds: &[u64], replace: Option<(usize, Vec<u8>)>) -> Vec<u8> {
        record_line(&Field::ALL[..14], seeds, replace)
    }

    /// The contract of the in-buffer reader of `format`, as `Flow::parse_line` picks it
    /// (`default_v2_line` for AWS's default, `format_line` for others; both give up on lines
    /// of `limit` bytes or more): `line`
    /// followed by `\n` and `after` is read with the right length and as `parse` reads the
    /// line cut out, into a record that holds the values of `previous` (another line of the
    /// format) where that fits; a `valid` line is only declined when too long or too near
    /// the buffer's end.
    fn check_in_buffer_reader(
        format: &Format,
        limit: usize,
        previous: Vec<u8>,
        line: Vec<u8>,
        valid: bool,
        after: &[u8],
    ) -> Result<(), TestCaseError> {
        let mut buffer = line;
        buffer.push(b'\n');
        buffer.extend_from_slice(after);
        let line_end = buffer.iter().position(|&b| b == b'\n').unwrap();
        let line = &buffer[..line_end];
        let before_fits = previous.len() < limit;
        let mut before = previous;
        before.push(b'\n');
        before.extend_from_slice(&[b'x'; 64]);
        let mut flow: Flow<'_> = Flow::EMPTY;
        prop_assert_eq!(flow.parse_line(format, &before).is_some(), before_fits);
        if !before_fits {
            flow = Flow::EMPTY;
        }
        match flow.parse_line(format, &buffer) {
            Some(length) => {
                prop_assert_eq!(length, line_end);
                prop_assert_eq!(Some(flow), parse(format, line));
            }
            None => prop_assert!(
                !valid || line_end >= limit || buffer.len() < 64 + line_end / 64 * 64,
                "{}",
                String::from_utf8_lossy(line)
            ),
        }
        Ok(())
    }

    fn token() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..8),
            "[0-9]{1,21}".prop_map(String::into_bytes),
            "[0-9.]{1,17}".prop_map(String::into_bytes),
            "[0-9:a-fA-F.]{0,41}".prop_map(String::into_bytes),
            "(25[0-6]|2[0-4][0-9]|1?[0-9]{1,2}|0[0-9])(\\.[0-9]{1,3}){3}"
                .prop_map(String::into_bytes),
            Just(b"-".to_vec()),
            Just(b"ACCEPT".to_vec()),
            Just(b"OK".to_vec()),
            Just(b"NODATA".to_vec()),
            Just(b"ingress".to_vec()),
            Just(Vec::new()),
        ]
    }

    /// The in-buffer readers refuse every empty token on the masks (a space at the line's
    /// start, doubled anywhere, before the newline; an empty line), wherever it falls
    /// against the 64-byte blocks, as the field-by-field test did; the careful parser then
    /// reads the line (and says what is wrong, or accepts what it accepts).
    #[test]
    fn line_ends_refuse_empty_tokens_at_every_position() {
        let v2 = Format::default_v2();
        let custom = Format::from_names(["srcaddr", "dstaddr", "interface-id", "action"]).unwrap();
        let after = [b'x'; 300];
        let read = |format: &Format, line: &[u8]| {
            let buffer = [line, b"\n", &after].concat();
            let mut flow = Flow::EMPTY;
            flow.parse_line(format, &buffer)
        };
        assert_eq!(read(&v2, b""), None, "an empty line");
        assert_eq!(read(&custom, b""), None, "an empty line");
        // Pad the account id so that the line's spaces cross the block boundaries.
        for pad in 0..80 {
            let account = "1".repeat(pad + 1);
            let line = format!(
                "2 {account} eni-1 10.0.0.1 10.0.0.2 443 49152 6 10 840 1700000000 1700000060 ACCEPT OK"
            );
            let c_line = format!("10.0.0.1 10.0.{pad}.2 eni-{account} ACCEPT");
            for (format, line) in [(&v2, line), (&custom, c_line)] {
                let bytes = line.as_bytes();
                assert_eq!(read(format, bytes), Some(bytes.len()), "{line}");
                let spaces = bytes.iter().enumerate().filter(|(_, &b)| b == b' ');
                let mut broken: Vec<Vec<u8>> = spaces
                    .map(|(i, _)| [&bytes[..i], b" ", &bytes[i..]].concat())
                    .collect();
                broken.push([b" ", bytes].concat());
                broken.push([bytes, b" "].concat());
                for bad in broken {
                    assert_eq!(
                        read(format, &bad),
                        None,
                        "{}",
                        String::from_utf8_lossy(&bad)
                    );
                }
            }
        }
    }

    #[test]
    fn light_addr_cuts_tokens_at_spaces_only() {
        let v4 = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(
            light_addr(b"a 10.20.1.1", 1),
            v4("10.20.1.1"),
            "last column"
        );
        assert_eq!(light_addr(b"10.20.1.1", 0), v4("10.20.1.1"), "only column");
        assert_eq!(light_addr(b"a 10.20.1.1", 2), None, "no such column");
        assert_eq!(light_addr(b"a  10.20.1.1", 1), None, "an empty token");
        assert_eq!(
            light_addr(b"a 10.20.1.1 \tOK\x1b", 1),
            v4("10.20.1.1"),
            "after it"
        );
        assert_eq!(
            light_addr(b"a\tb 10.20.1.1", 1),
            v4("10.20.1.1"),
            "a tab is no separator"
        );
        assert_eq!(
            light_addr(b"a 10.20.1.1\tb", 1),
            None,
            "nor part of an address"
        );
        assert_eq!(light_addr("\u{e9} 2600::1".as_bytes(), 1), v4("2600::1"));
        // Around the 64-byte blocks: the token ending at, across and after a block's end.
        for pad in 50..70 {
            let mut line = vec![b'x'; pad];
            line.extend_from_slice(b" 10.20.30.40 y");
            assert_eq!(light_addr(&line, 1), v4("10.20.30.40"), "pad {pad}");
            line.truncate(pad + 12);
            assert_eq!(light_addr(&line, 1), v4("10.20.30.40"), "pad {pad}, last");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The contract: whatever the fast path accepts, the careful parser accepts too, with
        /// the same record; and every line the careful parser accepts with single spaces and
        /// plain values, the fast path reads itself.
        #[test]
        fn fast_path_agrees_with_the_careful_parser(
            fields in proptest::sample::subsequence(Field::ALL.to_vec(), 1..30),
            tokens in proptest::collection::vec(token(), 1..32),
        ) {
            let format = Format::from_names(fields.iter().map(|f| f.name())).unwrap();
            let line = tokens.join(&b' ');
            let careful = Flow::parse_careful(&format, &line);
            if let Some(fast) = parse(&format, &line) {
                prop_assert_eq!(Ok(fast), careful);
            }
        }

        /// The benchmark's light parse reads the token `split(' ')` cuts, as the careful
        /// address parser reads it, and declines only unusual IPv6 spellings it would accept.
        #[test]
        fn light_addr_reads_the_column_the_careful_parser_reads(
            tokens in proptest::collection::vec(token(), 1..32),
            pick in any::<proptest::sample::Index>(),
            beyond in 0usize..3,
        ) {
            let line = tokens.join(&b' ');
            // Mostly a column that exists, the last one included; now and then one past it.
            let column = pick.index(tokens.len()) + beyond.saturating_sub(1) * tokens.len();
            let expected = line
                .split(|&b| b == b' ')
                .nth(column)
                .and_then(super::super::parse_addr);
            match light_addr(&line, column) {
                Some(got) => prop_assert_eq!(Some(got), expected),
                None => prop_assert!(expected.is_none_or(|a| a.is_ipv6()), "{:?}", expected),
            }
        }

        /// Records as AWS writes them, in any format, all take the fast path.
        #[test]
        fn valid_records_take_the_fast_path(
            fields in proptest::sample::subsequence(Field::ALL.to_vec(), 1..40),
            seeds in proptest::collection::vec(any::<u64>(), 40),
        ) {
            let format = Format::from_names(fields.iter().map(|f| f.name())).unwrap();
            let tokens: Vec<String> = fields
                .iter()
                .zip(&seeds)
                .map(|(field, &seed)| valid_token(*field, seed))
                .collect();
            let line = tokens.join(" ");
            let fast = parse(&format, line.as_bytes());
            prop_assert!(fast.is_some(), "{}", line);
            prop_assert_eq!(Ok(fast.unwrap()), Flow::parse_careful(&format, line.as_bytes()));
        }

        /// The default format has its own code: valid records take it, and any line it
        /// accepts, a valid record or one token replaced by anything, reads as the careful
        /// parser reads it.
        #[test]
        fn default_format_agrees_with_the_careful_parser(
            seeds in proptest::collection::vec(any::<u64>(), 14),
            replace in proptest::option::of((0usize..16, token())),
        ) {
            let v2 = Format::default_v2();
            let valid = replace.is_none();
            let line = v2_line(&seeds, replace);
            let careful = Flow::parse_careful(&v2, &line);
            match parse(&v2, &line) {
                Some(fast) => prop_assert_eq!(Ok(fast), careful),
                None => prop_assert!(!valid, "{}", String::from_utf8_lossy(&line)),
            }
        }

        /// The in-buffer reader of the default format finds the line's end and reads the
        /// record exactly as the line reader and `parse` would, whatever follows the line,
        /// also into a record that holds the previous line's values.
        #[test]
        fn default_v2_line_agrees_with_parse(
            previous in proptest::collection::vec(any::<u64>(), 14),
            seeds in proptest::collection::vec(any::<u64>(), 14),
            replace in proptest::option::of((0usize..16, token())),
            after in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let valid = replace.is_none();
            let (previous, line) = (v2_line(&previous, None), v2_line(&seeds, replace));
            check_in_buffer_reader(&Format::default_v2(), 256, previous, line, valid, &after)?;
        }

        /// The same for the in-buffer reader of any other format: valid lines under 512
        /// bytes take it, and what it accepts reads as `parse` reads the line cut out, also
        /// into a record that holds another line of the same format.
        #[test]
        fn format_line_agrees_with_parse(
            fields in proptest::sample::subsequence(Field::ALL.to_vec(), 1..30),
            previous in proptest::collection::vec(any::<u64>(), 30),
            seeds in proptest::collection::vec(any::<u64>(), 30),
            replace in proptest::option::of((0usize..32, token())),
            after in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let format = Format::from_names(fields.iter().map(|f| f.name())).unwrap();
            let valid = replace.is_none();
            let (previous, line) = (record_line(&fields, &previous, None), record_line(&fields, &seeds, replace));
            check_in_buffer_reader(&format, 512, previous, line, valid, &after)?;
        }

        /// The SSE2 and the portable classifier give a byte loop's answers, so the fast path
        /// behaves the same on every target.
        #[test]
        fn classifiers_agree(
            block in proptest::collection::vec(
                prop_oneof![Just(b' '), Just(b'\t'), Just(0x7f_u8), Just(0x80_u8), any::<u8>()],
                64,
            ),
        ) {
            let block: [u8; 64] = block.try_into().unwrap();
            let mut reference = (0u64, 0u64);
            for (i, &b) in block.iter().enumerate() {
                reference.0 |= u64::from(b == b' ') << i;
                reference.1 |= u64::from(!(b' '..=b'~').contains(&b)) << i;
            }
            prop_assert_eq!(classify(&block), reference);
            prop_assert_eq!(classify_portable(&block), reference);
        }

        #[test]
        fn ipv6_never_disagrees_with_std(s in "[0-9a-fA-F:.]{0,42}") {
            if let Some(a) = ipv6(s.as_bytes()) {
                prop_assert_eq!(Ok(a), s.parse::<Ipv6Addr>());
            }
        }

        #[test]
        fn ipv6_reads_what_std_prints(groups in proptest::array::uniform8(0u16..4)) {
            let a = Ipv6Addr::from(groups);
            prop_assert_eq!(ipv6(a.to_string().as_bytes()), Some(a));
        }

        #[test]
        fn numbers_agree_with_the_careful_parser(
            before in "[0-9 ]{0,12}",
            digits in "[0-9]{1,21}|[0-9]{0,6}[^0-9][0-9]{0,6}",
            after in "( [0-9]{0,3})?",
        ) {
            let line = format!("{before}{digits}{after}");
            let (begin, end) = (before.len(), before.len() + digits.len());
            let careful = crate::flowlog::record::parse_u64(digits.as_bytes());
            match number(line.as_bytes(), begin, end, u64::MAX) {
                Some(n) => prop_assert_eq!(Some(n), careful),
                None => prop_assert!(careful.is_none() || digits.len() >= 20, "{}", digits),
            }
        }

        /// Two neighbouring numbers read at once read as the careful parser reads each, and
        /// only numbers of up to 8 digits with 8 bytes before the first's end are taken.
        #[test]
        fn two_numbers_agree_with_the_careful_parser(
            before in "[0-9 a]{0,12}",
            first in "[0-9]{1,10}|[0-9]{0,4}[^0-9 ][0-9]{0,4}|-",
            second in "[0-9]{1,10}|[0-9]{0,4}[^0-9 ][0-9]{0,4}|-",
            after in "( [0-9]{0,3})?",
        ) {
            let line = format!("{before}{first} {second}{after}");
            let begin = before.len();
            let (end, next) = (begin + first.len(), begin + first.len() + 1 + second.len());
            let careful = |t: &str| crate::flowlog::record::parse_u64(t.as_bytes());
            match two_numbers(line.as_bytes(), begin, end, next) {
                Some((x, y)) => {
                    prop_assert_eq!(Some(x), careful(&first));
                    prop_assert_eq!(Some(y), careful(&second));
                    prop_assert!(first.len() <= 8 && second.len() <= 8 && end >= 8);
                }
                None => prop_assert!(
                    careful(&first).is_none()
                        || careful(&second).is_none()
                        || first.len() > 8
                        || second.len() > 8
                        || end < 8
                ),
            }
        }

        /// The SSE2 and the portable pair readers give a byte loop's answers.
        #[test]
        fn two_eight_digit_readers_agree(
            bytes in proptest::array::uniform16(prop_oneof![
                4 => b'0'..=b'9',
                1 => any::<u8>(),
            ]),
            first in 1usize..=8,
            second in 1usize..=8,
        ) {
            let reference = crate::flowlog::record::parse_u64(&bytes[8 - first..8])
                .zip(crate::flowlog::record::parse_u64(&bytes[16 - second..]));
            prop_assert_eq!(two_eight_digits(bytes, first, second), reference);
            prop_assert_eq!(two_eight_digits_portable(bytes, first, second), reference);
        }

        /// The SSE2 and the portable digit readers give a byte loop's answers.
        #[test]
        fn sixteen_digit_readers_agree(
            bytes in proptest::array::uniform16(prop_oneof![
                4 => b'0'..=b'9',
                1 => any::<u8>(),
            ]),
            len in 1usize..=16,
        ) {
            let reference = crate::flowlog::record::parse_u64(&bytes[16 - len..]);
            prop_assert_eq!(sixteen_digits(bytes, len), reference);
            prop_assert_eq!(sixteen_digits_portable(bytes, len), reference);
        }

        /// The window reader reads what the byte-by-byte one reads, whatever stands before
        /// the address in its window.
        #[test]
        fn ipv4_at_agrees_with_ipv4(
            before in proptest::collection::vec(any::<u8>(), 0..16),
            s in "[0-9.]{7,15}|(25[0-6]|2[0-4][0-9]|1?[0-9]{1,2}|0[0-9])(\\.(25[0-6]|2[0-4][0-9]|1?[0-9]{1,2}|0[0-9]|[0-9]{3})){3}",
        ) {
            let line = [&before[..], s.as_bytes()].concat();
            let at = ipv4_at(&line, before.len(), line.len());
            prop_assert_eq!(at, ipv4(s.as_bytes()), "{}", s);
        }

        #[test]
        fn ipv4_agrees_with_std(s in "[0-9.]{0,16}") {
            prop_assert_eq!(ipv4(s.as_bytes()), s.parse::<Ipv4Addr>().ok());
        }
    }
}
