//! The four policy sets of issue 21's scaling table, written for the bench archive of the same
//! seed (`bench`), so that benches/bench.sh can time how the check's cost grows with policies
//! and rules, and how its memory grows with failing policies:
//!
//! - `set-a-one`: one policy of three rules (the retailer's dedicated line): the light check.
//! - `set-b-suggested`: ten policies written by `flowgate suggest` itself from the archive's
//!   first day, each over one part of the VPC (the partner line, the data tier, the load
//!   balancers, app subnets, the internet widened to /16s, ...): long address lists, and mostly
//!   passing on the rest of the week. Needs the binary and the archive (`--flowgate`, `--logs`).
//! - `set-c-hosts`: one hundred single-host policies (databases, load balancers, resolvers,
//!   collectors, partner hosts, app hosts), each allowing what that host does: mostly passing.
//! - `set-d-drafts`: one hundred broad first drafts that allow a sliver of their scope (HTTP
//!   only where HTTPS flows, one database port of four, a host's inbound but not its egress),
//!   so most in-scope traffic would be blocked: on the 7-day archive they block about a
//!   million distinct conversations, the most in one policy under two hundred thousand.
//!
//! Every address comes from the archive's own world (`bench::World` of the same seed), and the
//! choices are drawn from the seed, so a seed gives byte-identical files. Like the rest of the
//! generator it does not use the flowgate library: the sets are TOML text, and set b is what
//! the `flowgate` binary's `suggest` prints.

use std::fmt::Write as _;
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::bench::World;
use crate::flowlog::{Format, DEFAULT_FORMAT};
use crate::rng::Rng;

pub struct SetsOpts {
    pub out: PathBuf,
    pub seed: u64,
    /// Unix time of the archive's first midnight (UTC): set b is suggested from that day.
    pub start: i64,
    pub app_port: u16,
    /// The flowgate binary whose `suggest` writes set b, and the archive (its `AWSLogs`
    /// directory or the directory holding it); set b is left out without them.
    pub suggest: Option<(PathBuf, PathBuf)>,
}

/// What was written: per set, its directory, policies and allow rules.
pub struct Written {
    pub sets: Vec<(String, usize, usize)>,
    pub skipped: Vec<String>,
}

/// The app subnets' /20s (see `bench::app_addresses`).
const APP_SUBNETS: [&str; 8] = [
    "10.0.16.0/20",
    "10.0.32.0/20",
    "10.0.48.0/20",
    "10.0.64.0/20",
    "10.0.80.0/20",
    "10.0.96.0/20",
    "10.0.112.0/20",
    "10.0.128.0/20",
];
/// The same addresses as four networks, as a reviewer writes "the app tier".
const APP_TIER: &str = r#"["10.0.16.0/20", "10.0.32.0/19", "10.0.64.0/18", "10.0.128.0/20"]"#;
const LB_NET: &str = "10.0.0.96/27";
const DATA_NET: &str = "10.0.9.0/24";
const OBS_NET: &str = "10.0.8.0/24";
const RESOLVER_NET: &str = "10.0.0.10/31";
const NAT_NET: &str = "10.0.0.48/28";
/// The first octets of the internet addresses the archive uses (`bench::public_v4`).
const PUBLIC_OCTETS: [u8; 15] = [
    3, 13, 18, 23, 34, 35, 44, 52, 54, 104, 142, 151, 162, 185, 199,
];
const DB_PORTS: &str = "[5432, 3306, 6379, 9200]";

/// A policy file being written: header, scope, rules.
struct Policy {
    name: String,
    text: String,
    rules: usize,
}

impl Policy {
    fn new(name: &str, description: &str, owner: &str, scope: &[(&str, String)]) -> Policy {
        let mut text = String::new();
        writeln!(
            text,
            "[policy]\nname = \"{name}\"\ndescription = \"{description}\""
        )
        .unwrap();
        writeln!(text, "owner = \"{owner}\"\n\n[scope]").unwrap();
        for (key, value) in scope {
            writeln!(text, "{key} = {value}").unwrap();
        }
        Policy {
            name: name.into(),
            text,
            rules: 0,
        }
    }

