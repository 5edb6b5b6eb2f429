//! Loading policies: find the files, read them, validate every section, collect every mistake.
//!
//! Nothing stops at the first problem. Every file is read and checked, and only then does the
//! load fail, with all diagnostics of all files, sorted by file and position, so one run of
//! `flowgate lint` shows an author everything to fix. Hostile input is bounded: files larger
//! than [`MAX_FILE_BYTES`] are refused unread, a file reports at most
//! [`MAX_DIAGNOSTICS_PER_FILE`] diagnostics, and toml's parser limits nesting.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::de::DeTable;

use crate::diag::{self, Diagnostic, Diagnostics, FileId, Files, Label, Severity};

use super::expect;
use super::matcher::{End, Key, Matcher, Slot};
use super::raw::{self, FileDiags, SectionCfg};
use super::{values, EvidenceDemands, Policy, PolicySet, Rule, Scope, Waiver};

/// A policy file is a few kilobytes; anything past this is not a policy.
pub const MAX_FILE_BYTES: u64 = 1 << 20;
/// Past this, more diagnostics of one file only bury the first ones.
pub const MAX_DIAGNOSTICS_PER_FILE: usize = 100;

pub(crate) fn load_paths(paths: &[PathBuf]) -> Result<PolicySet, Diagnostics> {
    let mut diags = Vec::new();
    let found = discover(paths, &mut diags);
    let mut sources = Vec::new();
    let mut files = Files::new();
    for path in found {
        match read(&path) {
            Ok(text) => sources.push((path, text)),
            Err(Unreadable::Io(e)) => diags.push(io_error("", &path, e)),
            Err(Unreadable::TooLarge) => diags.push(
                Diagnostic::error(
                    "file-too-large",
                    format!(
                        "`{}` is larger than {} MiB, too large for a policy file",
                        path.display(),
                        MAX_FILE_BYTES >> 20
                    ),
                )
                .with_note("policy files are small TOML files; is this path the right one?"),
            ),
            Err(Unreadable::Utf8 { lossy, at }) => {
                let id = files.add(&path, lossy);
                diags.push(
                    Diagnostic::error(
                        "invalid-utf8",
                        format!("`{}` is not valid UTF-8", path.display()),
                    )
                    .with_label(Label::primary(id, at..at + 3, "invalid byte"))
                    .with_note("policy files are TOML, which is UTF-8 text"),
                );
            }
        }
    }
    finish(sources, files, diags, !paths.is_empty())
}

pub(crate) fn load_sources(sources: Vec<(PathBuf, String)>) -> Result<PolicySet, Diagnostics> {
    finish(sources, Files::new(), Vec::new(), false)
}

/// Validates every source, then checks what spans files (names), and fails with everything.
fn finish(
    sources: Vec<(PathBuf, String)>,
    mut files: Files,
    mut diags: Vec<Diagnostic>,
    demand_some: bool,
) -> Result<PolicySet, Diagnostics> {
    let mut policies = Vec::new();
    for (path, text) in sources {
        let id = files.add(&path, text.as_str());
        let (policy, mut file_diags) = load_file(&files, id, &path, &text);
        cap(&mut file_diags, id);
        diags.extend(file_diags);
        policies.extend(policy);
    }
    duplicate_names(&policies, &mut diags);
    if policies.is_empty() && diags.is_empty() && demand_some {
        diags.push(
            Diagnostic::error("no-policies", "no policy files found")
                .with_note("policies are `*.toml` files, in the paths given or below them"),
        );
    }
    if diags.iter().any(Diagnostic::is_error) {
        diag::sort(&mut diags);
        return Err(Diagnostics(diags, files));
    }
    policies.sort_by(|a: &Policy, b| (&a.name, &a.path).cmp(&(&b.name, &b.path)));
    Ok(PolicySet { policies, files })
}

