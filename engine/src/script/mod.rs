//! The Rhai script host: `script { fn ... }` blocks and `script { EXPR }` conditions.
//!
//! [`ScriptHost`] owns one sandboxed [`rhai::Engine`] and every script of a ruleset, compiled once
//! at load: the functions of all top-level script blocks form one library, and each condition
//! script is an [`AST`] linked with that library. Evaluation never recompiles.
//!
//! [`ScriptEvent`] is the event as scripts see it: a read-only Rhai object map named `event`,
//! converted from JSON the first time a script needs it and shared by every script that runs on
//! that event.
//!
//! The sandbox: the engine is built with [`Engine::new_raw`] and only the packages a predicate
//! needs (arithmetic, logic, strings, arrays, maps, math, iterators, function pointers), so there
//! is no file, network, process, environment or clock access, and no `sleep`. `eval` is disabled,
//! `print` and `debug` output is discarded, undefined variables are compile errors, and
//! [`ScriptLimits`] bounds operations, call depth, expression depth, data sizes and wall time.
//!
//! Determinism: the limit that stops a runaway script is the operation limit. Rhai counts
//! operations the same way on every machine, so a script it stops fails the same way for the
//! same event, however fast or loaded the machine. The wall-clock deadline is the one place the
//! engine looks at a clock, and only a backstop: its default is far beyond the time the
//! operation limit allows, even for a debug build on a loaded machine, so it decides only for a
//! script whose single operations are slow (string work on megabytes of data). Because such a
//! result depends on the machine, it is a failure of its own kind,
//! [`ScriptErrorKind::DeadlineExceeded`], which the engine counts apart from script errors. The
//! deadline also bounds what Rhai's size limits miss: Rhai checks sizes on function results and
//! on assignments through `.` and `+=`, but not on `m[key] = value` nor on nested literals
//! (`a = [a, a]`), whose growth the operation limit and the deadline stop instead.
//!
//! The stdlib functions are registered so that they take precedence over Rhai's functions of the
//! same name (`len`, `split`, `trim`): a name means the same function in conditions and scripts.

mod convert;
mod position;
#[cfg(test)]
mod tests;

use std::any::TypeId;
use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use k8scop_grammar::ast::{ScriptBlock, ScriptExpr, Span};
use k8scop_grammar::{Code, Diagnostic, SourceFile};
use k8scop_stdlib::{ArgError, ArgShape, Compiled};
use rhai::packages::{
    ArithmeticPackage, BasicArrayPackage, BasicFnPackage, BasicIteratorPackage, BasicMapPackage,
    BasicMathPackage, BasicStringPackage, LogicPackage, MoreStringPackage, Package,
};
use rhai::{
    CallFnOptions, Dynamic, Engine, EvalAltResult, ImmutableString, ParseError, ParseErrorType,
    Scope, AST,
};
use serde_json::Value;

use crate::doc::Ref;

use self::convert::{dynamic_to_json, json_to_dynamic};
use self::position::{position_offset, scan_fn_defs, token_span};

/// The name under which scripts see the event.
const EVENT: &str = "event";

/// What `on_progress` returns to stop a script that ran past its deadline.
const DEADLINE_TOKEN: &str = "k8scop: script deadline exceeded";

/// How many operations run between two looks at the clock.
const CLOCK_EVERY_OPS: u64 = 8;

/// Bounds on what one script evaluation may do.
///
/// A limit of 0 counts as 1: a sandbox limit cannot be switched off by accident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptLimits {
    /// Rhai operations per evaluation (each expression, statement and call counts).
    pub max_operations: u64,
    /// Nested function calls.
    pub max_call_levels: usize,
    /// Nesting of expressions in a script, checked when it compiles (functions get half).
    pub max_expr_depth: usize,
    /// Bytes of string data in one value, nested values included.
    pub max_string_size: usize,
    /// Elements of one array, nested arrays included.
    pub max_array_size: usize,
    /// Entries of one object map, nested maps included.
    pub max_map_size: usize,
    /// Wall-clock time per evaluation, measured from its start: a backstop for scripts whose
    /// operations are individually slow. Unlike the other limits it depends on the machine's
    /// speed and load, so what it stops is reported as [`ScriptErrorKind::DeadlineExceeded`].
    pub deadline: Duration,
}

