//! Durations in evidence demands: `"30d"`, `"2h"`, `"90m"`, `"45s"`, `"1w"`, and sums like `"1d12h"`.
//!
//! A bare number of seconds is not accepted: `min_window = 30` reads as thirty days to one
//! author and thirty seconds to the next, so every duration carries its unit.

const UNITS: &[(char, u64)] = &[
    ('w', 7 * 86_400),
    ('d', 86_400),
    ('h', 3_600),
    ('m', 60),
    ('s', 1),
];

/// Parses a duration into seconds. The error says what is wrong, for a diagnostic label.
pub fn parse(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    let mut total: u64 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("expected a number at `{}`", short(rest)));
        }
        let (num, after) = rest.split_at(digits);
        let Some(unit) = after.chars().next() else {
            return Err(format!("`{num}` has no unit (w, d, h, m or s)"));
        };
        if unit.is_whitespace() {
            return Err(format!(
                "write the unit right after `{num}`, without a space"
            ));
        }
        let Some(&(_, secs)) = UNITS.iter().find(|(u, _)| *u == unit) else {
            return Err(format!("unknown unit `{unit}` (use w, d, h, m or s)"));
        };
        let n: u64 = num.parse().map_err(|_| "number too large".to_string())?;
        total = n
            .checked_mul(secs)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(|| "duration too large".to_string())?;
        rest = &after[unit.len_utf8()..];
    }
    Ok(total)
}

/// Formats seconds the way they are written: `2592000` -> `"30d"`, `5400` -> `"1h30m"`.
pub fn format(secs: u64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = secs;
    // Weeks are left out on purpose: "30d" reads better than "4w2d".
    for &(unit, size) in &UNITS[1..] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

fn short(s: &str) -> String {
    s.chars().take(16).flat_map(char::escape_debug).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_and_sums() {
        assert_eq!(parse("30d"), Ok(30 * 86_400));
        assert_eq!(parse("2h"), Ok(7_200));
        assert_eq!(parse("90m"), Ok(5_400));
        assert_eq!(parse("45s"), Ok(45));
        assert_eq!(parse("1w"), Ok(604_800));
        assert_eq!(parse("1d12h"), Ok(129_600));
        assert_eq!(parse(" 0s "), Ok(0));
    }

    #[test]
    fn mistakes_are_explained() {
        assert_eq!(parse(""), Err("empty duration".into()));
        assert_eq!(
            parse("30"),
            Err("`30` has no unit (w, d, h, m or s)".into())
        );
        assert_eq!(
            parse("3y"),
            Err("unknown unit `y` (use w, d, h, m or s)".into())
        );
        assert_eq!(parse("d"), Err("expected a number at `d`".into()));
        assert_eq!(parse("1d 2h"), Err("expected a number at ` 2h`".into()));
        assert_eq!(parse("-1d"), Err("expected a number at `-1d`".into()));
        assert_eq!(
            parse("99999999999999999999d"),
            Err("number too large".into())
        );
        assert_eq!(parse("999999999999999w"), Err("duration too large".into()));
    }

    #[test]
    fn format_round_trips() {
        for secs in [0, 1, 59, 60, 3_600, 5_400, 86_400, 30 * 86_400, 93_784] {
            assert_eq!(parse(&format(secs)), Ok(secs), "{secs}");
        }
        assert_eq!(format(5_400), "1h30m");
        assert_eq!(format(30 * 86_400), "30d");
    }
}
