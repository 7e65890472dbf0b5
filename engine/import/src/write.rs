//! Writing k8scop rule files: string literals, names, field paths and conditions.
//!
//! Every importer goes through these helpers, so that what they write always parses: a string
//! literal escapes exactly what the rule language's strings need, a name is a valid identifier,
//! a path segment that is not an identifier (or is a keyword of the language) is quoted.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

/// `s` as a rule-language string literal, quotes included.
///
/// The language's strings take the escapes `\"`, `\\`, `\n` and `\t`; every backslash is
/// doubled, so that a regular expression's `\.` is written `"\\."` and reads back unchanged.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A list of string literals: `["a", "b"]`.
pub fn quote_list<S: AsRef<str>>(items: &[S]) -> String {
    let inner: Vec<String> = items.iter().map(|s| quote(s.as_ref())).collect();
    format!("[{}]", inner.join(", "))
}

/// A rule name made of `text`: lowercase ASCII letters, digits and `_`, never empty, never
/// starting with a digit (`"Kubernetes Events Deleted"` gives `kubernetes_events_deleted`).
pub fn ident(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "r_");
    }
    out
}

/// Words of the rule language that cannot be a bare path segment.
const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "not",
    "in",
    "intersects",
    "contains",
    "icontains",
    "startswith",
    "istartswith",
    "endswith",
    "iendswith",
    "matches",
    "glob",
    "cidr",
    "exists",
    "all",
    "true",
    "false",
    "null",
    "script",
];

fn plain_segment(seg: &str) -> bool {
    let body = seg.strip_prefix('@').unwrap_or(seg);
    let mut chars = body.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !KEYWORDS.contains(&seg)
}

/// The rule-language spelling of a field path given as its segments: `["objectRef",
/// "resource"]` gives `objectRef.resource`; a segment that is not an identifier, or is a keyword,
/// is quoted (`annotations["authorization.k8s.io/decision"]`); the first segment is always quoted
/// when it is not plain, so that it is never taken for a list or macro name either.
pub fn path(segments: &[&str]) -> String {
    let mut out = String::new();
    for (i, seg) in segments.iter().enumerate() {
        if plain_segment(seg) {
            if i > 0 {
                out.push('.');
            }
            out.push_str(seg);
        } else {
            let _ = write!(out, "[{}]", quote(seg));
        }
    }
    out
}

/// A condition being built: comparisons joined by `and`, `or` and `not`.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A comparison or another condition that binds tighter than `not` (`exists x`, `a == 1`).
    Atom(String),
    /// Every part holds; empty means true.
    And(Vec<Expr>),
    /// Some part holds; empty means false.
    Or(Vec<Expr>),
    /// The part does not hold.
    Not(Box<Expr>),
}

impl Expr {
    /// `a and b and ...`, flattening nested conjunctions, dropping repeated parts and a lone
    /// wrapper.
    pub fn and(parts: Vec<Expr>) -> Expr {
        let mut flat: Vec<Expr> = Vec::new();
        for p in parts {
            let inner = match p {
                Expr::And(inner) => inner,
                p => vec![p],
            };
            for p in inner {
                if !flat.contains(&p) {
                    flat.push(p);
                }
            }
        }
        if flat.len() == 1 {
            flat.pop().expect("one part")
        } else {
            Expr::And(flat)
        }
    }

    /// `a or b or ...`, flattening nested disjunctions and dropping a lone wrapper.
    pub fn or(parts: Vec<Expr>) -> Expr {
        let mut flat = Vec::new();
        for p in parts {
            match p {
                Expr::Or(inner) => flat.extend(inner),
                p => flat.push(p),
            }
        }
        if flat.len() == 1 {
            flat.pop().expect("one part")
        } else {
            Expr::Or(flat)
        }
    }

    /// `not e`; `not not e` is `e`.
    pub fn negate(e: Expr) -> Expr {
        match e {
            Expr::Not(inner) => *inner,
            e => Expr::Not(Box::new(e)),
        }
    }

    /// The condition as rule-language text, with the parentheses precedence needs and no more
    /// (comparisons bind tightest, then `not`, then `and`, then `or`).
    pub fn render(&self) -> String {
        match self {
            Expr::Atom(s) => s.clone(),
            Expr::And(parts) if parts.is_empty() => "true".into(),
            Expr::Or(parts) if parts.is_empty() => "false".into(),
            Expr::And(parts) => parts
                .iter()
                .map(|p| match p {
                    Expr::Or(_) => format!("({})", p.render()),
                    p => p.render(),
                })
                .collect::<Vec<_>>()
                .join(" and "),
            Expr::Or(parts) => parts
                .iter()
                .map(Expr::render)
                .collect::<Vec<_>>()
                .join(" or "),
            Expr::Not(inner) => match &**inner {
                Expr::Atom(_) | Expr::Not(_) => format!("not {}", inner.render()),
                Expr::And(p) | Expr::Or(p) if p.is_empty() => format!("not {}", inner.render()),
                _ => format!("not ({})", inner.render()),
            },
        }
    }

