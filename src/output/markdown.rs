//! Markdown pieces that the job summary and the pull-request comment share: escaping, table
//! rows, conversation tables, and the change (`--base`) as headline, tables and details.
//!
//! GitHub renders this Markdown as HTML, so every data value goes through [`md`]: it can
//! neither add HTML nor links nor break out of a table cell. Both writers cut their text at
//! block boundaries to stay under GitHub's limits, so everything here comes as whole blocks
//! (a `<details>` element is one block, so a cut never leaves one open).

use std::fmt::Write;

use super::{clean_line, conversation_cells, count, shows_server_by};
use crate::report::diff::{Diff, PolicyDiff};
use crate::report::service::{services, Service};
use crate::report::{Conversation, PolicyReport, Status};
use crate::text::thousands;

/// A data value as Markdown text that renders as itself: control characters made visible,
/// HTML characters as entities, Markdown punctuation backslash-escaped (`|` included, so a
/// value stays in its table cell).
pub(crate) fn md(s: &str) -> String {
    let clean = clean_line(s);
    let mut out = String::with_capacity(clean.len() + 8);
    for c in clean.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            // `(` and `!` need no escape: a link or image also needs `[`.
            '\\' | '|' | '`' | '*' | '_' | '[' | ']' | '~' | '#' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn row(cells: &[String]) -> String {
    format!("| {} |\n", cells.join(" | "))
}

pub(crate) fn status(s: Status) -> &'static str {
    match s {
        Status::Pass => "✅ PASS",
        Status::Fail => "❌ FAIL",
        Status::Error => "⚠️ ERROR",
    }
}

fn status_or_none(s: Option<Status>) -> &'static str {
    s.map_or("-", status)
}

/// The header rows of the table of policies and their verdicts.
pub(crate) const POLICIES_HEADER: &str =
    "| policy | verdict | in scope | allowed | would block | conversations |\n\
     | --- | --- | ---: | ---: | ---: | ---: |\n";

/// One policy's row of the table under [`POLICIES_HEADER`].
pub(crate) fn policy_row(p: &PolicyReport) -> String {
    row(&[
        md(&p.name),
        status(p.status).to_string(),
        p.counts.in_scope.to_string(),
        p.counts.allowed.to_string(),
        p.counts.would_block.to_string(),
        // The run's bound kept a sample: the count is its estimate, or a lower bound.
        match p.conversations_qualifier() {
            "" => p.conversations_total().to_string(),
            "about " => format!("~{}", p.conversations_total()),
            _ => format!("≥{}", p.conversations_total()),
        },
    ])
}

/// The columns of a conversation table beyond the fixed ones.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Columns {
    /// How each server was decided, when some was inferred.
    pub server_by: bool,
    /// The expired waiver, when some conversation has one.
    pub waivers: bool,
}

impl Columns {
    /// The columns that these conversations need.
    pub(crate) fn of(shown: &[Conversation]) -> Columns {
        Columns {
            server_by: shows_server_by(shown),
            waivers: shown.iter().any(|c| c.expired_waiver.is_some()),
        }
    }
}

/// The header rows of a conversation table.
pub(crate) fn conversation_header(columns: Columns) -> String {
    let mut header = vec!["protocol", "client", "server"];
    let mut align = vec!["---", "---", "---"];
    if columns.server_by {
        header.push("server by");
        align.push("---");
    }
    header.extend(["records", "packets", "bytes", "first seen", "last seen"]);
    align.extend(["---:", "---:", "---:", "---", "---"]);
    let waivers = columns.waivers;
    if waivers {
        header.push("expired waiver");
        align.push("---");
    }
    header.push("example");
    align.push("---");
    let strings = |v: Vec<&str>| v.into_iter().map(String::from).collect::<Vec<_>>();
    row(&strings(header)) + &row(&strings(align))
}

