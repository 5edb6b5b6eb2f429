//! Findings: what a report says beside the policies' traffic verdicts, in one list.
//!
//! A lint error in a policy, a policy file that did not load, evidence that could not be found:
//! each is a [`Finding`] with a stable code, a place (file, line, column) and its rendered text.
//! Every writer reads them from [`Report::findings`](super::Report::findings) the same way, so a
//! new source of findings (a policy's own `[[expect]]` tests, say) reaches the terminal, JUnit,
//! GitHub annotations, the job summary, JSON and SARIF by adding a variant to [`Origin`], without
//! touching any writer's logic. What a finding does to the verdict depends only on its origin
//! and severity ([`Finding::effect`]). A policy's `[[expect]]` that does not hold is one
//! ([`Origin::Expect`]), named after the expectation, so its JUnit test case, annotation and
//! SARIF result are `expect: <name>`; the expectations that hold are listed in the policy's
//! report ([`PolicyReport::expectations`](super::PolicyReport::expectations)), which JUnit
//! shows as passing cases.

use serde::Serialize;

use crate::diag::{self, Diagnostic, Files};

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Note,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

impl From<diag::Severity> for Severity {
    fn from(s: diag::Severity) -> Self {
        match s {
            diag::Severity::Error => Severity::Error,
            diag::Severity::Warning => Severity::Warning,
            diag::Severity::Note => Severity::Note,
        }
    }
}

/// Where a finding comes from. Its origin decides what an error does to the verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// A policy file that could not be loaded (or no policy at all): the run cannot be
    /// trusted, since some planned block was not judged.
    PolicyFile,
    /// Evidence that could not be found or opened (a `--logs` path, no archive at all): the
    /// run cannot be trusted.
    Logs,
    /// `flowgate lint` on a policy that loaded: an error fails the policy (a rule that allows
    /// everything in the scope proves nothing), a warning stays a warning.
    Lint,
    /// A policy's own `[[expect]]` that does not hold: fails the policy.
    Expect,
    /// The policies at the `--base` revision: an error (git does not know the revision) makes
    /// the run untrusted; a warning (a file there did not load) only explains the diff.
    Base,
}

impl Origin {
    /// The word that opens the finding's JUnit test name and GitHub title: `lint: <code>`.
    pub fn label(self) -> &'static str {
        match self {
            Origin::PolicyFile => "policy file",
            Origin::Logs => "logs",
            Origin::Lint => "lint",
            Origin::Expect => "expect",
            Origin::Base => "base",
        }
    }
}

/// What a finding does to the verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Effect {
    /// The run cannot be trusted: exit 2, whatever the policies' verdicts.
    Untrusted,
    /// The policy it names fails.
    Fails,
    /// Shown, verdict unchanged.
    Informs,
}

/// One finding, located and rendered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub origin: Origin,
    pub severity: Severity,
    /// Stable kebab-case code, documented in `docs/diagnostics.md`.
    pub code: String,
    /// The policy it is about, when it is about one that loaded.
    pub policy: Option<String>,
    /// What in the policy it is about, when that names its test case: an expectation's
    /// name (`expect: <name>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// One sentence.
    pub message: String,
    /// The file it points into (a policy file, or a `--logs` path), when it points anywhere.
    pub path: Option<String>,
    /// 1-based line and column in `path`.
    pub line: Option<u32>,
    pub column: Option<u32>,
    /// What the caret says and the notes (hints such as "did you mean"), one line each.
    pub notes: Vec<String>,
    /// As `flowgate lint` prints it: the message, the source line with a caret, the notes.
    pub rendered: String,
}

impl Finding {
    /// A policy diagnostic, located in and rendered from the sources in `files`.
    pub fn from_diagnostic(
        origin: Origin,
        d: &Diagnostic,
        files: &Files,
        policy: Option<String>,
    ) -> Finding {
        let location = d.location(files);
        let caret = d
            .primary_label()
            .map(|l| l.message.clone())
            .filter(|m| !m.is_empty());
        Finding {
            notes: caret.into_iter().chain(d.notes.iter().cloned()).collect(),
            origin,
            severity: d.severity.into(),
            code: d.code.to_string(),
            policy,
            subject: None,
            message: d.message.clone(),
            path: location.map(|(p, ..)| p.display().to_string()),
            line: location.map(|(_, l, _)| l),
            column: location.map(|(.., c)| c),
            rendered: diag::render(files, std::slice::from_ref(d), false),
        }
    }

