//! `flowgate explain`: for one flow, every policy's decision and the path to it.
//!
//! The decision is the check's ([`crate::policy::explain`] judges with [`Policy::decide`]);
//! this file reads the flags, and prints the explanation as text or, with `--json`, as a
//! versioned document for tools. Exit status: 0 every policy decided, 1 some decision depends
//! on something not given (a field: pass it as a flag; a port the flow leaves out: a script
//! asking "is this allowed?" must not read "it depends" as yes), 2 the flow, a flag or a policy
//! file is wrong.

use std::path::PathBuf;

use clap::Args;
use serde_json::{json, Value};

use super::{load_policies_or_report, parse_date, print};
use crate::flowlog::{Action, Direction};
use crate::policy::explain::{explain, Explanation, Miss, Path, RuleRef};
use crate::policy::flowspec::FORM;
use crate::policy::matcher::IdKind;
use crate::policy::{FlowFields, FlowSpec, Policy};
use crate::report::{EXIT_FAIL, EXIT_PASS, EXIT_UNTRUSTED};
use crate::text::clean_line;

/// Version of the `--json` document.
pub const EXPLAIN_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The flow: `PROTOCOL SRC[:PORT] -> DST[:PORT]`, e.g. "tcp 10.0.2.15 -> 10.20.30.5:22"
    /// (IPv6 in brackets; a port left out is every ephemeral port, 1024-65535).
    #[arg(value_name = "FLOW")]
    pub flow: Option<String>,
    /// Policy files or directories (every *.toml inside). A flow given last, after the
    /// paths, is taken as the flow.
    #[arg(long, num_args = 1.., default_value = "policies", value_name = "PATH")]
    pub policies: Vec<PathBuf>,
    /// The record's `interface-id`, where a policy matches on it.
    #[arg(long, value_name = "ID", value_parser = id_parser(IdKind::Interface))]
    pub interface: Option<String>,
    /// The record's `vpc-id`.
    #[arg(long, value_name = "ID", value_parser = id_parser(IdKind::Vpc))]
    pub vpc: Option<String>,
    /// The record's `subnet-id`.
    #[arg(long, value_name = "ID", value_parser = id_parser(IdKind::Subnet))]
    pub subnet: Option<String>,
    /// The record's `instance-id`.
    #[arg(long, value_name = "ID", value_parser = id_parser(IdKind::Instance))]
    pub instance: Option<String>,
    /// The record's `flow-direction`.
    #[arg(long, value_parser = parse_direction)]
    pub direction: Option<Direction>,
    /// The record's `action` [default: ACCEPT].
    #[arg(long, value_parser = parse_action)]
    pub action: Option<Action>,
    /// The date waivers are judged against [default: today, UTC].
    #[arg(long, value_parser = parse_date, value_name = "YYYY-MM-DD")]
    pub today: Option<time::Date>,
    /// Print a JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

fn id_parser(kind: IdKind) -> impl Fn(&str) -> Result<String, String> + Clone + Send + Sync {
    move |s: &str| {
        if kind.accepts(s) {
            Ok(s.to_string())
        } else {
            let (prefix, what) = kind.prefix();
            Err(format!("`{s}` is not {what} (`{prefix}…`)"))
        }
    }
}

fn parse_direction(s: &str) -> Result<Direction, String> {
    match s.to_ascii_lowercase().as_str() {
        "ingress" => Ok(Direction::Ingress),
        "egress" => Ok(Direction::Egress),
        _ => Err(format!("`{s}` is not `ingress` or `egress`")),
    }
}

fn parse_action(s: &str) -> Result<Action, String> {
    match s.to_ascii_uppercase().as_str() {
        "ACCEPT" => Ok(Action::Accept),
        "REJECT" => Ok(Action::Reject),
        _ => Err(format!("`{s}` is not `ACCEPT` or `REJECT`")),
    }
}

