//! Reading one archive from first byte to last, handing each record to a [`Sink`].
//!
//! This is where "lose nothing" is enforced. Every line ends up as exactly one of: a header, a
//! blank line, a record, or a [`Problem`] that says `path:line: what was wrong`. A corrupt gzip
//! stream, an over-long line or a missing header is a problem too, never a silent stop. The
//! scan knows nothing about policies; `inspect` and `check` are two sinks over the same loop.

use std::ops::Deref;

use super::archive::{self, Archive, Lines, Opened, Text};
use super::cloudwatch::{self, Values};
use super::format::Format;
use super::kind::Kind;
use super::lines::{Line, SliceLines, MAX_LINE};
use super::parquet::{self, ParquetLog};
use super::record::Flow;
pub use super::sink::{Delivery, Problem, Sink};

/// Options that apply to every archive of a run.
#[derive(Clone, Debug, Default)]
pub struct ScanOptions {
    /// The format of archives without a header line (`--log-format`).
    pub log_format: Option<Format>,
}

/// Counts of what one archive held, for reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanStats {
    pub lines: u64,
    pub records: u64,
    pub headers: u64,
    pub blank: u64,
    pub problems: u64,
}

/// An archive opened and recognised, ready to be read.
pub enum Prepared {
    /// Parquet with flow-log columns; its row groups can be read apart (see
    /// [`scan_row_group`]).
    Parquet(ParquetLog),
    /// Flow-log text, CloudWatch JSON or export lines, told apart by the text's start.
    Text { text: Text, gzip: bool },
    /// Not readable at all: the problem says why.
    Unreadable(String),
}

/// Opens `archive` and finds out what it holds (see [`Kind`]).
pub fn prepare(archive: &Archive) -> Prepared {
    match archive::open_object(archive) {
        Ok(Opened::Parquet(object)) => match parquet::open(object) {
            Ok(log) => Prepared::Parquet(log),
            Err(e) => Prepared::Unreadable(e.to_string()),
        },
        Ok(Opened::Text { text, gzip }) => Prepared::Text { text, gzip },
        Err(e) => Prepared::Unreadable(format!("cannot read: {e}")),
    }
}

/// What the start of a decoded text says it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TextKind {
    /// JSON: a CloudWatch Logs delivery (or JSON of something else, which is a problem).
    Json,
    /// CloudWatch export-task lines.
    Export,
    /// Flow-log lines (and anything else, which the line reader reports line by line).
    Lines,
}

fn classify(head: &[u8]) -> TextKind {
    let start = head.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start else {
        return TextKind::Lines;
    };
    if matches!(head[start], b'{' | b'[') {
        return TextKind::Json;
    }
    let first_line = head[start..]
        .split(|&b| b == b'\n')
        .next()
        .unwrap_or_default();
    if cloudwatch::export_message(first_line).is_some() {
        return TextKind::Export;
    }
    TextKind::Lines
}

/// Reads `archive` to its end (or to the first unrecoverable stream error), whatever its kind.
pub fn scan_archive(archive: &Archive, options: &ScanOptions, sink: &mut impl Sink) -> ScanStats {
    scan_prepared(prepare(archive), archive, options, sink)
}

