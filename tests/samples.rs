//! Third-party flow-log samples (../shared/flowlogs-samples), read through the library.
//!
//! Each test asserts parsed field values, not just counts. The samples live outside the
//! repository; where they are absent (a bare clone) the tests say so and pass, since the same
//! facts are covered by our own files in `tests/data` and the unit tests.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use flowgate::flowlog::{
    scan_archive, Action, Archive, Direction, Flow, Format, LogStatus, Problem, ScanOptions, Sink,
};
use flowgate::source::{ArchiveMeta, Source};

fn samples() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/flowlogs-samples");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("../shared/flowlogs-samples not found; skipping");
        None
    }
}

/// The fields a test looks at, owned.
#[derive(Debug, Clone, PartialEq)]
struct Rec {
    line: u64,
    status: LogStatus,
    action: Option<Action>,
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    pkt_src: Option<IpAddr>,
    pkt_dst: Option<IpAddr>,
    ports: (Option<u16>, Option<u16>),
    protocol: Option<u8>,
    packets: Option<u64>,
    bytes: Option<u64>,
    start: Option<u64>,
    end: Option<u64>,
    tcp_flags: Option<u8>,
    direction: Option<Direction>,
    interface: Option<String>,
    account: Option<String>,
    vpc: Option<String>,
    instance: Option<String>,
}

#[derive(Default)]
struct Collect {
    formats: Vec<String>,
    records: Vec<Rec>,
    problems: Vec<String>,
}

impl Sink for Collect {
    fn format(&mut self, _: &Archive, format: &Format) {
        self.formats.push(format.header());
    }
    fn record(&mut self, _: &Archive, line: u64, f: &Flow<'_>) {
        self.records.push(Rec {
            line,
            status: f.status,
            action: f.action,
            src: f.src,
            dst: f.dst,
            pkt_src: f.pkt_src,
            pkt_dst: f.pkt_dst,
            ports: (f.src_port, f.dst_port),
            protocol: f.protocol,
            packets: f.packets,
            bytes: f.bytes,
            start: f.start,
            end: f.end,
            tcp_flags: f.tcp_flags,
            direction: f.direction,
            interface: f.interface.map(str::to_string),
            account: f.account.map(str::to_string),
            vpc: f.vpc.map(str::to_string),
            instance: f.instance.map(str::to_string),
        });
    }
    fn problem(&mut self, p: Problem) {
        self.problems.push(p.to_string());
    }
}

fn read(path: &Path, log_format: Option<&str>) -> Collect {
    let archive = Archive {
        display: path.file_name().unwrap().to_string_lossy().into_owned(),
        source: Source::File(path.to_path_buf()),
        meta: ArchiveMeta::default(),
    };
    let options = ScanOptions {
        log_format: log_format.map(|f| Format::parse_spec(f).unwrap()),
    };
    let mut c = Collect::default();
    scan_archive(&archive, &options, &mut c);
    c
}

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

const V2: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";

#[test]
fn awsdocs_accepted_rejected_headerless_with_log_format() {
    let Some(d) = samples() else { return };
    let path = d.join("awsdocs-vpc-user-guide-examples/accepted-rejected.log");
    let without = read(&path, None);
    assert!(without.records.is_empty());
    assert!(
        without.problems[0].contains("no header line"),
        "{:?}",
        without.problems
    );

    let c = read(&path, Some(V2));
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    assert_eq!(c.records.len(), 2);
    let r = &c.records[0];
    assert_eq!((r.src, r.dst), (ip("172.31.16.139"), ip("172.31.16.21")));
    assert_eq!(
        (r.ports, r.protocol, r.packets, r.bytes),
        ((Some(20641), Some(22)), Some(6), Some(20), Some(4249))
    );
    assert_eq!(
        (r.start, r.end, r.action),
        (Some(1418530010), Some(1418530070), Some(Action::Accept))
    );
    assert_eq!(r.account.as_deref(), Some("123456789010"));
    assert_eq!(c.records[1].action, Some(Action::Reject));
    assert_eq!(c.records[1].ports.1, Some(3389));
}

