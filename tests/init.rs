//! `flowgate init` through the real binary: what it writes, that it never overwrites, that
//! the example policy lints clean and that the workflow passes actionlint.

mod common;

use std::path::Path;
use std::process::{Command, Output};

const FILES: [&str; 7] = [
    "examples/example-policy.toml",
    "policies/README.md",
    "fixtures/README.md",
    ".github/workflows/policy-check.yml",
    "Cargo.toml",
    "tests/policies.rs",
    ".gitignore",
];

fn flowgate(args: &[&str], cwd: &Path) -> Output {
    common::flowgate(cwd).args(args).output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every file under `dir` with its bytes, sorted.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let rel = path.strip_prefix(base).unwrap().display().to_string();
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn init_scaffolds_a_policy_repository_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("Retail Policies");
    let out = flowgate(&["init", dir.to_str().unwrap()], tmp.path());
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for f in FILES {
        assert!(dir.join(f).is_file(), "{f} missing:\n{text}");
        assert!(
            text.contains(&format!("created  {}", dir.join(f).display())),
            "{text}"
        );
    }
    let written = snapshot(&dir);
    assert_eq!(written.len(), FILES.len());

    let cargo = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(cargo.contains("name = \"retail-policies\""), "{cargo}");
    assert!(
        cargo.contains(&format!(
            "flowgate = {{ git = \"{}\", tag = \"v{}\", default-features = false }}",
            env!("CARGO_PKG_REPOSITORY"),
            env!("CARGO_PKG_VERSION")
        )),
        "{cargo}"
    );
    let test = std::fs::read_to_string(dir.join("tests/policies.rs")).unwrap();
    assert!(test.contains(".assert_passes()"), "{test}");
    assert!(test.contains("flowgate::date(TODAY)"), "{test}");
    let workflow = std::fs::read_to_string(dir.join(".github/workflows/policy-check.yml")).unwrap();
    assert!(workflow.contains(&format!(
        "uses: {}@v{}",
        env!("CARGO_PKG_REPOSITORY").trim_start_matches("https://github.com/"),
        env!("CARGO_PKG_VERSION")
    )));
    assert!(!workflow.contains("pull_request_target:"));
    let readme = std::fs::read_to_string(dir.join("fixtures/README.md")).unwrap();
    assert!(readme.contains("aws s3 sync") && readme.contains("flowgate sample"));
    for (path, bytes) in &written {
        let text = String::from_utf8_lossy(bytes);
        // `${{ }}` is a GitHub expression; any other `{{` is a placeholder left over.
        let left = text.matches("{{").count() - text.matches("${{").count();
        assert_eq!(left, 0, "placeholder left in {path}");
    }

    // A second run reports every file as left alone and changes nothing, even an edit.
    std::fs::write(dir.join("examples/example-policy.toml"), "# mine\n").unwrap();
    let before = snapshot(&dir);
    let out = flowgate(&["init", dir.to_str().unwrap()], tmp.path());
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(
        text.matches("exists, left alone").count(),
        FILES.len(),
        "{text}"
    );
    assert!(!text.contains("created"), "{text}");
    assert_eq!(snapshot(&dir), before);
}

#[test]
fn the_example_policy_lints_clean_and_the_workflow_passes_actionlint() {
    let tmp = tempfile::tempdir().unwrap();
    let out = flowgate(&["init", "repo"], tmp.path());
    assert_eq!(out.status.code(), Some(0));
    let dir = tmp.path().join("repo");

    let lint = flowgate(
        &[
            "lint",
            "--policies",
            "examples/example-policy.toml",
            "--today",
            "2026-11-26",
        ],
        &dir,
    );
    assert_eq!(
        lint.status.code(),
        Some(0),
        "{}{}",
        stdout(&lint),
        String::from_utf8_lossy(&lint.stderr)
    );
    assert!(stdout(&lint).contains("1 policy linted: 0 errors, 0 warnings; 3 expectations hold"));

    match Command::new("actionlint")
        .arg(".github/workflows/policy-check.yml")
        .current_dir(&dir)
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "actionlint rejects the workflow init writes:\n{}{}",
            stdout(&out),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => println!("note: actionlint not run ({e}); install it to check the workflow"),
    }
}

#[test]
fn init_keeps_what_is_there_whatever_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("policies/README.md")).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.join("elsewhere"), dir.join("Cargo.toml")).unwrap();
    let out = flowgate(&["init"], dir);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("exists, left alone  ./policies/README.md"),
        "{text}"
    );
    assert!(dir.join("policies/README.md").is_dir());
    #[cfg(unix)]
    {
        assert!(text.contains("exists, left alone  ./Cargo.toml"), "{text}");
        // The dangling symlink was not followed.
        assert!(!dir.join("elsewhere").exists());
    }
    assert!(dir.join("tests/policies.rs").is_file());
}

#[test]
fn init_exits_two_when_the_directory_cannot_be_created() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("file"), "not a directory").unwrap();
    let out = flowgate(&["init", "file/sub"], tmp.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error: cannot create file/sub"));
    assert!(out.stdout.is_empty());
}