    /// [`Expr::render`], with a top-level `and` or `or` broken over lines indented by `indent`
    /// spaces when one line would be longer than `width`.
    pub fn render_wrapped(&self, indent: usize, width: usize) -> String {
        let flat = self.render();
        if flat.len() + indent <= width {
            return flat;
        }
        let (parts, joiner) = match self {
            Expr::And(parts) if !parts.is_empty() => (parts, "and"),
            Expr::Or(parts) if !parts.is_empty() => (parts, "or"),
            _ => return flat,
        };
        let pad = " ".repeat(indent);
        parts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                // A part too long for its line is wrapped in turn, under its own first word.
                let at = indent + if i == 0 { 0 } else { joiner.len() + 1 };
                let text = match (self, p) {
                    (Expr::And(_), Expr::Or(_)) | (Expr::Or(_), Expr::And(_)) => {
                        format!("({})", p.wrapped_part(at + 1, width))
                    }
                    (_, Expr::Not(inner)) if matches!(**inner, Expr::And(_) | Expr::Or(_)) => {
                        format!("not ({})", inner.wrapped_part(at + 5, width))
                    }
                    _ => p.render(),
                };
                if i == 0 {
                    text
                } else {
                    format!("\n{pad}{joiner} {text}")
                }
            })
            .collect()
    }

    /// A part of a wrapped condition: on one line when it fits after `indent` columns, else
    /// wrapped there. An `and` inside an `or` is kept in parentheses only for the reader.
    fn wrapped_part(&self, indent: usize, width: usize) -> String {
        let flat = self.render();
        if flat.len() + indent <= width {
            flat
        } else {
            self.render_wrapped(indent, width)
        }
    }
}

/// Words that cannot name a list or macro used in a condition: the condition would end at a
/// property keyword, or read an operator or a constant instead of the name.
const RESERVED: &[&str] = &[
    "all",
    "and",
    "author",
    "by",
    "cidr",
    "contains",
    "description",
    "distinct",
    "enabled",
    "endswith",
    "events",
    "exists",
    "expect",
    "false",
    "fields",
    "file",
    "glob",
    "group",
    "icontains",
    "iendswith",
    "in",
    "intersects",
    "istartswith",
    "list",
    "macro",
    "matches",
    "no",
    "not",
    "null",
    "or",
    "references",
    "rule",
    "script",
    "sequence",
    "severity",
    "source",
    "startswith",
    "steps",
    "tags",
    "test",
    "threshold",
    "title",
    "true",
    "when",
    "within",
];

/// Whether `name` is a word the rule language gives a meaning of its own.
pub fn is_reserved(name: &str) -> bool {
    RESERVED.contains(&name)
}

/// Whether `name` is a k8scop identifier: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// An identifier made from a free-text name: lowercase ASCII letters and digits, every other run
/// of characters one `_` (`Create/Modify Configmap` gives `create_modify_configmap`). A name
/// that would start with a digit, or is empty or reserved, gets a prefix.
pub fn identifier(name: &str, prefix: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut gap = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if gap && !out.is_empty() {
                out.push('_');
            }
            gap = false;
            out.push(c.to_ascii_lowercase());
        } else {
            gap = true;
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) || is_reserved(&out) {
        out = format!("{prefix}_{out}");
        if out.ends_with('_') {
            out.pop();
        }
    }
    out
}

/// Identifiers handed out so far, so that two names never map to the same one.
#[derive(Debug, Default, Clone)]
pub struct Names {
    taken: BTreeSet<String>,
}

impl Names {
    /// Reserves `wanted`, or `wanted_2`, `wanted_3`... when it is taken; returns what was
    /// reserved.
    pub fn claim(&mut self, wanted: &str) -> String {
        let mut name = wanted.to_owned();
        let mut n = 2;
        while self.taken.contains(&name) {
            name = format!("{wanted}_{n}");
            n += 1;
        }
        self.taken.insert(name.clone());
        name
    }

    /// Whether `name` was handed out.
    pub fn contains(&self, name: &str) -> bool {
        self.taken.contains(name)
    }
}