    /// One `[[allow]]` table; `keys` are TOML values already quoted.
    fn allow(mut self, name: &str, keys: &[(&str, String)]) -> Policy {
        writeln!(self.text, "\n[[allow]]\nname = \"{name}\"").unwrap();
        for (key, value) in keys {
            writeln!(self.text, "{key} = {value}").unwrap();
        }
        self.rules += 1;
        self
    }

    /// One `[[waive]]` table, valid until `expires`.
    fn waive(mut self, name: &str, keys: &[(&str, String)], reason: &str, expires: &str) -> Policy {
        writeln!(self.text, "\n[[waive]]\nname = \"{name}\"").unwrap();
        for (key, value) in keys {
            writeln!(self.text, "{key} = {value}").unwrap();
        }
        writeln!(self.text, "reason = \"{reason}\"\nexpires = {expires}").unwrap();
        self
    }

    /// Lets a policy whose rules are partly unused stay quiet about it.
    fn quiet(mut self) -> Policy {
        self.text
            .push_str("\n[evidence]\nunused_allow = \"ignore\"\n");
        self
    }
}

fn q(text: &str) -> String {
    format!("\"{text}\"")
}

fn ip(addr: IpAddr) -> String {
    format!("\"{addr}\"")
}

/// Writes the four sets under `opts.out` (each in a directory of its own, replaced whole).
pub fn write(opts: &SetsOpts) -> Result<Written> {
    let world = World::new(opts.seed, Format::parse(DEFAULT_FORMAT));
    let rng = &mut Rng::derive(opts.seed, &[30]);
    let mut written = Written {
        sets: Vec::new(),
        skipped: Vec::new(),
    };
    let sets = [
        ("set-a-one", one_policy()),
        ("set-c-hosts", single_hosts(&world, rng, opts.app_port)),
        ("set-d-drafts", drafts(rng, opts.app_port)),
    ];
    for (dir, policies) in sets {
        written
            .sets
            .push(write_set(&opts.out.join(dir), &policies)?);
    }
    match &opts.suggest {
        Some((flowgate, logs)) => {
            let policies = suggested(&world, opts.start, flowgate, logs)?;
            written
                .sets
                .push(write_set(&opts.out.join("set-b-suggested"), &policies)?);
        }
        None => written.skipped.push(
            "set-b-suggested: not written (it is `flowgate suggest`'s output: pass --flowgate \
             and --logs)"
                .into(),
        ),
    }
    written.sets.sort();
    Ok(written)
}

fn write_set(dir: &Path, policies: &[Policy]) -> Result<(String, usize, usize)> {
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (i, policy) in policies.iter().enumerate() {
        let path = dir.join(format!("{:03}-{}.toml", i + 1, policy.name));
        fs::write(&path, &policy.text).with_context(|| format!("writing {}", path.display()))?;
    }
    let rules = policies.iter().map(|p| p.rules).sum();
    Ok((dir.display().to_string(), policies.len(), rules))
}

/// Set a: the retailer's line, as the repository's policy says it plus the settlement API's
/// failover listeners: three rules, failing only on the archive's few ops SSH sessions.
fn one_policy() -> Vec<Policy> {
    let settlement = q("10.20.30.0/24");
    vec![Policy::new(
        "retail-dedicated-line",
        "The retailer blocks everything on the dedicated line but settlement and the batch",
        "retail-hub",
        &[("peer", q("10.20.0.0/16"))],
    )
    .allow(
        "settlement API",
        &[
            ("peer", settlement.clone()),
            ("protocol", q("tcp")),
            ("peer_port", "443".into()),
        ],
    )
    .allow(
        "settlement failover listeners",
        &[
            ("peer", settlement),
            ("protocol", q("tcp")),
            ("peer_port", q("8443-8444")),
        ],
    )
    .allow(
        "nightly reconciliation batch",
        &[
            ("peer", q("10.20.40.12")),
            ("protocol", q("tcp")),
            ("peer_port", "1433".into()),
        ],
    )
    .quiet()]
}