/// [`scan_archive`] of an archive already prepared.
pub fn scan_prepared(
    prepared: Prepared,
    archive: &Archive,
    options: &ScanOptions,
    sink: &mut impl Sink,
) -> ScanStats {
    let problem = |sink: &mut dyn Sink, message: String| {
        sink.problem(Problem::new(archive.display.clone(), None, message));
        ScanStats {
            problems: 1,
            ..ScanStats::default()
        }
    };
    match prepared {
        Prepared::Unreadable(why) => problem(sink, why),
        Prepared::Parquet(log) => {
            let mut stats = ScanStats::default();
            for group in 0..log.row_groups() {
                if sink.cancelled() {
                    break;
                }
                stats += scan_row_group(&log, group, archive, sink);
            }
            if log.row_groups() == 0 {
                sink.kind(archive, Kind::Parquet);
            }
            if log.rows() == 0 {
                stats += problem(
                    sink,
                    "holds no records: the Parquet object has no rows".into(),
                );
            }
            stats
        }
        Prepared::Text { mut text, gzip } => match classify(text.head()) {
            TextKind::Json => {
                let s = match &text {
                    Text::Whole(whole) => cloudwatch::scan_json(
                        Values::whole(whole),
                        gzip,
                        archive,
                        options.log_format.as_ref(),
                        sink,
                    ),
                    Text::Stream(_) => {
                        let Text::Stream(read) = text else {
                            unreachable!("matched above")
                        };
                        cloudwatch::scan_json(
                            Values::stream(Box::new(read)),
                            gzip,
                            archive,
                            options.log_format.as_ref(),
                            sink,
                        )
                    }
                };
                ScanStats::from_events(s)
            }
            TextKind::Export => {
                let s = cloudwatch::scan_export(
                    &mut text.into_lines(),
                    archive,
                    options.log_format.as_ref(),
                    sink,
                );
                ScanStats::from_events(s)
            }
            TextKind::Lines => {
                sink.kind(archive, Kind::Text);
                scan_lines(text.into_lines(), archive, options, sink)
            }
        },
    }
}

/// Reads row group `group` of a Parquet object: what the engine hands each thread when it
/// reads the row groups of one object at once. Tells `sink` the kind and format first.
pub fn scan_row_group(
    log: &ParquetLog,
    group: usize,
    archive: &Archive,
    sink: &mut impl Sink,
) -> ScanStats {
    sink.kind(archive, Kind::Parquet);
    sink.format(archive, log.format());
    let s = log.scan_row_group(group, archive, sink);
    ScanStats {
        lines: s.rows,
        records: s.records,
        problems: s.problems,
        ..ScanStats::default()
    }
}

impl ScanStats {
    fn from_events(s: cloudwatch::Stats) -> ScanStats {
        ScanStats {
            lines: s.events,
            records: s.records,
            problems: s.problems,
            ..ScanStats::default()
        }
    }
}

impl std::ops::AddAssign for ScanStats {
    fn add_assign(&mut self, o: ScanStats) {
        self.lines += o.lines;
        self.records += o.records;
        self.headers += o.headers;
        self.blank += o.blank;
        self.problems += o.problems;
    }
}

