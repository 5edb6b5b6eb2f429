//! The benchmark archive: days of 5-minute files from one busy VPC flow log in the default
//! format (or the default fields and more), shaped like the archive the performance facts
//! were measured on (~45 MB of gzip and ~2.3 M records a day). Traffic follows a diurnal curve
//! and mixes what a real VPC shows: the partner line (10.20.0.0/16) that the policies scope,
//! internet traffic in and out, the data tier, DNS, IPv6, ~3% REJECTs and a few NODATA /
//! SKIPDATA records. Files are independent, so they are written in parallel; each file's
//! content depends only on the seed and its slot.

use std::f64::consts::TAU;
use std::fs;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::delivery::{Delivery, Window};
use crate::flowlog::{
    aws_id, v4, v6, Archive, Eni, Exchange, FlowLog, Format, Record, Stats, DEFAULT_FORMAT,
};
use crate::rng::Rng;

pub struct BenchOpts {
    pub out: PathBuf,
    pub days: u32,
    pub mb_per_day: f64,
    pub seed: u64,
    /// Unix time of the first day's midnight (UTC).
    pub start: i64,
    /// AWS's default format, or a custom one.
    pub format: Format,
    /// Text, Parquet or Firehose objects: the same records whichever.
    pub delivery: Delivery,
    /// The port the apps behind the load balancers serve on (8080; the truth test also puts
    /// them on a port no list of services knows, such as 7311).
    pub app_port: u16,
    /// Where to write, for each archive, which end of each record is the server (see
    /// `flowlog::Archive`): the truth the default format does not show.
    pub truth: Option<PathBuf>,
}

const FILES_PER_DAY: usize = 288;
const TCP: u8 = 6;

/// What one generated event is.
#[derive(Clone, Copy)]
enum Kind {
    Settlement,
    PartnerSql,
    Nat,
    Inbound,
    Data,
    Telemetry,
    Metrics,
    Dns,
    Ipv6,
    Icmp,
    Scan,
    RdpReject,
    OpsSsh,
    NoData,
    SkipData,
}

/// Relative weights of the event kinds. Single-record REJECT events are ~12% of events, which
/// makes ~3% of records (the other events average about four records each).
const MIX: [(Kind, u64); 15] = [
    (Kind::Settlement, 22_000),
    (Kind::PartnerSql, 2_000),
    (Kind::Nat, 14_000),
    (Kind::Inbound, 24_000),
    (Kind::Data, 16_000),
    (Kind::Telemetry, 3_000),
    (Kind::Metrics, 3_000),
    (Kind::Dns, 10_000),
    (Kind::Ipv6, 5_000),
    (Kind::Icmp, 1_000),
    (Kind::Scan, 12_200),
    (Kind::RdpReject, 200),
    (Kind::OpsSsh, 2),
    (Kind::NoData, 100),
    (Kind::SkipData, 3),
];

/// The NAT gateways' interfaces have fixed ids so that `10-nat-gateway-web.toml` can name them.
const NAT_ENIS: [&str; 3] = [
    "eni-04c3a9f2d71b8e650",
    "eni-0b57e2c8a19d46f31",
    "eni-0e96d1b4f3a2c7058",
];

/// The repository's own policy: the benchmark times exactly what CI runs.
const RETAIL: &str = include_str!("../../policies/retail-dedicated-line.toml");

macro_rules! bench_policies {
    ($($stem:literal),+) => {
        [$(($stem, include_str!(concat!("bench-policies/", $stem, ".toml")))),+]
    };
}

/// Nine more policies, each a different kind of scope, for `policies10/` beside RETAIL.
const OTHER_POLICIES: [(&str, &str); 9] = bench_policies!(
    "02-retail-settlement-subnet",
    "03-partner-sql",
    "04-data-tier",
    "05-dns-resolvers",
    "06-ipv6-egress",
    "07-load-balancer-inbound",
    "08-admin-ports",
    "09-icmp-internal",
    "10-nat-gateway-web"
);

