//! `test` blocks: their events (inline, or a file beside the rules file) and their expectations,
//! whose names must be rules or sequences of the ruleset. Running them is [`crate::testing`]'s.

use std::path::Path;
use std::sync::Arc;

use k8scop_grammar::ast;
use k8scop_grammar::suggest;
use k8scop_grammar::{Code, Diagnostic, SourceFile};

use super::{Compiler, Def};
use crate::ruleset::{Expectation, TestCase, TestEvents};

impl Compiler<'_> {
    /// Compiles a test block; `None` when an expectation names no rule or sequence.
    pub(super) fn test_case(
        &mut self,
        file: &Arc<SourceFile>,
        def: &ast::TestDef,
    ) -> Option<TestCase> {
        let mut ok = true;
        let mut expects = Vec::new();
        for expect in &def.expects {
            let (name, e) = match expect {
                ast::Expect::Alerts { name, count, .. } => (
                    Some(name),
                    Expectation::Alerts {
                        name: name.name.clone(),
                        count: count.node,
                    },
                ),
                ast::Expect::Matches { name, count, .. } => (
                    Some(name),
                    Expectation::Matches {
                        name: name.name.clone(),
                        count: count.node,
                    },
                ),
                ast::Expect::NoAlerts { .. } => (None, Expectation::NoAlerts),
            };
            if let Some(name) = name {
                if !matches!(
                    self.defs.get(&name.name),
                    Some(Def::Rule(..) | Def::Sequence(..))
                ) {
                    let mut d = Diagnostic::new(
                        Code::InvalidTest,
                        format!(
                            "`expect` names `{}`, which is no rule or sequence",
                            name.name
                        ),
                    )
                    .with_label(
                        file,
                        name.span,
                        "not a rule or sequence of this ruleset",
                    );
                    if let Some(s) = self.closest_name(&name.name, &["rule", "sequence"]) {
                        d = d.with_help(suggest::help(&s));
                    }
                    self.report(d);
                    ok = false;
                }
            }
            expects.push(e);
        }
        let dir = Path::new(&file.name)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let events = def
            .events
            .iter()
            .map(|e| match e {
                ast::TestEvents::Inline(events) => {
                    TestEvents::Inline(events.iter().map(|e| e.node.clone()).collect())
                }
                ast::TestEvents::File(path) => TestEvents::File {
                    path: dir.join(&path.value),
                    span: path.span,
                },
            })
            .collect();
        ok.then(|| TestCase {
            name: def.name.value.clone(),
            file: Arc::clone(file),
            span: def.span,
            events,
            expects,
        })
    }
}
