//! Hand-made reports for the writers' tests: realistic, and hostile where asked.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::report::{
    AllowUse, Conversation, Counts, CoverageReport, Demand, DemandKind, DemandStatus,
    ExpectationResult, Finding, FormatUse, Gap, Hours, Location, Origin, PolicyReport,
    ProblemReport, Report, RunSummary, Status, WaiverUse,
};

/// 2026-03-02T00:00:00Z
pub const T0: u64 = 1_772_409_600;
const ARCHIVE: &str = "fixtures/AWSLogs/111122223333/vpcflowlogs/eu-west-1/2026/03/02/\
                       111122223333_vpcflowlogs_eu-west-1_fl-0a1b2c3d_20260302T0000Z_4f3e.log.gz";

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().expect("test address"))
}

/// A conversation with round numbers derived from `i`.
pub fn conversation(i: u64, records: u64) -> Conversation {
    let v6 = i % 7 == 3;
    let (client, server) = if v6 {
        (
            Some(IpAddr::V6(Ipv6Addr::from(
                0x2600_1f18_024e_0c00_0000_0000_0000_0010_u128 + u128::from(i),
            ))),
            ip("2a02:cf40:1:2::7"),
        )
    } else {
        (
            // 10.0.2.10 onwards, as far as a test needs.
            Some(IpAddr::V4(Ipv4Addr::from(0x0a00_020a + i as u32))),
            ip(&format!("10.20.40.{}", 12 + i % 5)),
        )
    };
    Conversation {
        protocol: Some(if i % 5 == 4 { 17 } else { 6 }),
        client,
        server,
        server_port: Some([1433, 5432, 22, 443, 53][(i % 5) as usize]),
        records,
        packets: records * 12,
        bytes: records * 12 * 870,
        first_start: Some(T0 + 60 * i),
        last_end: Some(T0 + 86_400 + 120 * i),
        example: Location {
            archive: ARCHIVE.into(),
            line: 2 + i * 31,
            unit: crate::flowlog::Unit::Line,
        },
        expired_waiver: None,
        // UDP has no flags; some TCP records had none that decide.
        server_by: if i % 5 == 4 || i % 3 == 1 {
            crate::engine::server::Basis::FanIn
        } else {
            crate::engine::server::Basis::Flags
        },
    }
}

fn coverage() -> CoverageReport {
    CoverageReport {
        first_start: Some(T0),
        last_end: Some(T0 + 3 * 86_400 - 60),
        window_seconds: 3 * 86_400 - 60,
        days: vec![
            "2026-03-02".into(),
            "2026-03-03".into(),
            "2026-03-04".into(),
        ],
        hours_without_records: 2,
        longest_gap: Some(Gap {
            from: T0 + 86_400 + 3_600,
            to: T0 + 86_400 + 3 * 3_600,
            seconds: 2 * 3_600,
        }),
        interfaces: 4,
        accounts: vec!["111122223333".into()],
        regions: vec!["eu-west-1".into()],
    }
}

fn passing_policy() -> PolicyReport {
    PolicyReport {
        name: "partner-vpn".into(),
        path: "policies/partner-vpn.toml".into(),
        line: 6,
        description: Some("Partner VPN keeps only SFTP to the exchange host".into()),
        owner: Some("integration-team".into()),
        ticket: None,
        status: Status::Pass,
        counts: Counts {
            scanned: 48_211,
            in_scope: 912,
            allowed: 900,
            already_rejected: 12,
            waived: 0,
            would_block: 0,
        },
        in_scope_first: Some(T0 + 120),
        in_scope_last: Some(T0 + 2 * 86_400),
        conversations: vec![],
        conversations_not_listed: None,
        conversations_sampled: None,
        services: vec![],
        allows: vec![AllowUse {
            name: "sftp to exchange".into(),
            line: 10,
            hits: 900,
        }],
        waivers: vec![],
        expectations: vec![],
        demands: vec![
            Demand {
                kind: DemandKind::Traffic,
                status: DemandStatus::Pass,
                message: "912 records in scope".into(),
            },
            Demand {
                kind: DemandKind::Window,
                status: DemandStatus::Skipped,
                message: "no min_window demanded".into(),
            },
        ],
        field_errors: vec![],
        blocked_hours: Default::default(),
    }
}

