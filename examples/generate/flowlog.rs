//! What a flow log writes, and how: interfaces, records, the two sides of an exchange, the
//! rendering of a record in any field order, and the S3 key layout of the gzip archives. Both
//! modes build on this, so fixtures and benchmark archives share one notion of "a record as AWS
//! writes it" (see /work/shared/reference/vpc-flow-logs.md).

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use flate2::{Compression, GzBuilder};

use crate::rng::Rng;

/// Renders one field of a record.
type Put = fn(&FlowLog, &Record, &mut Vec<u8>);

/// Every field this generator fills: custom-format name, the version that introduced it (a
/// record's `version` is the highest among its format's fields), and how it is rendered.
#[rustfmt::skip]
const FIELDS: [(&str, u8, Put); 23] = [
    ("version", 2, |log, _, o| put_u64(o, log.format.version.into())),
    ("account-id", 2, |log, _, o| put_str(o, &log.account)),
    ("interface-id", 2, |_, r, o| put_str(o, &r.eni.id)),
    ("srcaddr", 2, |_, r, o| flow(r, o, |f, o| put_ip(o, f.src))),
    ("dstaddr", 2, |_, r, o| flow(r, o, |f, o| put_ip(o, f.dst))),
    ("srcport", 2, |_, r, o| flow(r, o, |f, o| put_u64(o, f.sport.into()))),
    ("dstport", 2, |_, r, o| flow(r, o, |f, o| put_u64(o, f.dport.into()))),
    ("protocol", 2, |_, r, o| flow(r, o, |f, o| put_u64(o, f.proto.into()))),
    ("packets", 2, |_, r, o| flow(r, o, |f, o| put_u64(o, f.packets))),
    ("bytes", 2, |_, r, o| flow(r, o, |f, o| put_u64(o, f.bytes))),
    ("start", 2, |_, r, o| put_u64(o, r.start as u64)),
    ("end", 2, |_, r, o| put_u64(o, r.end as u64)),
    ("action", 2, |_, r, o| flow(r, o, |f, o| word(o, f.accept, ["ACCEPT", "REJECT"]))),
    ("log-status", 2, |_, r, o| put_str(o, r.status)),
    ("vpc-id", 3, |log, _, o| put_str(o, &log.vpc)),
    ("subnet-id", 3, |_, r, o| put_str(o, &r.eni.subnet)),
    ("instance-id", 3, |_, r, o| put_str(o, r.eni.instance.as_deref().unwrap_or("-"))),
    ("tcp-flags", 3, |_, r, o| flow(r, o, |f, o| put_u64(o, f.flags.into()))),
    ("type", 3, |_, r, o| flow(r, o, |f, o| word(o, f.src.is_ipv4(), ["IPv4", "IPv6"]))),
    ("pkt-srcaddr", 3, |_, r, o| flow(r, o, |f, o| put_ip(o, f.pkt_src))),
    ("pkt-dstaddr", 3, |_, r, o| flow(r, o, |f, o| put_ip(o, f.pkt_dst))),
    ("flow-direction", 5, |_, r, o| flow(r, o, |f, o| word(o, f.egress, ["egress", "ingress"]))),
    ("traffic-path", 5, |_, r, o| match r.flow.and_then(|f| f.path) {
        Some(path) => put_u64(o, path.into()),
        None => put_str(o, "-"),
    }),
];

pub const DEFAULT_FORMAT: &str = "version account-id interface-id srcaddr dstaddr srcport dstport \
     protocol packets bytes start end action log-status";

/// An ordered field list, as given at flow-log creation and repeated in every file's header.
#[derive(Clone)]
pub struct Format {
    fields: Vec<usize>,
    version: u8,
}

impl Format {
    pub fn parse(header: &str) -> Format {
        let index = |name| FIELDS.iter().position(|f| f.0 == name).expect(name);
        let fields: Vec<usize> = header.split(' ').map(index).collect();
        let version = fields.iter().map(|&i| FIELDS[i].1).max().unwrap_or(2);
        Format { fields, version }
    }