#[test]
fn awsdocs_nodata_skipdata_icmp_ipv6() {
    let Some(d) = samples() else { return };
    let g = |n: &str| read(&d.join("awsdocs-vpc-user-guide-examples").join(n), Some(V2));
    let nd = g("no-data.log");
    assert_eq!(
        nd.records.iter().map(|r| r.status).collect::<Vec<_>>(),
        [LogStatus::NoData, LogStatus::SkipData]
    );
    assert_eq!(
        (nd.records[0].src, nd.records[0].action, nd.records[0].start),
        (None, None, Some(1431280876))
    );
    let sg = g("security-groups.log");
    assert_eq!(sg.records[0].protocol, Some(1));
    assert_eq!(sg.records[0].ports, (Some(0), Some(0)));
    assert_eq!(sg.records[1].action, Some(Action::Reject));
    let v6 = g("ipv6.log");
    assert_eq!(
        v6.records[0].src,
        ip("2001:db8:1234:a100:8d6e:3477:df66:f105")
    );
    assert_eq!(v6.records[0].bytes, Some(8855));
}

#[test]
fn awsdocs_custom_formats() {
    let Some(d) = samples() else { return };
    let dir = d.join("awsdocs-vpc-user-guide-examples");
    let fmt = |n: &str| std::fs::read_to_string(dir.join(n)).unwrap();

    let tcp = read(&dir.join("tcp-flag.log"), Some(&fmt("tcp-flag.format.txt")));
    assert!(tcp.problems.is_empty(), "{:?}", tcp.problems);
    assert_eq!(tcp.records.len(), 8);
    assert_eq!(
        tcp.records
            .iter()
            .map(|r| r.tcp_flags.unwrap())
            .collect::<Vec<_>>(),
        [2, 18, 2, 18, 1, 1, 3, 19]
    );
    assert_eq!(tcp.records[0].vpc.as_deref(), Some("vpc-abcdefab012345678"));
    assert_eq!(tcp.records[0].pkt_src, ip("52.213.180.42"));

    // The docs' NAT example: two lines carry a trailing comment and are malformed as written.
    let nat = read(&dir.join("nat.log"), Some(&fmt("nat.format.txt")));
    assert_eq!(nat.records.len(), 4);
    assert_eq!(nat.problems.len(), 2);
    assert!(
        nat.problems[0].starts_with("nat.log:5: expected 6 fields"),
        "{:?}",
        nat.problems
    );
    assert_eq!(nat.records[0].instance, None);
    assert_eq!(
        (nat.records[0].dst, nat.records[0].pkt_dst),
        (ip("10.0.0.220"), ip("203.0.113.5"))
    );

    let tgw = read(&dir.join("tgw.log"), Some(&fmt("tgw.format.txt")));
    assert_eq!(tgw.records.len(), 4);
    assert_eq!(
        tgw.problems,
        ["tgw.log:2: expected 17 fields (as the header says), found 1"]
    );
    assert_eq!(tgw.records[2].instance, None);
    assert_eq!(tgw.records[2].pkt_src, ip("10.20.33.164"));

    let tp = read(
        &dir.join("traffic-path.log"),
        Some(&fmt("traffic-path.format.txt")),
    );
    assert!(tp.problems.is_empty(), "{:?}", tp.problems);
    assert_eq!(tp.records[0].direction, Some(Direction::Ingress));
    assert_eq!(tp.records[1].direction, Some(Direction::Egress));
    assert_eq!(tp.records[1].tcp_flags, Some(3));
}