/// The VPC: ~700 interfaces and the outside addresses they talk to (public for
/// `policy_sets`, which writes policies about the same hosts).
pub struct World {
    pub log: FlowLog,
    pub apps: Vec<Eni>,
    pub app6: Vec<IpAddr>,
    pub data: Vec<(Eni, u16)>,
    /// OpenTelemetry collectors (tcp 4317) and statsd servers (udp 8125).
    pub collectors: Vec<Eni>,
    pub statsd: Vec<Eni>,
    pub lbs: Vec<Eni>,
    pub nats: Vec<Eni>,
    pub resolvers: Vec<Eni>,
    pub sites: Vec<IpAddr>,
    pub sites6: Vec<IpAddr>,
}

/// An address in a public /8 (never private, shared or documentation space).
fn public_v4(rng: &mut Rng) -> IpAddr {
    let first = *rng.pick(&[
        3, 13, 18, 23, 34, 35, 44, 52, 54, 104, 142, 151, 162, 185, 199,
    ]);
    let [b, c, d] = [(); 3].map(|_| rng.range(1, 254) as u8);
    v4(first, b, c, d)
}

/// Eight app subnets are /20s (10.0.16.0/20 to 10.0.128.0/20), 80 hosts scattered over each.
fn app_addresses(rng: &mut Rng) -> Vec<(IpAddr, usize)> {
    let mut ips = Vec::new();
    for c in 1..=8u8 {
        while ips.len() < 80 * usize::from(c) {
            let ip = v4(10, 0, 16 * c + rng.below(16) as u8, rng.range(4, 254) as u8);
            if !ips.contains(&(ip, c.into())) {
                ips.push((ip, c.into()));
            }
        }
    }
    ips
}

impl World {
    /// The traffic depends on the seed alone; `format` only says how records are written
    /// (with `calibrate` sizing the default format, the same records whatever the format).
    pub fn new(seed: u64, format: Format) -> World {
        let rng = &mut Rng::derive(seed, &[10]);
        let app_ips = app_addresses(rng);
        let subnets: Vec<String> = (0..10).map(|_| aws_id(rng, "subnet")).collect();
        let mut eni = |ip, subnet: usize, owned| Eni::new(rng, ip, &subnets[subnet], owned);
        let apps: Vec<Eni> = app_ips
            .into_iter()
            .map(|(ip, c)| eni(ip, c, true))
            .collect();
        let ports = [5432, 3306, 6379, 9200];
        let data = (10..40).map(|d| (eni(v4(10, 0, 9, d), 9, false), ports[usize::from(d % 4)]));
        let data = data.collect();
        let lbs = (100..112).map(|d| eni(v4(10, 0, 0, d), 0, false)).collect();
        let resolvers = (10..12).map(|d| eni(v4(10, 0, 0, d), 0, true)).collect();
        let nats = (50..53).zip(NAT_ENIS).map(|(d, id)| Eni {
            id: id.into(),
            ..eni(v4(10, 0, 0, d), 0, false)
        });
        let nats = nats.collect();
        let log = FlowLog {
            account: "123456789012".into(),
            region: "us-east-1".into(),
            id: aws_id(rng, "fl"),
            vpc: aws_id(rng, "vpc"),
            format,
        };
        let app6 =
            (0..apps.len()).map(|i| v6(&format!("2600:1f18:4a3:6e{:02x}::7c2:{i:x}", i / 80 + 1)));
        let app6 = app6.collect();
        let sites = (0..2000).map(|_| public_v4(rng)).collect();
        let sites6 = (0..40).map(|i| match i % 2 {
            0 => v6(&format!(
                "2a02:cf40:{:x}::{:x}",
                rng.below(256),
                rng.range(1, 0xfff)
            )),
            _ => v6(&format!("2606:4700::6810:{:x}", rng.below(0x10000))),
        });
        let sites6 = sites6.collect();
        // The observability subnet comes last, so the ids drawn before it stay as they were.
        let obs = aws_id(rng, "subnet");
        let collectors = (10..14).map(|d| Eni::new(rng, v4(10, 0, 8, d), &obs, true));
        let collectors = collectors.collect();
        let statsd = (20..25).map(|d| Eni::new(rng, v4(10, 0, 8, d), &obs, true));
        let statsd = statsd.collect();
        World {
            log,
            apps,
            app6,
            data,
            collectors,
            statsd,
            lbs,
            nats,
            resolvers,
            sites,
            sites6,
        }
    }
}