    /// AWS's default format followed by `extra` (space-separated field names, each known to
    /// this generator and not already in the format).
    pub fn with_extra_fields(extra: &str) -> anyhow::Result<Format> {
        let mut header = DEFAULT_FORMAT.to_string();
        for name in extra.split_whitespace() {
            if !FIELDS.iter().any(|f| f.0 == name) {
                let known: Vec<&str> = FIELDS.iter().map(|f| f.0).collect();
                anyhow::bail!(
                    "unknown field {name:?}; the generator writes {}",
                    known.join(" ")
                );
            }
            if header.split(' ').any(|f| f == name) {
                anyhow::bail!("field {name:?} is already in the format");
            }
            header.push(' ');
            header.push_str(name);
        }
        Ok(Format::parse(&header))
    }

    pub fn header(&self) -> String {
        let names: Vec<&str> = self.fields.iter().map(|&i| FIELDS[i].0).collect();
        names.join(" ")
    }
}

/// One flow log: who owns it, where it is delivered, what it writes.
#[derive(Clone)]
pub struct FlowLog {
    pub account: String,
    pub region: String,
    pub id: String,
    pub vpc: String,
    pub format: Format,
}

/// A network interface and the metadata its records carry.
pub struct Eni {
    pub id: String,
    pub ip: IpAddr,
    pub subnet: String,
    /// `None` for requester-managed interfaces (NAT gateway, RDS, load balancers).
    pub instance: Option<String>,
}

impl Eni {
    /// An interface with seeded ids; `owned` ones belong to an instance of ours.
    pub fn new(rng: &mut Rng, ip: IpAddr, subnet: &str, owned: bool) -> Eni {
        let id = aws_id(rng, "eni");
        let instance = owned.then(|| aws_id(rng, "i"));
        Eni {
            id,
            ip,
            subnet: subnet.into(),
            instance,
        }
    }
}

/// An AWS-style id: prefix, "-0", 16 hex digits (`eni-0…`, `i-0…`, `subnet-0…`, `fl-0…`).
pub fn aws_id(rng: &mut Rng, prefix: &str) -> String {
    format!("{prefix}-0{}", rng.hex(16))
}

pub fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d))
}

pub fn v6(text: &str) -> IpAddr {
    text.parse().expect("valid IPv6 literal")
}

/// The traffic part of a record; absent on NODATA / SKIPDATA records.
#[derive(Clone, Copy)]
pub struct Flow {
    src: IpAddr,
    dst: IpAddr,
    pkt_src: IpAddr,
    pkt_dst: IpAddr,
    sport: u16,
    dport: u16,
    proto: u8,
    packets: u64,
    bytes: u64,
    accept: bool,
    flags: u8,
    egress: bool,
    path: Option<u8>,
    /// The truth the flow-log format leaves out: whether the sender is the server (the reply
    /// direction of an exchange). `--truth` writes it beside the archive for the truth test.
    src_is_server: bool,
}

pub struct Record<'a> {
    pub eni: &'a Eni,
    pub start: i64,
    pub end: i64,
    pub status: &'static str,
    pub flow: Option<Flow>,
}

impl<'a> Record<'a> {
    /// A NODATA or SKIPDATA record: interval bounds and interface metadata, every flow field `-`.
    pub fn control(eni: &'a Eni, start: i64, end: i64, status: &'static str) -> Self {
        Record {
            eni,
            start,
            end,
            status,
            flow: None,
        }
    }
}

/// One request/reply exchange during one aggregation interval. Each interface on the path logs
/// it as two records, one per direction; which interfaces exist decides which records appear.
#[derive(Clone, Copy)]
pub struct Exchange {
    pub client: IpAddr,
    pub server: IpAddr,
    pub cport: u16,
    pub sport: u16,
    pub proto: u8,
    pub start: i64,
    pub end: i64,
    /// (packets, bytes) client -> server and server -> client; no reply record when 0 packets.
    pub sent: (u64, u64),
    pub recv: (u64, u64),
    /// tcp-flags of the request and reply directions (0 for non-TCP).
    pub flags: (u8, u8),
    pub accept: bool,
    /// Seconds by which the other interfaces' clocks and aggregation windows lag the client's.
    pub skew: i64,
}

