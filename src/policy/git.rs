//! Policies as they were at a git revision, for `check --base REV`.
//!
//! The same `--policies` paths are read from the revision's tree with `git ls-tree` and
//! `git cat-file`, relative to the repository root, so nothing is checked out and nothing
//! leaves the machine. Discovery follows the working tree's rules (`*.toml` below a
//! directory, hidden entries skipped, a named file taken as it is). Each file is loaded on its
//! own: a file that did not load at the revision is reported and its policy counts as absent
//! there, so fixing a broken policy on the base branch stays possible (the run's verdict is the
//! working tree's).

use std::path::{Component, Path, PathBuf};
use std::process::Command;

use crate::diag::{Diagnostic, Diagnostics, Files};

use super::{load::MAX_FILE_BYTES, PolicySet};

/// Why the policies at a revision could not be read: each makes the run untrusted.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("--base {rev}: cannot run git: {source}")]
    Spawn { rev: String, source: std::io::Error },
    #[error("--base {rev}: {dir} is not in a git repository ({message})")]
    NoRepository {
        rev: String,
        dir: String,
        message: String,
    },
    #[error("--base {rev}: git does not know this revision ({message})")]
    UnknownRevision { rev: String, message: String },
    #[error("--base {rev}: --policies {path} is outside the git repository")]
    Outside { rev: String, path: String },
    #[error("--base {rev}: git {command} failed: {message}")]
    Failed {
        rev: String,
        command: String,
        message: String,
    },
}

/// The policies at a revision.
#[derive(Debug)]
pub struct AtRevision {
    /// The revision as given (`origin/main`, a commit id).
    pub revision: String,
    /// The full commit id it names.
    pub commit: String,
    /// The files that loaded, one set each (so one broken file leaves the others), in path
    /// order.
    pub sets: Vec<PolicySet>,
    /// The files that did not load, with their diagnostics.
    pub broken: Vec<Broken>,
}

/// A policy file that did not load at the revision.
#[derive(Debug)]
pub struct Broken {
    /// The file as the working tree names it.
    pub path: PathBuf,
    /// Why, with the file named `REV:path` (git's own spelling of a file at a revision), so
    /// its lines are never mistaken for the working tree's.
    pub diagnostics: Diagnostics,
}

/// How a report names a revision: as given (`origin/main`, `HEAD~1`), except a commit id,
/// which is shortened to 12 digits (a 40-digit id helps nobody read a comment).
pub fn revision_label(rev: &str, commit: &str) -> String {
    let is_id = rev.len() > 12
        && rev.bytes().all(|b| b.is_ascii_hexdigit())
        && commit.starts_with(&rev.to_ascii_lowercase());
    if is_id {
        commit[..12].to_string()
    } else {
        rev.to_string()
    }
}

/// Runs git in the current directory; its stdout, or its stderr's first line as the error.
fn git(args: &[&str]) -> Result<Vec<u8>, (Option<std::io::Error>, String)> {
    let out = Command::new("git")
        .args(args)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .output()
        .map_err(|e| (Some(e), String::new()))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let first = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        Err((None, first.trim().to_string()))
    }
}

/// `a/./b/../c` -> `a/c`, lexically: the path need not exist in the working tree.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(n) => out.push(n),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

fn is_hidden(path: &str) -> bool {
    path.split('/').any(|c| c.starts_with('.'))
}

