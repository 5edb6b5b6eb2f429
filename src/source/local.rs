//! The local half of `--logs`: a directory walked in sorted order.
//!
//! Symlinked directories are followed once (their canonical path breaks loops), hidden
//! directories are passed over as one line each, and every file is an archive unless its name
//! says it is plainly not evidence ([`super::skip_reason`]); what is passed over is listed
//! with why.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

use super::{archive_for, skip_reason, DiscoverError, Discovery, Skipped};

pub(super) fn walk(dir: &Path, seen: &mut BTreeSet<PathBuf>, found: &mut Discovery) {
    let io_err = |path: &Path, source| DiscoverError::Io {
        path: path.display().to_string(),
        source,
    };
    // Symlinked directories are followed once: the canonical path breaks loops.
    match dir.canonicalize() {
        Ok(canonical) => {
            if !seen.insert(canonical) {
                found.errors.push(io_err(
                    dir,
                    io::Error::other("directory visited twice (symlink loop?); not read again"),
                ));
                return;
            }
        }
        Err(e) => return found.errors.push(io_err(dir, e)),
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => return found.errors.push(io_err(dir, e)),
    };
    let mut paths = Vec::new();
    for entry in entries {
        match entry {
            Ok(e) => paths.push(e.path()),
            Err(e) => found.errors.push(io_err(dir, e)),
        }
    }
    paths.sort();
    for path in paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let skip = |found: &mut Discovery, reason: &str| {
            found.skipped.push(Skipped {
                path: path.display().to_string(),
                reason: reason.to_string(),
            })
        };
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => {
                if name.starts_with('.') {
                    // `.git`, and `flowgate sample`'s staging directories: one line, not a
                    // listing of thousands of files.
                    skip(found, "a hidden directory, not walked");
                } else {
                    walk(&path, seen, found);
                }
            }
            Ok(m) if m.is_file() => match skip_reason(&name) {
                Some(reason) => skip(found, &reason),
                None => found.archives.push(archive_for(&path)),
            },
            Ok(_) => skip(found, "not a regular file (a socket or device)"),
            Err(e) => found.errors.push(io_err(&path, e)),
        }
    }
}