fn failing_policy() -> PolicyReport {
    let mut conversations: Vec<Conversation> =
        (0..25).map(|i| conversation(i, 40 - i.min(30))).collect();
    conversations[2].expired_waiver = Some("legacy monitoring agent".into());
    let would_block = conversations.iter().map(|c| c.records).sum();
    let blocked_hours = blocked_hours(&conversations);
    PolicyReport {
        name: "retail-dedicated-line".into(),
        path: "policies/retail-dedicated-line.toml".into(),
        line: 7,
        description: Some(
            "Retailer blocks everything on the line except the settlement subnet".into(),
        ),
        owner: Some("retail-hub".into()),
        ticket: Some("NET-1234".into()),
        status: Status::Fail,
        counts: Counts {
            scanned: 48_211,
            in_scope: 3_310,
            allowed: 2_410,
            already_rejected: 61,
            waived: 139,
            would_block,
        },
        in_scope_first: Some(T0),
        in_scope_last: Some(T0 + 3 * 86_400 - 60),
        services: crate::report::service::services(&conversations),
        conversations,
        conversations_not_listed: None,
        conversations_sampled: None,
        allows: vec![
            AllowUse {
                name: "settlement API".into(),
                line: 10,
                hits: 2_410,
            },
            AllowUse {
                name: "old batch window".into(),
                line: 16,
                hits: 0,
            },
        ],
        waivers: vec![
            WaiverUse {
                name: "legacy monitoring agent".into(),
                line: 22,
                reason: "agent is retired with NET-1300".into(),
                expires: "2026-01-31".into(),
                expired: true,
                hits: 38,
            },
            WaiverUse {
                name: "dr drill".into(),
                line: 28,
                reason: "quarterly disaster recovery test".into(),
                expires: "2026-12-31".into(),
                expired: false,
                hits: 139,
            },
        ],
        expectations: vec![],
        demands: vec![
            Demand {
                kind: DemandKind::Traffic,
                status: DemandStatus::Pass,
                message: "3310 records in scope".into(),
            },
            Demand {
                kind: DemandKind::Window,
                status: DemandStatus::Fail,
                message: "the archives cover 2d 23h; the policy demands 30d".into(),
            },
            Demand {
                kind: DemandKind::Gaps,
                status: DemandStatus::Pass,
                message: "longest gap 2h; the policy allows 4h".into(),
            },
            Demand {
                kind: DemandKind::Skipdata,
                status: DemandStatus::Warn,
                message: "3 SKIPDATA records: some flows were not logged".into(),
            },
            Demand {
                kind: DemandKind::UnusedAllow,
                status: DemandStatus::Warn,
                message: "allow rule \"old batch window\" matched no traffic".into(),
            },
        ],
        field_errors: vec![],
        blocked_hours,
    }
}

/// Blocked records per service and hour: a third of each conversation's records at 02:00 on
/// each of the three days (a nightly job), the rest at 14:00 on the first.
fn blocked_hours(
    conversations: &[Conversation],
) -> std::collections::BTreeMap<(Option<u8>, Option<u16>), Hours> {
    let mut out: std::collections::BTreeMap<_, Hours> = Default::default();
    let h0 = T0 / 3600;
    for c in conversations {
        let h = out.entry((c.protocol, c.server_port)).or_default();
        for day in 0..3 {
            h.add(h0 + 24 * day + 2, c.records / 3);
        }
        h.add(h0 + 14, c.records % 3);
    }
    out
}

/// Records per hour over the sample's three days, with the two-hour gap of its coverage.
fn run_hours() -> Hours {
    let h0 = T0 / 3600;
    (0..72)
        .filter(|h| !(25..27).contains(h))
        .map(|h| (h0 + h, 600 + (h * 37) % 200))
        .collect()
}

/// [`report`] as a run bounded by `--keep-conversations 7` gives it: the failing policy
/// lists a sample of 7 of its 25 conversations (every fourth), the rest summed exactly per
/// service, their number estimated; through the report build's own functions.
pub fn sampled_report() -> Report {
    let mut report = report();
    sample_failing(&mut report, |i| i % 4 == 0);
    report
}

/// [`report`] with a sample that holds none of the failing policy's conversations: nothing
/// to estimate their number from.
pub fn empty_sample_report() -> Report {
    let mut report = report();
    sample_failing(&mut report, |_| false);
    report
}

/// [`report_with_diff`], its failing policy sampled as in [`sampled_report`].
pub fn sampled_report_with_diff() -> Report {
    let mut report = report_with_diff();
    sample_failing(&mut report, |i| i % 4 == 0);
    report
}

