//! The ruleset's namespace: definitions, lists and macros, and the cycles among them.

use std::sync::Arc;

use k8scop_grammar::ast::{self, Item, ListItem, Span};
use k8scop_grammar::suggest;
use k8scop_grammar::{Code, Diagnostic, SourceFile};
use serde_json::Value;

use super::{literal_value, value_set, CompiledCond, Compiler, Def, ListValues, Scope};
use crate::eval::{Cond, Source};

const ONE_NAME_EACH: &str =
    "each list, macro, rule, sequence and script function name is defined once in the whole ruleset";

impl<'a> Compiler<'a> {
    /// Enters every list, macro, rule and sequence into the namespace; reports names defined
    /// twice (also as a script function) and names taken by the stdlib.
    pub(super) fn collect_names(&mut self, files: &'a [ast::File]) {
        for file in files {
            for item in &file.items {
                let (def, name) = match item {
                    Item::List(d) => (Def::List(&file.source, d), &d.name.name),
                    Item::Macro(d) => (Def::Macro(&file.source, d), &d.name.name),
                    Item::Rule(d) => (Def::Rule(&file.source, d), &d.name.name),
                    Item::Sequence(d) => (Def::Sequence(&file.source, d), &d.name.name),
                    Item::Script(_) | Item::Test(_) => continue,
                };
                let (file_here, span_here) = def.site();
                let this = format!("this {} is named `{name}`", def.what());
                if let Some(first) = self.defs.get(name) {
                    let (first_file, first_span) = first.site();
                    let d =
                        Diagnostic::new(Code::DuplicateName, format!("`{name}` is defined twice"))
                            .with_label(file_here, span_here, this)
                            .with_label(
                                first_file,
                                first_span,
                                format!("a {} of the same name is defined here", first.what()),
                            )
                            .with_help(ONE_NAME_EACH);
                    self.report(d);
                    continue;
                }
                if let Some(function) = self.scripts.functions().iter().find(|f| &f.name == name) {
                    let d =
                        Diagnostic::new(Code::DuplicateName, format!("`{name}` is defined twice"))
                            .with_label(file_here, span_here, this)
                            .with_label(
                                &function.file,
                                function.span,
                                "a script function of the same name is defined here",
                            )
                            .with_help(ONE_NAME_EACH);
                    self.report(d);
                    continue;
                }
                if k8scop_stdlib::lookup(name).is_some() {
                    self.error(
                        Code::DuplicateName,
                        file_here,
                        span_here,
                        format!("`{name}` is already the name of a stdlib function"),
                        "defined here",
                    );
                    continue;
                }
                self.defs.insert(name.clone(), def);
            }
        }
    }

    /// The names of the definitions of the given kinds ("list", "macro", ...), sorted.
    pub(super) fn names_of(&self, kinds: &[&str]) -> Vec<String> {
        let mut names: Vec<String> = self
            .defs
            .iter()
            .filter(|(_, d)| kinds.contains(&d.what()))
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        names
    }

    /// The closest name of the given kinds to a mistyped one.
    pub(super) fn closest_name(&self, written: &str, kinds: &[&str]) -> Option<String> {
        let names = self.names_of(kinds);
        suggest::did_you_mean(written, names.iter().map(String::as_str)).map(str::to_owned)
    }

    // ---------------------------------------------------------------- lists

    /// The items of a list, with nested lists spliced in; `None` after an error.
    pub(super) fn list_values(&mut self, name: &str) -> Option<ListValues> {
        self.uses.names.insert(name.to_owned());
        if let Some(cached) = self.lists.get(name) {
            return cached.clone();
        }
        let Some(Def::List(file, def)) = self.defs.get(name).copied() else {
            return None;
        };
        if self.list_stack.iter().any(|n| n == name) {
            let cycle = self.list_stack.join("` -> `");
            self.error(
                Code::MacroCycle,
                file,
                def.name.span,
                format!("lists refer to each other in a cycle: `{cycle}` -> `{name}`"),
                "this list is part of the cycle",
            );
            return None;
        }
        self.list_stack.push(name.to_owned());
        let values = self.list_items(file, &def.items);
        self.list_stack.pop();
        let result = values.map(|values| (value_set(&values), values));
        self.lists.insert(name.to_owned(), result.clone());
        result
    }

    /// The values of a list's items, with the lists it names spliced in; `None` after an error.
    pub(super) fn list_items(
        &mut self,
        file: &Arc<SourceFile>,
        items: &[ListItem],
    ) -> Option<Vec<Value>> {
        let mut values = Vec::new();
        let mut ok = true;
        for item in items {
            match item {
                ListItem::Literal(lit) => values.push(literal_value(&lit.value)),
                ListItem::Name(ident) => match self.defs.get(&ident.name).copied() {
                    Some(Def::List(..)) => match self.list_values(&ident.name) {
                        Some((_, nested)) => values.extend(nested),
                        None => ok = false,
                    },
                    Some(other) => {
                        let what = other.what();
                        self.error(
                            Code::MisusedName,
                            file,
                            ident.span,
                            format!("`{}` is a {what}, not a list", ident.name),
                            "only lists can be spliced into a list",
                        );
                        ok = false;
                    }
                    None => {
                        self.unknown_list(file, &ident.name, ident.span);
                        ok = false;
                    }
                },
            }
        }
        ok.then_some(values)
    }

