//! The shape of a policy file as written: sections, known keys and their spanned values.
//!
//! serde would stop at the first mistake; a policy author wants every mistake of every file at
//! once, each pointing at its place. So the file is parsed into toml's spanned tree
//! ([`DeTable`]) and walked by hand here: this layer checks the *shape* (which sections exist,
//! that each is a table or an array of tables, that every key is one we know, with a "did you
//! mean" for the near misses) and hands each known key's spanned value to `load`, which checks
//! the *values*. Nothing here interprets a value.

use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::diag::{Diagnostic, FileId, Label};

use super::matcher::Key;

/// Sections of a policy file.
const TOP_KEYS: &[&str] = &["policy", "scope", "allow", "waive", "expect", "evidence"];
const POLICY_KEYS: &[&str] = &["name", "description", "owner", "ticket"];
const EVIDENCE_KEYS: &[&str] = &[
    "min_window",
    "max_gap",
    "skipdata",
    "unused_allow",
    "allow_empty",
];
/// Keys besides the matching keys, per kind of matching section.
const SCOPE_EXTRA: &[&str] = &["addresses"];
const ALLOW_EXTRA: &[&str] = &["name", "description"];
const WAIVE_EXTRA: &[&str] = &["name", "description", "reason", "expires"];
/// The keys of an `[[expect]]`: the flow, the verdict, and the record's other fields.
const EXPECT_KEYS: &[&str] = &[
    "name",
    "description",
    "flow",
    "verdict",
    "interface",
    "vpc",
    "subnet",
    "instance",
    "direction",
    "action",
    "addresses",
];

/// The diagnostics of one file, as they are found.
pub(crate) struct FileDiags {
    pub file: FileId,
    pub diags: Vec<Diagnostic>,
}

impl FileDiags {
    pub fn new(file: FileId) -> FileDiags {
        FileDiags {
            file,
            diags: Vec::new(),
        }
    }

    /// Records an error pointing at `span`, and returns it so notes can be added.
    pub fn error(
        &mut self,
        code: &'static str,
        span: Range<usize>,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> &mut Diagnostic {
        let d = Diagnostic::error(code, message).with_label(Label::primary(self.file, span, label));
        self.diags.push(d);
        self.diags.last_mut().expect("just pushed")
    }

    pub fn has_errors(&self) -> bool {
        self.diags.iter().any(Diagnostic::is_error)
    }
}

/// A known key and its value.
pub(crate) struct Entry<'a> {
    pub key: &'static str,
    pub key_span: Range<usize>,
    pub value: &'a Spanned<DeValue<'a>>,
}

/// A table of the file (`[scope]`, one `[[allow]]`…) with its known keys in source order.
pub(crate) struct SectionCfg<'a> {
    /// The header (`[scope]`), or the inline table.
    pub span: Range<usize>,
    pub entries: Vec<Entry<'a>>,
}

impl<'a> SectionCfg<'a> {
    pub fn get(&self, key: &str) -> Option<&Entry<'a>> {
        self.entries.iter().find(|e| e.key == key)
    }
}

/// A policy file as written, its unknown keys and misshapen sections already reported.
#[derive(Default)]
pub(crate) struct PolicyFileCfg<'a> {
    pub policy: Option<SectionCfg<'a>>,
    pub scope: Option<SectionCfg<'a>>,
    pub allow: Vec<SectionCfg<'a>>,
    pub waive: Vec<SectionCfg<'a>>,
    pub expect: Vec<SectionCfg<'a>>,
    pub evidence: Option<SectionCfg<'a>>,
}