/// Keeps the failing policy's `i`-th conversation as the bound's sample when `keep(i)`.
fn sample_failing(report: &mut Report, keep: impl Fn(usize) -> bool) {
    use crate::engine::{ConversationKey, ConversationStats};
    let p = &mut report.policies[1];
    let all = std::mem::take(&mut p.conversations);
    let mut dropped = crate::engine::bound::Dropped::default();
    for (i, c) in all.into_iter().enumerate() {
        if keep(i) {
            p.conversations.push(c);
            continue;
        }
        let key = ConversationKey {
            protocol: c.protocol,
            client: c.client,
            server: c.server,
            server_port: c.server_port,
        };
        let stats = ConversationStats {
            records: c.records,
            packets: c.packets,
            bytes: c.bytes,
            first_start: c.first_start,
            last_end: c.last_end,
            example: (0, 1),
            expired_waiver: None,
            basis: c.server_by,
        };
        dropped.add(&key, &stats);
    }
    let sampled = crate::engine::bound::Sampled {
        limit: 7,
        kept_fraction: 0.28,
    };
    p.services = crate::report::service::services(&p.conversations);
    crate::report::service::add_dropped(&mut p.services, &dropped);
    let (left, sample) = crate::report::build::not_sampled(&p.conversations, &dropped, sampled);
    p.conversations_not_listed = Some(left);
    p.conversations_sampled = Some(sample);
    report.run.sampled = Some(sampled);
}

/// The realistic report: one passing policy, one failing with 25 conversations (IPv6 among
/// them, one under an expired waiver), an unused allow rule, failing and warning demands, a
/// problem reading the evidence and a lint finding.
pub fn report() -> Report {
    Report {
        tool_version: "0.1.0".into(),
        today: "2026-03-15".into(),
        since: None,
        until: None,
        run: RunSummary {
            archives_read: 14,
            sampled: None,
            archives_skipped: vec!["fixtures/README.md".into()],
            not_read: vec![crate::source::Skipped {
                path: "fixtures/README.md".into(),
                reason: "`.md`: documentation, not flow logs".into(),
            }],
            kinds: vec![crate::report::KindUse {
                kind: crate::flowlog::Kind::Text,
                archives: 14,
            }],
            cloudwatch: None,
            s3: None,
            lines: 48_240,
            records: 48_226,
            nodata: 12,
            skipdata: 3,
            problems_total: 1,
            problems: vec![ProblemReport {
                archive: ARCHIVE.into(),
                line: Some(417),
                message: "expected 14 fields, found 9".into(),
                unit: crate::flowlog::Unit::Line,
            }],
            formats: vec![FormatUse {
                fields: "version account-id interface-id srcaddr dstaddr srcport dstport \
                         protocol packets bytes start end action log-status"
                    .into(),
                archives: 14,
            }],
            unknown_fields: vec![],
            coverage: coverage(),
            hours: run_hours(),
            skipdata_hours: [(T0 / 3600 + 10, 1), (T0 / 3600 + 40, 2)]
                .into_iter()
                .collect(),
        },
        policies: vec![passing_policy(), failing_policy()],
        findings: vec![lint_warning()],
        provenance: None,
        diff: None,
    }
}