/// Writes `policies/` (the retail policy alone) and `policies10/` beside the archive.
fn write_policies(out: &Path) -> io::Result<()> {
    fs::create_dir_all(out.join("policies"))?;
    fs::write(out.join("policies/retail.toml"), RETAIL)?;
    fs::create_dir_all(out.join("policies10"))?;
    fs::write(out.join("policies10/01-retail-dedicated-line.toml"), RETAIL)?;
    for (stem, text) in OTHER_POLICIES {
        fs::write(out.join(format!("policies10/{stem}.toml")), text)?;
    }
    Ok(())
}

/// Writes the archive and prints what it wrote.
pub fn write(opts: &BenchOpts) -> io::Result<Stats> {
    let world = World::new(opts.seed, opts.format.clone());
    let per_record = calibrate(&world, opts.seed)?;
    let day_records = opts.mb_per_day * 1e6 / per_record;
    let jobs = opts.days as usize * FILES_PER_DAY;
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let worker = || -> io::Result<Stats> {
        let mut stats = Stats::default();
        loop {
            let job = next.fetch_add(1, Ordering::Relaxed);
            if job >= jobs {
                return Ok(stats);
            }
            stats += write_file(&world, opts, job, day_records)?;
        }
    };
    let results: Vec<io::Result<Stats>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads).map(|_| s.spawn(worker)).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker panicked"))
            .collect()
    });
    let mut total = Stats::default();
    for stats in results {
        total += stats?;
    }
    write_policies(&opts.out)?;
    Ok(total)
}

/// Traffic relative to the daily mean at a 5-minute slot: peak mid-afternoon UTC (US business
/// hours), a trough of 40% at night.
fn diurnal(slot: usize) -> f64 {
    let hour = slot as f64 / 12.0;
    1.0 + 0.6 * ((hour - 15.0) / 24.0 * TAU).cos()
}

fn write_file(world: &World, opts: &BenchOpts, job: usize, day_records: f64) -> io::Result<Stats> {
    let (day, slot) = (job / FILES_PER_DAY, job % FILES_PER_DAY);
    let rng = &mut Rng::derive(opts.seed, &[11, job as u64]);
    let window = opts.start + (day * 86_400 + slot * 300) as i64;
    let jitter = 0.9 + 0.2 * rng.below(1000) as f64 / 1000.0;
    let target = (day_records * diurnal(slot) * jitter / FILES_PER_DAY as f64) as usize;
    let hash = rng.hex(8);
    if opts.delivery != Delivery::Text {
        let mut delivery = Window::new(&world.log, opts.delivery, window, &hash);
        fill(world, opts.app_port, rng, window, target, |r| {
            delivery.push(r);
            Ok(())
        })?;
        return delivery.finish(&opts.out);
    }
    let mut archive = Archive::create(&opts.out, opts.truth.as_deref(), &world.log, window, &hash)?;
    fill(world, opts.app_port, rng, window, target, |r| {
        archive.push(r)
    })?;
    archive.finish()
}

/// Generates events until `target` records have been handed to `sink`. A file interleaves
/// the records of many interfaces, so each batch is shuffled before it is written: the two
/// directions of a flow are rarely neighbours (which also keeps gzip from finding them).
fn fill<'w>(
    world: &'w World,
    app_port: u16,
    rng: &mut Rng,
    window: i64,
    target: usize,
    mut sink: impl FnMut(&Record<'w>) -> io::Result<()>,
) -> io::Result<()> {
    const BATCH: usize = 256;
    let mut batch = Vec::with_capacity(BATCH + 8);
    let mut written = 0;
    while written < target {
        while batch.len() < BATCH.min(target - written) {
            event(world, app_port, rng, window, &mut batch);
        }
        for i in (1..batch.len()).rev() {
            batch.swap(i, rng.below(i as u64 + 1) as usize);
        }
        for record in batch.drain(..) {
            sink(&record)?;
            written += 1;
        }
    }
    Ok(())
}

