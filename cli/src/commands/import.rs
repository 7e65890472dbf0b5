//! `k8scop import`: other tools' detection rules (Sigma, Falco) translated into `.rules` files.
//!
//! The translation is the `k8scop-import` crate's (pure, text to text); this command finds the
//! input files, writes the output directory and reports what became of every rule.

use std::path::{Path, PathBuf};

use k8scop_import::sigma::{self, Outcome};

use crate::args::{Format, ImportRulesArgs};
use crate::commands::{EXIT_FAILED, EXIT_UNLOADABLE};
use crate::diagnostics::plural;
use crate::out::outln;

/// The input files: files as named, directories searched recursively for `extensions`, sorted.
fn input_files(inputs: &[PathBuf], extensions: &[&str]) -> Result<Vec<PathBuf>, String> {
    fn walk(dir: &Path, extensions: &[&str], out: &mut Vec<PathBuf>) -> Result<(), String> {
        let entries =
            std::fs::read_dir(dir).map_err(|e| format!("cannot read `{}`: {e}", dir.display()))?;
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            if path.is_dir() {
                walk(&path, extensions, out)?;
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| extensions.contains(&e))
            {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let before = out.len();
            walk(input, extensions, &mut out)?;
            if out.len() == before {
                return Err(format!(
                    "`{}` holds no {} file",
                    input.display(),
                    extensions
                        .iter()
                        .map(|e| format!("`*.{e}`"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                ));
            }
        } else if input.is_file() {
            out.push(input.clone());
        } else {
            return Err(format!("`{}`: no such file or directory", input.display()));
        }
    }
    Ok(out)
}

/// Imports Sigma rules; returns the exit code.
pub fn sigma(args: &ImportRulesArgs) -> u8 {
    translate(args, &["yml", "yaml"], Kind::Sigma)
}

/// Imports Elastic detection rules; returns the exit code.
pub fn elastic(args: &ImportRulesArgs) -> u8 {
    translate(args, &["toml"], Kind::Elastic)
}

/// What [`translate`] imports.
#[derive(Clone, Copy)]
enum Kind {
    Sigma,
    Elastic,
}

impl Kind {
    /// (one rule, several rules, what a file that is not one is).
    fn words(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Kind::Sigma => ("Sigma rule", "Sigma rules", "not valid Sigma"),
            Kind::Elastic => ("Elastic rule", "Elastic rules", "not an Elastic rule"),
        }
    }
}

/// Imports the files of `args` with the importer of `kind`, writes the rules files and reports
/// each rule; returns the exit code.
fn translate(args: &ImportRulesArgs, extensions: &[&str], kind: Kind) -> u8 {
    let files = match input_files(&args.inputs, extensions) {
        Ok(files) => files,
        Err(message) => {
            eprintln!("error: {message}");
            return EXIT_UNLOADABLE;
        }
    };
    let mut texts = Vec::new();
    for file in &files {
        match std::fs::read_to_string(file) {
            Ok(text) => texts.push((file.display().to_string(), text)),
            Err(e) => {
                eprintln!("error: cannot read `{}`: {e}", file.display());
                return EXIT_UNLOADABLE;
            }
        }
    }
    let inputs: Vec<sigma::Input<'_>> = texts
        .iter()
        .map(|(path, text)| sigma::Input { path, text })
        .collect();
    let import = match kind {
        Kind::Sigma => sigma::import(&inputs),
        Kind::Elastic => k8scop_import::elastic::import(&inputs),
    };
    let (one, many, invalid) = kind.words();

    if let Err(e) = std::fs::create_dir_all(&args.out) {
        eprintln!("error: cannot create `{}`: {e}", args.out.display());
        return EXIT_UNLOADABLE;
    }
    for file in &import.files {
        let path = args.out.join(&file.name);
        if let Err(e) = std::fs::write(&path, &file.text) {
            eprintln!("error: cannot write `{}`: {e}", path.display());
            return EXIT_UNLOADABLE;
        }
    }

    let skipped = import
        .rules
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Skipped(_)))
        .count();
    if args.format == Format::Json {
        let rules: Vec<_> = import
            .rules
            .iter()
            .map(|r| {
                let (imported, reason) = match &r.outcome {
                    Outcome::Imported(names) => (Some(names.clone()), None),
                    Outcome::Skipped(reason) => (None, Some(reason.clone())),
                };
                serde_json::json!({
                    "file": r.file, "line": r.line, "title": r.title, "id": r.id,
                    "imported": imported, "skipped": reason, "notes": r.notes,
                })
            })
            .collect();
        let errors: Vec<_> = import
            .errors
            .iter()
            .map(|e| serde_json::json!({"file": e.file, "line": e.line, "column": e.column, "message": e.message}))
            .collect();
        let written: Vec<_> = import
            .files
            .iter()
            .map(|f| args.out.join(&f.name).display().to_string())
            .collect();
        outln!(
            "{}",
            serde_json::json!({"files": written, "rules": rules, "errors": errors})
        );
    } else {
        for e in &import.errors {
            eprintln!("error: {e}");
        }
        for r in &import.rules {
            match &r.outcome {
                Outcome::Imported(names) => outln!(
                    "imported {}:{} \"{}\" as {}",
                    r.file,
                    r.line,
                    r.title,
                    names
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Outcome::Skipped(reason) => {
                    outln!("skipped  {}:{} \"{}\": {reason}", r.file, r.line, r.title)
                }
            }
            for note in &r.notes {
                outln!("    note: {note}");
            }
        }
        eprintln!(
            "imported {} of {} into {} ({}){}; run `k8scop check {}` for the rules that can never match an audit event",
            import.rules.len() - skipped,
            plural(import.rules.len(), one, many),
            args.out.display(),
            plural(import.files.len(), "file", "files"),
            if import.errors.is_empty() {
                String::new()
            } else {
                format!(
                    ", {} {invalid}",
                    plural(import.errors.len(), "document", "documents")
                )
            },
            args.out.display()
        );
    }
    if skipped > 0 || !import.errors.is_empty() {
        EXIT_FAILED
    } else {
        0
    }
}