/// Walks the document's top level. Every problem goes to `diags`; what is well-shaped is kept.
pub(crate) fn read_file<'a>(root: &'a DeTable<'a>, diags: &mut FileDiags) -> PolicyFileCfg<'a> {
    let mut cfg = PolicyFileCfg::default();
    for e in known_entries(root, TOP_KEYS, "a policy file", diags) {
        match e.key {
            "policy" => cfg.policy = section(&e, POLICY_KEYS, diags),
            "scope" => cfg.scope = matching_section(&e, SCOPE_EXTRA, diags),
            "evidence" => cfg.evidence = section(&e, EVIDENCE_KEYS, diags),
            "expect" => {
                let Some(items) = array_of_tables(&e, diags) else {
                    continue;
                };
                for item in items {
                    if let Some(s) = table(item, EXPECT_KEYS, "expect", diags) {
                        cfg.expect.push(s);
                    }
                }
            }
            key => {
                let extra = if key == "allow" {
                    ALLOW_EXTRA
                } else {
                    WAIVE_EXTRA
                };
                let Some(items) = array_of_tables(&e, diags) else {
                    continue;
                };
                let list = if key == "allow" {
                    &mut cfg.allow
                } else {
                    &mut cfg.waive
                };
                for item in items {
                    if let Some(s) = table(item, &matching_keys(extra), key, diags) {
                        list.push(s);
                    }
                }
            }
        }
    }
    cfg
}

/// Sections written as arrays of tables (`[[allow]]`).
fn is_array_section(name: &str) -> bool {
    matches!(name, "allow" | "waive" | "expect")
}

fn matching_keys(extra: &[&'static str]) -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = extra.to_vec();
    keys.extend(Key::ALL.iter().map(|k| k.name()));
    keys
}

fn section<'a>(
    e: &Entry<'a>,
    keys: &[&'static str],
    diags: &mut FileDiags,
) -> Option<SectionCfg<'a>> {
    table(e.value, keys, e.key, diags)
}

fn matching_section<'a>(
    e: &Entry<'a>,
    extra: &[&'static str],
    diags: &mut FileDiags,
) -> Option<SectionCfg<'a>> {
    table(e.value, &matching_keys(extra), e.key, diags)
}

fn table<'a>(
    value: &'a Spanned<DeValue<'a>>,
    keys: &[&'static str],
    name: &str,
    diags: &mut FileDiags,
) -> Option<SectionCfg<'a>> {
    let Some(t) = value.get_ref().as_table() else {
        diags
            .error(
                "wrong-type",
                value.span(),
                format!("`{name}` must be a table"),
                format!("found {}", type_name(value.get_ref())),
            )
            .notes
            .push(if is_array_section(name) {
                format!("write each one as its own `[[{name}]]` section")
            } else {
                format!("write it as a `[{name}]` section")
            });
        return None;
    };
    // Rules are written `[[allow]]`; messages name them the same way.
    let section = if is_array_section(name) {
        format!("[[{name}]]")
    } else {
        format!("[{name}]")
    };
    Some(SectionCfg {
        span: value.span(),
        entries: known_entries(t, keys, &section, diags),
    })
}

fn array_of_tables<'a>(e: &Entry<'a>, diags: &mut FileDiags) -> Option<&'a [Spanned<DeValue<'a>>]> {
    match e.value.get_ref() {
        DeValue::Array(items) => Some(items),
        other => {
            diags
                .error(
                    "wrong-type",
                    e.key_span.clone(),
                    format!("`{}` must be an array of tables", e.key),
                    format!("found {}", type_name(other)),
                )
                .notes
                .push(format!(
                    "write each one as its own `[[{}]]` section (double brackets)",
                    e.key
                ));
            None
        }
    }
}

/// The known keys of a table in source order; every other key is reported as `unknown-key`.
fn known_entries<'a>(
    t: &'a DeTable<'a>,
    keys: &[&'static str],
    section: &str,
    diags: &mut FileDiags,
) -> Vec<Entry<'a>> {
    let mut out = Vec::new();
    for (k, v) in t.iter() {
        let name: &str = k.get_ref();
        match keys.iter().find(|&&known| known == name) {
            Some(&key) => out.push(Entry {
                key,
                key_span: k.span(),
                value: v,
            }),
            None => unknown_key(name, k.span(), keys, section, diags),
        }
    }
    out.sort_by_key(|e| e.key_span.start);
    out
}

