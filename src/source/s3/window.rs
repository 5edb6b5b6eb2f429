//! When an object's records can be, read from its key: the date folders and the file name.
//!
//! AWS files flow logs under `YYYY/MM/DD/` folders (and `HH/` with per-hour partitions), or
//! Hive-style `year=/month=/day=/hour=` ones, and names each object after the 5-minute window
//! it publishes (`…_20261102T0705Z_….log.gz`): its records end inside that window and start at
//! most one aggregation interval (10 minutes) before it. Firehose deliveries sit under
//! `YYYY/MM/DD/HH/` too. So a `--since/--until` window tells, before anything is fetched,
//! which folders need listing and which objects reading; records of the objects read are still
//! filtered one by one, as for local files.
//!
//! The margins ([`EARLY`], [`LATE`]) are wider than AWS's rule by five minutes each way, so a
//! clock or a delivery a little off its slot is still read: skipping an object is only ever a
//! saving, never a change of verdict.

use time::{Date, Month, PrimitiveDateTime, Time};

/// Records of an object start at most this long before its key time: AWS's longest
/// aggregation interval (10 minutes) and five minutes of margin.
pub const EARLY: u64 = 15 * 60;
/// Records of an object end at most this long after its key time ends: AWS puts a record in
/// the window its end falls in; five minutes of margin.
pub const LATE: u64 = 5 * 60;

/// The `--since/--until` window, in Unix seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Window {
    /// Records that end at or after this.
    pub since: Option<u64>,
    /// Records that start before this.
    pub until: Option<u64>,
}

/// A span of time a key names, `[start, end)` in Unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: u64,
    pub end: u64,
}

impl Window {
    pub fn is_unbounded(&self) -> bool {
        self.since.is_none() && self.until.is_none()
    }

    /// Whether an object (or a folder of them) whose key names `span` may hold a record in
    /// the window.
    pub fn may_hold(&self, span: Span) -> bool {
        let first_start = span.start.saturating_sub(EARLY);
        let last_end = span.end.saturating_add(LATE);
        self.since.is_none_or(|s| last_end > s) && self.until.is_none_or(|u| first_start < u)
    }

    /// Whether every record an object of `span` can hold is inside the window: a folder of
    /// such objects is listed whole, without looking at its sub-folders one by one.
    pub fn covers(&self, span: Span) -> bool {
        let first_start = span.start.saturating_sub(EARLY);
        let last_end = span.end.saturating_add(LATE);
        self.since.is_none_or(|s| first_start >= s) && self.until.is_none_or(|u| last_end <= u)
    }

    /// The window as people read it, for the reason an object is not read.
    pub fn describe(&self) -> String {
        let at = |t: Option<u64>| t.map_or_else(|| "…".to_string(), crate::text::rfc3339);
        format!("--since/--until {} to {}", at(self.since), at(self.until))
    }
}

impl Span {
    /// `YYYY-MM-DD HH:MM` to `HH:MM` (or the days), for reasons.
    pub fn describe(&self) -> String {
        let t = |s: u64| crate::text::rfc3339(s);
        format!("{} to {}", t(self.start), t(self.end))
    }
}

/// The span a key (or a prefix ending in `/`) names: its file name's 5-minute slot when it
/// has one, else its date folders, else `None` (nothing known: the object is read).
pub fn key_span(key: &str) -> Option<Span> {
    let parts: Vec<&str> = key.split('/').collect();
    let (name, folders) = parts.split_last()?;
    let folder = folder_span(folders);
    match (slot_span(name), folder) {
        (Some(slot), Some(f)) if slot.start < f.start || slot.end > f.end => Some(Span {
            // Folder and name disagree: what either says may be true.
            start: slot.start.min(f.start),
            end: slot.end.max(f.end),
        }),
        (Some(slot), _) => Some(slot),
        (None, folder) => folder,
    }
}

/// The 5-minute slot in an AWS object name: `<account>_vpcflowlogs_<region>_<id>_<YYYYMMDDTHHmmZ>_<hash>…`.
fn slot_span(name: &str) -> Option<Span> {
    let slot = name.split('_').find(|f| {
        f.len() == 14 && f.as_bytes()[8] == b'T' && f.ends_with('Z') && {
            let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
            digits(&f[..8]) && digits(&f[9..13])
        }
    })?;
    let n = |r: std::ops::Range<usize>| slot[r].parse::<u32>().ok();
    let start = unix(n(0..4)?, n(4..6)?, n(6..8)?, n(9..11)?, n(11..13)?)?;
    Some(Span {
        start,
        end: start + 300,
    })
}

