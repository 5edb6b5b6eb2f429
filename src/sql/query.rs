//! The query's stages, the same in every dialect: from the table's text to the rows of
//! [`rows`](super::rows), in one chain that reads the table once.
//!
//! ```text
//! fg_raw       the table's columns as text: `-` and '' are NULL, whatever the engine
//! fg_a1..a3    addresses: IPv4 to an integer (split_part arithmetic); IPv6 (an embedded
//!              IPv4 tail included) split at `::` and refilled to eight groups
//! fg_rec       typed values, 32 hex digits per IPv6 address, the record's problem flag (a
//!              value its field cannot hold) and window flag (--since/--until)
//! fg_peer      per policy: which end is the peer (a scope with `peer`)
//! fg_match     per policy: scope, allow rules, waivers, as 0/1
//! fg_verdict   per policy: verdict code (0 out of scope, 1 already rejected, 2 allowed,
//!              3 waived, 4 would be blocked; NULL not judged), first expired waiver
//! fg_fact      each record as the facts it adds to: its object, its interface, its minutes,
//!              each policy's verdict, each rule it hits, each conversation it would block
//! fg_l1        the facts grouped by what they count (one GROUP BY)
//! fg_l2        the run, formats, accounts, regions and policies summed over them
//!              (GROUPING SETS over the small first level)
//! fg_w1..w3    covered minutes merged into runs; problem objects numbered
//! ```
//!
//! Every stage is used by the next one only, so an engine that does not keep a stage's
//! result (Trino and Spark inline CTEs) still reads the table once and plans each stage once.
//! A record is judged exactly as `Policy::judge` judges it: the scope's conditions, then the
//! action, then every allow rule (each match a hit), then the waivers live on the compiled
//! date (any match waives; expired ones only name themselves).

use crate::flowlog::Field;
use crate::policy::{Addresses, Policy, PolicySet};

use super::predicate::{self, Ends};
use super::rows::{self, Kind, Type, COLUMNS, PROBLEM_OBJECTS};
use super::server;
use super::{fingerprint, Flavor, QueryOptions};

mod records;

/// The dotted quad as the reader takes it: four numbers 0-255, no leading zeros.
const V4: &str = "^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])[.](25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])[.](25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])[.](25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])$";
/// Eight groups of one to four hex digits: an IPv6 address once `::` is refilled.
const V6_FULL: &str = "^([0-9a-f]{1,4}:){7}[0-9a-f]{1,4}$";
/// A decimal number as the reader takes it: digits only (leading zeros allowed).
const DIGITS: &str = "^[0-9]{1,20}$";

/// The address columns of the table, with the prefix of their stage columns.
const ADDRESSES: [(Field, &str); 4] = [
    (Field::SrcAddr, "s"),
    (Field::DstAddr, "d"),
    (Field::PktSrcAddr, "ps"),
    (Field::PktDstAddr, "pd"),
];

/// Numeric fields: table column, stage column, largest value the reader takes.
const NUMBERS: [(Field, &str, u64); 9] = [
    (Field::Version, "ver", 255),
    (Field::SrcPort, "sp", 65535),
    (Field::DstPort, "dp", 65535),
    (Field::Protocol, "proto", 255),
    (Field::Packets, "pk", i64::MAX as u64),
    (Field::Bytes, "byt", i64::MAX as u64),
    (Field::Start, "ts", i64::MAX as u64),
    (Field::End, "te", i64::MAX as u64),
    (Field::TcpFlags, "tflags", 255),
];

/// Word fields: table column, stage column, the words the reader takes.
const WORDS: [(Field, &str, &[&str]); 3] = [
    (Field::Action, "act", &["ACCEPT", "REJECT"]),
    (Field::LogStatus, "lst", &["OK", "NODATA", "SKIPDATA"]),
    (Field::FlowDirection, "dir", &["ingress", "egress"]),
];

/// Id fields, carried as text: table column, stage column.
const IDS: [(Field, &str); 4] = [
    (Field::InterfaceId, "iface"),
    (Field::VpcId, "vpc"),
    (Field::SubnetId, "subnet"),
    (Field::InstanceId, "inst"),
];

/// Every field the query reads: what a table for it must have as columns (see `ddl`).
pub(crate) fn table_fields() -> Vec<Field> {
    let mut out: Vec<Field> = ADDRESSES.iter().map(|a| a.0).collect();
    out.extend(NUMBERS.iter().map(|n| n.0));
    out.extend(WORDS.iter().map(|w| w.0));
    out.extend(IDS.iter().map(|i| i.0));
    out.sort();
    out
}

/// A field's column name in a table: AWS's name with `_` for `-`, as Athena and AWS's
/// Parquet objects spell it.
pub(crate) fn column_name(field: Field) -> String {
    field.name().replace('-', "_")
}

