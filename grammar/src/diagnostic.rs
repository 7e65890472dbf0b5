//! Diagnostics: every error and warning the parser and the compiler report.
//!
//! A [`Diagnostic`] names its [`Code`] (a stable registry: a code is never reused, and each one has
//! a page in `docs/diagnostics/`), a one-line message, labelled spans that may lie in several files,
//! and an optional help text. It implements [`miette::Diagnostic`], so the CLI renders it with the
//! offending text underlined; [`Diagnostic::to_json`] gives the machine-readable form.

use std::fmt;
use std::sync::Arc;

use miette::{MietteSpanContents, SourceCode, SourceSpan, SpanContents};

use crate::ast::Span;

/// One source file of a ruleset: its display name (the path as the user gave it) and its text.
#[derive(Debug, PartialEq, Eq)]
pub struct SourceFile {
    /// The path as the user gave it, shown in diagnostics as `name:line:column`.
    pub name: String,
    /// The whole text; spans are byte offsets into it.
    pub text: Arc<str>,
}

impl SourceFile {
    /// A file named `name` holding `text`, shared by the tree and the diagnostics that point
    /// into it.
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> Arc<SourceFile> {
        Arc::new(SourceFile {
            name: name.into(),
            text: text.into(),
        })
    }

    /// The 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        (line, col)
    }

    /// The byte offset of a 1-based line and column (in characters); clamped to the text.
    pub fn offset_of(&self, line: usize, col: usize) -> usize {
        let mut offset = 0;
        for _ in 1..line {
            match self.text[offset..].find('\n') {
                Some(i) => offset += i + 1,
                None => return self.text.len(),
            }
        }
        let rest = &self.text[offset..];
        let line_end = rest.find('\n').unwrap_or(rest.len());
        let within = rest[..line_end]
            .char_indices()
            .nth(col.saturating_sub(1))
            .map_or(line_end, |(i, _)| i);
        offset + within
    }
}

impl SourceCode for SourceFile {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, miette::MietteError> {
        let inner = self
            .text
            .read_span(span, context_lines_before, context_lines_after)?;
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            inner.line(),
            inner.column(),
            inner.line_count(),
        )))
    }
}

/// Whether a diagnostic stops the ruleset from loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// The ruleset does not load; `check` exits with status 1.
    Error,
    /// The ruleset loads, but something in it is likely a mistake.
    Warning,
}

impl Level {
    /// `error` or `warning`, as in the JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
        }
    }
}

macro_rules! codes {
    ($($variant:ident => $slug:literal, $level:ident, $summary:literal;)*) => {
        /// The registry of diagnostic codes. A code is never reused for another meaning; each has a
        /// page `docs/diagnostics/<slug>.md`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $(#[doc = $summary] $variant,)*
        }

        impl Code {
            /// Every code, in the registry's order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code's short name, e.g. `unknown_field`; the docs page is `<slug>.md`.
            pub fn slug(self) -> &'static str {
                match self { $(Code::$variant => $slug,)* }
            }

            /// The level a diagnostic of this code has.
            pub fn level(self) -> Level {
                match self { $(Code::$variant => Level::$level,)* }
            }

            /// One line saying what the code is about.
            pub fn summary(self) -> &'static str {
                match self { $(Code::$variant => $summary,)* }
            }
        }
    };
}

codes! {
    Syntax => "syntax", Error, "the text is not valid rule language syntax";
    DuplicateProperty => "duplicate_property", Error, "a property is given twice in one rule, sequence or test";
    InvalidValue => "invalid_value", Error, "a property has a value it cannot take (severity, duration, count)";
    MissingProperty => "missing_property", Error, "a required property is missing (a rule's `when`, a sequence's `by`, `within` or `steps`)";
    DuplicateName => "duplicate_name", Error, "a name is defined twice in the ruleset";
    UnknownName => "unknown_name", Error, "a name used as a condition or list is defined nowhere in the ruleset";
    MacroCycle => "macro_cycle", Error, "macros refer to each other in a cycle";
    BarePath => "bare_path", Error, "a field path stands alone where a condition is expected";
    MisusedName => "misused_name", Error, "a list, macro or value is used where something else is expected";
    InvalidRegex => "invalid_regex", Error, "a regular expression literal does not compile";
    InvalidGlob => "invalid_glob", Error, "a glob pattern literal is malformed";
    InvalidCidr => "invalid_cidr", Error, "a CIDR literal is malformed";
    UnknownStep => "unknown_step", Error, "a sequence step names no rule";
    ScriptSyntax => "script_syntax", Error, "a Rhai script does not compile";
    UnknownFunction => "unknown_function", Error, "a called function exists neither in the stdlib nor in a script block";
    WrongArity => "wrong_arity", Error, "a function is called with the wrong number of arguments";
    InvalidTemplate => "invalid_template", Error, "a title template is malformed";
    InvalidTest => "invalid_test", Error, "a test block cannot run (bad events, unknown rule in `expect`)";
    UnreadableFile => "unreadable_file", Error, "a file of the ruleset cannot be read";
    UnknownSource => "unknown_source", Error, "a rule's `source` or a sequence step names no event kind";
    UnknownField => "unknown_field", Warning, "a field path is not part of the event schema of the rule's source";
    NeverTrue => "never_true", Warning, "a comparison can never be true according to the event schema";
    NeverMatches => "never_matches", Warning, "a rule's condition can never match";
}

impl Code {
    /// The code as miette shows it: `k8scop::<slug>`.
    pub fn qualified(self) -> String {
        format!("k8scop::{}", self.slug())
    }
}

/// A place in a source file, with what to say about it.
#[derive(Debug, Clone)]
pub struct Label {
    /// The file the span is in.
    pub file: Arc<SourceFile>,
    /// The text the label points at.
    pub span: Span,
    /// What is said about that text; empty for a bare underline.
    pub message: String,
}