/// Set c: one policy per host, each allowing what its owner knows the host does. They pass
/// but for two hosts: the partner's SSH host, whose draft allows SQL only, and the first app
/// subnet's host that also runs the reconciliation batch, which its owner forgot.
fn single_hosts(world: &World, rng: &mut Rng, app_port: u16) -> Vec<Policy> {
    let mut out = Vec::new();
    for (i, (db, port)) in world.data.iter().enumerate() {
        out.push(
            Policy::new(
                &format!("db-{}", i + 1),
                "A database host answers the app tier on its port",
                "data-platform",
                &[("peer", ip(db.ip))],
            )
            .allow(
                "the database port from the app tier",
                &[
                    ("local", APP_TIER.into()),
                    ("protocol", q("tcp")),
                    ("peer_port", port.to_string()),
                ],
            )
            .allow(
                "ssh from the bastion subnet",
                &[
                    ("local", q("10.0.250.0/24")),
                    ("protocol", q("tcp")),
                    ("peer_port", "22".into()),
                ],
            )
            .allow("monitoring ping", &[("protocol", q("icmp"))])
            .quiet(),
        );
    }
    for (i, lb) in world.lbs.iter().enumerate() {
        out.push(
            Policy::new(
                &format!("lb-{}", i + 1),
                "A load balancer takes web traffic and forwards it to the app tier",
                "edge",
                &[("peer", ip(lb.ip))],
            )
            .allow(
                "web from anywhere",
                &[("protocol", q("tcp")), ("peer_port", "[443, 80]".into())],
            )
            .allow(
                "to the targets",
                &[
                    ("local", APP_TIER.into()),
                    ("protocol", q("tcp")),
                    ("local_port", app_port.to_string()),
                ],
            )
            .allow("health ping", &[("protocol", q("icmp"))])
            .quiet(),
        );
    }
    for (i, resolver) in world.resolvers.iter().enumerate() {
        out.push(
            Policy::new(
                &format!("resolver-{}", i + 1),
                "A VPC resolver serves DNS",
                "platform-network",
                &[("peer", ip(resolver.ip))],
            )
            .allow(
                "dns over udp",
                &[("protocol", q("udp")), ("peer_port", "53".into())],
            )
            .allow(
                "dns over tcp",
                &[("protocol", q("tcp")), ("peer_port", "53".into())],
            )
            .quiet(),
        );
    }
    for (i, nat) in world.nats.iter().enumerate() {
        out.push(
            Policy::new(
                &format!("nat-{}", i + 1),
                "A NAT gateway carries web egress only",
                "platform-network",
                &[("peer", ip(nat.ip))],
            )
            .allow(
                "web egress",
                &[("protocol", q("tcp")), ("local_port", "[443, 80]".into())],
            )
            .allow(
                "web from the app tier",
                &[
                    ("local", APP_TIER.into()),
                    ("protocol", q("tcp")),
                    ("peer_port", "[443, 80]".into()),
                ],
            ),
        );
    }
    for (i, collector) in world.collectors.iter().enumerate() {
        out.push(
            Policy::new(
                &format!("otel-collector-{}", i + 1),
                "An OpenTelemetry collector takes OTLP from the app tier",
                "observability",
                &[("peer", ip(collector.ip))],
            )
            .allow(
                "otlp grpc",
                &[
                    ("local", APP_TIER.into()),
                    ("protocol", q("tcp")),
                    ("peer_port", "4317".into()),
                ],
            ),
        );
    }
    for (i, statsd) in world.statsd.iter().enumerate() {
        out.push(
            Policy::new(
                &format!("statsd-{}", i + 1),
                "A statsd server takes metrics from the app tier",
                "observability",
                &[("peer", ip(statsd.ip))],
            )
            .allow(
                "statsd",
                &[
                    ("local", APP_TIER.into()),
                    ("protocol", q("udp")),
                    ("peer_port", "8125".into()),
                ],
            ),
        );
    }
    for host in 5..20 {
        out.push(
            Policy::new(
                &format!("settlement-{host}"),
                "A settlement host of the retailer serves the API",
                "retail-hub",
                &[("peer", q(&format!("10.20.30.{host}")))],
            )
            .allow(
                "settlement API",
                &[("protocol", q("tcp")), ("peer_port", "443".into())],
            )
            .allow(
                "failover listeners",
                &[("protocol", q("tcp")), ("peer_port", q("8443-8444"))],
            )
            .quiet(),
        );
    }
    for (host, owner) in [(12, "data-platform"), (13, "retail-hub")] {
        out.push(
            Policy::new(
                &format!("partner-sql-{host}"),
                "A partner SQL Server answers reconciliation",
                owner,
                &[("peer", q(&format!("10.20.40.{host}")))],
            )
            .allow(
                "reconciliation",
                &[
                    ("local", q(APP_SUBNETS[0])),
                    ("protocol", q("tcp")),
                    ("peer_port", "1433".into()),
                ],
            )
            .quiet(),
        );
    }
    // App hosts: 27 drawn from the tier, the batch host apps[1] among them (apps[0] pings
    // everyone, apps[0..3] are the ops hosts, apps[0..8] run the batch).
    let mut apps = vec![1usize];
    while apps.len() < 27 {
        let i = rng.range(8, world.apps.len() as u64 - 1) as usize;
        if !apps.contains(&i) {
            apps.push(i);
        }
    }
    apps.sort_unstable();
    for i in apps {
        out.push(app_host(world, i, app_port));
    }
    assert_eq!(out.len(), 100, "set c is one hundred policies");
    out
}