/// What the folders say: Hive-style `year=`, `month=`, `day=`, `hour=` anywhere, or the first
/// run of `YYYY/MM[/DD[/HH]]` folders.
fn folder_span(folders: &[&str]) -> Option<Span> {
    let hive = |key: &str| {
        folders
            .iter()
            .find_map(|f| f.strip_prefix(key))
            .map(|v| v.parse::<u32>().ok())
    };
    let parts: Vec<Option<u32>> = if let Some(year) = hive("year=") {
        let mut p = vec![year];
        for key in ["month=", "day=", "hour="] {
            match hive(key) {
                Some(v) => p.push(v),
                None => break,
            }
        }
        p
    } else {
        let start = folders
            .iter()
            .position(|f| f.len() == 4 && f.bytes().all(|b| b.is_ascii_digit()))?;
        folders[start..]
            .iter()
            .take(4)
            .enumerate()
            .take_while(|(i, f)| *i == 0 || (f.len() == 2 && f.bytes().all(|b| b.is_ascii_digit())))
            .map(|(_, f)| f.parse().ok())
            .collect()
    };
    let parts: Vec<u32> = parts.into_iter().collect::<Option<_>>()?;
    let year = *parts.first()?;
    if !(1970..=9999).contains(&year) {
        return None;
    }
    match *parts.as_slice() {
        [y] => Some(Span {
            start: unix(y, 1, 1, 0, 0)?,
            end: unix(y + 1, 1, 1, 0, 0)?,
        }),
        [y, m] => {
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            Some(Span {
                start: unix(y, m, 1, 0, 0)?,
                end: unix(ny, nm, 1, 0, 0)?,
            })
        }
        [y, m, d] => {
            let start = unix(y, m, d, 0, 0)?;
            Some(Span {
                start,
                end: start + 86_400,
            })
        }
        [y, m, d, h, ..] => {
            let start = unix(y, m, d, h, 0)?;
            Some(Span {
                start,
                end: start + 3_600,
            })
        }
        [] => None,
    }
}

/// Unix seconds of a UTC date and time, `None` when it is no such time.
fn unix(year: u32, month: u32, day: u32, hour: u32, minute: u32) -> Option<u64> {
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date =
        Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()?;
    let time = Time::from_hms(u8::try_from(hour).ok()?, u8::try_from(minute).ok()?, 0).ok()?;
    u64::try_from(
        PrimitiveDateTime::new(date, time)
            .assume_utc()
            .unix_timestamp(),
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: &str = "AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/11/02/";
    /// 2026-11-02T00:00:00Z.
    const MIDNIGHT: u64 = 1_793_577_600;

    #[test]
    fn classic_folders_name_years_months_days_and_hours() {
        let span = |k: &str| key_span(k).map(|s| (s.start, s.end));
        assert_eq!(span(DAY), Some((MIDNIGHT, MIDNIGHT + 86_400)));
        assert_eq!(
            span(&format!("{DAY}07/")),
            Some((MIDNIGHT + 7 * 3600, MIDNIGHT + 8 * 3600))
        );
        let year = span("AWSLogs/1/vpcflowlogs/r/2026/").unwrap();
        assert_eq!(year.1 - year.0, 365 * 86_400);
        let december = span("x/2026/12/").unwrap();
        assert_eq!(december.1 - december.0, 31 * 86_400);
        // Firehose's prefix, at the bucket's top.
        assert_eq!(
            span("2026/11/02/07/flow-logs-1-2026-11-02-07-00-05-abc"),
            Some((MIDNIGHT + 7 * 3600, MIDNIGHT + 8 * 3600))
        );
        // Not dates: account ids, regions, a month 13, no folders at all.
        assert_eq!(span("AWSLogs/123456789012/vpcflowlogs/eu-west-1/"), None);
        assert_eq!(span("x/2026/13/"), None);
        assert_eq!(span("a.log.gz"), None);
    }

    #[test]
    fn hive_folders_and_file_slots() {
        let hive = "AWSLogs/aws-account-id=1/aws-service=vpcflowlogs/aws-region=r/year=2026/month=11/day=02/hour=07/";
        let s = key_span(hive).unwrap();
        assert_eq!((s.start, s.end), (MIDNIGHT + 7 * 3600, MIDNIGHT + 8 * 3600));
        let name = "123456789012_vpcflowlogs_eu-west-1_fl-0a1b_20261102T0705Z_ea4b0f55.log.gz";
        let s = key_span(&format!("{DAY}{name}")).unwrap();
        assert_eq!((s.start, s.end), (MIDNIGHT + 425 * 60, MIDNIGHT + 430 * 60));
        // A name that disagrees with its folder: both are believed.
        let s = key_span(&format!("x/2026/11/03/{name}")).unwrap();
        assert_eq!(
            (s.start, s.end),
            (MIDNIGHT + 425 * 60, MIDNIGHT + 2 * 86_400)
        );
    }

    #[test]
    fn windows_keep_what_may_hold_a_record_with_margins() {
        let two_hours = Window {
            since: Some(MIDNIGHT + 7 * 3600),
            until: Some(MIDNIGHT + 9 * 3600),
        };
        let slot = |minute: u64| Span {
            start: MIDNIGHT + minute * 60,
            end: MIDNIGHT + minute * 60 + 300,
        };
        // Slots 06:55 (records may end at 07:05 with the margin) to 09:10 (records may
        // start at 08:55).
        assert!(!two_hours.may_hold(slot(6 * 60 + 50)));
        assert!(two_hours.may_hold(slot(6 * 60 + 55)));
        assert!(two_hours.may_hold(slot(9 * 60 + 10)));
        assert!(!two_hours.may_hold(slot(9 * 60 + 15)));
        let hour = |h: u64| Span {
            start: MIDNIGHT + h * 3600,
            end: MIDNIGHT + (h + 1) * 3600,
        };
        assert!(
            !two_hours.covers(hour(7)),
            "its first slot's records start at 06:45"
        );
        assert!(!two_hours.may_hold(hour(10)));
        assert!(two_hours.may_hold(hour(9)));
        let open_ended = Window {
            since: Some(MIDNIGHT),
            until: None,
        };
        assert!(open_ended.covers(hour(7)));
        assert!(!open_ended.may_hold(Span {
            start: MIDNIGHT - 86_400,
            end: MIDNIGHT - 600
        }));
        assert!(Window::default().may_hold(hour(0)) && Window::default().covers(hour(0)));
    }
}