/// An error or warning about a ruleset.
///
/// The first label is the primary one: its file is the file the diagnostic is about. Labels in
/// other files (a duplicate definition in another file, say) are shown as related notes.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    /// What kind of problem it is; its page in `docs/diagnostics/` explains it.
    pub code: Code,
    /// Whether it stops the ruleset from loading.
    pub level: Level,
    /// One line, lower case, with user input in backticks.
    pub message: String,
    /// The places in the primary file it is about; the first one is the main one.
    pub labels: Vec<Label>,
    /// What to do about it, when there is something to suggest.
    pub help: Option<String>,
    related: Vec<Diagnostic>,
}

impl Diagnostic {
    /// A diagnostic at the code's own level.
    pub fn new(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            level: code.level(),
            message: message.into(),
            labels: Vec::new(),
            help: None,
            related: Vec::new(),
        }
    }

    /// Adds a label. A label in another file than the primary label's becomes a related note.
    pub fn with_label(
        mut self,
        file: &Arc<SourceFile>,
        span: Span,
        message: impl Into<String>,
    ) -> Diagnostic {
        let label = Label {
            file: Arc::clone(file),
            span,
            message: message.into(),
        };
        match self.labels.first() {
            Some(primary) if !Arc::ptr_eq(&primary.file, file) && primary.file != *file => {
                let mut note = Diagnostic::new(self.code, label.message.clone());
                note.labels.push(label);
                self.related.push(note);
            }
            _ => self.labels.push(label),
        }
        self
    }

    /// Adds the help text: what the user can do about it.
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Whether this diagnostic stops the ruleset from loading.
    pub fn is_error(&self) -> bool {
        self.level == Level::Error
    }

    /// The primary file, when the diagnostic has a label.
    pub fn file(&self) -> Option<&Arc<SourceFile>> {
        self.labels.first().map(|l| &l.file)
    }

    /// The 1-based line and column of the primary label.
    pub fn line_col(&self) -> Option<(usize, usize)> {
        self.labels.first().map(|l| l.file.line_col(l.span.start))
    }

    /// `file:line:col`, or nothing when the diagnostic has no label.
    pub fn location(&self) -> Option<String> {
        let label = self.labels.first()?;
        let (line, col) = label.file.line_col(label.span.start);
        Some(format!("{}:{line}:{col}", label.file.name))
    }

    /// The machine-readable form used by `--format json`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut labels: Vec<&Label> = self.labels.iter().collect();
        labels.extend(self.related.iter().flat_map(|r| r.labels.iter()));
        let labels: Vec<serde_json::Value> = labels
            .into_iter()
            .map(|l| {
                let (line, column) = l.file.line_col(l.span.start);
                serde_json::json!({
                    "file": l.file.name,
                    "line": line,
                    "column": column,
                    "start": l.span.start,
                    "end": l.span.end,
                    "text": l.file.text.get(l.span.start..l.span.end).unwrap_or(""),
                    "message": l.message,
                })
            })
            .collect();
        let (file, line, column) = match self.labels.first() {
            Some(l) => {
                let (line, col) = l.file.line_col(l.span.start);
                (Some(l.file.name.clone()), Some(line), Some(col))
            }
            None => (None, None, None),
        };
        serde_json::json!({
            "code": self.code.qualified(),
            "level": self.level.as_str(),
            "message": self.message,
            "file": file,
            "line": line,
            "column": column,
            "help": self.help,
            "labels": labels,
        })
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}

impl miette::Diagnostic for Diagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code.qualified()))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.level {
            Level::Error => miette::Severity::Error,
            Level::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display + 'a>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.labels.first().map(|l| &*l.file as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            return None;
        }
        Some(Box::new(self.labels.iter().enumerate().map(|(i, l)| {
            let text = (!l.message.is_empty()).then(|| l.message.clone());
            if i == 0 {
                miette::LabeledSpan::new_primary_with_span(text, l.span)
            } else {
                miette::LabeledSpan::new_with_span(text, l.span)
            }
        })))
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(
            self.related.iter().map(|d| d as &dyn miette::Diagnostic),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_and_offset_round_trip() {
        let file = SourceFile::new("a.rules", "ab\ncdé f\n\nx");
        assert_eq!(file.line_col(0), (1, 1));
        assert_eq!(file.line_col(3), (2, 1));
        // `é` is two bytes but one column.
        assert_eq!(file.line_col(8), (2, 5));
        assert_eq!(file.offset_of(2, 5), 8);
        assert_eq!(file.offset_of(4, 1), 11);
        assert_eq!(file.line_col(file.offset_of(3, 1)), (3, 1));
    }

    #[test]
    fn labels_in_other_files_become_related_notes() {
        let a = SourceFile::new("a.rules", "rule x { when verb == \"get\" }");
        let b = SourceFile::new("b.rules", "rule x { when verb == \"list\" }");
        let d = Diagnostic::new(Code::DuplicateName, "`x` is defined twice")
            .with_label(&a, Span::new(5, 6), "defined here")
            .with_label(&b, Span::new(5, 6), "and again here");
        assert_eq!(d.labels.len(), 1);
        assert_eq!(d.related.len(), 1);
        let json = d.to_json();
        assert_eq!(json["labels"][1]["file"], "b.rules");
        assert_eq!(json["line"], 1);
        assert_eq!(json["column"], 6);
    }

    #[test]
    fn every_code_has_a_distinct_slug() {
        let mut slugs: Vec<&str> = Code::ALL.iter().map(|c| c.slug()).collect();
        slugs.sort_unstable();
        let before = slugs.len();
        slugs.dedup();
        assert_eq!(before, slugs.len());
    }
}