pub fn run(mut args: ExplainArgs) -> anyhow::Result<u8> {
    // `--policies a b "tcp ..."`: clap gives the flow to --policies; a path holds no `->`.
    if args.flow.is_none()
        && args
            .policies
            .last()
            .is_some_and(|p| p.to_string_lossy().contains("->"))
    {
        let flow = args.policies.pop().expect("checked above");
        args.flow = Some(flow.to_string_lossy().into_owned());
        if args.policies.is_empty() {
            args.policies.push(PathBuf::from("policies"));
        }
    }
    let Some(text) = args.flow.as_deref() else {
        eprintln!("error: which flow? e.g. flowgate explain \"tcp 10.0.2.15 -> 10.20.30.5:22\"");
        return Ok(EXIT_UNTRUSTED);
    };
    let flow = match FlowSpec::parse(text) {
        Ok(f) => f,
        Err(e) => {
            eprint!("{}", flow_error(text, &e));
            return Ok(EXIT_UNTRUSTED);
        }
    };
    let Some(set) = load_policies_or_report(&args.policies) else {
        return Ok(EXIT_UNTRUSTED);
    };
    let fields = FlowFields {
        interface: args.interface,
        vpc: args.vpc,
        subnet: args.subnet,
        instance: args.instance,
        direction: args.direction,
        action: args.action.unwrap_or(Action::Accept),
    };
    let today = args
        .today
        .unwrap_or_else(|| time::OffsetDateTime::now_utc().date());
    let explained: Vec<(&Policy, Explanation)> = set
        .policies()
        .iter()
        .map(|p| (p, explain(p, &flow, &fields, today)))
        .collect();
    // Open: some policy gave no one decision, for want of a field (a flag) or because it
    // decides differently for the ports the flow leaves out.
    let open = explained.iter().any(|(_, x)| decided(x).is_none());
    let out = if args.json {
        let mut text = serde_json::to_string_pretty(&document(&flow, &fields, today, &explained))?;
        text.push('\n');
        text
    } else {
        render(&flow, &fields, today, &explained)
    };
    print(&out)?;
    Ok(if open { EXIT_FAIL } else { EXIT_PASS })
}

/// The flow with a caret under its mistake.
fn flow_error(text: &str, e: &crate::policy::flowspec::FlowError) -> String {
    let shown = clean_line(text);
    let mut out = format!("error[invalid-flow]: {}\n  {shown}\n", e.message);
    // The caret is placed by characters; a cleaned control character may be wider, and then
    // the caret is only near.
    let before = text[..e.span.start.min(text.len())].chars().count();
    let width = text[e.span.clone()].chars().count().max(1);
    out.push_str(&format!(
        "  {}{} {}\n",
        " ".repeat(before),
        "^".repeat(width),
        e.label
    ));
    for n in &e.notes {
        out.push_str(&format!("  = {n}\n"));
    }
    if !e.notes.iter().any(|n| n == FORM) {
        out.push_str(&format!("  = {FORM}\n"));
    }
    out
}

/// The one outcome of a policy, when every piece has one and they agree.
fn decided(x: &Explanation) -> Option<&'static str> {
    let outcomes: Vec<Option<_>> = x.pieces.iter().map(|p| p.path.outcome()).collect();
    match outcomes.as_slice() {
        [Some(one), rest @ ..] if rest.iter().all(|o| o == &Some(*one)) => Some(one.as_str()),
        _ => None,
    }
}

/// The decision of one policy: its outcome when every piece agrees, else what it depends on.
fn decision(x: &Explanation) -> String {
    if x.pieces.iter().any(|p| p.path.outcome().is_none()) {
        return "undetermined".into();
    }
    decided(x).map_or_else(|| "depends on the ports".into(), String::from)
}

fn place(p: &Policy, r: &RuleRef) -> String {
    format!("{}:{}", p.path.display(), r.line)
}

fn rule_line(p: &Policy, r: &RuleRef) -> String {
    let what = match r.kind {
        crate::policy::explain::RuleKind::Scope => "[scope]".to_string(),
        kind => format!(
            "{} `{}`",
            if kind == crate::policy::explain::RuleKind::Allow {
                "allow rule"
            } else {
                "waiver"
            },
            r.name
        ),
    };
    clean_line(&format!("{what} ({})", place(p, r))).into_owned()
}

fn miss_line(m: &Miss) -> String {
    clean_line(&m.describe()).into_owned()
}

/// The steps of one path, one line each.
fn steps(p: &Policy, path: &Path) -> Vec<String> {
    let judged = "in scope, and its action is judged".to_string();
    match path {
        Path::OutOfScope { misses } => {
            let mut v = vec![format!("out of scope: [scope] (line {}) wants", p.line)];
            v.extend(misses.iter().map(|m| format!("  {}", miss_line(m))));
            v
        }
        Path::Rejected { action, judged } => {
            let judged: Vec<&str> = judged.iter().map(|a| a.as_str()).collect();
            vec![format!(
                "in scope; its action {} is not judged (the scope judges {}): already rejected",
                action.as_str(),
                judged.join(" and ")
            )]
        }
        Path::Allowed { by } => {
            let mut v = vec![judged];
            v.extend(by.iter().map(|r| format!("allowed by {}", rule_line(p, r))));
            v
        }
        Path::Waived { by } => {
            let mut v = vec![judged, "no allow rule matches".into()];
            v.extend(by.iter().map(|r| {
                format!(
                    "waived by {}, until {}",
                    rule_line(p, r),
                    r.expires.map_or_else(String::new, |d| d.to_string())
                )
            }));
            v
        }
        Path::Blocked { nearest, expired } => {
            let mut v = vec![judged];
            match nearest {
                None => v.push("the policy has no allow rule".into()),
                Some(n) => {
                    v.push("no allow rule matches".into());
                    v.push(format!("nearest: {}, which wants", rule_line(p, &n.rule)));
                    v.extend(n.misses.iter().map(|m| format!("  {}", miss_line(m))));
                }
            }
            v.extend(expired.iter().map(|r| {
                format!(
                    "{} matches, but expired on {}",
                    rule_line(p, r),
                    r.expires.map_or_else(String::new, |d| d.to_string())
                )
            }));
            v.push("blocked".into());
            v
        }
        Path::Undetermined { keys, rule } => {
            let flags: Vec<String> = keys.iter().map(|k| format!("--{k}")).collect();
            let keys: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
            vec![format!(
                "{} matches on {}, which the flow does not give: pass {}",
                rule_line(p, rule),
                keys.join(" and "),
                flags.join(" and ")
            )]
        }
    }
}

