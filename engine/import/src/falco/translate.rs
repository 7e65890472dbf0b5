//! Falco conditions ([`Expr`]) to k8scop conditions ([`Cond`], rendered as rule-language text).
//!
//! Operators keep Falco's meaning over the plugin's values: `in` on a list field is the subset
//! test `all PATH in LIST`, `intersects` is any value in the list, a comparison on a missing
//! field is false (so `not` makes it true), and a field whose JSON value is not a string is
//! compared natively where the constant allows it (`= true`, `= 201`) and through the
//! `falco_text` helper where Falco compares the text (`startswith 2`).

use std::collections::{BTreeMap, BTreeSet};

use super::condition::{Expr, Field, Item, Op, Value};
use super::fields::{self, Kind, Mapped, Read, Resolved};
use crate::write::quote;

/// Rhai helper functions a translated condition calls; the importer writes the ones used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Helper {
    /// `falco_text(v)`: a value as the k8saudit plugin gives it, strings as they are and other
    /// values as JSON text.
    Text,
    /// `falco_image_repository(image)`: the image up to its first `:`, then up to its first `@`.
    ImageRepository,
    /// `falco_host_ports(spec, list, index)`: `ka.req.pod.<list>.host_port`.
    HostPorts,
    /// `falco_volume_types(spec, index)`: `ka.req.pod.volumes.volume_type`.
    VolumeTypes,
}

impl Helper {
    /// The function's name.
    pub fn name(self) -> &'static str {
        match self {
            Helper::Text => "falco_text",
            Helper::ImageRepository => "falco_image_repository",
            Helper::HostPorts => "falco_host_ports",
            Helper::VolumeTypes => "falco_volume_types",
        }
    }

    /// Every helper, so that their names are kept free of the imported lists and macros.
    pub const ALL: [Helper; 4] = [
        Helper::Text,
        Helper::ImageRepository,
        Helper::HostPorts,
        Helper::VolumeTypes,
    ];

    /// The Rhai definition, with a comment saying what it reproduces.
    pub fn definition(self) -> &'static str {
        match self {
            Helper::Text => {
                "    // A value as Falco's k8saudit plugin gives it: a string as it is, any other JSON\n    \
                 // value as its JSON text (`true`, `201`, `{\"password\":\"...\"}`).\n    \
                 fn falco_text(v) {\n        \
                     switch type_of(v) {\n            \
                         \"string\" => v,\n            \
                         \"map\" => v.to_json(),\n            \
                         \"array\" => { let j = #{a: v}.to_json(); j.sub_string(5, j.len() - 6) },\n            \
                         _ => v.to_string()\n        \
                     }\n    \
                 }\n"
            }
            Helper::ImageRepository => {
                "    // The repository of an image as Falco's k8saudit plugin takes it: the text up to the first\n    \
                 // `:`, then up to the first `@` (`docker.io/nginx:1.25` gives `docker.io/nginx`).\n    \
                 fn falco_image_repository(image) {\n        \
                     image.split(\":\")[0].split(\"@\")[0]\n    \
                 }\n"
            }
            Helper::HostPorts => {
                "    // `ka.req.pod.<list>.host_port` as Falco's k8saudit plugin gives it: for each container of\n    \
                 // `list` (the one at `index`, or all when `index` is -1), each port's hostPort, or its\n    \
                 // containerPort when it has none, as text. Nothing without that list or container, or\n    \
                 // when a container's `ports` is not a list.\n    \
                 fn falco_host_ports(spec, list, index) {\n        \
                     if type_of(spec) != \"map\" { return (); }\n        \
                     let containers = spec[list];\n        \
                     if type_of(containers) != \"array\" { return (); }\n        \
                     if index >= 0 {\n            \
                         if index >= containers.len() { return (); }\n            \
                         containers = [containers[index]];\n        \
                     }\n        \
                     let ports = [];\n        \
                     for c in containers {\n            \
                         if type_of(c) != \"map\" || !c.contains(\"ports\") { continue; }\n            \
                         if type_of(c.ports) != \"array\" { return (); }\n            \
                         for p in c.ports {\n                \
                             if type_of(p) != \"map\" { continue; }\n                \
                             let key = if p.contains(\"hostPort\") { \"hostPort\" } else { \"containerPort\" };\n                \
                             if !p.contains(key) { continue; }\n                \
                             let v = p[key];\n                \
                             ports.push(if type_of(v) == \"()\" { \"null\" } else { falco_text(v) });\n            \
                         }\n        \
                     }\n        \
                     ports\n    \
                 }\n"
            }
            Helper::VolumeTypes => {
                "    // `ka.req.pod.volumes.volume_type` as Falco's k8saudit plugin gives it: the member names\n    \
                 // but `name` of each volume (the one at `index`, or all when `index` is -1), in key order.\n    \
                 fn falco_volume_types(spec, index) {\n        \
                     if type_of(spec) != \"map\" { return (); }\n        \
                     let volumes = spec[\"volumes\"];\n        \
                     if type_of(volumes) != \"array\" { return (); }\n        \
                     if index >= 0 {\n            \
                         if index >= volumes.len() { return (); }\n            \
                         volumes = [volumes[index]];\n        \
                     }\n        \
                     let types = [];\n        \
                     for v in volumes {\n            \
                         if type_of(v) != \"map\" { continue; }\n            \
                         for k in v.keys() { if k != \"name\" { types.push(k); } }\n        \
                     }\n        \
                     types\n    \
                 }\n"
            }
        }
    }
}