    /// A finding without a place in a file: `error[code]: message`.
    pub fn plain(origin: Origin, severity: Severity, code: &str, message: String) -> Finding {
        Finding {
            origin,
            severity,
            code: code.to_string(),
            policy: None,
            subject: None,
            rendered: format!("{}[{code}]: {message}\n", severity.as_str()),
            message,
            notes: Vec::new(),
            path: None,
            line: None,
            column: None,
        }
    }

    /// What this finding does to the verdict.
    pub fn effect(&self) -> Effect {
        match (self.severity, self.origin) {
            (Severity::Error, Origin::PolicyFile | Origin::Logs | Origin::Base) => {
                Effect::Untrusted
            }
            (Severity::Error, Origin::Lint | Origin::Expect) if self.policy.is_some() => {
                Effect::Fails
            }
            (Severity::Error, Origin::Lint | Origin::Expect) => Effect::Untrusted,
            _ => Effect::Informs,
        }
    }

    /// Whether this finding fails the policy named `policy`.
    pub fn fails(&self, policy: &str) -> bool {
        self.effect() == Effect::Fails && self.policy.as_deref() == Some(policy)
    }

    /// `lint: allow-covers-scope`, `expect: ssh stays closed`: how JUnit names its test case
    /// and GitHub titles it. Never holds a line number, so test names stay the same from run
    /// to run.
    pub fn title(&self) -> String {
        let what = self.subject.as_deref().unwrap_or(&self.code);
        format!("{}: {what}", self.origin.label())
    }

    /// The message and, one per line, what the caret says and the notes.
    pub fn full_message(&self) -> String {
        let mut m = self.message.clone();
        for n in &self.notes {
            m.push('\n');
            m.push_str(n);
        }
        m
    }

    /// `policies/a.toml:9:1`, `policies/a.toml`, or nothing.
    pub fn place(&self) -> Option<String> {
        let path = self.path.as_ref()?;
        Some(match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{path}:{l}:{c}"),
            (Some(l), None) => format!("{path}:{l}"),
            _ => path.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Label;

    #[test]
    fn diagnostics_keep_their_place_and_rendering() {
        let mut files = Files::new();
        let id = files.add("policies/a.toml", "[scope]\npeer = \"10.0.0.1/8\"\n");
        let d = Diagnostic::error("cidr-host-bits", "host bits set").with_label(Label::primary(
            id,
            15..27,
            "here",
        ));
        let f = Finding::from_diagnostic(Origin::PolicyFile, &d, &files, None);
        assert_eq!(f.place().as_deref(), Some("policies/a.toml:2:8"));
        assert!(f.rendered.contains("error[cidr-host-bits]: host bits set"));
        assert_eq!(f.effect(), Effect::Untrusted);
        assert_eq!(f.title(), "policy file: cidr-host-bits");
    }

    #[test]
    fn effects_follow_origin_and_severity() {
        let mut f = Finding::plain(Origin::Lint, Severity::Error, "x", "y".into());
        f.policy = Some("p".into());
        assert_eq!(f.effect(), Effect::Fails);
        assert!(f.fails("p") && !f.fails("q"));
        f.severity = Severity::Warning;
        assert_eq!(f.effect(), Effect::Informs);
        let logs = Finding::plain(Origin::Logs, Severity::Error, "no-archives", "z".into());
        assert_eq!(logs.effect(), Effect::Untrusted);
        assert_eq!(logs.rendered, "error[no-archives]: z\n");
        let mut e = Finding::plain(Origin::Expect, Severity::Error, "expect-failed", "x".into());
        e.policy = Some("p".into());
        e.subject = Some("ssh stays closed".into());
        assert!(e.fails("p"));
        assert_eq!(e.title(), "expect: ssh stays closed");
    }
}