/// Keeps the first diagnostics of a file and says how many were left out.
fn cap(diags: &mut Vec<Diagnostic>, file: FileId) {
    if diags.len() <= MAX_DIAGNOSTICS_PER_FILE {
        return;
    }
    diag::sort(diags);
    let left_out = diags.len() - MAX_DIAGNOSTICS_PER_FILE;
    diags.truncate(MAX_DIAGNOSTICS_PER_FILE);
    let last = diags
        .last()
        .and_then(|d| d.primary_label())
        .map_or(0..0, |l| l.span.end..l.span.end);
    diags.push(
        Diagnostic::new(
            Severity::Note,
            "too-many-diagnostics",
            format!("{left_out} more problems in this file are not shown"),
        )
        .with_label(Label::primary(file, last, "shown up to here")),
    );
}

/// Two policies with one name would merge in every report; each needs its own.
fn duplicate_names(policies: &[Policy], diags: &mut Vec<Diagnostic>) {
    let mut by_name: BTreeMap<&str, Vec<&Policy>> = BTreeMap::new();
    for p in policies {
        by_name.entry(&p.name).or_default().push(p);
    }
    let name_label = |p: &Policy, primary: bool, msg: String| {
        let span = p.name_span.clone().unwrap_or(0..0);
        Label {
            file: p.file,
            span,
            message: msg,
            primary,
        }
    };
    let why = |p: &Policy| {
        if p.name_span.is_some() {
            String::new()
        } else {
            " (named after the file)".to_string()
        }
    };
    for (name, group) in by_name {
        let first = group[0];
        for p in &group[1..] {
            diags.push(
                Diagnostic::error(
                    "duplicate-policy-name",
                    format!("two policies are named `{}`", raw::show(name)),
                )
                .with_label(name_label(p, true, format!("named here{}", why(p))))
                .with_label(name_label(first, false, format!("and here{}", why(first))))
                .with_note(
                    "reports identify policies by name; set `name` in [policy] to tell them apart",
                ),
            );
        }
    }
}

/// Paths as given, with directories expanded to the `*.toml` files below them, sorted.
fn discover(paths: &[PathBuf], diags: &mut Vec<Diagnostic>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for path in paths {
        let mut found = Vec::new();
        match fs::metadata(path) {
            Err(e) => diags.push(io_error("", path, e)),
            Ok(m) if m.is_dir() => {
                walk(path, &mut found, diags);
                found.sort();
            }
            Ok(_) => found.push(path.clone()),
        }
        // The same file reached twice (a file and its directory) is loaded once.
        for f in found {
            let key = fs::canonicalize(&f).unwrap_or_else(|_| f.clone());
            if seen.insert(key) {
                out.push(f);
            }
        }
    }
    out
}

/// Collects `*.toml` below `dir`. Hidden entries (`.git`) are skipped, and symbolic links to
/// directories are not followed, so a link loop cannot trap the walk.
fn walk(dir: &Path, out: &mut Vec<PathBuf>, diags: &mut Vec<Diagnostic>) {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            diags.push(io_error("directory ", dir, e));
            return;
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                diags.push(io_error("directory ", dir, e));
                continue;
            }
        };
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            walk(&path, out, diags);
        } else if path.extension().is_some_and(|e| e == "toml")
            && (kind.is_file() || path.is_file())
        {
            out.push(path);
        }
    }
}

/// `cannot read [directory ]`path`: reason`: the path matters more than the reason.
fn io_error(what: &str, path: &Path, e: std::io::Error) -> Diagnostic {
    Diagnostic::error(
        "io-error",
        format!("cannot read {what}`{}`: {e}", path.display()),
    )
}

enum Unreadable {
    Io(std::io::Error),
    TooLarge,
    Utf8 { lossy: String, at: usize },
}

fn read(path: &Path) -> Result<String, Unreadable> {
    let file = fs::File::open(path).map_err(Unreadable::Io)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(Unreadable::Io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Unreadable::TooLarge);
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        // The lossy text equals the original up to `at`, where U+FFFD (3 bytes) stands in.
        Unreadable::Utf8 {
            lossy: String::from_utf8_lossy(e.as_bytes()).into_owned(),
            at,
        }
    })
}