#[test]
fn obsrvbl_headers_in_any_order_and_a_bogus_line() {
    let Some(d) = samples() else { return };
    let dir = d.join("obsrvbl-flowlogs-reader");
    let v2 = read(&dir.join("V2_RECORDS.txt"), Some(V2));
    assert!(v2.problems.is_empty(), "{:?}", v2.problems);
    assert_eq!(v2.records.len(), 5);
    assert_eq!(v2.records[3].status, LogStatus::NoData);
    assert_eq!(v2.records[4].status, LogStatus::SkipData);

    let v3 = read(&dir.join("V3_FILE.txt"), None);
    assert!(v3.problems.is_empty(), "{:?}", v3.problems);
    assert_eq!(v3.records.len(), 2);
    let r = &v3.records[0];
    assert_eq!(r.account.as_deref(), Some("000000000000"));
    assert_eq!(
        (r.src, r.dst, r.pkt_src),
        (ip("172.18.160.68"), ip("172.18.160.93"), ip("192.168.0.1"))
    );
    assert_eq!(
        (r.ports, r.tcp_flags, r.bytes),
        ((Some(443), Some(47460)), Some(19), Some(6392))
    );

    let v4 = read(&dir.join("V4_FILE.txt"), None);
    assert!(v4.problems.is_empty(), "{:?}", v4.problems);
    assert_eq!(v4.records.len(), 2);

    let v5 = read(&dir.join("V5_FILE.txt"), None);
    assert_eq!(v5.records.len(), 2);
    assert_eq!(v5.problems.len(), 1);
    assert!(
        v5.problems[0].ends_with("expected 29 fields (as the header says), found 2"),
        "{:?}",
        v5.problems
    );
    assert_eq!(v5.records[1].direction, Some(Direction::Egress));

    // Transit Gateway fields: known by name, carried; no typed field to check here.
    let v6 = read(&dir.join("V6_FILE.txt"), None);
    assert!(v6.problems.is_empty(), "{:?}", v6.problems);
    assert_eq!(v6.records.len(), 1);
    assert_eq!(v6.records[0].action, None);
}

#[test]
fn grafana_nat_gateway_files_with_packet_addresses() {
    let Some(d) = samples() else { return };
    let dir = d.join("grafana-vpc-flow-logs-analyzer");
    let one = read(
        &dir.join("aws-flow-logs-10.3.11.57-142.250.185.91.log"),
        None,
    );
    assert!(one.problems.is_empty(), "{:?}", one.problems);
    assert_eq!(one.records.len(), 31);
    assert!(one
        .records
        .iter()
        .all(|r| r.pkt_src == ip("10.3.11.57") || r.pkt_dst == ip("10.3.11.57")));
    let t = read(&dir.join("aws-test_flow_logs.log"), None);
    assert!(t.problems.is_empty(), "{:?}", t.problems);
    assert_eq!(t.records.len(), 6);
    assert_eq!(t.records[0].pkt_dst, ip("3.75.6.195"));
    assert!(t.records.iter().any(|r| r.status == LogStatus::NoData));
    assert!(t.records.iter().any(|r| r.status == LogStatus::SkipData));
    let s = read(&dir.join("aws-analyzer_sorting_test.log"), None);
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    assert_eq!(s.records.len(), 3);
}

#[test]
fn gzip_objects_as_delivered() {
    let Some(d) = samples() else { return };
    let loki = read(
        &d.join("grafana-loki-lambda-promtail/vpcflowlog.log.gz"),
        None,
    );
    assert!(loki.problems.is_empty(), "{:?}", loki.problems);
    assert_eq!(loki.formats, [V2]);
    assert_eq!(loki.records.len(), 3);
    assert_eq!(loki.records[0].dst, ip("3.239.232.29"));
    assert_eq!(
        loki.records[0].interface.as_deref(),
        Some("eni-0050644426037aa0f")
    );
    // No newline after the last record.
    let cx = read(&d.join("coralogix-aws-shipper/vpcflow.log.gz"), None);
    assert!(cx.problems.is_empty(), "{:?}", cx.problems);
    assert_eq!(cx.records.len(), 2);
    assert_eq!(cx.records[1].bytes, Some(5060));
    assert_eq!(cx.records[1].line, 3);
}

/// Parquet written by pandas and pyarrow, not by AWS (obsrvbl): INT64 where AWS has INT32,
/// numbers as strings, and pandas' `None` text where a value is absent. The good row reads as
/// its text would; each bad cell is a problem at its row and column, and hides nothing else.
#[test]
fn parquet_written_by_pandas() {
    let Some(d) = samples() else { return };
    let p = read(&d.join("obsrvbl-flowlogs-reader/flows.parquet"), None);
    assert_eq!(p.formats, [V2]);
    assert_eq!(p.records.len(), 1, "{:?}", p.problems);
    let r = &p.records[0];
    assert_eq!(r.line, 1);
    assert_eq!((r.src, r.dst), (ip("198.51.100.1"), ip("192.0.2.1")));
    assert_eq!(r.ports, (Some(443), Some(49152)));
    assert_eq!(
        (r.protocol, r.packets, r.bytes),
        (Some(6), Some(10), Some(840))
    );
    assert_eq!((r.start, r.end), (Some(1439387263), Some(1439387264)));
    assert_eq!((r.status, r.action), (LogStatus::Ok, Some(Action::Accept)));
    assert_eq!(r.interface.as_deref(), Some("eni-102010ab"));
    assert_eq!(r.account.as_deref(), Some("123456789010"));
    assert_eq!(
        p.problems,
        [
            "flows.parquet: row 2: column srcport: `None` is not a port (0-65535)",
            "flows.parquet: row 3: column protocol: `8080` is not a protocol number (0-255)",
        ]
    );
}

