//! Turning a merged tally into a sorted [`Report`], and judging the evidence demands.
//!
//! This is where counts become verdicts: a policy fails when traffic would be blocked or when
//! its evidence demands (window, gaps, SKIPDATA, unused rules, no traffic at all) are not met.
//! Everything is sorted here, so writers can print in order without knowing any rule.

use crate::engine::{PolicyTally, Tally};
use crate::flowlog::{Archive, Kind, Unit};
use crate::policy::{EvidenceDemands, Level, Policy, PolicySet};

use super::{
    human_duration, rfc3339, AllowUse, CloudWatchSummary, Conversation, ConversationSample,
    CoverageReport, Demand, DemandKind, DemandStatus, Finding, FormatUse, KindUse, Location,
    NotListed, NotListedCount, PolicyReport, ProblemReport, Report, RunSummary, Skipped, Status,
    WaiverUse,
};

/// What a report needs besides the tally.
pub struct ReportContext<'a> {
    pub policies: &'a PolicySet,
    pub archives: &'a [Archive],
    pub skipped: Vec<Skipped>,
    pub today: time::Date,
    pub since: Option<u64>,
    pub until: Option<u64>,
    /// Lint findings on the policies: an error fails its policy.
    pub findings: Vec<Finding>,
    /// What listing `s3://` prefixes found, when some were given.
    pub s3: Option<crate::source::s3::Listing>,
}

/// Builds the report of a finished scan.
pub fn build(tally: Tally, ctx: ReportContext<'_>) -> Report {
    let coverage = tally.coverage.report();
    let mut kinds: std::collections::BTreeMap<Kind, u64> = Default::default();
    for kind in tally.kinds.values() {
        *kinds.entry(*kind).or_default() += 1;
    }
    let cw = &tally.cloudwatch;
    let cloudwatch = kinds
        .keys()
        .any(|k| matches!(k, Kind::CloudWatch(_)))
        .then(|| CloudWatchSummary {
            log_groups: cw.log_groups.iter().cloned().collect(),
            log_streams: cw.log_streams.len() as u64,
            control_messages: cw.control_messages,
        });
    let run = RunSummary {
        archives_read: tally.archives_read,
        archives_skipped: ctx.skipped.iter().map(|s| s.path.clone()).collect(),
        not_read: ctx.skipped,
        s3: ctx.s3,
        kinds: kinds
            .into_iter()
            .map(|(kind, archives)| KindUse { kind, archives })
            .collect(),
        cloudwatch,
        lines: tally.lines,
        records: tally.records,
        nodata: tally.nodata,
        skipdata: tally.skipdata,
        problems_total: tally.problems.total,
        problems: tally
            .problems
            .kept
            .into_iter()
            .map(ProblemReport::from)
            .collect(),
        formats: tally
            .formats
            .into_iter()
            .map(|(fields, archives)| FormatUse { fields, archives })
            .collect(),
        unknown_fields: tally.unknown_fields.into_iter().collect(),
        coverage,
        hours: tally.hours,
        sampled: tally.sampled,
        skipdata_hours: tally.skipdata_hours,
    };
    let policies = policy_reports(
        ctx.policies.policies(),
        tally.policies,
        &run,
        ctx.archives,
        &tally.kinds,
        ctx.today,
        &ctx.findings,
    );
    Report {
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        today: ctx.today.to_string(),
        since: ctx.since,
        until: ctx.until,
        run,
        policies,
        findings: ctx.findings,
        provenance: None,
        diff: None,
    }
}

/// The verdicts of `policies`, each from its tally (same order), sorted by name: also for the
/// base version of the policies and the probes of `check --base`, judged in the same pass.
pub fn policy_reports(
    policies: &[Policy],
    tallies: Vec<PolicyTally>,
    run: &RunSummary,
    archives: &[Archive],
    kinds: &std::collections::BTreeMap<usize, Kind>,
    today: time::Date,
    findings: &[Finding],
) -> Vec<PolicyReport> {
    let mut reports: Vec<PolicyReport> = policies
        .iter()
        .zip(tallies)
        .map(|(policy, pt)| {
            let lint_fails = findings.iter().any(|f| f.fails(&policy.name));
            policy_report(policy, pt, run, archives, kinds, today, lint_fails)
        })
        .collect();
    reports.sort_by(|a, b| a.name.cmp(&b.name));
    reports
}