/// Parses and validates one file. The policy is returned only if the file has no errors.
fn load_file(
    files: &Files,
    id: FileId,
    path: &Path,
    text: &str,
) -> (Option<Policy>, Vec<Diagnostic>) {
    let mut d = FileDiags::new(id);
    let (doc, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        // After a syntax error the recovered tree is a guess; checking its values would
        // report mistakes the author did not make.
        for e in errors {
            let span = e.span().unwrap_or(0..0);
            // toml says "unclosed array, expected `]`": the what in the message, the
            // expectation under the caret.
            let (what, expected) = match e.message().split_once(", expected ") {
                Some((what, expected)) => (what, format!("expected {expected}")),
                None => (e.message(), String::new()),
            };
            d.error(
                "toml-syntax",
                span,
                format!("invalid TOML: {what}"),
                expected,
            );
        }
        return (None, d.diags);
    }
    if doc.get_ref().is_empty() {
        // Every key of a policy is optional, so an empty file would be a policy with
        // everything in scope and nothing allowed: a forgotten save, never what was meant.
        let what = if text.is_empty() {
            "it is empty (0 bytes)"
        } else {
            "it holds only blank lines and comments"
        };
        d.error(
            "empty-policy-file",
            0..0,
            format!("`{}` holds no policy: {what}", path.display()),
            "nothing here",
        )
        .notes
        .push(
            "a policy has a `[scope]` (the traffic it is about) and `[[allow]]` rules; `flowgate init` or `flowgate suggest --out FILE` writes one (docs/policy.md)"
                .into(),
        );
        return (None, d.diags);
    }
    let cfg = raw::read_file(doc.get_ref(), &mut d);
    let line = |span: &Range<usize>| files.line(id, span.start);

    let mut name = None;
    let mut name_span = None;
    let (mut description, mut owner, mut ticket) = (None, None, None);
    if let Some(section) = &cfg.policy {
        for e in &section.entries {
            match e.key {
                "name" => {
                    name = values::name(e, &mut d);
                    name_span = Some(e.value.span());
                }
                "description" => description = values::string(e, &mut d).map(String::from),
                "owner" => owner = values::string(e, &mut d).map(String::from),
                _ => ticket = values::string(e, &mut d).map(String::from),
            }
        }
    }
    let name = name.unwrap_or_else(|| {
        path.file_stem().map_or_else(
            || path.display().to_string(),
            |s| s.to_string_lossy().into_owned(),
        )
    });

    let scope_has_peer = cfg.scope.as_ref().is_some_and(|s| s.get("peer").is_some());
    let scope = cfg
        .scope
        .as_ref()
        .map(|s| scope(s, &mut d))
        .unwrap_or_default();
    let scope_span = cfg.scope.as_ref().map_or(0..0, |s| s.span.clone());

    let mut allows = Vec::new();
    for (i, section) in cfg.allow.iter().enumerate() {
        let line = line(&section.span);
        allows.push(rule(
            section,
            "allow",
            i,
            scope_has_peer,
            (id, line),
            &mut d,
        ));
    }
    let mut waivers = Vec::new();
    for (i, section) in cfg.waive.iter().enumerate() {
        let line = line(&section.span);
        let rule = rule(section, "waive", i, scope_has_peer, (id, line), &mut d);
        let reason = match section.get("reason") {
            None => {
                missing(
                    &mut d,
                    section,
                    "waiver-missing-reason",
                    "reason",
                    "reason = \"agent is retired with NET-1300\"",
                );
                None
            }
            Some(e) => values::string(e, &mut d).and_then(|r| {
                if r.trim().is_empty() {
                    d.error(
                        "waiver-missing-reason",
                        e.value.span(),
                        "a waiver's reason cannot be empty",
                        "empty",
                    );
                    None
                } else {
                    Some(r.to_string())
                }
            }),
        };
        let expires = match section.get("expires") {
            None => {
                missing(
                    &mut d,
                    section,
                    "waiver-missing-expires",
                    "expires",
                    "expires = 2027-01-31",
                );
                None
            }
            Some(e) => values::date(e, &mut d).map(|date| (date, e.value.span())),
        };
        if let (Some(reason), Some((expires, expires_span))) = (reason, expires) {
            waivers.push(Waiver {
                rule,
                reason,
                expires,
                expires_span,
            });
        }
    }
    let has_policy = cfg.scope.is_some() || !cfg.allow.is_empty() || !cfg.waive.is_empty();
    let expectations = expect::load(&cfg.expect, &scope, has_policy, text, (id, &line), &mut d);
    let evidence = cfg
        .evidence
        .as_ref()
        .map(|s| evidence(s, &mut d))
        .unwrap_or_default();

    if d.has_errors() {
        return (None, d.diags);
    }
    let policy = Policy {
        name,
        description,
        owner,
        ticket,
        path: path.to_path_buf(),
        line: if cfg.scope.is_some() {
            line(&scope_span)
        } else {
            1
        },
        file: id,
        span: scope_span,
        scope,
        allows,
        waivers,
        expectations,
        evidence,
        name_span,
    };
    (Some(policy), d.diags)
}