/// Reads flow-log text line by line: headers, records, blank lines, problems.
fn scan_lines(
    mut lines: Lines,
    archive: &Archive,
    options: &ScanOptions,
    sink: &mut impl Sink,
) -> ScanStats {
    let mut stats = ScanStats::default();
    let problem = |sink: &mut dyn FnMut(Problem), line: Option<u64>, message: String| {
        sink(Problem::new(archive.display.clone(), line, message))
    };
    let mut format: Option<Format> = None;
    loop {
        // Counted in lines, not records: a stretch of lines that are all problems (or a
        // header-only tail) leaves the record count still, and must not hide a Ctrl-C.
        if stats.lines % 4096 == 0 && sink.cancelled() {
            break;
        }
        if let (Lines::Whole(whole), Some(f)) = (&mut lines, &format) {
            if plain_records(whole, f, archive, &mut stats, sink) {
                break;
            }
        }
        let line = match lines.next_line() {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) => {
                stats.problems += 1;
                let what = if is_gzip_error(&e) {
                    "gzip data is corrupt or truncated"
                } else {
                    "read failed"
                };
                let at = lines.line_number();
                problem(
                    &mut |p| sink.problem(p),
                    None,
                    format!(
                        "{what} after line {at} ({} records read before the break): {e}",
                        stats.records
                    ),
                );
                break;
            }
        };
        stats.lines += 1;
        let (number, bytes) = match line {
            Line::Text { number, bytes } => (number, bytes),
            Line::TooLong { number, length } => {
                stats.problems += 1;
                problem(
                    &mut |p| sink.problem(p),
                    Some(number),
                    format!("line is {length} bytes long; records are at most {MAX_LINE} bytes, so this is not a flow-log line"),
                );
                continue;
            }
        };
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            stats.blank += 1;
            continue;
        }
        if let Some(header) = Format::from_header_line(bytes) {
            stats.headers += 1;
            match header {
                Ok(f) => {
                    sink.header_line(archive, number, bytes);
                    if format.as_ref() != Some(&f) {
                        sink.format(archive, &f);
                        format = Some(f);
                    }
                }
                Err(e) => {
                    stats.problems += 1;
                    problem(
                        &mut |p| sink.problem(p),
                        Some(number),
                        format!("bad header line: {e}; the records after it cannot be read"),
                    );
                    format = None;
                    // Records until the next good header have no format: skip them as one problem.
                    let skipped = skip_to_next_header(&mut lines, &mut stats, &mut format);
                    if skipped > 0 {
                        problem(
                            &mut |p| sink.problem(p),
                            Some(number),
                            format!("{skipped} lines after the bad header were not read"),
                        );
                    }
                    match &format {
                        Some(f) => sink.format(archive, f),
                        None => break,
                    }
                }
            }
            continue;
        }
        let current = match &format {
            Some(f) => f,
            None => match &options.log_format {
                Some(f) => {
                    sink.format(archive, f);
                    format.insert(f.clone())
                }
                None => {
                    stats.problems += 1;
                    problem(
                        &mut |p| sink.problem(p),
                        Some(number),
                        "no header line before the first record, so the field order is unknown; \
                         give it with --log-format (CloudWatch and Firehose exports have no header)"
                            .to_string(),
                    );
                    break;
                }
            },
        };
        let mut flow = Flow::EMPTY;
        match flow.parse_into(current, bytes) {
            Ok(()) => {
                stats.records += 1;
                sink.record_line(archive, number, bytes, &flow);
            }
            Err(e) => {
                stats.problems += 1;
                problem(&mut |p| sink.problem(p), Some(number), e.to_string());
            }
        }
    }
    if stats.records == 0 && stats.problems == 0 && !sink.cancelled() {
        // An archive that holds no record proves nothing, and AWS never writes one: it is a
        // sign of a failed download or a wrong path, so it is a problem, not an empty pass.
        let what = if stats.lines == 0 {
            "archive is empty: no header and no records"
        } else {
            "archive holds no records (only a header or blank lines)"
        };
        stats.problems += 1;
        problem(&mut |p| sink.problem(p), None, what.to_string());
    }
    stats
}

/// Reads the plain records at the front of a whole text in one tight loop, up to the first
/// line that needs the general loop of `scan_archive`: a header, a blank line, a record the
/// fast path leaves to the careful parser, the last line or two of the buffer. Each record is
/// read as the general loop would read it (see [`Flow::parse_line`]), with its line's end
/// found in the same pass. Returns whether the scan was cancelled.
fn plain_records<B: Deref<Target = [u8]>>(
    whole: &mut SliceLines<B>,
    format: &Format,
    archive: &Archive,
    stats: &mut ScanStats,
    sink: &mut impl Sink,
) -> bool {
    let mut lines = whole.cursor();
    // One record for the whole run, each line read over the last: a fresh one per line cost
    // a 240-byte copy. The run ends at the next header, so its lines share one format.
    let mut flow = Flow::EMPTY;
    loop {
        if stats.lines.is_multiple_of(4096) && sink.cancelled() {
            return true;
        }
        let rest = lines.rest();
        let Some(length) = flow.parse_line(format, rest) else {
            return false;
        };
        // A header reads as a record of a format whose every column takes any word (ids,
        // fields flowgate does not read): the general loop's header test comes first here
        // too. Records that begin with a digit or `-`, the default format's among them, never
        // pay for it.
        if rest[0].is_ascii_alphabetic() && Format::from_header_line(&rest[..length]).is_some() {
            return false;
        }
        stats.lines += 1;
        stats.records += 1;
        let number = lines.consume(length);
        sink.record_line(archive, number, &rest[..length], &flow);
    }
}

