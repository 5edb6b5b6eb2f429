//! The GitHub Action (`action.yml`) outside GitHub: its steps' logic, `.github/action.sh`, run
//! with the environment the runner gives it and a stand-in `flowgate` that records its
//! arguments, and `action.yml` read for what every input becomes. The install step is
//! `tests/install.rs`; the project's CI runs the action itself (`uses: ./`) on a release
//! packed from the commit.
#![cfg(unix)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::root;

/// A scratch runner: a workspace, a GITHUB_OUTPUT file and a `flowgate` on PATH that
/// writes its arguments one per line to `args` and exits with `$FAKE_EXIT`.
struct Runner {
    dir: tempfile::TempDir,
}

impl Runner {
    fn new() -> Runner {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(dir.path().join("work")).unwrap();
        std::fs::write(
            bin.join("flowgate"),
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$FAKE_ARGS\"\n\
             for a in \"$@\"; do case $prev in --junit|--json|--sarif|--html|--pr-comment) echo report > \"$a\";; esac; prev=$a; done\n\
             exit \"${FAKE_EXIT:-0}\"\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(bin.join("flowgate"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        std::fs::write(dir.path().join("output"), "").unwrap();
        Runner { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Runs `action.sh STEP` in the workspace with `env` (and nothing else of the runner's).
    fn run(&self, step: &str, env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new("bash");
        cmd.arg(root().join(".github/action.sh"))
            .arg(step)
            .current_dir(self.path("work"))
            .env_clear()
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    self.path("bin").display(),
                    std::env::var("PATH").unwrap()
                ),
            )
            .env("GITHUB_OUTPUT", self.path("output"))
            .env("GITHUB_ACTION_PATH", root())
            .env("FAKE_ARGS", self.path("args"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    /// What the step wrote to $GITHUB_OUTPUT, as `name=value` lines.
    fn outputs(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("output"))
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }

    /// The arguments the stand-in flowgate was called with.
    fn args(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("args"))
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_version_is_the_input_else_the_tag_else_the_commits_cargo_toml() {
    let ours = env!("CARGO_PKG_VERSION");
    let sha = "0123456789abcdef0123456789abcdef01234567";
    for (input, action_ref, expected) in [
        ("0.3.1", "v0.1.0", "0.3.1"),
        ("v0.3.1", "", "0.3.1"),
        ("", "v0.2.0", "0.2.0"),
        ("", "v1.0.0-rc.1", "1.0.0-rc.1"),
        ("", sha, ours),
        // `uses: ./` (a checkout of this repository) has no ref.
        ("", "", ours),
    ] {
        let runner = Runner::new();
        let out = runner.run(
            "version",
            &[("INPUT_VERSION", input), ("ACTION_REF", action_ref)],
        );
        assert!(
            out.status.success(),
            "{input:?} {action_ref:?}: {}",
            text(&out)
        );
        assert_eq!(runner.outputs(), [format!("version={expected}")]);
    }
}

#[test]
fn a_branch_names_no_release() {
    for action_ref in ["main", "v1", "feature/x"] {
        let runner = Runner::new();
        let out = runner.run("version", &[("ACTION_REF", action_ref)]);
        assert_eq!(out.status.code(), Some(1));
        let text = text(&out);
        assert!(
            text.starts_with("::error title=flowgate action::")
                && text.contains(&format!(
                    "used at `{action_ref}`, which names no flowgate release"
                )),
            "{text}"
        );
        assert!(runner.outputs().is_empty());
    }
}

#[test]
fn check_passes_every_input_on_and_reports_what_was_written() {
    let runner = Runner::new();
    let out = runner.run(
        "check",
        &[
            ("INPUT_POLICIES", "policies/line.toml\n  policies/extra"),
            ("INPUT_LOGS", "fixtures other logs"),
            ("INPUT_JUNIT", "reports/flowgate.xml"),
            ("INPUT_JSON", ""),
            ("INPUT_SARIF", "out/deep/flowgate.sarif"),
            ("INPUT_HTML", "reports/flowgate.html"),
            ("INPUT_ARGS", "--threads 2\n--since 2026-11-01 *"),
            ("FAKE_EXIT", "1"),
        ],
    );
    // The step itself succeeds: the action's last step gives flowgate's verdict.
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        runner.args(),
        [
            "check",
            "--policies",
            "policies/line.toml",
            "policies/extra",
            "--logs",
            "fixtures",
            "other",
            "logs",
            "--junit",
            "reports/flowgate.xml",
            "--sarif",
            "out/deep/flowgate.sarif",
            "--html",
            "reports/flowgate.html",
            "--threads",
            "2",
            "--since",
            "2026-11-01",
            // Not a glob: passed on as it is.
            "*",
        ]
    );
    assert_eq!(
        runner.outputs(),
        [
            "exit-code=1",
            "junit=reports/flowgate.xml",
            "sarif=out/deep/flowgate.sarif",
            "html=reports/flowgate.html"
        ]
    );
    assert!(runner.path("work/out/deep/flowgate.sarif").is_file());
}

#[test]
fn check_with_defaults_only_and_a_report_that_was_not_written() {
    let runner = Runner::new();
    // A flowgate that dies before writing anything: no report path is claimed.
    std::fs::write(
        runner.path("bin/flowgate"),
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$FAKE_ARGS\"\nexit 2\n",
    )
    .unwrap();
    let out = runner.run(
        "check",
        &[
            ("INPUT_POLICIES", ""),
            ("INPUT_LOGS", ""),
            ("INPUT_JSON", "reports/flowgate.json"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(runner.args(), ["check", "--json", "reports/flowgate.json"]);
    assert_eq!(runner.outputs(), ["exit-code=2"]);
}

#[test]
fn link_html_appends_the_artifact_link_to_the_summary() {
    let runner = Runner::new();
    let summary = runner.path("summary.md");
    std::fs::write(&summary, "## flowgate: PASS\n").unwrap();
    let url = "https://github.com/o/r/actions/runs/1/artifacts/2";
    let out = runner.run(
        "link-html",
        &[
            ("URL", url),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let text_now = std::fs::read_to_string(&summary).unwrap();
    assert!(text_now.starts_with("## flowgate: PASS\n"));
    assert!(
        text_now.contains(&format!("**[HTML report]({url})**")),
        "{text_now}"
    );
    // Anything but an https URL is refused, not linked.
    let out = runner.run(
        "link-html",
        &[
            ("URL", "javascript:alert(1)"),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ],
    );
    assert!(!out.status.success());
    assert_eq!(std::fs::read_to_string(&summary).unwrap(), text_now);
}

/// `action.yml` is a composite action whose every input reaches a step, and whose verdict
/// step exits with flowgate's code. (actionlint checks its use in the project's CI.)
#[test]
fn action_yml_wires_every_input() {
    let yml = std::fs::read_to_string(root().join("action.yml")).unwrap();
    assert!(yml.contains("\n  using: composite\n"));
    let inputs: Vec<&str> = yml
        .split("\ninputs:\n")
        .nth(1)
        .unwrap()
        .split("\noutputs:\n")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("  ")?.strip_suffix(':'))
        .filter(|l| !l.starts_with(' '))
        .collect();
    assert_eq!(
        inputs,
        [
            "version",
            "policies",
            "logs",
            "base",
            "comment",
            "token",
            "junit",
            "json",
            "sarif",
            "html",
            "upload-sarif",
            "args"
        ]
    );
    let steps = yml.split("\nruns:\n").nth(1).unwrap();
    for input in inputs {
        assert!(
            steps.contains(&format!("${{{{ inputs.{input} }}}}"))
                || steps.contains(&format!("inputs.{input} ==")),
            "input `{input}` is not used by any step"
        );
    }
    assert!(steps.contains("run: exit \"${CODE:-2}\""));
    // Every action the composite uses is pinned to a full commit SHA.
    for line in steps
        .lines()
        .filter(|l| l.trim_start().starts_with("uses:"))
    {
        let reference = line.split('@').nth(1).unwrap_or("");
        let sha = reference.split_whitespace().next().unwrap_or("");
        assert!(
            sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit()),
            "not pinned to a commit: {line}"
        );
    }
}

/// A git repository in the runner's workspace with one commit; returns its SHA.
fn git_repo(dir: &Path) -> String {
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    git(&["init", "-q"]);
    std::fs::write(dir.join("a"), "a").unwrap();
    git(&["add", "a"]);
    git(&["commit", "-q", "-m", "a"]);
    git(&["rev-parse", "HEAD"])
}

#[test]
fn base_defaults_to_the_pull_requests_base_and_can_be_turned_off() {
    let runner = Runner::new();
    let sha = git_repo(&runner.path("work"));
    let comment = runner.path("comment.md");
    let comment = comment.to_str().unwrap();
    let env = [
        ("PR_BASE_SHA", sha.as_str()),
        ("COMMENT_FILE", comment),
        ("INPUT_COMMENT", "true"),
    ];
    let out = runner.run("check", &env);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        runner.args(),
        ["check", "--base", sha.as_str(), "--pr-comment", comment]
    );
    assert_eq!(
        runner.outputs(),
        ["exit-code=0".to_string(), format!("comment={comment}")]
    );
    // Present already: nothing was fetched (there is no remote to fetch from).
    assert!(!text(&out).contains("::warning"), "{}", text(&out));

    for (input, expected) in [("none", None), ("main", Some("main"))] {
        let runner = Runner::new();
        std::fs::create_dir_all(runner.path("work")).unwrap();
        let out = runner.run(
            "check",
            &[("PR_BASE_SHA", sha.as_str()), ("INPUT_BASE", input)],
        );
        assert!(out.status.success(), "{}", text(&out));
        let args = runner.args();
        match expected {
            None => assert_eq!(args, ["check"]),
            Some(rev) => {
                assert_eq!(args, ["check", "--base", rev]);
                // Not in the (non-)repository: the fetch was tried and the failure said, and
                // flowgate is left to refuse the revision (exit 2), never to pass silently.
                assert!(
                    text(&out).contains(
                        "::warning title=flowgate action::cannot fetch the base commit main"
                    ),
                    "{}",
                    text(&out)
                );
            }
        }
    }
}

/// A stand-in `gh` that logs its arguments (one call per line) and answers the comment
/// listing with `$FAKE_IDS`.
fn fake_gh(runner: &Runner) {
    std::fs::write(
        runner.path("bin/gh"),
        "#!/bin/sh\necho \"$* MARKER=$MARKER TOKEN=$GH_TOKEN\" >> \"$FAKE_GH_LOG\"\n\
         case \"$*\" in *--paginate*) [ -n \"$FAKE_IDS\" ] && printf '%s\\n' $FAKE_IDS;; esac\nexit 0\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        runner.path("bin/gh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
}

#[test]
fn the_comment_is_posted_once_and_then_edited() {
    let marker = "<!-- flowgate-pr-comment -->";
    for (ids, expected) in [
        (
            "",
            "api --method POST repos/o/r/issues/7/comments -F body=@",
        ),
        (
            "111 222",
            "api --method PATCH repos/o/r/issues/comments/111 -F body=@",
        ),
    ] {
        let runner = Runner::new();
        fake_gh(&runner);
        let file = runner.path("comment.md");
        std::fs::write(&file, format!("{marker}\n## flowgate: PASS\n")).unwrap();
        let log = runner.path("gh.log");
        let out = runner.run(
            "comment",
            &[
                ("COMMENT_FILE", file.to_str().unwrap()),
                ("PR_NUMBER", "7"),
                ("GITHUB_REPOSITORY", "o/r"),
                ("GH_TOKEN", "t0k"),
                ("FAKE_IDS", ids),
                ("FAKE_GH_LOG", log.to_str().unwrap()),
            ],
        );
        assert!(out.status.success(), "{}", text(&out));
        let calls = std::fs::read_to_string(&log).unwrap();
        let calls: Vec<&str> = calls.lines().collect();
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert!(
            calls[0].starts_with("api --paginate repos/o/r/issues/7/comments --jq ")
                && calls[0].contains("github-actions[bot]")
                && calls[0].ends_with(&format!("MARKER={marker} TOKEN=t0k")),
            "{}",
            calls[0]
        );
        assert!(
            calls[1].starts_with(&format!("{expected}{}", file.display())),
            "{}",
            calls[1]
        );
    }

    // Nothing to post: not a pull request, or no comment written.
    let runner = Runner::new();
    fake_gh(&runner);
    let file = runner.path("comment.md");
    std::fs::write(&file, format!("{marker}\nx\n")).unwrap();
    let log = runner.path("gh.log");
    let out = runner.run(
        "comment",
        &[
            ("COMMENT_FILE", file.to_str().unwrap()),
            ("FAKE_GH_LOG", log.to_str().unwrap()),
        ],
    );
    assert!(out.status.success() && text(&out).contains("not a pull request"));
    let out = runner.run(
        "comment",
        &[
            ("COMMENT_FILE", runner.path("none.md").to_str().unwrap()),
            ("PR_NUMBER", "7"),
            ("FAKE_GH_LOG", log.to_str().unwrap()),
        ],
    );
    assert!(out.status.success() && text(&out).contains("wrote no pull-request comment"));
    assert!(!log.exists(), "gh was not called");
}

#[test]
fn a_shallow_checkout_fetches_the_base_commit() {
    let runner = Runner::new();
    let origin = runner.path("origin");
    std::fs::create_dir_all(&origin).unwrap();
    let base = git_repo(&origin);
    let commit = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(["commit", "-q", "--allow-empty", "-m", "head"])
        .current_dir(&origin)
        .status()
        .unwrap();
    assert!(commit.success());
    // actions/checkout's default: the head commit only.
    std::fs::remove_dir(runner.path("work")).unwrap();
    let clone = Command::new("git")
        .args(["clone", "-q", "--depth=1"])
        .arg(format!("file://{}", origin.display()))
        .arg(runner.path("work"))
        .status()
        .unwrap();
    assert!(clone.success());
    let has_base = || {
        Command::new("git")
            .args(["cat-file", "-e", &format!("{base}^{{commit}}")])
            .current_dir(runner.path("work"))
            .status()
            .unwrap()
            .success()
    };
    assert!(!has_base());
    let out = runner.run(
        "check",
        &[("PR_BASE_SHA", base.as_str()), ("INPUT_TOKEN", "s3cret")],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(has_base(), "{}", text(&out));
    assert_eq!(runner.args(), ["check", "--base", base.as_str()]);
    // The token is masked in the log, and never printed as it is.
    assert!(text(&out).contains("::add-mask::"), "{}", text(&out));
    assert!(!text(&out).contains("s3cret"), "{}", text(&out));
}