/// The report of a run that judged nothing, because the policies did not load or there was
/// no evidence: only the findings that say why. It is untrusted (exit 2) as long as one of
/// them is an error.
pub fn unscanned(
    findings: Vec<Finding>,
    today: time::Date,
    since: Option<u64>,
    until: Option<u64>,
) -> Report {
    Report {
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        today: today.to_string(),
        since,
        until,
        run: RunSummary::default(),
        policies: Vec::new(),
        findings,
        provenance: None,
        diff: None,
    }
}

fn policy_report(
    policy: &Policy,
    pt: crate::engine::PolicyTally,
    run: &RunSummary,
    archives: &[Archive],
    kinds: &std::collections::BTreeMap<usize, Kind>,
    today: time::Date,
    lint_fails: bool,
) -> PolicyReport {
    let archive_name = |i: usize| {
        archives
            .get(i)
            .map_or_else(|| format!("archive #{i}"), |a| a.display.clone())
    };
    // Each archive's name once, shared by the conversations whose example it holds.
    let mut names: std::collections::HashMap<usize, super::SharedName> = Default::default();
    let waiver_names: Vec<super::SharedName> = policy
        .waivers
        .iter()
        .map(|w| w.rule.name.as_str().into())
        .collect();
    let mut conversations: Vec<Conversation> = pt
        .conversations
        .drain()
        .map(|(k, s)| Conversation {
            protocol: k.protocol,
            client: k.client,
            server: k.server,
            server_port: k.server_port,
            records: s.records,
            packets: s.packets,
            bytes: s.bytes,
            first_start: s.first_start,
            last_end: s.last_end,
            example: Location {
                archive: names
                    .entry(s.example.0)
                    .or_insert_with(|| archive_name(s.example.0).into())
                    .clone(),
                line: s.example.1,
                unit: kinds.get(&s.example.0).map_or(Unit::Line, |k| k.unit()),
            },
            expired_waiver: s.expired_waiver.and_then(|w| waiver_names.get(w)).cloned(),
            server_by: s.basis,
        })
        .collect();
    // Unstable (no buffer of half the listing beside it): the keys are distinct in a
    // policy, so the order is total and the same as a stable sort's.
    conversations.sort_unstable_by(|a, b| {
        b.records.cmp(&a.records).then_with(|| {
            (a.protocol, a.client, a.server, a.server_port).cmp(&(
                b.protocol,
                b.client,
                b.server,
                b.server_port,
            ))
        })
    });
    let allows: Vec<AllowUse> = policy
        .allows
        .iter()
        .zip(&pt.allow_hits)
        .map(|(r, &hits)| AllowUse {
            name: r.name.clone(),
            line: r.line,
            hits,
        })
        .collect();
    let waivers: Vec<WaiverUse> = policy
        .waivers
        .iter()
        .zip(&pt.waiver_hits)
        .map(|(w, &hits)| WaiverUse {
            name: w.rule.name.clone(),
            line: w.rule.line,
            reason: w.reason.clone(),
            expires: w.expires.to_string(),
            expired: today > w.expires,
            hits,
        })
        .collect();
    // One line per missing field, not per archive: a month of archives in the wrong format
    // is one mistake, and a 9,000-line report would hide it.
    let mut missing: std::collections::BTreeMap<(crate::flowlog::Field, &str), (usize, usize)> =
        std::collections::BTreeMap::new();
    for &(i, field, key) in &pt.field_errors {
        let entry = missing.entry((field, key)).or_insert((0, i));
        entry.0 += 1;
        entry.1 = entry.1.min(i);
    }
    let field_errors: Vec<String> = missing
        .into_iter()
        .map(|((field, key), (count, first))| {
            let which = if count == 1 {
                archive_name(first)
            } else {
                format!("{count} archives (the first: {})", archive_name(first))
            };
            format!(
                "needs field `{field}` (for `{key}`), which {which} {} not have: the policy cannot be judged on {}. {}",
                if count == 1 { "does" } else { "do" },
                if count == 1 { "it" } else { "them" },
                missing_field_remedy(field),
            )
        })
        .collect();
    let demands = demands(
        &policy.evidence,
        !field_errors.is_empty(),
        pt.counts.in_scope,
        &run.coverage,
        run.skipdata,
        &allows,
        &waivers,
    );
    // A conversation the bound dropped blocks as a listed one does.
    let status = if !field_errors.is_empty() {
        Status::Error
    } else if lint_fails
        || !conversations.is_empty()
        || !pt.dropped.is_empty()
        || demands.iter().any(|d| d.status == DemandStatus::Fail)
    {
        Status::Fail
    } else {
        Status::Pass
    };
    let mut services = super::service::services(&conversations);
    let (conversations_not_listed, conversations_sampled) = match run.sampled {
        Some(s) if !pt.dropped.is_empty() => {
            super::service::add_dropped(&mut services, &pt.dropped);
            let (left, sample) = not_sampled(&conversations, &pt.dropped, s);
            (Some(left), Some(sample))
        }
        _ => (None, None),
    };
    PolicyReport {
        services,
        name: policy.name.clone(),
        path: policy.path.display().to_string(),
        line: policy.line,
        description: policy.description.clone(),
        owner: policy.owner.clone(),
        ticket: policy.ticket.clone(),
        status,
        counts: pt.counts,
        in_scope_first: pt.in_scope_first,
        in_scope_last: pt.in_scope_last,
        conversations,
        conversations_not_listed,
        conversations_sampled,
        allows,
        waivers,
        // Filled in by the check, which runs them (`policy::expect`).
        expectations: Vec::new(),
        demands,
        field_errors,
        blocked_hours: pt.blocked_hours,
    }
}

