//! The seed scenario behind `fixtures/`: an application VPC (10.0.0.0/16) reaches a retailer
//! (10.20.0.0/16) over a dedicated line, and the retailer will block everything but
//! 10.20.30.0/24. Three days of hourly samples hold the everyday traffic (settlement API, DNS,
//! internet through a NAT gateway, IPv6, the database) and the few things a check must notice:
//! one forgotten batch job to 10.20.40.12:1433, a connection attempt the line already rejects,
//! port scans, NODATA and SKIPDATA. A second, unrelated flow log in the default format and a
//! three-dash region makes the sample mix formats. Scripted events sit at fixed hours so tests
//! can name them; everything else is drawn from the seed.

use std::io;
use std::net::IpAddr;
use std::path::Path;

use crate::flowlog::DEFAULT_FORMAT;
use crate::flowlog::{aws_id, v4, v6, Archive, Eni, Exchange, FlowLog, Format, Record, Stats};
use crate::rng::Rng;

const MAIN_FORMAT: &str = "version account-id interface-id srcaddr dstaddr srcport dstport \
     protocol packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags \
     type pkt-srcaddr pkt-dstaddr flow-direction traffic-path";

/// 2026-11-02T00:00:00Z; the main flow log covers three days from here.
const FIRST_DAY: i64 = 1_793_577_600;
const DAYS: i64 = 3;
/// (day index, hour) of the scripted events.
const BATCH_JOB: (i64, i64) = (1, 2);
const RDP_REJECTS: [(i64, i64); 2] = [(0, 15), (2, 10)];
const SKIPDATA: [(i64, i64); 2] = [(0, 19), (2, 7)];
/// Hours of 2026-11-03 sampled from the second flow log.
const GOV_HOURS: std::ops::RangeInclusive<i64> = 13..=16;

const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;

/// The interfaces of both flow logs. Ids come from the seed, addresses are fixed.
struct World {
    main: FlowLog,
    apps: Vec<Eni>,
    app6: Vec<IpAddr>,
    batch: Eni,
    resolver: Eni,
    nat: Eni,
    db: Eni,
    gov: FlowLog,
    gov_web: Vec<Eni>,
    gov_app: Eni,
    gov_db: Eni,
    gov_monitor: Eni,
}

impl World {
    fn new(seed: u64) -> World {
        let rng = &mut Rng::derive(seed, &[1]);
        let [public, app, batch, data] = [(); 4].map(|_| aws_id(rng, "subnet"));
        let main = FlowLog {
            account: "111122223333".into(),
            region: "eu-west-1".into(),
            id: aws_id(rng, "fl"),
            vpc: "vpc-0a1b2c3d4e5f60718".into(),
            format: Format::parse(MAIN_FORMAT),
        };
        let apps = (10..=40)
            .map(|d| Eni::new(rng, v4(10, 0, 1, d), &app, true))
            .collect();
        // Dual-stack app subnet from the region's Amazon IPv6 pool; the last group reads like
        // the IPv4 host number (10.0.1.21 has ...:4b1:21).
        let app6 = (10..=40).map(|d| v6(&format!("2a05:d018:c1a:7e01::4b1:{d}")));
        let app6 = app6.collect();
        let gov_subnets = [(); 4].map(|_| aws_id(rng, "subnet"));
        let gov = FlowLog {
            account: "444455556666".into(),
            region: "us-gov-east-1".into(),
            id: aws_id(rng, "fl"),
            vpc: aws_id(rng, "vpc"),
            format: Format::parse(DEFAULT_FORMAT),
        };
        World {
            main,
            apps,
            app6,
            batch: Eni::new(rng, v4(10, 0, 2, 15), &batch, true),
            resolver: Eni::new(rng, v4(10, 0, 0, 10), &public, true),
            nat: Eni::new(rng, v4(10, 0, 0, 50), &public, false),
            db: Eni::new(rng, v4(10, 0, 3, 20), &data, false),
            gov,
            gov_web: (11..=14)
                .map(|d| Eni::new(rng, v4(10, 50, 1, d), &gov_subnets[1], true))
                .collect(),
            gov_app: Eni::new(rng, v4(10, 50, 2, 30), &gov_subnets[2], true),
            gov_db: Eni::new(rng, v4(10, 50, 3, 10), &gov_subnets[3], false),
            gov_monitor: Eni::new(rng, v4(10, 50, 0, 5), &gov_subnets[0], true),
        }
    }
}