/// Gzip bytes per record, measured on one typical file generated in memory, in AWS's default
/// format whatever the archive's: `--mb-per-day` sizes the default format's archive, so that
/// `--extra-fields` writes the same records, only wider.
fn calibrate(world: &World, seed: u64) -> io::Result<f64> {
    let default = FlowLog {
        format: Format::parse(DEFAULT_FORMAT),
        ..world.log.clone()
    };
    const SAMPLE: usize = 8000;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    let mut text = Vec::new();
    fill(
        world,
        8080,
        &mut Rng::derive(seed, &[12]),
        1_790_000_000,
        SAMPLE,
        |r| {
            default.render(r, &mut text);
            Ok(())
        },
    )?;
    enc.write_all(&text)?;
    Ok(enc.finish()?.len() as f64 / SAMPLE as f64)
}

/// Packets of one direction in one interval: mostly a handful, sometimes thousands.
fn heavy_tail(rng: &mut Rng) -> u64 {
    let scale = 1 << rng.below(11);
    scale + rng.below(scale)
}

/// A random exchange ending inside the window, with TCP flags of a short, opening, ongoing or
/// closing connection (the default format does not print them, but other formats would).
fn exchange(
    rng: &mut Rng,
    window: i64,
    proto: u8,
    client: IpAddr,
    server: (IpAddr, u16),
) -> Exchange {
    let end = window + rng.below(300) as i64;
    let (sent, recv) = (heavy_tail(rng), heavy_tail(rng));
    Exchange {
        client,
        server: server.0,
        cport: rng.ephemeral_port(),
        sport: server.1,
        proto,
        start: end - rng.below(60) as i64,
        end,
        sent: (sent, sent * rng.range(52, 700)),
        recv: (recv, recv * rng.range(52, 1400)),
        flags: *rng.pick(&[(3, 19), (2, 18), (0, 0), (0, 0), (1, 1)]),
        accept: true,
        skew: rng.below(3) as i64,
    }
}

fn pick_kind(rng: &mut Rng) -> Kind {
    let mut roll = rng.below(MIX.iter().map(|m| m.1).sum());
    for (kind, weight) in MIX {
        if roll < weight {
            return kind;
        }
        roll -= weight;
    }
    unreachable!("roll is below the total weight")
}