/// A k8scop condition, before rendering.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// `true` or `false`.
    Const(bool),
    /// Every operand holds.
    And(Vec<Cond>),
    /// Some operand holds.
    Or(Vec<Cond>),
    /// The operand does not hold.
    Not(Box<Cond>),
    /// A macro, with its constant value when it has one (it is kept by name: a user may edit
    /// it).
    Macro {
        /// The k8scop macro name.
        name: String,
        /// `Some(b)` when the macro is the constant `b`.
        constant: Option<bool>,
    },
    /// A comparison or `exists`, as text.
    Atom(String),
}

impl Cond {
    fn and(parts: Vec<Cond>) -> Cond {
        let mut out = Vec::new();
        for p in parts {
            match p {
                Cond::Const(true) => {}
                Cond::Const(false) => return Cond::Const(false),
                Cond::And(inner) => out.extend(inner),
                p => out.push(p),
            }
        }
        match out.len() {
            0 => Cond::Const(true),
            1 => out.remove(0),
            _ => Cond::And(out),
        }
    }

    fn or(parts: Vec<Cond>) -> Cond {
        let mut out = Vec::new();
        for p in parts {
            match p {
                Cond::Const(false) => {}
                Cond::Const(true) => return Cond::Const(true),
                Cond::Or(inner) => out.extend(inner),
                p => out.push(p),
            }
        }
        match out.len() {
            0 => Cond::Const(false),
            1 => out.remove(0),
            _ => Cond::Or(out),
        }
    }

    fn not(c: Cond) -> Cond {
        match c {
            Cond::Const(b) => Cond::Const(!b),
            c => Cond::Not(Box::new(c)),
        }
    }

    /// `a and not b`, used for exceptions and first-match order.
    pub fn and_not(self, other: Cond) -> Cond {
        Cond::and(vec![self, Cond::not(other)])
    }

    /// The condition's value when it is the same for every event, macros' constants included.
    pub fn constant(&self) -> Option<bool> {
        match self {
            Cond::Const(b) => Some(*b),
            Cond::Macro { constant, .. } => *constant,
            Cond::Atom(_) => None,
            Cond::Not(c) => c.constant().map(|b| !b),
            Cond::And(parts) => {
                let values: Vec<_> = parts.iter().map(Cond::constant).collect();
                if values.contains(&Some(false)) {
                    Some(false)
                } else if values.iter().all(|v| *v == Some(true)) {
                    Some(true)
                } else {
                    None
                }
            }
            Cond::Or(parts) => {
                let values: Vec<_> = parts.iter().map(Cond::constant).collect();
                if values.contains(&Some(true)) {
                    Some(true)
                } else if values.iter().all(|v| *v == Some(false)) {
                    Some(false)
                } else {
                    None
                }
            }
        }
    }

    /// The macros whose constant value makes this condition constant: what switched a rule off.
    pub fn constant_macros(&self, out: &mut Vec<String>) {
        match self {
            Cond::Macro {
                name,
                constant: Some(_),
            } if !out.contains(name) => out.push(name.clone()),
            Cond::Not(c) => c.constant_macros(out),
            Cond::And(parts) | Cond::Or(parts) => {
                for p in parts {
                    if p.constant().is_some() {
                        p.constant_macros(out);
                    }
                }
            }
            _ => {}
        }
    }

    /// The condition as rule-language text on one line.
    pub fn render(&self) -> String {
        self.render_at(0)
    }

