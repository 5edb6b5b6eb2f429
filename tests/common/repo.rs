//! A scratch policy repository in a temp dir (`policies/`, `logs/`) and one run of the real
//! binary in it, with its JSON report read back.

use std::path::PathBuf;
use std::process::{Command, Output};

use super::archive::{gz, log_text};

/// `policies/` and `logs/` in a temp dir, both empty at first.
pub struct Repo {
    pub dir: tempfile::TempDir,
}

/// What one `check` left behind.
pub struct Run {
    pub code: Option<i32>,
    /// The JSON report, `Null` when none was written.
    pub json: serde_json::Value,
    pub stdout: String,
    pub stderr: String,
}

impl Repo {
    /// No policy and no archive.
    pub fn empty() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("policies")).unwrap();
        std::fs::create_dir_all(dir.path().join("logs")).unwrap();
        Repo { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn policy(&self, name: &str, text: &str) -> &Repo {
        std::fs::write(self.path(&format!("policies/{name}.toml")), text).unwrap();
        self
    }

    /// Writes `bytes` as `logs/<name>`.
    pub fn raw(&self, name: &str, bytes: &[u8]) -> &Repo {
        let path = self.path(&format!("logs/{name}"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
        self
    }

    /// Writes a gzip archive `logs/<name>`: `header`, then `records`, one a line.
    pub fn archive_with(&self, name: &str, header: &str, records: &[&str]) -> &Repo {
        self.raw(name, &gz(log_text(header, records)))
    }

    /// The binary, run in the repository, outside GitHub Actions and without colour.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = super::flowgate(self.dir.path());
        c.args(args);
        c
    }

    pub fn output(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// `check --json report.json` on `policies` and `logs` with `--today 2026-11-26`, plus
    /// `extra`. Asserts that the binary did not panic.
    pub fn check(&self, extra: &[&str]) -> Run {
        let json = self.path("report.json");
        let _ = std::fs::remove_file(&json);
        let mut args = vec![
            "check",
            "--policies",
            "policies",
            "--logs",
            "logs",
            "--today",
            "2026-11-26",
            "--json",
            "report.json",
        ];
        args.extend_from_slice(extra);
        let out = self.output(&args);
        let run = Run {
            code: out.status.code(),
            json: std::fs::read_to_string(&json)
                .ok()
                .map(|s| serde_json::from_str(&s).expect("the JSON report parses"))
                .unwrap_or(serde_json::Value::Null),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert_no_panic(&run.stderr);
        run
    }
}

impl Run {
    /// The first policy's count `what` (`allowed`, `would_block`, ...).
    pub fn count(&self, what: &str) -> u64 {
        self.json["policies"][0]["counts"][what]
            .as_u64()
            .unwrap_or_else(|| panic!("no count {what} in {}", self.json))
    }

    /// Problems of archives whose path ends with `name`, as (line, message).
    pub fn problems(&self, name: &str) -> Vec<(Option<u64>, String)> {
        self.json["run"]["problems"]
            .as_array()
            .unwrap_or_else(|| panic!("no problems in {}\n{}", self.json, self.stderr))
            .iter()
            .filter(|p| p["archive"].as_str().unwrap().ends_with(name))
            .map(|p| {
                (
                    p["line"].as_u64(),
                    p["message"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }
}

/// Fails the test when the binary panicked: a crash is never an acceptable answer to input.
pub fn assert_no_panic(stderr: &str) {
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );
}