/// Writes every archive of the scenario under `out`.
pub fn write(out: &Path, seed: u64) -> io::Result<Stats> {
    let world = World::new(seed);
    let mut stats = Stats::default();
    for day in 0..DAYS {
        for hour in 0..24 {
            let rng = &mut Rng::derive(seed, &[2, day as u64, hour as u64]);
            // One 5-minute file kept per hour, at :05..:50 so no record leaks into the hour before.
            let minute = if (day, hour) == BATCH_JOB {
                10
            } else {
                5 * rng.range(1, 10) as i64
            };
            let window = FIRST_DAY + day * 86_400 + hour * 3_600 + minute * 60;
            let records = main_hour(&world, rng, (day, hour), window);
            stats += write_archive(out, &world.main, rng, window, records)?;
        }
    }
    for hour in GOV_HOURS {
        let rng = &mut Rng::derive(seed, &[3, hour as u64]);
        let window = FIRST_DAY + 86_400 + hour * 3_600 + 5 * rng.range(0, 11) as i64 * 60;
        let records = gov_hour(&world, rng, window);
        stats += write_archive(out, &world.gov, rng, window, records)?;
    }
    Ok(stats)
}

fn write_archive(
    out: &Path,
    log: &FlowLog,
    rng: &mut Rng,
    window: i64,
    mut records: Vec<Record>,
) -> io::Result<Stats> {
    records.sort_by_key(|r| r.start);
    let mut archive = Archive::create(out, None, log, window, &rng.hex(8))?;
    for record in &records {
        archive.push(record)?;
    }
    archive.finish()
}

/// One sampled 5-minute window of the main flow log.
fn main_hour<'w>(w: &'w World, rng: &mut Rng, at: (i64, i64), window: i64) -> Vec<Record<'w>> {
    let mut out = Vec::new();
    settlement(w, rng, window, &mut out);
    dns(w, rng, window, &mut out);
    internet_via_nat(w, rng, window, &mut out);
    ipv6_internet(w, rng, window, &mut out);
    database(w, rng, window, &mut out);
    port_scans(w, rng, window, &mut out);
    if at == BATCH_JOB {
        batch_job(w, rng, window, &mut out);
    } else {
        // The batch host idles between runs: its interface reports NODATA.
        let start = window + rng.below(240) as i64;
        out.push(Record::control(&w.batch, start, start + 59, "NODATA"));
    }
    if RDP_REJECTS.contains(&at) {
        rdp_to_retailer(w, rng, window, &mut out);
    }
    if SKIPDATA.contains(&at) {
        let start = window + rng.below(240) as i64;
        out.push(Record::control(&w.nat, start, start + 59, "SKIPDATA"));
    }
    out
}

/// A template exchange at a random moment of the window; `spread` turns it into intervals.
fn exchange(
    rng: &mut Rng,
    window: i64,
    proto: u8,
    client: IpAddr,
    server: (IpAddr, u16),
) -> Exchange {
    let start = window + rng.below(100) as i64;
    Exchange {
        client,
        server: server.0,
        cport: if proto == ICMP {
            0
        } else {
            rng.ephemeral_port()
        },
        sport: server.1,
        proto,
        start,
        end: start + rng.range(1, 58) as i64,
        sent: (1, 64),
        recv: (1, 64),
        flags: (0, 0),
        accept: true,
        skew: rng.below(3) as i64,
    }
}

/// Packets and bytes for one direction of one interval.
fn volume(rng: &mut Rng, max_packets: u64, max_size: u64) -> (u64, u64) {
    let packets = rng.range(1, max_packets);
    (packets, packets * rng.range(52, max_size))
}