/// What the bound dropped of a policy's conversations, beside its `sample`: the sums exact,
/// the number of conversations (and of those with an expired waiver) estimated from the
/// sample's (the ranks are uniform, so a policy's sample is the same fraction of its
/// conversations), at least one per service with dropped traffic. A policy with nothing in
/// the sample has nothing to scale (an estimate from zero would say zero, or one): its count
/// is that lower bound, said as such ([`NotListedCount::AtLeast`]).
pub(crate) fn not_sampled(
    sample: &[Conversation],
    dropped: &crate::engine::bound::Dropped,
    sampled: crate::engine::bound::Sampled,
) -> (NotListed, ConversationSample) {
    let scale = |n: u64| {
        let all = (n as f64 / sampled.kept_fraction).round();
        // `as` saturates; the estimate is of what was not kept, so never below what was.
        (all as u64).saturating_sub(n)
    };
    let listed = sample.len() as u64;
    let expired = sample.iter().filter(|c| c.expired_waiver.is_some()).count() as u64;
    let sums = dropped.total();
    // Each service with dropped records had at least one dropped conversation.
    let at_least = dropped.services.len() as u64;
    let not_listed_count = if listed == 0 {
        NotListedCount::AtLeast
    } else {
        NotListedCount::Estimate
    };
    let left = NotListed {
        conversations: scale(listed).max(at_least),
        records: sums.records,
        packets: sums.packets,
        bytes: sums.bytes,
        expired_waiver: scale(expired),
    };
    let sample = ConversationSample {
        keep_conversations: sampled.limit as u64,
        kept_fraction: sampled.kept_fraction,
        sampled: listed,
        not_listed_count,
    };
    (left, sample)
}

/// What to do about archives that lack a field: AWS fixes a flow log's format when it is
/// created, so the field comes only with a new flow log. (`allow_empty` would only hide that
/// the policy was never judged.)
fn missing_field_remedy(field: crate::flowlog::Field) -> String {
    match field.version() {
        // The default format's fields and the Transit Gateway ones: no custom format adds them.
        2 => format!("`{field}` is in every flow-log format of version 2 and later: are these VPC flow logs, with their header line (or `--log-format`)?"),
        6 => format!("`{field}` is a Transit Gateway flow-log field: these archives come from another kind of flow log"),
        v => format!(
            "`{field}` is a version {v} field: a flow log's format cannot be changed, so the flow log must be recreated with a custom format that includes `{field}`, and only records written after that carry it"
        ),
    }
}