/// A single app host's policy: what the app tier does, as its owner lists it.
fn app_host(world: &World, i: usize, app_port: u16) -> Policy {
    Policy::new(
        &format!("app-{i}"),
        "An app host: requests from the load balancers, and what it calls",
        "app-team",
        &[("peer", ip(world.apps[i].ip))],
    )
    .allow(
        "requests from the load balancers",
        &[
            ("local", q(LB_NET)),
            ("protocol", q("tcp")),
            ("peer_port", app_port.to_string()),
        ],
    )
    .allow(
        "web egress and the settlement API",
        &[("protocol", q("tcp")), ("local_port", "[443, 80]".into())],
    )
    .allow(
        "the data tier",
        &[
            ("local", q(DATA_NET)),
            ("protocol", q("tcp")),
            ("local_port", DB_PORTS.into()),
        ],
    )
    .allow("telemetry and metrics", &[("local", q(OBS_NET))])
    .allow(
        "dns",
        &[
            ("local", q(RESOLVER_NET)),
            ("protocol", q("udp")),
            ("local_port", "53".into()),
        ],
    )
    .allow("monitoring ping", &[("protocol", q("icmp"))])
}

/// Set d: first drafts that allow a sliver of a broad scope. Most of what they see would be
/// blocked, which is what a first draft of a real block looks like, and what makes the check
/// keep a tally of conversations per failing policy. On the 7-day archive the internet drafts
/// hold most of the blocked conversations (every inbound client is a new one, about 90
/// thousand a week per /8), the largest the draft over two /8s.
fn drafts(rng: &mut Rng, app_port: u16) -> Vec<Policy> {
    let mut out = Vec::new();
    // The internet (5 drafts over 6 /8s): "HTTPS moves to the CDN, only plain HTTP stays
    // here". Blocks the inbound HTTPS of every client there and the app tier's HTTPS to its
    // sites; the NAT gateways' side of that egress is waived until the year's end.
    for octets in [&[3u8, 13][..], &[52], &[104], &[151], &[185]] {
        let name = octets
            .iter()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join("-");
        let nets: Vec<String> = octets.iter().map(|o| q(&format!("{o}.0.0.0/8"))).collect();
        out.push(
            Policy::new(
                &format!("internet-{name}-http-only"),
                "Draft: HTTPS to and from these addresses moves to the CDN",
                "edge",
                &[("peer", format!("[{}]", nets.join(", ")))],
            )
            .allow(
                "plain http in",
                &[("protocol", q("tcp")), ("local_port", "80".into())],
            )
            .allow(
                "plain http out",
                &[("protocol", q("tcp")), ("peer_port", "80".into())],
            )
            .allow(
                "quic out",
                &[("protocol", q("udp")), ("peer_port", "443".into())],
            )
            .waive(
                "the NAT gateways until the CDN is live",
                &[("local", q(NAT_NET)), ("protocol", q("tcp"))],
                "NET-2001: the CDN cut-over is planned for December",
                "2026-12-31",
            )
            .quiet(),
        );
    }
    // The data tier by engine (4): each draft allows one engine's port of the four.
    for (engine, port) in [
        ("postgres", 5432),
        ("mysql", 3306),
        ("redis", 6379),
        ("opensearch", 9200),
    ] {
        out.push(
            Policy::new(
                &format!("data-tier-{engine}-only"),
                "Draft: the data tier serves one engine",
                "data-platform",
                &[("peer", q(DATA_NET)), ("local", APP_TIER.into())],
            )
            .allow(
                engine,
                &[("protocol", q("tcp")), ("peer_port", port.to_string())],
            )
            .allow("monitoring ping", &[("protocol", q("icmp"))])
            .quiet(),
        );
    }
    // The load balancers' targets (2): "targets on 8443 only", before the port moved.
    for (half, net) in ["10.0.0.96/29", "10.0.0.104/29"].iter().enumerate() {
        out.push(
            Policy::new(
                &format!("lb-targets-{}", half + 1),
                "Draft: the load balancers reach their targets on 8443",
                "edge",
                &[("src", q(net)), ("dst", APP_TIER.into())],
            )
            .allow(
                "targets on 8443",
                &[("protocol", q("tcp")), ("dst_port", "8443".into())],
            )
            .allow(
                "health checks",
                &[("protocol", q("tcp")), ("dst_port", "8081".into())],
            )
            .quiet(),
        );
    }
    // IPv6 to the CDNs (2): QUIC only.
    for (name, net) in [("cdn-a", "2a02:cf40::/32"), ("cdn-b", "2606:4700::/32")] {
        out.push(
            Policy::new(
                &format!("ipv6-{name}-quic-only"),
                "Draft: the app tier reaches the CDN over QUIC only",
                "platform-network",
                &[("peer", q(net))],
            )
            .allow(
                "quic",
                &[("protocol", q("udp")), ("peer_port", "443".into())],
            )
            .allow(
                "http",
                &[("protocol", q("tcp")), ("peer_port", "80".into())],
            )
            .quiet(),
        );
    }
    // The partner line (2): settlement only, and settlement on the new port only.
    out.push(
        Policy::new(
            "partner-line-settlement-only",
            "Draft: the line carries settlement only",
            "retail-hub",
            &[("peer", q("10.20.0.0/16"))],
        )
        .allow(
            "settlement",
            &[
                ("peer", q("10.20.30.0/24")),
                ("protocol", q("tcp")),
                ("peer_port", "443".into()),
            ],
        ),
    );
    out.push(
        Policy::new(
            "partner-line-new-port",
            "Draft: settlement moves to 8443",
            "retail-hub",
            &[("peer", q("10.20.30.0/24"))],
        )
        .allow(
            "settlement on 8443",
            &[("protocol", q("tcp")), ("peer_port", "8443".into())],
        ),
    );
    // Shared services (5): one protocol or port of the service's two.
    let services = [
        ("resolvers-tcp-only", RESOLVER_NET, "tcp", "53"),
        ("collectors-otlp-http-only", "10.0.8.8/29", "tcp", "4318"),
        ("statsd-tcp-only", "10.0.8.16/29", "tcp", "8125"),
        ("observability-otlp-only", OBS_NET, "tcp", "4317"),
        ("nat-http-only", NAT_NET, "tcp", "80"),
    ];
    for (name, net, protocol, port) in services {
        out.push(
            Policy::new(
                name,
                "Draft: the service answers one protocol and port",
                "platform-network",
                &[("peer", q(net)), ("local", APP_TIER.into())],
            )
            .allow(
                "the service",
                &[("protocol", q(protocol)), ("peer_port", port.into())],
            )
            .allow("monitoring ping", &[("protocol", q("icmp"))])
            .quiet(),
        );
    }
    // App /24s (the rest, 80): "the hosts take requests and call nothing". Blocks each host's
    // calls. The app subnets' 128 /24s (10.0.16.0 to 10.0.143.0) drawn without repeats.
    let mut nets = Vec::new();
    while out.len() + nets.len() < 100 {
        let third = rng.range(16, 143) as u8;
        if !nets.contains(&third) {
            nets.push(third);
        }
    }
    nets.sort_unstable();
    for third in nets {
        out.push(
            Policy::new(
                &format!("apps-10-0-{third}-inbound-only"),
                "Draft: the hosts take requests from the load balancers and call nothing",
                "app-team",
                &[("peer", q(&format!("10.0.{third}.0/24")))],
            )
            .allow(
                "requests from the load balancers",
                &[
                    ("local", q(LB_NET)),
                    ("protocol", q("tcp")),
                    ("peer_port", app_port.to_string()),
                ],
            )
            .allow(
                "requests on the new port",
                &[
                    ("local", q(LB_NET)),
                    ("protocol", q("tcp")),
                    ("peer_port", "8443".into()),
                ],
            )
            .allow(
                "ssh from the bastion subnet",
                &[
                    ("local", q("10.0.250.0/24")),
                    ("protocol", q("tcp")),
                    ("peer_port", "22".into()),
                ],
            )
            .allow("monitoring ping", &[("protocol", q("icmp"))])
            .allow(
                "dns",
                &[("protocol", q("udp")), ("local_port", "53".into())],
            )
            .quiet(),
        );
    }
    out
}