    /// The condition as text, its top-level `and` (or `or`) operands on lines of their own,
    /// indented by `indent`, when one line would be longer than `width`.
    pub fn render_wrapped(&self, indent: usize, width: usize) -> String {
        let line = self.render();
        if indent + line.len() <= width {
            return line;
        }
        let (parts, word) = match self {
            Cond::And(parts) => (parts, "and"),
            Cond::Or(parts) => (parts, "or"),
            _ => return line,
        };
        let level = if word == "and" { 2 } else { 1 };
        let pad = " ".repeat(indent);
        parts
            .iter()
            .map(|p| p.render_at(level))
            .collect::<Vec<_>>()
            .join(&format!("\n{pad}{word} "))
    }

    /// Precedence levels: 1 `or`, 2 `and`, 3 `not`; a part below the level of its place gets
    /// parentheses.
    fn render_at(&self, level: u8) -> String {
        let (mine, text) = match self {
            Cond::Const(b) => (4, b.to_string()),
            Cond::Atom(a) => (4, a.clone()),
            Cond::Macro { name, .. } => (4, name.clone()),
            Cond::Not(c) => (3, format!("not {}", c.render_at(3))),
            Cond::And(parts) => (
                2,
                parts
                    .iter()
                    .map(|p| p.render_at(2))
                    .collect::<Vec<_>>()
                    .join(" and "),
            ),
            Cond::Or(parts) => (
                1,
                parts
                    .iter()
                    .map(|p| p.render_at(1))
                    .collect::<Vec<_>>()
                    .join(" or "),
            ),
        };
        if mine < level {
            format!("({text})")
        } else {
            text
        }
    }
}

/// What the translator knows of the ruleset's names.
#[derive(Debug, Default)]
pub struct Env {
    /// Falco list name to its k8scop name.
    pub lists: BTreeMap<String, String>,
    /// Falco list name to its items (for `pmatch`, which needs each item).
    pub list_items: BTreeMap<String, Vec<String>>,
    /// Falco macro name to what it became.
    pub macros: BTreeMap<String, MacroState>,
    /// Every top-level k8scop name: a path whose first segment is one of them is quoted.
    pub names: BTreeSet<String>,
}

/// A macro, as translated.
#[derive(Debug, Clone)]
pub enum MacroState {
    /// Translated to the k8scop macro `name`.
    Ok {
        /// The k8scop macro name.
        name: String,
        /// `Some(b)` when it is the constant `b`.
        constant: Option<bool>,
    },
    /// Not translated, with the reason.
    Broken(String),
}

/// A translated condition and the helpers it calls.
#[derive(Debug, Clone)]
pub struct Translated {
    /// The condition.
    pub cond: Cond,
    /// The helper functions it calls.
    pub helpers: BTreeSet<Helper>,
}

/// Translates a parsed Falco condition; `Err` says why it cannot be.
pub fn translate(expr: &Expr, env: &Env) -> Result<Translated, String> {
    let mut t = Translator {
        env,
        helpers: BTreeSet::new(),
    };
    let cond = t.expr(expr)?;
    Ok(Translated {
        cond,
        helpers: t.helpers,
    })
}

struct Translator<'a> {
    env: &'a Env,
    helpers: BTreeSet<Helper>,
}

/// A value of a list, resolved: a literal, or a list name.
enum Operand {
    Lit(String),
    List { k8scop: String, falco: String },
}

/// Whether `s` could be the JSON text of a value that is not a string: Falco's text of such a
/// value can equal it, while the native comparison of a string cannot.
fn json_scalar_text(s: &str) -> bool {
    matches!(s, "true" | "false" | "null")
        || s.starts_with(['{', '['])
        || (!s.is_empty()
            && s.trim_start_matches('-')
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit())
            && s.parse::<f64>().is_ok())
}