impl ScriptLimits {
    /// The default [`ScriptLimits::deadline`]. The operation limit stops a runaway script within
    /// a few milliseconds in a release build, and within about 50 ms in a debug build on a loaded
    /// two-core machine: a second leaves room for far worse before the clock, and not the count
    /// of operations, decides.
    pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(1);
}

impl Default for ScriptLimits {
    /// Small enough that a runaway script stops within milliseconds; large enough for the events
    /// of a real cluster: Kubernetes objects are at most about 1.5 MiB, and the size limits count
    /// the whole value a script touches (`event.requestObject` counts all its strings).
    fn default() -> Self {
        ScriptLimits {
            max_operations: 50_000,
            max_call_levels: 24,
            max_expr_depth: 64,
            max_string_size: 4 << 20,
            max_array_size: 100_000,
            max_map_size: 100_000,
            deadline: ScriptLimits::DEFAULT_DEADLINE,
        }
    }
}

/// A compiled condition script of a [`ScriptHost`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ScriptId(u32);

/// Why a script evaluation failed. The engine counts and reports it; the script's rule is false
/// for that event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    /// Whether the failure is the script's own or the machine's (the wall-clock backstop).
    pub kind: ScriptErrorKind,
    /// One line, lowercase: `operation limit exceeded`, ``script returned `i64`, expected a
    /// boolean``, `script deadline exceeded (1000 ms)`, or Rhai's error text with the file, line
    /// and column where it happened.
    pub message: String,
}

/// Whether a script failure depends on the machine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ScriptErrorKind {
    /// The script failed, or the operation, call depth or size limit stopped it: the same event
    /// gives the same failure on any machine.
    #[default]
    Error,
    /// The wall-clock deadline stopped it ([`ScriptLimits::deadline`]): a slower or busier
    /// machine may stop it where a faster one would not.
    DeadlineExceeded,
}

impl ScriptError {
    fn new(message: impl Into<String>) -> Self {
        ScriptError {
            kind: ScriptErrorKind::Error,
            message: message.into(),
        }
    }

    fn deadline(deadline: Duration) -> Self {
        ScriptError {
            kind: ScriptErrorKind::DeadlineExceeded,
            message: format!("script deadline exceeded ({} ms)", deadline.as_millis()),
        }
    }
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ScriptError {}

/// The event as scripts see it.
///
/// The JSON event is converted to a Rhai object map at most once, the first time a script runs on
/// it, however many scripts run on it; every script reads that one map, held as the constant
/// `event` of a scope that is rewound after each evaluation.
pub struct ScriptEvent<'a> {
    event: Ref<'a>,
    scope: OnceLock<Mutex<Scope<'static>>>,
    #[cfg(test)]
    conversions: std::sync::atomic::AtomicUsize,
}

impl<'a> ScriptEvent<'a> {
    /// The event as scripts see it; it is converted to a Rhai map only if a script runs.
    pub fn new(event: Ref<'a>) -> Self {
        ScriptEvent {
            event,
            scope: OnceLock::new(),
            #[cfg(test)]
            conversions: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// The event this wraps.
    pub fn event(&self) -> Ref<'a> {
        self.event
    }

    fn scope(&self) -> &Mutex<Scope<'static>> {
        self.scope.get_or_init(|| {
            #[cfg(test)]
            self.conversions
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut scope = Scope::with_capacity(4);
            // A constant: assigning to `event` or calling a mutating method on it is an error.
            scope.push_constant_dynamic(EVENT, json_to_dynamic(&self.event.to_value()));
            Mutex::new(scope)
        })
    }

    /// How many times the event was converted to a Rhai map (0 or 1).
    #[cfg(test)]
    fn conversions(&self) -> usize {
        self.conversions.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl fmt::Debug for ScriptEvent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScriptEvent")
            .field("converted", &self.scope.get().is_some())
            .finish_non_exhaustive()
    }
}

/// A function defined in a top-level `script` block.
#[derive(Debug, Clone)]
pub struct ScriptFunction {
    /// The name conditions call it by.
    pub name: String,
    /// How many parameters it takes.
    pub arity: usize,
    /// The `.rules` file of its `script` block.
    pub file: Arc<SourceFile>,
    /// Where the function's name is in its definition.
    pub span: Span,
    /// The body of the script block that defines it: Rhai positions inside the function are
    /// relative to it.
    block_body: Span,
}

