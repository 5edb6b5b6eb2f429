//! Diagnostics that point into policy files: the files registry, the diagnostic model, rendering.
//!
//! Every mistake flowgate finds in a policy (on load or in `lint`) becomes a [`Diagnostic`] with
//! a stable kebab-case code and labels that point at byte ranges of a registered file. [`Files`]
//! keeps the source texts and their line starts so a byte offset turns into `path:line:col`,
//! and [`render`] draws the diagnostics with the source line and a caret (codespan-reporting),
//! the way cargo-deny and rustc do. Diagnostics are plain values: the library never prints.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::{self as csfiles, Error as FilesError};
use codespan_reporting::term;

use crate::text::clean_line;

/// Index of a file in [`Files`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(u32);

/// One registered source text.
#[derive(Clone, Debug)]
struct SourceFile {
    path: PathBuf,
    name: String,
    source: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// 0-based line of a byte offset (the last line for offsets past the end).
    fn line_index(&self, byte: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= byte) - 1
    }
}

/// The registry of policy sources, so diagnostics can show `path:line:col` and the line itself.
#[derive(Clone, Debug, Default)]
pub struct Files {
    files: Vec<SourceFile>,
}

impl Files {
    pub fn new() -> Files {
        Files::default()
    }

    /// Registers a source text read from `path` and returns its id. Control characters other
    /// than tabs and line breaks, bidi overrides, and a carriage return that does not end a
    /// line (a terminal or a CI log would start a new line there, where a workflow command could
    /// begin) are kept as a stand-in of the same UTF-8 length (`?`, `¿`, `\u{FFFD}`), so
    /// rendering a hostile file never writes escape sequences or commands, nor reorders what it
    /// shows; byte offsets stay those of the original text.
    pub fn add(&mut self, path: impl Into<PathBuf>, source: impl Into<String>) -> FileId {
        let path = path.into();
        let mut source = source.into();
        let lone_cr = |rest: &str| rest.starts_with('\r') && !rest[1..].starts_with('\n');
        if source
            .char_indices()
            .any(|(i, c)| is_hidden(c) || lone_cr(&source[i..]))
        {
            let cleaned: String = source
                .char_indices()
                .map(
                    |(i, c)| match (is_hidden(c) || lone_cr(&source[i..]), c.len_utf8()) {
                        (false, _) => c,
                        (true, 1) => '?',
                        (true, 2) => '¿',
                        (true, _) => '\u{FFFD}',
                    },
                )
                .collect();
            source = cleaned;
        }
        let line_starts = csfiles::line_starts(&source).collect();
        let id = FileId(u32::try_from(self.files.len()).expect("fewer than 4 billion files"));
        self.files.push(SourceFile {
            // Shown in every rendered diagnostic: a name cannot break the line either.
            name: clean_line(&path.display().to_string()).into_owned(),
            path,
            source,
            line_starts,
        });
        id
    }

    /// The path the file was read from, as given or found.
    pub fn path(&self, id: FileId) -> &Path {
        &self.file(id).path
    }

    /// The source text.
    pub fn source(&self, id: FileId) -> &str {
        &self.file(id).source
    }

    /// 1-based line and column (in characters) of a byte offset. Offsets past the end clamp to
    /// the end, so a diagnostic never fails to locate itself.
    pub fn line_col(&self, id: FileId, byte: usize) -> (u32, u32) {
        let file = self.file(id);
        let byte = byte.min(file.source.len());
        let line = file.line_index(byte);
        let start = file.line_starts[line];
        let col = csfiles::column_index(&file.source, start..byte + 1, byte);
        (to_u32(line + 1), to_u32(col + 1))
    }

    /// 1-based line of a byte offset, clamped as in [`Files::line_col`], without counting
    /// the column's characters: the loader asks it for every rule, and on a policy written
    /// on one line (`allow = [{...}, {...}, ...]`, 62,000 rules in 1 MiB) counting columns
    /// made loading quadratic.
    pub fn line(&self, id: FileId, byte: usize) -> u32 {
        let file = self.file(id);
        to_u32(file.line_index(byte.min(file.source.len())) + 1)
    }

    /// Number of registered files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    fn get(&self, id: FileId) -> Result<&SourceFile, FilesError> {
        self.files.get(id.0 as usize).ok_or(FilesError::FileMissing)
    }
}

/// Characters a rendered source line must not carry: controls (C0 but tab and line breaks,
/// DEL, C1) and the bidi overrides that make a line display in another order than it reads.
fn is_hidden(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl<'a> csfiles::Files<'a> for Files {
    type FileId = FileId;
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, id: FileId) -> Result<&'a str, FilesError> {
        Ok(&self.get(id)?.name)
    }

    fn source(&'a self, id: FileId) -> Result<&'a str, FilesError> {
        Ok(&self.get(id)?.source)
    }

    fn line_index(&'a self, id: FileId, byte_index: usize) -> Result<usize, FilesError> {
        Ok(self.get(id)?.line_index(byte_index))
    }

    fn line_range(&'a self, id: FileId, line_index: usize) -> Result<Range<usize>, FilesError> {
        let file = self.get(id)?;
        let start = *file
            .line_starts
            .get(line_index)
            .ok_or(FilesError::LineTooLarge {
                given: line_index,
                max: file.line_starts.len() - 1,
            })?;
        let end = file
            .line_starts
            .get(line_index + 1)
            .copied()
            .unwrap_or(file.source.len());
        Ok(start..end)
    }
}

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
    Note,
}

