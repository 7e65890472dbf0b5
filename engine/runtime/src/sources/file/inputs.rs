//! From sources as given (paths, globs, `-`) to the ordered list of inputs.
//!
//! A glob's wildcards (`*`, `?`, `[...]`, with `\` escaping them) apply within one path component
//! each; names are matched with [`k8scop_stdlib::glob::Glob`] while walking the directories. As
//! in a shell, a wildcard does not match a leading `.` unless the pattern's component starts with
//! one. Matches are sorted by path.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use k8scop_stdlib::glob::Glob;

use super::SourceError;
use crate::pipeline::SourceSpec;

/// One input to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Standard input, read once: it cannot be reopened or rotated.
    Stdin,
    /// A file, named as given or as matched by a glob.
    File(PathBuf),
}

impl Input {
    /// The name chunks carry: the path as given or matched, `<stdin>` for standard input.
    pub fn origin(&self) -> Arc<str> {
        match self {
            Input::Stdin => STDIN_ORIGIN.into(),
            Input::File(path) => origin_of(path),
        }
    }
}

pub(super) const STDIN_ORIGIN: &str = "<stdin>";

pub(super) fn origin_of(path: &Path) -> Arc<str> {
    path.to_string_lossy().into()
}

/// A source spec, parsed.
pub(super) enum Target {
    Stdin,
    Path(PathBuf),
    Pattern(Pattern),
}

pub(super) fn target(spec: &SourceSpec) -> Result<Target, SourceError> {
    match spec {
        SourceSpec::Stdin => Ok(Target::Stdin),
        SourceSpec::Path(text) if text == "-" => Ok(Target::Stdin),
        SourceSpec::Path(text) if has_wildcard(text) => Pattern::new(text).map(Target::Pattern),
        SourceSpec::Path(text) => {
            // Escapes mean something only in globs; `a\[1\].log` still names `a[1].log` when no
            // file is called `a\[1\].log`.
            let path = if text.contains('\\') && !Path::new(text).exists() {
                unescape(text)
            } else {
                text.clone()
            };
            Ok(Target::Path(PathBuf::from(path)))
        }
    }
}

/// Expands the specs into the inputs to read, in order: each spec in turn, a glob's matches
/// sorted by path. A file named twice is read once, and so is stdin.
///
/// Fails on a path that cannot be read, a glob that matches nothing and a malformed glob.
pub fn expand(specs: &[SourceSpec]) -> Result<Vec<Input>, SourceError> {
    let mut inputs = Vec::new();
    let mut seen = HashSet::new();
    let mut stdin = false;
    for spec in specs {
        match target(spec)? {
            Target::Stdin => {
                if !std::mem::replace(&mut stdin, true) {
                    inputs.push(Input::Stdin);
                }
            }
            Target::Path(path) => {
                check_readable(&path)?;
                if seen.insert(path.clone()) {
                    inputs.push(Input::File(path));
                }
            }
            Target::Pattern(pattern) => {
                let matches = pattern.matches();
                if matches.is_empty() {
                    return Err(SourceError::NoMatch {
                        pattern: pattern.text,
                    });
                }
                for path in matches {
                    if seen.insert(path.clone()) {
                        inputs.push(Input::File(path));
                    }
                }
            }
        }
    }
    Ok(inputs)
}

/// Fails unless `path` can be opened for reading and is not a directory.
pub(super) fn check_readable(path: &Path) -> Result<(), SourceError> {
    let read_error = |error| SourceError::Read {
        path: path.to_string_lossy().into_owned(),
        error,
    };
    let meta = fs::metadata(path).map_err(read_error)?;
    if meta.is_dir() {
        return Err(read_error(super::read::is_a_directory()));
    }
    // Opening a FIFO would wait for a writer: check plain files only.
    if meta.is_file() {
        fs::File::open(path).map_err(read_error)?;
    }
    Ok(())
}

/// A compiled glob over paths.
pub(super) struct Pattern {
    pub(super) text: String,
    absolute: bool,
    segments: Vec<Segment>,
}

enum Segment {
    Literal(String),
    Glob(Glob),
}

impl Pattern {
    pub(super) fn new(text: &str) -> Result<Pattern, SourceError> {
        let segments = text
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                if has_wildcard(s) {
                    Glob::new(s)
                        .map(Segment::Glob)
                        .map_err(|reason| SourceError::InvalidPattern {
                            pattern: text.to_owned(),
                            reason,
                        })
                } else {
                    Ok(Segment::Literal(unescape(s)))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Pattern {
            text: text.to_owned(),
            absolute: text.starts_with('/'),
            segments,
        })
    }

    fn root(&self) -> String {
        if self.absolute {
            "/".into()
        } else {
            String::new()
        }
    }

    /// The deepest directory named without wildcards, where new matches (or the directories
    /// holding them) appear.
    pub(super) fn base(&self) -> PathBuf {
        let mut base = self.root();
        for segment in &self.segments {
            match segment {
                Segment::Literal(name) => base = join(&base, name),
                Segment::Glob(_) => break,
            }
        }
        // Every segment literal cannot happen (that is a plain path), but be safe.
        if base.is_empty() {
            PathBuf::from(".")
        } else {
            PathBuf::from(base)
        }
    }

    /// The files that match now, sorted by path. Directories that cannot be listed are skipped.
    pub(super) fn matches(&self) -> Vec<PathBuf> {
        let mut current = vec![self.root()];
        for (i, segment) in self.segments.iter().enumerate() {
            let last = i + 1 == self.segments.len();
            let mut next = Vec::new();
            for prefix in &current {
                match segment {
                    Segment::Literal(name) => next.push(join(prefix, name)),
                    Segment::Glob(glob) => {
                        let dir = if prefix.is_empty() {
                            "."
                        } else {
                            prefix.as_str()
                        };
                        let Ok(entries) = fs::read_dir(dir) else {
                            continue;
                        };
                        let hidden_ok = glob.as_str().starts_with('.');
                        for entry in entries.flatten() {
                            let Ok(name) = entry.file_name().into_string() else {
                                continue;
                            };
                            if (hidden_ok || !name.starts_with('.')) && glob.is_match(&name) {
                                let path = join(prefix, &name);
                                if last || Path::new(&path).is_dir() {
                                    next.push(path);
                                }
                            }
                        }
                    }
                }
            }
            current = next;
        }
        let mut files: Vec<PathBuf> = current
            .into_iter()
            .map(PathBuf::from)
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        files.dedup();
        files
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else if prefix.ends_with('/') {
        format!("{prefix}{name}")
    } else {
        format!("{prefix}/{name}")
    }
}

/// Whether `text` holds an unescaped `*`, `?` or `[`.
fn has_wildcard(text: &str) -> bool {
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}