/// Imports Falco rules files; returns the exit code.
pub fn falco(args: &crate::args::ImportFalcoArgs) -> u8 {
    let mut inputs = Vec::new();
    for path in &args.files {
        match std::fs::read_to_string(path) {
            Ok(text) => inputs.push(k8scop_import::falco::Input {
                name: path.display().to_string(),
                text,
            }),
            Err(e) => {
                eprintln!("error: cannot read `{}`: {e}", path.display());
                return EXIT_UNLOADABLE;
            }
        }
    }
    let options = k8scop_import::falco::Options {
        first_match: args.first_match,
    };
    let import = match k8scop_import::falco::import(&inputs, &options) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("{}", crate::diagnostics::render_report(&e));
            return EXIT_UNLOADABLE;
        }
    };
    if let Err(e) = k8scop_import::write::write_files(&args.out, &import.files) {
        eprintln!("error: cannot write to `{}`: {e}", args.out.display());
        return EXIT_UNLOADABLE;
    }
    let report = &import.report;
    let mode = if args.first_match {
        "first match"
    } else {
        "all matches"
    };
    let switched_off = if report.disabled.is_empty() {
        String::new()
    } else {
        format!(
            " ({} switched off, as Falco ships them)",
            report.disabled.len()
        )
    };
    let generated = if report.generated_macros == 0 {
        String::new()
    } else {
        format!(
            "; {} added for exceptions{}",
            plural(report.generated_macros, "macro", "macros"),
            if args.first_match {
                " and the rule order"
            } else {
                ""
            }
        )
    };
    eprintln!(
        "imported {}{switched_off}, {} and {} from {} into `{}` ({mode}{generated})",
        plural(report.rules, "rule", "rules"),
        plural(report.macros, "macro", "macros"),
        plural(report.lists, "list", "lists"),
        plural(inputs.len(), "file", "files"),
        args.out.display(),
    );
    for file in &import.files {
        eprintln!("  wrote {}", args.out.join(&file.name).display());
    }
    for note in &report.notes {
        eprintln!("note: {note}");
    }
    if report.problems.is_empty() {
        return 0;
    }
    eprintln!(
        "not imported ({}):",
        plural(report.problems.len(), "item", "items")
    );
    for p in &report.problems {
        eprintln!("  {p}");
    }
    EXIT_FAILED
}
