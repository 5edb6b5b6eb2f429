//! Hostile and broken inputs, run through the real binary (issue 7; docs/reliability.md).
//!
//! Every bad archive sits beside `logs/good.log.gz`, and every test asserts the exit status,
//! the problem (file, line where there is one, what was wrong) and that the good archive's
//! records were still counted. Big inputs are generated at test time, as concatenated gzip
//! members, so a gigabyte costs megabytes; nothing large is committed.
//!
//! The 10-million-record case takes ~100 s in a debug build and is `#[ignore]`d; run it with
//! `cargo test --release --test hostile -- --ignored`.

mod common;
#[path = "hostile/support.rs"]
mod support;

use std::time::Duration;

use support::*;

/// 64 MiB: flowgate's buffers are well under 1 MiB and the binary itself takes ~8 MiB; a
/// reader that held a line or a decompressed stream whole would take a gigabyte.
const MEMORY_LIMIT_KIB: u64 = 64 * 1024;

const GIB: usize = 1 << 30;

fn records(n: usize) -> String {
    format!("{GOOD}\n").repeat(n)
}

// ---------------------------------------------------------------------------------------
// Archives that are broken

#[test]
fn truncated_gzip_keeps_the_records_before_the_cut() {
    let r = Repo::new();
    let whole = gz(format!("{HEADER}\n{}", records(5000)).as_bytes());
    r.raw("cut.log.gz", &whole[..whole.len() / 2]);
    let run = r.check(&[]);
    let (line, message) = &r_problem(&run, "cut.log.gz");
    assert_eq!(*line, None);
    assert!(
        message.contains("gzip data is corrupt or truncated"),
        "{message}"
    );
    // "... (N records read before the break)": those N still count.
    let read: u64 = message
        .split(" records read")
        .next()
        .and_then(|s| s.rsplit('(').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{message}"));
    assert!(read > 0 && read < 5000, "{message}");
    run.assert_problem("cut.log.gz", None, "truncated", GOOD_RECORDS + read);
}

fn r_problem(run: &Run, name: &str) -> (Option<u64>, String) {
    let p = run.problems(name);
    assert_eq!(p.len(), 1, "{p:?}");
    p.into_iter().next().unwrap()
}

#[test]
fn garbage_after_a_gzip_member_is_a_problem_after_its_records() {
    let r = Repo::new();
    let mut data = gz(format!("{HEADER}\n{}", records(10)).as_bytes());
    data.extend_from_slice(b"this is not gzip\n");
    r.raw("garbage.log.gz", &data);
    let mut zeros = gz(format!("{HEADER}\n{}", records(4)).as_bytes());
    zeros.extend_from_slice(&[0; 512]);
    r.raw("padded.log.gz", &zeros);
    let run = r.check(&[]);
    run.assert_problem(
        "garbage.log.gz",
        None,
        "gzip data is corrupt or truncated after line 11 (10 records read before the break)",
        GOOD_RECORDS + 10 + 4,
    );
    run.assert_problem("padded.log.gz", None, "4 records read", GOOD_RECORDS + 14);
}

/// `n` allowed records that differ from each other (ports, bytes), so they compress about as
/// flow logs do rather than to a few bytes.
fn varied_records(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "2 111122223333 eni-0aa11bb22cc33dd44 10.0.1.{} 10.20.30.5 {} 443 6 {} {} 1762041600 1762041660 ACCEPT OK\n",
                i % 250,
                1024 + i * 7 % 60000,
                1 + i % 13,
                40 + i * 31 % 100_000
            )
        })
        .collect()
}