/// A TCP connection seen over `n` consecutive 60-second aggregation intervals. The interval
/// holding the handshake shows SYN (2) and SYN-ACK (18), the one holding the close adds FIN (1),
/// intervals in between show 0 (ACK-only traffic is reported as 0).
fn spread(rng: &mut Rng, base: Exchange, n: i64, opens: bool, closes: bool) -> Vec<Exchange> {
    (0..n)
        .map(|i| {
            let first = opens && i == 0;
            let last = closes && i == n - 1;
            let start = base.start + 60 * i;
            let fin = u8::from(last);
            Exchange {
                start,
                end: start + rng.range(20, 58) as i64,
                sent: volume(rng, 40, 900),
                recv: volume(rng, 60, 1400),
                flags: (
                    if first { 2 } else { 0 } | fin,
                    if first { 18 } else { 0 } | fin,
                ),
                ..base
            }
        })
        .collect()
}

/// App hosts calling the retailer's settlement API over the dedicated line (traffic-path 3):
/// short calls, new keep-alive connections and connections already open before the window.
fn settlement<'w>(w: &'w World, rng: &mut Rng, window: i64, out: &mut Vec<Record<'w>>) {
    let servers = [v4(10, 20, 30, 5), v4(10, 20, 30, 6)];
    for _ in 0..rng.range(3, 6) {
        let host = rng.below(w.apps.len() as u64) as usize;
        let server = *rng.pick(&servers);
        let base = exchange(rng, window, TCP, w.apps[host].ip, (server, 443));
        let (n, opens, closes) = *rng.pick(&[
            (1, true, true),
            (2, true, false),
            (3, true, true),
            (2, false, false),
        ]);
        for ex in spread(rng, base, n, opens, closes) {
            ex.client_side(&w.apps[host], 3, out);
        }
    }
}

/// Lookups to the VPC's own resolver at 10.0.0.10 (queries to the Amazon resolver at .2 are never
/// logged, so a realistic sample shows the self-managed one). Both interfaces log the exchange.
fn dns<'w>(w: &'w World, rng: &mut Rng, window: i64, out: &mut Vec<Record<'w>>) {
    for _ in 0..rng.range(2, 3) {
        let host = rng.pick(&w.apps);
        let mut ex = exchange(rng, window, UDP, host.ip, (w.resolver.ip, 53));
        ex.sent = (1, rng.range(70, 110));
        ex.recv = (1, rng.range(90, 320));
        ex.client_side(host, 1, out);
        ex.server_side(&w.resolver, 1, out);
    }
}

/// Outbound HTTPS through the NAT gateway: two records on the instance, four on the gateway.
fn internet_via_nat<'w>(w: &'w World, rng: &mut Rng, window: i64, out: &mut Vec<Record<'w>>) {
    let sites = [
        v4(142, 250, 185, 91),
        v4(151, 101, 2, 132),
        v4(104, 18, 32, 7),
    ];
    for _ in 0..rng.range(1, 2) {
        let host = if rng.chance(0.5) {
            &w.apps[2]
        } else {
            rng.pick(&w.apps)
        };
        let site = *rng.pick(&sites);
        let base = exchange(rng, window, TCP, host.ip, (site, 443));
        let nat_port = rng.range(1024, 65535) as u16;
        for ex in spread(rng, base, 1, true, true) {
            ex.client_side(host, 1, out);
            ex.nat_side(&w.nat, nat_port, out);
        }
    }
}

/// IPv6 straight to the internet through the egress-only gateway (traffic-path 8 on Nitro).
fn ipv6_internet<'w>(w: &'w World, rng: &mut Rng, window: i64, out: &mut Vec<Record<'w>>) {
    let sites = [
        v6("2a02:cf40::1"),
        v6("2a02:cf40:1:4::53"),
        v6("2a02:cf40:a0:0:be1::2b"),
    ];
    for _ in 0..rng.range(0, 2) {
        let host = rng.below(w.apps.len() as u64) as usize;
        let site = *rng.pick(&sites);
        let base = exchange(rng, window, TCP, w.app6[host], (site, 443));
        for ex in spread(rng, base, 1, true, true) {
            ex.client_side(&w.apps[host], 8, out);
        }
    }
}