struct CompiledExpr {
    /// The expression linked with the library of script functions.
    ast: AST,
    file: Arc<SourceFile>,
    body_span: Span,
}

/// Every script of a ruleset, compiled, and the engine that runs them.
pub struct ScriptHost {
    engine: Engine,
    limits: ScriptLimits,
    /// The functions of every script block, without any top-level statements.
    lib: AST,
    functions: Vec<ScriptFunction>,
    by_name: HashMap<String, usize>,
    exprs: Vec<CompiledExpr>,
}

impl fmt::Debug for ScriptHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScriptHost")
            .field("limits", &self.limits)
            .field("functions", &self.functions)
            .field("exprs", &self.exprs.len())
            .finish_non_exhaustive()
    }
}

impl ScriptHost {
    /// Compiles every top-level `script { fn ... }` block of the ruleset into one function
    /// library.
    ///
    /// Returns every diagnostic: a Rhai syntax error per block (at its line:column in the
    /// `.rules` file), a block with statements outside functions, a function name defined twice
    /// or shared with a stdlib function. The host is usable whatever the diagnostics. A block
    /// that does not compile contributes no code, but the functions it means to define stay
    /// known by name and arity, so that calls to them are not also reported as unknown.
    pub fn new(
        blocks: &[(Arc<SourceFile>, ScriptBlock)],
        limits: ScriptLimits,
    ) -> (ScriptHost, Vec<Diagnostic>) {
        let engine = sandboxed_engine(&limits);
        let mut diagnostics = Vec::new();
        let mut lib = AST::empty();
        let mut defined = Vec::new();
        for (file, block) in blocks {
            let compiled = compile_block(&engine, file, block);
            diagnostics.extend(compiled.diagnostic);
            defined.extend(compiled.functions);
            if let Some(ast) = compiled.ast {
                lib.combine(ast.clone_functions_only());
            }
        }

        let mut functions: Vec<ScriptFunction> = Vec::new();
        let mut by_name: HashMap<String, usize> = HashMap::new();
        for f in defined {
            if k8scop_stdlib::lookup(&f.name).is_some() {
                diagnostics.push(
                    Diagnostic::new(
                        Code::DuplicateName,
                        format!(
                            "script function `{}` has the name of a stdlib function",
                            f.name
                        ),
                    )
                    .with_label(&f.file, f.span, "defined here")
                    .with_help("rename it: stdlib functions cannot be redefined"),
                );
                continue;
            }
            if let Some(&first) = by_name.get(&f.name) {
                let first = &functions[first];
                diagnostics.push(
                    Diagnostic::new(
                        Code::DuplicateName,
                        format!("script function `{}` is defined twice", f.name),
                    )
                    .with_label(&f.file, f.span, "defined again here")
                    .with_label(&first.file, first.span, "first defined here")
                    .with_help("a name is defined once in the whole ruleset: rename one of them"),
                );
                continue;
            }
            by_name.insert(f.name.clone(), functions.len());
            functions.push(f);
        }

        let host = ScriptHost {
            engine,
            limits,
            lib,
            functions,
            by_name,
            exprs: Vec::new(),
        };
        (host, diagnostics)
    }

    /// The limits every evaluation runs under.
    pub fn limits(&self) -> &ScriptLimits {
        &self.limits
    }