/// `inspect --json` of `bytes` read as a file (whole, as files up to 2 MiB are) and from
/// standard input (streamed): records counted and problem messages, which must agree.
fn inspect_file_and_stdin(r: &Repo, name: &str, bytes: &[u8]) -> (Option<i32>, u64, Vec<String>) {
    use std::io::Write;
    r.raw(name, bytes);
    let as_file = r.output(&["inspect", "--json", "--logs", &format!("logs/{name}")]);
    let mut child = r.command(&["inspect", "--json", "--logs", "-"]);
    child
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = child.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Small writes, so that the pipe hands the reader the stream in pieces.
    for piece in bytes.chunks(1000) {
        stdin.write_all(piece).unwrap();
    }
    drop(stdin);
    let from_stdin = child.wait_with_output().unwrap();
    let read = |out: &std::process::Output| {
        assert_no_panic(&String::from_utf8_lossy(&out.stderr));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let problems: Vec<String> = doc["inspect"]["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["message"].as_str().unwrap().to_string())
            .collect();
        (
            out.status.code(),
            doc["inspect"]["records"].as_u64().unwrap(),
            problems,
        )
    };
    let (file_code, file_records, file_problems) = read(&as_file);
    let (stdin_code, stdin_records, stdin_problems) = read(&from_stdin);
    assert_eq!(
        (file_code, file_records, &file_problems),
        (stdin_code, stdin_records, &stdin_problems),
        "{name}: file (left) and stdin (right) disagree"
    );
    (file_code, file_records, file_problems)
}

/// The text zlib decodes from a one-member gzip file before it fails, by a raw inflate of the
/// member's deflate data (after flate2's 10-byte header): what flowgate must keep.
fn decodable_before_the_break(data: &[u8]) -> Option<Vec<u8>> {
    let mut raw = flate2::Decompress::new(false);
    let mut out = Vec::with_capacity(64 << 20);
    raw.decompress_vec(&data[10..], &mut out, flate2::FlushDecompress::Finish)
        .err()
        .map(|_| out)
}

#[test]
fn damage_near_the_end_keeps_the_records_before_it_read_whole_or_streamed() {
    let r = Repo::empty();
    let text = format!("{HEADER}\n{}", varied_records(8000));
    let data = gz(text.as_bytes());
    // Flip a byte near the end: the last position at which zlib meets a bad code (rather
    // than wrong text that only the CRC catches).
    let (bad, before) = (60..data.len() / 2)
        .find_map(|back| {
            let mut bad = data.clone();
            bad[data.len() - 8 - back] ^= 0x5a;
            decodable_before_the_break(&bad).map(|text| (bad, text))
        })
        .unwrap();
    // The complete lines decoded before the break: the header and that many records.
    let lines = before.iter().filter(|&&b| b == b'\n').count() as u64;
    assert!(lines > 6000, "damage near the end: {lines} lines before it");
    let (_, records, problems) = inspect_file_and_stdin(&r, "damaged.log.gz", &bad);
    assert_eq!(records, lines - 1, "{problems:?}");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with(&format!(
            "gzip data is corrupt or truncated after line {lines} ({} records read before the break): ",
            lines - 1
        )),
        "{problems:?}"
    );
    // A wrong CRC is found after the whole text: every record counts.
    let mut bad_crc = data.clone();
    let at = data.len() - 8;
    bad_crc[at] ^= 1;
    let (_, records, problems) = inspect_file_and_stdin(&r, "crc.log.gz", &bad_crc);
    assert_eq!(records, 8000);
    assert!(
        problems[0]
            .contains("after line 8001 (8000 records read before the break): incorrect data check"),
        "{problems:?}"
    );
    // Plain text damaged near its end: the bad lines are problems, the others count.
    let mut plain = text.clone().into_bytes();
    let at = plain.len() - 500;
    plain[at..at + 40].copy_from_slice(&[0xff; 40]);
    let (_, records, problems) = inspect_file_and_stdin(&r, "damaged.log", &plain);
    assert!((7995..8000).contains(&records), "{records} {problems:?}");
    assert_eq!(records + problems.len() as u64, 8000, "{problems:?}");
}

#[test]
fn reserved_deflate_symbols_are_a_problem_read_whole_or_streamed() {
    let r = Repo::new();
    // The header and 300 records in a stored block, then a block of matches copying records,
    // one coded with a reserved symbol; the CRC and size are those of the text it stands for.
    let record = format!("{GOOD}\n");
    let text = format!("{HEADER}\n{}", record.repeat(300));
    for reserved in Reserved::ALL {
        for dynamic in [false, true] {
            let (bytes, decoded) =
                gzip_with_reserved(text.as_bytes(), record.len(), reserved, dynamic);
            // What a decoder that took the symbol would read: only whole, good records.
            assert!(decoded.len() > text.len());
            assert!(String::from_utf8(decoded)
                .unwrap()
                .lines()
                .skip(1)
                .all(|l| l == GOOD));
            let name = format!(
                "{reserved:?}-{}.log.gz",
                if dynamic { "dynamic" } else { "fixed" }
            );
            let (code, records, problems) = inspect_file_and_stdin(&r, &name, &bytes);
            assert_eq!(code, Some(2), "{name}: {problems:?}");
            // The stored block's records count; the block with the symbol is the break.
            assert_eq!(records, 300, "{name}: {problems:?}");
            assert_eq!(problems.len(), 1, "{name}: {problems:?}");
            assert!(
                problems[0].starts_with(
                    "gzip data is corrupt or truncated after line 301 (300 records read before the break): "
                ),
                "{name}: {problems:?}"
            );
            let why = if dynamic {
                "too many length or distance symbols"
            } else if matches!(reserved, Reserved::Length286 | Reserved::Length287) {
                "invalid literal/length code"
            } else {
                "invalid distance code"
            };
            assert!(problems[0].contains(why), "{name}: {problems:?}");
        }
    }
    // The smallest such member, from the issue: "a", then a match of 258 coded as 286.
    let tiny: Vec<u8> = (0..22)
        .map(|i| {
            u8::from_str_radix(
                &"1f8b08000000000000ff4b1c030056fac23403010000"[2 * i..2 * i + 2],
                16,
            )
            .unwrap()
        })
        .collect();
    let (code, records, problems) = inspect_file_and_stdin(&r, "tiny.log.gz", &tiny);
    assert_eq!((code, records), (Some(2), 0), "{problems:?}");
    assert!(
        problems[0].contains("invalid literal/length code"),
        "{problems:?}"
    );
    // `check` on such a file: untrusted, and the records before the break still count.
    let r = Repo::new();
    let (bytes, _) = gzip_with_reserved(text.as_bytes(), record.len(), Reserved::Length286, false);
    r.raw("reserved.log.gz", &bytes);
    let run = r.check(&[]);
    run.assert_problem(
        "reserved.log.gz",
        None,
        "invalid literal/length code",
        GOOD_RECORDS + 300,
    );
}

