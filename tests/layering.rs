//! The layering rule, checked on every `cargo test`: no import circles between the files of
//! `src/`.
//!
//! Imports run one way, down the pipeline: sources -> records -> policy -> engine -> report ->
//! outputs -> cli (see `docs/architecture.md`). A helper two layers need lives below both. This
//! test reads `src/` the way the team's `import-circles.py` does (that script is not in the
//! repository, so CI runs this instead): file A depends on file B when A names `crate::b::...`,
//! `super::...` or `self::...` resolving to B (in a `use` or in a path) or declares `mod b;`.
//! A module and the files below it (`x.rs` and `x/*.rs`) are one room and may use each other.
//! Unit tests are left out: everything from a file's first `#[cfg(test)]` on (the house puts
//! unit tests at the bottom), except that a `#[cfg(test)] mod x;` declaration drops only
//! itself. Two details make it a little stricter than the script: `use super::{a, b}` and
//! `use self::{..}` count (the script expands braces after `crate::` only), and so does code
//! after such a test-only declaration. On the tree before the circles were broken, both find
//! the same two circles. It is a reading of the text, not of the compiler's resolution: `//`
//! comments are dropped, string contents are not.
//!
//! When it fails, it prints each circle with one edge per pair of files: move what both sides
//! need below them (as `src/text.rs` holds the cleaners diag and the outputs share).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path below the crate root: `["flowlog", "archive"]` for `src/flowlog/archive.rs`.
type Module = Vec<String>;

/// Every `.rs` file under `src`, by module path (`mod.rs`, `lib.rs`, `main.rs` name their
/// folder).
fn files(src: &Path) -> BTreeMap<Module, PathBuf> {
    let mut found = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(src).unwrap().with_extension("");
                let mut module: Module = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if matches!(
                    module.last().map(String::as_str),
                    Some("mod" | "lib" | "main")
                ) {
                    module.pop();
                }
                found.insert(module, path);
            }
        }
    }
    found
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The text that counts: unit tests and `//` comments removed.
fn code(text: &str) -> String {
    let mut kept = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("#[cfg(test)]") {
        kept.push_str(&rest[..at]);
        let after = rest[at + "#[cfg(test)]".len()..].trim_start();
        match test_module_declaration(after) {
            // `#[cfg(test)] mod fixtures;`: only that item is a test's.
            Some(len) => rest = &after[len..],
            None => {
                rest = "";
                break;
            }
        }
    }
    kept.push_str(rest);
    kept.lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The length of a `mod x;` declaration (`pub`, `pub(crate)` allowed) at the start of `s`.
fn test_module_declaration(s: &str) -> Option<usize> {
    let line = s.lines().next()?;
    let name = mod_declaration(line)?;
    Some(line.find(&format!("{name};"))? + name.len() + 1)
}

/// `x` for a line `mod x;`, `pub mod x;` or `pub(crate) mod x;`.
fn mod_declaration(line: &str) -> Option<&str> {
    let mut l = line.trim();
    if let Some(r) = l.strip_prefix("pub") {
        l = r.trim_start();
        if l.starts_with('(') {
            l = l[l.find(')')? + 1..].trim_start();
        }
    }
    let name = l.strip_prefix("mod")?.strip_suffix(';')?;
    (name.starts_with(char::is_whitespace) && name.trim().chars().all(is_word)).then(|| name.trim())
}

/// Every place `word` starts as a whole word in `text`.
fn word_starts<'a>(text: &'a str, word: &'a str) -> impl Iterator<Item = usize> + 'a {
    text.match_indices(word)
        .map(|(i, _)| i)
        .filter(move |&i| !text[..i].chars().next_back().is_some_and(is_word))
}

/// `a::b::c` at the start of `s`: the longest run of words joined by `::`.
fn path_at(s: &str) -> Vec<String> {
    let mut segs = Vec::new();
    let mut rest = s;
    loop {
        let len = rest.find(|c: char| !is_word(c)).unwrap_or(rest.len());
        if len == 0 {
            break;
        }
        segs.push(rest[..len].to_string());
        match rest[len..].strip_prefix("::") {
            Some(r) if r.starts_with(is_word) => rest = r,
            _ => break,
        }
    }
    segs
}

/// Expands a `use` tree without whitespace (`a::{b, c::{d, self}}`) into its paths.
fn expand(prefix: &[String], body: &str) -> Vec<Vec<String>> {
    let Some(open) = body.find('{') else {
        let mut path = prefix.to_vec();
        path.extend(
            body.split("::")
                .filter(|s| !s.is_empty() && *s != "self")
                .map(str::to_string),
        );
        return vec![path];
    };
    let mut head = prefix.to_vec();
    head.extend(
        body[..open]
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_string),
    );
    let inner = &body[open + 1..body.rfind('}').unwrap_or(body.len())];
    let (mut depth, mut item, mut out) = (0, String::new(), Vec::new());
    for c in inner.chars().chain([',']) {
        match c {
            ',' if depth == 0 => {
                if !item.is_empty() {
                    out.extend(expand(&head, &item));
                }
                item.clear();
                continue;
            }
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        item.push(c);
    }
    out
}

/// Where a path written in module `m` points, as a path from the crate root; `None` for an
/// outside crate.
fn absolute(m: &Module, segs: &[String]) -> Option<Vec<String>> {
    match segs.first().map(String::as_str) {
        Some("crate") => Some(segs[1..].to_vec()),
        Some("self") => Some(m.iter().chain(&segs[1..]).cloned().collect()),
        Some("super") => {
            let ups = segs.iter().take_while(|s| *s == "super").count();
            let base = &m[..m.len().checked_sub(ups)?];
            Some(base.iter().chain(&segs[ups..]).cloned().collect())
        }
        _ => None,
    }
}

/// The file a path names: its longest prefix that is a file.
fn resolve(files: &BTreeMap<Module, PathBuf>, path: &[String]) -> Option<Module> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| files.contains_key(p))
}