fn event<'w>(w: &'w World, app_port: u16, rng: &mut Rng, window: i64, out: &mut Vec<Record<'w>>) {
    let kind = pick_kind(rng);
    let app_index = rng.below(w.apps.len() as u64) as usize;
    let app = &w.apps[app_index];
    match kind {
        Kind::Settlement => {
            let server = v4(10, 20, 30, rng.range(5, 20) as u8);
            exchange(rng, window, TCP, app.ip, (server, 443)).client_side(app, 3, out);
        }
        Kind::PartnerSql => {
            let client = &w.apps[app_index % 8];
            exchange(rng, window, TCP, client.ip, (v4(10, 20, 40, 12), 1433))
                .client_side(client, 3, out);
        }
        Kind::Nat => {
            let port = if rng.chance(0.9) { 443 } else { 80 };
            let site = *rng.pick(&w.sites);
            let ex = exchange(rng, window, TCP, app.ip, (site, port));
            ex.client_side(app, 1, out);
            ex.nat_side(rng.pick(&w.nats), rng.range(1024, 65535) as u16, out);
        }
        Kind::Inbound => {
            let lb = rng.pick(&w.lbs);
            let client = public_v4(rng);
            exchange(rng, window, TCP, client, (lb.ip, 443)).server_side(lb, 2, out);
            // Load balancers connect to their targets from ports in 1024-65535, as AWS's do:
            // a target port of 8080 (or 7311) is often the higher one.
            let mut backend = exchange(rng, window, TCP, lb.ip, (app.ip, app_port));
            backend.cport = rng.range(1024, 65535) as u16;
            backend.client_side(lb, 1, out);
            backend.server_side(app, 1, out);
        }
        Kind::Data => {
            let (db, port) = rng.pick(&w.data);
            let ex = exchange(rng, window, TCP, app.ip, (db.ip, *port));
            ex.client_side(app, 1, out);
            ex.server_side(db, 1, out);
        }
        Kind::Telemetry => {
            // Long-lived gRPC streams: mostly mid-connection records, flags 0.
            let collector = rng.pick(&w.collectors);
            let mut ex = exchange(rng, window, TCP, app.ip, (collector.ip, 4317));
            ex.flags = *rng.pick(&[(0, 0), (0, 0), (0, 0), (2, 18)]);
            ex.client_side(app, 1, out);
            ex.server_side(collector, 1, out);
        }
        Kind::Metrics => {
            // statsd: one UDP socket per app, kept for the process's life, so the client's
            // port is fixed; datagrams one way, no reply.
            let server = &w.statsd[app_index % w.statsd.len()];
            let mut ex = exchange(rng, window, 17, app.ip, (server.ip, 8125));
            ex.cport = 32768 + (app_index as u16 * 37) % 28000;
            (ex.recv, ex.flags) = ((0, 0), (0, 0));
            ex.client_side(app, 1, out);
            ex.server_side(server, 1, out);
        }
        Kind::Dns => {
            let resolver = rng.pick(&w.resolvers);
            let mut ex = exchange(rng, window, 17, app.ip, (resolver.ip, 53));
            (ex.sent, ex.recv, ex.flags) =
                ((1, rng.range(70, 110)), (1, rng.range(90, 400)), (0, 0));
            ex.client_side(app, 1, out);
            ex.server_side(resolver, 1, out);
        }
        Kind::Ipv6 => {
            let site = *rng.pick(&w.sites6);
            exchange(rng, window, TCP, w.app6[app_index], (site, 443)).client_side(app, 8, out);
        }
        Kind::Icmp => {
            let monitor = &w.apps[0];
            let mut ex = exchange(rng, window, 1, monitor.ip, (app.ip, 0));
            (ex.cport, ex.sent, ex.recv, ex.flags) = (0, (4, 336), (4, 336), (0, 0));
            ex.client_side(monitor, 1, out);
            ex.server_side(app, 1, out);
        }
        Kind::Scan => {
            let target = if rng.chance(0.3) {
                rng.pick(&w.lbs)
            } else {
                app
            };
            let port = *rng.pick(&[22, 22, 23, 445, 3389, 5900, 6379, 8080]);
            let scanner = public_v4(rng);
            let mut ex = exchange(rng, window, TCP, scanner, (target.ip, port));
            (ex.cport, ex.sent, ex.flags, ex.accept) =
                (rng.range(1024, 65535) as u16, (1, 44), (2, 0), false);
            ex.server_side(target, 1, out);
        }
        Kind::RdpReject => {
            let mut ex = exchange(rng, window, TCP, app.ip, (v4(10, 20, 50, 9), 3389));
            (ex.sent, ex.flags, ex.accept) = ((3, 180), (2, 0), false);
            ex.client_side(app, 3, out);
        }
        Kind::OpsSsh => {
            // The benchmark's few would-be-blocked conversations: ops hosts SSH to the partner.
            let ops = &w.apps[app_index % 3];
            exchange(rng, window, TCP, ops.ip, (v4(10, 20, 40, 13), 22)).client_side(ops, 3, out);
        }
        Kind::NoData | Kind::SkipData => {
            let (eni, status) = match kind {
                Kind::NoData => (&rng.pick(&w.data).0, "NODATA"),
                _ => (rng.pick(&w.nats), "SKIPDATA"),
            };
            let start = window + rng.below(240) as i64;
            out.push(Record::control(eni, start, start + 59, status));
        }
    }
}