/// Loads the policies under `paths` (as `--policies` gives them, relative to the current
/// directory) as they are in revision `rev`.
pub fn load_at(rev: &str, paths: &[PathBuf]) -> Result<AtRevision, GitError> {
    let fail = |command: &str| {
        let rev = rev.to_string();
        let command = command.to_string();
        move |(spawn, message): (Option<std::io::Error>, String)| match spawn {
            Some(source) => GitError::Spawn { rev, source },
            None => GitError::Failed {
                rev,
                command,
                message,
            },
        }
    };
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|_| ".".into());
    let prefix = match git(&["rev-parse", "--show-prefix"]) {
        Ok(out) => String::from_utf8_lossy(&out).trim_end().to_string(),
        Err((Some(source), _)) => {
            return Err(GitError::Spawn {
                rev: rev.into(),
                source,
            })
        }
        Err((None, message)) => {
            return Err(GitError::NoRepository {
                rev: rev.into(),
                dir: cwd,
                message,
            })
        }
    };
    let root = git(&["rev-parse", "--show-toplevel"]).map_err(fail("rev-parse"))?;
    let root = PathBuf::from(String::from_utf8_lossy(&root).trim_end());
    let commit = git(&[
        "rev-parse",
        "--verify",
        "--quiet",
        "--end-of-options",
        &format!("{rev}^{{commit}}"),
    ])
    .map_err(|(spawn, message)| match spawn {
        Some(source) => GitError::Spawn {
            rev: rev.into(),
            source,
        },
        None => GitError::UnknownRevision {
            rev: rev.into(),
            message: if message.is_empty() {
                "not a commit in this repository; fetch it first (actions/checkout: fetch-depth 0, or git fetch origin <base>)".into()
            } else {
                message
            },
        },
    })?;
    let commit = String::from_utf8_lossy(&commit).trim().to_string();

    let mut files: Vec<(PathBuf, String)> = Vec::new();
    let mut too_large: Vec<PathBuf> = Vec::new();
    for given in paths {
        // Where the path is inside the repository: from the root, or from the current
        // directory's place in it.
        let inside = if given.is_absolute() {
            let canonical_root = std::fs::canonicalize(&root).unwrap_or_else(|_| root.clone());
            given
                .strip_prefix(&root)
                .or_else(|_| given.strip_prefix(&canonical_root))
                .ok()
                .and_then(normalize)
        } else {
            normalize(&Path::new(&prefix).join(given))
        };
        let Some(inside) = inside else {
            return Err(GitError::Outside {
                rev: rev.into(),
                path: given.display().to_string(),
            });
        };
        let rel = inside.to_string_lossy().replace('\\', "/");
        let spec = if rel.is_empty() {
            ".".to_string()
        } else {
            rel.clone()
        };
        // `-r` lists every blob below; a path that is a file lists itself; a path missing at
        // the revision lists nothing (every policy there counts as added).
        let listing = git(&["ls-tree", "-r", "-z", "--full-tree", &commit, "--", &spec])
            .map_err(fail("ls-tree"))?;
        for entry in listing.split(|&b| b == 0).filter(|e| !e.is_empty()) {
            let entry = String::from_utf8_lossy(entry);
            let Some((meta, path)) = entry.split_once('\t') else {
                continue;
            };
            // `<mode> <type> <id>`: regular files only (no symlinks, no submodules).
            let mut meta = meta.split(' ');
            let (mode, kind, id) = (meta.next(), meta.next(), meta.next());
            if kind != Some("blob") || !matches!(mode, Some("100644" | "100755")) {
                continue;
            }
            let named_file = path == rel;
            let below = path.strip_prefix(&format!("{rel}/")).or(if rel.is_empty() {
                Some(path)
            } else {
                None
            });
            let take = named_file || below.is_some_and(|b| b.ends_with(".toml") && !is_hidden(b));
            if !take {
                continue;
            }
            // Shown as the user would name it in the working tree: the given path, then the
            // rest of the file's path below it.
            let shown = match below {
                Some(b) if !named_file => given.join(b),
                _ => given.clone(),
            };
            let id = id.unwrap_or_default();
            if files.iter().any(|(p, _)| *p == shown) {
                continue;
            }
            let blob = git(&["cat-file", "blob", id]).map_err(fail("cat-file"))?;
            if blob.len() as u64 > MAX_FILE_BYTES {
                too_large.push(shown);
                continue;
            }
            files.push((shown, String::from_utf8_lossy(&blob).into_owned()));
        }
    }

    let label = revision_label(rev, &commit);
    let mut sets = Vec::new();
    let mut broken: Vec<Broken> = too_large
        .into_iter()
        .map(|path| {
            let d = Diagnostic::error(
                "file-too-large",
                format!(
                    "`{label}:{}` is larger than {} MiB, too large for a policy file",
                    path.display(),
                    MAX_FILE_BYTES >> 20
                ),
            );
            Broken {
                path,
                diagnostics: Diagnostics(vec![d], Files::new()),
            }
        })
        .collect();
    for (path, text) in files {
        match PolicySet::from_sources([(path.clone(), text.clone())]) {
            Ok(set) => sets.push(set),
            Err(plain) => {
                // Loaded again under its revision's name: the same diagnostics, placed at
                // `REV:path:line:column`.
                let named = PathBuf::from(format!("{label}:{}", path.display()));
                let diagnostics = PolicySet::from_sources([(named, text)])
                    .err()
                    .unwrap_or(plain);
                broken.push(Broken { path, diagnostics });
            }
        }
    }
    Ok(AtRevision {
        revision: rev.to_string(),
        commit,
        sets,
        broken,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_id_is_labelled_short_and_a_name_as_given() {
        let commit = "246d4f9c2f52a1b0c9d8e7f6a5b4c3d2e1f00912";
        assert_eq!(revision_label(commit, commit), "246d4f9c2f52");
        assert_eq!(
            revision_label(&commit.to_uppercase(), commit),
            "246d4f9c2f52"
        );
        assert_eq!(revision_label("origin/main", commit), "origin/main");
        assert_eq!(revision_label("246d4f9", commit), "246d4f9");
        assert_eq!(revision_label("HEAD~1", commit), "HEAD~1");
    }

    #[test]
    fn paths_normalize_lexically() {
        assert_eq!(
            normalize(Path::new("sub/./policies/../policies/a.toml")),
            Some(PathBuf::from("sub/policies/a.toml"))
        );
        assert_eq!(normalize(Path::new("../x")), None);
        assert_eq!(normalize(Path::new("")), Some(PathBuf::new()));
        assert!(is_hidden("a/.git/x.toml") && !is_hidden("a/b.toml"));
    }
}
