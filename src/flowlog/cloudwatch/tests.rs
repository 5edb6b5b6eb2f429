//! The four shapes, read from bytes made here as AWS writes them.

use std::io::Write;

use super::*;
use crate::flowlog::lines::LineReader;
use crate::source::{ArchiveMeta, Source};

const V2: [&str; 4] = [
    "2 123456789010 eni-0a1b2c3d4e5f60718 10.0.1.5 10.20.30.5 49152 443 6 10 8400 1762052400 1762052460 ACCEPT OK",
    "2 123456789010 eni-0a1b2c3d4e5f60718 10.20.30.5 10.0.1.5 443 49152 6 8 5100 1762052400 1762052460 ACCEPT OK",
    "2 123456789010 eni-0fffffffffffffff0 - - - - - - - 1762052400 1762052460 - NODATA",
    "2 123456789010 eni-0a1b2c3d4e5f60718 2001:db8::5 2001:db8:1::9 50000 22 6 3 180 1762052401 1762052461 REJECT OK",
];

#[derive(Default)]
struct Collect {
    kinds: Vec<Kind>,
    formats: Vec<String>,
    records: Vec<(u64, String)>,
    deliveries: Vec<String>,
    problems: Vec<String>,
}

impl Sink for Collect {
    fn kind(&mut self, _: &Archive, kind: Kind) {
        self.kinds.push(kind);
    }
    fn format(&mut self, _: &Archive, format: &Format) {
        self.formats.push(format.header());
    }
    fn record(&mut self, _: &Archive, _: u64, _: &Flow<'_>) {
        unreachable!("record_line is overridden")
    }
    fn record_line(&mut self, _: &Archive, at: u64, bytes: &[u8], _: &Flow<'_>) {
        self.records
            .push((at, String::from_utf8_lossy(bytes).into_owned()));
    }
    fn delivery(&mut self, _: &Archive, d: &Delivery<'_>) {
        self.deliveries.push(format!(
            "{:?} {:?} {:?}{}",
            d.owner,
            d.log_group,
            d.log_stream,
            if d.control { " control" } else { "" }
        ));
    }
    fn problem(&mut self, p: Problem) {
        self.problems.push(p.to_string());
    }
}

fn archive(display: &str) -> Archive {
    Archive {
        display: display.into(),
        source: Source::Stdin,
        meta: ArchiveMeta::default(),
    }
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// A subscription DATA_MESSAGE with `messages` as its events.
fn data_message(stream: &str, messages: &[&str]) -> String {
    let events: Vec<serde_json::Value> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            serde_json::json!({
                "id": format!("3{i:055}"),
                "timestamp": 1762052400000u64,
                "message": m,
            })
        })
        .collect();
    serde_json::json!({
        "messageType": "DATA_MESSAGE",
        "owner": "123456789010",
        "logGroup": "vpc-flow-logs",
        "logStream": stream,
        "subscriptionFilters": ["to-firehose"],
        "logEvents": events,
    })
    .to_string()
}

const CONTROL: &str = r#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1762052400000,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}"#;

fn read_json(text: &[u8], gzip: bool, log_format: Option<&Format>) -> (Stats, Collect) {
    let mut sink = Collect::default();
    let a = archive("obj");
    // The same values, whole and streamed, give the same result.
    let whole = scan_json(Values::whole(text), gzip, &a, log_format, &mut sink);
    let mut again = Collect::default();
    let streamed = scan_json(
        Values::stream(Box::new(text)),
        gzip,
        &a,
        log_format,
        &mut again,
    );
    assert_eq!((whole, &sink.records), (streamed, &again.records));
    assert_eq!(sink.problems, again.problems);
    (whole, sink)
}

#[test]
fn a_firehose_object_reads_every_member_and_skips_control_messages() {
    let mut object = gz(CONTROL.as_bytes());
    object.extend(gz(
        data_message("eni-0a1b2c3d4e5f60718-all", &V2[..2]).as_bytes()
    ));
    object.extend(gz(
        data_message("eni-0fffffffffffffff0-all", &V2[2..]).as_bytes()
    ));
    let (stats, got) = read_json(&gunzip(&object), true, None);
    assert_eq!(
        stats,
        Stats {
            events: 4,
            records: 4,
            problems: 0,
            control: 1
        }
    );
    assert_eq!(got.kinds, [Kind::CloudWatch(CloudWatchShape::Firehose)]);
    assert_eq!(got.formats, [Format::default_v2().header()]);
    let lines: Vec<(u64, String)> = V2
        .iter()
        .enumerate()
        .map(|(i, m)| (i as u64 + 1, m.to_string()))
        .collect();
    assert_eq!(got.records, lines);
    assert_eq!(
        got.deliveries,
        [
            r#"Some("CloudwatchLogs") Some("") Some("") control"#,
            r#"Some("123456789010") Some("vpc-flow-logs") Some("eni-0a1b2c3d4e5f60718-all")"#,
            r#"Some("123456789010") Some("vpc-flow-logs") Some("eni-0fffffffffffffff0-all")"#,
        ]
    );
    assert!(got.problems.is_empty(), "{:?}", got.problems);
}

