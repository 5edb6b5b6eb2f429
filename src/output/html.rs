//! `--html FILE`: the check as one self-contained web page, for a reviewer who would rather
//! look than read, opened from a CI artifact or offline.
//!
//! One file: the styles, the script (sortable tables, filters by client, server and port) and
//! the timelines (inline SVG, [`svg`]) are inside it; nothing is fetched, and the page's
//! Content-Security-Policy says so to the browser (`default-src 'none'`, the style and the
//! script allowed by their SHA-256 only), so even markup that slipped through could neither
//! run nor load anything. Every data string is cleaned by [`crate::text`] and then escaped for
//! HTML ([`esc`]): policy, rule and archive names come from pull requests and buckets.
//!
//! The order is a reviewer's: the verdict; with `--base`, the change; why the run cannot be
//! trusted; the policies (each with its timelines, services and conversations); the evidence
//! (its timeline, the run summary, problems, files not read); the findings. Tables hold at
//! most [`ROWS`] rows, most records first, and say how many there are in all: the JSON report
//! holds every one. The same report gives the same bytes: no clock, no randomness.

mod svg;

use std::fmt::Write;

use base64::Engine;
use sha2::{Digest, Sha256};

use super::timeline::{top_services, window, Timeline};
use super::{count, verdict, when};
use crate::report::diff::{Diff, PolicyDiff};
use crate::report::service::Service;
use crate::report::{
    protocol_name, Conversation, DemandStatus, Hours, PolicyReport, Report, Status,
};
use crate::text::{clean_line, clean_text, thousands};

/// Rows a table holds at most; the totals above it are always exact.
pub const ROWS: usize = 1000;

const CSS: &str = include_str!("html/report.css");
const JS: &str = include_str!("html/report.js");

/// Text for HTML content or a double-quoted attribute: cleaned to one line (control
/// characters and bidirectional overrides shown as escapes), then `&`, `<`, `>`, `"`, `'`
/// as entities.
pub fn esc(s: &str) -> String {
    escape(&clean_line(s))
}

/// [`esc`] keeping line feeds, for `<pre>` blocks.
fn esc_block(s: &str) -> String {
    escape(&clean_text(s))
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `'sha256-…'`: a CSP source allowing exactly this inline element.
fn csp_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

fn status_class(s: Status) -> &'static str {
    s.as_str()
}

/// A numeric cell: thousands separated, sorted by its value.
fn num(n: u64) -> String {
    format!("<td class=\"n\" data-v=\"{n}\">{}</td>", thousands(n))
}

/// A numeric cell written as is: a line number, a port.
fn plain(n: impl std::fmt::Display) -> String {
    format!("<td class=\"n\">{n}</td>")
}

/// A number cell with what qualifies it (`about `, `at least `; `""` when exact), sorted by
/// the number.
fn num_q(qualifier: &str, n: u64) -> String {
    format!(
        "<td class=\"n\" data-v=\"{n}\">{qualifier}{}</td>",
        thousands(n)
    )
}

/// A service's count that only the bound's sample holds: `3 in the sample`, sorted by 3.
fn in_sample(s: &Service, n: u64) -> String {
    if s.sampled {
        format!(
            "<td class=\"n\" data-v=\"{n}\">{} in the sample</td>",
            thousands(n)
        )
    } else {
        num(n)
    }
}

fn cell(s: &str) -> String {
    format!("<td>{}</td>", esc(s))
}

/// A table head: `(title, numeric)` per column.
fn head(cols: &[(&str, bool)]) -> String {
    let mut out = String::from("<thead><tr>");
    for (title, numeric) in cols {
        if *numeric {
            let _ = write!(out, "<th class=\"n\">{title}</th>");
        } else {
            let _ = write!(out, "<th>{title}</th>");
        }
    }
    out.push_str("</tr></thead>");
    out
}

/// `showing the first 1,000 of 100,000 conversations, most records first; ...` when capped.
fn cap_note(shown: usize, total: u64, what: &str, whole: &str) -> String {
    if (shown as u64) < total {
        format!(
            "<p class=\"note\">This table shows the first {} of {} {what}, most records first; {whole}. Sorting and filters apply to the rows shown.</p>",
            thousands(shown as u64),
            thousands(total)
        )
    } else {
        String::new()
    }
}

