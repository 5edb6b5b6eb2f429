//! Text every layer writes: untrusted strings made harmless, and times and durations as people
//! read them.
//!
//! Every string flowgate shows may come from an archive or a policy file that someone else
//! wrote, so the diagnostics, the output writers and the command line all pass data through
//! the cleaners here ([`clean_text`], [`clean_line`]) before their own escaping: no value can
//! move a terminal cursor, end an XML section or start a workflow command. [`rfc3339`] and
//! [`human_duration`] are the one way a time and a length of time read, in the report, the
//! coverage line, the sample manifest and `inspect`. This module sits below every other one
//! and uses none of them.

use std::borrow::Cow;
use std::fmt;

/// Whether `c` must not reach any output as itself: C0 and C1 controls (ESC, NUL, CR, NEL...),
/// DEL, the bidirectional overrides that make text display in another order than it reads
/// ("Trojan Source"), and the two noncharacters XML forbids.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FFFE}' | '\u{FFFF}')
}

/// Writes `c` as visible text: `\x1b` for ASCII controls, `\u{202e}` for the others.
fn push_escaped(out: &mut String, c: char) {
    use fmt::Write;
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

fn clean_with(s: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(|c| is_unsafe(c) && !keep(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) && !keep(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Cleans multi-line text (messages, rendered lint findings): keeps line feeds and tabs, shows
/// every other control or bidi override as a visible escape such as `\x1b`.
pub fn clean_text(s: &str) -> Cow<'_, str> {
    clean_with(s, |c| c == '\n' || c == '\t')
}

/// Cleans a value shown on one line (names, paths, table cells): every control character,
/// line feeds and tabs included, becomes a visible escape such as `\n`.
pub fn clean_line(s: &str) -> Cow<'_, str> {
    clean_with(s, |_| false)
}

/// RFC 3339 UTC time for Unix seconds, e.g. `2026-11-02T03:05:00Z`.
/// A count with thousands separators, as a reviewer reads it: `2,244,310`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn rfc3339(secs: u64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(secs.min(253_402_300_799) as i64) {
        Ok(t) => t
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| secs.to_string()),
        Err(_) => secs.to_string(),
    }
}

/// A duration in the policy language's units, e.g. `3d 4h`, `2h 5m`, `45s`.
pub fn human_duration(secs: u64) -> String {
    let (d, h, m, s) = (
        secs / 86400,
        secs % 86400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m"),
        (0, _, 0) => format!("{h}h"),
        (0, _, _) => format!("{h}h {m}m"),
        (_, 0, _) => format!("{d}d"),
        _ => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_017), "1,017");
        assert_eq!(thousands(2_244_310), "2,244,310");
        assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn cleaners_make_controls_visible() {
        assert_eq!(clean_line("a\x1b[31mb\nc\0"), "a\\x1b[31mb\\nc\\x00");
        assert_eq!(clean_text("a\r\nb\tc\u{9b}d"), "a\\r\nb\tc\\u{9b}d");
        assert_eq!(clean_line("x\u{202e}y"), "x\\u{202e}y");
        assert!(matches!(clean_line("plain 10.0.0.1"), Cow::Borrowed(_)));
    }

    #[test]
    fn durations_read_like_the_policy_language() {
        assert_eq!(human_duration(45), "45s");
        assert_eq!(human_duration(90 * 60), "1h 30m");
        assert_eq!(human_duration(3 * 86400 + 3600), "3d 1h");
        assert_eq!(human_duration(30 * 86400), "30d");
        assert_eq!(human_duration(2 * 3600), "2h");
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(1_762_052_700), "2025-11-02T03:05:00Z");
    }
}