fn missing(
    d: &mut FileDiags,
    section: &SectionCfg<'_>,
    code: &'static str,
    key: &str,
    example: &str,
) {
    d.error(
        code,
        section.span.clone(),
        format!("this waiver has no `{key}`"),
        format!("`{key}` missing"),
    )
    .notes
    .push(format!(
        "every waiver needs a reason and an expiry date, e.g. `{example}`"
    ));
}

/// Compiles one `[[allow]]` or `[[waive]]` section at `(file, line)`. Its name is `name`, or
/// `allow #N` / `waive #N` (1-based, in file order) when none is written.
fn rule(
    section: &SectionCfg<'_>,
    kind: &str,
    index: usize,
    scope_has_peer: bool,
    (file, line): (FileId, u32),
    d: &mut FileDiags,
) -> Rule {
    let (matcher, key_spans) = compile(section, false, scope_has_peer, d);
    let (name, name_span) = match section.get("name") {
        Some(e) => (values::name(e, d).unwrap_or_default(), Some(e.value.span())),
        None => (format!("{kind} #{}", index + 1), None),
    };
    Rule {
        name,
        line,
        file,
        span: section.span.clone(),
        matcher,
        key_spans,
        name_span,
    }
}

fn scope(section: &SectionCfg<'_>, d: &mut FileDiags) -> Scope {
    let has_peer = section.get("peer").is_some();
    let (mut matcher, key_spans) = compile(section, true, has_peer, d);
    let addresses = section
        .get("addresses")
        .and_then(|e| values::addresses_mode(e, d))
        .unwrap_or_default();
    Scope {
        addresses,
        peer: matcher.addrs[End::Peer as usize].take(),
        actions: matcher.action.take().unwrap_or(Scope::default().actions),
        matcher,
        key_spans,
    }
}

/// Compiles the matching keys of a section. Peer and local keys need a `peer` scope: without
/// one a record has no peer end, and the rule could never match.
fn compile(
    section: &SectionCfg<'_>,
    is_scope: bool,
    scope_has_peer: bool,
    d: &mut FileDiags,
) -> (Matcher, Vec<(Key, Range<usize>)>) {
    let mut m = Matcher::default();
    let mut spans = Vec::new();
    for e in &section.entries {
        let Some(key) = Key::from_name(e.key) else {
            continue;
        };
        if key.needs_peer_scope() && !scope_has_peer && !(is_scope && key == Key::Peer) {
            let where_ = if is_scope { "the scope" } else { "a rule" };
            d.error(
                "peer-key-without-peer-scope",
                e.key_span.clone(),
                format!("`{}` in {where_} needs a `peer` scope", e.key),
                "no [scope] peer",
            )
            .notes
            .push("peer and local ends are defined by the scope's `peer` networks: add `peer = [...]` to [scope], or use `src`/`dst` keys".into());
            continue;
        }
        spans.push((key, e.value.span()));
        match key.slot() {
            Slot::Addr(end) => m.addrs[end as usize] = values::addresses(e, d),
            Slot::Port(end) => m.ports[end as usize] = values::ports(e, d),
            Slot::Protocol => m.protocol = values::protocols(e, d),
            Slot::Id(kind) => m.ids[kind as usize] = values::ids(kind, e, d),
            Slot::Direction => m.direction = values::directions(e, d),
            Slot::Action => m.action = values::actions(e, d),
        }
    }
    (m, spans)
}

