//! Which records a sample keeps whatever the rate, so the evidence reads the same.
//!
//! `flowgate check` judges evidence from the minutes that records touch (window, gaps), from
//! NODATA and SKIPDATA records, and from the formats archives use. Per archive, in line order,
//! a record is kept as evidence when it is the archive's first record, the first after a change
//! of format, a NODATA or SKIPDATA record, or when it touches a minute that no record kept as
//! evidence before it touched. The minutes a sample touches are then exactly the minutes its
//! input touches. The rule reads one archive in order and nothing else, so both passes of
//! `flowgate sample` reach the same decisions, on any thread.

use crate::flowlog::{Flow, LogStatus};

/// The evidence rule for one archive.
#[derive(Debug, Default)]
pub struct Evidence {
    seen_record: bool,
    format_changed: bool,
    /// Minutes touched by the records kept as evidence: minute / 64 -> bits.
    minutes: crate::engine::server::FastMap<u64, u64>,
}

impl Evidence {
    /// A new format takes effect: its first record is kept, so the sample has the header.
    pub fn format_changed(&mut self) {
        self.format_changed = true;
    }

    /// Whether `flow`, the next record of the archive, is kept as evidence.
    pub fn keep(&mut self, flow: &Flow<'_>) -> bool {
        let mut keep = !self.seen_record || self.format_changed || flow.status != LogStatus::Ok;
        self.seen_record = true;
        self.format_changed = false;
        let Some((a, b)) = minutes(flow) else {
            return keep;
        };
        if !keep {
            keep = !self.all_marked(a, b);
        }
        if keep {
            self.mark(a, b);
        }
        keep
    }

    fn all_marked(&self, a: u64, b: u64) -> bool {
        let spans = |m: u64| {
            self.minutes
                .get(&(m / 64))
                .is_some_and(|w| w & (1 << (m % 64)) != 0)
        };
        if b - a > 60 {
            return spans(a) && spans(b);
        }
        (a..=b).all(spans)
    }

    fn mark(&mut self, a: u64, b: u64) {
        let mut set = |m: u64| *self.minutes.entry(m / 64).or_default() |= 1 << (m % 64);
        if b - a > 60 {
            set(a);
            set(b);
        } else {
            for m in a..=b {
                set(m);
            }
        }
    }
}

/// The minutes a record touches, as `report::Coverage::add` counts them: every minute from
/// start to end, or only the two ends when the record spans more than an hour.
fn minutes(flow: &Flow<'_>) -> Option<(u64, u64)> {
    match (flow.start, flow.end) {
        (Some(s), Some(e)) if s <= e => Some((s / 60, e / 60)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flowlog::Format;

    fn rec(start: u64, end: u64, status: &str) -> String {
        format!("2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 {start} {end} ACCEPT {status}")
    }

    #[test]
    fn new_minutes_status_and_firsts_are_kept() {
        let f = Format::default_v2();
        let mut e = Evidence::default();
        let mut keep = |line: String| e.keep(&Flow::parse(&f, line.as_bytes()).unwrap());
        assert!(keep(rec(600, 660, "OK"))); // first
        assert!(!keep(rec(610, 650, "OK"))); // minutes 10-10: seen
        assert!(!keep(rec(620, 719, "OK"))); // minutes 10-11: seen
        assert!(keep(rec(700, 790, "OK"))); // minute 13 is new
        assert!(keep(rec(610, 650, "NODATA"))); // evidence whatever its minutes
    }
}