impl Exchange {
    /// The leg in one direction as the packet headers show it.
    fn leg(&self, request: bool, egress: bool, path: Option<u8>) -> Flow {
        let (src, dst, sport, dport, (packets, bytes), flags) = if request {
            (
                self.client,
                self.server,
                self.cport,
                self.sport,
                self.sent,
                self.flags.0,
            )
        } else {
            (
                self.server,
                self.client,
                self.sport,
                self.cport,
                self.recv,
                self.flags.1,
            )
        };
        Flow {
            src,
            dst,
            pkt_src: src,
            pkt_dst: dst,
            sport,
            dport,
            proto: self.proto,
            packets,
            bytes,
            accept: self.accept,
            flags,
            egress,
            path: if egress { path } else { None },
            src_is_server: !request,
        }
    }

    fn push<'a>(&self, eni: &'a Eni, flow: Flow, skew: i64, out: &mut Vec<Record<'a>>) {
        if flow.packets > 0 {
            let (start, end, status) = (self.start + skew, self.end + skew, "OK");
            out.push(Record {
                eni,
                start,
                end,
                status,
                flow: Some(flow),
            });
        }
    }

    /// The client's interface: egress request (taking traffic-path `path`), ingress reply.
    pub fn client_side<'a>(&self, eni: &'a Eni, path: u8, out: &mut Vec<Record<'a>>) {
        self.push(eni, self.leg(true, true, Some(path)), 0, out);
        if self.accept {
            self.push(eni, self.leg(false, false, None), 0, out);
        }
    }

    /// The server's interface: ingress request, egress reply (taking traffic-path `path`).
    pub fn server_side<'a>(&self, eni: &'a Eni, path: u8, out: &mut Vec<Record<'a>>) {
        self.push(eni, self.leg(true, false, None), self.skew, out);
        if self.accept {
            self.push(eni, self.leg(false, true, Some(path)), self.skew, out);
        }
    }

    /// A NAT gateway's interface between a private client and an internet server: four records,
    /// `srcaddr`/`dstaddr` show the gateway's own private address and the translated port while
    /// `pkt-srcaddr`/`pkt-dstaddr` keep the real ends.
    pub fn nat_side<'a>(&self, nat: &'a Eni, nat_port: u16, out: &mut Vec<Record<'a>>) {
        let request = self.leg(true, false, None);
        let to_server = self.leg(true, true, Some(2));
        let from_server = self.leg(false, false, None);
        let reply = self.leg(false, true, Some(1));
        let legs = [
            Flow {
                dst: nat.ip,
                ..request
            },
            Flow {
                src: nat.ip,
                pkt_src: nat.ip,
                sport: nat_port,
                ..to_server
            },
            Flow {
                dst: nat.ip,
                pkt_dst: nat.ip,
                dport: nat_port,
                ..from_server
            },
            Flow {
                src: nat.ip,
                ..reply
            },
        ];
        for flow in legs {
            self.push(nat, flow, self.skew, out);
        }
    }
}

/// Appends a number in decimal; the benchmark formats ~15 M records, `write!` is the hot spot.
fn put_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

fn put_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                put_u64(out, u64::from(octet));
            }
        }
        // `Ipv6Addr`'s Display is the RFC 5952 text AWS writes (`2a02:cf40::1`).
        IpAddr::V6(v6) => write!(out, "{v6}").unwrap(),
    }
}