/// A place in a file that a diagnostic points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub file: FileId,
    /// Byte range in the file's source.
    pub span: Range<usize>,
    pub message: String,
    /// The primary label is the place the diagnostic is about (caret `^`); secondary labels
    /// give context (`-`).
    pub primary: bool,
}

impl Label {
    pub fn primary(file: FileId, span: Range<usize>, message: impl Into<String>) -> Label {
        Label {
            file,
            span,
            message: message.into(),
            primary: true,
        }
    }

    pub fn secondary(file: FileId, span: Range<usize>, message: impl Into<String>) -> Label {
        Label {
            file,
            span,
            message: message.into(),
            primary: false,
        }
    }
}

/// One finding: a stable code (documented in `docs/diagnostics.md`), a message, the places it
/// points at and notes (hints such as "did you mean").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: &'static str,
    pub message: String,
    pub labels: Vec<Label>,
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn new(severity: Severity, code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity,
            code,
            message: message.into(),
            labels: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn error(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Error, code, message)
    }

    pub fn warning(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Warning, code, message)
    }

    pub fn with_label(mut self, label: Label) -> Diagnostic {
        self.labels.push(label);
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The primary label (or the first label), for outputs that show one location, such as
    /// GitHub annotations.
    pub fn primary_label(&self) -> Option<&Label> {
        self.labels
            .iter()
            .find(|l| l.primary)
            .or_else(|| self.labels.first())
    }

    /// `(path, line, column)` of the primary label, 1-based.
    pub fn location<'f>(&self, files: &'f Files) -> Option<(&'f Path, u32, u32)> {
        let label = self.primary_label()?;
        let (line, col) = files.line_col(label.file, label.span.start);
        Some((files.path(label.file), line, col))
    }

    /// Sort key: file, then position, then code, so output never depends on check order.
    fn order_key(&self) -> (Option<(FileId, usize)>, &'static str) {
        (
            self.primary_label().map(|l| (l.file, l.span.start)),
            self.code,
        )
    }

    fn to_codespan(&self, files: &Files) -> cs::Diagnostic<FileId> {
        let severity = match self.severity {
            Severity::Error => cs::Severity::Error,
            Severity::Warning => cs::Severity::Warning,
            Severity::Note => cs::Severity::Note,
        };
        let labels = self
            .labels
            .iter()
            .filter(|l| files.get(l.file).is_ok())
            .map(|l| {
                let len = files.source(l.file).len();
                // Clamp, so a label past the end of a file still renders instead of erroring.
                let span = l.span.start.min(len)..l.span.end.clamp(l.span.start.min(len), len);
                let style = if l.primary {
                    cs::LabelStyle::Primary
                } else {
                    cs::LabelStyle::Secondary
                };
                cs::Label::new(style, l.file, span).with_message(one_line(&l.message))
            })
            .collect();
        // Messages quote values from the policy (names, reasons); a line break in one would
        // start a new line of output, where a CI runner reads `::command::` lines.
        cs::Diagnostic::new(severity)
            .with_code(self.code)
            .with_message(one_line(&self.message))
            .with_labels(labels)
            .with_notes(self.notes.iter().map(|n| one_line(n)).collect())
    }
}

fn one_line(s: &str) -> String {
    clean_line(s).into_owned()
}

/// Sorts diagnostics by file and position so every output lists them in source order.
pub fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
}