/// CloudWatch Logs events as exported JSON, one per line (Tenzir): no header, AWS's default
/// format recognised from the messages, each event's place its number.
#[test]
fn cloudwatch_events_in_the_default_format() {
    let Some(d) = samples() else { return };
    let cw = read(&d.join("tenzir-library-amazon/cloudwatch-v2.ndjson"), None);
    assert!(cw.problems.is_empty(), "{:?}", cw.problems);
    assert_eq!(cw.formats, [V2]);
    let statuses: Vec<(u64, LogStatus, Option<Action>)> = cw
        .records
        .iter()
        .map(|r| (r.line, r.status, r.action))
        .collect();
    assert_eq!(
        statuses,
        [
            (1, LogStatus::Ok, Some(Action::Accept)),
            (2, LogStatus::Ok, Some(Action::Reject)),
            (3, LogStatus::NoData, None),
            (4, LogStatus::SkipData, None),
        ]
    );
    let r = &cw.records[1];
    assert_eq!((r.src, r.dst), (ip("172.31.9.69"), ip("172.31.9.12")));
    assert_eq!(r.ports, (Some(49761), Some(3389)));
    assert_eq!((r.start, r.end), (Some(1418530010), Some(1418530070)));
    assert_eq!(
        cw.records[3].interface.as_deref(),
        Some("eni-11111111aaaaaaaaa")
    );
}

/// Real version-7 (ECS) messages do not fit AWS's default format: without `--log-format` that
/// is a problem that shows a message and asks for the format; with it they read.
#[test]
fn cloudwatch_ecs_messages_need_their_format() {
    let Some(d) = samples() else { return };
    let path = d.join("tenzir-library-amazon/cloudwatch-v7-ecs.ndjson");
    let bare = read(&path, None);
    assert!(bare.records.is_empty());
    assert!(
        bare.problems.iter().any(|p| p
            .contains("event 1: CloudWatch Logs messages carry no header line")
            && p.contains("it has 24 fields, not 14")
            && p.contains("`7 471731794787 eni-019d08b328f01b673 10.0.0.205")
            && p.contains("pass --log-format")),
        "{:?}",
        bare.problems
    );
    let ecs = format!(
        "{V2} ecs-cluster-name ecs-cluster-arn ecs-container-instance-arn \
         ecs-container-instance-id ecs-service-name ecs-task-definition-arn ecs-task-id \
         ecs-task-arn ecs-container-id ecs-second-container-id"
    );
    let read7 = read(&path, Some(&ecs));
    assert!(read7.problems.is_empty(), "{:?}", read7.problems);
    assert_eq!(read7.records.len(), 4);
    let r = &read7.records[0];
    assert_eq!((r.src, r.dst), (ip("10.0.0.205"), ip("3.250.243.104")));
    assert_eq!(r.ports, (Some(48126), Some(443)));
    assert_eq!(r.account.as_deref(), Some("471731794787"));
    assert_eq!(
        read7
            .records
            .iter()
            .filter(|r| r.status == LogStatus::NoData)
            .count(),
        2
    );
}

/// A Firehose transformation Lambda's input (base64 lines under `records[].data`) is JSON
/// that looks like evidence and is not a delivery flowgate reads: a problem naming the file,
/// never a skip.
#[test]
fn a_firehose_lambda_event_is_a_problem_not_a_skip() {
    let Some(d) = samples() else { return };
    let ev = read(&d.join("aws-vpc-flow-log-appender/event.json"), None);
    assert!(ev.records.is_empty());
    assert_eq!(
        ev.problems,
        ["event.json: JSON value at byte 0: none of messageType, logEvents, events, message or awslogs: not a CloudWatch Logs delivery of flow-log records"]
    );
}