fn unknown_key(
    name: &str,
    span: Range<usize>,
    keys: &[&'static str],
    section: &str,
    diags: &mut FileDiags,
) {
    let shown = show(name);
    let (code, message) = if name == "addresses" {
        (
            "scope-only-key",
            "`addresses` can only be set in [scope]".to_string(),
        )
    } else {
        ("unknown-key", format!("unknown key `{shown}` in {section}"))
    };
    let d = diags.error(code, span, message, "not known here");
    if let Some(best) = closest(name, keys) {
        d.notes.push(format!("did you mean `{best}`?"));
    } else if let Some(hint) = hint(name, section) {
        d.notes.push(hint.to_string());
    } else if code == "unknown-key" {
        d.notes
            .push(format!("{section} accepts: {}", keys.join(", ")));
    }
}

/// Hints for the mistakes that a spelling distance cannot catch.
fn hint(name: &str, section: &str) -> Option<&'static str> {
    if section == "[[expect]]" {
        match name {
            "expected" | "expect" | "result" | "outcome" | "decision" => {
                return Some("the verdict expected is `verdict`")
            }
            // The record fields an expectation takes are known keys; the other matching keys
            // (addresses, ports, protocol) are what `flow` says.
            _ if Key::from_name(name).is_some()
                || matches!(name, "port" | "ports" | "src_addr" | "dst_addr") =>
            {
                return Some("an expectation's protocol, addresses and ports are one string: `flow = \"tcp 10.0.2.15 -> 10.20.30.5:22\"`")
            }
            _ => {}
        }
    }
    match name {
        "port" | "ports" => Some("ports are `src_port`, `dst_port`, `peer_port` or `local_port`"),
        "cidr" | "cidrs" | "addr" | "address" | "net" | "network" | "networks" | "ip" | "ips" => {
            Some("addresses are `src`, `dst`, `peer` or `local`")
        }
        "expectation" | "expectations" | "test" | "tests" | "expected"
            if section == "a policy file" =>
        {
            Some("a policy's own tests are `[[expect]]` sections")
        }
        "reason" | "expires" if section == "[[allow]]" => {
            Some("only waivers have `reason` and `expires`: write this rule as `[[waive]]`")
        }
        _ => None,
    }
}

/// The known key nearest to `name`, if near enough to be a typo (edit distance at most 2, and
/// less than half the word, so short words do not suggest unrelated ones).
pub(crate) fn closest<'k>(name: &str, keys: &[&'k str]) -> Option<&'k str> {
    if name.len() > 64 {
        return None;
    }
    let lower = name.to_ascii_lowercase().replace('-', "_");
    keys.iter()
        .map(|&k| (edit_distance(&lower, k), k))
        .filter(|&(d, k)| d <= 2 && d * 2 < k.len().max(name.len()))
        .min()
        .map(|(_, k)| k)
}