/// Renders diagnostics as text: `error[code]: message`, then `┌─ path:line:col`, the source
/// line and a caret under the offending value. With `color`, ANSI colours as rustc uses them.
pub fn render(files: &Files, diags: &[Diagnostic], color: bool) -> String {
    let config = term::Config::default();
    let mut out = Vec::new();
    for diag in diags {
        let diag = diag.to_codespan(files);
        // Labels are clamped to their files above, so rendering cannot fail on our side; a
        // failure would only drop the snippet, never the whole report.
        let result = if color {
            let mut writer = term::termcolor::Ansi::new(&mut out);
            term::emit_to_write_style(&mut writer, &config, files, &diag)
        } else {
            term::emit_to_io_write(&mut out, &config, files, &diag)
        };
        if let Err(e) = result {
            out.extend_from_slice(format!("(could not render diagnostic: {e})\n").as_bytes());
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why a policy set could not be loaded: every diagnostic of every file, with the sources they
/// point into. `Display` renders them without colour.
#[derive(Clone, Debug)]
pub struct Diagnostics(pub Vec<Diagnostic>, pub Files);

impl Diagnostics {
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.0
    }

    pub fn files(&self) -> &Files {
        &self.1
    }

    /// Number of errors (warnings do not fail a load but are kept for display).
    pub fn error_count(&self) -> usize {
        self.0.iter().filter(|d| d.is_error()).count()
    }

    pub fn render(&self, color: bool) -> String {
        render(&self.1, &self.0, color)
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> (Files, FileId) {
        let mut files = Files::new();
        let id = files.add("p/a.toml", "[scope]\npeer = \"10.0.0.1/8\"\n\nä = 1");
        (files, id)
    }

    #[test]
    fn rendering_never_starts_a_line_with_data() {
        let mut files = Files::new();
        let id = files.add("p\n::error::f.toml", "a = 1 # x\r::error::cr\r\n");
        assert_eq!(files.source(id), "a = 1 # x?::error::cr\r\n");
        let d = Diagnostic::error("unknown-key", "key `k\n::error::m`")
            .with_label(Label::primary(id, 0..1, "l\r::error::l"))
            .with_note("n\n::error::n");
        let text = render(&files, &[d], false);
        assert!(!text.contains('\r'), "{text:?}");
        assert!(
            text.lines().all(|l| !l.trim_start().starts_with("::")),
            "{text}"
        );
    }

    #[test]
    fn line_col_is_one_based_and_counts_characters() {
        let (files, id) = files();
        assert_eq!(files.line_col(id, 0), (1, 1));
        assert_eq!(files.line_col(id, 15), (2, 8));
        let a = files.source(id).find('ä').unwrap();
        assert_eq!(files.line_col(id, a + 2), (4, 2));
        assert_eq!(files.line_col(id, 10_000), (4, 6));
        for byte in [0, 15, a + 2, 10_000] {
            assert_eq!(files.line(id, byte), files.line_col(id, byte).0);
        }
    }

    #[test]
    fn hostile_messages_and_sources_render_on_their_own_lines() {
        let mut files = Files::new();
        let src = "name = \"a\u{202e}b\u{9b}c\u{1b}d\"\nx = 1";
        let id = files.add("p.toml", src);
        let name = "a\n::warning::INJECTED\u{202e}";
        let d = Diagnostic::error("x", format!("rule `{name}`"))
            .with_label(Label::primary(id, 7..19, name))
            .with_note(name);
        let out = render(&files, &[d], false);
        assert!(!out.contains("\n::"), "{out}");
        assert!(!out.chars().any(|c| is_hidden(c) || c == '\r'), "{out}");
        // Stand-ins keep byte offsets: `x` is still found on line 2, column 1.
        assert_eq!(files.line_col(id, src.find('x').unwrap()), (2, 1));
    }

    #[test]
    fn renders_path_line_col_and_caret() {
        let (files, id) = files();
        let d = Diagnostic::error("cidr-host-bits", "host bits set")
            .with_label(Label::primary(id, 15..27, "here"))
            .with_note("did you mean `10.0.0.0/8`?");
        let text = render(&files, &[d], false);
        assert!(
            text.contains("error[cidr-host-bits]: host bits set"),
            "{text}"
        );
        assert!(text.contains("p/a.toml:2:8"), "{text}");
        assert!(text.contains("^^^^^^^^^^^^ here"), "{text}");
        assert!(!text.contains('\u{1b}'));
        assert!(render(&files, &[], true).is_empty());
    }

    #[test]
    fn colour_adds_escapes() {
        let (files, id) = files();
        let d = Diagnostic::warning("x", "y").with_label(Label::primary(id, 0..1, ""));
        assert!(render(&files, &[d], true).contains('\u{1b}'));
    }

    #[test]
    fn spans_past_the_end_still_render() {
        let (files, id) = files();
        let d = Diagnostic::error("x", "y").with_label(Label::primary(id, 500..900, "z"));
        let text = render(&files, &[d], false);
        assert!(text.contains("p/a.toml:4:"), "{text}");
    }

    #[test]
    fn diagnostics_without_labels_render_the_message() {
        let files = Files::new();
        let d = Diagnostic::error("io-error", "cannot read `x.toml`: denied");
        let errs = Diagnostics(vec![d], files);
        assert_eq!(
            errs.to_string().trim(),
            "error[io-error]: cannot read `x.toml`: denied"
        );
        assert_eq!(errs.error_count(), 1);
    }

    #[test]
    fn sort_orders_by_file_then_position() {
        let (mut files, a) = files();
        let b = files.add("p/b.toml", "x");
        let mut ds = vec![
            Diagnostic::error("b", "").with_label(Label::primary(b, 0..1, "")),
            Diagnostic::error("a2", "").with_label(Label::primary(a, 9..10, "")),
            Diagnostic::error("a1", "").with_label(Label::primary(a, 1..2, "")),
            Diagnostic::error("none", ""),
        ];
        sort(&mut ds);
        let codes: Vec<_> = ds.iter().map(|d| d.code).collect();
        assert_eq!(codes, ["none", "a1", "a2", "b"]);
    }
}