#[test]
fn empty_and_header_only_archives_prove_nothing() {
    let r = Repo::new();
    r.raw("empty.log", b"")
        .raw("empty.log.gz", &gz(b""))
        .raw("header.log.gz", &gz(format!("{HEADER}\n\n\n").as_bytes()));
    let run = r.check(&[]);
    run.assert_problem("empty.log", None, "archive is empty", GOOD_RECORDS);
    run.assert_problem("empty.log.gz", None, "archive is empty", GOOD_RECORDS);
    run.assert_problem("header.log.gz", None, "holds no records", GOOD_RECORDS);
}

#[test]
fn bad_headers_say_what_is_wrong_with_them() {
    let r = Repo::new();
    let dup = format!("{HEADER} srcaddr\n{GOOD} 10.0.0.1\n");
    let known = "version account-id interface-id srcaddr dstaddr srcport dstport protocol";
    let wide: Vec<String> = (0..192).map(|i| format!("extra-{i}")).collect();
    let wide = format!("{known} {}\n{GOOD}\n", wide.join(" "));
    // A name that is not a name (empty between quotes, a comma) makes the line no header.
    let empty = format!("{}\n{GOOD}\n", HEADER.replace(" srcaddr ", " '' "));
    r.raw("dup.log", dup.as_bytes())
        .raw("wide.log", wide.as_bytes())
        .raw("empty-name.log", empty.as_bytes());
    let run = r.check(&[]);
    run.assert_problem(
        "dup.log",
        Some(1),
        "field `srcaddr` appears twice",
        GOOD_RECORDS,
    );
    run.assert_problem(
        "wide.log",
        Some(1),
        "the format has 200 fields",
        GOOD_RECORDS,
    );
    run.assert_problem("empty-name.log", Some(1), "no header line", GOOD_RECORDS);
    // A bad header and then a good one: the records under the good one count.
    let r = Repo::new();
    r.raw(
        "second.log",
        format!("{HEADER} srcaddr\n{GOOD}\n{HEADER}\n{}", records(2)).as_bytes(),
    );
    let run = r.check(&[]);
    run.assert_problem("second.log", Some(1), "appears twice", GOOD_RECORDS + 2);
}

#[test]
fn log_format_with_empty_or_duplicate_names_is_refused() {
    let r = Repo::new();
    for spec in ["${version} ${} ${srcaddr}", "srcaddr srcaddr", "", "${"] {
        let out = r.output(&["check", "--log-format", spec]);
        assert_eq!(out.status.code(), Some(2), "{spec}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--log-format"), "{spec}: {err}");
        assert_no_panic(&err);
    }
}

/// Deterministic bytes: the test must fail the same way every time.
fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as u8
        })
        .collect()
}

#[test]
fn binary_data_is_a_problem_plain_or_compressed() {
    let r = Repo::new();
    r.raw("noise.bin.log", &noise(100_000, 1))
        .raw("noise.log.gz", &gz(noise(100_000, 2)))
        // Looks like gzip (magic bytes), is not.
        .raw(
            "fake.log.gz",
            &[&[0x1f, 0x8b][..], &noise(5000, 3)].concat(),
        );
    let run = r.check(&[]);
    run.assert_problem("noise.bin.log", Some(1), "", GOOD_RECORDS);
    run.assert_problem("noise.log.gz", Some(1), "", GOOD_RECORDS);
    run.assert_problem("fake.log.gz", None, "gzip data is corrupt", GOOD_RECORDS);
}

#[test]
fn nul_bytes_and_bad_utf8_are_problems_on_their_line() {
    let r = Repo::new();
    let nul_field = GOOD.replace("eni-0aa11bb22cc33dd44", "eni-0aa1\0");
    r.raw(
        "nul.log",
        format!("{HEADER}\n{GOOD}\n{nul_field}\n{GOOD}\n").as_bytes(),
    );
    // A disk hole: a block of NULs where lines were.
    let mut hole = format!("{HEADER}\n{GOOD}\n").into_bytes();
    hole.extend_from_slice(&[0; 4096]);
    hole.extend_from_slice(format!("\n{GOOD}\n").as_bytes());
    r.raw("hole.log", &hole);
    let mut utf8 = format!("{HEADER}\n{GOOD}\n").into_bytes();
    utf8.extend_from_slice(
        GOOD.replace("eni-0aa11bb22cc33dd44", "eni-\u{1b}[2J")
            .as_bytes(),
    );
    utf8.extend_from_slice(b"\n");
    // Broken multi-byte sequences in the account id.
    let (before, after) = GOOD.split_once("111122223333").unwrap();
    utf8.extend_from_slice(before.as_bytes());
    utf8.extend_from_slice(b"1111\xc3\x28\xa0\xa1");
    utf8.extend_from_slice(after.as_bytes());
    utf8.extend_from_slice(format!("\n{GOOD}\n").as_bytes());
    r.raw("utf8.log.gz", &gz(&utf8));
    let run = r.check(&[]);
    let all = GOOD_RECORDS + 2 + 2 + 2;
    run.assert_problem("nul.log", Some(3), "interface-id: `eni-0aa1\\0`", all);
    run.assert_problem("hole.log", Some(3), "expected 14 fields", all);
    run.assert_problem("utf8.log.gz", Some(3), "control character", all);
    run.assert_problem("utf8.log.gz", Some(4), "not valid UTF-8", all);
}