#[test]
fn only_control_messages_is_a_delivery_without_records_not_a_problem() {
    let (stats, got) = read_json(CONTROL.as_bytes(), true, None);
    assert_eq!((stats.records, stats.control), (0, 1));
    assert!(got.problems.is_empty());
}

#[test]
fn log_event_pages_arrays_and_lines_are_events() {
    let page = |ms: &[&str]| {
        let events: Vec<serde_json::Value> = ms
            .iter()
            .map(|m| {
                serde_json::json!({"logStreamName": "eni-0a1b2c3d4e5f60718-all", "timestamp": 1, "message": m, "ingestionTime": 2, "eventId": "1"})
            })
            .collect();
        serde_json::to_string_pretty(
            &serde_json::json!({"events": events, "searchedLogStreams": [], "nextToken": "x"}),
        )
        .unwrap()
    };
    // Two pages as the CLI prints them, one after the other.
    let text = page(&V2[..3]) + "\n" + &page(&V2[3..]);
    let (stats, got) = read_json(text.as_bytes(), false, None);
    assert_eq!((stats.events, stats.records), (4, 4));
    assert_eq!(got.kinds, [Kind::CloudWatch(CloudWatchShape::Events)]);
    assert_eq!(got.deliveries.len(), 1, "one stream, one call");
    // One event per line (`jq -c '.events[]'`), and a bare array (`--query events`).
    let ndjson: String = V2
        .iter()
        .map(|m| serde_json::json!({"logStreamName": "s", "message": m}).to_string() + "\n")
        .collect();
    let (stats, _) = read_json(ndjson.as_bytes(), false, None);
    assert_eq!(stats.records, 4);
    let array = serde_json::json!(V2
        .iter()
        .map(|m| serde_json::json!({ "message": m }))
        .collect::<Vec<_>>())
    .to_string();
    let (stats, got) = read_json(array.as_bytes(), false, None);
    assert_eq!(stats.records, 4);
    assert_eq!(got.records[3].0, 4);
}