/// One conversation as a table row, matching [`conversation_header`].
pub(crate) fn conversation_row(c: &Conversation, columns: Columns) -> String {
    let mut cells = conversation_cells(c, columns.server_by);
    if columns.waivers {
        cells.push(
            c.expired_waiver
                .as_deref()
                .map_or_else(|| "-".to_string(), md),
        );
    }
    cells.push(md(&c.example.to_string()));
    row(&cells)
}

/// The first `max` conversations as one table, and a line saying how many more there are of
/// `total` (the conversations listed or not: `--max-conversations` may have cut `list`).
pub(crate) fn conversation_table(
    list: &[Conversation],
    total: u64,
    qualifier: &str,
    max: usize,
    more: &str,
) -> String {
    let shown = &list[..list.len().min(max)];
    let hidden = total.saturating_sub(shown.len() as u64);
    let words = super::more_words(qualifier, hidden, shown.len());
    if shown.is_empty() {
        // An empty sample: no header without rows, only what is known.
        return if hidden > 0 {
            format!("{}; {more}.\n", upper_first(&words))
        } else {
            String::new()
        };
    }
    let columns = Columns::of(shown);
    let mut out = conversation_header(columns);
    for c in shown {
        out.push_str(&conversation_row(c, columns));
    }
    if hidden > 0 {
        let _ = write!(out, "\n{words}; {more}.\n");
    }
    out
}

/// `None in the sample: …` for a sentence of its own.
pub(crate) fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Services listed in a table before the conversations.
const TOP_SERVICES: usize = 10;

/// The services of a conversation list as a table (at most [`TOP_SERVICES`] rows, then how
/// many more), then a blank line.
pub(crate) fn services_table(services: &[Service]) -> String {
    let mut out = String::from(
        "| service | servers | clients | conversations | records |
| --- | --- | ---: | ---: | ---: |
",
    );
    for s in services.iter().take(TOP_SERVICES) {
        let cells = if !s.sampled {
            [
                md(&s.servers_text()),
                thousands(s.clients),
                thousands(s.conversations),
            ]
        } else if s.conversations == 0 {
            // The bound dropped every one: only the records are known.
            ["none in the sample".to_string(), "-".into(), "-".into()]
        } else {
            // Servers, clients and conversations count only the sample's.
            [
                format!("{} in the sample", md(&s.servers_text())),
                format!("{} in the sample", thousands(s.clients)),
                format!("{} in the sample", thousands(s.conversations)),
            ]
        };
        let [servers, clients, conversations] = cells;
        out.push_str(&row(&[
            s.name(),
            servers,
            clients,
            conversations,
            thousands(s.records),
        ]));
    }
    if services.len() > TOP_SERVICES {
        let _ = writeln!(
            out,
            "
and {}.",
            count(
                (services.len() - TOP_SERVICES) as u64,
                "more service",
                "more services"
            )
        );
    }
    out.push('\n');
    out
}

/// Services, then conversations: what a reviewer reads about traffic that would be blocked.
/// `services` and `total` are over every conversation, `list` may be cut
/// (`--max-conversations`).
pub(crate) fn blocked_tables(
    services: &[Service],
    list: &[Conversation],
    total: u64,
    qualifier: &str,
    max: usize,
    more: &str,
) -> String {
    services_table(services) + &conversation_table(list, total, qualifier, max, more)
}

/// A `<details>` block: a one-line summary, then Markdown that GitHub renders inside it (it
/// needs the blank lines around it).
pub(crate) fn details(summary: &str, body: &str) -> String {
    format!("\n<details><summary>{summary}</summary>\n\n{body}\n</details>\n")
}

