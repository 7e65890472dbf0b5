//! Loading a ruleset from disk: find the `*.rules` files, parse them and compile them together.

use std::path::{Path, PathBuf};

use k8scop_grammar::{Code, Diagnostic, SourceFile};

use crate::compile::{compile, CompileOptions, Compiled};

/// A path of the ruleset that cannot be read (`k8scop check` exits 2 for it).
#[derive(Debug, thiserror::Error)]
#[error("cannot read `{path}`: {source}")]
pub struct LoadError {
    /// The file or directory as given, or found while searching a directory.
    pub path: PathBuf,
    /// Why the operating system refused it.
    #[source]
    pub source: std::io::Error,
}

/// The `*.rules` files under `paths`: a directory is searched recursively, a file is taken as it
/// is. The result is sorted, so rules always load (and evaluate) in the same order.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| LoadError {
            path: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            walk(path, &mut files)?;
        } else {
            files.push(path.clone());
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let entries = std::fs::read_dir(dir).map_err(|source| LoadError {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| LoadError {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        // Kubernetes ConfigMap volumes keep the real files in `..data` and `..2024_...` folders
        // and expose them through symlinks: follow the links, skip the dot folders.
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        let meta = std::fs::metadata(&path).map_err(|source| LoadError {
            path: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            walk(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rules") {
            out.push(path);
        }
    }
    Ok(())
}

/// Reads, parses and compiles the ruleset under `paths`.
pub fn load(paths: &[PathBuf], options: &CompileOptions) -> Result<Compiled, LoadError> {
    let mut sources = Vec::new();
    for path in discover(paths)? {
        let text = std::fs::read_to_string(&path).map_err(|source| LoadError {
            path: path.clone(),
            source,
        })?;
        sources.push(SourceFile::new(path.display().to_string(), text));
    }
    Ok(load_sources(sources, options))
}

/// The ruleset of one rules text (named `t.rules`), for tests: any error fails the test.
#[cfg(test)]
pub(crate) fn ruleset_of(text: &str) -> crate::Ruleset {
    let compiled = load_sources(
        vec![SourceFile::new("t.rules", text)],
        &CompileOptions::default(),
    );
    assert!(
        compiled.diagnostics.iter().all(|d| !d.is_error()),
        "{:?}",
        compiled.diagnostics
    );
    compiled.ruleset.expect("no errors")
}

/// Parses and compiles files already in memory.
pub fn load_sources(
    sources: Vec<std::sync::Arc<SourceFile>>,
    options: &CompileOptions,
) -> Compiled {
    let mut parsed = Vec::new();
    let mut diagnostics = Vec::new();
    for source in &sources {
        // A file with errors still gives its valid definitions, so that their errors are
        // reported too.
        let (file, errors) = k8scop_grammar::parse_partial(source);
        diagnostics.extend(errors);
        parsed.push(file);
    }
    let parse_failed = !diagnostics.is_empty();
    let compiled = compile(&parsed, options);
    diagnostics.extend(compiled.diagnostics.into_iter().filter(|d| {
        // A definition that did not parse defines nothing: names it would define are not
        // "unknown".
        !(parse_failed
            && matches!(
                d.code,
                Code::UnknownName | Code::UnknownStep | Code::InvalidTest | Code::UnknownFunction
            ))
    }));
    let ruleset = if diagnostics.iter().any(Diagnostic::is_error) {
        None
    } else {
        compiled.ruleset
    };
    Compiled {
        ruleset,
        diagnostics,
    }
}