fn render(
    flow: &FlowSpec,
    fields: &FlowFields,
    today: time::Date,
    explained: &[(&Policy, Explanation)],
) -> String {
    let mut out = format!(
        "{} ({}); waivers judged on {today}\n",
        flow,
        clean_line(&fields.describe())
    );
    for (p, x) in explained {
        out.push_str(&format!(
            "\n{}: {}\n  {}:{}\n",
            clean_line(&p.name),
            decision(x),
            clean_line(&p.path.display().to_string()),
            p.line
        ));
        for piece in &x.pieces {
            let ports = piece.ports(flow);
            let indent = if ports.is_empty() {
                "  "
            } else {
                out.push_str(&format!("  for {ports}:\n"));
                "    "
            };
            for step in steps(p, &piece.path) {
                out.push_str(&format!("{indent}{step}\n"));
            }
        }
    }
    out
}

fn rule_json(p: &Policy, r: &RuleRef) -> Value {
    json!({
        "kind": r.kind.as_str(),
        "name": r.name,
        "path": p.path.display().to_string(),
        "line": r.line,
        "expires": r.expires.map(|d| d.to_string()),
    })
}

fn misses_json(misses: &[Miss]) -> Value {
    Value::Array(
        misses
            .iter()
            .map(|m| json!({ "key": m.key.name(), "wants": m.wants, "has": m.has }))
            .collect(),
    )
}

fn document(
    flow: &FlowSpec,
    fields: &FlowFields,
    today: time::Date,
    explained: &[(&Policy, Explanation)],
) -> Value {
    let policies: Vec<Value> = explained
        .iter()
        .map(|(p, x)| {
            let pieces: Vec<Value> = x
                .pieces
                .iter()
                .map(|piece| {
                    let cells: Vec<Value> = piece
                        .cells
                        .iter()
                        .map(|c| json!({ "src_ports": [c.src.0, c.src.1], "dst_ports": [c.dst.0, c.dst.1] }))
                        .collect();
                    let mut v = json!({
                        "outcome": piece.path.outcome().map(|o| o.as_str()),
                        "summary": piece.path.summary(),
                        "ports": cells,
                    });
                    let extra = match &piece.path {
                        Path::OutOfScope { misses } => json!({ "misses": misses_json(misses) }),
                        Path::Rejected { action, .. } => json!({ "action": action.as_str() }),
                        Path::Allowed { by } | Path::Waived { by } => json!({
                            "by": by.iter().map(|r| rule_json(p, r)).collect::<Vec<_>>(),
                        }),
                        Path::Blocked { nearest, expired } => json!({
                            "nearest": nearest.as_ref().map(|n| json!({
                                "rule": rule_json(p, &n.rule),
                                "misses": misses_json(&n.misses),
                            })),
                            "expired": expired.iter().map(|r| rule_json(p, r)).collect::<Vec<_>>(),
                        }),
                        Path::Undetermined { keys, rule } => json!({
                            "depends_on": keys.iter().map(|k| k.name()).collect::<Vec<_>>(),
                            "rule": rule_json(p, rule),
                        }),
                    };
                    if let (Value::Object(v), Value::Object(extra)) = (&mut v, extra) {
                        v.extend(extra);
                    }
                    v
                })
                .collect();
            json!({
                "name": p.name,
                "path": p.path.display().to_string(),
                "line": p.line,
                "decision": decision(x),
                "pieces": pieces,
            })
        })
        .collect();
    json!({
        "schema_version": EXPLAIN_SCHEMA_VERSION,
        "tool_version": env!("CARGO_PKG_VERSION"),
        "flow": flow.to_string(),
        "protocol": flow.protocol,
        "src": flow.src.to_string(),
        "dst": flow.dst.to_string(),
        "src_ports": [flow.src_ports.lo, flow.src_ports.hi],
        "dst_ports": [flow.dst_ports.lo, flow.dst_ports.hi],
        "fields": {
            "action": fields.action.as_str(),
            "interface": fields.interface,
            "vpc": fields.vpc,
            "subnet": fields.subnet,
            "instance": fields.instance,
            "direction": fields.direction.map(|d| d.as_str()),
        },
        "today": today.to_string(),
        "policies": policies,
    })
}