#[test]
fn crlf_archives_are_read_like_lf_ones() {
    let r = Repo::new();
    let text = format!("{HEADER}\n{}", records(4)).replace('\n', "\r\n");
    r.raw("crlf.log", text.as_bytes())
        .raw("crlf.log.gz", &gz(text.as_bytes()));
    let run = r.check(&[]);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    assert_eq!(run.count("allowed"), GOOD_RECORDS + 8);
    // Bare CR (no LF at all) is one line that is no header: a problem, not a guess.
    r.raw("cr.log", text.replace("\r\n", "\r").as_bytes());
    let run = r.check(&[]);
    run.assert_problem("cr.log", Some(1), "no header line", GOOD_RECORDS + 8);
}

// ---------------------------------------------------------------------------------------
// Bounded memory

#[test]
fn a_one_gib_line_is_skipped_in_bounded_memory() {
    let r = Repo::new();
    gz_repeated(
        &r.path("logs/long.log.gz"),
        format!("{HEADER}\n").as_bytes(),
        &vec![b'a'; 1 << 20],
        GIB >> 20,
        format!("\n{}", records(2)).as_bytes(),
    );
    let child = spawn(r.command(&[
        "check",
        "--logs",
        "logs",
        "--today",
        "2026-11-26",
        "--json",
        "report.json",
    ]));
    let (out, peak) = wait_measuring(child);
    assert!(
        peak < MEMORY_LIMIT_KIB,
        "peak RSS {peak} KiB for a 1 GiB line"
    );
    assert_no_panic(&String::from_utf8_lossy(&out.stderr));
    let run = r.check(&[]);
    run.assert_problem(
        "long.log.gz",
        Some(2),
        &format!("line is {GIB} bytes long"),
        GOOD_RECORDS + 2,
    );
}

#[test]
fn a_decompression_bomb_is_read_in_bounded_memory_and_is_a_problem() {
    // 1 GiB of zeros in ~1 MB of gzip.
    let r = Repo::new();
    let path = r.path("logs/bomb.log.gz");
    gz_repeated(&path, b"", &vec![0; 1 << 20], GIB >> 20, b"");
    // Deflate tops out near 1000:1, so a gigabyte needs a megabyte or a few.
    assert!(std::fs::metadata(&path).unwrap().len() < 8 << 20);
    let child = spawn(r.command(&[
        "check",
        "--logs",
        "logs",
        "--today",
        "2026-11-26",
        "--json",
        "report.json",
    ]));
    let (out, peak) = wait_measuring(child);
    assert!(peak < MEMORY_LIMIT_KIB, "peak RSS {peak} KiB for a bomb");
    assert_eq!(out.status.code(), Some(2));
    let run = r.check(&[]);
    run.assert_problem("bomb.log.gz", Some(1), "bytes long", GOOD_RECORDS);
    assert_eq!(run.json["run"]["records"], GOOD_RECORDS, "no record parses");
}

fn many_tiny_records(n: usize) {
    let r = Repo::new();
    tiny_records(&r.path("logs/tiny.log.gz"), n);
    let child = spawn(r.command(&[
        "check",
        "--logs",
        "logs",
        "--today",
        "2026-11-26",
        "--json",
        "report.json",
    ]));
    let (out, peak) = wait_measuring(child);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        peak < MEMORY_LIMIT_KIB,
        "peak RSS {peak} KiB for {n} records"
    );
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(r.path("report.json")).unwrap()).unwrap();
    assert_eq!(doc["run"]["records"], n as u64 + GOOD_RECORDS);
    assert_eq!(
        doc["policies"][0]["counts"]["allowed"],
        n as u64 + GOOD_RECORDS
    );
}

/// Every record counted, in bounded memory. The debug binary reads ~150k records a second,
/// so the default run uses 200,000; the 10 million of the issue run in release below.
#[test]
fn many_tiny_records_are_all_counted() {
    many_tiny_records(200_000);
}

#[test]
#[ignore = "~100 s in a debug build; cargo test --release --test hostile -- --ignored"]
fn ten_million_tiny_records_are_all_counted() {
    many_tiny_records(10_000_000);
}

// ---------------------------------------------------------------------------------------
// The file system

#[test]
fn a_directory_symlink_loop_is_a_problem_and_read_once() {
    let r = Repo::new();
    std::fs::create_dir_all(r.path("logs/a/b")).unwrap();
    std::os::unix::fs::symlink("../..", r.path("logs/a/b/up")).unwrap();
    std::os::unix::fs::symlink("loop2", r.path("logs/loop1")).unwrap();
    std::os::unix::fs::symlink("loop1", r.path("logs/loop2")).unwrap();
    let run = r.check(&[]);
    run.assert_problem("logs/a/b/up", None, "symlink loop", GOOD_RECORDS);
    run.assert_problem("logs/loop1", None, "cannot read", GOOD_RECORDS);
    assert_eq!(run.json["run"]["archives_read"], 1);
}