    /// The arity of a function defined in the script blocks, if any.
    pub fn function_arity(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).map(|&i| self.functions[i].arity)
    }

    /// Every function defined in the script blocks (each name once), for the ruleset-wide name
    /// checks.
    pub fn functions(&self) -> &[ScriptFunction] {
        &self.functions
    }

    /// Compiles a `script { EXPR }` of a condition once.
    ///
    /// The body is a Rhai expression, or statements whose last one gives the value; it sees the
    /// constant `event` and calls the script-block and stdlib functions. It may not define
    /// functions itself.
    pub fn compile_expr(
        &mut self,
        file: &Arc<SourceFile>,
        expr: &ScriptExpr,
    ) -> Result<ScriptId, Diagnostic> {
        // `event` is an ordinary variable here, not a constant: the optimiser would otherwise
        // replace it by the placeholder value.
        let mut scope = Scope::new();
        scope.push_dynamic(EVENT, Dynamic::UNIT);
        let ast = self
            .engine
            .compile_with_scope(&scope, &expr.body)
            .map_err(|err| {
                parse_diagnostic(file, &expr.body, expr.body_span, &err, Context::Expr)
            })?;
        if ast.has_functions() {
            let site = scan_fn_defs(&expr.body).into_iter().next();
            let span = site.map_or(expr.span, |s| {
                Span::new(
                    expr.body_span.start + s.name_range.start,
                    expr.body_span.start + s.name_range.end,
                )
            });
            return Err(Diagnostic::new(
                Code::ScriptSyntax,
                "a condition script cannot define functions",
            )
            .with_label(file, span, "defined here")
            .with_help("define it in a top-level `script { fn ... }` block"));
        }
        if ast.statements().is_empty() {
            return Err(Diagnostic::new(Code::ScriptSyntax, "empty script")
                .with_label(file, expr.span, "this script has no expression")
                .with_help("write a Rhai expression that returns `true` or `false`"));
        }
        let id = u32::try_from(self.exprs.len())
            .map(ScriptId)
            .map_err(|_| Diagnostic::new(Code::ScriptSyntax, "too many scripts in one ruleset"))?;
        self.exprs.push(CompiledExpr {
            ast: self.lib.merge(&ast),
            file: Arc::clone(file),
            body_span: expr.body_span,
        });
        Ok(id)
    }

    /// Evaluates a compiled expression that must return a boolean.
    pub fn eval_bool(&self, id: ScriptId, event: &ScriptEvent<'_>) -> Result<bool, ScriptError> {
        let value = self.eval(id, event)?;
        value.as_bool().map_err(|_| {
            ScriptError::new(format!(
                "script returned `{}`, expected a boolean",
                self.engine.map_type_name(value.type_name())
            ))
        })
    }

    /// Evaluates a compiled expression used as an operand: its value as JSON, `None` (missing)
    /// when it returns `()`.
    pub fn eval_value(
        &self,
        id: ScriptId,
        event: &ScriptEvent<'_>,
    ) -> Result<Option<Value>, ScriptError> {
        let value = self.eval(id, event)?;
        self.to_json(&value)
    }

    /// Calls a script function from a condition (`scripted_client(userAgent)`).
    pub fn call_fn(&self, name: &str, args: &[&Value]) -> Result<Option<Value>, ScriptError> {
        let args: Vec<Dynamic> = args.iter().map(|v| json_to_dynamic(v)).collect();
        let options = CallFnOptions::new().eval_ast(false).rewind_scope(true);
        let result = {
            let _deadline = Deadline::start(self.limits.deadline);
            self.engine.call_fn_with_options::<Dynamic>(
                options,
                &mut Scope::new(),
                &self.lib,
                name,
                args,
            )
        };
        // Rhai reports an error of the called function itself unwrapped.
        let value = result.map_err(|err| self.runtime_error(*err, None, Some(name)))?;
        self.to_json(&value)
    }

    fn eval(&self, id: ScriptId, event: &ScriptEvent<'_>) -> Result<Dynamic, ScriptError> {
        let expr = self
            .exprs
            .get(id.0 as usize)
            .ok_or_else(|| ScriptError::new("no such script (a script id of another host)"))?;
        // A panic inside Rhai cannot leave the scope half-updated in a way that matters: it is
        // rewound to `event` alone before every use.
        let mut scope = event
            .scope()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        scope.rewind(1);
        let result = {
            let _deadline = Deadline::start(self.limits.deadline);
            self.engine
                .eval_ast_with_scope::<Dynamic>(&mut scope, &expr.ast)
        };
        // Variables the script declared do not outlive it.
        scope.rewind(1);
        result.map_err(|err| self.runtime_error(*err, Some((&expr.file, &expr.body_span)), None))
    }

    fn to_json(&self, value: &Dynamic) -> Result<Option<Value>, ScriptError> {
        if value.is_unit() {
            return Ok(None);
        }
        dynamic_to_json(value).map(Some).map_err(|ty| {
            ScriptError::new(format!(
                "script returned a value with no JSON form (`{}`)",
                self.engine.map_type_name(ty)
            ))
        })
    }

    /// One line: what went wrong and, when Rhai knows, where in the `.rules` file.
    ///
    /// `site` is the condition script that ran, `called` the script function that ran.
    fn runtime_error(
        &self,
        err: EvalAltResult,
        site: Option<(&Arc<SourceFile>, &Span)>,
        called: Option<&str>,
    ) -> ScriptError {
        // Inside a script function, the position is relative to the block that defines the
        // innermost function of the chain.
        let mut err = err;
        let mut in_fn: Option<String> = called.map(str::to_owned);
        while let EvalAltResult::ErrorInFunctionCall(name, _, inner, _) = err {
            in_fn = Some(name);
            err = *inner;
        }
        // Without its position, Rhai's text has no "(line 1, position 5)" suffix.
        let pos = err.take_position();
        let text = match &err {
            EvalAltResult::ErrorTooManyOperations(_) => {
                return ScriptError::new("operation limit exceeded")
            }
            EvalAltResult::ErrorTerminated(token, _)
                if token.clone().into_string().ok().as_deref() == Some(DEADLINE_TOKEN) =>
            {
                return ScriptError::deadline(self.limits.deadline);
            }
            EvalAltResult::ErrorStackOverflow(_) => {
                return ScriptError::new("call depth limit exceeded")
            }
            EvalAltResult::ErrorDataTooLarge(what, _) => {
                let what = what.to_lowercase();
                let kind = ["string", "array", "map"]
                    .into_iter()
                    .find(|k| what.contains(k))
                    .unwrap_or("data");
                return ScriptError::new(format!("{kind} size limit exceeded"));
            }
            EvalAltResult::ErrorRuntime(value, _) => value.to_string(),
            other => other.to_string(),
        };
        let location = match &in_fn {
            Some(name) => self
                .by_name
                .get(name)
                .map(|&i| &self.functions[i])
                .map(|f| (&f.file, &f.block_body)),
            None => site,
        };
        let location = location.and_then(|(file, body_span)| {
            let body = file.text.get(body_span.start..body_span.end)?;
            let offset = position_offset(body, pos)?;
            let (line, col) = file.line_col(body_span.start + offset);
            Some(format!(" at {}:{line}:{col}", file.name))
        });
        let mut message = String::new();
        if let Some(name) = &in_fn {
            message.push_str(&format!("in function `{name}`: "));
        }
        message.push_str(&one_line(&text));
        message.push_str(location.as_deref().unwrap_or(""));
        ScriptError::new(message)
    }
}