fn level_status(level: Level) -> DemandStatus {
    match level {
        Level::Fail => DemandStatus::Fail,
        Level::Warn => DemandStatus::Warn,
        Level::Ignore => DemandStatus::Skipped,
    }
}

/// Judges the `[evidence]` demands of one policy.
fn demands(
    ev: &EvidenceDemands,
    unjudged: bool,
    in_scope: u64,
    coverage: &CoverageReport,
    skipdata: u64,
    allows: &[AllowUse],
    waivers: &[WaiverUse],
) -> Vec<Demand> {
    let demand = |kind, status, message: String| Demand {
        kind,
        status,
        message,
    };
    let mut out = Vec::new();

    out.push(if in_scope > 0 {
        demand(DemandKind::Traffic, DemandStatus::Pass, format!("{in_scope} records in scope were observed"))
    } else if unjudged {
        demand(
            DemandKind::Traffic,
            DemandStatus::Fail,
            "no traffic in scope was observed in the archives the policy could be judged against: the others lack a field it needs".into(),
        )
    } else if ev.allow_empty {
        demand(
            DemandKind::Traffic,
            DemandStatus::Pass,
            "no traffic in scope was observed; the policy allows that (allow_empty = true)".into(),
        )
    } else {
        demand(
            DemandKind::Traffic,
            DemandStatus::Fail,
            "no traffic in scope was observed: this proves nothing (set allow_empty = true under [evidence] if that is expected)".into(),
        )
    });

    out.push(match ev.min_window {
        None => demand(DemandKind::Window, DemandStatus::Skipped, "no min_window demanded".into()),
        Some(min) if coverage.window_seconds >= min => demand(
            DemandKind::Window,
            DemandStatus::Pass,
            format!("the archives cover {}; the policy demands at least {}", human_duration(coverage.window_seconds), human_duration(min)),
        ),
        Some(min) => {
            let covered = match (coverage.first_start, coverage.last_end) {
                (Some(s), Some(e)) => format!("{} ({} to {})", human_duration(coverage.window_seconds), rfc3339(s), rfc3339(e)),
                _ => "no time at all".into(),
            };
            demand(
                DemandKind::Window,
                DemandStatus::Fail,
                format!(
                    "the archives cover only {covered}, but the policy demands at least {} (min_window): traffic that runs less often than that, such as a monthly job, would not show up in this evidence",
                    human_duration(min)
                ),
            )
        }
    });

    out.push(match (ev.max_gap, coverage.longest_gap) {
        (None, _) => demand(DemandKind::Gaps, DemandStatus::Skipped, "no max_gap demanded".into()),
        (Some(max), Some(g)) if g.seconds > max => demand(
            DemandKind::Gaps,
            DemandStatus::Fail,
            format!(
                "no records for {} from {} to {}, longer than the {} the policy allows (max_gap): traffic in that time was not observed",
                human_duration(g.seconds),
                rfc3339(g.from),
                rfc3339(g.to),
                human_duration(max)
            ),
        ),
        (Some(max), g) => demand(
            DemandKind::Gaps,
            DemandStatus::Pass,
            format!(
                "longest gap without records is {}; the policy allows {}",
                human_duration(g.map_or(0, |g| g.seconds)),
                human_duration(max)
            ),
        ),
    });

    out.push(if skipdata == 0 {
        demand(DemandKind::Skipdata, DemandStatus::Pass, "no SKIPDATA records".into())
    } else {
        demand(
            DemandKind::Skipdata,
            level_status(ev.skipdata),
            format!("{skipdata} SKIPDATA records: AWS dropped flow records in those intervals, so some traffic is missing from the evidence"),
        )
    });

    let unused: Vec<&str> = allows
        .iter()
        .filter(|a| a.hits == 0)
        .map(|a| a.name.as_str())
        .collect();
    out.push(if unused.is_empty() {
        demand(DemandKind::UnusedAllow, DemandStatus::Pass, "every allow rule matched traffic".into())
    } else {
        demand(
            DemandKind::UnusedAllow,
            level_status(ev.unused_allow),
            format!(
                "allow rule{} matched no traffic: {} (a stale allow rule keeps open what nobody uses)",
                if unused.len() == 1 { "" } else { "s" },
                unused.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
            ),
        )
    });

    let unused_waivers: Vec<&str> = waivers
        .iter()
        .filter(|w| w.hits == 0)
        .map(|w| w.name.as_str())
        .collect();
    out.push(if waivers.is_empty() {
        demand(
            DemandKind::UnusedWaiver,
            DemandStatus::Skipped,
            "no waivers".into(),
        )
    } else if unused_waivers.is_empty() {
        demand(
            DemandKind::UnusedWaiver,
            DemandStatus::Pass,
            "every waiver matched traffic".into(),
        )
    } else {
        demand(
            DemandKind::UnusedWaiver,
            DemandStatus::Warn,
            format!(
                "waiver{} matched no traffic and can be deleted: {}",
                if unused_waivers.len() == 1 { "" } else { "s" },
                unused_waivers
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::conversations::{ConversationKey, ConversationStats};
    use crate::engine::server::Basis;
    use crate::engine::PolicyTally;

    fn key(i: u32) -> ConversationKey {
        ConversationKey {
            protocol: Some(if i.is_multiple_of(3) { 17 } else { 6 }),
            client: Some(std::net::IpAddr::from(
                (0x0a00_0000 + i * 7919).to_be_bytes(),
            )),
            server: Some(if i.is_multiple_of(5) {
                "2600:1f18::9".parse().unwrap()
            } else {
                std::net::IpAddr::from([10, 20, 0, (i % 11) as u8])
            }),
            server_port: Some(if i.is_multiple_of(2) { 443 } else { 8125 }),
        }
    }

    fn stats(i: u32) -> ConversationStats {
        // Few distinct record counts: many ties, which the key must break.
        let records = u64::from(i % 4) + 1;
        ConversationStats {
            records,
            packets: records * 3,
            bytes: records * 100,
            first_start: Some(u64::from(i)),
            last_end: Some(u64::from(i) + 60),
            example: ((i % 3) as usize, u64::from(i)),
            expired_waiver: None,
            basis: Basis::Flags,
        }
    }

    /// The listing a report builds from a policy's table (drained as it goes, sorted without
    /// a stable sort's buffer) is the conversations by records, then by key, whatever order
    /// the table was filled in: the order a stable sort of any input gives.
    #[test]
    fn the_listing_is_by_records_then_key_whatever_the_table_order() {
        let set = PolicySet::from_sources([(
            "p.toml",
            "[policy]\nname = \"p\"\n[scope]\npeer = [\"10.20.0.0/16\"]\n",
        )])
        .unwrap();
        let run = RunSummary::default();
        let report = |order: &mut dyn Iterator<Item = u32>| {
            let mut pt = PolicyTally::new(0, 0);
            for i in order {
                pt.add_conversation(key(i), stats(i));
            }
            let kinds = Default::default();
            let mut reports = policy_reports(
                set.policies(),
                vec![pt],
                &run,
                &[],
                &kinds,
                time::macros::date!(2026 - 11 - 26),
                &[],
            );
            reports.pop().unwrap().conversations
        };
        let forward = report(&mut (0..500));
        let backward = report(&mut (0..500).rev());
        let strided = report(&mut (0..500).map(|i| (i * 7) % 500));
        assert_eq!(forward, backward);
        assert_eq!(forward, strided);
        let mut want: Vec<(u64, ConversationKey)> =
            (0..500).map(|i| (stats(i).records, key(i))).collect();
        want.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        let got: Vec<(u64, ConversationKey)> = forward
            .iter()
            .map(|c| {
                let k = ConversationKey {
                    protocol: c.protocol,
                    client: c.client,
                    server: c.server,
                    server_port: c.server_port,
                };
                (c.records, k)
            })
            .collect();
        assert_eq!(got, want);
        assert!(forward
            .iter()
            .all(|c| *c.example.archive == *format!("archive #{}", c.example.line % 3)));
    }
}