/// Pooled PostgreSQL connections to the RDS interface: both ends are in the VPC.
fn database<'w>(w: &'w World, rng: &mut Rng, window: i64, out: &mut Vec<Record<'w>>) {
    for _ in 0..rng.range(1, 2) {
        let host = rng.pick(&w.apps);
        let base = exchange(rng, window, TCP, host.ip, (w.db.ip, 5432));
        let intervals = rng.range(1, 3) as i64;
        for ex in spread(rng, base, intervals, false, false) {
            ex.client_side(host, 1, out);
            ex.server_side(&w.db, 1, out);
        }
    }
}

/// SYN scans from the internet against SSH on the app hosts, rejected by the security group.
fn port_scans<'w>(w: &'w World, rng: &mut Rng, window: i64, out: &mut Vec<Record<'w>>) {
    if !rng.chance(0.35) {
        return;
    }
    let scanners = [
        v4(45, 155, 205, 233),
        v4(185, 224, 128, 17),
        v4(193, 163, 125, 40),
    ];
    let scanner = *rng.pick(&scanners);
    for _ in 0..rng.range(1, 3) {
        let host = rng.pick(&w.apps);
        let mut ex = exchange(rng, window, TCP, scanner, (host.ip, 22));
        ex.cport = rng.range(1024, 65535) as u16;
        (ex.sent, ex.flags, ex.accept) = ((1, 44), (2, 0), false);
        ex.server_side(host, 1, out);
    }
}

/// An operator's RDP attempt to 10.20.50.9: the outbound rule already rejects it.
fn rdp_to_retailer<'w>(w: &'w World, rng: &mut Rng, window: i64, out: &mut Vec<Record<'w>>) {
    let host = &w.apps[13]; // 10.0.1.23
    let mut ex = exchange(rng, window, TCP, host.ip, (v4(10, 20, 50, 9), 3389));
    (ex.sent, ex.flags, ex.accept) = ((3, 180), (2, 0), false);
    ex.client_side(host, 3, out);
}

/// The nightly reconciliation batch that the network specification forgot: one long and one
/// short connection from 10.0.2.15 to the retailer's SQL Server, once in three days.
fn batch_job<'w>(w: &'w World, rng: &mut Rng, window: i64, out: &mut Vec<Record<'w>>) {
    let sql = (v4(10, 20, 40, 12), 1433);
    let long = exchange(rng, window, TCP, w.batch.ip, sql);
    let mut short = exchange(rng, window, TCP, w.batch.ip, sql);
    short.start += 120;
    let exchanges = spread(rng, long, 3, true, true)
        .into_iter()
        .chain(spread(rng, short, 1, true, true));
    for mut ex in exchanges {
        // Result sets are large: full-size segments.
        let packets = rng.range(800, 2400);
        ex.recv = (packets, packets * rng.range(1300, 1448));
        ex.client_side(&w.batch, 3, out);
    }
}

/// One sampled window of the second flow log: a web tier, an app server and MySQL in
/// 10.50.0.0/16, plus the monitoring host's pings, every exchange logged at both ends.
fn gov_hour<'w>(w: &'w World, rng: &mut Rng, window: i64) -> Vec<Record<'w>> {
    let mut out = Vec::new();
    let calls = [(&w.gov_app, 8080, 3, 5), (&w.gov_db, 3306, 1, 3)];
    for (server, port, lo, hi) in calls {
        for _ in 0..rng.range(lo, hi) {
            let client = if port == 8080 {
                rng.pick(&w.gov_web)
            } else {
                &w.gov_app
            };
            let base = exchange(rng, window, TCP, client.ip, (server.ip, port));
            for ex in spread(rng, base, 1, true, true) {
                ex.client_side(client, 1, &mut out);
                ex.server_side(server, 1, &mut out);
            }
        }
    }
    for _ in 0..rng.range(1, 2) {
        let target = rng.pick(&w.gov_web);
        let ex = exchange(rng, window, ICMP, w.gov_monitor.ip, (target.ip, 0));
        ex.client_side(&w.gov_monitor, 1, &mut out);
        ex.server_side(target, 1, &mut out);
    }
    if rng.chance(0.5) {
        let start = window + rng.below(240) as i64;
        out.push(Record::control(&w.gov_db, start, start + 59, "NODATA"));
    }
    out
}
