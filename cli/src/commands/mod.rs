//! One module per subcommand; each `run` returns the process exit code.

pub mod check;
pub mod docs;
pub mod import;
pub mod run;
pub mod test_rule;

use std::sync::Arc;

use k8scop_engine::Ruleset;

use crate::args::RulesArgs;
use crate::diagnostics;

/// Exit status: the ruleset has errors (`check`) or a test failed (`test-rule`).
pub const EXIT_FAILED: u8 = 1;
/// Exit status: something could not be loaded.
pub const EXIT_UNLOADABLE: u8 = 2;

/// Loads and compiles the ruleset, printing its diagnostics to stderr; `Err(exit code)` when it
/// cannot be used.
pub fn load_ruleset(
    args: &RulesArgs,
    unloadable: u8,
    quiet_warnings: bool,
) -> Result<Arc<Ruleset>, u8> {
    let compiled = match k8scop_engine::loader::load(&args.paths, &args.compile_options()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Err(EXIT_UNLOADABLE);
        }
    };
    let shown: Vec<_> = compiled
        .diagnostics
        .iter()
        .filter(|d| !quiet_warnings || d.is_error())
        .cloned()
        .collect();
    diagnostics::print_all(&shown);
    match compiled.ruleset {
        Some(ruleset) => Ok(Arc::new(ruleset)),
        None => {
            let (errors, _) = diagnostics::count(&compiled.diagnostics);
            eprintln!(
                "error: the ruleset has {}",
                diagnostics::plural(errors, "error", "errors")
            );
            Err(unloadable)
        }
    }
}