/// Escapes in a message are JSON's, undone before the record is read.
#[test]
fn escaped_messages_read_as_their_text() {
    let escaped = V2[0]
        .replacen('2', "\\u0032", 1)
        .replace("ACCEPT", "ACC\\u0045PT");
    let text = format!(r#"{{"events":[{{"message":"{escaped}"}}]}}"#);
    let (stats, got) = read_json(text.as_bytes(), false, None);
    assert_eq!(
        (stats.records, stats.problems),
        (1, 0),
        "{:?}",
        got.problems
    );
    assert_eq!(got.records[0].1, V2[0]);
}

#[test]
fn a_raw_subscription_payload_is_decoded() {
    use base64::Engine;
    let inner = gz(data_message("eni-1-all", &V2).as_bytes());
    let data = base64::engine::general_purpose::STANDARD.encode(inner);
    let raw = serde_json::json!({"awslogs": {"data": data}}).to_string();
    let (stats, got) = read_json(raw.as_bytes(), false, None);
    assert_eq!((stats.records, stats.problems), (4, 0));
    assert_eq!(got.kinds, [Kind::CloudWatch(CloudWatchShape::Subscription)]);
    // Decoded, it is a subscription payload too (not a Firehose object: it is not gzip).
    let (_, got) = read_json(data_message("eni-1-all", &V2).as_bytes(), false, None);
    assert_eq!(got.kinds, [Kind::CloudWatch(CloudWatchShape::Subscription)]);
    let bad = r#"{"awslogs":{"data":"not base64!"}}"#;
    let (_, got) = read_json(bad.as_bytes(), false, None);
    assert_eq!(got.problems.len(), 1);
    assert!(
        got.problems[0].contains("awslogs.data is not base64"),
        "{:?}",
        got.problems
    );
}

/// A custom format without `--log-format`: one problem that shows a message and asks for
/// the format, and a count; no record is guessed. With the format, every record reads.
#[test]
fn messages_of_another_format_need_log_format() {
    let custom = [
        "eni-1 10.0.1.5 10.20.30.5 443 6 ACCEPT OK egress",
        "eni-1 10.20.30.5 10.0.1.5 49152 6 ACCEPT OK ingress",
        "eni-1 10.0.1.5 10.20.30.9 22 6 REJECT OK egress",
    ];
    let text = data_message("eni-1-all", &custom);
    let (stats, got) = read_json(text.as_bytes(), false, None);
    assert_eq!((stats.records, stats.problems), (0, 3));
    assert_eq!(got.problems.len(), 2);
    assert_eq!(
        got.problems[0],
        "obj: event 1: CloudWatch Logs messages carry no header line, and this one does not fit \
         AWS's default format (it has 8 fields, not 14): `eni-1 10.0.1.5 10.20.30.5 443 6 ACCEPT \
         OK egress`; pass --log-format with the flow log's format (its LogFormat in `aws ec2 \
         describe-flow-logs`), e.g. --log-format '${version} ${srcaddr} ...'"
    );
    assert_eq!(
        got.problems[1],
        "obj: 3 messages in all do not fit AWS's default format; pass --log-format with the flow \
         log's format"
    );
    let format = Format::parse_spec(
        "interface-id srcaddr dstaddr dstport protocol action log-status flow-direction",
    )
    .unwrap();
    let (stats, got) = read_json(text.as_bytes(), false, Some(&format));
    assert_eq!((stats.records, stats.problems), (3, 0));
    assert_eq!(got.formats, [format.header()]);
    // Version 5 in 14 fields is not the default format either.
    let v5 = V2[0].replacen("2 ", "5 ", 1);
    let (_, got) = read_json(data_message("s", &[&v5]).as_bytes(), false, None);
    assert!(
        got.problems[0].contains("(its version is 5, not 2)"),
        "{:?}",
        got.problems
    );
}

#[test]
fn a_bad_record_is_a_problem_at_its_event_and_others_count() {
    let bad = V2[0].replace(" 443 ", " 70000 ");
    let text = data_message("s", &[V2[1], &bad, V2[2]]);
    let (stats, got) = read_json(text.as_bytes(), true, None);
    assert_eq!((stats.records, stats.problems), (2, 1));
    assert!(got.problems[0].starts_with("obj: event 2: CloudWatch Logs messages carry no header"));
    let (stats, got) = read_json(text.as_bytes(), true, Some(&Format::default_v2()));
    assert_eq!((stats.records, stats.problems), (2, 1));
    assert_eq!(
        got.problems,
        ["obj: event 2: dstport: `70000` is not a port (0-65535)"]
    );
}

#[test]
fn json_that_is_not_a_delivery_is_a_problem() {
    for (text, want) in [
        (
            r#"{"name": "flowgate", "version": 1}"#,
            "obj: JSON value at byte 0: none of messageType, logEvents, events, message or \
             awslogs: not a CloudWatch Logs delivery of flow-log records",
        ),
        (
            r#"{"messageType": "DATA_MESSAGE", "logEvents": 3}"#,
            "obj: JSON value at byte 0: not a CloudWatch Logs delivery: invalid type: integer \
             `3`, expected a sequence at line 1 column 46",
        ),
        (
            r#"{"events": [{"message": "x"}]} trailing"#,
            "obj: not JSON of a CloudWatch Logs delivery (1 events read before the break): at \
             byte 31: expected a JSON object or array, found `t`",
        ),
        (
            r#"{"messageType": "HEARTBEAT"}"#,
            "obj: JSON value at byte 0: messageType `HEARTBEAT` is neither DATA_MESSAGE nor \
             CONTROL_MESSAGE",
        ),
        (
            r#"{"events": []}"#,
            "obj: holds no records: the CloudWatch Logs delivery has no log events",
        ),
    ] {
        let (_, got) = read_json(text.as_bytes(), false, None);
        assert_eq!(
            got.problems.last().map(String::as_str),
            Some(want),
            "{text}"
        );
    }
}

#[test]
fn export_task_lines_are_timestamp_space_record() {
    assert_eq!(
        export_message(b"2026-11-02T00:35:05.000Z 2 1 eni-1"),
        Some(&b"2 1 eni-1"[..])
    );
    assert_eq!(export_message(b"2026-11-02T00:35:05Z x"), Some(&b"x"[..]));
    for no in [
        &b"2 123 eni-1 10.0.0.1"[..],
        b"2026-11-02 00:35:05 x",
        b"2026-11-02T00:35:05.000+01:00 x",
        b"2026-11-02T00:35:05.Z x",
        b"version account-id",
    ] {
        assert_eq!(export_message(no), None, "{}", String::from_utf8_lossy(no));
    }
    let mut text: String = V2
        .iter()
        .map(|m| format!("2026-11-02T00:35:05.000Z {m}\n"))
        .collect();
    text.push('\n');
    text.push_str("no timestamp here\n");
    let mut lines = Lines::Stream(LineReader::new(Box::new(std::io::Cursor::new(
        text.into_bytes(),
    ))));
    let mut sink = Collect::default();
    let a = archive("exportedlogs/task-1/eni-0a1b2c3d4e5f60718-all/000000.gz");
    let stats = scan_export(&mut lines, &a, None, &mut sink);
    assert_eq!((stats.records, stats.problems, stats.events), (4, 1, 5));
    assert_eq!(sink.kinds, [Kind::CloudWatch(CloudWatchShape::Export)]);
    assert_eq!(sink.records[3], (4, V2[3].to_string()));
    assert_eq!(
        sink.problems,
        ["exportedlogs/task-1/eni-0a1b2c3d4e5f60718-all/000000.gz:6: `no timestamp here` is not \
          an export-task line (an ISO-8601 timestamp, a space, the record)"]
    );
    assert_eq!(
        sink.deliveries,
        [r#"None None Some("eni-0a1b2c3d4e5f60718-all")"#]
    );
}