/// Copies every file under `from` into `to`, leaving files that are there already.
fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&path, &target);
        } else if !target.exists() {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

#[test]
fn init_then_real_fixtures_and_a_suggested_policy_is_green() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("repo");
    let out = flowgate(&["init", "repo"], tmp.path());
    assert_eq!(out.status.code(), Some(0));
    let next = stdout(&out);
    assert!(
        next.contains("flowgate suggest --logs fixtures --scope-peer CIDR --name NAME --out policies/NAME.toml"),
        "{next}"
    );

    // Before any policy, the check cannot pass: it says why (exit 2), it does not go green.
    copy_tree(&common::root().join("fixtures"), &dir.join("fixtures"));
    let check = ["check", "--today", "2026-11-26", "--junit", "flowgate.xml"];
    let empty = flowgate(&check, &dir);
    assert_eq!(empty.status.code(), Some(2), "{}", stdout(&empty));
    assert!(
        stdout(&empty).contains("no policy files"),
        "{}",
        stdout(&empty)
    );

    // The `next:` steps, as a user follows them.
    let suggest = flowgate(
        &[
            "suggest",
            "--logs",
            "fixtures",
            "--scope-peer",
            "10.20.0.0/16",
            "--name",
            "retail-dedicated-line",
            "--out",
            "policies/retail-dedicated-line.toml",
        ],
        &dir,
    );
    assert_eq!(
        suggest.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&suggest.stderr)
    );
    assert!(
        suggest.stdout.is_empty(),
        "--out writes the file, not stdout"
    );
    // A second suggest never replaces the (by now reviewed) policy.
    let again = flowgate(
        &[
            "suggest",
            "--scope-peer",
            "10.20.0.0/16",
            "--out",
            "policies/retail-dedicated-line.toml",
        ],
        &dir,
    );
    assert_eq!(again.status.code(), Some(2));

    let summary = dir.join("summary.md");
    let out = common::github_step(&dir, &summary)
        .args(check)
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("PASS retail-dedicated-line"), "{text}");
    assert!(!text.contains("::error"), "{text}");
    let summary = std::fs::read_to_string(summary).unwrap();
    assert!(
        summary.starts_with("## flowgate: PASS: 1 of 1 policy passes"),
        "{summary}"
    );
    let junit = std::fs::read_to_string(dir.join("flowgate.xml")).unwrap();
    assert!(
        !junit.contains("<failure") && !junit.contains("<error"),
        "{junit}"
    );
}

/// The scaffold's two routes take flowgate from its repository at this release's tag: the
/// workflow through the GitHub Action (a release binary, no cargo at all), `cargo test`
/// through a git dependency. Neither asks crates.io for flowgate, which is not there.
#[test]
fn the_scaffold_needs_nothing_from_crates_io() {
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(
        flowgate(&["init", "repo"], tmp.path()).status.code(),
        Some(0)
    );
    let dir = tmp.path().join("repo");
    let repository = env!("CARGO_PKG_REPOSITORY");
    let tag = format!("v{}", env!("CARGO_PKG_VERSION"));

    let workflow = std::fs::read_to_string(dir.join(".github/workflows/policy-check.yml")).unwrap();
    for word in ["cargo", "rust-toolchain", "rust-cache", "crates.io"] {
        assert!(
            !workflow
                .lines()
                .any(|l| !l.trim_start().starts_with('#') && l.contains(word)),
            "the workflow uses `{word}`"
        );
    }
    let uses: Vec<&str> = workflow
        .lines()
        .filter_map(|l| l.trim().trim_start_matches("- ").strip_prefix("uses: "))
        .collect();
    let slug = repository.trim_start_matches("https://github.com/");
    assert!(uses.contains(&format!("{slug}@{tag}").as_str()), "{uses:?}");
    // Every other action is pinned to a full commit SHA.
    for u in uses.iter().filter(|u| !u.starts_with(slug)) {
        let sha = u
            .split('@')
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap();
        assert!(
            sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
            "not pinned to a commit: {u}"
        );
    }
    // The code-scanning upload has the permission it needs, on the check job only.
    let (top, jobs) = workflow.split_once("\njobs:\n").unwrap();
    assert!(!top.contains("security-events"));
    assert_eq!(jobs.matches("security-events: write").count(), 1);
    // And the pull-request comment (the action's `base` defaults to the pull request's).
    assert!(!top.contains("pull-requests"));
    assert!(jobs.contains("pull-requests: write") && jobs.contains("comment: \"true\""));

    // Cargo itself reads the dependency as git at the tag (no resolution, so no network).
    let meta = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        meta.status.success(),
        "{}",
        String::from_utf8_lossy(&meta.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&meta.stdout).unwrap();
    let deps = meta["packages"][0]["dependencies"].as_array().unwrap();
    assert_eq!(deps.len(), 1);
    assert_eq!(deps[0]["name"], "flowgate");
    assert_eq!(deps[0]["kind"], "dev");
    assert_eq!(
        deps[0]["source"],
        format!("git+{repository}?tag={tag}"),
        "{deps:?}"
    );
}

/// The README shows the workflow `init` writes, as it writes it.
#[test]
fn the_readme_shows_the_workflow_init_writes() {
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(
        flowgate(&["init", "repo"], tmp.path()).status.code(),
        Some(0)
    );
    let workflow =
        std::fs::read_to_string(tmp.path().join("repo/.github/workflows/policy-check.yml"))
            .unwrap();
    let readme = std::fs::read_to_string(common::root().join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("```yaml\n{workflow}```\n")),
        "README.md's workflow is not the one `flowgate init` writes"
    );
    let cargo = std::fs::read_to_string(tmp.path().join("repo/Cargo.toml")).unwrap();
    let dependency = cargo
        .lines()
        .find(|l| l.starts_with("flowgate = "))
        .unwrap();
    assert!(readme.contains(&format!("[dev-dependencies]\n{dependency}\n")));
}
