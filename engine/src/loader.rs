//! Loading a ruleset from disk: find the `*.rules` files, parse them and compile them together.

use std::path::{Path, PathBuf};

use k8scop_grammar::{ast, Code, Diagnostic, SourceFile};

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

/// What [`k8scop_grammar::parse_partial`] gives for each source, in order. Parsing is most of the
/// time loading takes, before any event is read (at start and at every reload), and files parse
/// independently: with more than one core, a second thread parses half of the text.
fn parse_all(sources: &[std::sync::Arc<SourceFile>]) -> Vec<(ast::File, Vec<Diagnostic>)> {
    let parse = |source: &std::sync::Arc<SourceFile>| k8scop_grammar::parse_partial(source);
    let total: usize = sources.iter().map(|s| s.text.len()).sum();
    let two_cores = std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
    if sources.len() < 2 || total < PARALLEL_PARSE_BYTES || !two_cores {
        return sources.iter().map(parse).collect();
    }
    // The first files, up to about half of the text, on this thread; the rest on another.
    let mut half = 0;
    let mut bytes = 0;
    while half < sources.len() && bytes * 2 < total {
        bytes += sources[half].text.len();
        half += 1;
    }
    let (first, second) = sources.split_at(half);
    std::thread::scope(|scope| {
        // The grammar grows its stack where rules nest deeply; start with a main thread's size.
        let other = std::thread::Builder::new()
            .name("k8scop-parse".into())
            .stack_size(8 << 20)
            .spawn_scoped(scope, || second.iter().map(parse).collect::<Vec<_>>());
        let mut parsed: Vec<_> = first.iter().map(parse).collect();
        match other {
            Ok(other) => match other.join() {
                Ok(rest) => parsed.extend(rest),
                Err(panic) => std::panic::resume_unwind(panic),
            },
            // No thread to be had: parse the rest here.
            Err(_) => parsed.extend(second.iter().map(parse)),
        }
        parsed
    })
}

/// Below this much rules text, a second thread costs more than it saves.
const PARALLEL_PARSE_BYTES: usize = 64 * 1024;

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
    // A file with errors still gives its valid definitions, so that their errors are reported
    // too.
    for (file, errors) in parse_all(&sources) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Files parsed on two threads come back in order, with what a parse of each alone gives.
    #[test]
    fn files_parse_in_parallel_as_they_do_one_by_one() {
        let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules");
        let mut sources: Vec<_> = discover(&[rules])
            .expect("the shipped rules")
            .into_iter()
            .map(|path| {
                let text = std::fs::read_to_string(&path).expect("readable");
                SourceFile::new(path.display().to_string(), text)
            })
            .collect();
        // Files with errors too, at both ends.
        sources.insert(0, SourceFile::new("broken.rules", "rule { when verb ==  }"));
        sources.push(SourceFile::new(
            "also.rules",
            "macro m = \nrule r { when m }",
        ));
        assert!(sources.iter().map(|s| s.text.len()).sum::<usize>() >= PARALLEL_PARSE_BYTES);
        let one_by_one: Vec<_> = sources
            .iter()
            .map(|s| format!("{:?}", k8scop_grammar::parse_partial(s)))
            .collect();
        let parallel: Vec<_> = parse_all(&sources)
            .iter()
            .map(|parsed| format!("{parsed:?}"))
            .collect();
        assert_eq!(parallel.len(), sources.len());
        for (i, (a, b)) in one_by_one.iter().zip(&parallel).enumerate() {
            assert!(a == b, "file {i} ({}) parsed differently", sources[i].name);
        }
        assert!(
            one_by_one[0].contains("Diagnostic")
                && one_by_one.last().is_some_and(|d| d.contains("Diagnostic"))
        );
    }
}