/// The change as Markdown blocks: the headline as a heading, a table of the policies that
/// changed, the added allow rules with their width (overly permissive ones flagged), then one
/// `<details>` per policy with its newly blocked and newly allowed conversations (at most
/// `max` each) and one for the removed rules. `subject` opens the headline ("This pull
/// request"), `level` is the heading's `#`s.
pub(crate) fn change_blocks(d: &Diff, subject: &str, level: &str, max: usize) -> Vec<String> {
    let short = &d.base_commit[..d.base_commit.len().min(12)];
    let label = d.label();
    let against = if label == short {
        format!("`{short}`")
    } else {
        format!("{} (`{short}`)", md(&label))
    };
    let mut blocks = vec![format!(
        "{level} flowgate: {}\n\nAgainst {against}.\n",
        d.headline(subject),
    )];
    if !d.unreadable.is_empty() {
        let lines: Vec<String> = d
            .unreadable
            .iter()
            .map(|u| format!("- ⚠️ {}\n", md(&u.sentence(&label))))
            .collect();
        blocks.push(format!("\n{}", lines.concat()));
    }
    let changed: Vec<&PolicyDiff> = d.changed().collect();
    if changed.is_empty() {
        return blocks;
    }
    let mut table = String::from(
        "\n| policy | change | before | now | newly blocked | newly allowed | rules added | rules removed |\n\
         | --- | --- | --- | --- | ---: | ---: | ---: | ---: |\n",
    );
    for p in &changed {
        table.push_str(&row(&[
            md(&p.name),
            p.change.as_str().to_string(),
            status_or_none(p.base_status).to_string(),
            status_or_none(p.status).to_string(),
            p.newly_blocked.len().to_string(),
            p.newly_allowed.len().to_string(),
            p.rules_added.len().to_string(),
            p.rules_removed.len().to_string(),
        ]));
    }
    blocks.push(table);

    let added: Vec<String> = changed
        .iter()
        .flat_map(|p| p.rules_added.iter().map(move |r| (p, r)))
        .map(|(p, r)| {
            let flag = match &r.reason {
                Some(why) => format!("⚠️ overly permissive: {}", md(why)),
                None => String::new(),
            };
            row(&[
                md(&p.name),
                format!("{} {}", r.kind, md(&r.name)),
                r.line.to_string(),
                r.change.to_string(),
                r.describe_width().unwrap_or_default(),
                r.describe_usage().unwrap_or_default(),
                flag,
            ])
        })
        .collect();
    if !added.is_empty() {
        blocks.push(format!(
            "\n**Rules added or changed**\n\n| policy | rule | line | change | admits | used by | |\n| --- | --- | ---: | --- | --- | --- | --- |\n{}",
            added.concat()
        ));
    }

    for p in &changed {
        for (what, list) in [
            ("newly blocked", &p.newly_blocked),
            ("newly allowed", &p.newly_allowed),
        ] {
            if list.is_empty() {
                continue;
            }
            let records: u64 = list.iter().map(|c| c.records).sum();
            let summary = format!(
                "{}: {} {} ({})",
                md(&p.name),
                count(list.len() as u64, "conversation", "conversations"),
                what,
                count(records, "record", "records")
            );
            blocks.push(details(
                &summary,
                &blocked_tables(
                    &services(list),
                    list,
                    list.len() as u64,
                    "",
                    max,
                    "the JSON report lists every one",
                ),
            ));
        }
    }
    let removed: Vec<String> = changed
        .iter()
        .flat_map(|p| {
            p.rules_removed.iter().map(move |r| {
                row(&[
                    md(&p.name),
                    format!("{} {}", r.kind, md(&r.name)),
                    r.line.to_string(),
                    r.change.to_string(),
                ])
            })
        })
        .collect();
    if !removed.is_empty() {
        blocks.push(details(
            &format!(
                "{} removed or replaced",
                count(removed.len() as u64, "rule", "rules")
            ),
            &format!(
                "| policy | rule | line at the base | change |\n| --- | --- | ---: | --- |\n{}",
                removed.concat()
            ),
        ));
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_in_data_renders_as_text() {
        assert_eq!(
            md("a|b<img src=x>&`c`*d*_e_[l](u)\\\n"),
            "a\\|b&lt;img src=x&gt;&amp;\\`c\\`\\*d\\*\\_e\\_\\[l\\](u)\\\\\\\\n"
        );
    }
}