/// The trusted report with a `--base` diff: the failing policy changed (its first three
/// conversations newly blocked, a wide unused rule added, the batch rule removed), a policy
/// removed (one conversation newly allowed), the passing one unchanged.
pub fn report_with_diff() -> Report {
    use crate::report::diff::{
        Diff, PolicyChange, PolicyDiff, RuleAdded, RuleRemoved, Usage, Width,
    };
    let mut r = trusted_report();
    let failing = r.policies[1].clone();
    r.diff = Some(Diff {
        base: "origin/main".into(),
        base_commit: "3f2c1a9b8e7d6c5b4a39281706f5e4d3c2b1a098".into(),
        policies: vec![
            PolicyDiff {
                name: "legacy-vpn".into(),
                change: PolicyChange::Removed,
                path: "policies/legacy-vpn.toml".into(),
                base_status: Some(Status::Fail),
                status: None,
                newly_blocked: vec![],
                newly_allowed: vec![conversation(40, 3)],
                rules_added: vec![],
                rules_removed: vec![RuleRemoved {
                    kind: "allow",
                    name: "ipsec".into(),
                    line: 7,
                    change: "removed",
                }],
            },
            PolicyDiff {
                name: "partner-vpn".into(),
                change: PolicyChange::Unchanged,
                path: "policies/partner-vpn.toml".into(),
                base_status: Some(Status::Pass),
                status: Some(Status::Pass),
                newly_blocked: vec![],
                newly_allowed: vec![],
                rules_added: vec![],
                rules_removed: vec![],
            },
            PolicyDiff {
                name: failing.name.clone(),
                change: PolicyChange::Changed,
                path: failing.path.clone(),
                base_status: Some(Status::Pass),
                status: Some(Status::Fail),
                newly_blocked: failing.conversations[..3].to_vec(),
                newly_allowed: vec![],
                rules_added: vec![RuleAdded {
                    kind: "allow",
                    name: "monitoring".into(),
                    line: 19,
                    change: "new",
                    width: Some(Width {
                        addresses: 65_536,
                        ports: Some(65_536),
                        protocols: 1,
                    }),
                    used: Some(Usage {
                        peers: 3,
                        ports: 1,
                        protocols: 1,
                        conversations: 3,
                        records: 41,
                    }),
                    overly_permissive: true,
                    reason: Some(
                        "it admits 65536 addresses where the traffic used 3 (21845 times as many)"
                            .into(),
                    ),
                }],
                rules_removed: vec![RuleRemoved {
                    kind: "allow",
                    name: "nightly batch".into(),
                    line: 23,
                    change: "removed",
                }],
            },
        ],
        unreadable: vec![],
    });
    r
}

/// The provenance of a sample cut from one day of the benchmark archive.
pub fn provenance() -> crate::manifest::Provenance {
    crate::manifest::Provenance {
        manifest: "fixtures/MANIFEST.toml".into(),
        flowgate_version: "0.1.0".into(),
        seed: 1,
        rate: 0.01,
        pseudonymised: false,
        input_archives: 288,
        input_bytes: 45_102_311,
        input_records: 2_244_310,
        input_first_start: Some("2026-10-31T23:59:07Z".into()),
        input_last_end: Some("2026-11-02T00:00:01Z".into()),
        combinations: 52_017,
        sample_records: 683_821,
        cut_for: Vec::new(),
        scopes: Vec::new(),
        outside_scopes: Vec::new(),
    }
}

/// A lint warning about the failing policy.
pub fn lint_warning() -> Finding {
    Finding {
        origin: Origin::Lint,
        severity: crate::report::finding::Severity::Warning,
        code: "rule-shadowed".into(),
        policy: Some("retail-dedicated-line".into()),
        subject: None,
        message: "allow `old batch window` adds nothing: allow `settlement API` matches every record it matches".into(),
        path: Some("policies/retail-dedicated-line.toml".into()),
        line: Some(16),
        column: Some(1),
        notes: vec!["shadowed".into()],
        rendered: "warning[rule-shadowed]: allow `old batch window` adds nothing: allow `settlement API` matches every record it matches\n   \
                   ┌─ policies/retail-dedicated-line.toml:16:1\n   \
                   │\n16 │ [[allow]]\n   │ ^^^^^^^^^ shadowed\n"
            .into(),
    }
}

/// The trusted report with expectations on the failing policy: one that holds and one that
/// does not (which is also a finding).
pub fn report_with_expectations() -> Report {
    let mut r = trusted_report();
    r.policies[1].expectations = vec![
        ExpectationResult {
            name: "ssh to the partner is closed".into(),
            line: 34,
            flow: "tcp 10.0.2.15 -> 10.20.30.5:22".into(),
            verdict: "blocked".into(),
            decided: "blocked: no allow rule matches; nearest: `settlement API` (line 10) allows `peer_port` 443, not 22".into(),
            holds: true,
        },
        ExpectationResult {
            name: "443 is open to the settlement subnet only".into(),
            line: 39,
            flow: "tcp 10.0.1.12 -> 10.20.40.12:443".into(),
            verdict: "blocked".into(),
            decided: "allowed by allow rule `settlement API` (line 10)".into(),
            holds: false,
        },
    ];
    r.findings.push(expect_failure());
    r
}

/// [`report_with_expectations`] with hostile expectation names, flows and messages.
pub fn hostile_expectations_report() -> Report {
    let mut r = report_with_expectations();
    for e in &mut r.policies[1].expectations {
        e.name = format!("{HOSTILE}{}", e.line);
        e.flow = HOSTILE.into();
        e.decided = HOSTILE.into();
    }
    let f = r.findings.last_mut().expect("the expectation's finding");
    f.subject = Some(format!("{HOSTILE}39"));
    f.message = HOSTILE.into();
    f.rendered = HOSTILE.into();
    f.notes = vec![HOSTILE.into()];
    r
}