/// One script block, compiled as far as it goes.
struct CompiledBlock {
    /// None when the block has a syntax error.
    ast: Option<AST>,
    /// Its functions in source order. After a syntax error, the functions the block means to
    /// define, as far as a light scan of its text finds them.
    functions: Vec<ScriptFunction>,
    /// A syntax error, or a statement outside functions.
    diagnostic: Option<Diagnostic>,
}

fn compile_block(engine: &Engine, file: &Arc<SourceFile>, block: &ScriptBlock) -> CompiledBlock {
    let sites = scan_fn_defs(&block.body);
    let in_file = |range: &std::ops::Range<usize>| {
        Span::new(
            block.body_span.start + range.start,
            block.body_span.start + range.end,
        )
    };
    let function = |name: &str, arity: usize, span: Span| ScriptFunction {
        name: name.to_owned(),
        arity,
        file: Arc::clone(file),
        span,
        block_body: block.body_span,
    };

    let ast = match engine.compile(&block.body) {
        Ok(ast) => ast,
        Err(err) => {
            return CompiledBlock {
                ast: None,
                functions: sites
                    .iter()
                    .map(|site| function(&site.name, site.arity, in_file(&site.name_range)))
                    .collect(),
                diagnostic: Some(parse_diagnostic(
                    file,
                    &block.body,
                    block.body_span,
                    &err,
                    Context::Block,
                )),
            }
        }
    };

    let statement = ast.statements().first().map(|stmt| {
        let offset = position_offset(&block.body, stmt.position()).unwrap_or(0);
        Diagnostic::new(
            Code::ScriptSyntax,
            "a top-level `script` block may only define functions",
        )
        .with_label(
            file,
            token_span(&block.body, block.body_span, offset),
            "this is outside any function",
        )
        .with_help("move it into a function, or into a `script { ... }` condition")
    });

    // Rhai knows each function's arity but not where its name is: take the place from the scan,
    // matching by name and arity, else by name, else the start of the block.
    let mut used = vec![false; sites.len()];
    let mut functions: Vec<ScriptFunction> = ast
        .iter_functions()
        .map(|f| {
            let arity = f.params.len();
            let unused = |i: &usize| !used[*i] && sites[*i].name == f.name;
            let found = (0..sites.len())
                .filter(unused)
                .find(|&i| sites[i].arity == arity)
                .or_else(|| (0..sites.len()).find(unused));
            let span = match found {
                Some(i) => {
                    used[i] = true;
                    in_file(&sites[i].name_range)
                }
                None => Span::new(block.body_span.start, block.body_span.start),
            };
            function(f.name, arity, span)
        })
        .collect();
    functions.sort_by_key(|f| f.span.start);
    CompiledBlock {
        ast: Some(ast),
        functions,
        diagnostic: statement,
    }
}