impl Translator<'_> {
    fn expr(&mut self, e: &Expr) -> Result<Cond, String> {
        Ok(match e {
            Expr::And(parts) => Cond::and(
                parts
                    .iter()
                    .map(|p| self.expr(p))
                    .collect::<Result<_, _>>()?,
            ),
            Expr::Or(parts) => Cond::or(
                parts
                    .iter()
                    .map(|p| self.expr(p))
                    .collect::<Result<_, _>>()?,
            ),
            Expr::Not(inner) => Cond::not(self.expr(inner)?),
            Expr::Name { name, .. } => match self.env.macros.get(name) {
                Some(MacroState::Ok { name, constant }) => Cond::Macro {
                    name: name.clone(),
                    constant: *constant,
                },
                Some(MacroState::Broken(reason)) => {
                    return Err(format!("macro `{name}` did not translate: {reason}"))
                }
                None if self.env.lists.contains_key(name) => {
                    return Err(format!(
                        "list `{name}` stands where a condition is expected"
                    ))
                }
                None => return Err(format!("unknown macro `{name}`")),
            },
            Expr::Check { field, op, value } => self.check(field, *op, value)?,
        })
    }

    fn path(&self, m: &Mapped) -> String {
        let names = &self.env.names;
        m.path.render(&|n| names.contains(n))
    }

    /// The pod spec of the request, as a path.
    fn pod_spec(&self) -> String {
        let names = &self.env.names;
        fields::Path(vec![
            fields::Seg::Name("requestObject".into()),
            fields::Seg::Name("spec".into()),
        ])
        .render(&|n| names.contains(n))
    }

    fn operands(&self, items: &[Item]) -> Vec<Operand> {
        items
            .iter()
            .map(|i| match self.env.lists.get(&i.text) {
                Some(k) if !i.quoted => Operand::List {
                    k8scop: k.clone(),
                    falco: i.text.clone(),
                },
                _ => Operand::Lit(i.text.clone()),
            })
            .collect()
    }

    /// Every constant of a value, the items of named lists included.
    fn expanded(&self, ops: &[Operand]) -> Vec<String> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&str> = Vec::new();
        for o in ops {
            match o {
                Operand::Lit(s) => out.push(s.clone()),
                Operand::List { falco, .. } => stack.push(falco),
            }
        }
        while let Some(list) = stack.pop() {
            if !seen.insert(list.to_owned()) {
                continue;
            }
            for item in self.env.list_items.get(list).into_iter().flatten() {
                match self.env.list_items.get_key_value(item.as_str()) {
                    Some((name, _)) => stack.push(name),
                    None => out.push(item.clone()),
                }
            }
        }
        out
    }

    /// The operand expressions of a value for a string comparison.
    fn string_list(ops: &[Operand]) -> String {
        if let [Operand::List { k8scop, .. }] = ops {
            return k8scop.clone();
        }
        let items: Vec<String> = ops
            .iter()
            .map(|o| match o {
                Operand::Lit(s) => quote(s),
                Operand::List { k8scop, .. } => k8scop.clone(),
            })
            .collect();
        format!("[{}]", items.join(", "))
    }

    fn check(&mut self, field: &Field, op: Op, value: &Value) -> Result<Cond, String> {
        let resolved = fields::resolve(&field.name, field.arg.as_deref());
        let mapped = match resolved {
            Resolved::Mapped(m) => m,
            Resolved::Unsupported(reason) => return Err(reason),
            Resolved::RawTime => {
                return match (op, value) {
                    (Op::Exists, _) => Ok(Cond::Const(true)),
                    (Op::Eq, Value::One(i)) if i.text == "0" => Ok(Cond::Const(false)),
                    (Op::Ne, Value::One(i)) if i.text == "0" => Ok(Cond::Const(true)),
                    _ => Err(format!(
                        "`jevt.rawtime {op}` compares the event time in nanoseconds; only `exists`, `= 0` and `!= 0` (Falco's always-true and never-true idioms) translate"
                    )),
                }
            }
            Resolved::Constant(c) => {
                let holds = match (op, value) {
                    (Op::Exists, _) => true,
                    (Op::Eq, Value::One(i)) => i.text == c,
                    (Op::Ne, Value::One(i)) => i.text != c,
                    (Op::In | Op::Intersects, Value::List(items)) => {
                        items.iter().any(|i| i.text == c)
                    }
                    _ => {
                        return Err(format!(
                            "`{field} {op}` on a field that is always `{c}` does not translate"
                        ))
                    }
                };
                return Ok(Cond::Const(holds));
            }
            Resolved::HostPathFlag(arg) => {
                let path = "requestObject.spec.volumes.hostPath.path";
                let test = match arg.strip_suffix('*') {
                    Some(prefix) => format!("{path} startswith {}", quote(prefix)),
                    None => format!("{path} == {}", quote(&arg)),
                };
                return flag(field, &test, "requestObject.spec.volumes", op, value);
            }
            Resolved::AnyContainerPrivileged => {
                return flag(
                    field,
                    "requestObject.spec.containers.securityContext.privileged == true",
                    "requestObject.spec.containers",
                    op,
                    value,
                )
            }
        };
        let path = self.path(&mapped);
        let mut operand = match &mapped.read {
            Read::Value => path.clone(),
            Read::ImageRepository => {
                self.helpers.insert(Helper::ImageRepository);
                format!("{}({path})", Helper::ImageRepository.name())
            }
            Read::UriParam(name) => format!("uri_param({path}, {})", quote(name)),
            Read::HostPorts { list, index } => {
                self.helpers.insert(Helper::HostPorts);
                self.helpers.insert(Helper::Text);
                format!(
                    "{}({}, {}, {})",
                    Helper::HostPorts.name(),
                    self.pod_spec(),
                    quote(list),
                    index.map_or(-1, |i| i as i64)
                )
            }
            Read::VolumeTypes { index } => {
                self.helpers.insert(Helper::VolumeTypes);
                format!(
                    "{}({}, {})",
                    Helper::VolumeTypes.name(),
                    self.pod_spec(),
                    index.map_or(-1, |i| i as i64)
                )
            }
        };
        if op == Op::Exists {
            return Ok(Cond::Atom(match mapped.read {
                // A parameter that is present has a value, the empty string at least.
                Read::UriParam(_) => format!("{operand} startswith \"\""),
                Read::Value | Read::ImageRepository => format!("exists {path}"),
                Read::HostPorts { .. } | Read::VolumeTypes { .. } => {
                    return Err(format!("`{field} exists` does not translate"))
                }
            }));
        }
        let mut kind = match mapped.read {
            Read::Value => mapped.kind,
            _ => Kind::Str,
        };
        if let Some(t) = &field.transformer {
            let function = match t.as_str() {
                "tolower" => "lower",
                "toupper" => "upper",
                "b64" => "base64_decode",
                other => return Err(format!("the transformer `{other}` has no k8scop function")),
            };
            if kind != Kind::Str {
                self.helpers.insert(Helper::Text);
                operand = format!("{}({operand})", Helper::Text.name());
            }
            operand = format!("{function}({operand})");
            kind = Kind::Str;
        }
        // `val(FIELD)`: both sides read the event.
        if let Value::Field(other) = value {
            let Resolved::Mapped(right) = fields::resolve(&other.name, other.arg.as_deref()) else {
                return Err(format!(
                    "`val({other})` names a field that does not translate"
                ));
            };
            if other.transformer.is_some()
                || right.read != Read::Value
                || kind != Kind::Str
                || right.kind != Kind::Str
            {
                return Err(format!(
                    "`{field} {op} val({other})` compares fields that are not both plain strings"
                ));
            }
            let k_op = match op {
                Op::Eq => "==",
                Op::Ne => "!=",
                Op::Lt => "<",
                Op::Le => "<=",
                Op::Gt => ">",
                Op::Ge => ">=",
                Op::Contains => "contains",
                Op::StartsWith => "startswith",
                Op::EndsWith => "endswith",
                _ => return Err(format!("`{op} val(...)` does not translate")),
            };
            return Ok(Cond::Atom(format!(
                "{operand} {k_op} {}",
                self.path(&right)
            )));
        }
        let items: Vec<Item> = match value {
            Value::One(i) => vec![i.clone()],
            Value::List(items) => items.clone(),
            Value::None | Value::Field(_) => Vec::new(),
        };
        let ops = self.operands(&items);
        let literals: Option<Vec<&str>> = ops
            .iter()
            .map(|o| match o {
                Operand::Lit(s) => Some(s.as_str()),
                Operand::List { .. } => None,
            })
            .collect();
        // Natively typed constants, when the field is not a string and every value converts.
        let native: Option<Vec<String>> = match (kind, &literals) {
            (Kind::Bool, Some(lits)) => lits
                .iter()
                .map(|s| matches!(*s, "true" | "false").then(|| (*s).to_owned()))
                .collect(),
            (Kind::Num, Some(lits)) => lits
                .iter()
                .map(|s| s.parse::<i64>().ok().map(|n| n.to_string()))
                .collect(),
            _ => None,
        };
        let all = mapped.list && op == Op::In;
        let quantifier = if all { "all " } else { "" };
        let native_ops = matches!(op, Op::Eq | Op::Ne | Op::In | Op::Intersects)
            || (kind == Kind::Num && matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge));
        match kind {
            Kind::Bool | Kind::Num if native_ops => {
                if let Some(values) = native {
                    return Ok(Cond::Atom(typed_comparison(
                        quantifier, &operand, op, &values,
                    )));
                }
            }
            // A constant that cannot be the JSON text of a number, a boolean, null, an object or
            // an array can only equal a string value: compare natively.
            Kind::Dynamic
                if matches!(op, Op::Eq | Op::Ne | Op::In | Op::Intersects)
                    && self.expanded(&ops).iter().all(|s| !json_scalar_text(s)) =>
            {
                kind = Kind::Str;
            }
            _ => {}
        }
        if kind != Kind::Str {
            self.helpers.insert(Helper::Text);
            operand = format!("{}({operand})", Helper::Text.name());
        }
        let single = |what: &str| -> Result<String, String> {
            match ops.as_slice() {
                [Operand::Lit(s)] => Ok(quote(s)),
                _ => Err(format!("`{op}` takes one value, not {what}")),
            }
        };
        let text = match op {
            Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge => {
                let k_op = match op {
                    Op::Eq => "==",
                    Op::Ne => "!=",
                    Op::Lt => "<",
                    Op::Le => "<=",
                    Op::Gt => ">",
                    _ => ">=",
                };
                format!("{operand} {k_op} {}", single("a list")?)
            }
            Op::Contains | Op::IContains | Op::StartsWith | Op::EndsWith | Op::Glob => {
                let k_op = match op {
                    Op::Contains => "contains",
                    Op::IContains => "icontains",
                    Op::StartsWith => "startswith",
                    Op::EndsWith => "endswith",
                    _ => "glob",
                };
                format!("{operand} {k_op} {}", single("a list")?)
            }
            Op::Regex => format!("{operand} matches {}", single("a list")?),
            Op::In => format!("{quantifier}{operand} in {}", Self::string_list(&ops)),
            Op::Intersects => format!("{operand} intersects {}", Self::string_list(&ops)),
            Op::PMatch => {
                // A path equals one of the prefixes or lies under one of them.
                let mut prefixes = Vec::new();
                for o in &ops {
                    match o {
                        Operand::Lit(s) => prefixes.push(s.clone()),
                        Operand::List { falco, .. } => prefixes
                            .extend(self.env.list_items.get(falco).cloned().unwrap_or_default()),
                    }
                }
                let exact: Vec<String> = prefixes
                    .iter()
                    .map(|p| quote(p.trim_end_matches('/')))
                    .collect();
                let under: Vec<String> = prefixes
                    .iter()
                    .map(|p| quote(&format!("{}/", p.trim_end_matches('/'))))
                    .collect();
                return Ok(Cond::Or(vec![
                    Cond::Atom(format!("{operand} in [{}]", exact.join(", "))),
                    Cond::Atom(format!("{operand} startswith [{}]", under.join(", "))),
                ]));
            }
            Op::IGlob | Op::BContains | Op::BStartsWith => {
                return Err(format!("the operator `{op}` has no k8scop equivalent"))
            }
            Op::Exists => unreachable!("handled above"),
        };
        Ok(Cond::Atom(text))
    }
}