fn evidence(section: &SectionCfg<'_>, d: &mut FileDiags) -> EvidenceDemands {
    let mut ev = EvidenceDemands::default();
    for e in &section.entries {
        match e.key {
            "min_window" => ev.min_window = values::duration(e, d),
            "max_gap" => ev.max_gap = values::duration(e, d),
            "skipdata" => ev.skipdata = values::level(e, d).unwrap_or(ev.skipdata),
            "unused_allow" => ev.unused_allow = values::level(e, d).unwrap_or(ev.unused_allow),
            _ => ev.allow_empty = values::boolean(e, d).unwrap_or(false),
        }
    }
    ev
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Addresses, Level};

    /// Codes and `line:col` of every diagnostic of one file.
    fn errors(text: &str) -> Vec<String> {
        let err = PolicySet::from_sources([("p.toml", text)])
            .err()
            .unwrap_or_else(|| panic!("no errors in:\n{text}"));
        err.0
            .iter()
            .map(|d| match d.location(&err.1) {
                Some((_, line, col)) => format!("{} {line}:{col}", d.code),
                None => d.code.to_string(),
            })
            .collect()
    }

    fn first_message(text: &str) -> String {
        let err = PolicySet::from_sources([("p.toml", text)]).unwrap_err();
        let d = &err.0[0];
        format!(
            "{} | {} | {}",
            d.message,
            d.labels[0].message,
            d.notes.join(" | ")
        )
    }

    #[test]
    fn every_mistake_of_a_file_is_reported() {
        let text = "[scope]\npeer = ['10.20.30.1/24', 'nope', '10.0.0.0/8']\nsrc_port = [70000, '9-1']\nprotocol = 'tpc'\nvpc = []\n\n[[allow]]\ndst_port = 'x'\n\n[[waive]]\nname = 'w'\n";
        assert_eq!(
            errors(text),
            [
                "cidr-host-bits 2:9",
                "invalid-address 2:26",
                "port-out-of-range 3:13",
                "port-range-reversed 3:20",
                "unknown-protocol 4:12",
                "empty-list 5:7",
                "invalid-port 8:12",
                "waiver-missing-expires 10:1",
                "waiver-missing-reason 10:1",
            ]
        );
    }

    #[test]
    fn cidr_host_bits_suggests_the_network() {
        assert_eq!(
            first_message("[scope]\npeer = '10.20.30.1/24'"),
            "`10.20.30.1/24` has host bits set | did you mean `10.20.30.0/24`? | a CIDR names its network address: `10.20.30.0/24` for the network, `10.20.30.1` for the one address"
        );
        assert!(first_message("[scope]\ndst = '2001:db8::1/64'").contains("`2001:db8::/64`"));
        // An address that reads as a network on a wider boundary: both readings, the wide one
        // with its size.
        assert_eq!(
            first_message("[scope]\npeer = '10.20.0.0/8'"),
            "`10.20.0.0/8` has host bits set | did you mean `10.0.0.0/8` or `10.20.0.0/16`? | \
             `10.0.0.0/8` keeps the prefix length: 16777216 addresses, which may take in networks that are not yours | \
             `10.20.0.0/16` keeps the address as written: the narrowest network on an octet boundary that starts there | \
             a CIDR names its network address: `10.0.0.0/8` for the network, `10.20.0.0` for the one address"
        );
        assert!(first_message("[scope]\npeer = '10.20.30.0/20'")
            .contains("did you mean `10.20.16.0/20` or `10.20.30.0/24`?"));
        assert!(first_message("[scope]\npeer = '2001:db8:1::/24'")
            .contains("`2001:d00::/24` or `2001:db8:1::/48`"));
    }

    #[test]
    fn addresses_ports_protocols_ids_accept_every_documented_form() {
        let p = PolicySet::from_sources([(
            "p.toml",
            "[scope]\npeer = ['10.0.0.0/8', '192.0.2.7', '2001:db8::/32', '::1']\nlocal_port = 0\n\
             dst_port = [443, '8443-8444', '22', ' 80 - 81 ', 65535]\nprotocol = ['TCP', 'udp', 'icmpv6', 47, '50', 'ipv6-in-ipv4']\n\
             interface = 'eni-0a1b2c3d'\nvpc = ['vpc-1', 'vpc-2']\nsubnet = 'subnet-9'\ninstance = 'i-0abc'\n\
             direction = ['ingress', 'EGRESS']\naction = ['ACCEPT', 'reject']\naddresses = 'packet'\n",
        )]);
        let p = p.unwrap_or_else(|e| panic!("{e}"));
        let scope = &p.policies()[0].scope;
        assert_eq!(scope.addresses, Addresses::Packet);
        assert!(scope.judges(crate::flowlog::Action::Reject));
        let protos: Vec<u8> = scope.matcher.protocol.unwrap().numbers().collect();
        assert_eq!(protos, [6, 17, 41, 47, 50, 58]);
        assert_eq!(
            scope.matcher.ports[End::Dst as usize]
                .as_ref()
                .unwrap()
                .ranges(),
            [(22, 22), (80, 81), (443, 443), (8443, 8444), (65535, 65535)]
        );
    }

    #[test]
    fn wrong_types_name_what_was_expected() {
        assert_eq!(
            errors("[scope]\nsrc = 10\ndst_port = true\nprotocol = 6.0\nvpc = 1\ndirection = 1\n[evidence]\nallow_empty = 'yes'\nmin_window = 30\n[policy]\nname = 1"),
            [
                "wrong-type 2:7",
                "wrong-type 3:12",
                "wrong-type 4:12",
                "wrong-type 5:7",
                "wrong-type 6:13",
                "wrong-type 8:15",
                "wrong-type 9:14",
                "wrong-type 11:8",
            ]
        );
        assert_eq!(
            first_message("[scope]\nsrc = [['10.0.0.0/8']]"),
            "`src` takes CIDRs or addresses, as strings | found an array | "
        );
    }

    #[test]
    fn peer_keys_need_a_peer_scope() {
        assert_eq!(
            errors("[scope]\nlocal = '10.0.0.0/8'\npeer_port = 1\n[[allow]]\npeer = '10.0.0.1'\nlocal_port = 2\n[[waive]]\nreason = 'r'\nexpires = 2030-01-01\npeer = '10.0.0.2'"),
            [
                "peer-key-without-peer-scope 2:1",
                "peer-key-without-peer-scope 3:1",
                "peer-key-without-peer-scope 5:1",
                "peer-key-without-peer-scope 6:1",
                "peer-key-without-peer-scope 10:1",
            ]
        );
        // An invalid peer scope is still a peer scope: no second error on the rules.
        assert_eq!(
            errors("[scope]\npeer = 'x'\n[[allow]]\npeer_port = 1"),
            ["invalid-address 2:8"]
        );
    }

    #[test]
    fn waiver_values() {
        assert_eq!(
            errors("[[waive]]\nreason = ''\nexpires = '2027-02-30'\n[[waive]]\nreason = 'r'\nexpires = '2027-1-1'\n[[waive]]\nreason = 'r'\nexpires = 2027-01-01T10:00:00\n[[waive]]\nreason = 1\nexpires = 20270101"),
            [
                "waiver-missing-reason 2:10",
                "invalid-date 3:11",
                "invalid-date 6:11",
                "invalid-date 9:11",
                "wrong-type 11:10",
                "wrong-type 12:11",
            ]
        );
    }

    #[test]
    fn evidence_values() {
        assert_eq!(
            errors("[evidence]\nmin_window = '30x'\nmax_gap = ''\nskipdata = 'warning'\nunused_allow = 'error'"),
            ["invalid-duration 2:14", "invalid-duration 3:11", "invalid-level 4:12", "invalid-level 5:16"]
        );
        assert!(first_message("[evidence]\nskipdata = 'warning'").contains("did you mean `warn`?"));
        let p = PolicySet::from_sources([(
            "p.toml",
            "[evidence]\nmin_window = '30d'\nmax_gap = '2h'\nskipdata = 'fail'\nunused_allow = 'ignore'\nallow_empty = true",
        )])
        .unwrap();
        let ev = &p.policies()[0].evidence;
        assert_eq!((ev.min_window, ev.max_gap), (Some(2_592_000), Some(7_200)));
        assert_eq!(
            (ev.skipdata, ev.unused_allow, ev.allow_empty),
            (Level::Fail, Level::Ignore, true)
        );
    }

    #[test]
    fn enumerated_words_suggest_the_nearest() {
        assert_eq!(
            first_message("[scope]\ndirection = 'ingres'"),
            "`ingres` is not a valid `direction` | expected one of: ingress, egress | did you mean `ingress`?"
        );
        assert_eq!(
            errors("[scope]\naction = 'ALLOW'\naddresses = 'pkt'"),
            ["invalid-value 2:10", "invalid-value 3:13"]
        );
        assert!(first_message("[scope]\nprotocol = 'tpc'").contains("did you mean `tcp`?"));
        assert!(first_message("[scope]\nvpc = 'vcp-1'").contains("is not a VPC id"));
    }

    #[test]
    fn names_cannot_be_empty() {
        assert_eq!(
            errors("[policy]\nname = ' '\n[[allow]]\nname = ''"),
            ["invalid-name 2:8", "invalid-name 4:8"]
        );
    }

    #[test]
    fn syntax_errors_are_all_reported_and_nothing_else() {
        let e = errors("[scope\npeer = \nvpc = 'x'\n");
        assert!(
            !e.is_empty() && e.iter().all(|c| c.starts_with("toml-syntax")),
            "{e:?}"
        );
        assert_eq!(errors("a = 1\na = 2"), ["toml-syntax 2:1"]);
    }

    #[test]
    fn duplicate_policy_names_point_at_both() {
        let err = PolicySet::from_sources([
            ("a/x.toml", "[policy]\nname = 'x'"),
            ("b/x.toml", "[scope]\n"),
            ("c.toml", "[policy]\nname = 'x'"),
        ])
        .unwrap_err();
        let codes: Vec<_> = err.0.iter().map(|d| d.code).collect();
        assert_eq!(codes, ["duplicate-policy-name", "duplicate-policy-name"]);
        assert_eq!(err.0[0].labels.len(), 2);
        assert!(err.to_string().contains("named after the file"), "{err}");
    }

    #[test]
    fn hostile_input_never_panics() {
        let deep = format!("a = {}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(errors(&deep)
            .iter()
            .all(|c| c.starts_with("toml-syntax") || c.starts_with("unknown-key")));
        let deep_tables = format!("[{}]", vec!["a"; 10_000].join("."));
        assert!(!errors(&deep_tables).is_empty());
        let nul = errors("[scope]\npeer = \"10.0.0.0/8\0\"\n\0");
        assert!(nul.iter().all(|c| c.starts_with("toml-syntax")), "{nul:?}");
        let err = PolicySet::from_sources([("p.toml", "\u{1b}[31m = 1")]).unwrap_err();
        assert!(!err.to_string().contains('\u{1b}'), "{err}");
        // A huge file of mistakes is capped.
        let many: String = (0..5_000).map(|i| format!("x{i} = 1\n")).collect();
        let e = errors(&many);
        assert_eq!(e.len(), MAX_DIAGNOSTICS_PER_FILE + 1);
        assert_eq!(e.last().unwrap(), "too-many-diagnostics 100:4");
        assert!(errors("[[waive]]\nexpires = 2027-02-30")[0].starts_with("toml-syntax"));
    }

    #[test]
    fn files_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("sub/deeper")).unwrap();
        fs::create_dir_all(root.join(".git")).unwrap();
        fs::write(root.join("b.toml"), "[scope]\n").unwrap();
        fs::write(root.join("sub/deeper/a.toml"), "[scope]\n").unwrap();
        fs::write(root.join("sub/notes.md"), "x").unwrap();
        fs::write(root.join(".git/x.toml"), "garbage [").unwrap();
        let set = PolicySet::load(&[root.to_path_buf(), root.join("b.toml")]).unwrap();
        let names: Vec<_> = set.policies().iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["a", "b"], "found once each, .git skipped");

        fs::write(
            root.join("bad.toml"),
            b"[scope]\npeer = '10.0.0.0/8'\n\xff\xfe\n",
        )
        .unwrap();
        fs::write(
            root.join("big.toml"),
            vec![b'#'; MAX_FILE_BYTES as usize + 1],
        )
        .unwrap();
        let err = PolicySet::load(&[root.to_path_buf(), root.join("missing.toml")]).unwrap_err();
        let codes: Vec<_> = err.0.iter().map(|d| d.code).collect();
        assert_eq!(codes, ["file-too-large", "io-error", "invalid-utf8"]);
        let text = err.to_string();
        assert!(text.contains("bad.toml:3:1"), "{text}");
        assert!(text.contains("missing.toml"), "{text}");

        let empty = tempfile::tempdir().unwrap();
        let err = PolicySet::load(&[empty.path().to_path_buf()]).unwrap_err();
        assert_eq!(err.0[0].code, "no-policies");
    }

    mod props {
        //! The loader takes any text, or any bytes from disk, without panicking, and every
        //! diagnostic it returns locates and renders.
        use super::*;
        use proptest::prelude::*;

        /// TOML fragments that reach past the parser into validation.
        fn fragment() -> impl Strategy<Value = String> {
            let keys = prop_oneof![
                proptest::sample::select(vec![
                    "peer",
                    "src",
                    "dst",
                    "local",
                    "src_port",
                    "dst_port",
                    "peer_port",
                    "local_port",
                    "protocol",
                    "interface",
                    "vpc",
                    "subnet",
                    "instance",
                    "direction",
                    "action",
                    "name",
                    "description",
                    "owner",
                    "ticket",
                    "reason",
                    "expires",
                    "addresses",
                    "min_window",
                    "max_gap",
                    "skipdata",
                    "unused_allow",
                    "allow_empty",
                    "bogus",
                ])
                .prop_map(str::to_string),
                "[a-z_]{1,8}",
            ];
            let values = prop_oneof![
                proptest::sample::select(vec![
                    "'10.0.0.0/8'",
                    "['10.20.0.0/16', '::1']",
                    "'10.0.0.1/8'",
                    "443",
                    "70000",
                    "'8443-8444'",
                    "'9-1'",
                    "[]",
                    "'tcp'",
                    "'tpc'",
                    "-1",
                    "true",
                    "2027-01-31",
                    "2027-02-30",
                    "'30d'",
                    "'2h'",
                    "'fail'",
                    "'packet'",
                    "{ a = 1 }",
                    "[[1], 'x']",
                    "''",
                    "1e400",
                    "'\\u0000'",
                ])
                .prop_map(str::to_string),
                ".{0,12}".prop_map(|s| format!("{s:?}")),
            ];
            prop_oneof![
                proptest::sample::select(vec![
                    "[policy]",
                    "[scope]",
                    "[[allow]]",
                    "[[waive]]",
                    "[evidence]",
                    "[[scope]]",
                    "[allow]",
                    "",
                ])
                .prop_map(str::to_string),
                (keys, values).prop_map(|(k, v)| format!("{k} = {v}")),
                ".{0,20}",
            ]
        }

        fn check(result: Result<PolicySet, Diagnostics>) {
            if let Err(err) = result {
                assert!(!err.0.is_empty());
                for d in &err.0 {
                    let _ = d.location(&err.1);
                }
                let _ = err.render(false);
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(128))]

            #[test]
            fn arbitrary_text_never_panics(text in any::<String>()) {
                check(PolicySet::from_sources([("p.toml", text)]));
            }

            #[test]
            fn policy_shaped_text_never_panics(lines in proptest::collection::vec(fragment(), 0..24)) {
                check(PolicySet::from_sources([("p.toml", lines.join("\n"))]));
            }

            #[test]
            fn arbitrary_bytes_from_disk_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("p.toml");
                fs::write(&path, &bytes).unwrap();
                check(PolicySet::load(&[path]));
            }
        }
    }
}