    fn unknown_list(&mut self, file: &Arc<SourceFile>, name: &str, span: Span) {
        let mut d = Diagnostic::new(Code::UnknownName, format!("unknown name `{name}`"))
            .with_label(file, span, "no list of this name in the ruleset");
        if let Some(s) = self.closest_name(name, &["list"]) {
            d = d.with_help(suggest::help(&s));
        }
        self.report(d);
    }

    // ---------------------------------------------------------------- macros

    /// A macro's expansion, made a [`Cond::Memo`] shared by every use compiled the same way (the
    /// same macro for the same kinds of event and resources), so that an event evaluates it
    /// once whatever number of rules use it. Constants, and conditions that call functions or
    /// scripts (whose errors each rule reports), are left as they are.
    fn shared(&mut self, name: &str, scope: &Scope, compiled: CompiledCond) -> CompiledCond {
        fn pure(cond: &Cond) -> bool {
            match cond {
                Cond::True | Cond::False | Cond::Exists(_) => true,
                Cond::And(cs) | Cond::Or(cs) => cs.iter().all(pure),
                Cond::Not(c) | Cond::Memo { cond: c, .. } => pure(c),
                Cond::Test { left, .. } => matches!(left, Source::Path(_) | Source::Const(_)),
                Cond::Dynamic { left, right, .. } => [left, right]
                    .iter()
                    .all(|s| matches!(s, Source::Path(_) | Source::Const(_))),
                Cond::Truthy(_) => false,
            }
        }
        if matches!(compiled.cond, Cond::True | Cond::False) || !pure(&compiled.cond) {
            return compiled;
        }
        let key = format!("{name}\0{:?}\0{:?}", scope.source, scope.resources);
        let id = match self.memos.get(&key) {
            Some(id) => *id,
            None => {
                let id = self.slots.memo();
                self.memos.insert(key, id);
                id
            }
        };
        CompiledCond {
            cond: Cond::Memo {
                id,
                cond: Box::new(compiled.cond),
            },
            never: compiled.never,
        }
    }

    /// A name used as a condition: a macro, expanded here.
    pub(super) fn name_condition(&mut self, scope: &Scope, ident: &ast::Ident) -> CompiledCond {
        match self.defs.get(&ident.name).copied() {
            Some(Def::Macro(file, def)) => {
                self.uses.names.insert(ident.name.clone());
                if let Some(pos) = self.macro_stack.iter().position(|n| n == &ident.name) {
                    let cycle = self.macro_stack[pos..].join("` -> `");
                    let d = Diagnostic::new(
                        Code::MacroCycle,
                        format!(
                            "macros refer to each other in a cycle: `{cycle}` -> `{}`",
                            ident.name
                        ),
                    )
                    .with_label(&scope.file, ident.span, "this use closes the cycle")
                    .with_label(file, def.name.span, "the macro is defined here")
                    .with_help("a macro cannot use itself, directly or through other macros");
                    self.report(d);
                    return CompiledCond::invalid();
                }
                self.macro_stack.push(ident.name.clone());
                let macro_scope = Scope {
                    file: Arc::clone(file),
                    ..scope.clone()
                };
                let compiled = self.condition(&macro_scope, &def.condition);
                self.macro_stack.pop();
                self.shared(&ident.name, scope, compiled)
            }
            Some(other) => {
                let what = other.what();
                let help = match other {
                    Def::List(..) => format!("compare a field with it: `FIELD in {}`", ident.name),
                    _ => format!(
                        "a {what} is not a condition; sequences name rules in their `steps`"
                    ),
                };
                let d = Diagnostic::new(
                    Code::MisusedName,
                    format!("`{}` is a {what}, not a condition", ident.name),
                )
                .with_label(
                    &scope.file,
                    ident.span,
                    format!("a {what} used as a condition"),
                )
                .with_help(help);
                self.report(d);
                CompiledCond::invalid()
            }
            None => {
                let d =
                    Diagnostic::new(Code::UnknownName, format!("unknown name `{}`", ident.name))
                        .with_label(&scope.file, ident.span, "not a macro of this ruleset")
                        .with_help(match self.closest_name(&ident.name, &["macro"]) {
                            Some(s) => suggest::help_naming("macro", &s),
                            None => format!(
                        "a bare name must be a macro; a field needs a comparison, e.g. `exists {}`",
                        ident.name
                    ),
                        });
                self.report(d);
                CompiledCond::invalid()
            }
        }
    }

    /// Compiles a macro on its own, so that the errors of a macro no rule uses are reported too
    /// (those of a used one were reported where it was used, and are not repeated). Its events
    /// are unknown: it is checked as if for Kubernetes audit events.
    pub(super) fn check_macro(&mut self, file: &Arc<SourceFile>, def: &ast::MacroDef) {
        let scope = Scope {
            file: Arc::clone(file),
            source: crate::kinds::KindSet::of(crate::kinds::KindId::AUDIT),
            resources: None,
        };
        self.macro_stack.push(def.name.name.clone());
        let _ = self.condition(&scope, &def.condition);
        self.macro_stack.pop();
    }
}