/// The failing policy's expectation that does not hold, as the check reports it.
pub fn expect_failure() -> Finding {
    Finding {
        origin: Origin::Expect,
        severity: crate::report::finding::Severity::Error,
        code: "expect-failed".into(),
        policy: Some("retail-dedicated-line".into()),
        subject: Some("443 is open to the settlement subnet only".into()),
        message: "expectation `443 is open to the settlement subnet only` expects blocked; the policy decides allowed by allow rule `settlement API` (line 10)".into(),
        path: Some("policies/retail-dedicated-line.toml".into()),
        line: Some(39),
        column: Some(1),
        notes: vec![
            "decided: allowed".into(),
            "the flow: tcp 10.0.1.12:1024-65535 -> 10.20.40.12:443 (action ACCEPT)".into(),
        ],
        rendered: "error[expect-failed]: expectation `443 is open to the settlement subnet only` expects blocked; the policy decides allowed by allow rule `settlement API` (line 10)\n   \
                   ┌─ policies/retail-dedicated-line.toml:39:1\n   \
                   │\n10 │ [[allow]]\n   │ --------- allows the flow\n   ·\n39 │ [[expect]]\n   │ ^^^^^^^^^^ decided: allowed\n"
            .into(),
    }
}

/// A lint error that fails the passing policy: an allow rule that covers its whole scope.
pub fn lint_error() -> Finding {
    Finding {
        origin: Origin::Lint,
        severity: crate::report::finding::Severity::Error,
        code: "allow-covers-scope".into(),
        policy: Some("partner-vpn".into()),
        subject: None,
        message: "allow `sftp to exchange` matches everything in the scope".into(),
        path: Some("policies/partner-vpn.toml".into()),
        line: Some(10),
        column: Some(1),
        notes: vec![
            "covers the whole scope".into(),
            "the planned block would block nothing: narrow the rule, or the scope".into(),
        ],
        rendered:
            "error[allow-covers-scope]: allow `sftp to exchange` matches everything in the scope\n"
                .into(),
    }
}

/// The same report with the evidence read cleanly, so its verdict is FAIL rather than UNTRUSTED.
pub fn trusted_report() -> Report {
    let mut r = report();
    r.run.problems_total = 0;
    r.run.problems.clear();
    r
}

/// Values an attacker controls (policy files in a pull request, archive names, ids) written to
/// break out of every output format.
pub const HOSTILE: &str =
    "evil\x1b[31m\0]]>&<script>alert(1)</script>\n::error::pwned%0A\r::stop-commands::x|*_`[x](y)";

/// A report whose every name, path and message is hostile.
pub fn hostile_report() -> Report {
    let mut r = report();
    r.run.problems[0].archive = format!("fixtures/{HOSTILE}.log.gz");
    r.run.problems[0].message = HOSTILE.into();
    r.run.archives_skipped = vec![HOSTILE.into()];
    r.run.not_read = vec![crate::source::Skipped {
        path: HOSTILE.into(),
        reason: HOSTILE.into(),
    }];
    r.run.unknown_fields = vec![HOSTILE.into()];
    r.findings[0].rendered = HOSTILE.into();
    r.findings[0].message = HOSTILE.into();
    r.findings[0].notes = vec![HOSTILE.into()];
    for (i, p) in r.policies.iter_mut().enumerate() {
        p.name = format!("{HOSTILE}{i}");
        p.path = format!("policies/{HOSTILE}{i}.toml");
        p.description = Some(HOSTILE.into());
        p.owner = Some(HOSTILE.into());
        for a in &mut p.allows {
            a.name = format!("{HOSTILE}{}", a.line);
        }
        for w in &mut p.waivers {
            w.name = format!("{HOSTILE}{}", w.line);
            w.reason = HOSTILE.into();
        }
        for d in &mut p.demands {
            d.message = HOSTILE.into();
        }
        for c in &mut p.conversations {
            c.example.archive = HOSTILE.into();
            if c.expired_waiver.is_some() {
                c.expired_waiver = Some(HOSTILE.into());
            }
        }
        p.field_errors = vec![HOSTILE.into()];
    }
    r.findings[0].policy = Some(r.policies[1].name.clone());
    r.findings[0].path = Some(r.policies[1].path.clone());
    r
}
