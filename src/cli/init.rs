//! `flowgate init [DIR]`: scaffolds a policy repository.
//!
//! Writes an example policy (under `examples/`, so that the check is green as soon as the
//! user's own fixtures and policies are in: an example in `policies/` would fail on traffic it
//! never sees), READMEs saying how to fill `fixtures/` and `policies/`, the GitHub workflow
//! that checks every pull request, and a `Cargo.toml` with `tests/policies.rs` so that
//! `cargo test` runs the same check through the library. It never replaces anything: a path
//! that exists, whatever it is (file, directory, symlink), is reported and left alone, so a
//! second run changes nothing. The templates live in `init/` beside this file.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::Args;

use super::print;
use crate::report::{EXIT_PASS, EXIT_UNTRUSTED};
use crate::text::clean_line;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Directory to scaffold (created when missing).
    #[arg(default_value = ".", value_name = "DIR")]
    pub dir: PathBuf,
}

/// One file `init` writes: its path inside DIR and its text, placeholders filled in.
pub struct Template {
    pub path: &'static str,
    pub text: String,
}

/// What to do after `init`, in order: the check fails (exit 2, "no policy files") until a
/// policy is in `policies/`, and is green once the fixtures and passing policies are.
const NEXT: &str = "
next:
  1. put a sample of your flow logs in fixtures/ (fixtures/README.md says how)
  2. draft a policy from them, then review it (examples/example-policy.toml shows every part):
       flowgate suggest --logs fixtures --scope-peer CIDR --name NAME --out policies/NAME.toml
  3. flowgate check (or cargo test): it passes when no traffic in the fixtures would be blocked
  4. commit; the workflow checks every pull request and comments what it newly blocks
";

/// `owner/name` of flowgate's GitHub repository (Cargo.toml's `repository`, its one home), as
/// a workflow's `uses:` names the action.
fn repository_slug() -> &'static str {
    env!("CARGO_PKG_REPOSITORY").trim_start_matches("https://github.com/")
}

/// The package name in the scaffold's `Cargo.toml` when DIR's name is not one.
const FALLBACK_NAME: &str = "network-policies";

/// Every file `init` writes, in the order it reports them. `name` is the Cargo package name,
/// `today` the date the scaffold's test judges waivers against.
pub fn templates(name: &str, today: time::Date) -> Vec<Template> {
    let fill = |text: &str| {
        text.replace("{{version}}", env!("CARGO_PKG_VERSION"))
            .replace("{{repository}}", env!("CARGO_PKG_REPOSITORY"))
            .replace("{{repository_slug}}", repository_slug())
            .replace("{{name}}", name)
            .replace("{{today}}", &today.to_string())
    };
    [
        (
            "examples/example-policy.toml",
            include_str!("init/example-policy.toml"),
        ),
        (
            "policies/README.md",
            include_str!("init/policies-README.md"),
        ),
        (
            "fixtures/README.md",
            include_str!("init/fixtures-README.md"),
        ),
        (
            ".github/workflows/policy-check.yml",
            include_str!("init/policy-check.yml"),
        ),
        ("Cargo.toml", include_str!("init/Cargo.toml")),
        ("tests/policies.rs", include_str!("init/policies.rs")),
        (".gitignore", include_str!("init/gitignore")),
    ]
    .into_iter()
    .map(|(path, text)| Template {
        path,
        text: fill(text),
    })
    .collect()
}

/// A Cargo package name from a directory name: lowercase ASCII letters, digits, `-` and `_`,
/// starting with a letter; [`FALLBACK_NAME`] when nothing usable is left.
pub fn package_name(dir: &Path) -> String {
    let raw = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_matches('-');
    if name.starts_with(|c: char| c.is_ascii_lowercase()) {
        name.to_string()
    } else {
        FALLBACK_NAME.to_string()
    }
}

/// What happened to one file.
enum Outcome {
    Created,
    Exists,
}

/// Writes `text` to `path` unless something is there already. `create_new` makes "exists"
/// and "create" one step, and never follows a symlink planted at `path`.
fn write_new(path: &Path, text: &str) -> io::Result<Outcome> {
    if path.symlink_metadata().is_ok() {
        return Ok(Outcome::Exists);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(mut f) => {
            f.write_all(text.as_bytes())?;
            Ok(Outcome::Created)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(Outcome::Exists),
        Err(e) => Err(e),
    }
}

pub fn run(args: InitArgs) -> anyhow::Result<u8> {
    let dir = &args.dir;
    let shown = |p: &Path| clean_line(&p.display().to_string()).into_owned();
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("error: cannot create {}: {e}", shown(dir));
        return Ok(EXIT_UNTRUSTED);
    }
    let name = package_name(&std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone()));
    let today = time::OffsetDateTime::now_utc().date();
    let mut text = String::new();
    let mut failed = false;
    for t in templates(&name, today) {
        let path = dir.join(t.path);
        match write_new(&path, &t.text) {
            Ok(Outcome::Created) => text.push_str(&format!("created  {}\n", shown(&path))),
            Ok(Outcome::Exists) => {
                text.push_str(&format!("exists, left alone  {}\n", shown(&path)));
            }
            Err(e) => {
                failed = true;
                text.push_str(&format!("error: cannot write {}: {e}\n", shown(&path)));
            }
        }
    }
    text.push_str(NEXT);
    print(&text)?;
    Ok(if failed { EXIT_UNTRUSTED } else { EXIT_PASS })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_are_valid_crate_names() {
        assert_eq!(
            package_name(Path::new("/x/Retail Policies")),
            "retail-policies"
        );
        assert_eq!(package_name(Path::new("/x/net_rules-2")), "net_rules-2");
        assert_eq!(package_name(Path::new("/x/2024")), FALLBACK_NAME);
        assert_eq!(package_name(Path::new("/")), FALLBACK_NAME);
    }

    #[test]
    fn templates_have_no_placeholder_left() {
        let today = time::macros::date!(2026 - 11 - 26);
        for t in templates("p", today) {
            // `${{ }}` is a GitHub expression; any other `{{` is a placeholder left over.
            assert_eq!(
                t.text.matches("{{").count(),
                t.text.matches("${{").count(),
                "{}",
                t.path
            );
        }
        let test = templates("p", today)
            .into_iter()
            .find(|t| t.path == "tests/policies.rs")
            .unwrap();
        assert!(test.text.contains("const TODAY: &str = \"2026-11-26\";"));
    }

    #[test]
    fn the_example_policy_loads() {
        let t = templates("p", time::macros::date!(2026 - 11 - 26));
        let example = &t[0];
        assert_eq!(example.path, "examples/example-policy.toml");
        let set = crate::policy::PolicySet::from_sources([(example.path, example.text.clone())])
            .unwrap_or_else(|d| panic!("{d}"));
        assert_eq!(set.policies()[0].name, "example-partner-line");
    }
}