/// Where a capped table's rows can all be read.
const JSON_LISTS_EVERY_ONE: &str = "the JSON report (<code>--json</code>) lists every one";

/// The conversation table with its filter form; `id` names the table. `total` counts the
/// conversations listed or not (`--max-conversations`), `whole` says where to read them all.
fn conversations(
    list: &[Conversation],
    total: u64,
    qualifier: &str,
    whole: &str,
    id: &str,
) -> String {
    let shown = &list[..list.len().min(ROWS)];
    if shown.is_empty() {
        // An empty sample: what is known, no table without rows.
        let words = super::more_words(qualifier, total, 0);
        return format!("<p class=\"note\">{}; {whole}.</p>", esc(&words));
    }
    let waivers = shown.iter().any(|c| c.expired_waiver.is_some());
    let mut out = format!(
        "<form class=\"filter\" data-table=\"{id}\" data-client=\"1\" data-server=\"2\" data-port=\"3\"><label>client <input name=\"client\" type=\"search\" autocomplete=\"off\"></label><label>server <input name=\"server\" type=\"search\" autocomplete=\"off\"></label><label>port <input name=\"port\" type=\"search\" inputmode=\"numeric\" autocomplete=\"off\"></label><output>{n} of {n} rows shown</output></form>",
        n = shown.len()
    );
    if qualifier.is_empty() {
        out.push_str(&cap_note(shown.len(), total, "conversations", whole));
    } else {
        // The bound's sample: its own order, the total an estimate.
        let part = if shown.len() < list.len() {
            format!(
                "the first {} of the sample's {} conversations",
                thousands(shown.len() as u64),
                thousands(list.len() as u64)
            )
        } else {
            format!(
                "the sample's {}",
                count(shown.len() as u64, "conversation", "conversations")
            )
        };
        let _ = write!(
            out,
            "<p class=\"note\">This table shows {part}, ordered by records, of {qualifier}{} in all; {whole}. Sorting and filters apply to the rows shown.</p>",
            thousands(total)
        );
    }
    let mut cols = vec![
        ("protocol", false),
        ("client", false),
        ("server", false),
        ("port", true),
        ("records", true),
        ("packets", true),
        ("bytes", true),
        ("first seen", false),
        ("last seen", false),
        ("example", false),
    ];
    if waivers {
        cols.push(("expired waiver", false));
    }
    let _ = write!(
        out,
        "<div class=\"wrap\"><table class=\"sortable\" id=\"{id}\">{}<tbody>",
        head(&cols)
    );
    for c in shown {
        out.push_str("<tr>");
        out.push_str(&cell(&protocol_name(c.protocol)));
        out.push_str(&cell(&c.client.map_or("-".into(), |a| a.to_string())));
        out.push_str(&cell(&c.server.map_or("-".into(), |a| a.to_string())));
        match c.server_port {
            Some(p) => out.push_str(&plain(p)),
            None => out.push_str("<td class=\"n\" data-v=\"-1\">-</td>"),
        }
        out.push_str(&num(c.records));
        out.push_str(&num(c.packets));
        out.push_str(&num(c.bytes));
        out.push_str(&cell(&when(c.first_start)));
        out.push_str(&cell(&when(c.last_end)));
        out.push_str(&cell(&c.example.to_string()));
        if waivers {
            out.push_str(&cell(c.expired_waiver.as_deref().unwrap_or("-")));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    out
}

fn services(list: &[Service], id: &str) -> String {
    let shown = &list[..list.len().min(ROWS)];
    let mut out = cap_note(
        shown.len(),
        list.len() as u64,
        "services",
        JSON_LISTS_EVERY_ONE,
    );
    let _ = write!(
        out,
        "<div class=\"wrap\"><table class=\"sortable\" id=\"{id}\">{}<tbody>",
        head(&[
            ("service", false),
            ("servers", false),
            ("server count", true),
            ("clients", true),
            ("conversations", true),
            ("records", true),
            ("first seen", false),
            ("last seen", false),
        ])
    );
    for s in shown {
        out.push_str("<tr>");
        out.push_str(&cell(&s.name()));
        out.push_str(&cell(&s.server_networks.join(", ")));
        out.push_str(&in_sample(s, s.servers));
        out.push_str(&in_sample(s, s.clients));
        out.push_str(&in_sample(s, s.conversations));
        out.push_str(&num(s.records));
        out.push_str(&cell(&when(s.first_start)));
        out.push_str(&cell(&when(s.last_end)));
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    out
}

/// The timelines of a failing policy: one per top service.
fn policy_timelines(report: &Report, p: &PolicyReport) -> String {
    let Some(win) = window(report) else {
        return String::new();
    };
    let mut out = String::new();
    for (s, hours) in top_services(p) {
        let empty = Hours::default();
        let t = Timeline::new(hours.unwrap_or(&empty), win);
        let what = format!("Would-be-blocked records of {}", s.name());
        let _ = write!(
            out,
            "<h4>{}</h4><p>{}.</p>",
            esc(&s.name()),
            esc(&t.describe(&what))
        );
        out.push_str(&svg::chart(
            &t,
            None,
            svg::Empty::Blank,
            &esc(&what),
            "records",
        ));
    }
    if p.services.len() > super::timeline::TOP_SERVICES {
        let _ = write!(
            out,
            "<p class=\"note\">{} not charted; the table below lists them.</p>",
            count(
                (p.services.len() - super::timeline::TOP_SERVICES) as u64,
                "more service",
                "more services"
            )
        );
    }
    out
}

fn policy(report: &Report, p: &PolicyReport, i: usize, out: &mut String) {
    let s = p.status.as_str();
    let _ = write!(
        out,
        "<section class=\"policy\" id=\"policy-{i}\"><h2><span class=\"{}\">{s}</span> {}</h2><p class=\"muted\">{}:{}</p>",
        status_class(p.status),
        esc(&p.name),
        esc(&p.path),
        p.line
    );
    if let Some(d) = &p.description {
        let _ = write!(out, "<p>{}</p>", esc(d));
    }
    let people: Vec<String> = [("owner", &p.owner), ("ticket", &p.ticket)]
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}: {}", esc(v))))
        .collect();
    if !people.is_empty() {
        let _ = write!(out, "<p class=\"muted\">{}</p>", people.join(", "));
    }
    let c = &p.counts;
    let _ = write!(
        out,
        "<table>{}<tbody><tr>{}{}{}{}{}{}</tr></tbody></table>",
        head(&[
            ("records scanned", true),
            ("in scope", true),
            ("allowed", true),
            ("already rejected", true),
            ("waived", true),
            ("would be blocked", true),
        ]),
        num(c.scanned),
        num(c.in_scope),
        num(c.allowed),
        num(c.already_rejected),
        num(c.waived),
        num(c.would_block)
    );
    if let (Some(a), Some(b)) = (p.in_scope_first, p.in_scope_last) {
        let _ = write!(
            out,
            "<p class=\"muted\">in scope from {} to {}</p>",
            crate::text::rfc3339(a),
            crate::text::rfc3339(b)
        );
    }
    if let Some(prov) = &report.provenance {
        let _ = write!(out, "<p class=\"note\">{}.</p>", esc(&prov.sample_note()));
    }
    if p.conversations_total() > 0 {
        let records = p.conversation_records();
        let _ = write!(
            out,
            "<h3>Would be blocked: {}{} ({})</h3>",
            // The run's bound kept a sample: the number of conversations is its estimate.
            p.conversations_qualifier(),
            count(p.conversations_total(), "conversation", "conversations"),
            count(records, "record", "records")
        );
        out.push_str(&policy_timelines(report, p));
        out.push_str("<h4>Services</h4>");
        out.push_str(&services(&p.services, &format!("services-{i}")));
        out.push_str("<h4>Conversations</h4>");
        let whole = super::more_conversations(p, JSON_LISTS_EVERY_ONE);
        out.push_str(&conversations(
            &p.conversations,
            p.conversations_total(),
            p.conversations_qualifier(),
            whole,
            &format!("conversations-{i}"),
        ));
    }
    rules(p, out);
    let demands: Vec<String> = p
        .demands
        .iter()
        .filter(|d| d.status != DemandStatus::Skipped)
        .map(|d| {
            let (class, word) = match d.status {
                DemandStatus::Fail => ("FAIL", "FAIL"),
                DemandStatus::Warn => ("warn", "warn"),
                _ => ("PASS", "pass"),
            };
            format!(
                "<li><span class=\"{class}\">{word}</span> {}: {}</li>",
                d.kind.as_str(),
                esc(&d.message)
            )
        })
        .collect();
    if !demands.is_empty() {
        let _ = write!(
            out,
            "<h3>Evidence demands</h3><ul>{}</ul>",
            demands.concat()
        );
    }
    if !p.field_errors.is_empty() {
        out.push_str("<h3>Could not be judged against every archive</h3><ul>");
        for e in &p.field_errors {
            let _ = write!(out, "<li>{}</li>", esc(e));
        }
        out.push_str("</ul>");
    }
    let findings: Vec<String> = report
        .findings_of(&p.name)
        .map(|f| format!("<pre>{}</pre>", esc_block(&f.rendered)))
        .collect();
    if !findings.is_empty() {
        let _ = write!(out, "<h3>Lint</h3>{}", findings.concat());
    }
    out.push_str("</section>");
}

/// Allow rules, waivers and expectations of a policy.
fn rules(p: &PolicyReport, out: &mut String) {
    if !p.allows.is_empty() {
        let _ = write!(
            out,
            "<h3>Allow rules</h3><table>{}<tbody>",
            head(&[("rule", false), ("line", true), ("records", true)])
        );
        for a in &p.allows {
            let used = if a.hits == 0 {
                "<td class=\"n warn\" data-v=\"0\">unused</td>".to_string()
            } else {
                num(a.hits)
            };
            let _ = write!(out, "<tr>{}{}{used}</tr>", cell(&a.name), plain(a.line));
        }
        out.push_str("</tbody></table>");
    }
    if !p.waivers.is_empty() {
        let _ = write!(
            out,
            "<h3>Waivers</h3><table>{}<tbody>",
            head(&[
                ("waiver", false),
                ("line", true),
                ("expires", false),
                ("records", true),
                ("reason", false),
            ])
        );
        for w in &p.waivers {
            let expires = if w.expired {
                format!("<td class=\"FAIL\">EXPIRED {}</td>", esc(&w.expires))
            } else {
                cell(&w.expires)
            };
            let _ = write!(
                out,
                "<tr>{}{}{expires}{}{}</tr>",
                cell(&w.name),
                plain(w.line),
                num(w.hits),
                cell(&w.reason)
            );
        }
        out.push_str("</tbody></table>");
    }
    if !p.expectations.is_empty() {
        let _ = write!(
            out,
            "<h3>Expectations</h3><table>{}<tbody>",
            head(&[
                ("", false),
                ("expectation", false),
                ("line", true),
                ("flow", false),
                ("expected", false),
                ("decided", false),
            ])
        );
        for e in &p.expectations {
            let word = if e.holds {
                "<td class=\"PASS\">holds</td>"
            } else {
                "<td class=\"FAIL\">FAIL</td>"
            };
            let _ = write!(
                out,
                "<tr>{word}{}{}{}{}{}</tr>",
                cell(&e.name),
                plain(e.line),
                cell(&e.flow),
                cell(&e.verdict),
                cell(&e.decided)
            );
        }
        out.push_str("</tbody></table>");
    }
}

/// With `--base`: the headline, the policies that changed, the rules added, then each
/// policy's newly blocked and newly allowed conversations.
fn change(d: &Diff, out: &mut String) {
    let short = &d.base_commit[..d.base_commit.len().min(12)];
    let _ = write!(
        out,
        "<section id=\"change\"><h2>The change</h2><p class=\"verdict\">{}</p><p class=\"muted\">against {} ({})</p>",
        esc(&d.headline("This change")),
        esc(&d.base),
        esc(short)
    );
    let changed: Vec<&PolicyDiff> = d.changed().collect();
    if !changed.is_empty() {
        let _ = write!(
            out,
            "<table>{}<tbody>",
            head(&[
                ("policy", false),
                ("change", false),
                ("before", false),
                ("now", false),
                ("newly blocked", true),
                ("newly allowed", true),
                ("rules added", true),
                ("rules removed", true),
            ])
        );
        let status = |s: Option<Status>| s.map_or("-", Status::as_str);
        for p in &changed {
            let _ = write!(
                out,
                "<tr>{}{}{}{}{}{}{}{}</tr>",
                cell(&p.name),
                cell(p.change.as_str()),
                cell(status(p.base_status)),
                cell(status(p.status)),
                num(p.newly_blocked.len() as u64),
                num(p.newly_allowed.len() as u64),
                num(p.rules_added.len() as u64),
                num(p.rules_removed.len() as u64)
            );
        }
        out.push_str("</tbody></table>");
    }
    let added: Vec<String> = changed
        .iter()
        .flat_map(|p| p.rules_added.iter().map(move |r| (p, r)))
        .map(|(p, r)| {
            format!(
                "<tr>{}{}{}{}{}{}{}</tr>",
                cell(&p.name),
                cell(&format!("{} {}", r.kind, r.name)),
                plain(r.line),
                cell(r.change),
                cell(&r.describe_width().unwrap_or_default()),
                cell(&r.describe_usage().unwrap_or_default()),
                match &r.reason {
                    Some(why) => format!("<td class=\"warn\">overly permissive: {}</td>", esc(why)),
                    None => "<td></td>".into(),
                }
            )
        })
        .collect();
    if !added.is_empty() {
        let _ = write!(
            out,
            "<h3>Rules added or changed</h3><div class=\"wrap\"><table>{}<tbody>{}</tbody></table></div>",
            head(&[
                ("policy", false),
                ("rule", false),
                ("line", true),
                ("change", false),
                ("admits", false),
                ("used by", false),
                ("", false),
            ]),
            added.concat()
        );
    }
    for (i, p) in changed.iter().enumerate() {
        for (what, list) in [
            ("newly blocked", &p.newly_blocked),
            ("newly allowed", &p.newly_allowed),
        ] {
            if list.is_empty() {
                continue;
            }
            let records: u64 = list.iter().map(|c| c.records).sum();
            let _ = write!(
                out,
                "<h3>{}: {} {what} ({})</h3>",
                esc(&p.name),
                count(list.len() as u64, "conversation", "conversations"),
                count(records, "record", "records")
            );
            let id = format!("change-{i}-{}", what.replace(' ', "-"));
            out.push_str(&conversations(
                list,
                list.len() as u64,
                "",
                JSON_LISTS_EVERY_ONE,
                &id,
            ));
        }
    }
    let removed: Vec<String> = changed
        .iter()
        .flat_map(|p| p.rules_removed.iter().map(move |r| (p, r)))
        .map(|(p, r)| {
            format!(
                "<tr>{}{}{}{}</tr>",
                cell(&p.name),
                cell(&format!("{} {}", r.kind, r.name)),
                plain(r.line),
                cell(r.change)
            )
        })
        .collect();
    if !removed.is_empty() {
        let _ = write!(
            out,
            "<h3>Rules removed or replaced</h3><table>{}<tbody>{}</tbody></table>",
            head(&[
                ("policy", false),
                ("rule", false),
                ("line at the base", true),
                ("change", false),
            ]),
            removed.concat()
        );
    }
    out.push_str("</section>");
}

/// The evidence: its timeline (SKIPDATA marked), the run summary, problems, files not read.
fn evidence(report: &Report, out: &mut String) {
    let run = &report.run;
    out.push_str("<section id=\"evidence\"><h2>Evidence</h2>");
    if let Some(win) = window(report) {
        let t = Timeline::new(&run.hours, win);
        let gaps = t.values.iter().filter(|&&v| v == 0).count();
        let _ = write!(
            out,
            "<p>{}; {} without any record (shaded).",
            esc(&t.describe("Records")),
            count(gaps as u64, "bar", "bars")
        );
        let marks =
            (!run.skipdata_hours.is_empty()).then(|| Timeline::new(&run.skipdata_hours, win));
        if let Some(m) = &marks {
            let _ = write!(
                out,
                " Marks above the bars: {}.",
                esc(&m.describe("SKIPDATA records"))
            );
        }
        out.push_str("</p>");
        out.push_str(&svg::chart(
            &t,
            marks.as_ref(),
            svg::Empty::Gap,
            "Evidence: records",
            "records",
        ));
    }
    let _ = write!(
        out,
        "<pre>{}</pre>",
        esc_block(&super::run::render(run, report.provenance.as_ref()))
    );
    if !run.problems.is_empty() {
        let shown = run.problems.len().min(ROWS);
        let _ = write!(
            out,
            "<h3>Problems reading the evidence: {}</h3><ul>",
            thousands(run.problems_total)
        );
        for p in &run.problems[..shown] {
            let _ = write!(out, "<li>{}</li>", esc(&super::problem_line(p)));
        }
        out.push_str("</ul>");
        if run.problems_total > shown as u64 {
            let _ = write!(
                out,
                "<p class=\"note\">and {}: the JSON report keeps the first 1,000.</p>",
                count(
                    run.problems_total - shown as u64,
                    "more problem",
                    "more problems"
                )
            );
        }
    }
    if !run.not_read.is_empty() {
        let _ = write!(
            out,
            "<h3>Files not read: {}</h3><ul>",
            thousands(run.not_read.len() as u64)
        );
        for s in run.not_read.iter().take(ROWS) {
            let _ = write!(out, "<li>{}: {}</li>", esc(&s.path), esc(&s.reason));
        }
        out.push_str("</ul>");
        if run.not_read.len() > ROWS {
            let _ = write!(
                out,
                "<p class=\"note\">and {} more; the JSON report lists every one.</p>",
                thousands((run.not_read.len() - ROWS) as u64)
            );
        }
    }
    out.push_str("</section>");
}

/// The whole page.
pub fn render(report: &Report) -> String {
    let verdict = verdict(report);
    let word = match report.exit_code() {
        0 => "PASS",
        1 => "FAIL",
        _ => "UNTRUSTED",
    };
    let csp = format!(
        "default-src 'none'; style-src {}; script-src {}; img-src data:; base-uri 'none'; form-action 'none'",
        csp_hash(CSS),
        csp_hash(JS)
    );
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"referrer\" content=\"no-referrer\">\n<title>flowgate: {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        esc(&verdict)
    );
    let _ = write!(
        out,
        "<header><h1>flowgate</h1><p class=\"verdict {word}\">{}</p><p class=\"muted\">flowgate {} · waivers judged on {}",
        esc(&verdict),
        esc(&report.tool_version),
        esc(&report.today)
    );
    if report.is_scanned() {
        let _ = write!(out, " · evidence: {}", esc(&report.run.coverage.describe()));
    }
    out.push_str("</p>");
    if !report.policies.is_empty() {
        out.push_str("<nav><ul>");
        for (i, p) in report.policies.iter().enumerate() {
            let _ = write!(
                out,
                "<li><a href=\"#policy-{i}\"><span class=\"{}\">{}</span> {}</a></li>",
                status_class(p.status),
                p.status.as_str(),
                esc(&p.name)
            );
        }
        out.push_str("<li><a href=\"#evidence\">Evidence</a></li></ul></nav>");
    }
    out.push_str("</header>\n");
    if let Some(d) = &report.diff {
        change(d, &mut out);
        out.push('\n');
    }
    let untrusting: Vec<String> = report
        .untrusting_findings()
        .map(|f| format!("<pre>{}</pre>", esc_block(&f.rendered)))
        .collect();
    if !untrusting.is_empty() {
        let _ = writeln!(
            out,
            "<section id=\"untrusted\"><h2 class=\"UNTRUSTED\">Why the check cannot be trusted</h2>{}</section>",
            untrusting.concat()
        );
    }
    if !report.policies.is_empty() {
        let _ = write!(
            out,
            "<section id=\"policies\"><h2>Policies</h2><table class=\"sortable\" id=\"policy-table\">{}<tbody>",
            head(&[
                ("policy", false),
                ("verdict", false),
                ("in scope", true),
                ("allowed", true),
                ("would block", true),
                ("conversations", true),
            ])
        );
        for (i, p) in report.policies.iter().enumerate() {
            let _ = write!(
                out,
                "<tr><td><a href=\"#policy-{i}\">{}</a></td><td class=\"{}\">{}</td>{}{}{}{}</tr>",
                esc(&p.name),
                status_class(p.status),
                p.status.as_str(),
                num(p.counts.in_scope),
                num(p.counts.allowed),
                num(p.counts.would_block),
                num_q(p.conversations_qualifier(), p.conversations_total())
            );
        }
        out.push_str("</tbody></table></section>\n");
    }
    for (i, p) in report.policies.iter().enumerate() {
        policy(report, p, i, &mut out);
        out.push('\n');
    }
    if report.is_scanned() {
        evidence(report, &mut out);
        out.push('\n');
    }
    if !report.findings.is_empty() {
        let _ = write!(
            out,
            "<section id=\"findings\"><h2>Findings: {}</h2>",
            thousands(report.findings.len() as u64)
        );
        for f in &report.findings {
            let _ = write!(out, "<pre>{}</pre>", esc_block(&f.rendered));
        }
        out.push_str("</section>\n");
    }
    let _ = write!(
        out,
        "<footer>flowgate {} · {} · the same input gives this same file</footer>\n<script>{JS}</script>\n</body>\n</html>\n",
        esc(&report.tool_version),
        esc(&verdict)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::sample::{self, HOSTILE};

    #[test]
    fn hostile_names_are_text() {
        let html = render(&sample::hostile_report());
        // No tag, attribute or entity of the hostile string survives: only ours.
        assert!(!html.contains("<script>alert"), "a hostile script tag");
        assert_eq!(html.matches("<script").count(), 1);
        assert!(!html.contains('\x1b') && !html.contains('\0') && !html.contains('\r'));
        assert!(
            html.contains("evil\\x1b[31m\\x00]]&gt;&amp;&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        // Every quote of the data is an entity, so no attribute can be closed early.
        for line in html.lines() {
            assert!(!line.contains("\"evil"), "{line}");
        }
        assert!(!html.contains(HOSTILE));
    }

    #[test]
    fn self_contained_and_allowed_by_its_own_policy() {
        let html = render(&sample::report_with_diff());
        for banned in ["http://", "https://", "//cdn", "src=", "@import", "url("] {
            assert!(!html.contains(banned), "{banned}");
        }
        assert!(html.contains(&csp_hash(JS)) && html.contains(&csp_hash(CSS)));
        assert!(html.contains(&format!("<script>{JS}</script>")));
        assert!(html.contains(&format!("<style>{CSS}</style>")));
        // The change comes first.
        let change = html.find("id=\"change\"").unwrap();
        assert!(change < html.find("id=\"policies\"").unwrap());
    }

    #[test]
    fn tables_are_capped_with_exact_totals() {
        let mut report = sample::trusted_report();
        let p = &mut report.policies[1];
        p.conversations = (0..100_000)
            .map(|i| sample::conversation(i, 1 + i % 9))
            .collect();
        p.conversations
            .sort_by_key(|c| std::cmp::Reverse(c.records));
        p.services = crate::report::service::services(&p.conversations);
        let html = render(&report);
        assert!(
            html.contains("<h3>Would be blocked: 100000 conversations ("),
            "capped heading"
        );
        assert!(html.contains("This table shows the first 1,000 of 100,000 conversations"));
        // 1,000 conversations, 5 services, and the few rows of policies, counts and rules.
        let rows = html.matches("<tr>").count() - html.matches("<thead><tr>").count();
        assert!((1000..1020).contains(&rows), "{rows} rows");
        assert!(html.len() < 600_000, "{} bytes", html.len());
        eprintln!("HTML report of 100,000 conversations: {} bytes", html.len());
    }

    #[test]
    fn deterministic() {
        assert_eq!(render(&sample::report()), render(&sample::report()));
    }

    /// The run's bound kept a sample of the failing policy's conversations: the report says
    /// so, counts every record and estimates the conversations.
    #[test]
    fn a_sampled_listing_says_so() {
        let text = render(&sample::sampled_report());
        assert!(
            text.contains("--keep-conversations bound the run"),
            "{text}"
        );
    }

    #[test]
    fn snapshot() {
        insta::assert_snapshot!(render(&sample::report()));
    }

    /// `--max-conversations` cut the listing: the heading and the table's note count every
    /// conversation and say why the rest are not there.
    #[test]
    fn a_cut_listing_keeps_the_exact_counts() {
        let mut report = sample::report();
        report.list_conversations(2);
        let html = render(&report);
        assert!(
            html.contains("<h3>Would be blocked: 25 conversations (700 records)</h3>"),
            "{html}"
        );
        assert!(
            html.contains("This table shows the first 2 of 25 conversations, most records first; --max-conversations cut the listing; the totals count every one."),
            "{html}"
        );
    }
}