/// Builds the sandboxed engine: see the module docs.
fn sandboxed_engine(limits: &ScriptLimits) -> Engine {
    let mut engine = Engine::new_raw();
    // No `LanguageCorePackage`: it brings `sleep`, `exit` and `take`, which a predicate does not
    // need and which escape the limits or empty a variable.
    engine.register_global_module(ArithmeticPackage::new().as_shared_module());
    engine.register_global_module(LogicPackage::new().as_shared_module());
    engine.register_global_module(BasicStringPackage::new().as_shared_module());
    engine.register_global_module(MoreStringPackage::new().as_shared_module());
    engine.register_global_module(BasicIteratorPackage::new().as_shared_module());
    engine.register_global_module(BasicFnPackage::new().as_shared_module());
    engine.register_global_module(BasicArrayPackage::new().as_shared_module());
    engine.register_global_module(BasicMapPackage::new().as_shared_module());
    engine.register_global_module(BasicMathPackage::new().as_shared_module());
    register_stdlib(&mut engine);

    engine.disable_symbol("eval");
    engine.on_print(|_| {});
    engine.on_debug(|_, _, _| {});
    engine.set_strict_variables(true);
    // `event.x` on an event without `x` is `()`, so `event.x?.y == true` is simply false.
    engine.set_fail_on_invalid_map_property(false);

    engine.set_max_operations(limits.max_operations.max(1));
    engine.set_max_call_levels(limits.max_call_levels.max(1));
    let depth = limits.max_expr_depth.max(2);
    engine.set_max_expr_depths(depth, depth / 2);
    engine.set_max_string_size(limits.max_string_size.max(1));
    engine.set_max_array_size(limits.max_array_size.max(1));
    engine.set_max_map_size(limits.max_map_size.max(1));
    engine.on_progress(|ops| {
        if ops % CLOCK_EVERY_OPS != 0 {
            return None;
        }
        Deadline::passed().then(|| Dynamic::from(DEADLINE_TOKEN))
    });
    engine
}

/// Registers every stdlib function under its name for its arity: the k8scop package.
///
/// Arguments go to the function as JSON and its result comes back as Rhai: a missing result
/// (`Ok(None)`) is `()`, a failed call is a Rhai runtime error.
///
/// Rhai's own packages define some of the same names (`len`, `split`) with other behaviour, and
/// Rhai prefers a function whose parameter types match exactly over one taking `Dynamic`. So
/// that a name means the same function in conditions and in scripts, each stdlib function of up
/// to [`TYPED_ARITY`] parameters is also registered for every combination of the types a JSON
/// value becomes; the engine's own namespace, where these go, is searched before the packages.
fn register_stdlib(engine: &mut Engine) {
    let json_types = [
        TypeId::of::<ImmutableString>(),
        TypeId::of::<rhai::INT>(),
        TypeId::of::<rhai::FLOAT>(),
        TypeId::of::<bool>(),
        TypeId::of::<()>(),
        TypeId::of::<rhai::Array>(),
        TypeId::of::<rhai::Map>(),
        TypeId::of::<char>(),
    ];
    for function in k8scop_stdlib::all() {
        let arity = function.params().len();
        let call = Arc::new(StdlibCall {
            name: function.name(),
            compiled: function.compile(&vec![ArgShape::Dynamic; arity]),
        });
        let mut signatures = vec![vec![TypeId::of::<Dynamic>(); arity]];
        if arity <= TYPED_ARITY {
            let combinations = json_types.len().pow(arity as u32);
            signatures.extend((0..combinations).map(|mut n| {
                (0..arity)
                    .map(|_| {
                        let ty = json_types[n % json_types.len()];
                        n /= json_types.len();
                        ty
                    })
                    .collect()
            }));
        }
        for types in signatures {
            let call = Arc::clone(&call);
            engine.register_raw_fn(function.name(), types, move |_, args| call.invoke(args));
        }
    }
}

