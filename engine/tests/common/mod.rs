//! What the engine's integration tests share.

use std::sync::Arc;

use k8scop_engine::{CompileOptions, Ruleset};
use k8scop_grammar::SourceFile;

/// The ruleset of one rules file, which must compile without errors.
pub fn ruleset(text: &str) -> Arc<Ruleset> {
    let compiled = k8scop_engine::loader::load_sources(
        vec![SourceFile::new("r.rules", text)],
        &CompileOptions::default(),
    );
    assert!(
        compiled.diagnostics.iter().all(|d| !d.is_error()),
        "{:?}",
        compiled.diagnostics
    );
    Arc::new(compiled.ruleset.expect("no errors"))
}