/// The files `m` uses.
fn edges(files: &BTreeMap<Module, PathBuf>, m: &Module, text: &str) -> BTreeSet<Module> {
    let mut paths = Vec::new();
    for at in word_starts(text, "use") {
        let rest = &text[at + 3..];
        if !rest.starts_with(char::is_whitespace) {
            continue;
        }
        let tree: String = rest[..rest.find(';').unwrap_or(rest.len())]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if ["crate::", "super::", "self::"]
            .iter()
            .any(|p| tree.starts_with(p))
        {
            paths.extend(expand(&[], &tree));
        }
    }
    for root in ["crate::", "super::", "self::"] {
        for at in word_starts(text, root) {
            paths.push(path_at(&text[at..]));
        }
    }
    let mut used: BTreeSet<Module> = paths
        .iter()
        .filter_map(|p| absolute(m, p))
        .filter_map(|p| resolve(files, &p))
        .collect();
    for line in text.lines() {
        if let Some(name) = mod_declaration(line) {
            let child: Module = m.iter().cloned().chain([name.to_string()]).collect();
            if files.contains_key(&child) {
                used.insert(child);
            }
        }
    }
    used.remove(m);
    used
}

/// Strongly connected sets of two or more files that are not one room (Tarjan's algorithm).
fn circles(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct State<'g> {
        graph: &'g BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'g Module, usize>,
        low: BTreeMap<&'g Module, usize>,
        stack: Vec<&'g Module>,
        found: Vec<Vec<Module>>,
    }
    fn strong<'g>(s: &mut State<'g>, v: &'g Module) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        for w in &s.graph[v] {
            if !s.index.contains_key(w) {
                strong(s, w);
                let lw = s.low[w];
                s.low.entry(v).and_modify(|l| *l = (*l).min(lw));
            } else if s.stack.contains(&w) {
                let iw = s.index[w];
                s.low.entry(v).and_modify(|l| *l = (*l).min(iw));
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                comp.push(w.clone());
                if w == v {
                    break;
                }
            }
            // A module and the files below it may use each other: one room.
            let room = comp.iter().any(|a| comp.iter().all(|c| c.starts_with(a)));
            if comp.len() > 1 && !room {
                comp.sort();
                s.found.push(comp);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v) {
            strong(&mut s, v);
        }
    }
    s.found
}

/// Every circle under `src`, printed one edge per line, as `import-circles.py` prints them.
fn report(src: &Path) -> (usize, String) {
    let files = files(src);
    let graph: BTreeMap<Module, BTreeSet<Module>> = files
        .iter()
        .map(|(m, p)| {
            let text = std::fs::read_to_string(p).unwrap();
            (m.clone(), edges(&files, m, &code(&text)))
        })
        .collect();
    let name = |m: &Module| files[m].strip_prefix(src).unwrap().display().to_string();
    let found = circles(&graph);
    let mut out = String::new();
    for c in &found {
        out.push_str(&format!("circle of {} files:\n", c.len()));
        for a in c {
            for b in graph[a].iter().filter(|b| c.contains(b)) {
                out.push_str(&format!("  src/{} -> src/{}\n", name(a), name(b)));
            }
        }
    }
    (found.len(), out)
}

#[test]
fn no_import_circles_between_files_of_src() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let (n, text) = report(&src);
    assert_eq!(
        n, 0,
        "imports must run one way (docs/architecture.md); move what both sides use below them:\n{text}"
    );
}

/// The check itself can fail: a planted circle is found, and a module with its own files is
/// one room.
#[test]
fn a_planted_circle_is_found_and_a_room_is_not_one() {
    let dir = tempfile::tempdir().unwrap();
    let write = |rel: &str, text: &str| {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("lib.rs", "pub mod a;\npub mod b;\npub mod room;\n");
    write("a.rs", "use crate::b::Thing;\n");
    write(
        "b.rs",
        "//! uses crate::c in a comment only\nuse crate::{\n    room::{self, Inner},\n    a::Other,\n};\n",
    );
    write("room.rs", "mod inner;\nuse self::inner::Inner;\n");
    write(
        "room/inner.rs",
        "use super::Outer;\n#[cfg(test)]\nmod tests { use crate::a::X; }\n",
    );
    let (n, text) = report(dir.path());
    assert_eq!(n, 1, "{text}");
    assert_eq!(
        text,
        "circle of 2 files:\n  src/a.rs -> src/b.rs\n  src/b.rs -> src/a.rs\n"
    );
    // A test module that uses the layer above is not a circle.
    write("a.rs", "#[cfg(test)]\nmod fixtures;\npub struct Thing;\n#[cfg(test)]\nmod tests { use crate::b::Thing; }\n");
    write("a/fixtures.rs", "use crate::b::Other;\n");
    assert_eq!(report(dir.path()).0, 0);
}