/// The column of the view holding the object (file) a row came from.
pub(crate) const OBJECT_COLUMN: &str = "flowgate_object";
/// The column of the view holding the object's field list (its header line).
pub(crate) const FORMAT_COLUMN: &str = "flowgate_format";

/// The columns of `fg_l1` that the stages after the server's read.
const LEVEL_1_KEPT: [&str; 20] = [
    "kind", "pol", "val", "ka", "kb", "kc", "n1", "n2", "cnt", "recs", "bads", "oks", "nods",
    "skds", "pks", "byts", "t1", "t2", "ex", "xw",
];

/// What a fact counts. A fact is one bigint: kind, policy and a value packed as
/// `kind << 40 | policy << 20 | value`, so one array per record carries them all.
#[derive(Clone, Copy)]
enum Fact {
    /// The record's object (every row, problems too).
    Object = 1,
    /// The record's interface.
    Interface = 2,
    /// The record's minutes (value 1: its span or first end; 2: the last end of a span
    /// over an hour).
    Span = 3,
    /// A policy's verdict (value: the verdict code).
    Verdict = 4,
    /// An allow rule's hit (value: the rule).
    Allow = 5,
    /// A waiver's hit (value: the waiver).
    Waiver = 6,
    /// A would-be-blocked record, once per end that evidence must judge (value: its first
    /// expired waiver + 1, or 0, times two, plus 0 for the src end and 1 for the dst end).
    Blocked = 7,
    /// An end of an OK record, as evidence of who is the server (value: 0 src, 1 dst).
    End = 8,
}

const POLICY_SHIFT: u64 = 1 << 20;
const KIND_SHIFT: u64 = 1 << 40;

fn fact(kind: Fact, policy: usize, value: usize) -> u64 {
    kind as u64 * KIND_SHIFT + policy as u64 * POLICY_SHIFT + value as u64
}

struct Q<'a> {
    f: &'a dyn Flavor,
    policies: &'a [Policy],
    options: &'a QueryOptions,
}

/// Compiles the query.
pub(crate) fn compile(set: &PolicySet, options: &QueryOptions) -> String {
    let q = Q {
        f: options.dialect.flavor(),
        policies: set.policies(),
        options,
    };
    let fingerprint = fingerprint(set, options.today, options.since, options.until);
    let mut out = q.header(set, &fingerprint);
    out.push_str("WITH\n");
    let stages = [
        ("fg_raw", q.raw()),
        ("fg_a1", q.addresses_1()),
        ("fg_a2", q.addresses_2()),
        ("fg_a3", q.addresses_3()),
        ("fg_rec", q.rec()),
        ("fg_peer", q.peer()),
        ("fg_match", q.matches()),
        ("fg_verdict", q.verdict()),
        ("fg_fact", q.facts()),
        ("fg_l1", q.level_1()),
    ];
    let server = server::stages(q.f, Fact::End as u64, Fact::Blocked as u64, &LEVEL_1_KEPT);
    let after = [
        ("fg_l2", q.level_2()),
        ("fg_w1", q.window_1()),
        ("fg_w2", q.window_2()),
        ("fg_w3", q.window_3()),
    ];
    for (name, body) in stages.into_iter().chain(server).chain(after) {
        out.push_str(&format!("{name} AS (\n{body}\n),\n"));
    }
    out.push_str(&format!("fg_rows AS (\n{}\n)\n", q.rows(&fingerprint)));
    out.push_str(&q.ordered());
    out
}