/// `text` as `#` comment lines of at most `width` characters (longer words stay whole), each
/// line prefixed with `indent`. Blank lines in `text` are kept as `#` lines.
pub fn comment(text: &str, indent: &str, width: usize) -> String {
    let mut out = String::new();
    for paragraph in text.trim_end().split('\n') {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && indent.len() + 2 + line.len() + 1 + word.len() > width {
                out.push_str(&format!("{indent}# {line}\n"));
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        if line.is_empty() {
            out.push_str(&format!("{indent}#\n"));
        } else {
            out.push_str(&format!("{indent}# {line}\n"));
        }
    }
    out
}

/// One generated file: its name inside the output directory and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    /// The file name, e.g. `k8s_audit_rules.rules`.
    pub name: String,
    /// The whole text.
    pub text: String,
}

/// Writes `files` into `dir`, creating it (and its parents) when missing. Existing files of the
/// same names are replaced; other files in `dir` are left alone.
pub fn write_files(dir: &Path, files: &[OutputFile]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for file in files {
        std::fs::write(dir.join(&file.name), &file.text)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_what_the_language_needs() {
        assert_eq!(quote(r"^a\.b$"), r#""^a\\.b$""#);
        assert_eq!(quote("say \"hi\"\n"), r#""say \"hi\"\n""#);
    }

    #[test]
    fn names_are_identifiers() {
        assert_eq!(
            ident("Kubernetes Events Deleted"),
            "kubernetes_events_deleted"
        );
        assert_eq!(
            ident("CronJob/Job -- Modification!"),
            "cronjob_job_modification"
        );
        assert_eq!(ident("4 things"), "r_4_things");
        assert_eq!(ident("***"), "r_");
    }

    #[test]
    fn paths_quote_what_is_not_an_identifier() {
        assert_eq!(path(&["objectRef", "resource"]), "objectRef.resource");
        assert_eq!(
            path(&["annotations", "authorization.k8s.io/decision"]),
            r#"annotations["authorization.k8s.io/decision"]"#
        );
        assert_eq!(path(&["in"]), r#"["in"]"#);
        assert_eq!(path(&["@timestamp"]), "@timestamp");
    }

    #[test]
    fn rendering_uses_the_parentheses_precedence_needs() {
        let a = || Expr::Atom("a == 1".into());
        let b = || Expr::Atom("b == 2".into());
        let e = Expr::and(vec![a(), Expr::or(vec![a(), b()]), Expr::negate(b())]);
        assert_eq!(e.render(), "a == 1 and (a == 1 or b == 2) and not b == 2");
        let e = Expr::or(vec![
            Expr::and(vec![a(), b()]),
            Expr::negate(Expr::or(vec![a(), b()])),
        ]);
        assert_eq!(e.render(), "a == 1 and b == 2 or not (a == 1 or b == 2)");
        assert_eq!(Expr::negate(Expr::negate(a())), a());
    }

    /// A part too long for its line is wrapped under its own first word, in parentheses.
    #[test]
    fn long_parts_wrap_in_turn() {
        let atom = |t: &str| Expr::Atom(t.to_owned());
        let e = Expr::and(vec![
            atom("verb == \"create\""),
            Expr::negate(Expr::or(vec![
                Expr::and(vec![
                    atom("objectRef.namespace == \"a\""),
                    atom("objectRef.name startswith \"b-\""),
                ]),
                atom("objectRef.namespace == \"kube-system\""),
            ])),
        ]);
        assert_eq!(
            e.render_wrapped(4, 40),
            "verb == \"create\"\n    and not ((objectRef.namespace == \"a\"\n              and objectRef.name startswith \"b-\")\n             or objectRef.namespace == \"kube-system\")"
        );
        // What fits stays on one line.
        assert_eq!(e.render_wrapped(0, 200), e.render());
    }

    #[test]
    fn identifiers_from_free_text() {
        assert_eq!(
            identifier("Create/Modify Configmap With Private Credentials", "falco"),
            "create_modify_configmap_with_private_credentials"
        );
        assert_eq!(identifier("port-forward", "falco"), "port_forward");
        assert_eq!(identifier("1st rule", "falco"), "falco_1st_rule");
        assert_eq!(identifier("title", "falco"), "falco_title");
        assert_eq!(identifier("???", "falco"), "falco");
        assert!(is_identifier("k8s_audit_stages") && !is_identifier("a-b"));
    }

    #[test]
    fn names_are_unique() {
        let mut names = Names::default();
        assert_eq!(names.claim("pod"), "pod");
        assert_eq!(names.claim("pod"), "pod_2");
        assert_eq!(names.claim("pod"), "pod_3");
    }

    #[test]
    fn comments_wrap() {
        assert_eq!(
            comment("one two three four", "", 12),
            "# one two\n# three four\n"
        );
        assert_eq!(comment("a\n\nb", "    ", 80), "    # a\n    #\n    # b\n");
    }
}