/// Edit distance counting insertions, deletions, substitutions and swaps of two neighbours
/// (`tpc` is one edit from `tcp`), in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows: two back is needed for swaps.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 0..a.len() {
        cur[0] = i + 1;
        for j in 0..b.len() {
            let mut best = (prev[j] + usize::from(a[i] != b[j]))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
            if i > 0 && j > 0 && a[i] == b[j - 1] && a[i - 1] == b[j] {
                best = best.min(before[j - 1] + 1);
            }
            cur[j + 1] = best;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// A user's text, safe and short enough to quote in a message.
pub(crate) fn show(s: &str) -> String {
    let mut out: String = s.chars().take(64).flat_map(char::escape_debug).collect();
    if s.chars().nth(64).is_some() {
        out.push('…');
    }
    out
}

/// The TOML type of a value, as a user would name it.
pub(crate) fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (Vec<String>, usize, usize) {
        let doc = DeTable::parse(text).unwrap();
        let mut diags = FileDiags::new(crate::diag::Files::new().add("t.toml", ""));
        let cfg = read_file(doc.get_ref(), &mut diags);
        let codes = diags
            .diags
            .iter()
            .map(|d| format!("{} {}", d.code, d.notes.join(" | ")))
            .collect();
        (codes, cfg.allow.len(), cfg.waive.len())
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("peer", "peer"), 0);
        assert_eq!(edit_distance("peers", "peer"), 1);
        assert_eq!(edit_distance("dst_prot", "dst_port"), 1);
        assert_eq!(edit_distance("dst_pot", "dst_port"), 1);
        assert_eq!(edit_distance("src", "dst"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("tpc", "tcp"), 1);
        assert_eq!(edit_distance("ingerss", "ingress"), 1);
    }

    #[test]
    fn typos_suggest_the_known_key() {
        let (codes, ..) =
            read("[scope]\npeers = []\nprotocl = 'tcp'\n[evidence]\nmin_windows = '1d'");
        assert!(
            codes[0].starts_with("unknown-key did you mean `peer`?"),
            "{codes:?}"
        );
        assert!(
            codes[1].starts_with("unknown-key did you mean `protocol`?"),
            "{codes:?}"
        );
        assert!(
            codes[2].starts_with("unknown-key did you mean `min_window`?"),
            "{codes:?}"
        );
    }

    #[test]
    fn unrelated_words_get_no_suggestion_but_hints() {
        let (codes, ..) = read("[scope]\nzz = 1\nports = 1\n[[allow]]\nexpires = 2027-01-01");
        assert!(
            codes
                .iter()
                .any(|c| c.starts_with("unknown-key [scope] accepts")),
            "{codes:?}"
        );
        assert!(codes.iter().any(|c| c.contains("ports are")), "{codes:?}");
        assert!(
            codes
                .iter()
                .any(|c| c.contains("write this rule as `[[waive]]`")),
            "{codes:?}"
        );
    }

    #[test]
    fn sections_must_have_their_shape() {
        let (codes, allows, _) =
            read("scope = 1\nallow = 'x'\npolicy = []\n[[waive]]\nreason = 'r'");
        assert_eq!(codes.len(), 3, "{codes:?}");
        assert!(
            codes.iter().all(|c| c.starts_with("wrong-type")),
            "{codes:?}"
        );
        assert_eq!(allows, 0);
        let (codes, allows, waives) = read("[[allow]]\n[[allow]]\nname = 'b'\n[[waive]]\n");
        assert!(codes.is_empty(), "{codes:?}");
        assert_eq!((allows, waives), (2, 1));
    }

    #[test]
    fn misspelt_expectations_are_not_silently_dropped() {
        let (codes, ..) = read("[[expects]]\nname = 'a'\n[[expectation]]\n[[expect]]\nsrc = '10.0.0.1'\nexpected = 'blocked'\n");
        assert_eq!(codes.len(), 4, "{codes:?}");
        let has = |prefix: &str| codes.iter().any(|c| c.starts_with(prefix));
        assert!(has("unknown-key did you mean `expect`?"), "{codes:?}");
        assert!(
            has("unknown-key a policy's own tests are `[[expect]]`"),
            "{codes:?}"
        );
        assert!(
            codes.iter().any(|c| c.contains("one string: `flow =")),
            "{codes:?}"
        );
        assert!(
            codes
                .iter()
                .any(|c| c.contains("the verdict expected is `verdict`")),
            "{codes:?}"
        );
        // One table where each expectation must be its own.
        let (codes, ..) = read("[expect]\nname = 'a'\n");
        assert_eq!(codes.len(), 1, "{codes:?}");
        assert!(
            codes[0].starts_with("wrong-type write each one as its own `[[expect]]`"),
            "{codes:?}"
        );
    }

    #[test]
    fn addresses_outside_scope_is_its_own_code() {
        let (codes, ..) = read("[[allow]]\naddresses = 'packet'");
        assert!(codes[0].starts_with("scope-only-key"), "{codes:?}");
    }
}
