//! The archive reader, whole and streamed, on the same bytes: a file read whole (gzip decoded
//! into a buffer, lines cut in place, records parsed in the buffer) and the same file
//! streamed (as standard input is) must give the same records, the same problems and the same
//! counts. Fuzzing this found issue 27's two verdicts for one file (libdeflate took reserved
//! deflate symbols that zlib refuses). Run with the default limits and with a tiny text
//! limit, so that whole reading also gives up and falls back to the stream.
#![no_main]

use std::path::PathBuf;

use flowgate::flowlog::archive::{self, Archive, ArchiveMeta, Limits, Lines, Source};
use flowgate::flowlog::lines::LineReader;
use flowgate::flowlog::scan::{scan_lines, ScanOptions, Sink};
use flowgate::flowlog::{Flow, Format, Problem};
use libfuzzer_sys::fuzz_target;

/// Everything a scan hands out, in order.
#[derive(Default)]
struct Events(Vec<String>);

impl Sink for Events {
    fn format(&mut self, _: &Archive, format: &Format) {
        self.0.push(format!("format {format}"));
    }
    fn record(&mut self, _: &Archive, line: u64, flow: &Flow<'_>) {
        self.0.push(format!("{line}: {flow:?}"));
    }
    fn problem(&mut self, problem: Problem) {
        self.0.push(format!("problem {problem}"));
    }
}

fn file() -> PathBuf {
    std::env::temp_dir().join(format!(
        "flowgate-fuzz-archive-{}.log.gz",
        std::process::id()
    ))
}

fuzz_target!(|data: &[u8]| {
    let path = file();
    std::fs::write(&path, data).expect("a scratch file");
    let archive = Archive {
        display: "a.log.gz".into(),
        source: Source::File(path),
        meta: ArchiveMeta::default(),
    };
    let options = ScanOptions::default();
    let tiny = Limits {
        compressed: 1 << 20,
        text: 300,
    };
    for limits in [Limits::DEFAULT, tiny] {
        let mut whole = Events::default();
        let lines = archive::open_lines_with(&archive, limits).expect("opens");
        let whole_stats = scan_lines(&archive, lines, &options, &mut whole);
        let mut streamed = Events::default();
        let stream = Lines::Stream(LineReader::new(archive::open(&archive).expect("opens")));
        let streamed_stats = scan_lines(&archive, stream, &options, &mut streamed);
        assert_eq!(whole.0, streamed.0, "limits {limits:?}");
        assert_eq!(whole_stats, streamed_stats, "limits {limits:?}");
    }
});