/// Whether chmod 000 stops this process from reading: not for root (CI runs as root).
fn permissions_bind(path: &std::path::Path) -> bool {
    std::fs::File::open(path).is_err()
}

#[test]
fn an_unreadable_file_or_directory_is_a_problem() {
    use std::os::unix::fs::PermissionsExt;
    let r = Repo::new();
    r.raw(
        "locked.log.gz",
        &gz(format!("{HEADER}\n{}", records(1)).as_bytes()),
    );
    std::fs::create_dir_all(r.path("logs/locked-dir")).unwrap();
    let mode = std::fs::Permissions::from_mode(0o000);
    std::fs::set_permissions(r.path("logs/locked.log.gz"), mode.clone()).unwrap();
    std::fs::set_permissions(r.path("logs/locked-dir"), mode).unwrap();
    if !permissions_bind(&r.path("logs/locked.log.gz")) {
        eprintln!("note: running as root, chmod 000 does not stop reads; assertion skipped");
        let run = r.check(&[]);
        assert_eq!(run.count("allowed"), GOOD_RECORDS + 1);
    } else {
        let run = r.check(&[]);
        run.assert_problem("locked.log.gz", None, "Permission denied", GOOD_RECORDS);
        run.assert_problem("locked-dir", None, "Permission denied", GOOD_RECORDS);
    }
    // Let the temp dir be removed.
    std::fs::set_permissions(
        r.path("logs/locked-dir"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
}

#[test]
fn a_file_that_disappears_during_the_scan_is_a_problem() {
    let r = Repo::new();
    // Read first (sorted order, one thread), slowly enough to delete the next one meanwhile.
    // Plain text over 2 MiB, so it is streamed and stays open while its records are read: a
    // small file is read whole and closed before its records are, too briefly for the wait
    // below to see it open on a loaded machine.
    let block = "10.0.1.10 10.20.30.5 40001 443\n".repeat(10_000);
    let slow = format!("srcaddr dstaddr srcport dstport\n{}", block.repeat(10));
    assert!(slow.len() > 2 << 20);
    std::fs::write(r.path("logs/a-slow.log"), slow).unwrap();
    r.raw(
        "z-gone.log.gz",
        &gz(format!("{HEADER}\n{}", records(1)).as_bytes()),
    );
    let child = spawn(r.command(&[
        "check",
        "--logs",
        "logs",
        "--today",
        "2026-11-26",
        "--json",
        "report.json",
        "--threads",
        "1",
    ]));
    wait_until_reading(child.id(), "a-slow.log");
    std::fs::remove_file(r.path("logs/z-gone.log.gz")).unwrap();
    let out = wait_within(child, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(2));
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(r.path("report.json")).unwrap()).unwrap();
    let run = Run {
        code: out.status.code(),
        json: doc,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    run.assert_problem(
        "z-gone.log.gz",
        None,
        "cannot read: No such file or directory",
        GOOD_RECORDS + 100_000,
    );
}

// ---------------------------------------------------------------------------------------
// Policies

/// A run whose policies do not load: exit 2, the diagnostic in the report printed and in the
/// JSON report written anyway, with no policy judged.
fn policy_error(r: &Repo, code: &str) -> String {
    let run = r.check(&[]);
    assert_eq!(run.code, Some(2), "{}", run.stdout);
    assert!(run.stdout.contains(code), "{code} not in\n{}", run.stdout);
    assert_eq!(
        run.json["policies"],
        serde_json::json!([]),
        "no policy judged"
    );
    let findings = run.json["findings"]
        .as_array()
        .expect("the findings say why");
    assert!(
        findings
            .iter()
            .any(|f| f["code"] == code && f["origin"] == "policy-file" && f["severity"] == "error"),
        "{findings:?}"
    );
    run.stdout
}

#[test]
fn two_policies_with_the_same_name_are_refused() {
    let r = Repo::new();
    r.policy("other", &POLICY.replace("settlement API", "other rule"));
    let err = policy_error(&r, "duplicate-policy-name");
    assert!(
        err.contains("retail.toml") && err.contains("other.toml"),
        "{err}"
    );
}

#[test]
fn a_ten_megabyte_policy_is_refused_unparsed() {
    let r = Repo::new();
    let big = format!(
        "{POLICY}\n{}",
        "# padding padding padding\n".repeat(400_000)
    );
    assert!(big.len() > 10_000_000);
    r.policy("big", &big);
    let err = policy_error(&r, "file-too-large");
    assert!(err.contains("big.toml"), "{err}");
}

#[test]
fn deeply_nested_toml_is_a_syntax_error_not_a_crash() {
    for text in [
        format!("a = {}{}", "[".repeat(100_000), "]".repeat(100_000)),
        format!("a = {}1{}", "{ b = ".repeat(50_000), " }".repeat(50_000)),
        format!("[{}]\n", vec!["t"; 50_000].join(".")),
        format!(
            "[[allow]]\nname = \"x\"\n{}",
            "[[allow.x]]\n".repeat(10_000)
        ),
    ] {
        let r = Repo::new();
        r.policy("deep", &text);
        let run = r.check(&[]);
        assert_eq!(run.code, Some(2), "{}", run.stdout);
        assert!(run.stdout.contains("deep.toml"), "{}", run.stdout);
    }
}

// ---------------------------------------------------------------------------------------
// Determinism and outputs under faults

#[test]
fn one_two_and_eight_threads_give_identical_reports() {
    let r = Repo::new();
    for i in 0..16u64 {
        let mut text = format!("{HEADER}\n");
        for j in 0..20u64 {
            // Violations spread over archives, so merges decide order and example lines.
            text.push_str(&format!(
                "2 111122223333 eni-{i:02} 10.0.{i}.{j} 10.20.{}.9 {} {} 6 1 60 {} {} ACCEPT OK\n",
                40 + j % 3,
                40000 + j,
                [22, 443, 1433][(i + j) as usize % 3],
                1762041600 + 300 * i + j,
                1762041660 + 300 * i + j,
            ));
        }
        r.raw(&format!("d/{i:02}.log.gz"), &gz(text.as_bytes()));
    }
    r.raw("d/bad.log", format!("{HEADER}\nbogus\n{GOOD}\n").as_bytes());
    let run = |threads: &str| {
        let out = r.output(&[
            "check",
            "--logs",
            "logs",
            "--today",
            "2026-11-26",
            "--threads",
            threads,
            "--json",
            "t.json",
            "--junit",
            "t.xml",
        ]);
        (
            out.status.code(),
            out.stdout,
            std::fs::read(r.path("t.json")).unwrap(),
            std::fs::read(r.path("t.xml")).unwrap(),
        )
    };
    let one = run("1");
    assert_eq!(one.0, Some(2));
    assert_eq!(one, run("2"), "--threads 1 and 2 differ");
    assert_eq!(one, run("8"), "--threads 1 and 8 differ");
}

/// A check run on `logs/` with a big archive in it, spawned and already reading it.
fn spawn_on_big_archive(r: &Repo, extra: &[&str]) -> std::process::Child {
    tiny_records(&r.path("logs/big.log.gz"), 1_000_000);
    let mut args = vec!["check", "--logs", "logs", "--today", "2026-11-26"];
    args.extend_from_slice(extra);
    let child = spawn(r.command(&args));
    wait_until_reading(child.id(), "big.log.gz");
    child
}

#[test]
fn a_killed_run_leaves_the_previous_report_whole() {
    let r = Repo::new();
    let out = r.output(&[
        "check",
        "--logs",
        "logs",
        "--today",
        "2026-11-26",
        "--junit",
        "j.xml",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let before = std::fs::read_to_string(r.path("j.xml")).unwrap();
    let child = spawn_on_big_archive(&r, &["--junit", "j.xml", "--json", "new.json"]);
    send_signal(child.id(), "KILL");
    let out = wait_within(child, Duration::from_secs(10));
    assert_eq!(out.status.code(), None, "killed by a signal");
    let after = std::fs::read_to_string(r.path("j.xml")).unwrap();
    assert_eq!(before, after, "the old report was touched");
    roxmltree::Document::parse(&after).unwrap();
    assert!(!r.path("new.json").exists());
    let leftovers: Vec<_> = std::fs::read_dir(r.dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn ctrl_c_stops_the_scan_without_a_verdict() {
    let r = Repo::new();
    let child = spawn_on_big_archive(&r, &["--junit", "j.xml", "--json", "j.json"]);
    let started = std::time::Instant::now();
    send_signal(child.id(), "INT");
    let out = wait_within(child, Duration::from_secs(5));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(stderr.contains("interrupted: no verdict"), "{stderr}");
    assert_no_panic(&stderr);
    for verdict in ["PASS", "FAIL", "UNTRUSTED"] {
        assert!(!stdout.contains(verdict), "{stdout}");
    }
    assert!(!r.path("j.xml").exists() && !r.path("j.json").exists());
}

#[test]
fn the_library_never_returns_a_partial_report() {
    let r = Repo::new();
    let check = flowgate::Check::new()
        .policies([r.path("policies")])
        .logs([r.path("logs")]);
    let policies = check.load_policies().unwrap();
    let cancel = std::sync::atomic::AtomicBool::new(true);
    let result = check.run_with(&policies, Some(&cancel), &|| {});
    assert!(
        matches!(result, Err(flowgate::Error::Interrupted)),
        "{result:?}"
    );
    let cancel = std::sync::atomic::AtomicBool::new(false);
    assert!(check.run_with(&policies, Some(&cancel), &|| {}).is_ok());
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let r = Repo::new();
    // Thousands of violating conversations: far more output than a pipe buffer holds.
    let mut text = format!("{HEADER}\n");
    for i in 0..5000u32 {
        text.push_str(&format!(
            "2 1 eni-1 10.0.{}.{} 10.20.40.12 {} 1433 6 1 60 1762041600 1762041660 ACCEPT OK\n",
            i / 250,
            i % 250,
            40000 + i % 1000
        ));
    }
    r.raw("many.log.gz", &gz(text.as_bytes()));
    for format in ["human", "json", "github"] {
        let mut child = spawn(r.command(&[
            "check",
            "--logs",
            "logs",
            "--today",
            "2026-11-26",
            "--format",
            format,
        ]));
        drop(child.stdout.take()); // `| head -0`: the reader is gone before the first write
        let out = wait_within(child, Duration::from_secs(30));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_no_panic(&stderr);
        assert!(!stderr.contains("Broken pipe"), "{format}: {stderr}");
        assert_eq!(out.status.code(), Some(1), "{format}: the verdict stands");
    }
    // And through a real shell pipe.
    let out = std::process::Command::new("sh")
        .current_dir(r.dir.path())
        .env_remove("GITHUB_ACTIONS")
        .arg("-c")
        .arg(format!(
            "'{}' check --logs logs --today 2026-11-26 --format json | head -1",
            env!("CARGO_BIN_EXE_flowgate")
        ))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "{\n");
    assert_no_panic(&String::from_utf8_lossy(&out.stderr));
}

// ---------------------------------------------------------------------------------------
// Security: values from archives and policies are data, never markup or commands

/// A value that tries every channel at once: a workflow command after a line break, a
/// terminal escape (clear screen, window title), XML that closes its section, HTML, a
/// Markdown link and table cell break, a bidi override, a percent-encoded line break.
const EVIL: &str = "x\r\n::warning::INJECTED\n::add-mask::x\u{1b}[2J\u{1b}]0;t\u{7}</testsuite><injected/>]]><img src=x onerror=alert(1)>|[l](javascript:alert(1))\u{202e}%0A::error::P\n# INJECTED\n";

/// The same in TOML basic-string syntax.
fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A repository where every name an attacker controls is hostile: archive paths, the policy
/// name, description, owner, ticket, rule and waiver names and the waiver reason.
fn hostile_repo() -> Repo {
    let r = Repo::empty();
    let evil = toml_str(EVIL);
    r.policy(
        "evil",
        &format!(
            "[policy]\nname = {evil}\ndescription = {evil}\nowner = {evil}\nticket = {evil}\n\
             [scope]\npeer = [\"10.20.0.0/16\"]\n\
             [[allow]]\nname = {evil}\npeer = [\"10.20.30.0/24\"]\n\
             [[allow]]\nname = \"unused {evil_tail}\"\npeer = [\"10.20.31.0/24\"]\n\
             [[waive]]\nname = {evil}\npeer = [\"10.20.98.0/24\"]\nreason = {evil}\nexpires = 2026-01-01\n",
            evil_tail = &evil[1..evil.len() - 1],
        ),
    );
    // File names cannot hold NUL or `/`; everything else of EVIL they can.
    let names = [
        "x\n::warning::INJECTED\n.log",
        "\u{1b}[2J\u{1b}]0;t\u{7}.log",
        "</testsuite><injected/>]]>.log",
        "<img src=x onerror=alert(1)>|[l](javascript:alert(1)).log",
        "a,line=1,title=x::%0A::error::P\u{202e}.log",
    ];
    for (i, name) in names.iter().enumerate() {
        // A violation (example location names the file) and a bad line (a problem does).
        let text = format!(
            "{HEADER}\n2 1 eni-1 10.0.1.{i} 10.20.40.{i} 40000 1433 6 1 60 1762041600 1762041660 ACCEPT OK\n\
             2 1 eni-1 10.0.2.{i} 10.20.98.{i} 40000 22 6 1 60 1762041600 1762041660 ACCEPT OK\n\
             bad \u{1b}[31m line {EVIL}\n"
        );
        r.raw(name, text.as_bytes());
    }
    r
}

/// Characters no output may carry from data: controls other than line feed, bidi overrides.
fn assert_no_raw_controls(what: &str, text: &str) {
    let bad: Vec<char> = text
        .chars()
        .filter(|&c| {
            (c.is_control() && c != '\n')
                || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        })
        .collect();
    assert!(bad.is_empty(), "{what} carries {bad:?}:\n{text}");
}

/// No line may start a workflow command flowgate did not write, and flowgate writes only
/// annotations whose properties are its own.
fn assert_only_own_workflow_commands(text: &str) {
    for line in text.lines() {
        let Some(command) = line.strip_prefix("::") else {
            assert!(
                !line.trim_start().starts_with("::"),
                "indented command: {line}\n---\n{text}"
            );
            continue;
        };
        let (head, message) = command.split_once("::").unwrap_or((command, ""));
        let (name, props) = head.split_once(' ').unwrap_or((head, ""));
        assert!(
            ["error", "warning", "notice"].contains(&name),
            "command `{name}` in: {line}"
        );
        for prop in props.split(',').filter(|p| !p.is_empty()) {
            let key = prop.split('=').next().unwrap();
            assert!(
                ["file", "line", "col", "endLine", "endColumn", "title"].contains(&key),
                "property `{key}` in: {line}"
            );
        }
        assert!(!message.starts_with("INJECTED"), "{line}");
    }
}

#[test]
fn hostile_names_cannot_inject_into_any_output() {
    let r = hostile_repo();
    let summary = r.path("summary.md");
    let out = r
        .command(&[
            "check",
            "--logs",
            "logs",
            "--today",
            "2026-11-26",
            "--junit",
            "j.xml",
            "--json",
            "j.json",
        ])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    let github = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{github}\n{stderr}");
    assert_no_panic(&stderr);
    // The values really reached the outputs (else this test proves nothing).
    assert!(
        github.contains("INJECTED") && github.contains("javascript"),
        "{github}"
    );
    assert!(github.contains("::error"), "{github}");
    assert_no_raw_controls("github output", &github);
    assert_only_own_workflow_commands(&github);
    assert_no_raw_controls("stderr", &stderr);

    let human = r.output(&[
        "check",
        "--logs",
        "logs",
        "--today",
        "2026-11-26",
        "--format",
        "human",
        "--color",
        "never",
    ]);
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(human.contains("INJECTED"), "{human}");
    assert_no_raw_controls("human output", &human);
    assert!(!human.lines().any(|l| l.starts_with("::")), "{human}");

    let xml = std::fs::read_to_string(r.path("j.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("JUnit parses");
    assert!(xml.contains("INJECTED"));
    assert_no_raw_controls("JUnit", &xml);
    for node in doc.descendants().filter(|n| n.is_element()) {
        assert!(
            [
                "testsuites",
                "testsuite",
                "testcase",
                "failure",
                "error",
                "skipped",
                "properties",
                "property",
                "system-out",
                "system-err"
            ]
            .contains(&node.tag_name().name()),
            "element <{}> in JUnit",
            node.tag_name().name()
        );
    }

    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("INJECTED"), "{md}");
    assert_no_raw_controls("job summary", &md);
    for raw in ["<img", "<injected", "</testsuite", "<script"] {
        assert!(!md.contains(raw), "raw HTML {raw} in summary:\n{md}");
    }
    let bytes = md.as_bytes();
    for (i, _) in md.match_indices("](") {
        assert!(
            i > 0 && bytes[i - 1] == b'\\',
            "a link in the summary:\n{md}"
        );
    }
    assert!(!md
        .lines()
        .any(|l| l.starts_with("# INJECTED") || l.starts_with("::")));
    // Every table row has as many cells as its table's header.
    let unescaped_pipes = |l: &str| {
        let b = l.as_bytes();
        (0..b.len())
            .filter(|&i| b[i] == b'|' && (i == 0 || b[i - 1] != b'\\'))
            .count()
    };
    let mut header_pipes = None;
    for line in md.lines() {
        if !line.starts_with('|') {
            header_pipes = None;
            continue;
        }
        let n = unescaped_pipes(line);
        assert_eq!(
            *header_pipes.get_or_insert(n),
            n,
            "row breaks its table: {line}"
        );
    }

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(r.path("j.json")).unwrap()).unwrap();
    assert_eq!(
        json["policies"][0]["name"], EVIL,
        "JSON keeps the value, escaped by JSON"
    );
}

#[test]
fn hostile_values_in_a_broken_policy_are_shown_cleanly() {
    let r = Repo::new();
    let evil = toml_str(EVIL);
    r.policy(
        "broken",
        &format!("[scope]\npeer = {evil}\nprotocol = {evil}\n[[allow]]\nname = {evil}\ndst_port = {evil}\n{evil} = 1\n"),
    );
    for extra in [&[][..], &["--format", "github"]] {
        let run = r.check(extra);
        assert_eq!(run.code, Some(2));
        assert!(run.stdout.contains("broken.toml"), "{}", run.stdout);
        assert_no_raw_controls("policy diagnostics", &run.stderr);
        assert_no_raw_controls("stdout", &run.stdout);
        assert_only_own_workflow_commands(&run.stdout);
        assert_only_own_workflow_commands(&run.stderr);
    }
    let lint = r.output(&["lint", "--policies", "policies"]);
    assert_no_raw_controls("lint", &String::from_utf8_lossy(&lint.stdout));
    assert_no_raw_controls("lint", &String::from_utf8_lossy(&lint.stderr));
}

#[test]
fn policy_values_never_name_files_flowgate_touches() {
    let r = Repo::new();
    let outside = r.path("outside");
    let abs = outside.join("pwned.xml").display().to_string();
    r.policy(
        "paths",
        &format!(
            "[policy]\nname = \"../../outside/pwned\"\ndescription = {d}\nowner = {o}\nticket = \"file:///etc/passwd\"\n\
             [scope]\npeer = [\"10.20.0.0/16\"]\n\
             [[allow]]\nname = {d}\npeer = [\"10.20.30.0/24\"]\n",
            d = toml_str(&abs),
            o = toml_str("$(touch outside-pwned) `touch outside-pwned2` /dev/stdout"),
        ),
    );
    let before = tree(r.dir.path());
    let run = r.check(&["--junit", "j.xml"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let mut after = tree(r.dir.path());
    after.retain(|p| p != "report.json" && p != "j.xml");
    assert_eq!(before, after, "files appeared or vanished");
    assert!(!outside.exists());
}

/// Every path below `root`, relative, sorted.
fn tree(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}