/// Set b: what `flowgate suggest` writes from the archive's first day for ten parts of the
/// VPC, one policy each (a reviewer's starting point, checked against the whole week).
fn suggested(world: &World, start: i64, flowgate: &Path, logs: &Path) -> Result<Vec<Policy>> {
    // The first day's directory of the archive (S3 key layout: .../YYYY/MM/DD/).
    let day = world.log.key(start, "-");
    let day = day.parent().expect("a key has a directory");
    let base = if logs.ends_with("AWSLogs") {
        logs.parent().unwrap_or(logs)
    } else {
        logs
    };
    let day_logs = base.join(day);
    if !day_logs.is_dir() {
        bail!(
            "{} is not a directory: --logs must be the bench archive of the same seed and start",
            day_logs.display()
        );
    }
    let public: Vec<String> = PUBLIC_OCTETS
        .iter()
        .map(|o| format!("{o}.0.0.0/8"))
        .collect();
    let parts: [(&str, Vec<String>, &[&str]); 10] = [
        ("partner-line", vec!["10.20.0.0/16".into()], &[]),
        ("data-tier", vec![DATA_NET.into()], &[]),
        ("load-balancers", vec![LB_NET.into()], &[]),
        ("resolvers-and-nat", vec!["10.0.0.0/26".into()], &[]),
        ("observability", vec![OBS_NET.into()], &[]),
        ("app-subnet-1", vec![APP_SUBNETS[0].into()], &[]),
        ("app-subnet-2", vec![APP_SUBNETS[1].into()], &[]),
        ("app-subnet-3", vec![APP_SUBNETS[2].into()], &[]),
        (
            "ipv6-cdns",
            vec!["2a02:cf40::/32".into(), "2606:4700::/32".into()],
            &["--widen6", "/64"],
        ),
        ("internet", public, &["--widen", "/16"]),
    ];
    let mut out = Vec::new();
    for (name, peers, extra) in parts {
        let mut cmd = Command::new(flowgate);
        cmd.arg("suggest").arg("--logs").arg(&day_logs);
        cmd.arg("--name").arg(name).arg("--scope-peer").args(&peers);
        cmd.args(extra);
        let output = cmd
            .output()
            .with_context(|| format!("running {}", flowgate.display()))?;
        if !output.status.success() {
            bail!(
                "flowgate suggest for {name} failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let text = String::from_utf8(output.stdout).context("suggest printed non-UTF-8")?;
        let rules = text.lines().filter(|l| *l == "[[allow]]").count();
        if rules == 0 {
            bail!("flowgate suggest wrote no rule for {name}: is --logs the bench archive?");
        }
        out.push(Policy {
            name: name.into(),
            text,
            rules,
        });
    }
    Ok(out)
}