/// Stdlib functions with at most this many parameters take precedence over Rhai's functions of
/// the same name (see [`register_stdlib`]).
const TYPED_ARITY: usize = 3;

/// A stdlib function prepared for calls from Rhai, where every argument is dynamic.
struct StdlibCall {
    name: &'static str,
    compiled: Result<Box<dyn Compiled>, ArgError>,
}

impl StdlibCall {
    fn invoke(&self, args: &mut [&mut Dynamic]) -> Result<Dynamic, Box<EvalAltResult>> {
        let name = self.name;
        let compiled = self
            .compiled
            .as_ref()
            .map_err(|e| format!("`{name}` cannot be called from a script: {}", e.message))?;
        let mut json = Vec::with_capacity(args.len());
        for arg in args.iter() {
            json.push(
                dynamic_to_json(arg)
                    .map_err(|ty| format!("`{name}` cannot take a `{ty}` argument"))?,
            );
        }
        let refs: Vec<&Value> = json.iter().collect();
        match compiled.call(&refs) {
            Ok(Some(value)) => Ok(json_to_dynamic(&value)),
            Ok(None) => Ok(Dynamic::UNIT),
            Err(e) => Err(format!("`{name}`: {e}").into()),
        }
    }
}

thread_local! {
    /// When the evaluation running on this thread must stop. Evaluations are synchronous, so the
    /// `on_progress` callback, which Rhai calls on the evaluating thread, finds its own deadline
    /// here even when several threads share the engine.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The deadline of one evaluation, set for as long as it lives.
struct Deadline {
    previous: Option<Instant>,
}

impl Deadline {
    fn start(limit: Duration) -> Deadline {
        let deadline = Instant::now().checked_add(limit);
        Deadline {
            previous: DEADLINE.with(|d| d.replace(deadline)),
        }
    }

    fn passed() -> bool {
        DEADLINE.with(|d| d.get().is_some_and(|deadline| Instant::now() >= deadline))
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        DEADLINE.with(|d| d.set(self.previous));
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    /// A top-level `script { fn ... }` block.
    Block,
    /// A `script { ... }` condition.
    Expr,
}

/// A Rhai syntax error as a diagnostic at its place in the `.rules` file.
fn parse_diagnostic(
    file: &Arc<SourceFile>,
    body: &str,
    body_span: Span,
    err: &ParseError,
    context: Context,
) -> Diagnostic {
    let ParseError(kind, pos) = err;
    let span = match position_offset(body, *pos) {
        Some(offset) => token_span(body, body_span, offset),
        None => body_span,
    };
    let mut diagnostic = Diagnostic::new(Code::ScriptSyntax, one_line(&kind.to_string()))
        .with_label(file, span, "Rhai cannot compile this");
    let help = match (&**kind, context) {
        (ParseErrorType::Reserved(word), _) if word == "eval" => {
            Some("`eval` is disabled in k8scop scripts".to_owned())
        }
        (ParseErrorType::VariableUndefined(_), Context::Block) => Some(
            "a function sees only its parameters and its own variables: pass values, such as \
             `event`, as arguments"
                .to_owned(),
        ),
        (ParseErrorType::VariableUndefined(_), Context::Expr) => {
            Some("a condition script sees `event` and the variables it declares".to_owned())
        }
        _ => None,
    };
    if let Some(help) = help {
        diagnostic = diagnostic.with_help(help);
    }
    diagnostic
}

/// Rhai's text as a k8scop message: one line, starting lowercase.
fn one_line(text: &str) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}