impl Q<'_> {
    fn header(&self, set: &PolicySet, fingerprint: &str) -> String {
        let o = self.options;
        let mut h = format!(
            "-- flowgate {}: the check of {} polic{} as one query ({}, row layout {}).\n",
            env!("CARGO_PKG_VERSION"),
            self.policies.len(),
            if self.policies.len() == 1 { "y" } else { "ies" },
            o.dialect,
            rows::LAYOUT
        );
        h.push_str(&format!(
            "-- fingerprint {fingerprint}, waivers judged on {}",
            o.today
        ));
        if let Some(s) = o.since {
            h.push_str(&format!(", since {}", crate::text::rfc3339(s)));
        }
        if let Some(u) = o.until {
            h.push_str(&format!(", until {}", crate::text::rfc3339(u)));
        }
        h.push_str(".\n");
        for (i, p) in self.policies.iter().enumerate() {
            let path = set.files().path(p.file).display().to_string();
            h.push_str(&format!(
                "-- policy {i}: {} ({})\n",
                comment(&p.name),
                comment(&path)
            ));
        }
        h.push_str(&format!(
            "-- Reads {} (flowgate sql --ddl --dialect {} creates it). Export every row with a\n\
             -- header (CSV) or as JSON lines, then: flowgate check --sql-results FILE, with the\n\
             -- same policies.\n",
            o.table, o.dialect
        ));
        h
    }

    fn text(&self, expr: &str) -> String {
        format!("CAST({expr} AS {})", self.f.text_type())
    }

    fn bigint(&self, expr: &str) -> String {
        format!("TRY_CAST({expr} AS bigint)")
    }

    fn select(&self, cols: &[String], from: &str) -> String {
        format!("  SELECT\n    {}\n  FROM {from}", cols.join(",\n    "))
    }

    /// The (IPv4, IPv6, key) columns of a policy's src and dst: interface addresses, or
    /// packet addresses each falling back to its interface address.
    fn endpoint_columns(&self, i: usize) -> [&'static str; 6] {
        match self.policies[i].scope.addresses {
            Addresses::Interface => ["s4", "s6", "sk", "d4", "d6", "dk"],
            Addresses::Packet => ["es4", "es6", "esk", "ed4", "ed6", "edk"],
        }
    }

    fn uses_packet_addresses(&self) -> bool {
        self.policies
            .iter()
            .any(|p| p.scope.addresses == Addresses::Packet)
    }

    /// Per policy with a `peer` scope, which end is the peer: 1 dst, 0 src, NULL neither.
    /// Also each end's packet address (else its interface address), if a policy asks.
    fn peer(&self) -> String {
        let f = self.f;
        let mut cols = vec!["*".to_string()];
        let packet = |p: &str, fallback: &str, suffix: &str| {
            format!("CASE WHEN {p}k IS NOT NULL THEN {p}{suffix} ELSE {fallback}{suffix} END")
        };
        if self.uses_packet_addresses() {
            for (e, p, fallback) in [("es", "ps", "s"), ("ed", "pd", "d")] {
                for suffix in ["4", "6", "k"] {
                    cols.push(format!("{} AS {e}{suffix}", packet(p, fallback, suffix)));
                }
            }
        }
        for (i, policy) in self.policies.iter().enumerate() {
            let Some(peer) = &policy.scope.peer else {
                continue;
            };
            // The packet columns are made in this same select: spelled out here.
            let (s4, s6, d4, d6) = match policy.scope.addresses {
                Addresses::Interface => ("s4".into(), "s6".into(), "d4".into(), "d6".into()),
                Addresses::Packet => (
                    packet("ps", "s", "4"),
                    packet("ps", "s", "6"),
                    packet("pd", "d", "4"),
                    packet("pd", "d", "6"),
                ),
            };
            cols.push(format!(
                "CASE WHEN {} THEN 1 WHEN {} THEN 0 END AS pe{i}",
                predicate::addresses(peer, &d4, &d6, f),
                predicate::addresses(peer, &s4, &s6, f),
            ));
        }
        self.select(&cols, "fg_rec")
    }

    /// Per policy: scope (`m{i}`), allow rules (`a{i}_{k}`), waivers (`w{i}_{k}`), as 0/1.
    fn matches(&self) -> String {
        let f = self.f;
        let mut cols = vec!["*".to_string()];
        for (i, policy) in self.policies.iter().enumerate() {
            let [s4, s6, _, d4, d6, _] = self.endpoint_columns(i);
            let peer = format!("pe{i}");
            let ends = Ends {
                src4: s4,
                src6: s6,
                dst4: d4,
                dst6: d6,
                peer: policy.scope.peer.as_ref().map(|_| peer.as_str()),
            };
            let mut scope = predicate::matcher(&policy.scope.matcher, &ends, f);
            if policy.scope.peer.is_some() {
                scope = format!("{peer} IS NOT NULL AND {scope}");
            }
            cols.push(format!("CASE WHEN {scope} THEN 1 ELSE 0 END AS m{i}"));
            for (k, rule) in policy.allows.iter().enumerate() {
                let c = predicate::matcher(&rule.matcher, &ends, f);
                cols.push(format!("CASE WHEN {c} THEN 1 ELSE 0 END AS a{i}_{k}"));
            }
            for (k, waiver) in policy.waivers.iter().enumerate() {
                let c = predicate::matcher(&waiver.rule.matcher, &ends, f);
                cols.push(format!("CASE WHEN {c} THEN 1 ELSE 0 END AS w{i}_{k}"));
            }
        }
        self.select(&cols, "fg_peer")
    }

    /// Whether the object's format has every field policy `i` needs (else its records are
    /// not judged, and the report names the field).
    fn enabled(&self, i: usize) -> String {
        let f = self.f;
        let padded = "(' ' || fmt || ' ')";
        let terms: Vec<String> = self.policies[i]
            .required_fields()
            .iter()
            .map(|(field, _)| format!("{} > 0", f.strpos(padded, &f.string(&format!(" {field} ")))))
            .collect();
        format!("COALESCE({}, FALSE)", terms.join(" AND "))
    }

    /// Per policy: the verdict code `v{i}` and the first expired waiver `x{i}`.
    fn verdict(&self) -> String {
        let f = self.f;
        let mut cols = vec!["*".to_string()];
        let or = |v: Vec<String>| {
            if v.is_empty() {
                "FALSE".to_string()
            } else {
                v.join(" OR ")
            }
        };
        for (i, policy) in self.policies.iter().enumerate() {
            let judged = predicate::actions(policy.scope.actions, f);
            let allowed = (0..policy.allows.len())
                .map(|k| format!("a{i}_{k} = 1"))
                .collect();
            let live = policy
                .waivers
                .iter()
                .enumerate()
                .filter(|(_, w)| self.options.today <= w.expires)
                .map(|(k, _)| format!("w{i}_{k} = 1"))
                .collect();
            cols.push(format!(
                "CASE WHEN win = 0 OR st <> 0 OR NOT {} THEN NULL \
                 WHEN m{i} = 0 THEN 0 \
                 WHEN NOT ({judged}) THEN 1 \
                 WHEN {} THEN 2 \
                 WHEN {} THEN 3 \
                 ELSE 4 END AS v{i}",
                self.enabled(i),
                or(allowed),
                or(live),
            ));
            let expired: Vec<String> = policy
                .waivers
                .iter()
                .enumerate()
                .filter(|(_, w)| self.options.today > w.expires)
                .map(|(k, _)| format!("WHEN w{i}_{k} = 1 THEN {k}"))
                .collect();
            cols.push(if expired.is_empty() {
                format!("CAST(NULL AS bigint) AS x{i}")
            } else {
                format!("CASE {} END AS x{i}", expired.join(" "))
            });
        }
        // Who is the server, as far as the record alone says (see `server`).
        cols.extend(server::early(f));
        self.select(&cols, "fg_match")
    }

    /// The facts of each record (see [`Fact`]), one row each, with the columns their
    /// grouping keys and measures come from.
    fn facts(&self) -> String {
        let f = self.f;
        let code = |kind: Fact, policy: usize, value: usize| {
            format!("CAST({} AS bigint)", fact(kind, policy, value))
        };
        let mut elements = vec![
            code(Fact::Object, 0, 0),
            format!(
                "CASE WHEN win = 1 AND iface IS NOT NULL THEN {} END",
                code(Fact::Interface, 0, 0)
            ),
            format!(
                "CASE WHEN win = 1 AND ts IS NOT NULL AND te IS NOT NULL THEN {} END",
                code(Fact::Span, 0, 1)
            ),
            format!(
                "CASE WHEN win = 1 AND ts IS NOT NULL AND te IS NOT NULL AND {} - {} > 60 THEN {} END",
                f.idiv("te", 60),
                f.idiv("ts", 60),
                code(Fact::Span, 0, 2)
            ),
        ];
        for (i, p) in self.policies.iter().enumerate() {
            elements.push(format!(
                "CASE WHEN v{i} >= 1 THEN {} + v{i} END",
                code(Fact::Verdict, i, 0)
            ));
            for k in 0..p.allows.len() {
                elements.push(format!(
                    "CASE WHEN v{i} >= 2 AND a{i}_{k} = 1 THEN {} END",
                    code(Fact::Allow, i, k)
                ));
            }
            for k in 0..p.waivers.len() {
                elements.push(format!(
                    "CASE WHEN v{i} >= 3 AND w{i}_{k} = 1 THEN {} END",
                    code(Fact::Waiver, i, k)
                ));
            }
            elements.push(format!(
                "CASE WHEN v{i} = 4 THEN {} + COALESCE(x{i} + 1, 0) * 2 END",
                code(Fact::Blocked, i, 0)
            ));
            elements.push(format!(
                "CASE WHEN v{i} = 4 AND sv0 IS NULL THEN {} + COALESCE(x{i} + 1, 0) * 2 END",
                code(Fact::Blocked, i, 1)
            ));
        }
        elements.push(format!(
            "CASE WHEN ev = 1 THEN {} END",
            code(Fact::End, 0, 0)
        ));
        elements.push(format!(
            "CASE WHEN ev = 1 THEN {} END",
            code(Fact::End, 0, 1)
        ));
        let exploded = f.explode("fg_verdict", &f.compact_array(&elements), "code");
        // Decoded, and the keys and measures of each kind of fact.
        let kind = f.idiv("code", KIND_SHIFT);
        let policy = format!("({} % {POLICY_SHIFT})", f.idiv("code", POLICY_SHIFT));
        let value = format!("(code % {POLICY_SHIFT})");
        let inner = format!(
            "  SELECT fg_verdict.*, {kind} AS kind, {policy} AS pol, {value} AS val\n  FROM {exploded}"
        );
        // A conversation's ends: the policy's addresses (interface, or packet for those
        // that ask), the server's port.
        let packet: Vec<String> = (0..self.policies.len())
            .filter(|&i| self.policies[i].scope.addresses == Addresses::Packet)
            .map(|i| i.to_string())
            .collect();
        let (src, dst) = if packet.is_empty() {
            ("sk".to_string(), "dk".to_string())
        } else {
            let list = packet.join(", ");
            (
                format!("CASE WHEN pol IN ({list}) THEN esk ELSE sk END"),
                format!("CASE WHEN pol IN ({list}) THEN edk ELSE dk END"),
            )
        };
        let (obj, iface, span, blocked, end) = (
            Fact::Object as u64,
            Fact::Interface as u64,
            Fact::Span as u64,
            Fact::Blocked as u64,
            Fact::End as u64,
        );
        let (lo, hi) = (f.idiv("ts", 60), f.idiv("te", 60));
        let cols = vec![
            "kind".to_string(),
            "pol".to_string(),
            // A blocked record's value is its end (its expired waiver is a measure); an
            // end's role is no key (an end is one whether it sends or receives); a span's
            // value is spent on its minutes.
            format!(
                "CASE WHEN kind IN ({end}, {span}) THEN NULL \
                 WHEN kind = {blocked} THEN val % 2 ELSE val END AS val"
            ),
            // A blocked record: the addresses its policy reports, its object, its ends on
            // the interface, its ports, the decision of the record alone. An end: itself,
            // its object, the remote port, whether flags showed it as the server.
            format!(
                "CASE kind WHEN {obj} THEN obj WHEN {iface} THEN iface WHEN {blocked} THEN {src} \
                 WHEN {end} THEN CASE WHEN val = 0 THEN sk ELSE dk END END AS ka"
            ),
            format!(
                "CASE kind WHEN {obj} THEN fmt WHEN {blocked} THEN {dst} WHEN {end} THEN obj END AS kb"
            ),
            format!(
                "CASE kind WHEN {obj} THEN CASE WHEN {} THEN 'parquet' ELSE 'text' END \
                 WHEN {blocked} THEN obj END AS kc",
                f.matches("lower(obj)", "[.]parquet$")
            ),
            format!("CASE WHEN kind = {blocked} THEN sk END AS kd"),
            format!("CASE WHEN kind = {blocked} THEN dk END AS ke"),
            format!(
                "CASE kind WHEN {span} THEN CASE WHEN val = 2 OR {hi} - {lo} > 60 THEN \
                 CASE WHEN val = 1 THEN {lo} ELSE {hi} END ELSE {lo} END \
                 WHEN {blocked} THEN proto WHEN {end} THEN proto END AS n1"
            ),
            format!(
                "CASE kind WHEN {span} THEN CASE WHEN val = 1 AND {hi} - {lo} > 60 THEN {lo} ELSE {hi} END \
                 WHEN {blocked} THEN sp WHEN {end} THEN CASE WHEN val = 0 THEN sp ELSE dp END END AS n2"
            ),
            format!("CASE WHEN kind = {blocked} THEN dp END AS n3"),
            format!("CASE WHEN kind = {blocked} THEN sv0 END AS n4"),
            format!("CASE WHEN kind = {end} THEN CASE WHEN val = 0 THEN dp ELSE sp END END AS rp"),
            format!("CASE WHEN kind = {end} THEN {} END AS fl", server::flagged()),
            format!(
                "CASE WHEN kind = {blocked} AND val >= 2 THEN {} - 1 END AS xw",
                f.idiv("val", 2)
            ),
            "bad".into(),
            "CASE WHEN win = 1 AND st = 0 THEN 1 ELSE 0 END AS okr".into(),
            "CASE WHEN win = 1 AND st = 1 THEN 1 ELSE 0 END AS nod".into(),
            "CASE WHEN win = 1 AND st = 2 THEN 1 ELSE 0 END AS skd".into(),
            "pk".into(),
            "byt".into(),
            format!("CASE WHEN kind <> {obj} THEN ts WHEN win = 1 AND te IS NOT NULL THEN ts END AS t1"),
            format!("CASE WHEN kind <> {obj} THEN te WHEN win = 1 AND ts IS NOT NULL THEN te END AS t2"),
            "obj".into(),
        ];
        self.select(&cols, &format!("(\n{inner}\n  ) e"))
    }

    /// The facts grouped by what they count.
    fn level_1(&self) -> String {
        let cols = [
            "kind",
            "pol",
            "val",
            "ka",
            "kb",
            "kc",
            "kd",
            "ke",
            "n1",
            "n2",
            "n3",
            "n4",
            "COUNT(*) AS cnt",
            "SUM(1 - bad) AS recs",
            "SUM(bad) AS bads",
            "SUM(okr) AS oks",
            "SUM(nod) AS nods",
            "SUM(skd) AS skds",
            "SUM(COALESCE(pk, 0)) AS pks",
            "SUM(COALESCE(byt, 0)) AS byts",
            "MIN(t1) AS t1",
            "MAX(t2) AS t2",
            "MIN(obj) AS ex",
            "MIN(xw) AS xw",
            "MIN(rp) AS rlo",
            "MAX(rp) AS rhi",
            "MAX(fl) AS fl",
        ]
        .map(String::from);
        format!(
            "{}\n  GROUP BY kind, pol, val, ka, kb, kc, kd, ke, n1, n2, n3, n4",
            self.select(&cols, "fg_fact")
        )
    }

    /// The account and region an object's key names (as `ArchiveMeta::from_path` reads it:
    /// the Hive-style layout or the plain one, else AWS's object name).
    fn origin(&self, which: usize, obj: &str) -> String {
        let patterns: [[&str; 3]; 2] = [
            [
                "(?:^|/)AWSLogs/aws-account-id=([^/]+)",
                "(?:^|/)AWSLogs/([^/]+)/vpcflowlogs/[^/]+(?:/[^/]+){3}",
                "(?:^|/)([^/_]+)_vpcflowlogs_[^/_]+_fl-[^/_]*_[^/_]*_[^/_]*$",
            ],
            [
                "(?:^|/)AWSLogs/aws-account-id=[^/]+/(?:[^/]+/)*?aws-region=([^/]+)",
                "(?:^|/)AWSLogs/[^/]+/vpcflowlogs/([^/]+)(?:/[^/]+){3}",
                "(?:^|/)[^/_]+_vpcflowlogs_([^/_]+)_fl-[^/_]*_[^/_]*_[^/_]*$",
            ],
        ];
        let [hive, plain, name] = patterns[which];
        let extract =
            |p: &str| format!("NULLIF(regexp_extract({obj}, {}, 1), '')", self.f.string(p));
        format!(
            "COALESCE(CASE WHEN {} THEN {} ELSE {} END, {})",
            self.f.matches(obj, "(^|/)AWSLogs/aws-account-id="),
            extract(hive),
            extract(plain),
            extract(name)
        )
    }

    /// The second level: sums over the first for the run (per kind), formats, accounts,
    /// regions and policies; the first level's rows as they are for the rest.
    fn level_2(&self) -> String {
        let obj = Fact::Object as u64;
        let cols = vec![
            "kind".to_string(),
            "pol".into(),
            "val".into(),
            "ka".into(),
            "kb".into(),
            "kc".into(),
            "n1".into(),
            "n2".into(),
            "acct".into(),
            "region".into(),
            "grouping(pol) AS g_pol".into(),
            "grouping(val) AS g_val".into(),
            "grouping(kb) AS g_kb".into(),
            "grouping(acct) AS g_acct".into(),
            "grouping(region) AS g_region".into(),
            "COUNT(*) AS rws".into(),
            "SUM(cnt) AS cnt".into(),
            "SUM(recs) AS recs".into(),
            "SUM(bads) AS bads".into(),
            "SUM(oks) AS oks".into(),
            "SUM(nods) AS nods".into(),
            "SUM(skds) AS skds".into(),
            "SUM(CASE WHEN val = 1 THEN cnt ELSE 0 END) AS rj".into(),
            "SUM(CASE WHEN val = 2 THEN cnt ELSE 0 END) AS al".into(),
            "SUM(CASE WHEN val = 3 THEN cnt ELSE 0 END) AS wv".into(),
            "SUM(CASE WHEN val = 4 THEN cnt ELSE 0 END) AS wb".into(),
            "SUM(pks) AS pks".into(),
            "SUM(byts) AS byts".into(),
            "MIN(t1) AS t1".into(),
            "MAX(t2) AS t2".into(),
            "MIN(ex) AS ex".into(),
            "MIN(ka) AS fo".into(),
            "MIN(xw) AS xw".into(),
            "MIN(sb) AS sb".into(),
        ];
        let from = format!(
            "(\n    SELECT fg_s5.*,\n      CASE WHEN kind = {obj} THEN {} END AS acct,\n      \
             CASE WHEN kind = {obj} THEN {} END AS region\n    FROM fg_s5\n  ) l",
            self.origin(0, "ka"),
            self.origin(1, "ka")
        );
        format!(
            "{}\n  GROUP BY GROUPING SETS ((kind), (kind, kb, kc), (kind, acct), (kind, region), \
             (kind, pol), (kind, pol, val, ka, kb, kc, n1, n2))",
            self.select(&cols, &from)
        )
    }

    /// Which row each second-level group makes (`rk`), and the groups that make none
    /// dropped (a grouping set sums every kind of fact; each kind is read from its own).
    fn window_1(&self) -> String {
        let (obj, iface, span, verdict, allow, waiver, blocked) = (
            Fact::Object as u64,
            Fact::Interface as u64,
            Fact::Span as u64,
            Fact::Verdict as u64,
            Fact::Allow as u64,
            Fact::Waiver as u64,
            Fact::Blocked as u64,
        );
        // Grouping flags of each set, in the order of `level_2`'s sets.
        let whole = "g_pol = 1 AND g_kb = 1 AND g_acct = 1 AND g_region = 1";
        let format = "g_pol = 1 AND g_kb = 0";
        let account = "g_acct = 0";
        let region = "g_region = 0";
        let policy = "g_pol = 0 AND g_val = 1";
        let each = "g_val = 0";
        let rk = format!(
            "CASE \
             WHEN kind = {obj} AND {whole} THEN 'run' \
             WHEN kind = {iface} AND {whole} THEN 'interfaces' \
             WHEN kind = {obj} AND {format} THEN 'format' \
             WHEN kind = {obj} AND {account} AND acct IS NOT NULL THEN 'account' \
             WHEN kind = {obj} AND {region} AND region IS NOT NULL THEN 'region' \
             WHEN kind = {verdict} AND {policy} THEN 'policy' \
             WHEN kind = {allow} AND {each} THEN 'allow' \
             WHEN kind = {waiver} AND {each} THEN 'waiver' \
             WHEN kind = {blocked} AND {each} THEN 'conversation' \
             WHEN kind = {span} AND {each} THEN 'span' \
             WHEN kind = {obj} AND {each} AND bads > 0 THEN 'problem' END"
        );
        format!(
            "  SELECT * FROM (\n    SELECT fg_l2.*, {rk} AS rk FROM fg_l2\n  ) k WHERE rk IS NOT NULL"
        )
    }

    /// Spans: the furthest minute an earlier span reaches; problem objects: numbered by
    /// name; the run's interfaces, onto every row.
    fn window_2(&self) -> String {
        "  SELECT fg_w1.*,\n    \
         MAX(n2) OVER (PARTITION BY rk ORDER BY n1, n2 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach,\n    \
         ROW_NUMBER() OVER (PARTITION BY rk ORDER BY ka) AS nth,\n    \
         MAX(CASE WHEN rk = 'interfaces' THEN rws END) OVER () AS ifaces\n  \
         FROM fg_w1"
            .into()
    }

    /// Spans: a span past the reach of every earlier one (and the minute after it) starts a
    /// run of covered minutes; each span is numbered by its run, and the run's end is the
    /// furthest minute of its spans.
    fn window_3(&self) -> String {
        "  SELECT s.*, MAX(n2) OVER (PARTITION BY rk, island) AS island_end\n  FROM (\n    \
         SELECT fg_w2.*,\n      \
         CASE WHEN reach IS NULL OR n1 > reach + 1 THEN 1 ELSE 0 END AS starts,\n      \
         SUM(CASE WHEN reach IS NULL OR n1 > reach + 1 THEN 1 ELSE 0 END)\n        \
         OVER (PARTITION BY rk ORDER BY n1, n2 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS island\n    \
         FROM fg_w2\n  ) s"
            .into()
    }

    /// Every row of the layout.
    fn rows(&self, fingerprint: &str) -> String {
        let f = self.f;
        let fp = self.text(&f.string(fingerprint));
        let null = |ty: Type| match ty {
            Type::Int => "CAST(NULL AS bigint)".to_string(),
            Type::Text => format!("CAST(NULL AS {})", f.text_type()),
        };
        let select = |given: &[(&str, String)], from: &str| {
            let cols: Vec<String> = COLUMNS
                .iter()
                .map(|&(name, ty)| {
                    let value = match name {
                        "layout" => format!("CAST({} AS bigint)", rows::LAYOUT),
                        "fingerprint" => fp.clone(),
                        _ => match given.iter().find(|(n, _)| *n == name) {
                            Some((_, v)) => match ty {
                                Type::Int => format!("CAST({v} AS bigint)"),
                                Type::Text => self.text(v),
                            },
                            None => null(ty),
                        },
                    };
                    format!("{value} AS {}", f.ident(name))
                })
                .collect();
            format!("  SELECT\n    {}{from}", cols.join(",\n    "))
        };
        let o = self.options;
        let opt = |t: Option<u64>| t.map_or_else(|| "NULL".to_string(), |t| t.to_string());
        let query_row = select(
            &[
                ("kind", f.string(Kind::Query.name())),
                ("name", f.string(&o.today.to_string())),
                ("detail", f.string(o.dialect.name())),
                ("first_start", opt(o.since)),
                ("last_end", opt(o.until)),
            ],
            "",
        );
        let when = |kinds: &[Kind], value: &str| {
            let list: Vec<String> = kinds.iter().map(|k| format!("'{}'", k.name())).collect();
            format!("CASE WHEN rk IN ({}) THEN {value} END", list.join(", "))
        };
        use Kind::*;
        let given: Vec<(&str, String)> = vec![
            ("kind", "rk".into()),
            (
                "policy",
                when(&[Policy, Allow, Waiver, Conversation], "pol"),
            ),
            ("item", when(&[Allow, Waiver], "val")),
            (
                "name",
                "CASE rk WHEN 'format' THEN kb WHEN 'account' THEN acct \
                 WHEN 'region' THEN region WHEN 'problem' THEN ka END"
                    .into(),
            ),
            ("detail", when(&[Format], "kc")),
            ("protocol", when(&[Conversation], "n1")),
            ("client", when(&[Conversation], "ka")),
            ("server", when(&[Conversation], "kb")),
            ("server_port", when(&[Conversation], "n2")),
            (
                "records",
                "CASE rk WHEN 'run' THEN recs WHEN 'format' THEN oks \
                 WHEN 'allow' THEN cnt WHEN 'waiver' THEN cnt WHEN 'conversation' THEN cnt END"
                    .into(),
            ),
            ("packets", when(&[Conversation], "pks")),
            ("bytes", when(&[Conversation], "byts")),
            (
                "first_start",
                "CASE rk WHEN 'span' THEN n1 * 60 WHEN 'run' THEN t1 WHEN 'policy' THEN t1 \
                 WHEN 'conversation' THEN t1 END"
                    .into(),
            ),
            (
                "last_end",
                "CASE rk WHEN 'span' THEN island_end * 60 WHEN 'run' THEN t2 \
                 WHEN 'policy' THEN t2 WHEN 'conversation' THEN t2 END"
                    .into(),
            ),
            ("in_scope", when(&[Policy], "cnt")),
            ("allowed", when(&[Policy], "al")),
            ("already_rejected", when(&[Policy], "rj")),
            ("waived", when(&[Policy], "wv")),
            ("would_block", when(&[Policy], "wb")),
            ("nodata", when(&[Run], "nods")),
            ("skipdata", when(&[Run], "skds")),
            ("problems", when(&[Run, Problem], "bads")),
            ("objects", when(&[Run, Format], "rws")),
            ("interfaces", when(&[Run], "COALESCE(ifaces, 0)")),
            (
                "example",
                "CASE rk WHEN 'format' THEN fo WHEN 'conversation' THEN ex END".into(),
            ),
            ("expired_waiver", when(&[Conversation], "xw")),
            (
                "server_by",
                when(&[Conversation], &server::basis_name("sb")),
            ),
        ];
        let from = format!(
            "\n  FROM fg_w3\n  WHERE rk <> 'interfaces' AND (rk <> 'span' OR starts = 1) \
             AND (rk <> 'problem' OR nth <= {PROBLEM_OBJECTS})"
        );
        let totals = select(&given, &from);
        format!("{query_row}\n  UNION ALL\n{totals}")
    }

    /// Every row, in a fixed order: by kind, then every column that tells rows of a kind
    /// apart, NULLs first in every engine (Trino and DuckDB put them last by default).
    fn ordered(&self) -> String {
        let f = self.f;
        let arms: Vec<String> = Kind::ALL
            .iter()
            .map(|k| format!("WHEN '{}' THEN {}", k.name(), k.rank()))
            .collect();
        let mut keys = vec![format!("CASE {} {} END", f.ident("kind"), arms.join(" "))];
        for name in [
            "policy",
            "item",
            "name",
            "detail",
            "protocol",
            "client",
            "server",
            "server_port",
            "first_start",
        ] {
            keys.push(f.ident(name));
        }
        let keys: Vec<String> = keys
            .into_iter()
            .map(|k| format!("{k} ASC NULLS FIRST"))
            .collect();
        format!("SELECT * FROM fg_rows\nORDER BY {}\n", keys.join(", "))
    }
}

/// Text safe inside a `--` comment: one line, no control characters.
fn comment(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