/// A flow field, or `-` on NODATA / SKIPDATA records.
fn flow(r: &Record, out: &mut Vec<u8>, put: impl FnOnce(&Flow, &mut Vec<u8>)) {
    match &r.flow {
        Some(f) => put(f, out),
        None => out.push(b'-'),
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
}

fn word(out: &mut Vec<u8>, first: bool, words: [&str; 2]) {
    put_str(out, words[usize::from(!first)]);
}

impl FlowLog {
    /// One record as a line in this flow log's format.
    pub fn render(&self, r: &Record, out: &mut Vec<u8>) {
        for (n, &field) in self.format.fields.iter().enumerate() {
            if n > 0 {
                out.push(b' ');
            }
            (FIELDS[field].2)(self, r, out);
        }
        out.push(b'\n');
    }

    /// Where AWS delivers the file for the 5-minute window starting at `window`.
    pub fn key(&self, window: i64, hash: &str) -> PathBuf {
        let t = time::OffsetDateTime::from_unix_timestamp(window).expect("valid time");
        let (y, m, d, hh, mm) = (t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute());
        let (acct, region, id) = (&self.account, &self.region, &self.id);
        let dir = format!("AWSLogs/{acct}/vpcflowlogs/{region}/{y:04}/{m:02}/{d:02}");
        let name = format!(
            "{acct}_vpcflowlogs_{region}_{id}_{y:04}{m:02}{d:02}T{hh:02}{mm:02}Z_{hash}.log.gz"
        );
        Path::new(&dir).join(name)
    }
}

/// Totals of what was written, summed over archives.
#[derive(Default, Clone, Copy)]
pub struct Stats {
    pub files: u64,
    pub records: u64,
    pub text_bytes: u64,
    pub gz_bytes: u64,
}

impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, o: Stats) {
        self.files += o.files;
        self.records += o.records;
        self.text_bytes += o.text_bytes;
        self.gz_bytes += o.gz_bytes;
    }
}

/// One `.log.gz` being written. Streams: text is compressed in 64 KiB chunks, never held whole.
/// The gzip header is fixed (mtime 0, no file name, OS 255) so a seed gives identical bytes.
pub struct Archive<'l> {
    log: &'l FlowLog,
    path: PathBuf,
    enc: flate2::write::GzEncoder<BufWriter<File>>,
    buf: Vec<u8>,
    stats: Stats,
    /// Where the truth file goes, and its lines so far (see [`truth_char`]).
    truth: Option<(PathBuf, Vec<u8>)>,
}

/// The truth file's line for a record: `s` when the sender is the server, `d` when the
/// receiver is, `-` for NODATA and SKIPDATA. The file's first line, `h`, stands for the header,
/// so line N of the truth file is about line N of the archive.
fn truth_char(record: &Record) -> u8 {
    match &record.flow {
        Some(f) if f.src_is_server => b's',
        Some(_) => b'd',
        None => b'-',
    }
}

impl<'l> Archive<'l> {
    /// A new archive under `root`; with `truth`, its truth file goes to the same key path
    /// under `truth` with `.truth` appended.
    pub fn create(
        root: &Path,
        truth: Option<&Path>,
        log: &'l FlowLog,
        window: i64,
        hash: &str,
    ) -> io::Result<Self> {
        let key = log.key(window, hash);
        let truth = truth.map(|dir| {
            let mut name = dir.join(&key).into_os_string();
            name.push(".truth");
            (PathBuf::from(name), b"h\n".to_vec())
        });
        let path = root.join(key);
        fs::create_dir_all(path.parent().expect("key has a directory"))?;
        let file = BufWriter::with_capacity(1 << 16, File::create(&path)?);
        let enc = GzBuilder::new().mtime(0).write(file, Compression::new(6));
        let mut buf = Vec::with_capacity(1 << 17);
        buf.extend_from_slice(log.format.header().as_bytes());
        buf.push(b'\n');
        let stats = Stats {
            files: 1,
            ..Stats::default()
        };
        Ok(Archive {
            log,
            path,
            enc,
            buf,
            stats,
            truth,
        })
    }

    pub fn push(&mut self, record: &Record) -> io::Result<()> {
        self.log.render(record, &mut self.buf);
        if let Some((_, lines)) = &mut self.truth {
            lines.extend_from_slice(&[truth_char(record), b'\n']);
        }
        self.stats.records += 1;
        if self.buf.len() >= 1 << 16 {
            self.flush_text()?;
        }
        Ok(())
    }

    fn flush_text(&mut self) -> io::Result<()> {
        self.stats.text_bytes += self.buf.len() as u64;
        self.enc.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    pub fn finish(mut self) -> io::Result<Stats> {
        self.flush_text()?;
        self.enc
            .finish()?
            .into_inner()
            .map_err(|e| e.into_error())?;
        self.stats.gz_bytes = fs::metadata(&self.path)?.len();
        if let Some((path, lines)) = &self.truth {
            fs::create_dir_all(path.parent().expect("key has a directory"))?;
            fs::write(path, lines)?;
        }
        Ok(self.stats)
    }
}
