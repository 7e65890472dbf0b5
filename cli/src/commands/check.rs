//! `k8scop check`: load and compile a ruleset without running it.

use crate::args::{CheckArgs, Format};
use crate::commands::{EXIT_FAILED, EXIT_UNLOADABLE};
use crate::diagnostics::{self, plural};
use crate::out::outln;

pub fn run(args: &CheckArgs) -> u8 {
    let compiled = match k8scop_engine::loader::load(
        &args.rules.paths,
        &args.rules.compile_options(),
    ) {
        Ok(c) => c,
        Err(e) => {
            if args.format == Format::Json {
                outln!(
                    "{}",
                    serde_json::json!({ "ok": false, "error": e.to_string(), "diagnostics": [] })
                );
            } else {
                eprintln!("error: {e}");
            }
            return EXIT_UNLOADABLE;
        }
    };
    let (errors, warnings) = diagnostics::count(&compiled.diagnostics);
    let files = k8scop_engine::loader::discover(&args.rules.paths)
        .map(|f| f.len())
        .unwrap_or(0);
    if args.format == Format::Json {
        let ruleset = compiled.ruleset.as_ref();
        let doc = serde_json::json!({
            "ok": errors == 0,
            "files": files,
            "rules": ruleset.map_or(0, |r| r.rules.len()),
            "sequences": ruleset.map_or(0, |r| r.sequences.len()),
            "tests": ruleset.map_or(0, |r| r.tests.len()),
            "errors": errors,
            "warnings": warnings,
            "diagnostics": compiled.diagnostics.iter().map(|d| d.to_json()).collect::<Vec<_>>(),
            "detections": ruleset.map_or_else(Vec::new, detections_json),
        });
        outln!("{doc}");
    } else {
        diagnostics::print_all(&compiled.diagnostics);
        let what = match &compiled.ruleset {
            Some(r) => format!(
                "{}, {}, {}",
                plural(r.rules.len(), "rule", "rules"),
                plural(r.sequences.len(), "sequence", "sequences"),
                plural(r.tests.len(), "test", "tests")
            ),
            None => "not loadable".to_owned(),
        };
        eprintln!(
            "checked {}: {what}; {}, {}",
            plural(files, "file", "files"),
            plural(errors, "error", "errors"),
            plural(warnings, "warning", "warnings")
        );
    }
    if errors > 0 {
        EXIT_FAILED
    } else {
        0
    }
}

/// Each rule and sequence with what it reads to decide a match
/// ([`k8scop_engine::ruleset::Ruleset::detection_reads`]).
fn detections_json(ruleset: &k8scop_engine::ruleset::Ruleset) -> Vec<serde_json::Value> {
    use k8scop_engine::kinds::KindId;
    ruleset
        .detection_reads()
        .into_iter()
        .map(|reads| {
            let d = reads.detection;
            let sources: Vec<&str> = KindId::all()
                .filter(|k| reads.sources.contains(*k))
                .map(KindId::name)
                .collect();
            serde_json::json!({
                "name": &*d.name,
                "kind": d.kind.as_str(),
                "file": d.file,
                "severity": d.severity.as_str(),
                "enabled": d.enabled,
                "sources": sources,
                "reads": reads.paths,
                "whole_event": reads.whole_event,
            })
        })
        .collect()
}