/// After a header that cannot be used, reads on until a usable header (returned in `format`)
/// or the end; returns how many lines were passed over.
fn skip_to_next_header(
    lines: &mut Lines,
    stats: &mut ScanStats,
    format: &mut Option<Format>,
) -> u64 {
    let mut skipped = 0;
    while let Ok(Some(line)) = lines.next_line() {
        stats.lines += 1;
        if let Line::Text { bytes, .. } = line {
            if let Some(Ok(f)) = Format::from_header_line(bytes) {
                stats.headers += 1;
                *format = Some(f);
                return skipped;
            }
        }
        skipped += 1;
    }
    skipped
}

fn is_gzip_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::InvalidInput
            | std::io::ErrorKind::InvalidData
            | std::io::ErrorKind::UnexpectedEof
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_gz as gz;
    use super::*;
    use crate::source::{ArchiveMeta, Source};

    #[derive(Default)]
    struct Collect {
        formats: Vec<usize>,
        records: Vec<(u64, Option<u16>)>,
        problems: Vec<String>,
    }
    impl Sink for Collect {
        fn format(&mut self, _: &Archive, format: &Format) {
            self.formats.push(format.len());
        }
        fn record(&mut self, _: &Archive, line: u64, flow: &Flow<'_>) {
            self.records.push((line, flow.dst_port));
        }
        fn problem(&mut self, p: Problem) {
            self.problems.push(p.to_string());
        }
    }

    fn file(bytes: &[u8]) -> (tempfile::TempDir, Archive) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        std::fs::write(&path, bytes).unwrap();
        let archive = Archive {
            display: "a.log".into(),
            source: Source::File(path),
            meta: ArchiveMeta::default(),
        };
        (dir, archive)
    }

    const HDR: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n";
    const REC: &str = "2 1 eni-1 10.0.0.1 10.0.0.2 40000 443 6 1 60 100 160 ACCEPT OK\n";

    fn run(bytes: &[u8], options: &ScanOptions) -> (Collect, ScanStats) {
        let (_d, a) = file(bytes);
        let mut c = Collect::default();
        let s = scan_archive(&a, options, &mut c);
        (c, s)
    }

    /// Every record with its line number and all its values, and every problem.
    #[derive(Default)]
    struct Full {
        records: Vec<(u64, String)>,
        lines: Vec<(u64, String)>,
        problems: Vec<String>,
    }
    impl Sink for Full {
        fn format(&mut self, _: &Archive, _: &Format) {}
        fn record(&mut self, _: &Archive, _: u64, _: &Flow<'_>) {
            unreachable!("record_line is overridden")
        }
        fn record_line(&mut self, _: &Archive, line: u64, bytes: &[u8], flow: &Flow<'_>) {
            self.records.push((line, format!("{flow:?}")));
            self.lines
                .push((line, String::from_utf8_lossy(bytes).into_owned()));
        }
        fn problem(&mut self, p: Problem) {
            self.problems.push(p.to_string());
        }
    }

    /// The shortcut for plain records (`plain_records`) reads what the general loop reads,
    /// line by line, around every kind of line it leaves to the loop: headers, blank lines,
    /// CRLF endings, tabs, bad values, long numbers, a last line with no newline, in a whole
    /// text read from a plain and from a gzip file.
    #[test]
    fn the_plain_record_shortcut_reads_what_the_general_loop_reads() {
        let odd = [
            "",
            "2 1 eni-1 10.0.0.1 10.0.0.2 40000 443 6 1 60 100 160 ACCEPT OK\r",
            "2 1 eni-1 10.0.0.1 10.0.0.2 40000 443 6 1 60 100 160 ACCEPT\tOK",
            "2 1 eni-1 10.0.0.1  10.0.0.2 40000 443 6 1 60 100 160 ACCEPT OK",
            "2 1 eni-1 10.0.0.1 10.0.0.2 40000 99999 6 1 60 100 160 ACCEPT OK",
            "2 1 eni-1 10.0.0.1 10.0.0.2 40000 443 6 1 18446744073709551615 100 160 ACCEPT OK",
            "2 1 eni-1 10.0.0.1 10.0.0.2 40000 443 6 1 18446744073709551616 100 160 ACCEPT OK",
            "2 1 eni-1 10.0.0.1 10.0.0.2 40000 443 6 1 60 100 160 ACCEPT",
            "2 1 eni-1 ::ffff:10.0.0.1 10.0.0.2 40000 443 6 1 60 100 160 ACCEPT OK",
            "- - eni-1 - - - - - - - 100 160 - NODATA",
            "2 1 eni-1 10.0.0.1 10.0.0.2 40000 443 6 1 60 100 160 ACCEPT OK",
            HDR.trim_end(),
            "2 1 eni-1 10.0.0.1 10.0.0.2 40000 443 6 1 60 100 160 ACCEPT OK junk",
        ];
        let mut text = String::from(HDR);
        let mut x: u64 = 7;
        for i in 0..600u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            if x >> 60 < 3 {
                text.push_str(odd[(x >> 32) as usize % odd.len()]);
            } else {
                let pad = "7".repeat((x >> 40) as usize % 12);
                text.push_str(&format!(
                    "2 1234{pad} eni-0a{i:x} 10.{}.{}.{} 2001:db8::{i:x} {} {} 6 {} {}{pad} 1700000000 17000000{:02} {} OK",
                    x % 256, (x >> 8) % 256, (x >> 16) % 256, (x >> 20) % 65536, (x >> 36) % 1024,
                    (x >> 24) % 100000, i, i % 100, ["ACCEPT", "REJECT"][(x >> 3) as usize % 2],
                ));
            }
            text.push('\n');
        }
        text.push_str(odd[1].trim_end()); // the last line, without a newline
        assert_the_shortcut_reads_as_the_loop(&text, 500);
    }

    /// The same for custom formats, with the format changing from one header to the next:
    /// a field the new format lacks must not keep the last run's value.
    #[test]
    fn the_shortcut_reads_custom_formats_as_the_general_loop() {
        const A: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status tcp-flags flow-direction";
        const B: &str = "interface-id srcaddr dstaddr srcport dstport protocol start end action log-status pkt-srcaddr";
        let mut text = format!("{A}\n");
        let mut in_a = true;
        let mut x: u64 = 11;
        for i in 0..800u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let (sp, dp, n) = ((x >> 20) % 65536, (x >> 36) % 1024, x % 256);
            let dash = |v: String, bit: u32| {
                if (x >> bit).is_multiple_of(9) {
                    "-".to_string()
                } else {
                    v
                }
            };
            match x >> 59 {
                0 => {
                    in_a = !in_a;
                    text.push_str(if in_a { A } else { B });
                }
                1 => text.push_str(["", "junk", "2 1 eni-1\t10.0.0.1", "- - -"][(x >> 8) as usize % 4]),
                2 if in_a => text.push_str(&format!("2 1 eni-1 10.0.0.{n} 10.0.0.2 {sp} {dp} 6 1 60 100 160 ACCEPT OK 2 sideways")),
                2 => text.push_str(&format!("eni-1 10.0.0.{n} 10.0.0.2 {sp} {dp} 6 100 160 ACCEPT OK 10.0.0.{n}\r")),
                _ if in_a => text.push_str(&format!(
                    "2 1234 eni-0a{i:x} 10.{n}.1.2 2001:db8::{i:x} {sp} {dp} 6 {} 99 1700000000 17000000{:02} {} OK {} {}",
                    (x >> 24) % 100000, i % 100, ["ACCEPT", "REJECT"][(x >> 3) as usize % 2],
                    dash(((x >> 12) % 64).to_string(), 30), dash(["ingress", "egress"][(x >> 5) as usize % 2].to_string(), 40),
                )),
                _ => text.push_str(&format!(
                    "eni-0b{i:x} 10.{n}.3.4 10.9.8.7 {sp} {dp} 17 1700000000 17000000{:02} ACCEPT OK {}",
                    i % 100, dash(format!("192.168.{}.{n}", (x >> 44) % 256), 50),
                )),
            }
            text.push('\n');
        }
        assert_the_shortcut_reads_as_the_loop(&text, 600);
    }

    /// In a format whose every column takes any word (ids, fields flowgate does not read), a
    /// header line is also a well-formed record; the shortcut must leave it to the general
    /// loop, which reads it as the header it is (a repeat, or a switch to another format of
    /// the same width).
    #[test]
    fn a_header_is_never_read_as_a_record_of_words() {
        let mut text = String::new();
        for (i, header) in [
            "vpc-id interface-id",
            "vpc-id interface-id",
            "interface-id account-id",
            "srcaddr dstaddr",
        ]
        .iter()
        .enumerate()
        {
            text.push_str(header);
            text.push('\n');
            for k in 0..30 {
                text.push_str(&match i {
                    3 => format!("10.0.{i}.{k} 10.1.{i}.{k}\n"),
                    _ => format!("vpc-{i}{k} eni-{i}{k:x}\n"),
                });
            }
        }
        assert_the_shortcut_reads_as_the_loop(&text, 100);
        let (c, s) = run(text.as_bytes(), &ScanOptions::default());
        assert_eq!((s.records, s.headers), (120, 4));
        assert_eq!(c.formats.len(), 3, "the repeated header is no new format");
    }

    /// Scans `text` from a plain and from a gzip file and compares the records, their line
    /// texts, the problems and the counts with each line cut out and parsed on its own under
    /// the header before it: what the general loop alone would give.
    fn assert_the_shortcut_reads_as_the_loop(text: &str, least_records: usize) {
        let (mut expected, mut expected_lines, mut bad) = (Vec::new(), Vec::new(), 0);
        let mut format = None;
        for (i, line) in text.split('\n').enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim().is_empty() {
                continue;
            }
            if let Some(header) = Format::from_header_line(line.as_bytes()) {
                format = Some(header.unwrap());
                continue;
            }
            match Flow::parse(format.as_ref().unwrap(), line.as_bytes()) {
                Ok(flow) => {
                    expected.push((i as u64 + 1, format!("{flow:?}")));
                    expected_lines.push((i as u64 + 1, line.to_string()));
                }
                Err(_) => bad += 1,
            }
        }
        assert!(expected.len() > least_records, "{}", expected.len());
        let scan = |archive: &Archive| {
            let mut full = Full::default();
            let stats = scan_archive(archive, &ScanOptions::default(), &mut full);
            (full, stats)
        };
        let (_d, plain) = file(text.as_bytes());
        let (_e, gzip) = file(&gz(text.as_bytes()));
        let (reference, stats) = scan(&plain);
        assert_eq!(reference.records, expected);
        assert_eq!(reference.lines, expected_lines);
        assert_eq!(reference.problems.len(), bad);
        assert_eq!(stats.records, expected.len() as u64);
        assert_eq!(stats.lines, text.lines().count() as u64);
        let (from_gzip, gzip_stats) = scan(&gzip);
        assert_eq!(
            (&from_gzip.records, &from_gzip.lines, &from_gzip.problems),
            (&reference.records, &reference.lines, &reference.problems)
        );
        assert_eq!(gzip_stats, stats);
    }

    /// Ctrl-C is seen within 4096 lines inside a run of plain records too, at the same line
    /// as in the general loop: the scan stops when the line count reaches a multiple of 4096.
    #[test]
    fn a_cancel_stops_a_run_of_plain_records() {
        struct CancelAfter {
            records: u64,
            after: u64,
        }
        impl Sink for CancelAfter {
            fn format(&mut self, _: &Archive, _: &Format) {}
            fn record(&mut self, _: &Archive, _: u64, _: &Flow<'_>) {
                self.records += 1;
            }
            fn problem(&mut self, p: Problem) {
                panic!("{p}");
            }
            fn cancelled(&self) -> bool {
                self.records >= self.after
            }
        }
        let text = format!("{HDR}{}", REC.repeat(10_000));
        for bytes in [text.clone().into_bytes(), gz(text.as_bytes())] {
            let (_d, a) = file(&bytes);
            let mut sink = CancelAfter {
                records: 0,
                after: 5_000,
            };
            let stats = scan_archive(&a, &ScanOptions::default(), &mut sink);
            // The header and 8,191 records: the check at line 8,192 stops the scan.
            assert_eq!(
                (stats.lines, stats.records, sink.records),
                (8_192, 8_191, 8_191)
            );
        }
    }

    #[test]
    fn two_gzip_members_are_both_read() {
        let mut data = gz(format!("{HDR}{REC}").as_bytes());
        data.extend(gz(REC.as_bytes()));
        let (c, s) = run(&data, &ScanOptions::default());
        assert_eq!(s.records, 2);
        assert!(c.problems.is_empty());
    }

    #[test]
    fn truncated_gzip_is_a_problem_with_the_count_read() {
        let body: String = std::iter::once(HDR.to_string())
            .chain((0..5000).map(|_| REC.to_string()))
            .collect();
        let data = gz(body.as_bytes());
        let (c, s) = run(&data[..data.len() / 2], &ScanOptions::default());
        assert!(s.records > 0 && s.records < 5000);
        assert_eq!(c.problems.len(), 1);
        assert!(
            c.problems[0].contains("gzip data is corrupt or truncated"),
            "{}",
            c.problems[0]
        );
        assert!(c.problems[0].contains(&format!("{} records read", s.records)));
    }

    #[test]
    fn bad_lines_do_not_hide_good_ones() {
        let data = format!("{HDR}{REC}bogus line\n\n{REC}2 1 eni-1 10.0.0.1 10.0.0.2 1 99999 6 1 1 1 2 ACCEPT OK\n{REC}");
        let (c, s) = run(data.as_bytes(), &ScanOptions::default());
        assert_eq!(s.records, 3);
        assert_eq!(s.blank, 1);
        assert_eq!(
            c.problems,
            [
                "a.log:3: expected 14 fields (as the header says), found 2",
                "a.log:6: dstport: `99999` is not a port (0-65535)"
            ]
        );
    }

    #[test]
    fn headerless_needs_a_log_format() {
        let (c, s) = run(REC.as_bytes(), &ScanOptions::default());
        assert_eq!(s.records, 0);
        assert!(c.problems[0].starts_with("a.log:1: no header line"));
        let opts = ScanOptions {
            log_format: Some(Format::default_v2()),
        };
        let (c, s) = run(format!("{REC}{REC}").as_bytes(), &opts);
        assert_eq!((s.records, c.problems.len(), c.formats.len()), (2, 0, 1));
    }

    #[test]
    fn repeated_header_switches_format() {
        let data = format!("{HDR}{REC}{HDR}{REC}srcaddr dstaddr dstport\n10.0.0.1 10.0.0.2 22\n");
        let (c, s) = run(data.as_bytes(), &ScanOptions::default());
        assert_eq!(s.records, 3);
        assert_eq!(c.formats, [14, 3]);
        assert_eq!(c.records[2], (6, Some(22)));
    }

    #[test]
    fn a_bad_header_skips_until_a_good_one() {
        let data = format!("version srcaddr srcaddr\n{REC}{REC}{HDR}{REC}");
        let (c, s) = run(data.as_bytes(), &ScanOptions::default());
        assert_eq!(s.records, 1);
        assert_eq!(
            c.problems,
            [
                "a.log:1: bad header line: field `srcaddr` appears twice in the format; the records after it cannot be read",
                "a.log:1: 2 lines after the bad header were not read"
            ]
        );
    }

    #[test]
    fn crlf_and_missing_final_newline() {
        let data = format!("{HDR}{REC}{}", REC.trim_end()).replace('\n', "\r\n");
        let (c, s) = run(data.trim_end().as_bytes(), &ScanOptions::default());
        assert_eq!((s.records, c.problems.len()), (2, 0));
    }

    #[test]
    fn empty_and_header_only_archives_are_problems() {
        let (c, _) = run(b"", &ScanOptions::default());
        assert_eq!(
            c.problems,
            ["a.log: archive is empty: no header and no records"]
        );
        let (c, _) = run(HDR.as_bytes(), &ScanOptions::default());
        assert_eq!(
            c.problems,
            ["a.log: archive holds no records (only a header or blank lines)"]
        );
    }

    #[test]
    fn cancel_is_seen_in_a_run_of_bad_lines() {
        // Cancelled once the first record is in: the lines after it are all problems, so
        // the record count stays at 1 and a check keyed on records would never look again.
        struct StopAfterRecord(Collect);
        impl Sink for StopAfterRecord {
            fn format(&mut self, a: &Archive, f: &Format) {
                self.0.format(a, f)
            }
            fn record(&mut self, a: &Archive, line: u64, f: &Flow<'_>) {
                self.0.record(a, line, f)
            }
            fn problem(&mut self, p: Problem) {
                self.0.problem(p)
            }
            fn cancelled(&self) -> bool {
                !self.0.records.is_empty()
            }
        }
        let data = format!("{HDR}{REC}{}", "bogus\n".repeat(50_000));
        let (_d, a) = file(data.as_bytes());
        let mut sink = StopAfterRecord(Collect::default());
        let s = scan_archive(&a, &ScanOptions::default(), &mut sink);
        assert_eq!(s.records, 1);
        assert!(s.lines <= 4096, "read {} lines after the cancel", s.lines);
    }

    #[test]
    fn missing_file_is_a_problem() {
        let a = Archive {
            display: "gone.log".into(),
            source: Source::File("/nonexistent/gone.log".into()),
            meta: ArchiveMeta::default(),
        };
        let mut c = Collect::default();
        scan_archive(&a, &ScanOptions::default(), &mut c);
        assert!(
            c.problems[0].starts_with("gone.log: cannot read:"),
            "{:?}",
            c.problems
        );
    }

    mod props {
        //! A scan of arbitrary bytes, plain or gzip, never panics, and never ends silent: an
        //! archive yields records or says what was wrong.
        use super::*;
        use proptest::prelude::*;

        fn line() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                Just(HDR.trim_end().as_bytes().to_vec()),
                Just(REC.trim_end().as_bytes().to_vec()),
                (0..REC.len() - 1, any::<u8>()).prop_map(|(i, b)| {
                    let mut r = REC.trim_end().as_bytes().to_vec();
                    r[i] = b;
                    r
                }),
                proptest::collection::vec(any::<u8>(), 0..80),
                Just(Vec::new()),
            ]
        }

        fn check(data: &[u8], log_format: bool) {
            let options = ScanOptions {
                log_format: log_format.then(Format::default_v2),
            };
            let (c, s) = run(data, &options);
            assert_eq!(s.records, c.records.len() as u64);
            assert!(s.records + s.headers + s.blank <= s.lines);
            assert!(s.records > 0 || !c.problems.is_empty(), "silent: {s:?}");
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(128))]

            #[test]
            fn arbitrary_bytes_never_panic_nor_pass_silently(
                data in proptest::collection::vec(any::<u8>(), 0..2000),
                compress in any::<bool>(),
                log_format in any::<bool>(),
            ) {
                let data = if compress { gz(&data) } else { data };
                check(&data, log_format);
            }

            #[test]
            fn mangled_archives_never_panic_nor_pass_silently(
                lines in proptest::collection::vec(line(), 0..40),
                crlf in any::<bool>(),
                cut in proptest::option::of(0usize..4000),
            ) {
                let mut data = lines.join(if crlf { &b"\r\n"[..] } else { &b"\n"[..] });
                let mut data_gz = gz(&data);
                if let Some(cut) = cut {
                    data_gz.truncate(cut.min(data_gz.len()));
                    data.truncate(cut.min(data.len()));
                }
                check(&data, false);
                check(&data_gz, false);
            }
        }
    }
}