/// A field that is `true` when `test` holds and `false` otherwise, and missing without
/// `present` (`ka.req.volume.hostpath[PATH]`, `ka.req.container.privileged`), compared with
/// `true` or `false`.
fn flag(field: &Field, test: &str, present: &str, op: Op, value: &Value) -> Result<Cond, String> {
    let wanted = match (op, value) {
        (Op::Eq | Op::In | Op::Intersects, Value::One(i)) => i.text.clone(),
        (Op::In | Op::Intersects, Value::List(items)) if items.len() == 1 => items[0].text.clone(),
        (Op::Ne, Value::One(i)) if i.text == "true" => "false".into(),
        (Op::Ne, Value::One(i)) if i.text == "false" => "true".into(),
        (Op::Exists, _) => return Ok(Cond::Atom(format!("exists {present}"))),
        _ => {
            return Err(format!(
                "`{field} {op}` does not translate; compare with `= true`"
            ))
        }
    };
    match wanted.as_str() {
        "true" => Ok(Cond::Atom(test.to_owned())),
        "false" => Ok(Cond::and(vec![
            Cond::Atom(format!("exists {present}")),
            Cond::not(Cond::Atom(test.to_owned())),
        ])),
        _ => Ok(Cond::Const(false)),
    }
}

/// A comparison with typed constants (`true`, `201`).
fn typed_comparison(quantifier: &str, operand: &str, op: Op, values: &[String]) -> String {
    match op {
        Op::Eq => format!("{operand} == {}", values[0]),
        Op::Ne => format!("{operand} != {}", values[0]),
        Op::Lt => format!("{operand} < {}", values[0]),
        Op::Le => format!("{operand} <= {}", values[0]),
        Op::Gt => format!("{operand} > {}", values[0]),
        Op::Ge => format!("{operand} >= {}", values[0]),
        Op::In if values.len() == 1 && quantifier.is_empty() => {
            format!("{operand} == {}", values[0])
        }
        Op::In => format!("{quantifier}{operand} in [{}]", values.join(", ")),
        _ if values.len() == 1 => format!("{operand} == {}", values[0]),
        _ => format!("{operand} intersects [{}]", values.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::condition::parse;
    use super::*;

    fn env() -> Env {
        let mut env = Env::default();
        for l in ["k8s_audit_stages", "allowed_k8s_users", "images"] {
            env.lists.insert(l.into(), l.into());
            env.names.insert(l.into());
        }
        env.list_items
            .insert("images".into(), vec!["/etc".into(), "/proc/".into()]);
        for (m, c) in [
            ("kevt", None),
            ("always", Some(true)),
            ("never", Some(false)),
        ] {
            env.macros.insert(
                m.into(),
                MacroState::Ok {
                    name: m.into(),
                    constant: c,
                },
            );
            env.names.insert(m.into());
        }
        env.macros.insert(
            "broken".into(),
            MacroState::Broken("it uses `jevt.obj`".into()),
        );
        env.names.insert("verb".into());
        env
    }

    fn t(text: &str) -> String {
        let e = parse(text).unwrap();
        translate(&e, &env())
            .unwrap_or_else(|err| panic!("{text}: {err}"))
            .cond
            .render()
    }

    fn err(text: &str) -> String {
        translate(&parse(text).unwrap(), &env()).unwrap_err()
    }

    #[test]
    fn strings_lists_and_macros() {
        assert_eq!(
            t("kevt and not ka.user.name in (allowed_k8s_users)"),
            "kevt and not user.username in allowed_k8s_users"
        );
        assert_eq!(
            t("ka.target.name in (a, \"b\", allowed_k8s_users)"),
            r#"objectRef.name in ["a", "b", allowed_k8s_users]"#
        );
        assert_eq!(
            t("(jevt.value[/stage] in (k8s_audit_stages))"),
            "stage in k8s_audit_stages"
        );
        assert_eq!(
            t("jevt.value[/stage]=ResponseStarted"),
            r#"stage == "ResponseStarted""#
        );
        assert_eq!(
            t("ka.uri=/healthz or ka.uri startswith /healthz?"),
            r#"requestURI == "/healthz" or requestURI startswith "/healthz?""#
        );
    }

    #[test]
    fn a_macro_name_shadowing_a_field_gets_the_field_quoted() {
        assert_eq!(t("ka.verb=get"), r#"["verb"] == "get""#);
    }

    #[test]
    fn precedence_survives_rendering() {
        assert_eq!(
            t("kevt and (ka.verb=get or ka.verb=list) and not (ka.uri=/a and ka.uri=/b)"),
            r#"kevt and (["verb"] == "get" or ["verb"] == "list") and not (requestURI == "/a" and requestURI == "/b")"#
        );
    }

    #[test]
    fn list_fields_keep_falco_in_and_intersects() {
        assert_eq!(
            t("ka.req.pod.containers.image.repository in (images)"),
            "all falco_image_repository(requestObject.spec.containers.image) in images"
        );
        assert_eq!(
            t("ka.req.role.rules.verbs intersects (create, \"*\")"),
            r#"requestObject.rules.verbs intersects ["create", "*"]"#
        );
        assert_eq!(
            t("ka.req.pod.containers.privileged intersects (true)"),
            "requestObject.spec.containers.securityContext.privileged == true"
        );
        assert_eq!(
            t("ka.req.pod.containers.privileged in (true)"),
            "all requestObject.spec.containers.securityContext.privileged in [true]"
        );
    }

    #[test]
    fn typed_values_compare_natively_or_as_falco_text() {
        assert_eq!(
            t("ka.req.pod.host_network = true"),
            "requestObject.spec.hostNetwork == true"
        );
        assert_eq!(t("ka.response.code = 403"), "responseStatus.code == 403");
        assert_eq!(t("ka.response.code >= 400"), "responseStatus.code >= 400");
        assert_eq!(
            t("ka.response.code startswith 2"),
            r#"falco_text(responseStatus.code) startswith "2""#
        );
        assert_eq!(
            t("ka.req.configmap.obj contains password"),
            r#"falco_text(requestObject.data) contains "password""#
        );
        assert_eq!(
            t("jevt.value[/responseStatus/code] = 201"),
            r#"falco_text(responseStatus.code) == "201""#
        );
        assert_eq!(
            t("tolower(ka.user.name) = admin"),
            r#"lower(user.username) == "admin""#
        );
    }

    #[test]
    fn constants_fold_and_macros_keep_their_names() {
        assert_eq!(t("jevt.rawtime exists"), "true");
        assert_eq!(t("jevt.rawtime = 0"), "false");
        assert_eq!(t("kevt and jevt.rawtime exists"), "kevt");
        let e = parse("kevt and not always").unwrap();
        let c = translate(&e, &env()).unwrap().cond;
        assert_eq!(c.render(), "kevt and not always");
        assert_eq!(c.constant(), Some(false));
        let mut why = Vec::new();
        c.constant_macros(&mut why);
        assert_eq!(why, ["always"]);
        assert_eq!(
            translate(&parse("kevt or never").unwrap(), &env())
                .unwrap()
                .cond
                .constant(),
            None
        );
    }

    #[test]
    fn uri_parameters_read_the_request_uri_with_uri_param() {
        assert_eq!(
            t("ka.uri.param[command] contains curl"),
            r#"uri_param(requestURI, "command") contains "curl""#
        );
        assert_eq!(
            t("ka.uri.param[command] in (sh, bash)"),
            r#"uri_param(requestURI, "command") in ["sh", "bash"]"#
        );
        // Falco's value is text, so `= 1` compares the text.
        assert_eq!(
            t("ka.uri.param[tty] = true"),
            r#"uri_param(requestURI, "tty") == "true""#
        );
        assert_eq!(
            t("ka.uri.param[command] exists"),
            r#"uri_param(requestURI, "command") startswith """#
        );
        assert_eq!(
            t("tolower(ka.uri.param[command]) = sh"),
            r#"lower(uri_param(requestURI, "command")) == "sh""#
        );
        assert!(err("ka.uri.param = x").contains("parameter name"));
    }

    #[test]
    fn host_ports_and_volume_types_read_the_pod_spec_through_helpers() {
        assert_eq!(
            t("ka.req.pod.containers.host_port intersects (80, 443)"),
            r#"falco_host_ports(requestObject.spec, "containers", -1) intersects ["80", "443"]"#
        );
        assert_eq!(
            t("ka.req.pod.initContainers.host_port[1] = 8080"),
            r#"falco_host_ports(requestObject.spec, "initContainers", 1) == "8080""#
        );
        assert_eq!(
            t("ka.req.pod.volumes.volume_type in (configMap, secret)"),
            r#"all falco_volume_types(requestObject.spec, -1) in ["configMap", "secret"]"#
        );
        assert!(err("ka.req.pod.volumes.volume_type exists").contains("does not translate"));
    }

    #[test]
    fn host_path_flags_and_pmatch() {
        assert_eq!(
            t("ka.req.volume.hostpath[/etc*] = true"),
            r#"requestObject.spec.volumes.hostPath.path startswith "/etc""#
        );
        assert_eq!(
            t("ka.req.volume.hostpath[/var/run/docker.sock] != true"),
            r#"exists requestObject.spec.volumes and not requestObject.spec.volumes.hostPath.path == "/var/run/docker.sock""#
        );
        assert_eq!(
            err("ka.req.volume.hostpath[/etc*] contains x"),
            "`ka.req.volume.hostpath[/etc*] contains` does not translate; compare with `= true`"
        );
        assert_eq!(
            t("ka.req.container.privileged = true"),
            "requestObject.spec.containers.securityContext.privileged == true"
        );
        assert_eq!(
            t("ka.req.container.privileged = false"),
            "exists requestObject.spec.containers and not requestObject.spec.containers.securityContext.privileged == true"
        );
        assert_eq!(
            t("ka.uri pmatch (images)"),
            r#"requestURI in ["/etc", "/proc"] or requestURI startswith ["/etc/", "/proc/"]"#
        );
    }

    #[test]
    fn what_does_not_translate_says_why() {
        assert_eq!(err("kevt and nope"), "unknown macro `nope`");
        assert_eq!(
            err("broken"),
            "macro `broken` did not translate: it uses `jevt.obj`"
        );
        assert!(err("ka.verb bcontains 6162").contains("`bcontains`"));
        assert!(err("ka.verb = (a, b)").contains("takes one value"));
        assert!(err("allowed_k8s_users").contains("stands where a condition"));
    }
}
