//! Timelines: records per hour bucketed to a bounded number of bars, shared by the Mermaid
//! charts of the job summary and the comment and the SVG charts of the HTML report.
//!
//! The window is the evidence's (the run's coverage), for every chart of a run, so a policy's
//! blocked traffic and the evidence line up hour for hour. A long window is bucketed, never
//! cut: buckets grow from one hour through divisors of a day (so a daily rhythm stays on the
//! same bars) to whole days and weeks, until at most [`MAX_BUCKETS`] cover the window. Buckets
//! start at UTC midnight or a multiple of their width after it.

use std::fmt::Write;

use crate::engine::hours::HOUR;
use crate::report::service::Service;
use crate::report::{Hours, PolicyReport, Report};
use crate::text::{rfc3339, thousands};

/// Bars a timeline holds at most.
pub const MAX_BUCKETS: u64 = 72;
/// Services of a failing policy that get a timeline of their own, most records first.
pub const TOP_SERVICES: usize = 3;

/// Records per bucket over a window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeline {
    /// The first bucket's first hour (hours since the Unix epoch).
    pub first_hour: u64,
    /// Hours per bucket.
    pub bucket_hours: u64,
    pub values: Vec<u64>,
}

/// The hours of the run's window, first and last (inclusive): the coverage's, widened to any
/// hour that holds a record's start.
pub fn window(report: &Report) -> Option<(u64, u64)> {
    let c = &report.run.coverage;
    let covered = match (c.first_start, c.last_end) {
        (Some(s), Some(e)) if s <= e => Some((s / HOUR, e / HOUR)),
        _ => None,
    };
    match (covered, report.run.hours.span()) {
        (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
        (a, b) => a.or(b),
    }
}

/// The bucket width for a window of `hours` hours: the smallest of 1, 2, 3, 4, 6, 8, 12 hours,
/// then whole days, then whole weeks, that needs at most [`MAX_BUCKETS`] buckets.
fn bucket_hours(first: u64, last: u64) -> u64 {
    let fits = |b: u64| {
        let start = if b < 24 {
            first - first % b
        } else {
            first - first % 24
        };
        (last + 1 - start).div_ceil(b) <= MAX_BUCKETS
    };
    let ladder = [1, 2, 3, 4, 6, 8, 12, 24, 48, 72, 96, 120, 144, 168];
    if let Some(&b) = ladder.iter().find(|&&b| fits(b)) {
        return b;
    }
    let mut weeks = 2;
    while !fits(168 * weeks) {
        weeks += 1;
    }
    168 * weeks
}

impl Timeline {
    /// `hours` bucketed over the window `first..=last` (hours since the epoch). Records outside
    /// the window fall in the nearest bucket, so the total is always exact.
    pub fn new(hours: &Hours, (first, last): (u64, u64)) -> Timeline {
        let b = bucket_hours(first, last);
        // Sub-day buckets start at multiples of their width after midnight, longer ones at
        // the first day's midnight.
        let first_hour = if b < 24 {
            first - first % b
        } else {
            first - first % 24
        };
        let n = (last + 1 - first_hour).div_ceil(b) as usize;
        let mut values = vec![0; n];
        for (h, records) in hours.iter() {
            let i = (h.saturating_sub(first_hour) / b) as usize;
            values[i.min(n - 1)] += records;
        }
        Timeline {
            first_hour,
            bucket_hours: b,
            values,
        }
    }

    /// Unix seconds at which bucket `i` starts.
    pub fn start(&self, i: usize) -> u64 {
        (self.first_hour + i as u64 * self.bucket_hours) * HOUR
    }

    /// `hour`, `2 hours`, `day`, `2 days`, `week`, `3 weeks`: what one bar counts.
    pub fn unit(&self) -> String {
        let b = self.bucket_hours;
        match b {
            1 => "hour".into(),
            _ if b.is_multiple_of(168) && b > 168 => format!("{} weeks", b / 168),
            168 => "week".into(),
            24 => "day".into(),
            _ if b.is_multiple_of(24) => format!("{} days", b / 24),
            _ => format!("{b} hours"),
        }
    }

    pub fn total(&self) -> u64 {
        self.values.iter().sum()
    }

    pub fn max(&self) -> u64 {
        self.values.iter().copied().max().unwrap_or(0)
    }

    /// `2026-03-02 02:00` (UTC): where bucket `i` starts, as axis labels read.
    pub fn label(&self, i: usize) -> String {
        short_time(self.start(i))
    }

    /// One sentence that says what the chart shows, for readers who see no chart: the
    /// window, how many buckets hold records, and the busiest one.
    pub fn describe(&self, what: &str) -> String {
        let unit = self.unit();
        let n = self.values.len();
        let busy = self.values.iter().filter(|&&v| v > 0).count();
        let mut text = format!(
            "{what} per {unit} from {} to {} UTC: {} in {busy} of {n} {}",
            short_time(self.start(0)),
            short_time(self.start(n)),
            crate::output::count(self.total(), "record", "records"),
            plural_unit(&unit, n),
        );
        if let Some((i, &v)) = self
            .values
            .iter()
            .enumerate()
            .max_by_key(|&(i, &v)| (v, std::cmp::Reverse(i)))
            .filter(|(_, &v)| v > 0)
        {
            let _ = write!(
                text,
                "; the busiest starts {} ({})",
                self.label(i),
                crate::output::count(v, "record", "records")
            );
        }
        text
    }
}

fn plural_unit(unit: &str, n: usize) -> String {
    if n == 1 {
        return unit.to_string();
    }
    match unit {
        "hour" | "day" | "week" => format!("{unit}s"),
        // `2 hours` per bucket: count the buckets, not the hours.
        _ => format!("buckets of {unit}"),
    }
}

/// `2026-03-02 02:00`
pub fn short_time(secs: u64) -> String {
    let t = rfc3339(secs);
    // rfc3339 gives `2026-03-02T02:00:00Z`; hours and minutes are all a bucket needs.
    match t.get(..16) {
        Some(s) if t.len() == 20 => s.replacen('T', " ", 1),
        _ => t,
    }
}

/// The services of a failing policy that get a timeline: the first [`TOP_SERVICES`] (most
/// records first), each with its blocked records per hour.
pub fn top_services(p: &PolicyReport) -> impl Iterator<Item = (&Service, Option<&Hours>)> {
    p.services
        .iter()
        .take(TOP_SERVICES)
        .map(|s| (s, p.blocked_hours.get(&(s.protocol, s.server_port))))
}

/// `1,234` for chart labels that count records.
pub fn records_label(n: u64) -> String {
    thousands(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::sample;

    fn hours(list: &[(u64, u64)]) -> Hours {
        list.iter().copied().collect()
    }

    #[test]
    fn three_days_are_hourly() {
        let h0 = sample::T0 / HOUR;
        let t = Timeline::new(&hours(&[(h0 + 2, 5), (h0 + 71, 1)]), (h0, h0 + 71));
        assert_eq!((t.bucket_hours, t.values.len(), t.total()), (1, 72, 6));
        assert_eq!(t.values[2], 5);
        assert_eq!(t.label(2), "2026-03-02 02:00");
        assert_eq!(t.unit(), "hour");
        assert_eq!(
            t.describe("records"),
            "records per hour from 2026-03-02 00:00 to 2026-03-05 00:00 UTC: 6 records in 2 of 72 hours; the busiest starts 2026-03-02 02:00 (5 records)"
        );
    }

    #[test]
    fn long_windows_are_bucketed_not_cut() {
        let h0 = sample::T0 / HOUR + 5;
        for span in [1, 71, 72, 73, 200, 24 * 30, 24 * 400, 24 * 3650] {
            let list: Vec<(u64, u64)> = (0..span).step_by(7).map(|i| (h0 + i, i + 1)).collect();
            let total: u64 = list.iter().map(|x| x.1).sum();
            let t = Timeline::new(&hours(&list), (h0, h0 + span - 1));
            assert!(t.values.len() as u64 <= MAX_BUCKETS, "{span}: {t:?}");
            assert_eq!(t.total(), total, "{span}");
            assert!(t.start(0) <= h0 * HOUR && t.start(t.values.len()) > (h0 + span - 1) * HOUR);
            // Buckets start at midnight or a multiple of their width after it.
            assert_eq!(t.start(0) % (t.bucket_hours.min(24) * HOUR), 0, "{span}");
        }
        let t = Timeline::new(&hours(&[]), (h0, h0 + 24 * 60));
        assert_eq!((t.unit(), t.values.len()), ("day".to_string(), 61));
    }

    #[test]
    fn records_outside_the_window_stay_counted() {
        let t = Timeline::new(&hours(&[(1, 2), (50, 3), (99, 4)]), (10, 60));
        assert_eq!(t.total(), 9);
        assert_eq!(t.values[0], 2);
        assert_eq!(*t.values.last().unwrap(), 4);
    }
}
